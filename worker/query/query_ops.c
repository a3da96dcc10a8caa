/*
 * query_ops.c - the operators at run time: rows pushed down the chain of
 * stages qplan() built.
 *
 * Streaming stages (where, project, project-away, project-rename, extend,
 * take, distinct) pass rows on at once; take answers "stop" once it has N
 * rows, which stops the scan.  Buffering stages keep only what they must:
 * sort the rows it has seen (failing early with 422 once it holds more
 * than query_max_result_rows rows that nothing after it can drop), top a
 * heap of N rows, summarize one state per group (dcount an exact set of
 * values per group), count a counter.  At the end of the scan each stage
 * in turn flushes what it holds down the chain.
 */
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

/* ---- stored rows ------------------------------------------------------- */

void
qops_stored_free(struct qstored *s)
{
	size_t	i;

	if (s == NULL)
		return;
	for (i = 0; i < s->r_ncols; i++)
		qval_clear(&s->r_cols[i]);
	for (i = 0; i < s->r_nkeys; i++)
		qval_clear(&s->r_keys[i]);
	free(s);
}

struct qstored *
qops_stored_new(const struct qrow *r, size_t ncols, const struct qval *keys,
    size_t nkeys, uint64_t seq)
{
	struct qstored	*s;
	size_t		 i;

	size_t		 srclen = 0;

	if (r->src != NULL)
		srclen = (size_t)(r->src->s_e - r->src->s_p);
	if ((s = malloc(sizeof(*s) + (ncols + nkeys) *
	    sizeof(struct qval) + srclen)) == NULL)
		return NULL;
	s->r_seq = seq;
	s->r_cols = (struct qval *)(s + 1);
	s->r_keys = s->r_cols + ncols;
	/* The row's bytes live in the store's snapshot only while the scan
	 * is on them: a row kept for later keeps a copy. */
	s->r_src = NULL;
	s->r_srclen = srclen;
	if (r->src != NULL) {
		s->r_src = (char *)(s->r_keys + nkeys);
		memcpy(s->r_src, r->src->s_p, srclen);
	}
	s->r_ncols = s->r_nkeys = 0;
	for (i = 0; i < ncols; i++, s->r_ncols++)
		if (qval_copy(&s->r_cols[i], &r->cols[i]) == -1)
			goto fail;
	for (i = 0; i < nkeys; i++, s->r_nkeys++)
		if (qval_copy(&s->r_keys[i], &keys[i]) == -1)
			goto fail;
	return s;
fail:
	qops_stored_free(s);
	return NULL;
}

