/*
 * test_route.c - unit tests for common/route.c: the dispatch table, the
 * path and query decoding, and the URL / UTF-8 helpers.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "route.h"

static struct route	r;
static struct err	e;

/* Resolve a NUL-free target; returns route_resolve's result. */
static int
res(enum route_method m, const char *target)
{
	memset(&e, 0, sizeof(e));
	return route_resolve(m, target, strlen(target), 0, &r, &e);
}

static int
res_debug(enum route_method m, const char *target, int debug_ops)
{
	memset(&e, 0, sizeof(e));
	return route_resolve(m, target, strlen(target), debug_ops, &r, &e);
}

static int
str_is(struct route_str s, const char *want)
{
	return s.p != NULL && s.n == strlen(want) && memcmp(s.p, want, s.n) == 0;
}

/* Resolve, expect success with op, and keep r for the caller to inspect. */
#define OK(m, t, o) do {						\
	ck_assert_msg(res((m), (t)) == 0, "%s: %s (%s)", (t),		\
	    err_name(e.code), e.detail);				\
	ck_assert_int_eq(r.op, (o));					\
} while (0)

/* Resolve, expect failure with code, and check nothing is left. */
#define FAILS(m, t, c) do {						\
	ck_assert_msg(res((m), (t)) == -1, "%s resolved", (t));		\
	ck_assert_msg(e.code == (c), "%s: got %s", (t),		\
	    err_name(e.code));						\
	ck_assert_ptr_null(r.mem);					\
	ck_assert_int_eq(r.op, OP_NONE);				\
} while (0)

static void
teardown(void)
{
	route_free(&r);
}

/* --- every route and operation --- */

START_TEST(test_tables_list)
{
	OK(METHOD_GET, "/v1/workspaces/ws1/tables", OP_TABLES_LIST);
	ck_assert(str_is(r.ws, "ws1"));
	ck_assert_ptr_null(r.table.p);
	ck_assert_ptr_null(r.key.p);
	/* Short decoded strings live in the route itself. */
	ck_assert_ptr_null(r.mem);
	ck_assert(r.ws.p >= r.small && r.ws.p + r.ws.n < r.small +
	    sizeof(r.small));
	route_free(&r);
	OK(METHOD_GET, "/workspaces/ws1/tables", OP_TABLES_LIST);
	ck_assert(str_is(r.ws, "ws1"));
}
END_TEST

/* Long ones (a 512-byte key) are allocated, and freed by route_free. */
START_TEST(test_long_key_allocated)
{
	char	path[700], key[513];

	memset(key, 'k', 512);
	key[512] = '\0';
	snprintf(path, sizeof(path), "/workspaces/w/tables/t/rows/%s", key);
	OK(METHOD_GET, path, OP_ROW_GET);
	ck_assert_ptr_nonnull(r.mem);
	ck_assert(str_is(r.key, key));
	ck_assert(r.key.p >= r.mem && r.key.p < r.mem + 600);
	ck_assert(str_is(r.ws, "w"));
	route_free(&r);
	ck_assert_ptr_null(r.mem);
	ck_assert_ptr_null(r.key.p);
}
END_TEST

START_TEST(test_table_drop)
{
	OK(METHOD_DELETE, "/v1/workspaces/w_1-x/tables/T9", OP_TABLE_DROP);
	ck_assert(str_is(r.ws, "w_1-x"));
	ck_assert(str_is(r.table, "T9"));
	ck_assert_ptr_null(r.key.p);
	route_free(&r);
	OK(METHOD_DELETE, "/workspaces/a/tables/b", OP_TABLE_DROP);
	ck_assert(str_is(r.table, "b"));
}
END_TEST

START_TEST(test_rows_scan_and_create)
{
	OK(METHOD_GET, "/v1/workspaces/ws/tables/t/rows", OP_ROWS_SCAN);
	ck_assert(str_is(r.ws, "ws"));
	ck_assert(str_is(r.table, "t"));
	ck_assert_ptr_null(r.key.p);
	ck_assert_ptr_null(r.prefix.p);
	ck_assert_ptr_null(r.after.p);
	ck_assert_int_eq(r.limit, ROUTE_LIMIT_DEFAULT);
	route_free(&r);
	OK(METHOD_POST, "/workspaces/ws/tables/t/rows", OP_ROW_CREATE);
	ck_assert(str_is(r.table, "t"));
	ck_assert_ptr_null(r.key.p);
}
END_TEST

START_TEST(test_row_ops)
{
	static const struct {
		enum route_method	m;
		enum route_op		op;
	} cases[] = {
		{ METHOD_GET, OP_ROW_GET }, { METHOD_PUT, OP_ROW_PUT },
		{ METHOD_PATCH, OP_ROW_PATCH }, { METHOD_DELETE, OP_ROW_DELETE },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		OK(cases[i].m, "/v1/workspaces/ws/tables/t/rows/k1",
		    cases[i].op);
		ck_assert(str_is(r.ws, "ws"));
		ck_assert(str_is(r.table, "t"));
		ck_assert(str_is(r.key, "k1"));
		/* Strings are NUL-terminated in r->mem. */
		ck_assert_int_eq(r.key.p[r.key.n], '\0');
		route_free(&r);
		OK(cases[i].m, "/workspaces/ws/tables/t/rows/k1", cases[i].op);
		ck_assert(str_is(r.key, "k1"));
		route_free(&r);
	}
}
END_TEST

