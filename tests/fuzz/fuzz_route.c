/*
 * fuzz_route.c - the router and URL decoding (common/route.c).
 *
 * Each input is a request target.  It is resolved with every method, with
 * debug_ops off and on; a resolved route must hold only what the workers
 * may trust (valid names, keys and parameters of the documented sizes,
 * valid UTF-8, without NUL but in keys), and a refusal must carry one of the router's
 * codes with a detail that is valid UTF-8.  The input is also run through
 * url_decode() (in place and not, '+' as space or not),
 * url_encode_segment() and back, and utf8_valid() is compared with a
 * plain decoder written from RFC 3629.
 */
#include <string.h>

#include "buf.h"
#include "route.h"
#include "fuzz.h"

/* The same answer as utf8_valid(), the long way: decode each sequence and
 * refuse overlongs, surrogates and code points past U+10FFFF. */
static int
fr_utf8_ref(const unsigned char *s, size_t n)
{
	size_t		i = 0, len, k;
	unsigned long	cp, min;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xE0) == 0xC0) {
			len = 2;
			cp = s[i] & 0x1F;
			min = 0x80;
		} else if ((s[i] & 0xF0) == 0xE0) {
			len = 3;
			cp = s[i] & 0x0F;
			min = 0x800;
		} else if ((s[i] & 0xF8) == 0xF0) {
			len = 4;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else
			return 0;
		if (n - i < len)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += len;
	}
	return 1;
}

/* Keys (and prefix, after) may hold any character, U+0000 too (SPEC 1):
 * valid UTF-8 is all they need; other text must also be free of NUL.
 * Both arrive NUL-terminated. */
static int
fr_key_ok(const struct route_str *s)
{
	return s->p == NULL || (s->p[s->n] == '\0' && utf8_valid(s->p, s->n));
}

static int
fr_text_ok(const struct route_str *s)
{
	return fr_key_ok(s) && (s->p == NULL ||
	    memchr(s->p, '\0', s->n) == NULL);
}

static void
fr_check_route(enum route_method meth, int debug_ops, const struct route *r)
{
	FUZZ_CHECK(r->op > OP_NONE && r->op < OP_GROUP);
	FUZZ_CHECK(debug_ops || r->op < OP_DEBUG_SLEEP);
	switch (r->op) {
	case OP_ROW_GET:
	case OP_ROW_PUT:
	case OP_ROW_PATCH:
	case OP_ROW_DELETE:
		FUZZ_CHECK(r->key.p != NULL && r->key.n >= 1 &&
		    r->key.n <= ROUTE_KEY_MAX && fr_key_ok(&r->key));
		/* FALLTHROUGH */
	case OP_TABLE_DROP:
	case OP_ROWS_SCAN:
	case OP_ROW_CREATE:
		FUZZ_CHECK(fuzz_name_ok(&r->table));
		/* FALLTHROUGH */
	case OP_TABLES_LIST:
	case OP_QUERY:
		FUZZ_CHECK(fuzz_name_ok(&r->ws));
		break;
	default:
		FUZZ_CHECK(r->ws.p == NULL && r->table.p == NULL);
		break;
	}
	if (r->op != OP_ROW_GET && r->op != OP_ROW_PUT &&
	    r->op != OP_ROW_PATCH && r->op != OP_ROW_DELETE)
		FUZZ_CHECK(r->key.p == NULL);
	if (r->op == OP_ROWS_SCAN) {
		FUZZ_CHECK(r->limit >= 1 && r->limit <= ROUTE_LIMIT_MAX);
		FUZZ_CHECK(r->prefix.p == NULL || r->prefix.n <= ROUTE_KEY_MAX);
		FUZZ_CHECK(r->after.p == NULL || r->after.n <= ROUTE_KEY_MAX);
		FUZZ_CHECK(fr_key_ok(&r->prefix) && fr_key_ok(&r->after));
	} else
		FUZZ_CHECK(r->prefix.p == NULL && r->after.p == NULL);
	if (r->op == OP_QUERY && meth == METHOD_GET)
		FUZZ_CHECK(fr_text_ok(&r->query) && fr_text_ok(&r->timespan));
	else
		FUZZ_CHECK(r->query.p == NULL && r->timespan.p == NULL);
}

