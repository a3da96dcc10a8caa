/*
 * query_par.c - parallel scans (SPEC 5: "large scans may be split across
 * idle workers and merged; the answer is the same as on one worker").
 *
 * A split query runs in three kinds of items (the layouts in shm.h):
 *
 *   split   the worker that takes the query plans it, and when its table
 *           is large answers with parts (query_exec.c cuts the key range)
 *   part    runs the plan over its key range up to the cut - the first
 *           stage that is not where, project, project-away,
 *           project-rename or extend - and answers what reaches the cut:
 *           rows, a count, or summarize's groups with partial aggregates
 *   merge   plans the query again and, instead of scanning, feeds every
 *           part's answer, in part order, into the cut stage, then
 *           flushes the plan and writes the answer as the query would
 *
 * Part order is key order, so what a merge feeds arrives in the order a
 * single scan would have seen it: take keeps the same first rows, top and
 * sort break ties the same way, distinct and summarize list their rows and
 * groups in the same first-seen order.  Aggregates merge exactly: count
 * and sum add (a long sum that leaves the range of a long goes on in real,
 * as in one scan), avg is sum and count, min and max keep the first of
 * equals, dcount is an exact set of values.  Sums of reals are added in
 * another order than one scan's, so their last bits may differ.
 *
 * dcount's values travel as small integers: the summarize stage keeps one
 * dictionary per dcount aggregate (value key bytes -> dense id, for all
 * groups) and each group a set of ids (struct qidset).  A part writes each
 * dictionary once, then per group only its ids, as a bitmap or a u16/u32
 * list, whichever is smaller (shm.h).  The merge puts a part's values into
 * the stage's own dictionaries once each, which gives a table from the
 * part's ids to the stage's, and unions the translated ids into the
 * groups' sets: a value is hashed as bytes once per part, not once per
 * group it is in (2,018 groups of the benchmark's group-by sent 2.7 MB a
 * part as values, 0.4 MB as ids).
 *
 * Rows of the answer (QPC_SINK) stop after query_max_result_rows + 1 in
 * each part: the merge then knows the answer was cut.  A part keeps every
 * summarize group (which groups make the first query_max_result_rows is
 * known only in the merge), so its answer, like any result, is bounded by
 * max_result_bytes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "shm.h"
#include "query_int.h"

/* ---- the cut ------------------------------------------------------------ */

enum qpcut
qpar_cut(struct qexec *x)
{
	size_t	i;

	for (i = 0; i < x->x_nst; i++) {
		x->x_cut = i;
		switch (x->x_st[i].s_kind) {
		case QO_WHERE:
		case QO_PROJECT:
		case QO_PROJECT_AWAY:
		case QO_PROJECT_RENAME:
		case QO_EXTEND:
			continue;
		case QO_SORT:		return QPC_SORT;
		case QO_TOP:		return QPC_TOP;
		case QO_TAKE:		return QPC_TAKE;
		case QO_DISTINCT:	return QPC_DISTINCT;
		case QO_COUNT:		return QPC_COUNT;
		case QO_SUMMARIZE:	return QPC_GROUPS;
		}
	}
	x->x_cut = x->x_nst;
	return QPC_SINK;
}

int
qpar_stops_early(const struct qexec *x)
{
	return x->x_ckind == QPC_TAKE || x->x_ckind == QPC_SINK;
}

void
qpar_part_begin(struct qexec *x)
{
	x->x_mode = QPM_PART;
	x->x_ckind = qpar_cut(x);
	x->x_nst_all = x->x_nst;
	/* Rows entering stage x_nst are the part's: the input of a sort, the
	 * output of top, take and distinct, nothing of count and summarize
	 * (their state is written at the end). */
	if (x->x_ckind != QPC_SINK && x->x_ckind != QPC_SORT)
		x->x_nst = x->x_cut + 1;
	else
		x->x_nst = x->x_cut;
}

/* ---- values on the wire ------------------------------------------------- */

static int
qpar_put_u32(struct buf *b, uint32_t v)
{
	return buf_append(b, &v, sizeof(v));
}

static const char *
qpar_take(struct qpr *r, size_t n)
{
	const char *p = r->p;

	if (r->bad || (size_t)(r->e - r->p) < n) {
		r->bad = 1;
		return NULL;
	}
	r->p += n;
	return p;
}

/* n bytes (4 or 8) of an integer into *out (left as it was if short). */
static void
qpar_get(struct qpr *r, void *out, size_t n)
{
	const char *p = qpar_take(r, n);

	if (p != NULL)
		memcpy(out, p, n);
}

