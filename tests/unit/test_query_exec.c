/*
 * test_query_exec.c - unit tests for the executor of worker/query/
 * (query_exec.c, query_plan.c, query_ops.c, query_render.c) and
 * query_eval.c: whole queries over small in-memory tables (the
 * row-source entry point query_run), with every expected answer worked
 * out by hand from the rows below, and query_exec() itself over a real
 * store.
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prefer.h"
#include "query/query_int.h"

/* 2024-01-08T00:00:00Z */
#define NOW_MS	1704672000000LL

/*
 * The table T.  Keys are k1..k8 in this order.  Score is missing from k5
 * and k7; k7 has no TimeGenerated and no Caller, a null DurationMs and an
 * object; k8's Level is lower case.
 */
static const char *t_rows[] = {
	"{\"TimeGenerated\":\"2024-01-07T23:30:00Z\",\"Level\":\"Error\","
	"\"Op\":\"write\",\"Caller\":\"ann@x.com\",\"DurationMs\":1200,"
	"\"Success\":false,\"Score\":1.5}",
	"{\"TimeGenerated\":\"2024-01-07T23:10:00Z\",\"Level\":\"Warning\","
	"\"Op\":\"read\",\"Caller\":\"bob@x.com\",\"DurationMs\":300,"
	"\"Success\":true,\"Score\":2.5}",
	"{\"TimeGenerated\":\"2024-01-07T22:45:00Z\","
	"\"Level\":\"Informational\",\"Op\":\"read\",\"Caller\":\"ann@x.com\","
	"\"DurationMs\":50,\"Success\":true,\"Score\":0.5}",
	"{\"TimeGenerated\":\"2024-01-07T20:00:00Z\",\"Level\":\"Error\","
	"\"Op\":\"delete\",\"Caller\":\"cid@y.org\",\"DurationMs\":4000,"
	"\"Success\":false,\"Score\":3}",
	"{\"TimeGenerated\":\"2024-01-06T12:00:00Z\","
	"\"Level\":\"Informational\",\"Op\":\"write\",\"Caller\":\"bob@x.com\","
	"\"DurationMs\":120,\"Success\":true}",
	"{\"TimeGenerated\":\"2024-01-01T00:00:00Z\","
	"\"Level\":\"Informational\",\"Op\":\"read\",\"Caller\":\"ann@x.com\","
	"\"DurationMs\":80,\"Success\":true,\"Score\":1}",
	"{\"Level\":\"Warning\",\"Op\":\"list\",\"DurationMs\":null,"
	"\"Success\":true,\"Props\":{\"code\":\"OK\",\"n\":[1,2,3]}}",
	"{\"TimeGenerated\":\"2024-01-07T23:59:00Z\",\"Level\":\"error\","
	"\"Op\":\"write\",\"Caller\":\"Dan@X.com\",\"DurationMs\":700,"
	"\"Success\":false,\"Score\":2}",
};

/* U: TimeGenerated in every shape the timespan filter must handle. */
static const char *u_rows[] = {
	"{\"TimeGenerated\":\"yesterday\",\"n\":1}",
	"{\"TimeGenerated\":null,\"n\":2}",
	"{\"TimeGenerated\":\"2024-01-07T23:30:00Z\",\"n\":3}",
	"{\"n\":4}",
	"{\"TimeGenerated\":5,\"n\":5}",
	"{\"TimeGenerated\":\"2024-01-07T22:59:59Z\",\"n\":6}",
};

static const char *bad_rows[] = { "[1,2]" };

/* Lazy: rows whose bytes after "a" are not JSON.  A query reads a row
 * only as far as it must: where a == 1 drops the damaged rows before b
 * is looked for, and count reads no field at all. */
static const char *lazy_rows[] = {
	"{\"a\":2,\"b\":\"x",
	"{\"a\":1,\"b\":\"ok\",\"c\":3}",
	"{\"a\":3,\"b\":{\"c\":[1,}",
	"{\"a\":4,garbage",
};

/* G: a field name that makes naive wildcard matching exponential. */
static const char *g_rows[] = {
	"{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1,"
	"\"b\":2}",
};

static const struct {
	const char	 *name;
	const char	**rows;
	size_t		  n;
} tables[] = {
	{ "T", t_rows, sizeof(t_rows) / sizeof(t_rows[0]) },
	{ "U", u_rows, sizeof(u_rows) / sizeof(u_rows[0]) },
	{ "Bad", bad_rows, 1 },
	{ "Lazy", lazy_rows, sizeof(lazy_rows) / sizeof(lazy_rows[0]) },
	{ "G", g_rows, 1 },
};

static size_t			delivered;	/* rows handed out */
static struct item_res		res;
static struct query_limits	lim;
static struct query_opts	opts;	/* the run's Prefer flags */
static char			text[8192];

/* Gen: up to 20 million rows, each with its own 100-byte k. */
static int
gen_source(store_row_cb cb, void *cbarg, struct err *e)
{
	char	row[160];
	size_t	i;
	int	n, rc;

	for (i = 0; i < 20000000; i++) {
		n = snprintf(row, sizeof(row), "{\"k\":\"%0100zu\"}", i);
		delivered++;
		if ((rc = cb(cbarg, "k", 1, row, (size_t)n)) == -1)
			return err_set(e, ERR_INTERNAL, "callback failed");
		if (rc == 1)
			break;
	}
	return 0;
}

/* Cut: the first cut_len bytes of CUT_ROW, in a heap block of exactly
 * that size (AddressSanitizer sees a read past the row's end). */
#define CUT_ROW	"{\"a\":1,\"s\":\"x\\\"y\\u0041\",\"P\":{\"st\":\"ok\"," \
		"\"n\":[1,{\"m\":2.5e1}]},\"b\":true,\"z\":null}"
static size_t	cut_len;

static int
cut_source(store_row_cb cb, void *cbarg, struct err *e)
{
	char	*row;
	int	 rc;

	if ((row = malloc(cut_len + 1)) == NULL)
		return err_set(e, ERR_OUT_OF_MEMORY, "cut row");
	memcpy(row, CUT_ROW, cut_len);
	delivered++;
	rc = cb(cbarg, "k1", 2, row, cut_len);
	free(row);
	return rc == -1 ? err_set(e, ERR_INTERNAL, "callback failed") : 0;
}

static int
mem_source(void *arg, const char *table, store_row_cb cb, void *cbarg,
    struct err *e)
{
	size_t	t, i;
	char	key[32];
	int	rc;

	if (strcmp(table, "Broken") == 0)
		return err_set(e, ERR_INTERNAL, "disk on fire");
	if (strcmp(table, "Gen") == 0)
		return gen_source(cb, cbarg, e);
	if (strcmp(table, "Cut") == 0)
		return cut_source(cb, cbarg, e);
	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		if (strcmp(tables[t].name, table) == 0)
			break;
	if (t == sizeof(tables) / sizeof(tables[0]))
		return err_set(e, ERR_NOT_FOUND, "no table %s", table);
	for (i = 0; i < tables[t].n; i++) {
		snprintf(key, sizeof(key), "k%zu", i + 1);
		delivered++;
		rc = cb(cbarg, key, strlen(key), tables[t].rows[i],
		    strlen(tables[t].rows[i]));
		if (rc == -1)
			return err_set(e, ERR_INTERNAL, "callback failed");
		if (rc == 1)
			break;
	}
	return 0;
}

static void
setup(void)
{
	memset(&res, 0, sizeof(res));
	lim.max_rows_scanned = 1000;
	lim.max_result_rows = 1000;
	lim.max_result_bytes = 1 << 20;
	opts.prefer = 0;
}

static void
teardown(void)
{
	item_res_free(&res);
}

static int
run_ts(const char *q, const char *ts)
{
	delivered = 0;
	item_res_reset(&res);
	return query_run(q, strlen(q), ts, ts != NULL ? strlen(ts) : 0, &lim,
	    NOW_MS, mem_source, NULL, &opts, &res);
}

/* Run q; expect 200. */
static void
ok(const char *q)
{
	ck_assert_int_eq(run_ts(q, NULL), 0);
	ck_assert_msg(res.status == 200, "%s: %d %s", q, res.status,
	    res.body.data);
}

