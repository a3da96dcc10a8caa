/*
 * query_eval.c - one expression over one row.
 *
 * Semantics, following Kusto where rows are schemaless JSON:
 *   - a field missing from a row, or JSON null, is null;
 *   - arithmetic with a null, a type that does not fit, an overflow or an
 *     integer division by zero gives null;
 *   - comparisons with a null give null (so "where" drops the row), except
 *     against a string, where null stands for "" as Kusto's strings have no
 *     null; two values that cannot be compared are not equal (== false,
 *     != true) and not ordered (null);
 *   - and / or are three-valued (false and null = false, true or null =
 *     true);
 *   - long and real compare as numbers, a datetime compares with a string
 *     that reads as a date; string operators (contains, startswith, =~,
 *     has, ...) work on the text of any value, case-insensitively for
 *     ASCII letters unless the _cs form is used.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query_int.h"

static void
qe_null(struct qval *out)
{
	out->t = QV_NULL;
	out->own = 0;
}

static void
qe_bool(struct qval *out, int b)
{
	out->t = QV_BOOL;
	out->own = 0;
	out->u.b = b != 0;
}

static void
qe_i64(struct qval *out, enum qtype t, int64_t l)
{
	out->t = t;
	out->own = 0;
	out->u.l = l;
}

static void
qe_real(struct qval *out, double r)
{
	out->t = QV_REAL;
	out->own = 0;
	out->u.r = r;
}

/* A datetime result, or null when outside 0001..9999. */
static void
qe_time(struct qval *out, int64_t t)
{
	if (t < QTIME_MIN || t > QTIME_MAX)
		qe_null(out);
	else
		qe_i64(out, QV_DATETIME, t);
}

static int
qe_string(struct qctx *x, struct qval *out, const char *s, size_t n)
{
	char	*p;

	if ((p = qarena_strndup(&x->tmp, s, n)) == NULL)
		return -1;
	out->t = QV_STRING;
	out->own = 0;
	out->u.s.p = p;
	out->u.s.n = n;
	return 0;
}

int
qval_true(const struct qval *v)
{
	return v->t == QV_BOOL && v->u.b;
}

static int
qe_isnum(const struct qval *v)
{
	return v->t == QV_LONG || v->t == QV_REAL;
}

static double
qe_dbl(const struct qval *v)
{
	return v->t == QV_LONG ? (double)v->u.l : v->u.r;
}

/* Order of a and b in *res (-1, 0, 1); -1 when they cannot be compared,
 * -2 when one is null (and the other is not a string). */
static int
qe_cmp(const struct qval *a, const struct qval *b, int *res)
{
	struct qval	 sa, sb;
	int64_t		 t;
	double		 x, y;
	size_t		 n;
	int		 c;

	if (a->t == QV_NULL && b->t == QV_STRING) {
		sa.t = QV_STRING;
		sa.u.s.p = "";
		sa.u.s.n = 0;
		return qe_cmp(&sa, b, res);
	}
	if (b->t == QV_NULL && a->t == QV_STRING) {
		sb.t = QV_STRING;
		sb.u.s.p = "";
		sb.u.s.n = 0;
		return qe_cmp(a, &sb, res);
	}
	if (a->t == QV_NULL || b->t == QV_NULL)
		return -2;
	if (qe_isnum(a) && qe_isnum(b)) {
		if (a->t == QV_LONG && b->t == QV_LONG) {
			*res = (a->u.l > b->u.l) - (a->u.l < b->u.l);
			return 0;
		}
		x = qe_dbl(a);
		y = qe_dbl(b);
		if (isnan(x) || isnan(y))
			return -1;
		*res = (x > y) - (x < y);
		return 0;
	}
	if (a->t == QV_DATETIME && b->t == QV_STRING) {
		if (qtime_parse(b->u.s.p, b->u.s.n, 0, &t) == -1)
			return -1;
		*res = (a->u.l > t) - (a->u.l < t);
		return 0;
	}
	if (a->t == QV_STRING && b->t == QV_DATETIME) {
		if (qe_cmp(b, a, res) == -1)
			return -1;
		*res = -*res;
		return 0;
	}
	if (a->t != b->t)
		return -1;
	switch (a->t) {
	case QV_BOOL:
		*res = (a->u.b > b->u.b) - (a->u.b < b->u.b);
		return 0;
	case QV_DATETIME:
	case QV_TIMESPAN:
		*res = (a->u.l > b->u.l) - (a->u.l < b->u.l);
		return 0;
	case QV_STRING:
		n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
		c = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
		if (c == 0)
			c = (a->u.s.n > b->u.s.n) - (a->u.s.n < b->u.s.n);
		*res = (c > 0) - (c < 0);
		return 0;
	default:
		*res = qval_order(a, b);
		return 0;
	}
}

