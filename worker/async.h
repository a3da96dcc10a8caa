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

#endif