START_TEST(test_query_get_post)
{
	OK(METHOD_GET, "/v1/workspaces/ws/query?query=T+%7C+take+5"
	    "&timespan=PT1H", OP_QUERY);
	ck_assert(str_is(r.ws, "ws"));
	ck_assert(str_is(r.query, "T | take 5"));
	ck_assert(str_is(r.timespan, "PT1H"));
	ck_assert_ptr_null(r.table.p);
	route_free(&r);

	/* POST takes them from the body: the query string is not read. */
	OK(METHOD_POST, "/workspaces/ws/query?query=x&timespan=P1D", OP_QUERY);
	ck_assert(str_is(r.ws, "ws"));
	ck_assert_ptr_null(r.query.p);
	ck_assert_ptr_null(r.timespan.p);
	route_free(&r);

	OK(METHOD_GET, "/workspaces/ws/query", OP_QUERY);
	ck_assert_ptr_null(r.query.p);
	ck_assert_ptr_null(r.timespan.p);
}
END_TEST

START_TEST(test_query_params_last_wins_unknown_ignored)
{
	OK(METHOD_GET, "/workspaces/ws/query?query=a&junk=%ZZ&query=b"
	    "&&timespan", OP_QUERY);
	ck_assert(str_is(r.query, "b"));
	/* A name without '=' is present with an empty value. */
	ck_assert_ptr_nonnull(r.timespan.p);
	ck_assert_uint_eq(r.timespan.n, 0);
	route_free(&r);

	/* Parameter names are decoded too. */
	OK(METHOD_GET, "/workspaces/ws/query?%71uery=x", OP_QUERY);
	ck_assert(str_is(r.query, "x"));
	route_free(&r);

	/* Scan parameters do not apply to a query, and vice versa. */
	OK(METHOD_GET, "/workspaces/ws/query?limit=abc&prefix=p", OP_QUERY);
	ck_assert_ptr_null(r.prefix.p);
	route_free(&r);
	OK(METHOD_GET, "/workspaces/ws/tables/t/rows?query=q&limit=7",
	    OP_ROWS_SCAN);
	ck_assert_ptr_null(r.query.p);
	ck_assert_int_eq(r.limit, 7);
	route_free(&r);

	/* Other operations ignore the query string altogether. */
	OK(METHOD_GET, "/workspaces/ws/tables/t/rows/k?limit=0", OP_ROW_GET);
	ck_assert(str_is(r.key, "k"));
}
END_TEST

START_TEST(test_query_text_checked)
{
	FAILS(METHOD_GET, "/workspaces/ws/query?query=%", ERR_BAD_REQUEST);
	FAILS(METHOD_GET, "/workspaces/ws/query?query=%FF", ERR_BAD_REQUEST);
	ck_assert_ptr_nonnull(strstr(e.detail, "UTF-8"));
	FAILS(METHOD_GET, "/workspaces/ws/query?timespan=%00", ERR_BAD_REQUEST);
}
END_TEST

START_TEST(test_debug_on)
{
	ck_assert_int_eq(res_debug(METHOD_POST, "/debug/sleep", 1), 0);
	ck_assert_int_eq(r.op, OP_DEBUG_SLEEP);
	route_free(&r);
	ck_assert_int_eq(res_debug(METHOD_POST, "/v1/debug/crash", 1), 0);
	ck_assert_int_eq(r.op, OP_DEBUG_CRASH);
	route_free(&r);
	ck_assert_int_eq(res_debug(METHOD_POST, "/debug/alloc", 1), 0);
	ck_assert_int_eq(r.op, OP_DEBUG_ALLOC);
	route_free(&r);

	ck_assert_int_eq(res_debug(METHOD_GET, "/debug/sleep", 1), -1);
	ck_assert_int_eq(e.code, ERR_METHOD_NOT_ALLOWED);
	ck_assert_str_eq(e.detail, "allowed: POST");
	ck_assert_int_eq(res_debug(METHOD_POST, "/debug/other", 1), -1);
	ck_assert_int_eq(e.code, ERR_PATH_NOT_FOUND);
}
END_TEST

START_TEST(test_debug_off)
{
	ck_assert_int_eq(res_debug(METHOD_POST, "/debug/sleep", 0), -1);
	ck_assert_int_eq(e.code, ERR_PATH_NOT_FOUND);
	ck_assert_int_eq(res_debug(METHOD_POST, "/v1/debug/crash", 0), -1);
	ck_assert_int_eq(e.code, ERR_PATH_NOT_FOUND);
	ck_assert_int_eq(res_debug(METHOD_GET, "/debug/alloc", 0), -1);
	ck_assert_int_eq(e.code, ERR_PATH_NOT_FOUND);
	ck_assert_ptr_null(r.mem);
}
END_TEST

/* --- 404 --- */

