/*
 * query_row.c - stored rows read in place: the fields a query uses are
 * found in the row's JSON bytes and decoded when asked for, without a
 * tree and without allocating (see struct qfield in query_int.h).
 *
 * The stored bytes are not trusted to be JSON (a damaged store, a row
 * written behind the server's back): every walk is bounded by the row's
 * end, and a row found not to be a JSON object where it is read fails the
 * query with a clear error.
 *
 * A member name written twice in one object: the first one counts.
 *
 * Values are typed as Kusto types them: a string is a string (a datetime
 * when it has the form rows use for times, see qval_from_str), a number
 * with a fraction or an exponent is real, a whole number long (real when
 * it does not fit in 64 bits), objects and arrays dynamic.  A string
 * without escapes is compared as its raw bytes; one with escapes is
 * decoded once, into the per-row arena.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

void
qrow_init(struct qsrc *s)
{
	size_t	i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < QROW_NLEN; i++)
		s->s_bylen[i] = -1;
}

static void
qrow_release(struct qsrc *s)
{
	size_t	k;

	if (!s->s_parsed)
		return;
	for (k = 0; k < s->s_nf; k++)
		if (s->s_v[k].v_j != NULL) {
			json_object_put(s->s_v[k].v_j);
			s->s_v[k].v_j = NULL;
		}
	s->s_parsed = 0;
}

void
qrow_free(struct qsrc *s)
{
	size_t	k;

	if (s->s_v != NULL)
		qrow_release(s);
	for (k = 0; k < s->s_nf; k++)
		free((char *)s->s_f[k].f_name);
	free(s->s_f);
	free(s->s_v);
}

int
qrow_field(struct qsrc *s, int parent, const char *name, int line, int col)
{
	struct qfield	*f, *nv;
	size_t		 n = strlen(name), k, cap;

	for (k = 0; k < s->s_nf; k++) {
		f = &s->s_f[k];
		if (f->f_parent == parent && f->f_len == n &&
		    memcmp(f->f_name, name, n) == 0)
			return (int)k;
	}
	if (s->s_nf == s->s_capf) {
		cap = s->s_capf ? s->s_capf * 2 : 8;
		if (cap > INT_MAX || (nv = realloc(s->s_f, cap *
		    sizeof(*nv))) == NULL)
			return -1;
		s->s_f = nv;
		s->s_capf = cap;
	}
	f = &s->s_f[s->s_nf];
	memset(f, 0, sizeof(*f));
	if ((f->f_name = strdup(name)) == NULL)
		return -1;
	f->f_len = n;
	f->f_parent = parent;
	f->f_line = line;
	f->f_col = col;
	f->f_next = -1;
	if (parent < 0) {
		f->f_next = s->s_bylen[n % QROW_NLEN];
		s->s_bylen[n % QROW_NLEN] = (int)s->s_nf;
	}
	return (int)s->s_nf++;
}

int
qrow_ready(struct qsrc *s)
{
	if ((s->s_v = calloc(s->s_nf + 1, sizeof(*s->s_v))) == NULL)
		return -1;
	return 0;
}

void
qrow_open(struct qsrc *s, const char *p, size_t n)
{
	qrow_release(s);
	s->s_gen++;
	s->s_p = p;
	s->s_e = p + n;
	s->s_walked = 0;
	s->s_bad = jscan_biter_init(&s->s_it, p, s->s_e) == -1;
}

/* Is the member name nm field f's name?  A name with escapes is decoded
 * first (on the stack when short, as names are). */
static int
qrow_is(const struct jscan_str *nm, const struct qfield *f)
{
	char		 tmp[256], *big = NULL;
	const char	*d;
	size_t		 len;
	int		 eq;

	if (!nm->esc)
		return nm->n == f->f_len && memcmp(nm->p, f->f_name,
		    f->f_len) == 0;
	/* Decoding never lengthens, and shortens at most sixfold. */
	if (nm->n < f->f_len || nm->n > 6 * f->f_len)
		return 0;
	if (nm->n > sizeof(tmp) && (big = malloc(nm->n)) == NULL)
		return 0;
	d = jscan_decode(nm, big != NULL ? big : tmp, &len);
	eq = len == f->f_len && memcmp(d, f->f_name, len) == 0;
	free(big);
	return eq;
}

