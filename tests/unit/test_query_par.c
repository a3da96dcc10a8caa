/*
 * test_query_par.c - unit tests for parallel scans (worker/query/
 * query_par.c): cutting a key range, merging partial aggregates, and
 * whole queries run as parts over every split of a small in-memory table
 * and merged, which must answer byte for byte what one scan answers.
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <float.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm.h"
#include "query/query_int.h"

/* 2024-01-08T00:00:00Z */
#define NOW_MS	1704672000000LL

/* Rows with ties (DurationMs 300 twice, 50 twice), nulls, a missing
 * field, mixed numbers, an object, a real with a fraction. */
static const char *rows[] = {
	"{\"TimeGenerated\":\"2024-01-07T23:30:00Z\",\"Level\":\"Error\","
	"\"Op\":\"write\",\"Caller\":\"ann\",\"DurationMs\":1200,\"S\":1.5}",
	"{\"TimeGenerated\":\"2024-01-07T23:10:00Z\",\"Level\":\"Warning\","
	"\"Op\":\"read\",\"Caller\":\"bob\",\"DurationMs\":300,\"S\":2.5}",
	"{\"TimeGenerated\":\"2024-01-07T22:45:00Z\",\"Level\":\"Info\","
	"\"Op\":\"read\",\"Caller\":\"ann\",\"DurationMs\":50,\"S\":0.5}",
	"{\"TimeGenerated\":\"2024-01-07T20:00:00Z\",\"Level\":\"Error\","
	"\"Op\":\"delete\",\"Caller\":\"cid\",\"DurationMs\":4000,\"S\":3}",
	"{\"TimeGenerated\":\"2024-01-06T12:00:00Z\",\"Level\":\"Info\","
	"\"Op\":\"write\",\"Caller\":\"bob\",\"DurationMs\":300}",
	"{\"TimeGenerated\":\"2024-01-01T00:00:00Z\",\"Level\":\"Info\","
	"\"Op\":\"read\",\"Caller\":\"ann\",\"DurationMs\":50,\"S\":1}",
	"{\"Level\":\"Warning\",\"Op\":\"list\",\"DurationMs\":null,"
	"\"P\":{\"code\":\"OK\",\"n\":[1,2,3]}}",
	"{\"TimeGenerated\":\"2024-01-07T23:59:00Z\",\"Level\":\"Error\","
	"\"Op\":\"write\",\"Caller\":\"dan\",\"DurationMs\":700,\"S\":2}",
	"{\"TimeGenerated\":\"2024-01-07T21:00:00Z\",\"Level\":\"Warning\","
	"\"Op\":\"read\",\"Caller\":\"eve\",\"DurationMs\":-5,\"S\":-0.25}",
};
#define NROWS	(sizeof(rows) / sizeof(rows[0]))

static struct query_limits	lim;

/* The table the in-memory source reads: rows[] unless a test generates
 * its rows (row i into buf, which holds 128 bytes). */
static const char *
fixed_row(size_t i, char *buf)
{
	return rows[i];
}

static const char	*(*row_at)(size_t, char *) = fixed_row;
static size_t		 nrows = NROWS;

struct range {
	size_t	lo, hi;
};

static int
range_source(void *arg, const char *table, store_row_cb cb, void *cbarg,
    struct err *e)
{
	const struct range	*r = arg;
	size_t			 i;
	char			 key[32], buf[128];
	const char		*row;
	int			 rc;

	if (strcmp(table, "T") != 0)
		return err_set(e, ERR_NOT_FOUND, "no table %s", table);
	for (i = r->lo; i < r->hi; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		row = row_at(i, buf);
		rc = cb(cbarg, key, strlen(key), row, strlen(row));
		if (rc == -1)
			return err_set(e, ERR_INTERNAL, "callback failed");
		if (rc == 1)
			break;
	}
	return 0;
}

static void
run(const char *q, const struct qpar *par, struct range *r,
    struct item_res *res)
{
	struct query_opts opts = { 0 };

	item_res_reset(res);
	query_run_par(q, strlen(q), NULL, 0, &lim, NOW_MS, range_source, r,
	    &opts, par, res);
}

/* q split at cut points c[0..n-2] into n parts, merged: the same answer
 * (status and bytes) as one scan. */