START_TEST(test_path_not_found)
{
	static const char *const paths[] = {
		"", "/", "/v1", "/v1/", "workspaces/ws/tables",
		"/workspaces", "/workspaces/ws", "/workspaces/ws/",
		"/workspaces/ws/tables/", "/workspaces//tables",
		"//workspaces/ws/tables", "/workspaces/ws/tables/t/rows/",
		"/workspaces/ws/tables/t/rows/k/", "/workspaces/ws/tables/t/rows//",
		"/workspaces/ws/tables/t/rows/k/extra",
		"/workspaces/ws/tables/t/rows/a/b",
		"/workspaces/ws/tablez", "/Workspaces/ws/tables",
		"/v10/workspaces/ws/tables", "/v1/v1/workspaces/ws/tables",
		"/v2/workspaces/ws/tables", "/workspaces/ws/query/x",
		"/healthz", "/$batches", "/batch", "/v1x",
		/* Literal segments are compared raw, before decoding. */
		"/workspaces/ws/%74ables",
	};
	size_t	i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		FAILS(METHOD_GET, paths[i], ERR_PATH_NOT_FOUND);
	FAILS(METHOD_GET, "/nope?x=1", ERR_PATH_NOT_FOUND);
	ck_assert_str_eq(e.detail, "no operation at \"/nope\"");
	FAILS(METHOD_GET, "/v1/nope", ERR_PATH_NOT_FOUND);
	ck_assert_str_eq(e.detail, "no operation at \"/v1/nope\"");
}
END_TEST

START_TEST(test_not_found_detail_is_safe)
{
	char	 big[4096];
	char	 bin[] = "/x\0\n\"\xff y";
	size_t	 i;

	/* A long path is cut to fit; the detail stays NUL-terminated. */
	big[0] = '/';
	for (i = 1; i < sizeof(big); i++)
		big[i] = 'a';
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(route_resolve(METHOD_GET, big, sizeof(big), 0, &r,
	    &e), -1);
	ck_assert_int_eq(e.code, ERR_PATH_NOT_FOUND);
	ck_assert_uint_lt(strlen(e.detail), sizeof(e.detail));
	ck_assert_ptr_nonnull(strstr(e.detail, "...\""));

	/* Control bytes, NUL and non-UTF-8 bytes are shown escaped. */
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(route_resolve(METHOD_GET, bin, sizeof(bin) - 1, 0,
	    &r, &e), -1);
	ck_assert_int_eq(e.code, ERR_PATH_NOT_FOUND);
	ck_assert_str_eq(e.detail, "no operation at \"/x%00%0A\"%FF%20y\"");
	ck_assert_ptr_null(r.mem);
}
END_TEST

/* --- 405 --- */

START_TEST(test_method_not_allowed)
{
	FAILS(METHOD_PUT, "/v1/workspaces/ws/tables", ERR_METHOD_NOT_ALLOWED);
	ck_assert_str_eq(e.detail, "allowed: GET");
	FAILS(METHOD_GET, "/workspaces/ws/tables/t", ERR_METHOD_NOT_ALLOWED);
	ck_assert_str_eq(e.detail, "allowed: DELETE");
	FAILS(METHOD_DELETE, "/workspaces/ws/tables/t/rows",
	    ERR_METHOD_NOT_ALLOWED);
	ck_assert_str_eq(e.detail, "allowed: GET, POST");
	FAILS(METHOD_PUT, "/workspaces/ws/tables/t/rows",
	    ERR_METHOD_NOT_ALLOWED);
	FAILS(METHOD_POST, "/workspaces/ws/tables/t/rows/k",
	    ERR_METHOD_NOT_ALLOWED);
	ck_assert_str_eq(e.detail, "allowed: GET, PUT, PATCH, DELETE");
	FAILS(METHOD_DELETE, "/workspaces/ws/query", ERR_METHOD_NOT_ALLOWED);
	ck_assert_str_eq(e.detail, "allowed: GET, POST");
	/* An out-of-range method is never allowed. */
	FAILS((enum route_method)99, "/workspaces/ws/tables",
	    ERR_METHOD_NOT_ALLOWED);
	FAILS((enum route_method)-1, "/workspaces/ws/tables",
	    ERR_METHOD_NOT_ALLOWED);
	/* The method is checked before the names. */
	FAILS(METHOD_PUT, "/workspaces/../tables", ERR_METHOD_NOT_ALLOWED);
}
END_TEST

/* --- nested batches --- */

START_TEST(test_nested_batch)
{
	static const char *const paths[] = {
		"/$batch", "/v1/$batch", "/batches", "/v1/batches",
		"/batches/", "/batches/abc", "/v1/batches/abc/x//y",
		"/$batch?x=1", "/%24batch", "/v1/batches?offset=1",
	};
	size_t	i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		FAILS(METHOD_POST, paths[i], ERR_NESTED_BATCH_NOT_ALLOWED);
		FAILS(METHOD_GET, paths[i], ERR_NESTED_BATCH_NOT_ALLOWED);
	}
	FAILS(METHOD_POST, "/$batch/x", ERR_PATH_NOT_FOUND);
	FAILS(METHOD_POST, "/v10/batches", ERR_PATH_NOT_FOUND);
	FAILS(METHOD_POST, "/workspaces/ws/batches", ERR_PATH_NOT_FOUND);
}
END_TEST

