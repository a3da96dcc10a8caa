/*
 * conn.c - the master's HTTP/1.1 connections on libevent: accepting under
 * a cap, reading and framing requests (http_parse.c), deadlines, writing
 * answers, lingering close.
 *
 * System calls per request are kept to what the model needs: one read(2)
 * into the connection's own buffer (no FIONREAD probe), one writev(2) of
 * the whole answer straight from conn_done(), and no change of epoll
 * interest unless the socket really is full (write interest) or the input
 * must be held back (read interest).
 *
 * HTTPS is OpenSSL on the same descriptor (SSL_read, SSL_write): the
 * connection keeps its own buffers and calls either way, so TLS costs no
 * second layer of buffering (libevent's OpenSSL bufferevents would copy
 * every byte once more and probe with FIONREAD).
 *
 * The input buffer holds the request being served, head and body, from
 * the first byte until the answer is done: the head's strings and a
 * Content-Length body are used where they lie, never copied.  While a
 * request is being served the buffer is never moved (reads go only into
 * the room it already has), so those pointers stay valid.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "fmt.h"
#include "futex.h"
#include "master.h"

#define CONN_READ_MIN		16384	/* least room offered to read(2) */
#define CONN_BODY_STEP		(256 * 1024)	/* chunked input window */
#define CONN_ACCEPT_BURST	64	/* accept(2) calls per wake-up */
#define CONN_LOG_EVERY_NS	(10ULL * 1000000000ULL)
#define CONN_FD_RESERVE		64	/* descriptors kept for the master */
#define CONN_KEEP_BYTES		65536	/* buffer kept between requests */

enum conn_state {
	CS_HEAD = 0,		/* waiting for (more of) a request head */
	CS_BODY,		/* reading the body */
	CS_BUSY,		/* request handed to http.c, not answered */
	CS_LINGER		/* answered an early error: discarding input */
};

struct hconn {
	struct master		*c_m;
	int			 c_fd;
	enum conn_state		 c_state;
	struct event		*c_rev, *c_wev, *c_tev;
	uint64_t		 c_deadline;	/* mono ns; 0: none running */
	uint64_t		 c_tev_at;	/* c_tev fires then; 0: idle */
	struct buf		 c_in;		/* input; c_in.len bytes */
	size_t			 c_off;		/* start of this request */
	size_t			 c_head_len;	/* CS_BODY..: its head */
	const char		*c_head_at;	/* where c_req.hr_h was parsed */
	size_t			 c_body_in;	/* input bytes of its body */
	uint64_t		 c_body_need;	/* Content-Length */
	struct http_chunked	 c_chunk;
	struct buf		 c_body;	/* chunked: decoded body */
	struct evbuffer		*c_out;
	struct hreq		 c_req;
	SSL			*c_ssl;		/* HTTPS, or NULL */
	uint64_t		 c_nreq;	/* requests served */
	uint64_t		 c_linger_left;
	unsigned		 c_started:1;	/* bytes of this request seen */
	unsigned		 c_busy:1;	/* c_req is with http.c */
	unsigned		 c_answered:1;	/* conn_done() ran */
	unsigned		 c_close:1;	/* close after this answer */
	unsigned		 c_linger:1;	/* ... lingering */
	unsigned		 c_chunked:1;	/* answer framed chunked */
	unsigned		 c_head_only:1;	/* HEAD: no body bytes */
	unsigned		 c_wactive:1;	/* write interest on */
	unsigned		 c_rpaused:1;	/* read interest off */
	unsigned		 c_eof:1;	/* the client closed its side */
	unsigned		 c_processing:1;
	unsigned		 c_dead:1;	/* closed inside processing */
	unsigned		 c_tls_rwant:1;	/* SSL_read must write first */
	TAILQ_ENTRY(hconn)	 c_entry;
};

static void	conn_process(struct hconn *);
static void	conn_close(struct hconn *);

/* ------------------------------------------------------------ timers */

/*
 * Deadlines are kept lazily: a connection's deadline moves on every
 * request (header, then keep-alive, then header again), but its timer is
 * re-armed only when the new deadline is earlier than the one it is set
 * for.  A timer that fires before the deadline sets itself again for
 * what is left, so a busy keep-alive connection costs the timer heap one
 * operation per header_timeout_ms instead of three per request, and a
 * deadline is never late.
 */
static void
conn_timer_set(struct hconn *c, uint64_t now, uint64_t at)
{
	struct timeval	tv;
	uint64_t	us = (at - now + 999) / 1000;

	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	event_add(c->c_tev, &tv);
	c->c_tev_at = at;
}

static void
conn_arm(struct hconn *c, long ms)
{
	uint64_t now = mono_ns();

	c->c_deadline = now + (uint64_t)ms * 1000000ULL;
	if (c->c_tev_at == 0 || c->c_tev_at > c->c_deadline)
		conn_timer_set(c, now, c->c_deadline);
}