int
qops_rows_add(struct qstored ***v, size_t *n, size_t *cap, struct qstored *s)
{
	struct qstored	**nv;
	size_t		  ncap;

	if (*n == *cap) {
		ncap = *cap ? *cap * 2 : 64;
		if ((nv = realloc(*v, ncap * sizeof(*nv))) == NULL)
			return -1;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = s;
	return 0;
}

/* Sort order of two rows by the keys of st; ties keep arrival order. */
static int
qops_order(const struct qstage *st, const struct qval *ak, uint64_t aseq,
    const struct qval *bk, uint64_t bseq)
{
	const struct qitem	*it;
	size_t			 i;
	int			 c, an, bn;

	for (i = 0; i < st->s_nitems; i++) {
		it = &st->s_items[i];
		an = ak[i].t == QV_NULL;
		bn = bk[i].t == QV_NULL;
		if (an || bn) {
			if (an && bn)
				continue;
			return (an == it->i_nulls_first) ? -1 : 1;
		}
		c = qval_order(&ak[i], &bk[i]);
		if (c != 0)
			return it->i_desc ? -c : c;
	}
	return (aseq > bseq) - (aseq < bseq);
}

static int
qops_sort_cmp(const void *a, const void *b, void *arg)
{
	const struct qstored	*ra = *(struct qstored *const *)a;
	const struct qstored	*rb = *(struct qstored *const *)b;

	return qops_order(arg, ra->r_keys, ra->r_seq, rb->r_keys, rb->r_seq);
}

/* ---- stages ------------------------------------------------------------ */

static int
qops_eval_keys(struct qexec *x, struct qstage *st, const struct qrow *r)
{
	size_t	i;

	for (i = 0; i < st->s_nitems; i++)
		if (qeval(&x->x_ctx, st->s_items[i].i_e, r, &st->s_keys[i]) ==
		    -1)
			return qx_oom(x);
	return 0;
}

static int
qops_sort_push(struct qexec *x, struct qstage *st, const struct qrow *r)
{
	struct qstored	*s;

	if (qops_eval_keys(x, st, r) == -1)
		return -1;
	if ((s = qops_stored_new(r, st->s_nin, st->s_keys, st->s_nitems,
	    st->s_seq++)) == NULL ||
	    qops_rows_add(&st->s_rows, &st->s_nrows, &st->s_caprows, s) == -1) {
		qops_stored_free(s);
		return qx_oom(x);
	}
	return 0;
}

/* The heap's root is the row that would come last: the first to go. */
static int
qops_heap_after(const struct qstage *st, size_t i, size_t j)
{
	const struct qstored	*a = st->s_rows[i], *b = st->s_rows[j];

	return qops_order(st, a->r_keys, a->r_seq, b->r_keys, b->r_seq) > 0;
}

static void
qops_heap_swap(struct qstage *st, size_t i, size_t j)
{
	struct qstored	*t = st->s_rows[i];

	st->s_rows[i] = st->s_rows[j];
	st->s_rows[j] = t;
}

static void
qops_heap_down(struct qstage *st, size_t i)
{
	size_t	l, r, m;

	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < st->s_nrows && qops_heap_after(st, l, m))
			m = l;
		if (r < st->s_nrows && qops_heap_after(st, r, m))
			m = r;
		if (m == i)
			return;
		qops_heap_swap(st, i, m);
		i = m;
	}
}

static int
qops_top_push(struct qexec *x, struct qstage *st, const struct qrow *r)
{
	struct qstored	*s, *root;
	uint64_t	 seq = st->s_seq++;
	size_t		 i;

	if (st->s_n == 0)
		return 1;
	if (qops_eval_keys(x, st, r) == -1)
		return -1;
	if ((int64_t)st->s_nrows == st->s_n) {
		root = st->s_rows[0];
		if (qops_order(st, st->s_keys, seq, root->r_keys,
		    root->r_seq) >= 0)
			return 0;
	}
	if ((s = qops_stored_new(r, st->s_nin, st->s_keys, st->s_nitems,
	    seq)) == NULL)
		return qx_oom(x);
	if ((int64_t)st->s_nrows == st->s_n) {
		qops_stored_free(st->s_rows[0]);
		st->s_rows[0] = s;
		qops_heap_down(st, 0);
		return 0;
	}
	if (qops_rows_add(&st->s_rows, &st->s_nrows, &st->s_caprows, s) == -1) {
		qops_stored_free(s);
		return qx_oom(x);
	}
	for (i = st->s_nrows - 1; i > 0 && qops_heap_after(st, i, (i - 1) / 2);
	    i = (i - 1) / 2)
		qops_heap_swap(st, i, (i - 1) / 2);
	return 0;
}

/* Push each kept row of a sort or top stage, in order. */
static int
qops_sorted_flush(struct qexec *x, size_t i)
{
	struct qstage	*st = &x->x_st[i];
	struct qrow	 r;
	size_t		 k;
	int		 rc = 0;

	if (st->s_nrows > 1)
		qsort_r(st->s_rows, st->s_nrows, sizeof(*st->s_rows),
		    qops_sort_cmp, st);
	for (k = 0; k < st->s_nrows && rc == 0; k++) {
		r.src = NULL;
		if (st->s_rows[k]->r_src != NULL) {
			qrow_open(&x->x_row, st->s_rows[k]->r_src,
			    st->s_rows[k]->r_srclen);
			r.src = &x->x_row;
		}
		r.cols = st->s_rows[k]->r_cols;
		rc = qops_push(x, i + 1, &r);
		qarena_reset(&x->x_ctx.tmp);
	}
	return rc == -1 ? -1 : 0;
}

