/*
 * test_query_val.c - unit tests for worker/query/query_val.c: ISO-8601 times
 * and durations, Kusto's timespan text, numbers as text, typed values
 * read from JSON, their order, keys and answer text, the hash set and the
 * arena.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

#define SEC	10000000LL

static int64_t
tparse(const char *s, int strict)
{
	int64_t	t = 0;

	ck_assert_msg(qtime_parse(s, strlen(s), strict, &t) == 0,
	    "%s rejected", s);
	return t;
}

static void
trejects(const char *s, int strict)
{
	int64_t	t;

	ck_assert_msg(qtime_parse(s, strlen(s), strict, &t) == -1,
	    "%s accepted", s);
}

static const char *
tfmt(int64_t t)
{
	static char	out[QVAL_TEXT_MAX];

	qtime_format(t, out);
	return out;
}

static const char *
sfmt(int64_t t)
{
	static char	out[QVAL_TEXT_MAX];

	qspan_format(t, out);
	return out;
}

START_TEST(test_time_parse)
{
	ck_assert_int_eq(tparse("1970-01-01T00:00:00Z", 1), 0);
	ck_assert_int_eq(tparse("2024-01-01T00:00:00Z", 1), 1704067200 * SEC);
	ck_assert_int_eq(tparse("2024-01-01T00:00:00.5Z", 1),
	    1704067200 * SEC + 5000000);
	/* Digits past the seventh are dropped. */
	ck_assert_int_eq(tparse("2024-01-01T00:00:00.123456789Z", 1),
	    1704067200 * SEC + 1234567);
	ck_assert_int_eq(tparse("2024-01-01T02:00:00+02:00", 1),
	    1704067200 * SEC);
	ck_assert_int_eq(tparse("2023-12-31T22:30:00-01:30", 1),
	    1704067200 * SEC);
	ck_assert_int_eq(tparse("2024-02-29T00:00:00Z", 1), 1709164800 * SEC);
	ck_assert_int_eq(tparse("2000-02-29T00:00:00Z", 1), 951782400 * SEC);
	ck_assert_int_eq(tparse("1969-12-31T23:59:59Z", 1), -SEC);
	ck_assert_int_eq(tparse("0001-01-01T00:00:00Z", 1), QTIME_MIN);
	ck_assert_int_eq(tparse("9999-12-31T23:59:59.9999999Z", 1), QTIME_MAX);
	/* Lenient forms: datetime() and todatetime(). */
	ck_assert_int_eq(tparse("2024-01-01", 0), 1704067200 * SEC);
	ck_assert_int_eq(tparse("2024-01-01 10:00", 0),
	    (1704067200 + 36000) * SEC);
	ck_assert_int_eq(tparse("2024-01-01T10:00:30", 0),
	    (1704067200 + 36030) * SEC);
	/* What rows must not be taken for. */
	trejects("2024-01-01", 1);
	trejects("2024-01-01T10:00Z", 1);
	trejects("2024-01-01T10:00:00", 1);
	trejects("2024-01-01 10:00:00Z", 1);
	/* Never times. */
	trejects("2023-02-29", 0);
	trejects("2100-02-29", 0);
	trejects("2024-13-01", 0);
	trejects("2024-00-10", 0);
	trejects("2024-04-31", 0);
	trejects("2024-01-01T24:00:00Z", 0);
	trejects("2024-01-01T23:60:00Z", 0);
	trejects("2024-01-01T23:59:60Z", 0);
	trejects("0000-12-31", 0);
	trejects("2024-1-01", 0);
	trejects("2024-01-01T00:00:00.Z", 0);
	trejects("2024-01-01T00:00:00Zjunk", 0);
	trejects("2024-01-01T00:00:00+2:00", 0);
	trejects("", 0);
	trejects("yesterday", 0);
}
END_TEST

START_TEST(test_time_format)
{
	ck_assert_str_eq(tfmt(0), "1970-01-01T00:00:00Z");
	ck_assert_str_eq(tfmt(1704067200 * SEC), "2024-01-01T00:00:00Z");
	ck_assert_str_eq(tfmt(1704067200 * SEC + 5000000),
	    "2024-01-01T00:00:00.5Z");
	ck_assert_str_eq(tfmt(1704067200 * SEC + 1234567),
	    "2024-01-01T00:00:00.1234567Z");
	ck_assert_str_eq(tfmt(1704067200 * SEC + 1230000),
	    "2024-01-01T00:00:00.123Z");
	ck_assert_str_eq(tfmt(-1000000), "1969-12-31T23:59:59.9Z");
	ck_assert_str_eq(tfmt(QTIME_MIN), "0001-01-01T00:00:00Z");
	ck_assert_str_eq(tfmt(QTIME_MAX), "9999-12-31T23:59:59.9999999Z");
	ck_assert_str_eq(tfmt(1709164800 * SEC + 3723 * SEC),
	    "2024-02-29T01:02:03Z");
	/* Parse and format agree across the calendar. */
	ck_assert_str_eq(tfmt(tparse("1600-03-01T12:34:56.0000001Z", 1)),
	    "1600-03-01T12:34:56.0000001Z");
}
END_TEST

