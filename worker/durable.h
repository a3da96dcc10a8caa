/*
 * durable.h - which LMDB commits are on disk, with db_sync on (shm.h,
 * "Shared sync"; worker/store.c store_durable).
 *
 * The store is opened MDB_NOMETASYNC.  mdb_txn_commit() of a transaction
 * that changed something writes its pages, fdatasync()s the file, and only
 * then writes its meta page, without a flush.  So:
 *
 *  - the data pages of txn T are on disk before its meta page is written
 *    anywhere, and the meta page of T - 1 (written before T's commit took
 *    the writer lock) is on disk once T's commit returns: the worker that
 *    committed T knows T - 1 durable (durable_after_commit).  Only the
 *    committer says so: after a SIGHUP that turned db_sync on, a worker
 *    still running with it off commits MDB_NOSYNC, without that flush
 *    (one gap is left: a group that changed nothing commits nothing, and
 *    if such an old worker committed that txnid meanwhile, T - 1 is
 *    counted durable on its say; db_sync changed by SIGHUP reaches
 *    running workers only when they are replaced anyway);
 *  - an mdb_env_sync() that starts after T's meta was written makes T
 *    durable: whoever read T as the last txnid before such a sync, and saw
 *    it succeed, knows T durable (durable_after_sync);
 *  - T is durable once either is known: durable word >= T (durable_covers).
 *
 * No state on disk is ever unsafe: a meta page never reaches the disk
 * before the pages it points to (they were flushed first), and LMDB's
 * reuse of free pages (mdb_page_alloc takes pages freed by transactions
 * older than txnid - 1, and older than every reader) never touches a page
 * of the two newest metas, which are the newest durable one and at most
 * one newer.  A system crash can lose only commits not yet answered.
 *
 * The word only rises; every function is lock-free, for any number of
 * workers at once.
 */
#ifndef BATCHD_DURABLE_H
#define BATCHD_DURABLE_H

#include <stdatomic.h>
#include <stdint.h>

/* Raise the durable word to txnid if it is lower. */
static inline void
durable_raise(_Atomic uint64_t *durable, uint64_t txnid)
{
	uint64_t cur = atomic_load(durable);

	while (cur < txnid &&
	    !atomic_compare_exchange_weak(durable, &cur, txnid))
		;
}

/* This worker's MDB_NOMETASYNC commit of txnid (one that changed
 * something) has returned: its flush covered every earlier meta page. */
static inline void
durable_after_commit(_Atomic uint64_t *durable, uint64_t txnid)
{
	if (txnid > 0)
		durable_raise(durable, txnid - 1);
}

/* An mdb_env_sync() that started after last was read has succeeded. */
static inline void
durable_after_sync(_Atomic uint64_t *durable, uint64_t last)
{
	durable_raise(durable, last);
}

/* Is txn T on disk?  T = 0 (nothing committed) always is. */
static inline int
durable_covers(_Atomic uint64_t *durable, uint64_t txnid)
{
	return atomic_load(durable) >= txnid;
}

#endif
