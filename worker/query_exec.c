/*
 * query_exec.c - run a parsed query over a stream of rows and answer in
 * the Azure Log Analytics shape.
 *
 * Planning.  Each operator becomes a stage with an output schema: a list
 * of fixed columns (name, static type) and, while no operator has fixed
 * the columns yet ("open" schema), the fields of the stored JSON row, minus
 * those hidden by project-away or shadowed by a fixed column of the same
 * name.  Column names are resolved once, here: to a fixed column's slot
 * or to "a field of the stored row".  An unknown name is an error only
 * once the schema is closed (rows are schemaless JSON: on an open schema a
 * missing field is null).  "sort by ... | take N" becomes "top N".
 *
 * Running.  The row source calls back once per stored row in key order;
 * each row is parsed with json-c and pushed down the chain of stages.
 * Streaming stages (where, project, project-away, project-rename, extend,
 * take, distinct) pass rows on at once; take answers "stop" once it has N
 * rows, which stops the scan.  Buffering stages keep only what they must:
 * sort the rows it has seen (failing early with 422 once it holds more
 * than query_max_result_rows rows that nothing after it can drop), top a
 * heap of N rows, summarize one state per group (dcount an exact set of
 * values per group), count a counter.  At the end of the scan each stage
 * in turn flushes what it holds down the chain.
 *
 * The answer: {"tables":[{"name":"PrimaryResult","columns":[{"name":..,
 * "type":..}],"rows":[[..]]}]}.  Columns of an open schema are the fields
 * of the result rows in first-seen order, then the fixed columns (those
 * extend added).  After summarize: the by columns in the order written,
 * then the aggregates.  A column's type is the one type of its non-null
 * values (long and real together make real; other mixes make dynamic); a
 * column with only nulls takes the type its expression must have, else
 * dynamic.  Values: long and real as JSON numbers (NaN and infinities as
 * strings), bool as true/false, datetime as "2024-01-01T00:00:00Z" (with
 * up to seven fractional digits, trailing zeros dropped, when not a whole
 * second), timespan as "[d.]hh:mm:ss[.fffffff]", dynamic (JSON objects and
 * arrays) as a string holding their compact JSON, as Log Analytics does.
 *
 * Limits: more than max_rows_scanned rows read from the table, more than
 * max_result_rows rows or more than max_result_bytes bytes in the answer
 * is 422 QUERY_LIMIT_EXCEEDED (a limit of 0 means none).
 *
 * The request's timespan (ISO-8601 duration "PT1H", or "start/end",
 * "start/duration", "duration/end") keeps the rows whose TimeGenerated
 * lies within [now - duration, now] (resp. [start, end]), both ends
 * included.  A row without TimeGenerated (or with null) is not filtered;
 * a row whose TimeGenerated is not an ISO-8601 UTC time is dropped.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

#define QX_JSON_DEPTH	1024

struct qschema {
	int		  s_open;	/* fields of the stored row visible */
	const char	**s_names;	/* fixed columns */
	enum qtype	 *s_types;	/* their static types (QV_NULL: ?) */
	size_t		  s_ncols;
	const char	**s_hidden;	/* patterns hiding stored fields */
	size_t		  s_nhidden;
};

/* A row kept by a buffering stage or by the answer: owns its values. */
struct qstored {
	json_object	*r_src;		/* reference held, or NULL */
	uint64_t	 r_seq;		/* arrival order: stable sorting */
	struct qval	*r_cols;
	struct qval	*r_keys;	/* sort keys */
	size_t		 r_ncols, r_nkeys;
};

struct qaggst {
	int		 a_kind;	/* sum: QV_NULL (nothing yet), QV_LONG,
					 * QV_REAL or QV_TIMESPAN */
	int64_t		 a_n;		/* count, countif, avg's count */
	int64_t		 a_l;
	double		 a_r;
	struct qval	 a_v;		/* min, max */
	struct qhset	*a_set;		/* dcount */
};

struct qgroup {
	struct qval	*g_keys;	/* the by values, owned */
	struct qaggst	*g_aggs;
};

struct qstage {
	enum qopk	  s_kind;
	const struct qop *s_op;
	struct qschema	  s_out;
	size_t		  s_nin;	/* fixed columns of input rows */
	struct qval	 *s_row;	/* the output row being built */
	const struct qitem *s_items;	/* expressions or sort keys */
	size_t		  s_nitems;
	size_t		 *s_slot;	/* extend: output slot of each item */
	int		 *s_map;	/* project-away, project-rename: input
					 * slot of each output column, or -1 */
	const char	**s_from;	/* project-rename: stored field read
					 * into a column, or NULL */
	int		  s_preserves;	/* no later stage drops rows */
	int64_t		  s_n;		/* take, top: N */
	int64_t		  s_count;	/* take: rows passed; count: rows */
	uint64_t	  s_seq;
	struct qstored	**s_rows;	/* sort: all; top: heap of N */
	size_t		  s_nrows, s_caprows;
	struct qval	 *s_keys;	/* sort keys of the current row */
	/* summarize */
	struct qnode	**s_aggs;
	size_t		  s_naggs, s_capaggs;
	struct qval	 *s_aggv;	/* aggregate results of one group */
	struct qgroup	**s_groups;
	size_t		  s_ngroups, s_capgroups;
	struct qhset	  s_set;	/* summarize groups, distinct rows */
};

/* The answer being built. */
struct qsink {
	const struct qschema *k_schema;
	unsigned	*k_seen;	/* per fixed column: bit per type */
	struct buf	 k_rows;	/* closed schema: rows already written */
	long		 k_nrows;
	struct qstored	**k_kept;	/* open schema: rows kept */
	size_t		 k_nkept, k_cap;
};

struct qexec {
	struct qctx		 x_ctx;
	const struct query_limits *x_lim;
	struct err		*x_e;
	int			 x_failed;	/* x_e set by a callback */
	struct qarena		*x_arena;	/* the plan's memory */
	struct qstage		*x_st;
	size_t			 x_nst;
	struct qschema		 x_src;		/* the table: open, empty */
	struct qsink		 x_sink;
	json_tokener		*x_tok;
	int			 x_need_src;	/* parse the stored rows */
	int			 x_srcref;	/* planning: a stored field used */
	long			 x_scanned;
	int			 x_span;
	int64_t			 x_span_lo, x_span_hi;
	struct buf		 x_key;
};

static int qx_push(struct qexec *, size_t, const struct qrow *);

/* ---- errors ------------------------------------------------------------ */

static int
qx_oom(struct qexec *x)
{
	return err_set(x->x_e, ERR_OUT_OF_MEMORY, "query working memory");
}