/* The part of the answer between begin and end (exclusive). */
static const char *
part(const char *begin, const char *end)
{
	const char	*a, *b;

	a = strstr(res.body.data, begin);
	ck_assert_msg(a != NULL, "no %s in %s", begin, res.body.data);
	a += strlen(begin);
	b = end != NULL ? strstr(a, end) : a + strlen(a) - 3;
	ck_assert_msg(b != NULL, "no %s in %s", end, res.body.data);
	snprintf(text, sizeof(text), "%.*s", (int)(b - a), a);
	return text;
}

static const char *
rows_of(void)
{
	return part("\"rows\":", NULL);
}

static const char *
cols_of(void)
{
	return part("\"columns\":", ",\"rows\":");
}

#define ROWS(q, want) do {						\
	ok(q);								\
	ck_assert_msg(strcmp(rows_of(), (want)) == 0,			\
	    "%s\n  rows: %s\n  want: %s", (q), text, (want));		\
} while (0)

#define COLS(q, want) do {						\
	ok(q);								\
	ck_assert_msg(strcmp(cols_of(), (want)) == 0,			\
	    "%s\n  columns: %s\n  want: %s", (q), text, (want));	\
} while (0)

/* Expect an error answer: status, code, and a piece of the detail. */
#define FAILS(q, ts, st, code, detail) do {				\
	ck_assert_int_eq(run_ts((q), (ts)), 0);				\
	ck_assert_msg(res.status == (st), "%s: %d %s", (q), res.status,	\
	    res.body.data);						\
	ck_assert_msg(strstr(res.body.data, "\"code\":\"" code "\"") !=	\
	    NULL, "%s: %s", (q), res.body.data);			\
	ck_assert_msg(strstr(res.body.data, (detail)) != NULL,		\
	    "%s: %s lacks %s", (q), res.body.data, (detail));		\
} while (0)

/* ---- where ------------------------------------------------------------- */

START_TEST(test_where_compare)
{
	ROWS("T | where Level == \"Error\" | project Op",
	    "[[\"write\"],[\"delete\"]]");
	ROWS("T | where Level != \"Error\" | count", "[[6]]");
	ROWS("T | where DurationMs > 250 and Level != \"Error\" | project Op, "
	    "DurationMs", "[[\"read\",300],[\"write\",700]]");
	ROWS("T | where DurationMs > 1000 or Success == true | count", "[[7]]");
	ROWS("T | where DurationMs >= 1200 | count", "[[2]]");
	ROWS("T | where DurationMs <= 80 | count", "[[2]]");
	ROWS("T | where DurationMs < 80 | count", "[[1]]");
	ROWS("T | where not(Success) | project Op",
	    "[[\"write\"],[\"delete\"],[\"write\"]]");
	/* long and real compare as numbers. */
	ROWS("T | where Score > 1.5 | count", "[[3]]");
	ROWS("T | where Score == 3 | project Op", "[[\"delete\"]]");
	ROWS("T | where Score == 3.0 | project Op", "[[\"delete\"]]");
	ROWS("T | where DurationMs between (100 .. 700) | count", "[[3]]");
	/* k7's null DurationMs is neither between nor not between. */
	ROWS("T | where DurationMs !between (100 .. 700) | count", "[[4]]");
	ROWS("T | where Op in (\"read\", \"list\") | count", "[[4]]");
	ROWS("T | where Op !in (\"read\", \"list\") | count", "[[4]]");
	ROWS("T | where Level in~ (\"ERROR\") | count", "[[3]]");
	ROWS("T | where DurationMs in (50, 80) | project Op",
	    "[[\"read\"],[\"read\"]]");
	ROWS("T | where isnull(DurationMs) | project Op", "[[\"list\"]]");
	ROWS("T | where isnull(Caller) | project Op", "[[\"list\"]]");
	ROWS("T | where isnotnull(Score) | count", "[[6]]");
	ROWS("T | where isempty(Caller) | count", "[[1]]");
	ROWS("T | where isnotempty(Caller) | count", "[[7]]");
	/* Arithmetic inside a predicate. */
	ROWS("T | where DurationMs * 2 + 100 > 2000 | project Op",
	    "[[\"write\"],[\"delete\"]]");
	ROWS("T | where DurationMs % 100 == 50 | project DurationMs",
	    "[[50]]");
}
END_TEST

START_TEST(test_where_strings)
{
	ROWS("T | where Level =~ \"error\" | count", "[[3]]");
	ROWS("T | where Level !~ \"error\" | count", "[[5]]");
	ROWS("T | where Level contains \"ERR\" | count", "[[3]]");
	ROWS("T | where Level contains_cs \"Err\" | count", "[[2]]");
	ROWS("T | where Level !contains \"err\" | count", "[[5]]");
	ROWS("T | where Caller startswith \"ANN\" | count", "[[3]]");
	ROWS("T | where Caller startswith_cs \"ANN\" | count", "[[0]]");
	/* k7 has no Caller: as "", it does not start with "ann". */
	ROWS("T | where Caller !startswith \"ann\" | count", "[[5]]");
	ROWS("T | where Caller endswith \"@x.com\" | count", "[[6]]");
	ROWS("T | where Caller endswith_cs \"@x.com\" | count", "[[5]]");
	ROWS("T | where Caller has \"x\" | count", "[[6]]");
	ROWS("T | where Caller has \"an\" | count", "[[0]]");
	ROWS("T | where Caller has \"ann\" | count", "[[3]]");
	ROWS("T | where Caller has_cs \"X\" | count", "[[1]]");
	ROWS("T | where Caller == \"\" | project Op", "[[\"list\"]]");
	ROWS("T | where Caller != \"ann@x.com\" | count", "[[5]]");
	/* String operators read any value as text. */
	ROWS("T | where DurationMs startswith \"12\" | project DurationMs",
	    "[[1200],[120]]");
}
END_TEST

START_TEST(test_where_time)
{
	ROWS("T | where TimeGenerated > ago(1h) | project Op",
	    "[[\"write\"],[\"read\"],[\"write\"]]");
	ROWS("T | where TimeGenerated < datetime(2024-01-02) | project Op",
	    "[[\"read\"]]");
	ROWS("T | where TimeGenerated >= \"2024-01-07T23:00:00Z\" | count",
	    "[[3]]");
	ROWS("T | where TimeGenerated between (datetime(2024-01-06) .. "
	    "datetime(2024-01-07T21:00:00Z)) | project Op",
	    "[[\"delete\"],[\"write\"]]");
	ROWS("T | where now() - TimeGenerated < 30m | project Op",
	    "[[\"write\"]]");
	ROWS("T | where TimeGenerated > now(-1d) | count", "[[5]]");
	ROWS("T | where TimeGenerated + 1d > now() | count", "[[5]]");
	ROWS("T | where startofday(TimeGenerated) == datetime(2024-01-06) | "
	    "project Op", "[[\"write\"]]");
	ROWS("T | where TimeGenerated > ago(2h) and TimeGenerated < ago(30m) "
	    "| project Op", "[[\"read\"],[\"read\"]]");
}
END_TEST