/* --- names --- */

START_TEST(test_bad_names)
{
	char	path[256];

	FAILS(METHOD_GET, "/workspaces/../tables", ERR_BAD_REQUEST);
	ck_assert_str_eq(e.detail, "invalid workspace name");
	FAILS(METHOD_GET, "/workspaces/./tables", ERR_BAD_REQUEST);
	ck_assert_str_eq(e.detail, "invalid workspace name");
	FAILS(METHOD_GET, "/workspaces/%2E%2E/tables", ERR_BAD_REQUEST);
	FAILS(METHOD_GET, "/workspaces/a%2Fb/tables", ERR_BAD_REQUEST);
	FAILS(METHOD_GET, "/workspaces/a%00/tables", ERR_BAD_REQUEST);
	FAILS(METHOD_GET, "/workspaces/a+b/tables", ERR_BAD_REQUEST);
	FAILS(METHOD_GET, "/workspaces/caf%C3%A9/tables", ERR_BAD_REQUEST);
	FAILS(METHOD_GET, "/workspaces/%/tables", ERR_BAD_REQUEST);
	ck_assert_str_eq(e.detail, "invalid workspace name");
	FAILS(METHOD_DELETE, "/workspaces/ws/tables/..", ERR_BAD_REQUEST);
	ck_assert_str_eq(e.detail, "invalid table name");
	FAILS(METHOD_GET, "/workspaces/ws/tables/t.x/rows/k", ERR_BAD_REQUEST);
	ck_assert_str_eq(e.detail, "invalid table name");

	/* 64 characters are allowed, 65 are not. */
	snprintf(path, sizeof(path), "/workspaces/%064d/tables", 0);
	OK(METHOD_GET, path, OP_TABLES_LIST);
	ck_assert_uint_eq(r.ws.n, 64);
	route_free(&r);
	snprintf(path, sizeof(path), "/workspaces/%065d/tables", 0);
	FAILS(METHOD_GET, path, ERR_BAD_REQUEST);

	/* Names are decoded before they are checked. */
	OK(METHOD_GET, "/workspaces/%41b/tables", OP_TABLES_LIST);
	ck_assert(str_is(r.ws, "Ab"));
}
END_TEST

/* --- keys --- */

START_TEST(test_key_encoded_slash)
{
	OK(METHOD_GET, "/v1/workspaces/ws/tables/t/rows/a%2Fb%2f..", OP_ROW_GET);
	ck_assert(str_is(r.key, "a/b/.."));
	route_free(&r);
	/* '+' stays '+' in a path. */
	OK(METHOD_PUT, "/workspaces/ws/tables/t/rows/a+b%20c", OP_ROW_PUT);
	ck_assert(str_is(r.key, "a+b c"));
	route_free(&r);
	/* A key of "." or ".." is just a key. */
	OK(METHOD_GET, "/workspaces/ws/tables/t/rows/..", OP_ROW_GET);
	ck_assert(str_is(r.key, ".."));
	route_free(&r);
	/* "?" ends the path: the key does not include the query. */
	OK(METHOD_GET, "/workspaces/ws/tables/t/rows/k%3F1?x=y", OP_ROW_GET);
	ck_assert(str_is(r.key, "k?1"));
}
END_TEST

START_TEST(test_key_unicode)
{
	OK(METHOD_GET, "/workspaces/ws/tables/t/rows/"
	    "caf%C3%A9-%E2%82%AC-%F0%9F%98%80", OP_ROW_GET);
	ck_assert(str_is(r.key, "caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80"));
	route_free(&r);
	/* Raw (unencoded) UTF-8 is accepted too. */
	OK(METHOD_GET, "/workspaces/ws/tables/t/rows/\xc3\xa9", OP_ROW_GET);
	ck_assert(str_is(r.key, "\xc3\xa9"));
}
END_TEST

START_TEST(test_key_length)
{
	char	 path[64 + 3 * 600];
	size_t	 o, i;
	const char *pre = "/workspaces/ws/tables/t/rows/";

	o = strlen(pre);
	memcpy(path, pre, o);
	for (i = 0; i < 512; i++)
		path[o + i] = 'k';
	path[o + 512] = '\0';
	OK(METHOD_PUT, path, OP_ROW_PUT);
	ck_assert_uint_eq(r.key.n, 512);
	route_free(&r);

	path[o + 512] = 'k';
	path[o + 513] = '\0';
	FAILS(METHOD_PUT, path, ERR_BAD_REQUEST);
	ck_assert_str_eq(e.detail, "key must be 1 to 512 bytes");

	/* The limit is on decoded bytes: 512 "%41" is 512 bytes. */
	for (i = 0; i < 512; i++)
		memcpy(path + o + 3 * i, "%41", 3);
	path[o + 3 * 512] = '\0';
	OK(METHOD_GET, path, OP_ROW_GET);
	ck_assert_uint_eq(r.key.n, 512);
	ck_assert_int_eq(r.key.p[511], 'A');
	route_free(&r);
	memcpy(path + o + 3 * 512, "%41", 4);
	FAILS(METHOD_GET, path, ERR_BAD_REQUEST);
}
END_TEST

