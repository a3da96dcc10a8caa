/*
 * async.h - asynchronous batches (SPEC 3.3) as the store keeps them.
 *
 * The master never touches LMDB: it persists an async batch by sending
 * internal items through the ring, executed here like any other item.
 *
 * In the "async" database:
 *   'M' || batch id             -> meta, a JSON object:
 *        {"id","status","total","completed","failed","created_at",
 *         "finished_at_ms","owner"}   (owner: SHA-256 hex of the token
 *         that made the batch, "" when auth is off)
 *   'R' || batch id || u32 seq  -> one rendered response (a JSON object),
 *        seq = completion order
 *
 * OP_ASYNC_SAVE  key = batch id; body = u32 meta_len, meta bytes, then
 *                records { u32 seq; u32 len; len bytes }.  One write
 *                transaction: meta replaced, records added.  204.
 * OP_ASYNC_GET   key = batch id; query = owner; after = offset (decimal);
 *                limit = page size; timespan = async_result_ttl_s
 *                (decimal).  200 {"batch":{summary},"responses":[...],
 *                "next_offset":N|null}, or 404 NOT_FOUND when missing,
 *                expired or owned by another token.  The master runs a
 *                GET only for a batch it is not running, so a batch still
 *                marked queued or running was cut short by a restart: it
 *                is marked cancelled here.
 * OP_ASYNC_PURGE timespan = async_result_ttl_s; limit = most batches to
 *                drop in one call.  Removes batches finished longer ago.
 */
#ifndef BATCHD_ASYNC_H
#define BATCHD_ASYNC_H

#include "item.h"
#include "store.h"

#define ASYNC_ID_LEN	24

/* Run one OP_ASYNC_* item.  Always fills res; -1 only on out-of-memory. */
int	async_exec(struct store *, const struct item_req *, struct item_res *);

#endif