/* Walk the row on until field k is found or the row ends, noting every
 * field passed on the way. */
static int
qrow_walk(struct qsrc *s, int k)
{
	struct jscan_str	 nm;
	struct qfield		*f;
	const char		*val, *vend;
	size_t			 i;
	int			 rc, j;

	while (!s->s_walked && s->s_v[k].v_gen != s->s_gen) {
		if ((rc = jscan_biter_next(&s->s_it, &nm, &val, &vend)) == 0) {
			s->s_walked = 1;
			break;
		}
		if (rc == -1)
			return -1;
		if (!nm.esc) {
			for (j = s->s_bylen[nm.n % QROW_NLEN]; j >= 0;
			    j = f->f_next) {
				f = &s->s_f[j];
				if (qrow_is(&nm, f))
					break;
			}
		} else {
			/* The decoded length is not known before decoding:
			 * try every member field. */
			for (j = -1, i = 0; i < s->s_nf && j < 0; i++)
				if (s->s_f[i].f_parent < 0 &&
				    qrow_is(&nm, &s->s_f[i]))
					j = (int)i;
		}
		if (j >= 0) {
			s->s_f[j].f_seen = 1;
			s->s_v[j].v_gen = s->s_gen;
			s->s_v[j].v_p = val;
			s->s_v[j].v_e = vend;
		}
	}
	return 0;
}

/* Find field k in the current row (v_gen == s_gen afterwards). */
static int
qrow_find(struct qsrc *s, int k)
{
	struct qfval		*v = &s->s_v[k], *pv;
	struct qfield		*f = &s->s_f[k];
	struct jscan_biter	 it;
	struct jscan_str	 nm;
	const char		*val, *vend;
	int			 rc;

	if (v->v_gen == s->s_gen)
		return 0;
	if (f->f_parent < 0) {
		if (s->s_bad || qrow_walk(s, k) == -1) {
			s->s_bad = 1;
			return -1;
		}
	} else {
		/* A path: the member of the parent's object.  Parents come
		 * before their members in s_f, so this recursion is as deep
		 * as the path is long, which the parser bounds. */
		if (qrow_find(s, f->f_parent) == -1)
			return -1;
		pv = &s->s_v[f->f_parent];
		if (pv->v_p != NULL && *pv->v_p == '{') {
			if (jscan_biter_init(&it, pv->v_p, pv->v_e) == -1)
				return -1;
			while ((rc = jscan_biter_next(&it, &nm, &val,
			    &vend)) == 1) {
				if (!qrow_is(&nm, f))
					continue;
				v->v_gen = s->s_gen;
				v->v_p = val;
				v->v_e = vend;
				break;
			}
			if (rc == -1) {
				s->s_bad = 1;
				return -1;
			}
		}
	}
	if (v->v_gen != s->s_gen) {
		v->v_gen = s->s_gen;
		v->v_p = NULL;
	}
	return 0;
}

/* A number's text p[0..n) as long or real. */
static int
qrow_number(const char *p, size_t n, struct qval *v)
{
	char		 buf[400], *end;
	size_t		 i = 0;
	uint64_t	 u = 0;
	int		 neg = 0, whole = 1;

	if (n > 0 && p[0] == '-')
		neg = 1, i = 1;
	if (i == n || p[i] < '0' || p[i] > '9')
		return -1;
	for (; i < n && whole; i++) {
		if (p[i] < '0' || p[i] > '9') {
			whole = 0;
			break;
		}
		if (u > (UINT64_MAX - 9) / 10)
			whole = 0;	/* too long for a long: real */
		else
			u = u * 10 + (uint64_t)(p[i] - '0');
	}
	v->own = 0;
	if (whole && u <= (uint64_t)INT64_MAX + (uint64_t)neg) {
		v->t = QV_LONG;
		v->u.l = neg ? (int64_t)(0 - u) : (int64_t)u;
		return 0;
	}
	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	errno = 0;
	v->t = QV_REAL;
	v->u.r = strtod(buf, &end);
	return end == buf + n ? 0 : -1;
}

