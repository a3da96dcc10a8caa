/*
 * fuzz_query.c - the query language (worker/query/).
 *
 * Each input is query text, optionally followed by a NUL and a timespan
 * ("PT1H").  The whole input (NUL included: a POST body may carry \u0000)
 * goes through the lexer and the parser; then the text before the NUL
 * runs with query_run() over a small in-memory table, so that planning,
 * evaluation and the answer's rendering are fuzzed too.  Checks: errors
 * are QUERY_SYNTAX_ERROR with a "line L, column C: " position; every
 * answer body is one JSON text (by RFC 8259, fuzz_json.h), and valid UTF-8
 * whenever the query text was.  Then the query runs again as a split
 * query (parallel scans): two parts cut where the input's length says,
 * merged, must answer what the one scan answered.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "prefer.h"
#include "query/query_int.h"
#include "fuzz.h"
#include "fuzz_json.h"

/* 2024-01-08T00:00:00Z */
#define FQ_NOW_MS	1704672000000LL

/* Rows in the shapes real tables have: times, strings, numbers, bools,
 * nulls, missing fields, nested values, non-ASCII text. */
static const char *fq_rows[] = {
	"{\"TimeGenerated\":\"2024-01-07T23:30:00Z\",\"Level\":\"Error\","
	"\"Op\":\"write\",\"Caller\":\"ann@x.com\",\"DurationMs\":1200,"
	"\"Success\":false,\"Score\":1.5}",
	"{\"TimeGenerated\":\"2024-01-07T23:10:00.1234567Z\","
	"\"Level\":\"Warning\",\"Op\":\"read\",\"Caller\":\"bob@x.com\","
	"\"DurationMs\":300,\"Success\":true,\"Score\":2.5}",
	"{\"TimeGenerated\":\"2024-01-06T12:00:00+02:00\","
	"\"Level\":\"Informational\",\"Op\":\"write\",\"Caller\":\"bob@x.com\","
	"\"DurationMs\":-120,\"Success\":true,\"Score\":-0.0}",
	"{\"Level\":\"Warning\",\"Op\":\"list\",\"DurationMs\":null,"
	"\"Success\":true,\"Props\":{\"code\":\"OK\",\"n\":[1,2,3]}}",
	"{\"TimeGenerated\":\"yesterday\",\"Level\":\"error\",\"Op\":\"d\\u00e9l\","
	"\"Caller\":\"\\u00c9mile \\u65e5\\u672c \\ud83d\\ude00\","
	"\"DurationMs\":9223372036854775807,\"Score\":1e308,\"Big\":"
	"-9223372036854775808}",
	"{\"TimeGenerated\":5,\"Level\":\"\",\"Op\":\"\\\"q\\\\\\n\","
	"\"DurationMs\":0,\"Score\":0,\"Success\":null,\"Tags\":[\"a\",null]}",
};

/* Table "Cut": stored rows that are not JSON, read in place (each handed
 * out as a heap block of its exact length, so that ASan sees a read past
 * its end). */
static const char *fq_cut_rows[] = {
	"{\"Level\":\"Err",
	"{\"Level\":\"Error\",\"Props\":{\"code\":[1,",
	"{\"Op\":\"a\\",
	"{\"DurationMs\":12,\"Level\":tru",
	"{\"Caller\" \"x\"}",
	"{\"Score\":1.5e",
	"{\"Props\":{\"code\":\"OK\"}} trailing",
};

/* Set when the table "Bad" (one row that is not an object) or "Cut" was
 * read: only then is a 500 the right answer. */
static int	fq_bad_read;

static int
fq_cut_source(store_row_cb cb, void *cbarg, struct err *e)
{
	char	*row;
	size_t	 i, n;
	int	 rc = 0;

	fq_bad_read = 1;
	for (i = 0; i < sizeof(fq_cut_rows) / sizeof(fq_cut_rows[0]) &&
	    rc == 0; i++) {
		n = strlen(fq_cut_rows[i]);
		if ((row = malloc(n + 1)) == NULL)
			return err_set(e, ERR_OUT_OF_MEMORY, "cut row");
		memcpy(row, fq_cut_rows[i], n);
		rc = cb(cbarg, "k", 1, row, n);
		free(row);
	}
	return rc == -1 ? err_set(e, ERR_INTERNAL, "callback failed") : 0;
}

/* A part's rows of the table (arg; NULL: all of them). */
struct fq_range {
	size_t	lo, hi;
};

static int
fq_source(void *arg, const char *table, store_row_cb cb, void *cbarg,
    struct err *e)
{
	const struct fq_range *r = arg;
	char	key[32];
	size_t	i, n = sizeof(fq_rows) / sizeof(fq_rows[0]);
	int	rc;