/* No deadline runs (a request is with http.c); the timer, if set, finds
 * none when it fires. */
static void
conn_disarm(struct hconn *c)
{
	c->c_deadline = 0;
}

static void
conn_on_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct hconn	*c = arg;
	uint64_t	 now;

	(void)fd;
	(void)ev;
	c->c_tev_at = 0;
	if (c->c_deadline == 0)
		return;
	now = mono_ns();
	if (now < c->c_deadline) {
		conn_timer_set(c, now, c->c_deadline);
		return;
	}
	log_debug("connection %d: %s deadline passed; closing", c->c_fd,
	    c->c_state == CS_HEAD ? (c->c_started ? "header" : "keep-alive") :
	    c->c_state == CS_BODY ? "body" :
	    c->c_state == CS_LINGER ? "linger" : "send");
	conn_close(c);
}

/* ------------------------------------------------------------ output */

static const char *
conn_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
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
	case 413: return "Content Too Large";
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

/* "Date: ...\r\n", formatted once a second. */
static const char *
conn_date(size_t *len)
{
	static char	 line[64];
	static size_t	 n;
	static time_t	 last;
	time_t		 now = time(NULL);
	struct tm	 tm;

	if (now != last || n == 0) {
		gmtime_r(&now, &tm);
		n = strftime(line, sizeof(line),
		    "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		last = now;
	}
	*len = n;
	return line;
}

/* read(2), or SSL_read: > 0 bytes, 0 at the end, -1 with errno. */
static ssize_t
conn_recv(struct hconn *c, char *p, size_t n)
{
	int r;

	if (c->c_ssl == NULL)
		return read(c->c_fd, p, n);
	ERR_clear_error();
	r = SSL_read(c->c_ssl, p, n > 1 << 30 ? 1 << 30 : (int)n);
	if (r > 0)
		return r;
	switch (SSL_get_error(c->c_ssl, r)) {
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		/* A handshake that must write first: on writable, read. */
		c->c_tls_rwant = 1;
		if (!c->c_wactive) {
			event_add(c->c_wev, NULL);
			c->c_wactive = 1;
		}
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno == 0)
			return 0;
		return -1;
	default:
		log_debug("connection %d: TLS: %s", c->c_fd,
		    ERR_reason_error_string(ERR_peek_last_error()) ?
		    ERR_reason_error_string(ERR_peek_last_error()) : "error");
		errno = EPROTO;
		return -1;
	}
}

/* Write what c_out holds through TLS, a record (16 KiB) at a time. */
static int
conn_tls_send(struct hconn *c)
{
	unsigned char	*p;
	size_t		 k;
	int		 r, total = 0;

	while ((k = evbuffer_get_length(c->c_out)) > 0) {
		if (k > 16384)
			k = 16384;
		if ((p = evbuffer_pullup(c->c_out, (ssize_t)k)) == NULL) {
			errno = ENOMEM;
			return -1;
		}
		ERR_clear_error();
		if ((r = SSL_write(c->c_ssl, p, (int)k)) > 0) {
			evbuffer_drain(c->c_out, (size_t)r);
			total += r;
			continue;
		}
		switch (SSL_get_error(c->c_ssl, r)) {
		case SSL_ERROR_WANT_WRITE:
		case SSL_ERROR_WANT_READ:
			if (total > 0)
				return total;
			errno = EAGAIN;
			return -1;
		default:
			if (errno == 0 || errno == EAGAIN)
				errno = EPIPE;
			return -1;
		}
	}
	return total;
}

void
conn_flush(struct hreq *r)
{
	struct hconn	*c = r->hr_conn;
	int		 n;

	if (c->c_dead || evbuffer_get_length(c->c_out) == 0)
		return;
	n = c->c_ssl != NULL ? conn_tls_send(c) :
	    evbuffer_write_atmost(c->c_out, c->c_fd, -1);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR) {
		log_debug("connection %d: write: %s", c->c_fd, strerror(errno));
		c->c_close = 1;
		c->c_linger = 0;
		evbuffer_drain(c->c_out, evbuffer_get_length(c->c_out));
	}
	if (evbuffer_get_length(c->c_out) > 0) {
		if (!c->c_wactive) {
			event_add(c->c_wev, NULL);
			c->c_wactive = 1;
		}
		/* send_timeout: counted from the last progress. */
		if (n > 0 || c->c_deadline == 0)
			conn_arm(c, c->c_m->cfg.send_timeout_ms);
	} else if (c->c_wactive) {
		event_del(c->c_wev);
		c->c_wactive = 0;
	}
}

/* The head's own lines take at most this much; the caller's come after. */
#define CONN_HEAD_OWN	256