static uint32_t
qpar_get_u32(struct qpr *r)
{
	uint32_t v = 0;

	qpar_get(r, &v, 4);
	return v;
}

static int64_t
qpar_get_i64(struct qpr *r)
{
	int64_t v = 0;

	qpar_get(r, &v, 8);
	return v;
}

/* A value: strings point into the answer; a dynamic value is parsed (own:
 * the caller clears it).  -1 on ENOMEM or a malformed answer (r->bad). */
static int
qpar_get_val(struct qexec *x, struct qpr *r, struct qval *v)
{
	const char	*p = qpar_take(r, 1), *s;
	uint32_t	 n;

	memset(v, 0, sizeof(*v));
	if (p == NULL)
		return -1;
	switch (*p) {
	case 'n':
		return 0;
	case 'b':
		if ((s = qpar_take(r, 1)) == NULL)
			return -1;
		v->t = QV_BOOL;
		v->u.b = *s == '1';
		return 0;
	case 'l':
	case 'd':
	case 't':
		v->t = *p == 'l' ? QV_LONG : *p == 'd' ? QV_DATETIME :
		    QV_TIMESPAN;
		v->u.l = qpar_get_i64(r);
		return r->bad ? -1 : 0;
	case 'r':
		if ((s = qpar_take(r, 8)) == NULL)
			return -1;
		v->t = QV_REAL;
		memcpy(&v->u.r, s, 8);
		return 0;
	case 's':
	case 'j':
		n = qpar_get_u32(r);
		if ((s = qpar_take(r, n)) == NULL)
			return -1;
		if (*p == 's') {
			v->t = QV_STRING;
			v->u.s.p = s;
			v->u.s.n = n;
			return 0;
		}
		if (n == 0 || qrow_value(&x->x_ctx, s, s + n, v) == -1 ||
		    v->t != QV_DYNAMIC) {
			qval_clear(v);
			r->bad = 1;
			return -1;
		}
		return 0;
	default:
		r->bad = 1;
		return -1;
	}
}

/* ---- a part ------------------------------------------------------------- */

/* The schema of rows entering stage i. */
static const struct qschema *
qpar_schema(const struct qexec *x, size_t i)
{
	return i == 0 ? &x->x_src : &x->x_st[i - 1].s_out;
}

/* A part's answer is bounded by max_result_bytes, as any result. */
static int
qpar_over(struct qexec *x, const struct buf *b)
{
	if (x->x_lim->max_result_bytes > 0 &&
	    b->len > x->x_lim->max_result_bytes)
		return qx_limit_bytes(x);
	return 0;
}

/* One more record was written into b. */
static int
qpar_counted(struct qexec *x, const struct buf *b)
{
	x->x_pnrec++;
	return qpar_over(x, b);
}

/* The answer's own rows, of a closed schema: a part writes them as the
 * answer will hold them (SPLIT_K_TEXT), and the merge only copies them. */
static int
qpar_text(const struct qexec *x)
{
	return x->x_ckind == QPC_SINK && !x->x_sink.k_schema->s_open;
}

int
qpar_emit(struct qexec *x, const struct qrow *r)
{
	const struct qschema	*sc = qpar_schema(x, x->x_nst);
	struct buf		*b = &x->x_pout;
	size_t			 i, n, at;
	uint32_t		 len;

	/* The answer's rows: one past the limit tells the merge it is cut. */
	if (x->x_ckind == QPC_SINK && x->x_lim->max_result_rows > 0 &&
	    x->x_pnrec > (uint64_t)x->x_lim->max_result_rows)
		return 1;
	if (qpar_text(x)) {
		at = b->len;
		if (qpar_put_u32(b, 0) == -1 || qrender_row(b,
		    x->x_sink.k_seen, x->x_sink.k_schema->s_ncols, r) == -1)
			return qx_oom(x);
		len = (uint32_t)(b->len - at - sizeof(len));
		memcpy(b->data + at, &len, sizeof(len));
		return qpar_counted(x, b);
	}
	if (r->src != NULL) {
		n = (size_t)(r->src->s_e - r->src->s_p);
		if (buf_putc(b, 1) == -1 || qpar_put_u32(b, (uint32_t)n) == -1 ||
		    buf_append(b, r->src->s_p, n) == -1)
			return qx_oom(x);
	} else if (buf_putc(b, 0) == -1)
		return qx_oom(x);
	for (i = 0; i < sc->s_ncols; i++)
		if (qval_encode(b, &r->cols[i], 1) == -1)
			return qx_oom(x);
	return qpar_counted(x, b);
}

