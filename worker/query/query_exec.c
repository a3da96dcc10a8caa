/*
 * query_exec.c - run a query: parse, plan (query_plan.c), scan the rows of
 * the table through the operators (query_ops.c) and write the answer
 * (query_render.c); the store as the row source, and the request's body.
 *
 * Each stored row is read in place (query_row.c: no tree, only the
 * fields the query uses) and pushed down the chain of stages.
 *
 * Limits: more than max_rows_scanned rows read from the table or more
 * than max_result_bytes bytes in the answer is 422 QUERY_LIMIT_EXCEEDED;
 * more than max_result_rows rows answers the first max_result_rows and a
 * PartialError beside the tables, as Log Analytics does (a limit of 0
 * means none).  A summarize followed by a sort is the one case that still
 * answers 422: which groups come first is known only once all are made,
 * and keeping them all is what the limit bounds.
 *
 * A POST body may name more workspaces ("workspaces": [...], checked
 * against the token by the master): the table is read in the request's
 * workspace and then in each listed one (each once), as one table; a
 * workspace without it adds nothing, and the table must exist in one.
 *
 * The request's timespan (ISO-8601 duration "PT1H", or "start/end",
 * "start/duration", "duration/end") keeps the rows whose TimeGenerated
 * lies within [now - duration, now] (resp. [start, end]), both ends
 * included.  A row without TimeGenerated (or with null) is not filtered;
 * a row whose TimeGenerated is not an ISO-8601 UTC time is dropped.
 */
#include <errno.h>
#include <limits.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

/* ---- errors ------------------------------------------------------------ */

int
qx_oom(struct qexec *x)
{
	/* Evaluation answers -1 for a damaged row as for ENOMEM. */
	if (x->x_ctx.bad)
		return err_set(x->x_e, ERR_INTERNAL, "a stored row is not "
		    "a JSON object, or a value of it nests deeper than %d",
		    QX_JSON_DEPTH);
	return err_set(x->x_e, ERR_OUT_OF_MEMORY, "query working memory");
}

int
qx_syntax(struct qexec *x, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

int
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

int
qx_limit_rows(struct qexec *x)
{
	return err_set(x->x_e, ERR_QUERY_LIMIT_EXCEEDED,
	    "query result has more than query_max_result_rows (%ld) rows",
	    x->x_lim->max_result_rows);
}

int
qx_limit_bytes(struct qexec *x)
{
	return err_set(x->x_e, ERR_QUERY_LIMIT_EXCEEDED,
	    "query result is larger than max_result_bytes (%zu bytes)",
	    x->x_lim->max_result_bytes);
}

int
qx_over_rows(const struct qexec *x, size_t n)
{
	return x->x_lim->max_result_rows > 0 &&
	    n > (size_t)x->x_lim->max_result_rows;
}


/* Is the row inside the request's timespan? */
static int
qx_in_span(struct qexec *x, struct qsrc *src, int *in)
{
	struct qval	v;

	if (qrow_get(&x->x_ctx, src, x->x_spanf, &v) == -1)
		return qx_oom(x);
	*in = v.t == QV_NULL || (v.t == QV_DATETIME && v.u.l >= x->x_span_lo &&
	    v.u.l <= x->x_span_hi);
	return 0;
}

static int
qx_row(void *arg, const char *key, size_t key_len, const char *json,
    size_t json_len)
{
	struct qexec	*x = arg;
	struct qrow	 r = { &x->x_row, NULL };
	int		 rc, in = 1;

	x->x_bytes += json_len;
	if (++x->x_scanned > x->x_lim->max_rows_scanned &&
	    x->x_lim->max_rows_scanned > 0) {
		x->x_failed = 1;
		return err_set(x->x_e, ERR_QUERY_LIMIT_EXCEEDED,
		    "query scanned more than query_max_rows_scanned (%ld) "
		    "rows", x->x_lim->max_rows_scanned);
	}
	qrow_open(&x->x_row, json, json_len);
	if (x->x_span && qx_in_span(x, &x->x_row, &in) == -1)
		rc = -1;
	else
		rc = in ? qops_push(x, 0, &r) : 0;
	qarena_reset(&x->x_ctx.tmp);
	if (rc == -1)
		x->x_failed = 1;
	if (rc == 1)
		x->x_stopped = 1;
	return rc;
}

/* After the scan, for a column the query names that no row read so far
 * had: the rows are walked whole until one has it.  A row that is not
 * JSON counts as not having it: the query itself did not need that row
 * read so far. */
static int
qx_presence(void *arg, const char *key, size_t key_len, const char *json,
    size_t json_len)
{
	struct qexec	*x = arg;

	qrow_open(&x->x_row, json, json_len);
	qrow_mark(&x->x_row);
	return qrow_unseen(&x->x_row) < 0;
}

/* A column no row of the table has is an error, as in Kusto. */
static int
qx_columns_exist(struct qexec *x, query_source_fn src, void *srcarg,
    const char *table)
{
	const struct qfield	*f;
	struct err		 se;
	int			 k, stopped = x->x_stopped;

	if (qrow_unseen(&x->x_row) < 0)
		return 0;
	/* A scan cut short (take) still walks every workspace here. */
	x->x_stopped = 0;
	k = src(srcarg, table, qx_presence, x, &se);
	x->x_stopped = stopped;
	if (k == -1) {
		if (!x->x_failed)
			*x->x_e = se;
		return -1;
	}
	if ((k = qrow_unseen(&x->x_row)) < 0)
		return 0;
	f = &x->x_row.s_f[k];
	return err_set(x->x_e, ERR_QUERY_SEMANTIC_ERROR, "line %d, column %d: "
	    "unknown column '%s': no row of table '%s' has it", f->f_line,
	    f->f_col, f->f_name, table);
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
			qops_stored_free(st->s_rows[k]);
		free(st->s_rows);
		for (k = 0; k < st->s_ngroups; k++)
			qops_group_free(st->s_groups[k], st->s_op->o_nby,
			    st->s_naggs);
		free(st->s_groups);
		qhset_free(&st->s_set);
		free(st->s_row);
		free(st->s_keys);
		free(st->s_aggv);
	}
	free(x->x_st);
	for (k = 0; k < x->x_sink.k_nkept; k++)
		qops_stored_free(x->x_sink.k_kept[k]);
	free(x->x_sink.k_kept);
	free(x->x_sink.k_seen);
	buf_free(&x->x_sink.k_rows);
	buf_free(&x->x_key);
	qarena_free(&x->x_ctx.tmp);
	if (x->x_ctx.tok != NULL)
		json_tokener_free(x->x_ctx.tok);
	qrow_free(&x->x_row);
}