void
conn_head(struct hreq *r, int status, const char *extra, size_t xlen,
    int64_t content_length)
{
	struct hconn	*c = r->hr_conn;
	char		 head[CONN_HEAD_OWN + 2048], *p = head;
	const char	*date, *reason;
	size_t		 dlen;

	/* RFC 9110 8.6, 15.3.5, 15.4.5: no body and no length for these. */
	int no_body = status < 200 || status == 204 || status == 304;

	if (c->c_m->draining)
		c->c_close = 1;
	c->c_head_only = r->hr_h.method == HM_HEAD || no_body;
	c->c_chunked = 0;
	if (no_body)
		content_length = -2;
	if (content_length == -1 && !c->c_head_only) {
		if (r->hr_h.minor >= 1)
			c->c_chunked = 1;
		else
			c->c_close = 1;	/* the end of the body is the close */
	}
	/* Put together here and added at once: one evbuffer chain, and no
	 * printf (fmt.h) on the path of every answer. */
	reason = conn_reason(status);
	p = fmt_mem(p, "HTTP/1.1 ", 9);
	p = fmt_u64(p, status > 0 && status < 1000 ? (uint64_t)status : 500);
	*p++ = ' ';
	p = fmt_strn(p, reason, 32);
	p = fmt_mem(p, "\r\n", 2);
	date = conn_date(&dlen);
	p = fmt_mem(p, date, dlen);
	if (content_length >= 0) {
		p = fmt_mem(p, "Content-Length: ", 16);
		p = fmt_u64(p, (uint64_t)content_length);
		p = fmt_mem(p, "\r\n", 2);
	} else if (c->c_chunked)
		p = fmt_mem(p, "Transfer-Encoding: chunked\r\n", 28);
	if (c->c_close)
		p = fmt_mem(p, "Connection: close\r\n", 19);
	else if (r->hr_h.minor == 0)
		p = fmt_mem(p, "Connection: keep-alive\r\n", 24);
	if (xlen <= sizeof(head) - CONN_HEAD_OWN) {
		p = fmt_mem(p, extra, xlen);
		p = fmt_mem(p, "\r\n", 2);
		evbuffer_add(c->c_out, head, (size_t)(p - head));
		return;
	}
	evbuffer_add(c->c_out, head, (size_t)(p - head));
	evbuffer_add(c->c_out, extra, xlen);
	evbuffer_add(c->c_out, "\r\n", 2);
}

void
conn_body(struct hreq *r, const char *p, size_t n)
{
	struct hconn	*c = r->hr_conn;
	char		 sz[24];
	int		 k;

	if (c->c_head_only || n == 0)
		return;
	if (c->c_chunked) {
		k = snprintf(sz, sizeof(sz), "%zx\r\n", n);
		evbuffer_add(c->c_out, sz, (size_t)k);
	}
	evbuffer_add(c->c_out, p, n);
	if (c->c_chunked)
		evbuffer_add(c->c_out, "\r\n", 2);
}

static void
conn_free_ref(const void *data, size_t len, void *p)
{
	(void)data;
	(void)len;
	free(p);
}

void
conn_body_ref(struct hreq *r, char *p, size_t n)
{
	struct hconn	*c = r->hr_conn;
	char		 sz[24];
	int		 k = 0;

	if (c->c_head_only || n == 0) {
		free(p);
		return;
	}
	if (c->c_chunked) {
		k = snprintf(sz, sizeof(sz), "%zx\r\n", n);
		evbuffer_add(c->c_out, sz, (size_t)k);
	}
	if (evbuffer_add_reference(c->c_out, p, n, conn_free_ref, p) == -1) {
		evbuffer_add(c->c_out, p, n);
		free(p);
	}
	if (c->c_chunked)
		evbuffer_add(c->c_out, "\r\n", 2);
}

size_t
conn_unsent(const struct hreq *r)
{
	return evbuffer_get_length(r->hr_conn->c_out);
}

void
conn_set_close(struct hreq *r)
{
	r->hr_conn->c_close = 1;
}

/* The request's bytes are no longer needed: the next one may start. */
static void
conn_next(struct hconn *c)
{
	c->c_off += c->c_head_len + c->c_body_in;
	c->c_head_len = 0;
	c->c_body_in = 0;
	c->c_body_need = 0;
	/* An idle connection keeps no large buffer from a large request. */
	if (c->c_off == c->c_in.len) {
		c->c_off = 0;
		if (c->c_in.cap > CONN_KEEP_BYTES)
			buf_free(&c->c_in);
		else
			c->c_in.len = 0;
	}
	if (c->c_body.cap > CONN_KEEP_BYTES)
		buf_free(&c->c_body);
	else
		buf_reset(&c->c_body);
	memset(&c->c_req, 0, sizeof(c->c_req));
	c->c_req.hr_conn = c;
	c->c_busy = 0;
	c->c_answered = 0;
	c->c_started = 0;
	c->c_state = CS_HEAD;
	c->c_nreq++;
}

