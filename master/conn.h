/*
 * conn.h - the master's HTTP/1.1 connections: listener, framing,
 * deadlines, output and back-pressure (conn.c).  http.c sees one request
 * at a time per connection through struct hreq and answers it with the
 * conn_* calls below; conn.c knows nothing of batches.
 *
 * A connection serves its requests one after another (pipelined requests
 * wait in its input until the one before is answered, as nginx does), so
 * answers always leave in request order.
 */
#ifndef BATCHD_CONN_H
#define BATCHD_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "http_parse.h"

struct master;
struct hconn;

/* One request, valid from http_dispatch() until its answer is done (or
 * its connection is gone: then hr_abort is called first). */
struct hreq {
	struct hconn		*hr_conn;
	struct http_head	 hr_h;		/* strings valid while the
						 * request is */
	const char		*hr_body;	/* the whole body (decoded) */
	size_t			 hr_body_len;
	uint64_t		 hr_t0;		/* mono ns: head complete */
	/* Set by the owner of the answer (http.c): */
	void			*hr_owner;
	void			(*hr_abort)(struct master *, struct hreq *);
	void			(*hr_drain)(struct master *, struct hreq *);
};

/* conn.c */
int	conn_listen(struct master *);
void	conn_stop_accepting(struct master *);
void	conn_close_all(struct master *);

/*
 * Answering.  conn_head() starts the answer: status line, Date, the
 * framing (Content-Length when content_length >= 0, else chunked in
 * HTTP/1.1 or close-delimited in 1.0), Connection: close when the
 * connection will not be reused, then the caller's extra header lines
 * (each ending in CRLF).  conn_body() adds body bytes (framed as a chunk
 * when chunked; dropped for HEAD); conn_body_ref() hands a heap block
 * over without copying (freed with free()).  conn_done() ends the answer
 * and sends what is left.  conn_flush() sends now what can be sent.
 */
void	conn_head(struct hreq *, int status, const char *extra, size_t xlen,
	    int64_t content_length);
void	conn_body(struct hreq *, const char *, size_t);
void	conn_body_ref(struct hreq *, char *, size_t);
void	conn_done(struct hreq *);
void	conn_flush(struct hreq *);
/* Answer bytes not yet taken by the kernel. */
size_t	conn_unsent(const struct hreq *);
/* The connection closes after this answer (an error that leaves the
 * input unreadable). */
void	conn_set_close(struct hreq *);

#endif
