/*
 * query_exec.c - run a query: parse, plan (query_plan.c), scan the rows of
 * the table through the operators (query_ops.c) and write the answer
 * (query_render.c); the store as the row source, and the request's body.
 *
 * Each stored row is parsed with json-c once and pushed down the chain of
 * stages.
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

/* ---- errors ------------------------------------------------------------ */

int
qx_oom(struct qexec *x)
{
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
	rc = qops_push(x, 0, &r);
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
	if (qparse(q, qlen, &arena, &ast, &e) == -1 || qplan(&x, &ast) == -1)
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
	if (qops_flush(&x) == -1 || qrender_answer(&x, &res->body) == -1)
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