START_TEST(test_timespan_filter)
{
	ck_assert_int_eq(run_ts("T | project Op", "PT1H"), 0);
	ck_assert_int_eq(res.status, 200);
	/* k7 has no TimeGenerated: it is not filtered. */
	ck_assert_str_eq(rows_of(),
	    "[[\"write\"],[\"read\"],[\"list\"],[\"write\"]]");
	ck_assert_int_eq(run_ts("T | count", "P1D"), 0);
	ck_assert_str_eq(rows_of(), "[[6]]");
	/* Both ends are inclusive: k1 is exactly 30 minutes old. */
	ck_assert_int_eq(run_ts("T | count", "PT30M"), 0);
	ck_assert_str_eq(rows_of(), "[[3]]");
	ck_assert_int_eq(run_ts("T | count", "P1DT12H"), 0);
	ck_assert_str_eq(rows_of(), "[[7]]");
	ck_assert_int_eq(run_ts("T | count", "P1W"), 0);
	ck_assert_str_eq(rows_of(), "[[8]]");
	ck_assert_int_eq(run_ts("T | count", "PT0.5H"), 0);
	ck_assert_str_eq(rows_of(), "[[3]]");
	ck_assert_int_eq(run_ts("T | project Op",
	    "2024-01-06T00:00:00Z/2024-01-07T00:00:00Z"), 0);
	ck_assert_str_eq(rows_of(), "[[\"write\"],[\"list\"]]");
	ck_assert_int_eq(run_ts("T | count", "2024-01-07T23:00:00Z/PT1H"), 0);
	ck_assert_str_eq(rows_of(), "[[4]]");
	ck_assert_int_eq(run_ts("T | count", "PT1H/2024-01-07T23:31:00Z"), 0);
	ck_assert_str_eq(rows_of(), "[[4]]");	/* k1, k2, k3, k7 */
	/* An empty timespan is no timespan. */
	ck_assert_int_eq(run_ts("T | count", ""), 0);
	ck_assert_str_eq(rows_of(), "[[8]]");
	/* Null and missing TimeGenerated pass; anything not a time does
	 * not. */
	ck_assert_int_eq(run_ts("U | project n", "PT1H"), 0);
	ck_assert_str_eq(rows_of(), "[[2],[3],[4]]");
	FAILS("T | count", "P1Y", 400, "BAD_REQUEST", "invalid timespan");
	FAILS("T | count", "P1M", 400, "BAD_REQUEST", "PT1H");
	FAILS("T | count", "PT", 400, "BAD_REQUEST", "invalid timespan");
	FAILS("T | count", "1h", 400, "BAD_REQUEST", "invalid timespan");
	FAILS("T | count", "P1H", 400, "BAD_REQUEST", "invalid timespan");
	FAILS("T | count", "P-1D", 400, "BAD_REQUEST", "invalid timespan");
	FAILS("T | count", "PT1H2D", 400, "BAD_REQUEST", "invalid timespan");
	FAILS("T | count", "2024-01-02T00:00:00Z/2024-01-01T00:00:00Z", 400,
	    "BAD_REQUEST", "invalid timespan");
	/* The timespan is checked before the query. */
	FAILS("T | where", "P1Y", 400, "BAD_REQUEST", "invalid timespan");
}
END_TEST

/* ---- project, extend, project-away, project-rename --------------------- */

START_TEST(test_project_extend)
{
	COLS("T | project Caller, D2 = DurationMs * 2 | take 2",
	    "[{\"name\":\"Caller\",\"type\":\"string\"},"
	    "{\"name\":\"D2\",\"type\":\"long\"}]");
	ck_assert_str_eq(rows_of(), "[[\"ann@x.com\",2400],[\"bob@x.com\",600]]");
	ROWS("T | extend Slow = DurationMs > 1000 | project Op, Slow | take 3",
	    "[[\"write\",true],[\"read\",false],[\"read\",false]]");
	/* Items of one extend see the ones before them. */
	ROWS("T | extend a = 1, b = a + 1 | project a, b | take 1", "[[1,2]]");
	ROWS("T | extend DurationMs = DurationMs * 10 | project DurationMs | "
	    "take 2", "[[12000],[3000]]");
	/* Extending a stored field replaces it; extended columns come
	 * after the stored ones. */
	COLS("T | take 1 | extend Level = \"X\"",
	    "[{\"name\":\"TimeGenerated\",\"type\":\"datetime\"},"
	    "{\"name\":\"Op\",\"type\":\"string\"},"
	    "{\"name\":\"Caller\",\"type\":\"string\"},"
	    "{\"name\":\"DurationMs\",\"type\":\"long\"},"
	    "{\"name\":\"Success\",\"type\":\"bool\"},"
	    "{\"name\":\"Score\",\"type\":\"real\"},"
	    "{\"name\":\"Level\",\"type\":\"string\"}]");
	ck_assert_str_eq(rows_of(), "[[\"2024-01-07T23:30:00Z\",\"write\","
	    "\"ann@x.com\",1200,false,1.5,\"X\"]]");
	/* Extend on fixed columns. */
	ROWS("T | project a = DurationMs | extend b = a + 1, a = 0 | take 1",
	    "[[0,1201]]");
}
END_TEST

START_TEST(test_project_away_rename)
{
	COLS("T | where Op == \"list\" | project-away Level, Op, Success",
	    "[{\"name\":\"DurationMs\",\"type\":\"dynamic\"},"
	    "{\"name\":\"Props\",\"type\":\"dynamic\"}]");
	ck_assert_str_eq(rows_of(),
	    "[[null,\"{\\\"code\\\":\\\"OK\\\",\\\"n\\\":[1,2,3]}\"]]");
	/* Wildcards: every field with an 'e' goes. */
	COLS("T | project-away *e*, Props | take 1",
	    "[{\"name\":\"Op\",\"type\":\"string\"},"
	    "{\"name\":\"DurationMs\",\"type\":\"long\"}]");
	ck_assert_str_eq(rows_of(), "[[\"write\",1200]]");
	ROWS("T | project a = 1, b = 2 | project-away a | take 1", "[[2]]");
	FAILS("T | project a = 1 | project-away zz", NULL, 400,
	    "QUERY_SYNTAX_ERROR", "line 1, column 34: unknown column 'zz'");
	/* A removed field cannot be used afterwards. */
	FAILS("T | project-away Level | where Level == 1", NULL, 400,
	    "QUERY_SYNTAX_ERROR", "line 1, column 32: unknown column 'Level'");
	ROWS("T | take 1 | project-rename Who = Caller | project Who, Op",
	    "[[\"ann@x.com\",\"write\"]]");
	COLS("T | project Op, Caller | project-rename C = Caller | take 1",
	    "[{\"name\":\"Op\",\"type\":\"string\"},"
	    "{\"name\":\"C\",\"type\":\"string\"}]");
	/* The old name of a renamed stored field is gone. */
	COLS("T | take 1 | project-rename Who = Caller | project-away Time*, "
	    "Level, Op, DurationMs, Success, Score",
	    "[{\"name\":\"Who\",\"type\":\"string\"}]");
	FAILS("T | project Op | project-rename C = Caller", NULL, 400,
	    "QUERY_SYNTAX_ERROR", "line 1, column 37: unknown column 'Caller'");
	FAILS("T | project a = 1, b = 2 | project-rename a = b", NULL, 400,
	    "QUERY_SYNTAX_ERROR", "two columns named 'a'");
	ROWS("G | project-away a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
	    "[[1,2]]");
	ROWS("G | project-away a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a",
	    "[[2]]");
	ROWS("G | project-away *b*", "[[1]]");
}
END_TEST

START_TEST(test_auto_names)
{
	COLS("T | project DurationMs + 1, Level, DurationMs * 2 | take 1",
	    "[{\"name\":\"Column1\",\"type\":\"long\"},"
	    "{\"name\":\"Level\",\"type\":\"string\"},"
	    "{\"name\":\"Column2\",\"type\":\"long\"}]");
	ck_assert_str_eq(rows_of(), "[[1201,\"Error\",2400]]");
	COLS("T | project Op, Op | take 1",
	    "[{\"name\":\"Op\",\"type\":\"string\"},"
	    "{\"name\":\"Op1\",\"type\":\"string\"}]");
	COLS("T | where Op == \"list\" | project Props.code, Props.n[1], "
	    "Props[\"code\"]",
	    "[{\"name\":\"Props_code\",\"type\":\"string\"},"
	    "{\"name\":\"Column1\",\"type\":\"long\"},"
	    "{\"name\":\"Column2\",\"type\":\"string\"}]");
	ck_assert_str_eq(rows_of(), "[[\"OK\",2,\"OK\"]]");
	COLS("T | summarize count(), sum(DurationMs), avg(Score), "
	    "min(TimeGenerated), max(Op), dcount(Caller), countif(Success), "
	    "count(), sum(DurationMs * 2) by Level, bin(TimeGenerated, 1d), "
	    "strlen(Op) | take 0",
	    "[{\"name\":\"Level\",\"type\":\"dynamic\"},"
	    "{\"name\":\"TimeGenerated\",\"type\":\"dynamic\"},"
	    "{\"name\":\"Op\",\"type\":\"long\"},"
	    "{\"name\":\"count_\",\"type\":\"long\"},"
	    "{\"name\":\"sum_DurationMs\",\"type\":\"dynamic\"},"
	    "{\"name\":\"avg_Score\",\"type\":\"real\"},"
	    "{\"name\":\"min_TimeGenerated\",\"type\":\"dynamic\"},"
	    "{\"name\":\"max_Op\",\"type\":\"dynamic\"},"
	    "{\"name\":\"dcount_Caller\",\"type\":\"long\"},"
	    "{\"name\":\"countif_\",\"type\":\"long\"},"
	    "{\"name\":\"count_1\",\"type\":\"long\"},"
	    "{\"name\":\"sum_DurationMs1\",\"type\":\"dynamic\"}]");
	ck_assert_str_eq(rows_of(), "[]");
	COLS("T | summarize n = count() * 2",
	    "[{\"name\":\"n\",\"type\":\"long\"}]");
	ck_assert_str_eq(rows_of(), "[[16]]");
	COLS("T | summarize count() * 2",
	    "[{\"name\":\"Column1\",\"type\":\"long\"}]");
}
END_TEST

