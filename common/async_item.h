/*
 * async_item.h - asynchronous batches (SPEC 3.3) as the master and the
 * workers share them: the items through which the master, which never
 * touches LMDB, has the workers keep an async batch (master/async.c sends
 * them, worker/async.c runs them), and the layout of what is stored.
 *
 * In the "async" database:
 *   'M' || batch id             -> meta, a JSON object:
 *        {"id","status","total","completed","failed","created_at",
 *         "finished_at_ms","owner"}   (owner: SHA-256 hex of the token
 *         that made the batch, "" when auth is off)
 *   'R' || batch id || u32 seq  -> one rendered response (a JSON object),
 *        seq = the order the answers were stored in (pages follow it)
 *   'I' || batch id || u32 item index -> u32 seq: that item's answer is
 *        stored; a second one for the same item is not
 *   'N' || batch id             -> struct { u32 next seq; u32 answers
 *        stored with status >= 400 }
 *   (u32s in the key are big-endian, so keys sort by them; values are in
 *   host order.)
 *
 * Who stores an answer: the worker that runs an item of an async batch
 * (its item_req carries async_id, item_id, agroup) renders its answer and
 * stores it in the transaction that runs the item - a write's effect and
 * its record are committed together or not at all (a nested transaction
 * of the write group; a read's record joins the write group) - and marks
 * the completion COMP_F_STORED, with no body: the result never reaches
 * the master.  So after a crash of anything, every item that ran has its
 * record.  The master stores only the answers it gives itself (424, 499,
 * 503, 500/504/507 for a crashed worker, the quarantine's) with
 * OP_ASYNC_SAVE.
 *
 * OP_ASYNC_SAVE  key = batch id; body = u32 meta_len, meta bytes, then
 *                records { u32 item index; u32 status; u32 len; len
 *                bytes }.  One write transaction: meta replaced, records
 *                added (each under the next seq, unless its item has one
 *                already).  204.
 * OP_ASYNC_GET   key = batch id; query = owner; after = offset (decimal);
 *                limit = page size; prefix = most bytes of the page's
 *                records (decimal; a page holds at least one); timespan =
 *                async_result_ttl_s (decimal); ws = "live" when the master
 *                is still running the batch.  200 {"batch":{summary},
 *                "responses":[...],"next_offset":N|null}, or 404
 *                NOT_FOUND when missing, expired or owned by another
 *                token.  A page ends early when the next record would
 *                pass the byte bound (next_offset says where to go on).
 *                Without "live", a batch still marked queued or running
 *                was cut short by a restart: it is marked cancelled here,
 *                completed and failed taken from its 'N' counters.
 *                With it, the summary is the master's to replace, and
 *                next_offset is never null (more may come).
 * OP_ASYNC_PURGE timespan = async_result_ttl_s; limit = most batches to
 *                drop in one call.  Removes batches finished longer ago.
 */
#ifndef BATCHD_ASYNC_ITEM_H
#define BATCHD_ASYNC_ITEM_H

#define ASYNC_ID_LEN		24	/* characters of a batch id */
#define ASYNC_PAGE_DEFAULT	100	/* responses per page */
#define ASYNC_PAGE_MAX		1000

#endif
