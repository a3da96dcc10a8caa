/*
 * route.c - the dispatch table from (method, path) to operation.
 *
 * Plain requests and batch items both come through route_resolve(), so the
 * answer to a bad path, method, name or key is decided here once.  The
 * input is untrusted bytes (a request line, or a string from a batch body):
 * every read is bounded by the given length, NUL bytes are ordinary data,
 * and nothing is allocated unless the whole request resolves.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "route.h"

/* The longest pattern: workspaces/{ws}/tables/{t}/rows/{key}. */
#define ROUTE_SEGS_MAX	6
/* Room for the path quoted in a PATH_NOT_FOUND detail. */
#define ROUTE_SHOW_MAX	200

/* A raw (still percent-encoded) piece of the target. */
struct route_seg {
	const char	*p;
	size_t		 n;
};

/* Captures of a pattern's placeholders, by index. */
enum route_cap {
	CAP_WS = 0,
	CAP_TABLE,
	CAP_KEY,
	CAP__COUNT
};

/*
 * One row per path shape.  A segment is a literal, compared with the raw
 * segment byte for byte, or a placeholder "{ws}", "{t}" or "{key}".  Shapes
 * never overlap, so the first shape that matches decides between the
 * operation and 405.
 */
static const struct route_pat {
	const char	*segs[ROUTE_SEGS_MAX];	/* NULL after the last one */
	int		 debug;			/* exists only with debug_ops */
	enum route_op	 ops[METHOD__COUNT];	/* OP_NONE: method not allowed */
} route_table[] = {
	{ { "workspaces", "{ws}", "tables" }, 0,
	    { [METHOD_GET] = OP_TABLES_LIST } },
	{ { "workspaces", "{ws}", "tables", "{t}" }, 0,
	    { [METHOD_DELETE] = OP_TABLE_DROP } },
	{ { "workspaces", "{ws}", "tables", "{t}", "rows" }, 0,
	    { [METHOD_GET] = OP_ROWS_SCAN, [METHOD_POST] = OP_ROW_CREATE } },
	{ { "workspaces", "{ws}", "tables", "{t}", "rows", "{key}" }, 0,
	    { [METHOD_GET] = OP_ROW_GET, [METHOD_PUT] = OP_ROW_PUT,
	      [METHOD_PATCH] = OP_ROW_PATCH, [METHOD_DELETE] = OP_ROW_DELETE } },
	{ { "workspaces", "{ws}", "query" }, 0,
	    { [METHOD_GET] = OP_QUERY, [METHOD_POST] = OP_QUERY } },
	{ { "debug", "sleep" }, 1, { [METHOD_POST] = OP_DEBUG_SLEEP } },
	{ { "debug", "crash" }, 1, { [METHOD_POST] = OP_DEBUG_CRASH } },
	{ { "debug", "alloc" }, 1, { [METHOD_POST] = OP_DEBUG_ALLOC } },
};

static const char *const route_methods[METHOD__COUNT] = {
	[METHOD_GET] = "GET",
	[METHOD_PUT] = "PUT",
	[METHOD_POST] = "POST",
	[METHOD_PATCH] = "PATCH",
	[METHOD_DELETE] = "DELETE",
};

static const struct {
	const char	*name;
	int		 writes;
} route_ops[OP__COUNT] = {
	[OP_NONE] = { "none", 0 },
	[OP_TABLES_LIST] = { "tables.list", 0 },
	[OP_TABLE_DROP] = { "table.drop", 1 },
	[OP_ROWS_SCAN] = { "rows.scan", 0 },
	[OP_ROW_CREATE] = { "row.create", 1 },
	[OP_ROW_GET] = { "row.get", 0 },
	[OP_ROW_PUT] = { "row.put", 1 },
	[OP_ROW_PATCH] = { "row.patch", 1 },
	[OP_ROW_DELETE] = { "row.delete", 1 },
	[OP_QUERY] = { "query", 0 },
	[OP_DEBUG_SLEEP] = { "debug.sleep", 0 },
	[OP_DEBUG_CRASH] = { "debug.crash", 0 },
	[OP_DEBUG_ALLOC] = { "debug.alloc", 0 },
	[OP_GROUP] = { "group", 1 },
	[OP_ASYNC_SAVE] = { "async.save", 1 },
	[OP_ASYNC_GET] = { "async.get", 1 },
	[OP_ASYNC_PURGE] = { "async.purge", 1 },
	[OP_QUERY_PART] = { "query.part", 0 },
	[OP_QUERY_MERGE] = { "query.merge", 0 },
};