/* ---- summarize --------------------------------------------------------- */

START_TEST(test_summarize_aggregates)
{
	COLS("T | summarize count() by Level",
	    "[{\"name\":\"Level\",\"type\":\"string\"},"
	    "{\"name\":\"count_\",\"type\":\"long\"}]");
	/* Groups come in first-seen order. */
	ck_assert_str_eq(rows_of(), "[[\"Error\",2],[\"Warning\",2],"
	    "[\"Informational\",3],[\"error\",1]]");
	COLS("T | summarize n = count(), total = sum(DurationMs), "
	    "mx = max(DurationMs), mn = min(DurationMs), a = avg(DurationMs), "
	    "d = dcount(Caller) by Level",
	    "[{\"name\":\"Level\",\"type\":\"string\"},"
	    "{\"name\":\"n\",\"type\":\"long\"},"
	    "{\"name\":\"total\",\"type\":\"long\"},"
	    "{\"name\":\"mx\",\"type\":\"long\"},"
	    "{\"name\":\"mn\",\"type\":\"long\"},"
	    "{\"name\":\"a\",\"type\":\"real\"},"
	    "{\"name\":\"d\",\"type\":\"long\"}]");
	/* Warning: k7's null DurationMs and missing Caller count for
	 * count() only. */
	ck_assert_str_eq(rows_of(), "[[\"Error\",2,5200,4000,1200,2600,2],"
	    "[\"Warning\",2,300,300,300,300,1],"
	    "[\"Informational\",3,250,120,50,83.33333333333333,2],"
	    "[\"error\",1,700,700,700,700,1]]");
	ROWS("T | summarize e = countif(Level =~ \"error\"), "
	    "s = sumif(DurationMs, Success), av = avgif(DurationMs, Success), "
	    "dc = dcountif(Caller, Success)", "[[3,550,137.5,2]]");
	COLS("T | summarize pct = 100.0 * countif(Success) / count()",
	    "[{\"name\":\"pct\",\"type\":\"real\"}]");
	ck_assert_str_eq(rows_of(), "[[62.5]]");
	ROWS("T | summarize min(Op), max(Op), min(TimeGenerated), "
	    "max(TimeGenerated)", "[[\"delete\",\"write\","
	    "\"2024-01-01T00:00:00Z\",\"2024-01-07T23:59:00Z\"]]");
	COLS("T | summarize sum(Score)",
	    "[{\"name\":\"sum_Score\",\"type\":\"real\"}]");
	ck_assert_str_eq(rows_of(), "[[10.5]]");
	/* 30m + 50m + 1h15m + 4h + 1d12h + 7d + 1m */
	COLS("T | summarize s = sum(now() - TimeGenerated)",
	    "[{\"name\":\"s\",\"type\":\"timespan\"}]");
	ck_assert_str_eq(rows_of(), "[[\"8.18:36:00\"]]");
	ROWS("T | summarize count() by Op, Success",
	    "[[\"write\",false,2],[\"read\",true,3],[\"delete\",false,1],"
	    "[\"write\",true,1],[\"list\",true,1]]");
	ROWS("T | summarize dcount(Op), dcount(Level), dcount(Score)",
	    "[[4,4,6]]");
}
END_TEST

START_TEST(test_summarize_empty_and_bins)
{
	/* Without by an empty input still gives one row, with Kusto's
	 * defaults. */
	COLS("T | where Level == \"nope\" | summarize count(), "
	    "sum(DurationMs), avg(DurationMs), dcount(Op), max(Op)",
	    "[{\"name\":\"count_\",\"type\":\"long\"},"
	    "{\"name\":\"sum_DurationMs\",\"type\":\"long\"},"
	    "{\"name\":\"avg_DurationMs\",\"type\":\"real\"},"
	    "{\"name\":\"dcount_Op\",\"type\":\"long\"},"
	    "{\"name\":\"max_Op\",\"type\":\"dynamic\"}]");
	ck_assert_str_eq(rows_of(), "[[0,0,null,0,null]]");
	ROWS("T | where Level == \"nope\" | summarize count() by Level", "[]");
	COLS("T | where isnotnull(TimeGenerated) | summarize count() by "
	    "bin(TimeGenerated, 1d)",
	    "[{\"name\":\"TimeGenerated\",\"type\":\"datetime\"},"
	    "{\"name\":\"count_\",\"type\":\"long\"}]");
	ck_assert_str_eq(rows_of(), "[[\"2024-01-07T00:00:00Z\",5],"
	    "[\"2024-01-06T00:00:00Z\",1],[\"2024-01-01T00:00:00Z\",1]]");
	ROWS("T | summarize c = count() by h = bin(TimeGenerated, 1h) | "
	    "where h >= datetime(2024-01-07T22:00:00Z)",
	    "[[\"2024-01-07T23:00:00Z\",3],[\"2024-01-07T22:00:00Z\",1]]");
	ROWS("T | summarize count() by bin(DurationMs, 1000)",
	    "[[1000,1],[0,5],[4000,1],[null,1]]");
	ROWS("T | summarize count() by floor(Score, 1.0)",
	    "[[1,2],[2,2],[0,1],[3,1],[null,2]]");
	/* 7d bins start on Mondays (2024-01-01 is one). */
	ROWS("T | where isnotnull(TimeGenerated) | summarize count() by "
	    "bin(TimeGenerated, 7d)", "[[\"2024-01-01T00:00:00Z\",7]]");
	ROWS("T | summarize by Success", "[[false],[true]]");
}
END_TEST

START_TEST(test_summarize_errors)
{
	FAILS("T | summarize Level", NULL, 400, "QUERY_SYNTAX_ERROR",
	    "line 1, column 15: column 'Level' must be inside an aggregation");
	FAILS("T | summarize x = 1", NULL, 400, "QUERY_SYNTAX_ERROR",
	    "line 1, column 15: expected an aggregation such as count()");
	FAILS("T | where count() > 1", NULL, 400, "QUERY_SYNTAX_ERROR",
	    "line 1, column 11: aggregation count() is only allowed in "
	    "summarize");
	FAILS("T | extend c = sum(DurationMs)", NULL, 400, "QUERY_SYNTAX_ERROR",
	    "line 1, column 16: aggregation sum() is only allowed");
	FAILS("T | summarize sum(count())", NULL, 400, "QUERY_SYNTAX_ERROR",
	    "line 1, column 19: aggregation count() inside an aggregation");
	FAILS("T | summarize count() by Level | where Op == \"x\"", NULL, 400,
	    "QUERY_SYNTAX_ERROR", "line 1, column 40: unknown column 'Op'");
	FAILS("T | count | project Level", NULL, 400, "QUERY_SYNTAX_ERROR",
	    "line 1, column 21: unknown column 'Level'");
	FAILS("T | where 1 + 2", NULL, 400, "QUERY_SYNTAX_ERROR",
	    "line 1, column 13: where needs a bool predicate, not a long");
	FAILS("T | where \"x\"", NULL, 400, "QUERY_SYNTAX_ERROR",
	    "line 1, column 11: where needs a bool predicate, not a string");
	/* A stored field's type is known only row by row. */
	ROWS("T | where Success | count", "[[5]]");
	ROWS("T | where Op | count", "[[0]]");
}
END_TEST

/* ---- sort, top, take --------------------------------------------------- */