static void
fr_resolve(const char *s, size_t n)
{
	struct route	 r;
	struct err	 e;
	int		 meth, dbg;

	for (dbg = 0; dbg < 2; dbg++) {
		for (meth = 0; meth < METHOD__COUNT; meth++) {
			memset(&e, 0, sizeof(e));
			if (route_resolve((enum route_method)meth, s, n, dbg, &r,
			    &e) == 0) {
				fr_check_route((enum route_method)meth, dbg, &r);
				route_free(&r);
				continue;
			}
			FUZZ_CHECK(r.mem == NULL && r.op == OP_NONE);
			FUZZ_CHECK(e.code == ERR_PATH_NOT_FOUND ||
			    e.code == ERR_METHOD_NOT_ALLOWED ||
			    e.code == ERR_BAD_REQUEST ||
			    e.code == ERR_NESTED_BATCH_NOT_ALLOWED);
			FUZZ_CHECK(utf8_valid(e.detail, strlen(e.detail)));
		}
	}
}

static void
fr_codec(const char *s, size_t n)
{
	struct buf	 enc = BUF_INIT;
	char		*out, *inplace, *back;
	long		 d, d2, b;
	int		 plus;

	FUZZ_CHECK((out = malloc(n + 1)) != NULL);
	FUZZ_CHECK((inplace = malloc(n + 1)) != NULL);
	for (plus = 0; plus < 2; plus++) {
		d = url_decode(s, n, out, plus);
		memcpy(inplace, s, n);
		d2 = url_decode(inplace, n, inplace, plus);
		FUZZ_CHECK(d == d2);
		if (d == -1)
			continue;
		FUZZ_CHECK(d >= 0 && (size_t)d <= n);
		FUZZ_CHECK(memcmp(out, inplace, (size_t)d) == 0);
		/* Without escapes (and '+' kept), decoding changes nothing. */
		if (memchr(s, '%', n) == NULL && !plus)
			FUZZ_CHECK((size_t)d == n && memcmp(out, s, n) == 0);
	}
	/* Encoding any bytes as a segment decodes back to them, and the
	 * segment has no byte a path or query would split on. */
	FUZZ_CHECK(url_encode_segment(&enc, s, n) == 0);
	FUZZ_CHECK(enc.len >= n && enc.len <= 3 * n);
	FUZZ_CHECK(n == 0 || (memchr(enc.data, '/', enc.len) == NULL &&
	    memchr(enc.data, '?', enc.len) == NULL &&
	    memchr(enc.data, '&', enc.len) == NULL &&
	    memchr(enc.data, '+', enc.len) == NULL &&
	    memchr(enc.data, '\0', enc.len) == NULL));
	FUZZ_CHECK((back = malloc(enc.len + 1)) != NULL);
	for (plus = 0; plus < 2; plus++) {
		b = url_decode(enc.data, enc.len, back, plus);
		FUZZ_CHECK(b >= 0 && (size_t)b == n && memcmp(back, s, n) == 0);
	}
	free(back);
	buf_free(&enc);
	free(inplace);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*s = (const char *)data;
	struct buf	 t = BUF_INIT;

	fr_resolve(s, size);
	/* A target with and without the "/v1" prefix is the same request. */
	if (size > 0 && data[0] == '/') {
		FUZZ_CHECK(buf_puts(&t, "/v1") == 0 &&
		    buf_append(&t, s, size) == 0);
		fr_resolve(t.data, t.len);
		buf_free(&t);
	}
	fr_codec(s, size);
	FUZZ_CHECK(utf8_valid(s, size) == fr_utf8_ref(data, size));
	return 0;
}
