/*
 * test_store.c - unit tests for worker/store.c and worker/rows.c: every
 * row and table operation of SPEC section 2 against a real LMDB
 * environment in a fresh directory under /tmp per test.
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "durable.h"
#include "rows.h"
#include "store.h"

#define MAP_MB		256
#define BIG_RESULT	(8u << 20)

/*
 * Each test gets its own directory (dir) inside the run's directory made
 * by main: check does not run the teardown of a failed test, so main
 * removes whatever such a test left.
 */
static char		 run_dir[64];
static char		 dir[128];
static struct store	*st;
static struct item_res	 res;

static void
store_reopen(size_t max_result, size_t map_mb)
{
	struct store_opts	o;
	char			err[256];

	store_close(st);
	st = NULL;
	memset(&o, 0, sizeof(o));
	o.path = dir;
	o.map_size_mb = map_mb;
	o.sync = 0;
	o.max_result_bytes = max_result;
	ck_assert_msg(store_open(&st, &o, err, sizeof(err)) == 0,
	    "store_open: %s", err);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
rm_tree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "%s/t.XXXXXX", run_dir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	/* A path below the test's directory: store_open must create it. */
	strcat(dir, "/db/x");
	store_reopen(BIG_RESULT, MAP_MB);
	memset(&res, 0, sizeof(res));
}

static void
teardown(void)
{
	store_close(st);
	st = NULL;
	item_res_free(&res);
	*strstr(dir, "/db/x") = '\0';
	rm_tree(dir);
}

static struct route_str
rs(const char *s)
{
	struct route_str r = { s, s == NULL ? 0 : strlen(s) };

	return r;
}

static struct route_str
rsn(const char *s, size_t n)
{
	struct route_str r = { s, n };

	return r;
}

/* A request on workspace ws1. */
static struct item_req
req_make(enum route_op op, const char *table, const char *key)
{
	struct item_req q;

	memset(&q, 0, sizeof(q));
	q.op = op;
	q.ws = rs("ws1");
	q.table = rs(table);
	q.key = rs(key);
	q.limit = 100;
	return q;
}

static void
req_body(struct item_req *q, const char *body, size_t n)
{
	q->body = body;
	q->body_len = n;
	q->body_kind = body == NULL ? BODY_NONE :
	    body[0] == '{' ? BODY_OBJECT : BODY_OTHER;
}

static int
exec(const struct item_req *q)
{
	int	rc = store_exec(st, q, &res);

	ck_assert_int_eq(rc, 0);
	return res.status;
}

static const char *
body(void)
{
	return res.body.len == 0 ? "" : res.body.data;
}

static int
put_n(const char *table, const char *key, size_t kn, const char *json)
{
	struct item_req	q = req_make(OP_ROW_PUT, table, NULL);

	q.key = rsn(key, kn);
	req_body(&q, json, strlen(json));
	return exec(&q);
}

static int
put(const char *table, const char *key, const char *json)
{
	return put_n(table, key, strlen(key), json);
}

static int
get_n(const char *table, const char *key, size_t kn)
{
	struct item_req	q = req_make(OP_ROW_GET, table, NULL);

	q.key = rsn(key, kn);
	return exec(&q);
}

static int
get(const char *table, const char *key)
{
	return get_n(table, key, strlen(key));
}

static int
del(const char *table, const char *key)
{
	struct item_req	q = req_make(OP_ROW_DELETE, table, key);

	return exec(&q);
}

static int
patch(const char *table, const char *key, const char *json)
{
	struct item_req	q = req_make(OP_ROW_PATCH, table, key);

	req_body(&q, json, strlen(json));
	return exec(&q);
}

/* A write of op with an If-Match no row ever has: 412, no change. */
static int
stale_write(enum route_op op, const char *table, const char *key)
{
	struct item_req	q = req_make(op, table, key);

	req_body(&q, "{\"v\":2}", 7);
	q.if_match = rs("\"0000000000000000\"");
	return exec(&q);
}

static int
post(const char *table, const char *json)
{
	struct item_req	q = req_make(OP_ROW_CREATE, table, NULL);

	req_body(&q, json, strlen(json));
	return exec(&q);
}

static int
list_tables(const char *ws)
{
	struct item_req	q = req_make(OP_TABLES_LIST, NULL, NULL);

	q.ws = rs(ws);
	return exec(&q);
}

/* The error body carries code and, when given, detail. */
static void
assert_error(int status, const char *code, const char *detail)
{
	json_object	*o, *err, *v;

	ck_assert_int_eq(res.status, status);
	ck_assert_str_eq(res.etag, "");
	o = json_tokener_parse(body());
	ck_assert_msg(o != NULL, "error body not JSON: %s", body());
	ck_assert(json_object_object_get_ex(o, "error", &err));
	ck_assert(json_object_object_get_ex(err, "code", &v));
	ck_assert_str_eq(json_object_get_string(v), code);
	ck_assert(json_object_object_get_ex(err, "message", &v));
	if (detail != NULL) {
		ck_assert(json_object_object_get_ex(err, "detail", &v));
		ck_assert_msg(strstr(json_object_get_string(v), detail) != NULL,
		    "detail \"%s\" lacks \"%s\"", json_object_get_string(v),
		    detail);
	}
	json_object_put(o);
}

/* "\"" 16 lowercase hex digits "\"" */
static void
assert_etag_form(const char *etag)
{
	size_t	i;

	ck_assert_uint_eq(strlen(etag), 18);
	ck_assert_int_eq(etag[0], '"');
	ck_assert_int_eq(etag[17], '"');
	for (i = 1; i < 17; i++)
		ck_assert_msg(strchr("0123456789abcdef", etag[i]) != NULL,
		    "bad etag %s", etag);
}

START_TEST(test_put_get_replace)
{
	char	e1[ITEM_ETAG_MAX], e2[ITEM_ETAG_MAX];

	ck_assert_int_eq(put("t1", "k1", "{\"n\":1,\"s\":\"x\"}"), 201);
	ck_assert_str_eq(body(), "{\"n\":1,\"s\":\"x\"}");
	assert_etag_form(res.etag);
	ck_assert_uint_eq(res.location.len, 0);
	strcpy(e1, res.etag);

	ck_assert_int_eq(get("t1", "k1"), 200);
	ck_assert_str_eq(body(), "{\"n\":1,\"s\":\"x\"}");
	ck_assert_str_eq(res.etag, e1);

	ck_assert_int_eq(put("t1", "k1", "{\"n\":2}"), 200);
	ck_assert_str_eq(body(), "{\"n\":2}");
	strcpy(e2, res.etag);
	assert_etag_form(e2);
	ck_assert_str_ne(e1, e2);

	ck_assert_int_eq(get("t1", "k1"), 200);
	ck_assert_str_eq(body(), "{\"n\":2}");
	ck_assert_str_eq(res.etag, e2);
}
END_TEST

/* The stored bytes come back exactly as written, whatever they hold. */
START_TEST(test_get_returns_exact_bytes)
{
	const char	*row = "{\"a\":1.50,\"b\":\"\\u00e9/\\/\",\"c\":[],"
	    "\"d\":{\"e\":null},\"big\":123456789012345678901234567890}";

	ck_assert_int_eq(put("t1", "k", row), 201);
	ck_assert_int_eq(get("t1", "k"), 200);
	ck_assert_str_eq(body(), row);
}
END_TEST

START_TEST(test_put_body_not_object)
{
	struct item_req	q = req_make(OP_ROW_PUT, "t1", "k1");

	req_body(&q, "[1,2]", 5);
	ck_assert_int_eq(exec(&q), 400);
	assert_error(400, "BAD_REQUEST", "body must be a JSON object");

	req_body(&q, NULL, 0);
	ck_assert_int_eq(exec(&q), 400);
	assert_error(400, "BAD_REQUEST", "body must be a JSON object");

	/* Nothing was created, not even the table. */
	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[]}");
}
END_TEST

START_TEST(test_get_missing)
{
	ck_assert_int_eq(get("nosuch", "k"), 404);
	assert_error(404, "NOT_FOUND", "table not found");
	ck_assert_int_eq(put("t1", "k1", "{}"), 201);
	ck_assert_int_eq(get("t1", "k2"), 404);
	assert_error(404, "NOT_FOUND", "row not found");
	/* Another workspace does not see ws1's table. */
	{
		struct item_req q = req_make(OP_ROW_GET, "t1", "k1");

		q.ws = rs("ws2");
		ck_assert_int_eq(exec(&q), 404);
		assert_error(404, "NOT_FOUND", "table not found");
	}
}
END_TEST

/* Every write of any row gets a new, strictly increasing ETag. */
/* A part's upper bound: the word-at-a-time test agrees with
 * store_key_cmp() on keys that differ in every byte position, in length
 * only, and in bytes past 0x7f (compared unsigned). */
START_TEST(test_key_at_or_past)
{
	unsigned char	a[40], b[40];
	uint64_t	x = 0x9e3779b97f4a7c15ULL;
	size_t		an, bn, i;
	int		r;

	for (r = 0; r < 200000; r++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		an = x % 24;
		bn = (x >> 8) % 24;
		for (i = 0; i < sizeof(a); i++) {
			/* Mostly equal bytes, so that keys share prefixes
			 * of every length; a few differ, some above 0x7f. */
			a[i] = (unsigned char)('a' + i % 5);
			b[i] = a[i];
		}
		i = (x >> 16) % 24;
		if ((x >> 24) & 1)
			b[i] = (unsigned char)(x >> 32);
		if ((x >> 25) & 1)
			a[(x >> 40) % 24] = (unsigned char)(x >> 48);
		ck_assert_msg(rows_key_at_or_past(a, an, b, bn) ==
		    (store_key_cmp(a, an, b, bn) >= 0),
		    "lengths %zu %zu, differing at %zu", an, bn, i);
	}
	ck_assert(rows_key_at_or_past("ab", 2, "ab", 2));
	ck_assert(!rows_key_at_or_past("ab", 2, "abc", 3));
	ck_assert(rows_key_at_or_past("abcdefghi", 9, "abcdefgh", 8));
	ck_assert(rows_key_at_or_past("abcdefgh\x80", 9, "abcdefgh\x7f", 9));
	ck_assert(!rows_key_at_or_past("abcdefg\x01" "z", 9,
	    "abcdefg\xff" "a", 9));
}
END_TEST

