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
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "shm.h"
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
	/* A merge has what its parts saw (they walked their ranges). */
	if (x->x_mode == QPM_MERGE)
		goto unseen;
	/* A scan cut short (take) still walks every workspace here. */
	x->x_stopped = 0;
	k = src(srcarg, table, qx_presence, x, &se);
	x->x_stopped = stopped;
	if (k == -1) {
		if (!x->x_failed)
			*x->x_e = se;
		return -1;
	}
	/* A part tells what it saw; the merge decides. */
	if (x->x_mode == QPM_PART)
		return 0;
unseen:
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

	/* A part ran the first stages only: every one is freed. */
	if (x->x_nst_all > x->x_nst)
		x->x_nst = x->x_nst_all;
	buf_free(&x->x_pout);
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
		for (k = 0; st->s_dicts != NULL && k < st->s_naggs; k++)
			qhset_free(&st->s_dicts[k]);
		free(st->s_dicts);
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
	return query_run_par(q, qlen, ts, tslen, lim, now_ms, src, srcarg,
	    opts, NULL, res);
}

int
query_run_par(const char *q, size_t qlen, const char *ts, size_t tslen,
    const struct query_limits *lim, int64_t now_ms, query_source_fn src,
    void *srcarg, const struct query_opts *opts, const struct qpar *par,
    struct item_res *res)
{
	enum qpmode	 mode = par != NULL ? par->p_mode : QPM_WHOLE;
	struct qexec	 x;
	struct qarena	 arena = { NULL, 0 };
	struct qast	 ast;
	struct err	 e, se;
	struct qstats	 stats;
	struct rusage	 ru0, ru1;
	double		 t0 = qx_mono_s();
	int		 rc = -1, k;

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
	if (mode == QPM_SPLIT) {
		x.x_ckind = qpar_cut(&x);
		if ((k = par->p_split(srcarg, &x, ast.q_table, par, res)) == -1)
			goto done;
		if (k == 1) {
			rc = 0;
			goto done;
		}
	}
	if (mode == QPM_PART) {
		x.x_pindex = par->p_index;
		qpar_part_begin(&x);
	}
	if (mode == QPM_MERGE) {
		x.x_nparts = par->p_nparts;
		if (qpar_merge(&x, par) == -1)
			goto done;
	} else if (src(srcarg, ast.q_table, qx_row, &x, &se) == -1) {
		if (!x.x_failed)
			e = se;
		goto done;
	}
	/* The flush reads the kept rows' fields too: the check comes after
	 * it, before the answer is written.  A part's count and summarize
	 * send their state, not their rows. */
	if (((mode != QPM_PART || (x.x_ckind != QPC_COUNT &&
	    x.x_ckind != QPC_GROUPS)) && qops_flush(&x) == -1) ||
	    qx_columns_exist(&x, src, srcarg, ast.q_table) == -1 ||
	    (mode != QPM_PART && qrender_answer(&x, &res->body) == -1))
		goto done;
	getrusage(RUSAGE_SELF, &ru1);
	stats.exec_s = qx_mono_s() - t0;
	stats.user_ticks = qx_tv_ticks(ru1.ru_utime) - qx_tv_ticks(ru0.ru_utime);
	stats.sys_ticks = qx_tv_ticks(ru1.ru_stime) - qx_tv_ticks(ru0.ru_stime);
	stats.pid = (long)getpid();
	if (mode == QPM_PART) {
		if (qpar_part_end(&x, now_ms, &stats, &res->body) == -1)
			goto done;
	} else {
		if (mode == QPM_MERGE)
			log_msg(LOG_LEVEL_DEBUG, "query merge: its own cpu "
			    "%.1f ms, %.1f ms", (double)(stats.user_ticks +
			    stats.sys_ticks) / 1e4, stats.exec_s * 1e3);
		/* A merge's statistics count its parts' work too; its time
		 * is the slowest part's and its own. */
		stats.exec_s += x.x_p_exec;
		stats.user_ticks += x.x_p_user;
		stats.sys_ticks += x.x_p_sys;
		if (qrender_extras(&x, &stats, &res->body) == -1)
			goto done;
	}
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

/*
 * The rows of the table in each workspace in turn: the request's, then
 * the body's "workspaces".  A part reads only its range of them (shm.h,
 * struct split_part): from (ws_lo, lo) to (ws_hi, hi), hi excluded.
 */
struct qx_store {
	struct store		*st;
	struct route_str	 ws0;	/* the request's workspace */
	struct route_str	*ws;	/* &ws0, or it and the listed ones */
	size_t			 nws;
	int			 part;	/* a part: no table is no error */
	size_t			 ws_lo, ws_hi;
	struct route_str	 lo, hi;
	const struct query_par_cfg *cfg; /* splitting; NULL: never */
	int64_t			 now_ms;
};

static int
qx_store_source(void *arg, const char *table, store_row_cb cb, void *cbarg,
    struct err *e)
{
	struct qx_store		*s = arg;
	struct qexec		*x = cbarg;
	struct route_str	 t = { table, strlen(table) };
	const struct route_str	*lo, *hi;
	size_t			 i, found = 0;