static int
qpar_is_dcount(const struct qnode *n)
{
	return n->n_op == QA_DCOUNT || n->n_op == QA_DCOUNTIF;
}

/* A dcount dictionary: its size, then its values in id order. */
static int
qpar_put_dict(struct buf *b, const struct qhset *d)
{
	const char	*kp;
	size_t		*slot, j, idx, kn;
	int		 rc = 0;

	if (qpar_put_u32(b, (uint32_t)d->h_n) == -1)
		return -1;
	if (d->h_n == 0)
		return 0;
	if ((slot = malloc(d->h_n * sizeof(*slot))) == NULL)
		return -1;
	for (j = 0; j < d->h_cap; j++)
		if (qhset_slot(d, j, &kn, &idx) != NULL)
			slot[idx] = j;
	for (idx = 0; idx < d->h_n && rc == 0; idx++) {
		kp = qhset_slot(d, slot[idx], &kn, NULL);
		rc = qpar_put_u32(b, (uint32_t)kn) == -1 ||
		    buf_append(b, kp, kn) == -1 ? -1 : 0;
	}
	free(slot);
	return rc;
}

int
qpar_put_ids(struct buf *b, const struct qidset *s, uint32_t d)
{
	size_t		 bm = ((size_t)d + 7) / 8, wid = d <= 65536 ? 2 : 4;
	size_t		 j, at;
	uint32_t	 id;
	uint16_t	 h;
	char		 form;

	form = bm < (size_t)s->i_n * wid ? QPAR_IDS_BITMAP :
	    wid == 2 ? QPAR_IDS_U16 : QPAR_IDS_U32;
	if (buf_putc(b, form) == -1 || qpar_put_u32(b, s->i_n) == -1 ||
	    buf_reserve(b, form == QPAR_IDS_BITMAP ? bm : s->i_n * wid) == -1)
		return -1;
	at = b->len;
	if (form == QPAR_IDS_BITMAP) {
		memset(b->data + at, 0, bm);
		b->len += bm;
	}
	for (j = 0; j < s->i_cap; j++) {
		if ((id = s->i_tab[j]) == QIDSET_EMPTY)
			continue;
		if (form == QPAR_IDS_BITMAP)
			b->data[at + id / 8] |= (char)(1u << (id % 8));
		else if (form == QPAR_IDS_U16) {
			h = (uint16_t)id;
			memcpy(b->data + b->len, &h, 2);
			b->len += 2;
		} else {
			memcpy(b->data + b->len, &id, 4);
			b->len += 4;
		}
	}
	b->data[b->len] = '\0';
	return 0;
}

/* Summarize's groups with their partial aggregates, after the stage's
 * dcount dictionaries. */
static int
qpar_put_groups(struct qexec *x, struct qstage *st)
{
	struct buf		*b = &x->x_pout;
	const struct qop	*op = st->s_op;
	const struct qaggst	*a;
	struct qgroup		*g;
	size_t			 k, i;
	char			 kind;

	for (i = 0; i < st->s_naggs; i++)
		if (qpar_is_dcount(st->s_aggs[i]) &&
		    qpar_put_dict(b, &st->s_dicts[i]) == -1)
			return qx_oom(x);
	if (qpar_over(x, b) == -1)
		return -1;
	for (k = 0; k < st->s_ngroups; k++) {
		g = st->s_groups[k];
		buf_reset(&x->x_key);
		for (i = 0; i < op->o_nby; i++)
			if (qval_key(&x->x_key, &g->g_keys[i]) == -1)
				return qx_oom(x);
		if (qpar_put_u32(b, (uint32_t)x->x_key.len) == -1 ||
		    buf_append(b, x->x_key.data, x->x_key.len) == -1)
			return qx_oom(x);
		for (i = 0; i < op->o_nby; i++)
			if (qval_encode(b, &g->g_keys[i], 1) == -1)
				return qx_oom(x);
		for (i = 0; i < st->s_naggs; i++) {
			a = &g->g_aggs[i];
			kind = a->a_kind == QV_LONG ? 'l' : a->a_kind ==
			    QV_REAL ? 'r' : a->a_kind == QV_TIMESPAN ? 't' : 'n';
			if (buf_putc(b, kind) == -1 ||
			    buf_append(b, &a->a_n, 8) == -1 ||
			    buf_append(b, &a->a_l, 8) == -1 ||
			    buf_append(b, &a->a_r, 8) == -1 ||
			    qval_encode(b, &a->a_v, 1) == -1 ||
			    (qpar_is_dcount(st->s_aggs[i]) && qpar_put_ids(b,
			    &a->a_ids, (uint32_t)st->s_dicts[i].h_n) == -1))
				return qx_oom(x);
		}
		if (qpar_counted(x, b) == -1)
			return -1;
	}
	return 0;
}