static int
qx_syntax(struct qexec *x, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
qx_syntax(struct qexec *x, int line, int col, const char *fmt, ...)
{
	char	 msg[200];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(x->x_e, ERR_QUERY_SYNTAX_ERROR, "line %d, column %d: %s",
	    line, col, msg);
}

static int
qx_limit_rows(struct qexec *x)
{
	return err_set(x->x_e, ERR_QUERY_LIMIT_EXCEEDED,
	    "query result has more than query_max_result_rows (%ld) rows",
	    x->x_lim->max_result_rows);
}

static int
qx_limit_bytes(struct qexec *x)
{
	return err_set(x->x_e, ERR_QUERY_LIMIT_EXCEEDED,
	    "query result is larger than max_result_bytes (%zu bytes)",
	    x->x_lim->max_result_bytes);
}

static int
qx_over_rows(const struct qexec *x, size_t n)
{
	return x->x_lim->max_result_rows > 0 &&
	    n > (size_t)x->x_lim->max_result_rows;
}

/* ---- schemas ----------------------------------------------------------- */

/* '*' matches any run of characters.  Greedy with one backtrack point
 * (the last star): O(len(p) * len(s)), whatever the pattern. */
static int
qx_glob(const char *p, const char *s)
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
qx_find(const struct qschema *sc, const char *name)
{
	size_t	i;

	for (i = 0; i < sc->s_ncols; i++)
		if (strcmp(sc->s_names[i], name) == 0)
			return (long)i;
	return -1;
}

static int
qx_hidden(const struct qschema *sc, const char *name)
{
	size_t	i;

	for (i = 0; i < sc->s_nhidden; i++)
		if (qx_glob(sc->s_hidden[i], name))
			return 1;
	return 0;
}

/* Is a field of the stored row a column of the answer? */
static int
qx_visible(const struct qschema *sc, const char *name)
{
	return sc->s_open && !qx_hidden(sc, name) && qx_find(sc, name) < 0;
}

static int
qx_schema_alloc(struct qexec *x, struct qschema *sc, size_t ncols,
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
qx_schema_copy(struct qexec *x, struct qschema *out, const struct qschema *in,
    size_t extra, size_t extra_hidden)
{
	if (qx_schema_alloc(x, out, in->s_ncols + extra,
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
qx_unique(struct qexec *x, const struct qschema *sc, size_t n,
    const char *name)
{
	struct qschema	 part = *sc;
	char		*buf;
	size_t		 len = strlen(name) + 24;
	unsigned	 k;

	part.s_ncols = n;
	if (qx_find(&part, name) < 0)
		return name;
	if ((buf = qarena_alloc(x->x_arena, len)) == NULL)
		return NULL;
	for (k = 1;; k++) {
		snprintf(buf, len, "%s%u", name, k);
		if (qx_find(&part, buf) < 0)
			return buf;
	}
}

/* ---- name resolution --------------------------------------------------- */

enum qx_aggmode {
	QX_NOAGG = 0,		/* aggregations are an error */
	QX_AGGS,		/* summarize item: collect them */
	QX_INAGG		/* inside an aggregation's arguments */
};

static int
qx_resolve(struct qexec *x, struct qnode *n, const struct qschema *sc,
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
		if ((slot = qx_find(sc, n->n_name)) >= 0) {
			n->n_slot = (int)slot;
			return 0;
		}
		if (sc->s_open && !qx_hidden(sc, n->n_name)) {
			n->n_slot = -1;
			x->x_srcref = 1;
			return 0;
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
			if (qx_resolve(x, n->n_a[i], sc, QX_INAGG, st) == -1)
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
			if (qx_resolve(x, n->n_a[i], sc, mode, st) == -1)
				return -1;
		return 0;
	}
}

/* The first column an expression reads, for naming its result. */
static const char *
qx_first_col(const struct qnode *n)
{
	const char	*s;
	size_t		 i;

	if (n->n_kind == QN_COL)
		return n->n_name;
	for (i = 0; i < n->n_na; i++)
		if ((s = qx_first_col(n->n_a[i])) != NULL)
			return s;
	return NULL;
}

static int	qx_is_member_chain(const struct qnode *);

/* The first member chain (col.a.b) an expression reads, before any plain
 * column, or NULL. */
static const struct qnode *
qx_first_member(const struct qnode *n)
{
	const struct qnode	*s;
	size_t			 i;

	if (qx_is_member_chain(n))
		return n;
	if (n->n_kind == QN_COL)
		return NULL;
	for (i = 0; i < n->n_na; i++) {
		if (n->n_a[i]->n_kind == QN_COL)
			return NULL;
		if ((s = qx_first_member(n->n_a[i])) != NULL)
			return s;
	}
	return NULL;
}

static int
qx_is_member_chain(const struct qnode *n)
{
	if (n->n_kind != QN_MEMBER)
		return 0;
	while (n->n_kind == QN_MEMBER)
		n = n->n_a[0];
	return n->n_kind == QN_COL;
}

/* "Properties.status" is named Properties_status, as Kusto names it
 * (the chain must start at a column: see qx_is_member_chain). */
static const char *
qx_member_name(struct qexec *x, const struct qnode *n)
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
qx_autoname(struct qexec *x, const struct qitem *it, int by, unsigned *colno)
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
			c = qx_first_col(n->n_a[0]);
		len = strlen(n->n_name) + (c ? strlen(c) : 0) + 2;
		if ((buf = qarena_alloc(x->x_arena, len)) == NULL)
			return NULL;
		snprintf(buf, len, "%s_%s", n->n_name, c ? c : "");
		return buf;
	}
	if (qx_is_member_chain(n))
		return qx_member_name(x, n);
	if (by && (m = qx_first_member(n)) != NULL)
		return qx_member_name(x, m);	/* tostring(P.region): P_region */
	if (by && (c = qx_first_col(n)) != NULL)
		return c;
	if ((buf = qarena_alloc(x->x_arena, 24)) == NULL)
		return NULL;
	snprintf(buf, 24, "Column%u", ++*colno);
	return buf;
}

/* ---- planning ---------------------------------------------------------- */

static int
qx_plan_where(struct qexec *x, struct qstage *st, const struct qschema *in)
{
	const struct qnode	*p = st->s_op->o_pred;
	enum qtype		 t;

	st->s_out = *in;
	if (qx_resolve(x, st->s_op->o_pred, in, QX_NOAGG, st) == -1)
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
qx_plan_project(struct qexec *x, struct qstage *st, const struct qschema *in)
{
	const struct qop	*op = st->s_op;
	const char		*name;
	unsigned		 colno = 0;
	size_t			 i;

	if (qx_schema_alloc(x, &st->s_out, op->o_nitems, 0) == -1)
		return -1;
	st->s_out.s_open = 0;
	for (i = 0; i < op->o_nitems; i++) {
		if (qx_resolve(x, op->o_items[i].i_e, in, QX_NOAGG, st) == -1)
			return -1;
		if ((name = qx_autoname(x, &op->o_items[i], 0, &colno)) ==
		    NULL || (name = qx_unique(x, &st->s_out, i, name)) == NULL)
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
qx_plan_extend(struct qexec *x, struct qstage *st, const struct qschema *in)
{
	const struct qop	*op = st->s_op;
	struct qschema		*out = &st->s_out;
	const char		*name;
	unsigned		 colno = 0;
	size_t			 i;
	long			 slot;

	if (qx_schema_copy(x, out, in, op->o_nitems, 0) == -1 ||
	    (st->s_slot = qarena_alloc(x->x_arena, op->o_nitems *
	    sizeof(*st->s_slot))) == NULL)
		return qx_oom(x);
	/* Each item sees the ones before it: "extend a = 1, b = a + 1". */
	for (i = 0; i < op->o_nitems; i++) {
		if (qx_resolve(x, op->o_items[i].i_e, out, QX_NOAGG, st) == -1)
			return -1;
		if ((name = qx_autoname(x, &op->o_items[i], 0, &colno)) ==
		    NULL)
			return qx_oom(x);
		/* An existing column of that name is replaced. */
		if ((slot = qx_find(out, name)) < 0) {
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
qx_plan_away(struct qexec *x, struct qstage *st, const struct qschema *in)
{
	const struct qop	*op = st->s_op;
	struct qschema		*out = &st->s_out;
	size_t			 i, k;
	int			 hit;

	if (qx_schema_copy(x, out, in, 0, op->o_nitems) == -1 ||
	    (st->s_map = qarena_alloc(x->x_arena, (in->s_ncols + 1) *
	    sizeof(*st->s_map))) == NULL)
		return qx_oom(x);
	out->s_ncols = 0;
	for (k = 0; k < in->s_ncols; k++) {
		for (hit = 0, i = 0; i < op->o_nitems && !hit; i++)
			hit = qx_glob(op->o_items[i].i_name, in->s_names[k]);
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
		    qx_find(in, op->o_items[i].i_name) < 0)
			return qx_syntax(x, op->o_items[i].i_line,
			    op->o_items[i].i_col, "unknown column '%s'",
			    op->o_items[i].i_name);
		if (in->s_open)
			out->s_hidden[out->s_nhidden++] = op->o_items[i].i_name;
	}
	return 0;
}

static int
qx_plan_rename(struct qexec *x, struct qstage *st, const struct qschema *in)
{
	const struct qop	*op = st->s_op;
	struct qschema		*out = &st->s_out;
	const char		*from, *to;
	size_t			 i, k, n = in->s_ncols + op->o_nitems;
	long			 slot;

	if (qx_schema_copy(x, out, in, op->o_nitems, op->o_nitems) == -1 ||
	    (st->s_map = qarena_alloc(x->x_arena, n * sizeof(*st->s_map))) ==
	    NULL || (st->s_from = qarena_alloc(x->x_arena, n *
	    sizeof(*st->s_from))) == NULL)
		return qx_oom(x);
	for (k = 0; k < in->s_ncols; k++) {
		st->s_map[k] = (int)k;
		st->s_from[k] = NULL;
	}
	for (i = 0; i < op->o_nitems; i++) {
		to = op->o_items[i].i_name;
		from = op->o_items[i].i_e->n_name;
		if ((slot = qx_find(in, from)) >= 0) {
			out->s_names[slot] = to;
		} else if (in->s_open && !qx_hidden(in, from)) {
			/* A stored field becomes a fixed column. */
			slot = (long)out->s_ncols++;
			out->s_names[slot] = to;
			out->s_types[slot] = QV_NULL;
			st->s_map[slot] = -1;
			st->s_from[slot] = from;
			out->s_hidden[out->s_nhidden++] = from;
			x->x_srcref = 1;
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
qx_plan_summarize(struct qexec *x, struct qstage *st, const struct qschema *in)
{
	const struct qop	*op = st->s_op;
	struct qschema		*out = &st->s_out;
	const struct qitem	*it;
	const char		*name;
	unsigned		 colno = 0;
	size_t			 i, before, n = op->o_nby + op->o_nitems;

	if (qx_schema_alloc(x, out, n, 0) == -1)
		return -1;
	out->s_open = 0;
	for (i = 0; i < n; i++) {
		it = i < op->o_nby ? &op->o_by[i] : &op->o_items[i - op->o_nby];
		before = st->s_naggs;
		if (i < op->o_nby) {
			if (qx_resolve(x, it->i_e, in, QX_NOAGG, st) == -1)
				return -1;
		} else {
			if (qx_resolve(x, it->i_e, in, QX_AGGS, st) == -1)
				return -1;
			if (st->s_naggs == before)
				return qx_syntax(x, it->i_line, it->i_col,
				    "expected an aggregation such as count() "
				    "or sum(x)");
		}
		if ((name = qx_autoname(x, it, i < op->o_nby, &colno)) ==
		    NULL || (name = qx_unique(x, out, i, name)) == NULL)
			return qx_oom(x);
		out->s_names[i] = name;
		out->s_types[i] = qnode_type(it->i_e, in->s_types);
		out->s_ncols = i + 1;
	}
	if ((st->s_aggv = calloc(st->s_naggs + 1, sizeof(*st->s_aggv))) ==
	    NULL)
		return qx_oom(x);
	return 0;
}

static int
qx_plan_keys(struct qexec *x, struct qstage *st, const struct qschema *in,
    const struct qop *keys)
{
	size_t	i;

	st->s_out = *in;
	st->s_items = keys->o_items;
	st->s_nitems = keys->o_nitems;
	for (i = 0; i < keys->o_nitems; i++)
		if (qx_resolve(x, keys->o_items[i].i_e, in, QX_NOAGG, st) == -1)
			return -1;
	if ((st->s_keys = calloc(keys->o_nitems + 1, sizeof(*st->s_keys))) ==
	    NULL)
		return qx_oom(x);
	return 0;
}

static int
qx_plan_count(struct qexec *x, struct qstage *st)
{
	if (qx_schema_alloc(x, &st->s_out, 1, 0) == -1)
		return -1;
	st->s_out.s_open = 0;
	st->s_out.s_names[0] = "Count";
	st->s_out.s_types[0] = QV_LONG;
	st->s_out.s_ncols = 1;
	return 0;
}

/* Does a stage never drop a row (for the early row-limit check)? */
static int
qx_keeps_rows(enum qopk k)
{
	return k == QO_PROJECT || k == QO_PROJECT_AWAY ||
	    k == QO_PROJECT_RENAME || k == QO_EXTEND || k == QO_SORT;
}

static int
qx_plan(struct qexec *x, const struct qast *ast)
{
	const struct qschema	*in = &x->x_src;
	const struct qop	*op;
	struct qstage		*st;
	size_t			 i;
	int			 rc = 0, preserves;

	if ((x->x_st = calloc(ast->q_nops + 1, sizeof(*x->x_st))) == NULL)
		return qx_oom(x);
	x->x_need_src = 1;
	for (i = 0; i < ast->q_nops; i++) {
		op = &ast->q_ops[i];
		st = &x->x_st[x->x_nst++];
		st->s_kind = op->o_kind;
		st->s_op = op;
		st->s_nin = in->s_ncols;
		x->x_srcref = 0;
		switch (op->o_kind) {
		case QO_WHERE:
			rc = qx_plan_where(x, st, in);
			break;
		case QO_PROJECT:
			rc = qx_plan_project(x, st, in);
			break;
		case QO_EXTEND:
			rc = qx_plan_extend(x, st, in);
			break;
		case QO_PROJECT_AWAY:
			rc = qx_plan_away(x, st, in);
			break;
		case QO_PROJECT_RENAME:
			rc = qx_plan_rename(x, st, in);
			break;
		case QO_SUMMARIZE:
			rc = qx_plan_summarize(x, st, in);
			break;
		case QO_SORT:
			/* sort then take is top: a heap of N, not the whole
			 * input. */
			if (i + 1 < ast->q_nops &&
			    ast->q_ops[i + 1].o_kind == QO_TAKE) {
				st->s_kind = QO_TOP;
				st->s_n = ast->q_ops[++i].o_n;
			}
			rc = qx_plan_keys(x, st, in, op);
			break;
		case QO_TOP:
			st->s_n = op->o_n;
			rc = qx_plan_keys(x, st, in, op);
			break;
		case QO_TAKE:
			st->s_n = op->o_n;
			st->s_out = *in;
			break;
		case QO_COUNT:
			rc = qx_plan_count(x, st);
			break;
		case QO_DISTINCT:
			if (op->o_star)
				st->s_out = *in;
			else
				rc = qx_plan_project(x, st, in);
			break;
		}
		if (rc == -1)
			return -1;
		/* A query that starts by counting or summarizing without
		 * reading a field need not parse the rows at all. */
		if (i == 0 && !x->x_srcref && (op->o_kind == QO_COUNT ||
		    op->o_kind == QO_SUMMARIZE))
			x->x_need_src = 0;
		if (st->s_out.s_ncols > 0 && (st->s_row = calloc(
		    st->s_out.s_ncols, sizeof(*st->s_row))) == NULL)
			return qx_oom(x);
		in = &st->s_out;
	}
	if (x->x_span)
		x->x_need_src = 1;
	for (preserves = 1, i = x->x_nst; i-- > 0;) {
		x->x_st[i].s_preserves = preserves;
		preserves = preserves && qx_keeps_rows(x->x_st[i].s_kind);
	}
	x->x_sink.k_schema = in;
	if ((x->x_sink.k_seen = calloc(in->s_ncols + 1,
	    sizeof(*x->x_sink.k_seen))) == NULL)
		return qx_oom(x);
	return 0;
}

/* ---- stored rows ------------------------------------------------------- */

static void
qx_stored_free(struct qstored *s)
{
	size_t	i;

	if (s == NULL)
		return;
	for (i = 0; i < s->r_ncols; i++)
		qval_clear(&s->r_cols[i]);
	for (i = 0; i < s->r_nkeys; i++)
		qval_clear(&s->r_keys[i]);
	json_object_put(s->r_src);
	free(s);
}

static struct qstored *
qx_stored_new(const struct qrow *r, size_t ncols, const struct qval *keys,
    size_t nkeys, uint64_t seq)
{
	struct qstored	*s;
	size_t		 i;

	if ((s = malloc(sizeof(*s) + (ncols + nkeys) *
	    sizeof(struct qval))) == NULL)
		return NULL;
	s->r_src = r->src != NULL ? json_object_get(r->src) : NULL;
	s->r_seq = seq;
	s->r_cols = (struct qval *)(s + 1);
	s->r_keys = s->r_cols + ncols;
	s->r_ncols = s->r_nkeys = 0;
	for (i = 0; i < ncols; i++, s->r_ncols++)
		if (qval_copy(&s->r_cols[i], &r->cols[i]) == -1)
			goto fail;
	for (i = 0; i < nkeys; i++, s->r_nkeys++)
		if (qval_copy(&s->r_keys[i], &keys[i]) == -1)
			goto fail;
	return s;
fail:
	qx_stored_free(s);
	return NULL;
}

static int
qx_rows_add(struct qstored ***v, size_t *n, size_t *cap, struct qstored *s)
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
qx_order(const struct qstage *st, const struct qval *ak, uint64_t aseq,
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
qx_sort_cmp(const void *a, const void *b, void *arg)
{
	const struct qstored	*ra = *(struct qstored *const *)a;
	const struct qstored	*rb = *(struct qstored *const *)b;

	return qx_order(arg, ra->r_keys, ra->r_seq, rb->r_keys, rb->r_seq);
}

/* ---- stages ------------------------------------------------------------ */

static int
qx_eval_keys(struct qexec *x, struct qstage *st, const struct qrow *r)
{
	size_t	i;

	for (i = 0; i < st->s_nitems; i++)
		if (qeval(&x->x_ctx, st->s_items[i].i_e, r, &st->s_keys[i]) ==
		    -1)
			return qx_oom(x);
	return 0;
}

static int
qx_sort_push(struct qexec *x, struct qstage *st, const struct qrow *r)
{
	struct qstored	*s;

	if (qx_eval_keys(x, st, r) == -1)
		return -1;
	if ((s = qx_stored_new(r, st->s_nin, st->s_keys, st->s_nitems,
	    st->s_seq++)) == NULL ||
	    qx_rows_add(&st->s_rows, &st->s_nrows, &st->s_caprows, s) == -1) {
		qx_stored_free(s);
		return qx_oom(x);
	}
	if (st->s_preserves && qx_over_rows(x, st->s_nrows))
		return qx_limit_rows(x);
	return 0;
}

/* The heap's root is the row that would come last: the first to go. */
static int
qx_heap_after(const struct qstage *st, size_t i, size_t j)
{
	const struct qstored	*a = st->s_rows[i], *b = st->s_rows[j];

	return qx_order(st, a->r_keys, a->r_seq, b->r_keys, b->r_seq) > 0;
}

static void
qx_heap_swap(struct qstage *st, size_t i, size_t j)
{
	struct qstored	*t = st->s_rows[i];

	st->s_rows[i] = st->s_rows[j];
	st->s_rows[j] = t;
}

static void
qx_heap_down(struct qstage *st, size_t i)
{
	size_t	l, r, m;

	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < st->s_nrows && qx_heap_after(st, l, m))
			m = l;
		if (r < st->s_nrows && qx_heap_after(st, r, m))
			m = r;
		if (m == i)
			return;
		qx_heap_swap(st, i, m);
		i = m;
	}
}

static int
qx_top_push(struct qexec *x, struct qstage *st, const struct qrow *r)
{
	struct qstored	*s, *root;
	uint64_t	 seq = st->s_seq++;
	size_t		 i;

	if (st->s_n == 0)
		return 1;
	if (qx_eval_keys(x, st, r) == -1)
		return -1;
	if ((int64_t)st->s_nrows == st->s_n) {
		root = st->s_rows[0];
		if (qx_order(st, st->s_keys, seq, root->r_keys,
		    root->r_seq) >= 0)
			return 0;
	}
	if ((s = qx_stored_new(r, st->s_nin, st->s_keys, st->s_nitems,
	    seq)) == NULL)
		return qx_oom(x);
	if ((int64_t)st->s_nrows == st->s_n) {
		qx_stored_free(st->s_rows[0]);
		st->s_rows[0] = s;
		qx_heap_down(st, 0);
		return 0;
	}
	if (qx_rows_add(&st->s_rows, &st->s_nrows, &st->s_caprows, s) == -1) {
		qx_stored_free(s);
		return qx_oom(x);
	}
	for (i = st->s_nrows - 1; i > 0 && qx_heap_after(st, i, (i - 1) / 2);
	    i = (i - 1) / 2)
		qx_heap_swap(st, i, (i - 1) / 2);
	return 0;
}

/* Push each kept row of a sort or top stage, in order. */
static int
qx_sorted_flush(struct qexec *x, size_t i)
{
	struct qstage	*st = &x->x_st[i];
	struct qrow	 r;
	size_t		 k;
	int		 rc = 0;

	if (st->s_nrows > 1)
		qsort_r(st->s_rows, st->s_nrows, sizeof(*st->s_rows),
		    qx_sort_cmp, st);
	for (k = 0; k < st->s_nrows && rc == 0; k++) {
		r.src = st->s_rows[k]->r_src;
		r.cols = st->s_rows[k]->r_cols;
		rc = qx_push(x, i + 1, &r);
		qarena_reset(&x->x_ctx.tmp);
	}
	return rc == -1 ? -1 : 0;
}

/* Encode the values of a row's group / distinct key into x_key. */
static int
qx_key(struct qexec *x, const struct qval *v, size_t n)
{
	size_t	i;

	buf_reset(&x->x_key);
	for (i = 0; i < n; i++)
		if (qval_key(&x->x_key, &v[i]) == -1)
			return qx_oom(x);
	return 0;
}

/* distinct *: the key is every visible column of the row. */
static int
qx_key_row(struct qexec *x, const struct qschema *sc, const struct qrow *r)
{
	struct qval	name, v;

	if (qx_key(x, r->cols, sc->s_ncols) == -1)
		return -1;
	if (r->src == NULL || !sc->s_open)
		return 0;
	json_object_object_foreach(r->src, k, j) {
		if (!qx_visible(sc, k))
			continue;
		name.t = QV_STRING;
		name.own = 0;
		name.u.s.p = k;
		name.u.s.n = strlen(k);
		qval_from_json(j, &v);
		if (qval_key(&x->x_key, &name) == -1 ||
		    qval_key(&x->x_key, &v) == -1)
			return qx_oom(x);
	}
	return 0;
}

static int
qx_distinct_push(struct qexec *x, struct qstage *st, const struct qrow *r)
{
	struct qrow	out = { NULL, st->s_row };
	size_t		i, idx;
	int		added;

	if (st->s_op->o_star) {
		if (qx_key_row(x, &st->s_out, r) == -1)
			return -1;
		out = *r;
	} else {
		for (i = 0; i < st->s_nitems; i++)
			if (qeval(&x->x_ctx, st->s_items[i].i_e, r,
			    &st->s_row[i]) == -1)
				return qx_oom(x);
		if (qx_key(x, st->s_row, st->s_nitems) == -1)
			return -1;
	}
	if (qhset_put(&st->s_set, x->x_key.data, x->x_key.len, &idx,
	    &added) == -1)
		return qx_oom(x);
	return added ? qx_push(x, (size_t)(st - x->x_st) + 1, &out) : 0;
}

/* ---- summarize --------------------------------------------------------- */

static void
qx_group_free(struct qgroup *g, size_t nby, size_t naggs)
{
	size_t	i;

	if (g == NULL)
		return;
	for (i = 0; i < nby; i++)
		qval_clear(&g->g_keys[i]);
	for (i = 0; i < naggs; i++) {
		qval_clear(&g->g_aggs[i].a_v);
		if (g->g_aggs[i].a_set != NULL) {
			qhset_free(g->g_aggs[i].a_set);
			free(g->g_aggs[i].a_set);
		}
	}
	free(g);
}

static struct qgroup *
qx_group_new(const struct qval *keys, size_t nby, size_t naggs)
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
			qx_group_free(g, i, naggs);
			return NULL;
		}
	return g;
}

static int
qx_group_add(struct qstage *st, struct qgroup *g)
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

static int
qx_agg_add(struct qexec *x, const struct qnode *n, struct qaggst *a,
    const struct qrow *r)
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
		if (a->a_set == NULL &&
		    (a->a_set = calloc(1, sizeof(*a->a_set))) == NULL)
			return qx_oom(x);
		if (qx_key(x, &v, 1) == -1 || qhset_put(a->a_set,
		    x->x_key.data, x->x_key.len, &idx, &added) == -1)
			return qx_oom(x);
		break;
	default:
		break;
	}
	return 0;
}

static int
qx_summarize_push(struct qexec *x, struct qstage *st, const struct qrow *r)
{
	const struct qop	*op = st->s_op;
	struct qgroup		*g;
	size_t			 i, idx;
	int			 added;

	for (i = 0; i < op->o_nby; i++)
		if (qeval(&x->x_ctx, op->o_by[i].i_e, r, &st->s_row[i]) == -1)
			return qx_oom(x);
	if (qx_key(x, st->s_row, op->o_nby) == -1 ||
	    qhset_put(&st->s_set, x->x_key.data, x->x_key.len, &idx,
	    &added) == -1)
		return qx_oom(x);
	if (added) {
		if ((g = qx_group_new(st->s_row, op->o_nby, st->s_naggs)) ==
		    NULL || qx_group_add(st, g) == -1) {
			qx_group_free(g, op->o_nby, st->s_naggs);
			return qx_oom(x);
		}
		if (st->s_preserves && qx_over_rows(x, st->s_ngroups))
			return qx_limit_rows(x);
	}
	g = st->s_groups[idx];
	for (i = 0; i < st->s_naggs; i++)
		if (qx_agg_add(x, st->s_aggs[i], &g->g_aggs[i], r) == -1)
			return -1;
	return 0;
}

/* An aggregate's answer for one group (Kusto's defaults when the group
 * had no value: 0 for count, sum and dcount, null for the others). */
static void
qx_agg_result(const struct qnode *n, const struct qaggst *a, struct qval *v)
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
		v->u.l = a->a_set != NULL ? (int64_t)a->a_set->h_n : 0;
		break;
	}
}

static int
qx_summarize_flush(struct qexec *x, size_t si)
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
		if ((g = qx_group_new(NULL, 0, st->s_naggs)) == NULL ||
		    qx_group_add(st, g) == -1) {
			qx_group_free(g, 0, st->s_naggs);
			return qx_oom(x);
		}
	}
	for (k = 0; k < st->s_ngroups && rc == 0; k++) {
		g = st->s_groups[k];
		for (i = 0; i < st->s_naggs; i++)
			qx_agg_result(st->s_aggs[i], &g->g_aggs[i],
			    &st->s_aggv[i]);
		for (i = 0; i < op->o_nby; i++) {
			st->s_row[i] = g->g_keys[i];
			st->s_row[i].own = 0;
		}
		for (i = 0; i < op->o_nitems; i++)
			if (qeval(&x->x_ctx, op->o_items[i].i_e, &ar,
			    &st->s_row[op->o_nby + i]) == -1)
				return qx_oom(x);
		rc = qx_push(x, si + 1, &out);
		qarena_reset(&x->x_ctx.tmp);
	}
	return rc == -1 ? -1 : 0;
}

/* ---- the answer -------------------------------------------------------- */

static void
qx_seen(unsigned *seen, const struct qval *v)
{
	*seen |= 1u << v->t;
}

static int
qx_sink_push(struct qexec *x, const struct qrow *r)
{
	struct qsink		*k = &x->x_sink;
	const struct qschema	*sc = k->k_schema;
	struct qstored		*s;
	size_t			 i;

	if (qx_over_rows(x, (size_t)++k->k_nrows))
		return qx_limit_rows(x);
	if (sc->s_open) {
		/* The columns are known only once every row is in. */
		if ((s = qx_stored_new(r, sc->s_ncols, NULL, 0, 0)) == NULL ||
		    qx_rows_add(&k->k_kept, &k->k_nkept, &k->k_cap, s) == -1) {
			qx_stored_free(s);
			return qx_oom(x);
		}
		return 0;
	}
	if ((k->k_rows.len > 0 && buf_putc(&k->k_rows, ',') == -1) ||
	    buf_putc(&k->k_rows, '[') == -1)
		return qx_oom(x);
	for (i = 0; i < sc->s_ncols; i++) {
		qx_seen(&k->k_seen[i], &r->cols[i]);
		if ((i > 0 && buf_putc(&k->k_rows, ',') == -1) ||
		    qval_json(&k->k_rows, &r->cols[i]) == -1)
			return qx_oom(x);
	}
	if (buf_putc(&k->k_rows, ']') == -1)
		return qx_oom(x);
	if (x->x_lim->max_result_bytes > 0 &&
	    k->k_rows.len > x->x_lim->max_result_bytes)
		return qx_limit_bytes(x);
	return 0;
}

/* The type name of a column from the types of its values. */
static const char *
qx_type(unsigned seen, enum qtype st)
{
	unsigned	num = (1u << QV_LONG) | (1u << QV_REAL);
	int		t;

	seen &= ~(1u << QV_NULL);
	if (seen == 0)
		return qtype_name(st);
	if ((seen & ~num) == 0 && (seen & (1u << QV_REAL)))
		return "real";
	for (t = 0; t < QV__COUNT; t++)
		if (seen == (1u << t))
			return qtype_name((enum qtype)t);
	return "dynamic";
}

static int
qx_columns(struct buf *b, const char **names, size_t n, const char **types,
    int *first)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if ((!*first && buf_putc(b, ',') == -1) ||
		    buf_puts(b, "{\"name\":") == -1 ||
		    buf_json_str(b, names[i], strlen(names[i])) == -1 ||
		    buf_puts(b, ",\"type\":\"") == -1 ||
		    buf_puts(b, types[i]) == -1 || buf_puts(b, "\"}") == -1)
			return -1;
		*first = 0;
	}
	return 0;
}