static void
same_split(const char *q, const size_t *c, uint32_t n)
{
	struct item_res		 whole, parts[4], merged;
	struct route_str	 pb[4];
	struct range		 all = { 0, nrows }, r;
	struct qpar		 par;
	uint32_t		 k;

	memset(&whole, 0, sizeof(whole));
	memset(&merged, 0, sizeof(merged));
	memset(parts, 0, sizeof(parts));
	run(q, NULL, &all, &whole);
	for (k = 0; k < n; k++) {
		memset(&par, 0, sizeof(par));
		par.p_mode = QPM_PART;
		par.p_index = k;
		r.lo = k == 0 ? 0 : c[k - 1];
		r.hi = k == n - 1 ? nrows : c[k];
		run(q, &par, &r, &parts[k]);
		if (parts[k].status != 200) {
			/* A failing part's answer is the query's (split.c):
			 * the one scan's, as a limit counts in each part. */
			ck_assert_msg(parts[k].status == whole.status &&
			    strcmp(parts[k].body.data, whole.body.data) == 0,
			    "%s part %u: %d %s", q, k, parts[k].status,
			    parts[k].body.data);
			n = k + 1;
			goto out;
		}
		pb[k].p = parts[k].body.data;
		pb[k].n = parts[k].body.len;
	}
	memset(&par, 0, sizeof(par));
	par.p_mode = QPM_MERGE;
	par.p_parts = pb;
	par.p_nparts = n;
	run(q, &par, &all, &merged);
	ck_assert_msg(merged.status == whole.status && merged.body.len ==
	    whole.body.len && memcmp(merged.body.data, whole.body.data,
	    whole.body.len) == 0, "%s (cuts %zu %zu):\n  merged %d %s\n"
	    "  whole  %d %s", q, n > 1 ? c[0] : 0, n > 2 ? c[1] : 0,
	    merged.status, merged.body.data, whole.status, whole.body.data);
out:
	item_res_free(&whole);
	item_res_free(&merged);
	for (k = 0; k < n; k++)
		item_res_free(&parts[k]);
}

static const char *queries[] = {
	"T | where Level == \"Error\" | project Caller, DurationMs",
	"T | where DurationMs > 100",
	"T | project-away P | extend D2 = DurationMs * 2",
	"T | count",
	"T | where Op == \"read\" | count",
	"T | summarize count(), sum(DurationMs), avg(DurationMs), "
	    "min(DurationMs), max(DurationMs), dcount(Caller) by Level",
	"T | summarize sum(S), avg(S), min(S), max(S) by Op",
	"T | summarize countif(DurationMs > 100), dcountif(Caller, "
	    "DurationMs > 0), min(TimeGenerated), max(Caller)",
	"T | summarize count() by bin(TimeGenerated, 1h)",
	"T | summarize count() by P",
	"T | top 3 by DurationMs",
	"T | top 4 by DurationMs asc",
	"T | sort by DurationMs desc | take 5",
	"T | sort by Caller asc | where DurationMs > 0",
	"T | take 4",
	"T | where DurationMs > 100 | take 2",
	"T | distinct Caller",
	"T | distinct Level, Op",
	"T | distinct *",
	"T | extend C = DurationMs * 2 + 1 | summarize sum(C) by Level",
	"T | summarize c = count() by Level | sort by c desc",
	"T | summarize n = count() by Caller | where n > 1",
	"T | project-rename Who = Caller | top 2 by DurationMs",
	/* Fixed columns whose types differ from part to part (long and
	 * real make real; a part of nulls only; dynamic). */
	"T | project Caller, S",
	"T | project P, TimeGenerated",
	"T | where Nope == 1",
	"T | take 0",
};

START_TEST(test_two_parts_every_cut)
{
	size_t	q, c;

	for (q = 0; q < sizeof(queries) / sizeof(queries[0]); q++)
		for (c = 0; c <= NROWS; c++)
			same_split(queries[q], &c, 2);
}
END_TEST

START_TEST(test_three_and_four_parts)
{
	size_t	q, c[3] = { 2, 5, 7 }, e[3] = { 0, 0, 9 };
	size_t	f[2] = { 4, 4 };

	for (q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
		same_split(queries[q], c, 4);
		same_split(queries[q], e, 4);	/* empty parts */
		same_split(queries[q], f, 3);
	}
}
END_TEST

/* The answer's row limit: the first rows and a PartialError, also when
 * the rows come from several parts; summarize's group limit likewise. */
START_TEST(test_limits_across_parts)
{
	size_t	c, k;
	const char *q[] = {
		"T | project Caller",
		"T | summarize count() by Caller",
		"T | summarize c = count() by Caller | sort by c",
		"T | sort by DurationMs | where DurationMs > 0",
		/* dcount's ids of groups past the cut are read, not kept */
		"T | summarize dcount(Op), dcountif(Level, DurationMs > 100) "
		    "by Caller",
	};

	lim.max_result_rows = 3;
	for (k = 0; k < sizeof(q) / sizeof(q[0]); k++)
		for (c = 0; c <= NROWS; c++)
			same_split(q[k], &c, 2);
	lim.max_result_rows = 1000;
	/* Rows scanned count over every part. */
	lim.max_rows_scanned = 5;
	for (c = 0; c <= NROWS; c++) {
		same_split("T | count", &c, 2);
		same_split("T | where DurationMs > 1000000 | take 1", &c, 2);
	}
	lim.max_rows_scanned = 1000;
}
END_TEST