START_TEST(test_span_format)
{
	ck_assert_str_eq(sfmt(0), "00:00:00");
	ck_assert_str_eq(sfmt(3600 * SEC), "01:00:00");
	ck_assert_str_eq(sfmt(86400 * SEC), "1.00:00:00");
	ck_assert_str_eq(sfmt((86400 + 7384) * SEC + 50000),
	    "1.02:03:04.0050000");
	ck_assert_str_eq(sfmt(-5400 * SEC), "-01:30:00");
	ck_assert_str_eq(sfmt(1), "00:00:00.0000001");
	ck_assert_str_eq(sfmt(400 * 86400 * SEC), "400.00:00:00");
	ck_assert_str_eq(sfmt(INT64_MIN), "-10675199.02:48:05.4775808");
}
END_TEST

START_TEST(test_span_iso)
{
	static const struct {
		const char	*s;
		int64_t		 ticks;
	} good[] = {
		{ "PT1H", 3600 * SEC }, { "P1D", 86400 * SEC },
		{ "PT30M", 1800 * SEC }, { "P1DT2H", (86400 + 7200) * SEC },
		{ "P2W", 14 * 86400 * SEC }, { "PT0.5S", SEC / 2 },
		{ "PT1.5H", 5400 * SEC }, { "PT10S", 10 * SEC },
		{ "P1W2DT3H4M5S", ((9 * 86400) + 3 * 3600 + 245) * SEC },
		{ "PT0S", 0 }, { "PT0,25S", SEC / 4 },
	};
	static const char *bad[] = { "", "P", "PT", "P1Y", "P1M", "PT1D",
	    "P1H", "1H", "P1DT", "PT-1H", "P1D2W", "PT1H1H", "PT1HX", "pt1h",
	    "P1.D", "P99999999999999D", "PT1H ", " PT1H" };
	int64_t	t;
	size_t	i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(qspan_parse_iso(good[i].s, strlen(good[i].s),
		    &t) == 0, "%s rejected", good[i].s);
		ck_assert_msg(t == good[i].ticks, "%s: %lld", good[i].s,
		    (long long)t);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(qspan_parse_iso(bad[i], strlen(bad[i]), &t) == -1,
		    "%s accepted", bad[i]);
}
END_TEST

START_TEST(test_real_format)
{
	char	out[QVAL_TEXT_MAX];

	qreal_format(0.1, out);
	ck_assert_str_eq(out, "0.1");
	qreal_format(0.1 + 0.2, out);
	ck_assert_str_eq(out, "0.30000000000000004");
	qreal_format(2600.0, out);
	ck_assert_str_eq(out, "2600");
	qreal_format(-1.5e-7, out);
	ck_assert_str_eq(out, "-1.5e-07");
	qreal_format(1e21, out);
	ck_assert_str_eq(out, "1e+21");
	qreal_format(NAN, out);
	ck_assert_str_eq(out, "NaN");
	qreal_format(-INFINITY, out);
	ck_assert_str_eq(out, "-Infinity");
	/* Every double survives the trip through text. */
	qreal_format(1.0 / 3.0, out);
	ck_assert(strtod(out, NULL) == 1.0 / 3.0);
}
END_TEST

static struct qval
from_json(const char *text)
{
	json_object	*j = json_tokener_parse(text);
	struct qval	 v;

	qval_from_json(j, &v);
	/* The value may borrow from j: keep j for the test's lifetime. */
	if (v.t == QV_DYNAMIC || v.t == QV_STRING) {
		ck_assert_int_eq(qval_copy(&v, &v), 0);
	}
	json_object_put(j);
	return v;
}

