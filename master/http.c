/*
 * http.c - the HTTP face of the master: one dispatch function, plain
 * requests and batches alike turned into items; answers and the log line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>

#include "futex.h"
#include "master.h"

#define HTTP_MAX_HEADERS	(64 * 1024)
#define HTTP_MAX_SINGLE_IO	(256 * 1024)
#define HTTP_TIMEOUT_S		60

static const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 412: return "Precondition Failed";
	case 413: return "Payload Too Large";
	case 422: return "Unprocessable Content";
	case 424: return "Failed Dependency";
	case 429: return "Too Many Requests";
	case 499: return "Client Closed Request";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 507: return "Insufficient Storage";
	default:  return status < 400 ? "OK" : "Error";
	}
}

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
http_request_id(struct master *m, struct evhttp_request *req, char *out,
    size_t outlen)
{
	static const char	 b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char		*in;
	size_t			 i, n;
	uint64_t		 r = 0;

	/* A sane client-supplied id is kept, so logs can be correlated. */
	in = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "X-Request-Id");
	if (in != NULL && (n = strlen(in)) > 0 && n < outlen && n <= 64) {
		for (i = 0; i < n; i++)
			if (strchr(b64, in[i]) == NULL && in[i] != '.')
				break;
		if (i == n) {
			memcpy(out, in, n + 1);
			return;
		}
	}
	n = outlen - 1 < 32 ? outlen - 1 : 32;
	for (i = 0; i < n; i++) {
		if (i % 10 == 0)
			r = http_rand(m);
		out[i] = b64[r & 63];
		r >>= 6;
	}
	out[n] = '\0';
}

void
http_log(const char *method, const char *path, int status, uint32_t items,
    const char *rid, uint64_t t0)
{
	double	ms = (double)(mono_ns() - t0) / 1e6;

	log_info("request method=%s path=%.200s status=%d items=%u ms=%.3f "
	    "rid=%s", method, path, status, items, ms, rid);
}

static const char *
http_method_name(enum evhttp_cmd_type c)
{
	switch (c) {
	case EVHTTP_REQ_GET:	 return "GET";
	case EVHTTP_REQ_POST:	 return "POST";
	case EVHTTP_REQ_HEAD:	 return "HEAD";
	case EVHTTP_REQ_PUT:	 return "PUT";
	case EVHTTP_REQ_DELETE:	 return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE:	 return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH:	 return "PATCH";
	default:		 return "?";
	}
}

/* Send body with the error envelope's meta spliced in front of "error". */
static void
http_add_body(struct evbuffer *out, const char *rid, int status,
    const char *body, size_t len)
{
	if (status >= 400 && len > 9 && memcmp(body, "{\"error\":", 9) == 0) {
		evbuffer_add_printf(out, "{\"meta\":{\"request_id\":\"%s\"},",
		    rid);
		evbuffer_add(out, body + 1, len - 1);
	} else
		evbuffer_add(out, body, len);
}

static void
http_send(struct evhttp_request *req, const char *rid, int status,
    struct evbuffer *out, const char *etag, const char *loc)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "X-Request-Id", rid);
	if (etag != NULL && etag[0] != '\0')
		evhttp_add_header(h, "ETag", etag);
	if (loc != NULL && loc[0] != '\0')
		evhttp_add_header(h, "Location", loc);
	if (evbuffer_get_length(out) > 0)
		evhttp_add_header(h, "Content-Type", "application/json");
	if (status == 503)
		evhttp_add_header(h, "Retry-After", "1");
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_HEAD:
		/* RFC 9110 9.3.2: the headers only. */
		evbuffer_drain(out, evbuffer_get_length(out));
		break;
	case EVHTTP_REQ_CONNECT: {
		/* libevent frames no answer to CONNECT (it expects a tunnel)
		 * and keeps the connection: give the length ourselves. */
		char n[24];

		snprintf(n, sizeof(n), "%zu", evbuffer_get_length(out));
		evhttp_add_header(h, "Content-Length", n);
		break;
	}
	default:
		break;
	}
	evhttp_send_reply(req, status, http_reason(status), out);
}