/* Write the answer of an open schema: discover the columns, then write
 * every kept row. */
static int
qx_answer_open(struct qexec *x, struct buf *b)
{
	struct qsink		*k = &x->x_sink;
	const struct qschema	*sc = k->k_schema;
	struct qhset		 names;
	const char		**cols = NULL, **types = NULL, **nv;
	unsigned		*seen = NULL;
	size_t			 ncols = 0, cap = 0, i, c, idx;
	struct qval		 v;
	json_object		*j;
	int			 added, first = 1, rc = -1;

	memset(&names, 0, sizeof(names));
	for (i = 0; i < k->k_nkept; i++) {
		if (k->k_kept[i]->r_src == NULL)
			continue;
		json_object_object_foreach(k->k_kept[i]->r_src, key, val) {
			(void)val;
			if (!qx_visible(sc, key))
				continue;
			if (qhset_put(&names, key, strlen(key), &idx,
			    &added) == -1)
				goto oom;
			if (!added)
				continue;
			if (ncols == cap) {
				cap = cap ? cap * 2 : 16;
				if ((nv = realloc(cols, cap * sizeof(*nv))) ==
				    NULL)
					goto oom;
				cols = nv;
			}
			cols[ncols++] = key;
		}
	}
	if ((seen = calloc(ncols + 1, sizeof(*seen))) == NULL ||
	    (types = calloc(ncols + sc->s_ncols + 1, sizeof(*types))) == NULL)
		goto oom;
	for (i = 0; i < k->k_nkept; i++) {
		for (c = 0; c < ncols; c++) {
			j = NULL;
			json_object_object_get_ex(k->k_kept[i]->r_src, cols[c],
			    &j);
			qval_from_json(j, &v);
			qx_seen(&seen[c], &v);
		}
		for (c = 0; c < sc->s_ncols; c++)
			qx_seen(&k->k_seen[c], &k->k_kept[i]->r_cols[c]);
	}
	for (c = 0; c < ncols; c++)
		types[c] = qx_type(seen[c], QV_NULL);
	for (c = 0; c < sc->s_ncols; c++)
		types[ncols + c] = qx_type(k->k_seen[c], sc->s_types[c]);
	if (qx_columns(b, cols, ncols, types, &first) == -1 ||
	    qx_columns(b, sc->s_names, sc->s_ncols, types + ncols,
	    &first) == -1 || buf_puts(b, "],\"rows\":[") == -1)
		goto oom;
	for (i = 0; i < k->k_nkept; i++) {
		if ((i > 0 && buf_putc(b, ',') == -1) || buf_putc(b, '[') == -1)
			goto oom;
		for (c = 0; c < ncols + sc->s_ncols; c++) {
			if (c < ncols) {
				j = NULL;
				json_object_object_get_ex(k->k_kept[i]->r_src,
				    cols[c], &j);
				qval_from_json(j, &v);
			} else
				v = k->k_kept[i]->r_cols[c - ncols];
			if ((c > 0 && buf_putc(b, ',') == -1) ||
			    qval_json(b, &v) == -1)
				goto oom;
		}
		if (buf_putc(b, ']') == -1)
			goto oom;
		if (x->x_lim->max_result_bytes > 0 &&
		    b->len > x->x_lim->max_result_bytes) {
			qx_limit_bytes(x);
			goto done;
		}
	}
	rc = 0;
	goto done;
oom:
	qx_oom(x);
done:
	qhset_free(&names);
	free(cols);
	free(types);
	free(seen);
	return rc;
}