/* Encode the values of a row's group / distinct key into x_key. */
int
qops_key(struct qexec *x, const struct qval *v, size_t n)
{
	size_t	i;

	buf_reset(&x->x_key);
	for (i = 0; i < n; i++)
		if (qval_key(&x->x_key, &v[i]) == -1)
			return qx_oom(x);
	return 0;
}

/* distinct *: the key is every visible column of the row. */
int
qops_key_row(struct qexec *x, const struct qschema *sc, const struct qrow *r)
{
	struct jscan_biter	 it;
	struct qval		 name, v;
	const char		*k;
	int			 rc;

	if (qops_key(x, r->cols, sc->s_ncols) == -1)
		return -1;
	if (r->src == NULL || !sc->s_open)
		return 0;
	if (jscan_biter_init(&it, r->src->s_p, r->src->s_e) == -1) {
		x->x_ctx.bad = 1;
		return qx_oom(x);
	}
	while ((rc = qrow_member(&x->x_ctx, &it, &k, &v)) == 1) {
		if (!qplan_visible(sc, k)) {
			qval_clear(&v);
			continue;
		}
		name.t = QV_STRING;
		name.own = 0;
		name.u.s.p = k;
		name.u.s.n = strlen(k);
		rc = qval_key(&x->x_key, &name) == -1 ||
		    qval_key(&x->x_key, &v) == -1;
		qval_clear(&v);
		if (rc)
			return qx_oom(x);
	}
	return rc == -1 ? qx_oom(x) : 0;
}

static int
qops_distinct_push(struct qexec *x, struct qstage *st, const struct qrow *r)
{
	struct qrow	out = { NULL, st->s_row };
	size_t		i, idx;
	int		added;

	if (st->s_op->o_star) {
		if (qops_key_row(x, &st->s_out, r) == -1)
			return -1;
		out = *r;
	} else {
		for (i = 0; i < st->s_nitems; i++)
			if (qeval(&x->x_ctx, st->s_items[i].i_e, r,
			    &st->s_row[i]) == -1)
				return qx_oom(x);
		if (qops_key(x, st->s_row, st->s_nitems) == -1)
			return -1;
	}
	if (qhset_put(&st->s_set, x->x_key.data, x->x_key.len, &idx,
	    &added) == -1)
		return qx_oom(x);
	return added ? qops_push(x, (size_t)(st - x->x_st) + 1, &out) : 0;
}

/* ---- summarize --------------------------------------------------------- */

void
qops_group_free(struct qgroup *g, size_t nby, size_t naggs)
{
	size_t	i;

	if (g == NULL)
		return;
	for (i = 0; i < nby; i++)
		qval_clear(&g->g_keys[i]);
	for (i = 0; i < naggs; i++) {
		qval_clear(&g->g_aggs[i].a_v);
		qidset_free(&g->g_aggs[i].a_ids);
	}
	free(g);
}

struct qgroup *
qops_group_new(const struct qval *keys, size_t nby, size_t naggs)
{
	struct qgroup	*g;
	size_t		 i;

	if ((g = calloc(1, sizeof(*g) + nby * sizeof(struct qval) +
	    naggs * sizeof(struct qaggst))) == NULL)
		return NULL;
	g->g_aggs = (struct qaggst *)(g + 1);
	g->g_keys = (struct qval *)(g->g_aggs + naggs);
	for (i = 0; i < nby; i++)
		if (qval_copy(&g->g_keys[i], &keys[i]) == -1) {
			qops_group_free(g, i, naggs);
			return NULL;
		}
	return g;
}

int
qops_group_add(struct qstage *st, struct qgroup *g)
{
	struct qgroup	**nv;
	size_t		  ncap;

	if (st->s_ngroups == st->s_capgroups) {
		ncap = st->s_capgroups ? st->s_capgroups * 2 : 64;
		if ((nv = realloc(st->s_groups, ncap * sizeof(*nv))) == NULL)
			return -1;
		st->s_groups = nv;
		st->s_capgroups = ncap;
	}
	st->s_groups[st->s_ngroups++] = g;
	return 0;
}