/* Query parameters we read; which of them an operation takes. */
enum route_param {
	PARAM_PREFIX = 0,
	PARAM_AFTER,
	PARAM_LIMIT,
	PARAM_QUERY,
	PARAM_TIMESPAN,
	PARAM__COUNT
};

static const char *const route_params[PARAM__COUNT] = {
	[PARAM_PREFIX] = "prefix",
	[PARAM_AFTER] = "after",
	[PARAM_LIMIT] = "limit",
	[PARAM_QUERY] = "query",
	[PARAM_TIMESPAN] = "timespan",
};

/* Longest raw parameter name worth decoding: "timespan" fully escaped. */
#define ROUTE_PARAM_NAME_MAX	(3 * 8)

/* Where decoded strings go: r->mem, filled front to back. */
struct route_mem {
	char	*base;
	size_t	 off;
	size_t	 cap;
};

int
route_method(const char *name, size_t n)
{
	int	i;

	if (name == NULL)
		return -1;
	for (i = 0; i < METHOD__COUNT; i++)
		if (strlen(route_methods[i]) == n &&
		    memcmp(route_methods[i], name, n) == 0)
			return i;
	return -1;
}

const char *
route_method_name(enum route_method m)
{
	return ((unsigned)m < METHOD__COUNT) ? route_methods[m] : "UNKNOWN";
}

const char *
route_op_name(enum route_op op)
{
	return ((unsigned)op < OP__COUNT) ? route_ops[op].name : "unknown";
}

