/*
 * fuzz_batch.c - the $batch body parser and validator (master/batch.c).
 *
 * Each input is a request body.  It is parsed twice, as POST /v1/$batch
 * would: once with debug_ops off and no token (auth off), once with
 * debug_ops on and a token limited to two workspaces.  Neither pass starts
 * the batch, so nothing is scheduled.  Besides surviving, the checks are
 * what the rest of the master relies on: a refused body is a 400 with a
 * detail that is valid UTF-8 (it goes into a JSON answer); an accepted one
 * was JSON by the letter of RFC 8259 (fuzz_json.h), has sane
 * dependency and group links, names only ids and groups it has, and every
 * item either carries a 4xx answer of its own or an encoding a worker can
 * decode, with a body that is JSON again and a workspace the token may
 * touch; either way exactly what route_resolve() makes of the item's whole
 * method, workspace and path.
 */
#include <string.h>

#include <json-c/json.h>

#include "master.h"
#include "fuzz.h"
#include "fuzz_json.h"

static struct master	*fb_m;
static struct json_object *fb_root;	/* the input, parsed by json-c */
static int		 fb_oracle;	/* json-c's reading can be trusted */
static char		*fb_ws[] = { "ws1", "a", NULL };
static struct config_token fb_tok = { "secret", fb_ws, 0 };

static void
fb_cleanup(void)
{
	config_free(&fb_m->cfg);
	free(fb_m);
	fb_m = NULL;
}

/*
 * The master as batch_parse() uses it: the configuration, the list of
 * batches, and the ring's geometry (an encoded item must fit the ring).
 * No shared-memory object is created: nothing would remove it when the
 * fuzzer stops at a crash.  The ring is small (16 x 256 bytes) so that
 * items too large for it are within reach of small inputs.
 */
static struct master *
fb_master(void)
{
	if (fb_m != NULL)
		return fb_m;
	FUZZ_CHECK((fb_m = calloc(1, sizeof(*fb_m))) != NULL);
	config_defaults(&fb_m->cfg);
	TAILQ_INIT(&fb_m->batches);
	TAILQ_INIT(&fb_m->pending);
	TAILQ_INIT(&fb_m->pending_async);
	fb_m->ring.mask = 15;
	fb_m->ring.slot_bytes = 256;
	atexit(fb_cleanup);
	return fb_m;
}

/*
 * The oracle: the input as json-c (strict, the master's depth) reads it.
 * batch_parse() reads bodies in place with json_scan.h; every check below
 * compares what it made of an item with what json-c makes of the same
 * text, so a decoding slip on either side shows.
 */
static struct json_object *
fb_parse(const uint8_t *data, size_t size)
{
	struct json_tokener	*tok;
	struct json_object	*o;

	FUZZ_CHECK(size <= INT32_MAX);
	FUZZ_CHECK((tok = json_tokener_new_ex(64)) != NULL);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	if (o == NULL && json_tokener_get_error(tok) == json_tokener_continue)
		o = json_tokener_parse_ex(tok, " ", 1);
	json_tokener_free(tok);
	return o;
}

/*
 * Does a member name in the text hold an escaped U+0000?  json-c keeps
 * member names as C strings, cut at the first NUL, so it reads
 * "path\u0000x" as "path"; batch_parse() does not (that member is not
 * "path").  Where this is so, json-c is no oracle for members.  A string
 * is a member name when a ':' follows it.
 */
static int
fb_nul_in_keys(const uint8_t *d, size_t n)
{
	size_t	i, j;
	int	nul;

	for (i = 0; i < n; i++) {
		if (d[i] != '"')
			continue;
		for (nul = 0, j = i + 1; j < n && d[j] != '"'; j++)
			if (d[j] == '\\') {
				if (j + 5 < n && memcmp(d + j + 1, "u0000", 5) == 0)
					nul = 1;
				j++;
			}
		i = j;
		while (j + 1 < n && (d[j + 1] == ' ' || d[j + 1] == '\t' ||
		    d[j + 1] == '\n' || d[j + 1] == '\r'))
			j++;
		if (nul && j + 1 < n && d[j + 1] == ':')
			return 1;
	}
	return 0;
}