START_TEST(test_etag_format)
{
	static const struct {
		uint64_t	 seq;
		const char	*etag;
	} t[] = {
		{ 0, "\"0000000000000000\"" },
		{ 1, "\"0000000000000001\"" },
		{ 0x186a0, "\"00000000000186a0\"" },
		{ 0xfedcba9876543210ULL, "\"fedcba9876543210\"" },
		{ UINT64_MAX, "\"ffffffffffffffff\"" },
	};
	char	out[ITEM_ETAG_MAX];
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(out, 'x', sizeof(out));
		store_etag_format(out, t[i].seq);
		ck_assert_str_eq(out, t[i].etag);
	}
}
END_TEST

START_TEST(test_etag_changes_on_every_write)
{
	char	prev[ITEM_ETAG_MAX] = "";
	int	i;

	for (i = 0; i < 6; i++) {
		switch (i % 3) {
		case 0:
			ck_assert_int_eq(put("t1", "k", "{\"v\":0}"),
			    i == 0 ? 201 : 200);
			break;
		case 1:
			ck_assert_int_eq(patch("t1", "k", "{\"v\":1}"), 200);
			break;
		default:
			ck_assert_int_eq(put("t1", "k", "{\"v\":0}"), 200);
			break;
		}
		assert_etag_form(res.etag);
		ck_assert_msg(strcmp(prev, res.etag) < 0, "%s then %s", prev,
		    res.etag);
		strcpy(prev, res.etag);
	}
	/* A different row written with the same body gets another tag. */
	ck_assert_int_eq(put("t1", "other", "{\"v\":0}"), 201);
	ck_assert_str_ne(res.etag, prev);
}
END_TEST

START_TEST(test_get_if_none_match)
{
	char		etag[ITEM_ETAG_MAX], list[128], weak[64];
	struct item_req	q = req_make(OP_ROW_GET, "t1", "k");

	ck_assert_int_eq(put("t1", "k", "{\"a\":1}"), 201);
	strcpy(etag, res.etag);

	q.if_none_match = rs("*");
	ck_assert_int_eq(exec(&q), 304);
	ck_assert_str_eq(res.etag, etag);
	ck_assert_uint_eq(res.body.len, 0);

	q.if_none_match = rs(etag);
	ck_assert_int_eq(exec(&q), 304);
	ck_assert_str_eq(res.etag, etag);
	ck_assert_uint_eq(res.body.len, 0);

	/* Weak comparison: W/ does not matter for If-None-Match. */
	snprintf(weak, sizeof(weak), "W/%s", etag);
	q.if_none_match = rs(weak);
	ck_assert_int_eq(exec(&q), 304);

	snprintf(list, sizeof(list), "\"0000000000000000\" ,  %s", etag);
	q.if_none_match = rs(list);
	ck_assert_int_eq(exec(&q), 304);

	q.if_none_match = rs("\"0000000000000000\", W/\"ffffffffffffffff\"");
	ck_assert_int_eq(exec(&q), 200);
	ck_assert_str_eq(body(), "{\"a\":1}");
	ck_assert_str_eq(res.etag, etag);

	/* An unquoted tag is malformed and matches nothing. */
	snprintf(list, sizeof(list), "%.16s", etag + 1);
	q.if_none_match = rs(list);
	ck_assert_int_eq(exec(&q), 200);

	/* After a write the old tag no longer matches. */
	ck_assert_int_eq(put("t1", "k", "{\"a\":2}"), 200);
	q.if_none_match = rs(etag);
	ck_assert_int_eq(exec(&q), 200);
	ck_assert_str_eq(body(), "{\"a\":2}");

	/* A missing row is missing, whatever the header says. */
	q.key = rs("nope");
	q.if_none_match = rs("*");
	ck_assert_int_eq(exec(&q), 404);
	assert_error(404, "NOT_FOUND", NULL);
}
END_TEST

START_TEST(test_write_if_match)
{
	char		etag[ITEM_ETAG_MAX], buf[128];
	struct item_req	q;

	/* If-Match: * on a missing row: 412 and nothing created. */
	q = req_make(OP_ROW_PUT, "t1", "k");
	req_body(&q, "{\"v\":1}", 7);
	q.if_match = rs("*");
	ck_assert_int_eq(exec(&q), 412);
	assert_error(412, "PRECONDITION_FAILED", NULL);
	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[]}");

	ck_assert_int_eq(put("t1", "k", "{\"v\":0}"), 201);
	strcpy(etag, res.etag);

	/* If-Match: * on an existing row. */
	ck_assert_int_eq(exec(&q), 200);
	ck_assert_str_ne(res.etag, etag);
	strcpy(etag, res.etag);

	/* Exact tag, then the same (now stale) tag. */
	q.if_match = rs(etag);
	ck_assert_int_eq(exec(&q), 200);
	ck_assert_int_eq(exec(&q), 412);
	assert_error(412, "PRECONDITION_FAILED", NULL);
	ck_assert_int_eq(get("t1", "k"), 200);
	strcpy(etag, res.etag);

	/* Strong comparison: a weak tag never matches. */
	snprintf(buf, sizeof(buf), "W/%s", etag);
	q.if_match = rs(buf);
	ck_assert_int_eq(exec(&q), 412);

	/* A list holding the tag matches. */
	snprintf(buf, sizeof(buf), "\"1111111111111111\", %s", etag);
	q.if_match = rs(buf);
	ck_assert_int_eq(exec(&q), 200);
	strcpy(etag, res.etag);

	/* PATCH and DELETE: stale tag 412 and the row is untouched. */
	q = req_make(OP_ROW_PATCH, "t1", "k");
	req_body(&q, "{\"v\":9}", 7);
	q.if_match = rs("\"0000000000000001\"");
	ck_assert_int_eq(exec(&q), 412);
	q = req_make(OP_ROW_DELETE, "t1", "k");
	q.if_match = rs("\"0000000000000001\"");
	ck_assert_int_eq(exec(&q), 412);
	ck_assert_int_eq(get("t1", "k"), 200);
	ck_assert_str_eq(body(), "{\"v\":1}");
	ck_assert_str_eq(res.etag, etag);

	/* With the right tag they succeed. */
	q = req_make(OP_ROW_PATCH, "t1", "k");
	req_body(&q, "{\"w\":2}", 7);
	q.if_match = rs(etag);
	ck_assert_int_eq(exec(&q), 200);
	ck_assert_str_eq(body(), "{\"v\":1,\"w\":2}");
	strcpy(etag, res.etag);
	q = req_make(OP_ROW_DELETE, "t1", "k");
	q.if_match = rs(etag);
	ck_assert_int_eq(exec(&q), 204);

	/* If-Match is evaluated before the 404 of PATCH and DELETE. */
	ck_assert_int_eq(exec(&q), 412);
	q.if_match = rs("*");
	ck_assert_int_eq(exec(&q), 412);
	q = req_make(OP_ROW_PATCH, "t1", "k");
	req_body(&q, "{}", 2);
	q.if_match = rs("*");
	ck_assert_int_eq(exec(&q), 412);
	q.if_match = rs(NULL);
	ck_assert_int_eq(exec(&q), 404);
}
END_TEST

START_TEST(test_write_if_none_match)
{
	struct item_req	q = req_make(OP_ROW_PUT, "t1", "k");
	char		etag[ITEM_ETAG_MAX];

	req_body(&q, "{\"v\":1}", 7);
	q.if_none_match = rs("*");
	ck_assert_int_eq(exec(&q), 201);
	strcpy(etag, res.etag);
	ck_assert_int_eq(exec(&q), 412);
	assert_error(412, "PRECONDITION_FAILED", NULL);

	/* A listed, matching tag fails a write too (412, not 304). */
	q.if_none_match = rs(etag);
	ck_assert_int_eq(exec(&q), 412);
	q.if_none_match = rs("\"0000000000000000\"");
	ck_assert_int_eq(exec(&q), 200);

	q = req_make(OP_ROW_DELETE, "t1", "k");
	q.if_none_match = rs("*");
	ck_assert_int_eq(exec(&q), 412);
	q = req_make(OP_ROW_PATCH, "t1", "k");
	req_body(&q, "{}", 2);
	q.if_none_match = rs("  *  ");
	ck_assert_int_eq(exec(&q), 412);

	/* An empty header counts as absent. */
	q.if_none_match = rs("");
	ck_assert_int_eq(exec(&q), 200);

	/* POST with If-None-Match: * creates. */
	q = req_make(OP_ROW_CREATE, "t1", NULL);
	req_body(&q, "{\"id\":\"new\"}", 12);
	q.if_none_match = rs("*");
	ck_assert_int_eq(exec(&q), 201);
	/* POST with If-Match on a key that does not exist. */
	req_body(&q, "{\"id\":\"new2\"}", 13);
	q.if_none_match = rs(NULL);
	q.if_match = rs("*");
	ck_assert_int_eq(exec(&q), 412);
	ck_assert_int_eq(get("t1", "new2"), 404);
}
END_TEST

