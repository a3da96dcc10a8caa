/*
 * json_scan.c - walking JSON text that json_check() accepted (see
 * json_scan.h).  No bounds are checked because none are needed: a
 * container's closing bracket, a string's closing quote and the delimiter
 * after a number all exist in checked text.  The one exception, a bare
 * scalar at the very end of the input, is handled by jscan_trim() from
 * the end.
 */
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "json_scan.h"
#include "route.h"

#define JS_WS(c)	((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')

static const char *
jscan_ws(const char *p)
{
	while (JS_WS(*p))
		p++;
	return p;
}

/* Is the quote at q escaped: an odd number of backslashes before it?
 * (The walk back stops at the string's opening quote at the latest.) */
static int
jscan_escaped(const char *q)
{
	const char *b;

	for (b = q; b[-1] == '\\'; b--)
		;
	return ((q - b) & 1) != 0;
}

/* p at an opening quote: just past the closing one, found with
 * rawmemchr() (the quote exists in checked text). */
static const char *
jscan_str_end(const char *p)
{
	const char *q = p + 1;

	while (jscan_escaped(q = rawmemchr(q, '"')))
		q++;
	return q + 1;
}

const char *
jscan_skip(const char *p, int *ws)
{
	unsigned	depth = 0;
	char		c;

	switch (*p) {
	case '"':
		return jscan_str_end(p);
	case '{':
	case '[':
		for (;;) {
			c = *p;
			if (c == '"') {
				p = jscan_str_end(p);
				continue;
			}
			if (c == '{' || c == '[')
				depth++;
			else if (c == '}' || c == ']') {
				if (--depth == 0)
					return p + 1;
			} else if (JS_WS(c) && ws != NULL)
				*ws = 1;
			p++;
		}
	default:
		/* A number or true, false, null. */
		while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		    *p == '-' || *p == '+' || *p == '.' || *p == 'E')
			p++;
		return p;
	}
}

const char *
jscan_trim(const char *s, size_t n, size_t *len)
{
	const char *e = s + n;

	while (s < e && JS_WS(*s))
		s++;
	while (e > s && JS_WS(e[-1]))
		e--;
	*len = (size_t)(e - s);
	return s;
}

void
jscan_iter_init(struct jscan_iter *it, const char *p)
{
	it->obj = *p == '{';
	it->p = p + 1;
	it->val = NULL;
}

int
jscan_iter_next(struct jscan_iter *it, struct jscan_str *name,
    const char **val)
{
	const char *p = it->p;

	if (it->val != NULL)
		p = jscan_skip(it->val, NULL);
	p = jscan_ws(p);
	if (*p == ',')
		p = jscan_ws(p + 1);
	if (*p == '}' || *p == ']') {
		it->p = p;
		it->val = NULL;
		return 0;
	}
	if (it->obj) {
		struct jscan_str n;

		jscan_string(p, &n);
		if (name != NULL)
			*name = n;
		p = jscan_ws(n.p + n.n + 1);	/* past the quote: ':' */
		p = jscan_ws(p + 1);
	}
	it->p = p;
	it->val = p;
	*val = p;
	return 1;
}

void
jscan_iter_past(struct jscan_iter *it, const char *end)
{
	it->p = end;
	it->val = NULL;
}

void
jscan_string(const char *p, struct jscan_str *s)
{
	const char *q;

	s->p = p + 1;
	q = jscan_str_end(p) - 1;
	s->n = (size_t)(q - s->p);
	s->esc = memchr(s->p, '\\', s->n) != NULL;
}

static unsigned
jscan_hex4(const char *p)
{
	unsigned	v = 0;
	int		k;

	for (k = 0; k < 4; k++) {
		char c = p[k];

		v = v * 16 + (unsigned)(c <= '9' ? c - '0' :
		    (c | 0x20) - 'a' + 10);
	}
	return v;
}

