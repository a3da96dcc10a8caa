/*
 * store.h - the LMDB store as one worker process uses it.
 *
 * Opened after fork() in each worker (LMDB forbids carrying an
 * environment across fork).  Reads share one read transaction handle,
 * renewed for every read operation so that it sees every commit made
 * before it (by any worker); store_idle() resets it when the worker runs
 * out of work, so an idle worker pins no old snapshot.  A write is
 * committed only when the whole operation succeeded, so a worker killed
 * at any instruction leaves no partial write; a worker groups the writes
 * it holds (store_wgroup_*).
 *
 * Layout inside LMDB (three named databases; integers big endian):
 *   "catalog": "ws\0table"  -> u32 table_id || u64 rows
 *   "rows":    u32 table_id || row key  -> value
 *              value = u64 etag || u32 key_len || key || compact JSON
 *              (keys longer than 507 bytes are stored under their first
 *              499 bytes and an 8-byte hash of the whole key: LMDB keys
 *              are at most 511 bytes; the full key in the value tells
 *              hash collisions apart)
 *   "meta":    "next_table_id" -> u32, "etag_seq" -> u64
 *   "async":   asynchronous batches, see worker/async.h
 * An ETag is the row's etag_seq as "\"%016x\"": global, so it changes on
 * every write of a row and never repeats.
 *
 * Key order (scans, store_table_iter): byte order, except that a key
 * longer than 507 bytes sorts by its hash after its first 499 bytes, so
 * among keys sharing those 499 bytes the long ones come in an arbitrary
 * (but fixed) order.  A scan's "after" resumes exactly in this order.
 */
#ifndef BATCHD_STORE_H
#define BATCHD_STORE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "item.h"

struct store;

/*
 * Syncs shared between the workers (shm.h, "Shared sync"): the words in
 * the ring header, and this worker's owner tag (slot + 1).
 */
struct store_shared_sync {
	_Atomic uint64_t *durable;	/* highest txnid known durable */
	_Atomic uint32_t *owner;	/* 0, or the tag of the syncing worker */
	_Atomic uint32_t *seq;		/* futex word, bumped after each sync */
	uint32_t	  self;
};

struct store_opts {
	const char	*path;		/* directory, created if missing */
	size_t		 map_size_mb;
	int		 sync;		/* durable before a write is answered */
	size_t		 max_result_bytes; /* scans stop short and page */
	struct store_shared_sync shared; /* .durable NULL: sync alone */
};

int	store_open(struct store **, const struct store_opts *,
	    char *err, size_t errlen);
void	store_close(struct store *);
/* Execute one row or table operation (not query, not debug).  Always
 * fills res with a status (an error status with an error body when it
 * fails); returns -1 only when memory ran out (res is then 507). */
int	store_exec(struct store *, const struct item_req *, struct item_res *);
/* The worker has no more work: release the read snapshot. */
void	store_idle(struct store *);

/*
 * Atomicity groups (SPEC 3.1).  Between store_group_begin() and
 * store_group_end(), every store_exec() and store_table_iter() runs inside
 * one write transaction, so later items see earlier items' writes.  Each
 * operation still applies entirely or not at all (it runs in a nested
 * transaction), but nothing reaches the database until
 * store_group_end(commit = 1); commit = 0 rolls the whole group back.
 * Both return 0, or -1 with e set (a failed commit leaves nothing
 * written, and the group is over either way).
 */
int	store_group_begin(struct store *, struct err *e);
int	store_group_end(struct store *, int commit, struct err *e);

/*
 * Write groups (group commit, SPEC 6).  Between store_wgroup_begin() and
 * store_wgroup_commit(), every write (store_exec, atomicity groups, async
 * saves) runs in one write transaction - row writes straight in it, the
 * others in a nested transaction of their own (store_direct) - so each
 * still applies entirely or not at all, and the whole group is
 * committed and made durable (db_sync) at once.  store_wgroup_commit()
 * returns 0 once the group is durable, or -1 with e set: STORE_FULL when
 * the store had no room for the commit (nothing written), STORE_ERROR when
 * the commit or its sync failed (the group must not be acknowledged).
 * The group is over either way.  store_wgroup_abort() drops it unwritten.
 * A write outside a write group commits (and syncs) alone.
 */
int	store_wgroup_begin(struct store *, struct err *e);
int	store_wgroup_commit(struct store *, struct err *e);
void	store_wgroup_abort(struct store *);
int	store_wgroup_open(const struct store *);
/* Another worker is syncing now: a commit made meanwhile would wait for
 * it and then need a sync of its own, so a group may as well keep taking
 * items until it is done (its end bumps the futex word shared.seq). */
int	store_sync_busy(const struct store *);
/*
 * Row writes in a write group run straight in its transaction (on, the
 * default) or each in a nested one (off).  A direct write that failed
 * after changing something leaves the group poisoned: it must be dropped
 * (store_wgroup_abort) and its items run again with direct writes off;
 * store_wgroup_commit() refuses to commit it.
 */
void	store_direct(struct store *, int on);
int	store_poisoned(const struct store *);
/* The last write failed for lack of room (map or transaction full): in a
 * fresh group of its own it may fit. */
int	store_overflowed(const struct store *);

/* Rows of one table in key order, for the query engine.  cb returns 0 to go
 * on, 1 to stop, -1 to fail.  Returns 0, or -1 with e set (NOT_FOUND when
 * the table does not exist; when cb fails, e is left as cb set it, or
 * INTERNAL if its code is still ERR_NONE).  key and json point into the
 * database and are valid only during the call. */
typedef int (*store_row_cb)(void *arg, const char *key, size_t key_len,
    const char *json, size_t json_len);
int	store_table_iter(struct store *, struct route_str ws,
	    struct route_str table, store_row_cb, void *arg, struct err *e);
/* The same over the rows whose stored key (the bytes after the table id:
 * the row key, or for a long key its head and hash) lies in [lo, hi);
 * lo NULL or empty: from the first row, hi NULL: to the last. */
int	store_table_range(struct store *, struct route_str ws,
	    struct route_str table, const struct route_str *lo,
	    const struct route_str *hi, store_row_cb, void *arg,
	    struct err *e);

/* Where a table's rows lie, to split a scan without reading them: its
 * row count (the catalog's) and its first and last stored keys. */
#define STORE_SPAN_KEY	512
struct store_span {
	int		 found;		/* the table exists */
	uint64_t	 rows;
	char		 first[STORE_SPAN_KEY], last[STORE_SPAN_KEY];
	size_t		 first_len, last_len;
};
/* 0 (found 0 when there is no such table), or -1 with e set. */
int	store_table_span(struct store *, struct route_str ws,
	    struct route_str table, struct store_span *, struct err *e);

#endif