START_TEST(test_sort)
{
	ROWS("T | sort by DurationMs asc | project DurationMs",
	    "[[null],[50],[80],[120],[300],[700],[1200],[4000]]");
	ROWS("T | sort by DurationMs | project DurationMs",
	    "[[4000],[1200],[700],[300],[120],[80],[50],[null]]");
	ROWS("T | order by DurationMs desc nulls first | project DurationMs "
	    "| take 2", "[[null],[4000]]");
	ROWS("T | sort by DurationMs asc nulls last | project DurationMs | "
	    "take 8", "[[50],[80],[120],[300],[700],[1200],[4000],[null]]");
	ROWS("T | sort by Level asc, DurationMs desc | project Level, "
	    "DurationMs", "[[\"Error\",4000],[\"Error\",1200],"
	    "[\"Informational\",120],[\"Informational\",80],"
	    "[\"Informational\",50],[\"Warning\",300],[\"Warning\",null],"
	    "[\"error\",700]]");
	/* Ties keep the order of arrival. */
	ROWS("T | sort by Success asc | project Op", "[[\"write\"],"
	    "[\"delete\"],[\"write\"],[\"read\"],[\"read\"],[\"write\"],"
	    "[\"read\"],[\"list\"]]");
	ROWS("T | sort by TimeGenerated asc | project Op | take 2",
	    "[[\"list\"],[\"read\"]]");
	ROWS("T | sort by strlen(Op) asc, Op asc | project Op | take 3",
	    "[[\"list\"],[\"read\"],[\"read\"]]");
}
END_TEST

START_TEST(test_top_take)
{
	ROWS("T | top 3 by DurationMs | project Op, DurationMs",
	    "[[\"delete\",4000],[\"write\",1200],[\"write\",700]]");
	ROWS("T | top 2 by DurationMs asc | project Op",
	    "[[\"list\"],[\"read\"]]");
	ROWS("T | top 2 by Op asc nulls last | project Op",
	    "[[\"delete\"],[\"list\"]]");
	ROWS("T | top 3 by Success asc | project Op",
	    "[[\"write\"],[\"delete\"],[\"write\"]]");
	ROWS("T | top 100 by DurationMs asc | count", "[[8]]");
	ROWS("T | top 0 by DurationMs | count", "[[0]]");
	/* sort then take is a top: same answer, whole table read. */
	ROWS("T | sort by DurationMs | take 2 | project Op",
	    "[[\"delete\"],[\"write\"]]");
	ck_assert_uint_eq(delivered, 8);
	/* take stops the scan. */
	ROWS("T | take 3 | project Op", "[[\"write\"],[\"read\"],[\"read\"]]");
	ck_assert_uint_eq(delivered, 3);
	ROWS("T | where Level == \"Informational\" | take 1 | project Op",
	    "[[\"read\"]]");
	ck_assert_uint_eq(delivered, 3);
	ROWS("T | take 0", "[]");
	ck_assert_uint_eq(delivered, 1);
	ROWS("T | limit 2 | count", "[[2]]");
	ck_assert_uint_eq(delivered, 2);
	ROWS("T | take 5 | take 2 | project Op", "[[\"write\"],[\"read\"]]");
	ck_assert_uint_eq(delivered, 2);
	/* take after a buffering stage takes from its output. */
	ROWS("T | summarize count() by Level | take 2",
	    "[[\"Error\",2],[\"Warning\",2]]");
	ck_assert_uint_eq(delivered, 8);
}
END_TEST

/* ---- count, distinct --------------------------------------------------- */

START_TEST(test_count_distinct)
{
	ok("T | count");
	ck_assert_str_eq(res.body.data, "{\"tables\":[{\"name\":"
	    "\"PrimaryResult\",\"columns\":[{\"name\":\"Count\",\"type\":"
	    "\"long\"}],\"rows\":[[8]]}]}");
	ROWS("T | where Level == \"Error\" | count", "[[2]]");
	ROWS("T | take 0 | count", "[[0]]");
	ROWS("T | distinct Op",
	    "[[\"write\"],[\"read\"],[\"delete\"],[\"list\"]]");
	ROWS("T | distinct Level, Success", "[[\"Error\",false],"
	    "[\"Warning\",true],[\"Informational\",true],[\"error\",false]]");
	ROWS("T | project Op | distinct *",
	    "[[\"write\"],[\"read\"],[\"delete\"],[\"list\"]]");
	ROWS("T | distinct * | count", "[[8]]");
	/* Level, Op, Success: k6 repeats k3. */
	ROWS("T | project-away TimeGenerated, Caller, Score, Props, "
	    "DurationMs | distinct * | count", "[[7]]");
	/* distinct streams: take stops the scan. */
	ROWS("T | distinct Op | take 2", "[[\"write\"],[\"read\"]]");
	ck_assert_uint_eq(delivered, 2);
}
END_TEST

/* ---- types and values -------------------------------------------------- */

START_TEST(test_types)
{
	COLS("T | project Score", "[{\"name\":\"Score\",\"type\":\"real\"}]");
	ck_assert_str_eq(rows_of(),
	    "[[1.5],[2.5],[0.5],[3],[null],[1],[null],[2]]");
	COLS("T | project TimeGenerated, Success, Op | take 1",
	    "[{\"name\":\"TimeGenerated\",\"type\":\"datetime\"},"
	    "{\"name\":\"Success\",\"type\":\"bool\"},"
	    "{\"name\":\"Op\",\"type\":\"string\"}]");
	COLS("T | where Op == \"list\" | project Props",
	    "[{\"name\":\"Props\",\"type\":\"dynamic\"}]");
	/* Mixed types make a dynamic column. */
	COLS("T | extend m = iff(Success, \"yes\", 1) | project m | take 2",
	    "[{\"name\":\"m\",\"type\":\"dynamic\"}]");
	ck_assert_str_eq(rows_of(), "[[1],[\"yes\"]]");
	COLS("T | where Op == \"delete\" | project age = now() - "
	    "TimeGenerated", "[{\"name\":\"age\",\"type\":\"timespan\"}]");
	ck_assert_str_eq(rows_of(), "[[\"04:00:00\"]]");
	ROWS("T | where Op == \"delete\" | project TimeGenerated + 1d, "
	    "datetime(2024-01-01T00:00:00.1234567Z), 1d + 2h + 3m + 4s + 5ms, "
	    "-90m, datetime(2024-02-29 12:30)",
	    "[[\"2024-01-08T20:00:00Z\",\"2024-01-01T00:00:00.1234567Z\","
	    "\"1.02:03:04.0050000\",\"-01:30:00\","
	    "\"2024-02-29T12:30:00Z\"]]");
	/* A column that is always null takes its expression's type, if it
	 * has one. */
	COLS("T | project x = tolong(\"no\"), y = 5 / 0, z = DurationMs / 0 | "
	    "take 1", "[{\"name\":\"x\",\"type\":\"long\"},"
	    "{\"name\":\"y\",\"type\":\"long\"},"
	    "{\"name\":\"z\",\"type\":\"dynamic\"}]");
	ck_assert_str_eq(rows_of(), "[[null,null,null]]");
}
END_TEST

START_TEST(test_values)
{
	COLS("T | take 1 | project x = 0.1 + 0.2, y = 1.0 / 3, z = 10 / 4, "
	    "w = 10 % 4, v = -7 / 2, rz = 1.0 / 0, nz = -1.0 / 0, "
	    "nan = 0.0 / 0, o = 9223372036854775807 + 1",
	    "[{\"name\":\"x\",\"type\":\"real\"},"
	    "{\"name\":\"y\",\"type\":\"real\"},"
	    "{\"name\":\"z\",\"type\":\"long\"},"
	    "{\"name\":\"w\",\"type\":\"long\"},"
	    "{\"name\":\"v\",\"type\":\"long\"},"
	    "{\"name\":\"rz\",\"type\":\"real\"},"
	    "{\"name\":\"nz\",\"type\":\"real\"},"
	    "{\"name\":\"nan\",\"type\":\"real\"},"
	    "{\"name\":\"o\",\"type\":\"long\"}]");
	ck_assert_str_eq(rows_of(), "[[0.30000000000000004,0.3333333333333333,"
	    "2,2,-3,\"Infinity\",\"-Infinity\",\"NaN\",null]]");
	ROWS("T | take 1 | project a = tolower(Level), b = toupper(Op), "
	    "c = strlen(Caller), d = strcat(Op, \"/\", DurationMs), "
	    "e = tostring(Success), f = tolong(\"42\"), g = todouble(\"2.5\"), "
	    "h = tolong(2.9), i = todatetime(\"2024-01-01\"), j = abs(-3), "
	    "k = round(2.567, 2), l = tolong(\"x\"), m = toint(Score)",
	    "[[\"error\",\"WRITE\",9,\"write/1200\",\"false\",42,2.5,2,"
	    "\"2024-01-01T00:00:00Z\",3,2.57,null,1]]");
	ROWS("T | where Op == \"list\" | project tostring(Props), "
	    "strlen(\"h\\u00e9\"), iff(isnull(DurationMs), \"none\", \"some\")",
	    "[[\"{\\\"code\\\":\\\"OK\\\",\\\"n\\\":[1,2,3]}\",2,\"none\"]]");
	ROWS("T | take 1 | project s = \"tab\\there \\\"q\\\" \\\\\"",
	    "[[\"tab\\there \\\"q\\\" \\\\\"]]");
	/* Three-valued logic: null and false is false, null or true is
	 * true; where drops a null. */
	ROWS("T | where Op == \"list\" | project a = DurationMs > 1 and false, "
	    "b = DurationMs > 1 or true, c = DurationMs > 1, "
	    "d = not(DurationMs > 1)", "[[false,true,null,null]]");
	ROWS("T | where DurationMs > 1 or Op == \"list\" | count", "[[8]]");
}
END_TEST