START_TEST(test_post_with_id)
{
	char	etag[ITEM_ETAG_MAX];

	ck_assert_int_eq(post("t1", "{\"id\":\"a b/é\",\"v\":1}"), 201);
	ck_assert_str_eq(body(), "{\"id\":\"a b/é\",\"v\":1}");
	assert_etag_form(res.etag);
	strcpy(etag, res.etag);
	ck_assert_str_eq(res.location.data,
	    "/v1/workspaces/ws1/tables/t1/rows/a%20b%2F%C3%A9");

	ck_assert_int_eq(get("t1", "a b/é"), 200);
	ck_assert_str_eq(body(), "{\"id\":\"a b/é\",\"v\":1}");
	ck_assert_str_eq(res.etag, etag);
	ck_assert_uint_eq(res.location.len, 0);

	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[{\"name\":\"t1\",\"rows\":1}]}");
}
END_TEST

START_TEST(test_post_generated_key)
{
	char		loc1[256], key[64];
	const char	*prefix = "/v1/workspaces/ws1/tables/t1/rows/";
	size_t		i;

	ck_assert_int_eq(post("t1", "{\"v\":1}"), 201);
	ck_assert_str_eq(body(), "{\"v\":1}");
	ck_assert_uint_eq(res.location.len, strlen(prefix) + 32);
	ck_assert_int_eq(strncmp(res.location.data, prefix, strlen(prefix)),
	    0);
	strcpy(loc1, res.location.data);
	strcpy(key, loc1 + strlen(prefix));
	for (i = 0; i < 32; i++)
		ck_assert(strchr("0123456789abcdef", key[i]) != NULL);

	ck_assert_int_eq(post("t1", "{\"v\":2}"), 201);
	ck_assert_str_ne(res.location.data, loc1);

	ck_assert_int_eq(get("t1", key), 200);
	ck_assert_str_eq(body(), "{\"v\":1}");
	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[{\"name\":\"t1\",\"rows\":2}]}");
}
END_TEST

START_TEST(test_post_conflict)
{
	char	etag[ITEM_ETAG_MAX];

	ck_assert_int_eq(put("t1", "dup", "{\"v\":1}"), 201);
	strcpy(etag, res.etag);
	ck_assert_int_eq(post("t1", "{\"id\":\"dup\",\"v\":2}"), 409);
	assert_error(409, "CONFLICT", NULL);
	ck_assert_uint_eq(res.location.len, 0);
	ck_assert_int_eq(get("t1", "dup"), 200);
	ck_assert_str_eq(body(), "{\"v\":1}");
	ck_assert_str_eq(res.etag, etag);
	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[{\"name\":\"t1\",\"rows\":1}]}");
}
END_TEST

START_TEST(test_post_bad_id)
{
	static const char *bad[] = {
		"{\"id\":5}",
		"{\"id\":null}",
		"{\"id\":\"\"}",
		"{\"id\":[\"a\"]}",
		"{\"id\":\"\xff\xfe\"}",
	};
	char	*big;
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(post("t1", bad[i]), 400);
		assert_error(400, "BAD_REQUEST", "\"id\"");
	}
	/* 513 bytes is one too many; 512 is fine. */
	big = malloc(600);
	ck_assert_ptr_nonnull(big);
	strcpy(big, "{\"id\":\"");
	memset(big + 7, 'x', 513);
	strcpy(big + 7 + 513, "\"}");
	ck_assert_int_eq(post("t1", big), 400);
	assert_error(400, "BAD_REQUEST", "\"id\"");
	strcpy(big + 7 + 512, "\"}");
	ck_assert_int_eq(post("t1", big), 201);
	free(big);

	ck_assert_int_eq(post("t1", "[1]"), 400);
	assert_error(400, "BAD_REQUEST", "body must be a JSON object");
	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[{\"name\":\"t1\",\"rows\":1}]}");
}
END_TEST

START_TEST(test_patch_merge)
{
	json_object	*got, *want;
	char		 etag[ITEM_ETAG_MAX];

	ck_assert_int_eq(put("t1", "k", "{\"a\":1,\"b\":{\"c\":2,\"d\":3},"
	    "\"e\":[1,2],\"keep\":\"x/y\"}"), 201);
	strcpy(etag, res.etag);
	ck_assert_int_eq(patch("t1", "k", "{\"a\":null,\"b\":{\"c\":null,"
	    "\"x\":\"y\",\"n\":{\"m\":null}},\"e\":[3],\"f\":{\"g\":null},"
	    "\"missing\":null}"), 200);
	ck_assert_str_ne(res.etag, etag);
	assert_etag_form(res.etag);
	strcpy(etag, res.etag);
	/* Compact, member order kept, slashes not escaped. */
	ck_assert_str_eq(body(), "{\"b\":{\"d\":3,\"x\":\"y\",\"n\":{}},"
	    "\"e\":[3],\"keep\":\"x/y\",\"f\":{}}");
	got = json_tokener_parse(body());
	want = json_tokener_parse("{\"b\":{\"d\":3,\"x\":\"y\",\"n\":{}},"
	    "\"e\":[3],\"keep\":\"x/y\",\"f\":{}}");
	ck_assert(json_object_equal(got, want));
	json_object_put(got);
	json_object_put(want);

	ck_assert_int_eq(get("t1", "k"), 200);
	ck_assert_str_eq(body(), "{\"b\":{\"d\":3,\"x\":\"y\",\"n\":{}},"
	    "\"e\":[3],\"keep\":\"x/y\",\"f\":{}}");
	ck_assert_str_eq(res.etag, etag);

	/* An empty patch still writes (new ETag), content unchanged. */
	ck_assert_int_eq(patch("t1", "k", "{}"), 200);
	ck_assert_str_ne(res.etag, etag);
	ck_assert_str_eq(body(), "{\"b\":{\"d\":3,\"x\":\"y\",\"n\":{}},"
	    "\"e\":[3],\"keep\":\"x/y\",\"f\":{}}");
}
END_TEST

START_TEST(test_patch_errors)
{
	struct item_req	q = req_make(OP_ROW_PATCH, "t1", "k");

	ck_assert_int_eq(patch("t1", "k", "{\"a\":1}"), 404);
	assert_error(404, "NOT_FOUND", "table not found");
	ck_assert_int_eq(put("t1", "other", "{}"), 201);
	ck_assert_int_eq(patch("t1", "k", "{\"a\":1}"), 404);
	assert_error(404, "NOT_FOUND", "row not found");
	ck_assert_int_eq(put("t1", "k", "{\"a\":0}"), 201);
	req_body(&q, "null", 4);
	ck_assert_int_eq(exec(&q), 400);
	assert_error(400, "BAD_REQUEST", "body must be a JSON object");
	req_body(&q, "[{\"a\":1}]", 9);
	ck_assert_int_eq(exec(&q), 400);
	ck_assert_int_eq(get("t1", "k"), 200);
	ck_assert_str_eq(body(), "{\"a\":0}");
}
END_TEST

START_TEST(test_delete)
{
	ck_assert_int_eq(del("t1", "k"), 404);
	assert_error(404, "NOT_FOUND", "table not found");
	ck_assert_int_eq(put("t1", "k", "{}"), 201);
	ck_assert_int_eq(put("t1", "k2", "{}"), 201);
	ck_assert_int_eq(del("t1", "k"), 204);
	ck_assert_uint_eq(res.body.len, 0);
	ck_assert_str_eq(res.etag, "");
	ck_assert_int_eq(get("t1", "k"), 404);
	assert_error(404, "NOT_FOUND", "row not found");
	ck_assert_int_eq(del("t1", "k"), 404);
	assert_error(404, "NOT_FOUND", "row not found");
	ck_assert_int_eq(get("t1", "k2"), 200);
}
END_TEST

/* Parse a scan answer: keys into keys[] (strdup'd), returns count;
 * next into nextbuf ("" for null, *has_next says which). */
static int
scan_parse(char **keys, int max, char *nextbuf, size_t nlen, int *has_next)
{
	json_object	*o, *rows, *next, *ent, *v;
	int		 i, n;

	o = json_tokener_parse(body());
	ck_assert_msg(o != NULL, "scan body not JSON: %.200s", body());
	ck_assert(json_object_object_get_ex(o, "rows", &rows));
	ck_assert(json_object_is_type(rows, json_type_array));
	ck_assert(json_object_object_get_ex(o, "next", &next));
	n = (int)json_object_array_length(rows);
	ck_assert_int_le(n, max);
	for (i = 0; i < n; i++) {
		ent = json_object_array_get_idx(rows, (size_t)i);
		ck_assert(json_object_object_get_ex(ent, "key", &v));
		keys[i] = malloc((size_t)json_object_get_string_len(v) + 1);
		ck_assert_ptr_nonnull(keys[i]);
		memcpy(keys[i], json_object_get_string(v),
		    (size_t)json_object_get_string_len(v) + 1);
		ck_assert(json_object_object_get_ex(ent, "etag", &v));
		assert_etag_form(json_object_get_string(v));
		ck_assert(json_object_object_get_ex(ent, "value", &v));
		ck_assert(json_object_is_type(v, json_type_object));
	}
	*has_next = next != NULL;
	nextbuf[0] = '\0';
	if (next != NULL) {
		ck_assert(json_object_is_type(next, json_type_string));
		ck_assert_uint_lt((size_t)json_object_get_string_len(next),
		    nlen);
		strcpy(nextbuf, json_object_get_string(next));
	}
	json_object_put(o);
	return n;
}

static int
scan(const char *table, const char *prefix, const char *after, long limit)
{
	struct item_req	q = req_make(OP_ROWS_SCAN, table, NULL);

	q.prefix = rs(prefix);
	q.after = rs(after);
	q.limit = limit;
	return exec(&q);
}

/*
 * Page through table with limit until next is null; check every one of
 * the want[] keys comes exactly once, in order.  Returns the page count.
 */
static int
scan_all(const char *table, const char *prefix, long limit,
    char **want, int nwant)
{
	char	*keys[1000], next[1024], after[1024];
	int	 n, i, seen = 0, pages = 0, has_next = 1;

	after[0] = '\0';
	while (has_next) {
		ck_assert_int_eq(scan(table, prefix,
		    pages == 0 ? NULL : after, limit), 200);
		n = scan_parse(keys, 1000, next, sizeof(next), &has_next);
		ck_assert_int_le(n, limit);
		for (i = 0; i < n; i++) {
			ck_assert_int_lt(seen, nwant);
			ck_assert_str_eq(keys[i], want[seen]);
			seen++;
			free(keys[i]);
		}
		if (has_next) {
			ck_assert_int_gt(n, 0);
			ck_assert_str_eq(next, want[seen - 1]);
		}
		strcpy(after, next);
		pages++;
		ck_assert_int_lt(pages, 10000);
	}
	ck_assert_int_eq(seen, nwant);
	return pages;
}

START_TEST(test_scan_paging)
{
	char	*want[250], key[16], json[64];
	int	 i, j, order[250], t;

	/* Insert in a scrambled order; the scan must come back sorted. */
	for (i = 0; i < 250; i++)
		order[i] = i;
	srand(42);
	for (i = 249; i > 0; i--) {
		j = rand() % (i + 1);
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (i = 0; i < 250; i++) {
		snprintf(key, sizeof(key), "k%03d", order[i]);
		snprintf(json, sizeof(json), "{\"n\":%d}", order[i]);
		ck_assert_int_eq(put("t1", key, json), 201);
	}
	for (i = 0; i < 250; i++) {
		snprintf(key, sizeof(key), "k%03d", i);
		want[i] = strdup(key);
		ck_assert_ptr_nonnull(want[i]);
	}
	ck_assert_int_eq(scan_all("t1", NULL, 37, want, 250), 7);
	/* Exactly full last page: next is null there, no empty page. */
	ck_assert_int_eq(scan_all("t1", NULL, 50, want, 250), 5);
	ck_assert_int_eq(scan_all("t1", NULL, 1000, want, 250), 1);
	ck_assert_int_eq(scan_all("t1", NULL, 1, want, 250), 250);
	/* Prefix k1: k100..k199. */
	ck_assert_int_eq(scan_all("t1", "k1", 30, want + 100, 100), 4);

	/* The raw entry form of one row. */
	ck_assert_int_eq(scan("t1", "k007", NULL, 10), 200);
	ck_assert_int_eq(get("t1", "k007"), 200);
	{
		char expect[256], etag[ITEM_ETAG_MAX];

		strcpy(etag, res.etag);
		ck_assert_int_eq(scan("t1", "k007", NULL, 10), 200);
		snprintf(expect, sizeof(expect), "{\"rows\":[{\"key\":\"k007\","
		    "\"etag\":\"\\\"%.16s\\\"\",\"value\":{\"n\":7}}],"
		    "\"next\":null}", etag + 1);
		ck_assert_str_eq(body(), expect);
	}
	for (i = 0; i < 250; i++)
		free(want[i]);
}
END_TEST

START_TEST(test_scan_prefix_after)
{
	char	*keys[16], next[64];
	int	 n, has_next, i;
	static const char *all[] = { "a", "a1", "a2", "ab", "b", "b1" };

	for (i = 0; i < 6; i++)
		ck_assert_int_eq(put("t1", all[i], "{}"), 201);
	ck_assert_int_eq(put("t0", "a0", "{}"), 201);
	ck_assert_int_eq(put("t2", "a0", "{}"), 201);

	/* Only this table's rows, in order. */
	ck_assert_int_eq(scan("t1", NULL, NULL, 100), 200);
	n = scan_parse(keys, 16, next, sizeof(next), &has_next);
	ck_assert_int_eq(n, 6);
	ck_assert(!has_next);
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(keys[i], all[i]);
		free(keys[i]);
	}

	ck_assert_int_eq(scan("t1", "a", "a1", 100), 200);
	n = scan_parse(keys, 16, next, sizeof(next), &has_next);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(keys[0], "a2");
	ck_assert_str_eq(keys[1], "ab");
	ck_assert(!has_next);
	free(keys[0]);
	free(keys[1]);

	/* after need not be a stored key; after before the prefix range. */
	ck_assert_int_eq(scan("t1", "a", "a10", 1), 200);
	n = scan_parse(keys, 16, next, sizeof(next), &has_next);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(keys[0], "a2");
	ck_assert(has_next);
	ck_assert_str_eq(next, "a2");
	free(keys[0]);
	ck_assert_int_eq(scan("t1", "b", "a", 100), 200);
	n = scan_parse(keys, 16, next, sizeof(next), &has_next);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(keys[0], "b");
	free(keys[0]);
	free(keys[1]);

	/* Nothing matches. */
	ck_assert_int_eq(scan("t1", "zz", NULL, 100), 200);
	ck_assert_str_eq(body(), "{\"rows\":[],\"next\":null}");
	ck_assert_int_eq(scan("t1", NULL, "b1", 100), 200);
	ck_assert_str_eq(body(), "{\"rows\":[],\"next\":null}");

	/* An empty table (all rows deleted) still exists. */
	ck_assert_int_eq(del("t0", "a0"), 204);
	ck_assert_int_eq(scan("t0", NULL, NULL, 100), 200);
	ck_assert_str_eq(body(), "{\"rows\":[],\"next\":null}");
}
END_TEST

START_TEST(test_scan_missing_table)
{
	ck_assert_int_eq(scan("nosuch", NULL, NULL, 10), 404);
	assert_error(404, "NOT_FOUND", "table not found");
}
END_TEST

/* With a small max_result_bytes, pages stop short but paging is exact. */
START_TEST(test_scan_max_result_bytes)
{
	char	*want[60], key[16], json[1100], *keys[100], next[64];
	int	 i, n, has_next;

	store_reopen(20000, MAP_MB);
	for (i = 0; i < 60; i++) {
		snprintf(key, sizeof(key), "r%02d", i);
		snprintf(json, sizeof(json), "{\"pad\":\"%01000d\"}", i);
		ck_assert_int_eq(put("t1", key, json), 201);
		want[i] = strdup(key);
		ck_assert_ptr_nonnull(want[i]);
	}
	ck_assert_int_eq(scan("t1", NULL, NULL, 1000), 200);
	ck_assert_uint_le(res.body.len, 20000);
	/* Filled up to the limit: one more entry would not have fitted. */
	ck_assert_uint_gt(res.body.len + 1060, 20000);
	n = scan_parse(keys, 100, next, sizeof(next), &has_next);
	ck_assert_int_gt(n, 1);
	ck_assert_int_lt(n, 60);
	ck_assert(has_next);
	ck_assert_str_eq(next, keys[n - 1]);
	for (i = 0; i < n; i++)
		free(keys[i]);
	ck_assert_int_ge(scan_all("t1", NULL, 1000, want, 60), 60 / n);
	for (i = 0; i < 60; i++)
		free(want[i]);
}
END_TEST

/* A row must stay readable: no write may make it larger than a result. */
START_TEST(test_row_larger_than_result)
{
	char	*huge, *keys[4], next[64];
	int	 n, has_next;

	huge = malloc(30000);
	ck_assert_ptr_nonnull(huge);
	store_reopen(20000, MAP_MB);
	snprintf(huge, 30000, "{\"pad\":\"%015000d\"}", 1);
	ck_assert_int_eq(put("t1", "a", huge), 413);
	assert_error(413, "PAYLOAD_TOO_LARGE", "the row would be");
	ck_assert_int_eq(put("t1", "a", "{\"small\":1}"), 201);
	snprintf(huge, 30000, "{\"pad\":\"%015000d\"}", 2);
	ck_assert_int_eq(patch("t1", "a", huge), 413);
	ck_assert_int_eq(get("t1", "a"), 200);
	ck_assert_str_eq(body(), "{\"small\":1}");

	/* A row written under a larger limit still pages, alone. */
	store_reopen(BIG_RESULT, MAP_MB);
	snprintf(huge, 30000, "{\"pad\":\"%025000d\"}", 3);
	ck_assert_int_eq(put("t1", "a", huge), 200);
	ck_assert_int_eq(put("t1", "b", "{}"), 201);
	store_reopen(20000, MAP_MB);
	ck_assert_int_eq(scan("t1", NULL, NULL, 10), 200);
	n = scan_parse(keys, 4, next, sizeof(next), &has_next);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(keys[0], "a");
	ck_assert(has_next);
	ck_assert_str_eq(next, "a");
	free(keys[0]);
	ck_assert_int_eq(scan("t1", NULL, "a", 10), 200);
	n = scan_parse(keys, 4, next, sizeof(next), &has_next);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(keys[0], "b");
	ck_assert(!has_next);
	free(keys[0]);
	free(huge);
}
END_TEST

START_TEST(test_unicode_keys)
{
	static const char *ks[] = {
		"ключ", "日本語/テキスト?&#", "emoji 😀", "q\"uote\\back",
		"tab\there", "%41", "+plus space",
	};
	char	 json[64], *keys[16], next[64];
	int	 i, j, n, has_next, found;
	size_t	 nk = sizeof(ks) / sizeof(ks[0]);

	for (i = 0; i < (int)nk; i++) {
		snprintf(json, sizeof(json), "{\"i\":%d}", i);
		ck_assert_int_eq(put("t1", ks[i], json), 201);
	}
	for (i = 0; i < (int)nk; i++) {
		snprintf(json, sizeof(json), "{\"i\":%d}", i);
		ck_assert_int_eq(get("t1", ks[i]), 200);
		ck_assert_str_eq(body(), json);
	}
	/* A key with a NUL byte is just another key. */
	ck_assert_int_eq(put_n("t1", "nul\0a", 5, "{\"nul\":1}"), 201);
	ck_assert_int_eq(get_n("t1", "nul\0a", 5), 200);
	ck_assert_str_eq(body(), "{\"nul\":1}");
	ck_assert_int_eq(get_n("t1", "nul", 3), 404);

	ck_assert_int_eq(scan("t1", NULL, NULL, 100), 200);
	n = scan_parse(keys, 16, next, sizeof(next), &has_next);
	ck_assert_int_eq(n, (int)nk + 1);
	for (i = 0; i < (int)nk; i++) {
		for (j = found = 0; j < n; j++)
			found += strcmp(keys[j], ks[i]) == 0;
		ck_assert_msg(found == 1, "key %s in scan %d times", ks[i],
		    found);
	}
	/* Keys come in byte order. */
	for (j = 1; j < n; j++)
		ck_assert_int_lt(strcmp(keys[j - 1], keys[j]), 0);
	for (j = 0; j < n; j++)
		free(keys[j]);

	ck_assert_int_eq(scan("t1", "日本", NULL, 100), 200);
	n = scan_parse(keys, 16, next, sizeof(next), &has_next);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(keys[0], ks[1]);
	free(keys[0]);

	ck_assert_int_eq(post("t1", "{\"id\":\"ключ 2\"}"), 201);
	ck_assert_str_eq(res.location.data, "/v1/workspaces/ws1/tables/t1/rows/"
	    "%D0%BA%D0%BB%D1%8E%D1%87%202");
}
END_TEST

START_TEST(test_long_keys)
{
	char	k512[512], a[510], b[510], k507[507], k508[508], *keys[8];
	char	next[600];
	int	n, has_next, i;
	struct item_req	q;

	memset(k512, 'z', sizeof(k512));
	ck_assert_int_eq(put_n("t1", k512, 512, "{\"len\":512}"), 201);
	ck_assert_int_eq(get_n("t1", k512, 512), 200);
	ck_assert_str_eq(body(), "{\"len\":512}");
	ck_assert_int_eq(get_n("t1", k512, 511), 404);

	/* Two 510-byte keys sharing 505 bytes (more than the 499 stored
	 * as is): distinct rows. */
	memset(a, 'm', sizeof(a));
	memcpy(b, a, sizeof(b));
	memcpy(a + 505, "AAAAA", 5);
	memcpy(b + 505, "BBBBB", 5);
	ck_assert_int_eq(put_n("t1", a, 510, "{\"w\":\"a\"}"), 201);
	ck_assert_int_eq(put_n("t1", b, 510, "{\"w\":\"b\"}"), 201);
	ck_assert_int_eq(get_n("t1", a, 510), 200);
	ck_assert_str_eq(body(), "{\"w\":\"a\"}");
	ck_assert_int_eq(get_n("t1", b, 510), 200);
	ck_assert_str_eq(body(), "{\"w\":\"b\"}");
	/* Same head, never written: missing. */
	memcpy(b + 505, "CCCCC", 5);
	ck_assert_int_eq(get_n("t1", b, 510), 404);
	memcpy(b + 505, "BBBBB", 5);

	/* The boundary sizes of the two layouts. */
	memset(k507, 'n', sizeof(k507));
	memset(k508, 'n', sizeof(k508));
	ck_assert_int_eq(put_n("t1", k507, 507, "{\"len\":507}"), 201);
	ck_assert_int_eq(put_n("t1", k508, 508, "{\"len\":508}"), 201);
	ck_assert_int_eq(get_n("t1", k507, 507), 200);
	ck_assert_str_eq(body(), "{\"len\":507}");
	ck_assert_int_eq(get_n("t1", k508, 508), 200);
	ck_assert_str_eq(body(), "{\"len\":508}");

	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[{\"name\":\"t1\",\"rows\":5}]}");

	/* The scan gives all five, full keys, and pages across them. */
	ck_assert_int_eq(scan("t1", NULL, NULL, 100), 200);
	n = scan_parse(keys, 8, next, sizeof(next), &has_next);
	ck_assert_int_eq(n, 5);
	for (i = 0; i < n; i++)
		free(keys[i]);
	{
		char *want[2];
		char pa[600], pb[600], pfx[506];

		memcpy(pa, a, 510);
		pa[510] = '\0';
		memcpy(pb, b, 510);
		pb[510] = '\0';
		memcpy(pfx, a, 505);
		pfx[505] = '\0';
		/* Long keys sharing a head come in hash order: find it. */
		ck_assert_int_eq(scan("t1", pfx, NULL, 100), 200);
		n = scan_parse(keys, 8, next, sizeof(next), &has_next);
		ck_assert_int_eq(n, 2);
		want[0] = strcmp(keys[0], pa) == 0 ? pa : pb;
		want[1] = want[0] == pa ? pb : pa;
		ck_assert_str_eq(keys[1], want[1]);
		free(keys[0]);
		free(keys[1]);
		ck_assert_int_eq(scan_all("t1", pfx, 1, want, 2), 2);
	}

	/* Delete one of the pair: the other stays. */
	q = req_make(OP_ROW_DELETE, "t1", NULL);
	q.key = rsn(a, 510);
	ck_assert_int_eq(exec(&q), 204);
	ck_assert_int_eq(get_n("t1", a, 510), 404);
	ck_assert_int_eq(get_n("t1", b, 510), 200);
	ck_assert_str_eq(body(), "{\"w\":\"b\"}");

	/* 513 bytes is refused. */
	{
		char k513[513];

		memset(k513, 'y', sizeof(k513));
		ck_assert_int_eq(put_n("t1", k513, 513, "{}"), 400);
		assert_error(400, "BAD_REQUEST", NULL);
	}
}
END_TEST

START_TEST(test_big_row)
{
	size_t	 n = 4u << 20, i;
	char	*row = malloc(n + 1), *keys[2], next[8];
	int	 has_next;

	ck_assert_ptr_nonnull(row);
	memcpy(row, "{\"blob\":\"", 9);
	for (i = 9; i < n - 2; i++)
		row[i] = (char)('a' + i % 26);
	memcpy(row + n - 2, "\"}", 3);
	ck_assert_uint_eq(strlen(row), n);

	ck_assert_int_eq(put("t1", "big", row), 201);
	ck_assert_uint_eq(res.body.len, n);
	ck_assert_int_eq(get("t1", "big"), 200);
	ck_assert_uint_eq(res.body.len, n);
	ck_assert_int_eq(memcmp(res.body.data, row, n), 0);

	ck_assert_int_eq(patch("t1", "big", "{\"more\":1}"), 200);
	ck_assert_uint_eq(res.body.len, n + 9);
	ck_assert_int_eq(memcmp(res.body.data, row, n - 1), 0);
	ck_assert_str_eq(res.body.data + n - 1, ",\"more\":1}");

	ck_assert_int_eq(scan("t1", NULL, NULL, 10), 200);
	ck_assert_uint_gt(res.body.len, n);
	ck_assert_int_eq(scan_parse(keys, 2, next, sizeof(next), &has_next),
	    1);
	ck_assert_str_eq(keys[0], "big");
	free(keys[0]);
	free(row);
}
END_TEST

START_TEST(test_tables_list)
{
	struct item_req	q;

	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[]}");
	ck_assert_str_eq(res.etag, "");

	ck_assert_int_eq(put("t2", "a", "{}"), 201);
	ck_assert_int_eq(put("t2", "b", "{}"), 201);
	ck_assert_int_eq(put("t1", "a", "{}"), 201);
	ck_assert_int_eq(put("T0", "a", "{}"), 201);
	ck_assert_int_eq(put("t2", "a", "{\"x\":1}"), 200);
	q = req_make(OP_ROW_PUT, "other", "a");
	q.ws = rs("ws");
	req_body(&q, "{}", 2);
	ck_assert_int_eq(exec(&q), 201);
	q.ws = rs("ws10");
	ck_assert_int_eq(exec(&q), 201);

	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[{\"name\":\"T0\",\"rows\":1},"
	    "{\"name\":\"t1\",\"rows\":1},{\"name\":\"t2\",\"rows\":2}]}");
	ck_assert_int_eq(list_tables("ws"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[{\"name\":\"other\","
	    "\"rows\":1}]}");
	ck_assert_int_eq(list_tables("nobody"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[]}");

	ck_assert_int_eq(del("t2", "a"), 204);
	ck_assert_int_eq(post("t1", "{\"v\":1}"), 201);
	ck_assert_int_eq(post("t1", "{\"v\":2}"), 201);
	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[{\"name\":\"T0\",\"rows\":1},"
	    "{\"name\":\"t1\",\"rows\":3},{\"name\":\"t2\",\"rows\":1}]}");
	ck_assert_int_eq(del("t2", "b"), 204);
	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert(strstr(body(), "{\"name\":\"t2\",\"rows\":0}") != NULL);
}
END_TEST

START_TEST(test_drop_table)
{
	struct item_req	q = req_make(OP_TABLE_DROP, "t1", NULL);
	char		key[16];
	int		i;

	ck_assert_int_eq(exec(&q), 404);
	assert_error(404, "NOT_FOUND", "table not found");
	/* Enough rows to span many LMDB pages. */
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "k%04d", i);
		ck_assert_int_eq(put("t1", key, "{\"pad\":\"0123456789012345"
		    "678901234567890123456789\"}"), 201);
	}
	ck_assert_int_eq(put("t0", "z", "{\"keep\":0}"), 201);
	ck_assert_int_eq(put("t2", "a", "{\"keep\":1}"), 201);

	ck_assert_int_eq(exec(&q), 204);
	ck_assert_uint_eq(res.body.len, 0);
	ck_assert_int_eq(get("t1", "k0000"), 404);
	assert_error(404, "NOT_FOUND", "table not found");
	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[{\"name\":\"t0\",\"rows\":1},"
	    "{\"name\":\"t2\",\"rows\":1}]}");
	ck_assert_int_eq(get("t2", "a"), 200);
	ck_assert_str_eq(body(), "{\"keep\":1}");
	ck_assert_int_eq(get("t0", "z"), 200);
	ck_assert_int_eq(exec(&q), 404);

	/* Recreated, the table starts empty: old rows do not resurface. */
	ck_assert_int_eq(put("t1", "new", "{}"), 201);
	ck_assert_int_eq(scan("t1", NULL, NULL, 1000), 200);
	ck_assert_str_eq(body() + strlen(body()) - 14, "],\"next\":null}");
	ck_assert(strstr(body(), "k0000") == NULL);
	ck_assert(strstr(body(), "\"key\":\"new\"") != NULL);
	ck_assert_int_eq(get("t1", "k0150"), 404);
	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert(strstr(body(), "{\"name\":\"t1\",\"rows\":1}") != NULL);
}
END_TEST

START_TEST(test_reopen_persists)
{
	char	etag[ITEM_ETAG_MAX], etag2[ITEM_ETAG_MAX];

	ck_assert_int_eq(put("t1", "k", "{\"v\":1}"), 201);
	strcpy(etag, res.etag);
	ck_assert_int_eq(get("t1", "k"), 200);	/* leaves a read txn open */
	store_reopen(BIG_RESULT, MAP_MB);
	ck_assert_int_eq(get("t1", "k"), 200);
	ck_assert_str_eq(body(), "{\"v\":1}");
	ck_assert_str_eq(res.etag, etag);
	/* The ETag sequence persists too: no tag is ever handed out twice. */
	ck_assert_int_eq(put("t1", "k2", "{}"), 201);
	strcpy(etag2, res.etag);
	ck_assert_int_gt(strcmp(etag2, etag), 0);
	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[{\"name\":\"t1\",\"rows\":2}]}");
}
END_TEST

/* A write that fails leaves nothing behind: not the row, not the table,
 * not even the ETag counter. */
START_TEST(test_failed_write_changes_nothing)
{
	struct item_req	q;
	char		etag[ITEM_ETAG_MAX], next[ITEM_ETAG_MAX];
	unsigned long long seq;

	ck_assert_int_eq(put("t1", "k", "{\"v\":1}"), 201);
	strcpy(etag, res.etag);

	q = req_make(OP_ROW_PUT, "t1", "k");
	req_body(&q, "{\"v\":2}", 7);
	q.if_match = rs("\"00000000000000ff\"");
	ck_assert_int_eq(exec(&q), 412);
	q = req_make(OP_ROW_PUT, "t9", "k");
	req_body(&q, "{\"v\":2}", 7);
	q.if_match = rs("*");
	ck_assert_int_eq(exec(&q), 412);
	ck_assert_int_eq(post("t1", "{\"id\":\"k\"}"), 409);

	ck_assert_int_eq(get("t1", "k"), 200);
	ck_assert_str_eq(body(), "{\"v\":1}");
	ck_assert_str_eq(res.etag, etag);
	ck_assert_int_eq(get("t9", "k"), 404);
	assert_error(404, "NOT_FOUND", "table not found");
	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[{\"name\":\"t1\",\"rows\":1}]}");

	ck_assert_int_eq(put("t1", "k2", "{}"), 201);
	ck_assert_int_eq(sscanf(etag, "\"%16llx\"", &seq), 1);
	snprintf(next, sizeof(next), "\"%016llx\"", seq + 1);
	ck_assert_str_eq(res.etag, next);
}
END_TEST

/* A read after a write in the same burst sees the write. */
START_TEST(test_read_your_writes)
{
	ck_assert_int_eq(put("t1", "k", "{\"v\":1}"), 201);
	ck_assert_int_eq(get("t1", "k"), 200);
	ck_assert_int_eq(put("t1", "k", "{\"v\":2}"), 200);
	ck_assert_int_eq(get("t1", "k"), 200);
	ck_assert_str_eq(body(), "{\"v\":2}");
	ck_assert_int_eq(scan("t1", NULL, NULL, 10), 200);
	ck_assert(strstr(body(), "{\"v\":2}") != NULL);
	store_idle(st);
	store_idle(st);
	ck_assert_int_eq(del("t1", "k"), 204);
	ck_assert_int_eq(get("t1", "k"), 404);
	store_idle(st);
	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[{\"name\":\"t1\",\"rows\":0}]}");
}
END_TEST

/*
 * Another worker's commit is visible to the next read, even though this
 * worker never went idle in between (a dependsOn chain across workers).
 */
START_TEST(test_sees_other_process_writes)
{
	pid_t	pid;
	int	status;

	ck_assert_int_eq(put("t1", "k", "{\"v\":1}"), 201);
	ck_assert_int_eq(get("t1", "k"), 200);		/* snapshot live */
	if ((pid = fork()) == 0) {
		struct store		*s2;
		struct store_opts	 o = { .path = dir, .map_size_mb = MAP_MB,
		    .max_result_bytes = BIG_RESULT };
		struct item_req		 q = req_make(OP_ROW_PUT, "t1", "k");
		struct item_res		 r;
		char			 err[256];

		memset(&r, 0, sizeof(r));
		req_body(&q, "{\"v\":2}", 7);
		if (store_open(&s2, &o, err, sizeof(err)) != 0 ||
		    store_exec(s2, &q, &r) != 0 || r.status != 200)
			_exit(1);
		store_close(s2);
		item_res_free(&r);
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(get("t1", "k"), 200);
	ck_assert_str_eq(body(), "{\"v\":2}");
}
END_TEST

START_TEST(test_not_store_op)
{
	static const enum route_op ops[] = { OP_QUERY, OP_DEBUG_SLEEP,
	    OP_DEBUG_CRASH, OP_DEBUG_ALLOC, OP_NONE };
	struct item_req	q;
	size_t		i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		q = req_make(ops[i], NULL, NULL);
		ck_assert_int_eq(exec(&q), 500);
		assert_error(500, "INTERNAL_SERVER_ERROR",
		    "not a store operation");
	}
}
END_TEST

START_TEST(test_bad_names)
{
	struct item_req	q = req_make(OP_ROW_GET, "t1", "");

	ck_assert_int_eq(exec(&q), 400);
	assert_error(400, "BAD_REQUEST", "row key");
	q = req_make(OP_ROW_GET, "t1", "k");
	q.ws = rs("bad/ws");
	ck_assert_int_eq(exec(&q), 400);
	assert_error(400, "BAD_REQUEST", "workspace");
	q = req_make(OP_ROWS_SCAN, NULL, NULL);
	ck_assert_int_eq(exec(&q), 400);
	assert_error(400, "BAD_REQUEST", "table");
}
END_TEST

struct iter_acc {
	int	 n, stop_at, fail_at;
	char	 keys[8][8];
	char	 json[8][16];
};

static int
iter_cb(void *arg, const char *key, size_t kn, const char *json, size_t jn)
{
	struct iter_acc	*a = arg;

	if (a->n == a->fail_at)
		return -1;
	ck_assert_uint_lt(kn, 8);
	ck_assert_uint_lt(jn, 16);
	memcpy(a->keys[a->n], key, kn);
	a->keys[a->n][kn] = '\0';
	memcpy(a->json[a->n], json, jn);
	a->json[a->n][jn] = '\0';
	return ++a->n == a->stop_at;
}

START_TEST(test_table_iter)
{
	struct iter_acc		a;
	struct err		e;
	struct route_str	lo, hi;

	ck_assert_int_eq(put("t1", "b", "{\"k\":\"b\"}"), 201);
	ck_assert_int_eq(put("t1", "a", "{\"k\":\"a\"}"), 201);
	ck_assert_int_eq(put("t1", "c", "{\"k\":\"c\"}"), 201);
	ck_assert_int_eq(put("t2", "0", "{}"), 201);

	memset(&a, 0, sizeof(a));
	a.stop_at = a.fail_at = -1;
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(store_table_iter(st, rs("ws1"), rs("t1"), iter_cb,
	    &a, &e), 0);
	ck_assert_int_eq(a.n, 3);
	ck_assert_str_eq(a.keys[0], "a");
	ck_assert_str_eq(a.keys[1], "b");
	ck_assert_str_eq(a.keys[2], "c");
	ck_assert_str_eq(a.json[0], "{\"k\":\"a\"}");
	ck_assert_str_eq(a.json[2], "{\"k\":\"c\"}");

	memset(&a, 0, sizeof(a));
	a.stop_at = 2;
	a.fail_at = -1;
	ck_assert_int_eq(store_table_iter(st, rs("ws1"), rs("t1"), iter_cb,
	    &a, &e), 0);
	ck_assert_int_eq(a.n, 2);

	memset(&a, 0, sizeof(a));
	a.stop_at = -1;
	a.fail_at = 1;
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(store_table_iter(st, rs("ws1"), rs("t1"), iter_cb,
	    &a, &e), -1);
	ck_assert_int_eq(e.code, ERR_INTERNAL);
	ck_assert_int_eq(a.n, 1);

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(store_table_iter(st, rs("ws1"), rs("nosuch"), iter_cb,
	    &a, &e), -1);
	ck_assert_int_eq(e.code, ERR_NOT_FOUND);

	/* The scan runs a row ahead of its callback: a range's rows are
	 * still the callback's own, whole, up to (not with) its end, and
	 * a stop at the last row is no error. */
	lo = rs("b");
	hi = rs("c");
	memset(&a, 0, sizeof(a));
	a.stop_at = a.fail_at = -1;
	ck_assert_int_eq(store_table_range(st, rs("ws1"), rs("t1"), &lo, &hi,
	    iter_cb, &a, &e), 0);
	ck_assert_int_eq(a.n, 1);
	ck_assert_str_eq(a.json[0], "{\"k\":\"b\"}");
	memset(&a, 0, sizeof(a));
	a.stop_at = 2;
	a.fail_at = -1;
	ck_assert_int_eq(store_table_range(st, rs("ws1"), rs("t1"), &lo, NULL,
	    iter_cb, &a, &e), 0);
	ck_assert_int_eq(a.n, 2);
	ck_assert_str_eq(a.keys[1], "c");
	ck_assert_str_eq(a.json[1], "{\"k\":\"c\"}");
}
END_TEST

START_TEST(test_atomicity_group)
{
	struct err	e;

	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(put("t1", "base", "{}"), 201);
	ck_assert_int_eq(get("t1", "base"), 200);	/* read txn open */

	/* Rolled back: nothing of the group remains. */
	ck_assert_int_eq(store_group_begin(st, &e), 0);
	ck_assert_int_eq(store_group_begin(st, &e), -1);
	ck_assert_int_eq(put("t1", "g1", "{\"v\":1}"), 201);
	ck_assert_int_eq(get("t1", "g1"), 200);		/* sees its write */
	ck_assert_int_eq(put("t2", "g2", "{}"), 201);
	ck_assert_int_eq(del("t1", "base"), 204);
	ck_assert_int_eq(store_group_end(st, 0, &e), 0);
	ck_assert_int_eq(store_group_end(st, 0, &e), -1);
	ck_assert_int_eq(get("t1", "g1"), 404);
	ck_assert_int_eq(get("t1", "base"), 200);
	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[{\"name\":\"t1\",\"rows\":1}]}");

	/* Committed, with a failing op in the middle that leaves no trace. */
	ck_assert_int_eq(store_group_begin(st, &e), 0);
	ck_assert_int_eq(put("t1", "g1", "{\"v\":1}"), 201);
	ck_assert_int_eq(stale_write(OP_ROW_PATCH, "t1", "g1"), 412);
	ck_assert_int_eq(patch("t1", "g1", "{\"w\":3}"), 200);
	ck_assert_int_eq(store_group_end(st, 1, &e), 0);
	ck_assert_int_eq(get("t1", "g1"), 200);
	ck_assert_str_eq(body(), "{\"v\":1,\"w\":3}");
	ck_assert_int_eq(list_tables("ws1"), 200);
	ck_assert_str_eq(body(), "{\"tables\":[{\"name\":\"t1\",\"rows\":2}]}");
}
END_TEST

static int
count_cb(void *arg, const char *key, size_t key_len, const char *json,
    size_t json_len)
{
	size_t	*n = arg;

	(void)key;
	(void)key_len;
	ck_assert_uint_gt(json_len, 1000);
	ck_assert_int_eq(json[0], '{');
	(*n)++;
	return 0;
}

/*
 * A table scan inside an atomicity group reads the group's own changed
 * pages, which LMDB keeps as copies on the heap: every row is seen, and
 * nothing outside them is read (the scan's page-ahead prefetch stays off
 * there; the SAN build would see a stray read).  After the group, the
 * same scan over the read snapshot.
 */
START_TEST(test_group_scan_sees_its_pages)
{
	struct err	e;
	char		key[16], *row;
	size_t		n;
	int		i;

	memset(&e, 0, sizeof(e));
	row = malloc(1300);
	ck_assert_ptr_nonnull(row);
	snprintf(row, 1300, "{\"pad\":\"%01200d\"}", 0);
	for (i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "a%04d", i);
		ck_assert_int_eq(put("t1", key, row), 201);
	}
	ck_assert_int_eq(store_group_begin(st, &e), 0);
	for (i = 0; i < 400; i++) {
		snprintf(key, sizeof(key), "b%04d", i);
		ck_assert_int_eq(put("t1", key, row), 201);
	}
	n = 0;
	ck_assert_int_eq(store_table_iter(st, rs("ws1"), rs("t1"), count_cb,
	    &n, &e), 0);
	ck_assert_uint_eq(n, 450);
	ck_assert_int_eq(store_group_end(st, 1, &e), 0);
	n = 0;
	ck_assert_int_eq(store_table_iter(st, rs("ws1"), rs("t1"), count_cb,
	    &n, &e), 0);
	ck_assert_uint_eq(n, 450);
	free(row);
}
END_TEST

/*
 * PUT rows of 65,000 bytes as r000, r001, ... into a 1 MiB store until one
 * does not fit; that one must answer 507 STORE_FULL.  Returns its number;
 * *rowp is the row (the caller frees it).
 */
static int
put_until_full(char **rowp)
{
	char	*row, key[16];
	int	 i;

	row = malloc(70000);
	ck_assert_ptr_nonnull(row);
	snprintf(row, 70000, "{\"pad\":\"%065000d\"}", 0);
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "r%03d", i);
		if (put("t1", key, row) != 201)
			break;
	}
	ck_assert_int_lt(i, 100);
	ck_assert_int_gt(i, 0);
	assert_error(507, "STORE_FULL", "the data store is full");
	*rowp = row;
	return i;
}

/* A full map is an error answer, not a crash; earlier data survives. */
START_TEST(test_map_full)
{
	char	*row, key[16];
	int	 i;

	store_reopen(BIG_RESULT, 1);
	i = put_until_full(&row);
	ck_assert_int_eq(get("t1", "r000"), 200);
	ck_assert_uint_eq(res.body.len, strlen(row));
	snprintf(key, sizeof(key), "r%03d", i);
	ck_assert_int_eq(get("t1", key), 404);
	free(row);
}
END_TEST

/*
 * A write group: every write in a nested transaction of one transaction,
 * committed together; a failing write leaves no trace, its neighbours are
 * kept; an aborted group leaves nothing.  ETags keep their order.
 */
START_TEST(test_wgroup_commit)
{
	struct err	 e;
	char		 e1[ITEM_ETAG_MAX], e2[ITEM_ETAG_MAX];

	ck_assert_int_eq(store_wgroup_open(st), 0);
	ck_assert_int_eq(store_wgroup_begin(st, &e), 0);
	ck_assert_int_eq(store_wgroup_open(st), 1);
	ck_assert_int_eq(store_wgroup_begin(st, &e), -1);
	ck_assert_int_eq(put("t1", "a", "{\"v\":1}"), 201);
	snprintf(e1, sizeof(e1), "%s", res.etag);
	ck_assert_int_eq(stale_write(OP_ROW_PATCH, "t1", "a"), 412);
	ck_assert_int_eq(put("t1", "b", "{\"v\":2}"), 201);
	snprintf(e2, sizeof(e2), "%s", res.etag);
	ck_assert_int_lt(strcmp(e1, e2), 0);
	/* Inside the group, a read sees the group's writes. */
	ck_assert_int_eq(get("t1", "a"), 200);
	ck_assert_int_eq(store_wgroup_commit(st, &e), 0);
	ck_assert_int_eq(store_wgroup_open(st), 0);
	ck_assert_int_eq(get("t1", "a"), 200);
	ck_assert_str_eq(body(), "{\"v\":1}");
	ck_assert_str_eq(res.etag, e1);
	ck_assert_int_eq(get("t1", "b"), 200);
	ck_assert_str_eq(res.etag, e2);

	/* Dropped unwritten. */
	ck_assert_int_eq(store_wgroup_begin(st, &e), 0);
	ck_assert_int_eq(put("t1", "c", "{\"v\":3}"), 201);
	store_wgroup_abort(st);
	ck_assert_int_eq(get("t1", "c"), 404);
	ck_assert_int_eq(store_wgroup_commit(st, &e), -1);

	/* An atomicity group nests inside a write group. */
	ck_assert_int_eq(store_wgroup_begin(st, &e), 0);
	ck_assert_int_eq(store_group_begin(st, &e), 0);
	ck_assert_int_eq(put("t1", "g1", "{}"), 201);
	ck_assert_int_eq(store_group_end(st, 0, &e), 0);
	ck_assert_int_eq(put("t1", "d", "{}"), 201);
	ck_assert_int_eq(store_wgroup_commit(st, &e), 0);
	ck_assert_int_eq(get("t1", "g1"), 404);
	ck_assert_int_eq(get("t1", "d"), 200);
}
END_TEST

/*
 * A full store inside a write group: the write that does not fit answers
 * 507 STORE_FULL and says so (store_overflowed), the writes before it in
 * the group are still committed, reads are still served.
 */
START_TEST(test_wgroup_map_full)
{
	struct err	 e;
	char		*row, key[16];
	int		 i;

	store_reopen(BIG_RESULT, 1);
	store_direct(st, 0);
	ck_assert_int_eq(store_wgroup_begin(st, &e), 0);
	ck_assert_int_eq(put("t1", "small", "{\"v\":1}"), 201);
	ck_assert_int_eq(store_overflowed(st), 0);
	i = put_until_full(&row);
	ck_assert_int_eq(store_overflowed(st), 1);
	ck_assert_int_eq(store_wgroup_commit(st, &e), 0);
	ck_assert_int_eq(get("t1", "small"), 200);
	ck_assert_int_eq(get("t1", "r000"), 200);
	snprintf(key, sizeof(key), "r%03d", i);
	ck_assert_int_eq(get("t1", key), 404);
	free(row);
}
END_TEST

/*
 * Direct writes (the default): a write that fails before changing
 * anything (412) leaves its neighbours and the group usable; one that
 * fails after changing the transaction (the map is full mid-write)
 * poisons the group, which then cannot be committed: nothing of it is
 * written, and the next group works.
 */
START_TEST(test_wgroup_direct_poison)
{
	struct err	 e;
	char		*row;

	store_reopen(BIG_RESULT, 1);
	ck_assert_int_eq(store_wgroup_begin(st, &e), 0);
	ck_assert_int_eq(put("t1", "small", "{\"v\":1}"), 201);
	ck_assert_int_eq(stale_write(OP_ROW_PUT, "t1", "small"), 412);
	ck_assert_int_eq(store_poisoned(st), 0);
	ck_assert_int_eq(put("t1", "small2", "{\"v\":3}"), 201);
	ck_assert_int_eq(store_wgroup_commit(st, &e), 0);
	ck_assert_int_eq(get("t1", "small"), 200);
	ck_assert_str_eq(body(), "{\"v\":1}");

	ck_assert_int_eq(store_wgroup_begin(st, &e), 0);
	ck_assert_int_eq(put("t1", "small3", "{\"v\":4}"), 201);
	put_until_full(&row);
	ck_assert_int_eq(store_poisoned(st), 1);
	ck_assert_int_eq(store_wgroup_commit(st, &e), -1);
	ck_assert_int_eq(store_wgroup_open(st), 0);
	ck_assert_int_eq(store_poisoned(st), 0);
	ck_assert_int_eq(get("t1", "small3"), 404);
	ck_assert_int_eq(get("t1", "r000"), 404);
	ck_assert_int_eq(get("t1", "small2"), 200);
	free(row);
	/* Nested again, as the worker redoes it: the rows that fit are kept. */
	store_direct(st, 0);
	ck_assert_int_eq(store_wgroup_begin(st, &e), 0);
	ck_assert_int_eq(put("t1", "small3", "{\"v\":4}"), 201);
	put_until_full(&row);
	ck_assert_int_eq(store_poisoned(st), 0);
	ck_assert_int_eq(store_overflowed(st), 1);
	ck_assert_int_eq(store_wgroup_commit(st, &e), 0);
	ck_assert_int_eq(get("t1", "small3"), 200);
	ck_assert_int_eq(get("t1", "r000"), 200);
	free(row);
}
END_TEST

/*
 * Shared sync: a commit raises durable_txnid to at least its own txnid;
 * one already covered costs no sync, and the owner word is left free.
 */
START_TEST(test_shared_sync)
{
	struct store_opts	 o;
	_Atomic uint64_t	 durable = 0;
	_Atomic uint32_t	 owner = 0, seq = 0;
	char			 err[256];
	uint32_t		 s0;

	store_close(st);
	st = NULL;
	memset(&o, 0, sizeof(o));
	o.path = dir;
	o.map_size_mb = MAP_MB;
	o.sync = 1;
	o.max_result_bytes = BIG_RESULT;
	o.shared.durable = &durable;
	o.shared.owner = &owner;
	o.shared.seq = &seq;
	o.shared.self = 3;
	ck_assert_msg(store_open(&st, &o, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(put("t1", "a", "{}"), 201);
	ck_assert_uint_gt(atomic_load(&durable), 0);
	ck_assert_uint_eq(atomic_load(&owner), 0);
	s0 = atomic_load(&seq);
	ck_assert_uint_eq(s0, 1);
	/* Covered already (as if another worker's sync had): no sync. */
	atomic_store(&durable, UINT64_MAX - 1);
	ck_assert_int_eq(put("t1", "b", "{}"), 201);
	ck_assert_uint_eq(atomic_load(&seq), s0);
	ck_assert_uint_eq(atomic_load(&durable), UINT64_MAX - 1);
}
END_TEST

/*
 * The durable word (worker/durable.h): a commit of T says T - 1 is on
 * disk, a sync says the txnid read before it is; it never goes down.
 */
START_TEST(test_durable_words)
{
	_Atomic uint64_t	d = 0;

	ck_assert(durable_covers(&d, 0));
	ck_assert(!durable_covers(&d, 1));
	durable_after_commit(&d, 0);
	ck_assert_uint_eq(atomic_load(&d), 0);
	durable_after_commit(&d, 5);
	ck_assert(durable_covers(&d, 4));
	ck_assert(!durable_covers(&d, 5));
	durable_after_commit(&d, 3);
	ck_assert_uint_eq(atomic_load(&d), 4);
	durable_after_sync(&d, 5);
	ck_assert(durable_covers(&d, 5));
	ck_assert(!durable_covers(&d, 6));
	durable_after_sync(&d, 2);
	ck_assert_uint_eq(atomic_load(&d), 5);
}
END_TEST

/* The words of "Shared sync" in memory both processes of a test share. */
struct shared_words {
	_Atomic uint64_t	durable;
	_Atomic uint32_t	owner, child_owner, seq;
};

static void
store_open_shared(struct store **s, _Atomic uint64_t *durable,
    _Atomic uint32_t *owner, _Atomic uint32_t *seq, uint32_t self)
{
	struct store_opts	 o;
	char			 err[256];

	memset(&o, 0, sizeof(o));
	o.path = dir;
	o.map_size_mb = MAP_MB;
	o.sync = 1;
	o.max_result_bytes = BIG_RESULT;
	o.shared.durable = durable;
	o.shared.owner = owner;
	o.shared.seq = seq;
	o.shared.self = self;
	if (store_open(s, &o, err, sizeof(err)) != 0) {
		fprintf(stderr, "store_open: %s\n", err);
		_exit(2);
	}
}

/*
 * A commit is made durable by the next commit of another worker, without
 * a sync: here no worker may sync (the owner word is held by a worker
 * that never finishes), the parent's PUT waits until the child's later
 * commit has flushed its meta page, and nobody syncs (seq unchanged).
 */
START_TEST(test_durable_by_next_commit)
{
	struct shared_words	*w;
	struct item_req		 q;
	pid_t			 pid;
	int			 status;

	w = mmap(NULL, sizeof(*w), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(w, MAP_FAILED);
	memset(w, 0, sizeof(*w));
	atomic_store(&w->owner, 99);
	atomic_store(&w->child_owner, 99);
	store_close(st);
	st = NULL;
	if ((pid = fork()) == 0) {
		struct store	*s2;
		struct item_res	 r;
		int		 i, ok = 0;

		memset(&r, 0, sizeof(r));
		store_open_shared(&s2, &w->durable, &w->child_owner, &w->seq,
		    2);
		/* Wait for the parent's commit, then commit after it. */
		for (i = 0; i < 2000 && !ok; i++) {
			q = req_make(OP_ROW_GET, "t1", "a");
			ok = store_exec(s2, &q, &r) == 0 && r.status == 200;
			if (!ok)
				usleep(5000);
		}
		q = req_make(OP_ROW_PUT, "t1", "b");
		req_body(&q, "{}", 2);
		if (!ok || store_exec(s2, &q, &r) != 0 || r.status != 201)
			_exit(1);
		store_close(s2);
		item_res_free(&r);
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	store_open_shared(&st, &w->durable, &w->owner, &w->seq, 3);
	ck_assert_int_eq(put("t1", "a", "{}"), 201);
	/* Released by the child's commit alone. */
	ck_assert_uint_eq(atomic_load(&w->seq), 0);
	ck_assert_uint_gt(atomic_load(&w->durable), 0);
	/* Now the child's own commit: as if the owner's sync ended. */
	atomic_fetch_add(&w->durable, 1);
	atomic_fetch_add(&w->seq, 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(get("t1", "b"), 200);
	munmap(w, sizeof(*w));
}
END_TEST

/*
 * A write group that changed nothing commits nothing: no txnid to make
 * durable, so no sync, even with nothing durable yet.
 */
START_TEST(test_durable_empty_commit)
{
	_Atomic uint64_t	durable = 0;
	_Atomic uint32_t	owner = 0, seq = 0;
	struct item_req		q;
	struct err		e;

	store_close(st);
	st = NULL;
	store_open_shared(&st, &durable, &owner, &seq, 3);
	ck_assert_int_eq(store_wgroup_begin(st, &e), 0);
	q = req_make(OP_ROW_DELETE, "t1", "missing");
	ck_assert_int_eq(exec(&q), 404);
	ck_assert_int_eq(store_wgroup_commit(st, &e), 0);
	ck_assert_uint_eq(atomic_load(&seq), 0);
	ck_assert_uint_eq(atomic_load(&durable), 0);
	/* A real write: its own commit covers the one before, a sync itself. */
	ck_assert_int_eq(put("t1", "a", "{}"), 201);
	ck_assert_uint_eq(atomic_load(&seq), 1);
	ck_assert_uint_gt(atomic_load(&durable), 1);
}
END_TEST

START_TEST(test_open_errors)
{
	struct store		*s2 = NULL;
	struct store_opts	 o = { .map_size_mb = 16 };
	char			 err[256], path[256];
	FILE			*f;

	err[0] = '\0';
	ck_assert_int_eq(store_open(&s2, &o, err, sizeof(err)), -1);
	ck_assert_ptr_null(s2);
	ck_assert_str_ne(err, "");
	/* A file in the way of the directory. */
	snprintf(path, sizeof(path), "%s/file", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	o.path = path;
	ck_assert_int_eq(store_open(&s2, &o, err, sizeof(err)), -1);
	ck_assert_ptr_null(s2);
	ck_assert(strstr(err, path) != NULL);
	unlink(path);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite	*s = suite_create("store");
	TCase	*rows = tcase_create("rows");
	TCase	*scans = tcase_create("scan");
	TCase	*tables = tcase_create("tables");
	TCase	*txn = tcase_create("transactions");

	tcase_add_checked_fixture(rows, setup, teardown);
	tcase_add_checked_fixture(scans, setup, teardown);
	tcase_add_checked_fixture(tables, setup, teardown);
	tcase_add_checked_fixture(txn, setup, teardown);
	tcase_set_timeout(rows, 60);
	tcase_set_timeout(scans, 60);
	tcase_set_timeout(tables, 60);
	tcase_set_timeout(txn, 60);

	tcase_add_test(rows, test_put_get_replace);
	tcase_add_test(rows, test_get_returns_exact_bytes);
	tcase_add_test(rows, test_put_body_not_object);
	tcase_add_test(rows, test_get_missing);
	tcase_add_test(rows, test_etag_format);
	tcase_add_test(rows, test_etag_changes_on_every_write);
	tcase_add_test(rows, test_get_if_none_match);
	tcase_add_test(rows, test_write_if_match);
	tcase_add_test(rows, test_write_if_none_match);
	tcase_add_test(rows, test_post_with_id);
	tcase_add_test(rows, test_post_generated_key);
	tcase_add_test(rows, test_post_conflict);
	tcase_add_test(rows, test_post_bad_id);
	tcase_add_test(rows, test_patch_merge);
	tcase_add_test(rows, test_patch_errors);
	tcase_add_test(rows, test_delete);
	tcase_add_test(rows, test_unicode_keys);
	tcase_add_test(rows, test_long_keys);
	tcase_add_test(rows, test_big_row);
	tcase_add_test(rows, test_not_store_op);
	tcase_add_test(rows, test_bad_names);

	tcase_add_test(scans, test_scan_paging);
	tcase_add_test(scans, test_scan_prefix_after);
	tcase_add_test(scans, test_scan_missing_table);
	tcase_add_test(scans, test_scan_max_result_bytes);
	tcase_add_test(scans, test_row_larger_than_result);
	tcase_add_test(scans, test_table_iter);

	tcase_add_test(tables, test_tables_list);
	tcase_add_test(tables, test_drop_table);

	tcase_add_test(txn, test_reopen_persists);
	tcase_add_test(txn, test_failed_write_changes_nothing);
	tcase_add_test(txn, test_read_your_writes);
	tcase_add_test(txn, test_sees_other_process_writes);
	tcase_add_test(txn, test_atomicity_group);
	tcase_add_test(txn, test_map_full);
	tcase_add_test(txn, test_wgroup_commit);
	tcase_add_test(txn, test_wgroup_map_full);
	tcase_add_test(txn, test_wgroup_direct_poison);
	tcase_add_test(txn, test_shared_sync);
	tcase_add_test(txn, test_durable_words);
	tcase_add_test(txn, test_durable_by_next_commit);
	tcase_add_test(txn, test_durable_empty_commit);
	tcase_add_test(txn, test_open_errors);
	tcase_add_test(scans, test_key_at_or_past);
	tcase_add_test(txn, test_group_scan_sees_its_pages);

	suite_add_tcase(s, rows);
	suite_add_tcase(s, scans);
	suite_add_tcase(s, tables);
	suite_add_tcase(s, txn);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(store_suite());
	int	 failed;

	snprintf(run_dir, sizeof(run_dir), "/tmp/test_store.XXXXXX");
	if (mkdtemp(run_dir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rm_tree(run_dir);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