/* Written out: close, linger, or go on with the next request. */
static void
conn_after_answer(struct hconn *c)
{
	if (c->c_close) {
		if (!c->c_linger || c->c_eof) {
			conn_close(c);
			return;
		}
		/* RFC 9112 9.6: a client still sending its body would get a
		 * reset instead of our answer if we closed now. */
		if (c->c_ssl != NULL)
			SSL_shutdown(c->c_ssl);
		shutdown(c->c_fd, SHUT_WR);
		c->c_state = CS_LINGER;
		/* As much again as max_body_bytes, or what the client said
		 * it would send, if more: linger_ms bounds it in time. */
		c->c_linger_left = (uint64_t)c->c_m->cfg.max_body_bytes;
		if (c->c_req.hr_h.content_length > 0 &&
		    (uint64_t)c->c_req.hr_h.content_length > c->c_linger_left)
			c->c_linger_left =
			    (uint64_t)c->c_req.hr_h.content_length;
		if (c->c_rpaused) {
			event_add(c->c_rev, NULL);
			c->c_rpaused = 0;
		}
		conn_arm(c, c->c_m->cfg.linger_ms);
		return;
	}
	conn_next(c);
	if (c->c_rpaused) {
		event_add(c->c_rev, NULL);
		c->c_rpaused = 0;
	}
	if (c->c_processing)
		return;		/* conn_process() goes on by itself */
	if (c->c_in.len > c->c_off ||
	    (c->c_ssl != NULL && SSL_pending(c->c_ssl) > 0))
		event_active(c->c_rev, EV_READ, 0);
	else
		conn_arm(c, c->c_m->cfg.keepalive_timeout_ms);
}

void
conn_done(struct hreq *r)
{
	struct hconn *c = r->hr_conn;

	if (c->c_chunked)
		evbuffer_add(c->c_out, "0\r\n\r\n", 5);
	c->c_answered = 1;
	r->hr_abort = NULL;
	r->hr_drain = NULL;
	conn_flush(r);
	if (c->c_dead)
		return;
	/* Pipelined requests may start while an answer is still leaving,
	 * unless it is a large one: the next starts when it has drained. */
	if (c->c_close ? evbuffer_get_length(c->c_out) == 0 :
	    evbuffer_get_length(c->c_out) <=
	    (size_t)c->c_m->cfg.max_conn_output_bytes)
		conn_after_answer(c);
}

/* ------------------------------------------------------------ input */

/*
 * An error found by the connection itself, before the request reached
 * http.c: answered by http.c in the usual envelope, then the connection
 * closes, lingering so that the client reads the answer.
 */
static void
conn_fail(struct hconn *c, const struct err *e)
{
	c->c_busy = 1;
	c->c_close = 1;
	c->c_linger = 1;
	c->c_state = CS_BUSY;
	conn_disarm(c);
	c->c_req.hr_t0 = mono_ns();
	http_reply_early(c->c_m, &c->c_req, e->code, e->detail);
}

static void
conn_dispatch(struct hconn *c, const char *body, size_t len)
{
	struct err e;

	/* The head's strings point into the input: if reading the body
	 * moved it, the head is parsed again where it lies now (once the
	 * request is with http.c the buffer stops moving). */
	if (c->c_in.data + c->c_off != c->c_head_at &&
	    http_parse_head(c->c_in.data + c->c_off, c->c_head_len,
	    c->c_head_len, &c->c_req.hr_h, &e) <= 0) {
		conn_fail(c, &e);
		return;
	}
	c->c_req.hr_body = body;
	c->c_req.hr_body_len = len;
	c->c_state = CS_BUSY;
	c->c_busy = 1;
	c->c_answered = 0;
	c->c_close = !c->c_req.hr_h.keep_alive;
	c->c_linger = 0;
	conn_disarm(c);
	http_dispatch(c->c_m, &c->c_req);
}

static void
conn_chunk_sink(void *arg, const char *p, size_t n)
{
	buf_append(arg, p, n);
}

/* Make room for n more input bytes (never while c_req is with http.c). */
static int
conn_room(struct hconn *c, size_t n)
{
	if (c->c_state == CS_HEAD && c->c_off > 0 &&
	    c->c_in.cap - c->c_in.len < n) {
		memmove(c->c_in.data, c->c_in.data + c->c_off,
		    c->c_in.len - c->c_off);
		c->c_in.len -= c->c_off;
		c->c_off = 0;
	}
	if (c->c_in.cap - c->c_in.len >= n)
		return 0;
	return buf_reserve(&c->c_in, n);
}