static int
qx_answer(struct qexec *x, struct buf *b)
{
	struct qsink		*k = &x->x_sink;
	const struct qschema	*sc = k->k_schema;
	const char		**types;
	size_t			  c;
	int			  first = 1, rc;

	buf_reset(b);
	if (buf_puts(b, "{\"tables\":[{\"name\":\"PrimaryResult\","
	    "\"columns\":[") == -1)
		return qx_oom(x);
	if (sc->s_open) {
		if (qx_answer_open(x, b) == -1)
			return -1;
	} else {
		if ((types = calloc(sc->s_ncols + 1, sizeof(*types))) == NULL)
			return qx_oom(x);
		for (c = 0; c < sc->s_ncols; c++)
			types[c] = qx_type(k->k_seen[c], sc->s_types[c]);
		rc = qx_columns(b, sc->s_names, sc->s_ncols, types, &first);
		free(types);
		if (rc == -1 || buf_puts(b, "],\"rows\":[") == -1 ||
		    buf_append(b, k->k_rows.data, k->k_rows.len) == -1)
			return qx_oom(x);
	}
	if (buf_puts(b, "]}]}") == -1)
		return qx_oom(x);
	if (x->x_lim->max_result_bytes > 0 &&
	    b->len > x->x_lim->max_result_bytes)
		return qx_limit_bytes(x);
	return 0;
}