/* An item body as encoded: compact JSON, valid UTF-8, one value. */
static void
fb_check_body(const struct item_req *rq)
{
	struct json_tokener	*tok;
	struct json_object	*o;

	FUZZ_CHECK(rq->body_len <= INT32_MAX);
	FUZZ_CHECK(utf8_valid(rq->body, rq->body_len));
	FUZZ_CHECK(fuzz_json_valid(rq->body, rq->body_len));
	FUZZ_CHECK((tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH *
	    64)) != NULL);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, rq->body, (int)rq->body_len);
	FUZZ_CHECK(json_tokener_get_parse_end(tok) == rq->body_len);
	/* A bare number or literal ends only when json-c is told so. */
	if (o == NULL && json_tokener_get_error(tok) == json_tokener_continue)
		o = json_tokener_parse_ex(tok, "", 1);
	FUZZ_CHECK(json_tokener_get_error(tok) == json_tokener_success);
	FUZZ_CHECK(rq->body_kind == (json_object_is_type(o,
	    json_type_object) ? BODY_OBJECT : BODY_OTHER));
	json_object_put(o);
	json_tokener_free(tok);
}

static int
fb_str_eq(struct route_str a, struct route_str b)
{
	if (a.p == NULL || b.p == NULL)
		return a.p == b.p;
	return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

/*
 * Route item i again, independently: the target is built from the whole
 * of "workspace" and "path" / "url" (json-c strings may hold U+0000, and
 * every byte is part of the request) and resolved directly.  The item
 * must have been answered or encoded exactly as that says.
 */
static void
fb_check_route(const struct master *m, const struct mbatch *b, uint32_t i,
    const struct config_token *tok, const struct item_req *rq)
{
	const struct mitem	*it = &b->mb_items[i];
	struct json_object	*reqs, *o, *v;
	struct buf		 target = BUF_INIT;
	struct route		 r;
	struct err		 e;
	const char		*p;
	char			 mname[8];
	size_t			 n, k;
	int			 meth = METHOD_GET;

	FUZZ_CHECK(json_object_object_get_ex(fb_root, "requests", &reqs));
	o = json_object_array_get_idx(reqs, i);
	if (json_object_object_get_ex(o, "method", &v)) {
		p = json_object_get_string(v);
		n = (size_t)json_object_get_string_len(v);
		meth = -1;
		if (n < sizeof(mname)) {
			for (k = 0; k < n; k++)
				mname[k] = (char)(p[k] >= 'a' && p[k] <= 'z' ?
				    p[k] - 'a' + 'A' : p[k]);
			meth = route_method(mname, n);
		}
		/* An unknown method fails the whole batch (SPEC 3.2). */
		FUZZ_CHECK(meth != -1);
	}
	if (json_object_object_get_ex(o, "workspace", &v)) {
		p = json_object_get_string(v);
		n = (size_t)json_object_get_string_len(v);
		if (!fuzz_name_ok(&(struct route_str){ p, n })) {
			FUZZ_CHECK(it->mi_status == -ERR_BAD_REQUEST);
			return;
		}
		FUZZ_CHECK(buf_puts(&target, "/workspaces/") == 0 &&
		    buf_append(&target, p, n) == 0);
		if (!json_object_object_get_ex(o, "path", &v))
			json_object_object_get_ex(o, "url", &v);
		if (json_object_get_string_len(v) == 0 ||
		    json_object_get_string(v)[0] != '/')
			FUZZ_CHECK(buf_putc(&target, '/') == 0);
	}
	if (!json_object_object_get_ex(o, "path", &v))
		json_object_object_get_ex(o, "url", &v);
	FUZZ_CHECK(buf_append(&target, json_object_get_string(v),
	    (size_t)json_object_get_string_len(v)) == 0);
	memset(&e, 0, sizeof(e));
	if (route_resolve((enum route_method)meth, target.data, target.len,
	    m->cfg.debug_ops, &r, &e) == -1) {
		FUZZ_CHECK(it->mi_status == -(int)e.code);
		buf_free(&target);
		return;
	}
	if (r.ws.p != NULL && !auth_allows(tok, r.ws.p, r.ws.n))
		FUZZ_CHECK(it->mi_status == -ERR_FORBIDDEN);
	else if (rq == NULL)
		FUZZ_CHECK(it->mi_status == -ERR_PAYLOAD_TOO_LARGE);
	else {
		FUZZ_CHECK(rq->op == r.op);
		FUZZ_CHECK(fb_str_eq(rq->ws, r.ws) &&
		    fb_str_eq(rq->table, r.table) && fb_str_eq(rq->key, r.key));
		FUZZ_CHECK(fb_str_eq(rq->prefix, r.prefix) &&
		    fb_str_eq(rq->after, r.after) && rq->limit == r.limit);
		FUZZ_CHECK(fb_str_eq(rq->query, r.query) &&
		    fb_str_eq(rq->timespan, r.timespan));
	}
	route_free(&r);
	buf_free(&target);
}

/* Is member name of o a string equal to all of s? */
static int
fb_member_is(struct json_object *o, const char *name, struct json_object *s)
{
	struct json_object	*v;

	return json_object_object_get_ex(o, name, &v) &&
	    json_object_is_type(v, json_type_string) &&
	    json_object_get_string_len(v) == json_object_get_string_len(s) &&
	    memcmp(json_object_get_string(v), json_object_get_string(s),
	    (size_t)json_object_get_string_len(s)) == 0;
}

/* Every name in every dependsOn is, byte for byte, an item's id or an
 * atomicity group. */
static void
fb_check_deps(const struct mbatch *b)
{
	struct json_object	*reqs, *deps, *d;
	size_t			 i, j, k, nd;

	FUZZ_CHECK(json_object_object_get_ex(fb_root, "requests", &reqs));
	for (i = 0; i < b->mb_nitems; i++) {
		if (!json_object_object_get_ex(json_object_array_get_idx(reqs,
		    i), "dependsOn", &deps))
			continue;
		nd = json_object_array_length(deps);
		for (k = 0; k < nd; k++) {
			d = json_object_array_get_idx(deps, k);
			for (j = 0; j < b->mb_nitems; j++)
				if (fb_member_is(json_object_array_get_idx(reqs,
				    j), "id", d) || fb_member_is(
				    json_object_array_get_idx(reqs, j),
				    "atomicityGroup", d))
					break;
			FUZZ_CHECK(j < b->mb_nitems);
		}
	}
}

/* "requests[I]: duplicate id" only when an earlier item has the same id,
 * byte for byte. */
static void
fb_check_dup(const char *body, size_t len, const struct err *e)
{
	struct json_object	*root, *reqs, *id;
	unsigned long		 i, j;
	char			*end;

	if (strncmp(e->detail, "requests[", 9) != 0)
		return;
	i = strtoul(e->detail + 9, &end, 10);
	if (strncmp(end, "]: duplicate id", 15) != 0)
		return;
	FUZZ_CHECK((root = fb_parse((const uint8_t *)body, len)) != NULL);
	FUZZ_CHECK(json_object_object_get_ex(root, "requests", &reqs));
	FUZZ_CHECK(json_object_object_get_ex(json_object_array_get_idx(reqs,
	    i), "id", &id));
	for (j = 0; j < i; j++)
		if (fb_member_is(json_object_array_get_idx(reqs, j), "id", id))
			break;
	FUZZ_CHECK(j < i);
	json_object_put(root);
}

/* "not valid JSON" only for what is not: a JSON text nested too deep is
 * refused for that, and "null" (json-c's NULL) is refused as unexpected. */
static void
fb_check_refusal(const uint8_t *data, size_t size, const struct err *e)
{
	size_t	i = 0, n = size;

	if (strncmp(e->detail, "body is not valid JSON",
	    strlen("body is not valid JSON")) != 0 ||
	    strstr(e->detail, "nesting too deep") != NULL)
		return;
	while (i < n && (data[i] == ' ' || data[i] == '\t' ||
	    data[i] == '\n' || data[i] == '\r'))
		i++;
	while (n > i && (data[n - 1] == ' ' || data[n - 1] == '\t' ||
	    data[n - 1] == '\n' || data[n - 1] == '\r'))
		n--;
	if (n - i == 4 && memcmp(data + i, "null", 4) == 0)
		return;
	if (fuzz_json_valid(data, size))
		fprintf(stderr, "valid JSON refused: %s\n", e->detail);
	FUZZ_CHECK(!fuzz_json_valid(data, size));
}

static void
fb_check_items(const struct master *m, const struct mbatch *b,
    const struct config_token *tok)
{
	const struct mitem	*it;
	struct item_req		 rq;
	const char		*enc;
	size_t			 elen;
	uint32_t		 i, k, n = b->mb_nitems, unit, members;

	FUZZ_CHECK(n <= (uint32_t)m->cfg.max_batch_items);
	if (fb_oracle)
		fb_check_deps(b);
	for (i = 0; i < n; i++) {
		it = &b->mb_items[i];
		FUZZ_CHECK(it->mi_idx == i && it->mi_batch == b);
		FUZZ_CHECK(it->mi_id != NULL && it->mi_id_len > 0);
		/* A group is led by its first item. */
		FUZZ_CHECK(it->mi_group >= -1 && it->mi_group <= (int32_t)i);
		unit = it->mi_group >= 0 ? (uint32_t)it->mi_group : i;
		if (it->mi_group >= 0)
			FUZZ_CHECK(b->mb_items[unit].mi_group == (int32_t)unit);
		/* Dependencies are edges between units, never a self-loop. */
		FUZZ_CHECK(it->mi_ndeps == 0 || unit == i);
		FUZZ_CHECK(it->mi_deps_left == it->mi_ndeps);
		for (k = 0; k < it->mi_ndeps; k++) {
			FUZZ_CHECK(it->mi_deps[k] < n && it->mi_deps[k] != i);
			FUZZ_CHECK(b->mb_items[it->mi_deps[k]].mi_group < 0 ||
			    b->mb_items[it->mi_deps[k]].mi_group ==
			    (int32_t)it->mi_deps[k]);
		}
		for (k = 0; k < it->mi_nrdeps; k++)
			FUZZ_CHECK(it->mi_rdeps[k] < n);
		if (it->mi_group == (int32_t)i) {
			for (members = 0, k = i; k < n; k++)
				if (b->mb_items[k].mi_group == (int32_t)i)
					members++;
			FUZZ_CHECK(it->mi_group_n == members);
		}
		if (it->mi_status < 0) {
			/* Routing refused it: its own 4xx answer. */
			FUZZ_CHECK(-it->mi_status > 0 &&
			    -it->mi_status < ERR__COUNT);
			FUZZ_CHECK(err_status(-it->mi_status) >= 400 &&
			    err_status(-it->mi_status) < 500);
			FUZZ_CHECK(utf8_valid(it->mi_out.data, it->mi_out.len));
			if (fb_oracle)
				fb_check_route(m, b, i, tok, NULL);
			continue;
		}
		FUZZ_CHECK(it->mi_status == 0);
		enc = mitem_enc(it, &elen);
		FUZZ_CHECK(item_decode(enc, elen, &rq) == 0);
		FUZZ_CHECK(rq.op > OP_NONE && rq.op < OP_GROUP);
		if (!m->cfg.debug_ops)
			FUZZ_CHECK(rq.op < OP_DEBUG_SLEEP);
		if (rq.op < OP_DEBUG_SLEEP)
			FUZZ_CHECK(fuzz_name_ok(&rq.ws));
		if (rq.table.p != NULL)
			FUZZ_CHECK(fuzz_name_ok(&rq.table));
		if (rq.ws.p != NULL)
			FUZZ_CHECK(auth_allows(tok, rq.ws.p, rq.ws.n));
		if (rq.key.p != NULL)
			FUZZ_CHECK(rq.key.n >= 1 && rq.key.n <= ROUTE_KEY_MAX &&
			    utf8_valid(rq.key.p, rq.key.n));
		if (rq.body != NULL)
			fb_check_body(&rq);
		if (fb_oracle)
			fb_check_route(m, b, i, tok, &rq);
		FUZZ_CHECK(elen <= (size_t)(m->ring.mask + 1) *
		    m->ring.slot_bytes);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct master		*m = fb_master();
	const struct config_token *tok;
	struct mbatch		*b;
	struct err		 e;
	int			 pass;

	fb_oracle = !fb_nul_in_keys(data, size);
	for (pass = 0; pass < 2; pass++) {
		m->cfg.debug_ops = pass;
		tok = pass ? &fb_tok : NULL;
		FUZZ_CHECK((b = batch_new(m, MB_SYNC, 0)) != NULL);
		memset(&e, 0, sizeof(e));
		if (batch_parse(m, b, (const char *)data, size, tok, &e) == -1) {
			FUZZ_CHECK(e.code == ERR_BAD_REQUEST ||
			    e.code == ERR_BATCH_TOO_LARGE);
			FUZZ_CHECK(e.detail[0] != '\0');
			FUZZ_CHECK(utf8_valid(e.detail, strlen(e.detail)));
			if (fb_oracle)
				fb_check_dup((const char *)data, size, &e);
			fb_check_refusal(data, size, &e);
		} else {
			FUZZ_CHECK(fuzz_json_valid(data, size));
			FUZZ_CHECK((fb_root = fb_parse(data, size)) != NULL);
			fb_check_items(m, b, tok);
			json_object_put(fb_root);
			fb_root = NULL;
		}
		/* Kept for reuse when small: the second pass parses into
		 * the first one's batch (batch.c, batch_keep). */
		batch_free(m, b);
	}
	FUZZ_CHECK(m->nbatches == 0 && TAILQ_EMPTY(&m->batches));
	batch_spare_drop(m);
	return 0;
}
