/*
 * batch.c - parse and validate a batch (SPEC 3.1, 3.2), route its items,
 * release items as their dependencies finish, and finish the batch.
 *
 * The body is read once, in place (json_scan.h): no JSON tree is built,
 * item bodies go into the encoded items as the bytes the client sent, and
 * only ids (and strings with escapes) are copied out of the request.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "futex.h"
#include "json_check.h"
#include "json_scan.h"
#include "master.h"

#define BATCH_JSON_DEPTH	64

/*
 * A freed batch of at most BATCH_SPARE_ITEMS items whose allocations
 * total at most BATCH_SPARE_BYTES is kept, with its items, strings and
 * buffers, for a later batch_new(): a 1-item request would otherwise
 * cost five allocations and their frees, an eighth of the master's
 * instructions for it.  Up to BATCH_SPARE_MAX are kept (connections
 * answered in one burst free as many batches as the next burst makes):
 * under 400 KiB of memory (structs and items included), whatever the
 * load.
 */
#define BATCH_SPARE_ITEMS	4
#define BATCH_SPARE_BYTES	4096
#define BATCH_SPARE_MAX		64

/* Give b its n items, each in its starting state. */
static int
batch_items_alloc(struct mbatch *b, uint32_t n)
{
	size_t		 each = sizeof(*b->mb_items) + sizeof(uint32_t);
	uint32_t	 i;

	/* The completion order rides in the same allocation, after the
	 * items (one calloc and one free per batch fewer). */
	if (n > 0 && n <= b->mb_items_cap)
		memset(b->mb_items, 0, n * each);
	else if (n > 0) {
		free(b->mb_items);
		b->mb_items_cap = 0;
		if ((b->mb_items = calloc(n, each)) == NULL)
			return -1;
		b->mb_items_cap = n;
	}
	if (n > 0)
		b->mb_order = (uint32_t *)(b->mb_items + n);
	b->mb_nitems = n;
	for (i = 0; i < n; i++) {
		b->mb_items[i].mi_batch = b;
		b->mb_items[i].mi_idx = i;
		b->mb_items[i].mi_first = SLOT_NONE;
		b->mb_items[i].mi_group = -1;
	}
	return 0;
}

/* mb_strs of at least n bytes (a kept batch's, if large enough). */
static int
batch_strs_alloc(struct mbatch *b, size_t n)
{
	if (n <= b->mb_strs_cap)
		return 0;
	free(b->mb_strs);
	b->mb_strs_cap = 0;
	if ((b->mb_strs = malloc(n)) == NULL)
		return -1;
	b->mb_strs_cap = n;
	return 0;
}

/* What a batch holds for its whole life, freed with the batch itself. */
static void
batch_dealloc(struct mbatch *b)
{
	free(b->mb_strs);
	buf_free(&b->mb_enc);
	buf_free(&b->mb_out);
	buf_free(&b->mb_side);
	free(b->mb_items);	/* and mb_order with it */
	free(b);
}

struct mbatch *
batch_new(struct master *m, enum mbatch_kind kind, uint32_t n)
{
	struct mbatch	*b;

	if ((b = m->spare_batch) != NULL) {
		m->spare_batch = b->mb_next_done;
		b->mb_next_done = NULL;
		m->nspare_batches--;
	} else if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	if (batch_items_alloc(b, n) == -1) {
		batch_dealloc(b);
		return NULL;
	}
	b->mb_kind = kind;
	b->mb_id = ++m->next_batch_id;
	b->mb_t0 = mono_ns();
	TAILQ_INSERT_TAIL(&m->batches, b, mb_entry);
	m->nbatches++;
	return b;
}

/* Keep b for the next batch_new(): every field as calloc() leaves it
 * but the allocations, empty. */
static void
batch_keep(struct master *m, struct mbatch *b)
{
	struct mbatch	 k = {
		.mb_strs = b->mb_strs, .mb_strs_cap = b->mb_strs_cap,
		.mb_items = b->mb_items, .mb_items_cap = b->mb_items_cap,
		.mb_enc = b->mb_enc, .mb_out = b->mb_out, .mb_side = b->mb_side,
	};

	buf_reset(&k.mb_enc);
	buf_reset(&k.mb_out);
	buf_reset(&k.mb_side);
	*b = k;
	b->mb_next_done = m->spare_batch;
	m->spare_batch = b;
	m->nspare_batches++;
}

void
batch_spare_drop(struct master *m)
{
	struct mbatch *b;

	while ((b = m->spare_batch) != NULL) {
		m->spare_batch = b->mb_next_done;
		batch_dealloc(b);
	}
	m->nspare_batches = 0;
}

void
batch_free(struct master *m, struct mbatch *b)
{
	struct mitem	*it;
	uint32_t	 i;

	for (i = 0; i < b->mb_nitems; i++) {
		it = &b->mb_items[i];
		if (it->mi_state == MI_PENDING)
			sched_unqueue(m, it);
		buf_free(&it->mi_enc);
		buf_free(&it->mi_out);
		buf_free(&it->mi_loc);
		free(it->mi_deps);
		free(it->mi_rdeps);
	}
	TAILQ_REMOVE(&m->batches, b, mb_entry);
	m->nbatches--;
	free(b->mb_async);
	free(b->mb_split);
	free(b->mb_held);
	free(b->mb_path);
	if (m->nspare_batches < BATCH_SPARE_MAX &&
	    b->mb_items_cap <= BATCH_SPARE_ITEMS &&
	    b->mb_strs_cap + b->mb_enc.cap + b->mb_out.cap + b->mb_side.cap <=
	    BATCH_SPARE_BYTES)
		batch_keep(m, b);
	else
		batch_dealloc(b);
}

/*
 * Route one item (plain request or batch item) and encode it.  A routing
 * failure is the item's own answer (404, 405, 400...), returned in e.
 */