/* A JSON answer of the master's own; the envelope's meta goes first. */
void
http_send_json(struct master *m, struct evhttp_request *req, const char *rid,
    int status, const char *body, size_t len, const char *location)
{
	struct evbuffer *out = evbuffer_new();

	if (out == NULL)
		return;
	if (len > 1 && body[0] == '{') {
		evbuffer_add_printf(out, "{\"meta\":{\"request_id\":\"%s\"},",
		    rid);
		evbuffer_add(out, body + 1, len - 1);
	} else
		evbuffer_add(out, body, len);
	http_send(req, rid, status, out, NULL, location);
	evbuffer_free(out);
	metrics_response(m, status, 0);
}

void
http_reply_error(struct master *m, struct evhttp_request *req,
    const char *rid, enum err_code code, const char *detail)
{
	struct evbuffer	*out = evbuffer_new();
	struct buf	 body = BUF_INIT;
	int		 status = err_status(code);

	err_body(&body, code, detail);
	if (out != NULL) {
		http_add_body(out, rid, status, body.data, body.len);
		http_send(req, rid, status, out, NULL, NULL);
		evbuffer_free(out);
	}
	buf_free(&body);
	(void)m;
}

static void
http_free_out(const void *data, size_t len, void *base)
{
	free(base);
}

void
http_reply_batch(struct master *m, struct mbatch *b)
{
	struct evbuffer	*out;
	struct mitem	*it;
	uint32_t	 i, k, n = 0;
	int		 status = 200;

	if (b->mb_req == NULL || (out = evbuffer_new()) == NULL)
		return;
	if (b->mb_kind == MB_PLAIN) {
		it = &b->mb_items[0];
		status = it->mi_status;
		http_add_body(out, b->mb_rid, status, it->mi_out.data,
		    it->mi_out.len);
		http_send(b->mb_req, b->mb_rid, status, out, it->mi_etag,
		    it->mi_loc.data);
		n = 1;
	} else {
		/* The answers were rendered in the order they came, each
		 * after a ','; in request order they are picked out of it. */
		const char *o = b->mb_out.data;

		evbuffer_add(out, "{\"responses\":[", 14);
		n = b->mb_nitems - b->mb_nskipped;
		if (!b->mb_ordered && !b->mb_stop_on_error) {
			/* Handed over as it is: no copy (or, should evbuffer
			 * fail to take it, copied). */
			size_t len = b->mb_out.len > 1 ? b->mb_out.len - 1 : 0;

			if (len > 0 && evbuffer_add_reference(out, o + 1, len,
			    http_free_out, b->mb_out.data) == 0)
				b->mb_out = (struct buf)BUF_INIT;
			else if (len > 0)
				evbuffer_add(out, o + 1, len);
		} else
			for (i = 0, k = 0; i < b->mb_nitems; i++) {
				it = &b->mb_items[i];
				if (it->mi_skipped)
					continue;
				/* The ',' before it, but for the first. */
				evbuffer_add(out, o + it->mi_out_off - (k > 0),
				    it->mi_out_len + (k > 0));
				k++;
			}
		evbuffer_add(out, "]}", 2);
		http_send(b->mb_req, b->mb_rid, 200, out, NULL, NULL);
	}
	metrics_response(m, status, b->mb_kind == MB_SYNC);
	http_log(b->mb_method, b->mb_path ? b->mb_path : "", status, n,
	    b->mb_rid, b->mb_t0);
	evbuffer_free(out);
	b->mb_req = NULL;
}