	if (strcmp(table, "Missing") == 0)
		return err_set(e, ERR_NOT_FOUND, "no table %s", table);
	if (strcmp(table, "Cut") == 0)
		return fq_cut_source(cb, cbarg, e);
	if (strcmp(table, "Bad") == 0) {
		fq_bad_read = 1;
		return cb(cbarg, "k1", 2, "[1,2]", 5) == -1 ?
		    err_set(e, ERR_INTERNAL, "callback failed") : 0;
	}
	for (i = r != NULL ? r->lo : 0; i < (r != NULL ? r->hi : n); i++) {
		snprintf(key, sizeof(key), "k%zu", i + 1);
		rc = cb(cbarg, key, strlen(key), fq_rows[i], strlen(fq_rows[i]));
		if (rc == -1)
			return err_set(e, ERR_INTERNAL, "callback failed");
		if (rc == 1)
			break;
	}
	return 0;
}

static void
fq_check_err(const struct err *e, int text_ok)
{
	if (e->code == ERR_OUT_OF_MEMORY)
		return;
	FUZZ_CHECK(e->code == ERR_QUERY_SYNTAX_ERROR);
	FUZZ_CHECK(strncmp(e->detail, "line ", 5) == 0 &&
	    strstr(e->detail, ", column ") != NULL);
	if (text_ok)
		FUZZ_CHECK(utf8_valid(e->detail, strlen(e->detail)));
}

static void
fq_parse(const char *src, size_t len, int text_ok)
{
	struct qarena	 arena = { NULL, 0 };
	struct qast	 ast;
	struct qtok	*toks;
	size_t		 ntoks, i;
	struct err	 e;

	memset(&e, 0, sizeof(e));
	if (qlex(src, len, &arena, &toks, &ntoks, &e) == 0) {
		FUZZ_CHECK(ntoks >= 1 && toks[ntoks - 1].kind == TK_EOF);
		for (i = 0; i < ntoks; i++) {
			FUZZ_CHECK(toks[i].kind >= TK_EOF &&
			    toks[i].kind < TK__COUNT);
			FUZZ_CHECK(toks[i].line >= 1 && toks[i].col >= 1);
			FUZZ_CHECK(toks[i].p >= src &&
			    toks[i].p + toks[i].n <= src + len);
			FUZZ_CHECK(i + 1 == ntoks || toks[i].kind != TK_EOF);
		}
	} else
		fq_check_err(&e, text_ok);
	qarena_reset(&arena);
	memset(&e, 0, sizeof(e));
	if (qparse(src, len, &arena, &ast, &e) == 0) {
		FUZZ_CHECK(ast.q_table != NULL && ast.q_table[0] != '\0');
		for (i = 0; i < ast.q_nops; i++)
			FUZZ_CHECK(ast.q_ops[i].o_kind >= QO_WHERE &&
			    ast.q_ops[i].o_kind <= QO_DISTINCT);
	} else
		fq_check_err(&e, text_ok);
	qarena_free(&arena);
}

static void
fq_run(const char *q, size_t qlen, const char *ts, size_t tslen, int text_ok)
{
	struct query_limits	 lim = { 1000, 100, 1 << 16, 0 };
	/* Statistics and render objects too: they must be JSON as well. */
	struct query_opts	 opts = { PREFER_STATS | PREFER_RENDER };
	struct item_res		 res;
	struct json_tokener	*tok;
	struct json_object	*o;

	memset(&res, 0, sizeof(res));
	fq_bad_read = 0;
	if (query_run(q, qlen, ts, tslen, &lim, FQ_NOW_MS, fq_source, NULL,
	    &opts, &res) == -1)
		FUZZ_CHECK(res.status == 507);
	FUZZ_CHECK(res.status == 200 || res.status == 400 ||
	    res.status == 404 || res.status == 422 || res.status == 507 ||
	    (res.status == 500 && fq_bad_read));
	FUZZ_CHECK(res.body.len > 0 && res.body.len <= INT32_MAX);
	if (res.status == 200)
		FUZZ_CHECK(res.body.len <= lim.max_result_bytes);
	if (text_ok)
		FUZZ_CHECK(utf8_valid(res.body.data, res.body.len));
	FUZZ_CHECK((tok = json_tokener_new_ex(1024)) != NULL);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, res.body.data, (int)res.body.len);
	if (o == NULL || json_tokener_get_parse_end(tok) != res.body.len)
		fprintf(stderr, "answer is not JSON: %.*s\n",
		    (int)res.body.len, res.body.data);
	FUZZ_CHECK(o != NULL && json_tokener_get_parse_end(tok) ==
	    res.body.len);
	FUZZ_CHECK(fuzz_json_valid(res.body.data, res.body.len));
	json_object_put(o);
	json_tokener_free(tok);
	item_res_free(&res);
}

/* Two JSON values equal, reals to a relative 1e-9 (a split query adds
 * its parts' sums in another order than one scan). */