/* Take the request head at c_off, if it is all there. */
static void
conn_take_head(struct hconn *c)
{
	struct master	*m = c->c_m;
	struct http_head h;
	struct err	 e;
	long		 r;

	r = http_parse_head(c->c_in.data + c->c_off, c->c_in.len - c->c_off,
	    (size_t)m->cfg.max_header_bytes, &h, &e);
	if (r == 0)
		return;
	if (r < 0) {
		conn_fail(c, &e);
		return;
	}
	c->c_head_len = (size_t)r;
	c->c_head_at = c->c_in.data + c->c_off;
	c->c_req.hr_t0 = mono_ns();
	c->c_req.hr_h = h;
	memset(&c->c_chunk, 0, sizeof(c->c_chunk));
	if (!h.chunked && h.content_length <= 0) {
		conn_dispatch(c, "", 0);
		return;
	}
	if (h.content_length > m->cfg.max_body_bytes) {
		err_set(&e, ERR_PAYLOAD_TOO_LARGE, "body exceeds "
		    "max_body_bytes (%ld)", m->cfg.max_body_bytes);
		conn_fail(c, &e);
		return;
	}
	c->c_body_need = h.chunked ? 0 : (uint64_t)h.content_length;
	c->c_state = CS_BODY;
	conn_arm(c, m->cfg.body_timeout_ms);
	/* RFC 9110 10.1.1: say "go on" only if the body has not started. */
	if (h.expect_continue && h.minor == 1 &&
	    c->c_in.len - c->c_off == c->c_head_len) {
		evbuffer_add(c->c_out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		conn_flush(&c->c_req);
	}
}

static void
conn_take_body(struct hconn *c)
{
	struct master	*m = c->c_m;
	struct err	 e;
	char		*p = c->c_in.data + c->c_off + c->c_head_len;
	size_t		 avail = c->c_in.len - c->c_off - c->c_head_len;
	long		 k;

	if (!c->c_req.hr_h.chunked) {
		if (avail < c->c_body_need)
			return;
		c->c_body_in = (size_t)c->c_body_need;
		conn_dispatch(c, p, c->c_body_in);
		return;
	}
	k = http_chunked_feed(&c->c_chunk, p + c->c_body_in,
	    avail - c->c_body_in, (uint64_t)m->cfg.max_body_bytes,
	    conn_chunk_sink, &c->c_body, &e);
	if (k < 0) {
		conn_fail(c, &e);
		return;
	}
	if (c->c_chunk.st != HC_DONE) {
		/* The framing read so far is in c_body: drop it from the
		 * input so a long body needs no input buffer of its size. */
		memmove(p, p + c->c_body_in + (size_t)k,
		    avail - c->c_body_in - (size_t)k);
		c->c_in.len -= c->c_body_in + (size_t)k;
		c->c_body_in = 0;
		return;
	}
	c->c_body_in += (size_t)k;
	conn_dispatch(c, c->c_body.data ? c->c_body.data : "",
	    c->c_body.len);
}

static void
conn_process(struct hconn *c)
{
	enum conn_state	 before;
	size_t		 off_before;

	c->c_processing = 1;
	for (;;) {
		before = c->c_state;
		off_before = c->c_off;
		switch (c->c_state) {
		case CS_HEAD:
			if (evbuffer_get_length(c->c_out) >
			    (size_t)c->c_m->cfg.max_conn_output_bytes)
				goto out;	/* the write side calls again */
			if (c->c_in.len == c->c_off)
				goto out;
			if (!c->c_started) {
				/* header_timeout: the whole head, from its
				 * first byte. */
				c->c_started = 1;
				conn_arm(c, c->c_m->cfg.header_timeout_ms);
			}
			conn_take_head(c);
			break;
		case CS_BODY:
			conn_take_body(c);
			break;
		case CS_BUSY:
		case CS_LINGER:
			goto out;
		}
		if (c->c_dead)
			break;
		if (c->c_state == before && c->c_off == off_before)
			break;		/* needs more input */
	}
out:
	c->c_processing = 0;
	if (c->c_dead) {
		conn_close(c);
		return;
	}
	if (c->c_state == CS_HEAD && c->c_in.len == c->c_off && !c->c_started)
		conn_arm(c, c->c_nreq > 0 ? c->c_m->cfg.keepalive_timeout_ms :
		    c->c_m->cfg.header_timeout_ms);
}

static void
conn_linger_read(struct hconn *c)
{
	char	 junk[16384];
	ssize_t	 n;

	n = conn_recv(c, junk, sizeof(junk));
	if (n > 0 && (uint64_t)n < c->c_linger_left) {
		c->c_linger_left -= (uint64_t)n;
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	conn_close(c);
}

static void
conn_on_read(evutil_socket_t fd, short ev, void *arg)
{
	struct hconn	*c = arg;
	size_t		 want;
	ssize_t		 n;

	(void)ev;
	if (c->c_state == CS_LINGER) {
		conn_linger_read(c);
		return;
	}
	if (c->c_state == CS_BUSY) {
		/* Pipelined input: only into the room there is. */
		want = c->c_in.cap - c->c_in.len;
	} else {
		want = CONN_READ_MIN;
		if (c->c_state == CS_BODY) {
			if (!c->c_req.hr_h.chunked)
				want = (size_t)(c->c_body_need -
				    (c->c_in.len - c->c_off - c->c_head_len));
			else
				want = CONN_BODY_STEP;
			if (want < CONN_READ_MIN)
				want = CONN_READ_MIN;
		}
		if (conn_room(c, want) == -1) {
			log_error("connection %d: out of memory", (int)fd);
			conn_close(c);
			return;
		}
		want = c->c_in.cap - c->c_in.len;
	}
	if (want == 0) {
		event_del(c->c_rev);
		c->c_rpaused = 1;
		return;
	}
	n = conn_recv(c, c->c_in.data + c->c_in.len, want);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			goto process;
		log_debug("connection %d: read: %s", (int)fd, strerror(errno));
		conn_close(c);
		return;
	}
	if (n == 0) {
		if (c->c_state != CS_BUSY) {
			conn_close(c);
			return;
		}
		/* Half-closed: the answer may still be read, then the
		 * connection closes (once all of it is written). */
		c->c_eof = 1;
		c->c_close = 1;
		event_del(c->c_rev);
		c->c_rpaused = 1;
		return;
	}
	c->c_in.len += (size_t)n;
	/* Decrypted bytes OpenSSL still holds raise no event of their own. */
	if (c->c_ssl != NULL && SSL_pending(c->c_ssl) > 0)
		event_active(c->c_rev, EV_READ, 0);
process:
	conn_process(c);
}

static void
conn_on_write(evutil_socket_t fd, short ev, void *arg)
{
	struct hconn	*c = arg;
	struct hreq	*r = &c->c_req;

	(void)ev;
	if (c->c_tls_rwant) {
		c->c_tls_rwant = 0;
		if (evbuffer_get_length(c->c_out) == 0) {
			event_del(c->c_wev);
			c->c_wactive = 0;
		}
		conn_on_read(fd, EV_READ, c);
		return;
	}
	conn_flush(r);
	if (c->c_dead) {
		conn_close(c);
		return;
	}
	if (c->c_busy && !c->c_answered) {
		if (r->hr_drain != NULL && evbuffer_get_length(c->c_out) <=
		    (size_t)c->c_m->cfg.max_conn_output_bytes / 2)
			r->hr_drain(c->c_m, r);
		return;
	}
	if (c->c_busy && c->c_answered) {
		if (c->c_close ? evbuffer_get_length(c->c_out) == 0 :
		    evbuffer_get_length(c->c_out) <=
		    (size_t)c->c_m->cfg.max_conn_output_bytes)
			conn_after_answer(c);
		return;
	}
	if (evbuffer_get_length(c->c_out) == 0 && c->c_state != CS_LINGER) {
		conn_disarm(c);
		conn_process(c);
	}
}

static void
conn_close(struct hconn *c)
{
	struct master *m = c->c_m;

	if (c->c_processing) {
		/* Freed by conn_process() once it unwinds. */
		c->c_dead = 1;
		return;
	}
	if (c->c_busy && !c->c_answered && c->c_req.hr_abort != NULL)
		c->c_req.hr_abort(m, &c->c_req);
	TAILQ_REMOVE(&m->conns, c, c_entry);
	m->nconns--;
	event_free(c->c_rev);
	event_free(c->c_wev);
	event_free(c->c_tev);
	evbuffer_free(c->c_out);
	if (c->c_ssl != NULL)
		SSL_free(c->c_ssl);
	close(c->c_fd);
	buf_free(&c->c_in);
	buf_free(&c->c_body);
	free(c);
	if (m->accept_paused == 1 && !m->draining && m->lfd >= 0) {
		m->accept_paused = 0;
		event_add(m->ev_accept, NULL);
	}
}

/* ------------------------------------------------------------ accept */

static long
conn_max(const struct master *m)
{
	return m->cfg.max_connections > 0 ? m->cfg.max_connections :
	    m->derived_max_conns;
}

static void
conn_new(struct master *m, int fd)
{
	struct hconn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->c_out = evbuffer_new()) == NULL ||
	    (c->c_rev = event_new(m->base, fd, EV_READ | EV_PERSIST,
	    conn_on_read, c)) == NULL ||
	    (c->c_wev = event_new(m->base, fd, EV_WRITE | EV_PERSIST,
	    conn_on_write, c)) == NULL ||
	    (c->c_tev = evtimer_new(m->base, conn_on_timer, c)) == NULL) {
		log_error("accept: out of memory");
		if (c != NULL) {
			if (c->c_out != NULL)
				evbuffer_free(c->c_out);
			if (c->c_rev != NULL)
				event_free(c->c_rev);
			if (c->c_wev != NULL)
				event_free(c->c_wev);
			free(c);
		}
		close(fd);
		return;
	}
	if (m->tls != NULL) {
		if ((c->c_ssl = SSL_new(m->tls)) == NULL ||
		    SSL_set_fd(c->c_ssl, fd) != 1) {
			log_error("accept: TLS: out of memory");
			if (c->c_ssl != NULL)
				SSL_free(c->c_ssl);
			evbuffer_free(c->c_out);
			event_free(c->c_rev);
			event_free(c->c_wev);
			event_free(c->c_tev);
			free(c);
			close(fd);
			return;
		}
		SSL_set_accept_state(c->c_ssl);
	}
	c->c_m = m;
	c->c_fd = fd;
	c->c_req.hr_conn = c;
	TAILQ_INSERT_TAIL(&m->conns, c, c_entry);
	m->nconns++;
	event_add(c->c_rev, NULL);
	conn_arm(c, m->cfg.header_timeout_ms);
}