START_TEST(test_key_between)
{
	char	out[64], prev[64];
	size_t	n, pn = 0;
	int	i;
	const char *a = "act-00000000", *b = "act-00999999";

	/* Digits interpolate as numbers: the cuts of equal row counts of
	 * keys act-%08d are exact (bytes would cut 300,000 / 200,000 /
	 * 200,000 / 300,000 of a million in 4 parts). */
	n = qpar_key_between(a, 12, b, 12, 0.5, out, sizeof(out));
	ck_assert_uint_eq(n, 12);
	ck_assert_int_eq(memcmp(out, "act-00500000", 12), 0);
	n = qpar_key_between(a, 12, b, 12, 0.25, out, sizeof(out));
	ck_assert_int_eq(memcmp(out, "act-00250000", n), 0);
	n = qpar_key_between(a, 12, b, 12, 0.75, out, sizeof(out));
	ck_assert_int_eq(memcmp(out, "act-00750000", n), 0);
	/* Hexadecimal (UUIDs): half way is 8000..., not a byte's half. */
	n = qpar_key_between("00000000-aa", 11, "ffffffff-bb", 11, 0.5, out,
	    sizeof(out));
	ck_assert_uint_eq(n, 8);
	ck_assert_int_eq(memcmp(out, "80000000", 8), 0);
	n = qpar_key_between("u3a00", 5, "u9f99", 5, 0.5, out, sizeof(out));
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(memcmp(out, "u6ccd", 5), 0);
	/* A run of fewer than 3 digits: bytes. */
	n = qpar_key_between("x1a", 3, "x9z", 3, 0.5, out, sizeof(out));
	ck_assert(n >= 2 && out[0] == 'x' && out[1] == '5');
	/* Monotonic in f, between a and b. */
	for (i = 0; i <= 100; i++) {
		n = qpar_key_between(a, 12, b, 12, i / 100.0, out,
		    sizeof(out));
		if (i > 0) {
			int c = memcmp(prev, out, pn < n ? pn : n);

			ck_assert(c < 0 || (c == 0 && pn <= n));
		}
		ck_assert(memcmp(out, b, n < 12 ? n : 12) <= 0);
		memcpy(prev, out, n);
		pn = n;
	}
	/* One key, or a key and its extension: never past b. */
	n = qpar_key_between("k", 1, "k", 1, 0.7, out, sizeof(out));
	ck_assert_uint_eq(n, 1);
	n = qpar_key_between("k", 1, "k\x80", 2, 0.5, out, sizeof(out));
	ck_assert(n == 2 && out[0] == 'k' && (unsigned char)out[1] == 0x40);
	/* Out of range fractions are clamped; outmax is kept. */
	n = qpar_key_between("aa", 2, "zz", 2, 7.0, out, 3);
	ck_assert_uint_le(n, 3);
	ck_assert_int_le(memcmp(out, "zz", n < 2 ? n : 2), 0);
}
END_TEST