static void
qe_compare(enum qbin op, const struct qval *a, const struct qval *b,
    struct qval *out)
{
	int	c, rc = qe_cmp(a, b, &c);

	if (rc == -2) {
		qe_null(out);
		return;
	}
	if (rc == -1) {
		if (op == QB_EQ || op == QB_NE)
			qe_bool(out, op == QB_NE);
		else
			qe_null(out);
		return;
	}
	switch (op) {
	case QB_EQ:	qe_bool(out, c == 0); break;
	case QB_NE:	qe_bool(out, c != 0); break;
	case QB_LT:	qe_bool(out, c < 0); break;
	case QB_LE:	qe_bool(out, c <= 0); break;
	case QB_GT:	qe_bool(out, c > 0); break;
	default:	qe_bool(out, c >= 0); break;
	}
}

/* Integer arithmetic; 0 on success, -1 on overflow or division by 0. */
static int
qe_i64_op(enum qbin op, int64_t a, int64_t b, int64_t *r)
{
	switch (op) {
	case QB_ADD:
		return __builtin_add_overflow(a, b, r) ? -1 : 0;
	case QB_SUB:
		return __builtin_sub_overflow(a, b, r) ? -1 : 0;
	case QB_MUL:
		return __builtin_mul_overflow(a, b, r) ? -1 : 0;
	case QB_DIV:
		if (b == 0 || (a == INT64_MIN && b == -1))
			return -1;
		*r = a / b;
		return 0;
	case QB_MOD:
		if (b == 0)
			return -1;
		*r = b == -1 ? 0 : a % b;
		return 0;
	default:
		return -1;
	}
}

static double
qe_dbl_op(enum qbin op, double a, double b)
{
	switch (op) {
	case QB_ADD:	return a + b;
	case QB_SUB:	return a - b;
	case QB_MUL:	return a * b;
	case QB_DIV:	return a / b;
	default:	return fmod(a, b);
	}
}

/* A real number of ticks as a timespan, null when out of range. */
static void
qe_span_dbl(struct qval *out, double ticks)
{
	if (!(fabs(ticks) <= (double)QTIME_MAX))
		qe_null(out);
	else
		qe_i64(out, QV_TIMESPAN, (int64_t)llround(ticks));
}

static void
qe_arith(enum qbin op, const struct qval *a, const struct qval *b,
    struct qval *out)
{
	int64_t	r;

