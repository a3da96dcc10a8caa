/*
 * batch.c - parse and validate a batch (SPEC 3.1, 3.2), route its items,
 * release items as their dependencies finish, and finish the batch.
 *
 * The body is parsed once, with json-c.  Item bodies are serialised once,
 * compactly, into the encoded item; from there on they travel as bytes.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "futex.h"
#include "json_check.h"
#include "master.h"

#define BATCH_JSON_DEPTH	64

/* Give b its n items, each in its starting state. */
static int
batch_items_alloc(struct mbatch *b, uint32_t n)
{
	uint32_t i;

	if (n > 0 && ((b->mb_items = calloc(n, sizeof(*b->mb_items))) == NULL ||
	    (b->mb_order = calloc(n, sizeof(uint32_t))) == NULL))
		return -1;
	b->mb_nitems = n;
	for (i = 0; i < n; i++) {
		b->mb_items[i].mi_batch = b;
		b->mb_items[i].mi_idx = i;
		b->mb_items[i].mi_first = SLOT_NONE;
		b->mb_items[i].mi_group = -1;
	}
	return 0;
}

struct mbatch *
batch_new(struct master *m, enum mbatch_kind kind, uint32_t n)
{
	struct mbatch	*b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	if (batch_items_alloc(b, n) == -1) {
		free(b->mb_items);
		free(b->mb_order);
		free(b);
		return NULL;
	}
	b->mb_kind = kind;
	b->mb_id = ++m->next_batch_id;
	b->mb_t0 = mono_ns();
	TAILQ_INSERT_TAIL(&m->batches, b, mb_entry);
	m->nbatches++;
	return b;
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
	json_object_put(b->mb_json);
	free(b->mb_async);
	free(b->mb_items);
	free(b->mb_order);
	free(b->mb_path);
	free(b);
}

static int
batch_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n < 1 || n > ROUTE_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

/*
 * Route one item (plain request or batch item) and encode it.  A routing
 * failure is the item's own answer (404, 405, 400...), returned in e.
 */
int
batch_item_route(struct master *m, struct mitem *it, enum route_method meth,
    const char *target, size_t target_len, const char *if_match,
    const char *if_none_match, struct json_object *body,
    const struct config_token *tok, struct err *e)
{
	struct route	 r;
	struct item_req	 rq;
	const char	*js = NULL;
	size_t		 jlen = 0;
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
	if (if_match != NULL) {
		rq.if_match.p = if_match;
		rq.if_match.n = strlen(if_match);
	}
	if (if_none_match != NULL) {
		rq.if_none_match.p = if_none_match;
		rq.if_none_match.n = strlen(if_none_match);
	}
	/* "body ... Ignored for GET" (and DELETE carries none). */
	if (body != NULL && meth != METHOD_GET && meth != METHOD_DELETE) {
		js = json_object_to_json_string_length(body,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		    &jlen);
		if (js == NULL) {
			route_free(&r);
			return err_set(e, ERR_INTERNAL, "cannot encode body");
		}
		rq.body = js;
		rq.body_len = jlen;
		rq.body_kind = json_object_is_type(body, json_type_object) ?
		    BODY_OBJECT : BODY_OTHER;
	}
	rc = item_encode(&rq, &it->mi_enc);
	route_free(&r);
	if (rc == -1)
		return err_set(e, ERR_INTERNAL, "out of memory");
	if (it->mi_enc.len > (size_t)(m->ring.mask + 1) * m->ring.slot_bytes)
		return err_set(e, ERR_PAYLOAD_TOO_LARGE,
		    "item of %zu bytes does not fit the ring", it->mi_enc.len);
	return 0;
}