/* dcount's values: dict is the stage's dictionary of aggregate n. */
static int
qops_agg_add(struct qexec *x, const struct qnode *n, struct qaggst *a,
    struct qhset *dict, const struct qrow *r)
{
	struct qval	v;
	size_t		idx;
	int		added;
	int64_t		l;

	/* The *if forms: the predicate is the last argument (dcountif's
	 * second). */
	if (n->n_op == QA_COUNTIF || n->n_op == QA_SUMIF ||
	    n->n_op == QA_AVGIF || n->n_op == QA_DCOUNTIF) {
		if (qeval(&x->x_ctx, n->n_a[n->n_op == QA_COUNTIF ? 0 : 1], r,
		    &v) == -1)
			return qx_oom(x);
		if (!qval_true(&v))
			return 0;
	}
	if (n->n_op == QA_COUNT || n->n_op == QA_COUNTIF) {
		a->a_n++;
		return 0;
	}
	if (qeval(&x->x_ctx, n->n_a[0], r, &v) == -1)
		return qx_oom(x);
	if (v.t == QV_NULL)
		return 0;
	switch ((enum qagg)n->n_op) {
	case QA_SUM:
	case QA_SUMIF:
		if (v.t == QV_LONG && (a->a_kind == QV_NULL ||
		    a->a_kind == QV_LONG)) {
			a->a_kind = QV_LONG;
			if (!__builtin_add_overflow(a->a_l, v.u.l, &l)) {
				a->a_l = l;
				break;
			}
			/* Past the range of a long: go on in real. */
			a->a_kind = QV_REAL;
			a->a_r = (double)a->a_l + (double)v.u.l;
		} else if ((v.t == QV_LONG || v.t == QV_REAL) &&
		    a->a_kind != QV_TIMESPAN) {
			if (a->a_kind == QV_LONG)
				a->a_r = (double)a->a_l;
			a->a_kind = QV_REAL;
			a->a_r += v.t == QV_LONG ? (double)v.u.l : v.u.r;
		} else if (v.t == QV_TIMESPAN && (a->a_kind == QV_NULL ||
		    a->a_kind == QV_TIMESPAN)) {
			a->a_kind = QV_TIMESPAN;
			if (!__builtin_add_overflow(a->a_l, v.u.l, &l))
				a->a_l = l;
		}
		break;
	case QA_AVG:
	case QA_AVGIF:
		if (v.t == QV_LONG || v.t == QV_REAL) {
			a->a_r += v.t == QV_LONG ? (double)v.u.l : v.u.r;
			a->a_n++;
		}
		break;
	case QA_MIN:
	case QA_MAX:
		if (a->a_v.t == QV_NULL ||
		    (qval_order(&v, &a->a_v) < 0) == (n->n_op == QA_MIN)) {
			if (a->a_v.t != QV_NULL && qval_order(&v, &a->a_v) == 0)
				break;
			qval_clear(&a->a_v);
			if (qval_copy(&a->a_v, &v) == -1)
				return qx_oom(x);
		}
		break;
	case QA_DCOUNT:
	case QA_DCOUNTIF:
		/* One hash of the value's bytes (its id in the stage's
		 * dictionary), then an integer into the group's set. */
		if (qops_key(x, &v, 1) == -1 || qhset_put(dict,
		    x->x_key.data, x->x_key.len, &idx, &added) == -1 ||
		    idx >= QIDSET_EMPTY ||
		    qidset_add(&a->a_ids, (uint32_t)idx) == -1)
			return qx_oom(x);
		break;
	default:
		break;
	}
	return 0;
}