START_TEST(test_key_invalid)
{
	static const char *const keys[] = {
		"%FF", "%C0%AF", "%E0%80%AF", "%ED%A0%80", "%F4%90%80%80",
		"%C3", "a%E2%82", "%80", "\xff",
	};
	char	path[128];
	size_t	i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(path, sizeof(path), "/workspaces/ws/tables/t/rows/%s",
		    keys[i]);
		FAILS(METHOD_GET, path, ERR_BAD_REQUEST);
	}
	/* SPEC 1: a key is any characters, U+0000 included. */
	ck_assert_int_eq(route_resolve(METHOD_GET,
	    "/workspaces/ws/tables/t/rows/a%00b", 34, 0, &r, &e), 0);
	ck_assert_uint_eq(r.key.n, 3);
	ck_assert_int_eq(memcmp(r.key.p, "a\0b", 3), 0);
	route_free(&r);
	FAILS(METHOD_GET, "/workspaces/ws/tables/t/rows/%FF", ERR_BAD_REQUEST);
	ck_assert_str_eq(e.detail, "key is not valid UTF-8");
}
END_TEST

START_TEST(test_bad_escapes)
{
	static const char *const keys[] = { "%", "%G1", "%2", "a%", "%%41",
	    "%1G", "%g0" };
	char	path[128];
	size_t	i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(path, sizeof(path), "/workspaces/ws/tables/t/rows/%s",
		    keys[i]);
		FAILS(METHOD_DELETE, path, ERR_BAD_REQUEST);
		ck_assert_str_eq(e.detail, "malformed percent escape in key");
	}
	FAILS(METHOD_GET, "/workspaces/ws/tables/t/rows?prefix=%2",
	    ERR_BAD_REQUEST);
	ck_assert_str_eq(e.detail, "malformed percent escape in prefix");
	FAILS(METHOD_GET, "/workspaces/ws/tables/t/rows?after=%G1",
	    ERR_BAD_REQUEST);
	FAILS(METHOD_GET, "/workspaces/ws/tables/t/rows?limit=%",
	    ERR_BAD_REQUEST);
	FAILS(METHOD_GET, "/workspaces/%G1/tables", ERR_BAD_REQUEST);
}
END_TEST

START_TEST(test_nul_in_target)
{
	static const char t1[] = "/workspaces/ws/tables/t/rows/a\0b";
	static const char t2[] = "/workspaces/w\0s/tables";
	static const char t3[] = "/workspaces/ws/tables\0";

	memset(&e, 0, sizeof(e));
	/* A raw NUL inside a key is a character of the key (SPEC 1). */
	ck_assert_int_eq(route_resolve(METHOD_GET, t1, sizeof(t1) - 1, 0, &r,
	    &e), 0);
	ck_assert_uint_eq(r.key.n, 3);
	route_free(&r);
	ck_assert_int_eq(route_resolve(METHOD_GET, t2, sizeof(t2) - 1, 0, &r,
	    &e), -1);
	ck_assert_int_eq(e.code, ERR_BAD_REQUEST);
	ck_assert_int_eq(route_resolve(METHOD_GET, t3, sizeof(t3) - 1, 0, &r,
	    &e), -1);
	ck_assert_int_eq(e.code, ERR_PATH_NOT_FOUND);
	/* len is obeyed: bytes past it are never looked at. */
	ck_assert_int_eq(route_resolve(METHOD_GET, t3, sizeof(t3) - 2, 0, &r,
	    &e), 0);
	ck_assert_int_eq(r.op, OP_TABLES_LIST);
	route_free(&r);
	ck_assert_int_eq(route_resolve(METHOD_GET, NULL, 0, 0, &r, &e), -1);
	ck_assert_int_eq(e.code, ERR_PATH_NOT_FOUND);
}
END_TEST

/* --- scan parameters --- */

static void
limit_ok(const char *q, long want)
{
	char	path[128];

	snprintf(path, sizeof(path), "/workspaces/ws/tables/t/rows?%s", q);
	OK(METHOD_GET, path, OP_ROWS_SCAN);
	ck_assert_int_eq(r.limit, want);
	route_free(&r);
}

static void
limit_bad(const char *q)
{
	char	path[128];

	snprintf(path, sizeof(path), "/workspaces/ws/tables/t/rows?%s", q);
	FAILS(METHOD_GET, path, ERR_BAD_REQUEST);
	ck_assert_str_eq(e.detail, "limit must be an integer from 1 to 1000");
}

START_TEST(test_limit)
{
	limit_ok("limit=1", 1);
	limit_ok("limit=1000", 1000);
	limit_ok("limit=57", 57);
	limit_ok("limit=0010", 10);
	limit_ok("limit=%35", 5);
	limit_ok("limit=5&limit=9", 9);
	limit_ok("x=1", ROUTE_LIMIT_DEFAULT);
	limit_ok("", ROUTE_LIMIT_DEFAULT);
	limit_bad("limit=0");
	limit_bad("limit=1001");
	limit_bad("limit=-1");
	limit_bad("limit=abc");
	limit_bad("limit=10x");
	limit_bad("limit=");
	limit_bad("limit");
	limit_bad("limit=+5");
	limit_bad("limit=5+");
	limit_bad("limit=1e3");
	limit_bad("limit=99999999999999999999999");
	limit_bad("limit=9&limit=0");
}
END_TEST