START_TEST(test_agg_merge)
{
	struct qnode	n;
	struct qaggst	a, b;

	memset(&n, 0, sizeof(n));
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	/* sum: long + long, past the range of a long goes on in real. */
	n.n_op = QA_SUM;
	a.a_kind = QV_LONG;
	a.a_l = INT64_MAX - 1;
	b.a_kind = QV_LONG;
	b.a_l = 5;
	ck_assert_int_eq(qpar_agg_merge(&n, &a, &b), 0);
	ck_assert_int_eq(a.a_kind, QV_REAL);
	ck_assert(a.a_r > 9.2e18);
	/* long + real is real; nothing + x is x. */
	a.a_kind = QV_LONG;
	a.a_l = 2;
	b.a_kind = QV_REAL;
	b.a_r = 0.5;
	qpar_agg_merge(&n, &a, &b);
	ck_assert(a.a_kind == QV_REAL && a.a_r == 2.5);
	a.a_kind = QV_NULL;
	b.a_kind = QV_TIMESPAN;
	b.a_l = 30;
	qpar_agg_merge(&n, &a, &b);
	ck_assert(a.a_kind == QV_TIMESPAN && a.a_l == 30);
	qpar_agg_merge(&n, &a, &b);
	ck_assert_int_eq(a.a_l, 60);
	/* avg is sum and count. */
	n.n_op = QA_AVG;
	a.a_r = 10;
	a.a_n = 4;
	b.a_r = 2;
	b.a_n = 1;
	qpar_agg_merge(&n, &a, &b);
	ck_assert(a.a_r == 12 && a.a_n == 5);
	/* count adds. */
	n.n_op = QA_COUNTIF;
	qpar_agg_merge(&n, &a, &b);
	ck_assert_int_eq(a.a_n, 6);
	/* min keeps the first of equals (a long 3 before a real 3.0). */
	n.n_op = QA_MIN;
	a.a_v.t = QV_LONG;
	a.a_v.u.l = 3;
	b.a_v.t = QV_REAL;
	b.a_v.u.r = 3.0;
	qpar_agg_merge(&n, &a, &b);
	ck_assert_int_eq(a.a_v.t, QV_LONG);
	b.a_v.u.r = 2.5;
	qpar_agg_merge(&n, &a, &b);
	ck_assert(a.a_v.t == QV_REAL && a.a_v.u.r == 2.5);
	n.n_op = QA_MAX;
	b.a_v.t = QV_NULL;
	qpar_agg_merge(&n, &a, &b);
	ck_assert(a.a_v.t == QV_REAL && a.a_v.u.r == 2.5);
	/* dcount: the exact union of the sets of ids. */
	n.n_op = QA_DCOUNT;
	ck_assert_int_eq(qidset_add(&a.a_ids, 1), 1);
	ck_assert_int_eq(qidset_add(&a.a_ids, 2), 1);
	ck_assert_int_eq(qidset_add(&b.a_ids, 2), 1);
	ck_assert_int_eq(qidset_add(&b.a_ids, 3), 1);
	ck_assert_int_eq(qidset_add(&b.a_ids, 0), 1);
	ck_assert_int_eq(qpar_agg_merge(&n, &a, &b), 0);
	ck_assert_uint_eq(a.a_ids.i_n, 4);
	qidset_free(&b.a_ids);
	ck_assert_int_eq(qpar_agg_merge(&n, &a, &b), 0);
	ck_assert_uint_eq(a.a_ids.i_n, 4);
	qidset_free(&a.a_ids);
}
END_TEST

/* A malformed partial result is an error of the merge, never a crash. */
START_TEST(test_merge_malformed)
{
	struct item_res		 res;
	struct route_str	 pb[1];
	struct qpar		 par;
	struct range		 all = { 0, NROWS };
	struct split_partial	 h;
	char			 buf[sizeof(h) + 8];

	memset(&res, 0, sizeof(res));
	memset(&par, 0, sizeof(par));
	par.p_mode = QPM_MERGE;
	par.p_parts = pb;
	par.p_nparts = 1;
	pb[0].p = "junk";
	pb[0].n = 4;
	run("T | count", &par, &all, &res);
	ck_assert_int_eq(res.status, 500);
	memset(&h, 0, sizeof(h));
	h.magic = SPLIT_MAGIC;
	h.kind = SPLIT_K_ROWS;
	h.count = 1000;		/* rows that are not there */
	memcpy(buf, &h, sizeof(h));
	memset(buf + sizeof(h), 's', 8);
	pb[0].p = buf;
	pb[0].n = sizeof(buf);
	run("T | take 3", &par, &all, &res);
	ck_assert_int_eq(res.status, 500);
	ck_assert_ptr_nonnull(strstr(res.body.data, "malformed"));
	item_res_free(&res);
}
END_TEST

/* dcount's ids in a part's answer: a bitmap when smaller than the list,
 * else the list in u16 up to 65,536 values and u32 above; read back
 * through the translation; short or malformed input rejected. */
