/*
 * query_render.c - the answer, in the Azure Log Analytics shape:
 * {"tables":[{"name":"PrimaryResult","columns":[{"name":..,"type":..}],
 * "rows":[[..]]}]}.
 *
 * Columns of an open schema are the fields of the result rows in
 * first-seen order, then the fixed columns (those extend added).  After
 * summarize: the by columns in the order written, then the aggregates.  A
 * column's type is the one type of its non-null values (long and real
 * together make real; other mixes make dynamic); a column with only nulls
 * takes the type its expression must have, else dynamic.  Values: long
 * and real as JSON numbers (NaN and infinities as strings), bool as
 * true/false, datetime as "2024-01-01T00:00:00Z" (with up to seven
 * fractional digits, trailing zeros dropped, when not a whole second),
 * timespan as "[d.]hh:mm:ss[.fffffff]", dynamic (JSON objects and arrays)
 * as a string holding their compact JSON, as Log Analytics does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefer.h"
#include "query_int.h"

/* ---- the answer -------------------------------------------------------- */

static void
qrender_seen(unsigned *seen, const struct qval *v)
{
	*seen |= 1u << v->t;
}

int
qrender_push(struct qexec *x, const struct qrow *r)
{
	struct qsink		*k = &x->x_sink;
	const struct qschema	*sc = k->k_schema;
	struct qstored		*s;

	if (qx_over_rows(x, (size_t)k->k_nrows + 1)) {
		/* The answer holds the first rows and says it was cut. */
		x->x_partial = 1;
		return 1;
	}
	k->k_nrows++;
	if (sc->s_open) {
		/* The columns are known only once every row is in. */
		if ((s = qops_stored_new(r, sc->s_ncols, NULL, 0, 0)) == NULL ||
		    qops_rows_add(&k->k_kept, &k->k_nkept, &k->k_cap, s) == -1) {
			qops_stored_free(s);
			return qx_oom(x);
		}
		return 0;
	}
	if ((k->k_rows.len > 0 && buf_putc(&k->k_rows, ',') == -1) ||
	    qrender_row(&k->k_rows, k->k_seen, sc->s_ncols, r) == -1)
		return qx_oom(x);
	if (x->x_lim->max_result_bytes > 0 &&
	    k->k_rows.len > x->x_lim->max_result_bytes)
		return qx_limit_bytes(x);
	return 0;
}

int
qrender_row(struct buf *out, unsigned *seen, size_t ncols,
    const struct qrow *r)
{
	size_t	i;

	if (buf_putc(out, '[') == -1)
		return -1;
	for (i = 0; i < ncols; i++) {
		qrender_seen(&seen[i], &r->cols[i]);
		if ((i > 0 && buf_putc(out, ',') == -1) ||
		    qval_json(out, &r->cols[i]) == -1)
			return -1;
	}
	return buf_putc(out, ']');
}

int
qrender_push_text(struct qexec *x, const char *p, size_t n)
{
	struct qsink	*k = &x->x_sink;

	if (qx_over_rows(x, (size_t)k->k_nrows + 1)) {
		x->x_partial = 1;
		return 1;
	}
	k->k_nrows++;
	if ((k->k_rows.len > 0 && buf_putc(&k->k_rows, ',') == -1) ||
	    buf_append(&k->k_rows, p, n) == -1)
		return qx_oom(x);
	if (x->x_lim->max_result_bytes > 0 &&
	    k->k_rows.len > x->x_lim->max_result_bytes)
		return qx_limit_bytes(x);
	return 0;
}

