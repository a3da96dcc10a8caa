/*
 * http.c - what the master answers: one dispatch function turns plain
 * requests and batches into items (batch.c), and answers them, the log
 * line and the metrics with them.  Framing, deadlines and the socket are
 * conn.c's; http.c sees one struct hreq at a time.
 *
 * A synchronous batch's answer leaves in one piece with a Content-Length
 * when it is complete before BATCH_EMIT_BYTES of it are ready (nearly
 * always); a larger one is streamed as it is produced (chunked, or up to
 * the close in HTTP/1.0), and while its client does not read, the batch
 * runs no more items (mb_paused): a slow reader slows only itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <event2/buffer.h>

#include "fmt.h"
#include "futex.h"
#include "master.h"

#define HTTP_AUTH_MAX	1024	/* longest Authorization value read */
/* A batch's answer up to this size is copied after its head, into the
 * same evbuffer chain: cheaper than the two chains (and their malloc and
 * free) that handing it over by reference takes. */
#define HTTP_COPY_MAX	2048

static uint64_t
http_rand(struct master *m)
{
	/* xorshift64*: request ids need to be unique, not secret. */
	uint64_t x = m->rid_state;

	if (x == 0 && (getrandom(&x, sizeof(x), 0) != sizeof(x) || x == 0))
		x = mono_ns() | 1;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	m->rid_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

void
http_request_id(struct master *m, const struct hreq *r, char *out,
    size_t outlen)
{
	static const char	 b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const struct route_str	*in = &r->hr_h.request_id;
	size_t			 i, n;
	uint64_t		 x = 0;

	/* A sane client-supplied id is kept, so logs can be correlated. */
	if (in->p != NULL && in->n > 0 && in->n < outlen && in->n <= 64) {
		for (i = 0; i < in->n; i++)
			if (strchr(b64, in->p[i]) == NULL && in->p[i] != '.')
				break;
		if (i == in->n) {
			memcpy(out, in->p, in->n);
			out[in->n] = '\0';
			return;
		}
	}
	/* Eight characters from the high 48 bits of each draw (the best
	 * bits of xorshift64*), no division per character. */
	n = outlen - 1 < 32 ? outlen - 1 : 32;
	for (i = 0; i + 8 <= n; i += 8) {
		x = http_rand(m);
		out[i] = b64[x >> 58];
		out[i + 1] = b64[(x >> 52) & 63];
		out[i + 2] = b64[(x >> 46) & 63];
		out[i + 3] = b64[(x >> 40) & 63];
		out[i + 4] = b64[(x >> 34) & 63];
		out[i + 5] = b64[(x >> 28) & 63];
		out[i + 6] = b64[(x >> 22) & 63];
		out[i + 7] = b64[(x >> 16) & 63];
	}
	for (x = i < n ? http_rand(m) : 0; i < n; i++, x <<= 6)
		out[i] = b64[x >> 58];
	out[n] = '\0';
}

/* "request method=M path=P status=S items=N ms=T rid=R": one per request,
 * so put together by hand (fmt.h). */
void
http_log(const char *method, const char *path, int status, uint32_t items,
    const char *rid, uint64_t t0)
{
	char	 msg[512], *p = msg;

	if (!log_enabled(LOG_LEVEL_INFO))
		return;
	p = fmt_mem(p, "request method=", 15);
	p = fmt_strn(p, method, 16);
	p = fmt_mem(p, " path=", 6);
	p = fmt_strn(p, path, 200);
	p = fmt_mem(p, " status=", 8);
	p = fmt_u64(p, status > 0 ? (uint64_t)status : 0);
	p = fmt_mem(p, " items=", 7);
	p = fmt_u64(p, items);
	p = fmt_mem(p, " ms=", 4);
	p = fmt_ms3(p, mono_ns() - t0);
	p = fmt_mem(p, " rid=", 5);
	p = fmt_strn(p, rid, 64);
	log_line(LOG_LEVEL_INFO, msg, (size_t)(p - msg));
}

/*
 * The header lines of an answer: X-Request-Id always; the rest when
 * given.  Returns their length in out.
 */
#define HTTP_HDRS_MAX	2048	/* what http_headers() may write */

static char *
http_header(char *p, const char *name, size_t nl, const char *v, size_t max)
{
	p = fmt_mem(p, name, nl);
	p = fmt_strn(p, v, max);
	return fmt_mem(p, "\r\n", 2);
}

static size_t
http_headers(char *out, const char *rid, int status, int json,
    const char *etag, const char *loc, unsigned retry_after)
{
	char *p = out;

	/* Each bounded so that all of them fit HTTP_HDRS_MAX: a rid is at
	 * most 64 bytes, an ETag 48 (ITEM_ETAG_MAX), a Location under 1,700
	 * (a 512-byte key, percent-encoded, and two names). */
	p = http_header(p, "X-Request-Id: ", 14, rid, 64);
	if (json)
		p = fmt_mem(p, "Content-Type: application/json\r\n", 32);
	if (etag != NULL && etag[0])
		p = http_header(p, "ETag: ", 6, etag, 64);
	if (loc != NULL && loc[0])
		p = http_header(p, "Location: ", 10, loc, 1750);
	/* A quarantined item says when to come back; any other 503, 1 s. */
	if (retry_after > 0 || status == 503) {
		p = fmt_mem(p, "Retry-After: ", 13);
		p = fmt_u64(p, retry_after > 0 ? retry_after : 1);
		p = fmt_mem(p, "\r\n", 2);
	}
	if (status == 401)
		p = fmt_mem(p, "WWW-Authenticate: Bearer\r\n", 26);
	return (size_t)(p - out);
}

/*
 * A whole answer: the body is a JSON object; for an error (or any answer
 * of the master's own, meta) the envelope's meta goes in front, spliced
 * into the object.
 */
static void
http_answer(struct hreq *r, const char *rid, int status, const char *body,
    size_t len, int with_meta, const char *etag, const char *loc,
    unsigned retry_after)
{
	char	hdrs[HTTP_HDRS_MAX], meta[96];
	size_t	hl, ml = 0;

	if (with_meta && len > 1 && body[0] == '{') {
		ml = (size_t)snprintf(meta, sizeof(meta),
		    "{\"meta\":{\"request_id\":\"%s\"},", rid);
		body++;
		len--;
		if (len == 1)	/* "{}": no ',' after meta */
			ml--;
	}
	hl = http_headers(hdrs, rid, status, ml + len > 0, etag, loc,
	    retry_after);
	conn_head(r, status, hdrs, hl, (int64_t)(ml + len));
	conn_body(r, meta, ml);
	conn_body(r, body, len);
	conn_done(r);
}

void
http_send_json(struct master *m, struct hreq *r, const char *rid, int status,
    const char *body, size_t len, const char *location)
{
	http_answer(r, rid, status, body, len, 1, NULL, location, 0);
	metrics_response(m, status, 0);
}

void
http_reply_error(struct master *m, struct hreq *r, const char *rid,
    enum err_code code, const char *detail)
{
	struct buf body = BUF_INIT;

	err_body(&body, code, detail);
	http_answer(r, rid, err_status(code), body.data ? body.data : "{}",
	    body.len ? body.len : 2, 1, NULL, NULL, 0);
	buf_free(&body);
	(void)m;
}

static void
http_error_logged(struct master *m, struct hreq *r, const char *rid,
    const char *method, const char *path, enum err_code code,
    const char *detail, uint64_t t0)
{
	int is_batch = strcmp(path, "/v1/$batch") == 0;

	http_reply_error(m, r, rid, code, detail);
	metrics_response(m, err_status(code), is_batch);
	http_log(method, path, err_status(code), 0, rid, t0);
}

/* conn.c found the request malformed (400) or too large (413). */
void
http_reply_early(struct master *m, struct hreq *r, enum err_code code,
    const char *detail)
{
	char rid[48];

	m->metrics.requests++;
	http_request_id(m, r, rid, sizeof(rid));
	conn_set_close(r);
	http_error_logged(m, r, rid, "?", "?", code, detail, r->hr_t0);
}

/*
 * Can the server take n more items now?  Never a hang: with no live worker
 * or more than max_pending_items queued, the answer is an immediate 503.
 * Synchronous and asynchronous work each have max_pending_items of their
 * own, so accepted background batches never turn interactive work away.
 */
int
http_overloaded(struct master *m, int async, uint32_t n, char *why,
    size_t whylen)
{
	uint64_t queued = async ? m->npending_async + m->async_inflight :
	    (m->npending - m->npending_async) +
	    (m->inflight_items - m->async_inflight);

	if (pool_live(m) == 0) {
		snprintf(why, whylen, "no worker is running; retry shortly");
		return 1;
	}
	if (queued + n > (uint64_t)m->cfg.max_pending_items) {
		snprintf(why, whylen, "%llu %sitems queued; max_pending_items "
		    "is %ld", (unsigned long long)queued, async ? "async " : "",
		    m->cfg.max_pending_items);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------ batch owner */

/* The connection went away: the batch runs on, answering nobody. */
static void
http_abort(struct master *m, struct hreq *r)
{
	struct mbatch *b = r->hr_owner;

	if (b == NULL)
		return;
	b->mb_req = NULL;
	/* Accepted is accepted: the rest runs, answering nobody. */
	if (b->mb_paused && !m->stopping)
		batch_resume(m, b);
}

/* The client has read enough: the paused batch may go on. */
static void
http_drain(struct master *m, struct hreq *r)
{
	struct mbatch *b = r->hr_owner;

	r->hr_drain = NULL;
	if (b != NULL && b->mb_paused)
		batch_resume(m, b);
}

void
http_own(struct hreq *r, struct mbatch *b)
{
	b->mb_req = r;
	r->hr_owner = b;
	r->hr_abort = http_abort;
}

static void
http_plain_done(struct master *m, struct mbatch *b)
{
	struct mitem	*it = &b->mb_items[0];
	int		 status = it->mi_status;

	const char	*body = it->mi_out.data ? it->mi_out.data : "";

	/* An error from a worker is the envelope without its meta. */
	if (b->mb_req != NULL)
		http_answer(b->mb_req, b->mb_rid, status, body,
		    it->mi_out.len, status >= 400 && it->mi_out.len > 9 &&
		    memcmp(body, "{\"error\":", 9) == 0, it->mi_etag,
		    it->mi_loc.data, it->mi_retry_after);
	metrics_response(m, status, 0);
	http_log(b->mb_method, b->mb_path ? b->mb_path : "", status, 1,
	    b->mb_rid, b->mb_t0);
	batch_free(m, b);
}

/* mb_out has grown: stream it, and pause the batch if its client lags. */
static void
http_batch_emit(struct master *m, struct mbatch *b)
{
	struct hreq	*r = b->mb_req;
	char		 hdrs[HTTP_HDRS_MAX];
	size_t		 hl;

	if (r == NULL) {
		buf_reset(&b->mb_out);
		return;
	}
	if (!b->mb_streaming) {
		hl = http_headers(hdrs, b->mb_rid, 200, 1, NULL,
		    NULL, 0);
		conn_head(r, 200, hdrs, hl, -1);
		conn_body(r, "{\"responses\":[", 14);
		b->mb_streaming = 1;
	}
	/* Handed over, not copied: mb_out starts afresh. */
	conn_body_ref(r, b->mb_out.data, b->mb_out.len);
	b->mb_out = (struct buf)BUF_INIT;
	conn_flush(r);
	if (conn_unsent(r) > (size_t)m->cfg.max_conn_output_bytes) {
		b->mb_paused = 1;
		r->hr_drain = http_drain;
	} else if (b->mb_paused) {
		/* Sent at once after all: no write event will come to lift
		 * the pause, so lift it here (batch_item_done(), which follows
		 * every emission, runs what waits). */
		b->mb_paused = 0;
		r->hr_drain = NULL;
	}
}

static void
http_batch_done(struct master *m, struct mbatch *b)
{
	struct hreq	*r = b->mb_req;
	char		 hdrs[HTTP_HDRS_MAX];
	size_t		 hl;
	uint32_t	 n = b->mb_nitems - b->mb_nskipped;

	if (r != NULL && b->mb_streaming) {
		conn_body(r, b->mb_out.data, b->mb_out.len);
		conn_body(r, "]}", 2);
		conn_done(r);
	} else if (r != NULL) {
		hl = http_headers(hdrs, b->mb_rid, 200, 1, NULL,
		    NULL, 0);
		conn_head(r, 200, hdrs, hl, (int64_t)b->mb_out.len + 16);
		conn_body(r, "{\"responses\":[", 14);
		if (b->mb_out.len > HTTP_COPY_MAX) {
			/* Handed over as it is: no copy. */
			conn_body_ref(r, b->mb_out.data, b->mb_out.len);
			b->mb_out = (struct buf)BUF_INIT;
		} else
			conn_body(r, b->mb_out.data, b->mb_out.len);
		conn_body(r, "]}", 2);
		conn_done(r);
	}
	metrics_response(m, 200, 1);
	http_log(b->mb_method, b->mb_path ? b->mb_path : "", 200, n,
	    b->mb_rid, b->mb_t0);
	batch_free(m, b);
}

static struct mbatch *
http_batch_new(struct master *m, struct hreq *r, enum mbatch_kind kind,
    uint32_t n, const char *rid, const char *method, const char *path)
{
	struct mbatch *b = batch_new(m, kind, n);

	if (b == NULL)
		return NULL;
	*fmt_strn(b->mb_rid, rid, sizeof(b->mb_rid) - 1) = '\0';
	*fmt_strn(b->mb_method, method, sizeof(b->mb_method) - 1) = '\0';
	b->mb_path = strdup(path);
	b->mb_t0 = r->hr_t0;
	if (kind == MB_PLAIN)
		b->mb_on_done = http_plain_done;
	else {
		b->mb_on_done = http_batch_done;
		b->mb_on_emit = http_batch_emit;
	}
	return b;
}

static void
http_plain(struct master *m, struct hreq *r, enum route_method meth,
    const char *path, const struct config_token *tok, const char *rid)
{
	struct batch_body	 body, *bp = NULL;
	struct buf		 scratch = BUF_INIT;
	struct mbatch		*b;
	struct mitem		*it;
	struct err		 e;
	const char		*mname = route_method_name(meth);
	uint64_t		 t0 = r->hr_t0;
	int			 k;

	if (r->hr_h.method == HM_HEAD)
		mname = "HEAD";
	if (r->hr_body_len > 0 && meth != METHOD_GET && meth != METHOD_DELETE) {
		if (batch_json_body(r->hr_body, r->hr_body_len, &scratch,
		    &body, &e) == -1) {
			buf_free(&scratch);
			http_error_logged(m, r, rid, mname, path, e.code,
			    e.detail, t0);
			return;
		}
		bp = &body;
	}
	if (http_overloaded(m, 0, 1, e.detail, sizeof(e.detail))) {
		buf_free(&scratch);
		http_error_logged(m, r, rid, mname, path,
		    ERR_SERVICE_UNAVAILABLE, e.detail, t0);
		return;
	}
	if ((b = http_batch_new(m, r, MB_PLAIN, 1, rid, mname, path)) ==
	    NULL) {
		buf_free(&scratch);
		http_error_logged(m, r, rid, mname, path, ERR_INTERNAL,
		    "out of memory", t0);
		return;
	}
	http_own(r, b);
	it = &b->mb_items[0];
	for (k = 0; k < r->hr_h.nprefer; k++)
		prefer_parse(&it->mi_prefer, r->hr_h.prefer[k].p,
		    r->hr_h.prefer[k].n);
	if (batch_item_route(m, it, meth, r->hr_h.target.p, r->hr_h.target.n,
	    r->hr_h.if_match, r->hr_h.if_none_match, bp, tok, &e) == -1) {
		it->mi_status = -(int)e.code;
		buf_reset(&it->mi_out);
		buf_puts(&it->mi_out, e.detail);
	}
	buf_free(&scratch);
	batch_start(m, b);
}

static void
http_batch(struct master *m, struct hreq *r, const char *path,
    const struct config_token *tok, const char *rid)
{
	struct mbatch	*b;
	struct err	 e;
	uint64_t	 t0 = r->hr_t0;

	if ((b = http_batch_new(m, r, MB_SYNC, 0, rid, "POST", path)) ==
	    NULL) {
		http_error_logged(m, r, rid, "POST", path, ERR_INTERNAL,
		    "out of memory", t0);
		return;
	}
	if (batch_parse(m, b, r->hr_body, r->hr_body_len, tok, &e) == -1) {
		batch_free(m, b);
		http_error_logged(m, r, rid, "POST", path, e.code, e.detail,
		    t0);
		return;
	}
	if (http_overloaded(m, 0, b->mb_nitems, e.detail,
	    sizeof(e.detail))) {
		batch_free(m, b);
		http_error_logged(m, r, rid, "POST", path,
		    ERR_SERVICE_UNAVAILABLE, e.detail, t0);
		return;
	}
	m->metrics.batches++;
	http_own(r, b);
	batch_start(m, b);
}

/* /healthz, /metrics and /openapi.json: the master's own, GET or HEAD. */
static void
http_status_page(struct master *m, struct hreq *r, const char *path,
    const char *rid)
{
	struct evbuffer	*out;
	char		 hdrs[HTTP_HDRS_MAX];
	size_t		 hl, len;
	int		 health = path[1] == 'h';

	if ((out = evbuffer_new()) == NULL) {
		http_error_logged(m, r, rid, "GET", path, ERR_INTERNAL,
		    "out of memory", r->hr_t0);
		return;
	}
	if (health)
		health_render(m, out, pool_live(m));
	else if (path[1] == 'o') {
		/* The OpenAPI document, built into the binary. */
		size_t		 n;
		const char	*doc = openapi_json(&n);

		evbuffer_add_reference(out, doc, n, NULL, NULL);
		health = 1;	/* JSON */
	} else
		metrics_render(m, out, pool_live(m), quarantine_size(m));
	len = evbuffer_get_length(out);
	hl = http_headers(hdrs, rid, 200, health, NULL, NULL, 0);
	if (!health)
		hl += (size_t)snprintf(hdrs + hl, sizeof(hdrs) - hl,
		    "Content-Type: text/plain; version=0.0.4\r\n");
	conn_head(r, 200, hdrs, hl, (int64_t)len);
	conn_body(r, (const char *)evbuffer_pullup(out, -1), len);
	evbuffer_free(out);
	conn_done(r);
	metrics_response(m, 200, 0);
}

void
http_dispatch(struct master *m, struct hreq *r)
{
	const struct config_token *tok;
	const struct http_head	*h = &r->hr_h;
	const char		*q;
	char			 rid[48], path[512], mname[16], detail[128];
	char			 auth[HTTP_AUTH_MAX];
	size_t			 plen;
	enum http_method	 hm = h->method;
	int			 meth;

	m->metrics.requests++;
	pool_busy(m);
	http_request_id(m, r, rid, sizeof(rid));
	q = memchr(h->target.p, '?', h->target.n);
	plen = q != NULL ? (size_t)(q - h->target.p) : h->target.n;
	*fmt_strn(path, h->target.p, plen < sizeof(path) - 1 ? plen :
	    sizeof(path) - 1) = '\0';
	*fmt_strn(mname, h->method_name.p, h->method_name.n <
	    sizeof(mname) - 1 ? h->method_name.n : sizeof(mname) - 1) = '\0';

	if (strcmp(path, "/healthz") == 0 || strcmp(path, "/metrics") == 0 ||
	    strcmp(path, "/openapi.json") == 0) {
		if (hm != HM_GET && hm != HM_HEAD)
			http_error_logged(m, r, rid, mname, path,
			    ERR_METHOD_NOT_ALLOWED, "allowed: GET, HEAD",
			    r->hr_t0);
		else
			http_status_page(m, r, path, rid);
		return;
	}
	if (m->draining) {
		http_error_logged(m, r, rid, mname, path,
		    ERR_SERVICE_UNAVAILABLE, "the server is shutting down",
		    r->hr_t0);
		return;
	}
	if (h->authorization.p != NULL) {
		/* Longer than any token: compared as such (and refused). */
		size_t n = h->authorization.n < sizeof(auth) - 1 ?
		    h->authorization.n : sizeof(auth) - 1;

		memcpy(auth, h->authorization.p, n);
		auth[n] = '\0';
	}
	if (auth_check(m, h->authorization.p != NULL ? auth : NULL, &tok,
	    detail, sizeof(detail)) == -1) {
		http_error_logged(m, r, rid, mname, path, ERR_UNAUTHORIZED,
		    detail, r->hr_t0);
		return;
	}
	if (strcmp(path, "/v1/$batch") == 0 || strcmp(path, "/v1/%24batch") == 0) {
		if (hm != HM_POST)
			http_error_logged(m, r, rid, mname, path,
			    ERR_METHOD_NOT_ALLOWED, "allowed: POST", r->hr_t0);
		else
			http_batch(m, r, path, tok, rid);
		return;
	}
	if (strcmp(path, "/v1/batches") == 0 ||
	    strncmp(path, "/v1/batches/", 12) == 0) {
		async_request(m, r, path, tok, rid, r->hr_t0);
		return;
	}
	if (strncmp(path, "/v1/", 4) != 0 && strncmp(path, "/debug/", 7) != 0) {
		http_error_logged(m, r, rid, mname, path,
		    ERR_PATH_NOT_FOUND, "paths start with /v1/", r->hr_t0);
		return;
	}
	/* HEAD is GET without the body (RFC 9110 9.3.2); conn.c drops it. */
	meth = hm == HM_HEAD ? METHOD_GET :
	    route_method(h->method_name.p, h->method_name.n);
	if (meth == -1) {
		http_error_logged(m, r, rid, mname, path,
		    ERR_METHOD_NOT_ALLOWED, "allowed: GET, HEAD, PUT, POST, "
		    "PATCH, DELETE", r->hr_t0);
		return;
	}
	http_plain(m, r, (enum route_method)meth, path, tok, rid);
}