START_TEST(test_dcount_ids)
{
	static const struct {
		uint32_t	d, n, step;
		char		form;
		size_t		bytes;
	} c[] = {
		{ 100, 90, 1, QPAR_IDS_BITMAP, 13 },
		{ 100, 7, 14, QPAR_IDS_BITMAP, 13 },
		{ 100, 6, 16, QPAR_IDS_U16, 12 },	/* 12 < 13 */
		{ 65536, 3, 20000, QPAR_IDS_U16, 6 },
		{ 65537, 3, 20000, QPAR_IDS_U32, 12 },
		{ 200000, 60000, 3, QPAR_IDS_BITMAP, 25000 },
		{ 200000, 6000, 33, QPAR_IDS_U32, 24000 },
		{ 10, 0, 1, QPAR_IDS_U16, 0 },
		{ 0, 0, 1, QPAR_IDS_U16, 0 },
	};
	struct buf	 b = BUF_INIT;
	struct qidset	 s, dst;
	struct qpr	 r;
	uint32_t	*tr, i, n;
	size_t		 k, len;

	for (k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
		memset(&s, 0, sizeof(s));
		memset(&dst, 0, sizeof(dst));
		for (i = c[k].n; i > 0; i--)
			ck_assert_int_eq(qidset_add(&s, (i - 1) * c[k].step),
			    1);
		buf_reset(&b);
		ck_assert_int_eq(qpar_put_ids(&b, &s, c[k].d), 0);
		ck_assert_int_eq(b.data[0], c[k].form);
		ck_assert_uint_eq(b.len, 5 + c[k].bytes);
		tr = malloc(((size_t)c[k].d + 1) * sizeof(*tr));
		ck_assert_ptr_nonnull(tr);
		for (i = 0; i < c[k].d; i++)
			tr[i] = i * 2 + 1;
		r = (struct qpr){ b.data, b.data + b.len, 0 };
		ck_assert_int_eq(qpar_get_ids(&r, tr, c[k].d, &dst), 0);
		ck_assert(r.p == r.e && !r.bad);
		ck_assert_uint_eq(dst.i_n, c[k].n);
		for (i = 0; i < c[k].n; i++)
			ck_assert_int_eq(qidset_add(&dst,
			    i * c[k].step * 2 + 1), 0);
		/* Only checked (a group past the cut). */
		r = (struct qpr){ b.data, b.data + b.len, 0 };
		ck_assert_int_eq(qpar_get_ids(&r, tr, c[k].d, NULL), 0);
		ck_assert(r.p == r.e);
		/* Cut short anywhere: rejected. */
		for (len = 0; len < b.len; len += b.len > 64 ? b.len / 7 : 1) {
			r = (struct qpr){ b.data, b.data + len, 0 };
			ck_assert_int_eq(qpar_get_ids(&r, tr, c[k].d, NULL),
			    -1);
			ck_assert(r.bad);
		}
		r = (struct qpr){ b.data, b.data + b.len - 1, 0 };
		ck_assert(qpar_get_ids(&r, tr, c[k].d, NULL) == -1 && r.bad);
		free(tr);
		qidset_free(&s);
		qidset_free(&dst);
	}
	/* Malformed: an id of the list past the dictionary, a bitmap bit
	 * past it, a bitmap count that is not its bits, an unknown form. */
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(qidset_add(&s, 5), 1);
	buf_reset(&b);
	ck_assert_int_eq(qpar_put_ids(&b, &s, 10), 0);
	ck_assert_int_eq(b.data[0], QPAR_IDS_U16);
	r = (struct qpr){ b.data, b.data + b.len, 0 };
	ck_assert(qpar_get_ids(&r, NULL, 5, NULL) == -1 && r.bad);
	for (i = 0; i < 10; i++)
		qidset_add(&s, i);
	buf_reset(&b);
	ck_assert_int_eq(qpar_put_ids(&b, &s, 10), 0);
	ck_assert_int_eq(b.data[0], QPAR_IDS_BITMAP);
	r = (struct qpr){ b.data, b.data + b.len, 0 };
	ck_assert(qpar_get_ids(&r, NULL, 9, NULL) == -1 && r.bad);
	for (k = 0; k < 2; k++) {
		n = k == 0 ? 9 : 11;
		memcpy(b.data + 1, &n, 4);
		r = (struct qpr){ b.data, b.data + b.len, 0 };
		ck_assert(qpar_get_ids(&r, NULL, 10, NULL) == -1 && r.bad);
	}
	b.data[0] = 'x';
	r = (struct qpr){ b.data, b.data + b.len, 0 };
	ck_assert(qpar_get_ids(&r, NULL, 10, NULL) == -1 && r.bad);
	qidset_free(&s);
	buf_free(&b);
}
END_TEST

/* Rows with many distinct callers, each twice in a row: even rows in
 * group "all" (a part's every value: a bitmap), odd rows spread over 97
 * groups (a few values each: a list, of u32 once a part has more than
 * 65,536 values). */
static const char *
many_row(size_t i, char *buf)
{
	snprintf(buf, 128, "{\"G\":\"%s%zu\",\"C\":\"caller-%zu\","
	    "\"N\":%zu}", i % 2 ? "g" : "all", i % 2 ? i % 97 : 0, i / 2,
	    i % 1000);
	return buf;
}

START_TEST(test_dcount_many_values)
{
	static const size_t	 sizes[] = { 20000, 280000 };
	const char		*q = "T | summarize count(), dcount(C), "
	    "dcountif(C, N > 500), dcount(N) by G";
	size_t			 k, c[3];

	row_at = many_row;
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		nrows = sizes[k];
		c[0] = nrows / 2;
		same_split(q, c, 2);
		c[0] = nrows / 3;
		c[1] = nrows / 2 + 1;
		same_split(q, c, 3);
	}
	row_at = fixed_row;
	nrows = NROWS;
}
END_TEST

/* A part's answer with dcount dictionaries cut short anywhere, or
 * claiming a dictionary larger than the answer: an error of the merge. */