	qe_null(out);
	if (a->t == QV_LONG && b->t == QV_LONG) {
		if (qe_i64_op(op, a->u.l, b->u.l, &r) == 0)
			qe_i64(out, QV_LONG, r);
		return;
	}
	if (qe_isnum(a) && qe_isnum(b)) {
		qe_real(out, qe_dbl_op(op, qe_dbl(a), qe_dbl(b)));
		return;
	}
	if (a->t == QV_DATETIME && b->t == QV_DATETIME) {
		if (op == QB_SUB && qe_i64_op(op, a->u.l, b->u.l, &r) == 0)
			qe_i64(out, QV_TIMESPAN, r);
		return;
	}
	if (a->t == QV_DATETIME && b->t == QV_TIMESPAN) {
		if ((op == QB_ADD || op == QB_SUB) &&
		    qe_i64_op(op, a->u.l, b->u.l, &r) == 0)
			qe_time(out, r);
		return;
	}
	if (a->t == QV_TIMESPAN && b->t == QV_DATETIME) {
		if (op == QB_ADD && qe_i64_op(op, a->u.l, b->u.l, &r) == 0)
			qe_time(out, r);
		return;
	}
	if (a->t == QV_TIMESPAN && b->t == QV_TIMESPAN) {
		if (op == QB_DIV) {
			if (b->u.l != 0)
				qe_real(out, (double)a->u.l / (double)b->u.l);
		} else if (op != QB_MUL && qe_i64_op(op, a->u.l, b->u.l,
		    &r) == 0)
			qe_i64(out, QV_TIMESPAN, r);
		return;
	}
	if (a->t == QV_TIMESPAN && qe_isnum(b) && (op == QB_MUL ||
	    op == QB_DIV)) {
		if (b->t == QV_LONG) {
			if (qe_i64_op(op, a->u.l, b->u.l, &r) == 0)
				qe_i64(out, QV_TIMESPAN, r);
		} else if (op == QB_MUL || b->u.r != 0)
			qe_span_dbl(out, qe_dbl_op(op, (double)a->u.l, b->u.r));
		return;
	}
	if (qe_isnum(a) && b->t == QV_TIMESPAN && op == QB_MUL) {
		if (a->t == QV_LONG) {
			if (qe_i64_op(op, a->u.l, b->u.l, &r) == 0)
				qe_i64(out, QV_TIMESPAN, r);
		} else
			qe_span_dbl(out, a->u.r * (double)b->u.l);
	}
}

/* ASCII case folding is what Kusto's case-insensitive operators do for
 * the data this server sees; non-ASCII bytes compare exactly. */
