/*
 * fuzz_json.h - an RFC 8259 syntax check, independent of json-c.
 *
 * The harnesses' oracle for "this is JSON": json-c, even with
 * JSON_TOKENER_STRICT, takes texts that are not (NaN, Infinity, "1.",
 * raw control characters in strings), and writes some of them back out
 * as they came.  A plain recursive descent over the grammar of RFC 8259
 * sections 2 to 7; UTF-8 validity is checked apart (utf8_valid()).
 */
#ifndef BATCHD_FUZZ_JSON_H
#define BATCHD_FUZZ_JSON_H

#include <stddef.h>
#include <string.h>

#define FUZZ_JSON_DEPTH	4096	/* deeper than anything batchd accepts */

struct fuzz_json {
	const unsigned char	*s;
	size_t			 n, i;
	int			 depth;
};

static inline int	fuzz_json_value(struct fuzz_json *);

static inline int
fuzz_json_peek(const struct fuzz_json *j)
{
	return j->i < j->n ? j->s[j->i] : -1;
}

static inline void
fuzz_json_ws(struct fuzz_json *j)
{
	while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' ||
	    j->s[j->i] == '\n' || j->s[j->i] == '\r'))
		j->i++;
}

static inline int
fuzz_json_digits(struct fuzz_json *j)
{
	size_t	from = j->i;

	while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9')
		j->i++;
	return j->i > from ? 0 : -1;
}

static inline int
fuzz_json_number(struct fuzz_json *j)
{
	if (fuzz_json_peek(j) == '-')
		j->i++;
	if (fuzz_json_peek(j) == '0')
		j->i++;
	else if (fuzz_json_peek(j) < '1' || fuzz_json_peek(j) > '9' ||
	    fuzz_json_digits(j) == -1)
		return -1;
	if (fuzz_json_peek(j) == '.') {
		j->i++;
		if (fuzz_json_digits(j) == -1)
			return -1;
	}
	if (fuzz_json_peek(j) == 'e' || fuzz_json_peek(j) == 'E') {
		j->i++;
		if (fuzz_json_peek(j) == '+' || fuzz_json_peek(j) == '-')
			j->i++;
		if (fuzz_json_digits(j) == -1)
			return -1;
	}
	return 0;
}

static inline int
fuzz_json_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

static inline int
fuzz_json_string(struct fuzz_json *j)
{
	int	c, k;

	if (fuzz_json_peek(j) != '"')
		return -1;
	j->i++;
	while ((c = fuzz_json_peek(j)) != -1) {
		j->i++;
		if (c == '"')
			return 0;
		if (c < 0x20)
			return -1;
		if (c != '\\')
			continue;
		c = fuzz_json_peek(j);
		j->i++;
		if (c == 'u') {
			for (k = 0; k < 4; k++, j->i++)
				if (!fuzz_json_hex(fuzz_json_peek(j)))
					return -1;
		} else if (c <= 0 || strchr("\"\\/bfnrt", c) == NULL)
			return -1;
	}
	return -1;
}

static inline int
fuzz_json_lit(struct fuzz_json *j, const char *w)
{
	size_t	k = strlen(w);

	if (j->n - j->i < k || memcmp(j->s + j->i, w, k) != 0)
		return -1;
	j->i += k;
	return 0;
}

/* An object (close '}') or an array (close ']'). */
static inline int
fuzz_json_container(struct fuzz_json *j, int close)
{
	int	rc = -1;

	if (++j->depth > FUZZ_JSON_DEPTH)
		return -1;
	j->i++;
	fuzz_json_ws(j);
	if (fuzz_json_peek(j) == close) {
		j->i++;
		j->depth--;
		return 0;
	}
	for (;;) {
		fuzz_json_ws(j);
		if (close == '}') {
			if (fuzz_json_string(j) == -1)
				break;
			fuzz_json_ws(j);
			if (fuzz_json_peek(j) != ':')
				break;
			j->i++;
			fuzz_json_ws(j);
		}
		if (fuzz_json_value(j) == -1)
			break;
		fuzz_json_ws(j);
		if (fuzz_json_peek(j) == ',') {
			j->i++;
			continue;
		}
		if (fuzz_json_peek(j) == close) {
			j->i++;
			rc = 0;
		}
		break;
	}
	j->depth--;
	return rc;
}

static inline int
fuzz_json_value(struct fuzz_json *j)
{
	switch (fuzz_json_peek(j)) {
	case '{':
		return fuzz_json_container(j, '}');
	case '[':
		return fuzz_json_container(j, ']');
	case '"':
		return fuzz_json_string(j);
	case 't':
		return fuzz_json_lit(j, "true");
	case 'f':
		return fuzz_json_lit(j, "false");
	case 'n':
		return fuzz_json_lit(j, "null");
	default:
		return fuzz_json_number(j);
	}
}

/* 1 if s[0..n) is one JSON text (blanks around it allowed), else 0. */
static inline int
fuzz_json_valid(const void *s, size_t n)
{
	struct fuzz_json	j = { s, n, 0, 0 };

	fuzz_json_ws(&j);
	if (fuzz_json_value(&j) == -1)
		return 0;
	fuzz_json_ws(&j);
	return j.i == n;
}

#endif