int
route_op_writes(enum route_op op)
{
	return ((unsigned)op < OP__COUNT) ? route_ops[op].writes : 0;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decoding never writes ahead of where it reads, so out may equal in. */
long
url_decode(const char *in, size_t n, char *out, int plus_is_space)
{
	size_t	i, o;
	int	hi, lo;

	if (n > LONG_MAX)
		return -1;
	for (i = o = 0; i < n; i++) {
		if (in[i] == '%') {
			if (n - i < 3 ||
			    (hi = hexval((unsigned char)in[i + 1])) == -1 ||
			    (lo = hexval((unsigned char)in[i + 2])) == -1)
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (in[i] == '+' && plus_is_space)
			out[o++] = ' ';
		else
			out[o++] = in[i];
	}
	return (long)o;
}

static int
url_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

int
url_encode_segment(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t		  i, need;
	char		 *o;
	unsigned char	  c;

	if (n > SIZE_MAX / 3)
		return -1;
	for (i = need = 0; i < n; i++)
		need += url_unreserved((unsigned char)s[i]) ? 1 : 3;
	if (buf_reserve(b, need) == -1)
		return -1;
	o = b->data + b->len;
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (url_unreserved(c))
			*o++ = (char)c;
		else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	b->len += need;
	b->data[b->len] = '\0';
	return 0;
}

/*
 * The ranges of RFC 3629 section 4: the second byte's range is narrowed
 * after E0, ED, F0 and F4, which is what rules out overlong forms,
 * surrogates and code points above U+10FFFF.
 */
int
utf8_valid(const char *s, size_t n)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i = 0, k, more;
	unsigned char		 lo, hi;

	while (i < n) {
		if (u[i] < 0x80) {
			/* ASCII, eight bytes at a time where it can. */
			uint64_t w;

			i++;
			while (n - i >= 8) {
				memcpy(&w, u + i, 8);
				if (w & 0x8080808080808080ULL)
					break;
				i += 8;
			}
			continue;
		}
		lo = 0x80;
		hi = 0xBF;
		if (u[i] >= 0xC2 && u[i] <= 0xDF)
			more = 1;
		else if (u[i] >= 0xE0 && u[i] <= 0xEF) {
			more = 2;
			if (u[i] == 0xE0)
				lo = 0xA0;
			else if (u[i] == 0xED)
				hi = 0x9F;
		} else if (u[i] >= 0xF0 && u[i] <= 0xF4) {
			more = 3;
			if (u[i] == 0xF0)
				lo = 0x90;
			else if (u[i] == 0xF4)
				hi = 0x8F;
		} else
			return 0;
		if (n - i - 1 < more)
			return 0;
		if (u[i + 1] < lo || u[i + 1] > hi)
			return 0;
		for (k = 2; k <= more; k++)
			if (u[i + k] < 0x80 || u[i + k] > 0xBF)
				return 0;
		i += more + 1;
	}
	return 1;
}

size_t
utf8_put(unsigned long cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static int
seg_is(const char *p, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(p, lit, n) == 0;
}

/*
 * Quote a path in an error detail: printable ASCII as is, every other byte
 * as %XX, so the detail is valid UTF-8 and JSON whatever the input; cut
 * with "..." to fit dst.
 */
static void
route_show(char *dst, size_t sz, const char *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t		  i, o = 0;
	unsigned char	  c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)p[i];
		if (o + (c > 0x20 && c < 0x7f ? 1 : 3) + sizeof("...") > sz) {
			memcpy(dst + o, "...", sizeof("..."));
			return;
		}
		if (c > 0x20 && c < 0x7f)
			dst[o++] = (char)c;
		else {
			dst[o++] = '%';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
}

/*
 * A batch path after the optional /v1: "/$batch" (a client that encodes
 * '$' sends "/%24batch"), "/batches" and anything below it.  These are
 * recognised before the strict segment rules so that "/batches/" is still
 * answered as a nested batch rather than as an unknown path.
 */
static int
route_is_batch(const char *p, size_t n)
{
	const char	*end;
	size_t		 sl;

	if (n < 1 || p[0] != '/')
		return 0;
	p++;
	n--;
	end = memchr(p, '/', n);
	sl = end != NULL ? (size_t)(end - p) : n;
	if (seg_is(p, sl, "batches"))
		return 1;
	return end == NULL &&
	    (seg_is(p, sl, "$batch") || seg_is(p, sl, "%24batch"));
}

/*
 * Split a path on raw '/' into at most ROUTE_SEGS_MAX segments.  Splitting
 * before decoding is what lets a key carry "%2F".  We are strict: the path
 * must start with '/', and an empty segment ("//", a trailing '/') makes it
 * an unknown path rather than being collapsed, so that one resource has one
 * spelling and "rows/" is never read as a scan or as a row with an empty
 * key.  Returns the number of segments, or -1.
 */
static int
route_split(const char *p, size_t n, struct route_seg *segs)
{
	const char	*end;
	size_t		 i = 1, sl;
	int		 count = 0;

	if (n < 1 || p[0] != '/')
		return -1;
	for (;;) {
		end = memchr(p + i, '/', n - i);
		sl = end != NULL ? (size_t)(end - (p + i)) : n - i;
		if (sl == 0 || count == ROUTE_SEGS_MAX)
			return -1;
		segs[count].p = p + i;
		segs[count].n = sl;
		count++;
		if (end == NULL)
			return count;
		i += sl + 1;
	}
}

/* Does the path have this pattern's shape?  Fills the captures if so. */
static int
route_match(const struct route_pat *pat, const struct route_seg *segs,
    int nsegs, struct route_seg *cap)
{
	const char	*lit;
	int		 i;

	for (i = 0; i < ROUTE_SEGS_MAX && pat->segs[i] != NULL; i++) {
		if (i == nsegs)
			return 0;
		lit = pat->segs[i];
		if (lit[0] != '{') {
			if (!seg_is(segs[i].p, segs[i].n, lit))
				return 0;
			continue;
		}
		switch (lit[1]) {	/* "{ws}", "{t}" or "{key}" */
		case 'w':	cap[CAP_WS] = segs[i]; break;
		case 't':	cap[CAP_TABLE] = segs[i]; break;
		default:	cap[CAP_KEY] = segs[i]; break;
		}
	}
	return i == nsegs;
}

/*
 * Collect the raw values of the parameters in mask from a query string.
 * Names are decoded (with '+' as space) before comparing; unknown names,
 * and names we cannot decode, are ignored.  A later occurrence replaces an
 * earlier one.  A present parameter always has a non-NULL p, even "limit"
 * with no '=' (value empty).
 */
static void
route_query(const char *qs, size_t qlen, unsigned mask, struct route_seg *val)
{
	char		 name[ROUTE_PARAM_NAME_MAX];
	const char	*pair, *amp, *eq;
	size_t		 pl, nl;
	long		 dn;
	int		 i;

	while (qlen > 0) {
		pair = qs;
		amp = memchr(qs, '&', qlen);
		pl = amp != NULL ? (size_t)(amp - qs) : qlen;
		qs += pl;
		qlen -= pl;
		if (amp != NULL) {
			qs++;
			qlen--;
		}
		eq = memchr(pair, '=', pl);
		nl = eq != NULL ? (size_t)(eq - pair) : pl;
		if (nl == 0 || nl > sizeof(name))
			continue;
		if ((dn = url_decode(pair, nl, name, 1)) == -1)
			continue;
		for (i = 0; i < PARAM__COUNT; i++) {
			if (!(mask & 1u << i) ||
			    !seg_is(name, (size_t)dn, route_params[i]))
				continue;
			val[i].p = eq != NULL ? eq + 1 : pair + pl;
			val[i].n = eq != NULL ? pl - nl - 1 : 0;
		}
	}
}

/* Decode raw into m, NUL-terminated (keys travel as C strings). */
static int
route_take(struct route_mem *m, struct route_seg raw, int plus,
    struct route_str *out)
{
	long	d;

	if (raw.n + 1 > m->cap - m->off)
		return -1;	/* cannot happen: m is sized from the raws */
	if ((d = url_decode(raw.p, raw.n, m->base + m->off, plus)) == -1)
		return -1;
	out->p = m->base + m->off;
	out->n = (size_t)d;
	m->base[m->off + (size_t)d] = '\0';
	m->off += (size_t)d + 1;
	return 0;
}

int
route_name_ok(const struct route_str *s)
{
	size_t		i;
	unsigned char	c;

	if (s->n < 1 || s->n > ROUTE_NAME_MAX)
		return 0;
	for (i = 0; i < s->n; i++) {
		c = (unsigned char)s->p[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Text that workers may treat as a C string and echo in JSON. */
static int
route_text_ok(const struct route_str *s)
{
	return memchr(s->p, '\0', s->n) == NULL && utf8_valid(s->p, s->n);
}

static int
route_limit(const struct route_str *s, long *limit)
{
	size_t	i;
	long	v = 0;

	if (s->n == 0)
		return -1;
	for (i = 0; i < s->n; i++) {
		if (s->p[i] < '0' || s->p[i] > '9')
			return -1;
		v = v * 10 + (s->p[i] - '0');
		if (v > ROUTE_LIMIT_MAX)
			return -1;
	}
	if (v < 1)
		return -1;
	*limit = v;
	return 0;
}

/* Decode and check the scan's or the GET query's parameters. */
static int
route_fill_params(struct route *r, struct route_mem *m,
    const struct route_seg *val, struct err *e)
{
	static const enum route_param text[] = {
	    PARAM_PREFIX, PARAM_AFTER, PARAM_QUERY, PARAM_TIMESPAN };
	struct route_str	*dst[PARAM__COUNT] = {
	    [PARAM_PREFIX] = &r->prefix, [PARAM_AFTER] = &r->after,
	    [PARAM_QUERY] = &r->query, [PARAM_TIMESPAN] = &r->timespan };
	struct route_str	 lim;
	const char		*name;
	size_t			 i;
	enum route_param	 pa;

	for (i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
		pa = text[i];
		name = route_params[pa];
		if (val[pa].p == NULL)
			continue;
		if (route_take(m, val[pa], 1, dst[pa]) == -1)
			return err_set(e, ERR_BAD_REQUEST,
			    "malformed percent escape in %s", name);
		if ((pa == PARAM_PREFIX || pa == PARAM_AFTER) &&
		    dst[pa]->n > ROUTE_KEY_MAX)
			return err_set(e, ERR_BAD_REQUEST,
			    "%s must be at most %d bytes", name, ROUTE_KEY_MAX);
		/* prefix and after are keys: any character, U+0000 too. */
		if ((pa == PARAM_PREFIX || pa == PARAM_AFTER) ?
		    !utf8_valid(dst[pa]->p, dst[pa]->n) : !route_text_ok(dst[pa]))
			return err_set(e, ERR_BAD_REQUEST, "%s must be valid UTF-8%s",
			    name, pa == PARAM_PREFIX || pa == PARAM_AFTER ? "" :
			    " without NUL bytes");
	}
	if (val[PARAM_LIMIT].p != NULL &&
	    (route_take(m, val[PARAM_LIMIT], 1, &lim) == -1 ||
	    route_limit(&lim, &r->limit) == -1))
		return err_set(e, ERR_BAD_REQUEST,
		    "limit must be an integer from 1 to %d", ROUTE_LIMIT_MAX);
	return 0;
}

/* Decode and check the path parameters. */
static int
route_fill_path(struct route *r, struct route_mem *m,
    const struct route_seg *cap, struct err *e)
{
	if (cap[CAP_WS].p != NULL &&
	    (route_take(m, cap[CAP_WS], 0, &r->ws) == -1 ||
	    !route_name_ok(&r->ws)))
		return err_set(e, ERR_BAD_REQUEST, "invalid workspace name");
	if (cap[CAP_TABLE].p != NULL &&
	    (route_take(m, cap[CAP_TABLE], 0, &r->table) == -1 ||
	    !route_name_ok(&r->table)))
		return err_set(e, ERR_BAD_REQUEST, "invalid table name");
	if (cap[CAP_KEY].p == NULL)
		return 0;
	if (route_take(m, cap[CAP_KEY], 0, &r->key) == -1)
		return err_set(e, ERR_BAD_REQUEST,
		    "malformed percent escape in key");
	if (r->key.n < 1 || r->key.n > ROUTE_KEY_MAX)
		return err_set(e, ERR_BAD_REQUEST,
		    "key must be 1 to %d bytes", ROUTE_KEY_MAX);
	if (!utf8_valid(r->key.p, r->key.n))
		return err_set(e, ERR_BAD_REQUEST, "key is not valid UTF-8");
	return 0;
}

static int
route_not_found(struct err *e, const char *path, size_t n)
{
	char	show[ROUTE_SHOW_MAX];

	route_show(show, sizeof(show), path, n);
	return err_set(e, ERR_PATH_NOT_FOUND, "no operation at \"%s\"", show);
}

static int
route_not_allowed(struct err *e, const struct route_pat *pat)
{
	char	allowed[64] = "";
	size_t	o = 0;
	int	m;

	for (m = 0; m < METHOD__COUNT; m++) {
		if (pat->ops[m] == OP_NONE)
			continue;
		o += (size_t)snprintf(allowed + o, sizeof(allowed) - o, "%s%s",
		    o ? ", " : "", route_methods[m]);
	}
	return err_set(e, ERR_METHOD_NOT_ALLOWED, "allowed: %s", allowed);
}

int
route_resolve(enum route_method method, const char *target, size_t len,
    int debug_ops, struct route *r, struct err *e)
{
	struct route_seg	 segs[ROUTE_SEGS_MAX];
	struct route_seg	 cap[CAP__COUNT] = { { NULL, 0 } };
	struct route_seg	 val[PARAM__COUNT] = { { NULL, 0 } };
	struct route_mem	 m = { NULL, 0, 0 };
	const struct route_pat	*pat = NULL;
	const char		*mark, *path;
	size_t			 plen, i;
	unsigned		 mask = 0;
	int			 nsegs;

	memset(r, 0, offsetof(struct route, small));
	if (target == NULL)
		len = 0;
	mark = len > 0 ? memchr(target, '?', len) : NULL;
	plen = mark != NULL ? (size_t)(mark - target) : len;

	path = target;
	if (plen >= 3 && memcmp(path, "/v1", 3) == 0 &&
	    (plen == 3 || path[3] == '/'))
		path += 3;
	if (route_is_batch(path, plen - (size_t)(path - target)))
		return err_set(e, ERR_NESTED_BATCH_NOT_ALLOWED,
		    "a batch item may not be a batch");

	nsegs = route_split(path, plen - (size_t)(path - target), segs);
	for (i = 0; nsegs > 0 && i < sizeof(route_table) /
	    sizeof(route_table[0]); i++) {
		if (route_table[i].debug && !debug_ops)
			continue;
		if (route_match(&route_table[i], segs, nsegs, cap)) {
			pat = &route_table[i];
			break;
		}
	}
	if (pat == NULL)
		return route_not_found(e, target, plen);
	if ((unsigned)method >= METHOD__COUNT || pat->ops[method] == OP_NONE)
		return route_not_allowed(e, pat);
	r->op = pat->ops[method];

	if (r->op == OP_ROWS_SCAN) {
		mask = 1u << PARAM_PREFIX | 1u << PARAM_AFTER |
		    1u << PARAM_LIMIT;
		r->limit = ROUTE_LIMIT_DEFAULT;
	} else if (r->op == OP_QUERY && method == METHOD_GET)
		mask = 1u << PARAM_QUERY | 1u << PARAM_TIMESPAN;
	if (mask != 0 && mark != NULL)
		route_query(mark + 1, len - plen - 1, mask, val);

	/*
	 * Every decoded string is no longer than its raw piece, and the
	 * pieces are disjoint parts of target, so this cannot overflow; one
	 * NUL per string, at most CAP__COUNT + PARAM__COUNT strings.
	 */
	m.cap = CAP__COUNT + PARAM__COUNT;
	for (i = 0; i < CAP__COUNT; i++)
		m.cap += cap[i].n;
	for (i = 0; i < PARAM__COUNT; i++)
		m.cap += val[i].n;
	if (m.cap <= sizeof(r->small))
		m.base = r->small;
	else if ((m.base = r->mem = malloc(m.cap)) == NULL) {
		r->op = OP_NONE;
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	if (route_fill_path(r, &m, cap, e) == -1 ||
	    route_fill_params(r, &m, val, e) == -1) {
		route_free(r);
		return -1;
	}
	return 0;
}

void
route_free(struct route *r)
{
	if (r == NULL)
		return;
	free(r->mem);
	memset(r, 0, offsetof(struct route, small));
}