static int
qe_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int
qe_memeq(const char *a, const char *b, size_t n, int ci)
{
	size_t	i;

	if (!ci)
		return memcmp(a, b, n) == 0;
	for (i = 0; i < n; i++)
		if (qe_lower((unsigned char)a[i]) !=
		    qe_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

static int
qe_alnum(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || c >= 0x80;
}

/* Where needle occurs in hay at or after from; -1 if it does not. */
static long
qe_find(const char *hay, size_t hn, const char *nd, size_t nn, size_t from,
    int ci)
{
	size_t	i;

	if (nn > hn)
		return -1;
	for (i = from; i + nn <= hn; i++)
		if (qe_memeq(hay + i, nd, nn, ci))
			return (long)i;
	return -1;
}

static int
qe_strop(enum qstrop op, const char *a, size_t an, const char *b, size_t bn)
{
	long	at;
	int	ci = op == QS_EQ_CI || op == QS_CONTAINS ||
		    op == QS_STARTSWITH || op == QS_ENDSWITH || op == QS_HAS;

	switch (op) {
	case QS_EQ_CI:
		return an == bn && qe_memeq(a, b, an, 1);
	case QS_CONTAINS:
	case QS_CONTAINS_CS:
		return qe_find(a, an, b, bn, 0, ci) >= 0;
	case QS_STARTSWITH:
	case QS_STARTSWITH_CS:
		return bn <= an && qe_memeq(a, b, bn, ci);
	case QS_ENDSWITH:
	case QS_ENDSWITH_CS:
		return bn <= an && qe_memeq(a + an - bn, b, bn, ci);
	default:
		/* has: the needle as a whole term, not inside a longer run
		 * of letters and digits. */
		if (bn == 0)
			return 1;
		for (at = 0; (at = qe_find(a, an, b, bn, (size_t)at, ci)) >= 0;
		    at++) {
			if (at > 0 && qe_alnum((unsigned char)a[at - 1]) &&
			    qe_alnum((unsigned char)b[0]))
				continue;
			if ((size_t)at + bn < an &&
			    qe_alnum((unsigned char)a[at + bn]) &&
			    qe_alnum((unsigned char)b[bn - 1]))
				continue;
			return 1;
		}
		return 0;
	}
}

/* Equality as "==" and "in" mean it: 1, 0, or -2 for a null operand. */
static int
qe_equal(const struct qval *a, const struct qval *b, int ci)
{
	char		 ta[QVAL_TEXT_MAX], tb[QVAL_TEXT_MAX];
	const char	*sa, *sb;
	size_t		 an, bn;
	int		 c, rc;

	if (ci && (a->t == QV_STRING || b->t == QV_STRING) &&
	    a->t != QV_DYNAMIC && b->t != QV_DYNAMIC) {
		sa = qval_text(a, ta, NULL, &an);
		sb = qval_text(b, tb, NULL, &bn);
		return an == bn && qe_memeq(sa, sb, an, 1);
	}
	rc = qe_cmp(a, b, &c);
	if (rc == -2)
		return -2;
	return rc == 0 && c == 0;
}

static int
qe_call(struct qctx *x, const struct qnode *n, const struct qrow *r,
    struct qval *out);

int
qeval(struct qctx *x, const struct qnode *n, const struct qrow *r,
    struct qval *out)
{
	struct qval	 a, b, c;
	json_object	*j;
	char		 ta[QVAL_TEXT_MAX], tb[QVAL_TEXT_MAX];
	const char	*sa, *sb;
	size_t		 an, bn, i;
	int		 rc, k;
	int64_t		 idx;

	switch (n->n_kind) {
	case QN_LIT:
		*out = n->n_lit;
		out->own = 0;
		return 0;
	case QN_COL:
		if (n->n_slot >= 0) {
			*out = r->cols[n->n_slot];
			out->own = 0;
		} else if (r->src != NULL &&
		    json_object_object_get_ex(r->src, n->n_name, &j))
			qval_from_json(j, out);
		else
			qe_null(out);
		return 0;
	case QN_AGG:
		*out = r->cols[n->n_slot];
		out->own = 0;
		return 0;
	case QN_NEG:
		if (qeval(x, n->n_a[0], r, &a) == -1)
			return -1;
		qe_null(out);
		if ((a.t == QV_LONG || a.t == QV_TIMESPAN) &&
		    a.u.l != INT64_MIN)
			qe_i64(out, a.t, -a.u.l);
		else if (a.t == QV_REAL)
			qe_real(out, -a.u.r);
		return 0;
	case QN_BIN:
		if (qeval(x, n->n_a[0], r, &a) == -1 ||
		    qeval(x, n->n_a[1], r, &b) == -1)
			return -1;
		if (n->n_op >= QB_EQ)
			qe_compare((enum qbin)n->n_op, &a, &b, out);
		else
			qe_arith((enum qbin)n->n_op, &a, &b, out);
		return 0;
	case QN_AND:
	case QN_OR:
		if (qeval(x, n->n_a[0], r, &a) == -1)
			return -1;
		/* Short cut: false and ..., true or ... */
		if (a.t == QV_BOOL && a.u.b == (n->n_kind == QN_OR)) {
			qe_bool(out, a.u.b);
			return 0;
		}
		if (qeval(x, n->n_a[1], r, &b) == -1)
			return -1;
		if (b.t == QV_BOOL && b.u.b == (n->n_kind == QN_OR))
			qe_bool(out, b.u.b);
		else if (a.t == QV_BOOL && b.t == QV_BOOL)
			qe_bool(out, b.u.b);
		else
			qe_null(out);
		return 0;
	case QN_STR:
		if (qeval(x, n->n_a[0], r, &a) == -1 ||
		    qeval(x, n->n_a[1], r, &b) == -1)
			return -1;
		if ((sa = qval_text(&a, ta, &x->tmp, &an)) == NULL ||
		    (sb = qval_text(&b, tb, &x->tmp, &bn)) == NULL)
			return -1;
		qe_bool(out, qe_strop((enum qstrop)n->n_op, sa, an, sb, bn) !=
		    n->n_neg);
		return 0;
	case QN_IN:
		if (qeval(x, n->n_a[0], r, &a) == -1)
			return -1;
		/* Not found (a null matches nothing): false, true for !in. */
		for (i = 1; i < n->n_na; i++) {
			if (qeval(x, n->n_a[i], r, &b) == -1)
				return -1;
			if (qe_equal(&a, &b, n->n_ci) == 1) {
				qe_bool(out, !n->n_neg);
				return 0;
			}
		}
		qe_bool(out, n->n_neg);
		return 0;
	case QN_BETWEEN:
		if (qeval(x, n->n_a[0], r, &a) == -1 ||
		    qeval(x, n->n_a[1], r, &b) == -1 ||
		    qeval(x, n->n_a[2], r, &c) == -1)
			return -1;
		if (qe_cmp(&b, &a, &rc) != 0 || qe_cmp(&a, &c, &k) != 0) {
			qe_null(out);
			return 0;
		}
		qe_bool(out, (rc <= 0 && k <= 0) != n->n_neg);
		return 0;
	case QN_CALL:
		return qe_call(x, n, r, out);
	case QN_MEMBER:
	case QN_INDEX:
		if (qeval(x, n->n_a[0], r, &a) == -1)
			return -1;
		qe_null(out);
		if (a.t != QV_DYNAMIC)
			return 0;
		if (n->n_kind == QN_MEMBER) {
			if (json_object_is_type(a.u.j, json_type_object) &&
			    json_object_object_get_ex(a.u.j, n->n_name, &j))
				qval_from_json(j, out);
			return 0;
		}
		if (qeval(x, n->n_a[1], r, &b) == -1)
			return -1;
		if (b.t == QV_STRING &&
		    json_object_is_type(a.u.j, json_type_object)) {
			if ((sb = qarena_strndup(&x->tmp, b.u.s.p, b.u.s.n)) ==
			    NULL)
				return -1;
			if (json_object_object_get_ex(a.u.j, sb, &j))
				qval_from_json(j, out);
		} else if (b.t == QV_LONG &&
		    json_object_is_type(a.u.j, json_type_array)) {
			bn = json_object_array_length(a.u.j);
			idx = b.u.l < 0 ? b.u.l + (int64_t)bn : b.u.l;
			if (idx >= 0 && (uint64_t)idx < bn)
				qval_from_json(json_object_array_get_idx(a.u.j,
				    (size_t)idx), out);
		}
		return 0;
	}
	qe_null(out);
	return 0;
}

/* Round x down to a multiple of span (span > 0), from origin. */
static int
qe_floor_i64(int64_t x, int64_t span, int64_t origin, int64_t *out)
{
	int64_t	d, q;

	if (__builtin_sub_overflow(x, origin, &d))
		return -1;
	q = d / span;
	if (d % span != 0 && d < 0)
		q--;
	if (__builtin_mul_overflow(q, span, &d) ||
	    __builtin_add_overflow(d, origin, out))
		return -1;
	return 0;
}

static void
qe_bin(const struct qval *a, const struct qval *b, struct qval *out)
{
	int64_t	r;
	double	span;

	qe_null(out);
	if (a->t == QV_LONG && b->t == QV_LONG) {
		if (b->u.l > 0 && qe_floor_i64(a->u.l, b->u.l, 0, &r) == 0)
			qe_i64(out, QV_LONG, r);
	} else if (qe_isnum(a) && qe_isnum(b)) {
		span = qe_dbl(b);
		if (span > 0)
			qe_real(out, floor(qe_dbl(a) / span) * span);
	} else if (a->t == QV_DATETIME && b->t == QV_TIMESPAN) {
		/* Kusto bins time from 0001-01-01 (a Monday: 7d bins start
		 * on Mondays). */
		if (b->u.l > 0 && qe_floor_i64(a->u.l, b->u.l, QTIME_MIN,
		    &r) == 0)
			qe_time(out, r);
	} else if (a->t == QV_TIMESPAN && b->t == QV_TIMESPAN) {
		if (b->u.l > 0 && qe_floor_i64(a->u.l, b->u.l, 0, &r) == 0)
			qe_i64(out, QV_TIMESPAN, r);
	}
}

/* Whole text of s[0..n) as a long; -1 if it is not one. */
static int
qe_parse_long(const char *s, size_t n, int64_t *out)
{
	uint64_t	v = 0, lim;
	size_t		i = 0;
	int		neg = 0;

	if (n > 0 && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		i++;
	}
	if (i == n)
		return -1;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (lim - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* Whole text of s[0..n) as a real: 1, 0 if it is not one, -1 on ENOMEM
 * (strtod needs a NUL-terminated copy). */
static int
qe_parse_real(struct qctx *x, const char *s, size_t n, double *out)
{
	char	*z, *end;

	if (n == 0)
		return 0;
	if ((z = qarena_strndup(&x->tmp, s, n)) == NULL)
		return -1;
	*out = strtod(z, &end);
	return end == z + n ? 1 : 0;
}

/* A real that fits a long, truncated toward zero. */
static void
qe_real_to_long(double d, struct qval *out)
{
	if (d >= -9223372036854775808.0 && d < 9223372036854775808.0)
		qe_i64(out, QV_LONG, (int64_t)d);
	else
		qe_null(out);
}

static int
qe_call(struct qctx *x, const struct qnode *n, const struct qrow *r,
    struct qval *out)
{
	struct qval	 v[3], *a = &v[0];
	char		 tmp[QVAL_TEXT_MAX], *p;
	const char	*s;
	size_t		 i, len, total, k;
	double		 d, m;
	int64_t		 l;
	int		 rc;

	qe_null(out);
	/* iff evaluates only the branch it takes. */
	if (n->n_op == QF_IFF) {
		if (qeval(x, n->n_a[0], r, a) == -1)
			return -1;
		return qeval(x, n->n_a[qval_true(a) ? 1 : 2], r, out);
	}
	if (n->n_op == QF_STRCAT) {
		for (total = 0, i = 0; i < n->n_na; i++) {
			if (qeval(x, n->n_a[i], r, a) == -1 ||
			    qval_text(a, tmp, &x->tmp, &len) == NULL)
				return -1;
			total += len;
		}
		if ((p = qarena_alloc(&x->tmp, total + 1)) == NULL)
			return -1;
		for (k = 0, i = 0; i < n->n_na; i++) {
			if (qeval(x, n->n_a[i], r, a) == -1 ||
			    (s = qval_text(a, tmp, &x->tmp, &len)) == NULL)
				return -1;
			/* Evaluation is deterministic: same lengths. */
			if (k + len > total)
				len = total - k;
			memcpy(p + k, s, len);
			k += len;
		}
		p[k] = '\0';
		out->t = QV_STRING;
		out->u.s.p = p;
		out->u.s.n = k;
		return 0;
	}
	for (i = 0; i < n->n_na && i < 3; i++)
		if (qeval(x, n->n_a[i], r, &v[i]) == -1)
			return -1;
	switch ((enum qfn)n->n_op) {
	case QF_NOT:
		if (a->t == QV_BOOL)
			qe_bool(out, !a->u.b);
		break;
	case QF_ISNULL:
	case QF_ISNOTNULL:
		qe_bool(out, (a->t == QV_NULL) == (n->n_op == QF_ISNULL));
		break;
	case QF_ISEMPTY:
	case QF_ISNOTEMPTY:
		rc = a->t == QV_NULL || (a->t == QV_STRING && a->u.s.n == 0);
		qe_bool(out, rc == (n->n_op == QF_ISEMPTY));
		break;
	case QF_AGO:
		if (a->t == QV_TIMESPAN &&
		    !__builtin_sub_overflow(x->now, a->u.l, &l))
			qe_time(out, l);
		break;
	case QF_NOW:
		if (n->n_na == 0)
			qe_time(out, x->now);
		else if (a->t == QV_TIMESPAN &&
		    !__builtin_add_overflow(x->now, a->u.l, &l))
			qe_time(out, l);
		break;
	case QF_BIN:
		qe_bin(&v[0], &v[1], out);
		break;
	case QF_STARTOFDAY:
		v[1].t = QV_TIMESPAN;
		v[1].u.l = QTICKS_PER_DAY;
		if (a->t == QV_DATETIME)
			qe_bin(&v[0], &v[1], out);
		break;
	case QF_TOSTRING:
		if ((s = qval_text(a, tmp, &x->tmp, &len)) == NULL)
			return -1;
		return qe_string(x, out, s, len);
	case QF_TOLONG:
		if (a->t == QV_LONG || a->t == QV_DATETIME ||
		    a->t == QV_TIMESPAN)
			qe_i64(out, QV_LONG, a->u.l);
		else if (a->t == QV_REAL)
			qe_real_to_long(a->u.r, out);
		else if (a->t == QV_BOOL)
			qe_i64(out, QV_LONG, a->u.b);
		else if (a->t == QV_STRING) {
			if (qe_parse_long(a->u.s.p, a->u.s.n, &l) == 0)
				qe_i64(out, QV_LONG, l);
			else if ((rc = qe_parse_real(x, a->u.s.p, a->u.s.n,
			    &d)) == -1)
				return -1;
			else if (rc == 1)
				qe_real_to_long(d, out);
		}
		break;
	case QF_TODOUBLE:
		if (qe_isnum(a))
			qe_real(out, qe_dbl(a));
		else if (a->t == QV_BOOL)
			qe_real(out, a->u.b);
		else if (a->t == QV_DATETIME || a->t == QV_TIMESPAN)
			qe_real(out, (double)a->u.l);
		else if (a->t == QV_STRING) {
			if ((rc = qe_parse_real(x, a->u.s.p, a->u.s.n,
			    &d)) == -1)
				return -1;
			if (rc == 1)
				qe_real(out, d);
		}
		break;
	case QF_TODATETIME:
		if (a->t == QV_DATETIME)
			*out = *a;
		else if (a->t == QV_STRING &&
		    qtime_parse(a->u.s.p, a->u.s.n, 0, &l) == 0)
			qe_time(out, l);
		break;
	case QF_TOLOWER:
	case QF_TOUPPER:
		if ((s = qval_text(a, tmp, &x->tmp, &len)) == NULL ||
		    qe_string(x, out, s, len) == -1)
			return -1;
		p = (char *)out->u.s.p;
		for (i = 0; i < len; i++)
			if (n->n_op == QF_TOLOWER)
				p[i] = (char)qe_lower((unsigned char)p[i]);
			else if (p[i] >= 'a' && p[i] <= 'z')
				p[i] = (char)(p[i] - 32);
		break;
	case QF_STRLEN:
		if ((s = qval_text(a, tmp, &x->tmp, &len)) == NULL)
			return -1;
		for (l = 0, i = 0; i < len; i++)
			if (((unsigned char)s[i] & 0xc0) != 0x80)
				l++;
		qe_i64(out, QV_LONG, l);
		break;
	case QF_ABS:
		if ((a->t == QV_LONG || a->t == QV_TIMESPAN) &&
		    a->u.l != INT64_MIN)
			qe_i64(out, a->t, a->u.l < 0 ? -a->u.l : a->u.l);
		else if (a->t == QV_REAL)
			qe_real(out, fabs(a->u.r));
		break;
	case QF_ROUND:
		if (n->n_na == 2 && v[1].t != QV_LONG)
			break;
		l = n->n_na == 2 ? v[1].u.l : 0;
		if (a->t == QV_LONG && l >= 0)
			*out = *a;
		else if (qe_isnum(a) && l >= -15 && l <= 15) {
			m = pow(10.0, (double)l);
			qe_real(out, round(qe_dbl(a) * m) / m);
		}
		break;
	default:
		break;
	}
	return 0;
}

static enum qtype
qe_arith_type(enum qbin op, enum qtype a, enum qtype b)
{
	int	an = a == QV_LONG || a == QV_REAL;
	int	bn = b == QV_LONG || b == QV_REAL;

	if (a == QV_LONG && b == QV_LONG)
		return QV_LONG;
	if (an && bn)
		return QV_REAL;
	if (a == QV_DATETIME && b == QV_DATETIME)
		return op == QB_SUB ? QV_TIMESPAN : QV_NULL;
	if ((a == QV_DATETIME && b == QV_TIMESPAN) ||
	    (a == QV_TIMESPAN && b == QV_DATETIME))
		return QV_DATETIME;
	if (a == QV_TIMESPAN && b == QV_TIMESPAN)
		return op == QB_DIV ? QV_REAL : QV_TIMESPAN;
	if ((a == QV_TIMESPAN && bn) || (an && b == QV_TIMESPAN))
		return QV_TIMESPAN;
	return QV_NULL;
}

enum qtype
qnode_type(const struct qnode *n, const enum qtype *cols)
{
	enum qtype	a, b;

	switch (n->n_kind) {
	case QN_LIT:
		return n->n_lit.t;
	case QN_COL:
		return n->n_slot >= 0 && cols != NULL ? cols[n->n_slot] :
		    QV_NULL;
	case QN_NEG:
		return qnode_type(n->n_a[0], cols);
	case QN_BIN:
		if (n->n_op >= QB_EQ)
			return QV_BOOL;
		return qe_arith_type((enum qbin)n->n_op,
		    qnode_type(n->n_a[0], cols), qnode_type(n->n_a[1], cols));
	case QN_AND:
	case QN_OR:
	case QN_STR:
	case QN_IN:
	case QN_BETWEEN:
		return QV_BOOL;
	case QN_AGG:
		switch ((enum qagg)n->n_op) {
		case QA_COUNT:
		case QA_COUNTIF:
		case QA_DCOUNT:
		case QA_DCOUNTIF:
			return QV_LONG;
		case QA_AVG:
		case QA_AVGIF:
			return QV_REAL;
		default:
			a = qnode_type(n->n_a[0], cols);
			if ((n->n_op == QA_SUM || n->n_op == QA_SUMIF) &&
			    a != QV_LONG && a != QV_REAL && a != QV_TIMESPAN)
				return QV_NULL;
			return a;
		}
	case QN_CALL:
		break;
	default:
		return QV_NULL;
	}
	switch ((enum qfn)n->n_op) {
	case QF_NOT: case QF_ISNULL: case QF_ISNOTNULL: case QF_ISEMPTY:
	case QF_ISNOTEMPTY:
		return QV_BOOL;
	case QF_AGO: case QF_NOW: case QF_STARTOFDAY: case QF_TODATETIME:
		return QV_DATETIME;
	case QF_TOSTRING: case QF_TOLOWER: case QF_TOUPPER: case QF_STRCAT:
		return QV_STRING;
	case QF_TOLONG: case QF_STRLEN:
		return QV_LONG;
	case QF_TODOUBLE:
		return QV_REAL;
	case QF_BIN:
		a = qnode_type(n->n_a[0], cols);
		b = qnode_type(n->n_a[1], cols);
		if (a == QV_LONG && b == QV_REAL)
			return QV_REAL;
		return a;
	case QF_IFF:
		a = qnode_type(n->n_a[1], cols);
		b = qnode_type(n->n_a[2], cols);
		return a == b || b == QV_NULL ? a : (a == QV_NULL ? b :
		    QV_NULL);
	case QF_ABS:
		return qnode_type(n->n_a[0], cols);
	case QF_ROUND:
		a = qnode_type(n->n_a[0], cols);
		return a == QV_LONG && n->n_na == 1 ? QV_LONG :
		    (a == QV_LONG || a == QV_REAL ? QV_REAL : QV_NULL);
	}
	return QV_NULL;
}