/* ---- the pipeline ------------------------------------------------------ */

/* Push row r into stage i (the answer when i is past the last stage).
 * Returns 0 to go on, 1 when no more rows are wanted, -1 on error. */
static int
qx_push(struct qexec *x, size_t i, const struct qrow *r)
{
	struct qstage	*st;
	struct qrow	 out;
	struct qval	 v;
	const char	*from;
	json_object	*j;
	size_t		 k;
	int		 rc;

	if (i == x->x_nst)
		return qx_sink_push(x, r) == -1 ? -1 : 0;
	st = &x->x_st[i];
	out.src = r->src;
	out.cols = st->s_row;
	switch (st->s_kind) {
	case QO_WHERE:
		if (qeval(&x->x_ctx, st->s_op->o_pred, r, &v) == -1)
			return qx_oom(x);
		return qval_true(&v) ? qx_push(x, i + 1, r) : 0;
	case QO_PROJECT:
		for (k = 0; k < st->s_nitems; k++)
			if (qeval(&x->x_ctx, st->s_items[k].i_e, r,
			    &st->s_row[k]) == -1)
				return qx_oom(x);
		out.src = NULL;
		return qx_push(x, i + 1, &out);
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
		return qx_push(x, i + 1, &out);
	case QO_PROJECT_AWAY:
	case QO_PROJECT_RENAME:
		for (k = 0; k < st->s_out.s_ncols; k++) {
			if (st->s_map[k] >= 0) {
				st->s_row[k] = r->cols[st->s_map[k]];
				continue;
			}
			from = st->s_from[k];
			j = NULL;
			if (r->src == NULL ||
			    !json_object_object_get_ex(r->src, from, &j))
				j = NULL;
			qval_from_json(j, &st->s_row[k]);
		}
		return qx_push(x, i + 1, &out);
	case QO_SUMMARIZE:
		return qx_summarize_push(x, st, r);
	case QO_SORT:
		return qx_sort_push(x, st, r);
	case QO_TOP:
		return qx_top_push(x, st, r);
	case QO_TAKE:
		if (st->s_count >= st->s_n)
			return 1;
		st->s_count++;
		if ((rc = qx_push(x, i + 1, r)) != 0)
			return rc;
		return st->s_count >= st->s_n ? 1 : 0;
	case QO_COUNT:
		st->s_count++;
		return 0;
	case QO_DISTINCT:
		return qx_distinct_push(x, st, r);
	}
	return 0;
}