const char *
jscan_decode(const struct jscan_str *s, char *out, size_t *len)
{
	const char	*p = s->p, *e = s->p + s->n, *b;
	char		*o = out;
	uint32_t	 cp, lo;

	if (!s->esc) {
		*len = s->n;
		return s->p;
	}
	while (p < e) {
		if ((b = memchr(p, '\\', (size_t)(e - p))) == NULL)
			b = e;
		memcpy(o, p, (size_t)(b - p));
		o += b - p;
		if ((p = b) == e)
			break;
		switch (p[1]) {
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			cp = jscan_hex4(p + 2);
			if (cp >= 0xd800 && cp <= 0xdbff && e - p >= 12 &&
			    p[6] == '\\' && p[7] == 'u' &&
			    (lo = jscan_hex4(p + 8)) >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				    (lo - 0xdc00);
				p += 6;
			} else if (cp >= 0xd800 && cp <= 0xdfff)
				cp = 0xfffd;	/* a lone surrogate */
			o += utf8_put(cp, o);
			p += 6;
			continue;
		default:	/* '"', '\\', '/' */
			*o++ = p[1];
			break;
		}
		p += 2;
	}
	*len = (size_t)(o - out);
	return out;
}

/* s decoded into tmp (128 bytes) when it could equal a literal of at most
 * 20 bytes; NULL when it cannot.  Each decoded byte costs at most 6 raw
 * ones, so a longer raw form with escapes never could. */
static const char *
jscan_short(const struct jscan_str *s, char *tmp, size_t *len)
{
	if (s->esc && s->n > 6 * 20)
		return NULL;
	return jscan_decode(s, tmp, len);
}

int
jscan_eq(const struct jscan_str *s, const char *lit)
{
	char		 tmp[128];
	const char	*d;
	size_t		 n, k = strlen(lit);

	if ((d = jscan_short(s, tmp, &n)) == NULL)
		return 0;
	return n == k && memcmp(d, lit, k) == 0;
}

int
jscan_caseeq(const struct jscan_str *s, const char *lit)
{
	char		 tmp[128];
	const char	*d;
	size_t		 n, i, k = strlen(lit);

	if ((d = jscan_short(s, tmp, &n)) == NULL || n != k)
		return 0;
	for (i = 0; i < k; i++) {
		char a = d[i], b = lit[i];

		if (a >= 'A' && a <= 'Z')
			a = (char)(a | 0x20);
		if (b >= 'A' && b <= 'Z')
			b = (char)(b | 0x20);
		if (a != b)
			return 0;
	}
	return 1;
}

size_t
jscan_minify(const char *p, size_t n, char *out)
{
	const char	*e = p + n, *q;
	char		*o = out;

	while (p < e) {
		if (*p == '"') {
			q = jscan_str_end(p);
			memcpy(o, p, (size_t)(q - p));
			o += q - p;
			p = q;
		} else if (JS_WS(*p))
			p++;
		else
			*o++ = *p++;
	}
	return (size_t)(o - out);
}

/* Unchecked text (json_scan.h): the same walks, bounded. */

static const char *
jscan_bws(const char *p, const char *e)
{
	while (p < e && JS_WS(*p))
		p++;
	return p;
}

/* The first '"' or '\\' in [p, e), or e.  Sixteen bytes at a time with
 * SSE2 (every x86-64 has it), else eight on little-endian machines: a
 * byte of w equal to c is a zero byte of w ^ c*0x01..01, and the lowest
 * byte the zero-byte trick flags is exact.  Values and names of rows are
 * mostly 10-40 bytes: a memchr() call costs more than such a string. */