START_TEST(test_merge_truncated)
{
	const char		*q = "T | summarize count(), dcount(Caller), "
	    "dcountif(Op, DurationMs > 0) by Level";
	struct item_res		 part, res;
	struct route_str	 pb[1];
	struct qpar		 par;
	struct range		 all = { 0, NROWS };
	struct split_partial	 h;
	char			*copy;
	size_t			 len;
	uint32_t		 huge = 0xfffffff0u;

	memset(&part, 0, sizeof(part));
	memset(&res, 0, sizeof(res));
	memset(&par, 0, sizeof(par));
	par.p_mode = QPM_PART;
	run(q, &par, &all, &part);
	ck_assert_int_eq(part.status, 200);
	copy = malloc(part.body.len);
	ck_assert_ptr_nonnull(copy);
	memset(&par, 0, sizeof(par));
	par.p_mode = QPM_MERGE;
	par.p_parts = pb;
	par.p_nparts = 1;
	pb[0].p = part.body.data;
	pb[0].n = part.body.len;
	run(q, &par, &all, &res);
	ck_assert_int_eq(res.status, 200);
	for (len = 0; len < part.body.len; len++) {
		/* A copy of exactly len bytes: ASan sees any read past. */
		memcpy(copy, part.body.data, len);
		pb[0].p = copy;
		pb[0].n = len;
		run(q, &par, &all, &res);
		ck_assert_msg(res.status == 500 && strstr(res.body.data,
		    "malformed") != NULL, "cut at %zu: %d %s", len,
		    res.status, res.body.data);
	}
	/* The first dictionary's size, after the head and its seen bytes. */
	memcpy(&h, part.body.data, sizeof(h));
	memcpy(copy, part.body.data, part.body.len);
	memcpy(copy + sizeof(h) + h.nfields, &huge, 4);
	pb[0].n = part.body.len;
	run(q, &par, &all, &res);
	ck_assert_int_eq(res.status, 500);
	ck_assert_ptr_nonnull(strstr(res.body.data, "malformed"));
	free(copy);
	item_res_free(&part);
	item_res_free(&res);
}
END_TEST

/* A part of a query whose columns are fixed writes the answer's own rows
 * (SPLIT_K_TEXT): the types its rows had, then each row as the answer
 * holds it; the merge refuses such records when they are not whole. */
START_TEST(test_part_text_rows)
{
	struct item_res		 res, bad;
	struct route_str	 pb[1];
	struct qpar		 par;
	struct range		 all = { 0, NROWS };
	struct split_partial	 h;
	const char		*p, *want = "[\"ann\",1200]";
	uint32_t		 masks[2], len;
	char			 buf[256];
	size_t			 at;

	memset(&res, 0, sizeof(res));
	memset(&bad, 0, sizeof(bad));
	memset(&par, 0, sizeof(par));
	par.p_mode = QPM_PART;
	run("T | project Caller, DurationMs", &par, &all, &res);
	ck_assert_int_eq(res.status, 200);
	ck_assert_uint_ge(res.body.len, sizeof(h));
	memcpy(&h, res.body.data, sizeof(h));
	ck_assert_uint_eq(h.kind, SPLIT_K_TEXT);
	ck_assert_uint_eq(h.count, NROWS);
	p = res.body.data + sizeof(h) + h.nfields;
	memcpy(masks, p, sizeof(masks));
	/* Caller: strings and a null (the row without one); DurationMs:
	 * longs and a null. */
	ck_assert_uint_eq(masks[0], (1u << QV_STRING) | (1u << QV_NULL));
	ck_assert_uint_eq(masks[1], (1u << QV_LONG) | (1u << QV_NULL));
	memcpy(&len, p + sizeof(masks), sizeof(len));
	ck_assert_uint_eq(len, strlen(want));
	ck_assert_int_eq(memcmp(p + sizeof(masks) + 4, want, len), 0);

	/* Malformed: a row that is not "[...]", a row past the end, the
	 * masks cut short, and text rows where the columns are not fixed. */
	memset(&par, 0, sizeof(par));
	par.p_mode = QPM_MERGE;
	par.p_parts = pb;
	par.p_nparts = 1;
	h.count = 1;
	at = sizeof(h) + h.nfields + sizeof(masks);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), p - h.nfields, h.nfields + sizeof(masks));
	len = 3;
	memcpy(buf + at, &len, 4);
	memcpy(buf + at + 4, "\"a\"", 3);
	pb[0].p = buf;
	pb[0].n = at + 4 + 3;
	run("T | project Caller, DurationMs", &par, &all, &bad);
	ck_assert_int_eq(bad.status, 500);
	ck_assert_ptr_nonnull(strstr(bad.body.data, "malformed"));
	len = 40;
	memcpy(buf + at, &len, 4);
	memcpy(buf + at + 4, "[1,2]", 5);
	pb[0].n = at + 4 + 5;
	run("T | project Caller, DurationMs", &par, &all, &bad);
	ck_assert_int_eq(bad.status, 500);
	pb[0].n = sizeof(h) + h.nfields + 4;
	run("T | project Caller, DurationMs", &par, &all, &bad);
	ck_assert_int_eq(bad.status, 500);
	len = 5;
	memcpy(buf + at, &len, 4);
	pb[0].n = at + 4 + 5;
	run("T | take 3", &par, &all, &bad);
	ck_assert_int_eq(bad.status, 500);
	/* The same record whole is merged. */
	run("T | project Caller, DurationMs", &par, &all, &bad);
	ck_assert_int_eq(bad.status, 200);
	ck_assert_ptr_nonnull(strstr(bad.body.data, "\"rows\":[[1,2]]"));
	item_res_free(&res);
	item_res_free(&bad);
}
END_TEST