/* The scan is over: each stage in turn passes on what it holds. */
static int
qx_flush(struct qexec *x)
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
			rc = qx_sorted_flush(x, i);
			break;
		case QO_SUMMARIZE:
			rc = qx_summarize_flush(x, i);
			break;
		case QO_COUNT:
			st->s_row[0].t = QV_LONG;
			st->s_row[0].own = 0;
			st->s_row[0].u.l = st->s_count;
			out.src = NULL;
			out.cols = st->s_row;
			rc = qx_push(x, i + 1, &out) == -1 ? -1 : 0;
			break;
		default:
			break;
		}
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* Is the row inside the request's timespan? */
static int
qx_in_span(const struct qexec *x, json_object *src)
{
	json_object	*j;
	struct qval	 v;

	if (!json_object_object_get_ex(src, "TimeGenerated", &j) || j == NULL)
		return 1;
	qval_from_json(j, &v);
	return v.t == QV_DATETIME && v.u.l >= x->x_span_lo &&
	    v.u.l <= x->x_span_hi;
}

static int
qx_row(void *arg, const char *key, size_t key_len, const char *json,
    size_t json_len)
{
	struct qexec	*x = arg;
	struct qrow	 r = { NULL, NULL };
	int		 rc;

	if (x->x_lim->max_rows_scanned > 0 &&
	    ++x->x_scanned > x->x_lim->max_rows_scanned) {
		x->x_failed = 1;
		return err_set(x->x_e, ERR_QUERY_LIMIT_EXCEEDED,
		    "query scanned more than query_max_rows_scanned (%ld) "
		    "rows", x->x_lim->max_rows_scanned);
	}
	if (x->x_need_src) {
		if (json_len > INT_MAX) {
			x->x_failed = 1;
			return err_set(x->x_e, ERR_INTERNAL, "stored row too "
			    "large to parse");
		}
		json_tokener_reset(x->x_tok);
		/* json-c does not report running out of memory apart from
		 * bad JSON; malloc's errno tells them apart. */
		errno = 0;
		r.src = json_tokener_parse_ex(x->x_tok, json, (int)json_len);
		if (r.src == NULL || !json_object_is_type(r.src,
		    json_type_object)) {
			x->x_failed = 1;
			json_object_put(r.src);
			if (r.src == NULL && errno == ENOMEM)
				return qx_oom(x);
			return err_set(x->x_e, ERR_INTERNAL,
			    "stored row is not a JSON object");
		}
		if (x->x_span && !qx_in_span(x, r.src)) {
			json_object_put(r.src);
			return 0;
		}
	}
	rc = qx_push(x, 0, &r);
	json_object_put(r.src);
	qarena_reset(&x->x_ctx.tmp);
	if (rc == -1)
		x->x_failed = 1;
	return rc;
}