int
batch_item_route(struct master *m, struct mitem *it, enum route_method meth,
    const char *target, size_t target_len, struct route_str if_match,
    struct route_str if_none_match, const struct batch_body *body,
    const struct config_token *tok, struct err *e)
{
	struct mbatch	*b = it->mi_batch;
	struct route	 r;
	struct item_req	 rq;
	size_t		 off;
	int		 rc;

	if (route_resolve(meth, target, target_len, m->cfg.debug_ops, &r,
	    e) == -1)
		return -1;
	if (r.ws.p != NULL && !auth_allows(tok, r.ws.p, r.ws.n)) {
		err_set(e, ERR_FORBIDDEN, "the token may not access workspace "
		    "\"%.*s\"", (int)r.ws.n, r.ws.p);
		route_free(&r);
		return -1;
	}
	it->mi_writes = route_op_writes(r.op);
	memset(&rq, 0, sizeof(rq));
	rq.op = r.op;
	rq.ws = r.ws;
	rq.table = r.table;
	rq.key = r.key;
	rq.prefix = r.prefix;
	rq.after = r.after;
	rq.limit = r.limit;
	rq.query = r.query;
	rq.timespan = r.timespan;
	rq.if_match = if_match;
	rq.if_none_match = if_none_match;
	rq.prefer = it->mi_prefer.flags;
	if (b->mb_store_id[0] != '\0') {
		rq.async_id.p = b->mb_store_id;
		rq.async_id.n = strlen(b->mb_store_id);
		rq.item_id.p = it->mi_id;
		rq.item_id.n = it->mi_id_len;
		rq.agroup.p = it->mi_agroup;
		rq.agroup.n = it->mi_agroup != NULL ? it->mi_agroup_len : 0;
	}
	/* "body ... Ignored for GET" (and DELETE carries none). */
	if (body != NULL && meth != METHOD_GET && meth != METHOD_DELETE) {
		rq.body = body->p;
		rq.body_len = body->n;
		rq.body_kind = body->kind;
		if (r.op == OP_QUERY && body->kind == BODY_OBJECT &&
		    auth_query_workspaces(tok, body->p,
		    m->cfg.query_max_workspaces, e) == -1) {
			route_free(&r);
			return -1;
		}
	}
	off = b->mb_enc.len;
	rc = item_append(&rq, &b->mb_enc);
	route_free(&r);
	if (rc == -1 || b->mb_enc.len - off > UINT32_MAX ||
	    b->mb_enc.len > UINT32_MAX) {
		b->mb_enc.len = off;
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	it->mi_enc_off = (uint32_t)off;
	it->mi_enc_len = (uint32_t)(b->mb_enc.len - off);
	if (it->mi_enc_len > (size_t)(m->ring.mask + 1) * m->ring.slot_bytes)
		return err_set(e, ERR_PAYLOAD_TOO_LARGE,
		    "item of %u bytes does not fit the ring", it->mi_enc_len);
	return 0;
}

/* Depth-first search for a cycle through dependsOn; color: 0 new, 1 on
 * the stack, 2 done. */
static int
batch_cycle(struct mbatch *b, uint32_t i, unsigned char *color)
{
	struct mitem	*it = &b->mb_items[i];
	uint32_t	 k;

	color[i] = 1;
	for (k = 0; k < it->mi_ndeps; k++) {
		uint32_t d = it->mi_deps[k];

		if (color[d] == 1 || (color[d] == 0 &&
		    batch_cycle(b, d, color)))
			return 1;
	}
	color[i] = 2;
	return 0;
}

/* The scheduling unit of item i: its group's leader, or itself. */
static uint32_t
batch_unit(const struct mbatch *b, uint32_t i)
{
	return b->mb_items[i].mi_group >= 0 ?
	    (uint32_t)b->mb_items[i].mi_group : i;
}

/* it waits for unit d (once). */
static int
batch_add_dep(struct mitem *it, uint32_t d)
{
	uint32_t k, *p;

	for (k = 0; k < it->mi_ndeps; k++)
		if (it->mi_deps[k] == d)
			return 0;
	if (it->mi_ndeps == it->mi_deps_cap) {
		it->mi_deps_cap = it->mi_deps_cap ? it->mi_deps_cap * 2 : 4;
		if ((p = realloc(it->mi_deps, it->mi_deps_cap *
		    sizeof(*p))) == NULL)
			return -1;
		it->mi_deps = p;
	}
	it->mi_deps[it->mi_ndeps++] = d;
	return 0;
}

static int
batch_add_rdep(struct mitem *dep, uint32_t idx)
{
	uint32_t *p;

	if (dep->mi_nrdeps == dep->mi_rdeps_cap) {
		dep->mi_rdeps_cap = dep->mi_rdeps_cap ? dep->mi_rdeps_cap * 2 : 4;
		p = realloc(dep->mi_rdeps, dep->mi_rdeps_cap * sizeof(*p));
		if (p == NULL)
			return -1;
		dep->mi_rdeps = p;
	}
	dep->mi_rdeps[dep->mi_nrdeps++] = idx;
	return 0;
}

/*
 * Names (item ids, atomicity groups) to item indexes: open addressing over
 * a power-of-two table at most half full.  Names are byte strings (an id
 * may hold U+0000); the table points at them and copies nothing.
 */
struct batch_names {
	struct route_str	*bn_key;
	uint32_t		*bn_val;	/* index + 1; 0 = empty */
	uint32_t		 bn_mask;
};

/* Room a table for n names takes (batch_names_init carves it). */
static size_t
batch_names_size(uint32_t n, uint32_t *cap)
{
	*cap = 8;
	while (*cap < 2 * (uint64_t)n)
		*cap *= 2;
	return *cap * (sizeof(struct route_str) + sizeof(uint32_t));
}

/* A table for n names in mem (zeroed, batch_names_size() bytes). */
static void
batch_names_init(struct batch_names *t, uint32_t n, char *mem)
{
	uint32_t cap;

	batch_names_size(n, &cap);
	t->bn_mask = cap - 1;
	t->bn_key = (struct route_str *)mem;
	t->bn_val = (uint32_t *)(mem + cap * sizeof(struct route_str));
}

/* The slot of name s: where it is, or the empty slot it would go to. */
static uint32_t
batch_names_slot(const struct batch_names *t, struct route_str s)
{
	uint64_t	h = 0xcbf29ce484222325ULL;	/* FNV-1a */
	uint32_t	i;
	size_t		k;

	for (k = 0; k < s.n; k++)
		h = (h ^ (unsigned char)s.p[k]) * 0x100000001b3ULL;
	for (i = (uint32_t)(h ^ h >> 32) & t->bn_mask; t->bn_val[i] != 0;
	    i = (i + 1) & t->bn_mask)
		if (t->bn_key[i].n == s.n &&
		    memcmp(t->bn_key[i].p, s.p, s.n) == 0)
			break;
	return i;
}

/* Index of name s, or -1. */
static int64_t
batch_names_get(const struct batch_names *t, struct route_str s)
{
	uint32_t i = batch_names_slot(t, s);

	return t->bn_val[i] != 0 ? (int64_t)t->bn_val[i] - 1 : -1;
}

/* Add s -> v unless s is there; the index s has either way. */
static uint32_t
batch_names_put(struct batch_names *t, struct route_str s, uint32_t v)
{
	uint32_t i = batch_names_slot(t, s);

	if (t->bn_val[i] == 0) {
		t->bn_key[i] = s;
		t->bn_val[i] = v + 1;
	}
	return t->bn_val[i] - 1;
}

/*
 * Strings decoded out of the body go to the batch's arena, sized to the
 * body: each raw string (quotes included) is decoded at most once, into
 * no more bytes than it had, so the arena cannot run out and pointers into
 * it stay put.  Item ids are copied there even without escapes, and
 * NUL-terminated: they outlive the request's buffer.
 */
static struct route_str
batch_str(struct mbatch *b, const char *val, int copy)
{
	struct jscan_str	 js;
	struct route_str	 r;
	const char		*d;

	jscan_string(val, &js);
	d = jscan_decode(&js, b->mb_strs + b->mb_strs_len, &r.n);
	if (d == js.p && copy)
		d = memcpy(b->mb_strs + b->mb_strs_len, js.p, js.n);
	if (d != js.p) {
		/* NUL-terminated too: the raw form had two quotes. */
		b->mb_strs[b->mb_strs_len + r.n] = '\0';
		b->mb_strs_len += r.n + 1;
	}
	r.p = d;
	return r;
}

/* What the first pass finds of one item: where its members' values lie
 * (NULL: absent; the last of two same-named members counts, as json-c and
 * JavaScript have it). */
struct batch_src {
	const char		*method, *path, *url, *ws, *hdrs, *body;
	const char		*deps, *group;
	const char		*body_end;	/* past the body's value */
	int			 body_ws;	/* whitespace inside it */
	struct route_str	 if_match, if_none_match;	/* decoded */
	struct route_str	 gname;				/* decoded */
};

enum batch_member {
	BM_ID, BM_METHOD, BM_PATH, BM_URL, BM_WORKSPACE, BM_HEADERS, BM_BODY,
	BM_DEPENDSON, BM_GROUP, BM__COUNT
};

static const char *const batch_members[BM__COUNT] = {
	"id", "method", "path", "url", "workspace", "headers", "body",
	"dependsOn", "atomicityGroup"
};

static int
batch_member(const struct jscan_str *name)
{
	int k;

	for (k = 0; k < BM__COUNT; k++)
		if (jscan_eq(name, batch_members[k]))
			return k;
	return -1;
}

/* Does a string value, decoded, hold U+0000 (only "\u0000" makes one)? */
static int
batch_has_nul(const struct route_str *s)
{
	return memchr(s->p, '\0', s->n) != NULL;
}

/* Pass 1 over item i at o: the shape of the item, its id unique. */
static int
batch_scan_item(struct mbatch *b, uint32_t i, const char *o,
    struct batch_src *src, struct batch_names *ids, struct batch_names *groups,
    struct err *e)
{
	struct mitem		*it = &b->mb_items[i];
	struct jscan_iter	 mi, hi;
	struct jscan_str	 name;
	struct route_str	 v;
	const char		*val, *idv = NULL, *hv;

	if (*o != '{')
		return err_set(e, ERR_BAD_REQUEST,
		    "requests[%u]: must be an object", i);
	jscan_iter_init(&mi, o);
	while (jscan_iter_next(&mi, &name, &val))
		switch (batch_member(&name)) {
		case BM_ID:		idv = val; break;
		case BM_METHOD:		src->method = val; break;
		case BM_PATH:		src->path = val; break;
		case BM_URL:		src->url = val; break;
		case BM_WORKSPACE:	src->ws = val; break;
		case BM_HEADERS:	src->hdrs = val; break;
		case BM_BODY:
			/* Walked here, once: its end and layout are needed. */
			src->body = val;
			src->body_ws = 0;
			src->body_end = jscan_skip(val, &src->body_ws);
			jscan_iter_past(&mi, src->body_end);
			break;
		case BM_DEPENDSON:	src->deps = val; break;
		case BM_GROUP:		src->group = val; break;
		default:		break;
		}
	if (idv == NULL)
		return err_set(e, ERR_BAD_REQUEST,
		    "requests[%u]: missing \"id\"", i);
	if (*idv != '"' || idv[1] == '"')
		return err_set(e, ERR_BAD_REQUEST,
		    "requests[%u]: \"id\" must be a non-empty string", i);
	v = batch_str(b, idv, 1);
	it->mi_id = v.p;
	it->mi_id_len = v.n;
	if (batch_names_put(ids, v, i) != i)
		return err_set(e, ERR_BAD_REQUEST,
		    "requests[%u]: duplicate id \"%.64s\"", i, it->mi_id);
	if (src->method != NULL && *src->method != '"')
		return err_set(e, ERR_BAD_REQUEST,
		    "requests[%u]: \"method\" must be a string", i);
	if (src->path == NULL && src->url == NULL)
		return err_set(e, ERR_BAD_REQUEST,
		    "requests[%u]: missing \"path\" or \"url\"", i);
	if (src->path != NULL && src->url != NULL)
		return err_set(e, ERR_BAD_REQUEST,
		    "requests[%u]: give \"path\" or \"url\", not both", i);
	if (*(src->path != NULL ? src->path : src->url) != '"')
		return err_set(e, ERR_BAD_REQUEST,
		    "requests[%u]: \"%s\" must be a string", i,
		    src->path != NULL ? "path" : "url");
	if (src->ws != NULL && *src->ws != '"')
		return err_set(e, ERR_BAD_REQUEST,
		    "requests[%u]: \"workspace\" must be a string", i);
	if (src->hdrs != NULL) {
		if (*src->hdrs != '{')
			return err_set(e, ERR_BAD_REQUEST,
			    "requests[%u]: \"headers\" must be an object", i);
		jscan_iter_init(&hi, src->hdrs);
		while (jscan_iter_next(&hi, &name, &hv)) {
			if (*hv == '"')
				v = batch_str(b, hv, 0);
			if (*hv != '"' || batch_has_nul(&v)) {
				struct route_str hn = batch_str(b,
				    name.p - 1, 0);

				return err_set(e, ERR_BAD_REQUEST,
				    "requests[%u]: header \"%.*s\" must be a "
				    "string without NUL", i,
				    (int)(hn.n < 64 ? hn.n : 64), hn.p);
			}
			if (jscan_caseeq(&name, "If-Match"))
				src->if_match = v;
			else if (jscan_caseeq(&name, "If-None-Match"))
				src->if_none_match = v;
			else if (jscan_caseeq(&name, "Prefer"))
				prefer_parse(&it->mi_prefer, v.p, v.n);
		}
	}
	it->mi_group = -1;
	if (src->group != NULL) {
		if (*src->group != '"')
			return err_set(e, ERR_BAD_REQUEST, "requests[%u]: "
			    "\"atomicityGroup\" must be a string", i);
		/* Copied: the answer echoes it after the body is gone. */
		src->gname = batch_str(b, src->group, 1);
		it->mi_agroup = src->gname.p;
		it->mi_agroup_len = src->gname.n;
		it->mi_group = (int32_t)batch_names_put(groups, src->gname, i);
		b->mb_items[it->mi_group].mi_group_n++;
	}
	if (src->deps != NULL) {
		if (*src->deps != '[')
			return err_set(e, ERR_BAD_REQUEST, "requests[%u]: "
			    "\"dependsOn\" must be an array", i);
		jscan_iter_init(&hi, src->deps);
		while (jscan_iter_next(&hi, NULL, &hv))
			if (*hv != '"')
				return err_set(e, ERR_BAD_REQUEST,
				    "requests[%u]: \"dependsOn\" must hold id "
				    "strings", i);
	}
	return 0;
}

/* Pass 2 for item i: its dependencies.  A dependsOn name is an item id or
 * an atomicity group; a group is one unit of scheduling, led by its first
 * item, so every edge into or out of a member is an edge of its leader
 * (edges inside a group are kept by request order). */
static int
batch_link_item(struct mbatch *b, uint32_t i, const struct batch_src *src,
    const struct batch_names *ids, const struct batch_names *groups,
    struct err *e)
{
	struct jscan_iter	 di;
	struct route_str	 s;
	const char		*dv;
	uint32_t		 u = batch_unit(b, i);
	int64_t			 d;

	if (src->deps == NULL)
		return 0;
	jscan_iter_init(&di, src->deps);
	while (jscan_iter_next(&di, NULL, &dv)) {
		s = batch_str(b, dv, 0);
		if ((d = batch_names_get(ids, s)) == -1 &&
		    (d = batch_names_get(groups, s)) == -1)
			return err_set(e, ERR_BAD_REQUEST, "requests[%u]: "
			    "dependsOn names unknown id \"%.*s\"", i,
			    (int)(s.n < 64 ? s.n : 64), s.p);
		if (b->mb_stop_on_error && d > (int64_t)i)
			/* Items run in request order: a later item cannot
			 * have finished first. */
			return err_set(e, ERR_BAD_REQUEST, "requests[%u]: with "
			    "stop_on_error, dependsOn must name earlier items "
			    "(\"%.*s\" comes later)", i,
			    (int)(s.n < 64 ? s.n : 64), s.p);
		if (batch_unit(b, (uint32_t)d) == u) {
			/* Itself, or (members run in request order) a later
			 * member of its own group: never met. */
			if (b->mb_items[i].mi_group < 0 || d >= (int64_t)i)
				return err_set(e, ERR_BAD_REQUEST,
				    "requests[%u]: dependsOn forms a cycle", i);
			continue;	/* an earlier member: in order */
		}
		if (batch_add_dep(&b->mb_items[u], batch_unit(b,
		    (uint32_t)d)) == -1)
			return err_set(e, ERR_INTERNAL, "out of memory");
	}
	return 0;
}

/* An item's body: the value's bytes, minified when they hold whitespace
 * (so a row is stored the same however the client laid it out). */
static void
batch_item_body(struct mbatch *b, const struct batch_src *src,
    struct batch_body *body)
{
	body->kind = *src->body == '{' ? BODY_OBJECT : BODY_OTHER;
	body->p = src->body;
	body->n = (size_t)(src->body_end - src->body);
	if (src->body_ws) {
		body->p = b->mb_strs + b->mb_strs_len;
		body->n = jscan_minify(src->body, body->n, b->mb_strs +
		    b->mb_strs_len);
		b->mb_strs_len += body->n;
	}
}

/* Pass 3 for item i: its method, target and body, routed and encoded; a
 * routing failure is the item's answer, given when the batch starts. */
static int
batch_route_item(struct master *m, struct mbatch *b, uint32_t i,
    const struct batch_src *src, const struct config_token *tok,
    struct buf *target, struct err *e)
{
	struct mitem		*it = &b->mb_items[i];
	struct batch_body	 body, *bp = NULL;
	struct route_str	 s, ws;
	struct err		 ie;
	char			 mname[16];
	size_t			 k;
	int			 meth = METHOD_GET;

	if (src->method != NULL) {
		s = batch_str(b, src->method, 0);
		for (k = 0; k < s.n && k < sizeof(mname) - 1; k++)
			mname[k] = (char)toupper((unsigned char)s.p[k]);
		if (s.n >= sizeof(mname) || batch_has_nul(&s) ||
		    (meth = route_method(mname, s.n)) == -1)
			return err_set(e, ERR_BAD_REQUEST, "requests[%u]: "
			    "unknown method \"%.*s\"", i,
			    (int)(s.n < 16 ? s.n : 16), s.p);
	}
	s = batch_str(b, src->path != NULL ? src->path : src->url, 0);
	buf_reset(target);
	if (src->ws != NULL) {
		ws = batch_str(b, src->ws, 0);
		if (!route_name_ok(&ws)) {
			it->mi_status = -ERR_BAD_REQUEST;
			return 0;
		}
		buf_append(target, "/workspaces/", 12);
		buf_append(target, ws.p, ws.n);
		if (s.n == 0 || s.p[0] != '/')
			buf_putc(target, '/');
	} else if (s.n > 0 && s.p[0] != '/')
		/* Relative to the service root, as OData 4.01 and Graph
		 * write item URLs (SPEC 3.1). */
		buf_append(target, "/v1/", 4);
	/* With its length: a NUL inside stays in the path, where the router
	 * refuses it, instead of cutting the path short. */
	if (buf_append(target, s.p, s.n) == -1)
		return err_set(e, ERR_INTERNAL, "out of memory");
	if (src->body != NULL && *src->body != 'n') {	/* null: no body */
		batch_item_body(b, src, &body);
		bp = &body;
	}
	if (batch_item_route(m, it, (enum route_method)meth, target->data,
	    target->len, src->if_match, src->if_none_match, bp, tok,
	    &ie) == -1) {
		/* Remembered as a negative code; answered at start. */
		it->mi_status = -(int)ie.code;
		buf_reset(&it->mi_out);
		buf_puts(&it->mi_out, ie.detail);
	}
	return 0;
}

static int
batch_parse_items(struct master *m, struct mbatch *b, const char **items,
    const struct config_token *tok, struct err *e)
{
	struct batch_names	 ids, groups;
	struct batch_src	*src;
	struct mitem		*it;
	struct buf		 target = BUF_INIT;
	unsigned char		*color;
	uint32_t		 i, k, n = b->mb_nitems, cap;
	size_t			 tsz = batch_names_size(n, &cap);
	size_t			 msz = 2 * tsz + (size_t)n * (sizeof(*src) + 1);
	_Alignas(max_align_t) char small[2048];
	char			*mem = small;
	int			 rc = -1;

	/* One block for the scratch of the parse: two name tables, what
	 * pass 1 finds of each item, the cycle search's colours; on the
	 * stack for a small batch (a 1-item batch needs under 1 KiB). */
	if (msz <= sizeof(small))
		memset(small, 0, msz);
	else if ((mem = calloc(1, msz)) == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	batch_names_init(&ids, n, mem);
	batch_names_init(&groups, n, mem + tsz);
	src = (struct batch_src *)(mem + 2 * tsz);
	color = (unsigned char *)(src + n);
	for (i = 0; i < n; i++)
		if (batch_scan_item(b, i, items[i], &src[i], &ids, &groups,
		    e) == -1)
			goto out;
	for (i = 0; i < n; i++)
		if (batch_link_item(b, i, &src[i], &ids, &groups, e) == -1)
			goto out;
	for (i = 0; i < n; i++)
		if (color[i] == 0 && batch_cycle(b, i, color)) {
			err_set(e, ERR_BAD_REQUEST,
			    "requests[%u]: dependsOn forms a cycle", i);
			goto out;
		}
	for (i = 0; i < n; i++) {
		it = &b->mb_items[i];
		it->mi_deps_left = it->mi_ndeps;
		for (k = 0; k < it->mi_ndeps; k++)
			if (batch_add_rdep(&b->mb_items[it->mi_deps[k]], i) ==
			    -1) {
				err_set(e, ERR_INTERNAL, "out of memory");
				goto out;
			}
	}
	for (i = 0; i < n; i++)
		if (batch_route_item(m, b, i, &src[i], tok, &target, e) == -1)
			goto out;
	rc = 0;
out:
	if (mem != small)
		free(mem);
	buf_free(&target);
	return rc;
}

int
batch_json_body(const char *s, size_t len, struct buf *scratch,
    struct batch_body *body, struct err *e)
{
	const char	*why;
	size_t		 off;
	int		 ws = 0;

	/* json_check() is stricter than json-c ever was (no NaN, no "01");
	 * overlong UTF-8 forms (C1 A9) are refused here, so nothing but
	 * valid UTF-8 is ever stored or echoed. */
	if (!utf8_valid(s, len))
		return err_set(e, ERR_BAD_REQUEST, "body is not valid UTF-8");
	if (json_check(s, len, BATCH_JSON_DEPTH, &off, &why) == -1)
		return err_set(e, ERR_BAD_REQUEST, "body is not valid JSON: "
		    "%s at offset %zu", why, off);
	body->p = jscan_trim(s, len, &body->n);
	if (body->n == 4 && memcmp(body->p, "null", 4) == 0)
		return err_set(e, ERR_BAD_REQUEST, "body is null");
	body->kind = *body->p == '{' ? BODY_OBJECT : BODY_OTHER;
	if (scratch != NULL && (*body->p == '{' || *body->p == '[')) {
		jscan_skip(body->p, &ws);
		if (ws) {
			buf_reset(scratch);
			if (buf_reserve(scratch, body->n) == -1)
				return err_set(e, ERR_INTERNAL,
				    "out of memory");
			scratch->len = jscan_minify(body->p, body->n,
			    scratch->data);
			body->p = scratch->data;
			body->n = scratch->len;
		}
	}
	return 0;
}

/* The elements of the array at p, in *items (*cap of them to start
 * with, in stack, a caller's array: grown on the heap as needed; *n of
 * them). */
static int
batch_elements(const char *p, const char ***items, size_t *n, size_t *cap,
    const char **stack, const char **end)
{
	struct jscan_iter	  ai;
	const char		 *v, **q;

	*n = 0;
	jscan_iter_init(&ai, p);
	while (jscan_iter_next(&ai, NULL, &v)) {
		if (*n == *cap) {
			*cap *= 2;
			if ((q = realloc(*items == stack ? NULL : *items,
			    *cap * sizeof(*q))) == NULL)
				return -1;
			if (*items == stack)
				memcpy(q, stack, *n * sizeof(*q));
			*items = q;
		}
		(*items)[(*n)++] = v;
	}
	*end = ai.p + 1;
	return 0;
}

int
batch_parse(struct master *m, struct mbatch *b, const char *body, size_t len,
    const struct config_token *tok, struct err *e)
{
	struct batch_body	 root;
	struct jscan_iter	 ri;
	struct jscan_str	 name;
	const char		*reqs = NULL, *ordered = NULL, *stop = NULL, *v;
	const char		*first[16], **items = first, *end;
	size_t			 n = 0, cap = sizeof(first) / sizeof(first[0]);
	int			 rc = -1;

	if (batch_json_body(body, len, NULL, &root, e) == -1)
		return -1;
	/* One walk finds the members and the requests' items. */
	if (*root.p == '{') {
		jscan_iter_init(&ri, root.p);
		while (jscan_iter_next(&ri, &name, &v))
			if (jscan_eq(&name, "requests")) {
				reqs = v;
				if (*v != '[')
					continue;
				if (batch_elements(v, &items, &n, &cap, first,
				    &end) == -1) {
					err_set(e, ERR_INTERNAL,
					    "out of memory");
					goto out;
				}
				jscan_iter_past(&ri, end);
			} else if (jscan_eq(&name, "ordered"))
				ordered = v;
			else if (jscan_eq(&name, "stop_on_error"))
				stop = v;
	}
	if (reqs == NULL || *reqs != '[') {
		err_set(e, ERR_BAD_REQUEST,
		    "body must be an object with a \"requests\" array");
		goto out;
	}
	if (ordered != NULL) {
		if (*ordered != 't' && *ordered != 'f') {
			err_set(e, ERR_BAD_REQUEST,
			    "\"ordered\" must be a boolean");
			goto out;
		}
		b->mb_ordered = *ordered == 't';
	}
	if (stop != NULL) {
		if (*stop != 't' && *stop != 'f') {
			err_set(e, ERR_BAD_REQUEST,
			    "\"stop_on_error\" must be a boolean");
			goto out;
		}
		b->mb_stop_on_error = *stop == 't';
	}
	if (b->mb_kind == MB_ASYNC && n > (size_t)m->cfg.max_async_items)
		err_set(e, ERR_BATCH_TOO_LARGE, "%zu items; max_async_items "
		    "is %ld", n, m->cfg.max_async_items);
	else if (b->mb_kind != MB_ASYNC && n > (size_t)m->cfg.max_batch_items)
		err_set(e, ERR_BATCH_TOO_LARGE, "%zu items; max_batch_items "
		    "is %ld", n, m->cfg.max_batch_items);
	else if (batch_items_alloc(b, (uint32_t)n) == -1 ||
	    batch_strs_alloc(b, len + 1) == -1 ||
	    /* Encodings: the items' bytes and a header each, about. */
	    buf_reserve(&b->mb_enc, len + n * 80) == -1)
		err_set(e, ERR_INTERNAL, "out of memory");
	else
		rc = batch_parse_items(m, b, items, tok, e);
out:
	if (items != first)
		free(items);
	return rc;
}

static void	batch_check_complete(struct master *, struct mbatch *);

/* Answer an item whose routing failed (its error was kept at parse). */
static void
batch_fail_routed(struct master *m, struct mitem *it)
{
	enum err_code	code = (enum err_code)-it->mi_status;
	char		detail[256];

	snprintf(detail, sizeof(detail), "%s",
	    it->mi_out.data != NULL ? it->mi_out.data : "");
	if (code == ERR_BAD_REQUEST && detail[0] == '\0')
		snprintf(detail, sizeof(detail), "invalid workspace name");
	sched_fail(m, it, code, detail);
}

/*
 * An atomicity group is ready: encode its members, in request order, as
 * one OP_GROUP item (layout in shm.h) carried by the leader.  If a member
 * could not even be routed, nothing runs: it answers its own error and
 * the others 424.
 */
static void
batch_release_group(struct master *m, struct mitem *lead)
{
	struct mbatch	*b = lead->mi_batch;
	struct mitem	*it;
	struct item_req	 rq;
	struct buf	 body = BUF_INIT, enc = BUF_INIT;
	const char	*p;
	size_t		 elen;
	uint32_t	 i, len, bad = UINT32_MAX;
	char		 detail[128];

	for (i = lead->mi_idx; i < b->mb_nitems; i++)
		if (b->mb_items[i].mi_group == (int32_t)lead->mi_idx &&
		    b->mb_items[i].mi_status < 0) {
			bad = i;
			break;
		}
	if (bad == UINT32_MAX) {
		buf_append(&body, &lead->mi_group_n, 4);
		for (i = lead->mi_idx; i < b->mb_nitems; i++) {
			it = &b->mb_items[i];
			if (it->mi_group != (int32_t)lead->mi_idx)
				continue;
			p = mitem_enc(it, &elen);
			len = (uint32_t)elen;
			buf_append(&body, &it->mi_idx, 4);
			buf_append(&body, &len, 4);
			buf_append(&body, p, len);
		}
		memset(&rq, 0, sizeof(rq));
		rq.op = OP_GROUP;
		rq.body_kind = BODY_OTHER;
		rq.body = body.data;
		rq.body_len = body.len;
		if (item_encode(&rq, &enc) == -1 ||
		    enc.len > (size_t)(m->ring.mask + 1) * m->ring.slot_bytes)
			bad = lead->mi_idx;
	}
	buf_free(&body);
	if (bad != UINT32_MAX) {
		snprintf(detail, sizeof(detail), "atomicity group not run: "
		    "item \"%.64s\" is invalid", b->mb_items[bad].mi_id);
		for (i = lead->mi_idx; i < b->mb_nitems; i++) {
			it = &b->mb_items[i];
			if (it->mi_group != (int32_t)lead->mi_idx)
				continue;
			if (i == bad && it->mi_status < 0)
				batch_fail_routed(m, it);
			else
				sched_fail(m, it, i == bad ?
				    ERR_PAYLOAD_TOO_LARGE :
				    ERR_FAILED_DEPENDENCY, detail);
		}
		buf_free(&enc);
		return;
	}
	lead->mi_group_left = lead->mi_group_n;
	for (i = lead->mi_idx + 1; i < b->mb_nitems; i++) {
		it = &b->mb_items[i];
		if (it->mi_group == (int32_t)lead->mi_idx) {
			it->mi_state = MI_QUEUED;
			buf_free(&it->mi_enc);
		}
	}
	buf_free(&lead->mi_enc);
	lead->mi_enc = enc;
	sched_submit(m, lead);
}

/* The unit (item, or group led by it) goes to the workers now. */
static void
batch_run(struct master *m, struct mitem *it)
{
	struct mbatch *b = it->mi_batch;

	if (it->mi_group == (int32_t)it->mi_idx)
		batch_release_group(m, it);
	else if (it->mi_status < 0) {
		batch_fail_routed(m, it);
		return;
	} else
		sched_submit(m, it);
	if (it->mi_state != MI_DONE) {
		it->mi_inwin = 1;
		b->mb_inflight++;
	}
}

static void	batch_fail_unit(struct master *, struct mitem *, enum err_code,
		    const char *);

/*
 * Has the answer of a synchronous batch grown past max_response_bytes?
 * Then what has not run yet never will: each such unit answers 413.
 */
static int
batch_over(struct master *m, const struct mbatch *b)
{
	return b->mb_kind == MB_SYNC &&
	    b->mb_out_total >= (uint64_t)m->cfg.max_response_bytes;
}

static void
batch_refuse(struct master *m, struct mitem *it)
{
	char detail[160];

	snprintf(detail, sizeof(detail), "not run: the batch's answer "
	    "reached max_response_bytes (%ld)", m->cfg.max_response_bytes);
	batch_fail_unit(m, it, ERR_PAYLOAD_TOO_LARGE, detail);
}

/* Units of b the workers may hold at once: one for an ordered batch
 * (each item starts when the one before has finished, SPEC 3.1). */
static uint32_t
batch_window(const struct master *m, const struct mbatch *b)
{
	return b->mb_ordered ? 1 : (uint32_t)m->cfg.max_batch_inflight;
}

/*
 * The unit (item, or group led by it) may run now.  A batch keeps at most
 * max_batch_inflight units with the workers, and none while its owner
 * has paused it (a client that does not read its answer): the rest wait
 * in the batch's own FIFO, so one batch's answers never pile up in the
 * master faster than its client takes them.
 */
static void
batch_release(struct master *m, struct mitem *it)
{
	struct mbatch *b = it->mi_batch;

	if (batch_over(m, b)) {
		batch_refuse(m, it);
		return;
	}
	if ((b->mb_kind == MB_SYNC || b->mb_kind == MB_ASYNC) &&
	    (b->mb_paused || b->mb_nheld > 0 ||
	    b->mb_inflight >= batch_window(m, b))) {
		if (b->mb_held == NULL && (b->mb_held = calloc(b->mb_nitems,
		    sizeof(*b->mb_held))) == NULL) {
			batch_fail_unit(m, it, ERR_INTERNAL, "out of memory");
			return;
		}
		b->mb_held[(b->mb_held_head + b->mb_nheld++) % b->mb_nitems] =
		    it->mi_idx;
		return;
	}
	batch_run(m, it);
}

/* Run held units while the window has room (refuse them once the
 * answer is over its size). */
static void
batch_pump(struct master *m, struct mbatch *b)
{
	struct mitem *it;

	while (b->mb_nheld > 0 && (batch_over(m, b) || (!b->mb_paused &&
	    b->mb_inflight < batch_window(m, b)))) {
		it = &b->mb_items[b->mb_held[b->mb_held_head]];
		b->mb_held_head = (b->mb_held_head + 1) % b->mb_nitems;
		b->mb_nheld--;
		if (it->mi_state == MI_DONE)
			continue;
		if (batch_over(m, b))
			batch_refuse(m, it);
		else
			batch_run(m, it);
	}
}

void
batch_resume(struct master *m, struct mbatch *b)
{
	m->answer_depth++;
	b->mb_paused = 0;
	batch_pump(m, b);
	m->answer_depth--;
	batch_item_done(m, NULL);
	sched_pump(m);
}

/* Fail a unit that will not run: every member of a group. */
static void
batch_fail_unit(struct master *m, struct mitem *it, enum err_code code,
    const char *detail)
{
	struct mbatch	*b = it->mi_batch;
	uint32_t	 i;

	/* In a cancelled batch, what never started is cancelled too. */
	if (b->mb_cancelled) {
		code = ERR_CANCELLED;
		detail = "the batch was cancelled";
	}
	if (it->mi_group != (int32_t)it->mi_idx) {
		sched_fail(m, it, code, detail);
		return;
	}
	for (i = it->mi_idx; i < b->mb_nitems; i++)
		if (b->mb_items[i].mi_group == (int32_t)it->mi_idx)
			sched_fail(m, &b->mb_items[i], code, detail);
}

void
batch_start(struct master *m, struct mbatch *b)
{
	uint32_t i;

	b->mb_started = 1;
	m->answer_depth++;
	if (b->mb_stop_on_error) {
		if (b->mb_nitems > 0)
			batch_release(m, &b->mb_items[0]);
		b->mb_next_seq = 1;
	} else {
		for (i = 0; i < b->mb_nitems; i++)
			if (b->mb_items[i].mi_state == MI_WAITING &&
			    b->mb_items[i].mi_deps_left == 0 &&
			    batch_unit(b, i) == i)
				batch_release(m, &b->mb_items[i]);
	}
	m->answer_depth--;
	batch_check_complete(m, b);
	batch_item_done(m, NULL);
	sched_pump(m);
}

/*
 * stop_on_error: items run one after another in request order; the first
 * answer of 400 or more ends the batch and the items not yet run are
 * neither run nor answered.  A group runs as one step, when its leader's
 * turn comes; only the leader's answer moves the sequence on.
 */
static void
batch_next_in_order(struct master *m, struct mbatch *b, struct mitem *it)
{
	struct mitem	*d;
	uint32_t	 k;

	if (it->mi_status >= 400) {
		for (k = 0; k < b->mb_nitems; k++) {
			d = &b->mb_items[k];
			if (d->mi_state != MI_WAITING)
				continue;
			d->mi_state = MI_DONE;
			d->mi_skipped = 1;
			b->mb_order[b->mb_ndone++] = k;
			b->mb_nskipped++;
		}
		b->mb_next_seq = b->mb_nitems;
		return;
	}
	if (it->mi_group >= 0 && it->mi_group != (int32_t)it->mi_idx)
		return;
	while (b->mb_next_seq < b->mb_nitems &&
	    b->mb_items[b->mb_next_seq].mi_state != MI_WAITING)
		b->mb_next_seq++;
	if (b->mb_next_seq == b->mb_nitems)
		return;
	d = &b->mb_items[b->mb_next_seq++];
	for (k = 0; k < d->mi_ndeps; k++)
		if (b->mb_items[d->mi_deps[k]].mi_status >= 400)
			break;
	if (k < d->mi_ndeps)
		batch_fail_unit(m, d, ERR_FAILED_DEPENDENCY,
		    "a dependency failed");
	else
		batch_release(m, d);
}

/* The owner answers and frees (or keeps) the batch. */
static void
batch_finish(struct master *m, struct mbatch *b)
{
	b->mb_on_done(m, b);
}

/*
 * Record the item's answer; release or fail its dependents.  Batches are
 * finished (answered and freed) only by the outermost call, so no caller
 * ever holds a pointer into a freed batch.
 */
void
batch_item_done(struct master *m, struct mitem *it)
{
	struct mbatch	*b;
	struct mitem	*d;
	uint32_t	 k;

	if (it != NULL) {
		b = it->mi_batch;
		b->mb_order[b->mb_ndone++] = it->mi_idx;
		m->answer_depth++;
		if (it->mi_inwin) {
			it->mi_inwin = 0;
			b->mb_inflight--;
		}
		if (b->mb_on_item != NULL)
			b->mb_on_item(m, it);
		if (b->mb_stop_on_error)
			batch_next_in_order(m, b, it);
		else {
			for (k = 0; k < it->mi_nrdeps; k++) {
				d = &b->mb_items[it->mi_rdeps[k]];
				if (d->mi_state != MI_WAITING)
					continue;
				if (it->mi_status >= 400) {
					char detail[128];

					snprintf(detail, sizeof(detail),
					    "dependency \"%.64s\" answered %d",
					    it->mi_id, it->mi_status);
					batch_fail_unit(m, d,
					    ERR_FAILED_DEPENDENCY, detail);
				} else if (--d->mi_deps_left == 0)
					batch_release(m, d);
			}
		}
		batch_pump(m, b);
		m->answer_depth--;
		batch_check_complete(m, b);
	}
	if (m->answer_depth > 0)
		return;
	/* Outermost: finish every batch that became complete. */
	while ((b = m->finished) != NULL) {
		m->finished = b->mb_next_done;
		batch_finish(m, b);
	}
}

void
batch_init(struct master *m)
{
	m->item_done = batch_item_done;
	m->item_split = split_start;
}

/* Queue b for finishing if it is complete (once). */
static void
batch_check_complete(struct master *m, struct mbatch *b)
{
	if (b->mb_started && !b->mb_complete && b->mb_ndone == b->mb_nitems) {
		b->mb_complete = 1;
		b->mb_next_done = m->finished;
		m->finished = b;
	}
}