int
qpar_part_end(struct qexec *x, const int64_t now_ms, const struct qstats *s,
    struct buf *out)
{
	struct split_partial	 h;
	struct qstage		*st;
	size_t			 hlen, k;

	memset(&h, 0, sizeof(h));
	h.magic = SPLIT_MAGIC;
	h.kind = x->x_ckind == QPC_COUNT ? SPLIT_K_COUNT :
	    x->x_ckind == QPC_GROUPS ? SPLIT_K_GROUPS : qpar_text(x) ?
	    SPLIT_K_TEXT : SPLIT_K_ROWS;
	if (x->x_ckind == QPC_GROUPS &&
	    qpar_put_groups(x, &x->x_st[x->x_cut]) == -1)
		return -1;
	st = x->x_ckind == QPC_COUNT || x->x_ckind == QPC_GROUPS ?
	    &x->x_st[x->x_cut] : NULL;
	h.index = x->x_pindex;
	h.nfields = (uint32_t)x->x_row.s_nf;
	h.now_ms = now_ms;
	h.scanned = x->x_scanned;
	h.bytes = x->x_bytes;
	h.user_ticks = s->user_ticks;
	h.sys_ticks = s->sys_ticks;
	h.exec_s = s->exec_s;
	h.count = x->x_ckind == QPC_COUNT ? (uint64_t)st->s_count :
	    x->x_pnrec;
	hlen = sizeof(h) + h.nfields;
	if (h.kind == SPLIT_K_TEXT)
		hlen += x->x_sink.k_schema->s_ncols * sizeof(uint32_t);
	buf_reset(out);
	if (buf_reserve(out, hlen + x->x_pout.len) == -1 ||
	    buf_append(out, &h, sizeof(h)) == -1)
		return qx_oom(x);
	for (k = 0; k < h.nfields; k++)
		buf_putc(out, x->x_row.s_f[k].f_seen ? 1 : 0);
	/* The types the part's rows had, per column (reserved above). */
	for (k = 0; h.kind == SPLIT_K_TEXT &&
	    k < x->x_sink.k_schema->s_ncols; k++)
		qpar_put_u32(out, x->x_sink.k_seen[k]);
	if (x->x_pout.len > 0)
		buf_append(out, x->x_pout.data, x->x_pout.len);
	/* The whole answer, head included, is a result like any. */
	return qpar_over(x, out);
}

/* ---- partial aggregates ------------------------------------------------- */

int
qpar_agg_merge(const struct qnode *n, struct qaggst *dst, struct qaggst *src)
{
	size_t		 j;
	int64_t		 l;

	switch ((enum qagg)n->n_op) {
	case QA_COUNT:
	case QA_COUNTIF:
		dst->a_n += src->a_n;
		break;
	case QA_SUM:
	case QA_SUMIF:
		if (src->a_kind == QV_NULL)
			break;
		if (dst->a_kind == QV_NULL) {
			dst->a_kind = src->a_kind;
			dst->a_l = src->a_l;
			dst->a_r = src->a_r;
		} else if (dst->a_kind == QV_LONG && src->a_kind == QV_LONG) {
			if (!__builtin_add_overflow(dst->a_l, src->a_l, &l))
				dst->a_l = l;
			else {
				/* Past the range of a long: real, as one
				 * scan goes on. */
				dst->a_kind = QV_REAL;
				dst->a_r = (double)dst->a_l + (double)src->a_l;
			}
		} else if (dst->a_kind != QV_TIMESPAN &&
		    src->a_kind != QV_TIMESPAN) {
			dst->a_r = (dst->a_kind == QV_LONG ? (double)dst->a_l :
			    dst->a_r) + (src->a_kind == QV_LONG ?
			    (double)src->a_l : src->a_r);
			dst->a_kind = QV_REAL;
		} else if (dst->a_kind == QV_TIMESPAN &&
		    src->a_kind == QV_TIMESPAN &&
		    !__builtin_add_overflow(dst->a_l, src->a_l, &l))
			dst->a_l = l;
		/* A timespan sum and a number sum: one scan keeps the kind
		 * it met first, and so does the merge. */
		break;
	case QA_AVG:
	case QA_AVGIF:
		dst->a_r += src->a_r;
		dst->a_n += src->a_n;
		break;
	case QA_MIN:
	case QA_MAX:
		/* Equal values: the first part's, as one scan keeps the
		 * first of equals. */
		if (src->a_v.t == QV_NULL)
			break;
		if (dst->a_v.t == QV_NULL || (qval_order(&src->a_v,
		    &dst->a_v) < 0) == (n->n_op == QA_MIN)) {
			if (dst->a_v.t != QV_NULL &&
			    qval_order(&src->a_v, &dst->a_v) == 0)
				break;
			qval_clear(&dst->a_v);
			if (qval_copy(&dst->a_v, &src->a_v) == -1)
				return -1;
		}
		break;
	case QA_DCOUNT:
	case QA_DCOUNTIF:
		/* Ids of one dictionary (a merge translates a part's ids
		 * into the stage's before they get here). */
		for (j = 0; j < src->a_ids.i_cap; j++)
			if (src->a_ids.i_tab[j] != QIDSET_EMPTY &&
			    qidset_add(&dst->a_ids, src->a_ids.i_tab[j]) == -1)
				return -1;
		break;
	}
	return 0;
}