START_TEST(test_from_json_and_text)
{
	struct qval	 v;
	struct buf	 b = BUF_INIT;

	v = from_json("42");
	ck_assert_int_eq(v.t, QV_LONG);
	ck_assert_int_eq(v.u.l, 42);
	v = from_json("4.5");
	ck_assert_int_eq(v.t, QV_REAL);
	v = from_json("true");
	ck_assert_int_eq(v.t, QV_BOOL);
	ck_assert_int_eq(v.u.b, 1);
	v = from_json("null");
	ck_assert_int_eq(v.t, QV_NULL);
	qval_from_json(NULL, &v);
	ck_assert_int_eq(v.t, QV_NULL);
	v = from_json("\"2024-01-01T00:00:00Z\"");
	ck_assert_int_eq(v.t, QV_DATETIME);
	ck_assert_int_eq(v.u.l, 1704067200 * SEC);
	v = from_json("\"2024-01-01\"");
	ck_assert_int_eq(v.t, QV_STRING);
	ck_assert_str_eq(v.u.s.p, "2024-01-01");
	qval_clear(&v);
	v = from_json("{\"a\":[1,\"x\"]}");
	ck_assert_int_eq(v.t, QV_DYNAMIC);
	ck_assert_int_eq(qval_json(&b, &v), 0);
	ck_assert_str_eq(b.data, "\"{\\\"a\\\":[1,\\\"x\\\"]}\"");
	qval_clear(&v);
	ck_assert_int_eq(v.t, QV_NULL);
	buf_reset(&b);
	v = from_json("\"tab\\tq\\\"\"");
	ck_assert_int_eq(qval_json(&b, &v), 0);
	ck_assert_str_eq(b.data, "\"tab\\tq\\\"\"");
	qval_clear(&v);
	buf_reset(&b);
	v.t = QV_TIMESPAN;
	v.own = 0;
	v.u.l = -90 * 60 * SEC;
	ck_assert_int_eq(qval_json(&b, &v), 0);
	ck_assert_str_eq(b.data, "\"-01:30:00\"");
	buf_free(&b);
	ck_assert_str_eq(qtype_name(QV_DATETIME), "datetime");
	ck_assert_str_eq(qtype_name(QV_NULL), "dynamic");
}
END_TEST

static struct qval
num(enum qtype t, double d)
{
	struct qval	v;

	memset(&v, 0, sizeof(v));
	v.t = t;
	if (t == QV_REAL)
		v.u.r = d;
	else
		v.u.l = (int64_t)d;
	return v;
}

static struct qval
str(const char *s)
{
	struct qval	v;

	memset(&v, 0, sizeof(v));
	v.t = QV_STRING;
	v.u.s.p = s;
	v.u.s.n = strlen(s);
	return v;
}

START_TEST(test_order_and_keys)
{
	struct qval	 n = num(QV_NULL, 0), l1 = num(QV_LONG, 1);
	struct qval	 r15 = num(QV_REAL, 1.5), r1 = num(QV_REAL, 1.0);
	struct qval	 b = num(QV_BOOL, 0), dt = num(QV_DATETIME, 5);
	struct qval	 ts = num(QV_TIMESPAN, 5), s = str("a");
	struct qval	 z = num(QV_REAL, 0.0), mz = num(QV_REAL, -0.0);
	struct buf	 k1 = BUF_INIT, k2 = BUF_INIT;

	ck_assert_int_lt(qval_order(&n, &l1), 0);
	ck_assert_int_lt(qval_order(&l1, &r15), 0);
	ck_assert_int_gt(qval_order(&r15, &l1), 0);
	ck_assert_int_eq(qval_order(&l1, &r1), 0);
	ck_assert_int_lt(qval_order(&r15, &b), 0);
	ck_assert_int_lt(qval_order(&b, &dt), 0);
	ck_assert_int_lt(qval_order(&dt, &ts), 0);
	ck_assert_int_lt(qval_order(&ts, &s), 0);
	ck_assert_int_lt(qval_order(&s, &(struct qval){ QV_STRING, 0,
	    { .s = { "ab", 2 } } }), 0);
	/* Keys: equal values, equal keys; 1 and 1.0 are different
	 * values; lengths keep ("a","bc") apart from ("ab","c"). */
	ck_assert_int_eq(qval_key(&k1, &z), 0);
	ck_assert_int_eq(qval_key(&k2, &mz), 0);
	ck_assert(k1.len == k2.len && memcmp(k1.data, k2.data, k1.len) == 0);
	buf_reset(&k1);
	buf_reset(&k2);
	qval_key(&k1, &l1);
	qval_key(&k2, &r1);
	ck_assert(k1.len != k2.len || memcmp(k1.data, k2.data, k1.len) != 0);
	buf_reset(&k1);
	buf_reset(&k2);
	qval_key(&k1, &(struct qval){ QV_STRING, 0, { .s = { "a", 1 } } });
	qval_key(&k1, &(struct qval){ QV_STRING, 0, { .s = { "bc", 2 } } });
	qval_key(&k2, &(struct qval){ QV_STRING, 0, { .s = { "ab", 2 } } });
	qval_key(&k2, &(struct qval){ QV_STRING, 0, { .s = { "c", 1 } } });
	ck_assert(k1.len != k2.len || memcmp(k1.data, k2.data, k1.len) != 0);
	buf_free(&k1);
	buf_free(&k2);
}
END_TEST