static int64_t
qx_tv_ticks(struct timeval tv)
{
	return (int64_t)tv.tv_sec * QTICKS_PER_SEC + tv.tv_usec * 10;
}

static double
qx_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int
query_run(const char *q, size_t qlen, const char *ts, size_t tslen,
    const struct query_limits *lim, int64_t now_ms, query_source_fn src,
    void *srcarg, const struct query_opts *opts, struct item_res *res)
{
	struct qexec	 x;
	struct qarena	 arena = { NULL, 0 };
	struct qast	 ast;
	struct err	 e, se;
	struct qstats	 stats;
	struct rusage	 ru0, ru1;
	double		 t0 = qx_mono_s();
	int		 rc = -1;

	memset(&x, 0, sizeof(x));
	memset(&e, 0, sizeof(e));
	memset(&se, 0, sizeof(se));
	x.x_lim = lim;
	x.x_e = &e;
	x.x_arena = &arena;
	x.x_src.s_open = 1;
	qrow_init(&x.x_row);
	x.x_opts = opts;
	x.x_ctx.now = now_ms * QTICKS_PER_MS;
	getrusage(RUSAGE_SELF, &ru0);
	if (ts != NULL && tslen > 0) {
		if (qx_timespan(&x, ts, tslen, x.x_ctx.now) == -1)
			goto done;
		x.x_span = 1;
	}
	if (qparse(q, qlen, &arena, &ast, &e) == -1 || qplan(&x, &ast) == -1)
		goto done;
	x.x_render = &ast.q_render;
	if ((x.x_span && (x.x_spanf = qrow_field(&x.x_row, -1,
	    "TimeGenerated", 0, 0)) == -1) || qrow_ready(&x.x_row) == -1) {
		qx_oom(&x);
		goto done;
	}
	if (src(srcarg, ast.q_table, qx_row, &x, &se) == -1) {
		if (!x.x_failed)
			e = se;
		goto done;
	}
	/* The flush reads the kept rows' fields too: the check comes after
	 * it, before the answer is written. */
	if (qops_flush(&x) == -1 ||
	    qx_columns_exist(&x, src, srcarg, ast.q_table) == -1 ||
	    qrender_answer(&x, &res->body) == -1)
		goto done;
	getrusage(RUSAGE_SELF, &ru1);
	stats.exec_s = qx_mono_s() - t0;
	stats.user_ticks = qx_tv_ticks(ru1.ru_utime) - qx_tv_ticks(ru0.ru_utime);
	stats.sys_ticks = qx_tv_ticks(ru1.ru_stime) - qx_tv_ticks(ru0.ru_stime);
	stats.pid = (long)getpid();
	if (qrender_extras(&x, &stats, &res->body) == -1)
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
	struct route_str	 ws0;	/* the request's workspace */
	struct route_str	*ws;	/* &ws0, or it and the listed ones */
	size_t			 nws;
};