/* The type name of a column from the types of its values. */
static const char *
qrender_type(unsigned seen, enum qtype st)
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
qrender_columns(struct buf *b, const char **names, size_t n, const char **types,
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

/* The stored fields of an open schema's answer: one column per visible
 * member name of the kept rows, in first-seen order. */
struct qrcols {
	struct qhset	  c_names;	/* name -> column */
	const char	**c_name;
	unsigned	 *c_seen;	/* types of its values */
	struct qval	 *c_val;	/* the current row's values */
	unsigned char	 *c_set;	/* c_val[c] given by this row */
	size_t		  c_n, c_cap;
};

static int
qrender_grow(struct qrcols *rc)
{
	size_t	cap = rc->c_cap ? rc->c_cap * 2 : 16;
	void	*p;

	if ((p = realloc(rc->c_name, cap * sizeof(*rc->c_name))) == NULL)
		return -1;
	rc->c_name = p;
	if ((p = realloc(rc->c_seen, cap * sizeof(*rc->c_seen))) == NULL)
		return -1;
	rc->c_seen = p;
	if ((p = realloc(rc->c_val, cap * sizeof(*rc->c_val))) == NULL)
		return -1;
	rc->c_val = p;
	if ((p = realloc(rc->c_set, cap)) == NULL)
		return -1;
	rc->c_set = p;
	rc->c_cap = cap;
	return 0;
}

/* Forget the current row's values (and its temporaries). */
static void
qrender_clear(struct qexec *x, struct qrcols *rc)
{
	size_t	c;

	for (c = 0; c < rc->c_n; c++) {
		if (rc->c_set[c])
			qval_clear(&rc->c_val[c]);
		rc->c_set[c] = 0;
	}
	qarena_reset(&x->x_ctx.tmp);
}

/* Read the visible members of kept row s into rc->c_val (the first of
 * equal names counts); a name not seen before becomes a column. */
static int
qrender_fields(struct qexec *x, const struct qstored *s, struct qrcols *rc)
{
	const struct qschema	*sc = x->x_sink.k_schema;
	struct jscan_biter	 it;
	struct qval		 v;
	const char		*name;
	size_t			 idx;
	int			 added, r;

	if (s->r_src == NULL)
		return 0;
	if (jscan_biter_init(&it, s->r_src, s->r_src + s->r_srclen) == -1) {
		x->x_ctx.bad = 1;
		return qx_oom(x);
	}
	while ((r = qrow_member(&x->x_ctx, &it, &name, &v)) == 1) {
		if (!qplan_visible(sc, name))
			goto skip;
		if (qhset_put(&rc->c_names, name, strlen(name), &idx,
		    &added) == -1)
			goto oom;
		if (added) {
			if ((rc->c_n == rc->c_cap && qrender_grow(rc) == -1) ||
			    (rc->c_name[rc->c_n] = qarena_strndup(x->x_arena,
			    name, strlen(name))) == NULL)
				goto oom;
			rc->c_seen[rc->c_n] = 0;
			rc->c_set[rc->c_n] = 0;
			rc->c_n++;
		} else if (rc->c_set[idx])
			goto skip;
		rc->c_val[idx] = v;
		rc->c_set[idx] = 1;
		continue;
skip:
		qval_clear(&v);
	}
	return r == -1 ? qx_oom(x) : 0;
oom:
	qval_clear(&v);
	return qx_oom(x);
}

/* Write the answer of an open schema: discover the columns, then write
 * every kept row. */
static int
qrender_answer_open(struct qexec *x, struct buf *b)
{
	struct qsink		*k = &x->x_sink;
	const struct qschema	*sc = k->k_schema;
	struct qrcols		 rc;
	const char		**types = NULL;
	size_t			 i, c, n;
	struct qval		 v, null = { QV_NULL, 0, { 0 } };
	int			 first = 1, ret = -1;

	memset(&rc, 0, sizeof(rc));
	for (i = 0; i < k->k_nkept; i++) {
		if (qrender_fields(x, k->k_kept[i], &rc) == -1)
			goto done;
		for (c = 0; c < rc.c_n; c++)
			qrender_seen(&rc.c_seen[c], rc.c_set[c] ?
			    &rc.c_val[c] : &null);
		for (c = 0; c < sc->s_ncols; c++)
			qrender_seen(&k->k_seen[c], &k->k_kept[i]->r_cols[c]);
		qrender_clear(x, &rc);
	}
	n = rc.c_n;
	if ((types = calloc(n + sc->s_ncols + 1, sizeof(*types))) == NULL)
		goto oom;
	for (c = 0; c < n; c++)
		types[c] = qrender_type(rc.c_seen[c], QV_NULL);
	for (c = 0; c < sc->s_ncols; c++)
		types[n + c] = qrender_type(k->k_seen[c], sc->s_types[c]);
	if (qrender_columns(b, rc.c_name, n, types, &first) == -1 ||
	    qrender_columns(b, sc->s_names, sc->s_ncols, types + n,
	    &first) == -1 || buf_puts(b, "],\"rows\":[") == -1)
		goto oom;
	for (i = 0; i < k->k_nkept; i++) {
		if (qrender_fields(x, k->k_kept[i], &rc) == -1)
			goto done;
		if ((i > 0 && buf_putc(b, ',') == -1) || buf_putc(b, '[') == -1)
			goto oom;
		for (c = 0; c < n + sc->s_ncols; c++) {
			if (c < n)
				v = rc.c_set[c] ? rc.c_val[c] : null;
			else
				v = k->k_kept[i]->r_cols[c - n];
			if ((c > 0 && buf_putc(b, ',') == -1) ||
			    qval_json(b, &v) == -1)
				goto oom;
		}
		qrender_clear(x, &rc);
		if (buf_putc(b, ']') == -1)
			goto oom;
		if (x->x_lim->max_result_bytes > 0 &&
		    b->len > x->x_lim->max_result_bytes) {
			qx_limit_bytes(x);
			goto done;
		}
	}
	ret = 0;
	goto done;
oom:
	qx_oom(x);
done:
	qrender_clear(x, &rc);
	qhset_free(&rc.c_names);
	free(rc.c_name);
	free(rc.c_seen);
	free(rc.c_val);
	free(rc.c_set);
	free(types);
	return ret;
}

int
qrender_answer(struct qexec *x, struct buf *b)
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
		if (qrender_answer_open(x, b) == -1)
			return -1;
	} else {
		if ((types = calloc(sc->s_ncols + 1, sizeof(*types))) == NULL)
			return qx_oom(x);
		for (c = 0; c < sc->s_ncols; c++)
			types[c] = qrender_type(k->k_seen[c], sc->s_types[c]);
		rc = qrender_columns(b, sc->s_names, sc->s_ncols, types, &first);
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

/* ---- beside the tables ------------------------------------------------- */

/* A CPU time as Kusto prints a timespan: "00:00:00.0123000". */
static int
qrender_span(struct buf *b, int64_t ticks)
{
	char t[QVAL_TEXT_MAX];

	return buf_putc(b, '"') == -1 ||
	    buf_append(b, t, qspan_format(ticks, t)) == -1 ||
	    buf_putc(b, '"') == -1 ? -1 : 0;
}

/*
 * Log Analytics' statistics shape (query.executionTime,
 * query.resourceUsage.cpu, query.inputDatasetStatistics,
 * query.datasetStatistics), plus what only a batch executor can say: the
 * worker that ran it, and the parts a split query ran in (1: not split).
 */
static int
qrender_stats(struct qexec *x, const struct qstats *s, struct buf *b)
{
	return buf_printf(b, ",\"statistics\":{\"query\":{"
	    "\"executionTime\":%.6f,\"resourceUsage\":{\"cpu\":{\"user\":",
	    s->exec_s) == -1 || qrender_span(b, s->user_ticks) == -1 ||
	    buf_puts(b, ",\"kernel\":") == -1 ||
	    qrender_span(b, s->sys_ticks) == -1 ||
	    buf_puts(b, ",\"totalCpu\":") == -1 ||
	    qrender_span(b, s->user_ticks + s->sys_ticks) == -1 ||
	    buf_printf(b, "}},\"inputDatasetStatistics\":{\"rows\":{"
	    "\"scanned\":%ld},\"bytes\":{\"read\":%llu}},"
	    "\"datasetStatistics\":[{\"tableRowCount\":%ld}]},"
	    "\"worker\":{\"pid\":%ld,\"cpuTimeMs\":%.3f,"
	    "\"rowsScanned\":%ld,\"bytesRead\":%llu,\"resultRows\":%ld,"
	    "\"parts\":%u}}",
	    x->x_scanned, (unsigned long long)x->x_bytes, x->x_sink.k_nrows,
	    s->pid, (double)(s->user_ticks + s->sys_ticks) / QTICKS_PER_MS,
	    x->x_scanned, (unsigned long long)x->x_bytes,
	    x->x_sink.k_nrows, x->x_nparts > 0 ? x->x_nparts : 1) == -1 ?
	    -1 : 0;
}

/* Log Analytics' render object: every property, null or defaulted when
 * the query did not set it. */
static int
qrender_render(const struct qrender_spec *r, struct buf *b)
{
	static const struct {
		const char	*name;	/* in the query (lower case) */
		const char	*key;	/* in the answer */
		const char	*def;	/* JSON text when absent */
	} props[] = {
		{ "title", "title", "null" },
		{ "accumulate", "accumulate", "false" },
		{ "isquerysorted", "isQuerySorted", "false" },
		{ "kind", "kind", "null" },
		{ "legend", "legend", "null" },
		{ "series", "series", "null" },
		{ "ymin", "yMin", "\"NaN\"" },
		{ "ymax", "yMax", "\"NaN\"" },
		{ "xaxis", "xAxis", "null" },
		{ "xcolumn", "xColumn", "null" },
		{ "xtitle", "xTitle", "null" },
		{ "yaxis", "yAxis", "null" },
		{ "ycolumns", "yColumns", "null" },
		{ "ysplit", "ySplit", "null" },
		{ "ytitle", "yTitle", "null" },
		{ "anomalycolumns", "anomalyColumns", "null" },
	};
	const char	*v;
	size_t		 i, k;

	if (buf_puts(b, ",\"render\":{\"visualization\":") == -1 ||
	    buf_json_str(b, r->r_vis, strlen(r->r_vis)) == -1)
		return -1;
	for (i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
		v = props[i].def;
		for (k = 0; k < r->r_nprops; k++)
			if (strcmp(r->r_props[k].p_name, props[i].name) == 0)
				v = r->r_props[k].p_text;
		if (buf_printf(b, ",\"%s\":%s", props[i].key, v) == -1)
			return -1;
	}
	return buf_putc(b, '}');
}

/* A cut result: Log Analytics' PartialError, the reason innermost (the
 * SDKs show the innermost message). */
static int
qrender_partial(struct qexec *x, struct buf *b)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "query result has more than "
	    "query_max_result_rows (%ld) rows: the first %ld are returned",
	    x->x_lim->max_result_rows, x->x_sink.k_nrows);
	return buf_puts(b, ",\"error\":{\"code\":\"PartialError\","
	    "\"message\":\"There were some errors when processing your "
	    "request.\",\"details\":[{\"code\":\"QUERY_LIMIT_EXCEEDED\","
	    "\"message\":") == -1 || buf_json_str(b, msg, strlen(msg)) == -1 ||
	    buf_puts(b, "}],\"innererror\":{\"code\":\"QUERY_LIMIT_EXCEEDED\","
	    "\"message\":") == -1 || buf_json_str(b, msg, strlen(msg)) == -1 ||
	    buf_puts(b, "}}") == -1 ? -1 : 0;
}

int
qrender_extras(struct qexec *x, const struct qstats *s, struct buf *b)
{
	uint32_t	prefer = x->x_opts != NULL ? x->x_opts->prefer : 0;
	int		stats = (prefer & PREFER_STATS) != 0;
	int		render = (prefer & PREFER_RENDER) && x->x_render != NULL &&
			    x->x_render->r_vis != NULL;

	if (!x->x_partial && !stats && !render)
		return 0;
	b->len--;	/* the answer's closing '}' */
	if ((x->x_partial && qrender_partial(x, b) == -1) ||
	    (stats && qrender_stats(x, s, b) == -1) ||
	    (render && qrender_render(x->x_render, b) == -1) ||
	    buf_putc(b, '}') == -1)
		return qx_oom(x);
	if (x->x_lim->max_result_bytes > 0 &&
	    b->len > x->x_lim->max_result_bytes)
		return qx_limit_bytes(x);
	return 0;
}