/* Logged at most once per interval, with how many were not. */
static void
conn_accept_log(struct master *m, const char *what)
{
	uint64_t now = mono_ns();

	if (m->accept_log_ns != 0 && now - m->accept_log_ns <
	    CONN_LOG_EVERY_NS) {
		m->accept_log_quiet++;
		return;
	}
	if (m->accept_log_quiet > 0)
		log_warn("accept: %s (%llu more like it not logged)", what,
		    (unsigned long long)m->accept_log_quiet);
	else
		log_warn("accept: %s", what);
	m->accept_log_ns = now;
	m->accept_log_quiet = 0;
}

static void
conn_on_accept_retry(evutil_socket_t fd, short ev, void *arg)
{
	struct master *m = arg;

	(void)fd;
	(void)ev;
	if (m->accept_paused == 2 && m->lfd >= 0 && !m->draining) {
		m->accept_paused = 0;
		event_add(m->ev_accept, NULL);
	}
}

static void
conn_on_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct master	*m = arg;
	struct timeval	 tv;
	char		 what[160];
	int		 i, fd;

	(void)ev;
	for (i = 0; i < CONN_ACCEPT_BURST; i++) {
		if ((long)m->nconns >= conn_max(m)) {
			/* Resumed by conn_close(). */
			snprintf(what, sizeof(what), "%u connections open, "
			    "the limit (max_connections); not accepting "
			    "until one closes", m->nconns);
			conn_accept_log(m, what);
			event_del(m->ev_accept);
			m->accept_paused = 1;
			return;
		}
		fd = accept4((int)lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			conn_new(m, fd);
			continue;
		}
		switch (errno) {
		case EAGAIN:
		case EINTR:
			return;
		case ECONNABORTED:
		case EPROTO:
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			/* Out of descriptors or memory: retrying at once
			 * would spin.  Pause, as nginx does. */
			snprintf(what, sizeof(what), "%s; pausing %ld ms",
			    strerror(errno), m->cfg.accept_backoff_ms);
			conn_accept_log(m, what);
			event_del(m->ev_accept);
			m->accept_paused = 2;
			tv.tv_sec = m->cfg.accept_backoff_ms / 1000;
			tv.tv_usec = (m->cfg.accept_backoff_ms % 1000) * 1000;
			event_add(m->ev_accept_retry, &tv);
			return;
		default:
			snprintf(what, sizeof(what), "%s", strerror(errno));
			conn_accept_log(m, what);
			return;
		}
	}
}

