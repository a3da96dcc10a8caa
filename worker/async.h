/*
 * async.h - running the items that keep asynchronous batches in the
 * store; what they are and what is stored: common/async_item.h.
 */
#ifndef BATCHD_ASYNC_H
#define BATCHD_ASYNC_H

#include "async_item.h"
#include "item.h"
#include "store.h"

/* Run one OP_ASYNC_* item.  Always fills res; -1 only on out-of-memory. */
int	async_exec(struct store *, const struct item_req *, struct item_res *);
/* Store res, the answer of item idx of async batch rq->async_id, in the
 * open write transaction (the atomicity group's, else the write
 * group's): the transaction that ran the item. */
int	async_record(struct store *, const struct item_req *, uint32_t idx,
	    const struct item_res *, struct err *);

#endif