START_TEST(test_prefix_after)
{
	char	path[2048];
	size_t	o, i;

	OK(METHOD_GET, "/v1/workspaces/ws/tables/t/rows?prefix=a+b%2Bc"
	    "&after=x%20y+z&limit=20", OP_ROWS_SCAN);
	ck_assert(str_is(r.prefix, "a b+c"));
	ck_assert(str_is(r.after, "x y z"));
	ck_assert_int_eq(r.limit, 20);
	ck_assert_int_eq(r.prefix.p[r.prefix.n], '\0');
	route_free(&r);

	OK(METHOD_GET, "/workspaces/ws/tables/t/rows?after=%C3%A9&prefix=",
	    OP_ROWS_SCAN);
	ck_assert(str_is(r.after, "\xc3\xa9"));
	ck_assert_ptr_nonnull(r.prefix.p);
	ck_assert_uint_eq(r.prefix.n, 0);
	route_free(&r);

	/* '&' and '=' encoded inside a value are data. */
	OK(METHOD_GET, "/workspaces/ws/tables/t/rows?prefix=a%26b%3Dc=d",
	    OP_ROWS_SCAN);
	ck_assert(str_is(r.prefix, "a&b=c=d"));
	route_free(&r);

	FAILS(METHOD_GET, "/workspaces/ws/tables/t/rows?prefix=%FF",
	    ERR_BAD_REQUEST);
	FAILS(METHOD_GET, "/workspaces/ws/tables/t/rows?after=%ED%A0%80",
	    ERR_BAD_REQUEST);
	OK(METHOD_GET, "/workspaces/ws/tables/t/rows?after=a%00",
	    OP_ROWS_SCAN);
	ck_assert_uint_eq(r.after.n, 2);
	route_free(&r);

	/* 512 decoded bytes are allowed, 513 are not. */
	o = (size_t)snprintf(path, sizeof(path),
	    "/workspaces/ws/tables/t/rows?prefix=");
	for (i = 0; i < 512; i++)
		path[o + i] = '+';
	path[o + 512] = '\0';
	OK(METHOD_GET, path, OP_ROWS_SCAN);
	ck_assert_uint_eq(r.prefix.n, 512);
	ck_assert_int_eq(r.prefix.p[0], ' ');
	route_free(&r);
	path[o + 512] = 'x';
	path[o + 513] = '\0';
	FAILS(METHOD_GET, path, ERR_BAD_REQUEST);
	ck_assert_str_eq(e.detail, "prefix must be at most 512 bytes");
}
END_TEST

/* --- names of things --- */

START_TEST(test_method_names)
{
	ck_assert_int_eq(route_method("GET", 3), METHOD_GET);
	ck_assert_int_eq(route_method("PUT", 3), METHOD_PUT);
	ck_assert_int_eq(route_method("POST", 4), METHOD_POST);
	ck_assert_int_eq(route_method("PATCH", 5), METHOD_PATCH);
	ck_assert_int_eq(route_method("DELETE", 6), METHOD_DELETE);
	ck_assert_int_eq(route_method("get", 3), -1);
	ck_assert_int_eq(route_method("GETX", 4), -1);
	ck_assert_int_eq(route_method("GET", 2), -1);
	ck_assert_int_eq(route_method("GET\0", 4), -1);
	ck_assert_int_eq(route_method("HEAD", 4), -1);
	ck_assert_int_eq(route_method("", 0), -1);
	ck_assert_int_eq(route_method(NULL, 3), -1);
	ck_assert_str_eq(route_method_name(METHOD_GET), "GET");
	ck_assert_str_eq(route_method_name(METHOD_PATCH), "PATCH");
	ck_assert_str_eq(route_method_name(METHOD_DELETE), "DELETE");
	ck_assert_str_eq(route_method_name((enum route_method)42), "UNKNOWN");
}
END_TEST

START_TEST(test_op_names_and_writes)
{
	int	op;

	ck_assert_str_eq(route_op_name(OP_ROW_GET), "row.get");
	ck_assert_str_eq(route_op_name(OP_TABLES_LIST), "tables.list");
	ck_assert_str_eq(route_op_name(OP_QUERY), "query");
	ck_assert_str_eq(route_op_name(OP_DEBUG_ALLOC), "debug.alloc");
	ck_assert_str_eq(route_op_name((enum route_op)999), "unknown");
	for (op = 0; op < OP__COUNT; op++) {
		int want = op == OP_TABLE_DROP || op == OP_ROW_CREATE ||
		    op == OP_ROW_PUT || op == OP_ROW_PATCH ||
		    op == OP_ROW_DELETE || op == OP_GROUP ||
		    op == OP_ASYNC_SAVE || op == OP_ASYNC_GET ||
		    op == OP_ASYNC_PURGE;

		ck_assert_int_eq(route_op_writes((enum route_op)op), want);
		ck_assert_ptr_nonnull(route_op_name((enum route_op)op));
	}
	ck_assert_int_eq(route_op_writes((enum route_op)-1), 0);
}
END_TEST

/* --- helpers --- */