/* The request's timespan: a duration before now, or an interval. */
static int
qx_timespan(struct qexec *x, const char *s, size_t n, int64_t now)
{
	const char	*slash = memchr(s, '/', n);
	int64_t		 a, b, d;
	size_t		 an;

	if (slash == NULL) {
		if (qspan_parse_iso(s, n, &d) == -1)
			goto bad;
		x->x_span_lo = now - d;
		x->x_span_hi = now;
		return 0;
	}
	an = (size_t)(slash - s);
	s = slash + 1;
	n -= an + 1;
	if (qtime_parse(slash - an, an, 0, &a) == 0) {
		if (qtime_parse(s, n, 0, &b) == 0)
			;
		else if (qspan_parse_iso(s, n, &d) == 0 && a <= QTIME_MAX - d)
			b = a + d;
		else
			goto bad;
	} else if (qspan_parse_iso(slash - an, an, &d) == 0 &&
	    qtime_parse(s, n, 0, &b) == 0)
		a = b - d;
	else
		goto bad;
	if (a > b)
		goto bad;
	x->x_span_lo = a;
	x->x_span_hi = b;
	return 0;
bad:
	return err_set(x->x_e, ERR_BAD_REQUEST, "invalid timespan: expected "
	    "an ISO-8601 duration such as PT1H or P1D, or start/end");
}

