/*
 * fuzz_http.c - request framing (master/http_parse.c) as conn.c drives it.
 *
 * The input (after its first byte) is what a client sends on one
 * connection: pipelined requests, heads and Content-Length or chunked
 * bodies.  It is framed twice, as it would be if it arrived in one read
 * and in reads of 1..255 bytes (the first byte picks the size), exactly
 * as conn.c frames it: parse the head when it is complete, then take the
 * body, then the next request; stop at the first error.  Both runs must
 * find the same requests (method, target, framing, keep-alive, body
 * bytes) and end the same way; every string handed out must be free of
 * CR, LF and NUL; a body never passes its limit.
 */
#include <string.h>

#include "http_parse.h"
#include "fuzz.h"

#define FH_MAX_HEAD	4096
#define FH_MAX_BODY	2048
#define FH_MAX_REQS	64

struct fh_req {
	enum http_method method;
	uint64_t	 target_hash;
	int64_t		 content_length;
	int		 chunked, keep_alive, minor;
	size_t		 body_len;
	uint64_t	 body_hash;
};

struct fh_run {
	struct fh_req	 reqs[FH_MAX_REQS];
	int		 n;
	int		 error;		/* the run ended on an error */
	enum err_code	 code;
};

static uint64_t
fh_hash(uint64_t h, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
	return h;
}

static void
fh_clean(struct route_str s)
{
	size_t i;

	if (s.p == NULL)
		return;
	for (i = 0; i < s.n; i++)
		FUZZ_CHECK(s.p[i] != '\r' && s.p[i] != '\n' && s.p[i] != '\0');
}

struct fh_body {
	size_t		len;
	uint64_t	hash;
};

static void
fh_sink(void *arg, const char *p, size_t n)
{
	struct fh_body *b = arg;

	b->len += n;
	b->hash = fh_hash(b->hash, p, n);
}

/* Frame data[0..n) arriving step bytes at a time. */
static void
fh_frame(const char *data, size_t n, size_t step, struct fh_run *run)
{
	struct http_head	 h;
	struct http_chunked	 ch;
	struct fh_body		 body;
	struct err		 e;
	size_t			 have = 0, off = 0, head = 0, bin = 0;
	long			 r;
	int			 in_body = 0, i;
	struct fh_req		*q = NULL;

	memset(run, 0, sizeof(*run));
	while (run->n < FH_MAX_REQS) {
		if (!in_body) {
			r = http_parse_head(data + off, have - off, FH_MAX_HEAD,
			    &h, &e);
			if (r < 0) {
				run->error = 1;
				run->code = e.code;
				return;
			}
			if (r == 0) {
				if (have == n)
					return;
				have = have + step < n ? have + step : n;
				continue;
			}
			head = (size_t)r;
			q = &run->reqs[run->n];
			q->method = h.method;
			q->target_hash = fh_hash(0, h.target.p, h.target.n);
			q->content_length = h.content_length;
			q->chunked = h.chunked;
			q->keep_alive = h.keep_alive;
			q->minor = h.minor;
			FUZZ_CHECK(h.minor == 0 || h.minor == 1);
			FUZZ_CHECK(h.target.n > 0);
			FUZZ_CHECK(!h.chunked || h.content_length == -1);
			FUZZ_CHECK(h.content_length >= -1);
			fh_clean(h.target);
			fh_clean(h.host);
			fh_clean(h.authorization);
			fh_clean(h.if_match);
			fh_clean(h.if_none_match);
			fh_clean(h.request_id);
			for (i = 0; i < h.nprefer; i++)
				fh_clean(h.prefer[i]);
			if (h.content_length > FH_MAX_BODY) {
				run->error = 1;
				run->code = ERR_PAYLOAD_TOO_LARGE;
				return;
			}
			memset(&ch, 0, sizeof(ch));
			memset(&body, 0, sizeof(body));
			bin = 0;
			in_body = 1;
		}
		if (!q->chunked) {
			size_t need = q->content_length > 0 ?
			    (size_t)q->content_length : 0;

			if (have - off - head < need) {
				if (have == n)
					return;
				have = have + step < n ? have + step : n;
				continue;
			}
			fh_sink(&body, data + off + head, need);
			bin = need;
		} else {
			r = http_chunked_feed(&ch, data + off + head + bin,
			    have - off - head - bin, FH_MAX_BODY, fh_sink, &body,
			    &e);
			if (r < 0) {
				run->error = 1;
				run->code = e.code;
				return;
			}
			bin += (size_t)r;
			FUZZ_CHECK(ch.total <= FH_MAX_BODY);
			if (ch.st != HC_DONE) {
				FUZZ_CHECK(off + head + bin == have);
				if (have == n)
					return;
				have = have + step < n ? have + step : n;
				continue;
			}
		}
		q->body_len = body.len;
		q->body_hash = body.hash;
		run->n++;
		off += head + bin;
		in_body = 0;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fh_run	whole, split;
	size_t			step;
	int			i;

	if (size < 1)
		return 0;
	step = data[0] ? data[0] : 1;
	fh_frame((const char *)data + 1, size - 1, size, &whole);
	fh_frame((const char *)data + 1, size - 1, step, &split);
	FUZZ_CHECK(whole.n == split.n);
	FUZZ_CHECK(whole.error == split.error);
	FUZZ_CHECK(whole.code == split.code);
	for (i = 0; i < whole.n; i++)
		FUZZ_CHECK(memcmp(&whole.reqs[i], &split.reqs[i],
		    sizeof(whole.reqs[i])) == 0);
	return 0;
}