static void
http_error_logged(struct master *m, struct evhttp_request *req,
    const char *rid, const char *method, const char *path, enum err_code code,
    const char *detail, uint64_t t0)
{
	http_reply_error(m, req, rid, code, detail);
	metrics_response(m, err_status(code), strcmp(path, "/v1/$batch") == 0);
	http_log(method, path, err_status(code), 0, rid, t0);
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

static struct mbatch *
http_batch_new(struct master *m, struct evhttp_request *req,
    enum mbatch_kind kind, uint32_t n, const char *rid, const char *method,
    const char *path)
{
	struct mbatch *b = batch_new(m, kind, n);

	if (b == NULL)
		return NULL;
	b->mb_req = req;
	snprintf(b->mb_rid, sizeof(b->mb_rid), "%s", rid);
	snprintf(b->mb_method, sizeof(b->mb_method), "%s", method);
	b->mb_path = strdup(path);
	return b;
}

static void
http_plain(struct master *m, struct evhttp_request *req, enum route_method meth,
    const char *uri, const char *path, const struct config_token *tok,
    const char *rid, uint64_t t0)
{
	struct evbuffer		*in = evhttp_request_get_input_buffer(req);
	struct evkeyvalq	*hdrs = evhttp_request_get_input_headers(req);
	struct batch_body	 body, *bp = NULL;
	struct buf		 scratch = BUF_INIT;
	struct route_str	 im = { NULL, 0 }, inm = { NULL, 0 };
	struct mbatch		*b;
	struct mitem		*it;
	struct err		 e;
	size_t			 len = evbuffer_get_length(in);
	const char		*mname = route_method_name(meth);

	if (len > 0 && meth != METHOD_GET && meth != METHOD_DELETE) {
		if (batch_json_body((const char *)evbuffer_pullup(in, -1), len,
		    &scratch, &body, &e) == -1) {
			buf_free(&scratch);
			http_error_logged(m, req, rid, mname, path, e.code,
			    e.detail, t0);
			return;
		}
		bp = &body;
	}
	if (http_overloaded(m, 0, 1, e.detail, sizeof(e.detail))) {
		buf_free(&scratch);
		http_error_logged(m, req, rid, mname, path,
		    ERR_SERVICE_UNAVAILABLE, e.detail, t0);
		return;
	}
	if ((b = http_batch_new(m, req, MB_PLAIN, 1, rid, mname, path)) ==
	    NULL) {
		buf_free(&scratch);
		http_error_logged(m, req, rid, mname, path, ERR_INTERNAL,
		    "out of memory", t0);
		return;
	}
	b->mb_t0 = t0;
	it = &b->mb_items[0];
	if ((im.p = evhttp_find_header(hdrs, "If-Match")) != NULL)
		im.n = strlen(im.p);
	if ((inm.p = evhttp_find_header(hdrs, "If-None-Match")) != NULL)
		inm.n = strlen(inm.p);
	if (batch_item_route(m, it, meth, uri, strlen(uri), im, inm, bp, tok,
	    &e) == -1) {
		it->mi_status = -(int)e.code;
		buf_reset(&it->mi_out);
		buf_puts(&it->mi_out, e.detail);
	}
	buf_free(&scratch);
	batch_start(m, b);
}

static void
http_batch(struct master *m, struct evhttp_request *req, const char *path,
    const struct config_token *tok, const char *rid, uint64_t t0)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);
	struct mbatch	*b;
	struct err	 e;
	size_t		 len = evbuffer_get_length(in);

	if ((b = http_batch_new(m, req, MB_SYNC, 0, rid, "POST", path)) ==
	    NULL) {
		http_error_logged(m, req, rid, "POST", path, ERR_INTERNAL,
		    "out of memory", t0);
		return;
	}
	b->mb_t0 = t0;
	if (batch_parse(m, b, (const char *)evbuffer_pullup(in, -1), len,
	    tok, &e) == -1) {
		b->mb_req = NULL;
		batch_free(m, b);
		http_error_logged(m, req, rid, "POST", path, e.code, e.detail,
		    t0);
		return;
	}
	if (http_overloaded(m, 0, b->mb_nitems, e.detail,
	    sizeof(e.detail))) {
		b->mb_req = NULL;
		batch_free(m, b);
		http_error_logged(m, req, rid, "POST", path,
		    ERR_SERVICE_UNAVAILABLE, e.detail, t0);
		return;
	}
	m->metrics.batches++;
	batch_start(m, b);
}