/* ---- over a real store: the split, the parts' ranges, the merge ------- */

static struct store	*st;
static char		 dir[64];

static void
put(const char *ws, const char *table, const char *key, const char *json)
{
	struct item_req	rq;
	struct item_res	res;

	memset(&rq, 0, sizeof(rq));
	memset(&res, 0, sizeof(res));
	rq.op = OP_ROW_PUT;
	rq.ws.p = ws;
	rq.ws.n = strlen(ws);
	rq.table.p = table;
	rq.table.n = strlen(table);
	rq.key.p = key;
	rq.key.n = strlen(key);
	rq.body = json;
	rq.body_len = strlen(json);
	rq.body_kind = BODY_OBJECT;
	ck_assert_int_eq(store_exec(st, &rq, &res), 0);
	ck_assert_int_le(res.status, 201);
	item_res_free(&res);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* An OP_QUERY item of ws1 with this POST body. */
static void
query_req(struct item_req *rq, const char *body)
{
	memset(rq, 0, sizeof(*rq));
	rq->op = OP_QUERY;
	rq->ws.p = "ws1";
	rq->ws.n = 3;
	rq->body = body;
	rq->body_len = strlen(body);
	rq->body_kind = BODY_OBJECT;
}

/* Run the POST query body as the worker would: split, each part, merge.
 * *nparts gets how many parts ran (0: not split); res the answer. */
static void
exec_split(const char *body, long parts, uint32_t *nparts,
    struct item_res *res)
{
	struct query_par_cfg	 cfg = { 10, parts, 0 };
	struct item_req		 rq, prq;
	struct item_res		 split, part[8];
	struct buf		 enc = BUF_INIT, pbody = BUF_INIT;
	struct buf		 penc = BUF_INIT, mbody = BUF_INIT;
	const char		*p;
	uint32_t		 n, k, len;

	memset(&split, 0, sizeof(split));
	memset(part, 0, sizeof(part));
	query_req(&rq, body);
	ck_assert_int_eq(item_encode(&rq, &enc), 0);
	query_exec_par(st, &rq, &lim, &cfg, NOW_MS, &split);
	*nparts = 0;
	if (!(split.comp_flags & COMP_F_SPLIT)) {
		item_res_reset(res);
		buf_append(&res->body, split.body.data, split.body.len);
		res->status = split.status;
		goto out;
	}
	ck_assert_int_eq(split.status, 200);
	p = split.body.data;
	memcpy(&n, p + 4, 4);
	ck_assert(n >= 2 && n <= 8);
	p += 8;
	len = (uint32_t)enc.len;
	buf_append(&mbody, &len, 4);
	buf_append(&mbody, enc.data, enc.len);
	buf_append(&mbody, &n, 4);
	for (k = 0; k < n; k++) {
		memcpy(&len, p, 4);
		buf_reset(&pbody);
		buf_append(&pbody, p, 4 + len);
		buf_append(&pbody, enc.data, enc.len);
		p += 4 + len;
		memset(&prq, 0, sizeof(prq));
		prq.op = OP_QUERY_PART;
		prq.body_kind = BODY_OTHER;
		prq.body = pbody.data;
		prq.body_len = pbody.len;
		buf_reset(&penc);
		ck_assert_int_eq(item_encode(&prq, &penc), 0);
		ck_assert_int_eq(item_decode(penc.data, penc.len, &prq), 0);
		query_exec_par(st, &prq, &lim, NULL, 0, &part[k]);
		if (part[k].status != 200) {
			/* The query's answer (split.c). */
			item_res_reset(res);
			buf_append(&res->body, part[k].body.data,
			    part[k].body.len);
			res->status = part[k].status;
			*nparts = k + 1;
			goto out;
		}
		len = (uint32_t)part[k].body.len;
		buf_append(&mbody, &len, 4);
		buf_append(&mbody, part[k].body.data, len);
	}
	ck_assert(p == split.body.data + split.body.len);
	memset(&prq, 0, sizeof(prq));
	prq.op = OP_QUERY_MERGE;
	prq.body_kind = BODY_OTHER;
	prq.body = mbody.data;
	prq.body_len = mbody.len;
	item_res_reset(res);
	query_exec_par(st, &prq, &lim, NULL, 0, res);
	*nparts = n;
out:
	for (k = 0; k < 8; k++)
		item_res_free(&part[k]);
	item_res_free(&split);
	buf_free(&enc);
	buf_free(&pbody);
	buf_free(&penc);
	buf_free(&mbody);
}

static void
same_store(const char *body, long parts)
{
	struct item_req	 rq;
	struct item_res	 whole, got;
	uint32_t	 n;

	memset(&whole, 0, sizeof(whole));
	memset(&got, 0, sizeof(got));
	query_req(&rq, body);
	query_exec(st, &rq, &lim, NOW_MS, &whole);
	exec_split(body, parts, &n, &got);
	ck_assert_msg(n >= 2 || (n == 0 && (parts < 2 || got.status != 200)),
	    "%s: %u parts", body, n);
	ck_assert_msg(got.status == whole.status &&
	    strcmp(got.body.data, whole.body.data) == 0,
	    "%s (%ld parts):\n  split %d %s\n  whole %d %s", body, parts,
	    got.status, got.body.data, whole.status, whole.body.data);
	item_res_free(&whole);
	item_res_free(&got);
}

START_TEST(test_store_split)
{
	struct store_opts	 o;
	char			 path[128], err[256], key[600], row[128];
	int			 i;
	size_t			 q, p;
	static const char *bodies[] = {
		"{\"query\":\"T | project k\"}",
		"{\"query\":\"T | count\"}",
		"{\"query\":\"T | summarize count(), dcount(g) by g\"}",
		"{\"query\":\"T | top 5 by n desc\"}",
		"{\"query\":\"T | take 7\"}",
		"{\"query\":\"T | distinct g\"}",
		"{\"query\":\"T | project k\",\"workspaces\":[\"ws2\"]}",
		"{\"query\":\"T | summarize sum(n) by g\","
		    "\"workspaces\":[\"ws3\",\"ws2\"]}",
		"{\"query\":\"T | where n > 1000000\"}",
	};

	snprintf(dir, sizeof(dir), "/tmp/test_query_par.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/db", dir);
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.map_size_mb = 64;
	o.max_result_bytes = 1 << 20;
	ck_assert_msg(store_open(&st, &o, err, sizeof(err)) == 0, "%s", err);
	/* Keys spread unevenly (short, digits, long ones past 507 bytes
	 * stored as head and hash), in two workspaces. */
	for (i = 0; i < 60; i++) {
		if (i < 20)
			snprintf(key, sizeof(key), "a%d", i);
		else if (i < 50)
			snprintf(key, sizeof(key), "row-%06d", i * 7919 % 1000);
		else {
			memset(key, 'z', 508);
			snprintf(key + 508, sizeof(key) - 508, "%d", i);
		}
		snprintf(row, sizeof(row), "{\"k\":\"%.*s\",\"n\":%d,"
		    "\"g\":\"g%d\"}", 12, key, i * 37 % 101, i % 4);
		put("ws1", "T", key, row);
		if (i % 3 == 0)
			put("ws2", "T", key, row);
	}
	for (q = 0; q < sizeof(bodies) / sizeof(bodies[0]); q++)
		for (p = 1; p <= 5; p++)
			same_store(bodies[q], (long)p);
	/* A query that reads every row, over query_max_rows_scanned, is
	 * answered at the split; one that may stop early is run. */
	lim.max_rows_scanned = 59;
	same_store(bodies[1], 3);
	same_store(bodies[4], 3);
	same_store(bodies[8], 3);	/* each part under it, all over */
	lim.max_rows_scanned = 1000;
	store_close(st);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
END_TEST

static void
setup(void)
{
	lim.max_rows_scanned = 1000;
	lim.max_result_rows = 1000;
	lim.max_result_bytes = 1 << 20;
	lim.max_workspaces = 10;
}

int
main(void)
{
	Suite	*s = suite_create("query_par");
	TCase	*tc = tcase_create("par");
	SRunner	*sr;
	int	 nf;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_two_parts_every_cut);
	tcase_add_test(tc, test_three_and_four_parts);
	tcase_add_test(tc, test_limits_across_parts);
	tcase_add_test(tc, test_key_between);
	tcase_add_test(tc, test_agg_merge);
	tcase_add_test(tc, test_merge_malformed);
	tcase_add_test(tc, test_part_text_rows);
	tcase_add_test(tc, test_dcount_ids);
	tcase_add_test(tc, test_dcount_many_values);
	tcase_add_test(tc, test_merge_truncated);
	tcase_add_test(tc, test_store_split);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? 0 : 1;
}