/*
 * The descriptor limit: raised to the hard limit (as nginx's
 * worker_rlimit_nofile would), and the connection cap derived from it,
 * leaving room for the master's own descriptors and the workers'.
 */
static void
conn_limits(struct master *m)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rlim_t want = rl.rlim_max;

			if (want == RLIM_INFINITY || want > 1048576)
				want = 1048576;
			if (want > rl.rlim_cur) {
				rl.rlim_cur = want;
				setrlimit(RLIMIT_NOFILE, &rl);
				getrlimit(RLIMIT_NOFILE, &rl);
			}
		}
		m->derived_max_conns = (long)rl.rlim_cur - CONN_FD_RESERVE -
		    2 * m->cfg.workers;
	}
	if (m->derived_max_conns < 16)
		m->derived_max_conns = 16;
}

int
conn_listen(struct master *m)
{
	struct addrinfo		 hints, *res = NULL, *ai;
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 host[INET6_ADDRSTRLEN], port[16];
	int			 fd = -1, one = 1, rc, p = 0;

	conn_limits(m);
	/* A binary upgrade (SIGUSR2) hands the listening socket over. */
	if ((fd = upgrade_inherited_fd()) != -1) {
		if ((rc = fcntl(fd, F_GETFL)) == -1 ||
		    fcntl(fd, F_SETFL, rc | O_NONBLOCK) == -1 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
			log_error("upgrade: the inherited socket: %s",
			    strerror(errno));
			return -1;
		}
		goto bound;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", m->cfg.listen_port);
	if ((rc = getaddrinfo(m->cfg.listen_host[0] ? m->cfg.listen_host :
	    NULL, port, &hints, &res)) != 0) {
		log_error("cannot listen on %s:%d: %s", m->cfg.listen_host,
		    m->cfg.listen_port, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, SOMAXCONN) == 0)
			break;
		rc = errno;
		close(fd);
		fd = -1;
		errno = rc;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		log_error("cannot listen on %s:%d: %s", m->cfg.listen_host,
		    m->cfg.listen_port, strerror(errno));
		return -1;
	}
bound:
	/* Accepted sockets inherit it: an answer must not wait for the
	 * client's delayed ACK (Nagle). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	m->lfd = fd;
	m->ev_accept = event_new(m->base, fd, EV_READ | EV_PERSIST,
	    conn_on_accept, m);
	m->ev_accept_retry = evtimer_new(m->base, conn_on_accept_retry, m);
	if (m->ev_accept == NULL || m->ev_accept_retry == NULL) {
		log_error("cannot listen: out of memory");
		return -1;
	}
	event_add(m->ev_accept, NULL);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
			p = ntohs(s4->sin_port);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
			p = ntohs(s6->sin6_port);
		}
		snprintf(m->bound_name, sizeof(m->bound_name), "%s%s%s:%d",
		    ss.ss_family == AF_INET6 ? "[" : "", host,
		    ss.ss_family == AF_INET6 ? "]" : "", p);
	}
	return 0;
}

void
conn_stop_accepting(struct master *m)
{
	if (m->lfd < 0)
		return;
	event_free(m->ev_accept);
	event_free(m->ev_accept_retry);
	m->ev_accept = m->ev_accept_retry = NULL;
	close(m->lfd);
	m->lfd = -1;
}

void
conn_close_all(struct master *m)
{
	struct hconn *c;

	conn_stop_accepting(m);
	while ((c = TAILQ_FIRST(&m->conns)) != NULL) {
		c->c_processing = 0;
		conn_close(c);
	}
}

/* ------------------------------------------------------------ TLS */

/* ALPN: HTTP/1.1 is all there is (a client offering only h2 gets none). */
static int
conn_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h11[] = "\x08http/1.1";
	unsigned char *sel;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11) - 1, in,
	    inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static const char *
