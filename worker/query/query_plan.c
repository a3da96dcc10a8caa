/*
 * query_plan.c - from the syntax tree to a chain of stages (see the
 * executor section of query_int.h for the whole picture).
 *
 * Each operator becomes a stage with an output schema: a list of fixed
 * columns (name, static type) and, while no operator has fixed the
 * columns yet ("open" schema), the fields of the stored JSON row, minus
 * those hidden by project-away or shadowed by a fixed column of the same
 * name.  Column names are resolved once, here: to a fixed column's slot
 * or to "a field of the stored row".  An unknown name is an error only
 * once the schema is closed (rows are schemaless JSON: on an open schema a
 * missing field is null).  "sort by ... | take N" becomes "top N".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

/* ---- schemas ----------------------------------------------------------- */

/* '*' matches any run of characters.  Greedy with one backtrack point
 * (the last star): O(len(p) * len(s)), whatever the pattern. */
static int
qplan_glob(const char *p, const char *s)
{
	const char	*star = NULL, *resume = NULL;

	while (*s != '\0') {
		if (*p == '*') {
			star = p++;
			resume = s;
		} else if (*p == *s) {
			p++;
			s++;
		} else if (star != NULL) {
			p = star + 1;
			s = ++resume;
		} else
			return 0;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

static long
qplan_find(const struct qschema *sc, const char *name)
{
	size_t	i;

	for (i = 0; i < sc->s_ncols; i++)
		if (strcmp(sc->s_names[i], name) == 0)
			return (long)i;
	return -1;
}

static int
qplan_hidden(const struct qschema *sc, const char *name)
{
	size_t	i;

	for (i = 0; i < sc->s_nhidden; i++)
		if (qplan_glob(sc->s_hidden[i], name))
			return 1;
	return 0;
}

/* Is a field of the stored row a column of the answer? */
int
qplan_visible(const struct qschema *sc, const char *name)
{
	return sc->s_open && !qplan_hidden(sc, name) && qplan_find(sc, name) < 0;
}

static int
qplan_schema_alloc(struct qexec *x, struct qschema *sc, size_t ncols,
    size_t nhidden)
{
	sc->s_names = qarena_alloc(x->x_arena, (ncols + 1) *
	    sizeof(*sc->s_names));
	sc->s_types = qarena_alloc(x->x_arena, (ncols + 1) *
	    sizeof(*sc->s_types));
	sc->s_hidden = qarena_alloc(x->x_arena, (nhidden + 1) *
	    sizeof(*sc->s_hidden));
	if (sc->s_names == NULL || sc->s_types == NULL || sc->s_hidden == NULL)
		return qx_oom(x);
	return 0;
}

/* Copy of in with room for extra more columns and extra_hidden more
 * patterns. */
static int
qplan_schema_copy(struct qexec *x, struct qschema *out,
    const struct qschema *in, size_t extra, size_t extra_hidden)
{
	if (qplan_schema_alloc(x, out, in->s_ncols + extra,
	    in->s_nhidden + extra_hidden) == -1)
		return -1;
	out->s_open = in->s_open;
	out->s_ncols = in->s_ncols;
	out->s_nhidden = in->s_nhidden;
	if (in->s_ncols > 0) {
		memcpy(out->s_names, in->s_names, in->s_ncols *
		    sizeof(*in->s_names));
		memcpy(out->s_types, in->s_types, in->s_ncols *
		    sizeof(*in->s_types));
	}
	if (in->s_nhidden > 0)
		memcpy(out->s_hidden, in->s_hidden, in->s_nhidden *
		    sizeof(*in->s_hidden));
	return 0;
}

/* name, or name1, name2 ... the first not among the first n columns. */
static const char *
qplan_unique(struct qexec *x, const struct qschema *sc, size_t n,
    const char *name)
{
	struct qschema	 part = *sc;
	char		*buf;
	size_t		 len = strlen(name) + 24;
	unsigned	 k;

	part.s_ncols = n;
	if (qplan_find(&part, name) < 0)
		return name;
	if ((buf = qarena_alloc(x->x_arena, len)) == NULL)
		return NULL;
	for (k = 1;; k++) {
		snprintf(buf, len, "%s%u", name, k);
		if (qplan_find(&part, buf) < 0)
			return buf;
	}
}

/* ---- name resolution --------------------------------------------------- */

enum qx_aggmode {
	QX_NOAGG = 0,		/* aggregations are an error */
	QX_AGGS,		/* summarize item: collect them */
	QX_INAGG		/* inside an aggregation's arguments */
};

/* n reads a stored field: a member of the row (parent -1) or of the
 * object of field parent. */
static int
qplan_stored(struct qexec *x, struct qnode *n, int parent)
{
	if ((n->n_fld = qrow_field(&x->x_row, parent, n->n_name, n->n_line,
	    n->n_col)) == -1)
		return qx_oom(x);
	x->x_row.s_f[n->n_fld].f_named = 1;
	return 0;
}

static int
qplan_resolve(struct qexec *x, struct qnode *n, const struct qschema *sc,
    enum qx_aggmode mode, struct qstage *st)
{
	struct qnode	**nv;
	size_t		  i;
	long		  slot;

	switch (n->n_kind) {
	case QN_COL:
		if (mode == QX_AGGS)
			return qx_syntax(x, n->n_line, n->n_col,
			    "column '%s' must be inside an aggregation "
			    "(or listed after 'by')", n->n_name);
		if ((slot = qplan_find(sc, n->n_name)) >= 0) {
			n->n_slot = (int)slot;
			return 0;
		}
		if (sc->s_open && !qplan_hidden(sc, n->n_name)) {
			n->n_slot = -1;
			return qplan_stored(x, n, -1);
		}
		return qx_syntax(x, n->n_line, n->n_col,
		    "unknown column '%s'", n->n_name);
	case QN_AGG:
		if (mode != QX_AGGS)
			return qx_syntax(x, n->n_line, n->n_col,
			    "aggregation %s() %s", n->n_name,
			    mode == QX_INAGG ? "inside an aggregation" :
			    "is only allowed in summarize");
		for (i = 0; i < n->n_na; i++)
			if (qplan_resolve(x, n->n_a[i], sc, QX_INAGG, st) == -1)
				return -1;
		if (st->s_naggs == st->s_capaggs) {
			st->s_capaggs = st->s_capaggs ? st->s_capaggs * 2 : 4;
			if ((nv = qarena_alloc(x->x_arena, st->s_capaggs *
			    sizeof(*nv))) == NULL)
				return qx_oom(x);
			if (st->s_naggs > 0)
				memcpy(nv, st->s_aggs, st->s_naggs *
				    sizeof(*nv));
			st->s_aggs = nv;
		}
		n->n_slot = (int)st->s_naggs;
		st->s_aggs[st->s_naggs++] = n;
		return 0;
	default:
		for (i = 0; i < n->n_na; i++)
			if (qplan_resolve(x, n->n_a[i], sc, mode, st) == -1)
				return -1;
		/* col.a.b of a stored column: read in place, a path. */
		if (n->n_kind == QN_MEMBER && n->n_a[0]->n_fld >= 0)
			return qplan_stored(x, n, n->n_a[0]->n_fld);
		return 0;
	}
}

/* The first column an expression reads, for naming its result. */
static const char *
qplan_first_col(const struct qnode *n)
{
	const char	*s;
	size_t		 i;

	if (n->n_kind == QN_COL)
		return n->n_name;
	for (i = 0; i < n->n_na; i++)
		if ((s = qplan_first_col(n->n_a[i])) != NULL)
			return s;
	return NULL;
}

static int	qplan_is_member_chain(const struct qnode *);

/* The first member chain (col.a.b) an expression reads, before any plain
 * column, or NULL. */
static const struct qnode *
qplan_first_member(const struct qnode *n)
{
	const struct qnode	*s;
	size_t			 i;

	if (qplan_is_member_chain(n))
		return n;
	if (n->n_kind == QN_COL)
		return NULL;
	for (i = 0; i < n->n_na; i++) {
		if (n->n_a[i]->n_kind == QN_COL)
			return NULL;
		if ((s = qplan_first_member(n->n_a[i])) != NULL)
			return s;
	}
	return NULL;
}

static int
qplan_is_member_chain(const struct qnode *n)
{
	if (n->n_kind != QN_MEMBER)
		return 0;
	while (n->n_kind == QN_MEMBER)
		n = n->n_a[0];
	return n->n_kind == QN_COL;
}

/* "Properties.status" is named Properties_status, as Kusto names it
 * (the chain must start at a column: see qplan_is_member_chain). */
static const char *
qplan_member_name(struct qexec *x, const struct qnode *n)
{
	const struct qnode	*m;
	size_t			 len = 0, k;
	char			*buf;

	for (m = n; m->n_kind == QN_MEMBER; m = m->n_a[0])
		len += strlen(m->n_name) + 1;
	len += strlen(m->n_name);
	if ((buf = qarena_alloc(x->x_arena, len + 1)) == NULL)
		return NULL;
	buf[len] = '\0';
	for (m = n; m->n_kind == QN_MEMBER; m = m->n_a[0]) {
		k = strlen(m->n_name);
		len -= k;
		memcpy(buf + len, m->n_name, k);
		buf[--len] = '_';
	}
	memcpy(buf, m->n_name, strlen(m->n_name));
	return buf;
}

/*
 * The name Kusto gives an unnamed item: a column keeps its name; an
 * aggregation is fn_column ("count_", "avg_DurationMs"); a member is
 * column_member; a by expression is named after the column it reads
 * ("bin(TimeGenerated, 1h)" is TimeGenerated); anything else is Column1,
 * Column2...
 */
static const char *
qplan_autoname(struct qexec *x, const struct qitem *it, int by, unsigned *colno)
{
	const struct qnode	*n = it->i_e, *m;
	const char		*c = NULL;
	char			*buf;
	size_t			 len;

	if (it->i_name != NULL)
		return it->i_name;
	if (n->n_kind == QN_COL)
		return n->n_name;
	if (n->n_kind == QN_AGG) {
		if (n->n_op != QA_COUNT && n->n_op != QA_COUNTIF &&
		    n->n_na > 0)
			c = qplan_first_col(n->n_a[0]);
		len = strlen(n->n_name) + (c ? strlen(c) : 0) + 2;
		if ((buf = qarena_alloc(x->x_arena, len)) == NULL)
			return NULL;
		snprintf(buf, len, "%s_%s", n->n_name, c ? c : "");
		return buf;
	}
	if (qplan_is_member_chain(n))
		return qplan_member_name(x, n);
	if (by && (m = qplan_first_member(n)) != NULL)
		return qplan_member_name(x, m);	/* tostring(P.region): P_region */
	if (by && (c = qplan_first_col(n)) != NULL)
		return c;
	if ((buf = qarena_alloc(x->x_arena, 24)) == NULL)
		return NULL;
	snprintf(buf, 24, "Column%u", ++*colno);
	return buf;
}

/* ---- planning ---------------------------------------------------------- */

static int
qplan_where(struct qexec *x, struct qstage *st, const struct qschema *in)
{
	const struct qnode	*p = st->s_op->o_pred;
	enum qtype		 t;

	st->s_out = *in;
	if (qplan_resolve(x, st->s_op->o_pred, in, QX_NOAGG, st) == -1)
		return -1;
	/* A predicate known not to be a bool is a mistake, as in Kusto;
	 * one of unknown type (a stored field) is tested row by row. */
	t = qnode_type(p, in->s_types);
	if (t != QV_NULL && t != QV_BOOL)
		return qx_syntax(x, p->n_line, p->n_col, "where needs a bool "
		    "predicate, not a %s", qtype_name(t));
	return 0;
}

static int
qplan_project(struct qexec *x, struct qstage *st, const struct qschema *in)
{
	const struct qop	*op = st->s_op;
	const char		*name;
	unsigned		 colno = 0;
	size_t			 i;

	if (qplan_schema_alloc(x, &st->s_out, op->o_nitems, 0) == -1)
		return -1;
	st->s_out.s_open = 0;
	for (i = 0; i < op->o_nitems; i++) {
		if (qplan_resolve(x, op->o_items[i].i_e, in, QX_NOAGG, st) == -1)
			return -1;
		if ((name = qplan_autoname(x, &op->o_items[i], 0, &colno)) ==
		    NULL || (name = qplan_unique(x, &st->s_out, i, name)) == NULL)
			return qx_oom(x);
		st->s_out.s_names[i] = name;
		st->s_out.s_types[i] = qnode_type(op->o_items[i].i_e,
		    in->s_types);
		st->s_out.s_ncols = i + 1;
	}
	st->s_items = op->o_items;
	st->s_nitems = op->o_nitems;
	return 0;
}

static int
qplan_extend(struct qexec *x, struct qstage *st, const struct qschema *in)
{
	const struct qop	*op = st->s_op;
	struct qschema		*out = &st->s_out;
	const char		*name;
	unsigned		 colno = 0;
	size_t			 i;
	long			 slot;

	if (qplan_schema_copy(x, out, in, op->o_nitems, 0) == -1 ||
	    (st->s_slot = qarena_alloc(x->x_arena, op->o_nitems *
	    sizeof(*st->s_slot))) == NULL)
		return qx_oom(x);
	/* Each item sees the ones before it: "extend a = 1, b = a + 1". */
	for (i = 0; i < op->o_nitems; i++) {
		if (qplan_resolve(x, op->o_items[i].i_e, out, QX_NOAGG, st) == -1)
			return -1;
		if ((name = qplan_autoname(x, &op->o_items[i], 0, &colno)) ==
		    NULL)
			return qx_oom(x);
		/* An existing column of that name is replaced. */
		if ((slot = qplan_find(out, name)) < 0) {
			slot = (long)out->s_ncols++;
			out->s_names[slot] = name;
		}
		out->s_types[slot] = qnode_type(op->o_items[i].i_e,
		    out->s_types);
		st->s_slot[i] = (size_t)slot;
	}
	st->s_items = op->o_items;
	st->s_nitems = op->o_nitems;
	return 0;
}

static int
qplan_away(struct qexec *x, struct qstage *st, const struct qschema *in)
{
	const struct qop	*op = st->s_op;
	struct qschema		*out = &st->s_out;
	size_t			 i, k;
	int			 hit;

	if (qplan_schema_copy(x, out, in, 0, op->o_nitems) == -1 ||
	    (st->s_map = qarena_alloc(x->x_arena, (in->s_ncols + 1) *
	    sizeof(*st->s_map))) == NULL)
		return qx_oom(x);
	out->s_ncols = 0;
	for (k = 0; k < in->s_ncols; k++) {
		for (hit = 0, i = 0; i < op->o_nitems && !hit; i++)
			hit = qplan_glob(op->o_items[i].i_name, in->s_names[k]);
		if (hit)
			continue;
		st->s_map[out->s_ncols] = (int)k;
		out->s_names[out->s_ncols] = in->s_names[k];
		out->s_types[out->s_ncols++] = in->s_types[k];
	}
	for (i = 0; i < op->o_nitems; i++) {
		/* On a fixed schema a name that matches nothing is a
		 * mistake worth reporting, as Kusto does. */
		if (!in->s_open && strchr(op->o_items[i].i_name, '*') == NULL &&
		    qplan_find(in, op->o_items[i].i_name) < 0)
			return qx_syntax(x, op->o_items[i].i_line,
			    op->o_items[i].i_col, "unknown column '%s'",
			    op->o_items[i].i_name);
		if (in->s_open)
			out->s_hidden[out->s_nhidden++] = op->o_items[i].i_name;
	}
	return 0;
}

static int
qplan_rename(struct qexec *x, struct qstage *st, const struct qschema *in)
{
	const struct qop	*op = st->s_op;
	struct qschema		*out = &st->s_out;
	const char		*from, *to;
	size_t			 i, k, n = in->s_ncols + op->o_nitems;
	long			 slot;

	if (qplan_schema_copy(x, out, in, op->o_nitems, op->o_nitems) == -1 ||
	    (st->s_map = qarena_alloc(x->x_arena, n * sizeof(*st->s_map))) ==
	    NULL || (st->s_from = qarena_alloc(x->x_arena, n *
	    sizeof(*st->s_from))) == NULL)
		return qx_oom(x);
	for (k = 0; k < in->s_ncols; k++) {
		st->s_map[k] = (int)k;
		st->s_from[k] = -1;
	}
	for (i = 0; i < op->o_nitems; i++) {
		to = op->o_items[i].i_name;
		from = op->o_items[i].i_e->n_name;
		if ((slot = qplan_find(in, from)) >= 0) {
			out->s_names[slot] = to;
		} else if (in->s_open && !qplan_hidden(in, from)) {
			/* A stored field becomes a fixed column. */
			slot = (long)out->s_ncols++;
			out->s_names[slot] = to;
			out->s_types[slot] = QV_NULL;
			st->s_map[slot] = -1;
			if (qplan_stored(x, op->o_items[i].i_e, -1) == -1)
				return -1;
			st->s_from[slot] = op->o_items[i].i_e->n_fld;
			out->s_hidden[out->s_nhidden++] = from;
		} else
			return qx_syntax(x, op->o_items[i].i_e->n_line,
			    op->o_items[i].i_e->n_col, "unknown column '%s'",
			    from);
	}
	for (k = 0; k < out->s_ncols; k++)
		for (i = k + 1; i < out->s_ncols; i++)
			if (strcmp(out->s_names[k], out->s_names[i]) == 0)
				return qx_syntax(x, op->o_line, op->o_col,
				    "project-rename makes two columns named "
				    "'%s'", out->s_names[k]);
	return 0;
}

static int
qplan_summarize(struct qexec *x, struct qstage *st, const struct qschema *in)
{
	const struct qop	*op = st->s_op;
	struct qschema		*out = &st->s_out;
	const struct qitem	*it;
	const char		*name;
	unsigned		 colno = 0;
	size_t			 i, before, n = op->o_nby + op->o_nitems;

	if (qplan_schema_alloc(x, out, n, 0) == -1)
		return -1;
	out->s_open = 0;
	for (i = 0; i < n; i++) {
		it = i < op->o_nby ? &op->o_by[i] : &op->o_items[i - op->o_nby];
		before = st->s_naggs;
		if (i < op->o_nby) {
			if (qplan_resolve(x, it->i_e, in, QX_NOAGG, st) == -1)
				return -1;
		} else {
			if (qplan_resolve(x, it->i_e, in, QX_AGGS, st) == -1)
				return -1;
			if (st->s_naggs == before)
				return qx_syntax(x, it->i_line, it->i_col,
				    "expected an aggregation such as count() "
				    "or sum(x)");
		}
		if ((name = qplan_autoname(x, it, i < op->o_nby, &colno)) ==
		    NULL || (name = qplan_unique(x, out, i, name)) == NULL)
			return qx_oom(x);
		out->s_names[i] = name;
		out->s_types[i] = qnode_type(it->i_e, in->s_types);
		out->s_ncols = i + 1;
	}
	if ((st->s_aggv = calloc(st->s_naggs + 1, sizeof(*st->s_aggv))) ==
	    NULL || (st->s_dicts = calloc(st->s_naggs + 1,
	    sizeof(*st->s_dicts))) == NULL)
		return qx_oom(x);
	return 0;
}

static int
qplan_keys(struct qexec *x, struct qstage *st, const struct qschema *in,
    const struct qop *keys)
{
	size_t	i;

	st->s_out = *in;
	st->s_items = keys->o_items;
	st->s_nitems = keys->o_nitems;
	for (i = 0; i < keys->o_nitems; i++)
		if (qplan_resolve(x, keys->o_items[i].i_e, in, QX_NOAGG, st) == -1)
			return -1;
	if ((st->s_keys = calloc(keys->o_nitems + 1, sizeof(*st->s_keys))) ==
	    NULL)
		return qx_oom(x);
	return 0;
}

static int
qplan_count(struct qexec *x, struct qstage *st)
{
	if (qplan_schema_alloc(x, &st->s_out, 1, 0) == -1)
		return -1;
	st->s_out.s_open = 0;
	st->s_out.s_names[0] = "Count";
	st->s_out.s_types[0] = QV_LONG;
	st->s_out.s_ncols = 1;
	return 0;
}

/* Does a stage never drop a row (for the early row-limit check)? */
static int
qplan_keeps_rows(enum qopk k)
{
	return k == QO_PROJECT || k == QO_PROJECT_AWAY ||
	    k == QO_PROJECT_RENAME || k == QO_EXTEND || k == QO_SORT;
}

int
qplan(struct qexec *x, const struct qast *ast)
{
	const struct qschema	*in = &x->x_src;
	const struct qop	*op;
	struct qstage		*st;
	size_t			 i;
	int			 rc = 0, preserves, sorted;
	enum qopk		 kind;

	if ((x->x_st = calloc(ast->q_nops + 1, sizeof(*x->x_st))) == NULL)
		return qx_oom(x);
	for (i = 0; i < ast->q_nops; i++) {
		op = &ast->q_ops[i];
		st = &x->x_st[x->x_nst++];
		st->s_kind = op->o_kind;
		st->s_op = op;
		st->s_nin = in->s_ncols;
		switch (op->o_kind) {
		case QO_WHERE:
			rc = qplan_where(x, st, in);
			break;
		case QO_PROJECT:
			rc = qplan_project(x, st, in);
			break;
		case QO_EXTEND:
			rc = qplan_extend(x, st, in);
			break;
		case QO_PROJECT_AWAY:
			rc = qplan_away(x, st, in);
			break;
		case QO_PROJECT_RENAME:
			rc = qplan_rename(x, st, in);
			break;
		case QO_SUMMARIZE:
			rc = qplan_summarize(x, st, in);
			break;
		case QO_SORT:
			/* sort then take is top: a heap of N, not the whole
			 * input. */
			if (i + 1 < ast->q_nops &&
			    ast->q_ops[i + 1].o_kind == QO_TAKE) {
				st->s_kind = QO_TOP;
				st->s_n = ast->q_ops[++i].o_n;
			}
			rc = qplan_keys(x, st, in, op);
			break;
		case QO_TOP:
			st->s_n = op->o_n;
			rc = qplan_keys(x, st, in, op);
			break;
		case QO_TAKE:
			st->s_n = op->o_n;
			st->s_out = *in;
			break;
		case QO_COUNT:
			rc = qplan_count(x, st);
			break;
		case QO_DISTINCT:
			if (op->o_star)
				st->s_out = *in;
			else
				rc = qplan_project(x, st, in);
			break;
		}
		if (rc == -1)
			return -1;
		if (st->s_out.s_ncols > 0 && (st->s_row = calloc(
		    st->s_out.s_ncols, sizeof(*st->s_row))) == NULL)
			return qx_oom(x);
		in = &st->s_out;
	}
	for (preserves = 1, sorted = 0, i = x->x_nst; i-- > 0;) {
		st = &x->x_st[i];
		kind = st->s_kind;
		st->s_preserves = preserves;
		st->s_sorted_after = sorted;
		/* A sort whose every row reaches the answer, which is cut at
		 * max_result_rows, needs to keep no more than that (and one
		 * more, to know the answer was cut): it runs as a top. */
		if (kind == QO_SORT && preserves &&
		    x->x_lim->max_result_rows > 0) {
			st->s_kind = QO_TOP;
			st->s_n = x->x_lim->max_result_rows + 1;
		}
		preserves = preserves && qplan_keeps_rows(kind);
		sorted = sorted || kind == QO_SORT || kind == QO_TOP;
	}
	x->x_sink.k_schema = in;
	if ((x->x_sink.k_seen = calloc(in->s_ncols + 1,
	    sizeof(*x->x_sink.k_seen))) == NULL)
		return qx_oom(x);
	return 0;
}