	for (i = s->ws_lo; i < s->nws && i <= s->ws_hi && !x->x_stopped; i++) {
		lo = i == s->ws_lo ? &s->lo : NULL;
		hi = i == s->ws_hi ? &s->hi : NULL;
		if (hi != NULL && hi->n == 0)
			break;		/* none of ws_hi's rows */
		if (store_table_range(s->st, s->ws[i], t, lo, hi, cb, cbarg,
		    e) == 0) {
			found++;
			continue;
		}
		if (e->code != ERR_NOT_FOUND || x->x_failed)
			return -1;
	}
	if (found == 0 && !x->x_stopped && !s->part)
		return err_set(e, ERR_NOT_FOUND, "table \"%s\" not found in "
		    "%s", table, s->nws > 1 ? "any of the workspaces" :
		    "the workspace");
	return 0;
}

/* A position in the scan: workspace index, then stored key. */
struct qx_pos {
	size_t		 ws;
	char		 key[STORE_SPAN_KEY];
	size_t		 n;
};

static int
qx_pos_cmp(const struct qx_pos *a, const struct qx_pos *b)
{
	int c;

	if (a->ws != b->ws)
		return a->ws < b->ws ? -1 : 1;
	if ((c = memcmp(a->key, b->key, a->n < b->n ? a->n : b->n)) != 0)
		return c;
	return (a->n > b->n) - (a->n < b->n);
}

/*
 * QPM_SPLIT over the store: when the table (over every workspace) has
 * more than query_parallel_rows rows, answer with parts of about equal
 * row counts.  The counts are the catalog's; where a cut falls inside a
 * workspace's table, its key is interpolated between the table's first
 * and last keys (qpar_key_between): no row is read, and parts are even
 * when keys are spread evenly (an uneven split is slower, never wrong:
 * the ranges cover every key once).  A query that must read every row
 * and has more than query_max_rows_scanned is answered 422 here, as the
 * scan would be, without reading any.
 */
static int
qx_store_split(void *arg, struct qexec *x, const char *table,
    const struct qpar *par, struct item_res *res)
{
	struct qx_store		*s = arg;
	struct route_str	 t = { table, strlen(table) };
	struct store_span	*sp;
	struct qx_pos		*cut;
	struct split_part	 d;
	struct buf		*b = &res->body;
	uint64_t		 total = 0, c, cum;
	uint32_t		 n = par->p_nparts, k, len;
	size_t			 i;
	int			 rc = 0;

	if (n < 2 || par->p_rows == 0)
		return 0;
	if ((sp = calloc(s->nws, sizeof(*sp))) == NULL ||
	    (cut = calloc(n + 1, sizeof(*cut))) == NULL) {
		free(sp);
		return qx_oom(x);
	}
	for (i = 0; i < s->nws; i++) {
		if (store_table_span(s->st, s->ws[i], t, &sp[i], x->x_e) == -1) {
			rc = -1;
			goto out;
		}
		total += sp[i].rows;
	}
	if (total <= par->p_rows)
		goto out;
	if (!qpar_stops_early(x) && x->x_lim->max_rows_scanned > 0 &&
	    total > (uint64_t)x->x_lim->max_rows_scanned) {
		rc = err_set(x->x_e, ERR_QUERY_LIMIT_EXCEEDED, "query scanned "
		    "more than query_max_rows_scanned (%ld) rows",
		    x->x_lim->max_rows_scanned);
		goto out;
	}
	cut[n].ws = s->nws;
	for (k = 1; k < n; k++) {
		c = total / n * k + total % n * k / n;
		for (i = 0, cum = 0; i + 1 < s->nws && cum + sp[i].rows <= c;
		    i++)
			cum += sp[i].rows;
		cut[k].ws = i;
		if (c > cum && sp[i].rows > 0)
			cut[k].n = qpar_key_between(sp[i].first,
			    sp[i].first_len, sp[i].last, sp[i].last_len,
			    (double)(c - cum) / (double)sp[i].rows,
			    cut[k].key, sizeof(cut[k].key));
		/* Never before the cut before it: parts may be empty. */
		if (qx_pos_cmp(&cut[k], &cut[k - 1]) < 0)
			cut[k] = cut[k - 1];
	}
	buf_reset(b);
	k = SPLIT_MAGIC;
	if (buf_append(b, &k, 4) == -1 || buf_append(b, &n, 4) == -1)
		goto oom;
	for (k = 0; k < n; k++) {
		memset(&d, 0, sizeof(d));
		d.magic = SPLIT_MAGIC;
		d.index = k;
		d.nparts = n;
		d.ws_lo = (uint32_t)cut[k].ws;
		d.ws_hi = (uint32_t)cut[k + 1].ws;
		d.lo_len = (uint32_t)cut[k].n;
		d.hi_len = (uint32_t)cut[k + 1].n;
		d.now_ms = s->now_ms;
		if (par->p_debug != 0 && par->p_debug_part == k) {
			d.debug = par->p_debug;
			d.debug_ms = par->p_debug_ms;
		}
		len = (uint32_t)(sizeof(d) + d.lo_len + d.hi_len);
		if (buf_append(b, &len, 4) == -1 ||
		    buf_append(b, &d, sizeof(d)) == -1 ||
		    buf_append(b, cut[k].key, d.lo_len) == -1 ||
		    buf_append(b, cut[k + 1].key, d.hi_len) == -1)
			goto oom;
	}
	res->status = 200;
	res->comp_flags |= COMP_F_SPLIT;
	rc = 1;
	goto out;
oom:
	rc = qx_oom(x);
out:
	free(sp);
	free(cut);
	return rc;
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

/* What a query item carries: its text, timespan and workspaces. */
struct qx_req {
	const char	*q, *ts;
	size_t		 qlen, tslen;
	json_object	*body;
	struct qpar	 par;
};

/* The body's "debug" member (debug_ops only): {"crash_part": k} or
 * {"sleep_part": k, "sleep_ms": n} - a part to crash or slow down, for
 * the tests of a part's failure. */
static void
qx_debug(json_object *body, struct qpar *par)
{
	json_object	*d, *v;

	if (!json_object_object_get_ex(body, "debug", &d) ||
	    !json_object_is_type(d, json_type_object))
		return;
	if (json_object_object_get_ex(d, "crash_part", &v) &&
	    json_object_is_type(v, json_type_int)) {
		par->p_debug = SPLIT_DEBUG_CRASH;
		par->p_debug_part = (uint32_t)json_object_get_int(v);
	} else if (json_object_object_get_ex(d, "sleep_part", &v) &&
	    json_object_is_type(v, json_type_int)) {
		par->p_debug = SPLIT_DEBUG_SLEEP;
		par->p_debug_part = (uint32_t)json_object_get_int(v);
		if (json_object_object_get_ex(d, "sleep_ms", &v))
			par->p_debug_ms = json_object_get_int64(v);
	}
}

/* Read rq (an OP_QUERY item) into r and s; NULL, or why it is bad (400). */
static const char *
qx_request(const struct item_req *rq, const struct query_limits *lim,
    const struct query_par_cfg *cfg, struct qx_req *r, struct qx_store *s)
{
	json_tokener	*tok;
	json_object	*q, *ts = NULL, *wl = NULL;

	if (rq->body == NULL || rq->body_len == 0) {
		if (rq->query.p == NULL)
			return "missing \"query\"";
		r->q = rq->query.p;
		r->qlen = rq->query.n;
		r->ts = rq->timespan.p;
		r->tslen = rq->timespan.n;
		return NULL;
	}
	if (rq->body_len > INT_MAX ||
	    (tok = json_tokener_new_ex(QX_JSON_DEPTH)) == NULL)
		return NULL;	/* r->q NULL: out of memory */
	r->body = json_tokener_parse_ex(tok, rq->body, (int)rq->body_len);
	json_tokener_free(tok);
	if (r->body == NULL || !json_object_is_type(r->body, json_type_object))
		return "body must be a JSON object with a string \"query\"";
	if (!json_object_object_get_ex(r->body, "query", &q) ||
	    !json_object_is_type(q, json_type_string))
		return "body must have a string \"query\"";
	if (json_object_object_get_ex(r->body, "timespan", &ts) &&
	    ts != NULL && !json_object_is_type(ts, json_type_string))
		return "\"timespan\" must be a string such as \"PT1H\"";
	r->q = json_object_get_string(q);
	r->qlen = (size_t)json_object_get_string_len(q);
	if (ts != NULL) {
		r->ts = json_object_get_string(ts);
		r->tslen = (size_t)json_object_get_string_len(ts);
	}
	if (cfg != NULL && cfg->debug)
		qx_debug(r->body, &r->par);
	if (json_object_object_get_ex(r->body, "workspaces", &wl))
		return qx_workspaces(wl, lim, rq->ws, s);
	return NULL;
}

/* A part's descriptor and its query's item out of an OP_QUERY_PART body;
 * -1 if malformed. */
static int
qx_part_desc(const struct item_req *rq, struct split_part *d,
    struct qx_store *s, struct item_req *orig)
{
	uint32_t dlen;

	if (rq->body_len < 4)
		return -1;
	memcpy(&dlen, rq->body, 4);
	if (dlen < sizeof(*d) || dlen > rq->body_len - 4)
		return -1;
	memcpy(d, rq->body + 4, sizeof(*d));
	if (d->magic != SPLIT_MAGIC || d->index >= d->nparts ||
	    (uint64_t)d->lo_len + d->hi_len != dlen - sizeof(*d))
		return -1;
	s->lo.p = rq->body + 4 + sizeof(*d);
	s->lo.n = d->lo_len;
	s->hi.p = s->lo.p + d->lo_len;
	s->hi.n = d->hi_len;
	s->ws_lo = d->ws_lo;
	s->ws_hi = d->ws_hi;
	s->part = 1;
	return item_decode(rq->body + 4 + dlen, rq->body_len - 4 - dlen, orig);
}

/* The parts' answers out of an OP_QUERY_MERGE body; -1 if malformed. */
static int
qx_merge_parts(const struct item_req *rq, struct item_req *orig,
    struct route_str *parts, uint32_t *nparts)
{
	const char	*p = rq->body, *e = rq->body + rq->body_len;
	uint32_t	 elen, n, len, k;

	if (rq->body_len < 4)
		return -1;
	memcpy(&elen, p, 4);
	if (elen > (size_t)(e - p) - 4 || item_decode(p + 4, elen, orig) == -1)
		return -1;
	p += 4 + elen;
	if (e - p < 4)
		return -1;
	memcpy(&n, p, 4);
	p += 4;
	if (n < 1 || n > SPLIT_PARTS_MAX)
		return -1;
	for (k = 0; k < n; k++) {
		if (e - p < 4)
			return -1;
		memcpy(&len, p, 4);
		if (len > (size_t)(e - p) - 4)
			return -1;
		parts[k].p = p + 4;
		parts[k].n = len;
		p += 4 + len;
	}
	*nparts = n;
	return p == e ? 0 : -1;
}

/* A part may be told to crash or sleep (debug_ops, for the tests). */
static void
qx_part_debug(const struct split_part *d)
{
	struct timespec	ts;

	if (d->debug & SPLIT_DEBUG_CRASH)
		abort();
	if ((d->debug & SPLIT_DEBUG_SLEEP) && d->debug_ms > 0) {
		ts.tv_sec = d->debug_ms / 1000;
		ts.tv_nsec = d->debug_ms % 1000 * 1000000;
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}
}

int
query_exec(struct store *st, const struct item_req *rq,
    const struct query_limits *lim, int64_t now_ms, struct item_res *res)
{
	return query_exec_par(st, rq, lim, NULL, now_ms, res);
}

int
query_exec_par(struct store *st, const struct item_req *rq0,
    const struct query_limits *lim, const struct query_par_cfg *cfg,
    int64_t now_ms, struct item_res *res)
{
	struct qx_store		 s;
	struct qx_req		 r;
	struct split_part	 d;
	struct item_req		 orig;
	struct route_str	 parts[SPLIT_PARTS_MAX];
	const struct item_req	*rq = rq0;
	struct query_opts	 opts;
	const char		*bad;
	int			 rc;

	memset(&s, 0, sizeof(s));
	memset(&r, 0, sizeof(r));
	s.ws_hi = SIZE_MAX;
	if (rq0->op == OP_QUERY_PART) {
		if (qx_part_desc(rq0, &d, &s, &orig) == -1)
			return item_res_error(res, ERR_INTERNAL,
			    "malformed query part");
		rq = &orig;
		r.par.p_mode = QPM_PART;
		r.par.p_index = d.index;
		now_ms = d.now_ms;
		qx_part_debug(&d);
	} else if (rq0->op == OP_QUERY_MERGE) {
		if (qx_merge_parts(rq0, &orig, parts, &r.par.p_nparts) == -1)
			return item_res_error(res, ERR_INTERNAL,
			    "malformed query merge");
		rq = &orig;
		r.par.p_mode = QPM_MERGE;
		r.par.p_parts = parts;
		/* Every part ran at the splitter's now: so does the merge. */
		if (parts[0].n >= sizeof(struct split_partial))
			memcpy(&now_ms, parts[0].p + offsetof(struct
			    split_partial, now_ms), sizeof(now_ms));
	} else if (cfg != NULL && cfg->rows > 0 && cfg->parts >= 2) {
		r.par.p_mode = QPM_SPLIT;
		r.par.p_split = qx_store_split;
		r.par.p_rows = (uint64_t)cfg->rows;
		r.par.p_nparts = (uint32_t)(cfg->parts < SPLIT_PARTS_MAX ?
		    cfg->parts : SPLIT_PARTS_MAX);
	}
	s.st = st;
	s.ws0 = rq->ws;
	s.ws = &s.ws0;
	s.nws = 1;
	s.cfg = cfg;
	s.now_ms = now_ms;
	opts.prefer = rq->prefer;
	bad = qx_request(rq, lim, cfg, &r, &s);
	if (bad == NULL && r.q == NULL) {
		item_res_error(res, ERR_OUT_OF_MEMORY, "query body");
		rc = -1;
	} else if (bad != NULL)
		rc = item_res_error(res, ERR_BAD_REQUEST, bad);
	else if (r.par.p_mode == QPM_PART && (s.ws_lo > s.nws ||
	    (s.ws_hi > s.nws)))
		rc = item_res_error(res, ERR_INTERNAL, "malformed query part");
	else
		rc = query_run_par(r.q, r.qlen, r.ts, r.tslen, lim, now_ms,
		    qx_store_source, &s, &opts, r.par.p_mode == QPM_WHOLE ?
		    NULL : &r.par, res);
	json_object_put(r.body);
	if (s.ws != &s.ws0)
		free(s.ws);
	return rc;
}