conn_tls_why(void)
{
	unsigned long	 e = ERR_peek_last_error();
	static char	 buf[256];

	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

/* A server context for cert and key, or NULL with why in err. */
static SSL_CTX *
conn_tls_ctx(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "TLS: %s", conn_tls_why());
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_alpn_select_cb(ctx, conn_alpn, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert_file) != 1) {
		snprintf(err, errlen, "tls_cert_file %.300s: cannot load a "
		    "certificate: %s", cfg->tls_cert_file, conn_tls_why());
		goto fail;
	}
	/* Loading the key also checks it against the certificate (a
	 * mismatch says "key values mismatch"). */
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key_file,
	    SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "tls_key_file %.300s: cannot use it as "
		    "the key of tls_cert_file: %s", cfg->tls_key_file,
		    conn_tls_why());
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int
conn_tls_init(struct master *m)
{
	char err[1024];

	if (m->cfg.tls_cert_file[0] == '\0')
		return 0;
	if ((m->tls = conn_tls_ctx(&m->cfg, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		return -1;
	}
	log_info("HTTPS with %s", m->cfg.tls_cert_file);
	return 0;
}

/*
 * SIGHUP: certificate and key read again (a renewed certificate takes
 * effect for new connections; open ones keep theirs).  One that cannot be
 * loaded leaves the running one in place, as does switching HTTPS on or
 * off, which the listener cannot do in place.
 */
void
conn_tls_reload(struct master *m, struct config *nc)
{
	SSL_CTX	*ctx;
	char	 err[1024];

	if ((nc->tls_cert_file[0] != '\0') != (m->tls != NULL)) {
		log_warn("reload: HTTPS on or off changes only on restart");
		goto keep;
	}
	if (m->tls == NULL)
		return;
	if ((ctx = conn_tls_ctx(nc, err, sizeof(err))) == NULL) {
		log_error("reload: %s; keeping the running certificate", err);
		goto keep;
	}
	SSL_CTX_free(m->tls);
	m->tls = ctx;
	log_info("reload: certificate %s loaded", nc->tls_cert_file);
	return;
keep:
	memcpy(nc->tls_cert_file, m->cfg.tls_cert_file,
	    sizeof(nc->tls_cert_file));
	memcpy(nc->tls_key_file, m->cfg.tls_key_file,
	    sizeof(nc->tls_key_file));
}
