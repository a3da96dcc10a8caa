/*
 * query_val.c - what the query engine's steps share: typed values, the
 * text of dates, times and numbers, arenas, a byte-key hash set and a
 * set of integer ids (dcount's).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

/* ---- arenas ------------------------------------------------------------ */

/* Chunks start small (an arena per dcount group must stay cheap) and
 * double up to QARENA_CHUNK. */
#define QARENA_FIRST	256
#define QARENA_CHUNK	8192

struct qchunk {
	struct qchunk	*c_next;
	size_t		 c_used, c_cap;
	max_align_t	 c_data[];
};

void *
qarena_alloc(struct qarena *a, size_t n)
{
	struct qchunk	*c = a->a_head;
	size_t		 cap;
	void		*p;

	if (n > ((size_t)-1) / 4)
		return NULL;
	n = (n + 15) & ~(size_t)15;
	if (n == 0)
		n = 16;
	if (c == NULL || c->c_cap - c->c_used < n) {
		if (a->a_grow < QARENA_FIRST)
			a->a_grow = QARENA_FIRST;
		cap = n > QARENA_CHUNK / 2 ? n : a->a_grow;
		if (cap < n)
			cap = n;
		else if (cap == a->a_grow && a->a_grow < QARENA_CHUNK)
			a->a_grow *= 2;
		if ((c = malloc(sizeof(*c) + cap)) == NULL)
			return NULL;
		c->c_used = 0;
		c->c_cap = cap;
		/* A big one-off block goes behind the current chunk so the
		 * current chunk's free space is not wasted. */
		if (n > QARENA_CHUNK / 2 && a->a_head != NULL) {
			c->c_next = a->a_head->c_next;
			a->a_head->c_next = c;
		} else {
			c->c_next = a->a_head;
			a->a_head = c;
		}
	}
	p = (char *)c->c_data + c->c_used;
	c->c_used += n;
	return p;
}

