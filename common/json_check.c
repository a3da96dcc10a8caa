/*
 * json_check.c - RFC 8259 syntax check, without building anything.
 */
#include <string.h>

#include "json_check.h"

#define JC_MAX_DEPTH	256

struct jc {
	const char	*s;
	size_t		 n, i;
	const char	*why;
};

static void
jc_ws(struct jc *c)
{
	while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' ||
	    c->s[c->i] == '\n' || c->s[c->i] == '\r'))
		c->i++;
}

static int
jc_fail(struct jc *c, const char *why)
{
	c->why = why;
	return -1;
}

static int
jc_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
	    (ch >= 'A' && ch <= 'F');
}

static int
jc_string(struct jc *c)
{
	unsigned char	ch;
	int		k;

	c->i++;				/* the opening quote */
	while (c->i < c->n) {
		/* The run of plain bytes, in locals: most of a body. */
		const unsigned char	*p = (const unsigned char *)c->s + c->i;
		const unsigned char	*e = (const unsigned char *)c->s + c->n;

		while (p < e && *p >= 0x20 && *p != '"' && *p != '\\')
			p++;
		c->i = (size_t)(p - (const unsigned char *)c->s);
		if (p == e)
			break;
		ch = *p;
		if (ch == '"') {
			c->i++;
			return 0;
		}
		if (ch < 0x20)
			return jc_fail(c, "control character in a string");
		if (ch != '\\') {
			c->i++;
			continue;
		}
		if (++c->i >= c->n)
			break;
		switch (c->s[c->i]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't':
			c->i++;
			break;
		case 'u':
			for (k = 1; k <= 4; k++)
				if (c->i + (size_t)k >= c->n ||
				    !jc_hex(c->s[c->i + (size_t)k]))
					return jc_fail(c, "bad \\u escape");
			c->i += 5;
			break;
		default:
			return jc_fail(c, "bad escape");
		}
	}
	return jc_fail(c, "unterminated string");
}

static int
jc_digits(struct jc *c)
{
	size_t start = c->i;

	while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9')
		c->i++;
	return c->i > start ? 0 : -1;
}

static int
jc_number(struct jc *c)
{
	if (c->s[c->i] == '-')
		c->i++;
	if (c->i < c->n && c->s[c->i] == '0')
		c->i++;			/* no leading zeros */
	else if (jc_digits(c) == -1)
		return jc_fail(c, "bad number");
	if (c->i < c->n && c->s[c->i] == '.') {
		c->i++;
		if (jc_digits(c) == -1)
			return jc_fail(c, "bad number");
	}
	if (c->i < c->n && (c->s[c->i] == 'e' || c->s[c->i] == 'E')) {
		c->i++;
		if (c->i < c->n && (c->s[c->i] == '+' || c->s[c->i] == '-'))
			c->i++;
		if (jc_digits(c) == -1)
			return jc_fail(c, "bad number");
	}
	return 0;
}

static int
jc_word(struct jc *c, const char *w)
{
	size_t l = strlen(w);

	if (c->n - c->i < l || memcmp(c->s + c->i, w, l) != 0)
		return jc_fail(c, "unexpected character");
	c->i += l;
	return 0;
}

/* A scalar, or the opening of a container (pushed by the caller). */
static int
jc_scalar(struct jc *c)
{
	switch (c->s[c->i]) {
	case '"':
		return jc_string(c);
	case 't':
		return jc_word(c, "true");
	case 'f':
		return jc_word(c, "false");
	case 'n':
		return jc_word(c, "null");
	default:
		if (c->s[c->i] == '-' || (c->s[c->i] >= '0' &&
		    c->s[c->i] <= '9'))
			return jc_number(c);
		return jc_fail(c, "unexpected character");
	}
}

int
json_check(const char *s, size_t n, int max_depth, size_t *off,
    const char **why)
{
	struct jc	 c = { s, n, 0, NULL };
	char		 stack[JC_MAX_DEPTH];	/* '{' or '[' */
	int		 depth = 0, rc = -1;

	if (max_depth > JC_MAX_DEPTH)
		max_depth = JC_MAX_DEPTH;
	for (;;) {
		/* Expect a value. */
		jc_ws(&c);
		if (c.i >= n) {
			jc_fail(&c, "unexpected end");
			goto out;
		}
		if (s[c.i] == '{' || s[c.i] == '[') {
			if (depth == max_depth) {
				jc_fail(&c, "nesting too deep");
				goto out;
			}
			stack[depth++] = s[c.i++];
			jc_ws(&c);
			if (c.i < n && s[c.i] == (stack[depth - 1] == '{' ?
			    '}' : ']')) {
				c.i++;
				depth--;
				goto after_value;
			}
			if (stack[depth - 1] == '{')
				goto member;
			continue;
		}
		if (jc_scalar(&c) == -1)
			goto out;
after_value:
		/* After a value: close containers, or a separator. */
		for (;;) {
			jc_ws(&c);
			if (depth == 0) {
				if (c.i != n) {
					jc_fail(&c, "trailing data");
					goto out;
				}
				rc = 0;
				goto out;
			}
			if (c.i >= n) {
				jc_fail(&c, "unexpected end");
				goto out;
			}
			if (s[c.i] == (stack[depth - 1] == '{' ? '}' : ']')) {
				c.i++;
				depth--;
				continue;
			}
			if (s[c.i] != ',') {
				jc_fail(&c, "expected ',' or a closing bracket");
				goto out;
			}
			c.i++;
			break;
		}
		if (stack[depth - 1] == '[')
			continue;
member:
		/* In an object: "name" : value */
		jc_ws(&c);
		if (c.i >= n || s[c.i] != '"') {
			jc_fail(&c, "expected a member name");
			goto out;
		}
		if (jc_string(&c) == -1)
			goto out;
		jc_ws(&c);
		if (c.i >= n || s[c.i] != ':') {
			jc_fail(&c, "expected ':'");
			goto out;
		}
		c.i++;
	}
out:
	if (rc == -1) {
		*off = c.i;
		*why = c.why;
	}
	return rc;
}