static void
http_dispatch(struct evhttp_request *req, void *arg)
{
	struct master		*m = arg;
	struct evbuffer		*out;
	const struct config_token *tok;
	const char		*uri, *q, *mname;
	char			 rid[48], path[512], detail[128];
	enum evhttp_cmd_type	 cmd;
	int			 meth;
	uint64_t		 t0 = mono_ns();

	m->metrics.requests++;
	http_request_id(m, req, rid, sizeof(rid));
	uri = evhttp_request_get_uri(req);
	cmd = evhttp_request_get_command(req);
	mname = http_method_name(cmd);
	q = strchr(uri, '?');
	snprintf(path, sizeof(path), "%.*s", (int)(q ? q - uri : (long)strlen(uri)),
	    uri);

	if (strcmp(path, "/healthz") == 0 || strcmp(path, "/metrics") == 0 ||
	    strcmp(path, "/openapi.json") == 0) {
		if (cmd != EVHTTP_REQ_GET) {
			http_error_logged(m, req, rid, mname, path,
			    ERR_METHOD_NOT_ALLOWED, "allowed: GET", t0);
			return;
		}
		if ((out = evbuffer_new()) == NULL)
			return;
		if (path[1] == 'h') {
			health_render(m, out);
			http_send(req, rid, 200, out, NULL, NULL);
		} else if (path[1] == 'o') {
			size_t		 n;
			const char	*doc = openapi_json(&n);

			evbuffer_add_reference(out, doc, n, NULL, NULL);
			http_send(req, rid, 200, out, NULL, NULL);
		} else {
			metrics_render(m, out);
			evhttp_add_header(evhttp_request_get_output_headers(req),
			    "Content-Type", "text/plain; version=0.0.4");
			evhttp_add_header(evhttp_request_get_output_headers(req),
			    "X-Request-Id", rid);
			evhttp_send_reply(req, 200, "OK", out);
		}
		evbuffer_free(out);
		return;
	}
	if (m->draining) {
		http_error_logged(m, req, rid, mname, path,
		    ERR_SERVICE_UNAVAILABLE, "the server is shutting down", t0);
		return;
	}
	if (auth_check(m, evhttp_find_header(evhttp_request_get_input_headers(
	    req), "Authorization"), &tok, detail, sizeof(detail)) == -1) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer");
		http_error_logged(m, req, rid, mname, path, ERR_UNAUTHORIZED,
		    detail, t0);
		return;
	}
	if (strcmp(path, "/v1/$batch") == 0 || strcmp(path, "/v1/%24batch") == 0) {
		if (cmd != EVHTTP_REQ_POST)
			http_error_logged(m, req, rid, mname, path,
			    ERR_METHOD_NOT_ALLOWED, "allowed: POST", t0);
		else
			http_batch(m, req, path, tok, rid, t0);
		return;
	}
	if (strcmp(path, "/v1/batches") == 0 ||
	    strncmp(path, "/v1/batches/", 12) == 0) {
		async_request(m, req, cmd, uri, path, tok, rid, t0);
		return;
	}
	if (strncmp(path, "/v1/", 4) != 0 && strncmp(path, "/debug/", 7) != 0) {
		http_error_logged(m, req, rid, mname, path,
		    ERR_PATH_NOT_FOUND, "paths start with /v1/", t0);
		return;
	}
	if ((meth = route_method(mname, strlen(mname))) == -1) {
		http_error_logged(m, req, rid, mname, path,
		    ERR_METHOD_NOT_ALLOWED, "allowed: GET, PUT, POST, PATCH, "
		    "DELETE", t0);
		return;
	}
	http_plain(m, req, (enum route_method)meth, uri, path, tok, rid,
	    t0);
}

void
http_set_body_limit(struct master *m)
{
	evhttp_set_max_body_size(m->http, (ev_ssize_t)m->cfg.max_body_bytes);
}

static struct master *http_master;	/* for evhttp_send_error() below */

/*
 * libevent 2.1 refuses some requests before any callback of ours runs: a
 * Content-Length over max_body_bytes (checked before the body is read), a
 * malformed request line or header.  It answers them with
 * evhttp_send_error(), which it calls through the PLT, so this definition
 * takes its place (ELF symbol interposition) and those answers get the
 * SPEC section 4 envelope, an X-Request-Id and a log line like every
 * other.  A black-box test checks that it stays so.
 */