char *
qarena_strndup(struct qarena *a, const char *s, size_t n)
{
	char	*p;

	if ((p = qarena_alloc(a, n + 1)) == NULL)
		return NULL;
	if (n > 0)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
qarena_reset(struct qarena *a)
{
	struct qchunk	*c, *next;

	if (a->a_head == NULL)
		return;
	for (c = a->a_head->c_next; c != NULL; c = next) {
		next = c->c_next;
		free(c);
	}
	a->a_head->c_next = NULL;
	a->a_head->c_used = 0;
}

void
qarena_free(struct qarena *a)
{
	qarena_reset(a);
	free(a->a_head);
	a->a_head = NULL;
}

/* ---- values ------------------------------------------------------------ */

const char *
qtype_name(enum qtype t)
{
	static const char *names[QV__COUNT] = {
		[QV_NULL] = "dynamic", [QV_BOOL] = "bool", [QV_LONG] = "long",
		[QV_REAL] = "real", [QV_DATETIME] = "datetime",
		[QV_TIMESPAN] = "timespan", [QV_STRING] = "string",
		[QV_DYNAMIC] = "dynamic",
	};

	return (t >= 0 && t < QV__COUNT) ? names[t] : "dynamic";
}

void
qval_from_json(json_object *j, struct qval *v)
{
	const char	*s;
	size_t		 n;

	v->own = 0;
	switch (json_object_get_type(j)) {
	case json_type_null:
		v->t = QV_NULL;
		break;
	case json_type_boolean:
		v->t = QV_BOOL;
		v->u.b = json_object_get_boolean(j) ? 1 : 0;
		break;
	case json_type_int:
		/* json-c keeps integers up to 2^64-1; above 2^63-1 they are
		 * not longs, and are compared and summed as reals. */
		if (json_object_get_int64(j) == INT64_MAX &&
		    json_object_get_uint64(j) > (uint64_t)INT64_MAX) {
			v->t = QV_REAL;
			v->u.r = (double)json_object_get_uint64(j);
			break;
		}
		v->t = QV_LONG;
		v->u.l = json_object_get_int64(j);
		break;
	case json_type_double:
		v->t = QV_REAL;
		v->u.r = json_object_get_double(j);
		break;
	case json_type_string:
		s = json_object_get_string(j);
		n = (size_t)json_object_get_string_len(j);
		qval_from_str(s, n, v);
		break;
	default:
		v->t = QV_DYNAMIC;
		v->u.j = j;
		break;
	}
}

void
qval_from_str(const char *s, size_t n, struct qval *v)
{
	int64_t	t;

	v->own = 0;
	/* Cheap shape test first: most strings are not times. */
	if (n >= 20 && s[4] == '-' && s[10] == 'T' &&
	    qtime_parse(s, n, 1, &t) == 0) {
		v->t = QV_DATETIME;
		v->u.l = t;
	} else {
		v->t = QV_STRING;
		v->u.s.p = s;
		v->u.s.n = n;
	}
}

int
qval_copy(struct qval *dst, const struct qval *src)
{
	char	*p;

	*dst = *src;
	dst->own = 0;
	if (src->t == QV_STRING) {
		if ((p = malloc(src->u.s.n + 1)) == NULL)
			return -1;
		if (src->u.s.n > 0)
			memcpy(p, src->u.s.p, src->u.s.n);
		p[src->u.s.n] = '\0';
		dst->u.s.p = p;
		dst->own = 1;
	} else if (src->t == QV_DYNAMIC) {
		dst->u.j = json_object_get(src->u.j);
		dst->own = 1;
	}
	return 0;
}

void
qval_clear(struct qval *v)
{
	if (v->own) {
		if (v->t == QV_STRING)
			free((char *)v->u.s.p);
		else if (v->t == QV_DYNAMIC)
			json_object_put(v->u.j);
	}
	v->t = QV_NULL;
	v->own = 0;
}

const char *
qval_dyn_text(const struct qval *v, size_t *n)
{
	const char	*s;

	s = json_object_to_json_string_length(v->u.j, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, n);
	if (s == NULL)
		*n = 0;
	return s != NULL ? s : "";
}

/* Rank of each type in the total order. */
static int
qval_rank(enum qtype t)
{
	switch (t) {
	case QV_NULL:		return 0;
	case QV_LONG:
	case QV_REAL:		return 1;
	case QV_BOOL:		return 2;
	case QV_DATETIME:	return 3;
	case QV_TIMESPAN:	return 4;
	case QV_STRING:		return 5;
	default:		return 6;
	}
}

static int
qcmp_i64(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

static int
qcmp_dbl(double a, double b)
{
	/* NaN sorts below every other number, equal to itself. */
	if (isnan(a) || isnan(b))
		return isnan(b) - isnan(a);
	return (a > b) - (a < b);
}

static int
qcmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
	int	c;

	c = memcmp(a, b, an < bn ? an : bn);
	if (c != 0)
		return c < 0 ? -1 : 1;
	return (an > bn) - (an < bn);
}

int
qval_order(const struct qval *a, const struct qval *b)
{
	const char	*as, *bs;
	size_t		 an, bn;
	int		 ra = qval_rank(a->t), rb = qval_rank(b->t);

	if (ra != rb)
		return ra < rb ? -1 : 1;
	switch (a->t) {
	case QV_NULL:
		return 0;
	case QV_LONG:
		if (b->t == QV_LONG)
			return qcmp_i64(a->u.l, b->u.l);
		return qcmp_dbl((double)a->u.l, b->u.r);
	case QV_REAL:
		return qcmp_dbl(a->u.r, b->t == QV_REAL ? b->u.r :
		    (double)b->u.l);
	case QV_BOOL:
		return (a->u.b > b->u.b) - (a->u.b < b->u.b);
	case QV_DATETIME:
	case QV_TIMESPAN:
		return qcmp_i64(a->u.l, b->u.l);
	case QV_STRING:
		return qcmp_bytes(a->u.s.p, a->u.s.n, b->u.s.p, b->u.s.n);
	default:
		as = qval_dyn_text(a, &an);
		bs = qval_dyn_text(b, &bn);
		return qcmp_bytes(as, an, bs, bn);
	}
}

int
qval_key(struct buf *b, const struct qval *v)
{
	return qval_encode(b, v, 0);
}

int
qval_encode(struct buf *b, const struct qval *v, int exact)
{
	static const char tags[QV__COUNT] = {
		[QV_NULL] = 'n', [QV_BOOL] = 'b', [QV_LONG] = 'l',
		[QV_REAL] = 'r', [QV_DATETIME] = 'd', [QV_TIMESPAN] = 't',
		[QV_STRING] = 's', [QV_DYNAMIC] = 'j',
	};
	const char	*s;
	size_t		 n;
	uint32_t	 len32;
	double		 r;

	if (buf_putc(b, tags[v->t]) == -1)
		return -1;
	switch (v->t) {
	case QV_NULL:
		return 0;
	case QV_BOOL:
		return buf_putc(b, v->u.b ? '1' : '0');
	case QV_LONG:
	case QV_DATETIME:
	case QV_TIMESPAN:
		return buf_append(b, &v->u.l, sizeof(v->u.l));
	case QV_REAL:
		/* As keys, -0.0 and 0.0 are one value; all NaNs are one. */
		r = v->u.r;
		if (!exact && r == 0)
			r = 0.0;
		if (!exact && isnan(r))
			r = NAN;
		return buf_append(b, &r, sizeof(r));
	case QV_STRING:
		s = v->u.s.p;
		n = v->u.s.n;
		break;
	default:
		s = qval_dyn_text(v, &n);
		break;
	}
	len32 = (uint32_t)n;
	if (buf_append(b, &len32, sizeof(len32)) == -1)
		return -1;
	return buf_append(b, s, n);
}

int
qval_json(struct buf *b, const struct qval *v)
{
	char		 tmp[QVAL_TEXT_MAX];
	const char	*s;
	size_t		 n;

	switch (v->t) {
	case QV_NULL:
		return buf_puts(b, "null");
	case QV_BOOL:
		return buf_puts(b, v->u.b ? "true" : "false");
	case QV_LONG:
		return buf_printf(b, "%lld", (long long)v->u.l);
	case QV_REAL:
		n = qreal_format(v->u.r, tmp);
		/* JSON has no NaN or infinity: Kusto writes them as strings. */
		if (!isfinite(v->u.r))
			return buf_json_str(b, tmp, n);
		return buf_append(b, tmp, n);
	case QV_DATETIME:
		n = qtime_format(v->u.l, tmp);
		return buf_json_str(b, tmp, n);
	case QV_TIMESPAN:
		n = qspan_format(v->u.l, tmp);
		return buf_json_str(b, tmp, n);
	case QV_STRING:
		return buf_json_str(b, v->u.s.p, v->u.s.n);
	default:
		/* As Log Analytics: a dynamic value is its JSON text, as a
		 * string. */
		s = qval_dyn_text(v, &n);
		return buf_json_str(b, s, n);
	}
}

const char *
qval_text(const struct qval *v, char *tmp, struct qarena *a, size_t *len)
{
	const char	*s;
	size_t		 n;
	int		 k;

	switch (v->t) {
	case QV_NULL:
		*len = 0;
		return "";
	case QV_BOOL:
		*len = v->u.b ? 4 : 5;
		return v->u.b ? "true" : "false";
	case QV_LONG:
		k = snprintf(tmp, QVAL_TEXT_MAX, "%lld", (long long)v->u.l);
		*len = k > 0 ? (size_t)k : 0;
		return tmp;
	case QV_REAL:
		*len = qreal_format(v->u.r, tmp);
		return tmp;
	case QV_DATETIME:
		*len = qtime_format(v->u.l, tmp);
		return tmp;
	case QV_TIMESPAN:
		*len = qspan_format(v->u.l, tmp);
		return tmp;
	case QV_STRING:
		*len = v->u.s.n;
		return v->u.s.p;
	default:
		s = qval_dyn_text(v, &n);
		*len = n;
		return qarena_strndup(a, s, n);
	}
}

size_t
qreal_format(double r, char out[QVAL_TEXT_MAX])
{
	int	prec, k;

	if (isnan(r))
		return (size_t)snprintf(out, QVAL_TEXT_MAX, "NaN");
	if (isinf(r))
		return (size_t)snprintf(out, QVAL_TEXT_MAX, "%s",
		    r > 0 ? "Infinity" : "-Infinity");
	for (prec = 15; prec < 17; prec++) {
		snprintf(out, QVAL_TEXT_MAX, "%.*g", prec, r);
		if (strtod(out, NULL) == r)
			break;
	}
	k = snprintf(out, QVAL_TEXT_MAX, "%.*g", prec, r);
	return k > 0 ? (size_t)k : 0;
}

/* ---- dates and times --------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
qdays_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t		 era;
	unsigned	 yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
qcivil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t		 era;
	unsigned	 doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int
qdigits(const char *s, size_t n, size_t *i, int count, int *out)
{
	int	v = 0, k;

	for (k = 0; k < count; k++, (*i)++) {
		if (*i >= n || s[*i] < '0' || s[*i] > '9')
			return -1;
		v = v * 10 + (s[*i] - '0');
	}
	*out = v;
	return 0;
}

int
qtime_parse(const char *s, size_t n, int strict, int64_t *ticks)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	size_t	 i = 0;
	int	 y, mo, d, h = 0, mi = 0, sec = 0, dim, sign, oh, om, k;
	int64_t	 frac = 0, t;

	if (qdigits(s, n, &i, 4, &y) == -1 || i >= n || s[i++] != '-' ||
	    qdigits(s, n, &i, 2, &mo) == -1 || i >= n || s[i++] != '-' ||
	    qdigits(s, n, &i, 2, &d) == -1)
		return -1;
	if (i < n && (s[i] == 'T' || (!strict && s[i] == ' '))) {
		i++;
		if (qdigits(s, n, &i, 2, &h) == -1 || i >= n ||
		    s[i++] != ':' || qdigits(s, n, &i, 2, &mi) == -1)
			return -1;
		if (i < n && s[i] == ':') {
			i++;
			if (qdigits(s, n, &i, 2, &sec) == -1)
				return -1;
			if (i < n && s[i] == '.') {
				i++;
				if (i >= n || s[i] < '0' || s[i] > '9')
					return -1;
				for (k = 0; i < n && s[i] >= '0' &&
				    s[i] <= '9'; i++, k++)
					if (k < 7)
						frac = frac * 10 + (s[i] - '0');
				for (; k < 7; k++)
					frac *= 10;
			}
		} else if (strict)
			return -1;
	} else if (strict)
		return -1;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 ||
	    sec > 59)
		return -1;
	dim = mdays[mo - 1];
	if (mo == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		dim = 29;
	if (d > dim)
		return -1;
	t = qdays_from_civil(y, (unsigned)mo, (unsigned)d) * QTICKS_PER_DAY +
	    ((int64_t)h * 3600 + mi * 60 + sec) * QTICKS_PER_SEC + frac;
	if (i < n && s[i] == 'Z')
		i++;
	else if (i < n && (s[i] == '+' || s[i] == '-')) {
		sign = s[i++] == '+' ? 1 : -1;
		if (qdigits(s, n, &i, 2, &oh) == -1 || i >= n ||
		    s[i++] != ':' || qdigits(s, n, &i, 2, &om) == -1 ||
		    oh > 23 || om > 59)
			return -1;
		t -= sign * ((int64_t)oh * 3600 + om * 60) * QTICKS_PER_SEC;
	} else if (strict)
		return -1;
	if (i != n || t < QTIME_MIN || t > QTIME_MAX)
		return -1;
	*ticks = t;
	return 0;
}

/* Append ".fffffff" without trailing zeros (nothing when frac is 0). */
static size_t
qfrac_format(int64_t frac, int trim, char *out)
{
	int	k;

	if (frac == 0)
		return 0;
	out[0] = '.';
	for (k = 7; k >= 1; k--) {
		out[k] = (char)('0' + frac % 10);
		frac /= 10;
	}
	k = 8;
	while (trim && out[k - 1] == '0')
		k--;
	return (size_t)k;
}

size_t
qtime_format(int64_t ticks, char out[QVAL_TEXT_MAX])
{
	int64_t		 days, rem, y;
	unsigned	 m, d;
	int		 k;
	size_t		 n;

	days = ticks / QTICKS_PER_DAY;
	rem = ticks % QTICKS_PER_DAY;
	if (rem < 0) {
		rem += QTICKS_PER_DAY;
		days--;
	}
	qcivil_from_days(days, &y, &m, &d);
	k = snprintf(out, QVAL_TEXT_MAX, "%04lld-%02u-%02uT%02d:%02d:%02d",
	    (long long)y, m, d, (int)(rem / (3600 * QTICKS_PER_SEC)),
	    (int)(rem / (60 * QTICKS_PER_SEC) % 60),
	    (int)(rem / QTICKS_PER_SEC % 60));
	n = k > 0 ? (size_t)k : 0;
	n += qfrac_format(rem % QTICKS_PER_SEC, 1, out + n);
	out[n++] = 'Z';
	out[n] = '\0';
	return n;
}

size_t
qspan_format(int64_t ticks, char out[QVAL_TEXT_MAX])
{
	uint64_t	 u, days, rem;
	size_t		 n = 0;
	int		 k;

	if (ticks < 0) {
		out[n++] = '-';
		u = (uint64_t)(-(ticks + 1)) + 1;
	} else
		u = (uint64_t)ticks;
	days = u / (uint64_t)QTICKS_PER_DAY;
	rem = u % (uint64_t)QTICKS_PER_DAY;
	if (days > 0)
		k = snprintf(out + n, QVAL_TEXT_MAX - n, "%llu.",
		    (unsigned long long)days);
	else
		k = 0;
	n += k > 0 ? (size_t)k : 0;
	k = snprintf(out + n, QVAL_TEXT_MAX - n, "%02d:%02d:%02d",
	    (int)(rem / (3600 * QTICKS_PER_SEC)),
	    (int)(rem / (60 * QTICKS_PER_SEC) % 60),
	    (int)(rem / QTICKS_PER_SEC % 60));
	n += k > 0 ? (size_t)k : 0;
	/* Kusto prints all seven digits of a timespan's fraction. */
	n += qfrac_format((int64_t)(rem % QTICKS_PER_SEC), 0, out + n);
	out[n] = '\0';
	return n;
}

int
qspan_parse_iso(const char *s, size_t n, int64_t *ticks)
{
	static const struct {
		char	 unit;
		int	 time;		/* after 'T' */
		int64_t	 ticks;
	} units[] = {
		{ 'W', 0, 7 * QTICKS_PER_DAY }, { 'D', 0, QTICKS_PER_DAY },
		{ 'H', 1, 3600 * QTICKS_PER_SEC },
		{ 'M', 1, 60 * QTICKS_PER_SEC }, { 'S', 1, QTICKS_PER_SEC },
	};
	size_t		 i = 0, u, next = 0, nu = sizeof(units) /
			    sizeof(units[0]);
	int		 in_time = 0, any = 0, k;
	uint64_t	 whole;
	int64_t		 frac, scale, total = 0, part;

	if (n < 2 || s[i++] != 'P')
		return -1;
	while (i < n) {
		if (s[i] == 'T') {
			if (in_time || ++i >= n)
				return -1;
			in_time = 1;
			continue;
		}
		if (s[i] < '0' || s[i] > '9')
			return -1;
		for (whole = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			whole = whole * 10 + (uint64_t)(s[i] - '0');
			if (whole > (uint64_t)QTIME_MAX / QTICKS_PER_SEC)
				return -1;
		}
		frac = 0;
		scale = 1;
		if (i < n && (s[i] == '.' || s[i] == ',')) {
			i++;
			if (i >= n || s[i] < '0' || s[i] > '9')
				return -1;
			for (k = 0; i < n && s[i] >= '0' && s[i] <= '9';
			    i++, k++)
				if (k < 9) {
					frac = frac * 10 + (s[i] - '0');
					scale *= 10;
				}
		}
		if (i >= n)
			return -1;
		for (u = next; u < nu; u++)
			if (units[u].unit == s[i] && units[u].time == in_time)
				break;
		if (u == nu)
			return -1;
		next = u + 1;
		i++;
		if (whole > (uint64_t)(QTIME_MAX / units[u].ticks))
			return -1;
		part = (int64_t)whole * units[u].ticks +
		    (int64_t)((double)frac / (double)scale *
		    (double)units[u].ticks);
		if (part > QTIME_MAX - total)
			return -1;
		total += part;
		any = 1;
	}
	if (!any)
		return -1;
	*ticks = total;
	return 0;
}

/* ---- byte-key hash set ------------------------------------------------- */

struct qhent {
	uint64_t	 e_hash;
	const char	*e_key;		/* NULL: empty slot */
	size_t		 e_n;
	size_t		 e_idx;
};

/* Eight bytes at a time (group keys and dcount values are hashed once per
 * row: a byte-at-a-time hash was the top of a summarize's profile), then
 * a finaliser so the low bits used as slot are well mixed. */
static uint64_t
qhash(const void *p, size_t n)
{
	const unsigned char	*s = p;
	uint64_t		 h = 0x9e3779b97f4a7c15ULL ^ n, w;

	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 31;
	}
	w = 0;
	if (n > 0)
		memcpy(&w, s, n);
	h = (h ^ w) * 0x94d049bb133111ebULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static int
qhset_grow(struct qhset *hs)
{
	struct qhent	*tab, *e;
	size_t		 cap = hs->h_cap ? hs->h_cap * 2 : 8, i, j;

	if ((tab = calloc(cap, sizeof(*tab))) == NULL)
		return -1;
	for (i = 0; i < hs->h_cap; i++) {
		e = &hs->h_tab[i];
		if (e->e_key == NULL)
			continue;
		for (j = e->e_hash & (cap - 1); tab[j].e_key != NULL;
		    j = (j + 1) & (cap - 1))
			;
		tab[j] = *e;
	}
	free(hs->h_tab);
	hs->h_tab = tab;
	hs->h_cap = cap;
	return 0;
}

int
qhset_put(struct qhset *hs, const void *key, size_t n, size_t *idx,
    int *added)
{
	struct qhent	*e;
	uint64_t	 h;
	size_t		 j;
	char		*k;

	if (key == NULL)	/* an empty key from a never-used buffer */
		key = "";
	h = qhash(key, n);

	if ((hs->h_n + 1) * 4 > hs->h_cap * 3 && qhset_grow(hs) == -1)
		return -1;
	for (j = h & (hs->h_cap - 1);; j = (j + 1) & (hs->h_cap - 1)) {
		e = &hs->h_tab[j];
		if (e->e_key == NULL)
			break;
		if (e->e_hash == h && e->e_n == n &&
		    memcmp(e->e_key, key, n) == 0) {
			*idx = e->e_idx;
			*added = 0;
			return 0;
		}
	}
	if ((k = qarena_alloc(&hs->h_keys, n)) == NULL)
		return -1;
	if (n > 0)
		memcpy(k, key, n);
	e->e_hash = h;
	e->e_key = k;
	e->e_n = n;
	e->e_idx = hs->h_n++;
	*idx = e->e_idx;
	*added = 1;
	return 0;
}

void
qhset_free(struct qhset *hs)
{
	free(hs->h_tab);
	qarena_free(&hs->h_keys);
	hs->h_tab = NULL;
	hs->h_cap = hs->h_n = 0;
}

const char *
qhset_slot(const struct qhset *hs, size_t j, size_t *n, size_t *idx)
{
	const struct qhent *e = &hs->h_tab[j];

	*n = e->e_n;
	if (idx != NULL)
		*idx = e->e_idx;
	return e->e_key;
}

/* ---- small integer set ------------------------------------------------- */

/* Fibonacci hashing: the top bits of id * 2^32 / phi, the table's log2
 * of them. */
static uint32_t
qidset_slot(uint32_t id, uint32_t cap)
{
	return (uint32_t)(id * 0x9e3779b9u) >>
	    (32 - (unsigned)__builtin_ctz(cap));
}

static int
qidset_grow(struct qidset *s)
{
	uint32_t	*tab, cap, i, j;

	if (s->i_cap >= 1u << 30)
		return -1;
	cap = s->i_cap ? s->i_cap * 2 : 8;
	if ((tab = malloc((size_t)cap * sizeof(*tab))) == NULL)
		return -1;
	memset(tab, 0xff, (size_t)cap * sizeof(*tab));	/* QIDSET_EMPTY */
	for (i = 0; i < s->i_cap; i++) {
		if (s->i_tab[i] == QIDSET_EMPTY)
			continue;
		for (j = qidset_slot(s->i_tab[i], cap); tab[j] != QIDSET_EMPTY;
		    j = (j + 1) & (cap - 1))
			;
		tab[j] = s->i_tab[i];
	}
	free(s->i_tab);
	s->i_tab = tab;
	s->i_cap = cap;
	return 0;
}

int
qidset_add(struct qidset *s, uint32_t id)
{
	uint32_t	j;

	for (j = s->i_cap ? qidset_slot(id, s->i_cap) : 0; s->i_cap > 0 &&
	    s->i_tab[j] != QIDSET_EMPTY; j = (j + 1) & (s->i_cap - 1))
		if (s->i_tab[j] == id)
			return 0;
	/* New: the table grows only for an id it does not hold. */
	if (((uint64_t)s->i_n + 1) * 4 > (uint64_t)s->i_cap * 3) {
		if (qidset_grow(s) == -1)
			return -1;
		for (j = qidset_slot(id, s->i_cap);
		    s->i_tab[j] != QIDSET_EMPTY; j = (j + 1) & (s->i_cap - 1))
			;
	}
	s->i_tab[j] = id;
	s->i_n++;
	return 1;
}

void
qidset_free(struct qidset *s)
{
	free(s->i_tab);
	s->i_tab = NULL;
	s->i_cap = s->i_n = 0;
}