/* ---- limits and errors ------------------------------------------------- */

START_TEST(test_limit_rows_scanned)
{
	lim.max_rows_scanned = 5;
	FAILS("T | count", NULL, 422, "QUERY_LIMIT_EXCEEDED",
	    "query scanned more than query_max_rows_scanned (5) rows");
	ck_assert_uint_eq(delivered, 6);
	/* A scan that stops early stays under the limit. */
	ROWS("T | take 3 | count", "[[3]]");
	lim.max_rows_scanned = 8;
	ROWS("T | count", "[[8]]");
}
END_TEST

/* Expect 200 with a result cut at max_result_rows: these rows, and a
 * PartialError beside the tables (as Log Analytics answers). */
#define PARTIAL(q, want) do {						\
	ok(q);								\
	ck_assert_msg(strcmp(part("\"rows\":", "}],\"error\":"), (want)) \
	    == 0, "%s\n  rows: %s\n  want: %s", (q), text, (want));	\
	ck_assert_msg(strstr(res.body.data, "\"error\":{\"code\":"	\
	    "\"PartialError\"") != NULL, "%s: %s", (q), res.body.data);	\
} while (0)

START_TEST(test_limit_result_rows)
{
	lim.max_result_rows = 3;
	PARTIAL("T | take 5 | project Op",
	    "[[\"write\"],[\"read\"],[\"read\"]]");
	ck_assert_ptr_nonnull(strstr(res.body.data, "query_max_result_rows "
	    "(3) rows: the first 3 are returned"));
	ck_assert_ptr_nonnull(strstr(res.body.data, "\"innererror\":{"
	    "\"code\":\"QUERY_LIMIT_EXCEEDED\""));
	/* The scan stops once the answer is full (and one more row showed
	 * it would not fit). */
	PARTIAL("T | project Op", "[[\"write\"],[\"read\"],[\"read\"]]");
	ck_assert_uint_eq(delivered, 4);
	/* Exactly full is not cut. */
	ROWS("T | take 3 | project Op", "[[\"write\"],[\"read\"],[\"read\"]]");
	ck_assert_ptr_null(strstr(res.body.data, "PartialError"));
	/* A sort whose rows all reach the answer keeps only what the answer
	 * may hold: the first rows in sorted order (desc by default). */
	PARTIAL("T | sort by DurationMs | project DurationMs",
	    "[[4000],[1200],[700]]");
	ck_assert_uint_eq(delivered, 8);
	PARTIAL("T | order by DurationMs asc | project Op, DurationMs",
	    "[[\"list\",null],[\"read\",50],[\"read\",80]]");
	/* ... and a sort before a stage that may drop rows keeps all. */
	ROWS("T | sort by DurationMs | where DurationMs > 500 | project Op",
	    "[[\"delete\"],[\"write\"],[\"write\"]]");
	ROWS("T | summarize count() by Op | take 2",
	    "[[\"write\",3],[\"read\",3]]");
	/* Callers: ann, bob, cid, (none), Dan: the first three groups, each
	 * with every row of it counted. */
	PARTIAL("T | summarize count() by Caller",
	    "[[\"ann@x.com\",3],[\"bob@x.com\",2],[\"cid@y.org\",1]]");
	/* Groups then sorted: which come first is known only once all are
	 * made, and keeping them all is what the limit bounds: 422. */
	FAILS("T | summarize count() by Caller | sort by count_", NULL, 422,
	    "QUERY_LIMIT_EXCEEDED", "query_max_result_rows (3)");
	PARTIAL("T | distinct Op",
	    "[[\"write\"],[\"read\"],[\"delete\"]]");
	/* The scan limit stays an error. */
	lim.max_rows_scanned = 2;
	FAILS("T | project Op", NULL, 422, "QUERY_LIMIT_EXCEEDED",
	    "query_max_rows_scanned (2)");
}
END_TEST

/* ---- render and statistics (Prefer) ------------------------------------ */

START_TEST(test_render)
{
	char want[160];

	/* Accepted without include-render=true, and changes nothing. */
	ROWS("T | summarize count() by Op | take 1 | render piechart",
	    "[[\"write\",3]]");
	ck_assert_ptr_null(strstr(res.body.data, "\"render\""));
	opts.prefer = PREFER_RENDER;
	ok("T | count | render table");
	ck_assert_ptr_nonnull(strstr(res.body.data, "]]}],\"render\":{"
	    "\"visualization\":\"table\",\"title\":null,"
	    "\"accumulate\":false,"));
	ck_assert_ptr_nonnull(strstr(res.body.data, "\"yMin\":\"NaN\""));
	ok("T | summarize count() by Op | render columnchart with (title = "
	    "\"ops \\\"all\\\"\", ycolumns = count_, Op, kind = stacked, "
	    "ymin = -1, ymax = 0.1, accumulate = true, xcolumn = Op)");
	snprintf(want, sizeof(want), "\"visualization\":\"columnchart\","
	    "\"title\":\"ops \\\"all\\\"\",\"accumulate\":true,");
	ck_assert_msg(strstr(res.body.data, want) != NULL, "%s", res.body.data);
	ck_assert_ptr_nonnull(strstr(res.body.data, "\"kind\":\"stacked\""));
	ck_assert_ptr_nonnull(strstr(res.body.data, "\"yMin\":-1,"
	    "\"yMax\":0.1,"));
	ck_assert_ptr_nonnull(strstr(res.body.data, "\"xColumn\":\"Op\""));
	ck_assert_ptr_nonnull(strstr(res.body.data,
	    "\"yColumns\":[\"count_\",\"Op\"]"));
	FAILS("T | render linechart with (ymax = 1e999)", NULL, 400,
	    "QUERY_SYNTAX_ERROR", "number '1e999' is out of range");
	/* No render operator: nothing to add. */
	ok("T | count");
	ck_assert_ptr_null(strstr(res.body.data, "\"render\""));
	FAILS("T | render pie", NULL, 400, "QUERY_SYNTAX_ERROR",
	    "line 1, column 12: unknown visualization 'pie'");
	FAILS("T | render timechart | take 1", NULL, 400, "QUERY_SYNTAX_ERROR",
	    "line 1, column 22: render must be the last operator");
	FAILS("T | render timechart with (colour = 1)", NULL, 400,
	    "QUERY_SYNTAX_ERROR", "unknown render property 'colour'");
	FAILS("T | render timechart with (title = )", NULL, 400,
	    "QUERY_SYNTAX_ERROR", "expected a property value");
	FAILS("T | render timechart with (title = \"a\"", NULL, 400,
	    "QUERY_SYNTAX_ERROR", "expected ',' or ')'");
}
END_TEST