START_TEST(test_url_decode)
{
	char	out[32];

	ck_assert_int_eq(url_decode("a%20b+c", 7, out, 0), 5);
	ck_assert_int_eq(memcmp(out, "a b+c", 5), 0);
	ck_assert_int_eq(url_decode("a%20b+c", 7, out, 1), 5);
	ck_assert_int_eq(memcmp(out, "a b c", 5), 0);
	ck_assert_int_eq(url_decode("%2f%2F%00", 9, out, 0), 3);
	ck_assert_int_eq(memcmp(out, "//\0", 3), 0);
	ck_assert_int_eq(url_decode("", 0, out, 0), 0);
	ck_assert_int_eq(url_decode("%", 1, out, 0), -1);
	ck_assert_int_eq(url_decode("%2", 2, out, 0), -1);
	ck_assert_int_eq(url_decode("%G1", 3, out, 0), -1);
	ck_assert_int_eq(url_decode("%1G", 3, out, 0), -1);
	/* The length bounds the read: "%41" cut at 2 bytes is malformed. */
	ck_assert_int_eq(url_decode("%41", 2, out, 0), -1);
}
END_TEST

START_TEST(test_url_encode_roundtrip)
{
	static const char key[] = "a/b?c#d&e %\xe2\x82\xac";
	struct buf	 b = BUF_INIT;
	char		 all[256], out[256];
	int		 i;

	ck_assert_int_eq(url_encode_segment(&b, "aZ0-._~", 7), 0);
	ck_assert_str_eq(b.data, "aZ0-._~");
	buf_reset(&b);
	ck_assert_int_eq(url_encode_segment(&b, "a/b c+%\xc3\xa9", 9), 0);
	ck_assert_str_eq(b.data, "a%2Fb%20c%2B%25%C3%A9");
	buf_reset(&b);

	for (i = 0; i < 256; i++)
		all[i] = (char)i;
	ck_assert_int_eq(url_encode_segment(&b, all, sizeof(all)), 0);
	ck_assert_ptr_null(memchr(b.data, '/', b.len));
	ck_assert_int_eq(url_decode(b.data, b.len, out, 0), 256);
	ck_assert_int_eq(memcmp(out, all, 256), 0);
	ck_assert_int_eq(url_decode(b.data, b.len, out, 1), 256);
	ck_assert_int_eq(memcmp(out, all, 256), 0);
	buf_free(&b);

	/* An encoded key routes back to the same key. */
	ck_assert_int_eq(buf_puts(&b, "/v1/workspaces/ws/tables/t/rows/"), 0);
	ck_assert_int_eq(url_encode_segment(&b, key, strlen(key)), 0);
	OK(METHOD_GET, b.data, OP_ROW_GET);
	ck_assert(str_is(r.key, key));
	buf_free(&b);
}
END_TEST

START_TEST(test_utf8_valid)
{
	ck_assert_int_eq(utf8_valid("", 0), 1);
	ck_assert_int_eq(utf8_valid("plain ascii", 11), 1);
	ck_assert_int_eq(utf8_valid("\x00", 1), 1);
	ck_assert_int_eq(utf8_valid("\xc2\x80", 2), 1);		/* U+0080 */
	ck_assert_int_eq(utf8_valid("\xdf\xbf", 2), 1);		/* U+07FF */
	ck_assert_int_eq(utf8_valid("\xe0\xa0\x80", 3), 1);	/* U+0800 */
	ck_assert_int_eq(utf8_valid("\xed\x9f\xbf", 3), 1);	/* U+D7FF */
	ck_assert_int_eq(utf8_valid("\xee\x80\x80", 3), 1);	/* U+E000 */
	ck_assert_int_eq(utf8_valid("\xef\xbf\xbf", 3), 1);	/* U+FFFF */
	ck_assert_int_eq(utf8_valid("\xf0\x90\x80\x80", 4), 1);	/* U+10000 */
	ck_assert_int_eq(utf8_valid("\xf4\x8f\xbf\xbf", 4), 1);	/* U+10FFFF */

	ck_assert_int_eq(utf8_valid("\x80", 1), 0);		/* lone cont. */
	ck_assert_int_eq(utf8_valid("\xbf", 1), 0);
	ck_assert_int_eq(utf8_valid("\xc0\x80", 2), 0);		/* overlong */
	ck_assert_int_eq(utf8_valid("\xc1\xbf", 2), 0);
	ck_assert_int_eq(utf8_valid("\xe0\x9f\xbf", 3), 0);
	ck_assert_int_eq(utf8_valid("\xf0\x8f\xbf\xbf", 4), 0);
	ck_assert_int_eq(utf8_valid("\xed\xa0\x80", 3), 0);	/* U+D800 */
	ck_assert_int_eq(utf8_valid("\xed\xbf\xbf", 3), 0);	/* U+DFFF */
	ck_assert_int_eq(utf8_valid("\xf4\x90\x80\x80", 4), 0);	/* >10FFFF */
	ck_assert_int_eq(utf8_valid("\xf5\x80\x80\x80", 4), 0);
	ck_assert_int_eq(utf8_valid("\xff", 1), 0);
	ck_assert_int_eq(utf8_valid("\xfe", 1), 0);
	ck_assert_int_eq(utf8_valid("\xc3", 1), 0);		/* truncated */
	ck_assert_int_eq(utf8_valid("\xe2\x82", 2), 0);
	ck_assert_int_eq(utf8_valid("\xf0\x9f\x98", 3), 0);
	ck_assert_int_eq(utf8_valid("\xc3\x41", 2), 0);		/* bad cont. */
	ck_assert_int_eq(utf8_valid("\xe2\x82\x41", 3), 0);
	/* The length bounds the read: a valid sequence cut short fails. */
	ck_assert_int_eq(utf8_valid("\xe2\x82\xac", 2), 0);
	ck_assert_int_eq(utf8_valid("\xe2\x82\xac", 3), 1);
}
END_TEST