int
qrow_value(struct qctx *ctx, const char *p, const char *e, struct qval *v)
{
	struct jscan_str	 s;
	const char		*d;
	char			*out;
	size_t			 n = (size_t)(e - p);

	v->own = 0;
	switch (*p) {
	case '"':
		s.p = p + 1;
		s.n = n - 2;
		s.esc = memchr(s.p, '\\', s.n) != NULL;
		if (s.esc) {
			if ((out = qarena_alloc(&ctx->tmp, s.n + 1)) == NULL)
				return -1;
			d = jscan_decode(&s, out, &n);
		} else {
			d = s.p;
			n = s.n;
		}
		qval_from_str(d, n, v);
		return 0;
	case 't':
	case 'f':
	case 'n':
		if (n == 4 && memcmp(p, "true", 4) == 0) {
			v->t = QV_BOOL;
			v->u.b = 1;
		} else if (n == 5 && memcmp(p, "false", 5) == 0) {
			v->t = QV_BOOL;
			v->u.b = 0;
		} else if (n == 4 && memcmp(p, "null", 4) == 0)
			v->t = QV_NULL;
		else
			break;
		return 0;
	case '{':
	case '[':
		if (n > INT_MAX)
			break;
		if (ctx->tok == NULL &&
		    (ctx->tok = json_tokener_new_ex(QX_JSON_DEPTH)) == NULL)
			return -1;
		json_tokener_reset(ctx->tok);
		errno = 0;
		v->u.j = json_tokener_parse_ex(ctx->tok, p, (int)n);
		if (v->u.j == NULL) {
			if (errno == ENOMEM)
				return -1;
			break;
		}
		v->t = QV_DYNAMIC;
		v->own = 1;
		return 0;
	default:
		if (qrow_number(p, n, v) == 0)
			return 0;
		break;
	}
	ctx->bad = 1;
	v->t = QV_NULL;
	v->own = 0;
	return -1;
}

int
qrow_get(struct qctx *ctx, struct qsrc *s, int k, struct qval *out)
{
	struct qfval	*v = &s->s_v[k];

	if (qrow_find(s, k) == -1) {
		ctx->bad = 1;
		return -1;
	}
	if (v->v_p == NULL) {
		out->t = QV_NULL;
		out->own = 0;
		return 0;
	}
	if (v->v_j != NULL) {
		out->t = QV_DYNAMIC;
		out->own = 0;
		out->u.j = v->v_j;
		return 0;
	}
	if (qrow_value(ctx, v->v_p, v->v_e, out) == -1)
		return -1;
	if (out->t == QV_DYNAMIC) {
		/* Kept with the row: the value is borrowed like the rest. */
		v->v_j = out->u.j;
		out->own = 0;
		s->s_parsed = 1;
	}
	return 0;
}

int
qrow_member(struct qctx *ctx, struct jscan_biter *it, const char **name,
    struct qval *v)
{
	struct jscan_str	 nm;
	const char		*val, *vend;
	char			*d;
	size_t			 len;
	int			 rc;

	if ((rc = jscan_biter_next(it, &nm, &val, &vend)) != 1) {
		if (rc == -1)
			ctx->bad = 1;
		return rc;
	}
	if ((d = qarena_alloc(&ctx->tmp, nm.n + 1)) == NULL)
		return -1;
	if (nm.esc)
		jscan_decode(&nm, d, &len);
	else
		memcpy(d, nm.p, len = nm.n);
	d[len] = '\0';
	*name = d;
	return qrow_value(ctx, val, vend, v) == -1 ? -1 : 1;
}

int
qrow_unseen(const struct qsrc *s)
{
	size_t	k;

	for (k = 0; k < s->s_nf; k++)
		if (s->s_f[k].f_parent < 0 && s->s_f[k].f_named &&
		    !s->s_f[k].f_seen)
			return (int)k;
	return -1;
}

int
qrow_mark(struct qsrc *s)
{
	int	k;

	while ((k = qrow_unseen(s)) >= 0) {
		if (qrow_find(s, k) == -1)
			return -1;
		if (s->s_v[k].v_p == NULL)
			return 0;	/* the row is walked whole */
	}
	return 0;
}