static const char *
jscan_bspecial(const char *p, const char *e)
{
#if defined(__SSE2__)
	const __m128i	 quote = _mm_set1_epi8('"');
	const __m128i	 bslash = _mm_set1_epi8('\\');
	__m128i		 v;
	unsigned	 m16;

	for (; e - p >= 16; p += 16) {
		v = _mm_loadu_si128((const __m128i *)(const void *)p);
		m16 = (unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
		if (m16 != 0)
			return p + __builtin_ctz(m16);
	}
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const uint64_t	 ones = 0x0101010101010101ULL;
	const uint64_t	 high = 0x8080808080808080ULL;
	uint64_t	 w, a, b, m;

	for (; e - p >= 8; p += 8) {
		memcpy(&w, p, 8);
		a = w ^ (ones * '"');
		b = w ^ (ones * '\\');
		m = (((a - ones) & ~a) | ((b - ones) & ~b)) & high;
		if (m != 0)
			return p + (__builtin_ctzll(m) >> 3);
	}
#endif
	for (; p < e; p++)
		if (*p == '"' || *p == '\\')
			return p;
	return e;
}

/* p at an opening quote: just past the closing one, or NULL.  A
 * backslash escapes the byte after it (a \uXXXX's digits hold no quote):
 * stepping over the pair is the same as counting backslashes before a
 * quote, in one pass. */
static const char *
jscan_bstr_end(const char *p, const char *e)
{
	const char *q = p + 1;

	for (;;) {
		if ((q = jscan_bspecial(q, e)) >= e)
			return NULL;
		if (*q == '"')
			return q + 1;
		if (e - q < 2)
			return NULL;
		q += 2;
	}
}

const char *
jscan_bskip(const char *p, const char *e)
{
	const char	*s = p;
	unsigned	 depth = 0;
	char		 c;

	if (p >= e)
		return NULL;
	switch (*p) {
	case '"':
		return jscan_bstr_end(p, e);
	case '{':
	case '[':
		while (p < e) {
			c = *p;
			if (c == '"') {
				if ((p = jscan_bstr_end(p, e)) == NULL)
					return NULL;
				continue;
			}
			if (c == '{' || c == '[')
				depth++;
			else if ((c == '}' || c == ']') && --depth == 0)
				return p + 1;
			p++;
		}
		return NULL;
	default:
		while (p < e && ((*p >= '0' && *p <= '9') ||
		    (*p >= 'a' && *p <= 'z') || *p == '-' || *p == '+' ||
		    *p == '.' || *p == 'E'))
			p++;
		return p > s ? p : NULL;
	}
}

int
jscan_biter_init(struct jscan_biter *it, const char *p, const char *e)
{
	p = jscan_bws(p, e);
	if (p >= e || *p != '{')
		return -1;
	it->p = p + 1;
	it->e = e;
	return 0;
}

/* p at a name's opening quote: its raw bytes into s, and just past the
 * closing quote, or NULL.  Names are short: one pass (a word at a time)
 * finds the quote and notes a backslash, where a memchr() for each would
 * cost more than the name. */
static const char *
jscan_bname(const char *p, const char *e, struct jscan_str *s)
{
	const char	*q;

	if ((q = jscan_bspecial(p + 1, e)) < e && *q == '"') {
		s->p = p + 1;
		s->n = (size_t)(q - s->p);
		s->esc = 0;
		return q + 1;
	}
	if ((q = jscan_bstr_end(p, e)) == NULL)
		return NULL;
	s->p = p + 1;
	s->n = (size_t)(q - 1 - s->p);
	s->esc = 1;
	return q;
}

int
jscan_biter_next(struct jscan_biter *it, struct jscan_str *name,
    const char **val, const char **vend)
{
	const char	*p = it->p, *e = it->e, *q;

	/* Rows are mostly compact: whitespace is looked for only where
	 * the expected byte is not there. */
	if (p < e && *p == ',')
		p++;
	if (p < e && *p != '"')
		p = jscan_bws(p, e);
	if (p < e && *p == ',')
		p = jscan_bws(p + 1, e);
	if (p < e && *p == '}') {
		it->p = p;
		return 0;
	}
	if (p >= e || *p != '"' || (q = jscan_bname(p, e, name)) == NULL)
		return -1;
	p = q < e && *q == ':' ? q : jscan_bws(q, e);
	if (p >= e || *p != ':')
		return -1;
	p++;
	if (p < e && JS_WS(*p))
		p = jscan_bws(p, e);
	if ((q = jscan_bskip(p, e)) == NULL)
		return -1;
	*val = p;
	*vend = q;
	if (q < e && (*q == ',' || *q == '}')) {
		it->p = q;
		return 1;
	}
	p = jscan_bws(q, e);
	if (p >= e || (*p != ',' && *p != '}'))
		return -1;
	it->p = p;
	return 1;
}