/* ---- the merge ---------------------------------------------------------- */

int
qpar_get_ids(struct qpr *r, const uint32_t *tr, uint32_t d,
    struct qidset *dst)
{
	const unsigned char	*p;
	const char		*f;
	size_t			 j, nb, wid;
	uint32_t		 n, k, id, seen = 0;
	uint16_t		 h;
	unsigned		 bits;

	if ((f = qpar_take(r, 1)) == NULL)
		return -1;
	n = qpar_get_u32(r);
	switch (*f) {
	case QPAR_IDS_BITMAP:
		nb = ((size_t)d + 7) / 8;
		if ((p = (const unsigned char *)qpar_take(r, nb)) == NULL)
			return -1;
		for (j = 0; j < nb; j++)
			for (bits = p[j]; bits != 0; bits &= bits - 1) {
				id = (uint32_t)(j * 8) +
				    (uint32_t)__builtin_ctz(bits);
				if (id >= d || ++seen > n)
					goto bad;
				if (dst != NULL &&
				    qidset_add(dst, tr[id]) == -1)
					return -1;
			}
		if (seen != n)
			goto bad;
		return 0;
	case QPAR_IDS_U16:
	case QPAR_IDS_U32:
		wid = *f == QPAR_IDS_U16 ? 2 : 4;
		if ((p = (const unsigned char *)qpar_take(r,
		    (size_t)n * wid)) == NULL)
			return -1;
		for (k = 0; k < n; k++, p += wid) {
			if (wid == 2) {
				memcpy(&h, p, 2);
				id = h;
			} else
				memcpy(&id, p, 4);
			if (id >= d)
				goto bad;
			if (dst != NULL && qidset_add(dst, tr[id]) == -1)
				return -1;
		}
		return 0;
	}
bad:
	r->bad = 1;
	return -1;
}

/* A part's dcount dictionaries into the stage's: tr[i][id] is the
 * stage's id of the part's value id of aggregate i (ntr[i] of them), so
 * that each distinct value of a part is hashed once, not once a group. */
static int
qpar_merge_dicts(struct qexec *x, struct qstage *st, struct qpr *r,
    uint32_t **tr, uint32_t *ntr)
{
	const char	*p;
	uint32_t	 d, k, len;
	size_t		 i, idx;
	int		 added;

	for (i = 0; i < st->s_naggs; i++) {
		if (!qpar_is_dcount(st->s_aggs[i]))
			continue;
		d = qpar_get_u32(r);
		/* A value takes 4 bytes or more: no table larger than the
		 * answer, whatever its size field says. */
		if (r->bad || d > (size_t)(r->e - r->p) / 4) {
			r->bad = 1;
			return -1;
		}
		ntr[i] = d;
		if (d > 0 && (tr[i] = malloc((size_t)d * sizeof(**tr))) ==
		    NULL)
			return qx_oom(x);
		for (k = 0; k < d; k++) {
			len = qpar_get_u32(r);
			if ((p = qpar_take(r, len)) == NULL)
				return -1;
			if (qhset_put(&st->s_dicts[i], p, len, &idx,
			    &added) == -1 || idx >= QIDSET_EMPTY)
				return qx_oom(x);
			tr[i][k] = (uint32_t)idx;
		}
	}
	return 0;
}

/* One group of a part into the summarize stage st; tr and ntr translate
 * the part's dcount ids (qpar_merge_dicts). */