static int
qops_summarize_push(struct qexec *x, struct qstage *st, const struct qrow *r)
{
	const struct qop	*op = st->s_op;
	struct qgroup		*g;
	size_t			 i, idx;
	int			 added;

	for (i = 0; i < op->o_nby; i++)
		if (qeval(&x->x_ctx, op->o_by[i].i_e, r, &st->s_row[i]) == -1)
			return qx_oom(x);
	if (qops_key(x, st->s_row, op->o_nby) == -1 ||
	    qhset_put(&st->s_set, x->x_key.data, x->x_key.len, &idx,
	    &added) == -1)
		return qx_oom(x);
	if (added && st->s_preserves && x->x_mode != QPM_PART &&
	    qx_over_rows(x, st->s_ngroups + 1)) {
		/* Every group is a row of the answer, which is cut at
		 * max_result_rows: the first groups are the first rows,
		 * unless a sort comes later (then all are needed first).
		 * A part keeps them all: which are first is known only
		 * in the merge (query_par.c). */
		if (st->s_sorted_after)
			return qx_limit_rows(x);
		x->x_partial = 1;
		return 0;
	}
	if (added) {
		if ((g = qops_group_new(st->s_row, op->o_nby, st->s_naggs)) ==
		    NULL || qops_group_add(st, g) == -1) {
			qops_group_free(g, op->o_nby, st->s_naggs);
			return qx_oom(x);
		}
	}
	if (idx >= st->s_ngroups)
		return 0;	/* a group past the cut */
	g = st->s_groups[idx];
	for (i = 0; i < st->s_naggs; i++)
		if (qops_agg_add(x, st->s_aggs[i], &g->g_aggs[i],
		    &st->s_dicts[i], r) == -1)
			return -1;
	return 0;
}

/* An aggregate's answer for one group (Kusto's defaults when the group
 * had no value: 0 for count, sum and dcount, null for the others). */
static void
qops_agg_result(const struct qnode *n, const struct qaggst *a, struct qval *v)
{
	memset(v, 0, sizeof(*v));
	switch ((enum qagg)n->n_op) {
	case QA_COUNT:
	case QA_COUNTIF:
		v->t = QV_LONG;
		v->u.l = a->a_n;
		break;
	case QA_SUM:
	case QA_SUMIF:
		v->t = a->a_kind == QV_NULL ? QV_LONG : (enum qtype)a->a_kind;
		if (v->t == QV_REAL)
			v->u.r = a->a_r;
		else
			v->u.l = a->a_l;
		break;
	case QA_AVG:
	case QA_AVGIF:
		if (a->a_n > 0) {
			v->t = QV_REAL;
			v->u.r = a->a_r / (double)a->a_n;
		}
		break;
	case QA_MIN:
	case QA_MAX:
		*v = a->a_v;
		v->own = 0;
		break;
	default:
		v->t = QV_LONG;
		v->u.l = (int64_t)a->a_ids.i_n;
		break;
	}
}

static int
qops_summarize_flush(struct qexec *x, size_t si)
{
	struct qstage		*st = &x->x_st[si];
	const struct qop	*op = st->s_op;
	struct qgroup		*g;
	struct qrow		 ar = { NULL, st->s_aggv };
	struct qrow		 out = { NULL, st->s_row };
	size_t			 k, i;
	int			 rc = 0;

	/* Without "by", an empty input still gives one row. */
	if (st->s_ngroups == 0 && op->o_nby == 0) {
		if ((g = qops_group_new(NULL, 0, st->s_naggs)) == NULL ||
		    qops_group_add(st, g) == -1) {
			qops_group_free(g, 0, st->s_naggs);
			return qx_oom(x);
		}
	}
	for (k = 0; k < st->s_ngroups && rc == 0; k++) {
		g = st->s_groups[k];
		for (i = 0; i < st->s_naggs; i++)
			qops_agg_result(st->s_aggs[i], &g->g_aggs[i],
			    &st->s_aggv[i]);
		for (i = 0; i < op->o_nby; i++) {
			st->s_row[i] = g->g_keys[i];
			st->s_row[i].own = 0;
		}
		for (i = 0; i < op->o_nitems; i++)
			if (qeval(&x->x_ctx, op->o_items[i].i_e, &ar,
			    &st->s_row[op->o_nby + i]) == -1)
				return qx_oom(x);
		rc = qops_push(x, si + 1, &out);
		qarena_reset(&x->x_ctx.tmp);
	}
	return rc == -1 ? -1 : 0;
}