START_TEST(test_hset)
{
	struct qhset	hs;
	char		key[32];
	size_t		i, idx;
	int		added;

	memset(&hs, 0, sizeof(hs));
	for (i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "key-%zu", i);
		ck_assert_int_eq(qhset_put(&hs, key, strlen(key), &idx,
		    &added), 0);
		ck_assert_int_eq(added, 1);
		ck_assert_uint_eq(idx, i);
	}
	for (i = 0; i < 20000; i += 7) {
		snprintf(key, sizeof(key), "key-%zu", i);
		ck_assert_int_eq(qhset_put(&hs, key, strlen(key), &idx,
		    &added), 0);
		ck_assert_int_eq(added, 0);
		ck_assert_uint_eq(idx, i);
	}
	ck_assert_int_eq(qhset_put(&hs, NULL, 0, &idx, &added), 0);
	ck_assert_int_eq(added, 1);
	ck_assert_int_eq(qhset_put(&hs, "", 0, &idx, &added), 0);
	ck_assert_int_eq(added, 0);
	ck_assert_uint_eq(hs.h_n, 20001);
	qhset_free(&hs);
}
END_TEST

/* dcount's sets of ids: each id once, growth keeps every id, a zeroed
 * set is empty, ids up to QIDSET_EMPTY - 1. */
START_TEST(test_idset)
{
	struct qidset	s;
	uint32_t	i, n = 100000, j, empty;

	memset(&s, 0, sizeof(s));
	ck_assert_uint_eq(s.i_n, 0);
	/* Multiples of 64: ids a weak hash would pile into few slots. */
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(qidset_add(&s, i * 64), 1);
		ck_assert_uint_eq(s.i_n, i + 1);
		ck_assert_uint_ge((uint64_t)s.i_cap * 3, (uint64_t)s.i_n * 4);
	}
	for (i = 0; i < n; i += 3)
		ck_assert_int_eq(qidset_add(&s, i * 64), 0);
	ck_assert_int_eq(qidset_add(&s, 1), 1);
	ck_assert_int_eq(qidset_add(&s, QIDSET_EMPTY - 1), 1);
	ck_assert_int_eq(qidset_add(&s, QIDSET_EMPTY - 1), 0);
	ck_assert_uint_eq(s.i_n, n + 2);
	/* The table holds exactly those ids. */
	for (j = 0, empty = 0; j < s.i_cap; j++)
		empty += s.i_tab[j] == QIDSET_EMPTY;
	ck_assert_uint_eq(s.i_cap - empty, n + 2);
	qidset_free(&s);
	ck_assert_uint_eq(s.i_n, 0);
	ck_assert_ptr_null(s.i_tab);
	/* A duplicate into a full table does not grow it. */
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(qidset_add(&s, i), 1);
	ck_assert_uint_eq(s.i_cap, 8);
	ck_assert_int_eq(qidset_add(&s, 5), 0);
	ck_assert_uint_eq(s.i_cap, 8);
	ck_assert_int_eq(qidset_add(&s, 6), 1);
	ck_assert_uint_eq(s.i_cap, 16);
	qidset_free(&s);
}
END_TEST

START_TEST(test_arena)
{
	struct qarena	 a = { NULL, 0 };
	char		*p, *q, *big;
	size_t		 i;

	p = qarena_strndup(&a, "hello", 5);
	ck_assert_str_eq(p, "hello");
	for (i = 0; i < 1000; i++)
		ck_assert_ptr_nonnull(qarena_alloc(&a, 100));
	big = qarena_alloc(&a, 1 << 20);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', 1 << 20);
	ck_assert_str_eq(p, "hello");
	q = qarena_alloc(&a, 24);
	ck_assert_uint_eq((uintptr_t)q % 16, 0);
	qarena_reset(&a);
	ck_assert_ptr_nonnull(qarena_alloc(&a, 8));
	ck_assert_ptr_null(qarena_alloc(&a, (size_t)-1));
	qarena_free(&a);
	ck_assert_ptr_null(a.a_head);
}
END_TEST

static Suite *
val_suite(void)
{
	Suite	*s = suite_create("query_val");
	TCase	*tc = tcase_create("values");

	tcase_add_test(tc, test_time_parse);
	tcase_add_test(tc, test_time_format);
	tcase_add_test(tc, test_span_format);
	tcase_add_test(tc, test_span_iso);
	tcase_add_test(tc, test_real_format);
	tcase_add_test(tc, test_from_json_and_text);
	tcase_add_test(tc, test_order_and_keys);
	tcase_add_test(tc, test_hset);
	tcase_add_test(tc, test_idset);
	tcase_add_test(tc, test_arena);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(val_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