/* Header value by case-insensitive name from an item's "headers". */
static const char *
batch_header(struct json_object *hdrs, const char *name)
{
	struct json_object_iterator	 i, end;

	if (hdrs == NULL)
		return NULL;
	i = json_object_iter_begin(hdrs);
	end = json_object_iter_end(hdrs);
	for (; !json_object_iter_equal(&i, &end); json_object_iter_next(&i))
		if (strcasecmp(json_object_iter_peek_name(&i), name) == 0)
			return json_object_get_string(
			    json_object_iter_peek_value(&i));
	return NULL;
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

/*
 * The lookup key of an id or group name: json-c keys are C strings, so a
 * U+0000 inside is written as C0 80 (never found in valid UTF-8), and two
 * ids that differ after a NUL stay two ids.
 */
static const char *
batch_key(struct buf *k, struct json_object *str)
{
	const char	*s = json_object_get_string(str);
	size_t		 n = (size_t)json_object_get_string_len(str), i;

	buf_reset(k);
	for (i = 0; i < n; i++) {
		if (s[i] == '\0')
			buf_append(k, "\xc0\x80", 2);
		else
			buf_putc(k, s[i]);
	}
	if (k->data == NULL)
		buf_reserve(k, 1);
	return k->data != NULL ? k->data : "";
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

/* Per-item routing failures are answered when the batch starts. */
struct batch_preerr {
	enum err_code	 code;
	char		*detail;
};

static int
batch_parse_items(struct master *m, struct mbatch *b, struct json_object *reqs,
    const struct config_token *tok, struct err *e)
{
	struct json_object	*ids, *groups = NULL, *o, *v, *hdrs, *deps, *body;
	struct mitem		*it;
	struct err		 ie;
	struct buf		 target = BUF_INIT, key = BUF_INIT;
	const char		*s, *path, *ws;
	unsigned char		*color = NULL;
	uint32_t		 i, k, n = b->mb_nitems;
	size_t			 plen;
	int			 meth, rc = -1;
	char			 mname[16];

	if ((ids = json_object_new_object()) == NULL ||
	    (groups = json_object_new_object()) == NULL) {
		json_object_put(ids);
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	/* Pass 1: shape of every item, ids unique. */
	for (i = 0; i < n; i++) {
		it = &b->mb_items[i];
		o = json_object_array_get_idx(reqs, i);
		if (!json_object_is_type(o, json_type_object)) {
			err_set(e, ERR_BAD_REQUEST,
			    "requests[%u]: must be an object", i);
			goto out;
		}
		if (!json_object_object_get_ex(o, "id", &v)) {
			err_set(e, ERR_BAD_REQUEST,
			    "requests[%u]: missing \"id\"", i);
			goto out;
		}
		if (!json_object_is_type(v, json_type_string) ||
		    json_object_get_string_len(v) == 0) {
			err_set(e, ERR_BAD_REQUEST,
			    "requests[%u]: \"id\" must be a non-empty string", i);
			goto out;
		}
		it->mi_id = json_object_get_string(v);
		it->mi_id_len = (size_t)json_object_get_string_len(v);
		if (json_object_object_get_ex(ids, batch_key(&key, v), NULL)) {
			err_set(e, ERR_BAD_REQUEST,
			    "requests[%u]: duplicate id \"%.64s\"", i, it->mi_id);
			goto out;
		}
		json_object_object_add(ids, key.data, json_object_new_int64(i));
		if (json_object_object_get_ex(o, "method", &v) &&
		    !json_object_is_type(v, json_type_string)) {
			err_set(e, ERR_BAD_REQUEST,
			    "requests[%u]: \"method\" must be a string", i);
			goto out;
		}
		{
			struct json_object *p1 = NULL, *p2 = NULL;
			int hp = json_object_object_get_ex(o, "path", &p1);
			int hu = json_object_object_get_ex(o, "url", &p2);

			if (!hp && !hu) {
				err_set(e, ERR_BAD_REQUEST,
				    "requests[%u]: missing \"path\" or \"url\"",
				    i);
				goto out;
			}
			if (hp && hu) {
				err_set(e, ERR_BAD_REQUEST, "requests[%u]: "
				    "give \"path\" or \"url\", not both", i);
				goto out;
			}
			if (!json_object_is_type(hp ? p1 : p2,
			    json_type_string)) {
				err_set(e, ERR_BAD_REQUEST,
				    "requests[%u]: \"%s\" must be a string", i,
				    hp ? "path" : "url");
				goto out;
			}
		}
		if (json_object_object_get_ex(o, "workspace", &v) &&
		    !json_object_is_type(v, json_type_string)) {
			err_set(e, ERR_BAD_REQUEST,
			    "requests[%u]: \"workspace\" must be a string", i);
			goto out;
		}
		if (json_object_object_get_ex(o, "headers", &hdrs)) {
			struct json_object_iterator hi, he;

			if (!json_object_is_type(hdrs, json_type_object)) {
				err_set(e, ERR_BAD_REQUEST, "requests[%u]: "
				    "\"headers\" must be an object", i);
				goto out;
			}
			hi = json_object_iter_begin(hdrs);
			he = json_object_iter_end(hdrs);
			for (; !json_object_iter_equal(&hi, &he);
			    json_object_iter_next(&hi))
				if (!json_object_is_type(
				    json_object_iter_peek_value(&hi),
				    json_type_string) ||
				    (size_t)json_object_get_string_len(
				    json_object_iter_peek_value(&hi)) != strlen(
				    json_object_get_string(
				    json_object_iter_peek_value(&hi)))) {
					err_set(e, ERR_BAD_REQUEST,
					    "requests[%u]: header \"%.64s\" "
					    "must be a string without NUL", i,
					    json_object_iter_peek_name(&hi));
					goto out;
				}
		}
		it->mi_group = -1;
		if (json_object_object_get_ex(o, "atomicityGroup", &v)) {
			struct json_object *lv;

			if (!json_object_is_type(v, json_type_string)) {
				err_set(e, ERR_BAD_REQUEST, "requests[%u]: "
				    "\"atomicityGroup\" must be a string", i);
				goto out;
			}
			s = batch_key(&key, v);
			if (json_object_object_get_ex(groups, s, &lv))
				it->mi_group = (int32_t)json_object_get_int64(lv);
			else {
				json_object_object_add(groups, s,
				    json_object_new_int64(i));
				it->mi_group = (int32_t)i;
			}
			b->mb_items[it->mi_group].mi_group_n++;
		}
		if (json_object_object_get_ex(o, "dependsOn", &deps)) {
			size_t nd;

			if (!json_object_is_type(deps, json_type_array)) {
				err_set(e, ERR_BAD_REQUEST, "requests[%u]: "
				    "\"dependsOn\" must be an array", i);
				goto out;
			}
			nd = json_object_array_length(deps);
			for (k = 0; k < nd; k++)
				if (!json_object_is_type(
				    json_object_array_get_idx(deps, k),
				    json_type_string)) {
					err_set(e, ERR_BAD_REQUEST,
					    "requests[%u]: \"dependsOn\" must "
					    "hold id strings", i);
					goto out;
				}
		}
	}
	/* Pass 2: dependencies.  A dependsOn name is an item id or an
	 * atomicity group; a group is one unit of scheduling, led by its
	 * first item, so every edge into or out of a member is an edge of
	 * its leader (edges inside a group are kept by request order). */
	for (i = 0; i < n; i++) {
		uint32_t u = batch_unit(b, i), nd;

		o = json_object_array_get_idx(reqs, i);
		if (!json_object_object_get_ex(o, "dependsOn", &deps))
			continue;
		nd = (uint32_t)json_object_array_length(deps);
		for (k = 0; k < nd; k++) {
			int64_t d;

			s = batch_key(&key, json_object_array_get_idx(deps, k));
			if (json_object_object_get_ex(ids, s, &v))
				d = json_object_get_int64(v);
			else if (json_object_object_get_ex(groups, s, &v))
				d = json_object_get_int64(v);
			else {
				err_set(e, ERR_BAD_REQUEST, "requests[%u]: "
				    "dependsOn names unknown id \"%.64s\"", i, s);
				goto out;
			}
			if (b->mb_stop_on_error && d > (int64_t)i) {
				/* Items run in request order: a later item
				 * cannot have finished first. */
				err_set(e, ERR_BAD_REQUEST, "requests[%u]: with "
				    "stop_on_error, dependsOn must name earlier "
				    "items (\"%.64s\" comes later)", i, s);
				goto out;
			}
			if (batch_unit(b, (uint32_t)d) == u) {
				/* Itself, or (members run in request order)
				 * a later member of its own group: never met. */
				if (b->mb_items[i].mi_group < 0 || d >= (int64_t)i) {
					err_set(e, ERR_BAD_REQUEST,
					    "requests[%u]: dependsOn forms a "
					    "cycle", i);
					goto out;
				}
				continue;	/* an earlier member: in order */
			}
			if (batch_add_dep(&b->mb_items[u],
			    batch_unit(b, (uint32_t)d)) == -1) {
				err_set(e, ERR_INTERNAL, "out of memory");
				goto out;
			}
		}
	}
	if ((color = calloc(n ? n : 1, 1)) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
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
	/* Pass 3: route and encode; failures are the items' answers. */
	for (i = 0; i < n; i++) {
		it = &b->mb_items[i];
		o = json_object_array_get_idx(reqs, i);
		meth = METHOD_GET;
		if (json_object_object_get_ex(o, "method", &v)) {
			snprintf(mname, sizeof(mname), "%s",
			    json_object_get_string(v));
			for (s = mname; *s; s++)
				mname[s - mname] = (char)toupper(
				    (unsigned char)*s);
			if (json_object_get_string_len(v) >= (int)sizeof(mname) ||
			    (size_t)json_object_get_string_len(v) != strlen(mname) ||
			    (meth = route_method(mname, strlen(mname))) == -1) {
				err_set(e, ERR_BAD_REQUEST, "requests[%u]: "
				    "unknown method \"%.16s\"", i,
				    json_object_get_string(v));
				goto out;
			}
		}
		if (!json_object_object_get_ex(o, "path", &v))
			json_object_object_get_ex(o, "url", &v);
		path = json_object_get_string(v);
		plen = (size_t)json_object_get_string_len(v);
		buf_reset(&target);
		if (json_object_object_get_ex(o, "workspace", &v)) {
			ws = json_object_get_string(v);
			if (!batch_name_ok(ws,
			    (size_t)json_object_get_string_len(v))) {
				it->mi_status = -ERR_BAD_REQUEST;
				continue;
			}
			buf_printf(&target, "/workspaces/%s%s", ws,
			    path[0] == '/' ? "" : "/");
		}
		/* With its length: a NUL inside stays in the path, where the
		 * router refuses it, instead of cutting the path short. */
		buf_append(&target, path, plen);
		hdrs = NULL;
		json_object_object_get_ex(o, "headers", &hdrs);
		body = NULL;
		json_object_object_get_ex(o, "body", &body);
		if (batch_item_route(m, it, (enum route_method)meth,
		    target.data, target.len, batch_header(hdrs, "If-Match"),
		    batch_header(hdrs, "If-None-Match"), body, tok, &ie) == -1) {
			/* Remembered as a negative code; answered at start. */
			it->mi_status = -(int)ie.code;
			buf_reset(&it->mi_out);
			buf_puts(&it->mi_out, ie.detail);
		}
	}
	rc = 0;
out:
	free(color);
	buf_free(&target);
	buf_free(&key);
	json_object_put(ids);
	json_object_put(groups);
	return rc;
}

/* Parse one JSON text (strict RFC 8259, valid UTF-8, bounded depth).
 * NULL with e set when it is not one. */
struct json_object *
batch_json_parse(const char *body, size_t len, struct err *e)
{
	struct json_tokener	*tok;
	struct json_object	*root;
	const char		*why;
	size_t			 off;

	/* json-c's own check lets overlong forms through (C1 A9): ours is
	 * strict, so nothing but valid UTF-8 is ever stored or echoed. */
	if (!utf8_valid(body, len)) {
		err_set(e, ERR_BAD_REQUEST, "body is not valid UTF-8");
		return NULL;
	}
	if (json_check(body, len, BATCH_JSON_DEPTH, &off, &why) == -1) {
		err_set(e, ERR_BAD_REQUEST, "body is not valid JSON: %s at "
		    "offset %zu", why, off);
		return NULL;
	}
	if ((tok = json_tokener_new_ex(BATCH_JSON_DEPTH)) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	root = len > INT32_MAX ? NULL : json_tokener_parse_ex(tok, body, (int)len);
	/* A bare number or literal ends only at the end of input, which
	 * json-c must be told about: one more whitespace byte does it. */
	if (root == NULL && json_tokener_get_error(tok) == json_tokener_continue)
		root = json_tokener_parse_ex(tok, " ", 1);
	/* json_check() saw one whole JSON text: json-c either builds it or
	 * fails (depth, memory). */
	if (root == NULL) {
		enum json_tokener_error je = json_tokener_get_error(tok);

		if (je == json_tokener_success)	/* the text is "null" */
			err_set(e, ERR_BAD_REQUEST, "body is null");
		else
			err_set(e, ERR_BAD_REQUEST, "body is not valid JSON: %s",
			    json_tokener_error_desc(je));
	}
	json_tokener_free(tok);
	return root;
}

int
batch_parse(struct master *m, struct mbatch *b, const char *body, size_t len,
    const struct config_token *tok, struct err *e)
{
	struct json_object	*root, *reqs, *v;
	size_t			 n;

	if ((root = batch_json_parse(body, len, e)) == NULL)
		return -1;
	b->mb_json = root;
	if (!json_object_is_type(root, json_type_object) ||
	    !json_object_object_get_ex(root, "requests", &reqs) ||
	    !json_object_is_type(reqs, json_type_array))
		return err_set(e, ERR_BAD_REQUEST,
		    "body must be an object with a \"requests\" array");
	if (json_object_object_get_ex(root, "ordered", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			return err_set(e, ERR_BAD_REQUEST,
			    "\"ordered\" must be a boolean");
		b->mb_ordered = json_object_get_boolean(v);
	}
	if (json_object_object_get_ex(root, "stop_on_error", &v)) {
		if (!json_object_is_type(v, json_type_boolean))
			return err_set(e, ERR_BAD_REQUEST,
			    "\"stop_on_error\" must be a boolean");
		b->mb_stop_on_error = json_object_get_boolean(v);
	}
	n = json_object_array_length(reqs);
	if (b->mb_kind == MB_ASYNC && n > (size_t)m->cfg.max_async_items)
		return err_set(e, ERR_BATCH_TOO_LARGE,
		    "%zu items; max_async_items is %ld", n,
		    m->cfg.max_async_items);
	if (b->mb_kind != MB_ASYNC && n > (size_t)m->cfg.max_batch_items)
		return err_set(e, ERR_BATCH_TOO_LARGE,
		    "%zu items; max_batch_items is %ld", n,
		    m->cfg.max_batch_items);
	if (batch_items_alloc(b, (uint32_t)n) == -1)
		return err_set(e, ERR_INTERNAL, "out of memory");
	return batch_parse_items(m, b, reqs, tok, e);
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
			len = (uint32_t)it->mi_enc.len;
			buf_append(&body, &it->mi_idx, 4);
			buf_append(&body, &len, 4);
			buf_append(&body, it->mi_enc.data, len);
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

/* The unit (item, or group led by it) may run now. */
static void
batch_release(struct master *m, struct mitem *it)
{
	if (it->mi_group == (int32_t)it->mi_idx)
		batch_release_group(m, it);
	else if (it->mi_status < 0)
		batch_fail_routed(m, it);
	else
		sched_submit(m, it);
}

/* Fail a unit whose dependency failed: every member of a group. */
static void
batch_fail_unit(struct master *m, struct mitem *it, const char *detail)
{
	struct mbatch	*b = it->mi_batch;
	uint32_t	 i;

	/* In a cancelled batch, what never started is cancelled too. */
	enum err_code	 code = b->mb_cancelled ? ERR_CANCELLED :
			    ERR_FAILED_DEPENDENCY;

	if (b->mb_cancelled)
		detail = "the batch was cancelled";
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
		batch_fail_unit(m, d, "a dependency failed");
	else
		batch_release(m, d);
}

static void
batch_finish(struct master *m, struct mbatch *b)
{
	switch (b->mb_kind) {
	case MB_ASYNC:
		/* Kept until its final state is stored. */
		async_batch_done(m, b);
		return;
	case MB_SYSTEM:
		async_system_done(m, b);
		break;
	default:
		http_reply_batch(m, b);
		break;
	}
	batch_free(m, b);
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
					batch_fail_unit(m, d, detail);
				} else if (--d->mi_deps_left == 0)
					batch_release(m, d);
			}
		}
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
