/*
 * prefer.c - the Prefer header (RFC 7240).
 *
 *   Prefer     = 1#preference
 *   preference = token [ BWS "=" BWS word ] *( OWS ";" [ OWS parameter ] )
 *   word       = token / quoted-string
 *
 * Preferences are split at commas outside quoted strings; parameters
 * (after ';') are skipped, none of ours has any.  An element that does not
 * follow the grammar is dropped whole; the rest of the header still counts.
 */
#include <string.h>
#include <strings.h>

#include "prefer.h"

static int
prefer_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != 0 && strchr("!#$%&'*+-.^_`|~",
	    c) != NULL);
}

static int
prefer_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* A token at v[*i]; its length (0: none). */
static size_t
prefer_token(const char *v, size_t n, size_t *i)
{
	size_t s = *i;

	while (*i < n && prefer_tchar((unsigned char)v[*i]))
		(*i)++;
	return *i - s;
}

/* A quoted-string at v[*i] (the opening quote); -1 if unterminated.  Its
 * content, escapes left in, is v[*i - len - 1 ..]. */
static int
prefer_quoted(const char *v, size_t n, size_t *i)
{
	for ((*i)++; *i < n; (*i)++) {
		if (v[*i] == '\\' && *i + 1 < n)
			(*i)++;
		else if (v[*i] == '"') {
			(*i)++;
			return 0;
		} else if ((unsigned char)v[*i] < 0x20 && v[*i] != '\t')
			return -1;
	}
	return -1;
}

static int
prefer_is(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* One well-formed preference name=value (value may be empty). */
static void
prefer_apply(struct prefer *p, const char *name, size_t nn, const char *val,
    size_t vn)
{
	uint32_t bit = 0;
	long	 w = 0;
	size_t	 k;

	if (prefer_is(name, nn, "wait")) {
		if (p->seen & PREFER_SEEN_WAIT)
			return;
		p->seen |= PREFER_SEEN_WAIT;
		/* delta-seconds = 1*DIGIT; anything else is not a wait. */
		if (vn == 0)
			return;
		for (k = 0; k < vn; k++) {
			if (val[k] < '0' || val[k] > '9')
				return;
			if (w < PREFER_WAIT_MAX)
				w = w * 10 + (val[k] - '0');
		}
		/* wait=0 asks for an answer at once, which no query can give:
		 * the configured timeout stays. */
		p->wait_s = w > PREFER_WAIT_MAX ? PREFER_WAIT_MAX : w;
		return;
	}
	if (prefer_is(name, nn, "include-statistics"))
		bit = PREFER_STATS;
	else if (prefer_is(name, nn, "include-render"))
		bit = PREFER_RENDER;
	if (bit == 0 || (p->seen & bit))
		return;
	p->seen |= bit;
	if (prefer_is(val, vn, "true"))
		p->flags |= bit;
}

void
prefer_parse(struct prefer *p, const char *v, size_t n)
{
	const char	*name, *val;
	size_t		 i = 0, nn, vn, vs;
	int		 bad;

	while (i < n) {
		bad = 0;
		val = "";
		vn = 0;
		while (i < n && (prefer_ows((unsigned char)v[i]) || v[i] == ','))
			i++;
		name = v + i;
		if ((nn = prefer_token(v, n, &i)) == 0)
			bad = 1;
		while (!bad && i < n && prefer_ows((unsigned char)v[i]))
			i++;
		if (!bad && i < n && v[i] == '=') {
			i++;
			while (i < n && prefer_ows((unsigned char)v[i]))
				i++;
			vs = i;
			if (i < n && v[i] == '"') {
				if (prefer_quoted(v, n, &i) == -1)
					return;	/* nothing after can be read */
				val = v + vs + 1;
				vn = i - vs - 2;
			} else if ((vn = prefer_token(v, n, &i)) == 0)
				bad = 1;
			else
				val = v + vs;
		}
		/* Then only OWS, and parameters after a ';' (skipped); any
		 * other byte makes the element malformed. */
		while (i < n && prefer_ows((unsigned char)v[i]))
			i++;
		if (i < n && v[i] != ',' && v[i] != ';')
			bad = 1;
		while (i < n && v[i] != ',') {
			if (v[i] != '"')
				i++;
			else if (prefer_quoted(v, n, &i) == -1)
				return;
		}
		if (!bad)
			prefer_apply(p, name, nn, val, vn);
	}
}

long
prefer_timeout_ms(const struct prefer *p, long def_ms, long max_ms)
{
	if (p->wait_s <= 0)
		return def_ms;
	if (p->wait_s > max_ms / 1000)
		return max_ms;
	return p->wait_s * 1000;
}