/* ASCII is skipped eight bytes at a time: a bad or good sequence is seen
 * wherever it falls in or after such a run, and nothing past the length
 * is read. */
START_TEST(test_utf8_valid_runs)
{
	static const struct {
		const char	*seq;
		int		 ok;
	} t[] = {
		{ "\xff", 0 }, { "\x80", 0 }, { "\xc0\xaf", 0 },
		{ "\xed\xa0\x80", 0 }, { "\xc3", 0 },
		{ "\xc3\xa9", 1 }, { "\xe2\x82\xac", 1 },
		{ "\xf0\x9f\x98\x80", 1 },
	};
	char	s[64];
	size_t	pre, post, k, n;

	for (k = 0; k < sizeof(t) / sizeof(t[0]); k++)
		for (pre = 0; pre <= 20; pre++)
			for (post = 0; post <= 9; post++) {
				n = strlen(t[k].seq);
				memset(s, 'a', sizeof(s));
				memcpy(s + pre, t[k].seq, n);
				ck_assert_msg(utf8_valid(s, pre + n + post) ==
				    t[k].ok, "seq %zu after %zu, %zu after",
				    k, pre, post);
			}
	/* A bad byte just past the length is not looked at. */
	memset(s, 'a', sizeof(s));
	s[16] = '\xff';
	ck_assert_int_eq(utf8_valid(s, 16), 1);
	ck_assert_int_eq(utf8_valid(s, 17), 0);
}
END_TEST

/* Pseudo-random byte soup: no crash, no leak, a coherent answer. */
START_TEST(test_garbage)
{
	static const char alphabet[] = "/%?&=+.v1$batchesworkspacerowquy"
	    "tbl2F0\xff\xc3\xa9";
	char		 t[64];
	unsigned	 seed = 12345, k;
	size_t		 i, n;
	int		 rc;

	for (k = 0; k < 20000; k++) {
		seed = seed * 1103515245u + 12345u;
		n = (seed >> 8) % sizeof(t);
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			t[i] = (seed >> 12) % 4 == 0 ? (char)(seed >> 16) :
			    alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		memset(&e, 0, sizeof(e));
		rc = route_resolve((enum route_method)(k % METHOD__COUNT), t, n,
		    (int)(k & 1), &r, &e);
		if (rc == 0) {
			ck_assert_int_ne(r.op, OP_NONE);
			route_free(&r);
		} else {
			ck_assert_int_eq(rc, -1);
			ck_assert_int_ne(e.code, ERR_NONE);
			ck_assert_ptr_null(r.mem);
		}
	}
}
END_TEST

static Suite *
route_suite(void)
{
	Suite	*s = suite_create("route");
	TCase	*tc;

	tc = tcase_create("routes");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_tables_list);
	tcase_add_test(tc, test_long_key_allocated);
	tcase_add_test(tc, test_table_drop);
	tcase_add_test(tc, test_rows_scan_and_create);
	tcase_add_test(tc, test_row_ops);
	tcase_add_test(tc, test_query_get_post);
	tcase_add_test(tc, test_query_params_last_wins_unknown_ignored);
	tcase_add_test(tc, test_query_text_checked);
	tcase_add_test(tc, test_debug_on);
	tcase_add_test(tc, test_debug_off);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_path_not_found);
	tcase_add_test(tc, test_not_found_detail_is_safe);
	tcase_add_test(tc, test_method_not_allowed);
	tcase_add_test(tc, test_nested_batch);
	tcase_add_test(tc, test_bad_names);
	tcase_add_test(tc, test_nul_in_target);
	tcase_add_test(tc, test_garbage);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_key_encoded_slash);
	tcase_add_test(tc, test_key_unicode);
	tcase_add_test(tc, test_key_length);
	tcase_add_test(tc, test_key_invalid);
	tcase_add_test(tc, test_bad_escapes);
	suite_add_tcase(s, tc);

	tc = tcase_create("params");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_limit);
	tcase_add_test(tc, test_prefix_after);
	suite_add_tcase(s, tc);

	tc = tcase_create("helpers");
	tcase_add_test(tc, test_method_names);
	tcase_add_test(tc, test_op_names_and_writes);
	tcase_add_test(tc, test_url_decode);
	tcase_add_test(tc, test_url_encode_roundtrip);
	tcase_add_test(tc, test_utf8_valid);
	tcase_add_test(tc, test_utf8_valid_runs);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(route_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