static int
qpar_merge_group(struct qexec *x, struct qstage *st, struct qpr *r,
    struct qval *keys, uint32_t *const *tr, const uint32_t *ntr)
{
	const struct qop	*op = st->s_op;
	struct qaggst		 a;
	struct qgroup		*g = NULL;
	const char		*kp, *p;
	uint32_t		 kn, i;
	size_t			 idx, nby = op->o_nby;
	int			 added, rc = -1, skip;
	char			 kind;

	kn = qpar_get_u32(r);
	if ((kp = qpar_take(r, kn)) == NULL)
		return -1;
	for (i = 0; i < nby; i++)
		if (qpar_get_val(x, r, &keys[i]) == -1)
			goto out;
	if (qhset_put(&st->s_set, kp, kn, &idx, &added) == -1) {
		qx_oom(x);
		goto out;
	}
	/* The cut of one scan at max_result_rows groups (query_ops.c). */
	skip = 0;
	if (added && st->s_preserves && qx_over_rows(x, st->s_ngroups + 1)) {
		if (st->s_sorted_after) {
			qx_limit_rows(x);
			goto out;
		}
		x->x_partial = 1;
		skip = 1;
	} else if (added) {
		if ((g = qops_group_new(keys, nby, st->s_naggs)) == NULL ||
		    qops_group_add(st, g) == -1) {
			qops_group_free(g, nby, st->s_naggs);
			qx_oom(x);
			goto out;
		}
	}
	if (idx >= st->s_ngroups)
		skip = 1;	/* a group past the cut */
	g = skip ? NULL : st->s_groups[idx];
	for (i = 0; i < st->s_naggs; i++) {
		memset(&a, 0, sizeof(a));
		if ((p = qpar_take(r, 1)) == NULL)
			goto out;
		kind = *p;
		a.a_kind = kind == 'l' ? QV_LONG : kind == 'r' ? QV_REAL :
		    kind == 't' ? QV_TIMESPAN : QV_NULL;
		a.a_n = qpar_get_i64(r);
		a.a_l = qpar_get_i64(r);
		if ((p = qpar_take(r, 8)) == NULL)
			goto out;
		memcpy(&a.a_r, p, 8);
		if (qpar_get_val(x, r, &a.a_v) == -1)
			goto out;
		/* dcount's ids go straight into the group's set, translated:
		 * the union, without a set of the part's own first. */
		if (qpar_is_dcount(st->s_aggs[i]) && qpar_get_ids(r, tr[i],
		    ntr[i], g != NULL ? &g->g_aggs[i].a_ids : NULL) == -1) {
			qval_clear(&a.a_v);
			if (!r->bad)
				qx_oom(x);
			goto out;
		}
		added = g != NULL && !r->bad &&
		    qpar_agg_merge(st->s_aggs[i], &g->g_aggs[i], &a) == -1;
		qval_clear(&a.a_v);
		if (added) {
			qx_oom(x);
			goto out;
		}
		if (r->bad)
			goto out;
	}
	rc = 0;
out:
	for (i = 0; i < nby; i++)
		qval_clear(&keys[i]);
	return rc;
}

/* One row of a part, pushed into stage i (distinct: its set first). */
static int
qpar_merge_row(struct qexec *x, struct qpr *r, size_t i, struct qval *cols,
    size_t ncols)
{
	struct qstage	*st;
	struct qrow	 row = { NULL, cols };
	const char	*p, *src;
	uint32_t	 n;
	size_t		 k, idx;
	int		 rc = -1, added;

	if ((p = qpar_take(r, 1)) == NULL)
		return -1;
	if (*p) {
		n = qpar_get_u32(r);
		if ((src = qpar_take(r, n)) == NULL)
			return -1;
		qrow_open(&x->x_row, src, n);
		row.src = &x->x_row;
	}
	for (k = 0; k < ncols; k++)
		if (qpar_get_val(x, r, &cols[k]) == -1)
			goto out;
	if (x->x_ckind == QPC_DISTINCT) {
		/* The part's rows are its distinct output: the key of each
		 * is made of what the stage outputs. */
		st = &x->x_st[i];
		if ((st->s_op->o_star ? qops_key_row(x, &st->s_out, &row) :
		    qops_key(x, cols, st->s_nitems)) == -1)
			goto out;
		if (qhset_put(&st->s_set, x->x_key.data, x->x_key.len, &idx,
		    &added) == -1) {
			qx_oom(x);
			goto out;
		}
		rc = added ? qops_push(x, i + 1, &row) : 0;
	} else
		rc = qops_push(x, i, &row);
out:
	for (k = 0; k < ncols; k++)
		qval_clear(&cols[k]);
	qarena_reset(&x->x_ctx.tmp);
	return rc;
}