START_TEST(test_statistics)
{
	char pid[64];

	ok("T | count");
	ck_assert_ptr_null(strstr(res.body.data, "\"statistics\""));
	opts.prefer = PREFER_STATS;
	ok("T | where DurationMs > 100 | project Op");
	ck_assert_ptr_nonnull(strstr(res.body.data, "]]}],\"statistics\":{"
	    "\"query\":{\"executionTime\":"));
	ck_assert_ptr_nonnull(strstr(res.body.data, "\"resourceUsage\":{"
	    "\"cpu\":{\"user\":\"00:00:"));
	ck_assert_ptr_nonnull(strstr(res.body.data, "\"inputDatasetStatistics"
	    "\":{\"rows\":{\"scanned\":8},\"bytes\":{\"read\":"));
	snprintf(pid, sizeof(pid), "\"worker\":{\"pid\":%ld,", (long)getpid());
	ck_assert_ptr_nonnull(strstr(res.body.data, pid));
	ck_assert_ptr_nonnull(strstr(res.body.data, "\"rowsScanned\":8,"));
	ck_assert_ptr_nonnull(strstr(res.body.data, "\"resultRows\":5,\"parts\":1}}"));
	/* Together with a cut result and a render object, in that order. */
	opts.prefer = PREFER_STATS | PREFER_RENDER;
	lim.max_result_rows = 2;
	ok("T | project Op | render table");
	ck_assert_ptr_nonnull(strstr(res.body.data, "]]}],\"error\":{\"code\":"
	    "\"PartialError\""));
	ck_assert_ptr_nonnull(strstr(res.body.data, "\"resultRows\":2,\"parts\":1}},"
	    "\"render\":{\"visualization\":\"table\""));
	ck_assert_ptr_nonnull(strstr(res.body.data, "\"rowsScanned\":3,"));
	/* An error answer has no statistics. */
	FAILS("T | take", NULL, 400, "QUERY_SYNTAX_ERROR", "line 1");
	ck_assert_ptr_null(strstr(res.body.data, "statistics"));
}
END_TEST

START_TEST(test_limit_result_bytes)
{
	lim.max_result_bytes = 150;
	FAILS("T", NULL, 422, "QUERY_LIMIT_EXCEEDED",
	    "query result is larger than max_result_bytes (150 bytes)");
	FAILS("T | project Op", NULL, 422, "QUERY_LIMIT_EXCEEDED",
	    "max_result_bytes (150 bytes)");
	ROWS("T | count", "[[8]]");
	ck_assert_uint_le(res.body.len, 150);
	/* 0 means no limit. */
	lim.max_result_bytes = 0;
	lim.max_result_rows = 0;
	lim.max_rows_scanned = 0;
	ok("T");
	ck_assert_ptr_nonnull(strstr(res.body.data, "Dan@X.com"));
}
END_TEST

/* A stored row cut anywhere is read in place without a byte past its
 * end: the query answers, or fails with 500 (the row is not JSON) or 400
 * (the cut took the column away), never more. */
START_TEST(test_cut_rows)
{
	static const char *q[] = {
		"Cut", "Cut | project a", "Cut | project s", "Cut | project z",
		"Cut | project P.st", "Cut | project P.n", "Cut | where b",
		"Cut | distinct *", "Cut | summarize count() by tostring(P)",
		"Cut | count",
	};
	size_t	k, i, n = strlen(CUT_ROW);

	for (k = 0; k <= n; k++) {
		cut_len = k;
		for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
			ck_assert_int_eq(run_ts(q[i], NULL), 0);
			ck_assert_msg(res.status == 200 || res.status == 500 ||
			    res.status == 400, "%s, cut %zu: %d %s", q[i], k,
			    res.status, res.body.data);
			if (k == n || i + 1 == sizeof(q) / sizeof(q[0]))
				ck_assert_msg(res.status == 200, "%s: %d %s",
				    q[i], res.status, res.body.data);
		}
	}
	cut_len = n;
	ROWS("Cut | project s, P.st, P.n[1].m",
	    "[[\"x\\\"yA\",\"ok\",25]]");
}
END_TEST

/* where first, fields read only as far as needed, count reads none. */
START_TEST(test_lazy_rows)
{
	ROWS("Lazy | where a == 1 | project b", "[[\"ok\"]]");
	ROWS("Lazy | where a == 1 | extend d = c * 2 | project b, d",
	    "[[\"ok\",6]]");
	ROWS("Lazy | count", "[[4]]");
	ROWS("Lazy | summarize count(), sum(a)", "[[4,10]]");
	ROWS("Lazy | top 1 by a asc | project b", "[[\"ok\"]]");
	FAILS("Lazy | project b", NULL, 500, "INTERNAL_SERVER_ERROR",
	    "not a JSON object");
	FAILS("Lazy | where a > 1 | project b", NULL, 500,
	    "INTERNAL_SERVER_ERROR", "not a JSON object");
}
END_TEST

START_TEST(test_errors)
{
	FAILS("Nope | count", NULL, 404, "NOT_FOUND", "no table Nope");
	FAILS("T | where (", NULL, 400, "QUERY_SYNTAX_ERROR",
	    "line 1, column 12: expected an expression after '(', found end "
	    "of query");
	ck_assert_uint_eq(delivered, 0);
	/* A syntax error wins over an unknown table. */
	FAILS("Nope | wher x", NULL, 400, "QUERY_SYNTAX_ERROR",
	    "unknown operator 'wher'");
	FAILS("Broken | count", NULL, 500, "INTERNAL_SERVER_ERROR",
	    "disk on fire");
	FAILS("Bad", NULL, 500, "INTERNAL_SERVER_ERROR",
	    "stored row is not a JSON object");
	/* The answer of an error is the error envelope alone. */
	FAILS("T | take x", NULL, 400, "QUERY_SYNTAX_ERROR", "row count");
	ck_assert_ptr_null(strstr(res.body.data, "tables"));
}
END_TEST

/*
 * Every prefix of these queries, and each with one character deleted or
 * replaced, must be answered (200, 400, 404 for a mangled table name, or
 * 422) without a crash or a leak (the SAN build checks the latter).
 */
START_TEST(test_mutations)
{
	static const char *queries[] = {
		"T | where Level == \"Error\" and DurationMs > 250 | extend "
		    "Slow = DurationMs > 1000 | summarize count(), "
		    "avg(DurationMs), dcount(Caller) by Op, bin(TimeGenerated, "
		    "1h) | sort by count_ desc | take 10",
		"T | where Caller has 'x' or Op in~ ('READ', 'list') | "
		    "project-away Props, Sc* | project-rename W = Op | top 3 "
		    "by DurationMs asc nulls last",
		"T | where TimeGenerated between (datetime(2024-01-01) .. "
		    "ago(1d)) | distinct Level, Success | count",
		"T | extend m = iff(isnull(Score), -1.5, Score * 2) % 3, "
		    "s = strcat(tolower(Op), '/', tostring(Props.n[0])) | "
		    "order by m asc, s | limit 4",
		"T | summarize p = 100.0 * countif(Success) / count(), "
		    "sumif(DurationMs, DurationMs > 100), min(Op), max(Score) "
		    "by startofday(TimeGenerated) | distinct *",
	};
	static const char repl[] = "|()\"'.,=!~<>-*/%@[]0aZ ";
	char	buf[512];
	size_t	q, i, k, n;
	int	st;

	for (q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
		ok(queries[q]);
		n = strlen(queries[q]);
		for (i = 0; i <= n; i++) {
			for (k = 0; k < sizeof(repl) + 1; k++) {
				memcpy(buf, queries[q], n + 1);
				if (k == sizeof(repl)) {
					if (i == n)
						continue;
					memmove(buf + i, buf + i + 1, n - i);
				} else if (k == sizeof(repl) - 1)
					buf[i] = '\0';
				else if (i < n)
					buf[i] = repl[k];
				else
					continue;
				ck_assert_int_eq(run_ts(buf, NULL), 0);
				st = res.status;
				ck_assert_msg(st == 200 || st == 400 ||
				    st == 404 || st == 422, "%s: %d %s", buf, st,
				    res.body.data);
			}
		}
	}
}
END_TEST

/*
 * Out of memory: a summarize with a group per row, in a child limited to
 * 256 MiB of address space, answers 507 and returns -1 (the worker then
 * exits).  Not under AddressSanitizer, whose shadow memory alone is
 * larger than the limit.
 */