static int
fq_json_close(struct json_object *a, struct json_object *b)
{
	struct json_object_iterator	 i, e;
	struct json_object		*bv;
	double				 x, y;
	size_t				 k, n;

	if (json_object_get_type(a) != json_object_get_type(b)) {
		if (!json_object_is_type(a, json_type_double) &&
		    !json_object_is_type(b, json_type_double))
			return 0;
	}
	switch (json_object_get_type(a)) {
	case json_type_double:
	case json_type_int:
		x = json_object_get_double(a);
		y = json_object_get_double(b);
		return x == y || fabs(x - y) <= 1e-9 * fmax(fabs(x), fabs(y));
	case json_type_object:
		if (json_object_object_length(a) !=
		    json_object_object_length(b))
			return 0;
		i = json_object_iter_begin(a);
		e = json_object_iter_end(a);
		for (; !json_object_iter_equal(&i, &e);
		    json_object_iter_next(&i))
			if (!json_object_object_get_ex(b,
			    json_object_iter_peek_name(&i), &bv) ||
			    !fq_json_close(json_object_iter_peek_value(&i), bv))
				return 0;
		return 1;
	case json_type_array:
		n = json_object_array_length(a);
		if (n != json_object_array_length(b))
			return 0;
		for (k = 0; k < n; k++)
			if (!fq_json_close(json_object_array_get_idx(a, k),
			    json_object_array_get_idx(b, k)))
				return 0;
		return 1;
	default:
		return json_object_equal(a, b);
	}
}

/*
 * Parallel scans (query_par.c): the query split into two parts at a cut
 * the input picks, and merged, answers what one scan answers - or a
 * part's own answer is (a failing part is the query's answer).
 */
static void
fq_split(const char *q, size_t qlen, const char *ts, size_t tslen,
    size_t cut)
{
	struct query_limits	 lim = { 1000, 100, 1 << 16, 0 };
	struct query_opts	 opts = { 0 };
	struct fq_range		 r[2] = { { 0, cut }, { cut, 0 } };
	struct item_res		 whole, part[2], merged;
	struct route_str	 pb[2];
	struct qpar		 par;
	struct json_object	*a, *b;
	int			 k;

	r[1].hi = sizeof(fq_rows) / sizeof(fq_rows[0]);
	memset(&whole, 0, sizeof(whole));
	memset(part, 0, sizeof(part));
	memset(&merged, 0, sizeof(merged));
	fq_bad_read = 0;
	if (query_run(q, qlen, ts, tslen, &lim, FQ_NOW_MS, fq_source, NULL,
	    &opts, &whole) == -1 || fq_bad_read || whole.status == 404)
		goto out;
	for (k = 0; k < 2; k++) {
		memset(&par, 0, sizeof(par));
		par.p_mode = QPM_PART;
		par.p_index = (uint32_t)k;
		query_run_par(q, qlen, ts, tslen, &lim, FQ_NOW_MS, fq_source,
		    &r[k], &opts, &par, &part[k]);
		if (part[k].status == 507)
			goto out;
		if (part[k].status != 200) {
			FUZZ_CHECK(part[k].status == whole.status &&
			    part[k].body.len == whole.body.len &&
			    memcmp(part[k].body.data, whole.body.data,
			    whole.body.len) == 0);
			goto out;
		}
		pb[k].p = part[k].body.data;
		pb[k].n = part[k].body.len;
	}
	memset(&par, 0, sizeof(par));
	par.p_mode = QPM_MERGE;
	par.p_parts = pb;
	par.p_nparts = 2;
	query_run_par(q, qlen, ts, tslen, &lim, FQ_NOW_MS, fq_source, NULL,
	    &opts, &par, &merged);
	if (merged.status == 507)
		goto out;
	FUZZ_CHECK(merged.status == whole.status);
	if (merged.body.len == whole.body.len &&
	    memcmp(merged.body.data, whole.body.data, whole.body.len) == 0)
		goto out;
	a = json_tokener_parse(whole.body.data);
	b = json_tokener_parse(merged.body.data);
	if (a == NULL || b == NULL || !fq_json_close(a, b))
		fprintf(stderr, "split answer differs:\n  whole  %s\n  "
		    "merged %s\n", whole.body.data, merged.body.data);
	FUZZ_CHECK(a != NULL && b != NULL && fq_json_close(a, b));
	json_object_put(a);
	json_object_put(b);
out:
	item_res_free(&whole);
	item_res_free(&part[0]);
	item_res_free(&part[1]);
	item_res_free(&merged);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*src = (const char *)data, *nul;
	size_t		 qlen = size, tslen = 0;
	const char	*ts = NULL;

	fq_parse(src, size, utf8_valid(src, size));
	if ((nul = memchr(src, '\0', size)) != NULL) {
		qlen = (size_t)(nul - src);
		ts = nul + 1;
		tslen = size - qlen - 1;
	}
	fq_run(src, qlen, ts, tslen, utf8_valid(src, size));
	fq_split(src, qlen, ts, tslen,
	    size % (sizeof(fq_rows) / sizeof(fq_rows[0]) + 1));
	return 0;
}