/* One row a part wrote as the answer holds it (SPLIT_K_TEXT). */
static int
qpar_merge_text(struct qexec *x, struct qpr *r)
{
	uint32_t	 n = qpar_get_u32(r);
	const char	*p = qpar_take(r, n);

	if (p == NULL || n < 2 || p[0] != '[' || p[n - 1] != ']') {
		r->bad = 1;
		return -1;
	}
	return qrender_push_text(x, p, n);
}

static void
qpar_merge_free(struct qval *vals, uint32_t **tr, uint32_t *ntr,
    size_t naggs)
{
	size_t	a;

	for (a = 0; tr != NULL && a < naggs; a++)
		free(tr[a]);
	free(tr);
	free(ntr);
	free(vals);
}

int
qpar_merge(struct qexec *x, const struct qpar *par)
{
	struct split_partial	 h;
	struct qpr		 r;
	struct qstage		*st;
	struct qval		*vals = NULL;
	const struct qschema	*sc;
	uint32_t		**tr = NULL, *ntr = NULL;
	size_t			 nvals, k, i, a, naggs = 0;
	uint64_t		 n;
	uint32_t		 part;
	int64_t			 counted = 0;
	int			 rc = 0, stopped = 0;

	x->x_mode = QPM_MERGE;
	x->x_ckind = qpar_cut(x);
	x->x_nst_all = x->x_nst;
	i = x->x_cut;
	st = i < x->x_nst ? &x->x_st[i] : NULL;
	sc = x->x_ckind == QPC_DISTINCT ? &st->s_out : qpar_schema(x, i);
	nvals = sc->s_ncols;
	if (x->x_ckind == QPC_GROUPS) {
		nvals = st->s_op->o_nby;
		naggs = st->s_naggs;
		if ((tr = calloc(naggs + 1, sizeof(*tr))) == NULL ||
		    (ntr = calloc(naggs + 1, sizeof(*ntr))) == NULL) {
			free(tr);
			return qx_oom(x);
		}
	}
	if (nvals > 0 && (vals = calloc(nvals, sizeof(*vals))) == NULL) {
		rc = qx_oom(x);
		goto done;
	}
	for (part = 0; part < x->x_nparts && rc == 0; part++) {
		r.p = par->p_parts[part].p;
		r.e = r.p + par->p_parts[part].n;
		r.bad = 0;
		if (qpar_take(&r, sizeof(h)) == NULL)
			goto bad;
		memcpy(&h, r.p - sizeof(h), sizeof(h));
		if (h.magic != SPLIT_MAGIC || h.index != part ||
		    h.nfields != x->x_row.s_nf ||
		    qpar_take(&r, h.nfields) == NULL)
			goto bad;
		for (k = 0; k < h.nfields; k++)
			if (r.p[(ptrdiff_t)k - (ptrdiff_t)h.nfields])
				x->x_row.s_f[k].f_seen = 1;
		x->x_scanned += h.scanned;
		x->x_bytes += h.bytes;
		x->x_p_user += h.user_ticks;
		x->x_p_sys += h.sys_ticks;
		if (h.exec_s > x->x_p_exec)
			x->x_p_exec = h.exec_s;
		/* How even the parts were: the figures to balance them by. */
		log_msg(LOG_LEVEL_DEBUG, "query merge: part %u/%u: %lld rows, "
		    "cpu %.1f ms, %.1f ms, %zu bytes", part, x->x_nparts,
		    (long long)h.scanned, (double)(h.user_ticks +
		    h.sys_ticks) / 1e4, h.exec_s * 1e3, par->p_parts[part].n);
		/* What one scan would have read before it stopped. */
		if (!stopped)
			counted += h.scanned;
		if (stopped)
			continue;
		if (x->x_ckind == QPC_COUNT) {
			if (h.kind != SPLIT_K_COUNT)
				goto bad;
			st->s_count += (int64_t)h.count;
			continue;
		}
		if (h.kind != (x->x_ckind == QPC_GROUPS ? SPLIT_K_GROUPS :
		    qpar_text(x) ? SPLIT_K_TEXT : SPLIT_K_ROWS))
			goto bad;
		if (h.kind == SPLIT_K_TEXT) {
			for (k = 0; k < x->x_sink.k_schema->s_ncols; k++)
				x->x_sink.k_seen[k] |= qpar_get_u32(&r);
			if (r.bad)
				goto bad;
		}
		for (a = 0; a < naggs; a++) {
			free(tr[a]);
			tr[a] = NULL;
			ntr[a] = 0;
		}
		if (x->x_ckind == QPC_GROUPS &&
		    (rc = qpar_merge_dicts(x, st, &r, tr, ntr)) == -1 && r.bad)
			goto bad;
		for (n = 0; n < h.count && rc == 0; n++) {
			if (x->x_ckind == QPC_GROUPS)
				rc = qpar_merge_group(x, st, &r, vals, tr,
				    ntr);
			else if (h.kind == SPLIT_K_TEXT)
				rc = qpar_merge_text(x, &r);
			else
				rc = qpar_merge_row(x, &r, i, vals, nvals);
			if (rc == -1 && r.bad)
				goto bad;
		}
		if (rc == 1) {
			/* take has its rows, or the answer is cut: the rest
			 * of this part and the parts after it add nothing. */
			stopped = 1;
			rc = 0;
		} else if (rc == 0 && r.p != r.e)
			goto bad;
	}
done:
	qpar_merge_free(vals, tr, ntr, naggs);
	if (rc == -1)
		return -1;
	if (x->x_lim->max_rows_scanned > 0 &&
	    counted > x->x_lim->max_rows_scanned)
		return err_set(x->x_e, ERR_QUERY_LIMIT_EXCEEDED,
		    "query scanned more than query_max_rows_scanned (%ld) "
		    "rows", x->x_lim->max_rows_scanned);
	return 0;
bad:
	qpar_merge_free(vals, tr, ntr, naggs);
	return err_set(x->x_e, ERR_INTERNAL, "a part of the split query "
	    "answered a malformed partial result (part %u)", part);
}