START_TEST(test_out_of_memory)
{
#ifndef __SANITIZE_ADDRESS__
	struct rlimit	rl = { 256u << 20, 256u << 20 };
	pid_t		pid;
	int		status, rc;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		if (setrlimit(RLIMIT_AS, &rl) == -1)
			_exit(2);
		lim.max_rows_scanned = 0;
		lim.max_result_rows = 0;
		rc = run_ts("Gen | summarize count() by k", NULL);
		_exit(rc == -1 && res.status == 507 &&
		    strstr(res.body.data, "OUT_OF_MEMORY") != NULL ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status %d", status);
#endif
}
END_TEST

/* ---- query_exec: the request and the store ----------------------------- */

static char	store_dir[64];

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
exec_body(struct store *st, const char *body, enum item_body kind)
{
	struct item_req	rq;

	memset(&rq, 0, sizeof(rq));
	rq.op = OP_QUERY;
	rq.ws.p = "ws1";
	rq.ws.n = 3;
	rq.body = body;
	rq.body_len = body != NULL ? strlen(body) : 0;
	rq.body_kind = kind;
	item_res_reset(&res);
	return query_exec(st, &rq, &lim, NOW_MS, &res);
}

static int
exec_get(struct store *st, const char *q, const char *ts)
{
	struct item_req	rq;

	memset(&rq, 0, sizeof(rq));
	rq.op = OP_QUERY;
	rq.ws.p = "ws1";
	rq.ws.n = 3;
	rq.query.p = q;
	rq.query.n = q != NULL ? strlen(q) : 0;
	rq.timespan.p = ts;
	rq.timespan.n = ts != NULL ? strlen(ts) : 0;
	item_res_reset(&res);
	return query_exec(st, &rq, &lim, NOW_MS, &res);
}

START_TEST(test_request_errors)
{
	static const struct {
		const char	*body;
		enum item_body	 kind;
		const char	*detail;
	} bad[] = {
		{ "[1]", BODY_OTHER, "body must be a JSON object" },
		{ "\"T\"", BODY_OTHER, "body must be a JSON object" },
		{ "{\"q\":\"T\"}", BODY_OBJECT, "string \\\"query\\\"" },
		{ "{\"query\":5}", BODY_OBJECT, "string \\\"query\\\"" },
		{ "{\"query\":\"T\",\"timespan\":5}", BODY_OBJECT,
		    "\\\"timespan\\\" must be a string" },
		{ "{\"query\":", BODY_OBJECT, "body must be a JSON object" },
	};
	size_t	i;

	/* These are answered before the store is touched. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(exec_body(NULL, bad[i].body, bad[i].kind), 0);
		ck_assert_int_eq(res.status, 400);
		ck_assert_msg(strstr(res.body.data, "\"BAD_REQUEST\"") != NULL &&
		    strstr(res.body.data, bad[i].detail) != NULL, "%s: %s",
		    bad[i].body, res.body.data);
	}
	ck_assert_int_eq(exec_get(NULL, NULL, NULL), 0);
	ck_assert_int_eq(res.status, 400);
	ck_assert_ptr_nonnull(strstr(res.body.data, "missing \\\"query\\\""));
	ck_assert_int_eq(exec_get(NULL, "T | count", "P1Y"), 0);
	ck_assert_int_eq(res.status, 400);
	ck_assert_int_eq(exec_body(NULL, "{\"query\":\"T |\"}", BODY_OBJECT), 0);
	ck_assert_int_eq(res.status, 400);
	ck_assert_ptr_nonnull(strstr(res.body.data, "QUERY_SYNTAX_ERROR"));
}
END_TEST

static void
put_row(struct store *st, const char *table, const char *key,
    const char *json)
{
	struct item_req	rq;

	memset(&rq, 0, sizeof(rq));
	rq.op = OP_ROW_PUT;
	rq.ws.p = "ws1";
	rq.ws.n = 3;
	rq.table.p = table;
	rq.table.n = strlen(table);
	rq.key.p = key;
	rq.key.n = strlen(key);
	rq.body = json;
	rq.body_len = strlen(json);
	rq.body_kind = BODY_OBJECT;
	item_res_reset(&res);
	ck_assert_int_eq(store_exec(st, &rq, &res), 0);
	ck_assert_msg(res.status == 201 || res.status == 200, "PUT %s: %d %s",
	    key, res.status, res.body.data);
}

START_TEST(test_query_exec_store)
{
	struct store_opts	 o;
	struct store		*st = NULL;
	char			 dir[128], err[256];

	snprintf(dir, sizeof(dir), "%s/db", store_dir);
	memset(&o, 0, sizeof(o));
	o.path = dir;
	o.map_size_mb = 64;
	o.sync = 0;
	o.max_result_bytes = 1 << 20;
	ck_assert_msg(store_open(&st, &o, err, sizeof(err)) == 0, "%s", err);
	put_row(st, "Act", "b", "{\"TimeGenerated\":\"2024-01-07T23:30:00Z\","
	    "\"n\":2}");
	put_row(st, "Act", "a", "{\"TimeGenerated\":\"2024-01-01T00:00:00Z\","
	    "\"n\":1}");
	put_row(st, "Act", "c", "{\"TimeGenerated\":\"2024-01-07T23:45:00Z\","
	    "\"n\":3}");
	put_row(st, "Other", "x", "{\"n\":100}");
	/* POST body. */
	ck_assert_int_eq(exec_body(st, "{\"query\":\"Act | summarize sum(n)\","
	    "\"timespan\":null}", BODY_OBJECT), 0);
	ck_assert_int_eq(res.status, 200);
	ck_assert_str_eq(rows_of(), "[[6]]");
	ck_assert_int_eq(exec_body(st, "{\"query\":\"Act | project n\","
	    "\"timespan\":\"PT1H\"}", BODY_OBJECT), 0);
	ck_assert_int_eq(res.status, 200);
	/* Rows come in key order: b, c. */
	ck_assert_str_eq(rows_of(), "[[2],[3]]");
	/* GET parameters. */
	ck_assert_int_eq(exec_get(st, "Act | where n > 1 | count", NULL), 0);
	ck_assert_str_eq(rows_of(), "[[2]]");
	ck_assert_int_eq(exec_get(st, "Act | take 1 | project n", NULL), 0);
	ck_assert_str_eq(rows_of(), "[[1]]");
	ck_assert_int_eq(exec_get(st, "Act | count", "P1D"), 0);
	ck_assert_str_eq(rows_of(), "[[2]]");
	ck_assert_int_eq(exec_get(st, "Other | project n", NULL), 0);
	ck_assert_str_eq(rows_of(), "[[100]]");
	ck_assert_int_eq(exec_get(st, "Missing | count", NULL), 0);
	ck_assert_int_eq(res.status, 404);
	ck_assert_ptr_nonnull(strstr(res.body.data, "\"NOT_FOUND\""));
	lim.max_rows_scanned = 2;
	ck_assert_int_eq(exec_get(st, "Act | count", NULL), 0);
	ck_assert_int_eq(res.status, 422);
	ck_assert_ptr_nonnull(strstr(res.body.data, "query_max_rows_scanned"));
	store_close(st);
}
END_TEST

static Suite *
exec_suite(void)
{
	Suite	*s = suite_create("query_exec");
	TCase	*tc;

	tc = tcase_create("where");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_where_compare);
	tcase_add_test(tc, test_where_strings);
	tcase_add_test(tc, test_where_time);
	tcase_add_test(tc, test_timespan_filter);
	suite_add_tcase(s, tc);

	tc = tcase_create("columns");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_project_extend);
	tcase_add_test(tc, test_project_away_rename);
	tcase_add_test(tc, test_auto_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("summarize");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_summarize_aggregates);
	tcase_add_test(tc, test_summarize_empty_and_bins);
	tcase_add_test(tc, test_summarize_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("order");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sort);
	tcase_add_test(tc, test_top_take);
	tcase_add_test(tc, test_count_distinct);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_types);
	tcase_add_test(tc, test_values);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_limit_rows_scanned);
	tcase_add_test(tc, test_limit_result_rows);
	tcase_add_test(tc, test_render);
	tcase_add_test(tc, test_statistics);
	tcase_add_test(tc, test_limit_result_bytes);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_mutations);
	tcase_add_test(tc, test_out_of_memory);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("request");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_request_errors);
	tcase_add_test(tc, test_cut_rows);
	tcase_add_test(tc, test_lazy_rows);
	tcase_add_test(tc, test_query_exec_store);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	snprintf(store_dir, sizeof(store_dir), "/tmp/test_query.XXXXXX");
	if (mkdtemp(store_dir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	sr = srunner_create(exec_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(store_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