static int
qx_store_source(void *arg, const char *table, store_row_cb cb, void *cbarg,
    struct err *e)
{
	struct qx_store		*s = arg;
	struct qexec		*x = cbarg;
	struct route_str	 t = { table, strlen(table) };
	size_t			 i, found = 0;

	for (i = 0; i < s->nws && !x->x_stopped; i++) {
		if (store_table_iter(s->st, s->ws[i], t, cb, cbarg, e) == 0) {
			found++;
			continue;
		}
		if (e->code != ERR_NOT_FOUND || x->x_failed)
			return -1;
	}
	if (found == 0 && !x->x_stopped)
		return err_set(e, ERR_NOT_FOUND, "table \"%s\" not found in "
		    "%s", table, s->nws > 1 ? "any of the workspaces" :
		    "the workspace");
	return 0;
}

/*
 * The body's "workspaces": the request's workspace first, then each
 * listed one not already there.  NULL or an empty array adds none.
 */
static const char *
qx_workspaces(json_object *list, const struct query_limits *lim,
    struct route_str first, struct qx_store *s)
{
	json_object	*v;
	size_t		 i, k, n;

	if (list == NULL)
		return NULL;
	if (!json_object_is_type(list, json_type_array))
		return "\"workspaces\" must be an array of workspace names";
	n = json_object_array_length(list);
	if (lim->max_workspaces >= 0 && n > (size_t)lim->max_workspaces)
		return "\"workspaces\" names more than query_max_workspaces";
	if ((s->ws = calloc(n + 1, sizeof(*s->ws))) == NULL) {
		s->ws = &s->ws0;
		return "out of memory for \"workspaces\"";
	}
	s->ws[0] = first;
	s->nws = 1;
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(list, i);
		if (!json_object_is_type(v, json_type_string))
			return "\"workspaces\" must hold workspace names";
		s->ws[s->nws].p = json_object_get_string(v);
		s->ws[s->nws].n = (size_t)json_object_get_string_len(v);
		if (!route_name_ok(&s->ws[s->nws]))
			return "\"workspaces\" holds an invalid workspace name";
		for (k = 0; k < s->nws; k++)
			if (s->ws[k].n == s->ws[s->nws].n &&
			    memcmp(s->ws[k].p, s->ws[s->nws].p,
			    s->ws[k].n) == 0)
				break;
		if (k == s->nws)
			s->nws++;
	}
	return NULL;
}

int
query_exec(struct store *st, const struct item_req *rq,
    const struct query_limits *lim, int64_t now_ms, struct item_res *res)
{
	struct qx_store	 s = { st, rq->ws, NULL, 1 };
	struct query_opts opts = { rq->prefer };
	json_tokener	*tok;
	json_object	*body = NULL, *q, *ts = NULL, *wl = NULL;
	const char	*bad = NULL;
	int		 rc;

	s.ws = &s.ws0;
	if (rq->body == NULL || rq->body_len == 0) {
		if (rq->query.p == NULL)
			return item_res_error(res, ERR_BAD_REQUEST,
			    "missing \"query\"");
		return query_run(rq->query.p, rq->query.n, rq->timespan.p,
		    rq->timespan.n, lim, now_ms, qx_store_source, &s, &opts,
		    res);
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
	else if (json_object_object_get_ex(body, "workspaces", &wl))
		bad = qx_workspaces(wl, lim, rq->ws, &s);
	if (bad != NULL) {
		json_object_put(body);
		if (s.ws != &s.ws0)
			free(s.ws);
		return item_res_error(res, ERR_BAD_REQUEST, bad);
	}
	rc = query_run(json_object_get_string(q),
	    (size_t)json_object_get_string_len(q),
	    ts != NULL ? json_object_get_string(ts) : NULL,
	    ts != NULL ? (size_t)json_object_get_string_len(ts) : 0, lim,
	    now_ms, qx_store_source, &s, &opts, res);
	json_object_put(body);
	if (s.ws != &s.ws0)
		free(s.ws);
	return rc;
}
