/*
 * http_parse.h - HTTP/1.1 request framing (RFC 9112), strict.
 *
 * Pure functions over bytes: no I/O, no allocation, no libevent, so they
 * are unit-tested and fuzzed on their own (tests/unit/test_http_parse.c,
 * tests/fuzz/fuzz_http.c).  conn.c feeds them a connection's input.
 *
 * Strict where framing is concerned, because a server behind a proxy that
 * reads a message differently from the proxy is a request-smuggling hole:
 * every line ends in CRLF (a bare CR or LF is an error), no obs-fold, no
 * whitespace between a field name and its colon, one Content-Length value
 * (repeated identically at most), Transfer-Encoding only as a single final
 * "chunked" and never with Content-Length, exactly one Host in HTTP/1.1,
 * at most one Authorization.  Anything else is HP_BAD: answer 400, close.
 */
#ifndef BATCHD_HTTP_PARSE_H
#define BATCHD_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "route.h"

enum http_method {
	HM_GET = 0,
	HM_HEAD,
	HM_POST,
	HM_PUT,
	HM_PATCH,
	HM_DELETE,
	HM_OPTIONS,
	HM_TRACE,
	HM_CONNECT,
	HM_OTHER		/* a well-formed token we do not know */
};

#define HTTP_PREFER_MAX	8	/* Prefer field lines kept (RFC 7240) */

/* A parsed request head.  Strings point into the bytes parsed. */
struct http_head {
	enum http_method method;
	struct route_str method_name;
	struct route_str target;	/* origin-form ("/..."), "*", or
					 * the authority (CONNECT); an
					 * absolute-form target is reduced
					 * to its path and query */
	int		 minor;		/* HTTP/1.<minor>: 0 or 1 */
	int64_t		 content_length; /* -1: none */
	int		 chunked;	/* Transfer-Encoding: chunked */
	int		 keep_alive;	/* the connection may be reused */
	int		 expect_continue;
	struct route_str host;
	struct route_str authorization;
	struct route_str if_match;
	struct route_str if_none_match;
	struct route_str request_id;	/* X-Request-Id */
	struct route_str prefer[HTTP_PREFER_MAX];
	int		 nprefer;
};

/*
 * Find a complete request head at the start of p[0..n): leading empty
 * lines (RFC 9112 2.2) are skipped.  Returns the number of bytes of the
 * head (through its closing empty line) and fills h; 0 when more bytes
 * are needed (and n <= max); -1 with e filled (ERR_BAD_REQUEST) when the
 * head is malformed or longer than max.
 */
long	http_parse_head(const char *p, size_t n, size_t max,
	    struct http_head *h, struct err *e);

/* Chunked body decoder state (RFC 9112 7.1). */
enum http_chunk_state {
	HC_SIZE = 0,		/* reading the chunk size's hex digits */
	HC_EXT,			/* chunk extension: ignored to the CR */
	HC_SIZE_LF,		/* after the size line's CR */
	HC_DATA,		/* chunk data, left bytes to go */
	HC_DATA_CR,		/* the CRLF after chunk data */
	HC_DATA_LF,
	HC_TRAILER,		/* a trailer line (ignored) or the end */
	HC_TRAILER_LF,
	HC_DONE
};

struct http_chunked {
	enum http_chunk_state st;
	uint64_t	 left;		/* HC_DATA: bytes of this chunk */
	uint64_t	 total;		/* body bytes so far */
	int		 ndigits;	/* HC_SIZE: digits of this size */
	int		 line_len;	/* HC_TRAILER: bytes of this line */
	int		 line_colon;	/* HC_TRAILER: saw the ':' */
};

/*
 * Decode chunked framing from in[0..n).  Data bytes are handed to sink
 * (which may be NULL to discard them) as they are found.  Returns the
 * bytes consumed (all of n unless the body ended inside it: then st->st
 * is HC_DONE and the rest belongs to the next request), or -1 with e
 * filled: ERR_BAD_REQUEST for bad framing, ERR_PAYLOAD_TOO_LARGE once
 * the body would pass max bytes.
 */
long	http_chunked_feed(struct http_chunked *st, const char *in, size_t n,
	    uint64_t max, void (*sink)(void *, const char *, size_t),
	    void *arg, struct err *e);

const char *http_method_str(enum http_method);

#endif