void
evhttp_send_error(struct evhttp_request *req, int error, const char *reason)
{
	enum err_code	 code;
	char		 rid[48], detail[96];

	(void)reason;
	switch (error) {
	case 413:
		code = ERR_PAYLOAD_TOO_LARGE;
		snprintf(detail, sizeof(detail), "body exceeds max_body_bytes "
		    "(%ld)", http_master ? http_master->cfg.max_body_bytes : 0L);
		break;
	case 404:
		code = ERR_PATH_NOT_FOUND;
		snprintf(detail, sizeof(detail), "no such path");
		break;
	case 405:
		code = ERR_METHOD_NOT_ALLOWED;
		snprintf(detail, sizeof(detail), "method not allowed");
		break;
	case 501:	/* a method libevent does not know */
		code = ERR_METHOD_NOT_ALLOWED;
		snprintf(detail, sizeof(detail), "allowed: GET, PUT, POST, "
		    "PATCH, DELETE");
		break;
	case 503:
		code = ERR_SERVICE_UNAVAILABLE;
		snprintf(detail, sizeof(detail), "server busy");
		break;
	default:
		code = error >= 500 ? ERR_INTERNAL : ERR_BAD_REQUEST;
		snprintf(detail, sizeof(detail), "malformed HTTP request");
		break;
	}
	/* The connection may hold unread bytes: it cannot be reused. */
	evhttp_add_header(evhttp_request_get_output_headers(req), "Connection",
	    "close");
	/* A request line too long to parse left no version: answer 1.1, as
	 * libevent's own evhttp_send_page_() does (the struct is public in
	 * event2/http_struct.h for exactly such uses). */
	if (req->major == 0) {
		req->major = 1;
		req->minor = 1;
	}
	if (http_master == NULL) {
		evhttp_send_reply(req, error, http_reason(error), NULL);
		return;
	}
	http_request_id(http_master, req, rid, sizeof(rid));
	http_master->metrics.requests++;
	http_error_logged(http_master, req, rid, "?", "?", code, detail,
	    mono_ns());
}

/*
 * Each connection's bufferevent, as evhttp would make it, but moving up to
 * 256 KiB per read or write instead of libevent's 16 KiB: a 100-item
 * answer (~30 KiB) is one writev(2) and one trip round the loop, not two.
 */
static struct bufferevent *
http_bev_new(struct event_base *base, void *arg)
{
	struct bufferevent *bev;

	if ((bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) ==
	    NULL)
		return NULL;
	bufferevent_set_max_single_read(bev, HTTP_MAX_SINGLE_IO);
	bufferevent_set_max_single_write(bev, HTTP_MAX_SINGLE_IO);
	return bev;
}

int
http_start(struct master *m)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 host[INET6_ADDRSTRLEN];
	int			 port = 0, one = 1, fd;

	if ((m->http = evhttp_new(m->base)) == NULL)
		return -1;
	http_master = m;
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	http_set_body_limit(m);
	evhttp_set_max_headers_size(m->http, HTTP_MAX_HEADERS);
	evhttp_set_timeout(m->http, HTTP_TIMEOUT_S);
	evhttp_set_gencb(m->http, http_dispatch, m);
	evhttp_set_bevcb(m->http, http_bev_new, m);
	/* After SIGUSR2, the old master's socket (master/upgrade.c). */
	if ((fd = upgrade_inherited_fd()) != -1)
		m->bound = evhttp_accept_socket_with_handle(m->http, fd);
	else
		m->bound = evhttp_bind_socket_with_handle(m->http,
		    m->cfg.listen_host, (ev_uint16_t)m->cfg.listen_port);
	if (m->bound == NULL) {
		log_error("cannot listen on %s:%d: %s", m->cfg.listen_host,
		    m->cfg.listen_port, strerror(errno));
		return -1;
	}
	/* Accepted sockets inherit it: an answer written as headers then
	 * body must not wait for the client's delayed ACK (Nagle). */
	setsockopt(evhttp_bound_socket_get_fd(m->bound), IPPROTO_TCP,
	    TCP_NODELAY, &one, sizeof(one));
	if (getsockname(evhttp_bound_socket_get_fd(m->bound),
	    (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
			port = ntohs(s4->sin_port);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
			port = ntohs(s6->sin6_port);
		}
		snprintf(m->bound_name, sizeof(m->bound_name), "%s%s%s:%d",
		    ss.ss_family == AF_INET6 ? "[" : "", host,
		    ss.ss_family == AF_INET6 ? "]" : "", port);
	}
	return 0;
}

void
http_stop_accepting(struct master *m)
{
	if (m->bound != NULL) {
		evhttp_del_accept_socket(m->http, m->bound);
		m->bound = NULL;
	}
}