static void
qx_free(struct qexec *x)
{
	struct qstage	*st;
	size_t		 i, k;

	for (i = 0; i < x->x_nst; i++) {
		st = &x->x_st[i];
		for (k = 0; k < st->s_nrows; k++)
			qx_stored_free(st->s_rows[k]);
		free(st->s_rows);
		for (k = 0; k < st->s_ngroups; k++)
			qx_group_free(st->s_groups[k], st->s_op->o_nby,
			    st->s_naggs);
		free(st->s_groups);
		qhset_free(&st->s_set);
		free(st->s_row);
		free(st->s_keys);
		free(st->s_aggv);
	}
	free(x->x_st);
	for (k = 0; k < x->x_sink.k_nkept; k++)
		qx_stored_free(x->x_sink.k_kept[k]);
	free(x->x_sink.k_kept);
	free(x->x_sink.k_seen);
	buf_free(&x->x_sink.k_rows);
	buf_free(&x->x_key);
	qarena_free(&x->x_ctx.tmp);
	if (x->x_tok != NULL)
		json_tokener_free(x->x_tok);
}

int
query_run(const char *q, size_t qlen, const char *ts, size_t tslen,
    const struct query_limits *lim, int64_t now_ms, query_source_fn src,
    void *srcarg, struct item_res *res)
{
	struct qexec	 x;
	struct qarena	 arena = { NULL, 0 };
	struct qast	 ast;
	struct err	 e, se;
	int		 rc = -1;

	memset(&x, 0, sizeof(x));
	memset(&e, 0, sizeof(e));
	memset(&se, 0, sizeof(se));
	x.x_lim = lim;
	x.x_e = &e;
	x.x_arena = &arena;
	x.x_src.s_open = 1;
	x.x_ctx.now = now_ms * QTICKS_PER_MS;
	if (ts != NULL && tslen > 0) {
		if (qx_timespan(&x, ts, tslen, x.x_ctx.now) == -1)
			goto done;
		x.x_span = 1;
	}
	if (qparse(q, qlen, &arena, &ast, &e) == -1 || qx_plan(&x, &ast) == -1)
		goto done;
	if (x.x_need_src &&
	    (x.x_tok = json_tokener_new_ex(QX_JSON_DEPTH)) == NULL) {
		qx_oom(&x);
		goto done;
	}
	if (src(srcarg, ast.q_table, qx_row, &x, &se) == -1) {
		if (!x.x_failed)
			e = se;
		goto done;
	}
	if (qx_flush(&x) == -1 || qx_answer(&x, &res->body) == -1)
		goto done;
	res->status = 200;
	res->etag[0] = '\0';
	buf_reset(&res->location);
	rc = 0;
done:
	qx_free(&x);
	qarena_free(&arena);
	if (rc == 0)
		return 0;
	item_res_error(res, e.code, e.detail);
	return e.code == ERR_OUT_OF_MEMORY ? -1 : 0;
}

/* ---- the store as the row source --------------------------------------- */

struct qx_store {
	struct store		*st;
	struct route_str	 ws;
};

static int
qx_store_source(void *arg, const char *table, store_row_cb cb, void *cbarg,
    struct err *e)
{
	struct qx_store		*s = arg;
	struct route_str	 t = { table, strlen(table) };

	return store_table_iter(s->st, s->ws, t, cb, cbarg, e);
}

int
query_exec(struct store *st, const struct item_req *rq,
    const struct query_limits *lim, int64_t now_ms, struct item_res *res)
{
	struct qx_store	 s = { st, rq->ws };
	json_tokener	*tok;
	json_object	*body = NULL, *q, *ts = NULL;
	const char	*bad = NULL;
	int		 rc;

	if (rq->body == NULL || rq->body_len == 0) {
		if (rq->query.p == NULL)
			return item_res_error(res, ERR_BAD_REQUEST,
			    "missing \"query\"");
		return query_run(rq->query.p, rq->query.n, rq->timespan.p,
		    rq->timespan.n, lim, now_ms, qx_store_source, &s, res);
	}
	if (rq->body_len > INT_MAX ||
	    (tok = json_tokener_new_ex(QX_JSON_DEPTH)) == NULL) {
		item_res_error(res, ERR_OUT_OF_MEMORY, "query body");
		return -1;
	}
	body = json_tokener_parse_ex(tok, rq->body, (int)rq->body_len);
	json_tokener_free(tok);
	if (body == NULL || !json_object_is_type(body, json_type_object))
		bad = "body must be a JSON object with a string \"query\"";
	else if (!json_object_object_get_ex(body, "query", &q) ||
	    !json_object_is_type(q, json_type_string))
		bad = "body must have a string \"query\"";
	else if (json_object_object_get_ex(body, "timespan", &ts) &&
	    ts != NULL && !json_object_is_type(ts, json_type_string))
		bad = "\"timespan\" must be a string such as \"PT1H\"";
	if (bad != NULL) {
		json_object_put(body);
		return item_res_error(res, ERR_BAD_REQUEST, bad);
	}
	rc = query_run(json_object_get_string(q),
	    (size_t)json_object_get_string_len(q),
	    ts != NULL ? json_object_get_string(ts) : NULL,
	    ts != NULL ? (size_t)json_object_get_string_len(ts) : 0, lim,
	    now_ms, qx_store_source, &s, res);
	json_object_put(body);
	return rc;
}
