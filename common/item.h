/*
 * item.h - one operation as a worker executes it, and its result.
 *
 * The master encodes a routed request into ring data slots (layout in
 * shm.h); the worker decodes it into a struct item_req whose strings point
 * into that memory, executes it and fills a struct item_res, which it then
 * copies into its completion ring.  Plain requests and batch items share
 * this path, so a batch item answers exactly what the plain request would.
 */
#ifndef BATCHD_ITEM_H
#define BATCHD_ITEM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "errors.h"
#include "route.h"

enum item_body {
	BODY_NONE = 0,		/* no body, or GET (body ignored) */
	BODY_OBJECT,		/* the body is a JSON object */
	BODY_OTHER		/* valid JSON, but not an object */
};

struct item_req {
	enum route_op	 op;
	struct route_str ws, table, key;
	struct route_str prefix, after;
	long		 limit;
	struct route_str query, timespan;
	struct route_str if_match, if_none_match;	/* raw header values */
	/* An item of an asynchronous batch: the worker stores its answer
	 * under this batch id, rendered with item_id and agroup, in the
	 * transaction that runs it (async_item.h).  Absent otherwise. */
	struct route_str async_id, item_id, agroup;
	uint32_t	 prefer;	/* PREFER_STATS | PREFER_RENDER */
	enum item_body	 body_kind;	/* already known from the master's parse */
	const char	*body;		/* compact JSON text, body_len bytes */
	size_t		 body_len;
};

#define ITEM_ETAG_MAX	48

struct item_res {
	int		 status;
	char		 etag[ITEM_ETAG_MAX];	/* quoted ETag, or "" */
	struct buf	 location;		/* Location value, or empty */
	struct buf	 body;			/* raw JSON; empty for 204/304 */
	int		 stored;		/* async: its record is written
						 * (COMP_F_STORED) */
	uint32_t	 comp_flags;		/* COMP_F_* the completion
						 * record carries (shm.h) */
};

/* An item's answer in a batch's "responses", up to its body. */
struct item_head {
	const char	*id, *agroup;		/* agroup may be NULL */
	size_t		 id_len, agroup_len;
	int		 status;
	const char	*etag, *loc;
	size_t		 etag_len, loc_len;
	uint32_t	 retry_after;		/* seconds, or 0: none */
	size_t		 body_len;
};
/* {"id":..,["atomicityGroup":..,]"status":N,"headers":{..} then, when
 * body_len > 0, ,"body": - the caller appends the body's bytes and the
 * closing brace.  -1 on ENOMEM. */
int	item_render_head(struct buf *, const struct item_head *);

/* Reset a result for reuse (keeps buffers). */
void	item_res_reset(struct item_res *);
void	item_res_free(struct item_res *);
/* Make res an error answer: status from the code, body the error object.
 * Always returns 0 (on allocation failure the body is left empty). */
int	item_res_error(struct item_res *, enum err_code, const char *detail);

/* Encode rq as struct item_wire + fields (shm.h) into out; -1 on ENOMEM. */
int	item_encode(const struct item_req *, struct buf *out);
/* ... appended to what out holds. */
int	item_append(const struct item_req *, struct buf *out);
/* Decode n bytes at p; rq's strings point into p.  -1 if malformed. */
int	item_decode(const char *p, size_t n, struct item_req *);

#endif