/* ---- the pipeline ------------------------------------------------------ */

/* Push row r into stage i (the answer when i is past the last stage).
 * Returns 0 to go on, 1 when no more rows are wanted, -1 on error. */
int
qops_push(struct qexec *x, size_t i, const struct qrow *r)
{
	struct qstage	*st;
	struct qrow	 out;
	struct qval	 v;
	size_t		 k;
	int		 rc;

	if (i == x->x_nst)
		return x->x_mode == QPM_PART ? qpar_emit(x, r) :
		    qrender_push(x, r);
	st = &x->x_st[i];
	out.src = r->src;
	out.cols = st->s_row;
	switch (st->s_kind) {
	case QO_WHERE:
		if (qeval(&x->x_ctx, st->s_op->o_pred, r, &v) == -1)
			return qx_oom(x);
		return qval_true(&v) ? qops_push(x, i + 1, r) : 0;
	case QO_PROJECT:
		for (k = 0; k < st->s_nitems; k++)
			if (qeval(&x->x_ctx, st->s_items[k].i_e, r,
			    &st->s_row[k]) == -1)
				return qx_oom(x);
		out.src = NULL;
		return qops_push(x, i + 1, &out);
	case QO_EXTEND:
		if (st->s_nin > 0)
			memcpy(st->s_row, r->cols, st->s_nin *
			    sizeof(*st->s_row));
		for (k = st->s_nin; k < st->s_out.s_ncols; k++)
			st->s_row[k].t = QV_NULL;
		for (k = 0; k < st->s_nitems; k++) {
			if (qeval(&x->x_ctx, st->s_items[k].i_e, &out, &v) ==
			    -1)
				return qx_oom(x);
			st->s_row[st->s_slot[k]] = v;
		}
		return qops_push(x, i + 1, &out);
	case QO_PROJECT_AWAY:
	case QO_PROJECT_RENAME:
		for (k = 0; k < st->s_out.s_ncols; k++) {
			if (st->s_map[k] >= 0) {
				st->s_row[k] = r->cols[st->s_map[k]];
				continue;
			}
			st->s_row[k].t = QV_NULL;
			st->s_row[k].own = 0;
			if (r->src != NULL && qrow_get(&x->x_ctx, r->src,
			    st->s_from[k], &st->s_row[k]) == -1)
				return qx_oom(x);
		}
		return qops_push(x, i + 1, &out);
	case QO_SUMMARIZE:
		return qops_summarize_push(x, st, r);
	case QO_SORT:
		return qops_sort_push(x, st, r);
	case QO_TOP:
		return qops_top_push(x, st, r);
	case QO_TAKE:
		if (st->s_count >= st->s_n)
			return 1;
		st->s_count++;
		if ((rc = qops_push(x, i + 1, r)) != 0)
			return rc;
		return st->s_count >= st->s_n ? 1 : 0;
	case QO_COUNT:
		st->s_count++;
		return 0;
	case QO_DISTINCT:
		return qops_distinct_push(x, st, r);
	}
	return 0;
}

/* The scan is over: each stage in turn passes on what it holds. */
int
qops_flush(struct qexec *x)
{
	struct qstage	*st;
	struct qrow	 out;
	size_t		 i;
	int		 rc = 0;

	for (i = 0; i < x->x_nst; i++) {
		st = &x->x_st[i];
		switch (st->s_kind) {
		case QO_SORT:
		case QO_TOP:
			rc = qops_sorted_flush(x, i);
			break;
		case QO_SUMMARIZE:
			rc = qops_summarize_flush(x, i);
			break;
		case QO_COUNT:
			st->s_row[0].t = QV_LONG;
			st->s_row[0].own = 0;
			st->s_row[0].u.l = st->s_count;
			out.src = NULL;
			out.cols = st->s_row;
			rc = qops_push(x, i + 1, &out) == -1 ? -1 : 0;
			break;
		default:
			break;
		}
		if (rc == -1)
			return -1;
	}
	return 0;
}