/* ---- cutting a key range ------------------------------------------------ */

/* c's value as a digit of radix 10 or 16, or -1. */
static int
qpar_digit(char c, unsigned radix)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (radix == 16 && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* va + (vb - va) * f within [va, vb]; up to the next whole number when
 * up: the caller's f is rank / rows, and rows keys va, va + 1, ... have
 * va + rank at (rows - 1) * rank / rows rounded up. */
static uint64_t
qpar_lerp(uint64_t va, uint64_t vb, double f, int up)
{
	long double	 d;
	uint64_t	 v;

	if (vb < va)
		return va;
	d = (long double)(vb - va) * f;
	v = va + (uint64_t)d;
	if (up && (long double)(uint64_t)d < d)
		v++;
	return v < va ? va : v > vb ? vb : v;
}

size_t
qpar_key_between(const char *a, size_t an, const char *b, size_t bn,
    double f, char *out, size_t outmax)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*ua = (const unsigned char *)a;
	const unsigned char	*ub = (const unsigned char *)b;
	uint64_t		 va = 0, vb = 0, v;
	size_t			 p = 0, k, n, run = 0;
	unsigned		 radix = 10;

	while (p < an && p < bn && ua[p] == ub[p])
		p++;
	if (f < 0)
		f = 0;
	if (f > 1)
		f = 1;
	/* Ids are mostly digits, where bytes would interpolate over the
	 * 256 values of a byte only 10 or 16 of which occur. */
	while (p + run < an && p + run < bn && run < 15 &&
	    qpar_digit(a[p + run], 16) >= 0 && qpar_digit(b[p + run], 16) >= 0) {
		if (qpar_digit(a[p + run], 10) < 0 ||
		    qpar_digit(b[p + run], 10) < 0)
			radix = 16;
		run++;
	}
	if (run >= 3 && p + run <= outmax) {
		for (k = 0; k < run; k++) {
			va = va * radix + (uint64_t)qpar_digit(a[p + k], radix);
			vb = vb * radix + (uint64_t)qpar_digit(b[p + k], radix);
		}
		v = qpar_lerp(va, vb, f, 1);
		memcpy(out, a, p);
		for (k = run; k > 0; k--) {
			out[p + k - 1] = hex[v % radix];
			v /= radix;
		}
		return p + run;
	}
	for (k = 0; k < 8; k++) {
		va = va << 8 | (p + k < an ? ua[p + k] : 0);
		vb = vb << 8 | (p + k < bn ? ub[p + k] : 0);
	}
	v = qpar_lerp(va, vb, f, 0);
	n = p < outmax ? p : outmax;
	memcpy(out, a, n);
	for (k = 0; k < 8 && n < outmax; k++)
		out[n++] = (char)(v >> (56 - 8 * k));
	/* "ab\0\0" and "ab" bound the same rows but for a key "ab\0": the
	 * shorter is kept (order between cuts is unchanged). */
	while (n > p && out[n - 1] == '\0')
		n--;
	return n;
}
