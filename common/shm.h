/*
 * shm.h - every byte of memory shared between the master and the workers.
 *
 * Two kinds of shared memory exist, both created by the master before it
 * forks and inherited by every worker:
 *
 * 1. The work ring: one POSIX shared-memory object ("/batchd.<master pid>",
 *    mode 0600, removed at exit; a start-up sweep removes objects whose
 *    master is dead).  Layout, from offset 0:
 *
 *      struct ring_hdr                        (one page)
 *      struct ring_cell   cells[ring_slots]   (the queue of work)
 *      uint32_t           slot_next[ring_slots]
 *      data area          ring_slots * slot_bytes, page aligned
 *
 *    The master alone allocates data slots (its free list is private), so
 *    no shared allocator exists and a dying worker cannot corrupt one.  An
 *    item is encoded (struct item_wire, below) into a chain of data slots
 *    linked through slot_next[]; its descriptor goes into the next ring
 *    cell.  Workers map the data area read-only.
 *
 *    Cells form a bounded multi-consumer queue (one producer: the master).
 *    Each cell has one 64-bit word: high 32 bits = the ring position the
 *    cell currently stands for, low 32 bits = its state:
 *      CELL_FREE    the producer may fill it for that position
 *      CELL_READY   filled; any worker may claim it
 *      w (< 2^16)   claimed by the worker in slot w
 *    A worker claims with one CAS READY -> w, so at every instant the
 *    claim is recorded in shared memory: if the worker dies right after
 *    the CAS, the master finds the cell still marked w.  The worker then
 *    copies the descriptor into its own wslot (held[nheld], then nheld + 1,
 *    then held_pos) and only then releases the cell (word -> position +
 *    ring_slots, CELL_FREE).  Either the cell or the wslot names every
 *    held item at every instruction.
 *
 *    Group commit (SPEC 6).  A worker may hold up to WSLOT_HELD_MAX items
 *    at once: write items it claims one after another are executed inside
 *    one LMDB write transaction (worker/store.h, "Write groups") and made
 *    durable by one sync, and their completion records are published only
 *    after that.  held[0..nheld) names every item it holds, in claim order;
 *    run_idx names the one it is executing (WSLOT_RUN_NONE between items);
 *    phase says whether the group can still be re-run:
 *      WG_OPEN     nothing of the group is committed (the transaction is
 *                  open or none exists).  If the worker dies, held[run_idx]
 *                  is answered as a crash (500/504/507) and every other
 *                  held item is published again for another worker: none
 *                  of them was applied.
 *      WG_COMMIT   set before mdb_txn_commit and kept until every record of
 *                  the group is published and nheld is 0.  If the worker
 *                  dies, the group may be applied: its unanswered items are
 *                  answered 500 WORKER_CRASHED, never run again.
 *
 *    Shared sync.  With db_sync on the store is opened MDB_NOMETASYNC
 *    (worker/durable.h has the whole argument): a commit flushes its
 *    pages, then writes its meta page unflushed, so the store on disk is
 *    consistent at every instant, and txn T is durable once a later
 *    commit's flush or an mdb_env_sync() started after T's commit has
 *    completed.  durable_txnid is the highest LMDB txnid known durable,
 *    never lowered: a worker raises it to T - 1 after its own commit of T
 *    returns, and to the last committed txnid it read before a sync of
 *    its own succeeds.  A commit already covered costs no sync;
 *    otherwise sync_owner (1 + the slot of the worker syncing now, 0:
 *    none, taken by CAS) elects one worker to sync, whose one
 *    mdb_env_sync() covers every commit made before it started.  When it
 *    is done the owner bumps ring_hdr.wake and wakes its sleepers - the
 *    word the master bumps when it publishes - so a worker whose group
 *    waits for that sync sleeps on one futex for either event: the sync's
 *    end or new items to add to its group.  The master clears sync_owner
 *    (and bumps wake) when its owner dies.  (MDB_NOSYNC with the same
 *    shared sync would be faster and is what db_sync off uses, but there
 *    a meta page may reach the disk before its pages, and a commit may
 *    reuse pages the last meta on disk still points to: a system crash
 *    could corrupt the store.)
 *
 * 2. One worker area per worker slot: an anonymous MAP_SHARED mapping
 *    made by the master before the first fork for that slot and reused by
 *    its replacements.  Layout: struct wslot (WSLOT_BYTES: whole pages),
 *    then the
 *    completion ring of res_size bytes (a power of two).  The completion
 *    ring is single-producer (its worker) single-consumer (the master):
 *    records (struct comp_rec + ETag + Location + body bytes) are appended
 *    at res_head and may wrap around the end; the master consumes from
 *    res_tail.  A record is visible only once res_head moves past it, so a
 *    worker dying mid-record publishes nothing.
 *
 * Wake-ups:
 *  - master -> workers: after publishing a burst of cells the master bumps
 *    ring_hdr.wake and, only if some worker sleeps (sleepers > 0), does one
 *    FUTEX_WAKE for the burst.
 *  - workers -> master: an eventfd watched by the master's event loop.  The
 *    master sets master_armed before it goes back to sleep; the first
 *    worker to publish a completion after that swaps it to 0 and writes the
 *    eventfd, so a burst of completions costs one write and one wake-up.
 *  - master -> a worker waiting for completion-ring room: res_waiting /
 *    res_wake futex in its wslot.
 */
#ifndef BATCHD_SHM_H
#define BATCHD_SHM_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define SHM_MAGIC	0x3164686374616242ULL	/* "Batchd1" */
#define SHM_VERSION	2
#define SHM_PAGE	4096

#define CELL_FREE	0xffffffffu
#define CELL_READY	0xfffffffeu
#define CELL_WORD(pos, st)	(((uint64_t)(uint32_t)(pos) << 32) | (uint32_t)(st))
#define CELL_POS(word)		((uint32_t)((word) >> 32))
#define CELL_STATE(word)	((uint32_t)(word))

#define SLOT_NONE	0xffffffffu

/* What a cell carries: written by the master before READY, copied by the
 * claiming worker. */
struct ring_desc {
	uint64_t	 batch_id;	/* master's batch id (never reused) */
	uint32_t	 item_idx;	/* index of the item in its batch */
	uint32_t	 first_slot;	/* head of the data-slot chain */
	uint32_t	 nslots;	/* slots in the chain */
	uint32_t	 len;		/* encoded item bytes */
};

struct ring_cell {
	_Atomic uint64_t word;		/* see above: master and workers */
	struct ring_desc desc;		/* master writes, worker reads */
	uint64_t	 pad[4];	/* 64 bytes: no false sharing of words */
};
_Static_assert(sizeof(struct ring_cell) == 64, "a ring cell is a cache line");

struct ring_hdr {
	uint64_t	 magic;		/* master, at creation */
	uint32_t	 version;
	uint32_t	 ring_slots;	/* power of two */
	uint32_t	 slot_bytes;
	uint32_t	 pad0;
	pid_t		 master_pid;	/* for the stale-object sweep */
	uint64_t	 cells_off;	/* offsets from the start of the object */
	uint64_t	 next_off;
	uint64_t	 data_off;
	uint64_t	 total_size;
	alignas(64) _Atomic uint64_t head; /* master: next position to fill */
	alignas(64) _Atomic uint64_t tail; /* workers (CAS): next to claim */
	alignas(64) _Atomic uint32_t wake; /* futex: master bumps on publish,
					 * a worker after a shared sync */
	_Atomic uint32_t sleepers;	/* workers in FUTEX_WAIT on wake */
	_Atomic uint32_t shutdown;	/* master: 1 = finish and exit */
	alignas(64) _Atomic uint32_t master_armed; /* see "Wake-ups" */
	alignas(64) _Atomic uint64_t durable_txnid; /* workers: see "Shared
					 * sync" */
	_Atomic uint32_t sync_owner;	/* workers (CAS), master on death */
};

/* Items one worker may hold at once (a write group, see above). */
#define WSLOT_HELD_MAX	1024
#define WSLOT_RUN_NONE	0xffffffffu

enum wslot_phase {
	WG_OPEN = 0,			/* nothing held is committed */
	WG_COMMIT			/* committing or publishing: may be
					 * applied, never run again */
};

enum wslot_state {
	WS_EMPTY = 0,			/* no process (master) */
	WS_STARTING,			/* forked, opening the store (master) */
	WS_IDLE,			/* waiting for work (worker) */
	WS_BUSY,			/* running held (worker) */
	WS_EXITING			/* leaving (worker) */
};

struct wslot {
	_Atomic uint32_t state;		/* enum wslot_state; worker, master */
	_Atomic uint32_t retire;	/* master: 1 = exit before next item */
	pid_t		 pid;		/* master, before fork */
	uint32_t	 index;		/* master: this slot's number */
	_Atomic uint64_t held_pos;	/* worker: ring position + 1 of the
					 * item it claimed last, 0 = it holds
					 * nothing; master reads */
	_Atomic uint32_t nheld;		/* worker: entries of held[] in use,
					 * raised after the entry is written;
					 * master reads after a death */
	_Atomic uint32_t run_idx;	/* worker: held[] entry executing now,
					 * WSLOT_RUN_NONE if none; master */
	_Atomic uint32_t phase;		/* worker: enum wslot_phase; master */
	uint32_t	 pad1;
	_Atomic uint64_t started_ns;	/* worker: CLOCK_MONOTONIC start of
					 * the running item or commit; master
					 * reads for item_timeout_ms */
	_Atomic uint64_t items_done;	/* worker */
	uint64_t	 res_size;	/* master: completion ring bytes, 2^n */
	alignas(64) _Atomic uint64_t res_head; /* worker: bytes published */
	alignas(64) _Atomic uint64_t res_tail; /* master: bytes consumed */
	_Atomic uint32_t res_waiting;	/* worker: 1 while waiting for room */
	_Atomic uint32_t res_wake;	/* futex: master bumps after consuming */
	struct ring_desc held[WSLOT_HELD_MAX]; /* worker: the items it holds,
					 * see "Group commit" */
};
/* The wslot's share of its area, in whole pages; the completion ring
 * follows it. */
#define WSLOT_BYTES	((sizeof(struct wslot) + SHM_PAGE - 1) & ~(size_t)(SHM_PAGE - 1))

/* Completion record kinds. */
#define COMP_ITEM	0x4d4f4349u	/* "ICOM" */

/* One completion record, keyed by (batch_id, item_idx); first_slot lets
 * the master find the item in O(1) and check the key. */
struct comp_rec {
	uint32_t	 len;		/* whole record, header included, 8-aligned */
	uint32_t	 kind;		/* COMP_ITEM */
	uint64_t	 batch_id;
	uint32_t	 item_idx;
	uint32_t	 first_slot;
	uint16_t	 status;
	uint16_t	 etag_len;
	uint32_t	 loc_len;
	uint32_t	 body_len;
	uint32_t	 flags;		/* COMP_F_* */
};
#define COMP_F_OOM	0x1		/* the worker will exit: memory ran out */
#define COMP_F_STORED	0x2		/* the answer is stored already: an item
					 * of an asynchronous batch whose
					 * result record the worker wrote in
					 * the transaction that ran it
					 * (async_item.h) */
#define COMP_F_SPLIT	0x4		/* not the answer: the query is to be
					 * split (see "Parallel scans") */

/*
 * An item as encoded in data slots: this header, then the fields'
 * bytes back to back in enum item_field order.  A field of length
 * ITEM_ABSENT is absent (route_str.p == NULL).
 */
enum item_field {
	IF_WS = 0, IF_TABLE, IF_KEY, IF_PREFIX, IF_AFTER, IF_QUERY,
	IF_TIMESPAN, IF_IF_MATCH, IF_IF_NONE_MATCH,
	IF_ASYNC_ID,		/* an async batch's item: its batch id, */
	IF_ITEM_ID,		/* its id and */
	IF_AGROUP,		/* atomicityGroup (async_item.h) */
	IF_BODY, IF__COUNT
};
#define ITEM_ABSENT	0xffffffffu

struct item_wire {
	uint32_t	 magic;		/* ITEM_MAGIC */
	uint32_t	 op;		/* enum route_op */
	uint32_t	 body_kind;	/* enum item_body */
	uint32_t	 prefer;	/* PREFER_STATS | PREFER_RENDER
					 * (prefer.h): what the request's
					 * Prefer header asked the worker */
	int64_t		 limit;
	uint32_t	 flen[IF__COUNT];
};
#define ITEM_MAGIC	0x4d455449u	/* "ITEM" */

/*
 * An atomicity group travels as one item of op OP_GROUP whose body field
 * holds its members in request order:
 *   uint32_t count; then count times { uint32_t item_idx; uint32_t len;
 *   len bytes: the member encoded as above }.
 * The worker answers with one completion record per member, each carrying
 * the member's item_idx and the group's first_slot.
 */

/*
 * Parallel scans (SPEC 5; README "Parallel scans").  A worker that takes an
 * OP_QUERY over more than query_parallel_rows rows may, instead of
 * answering it, publish a completion record flagged COMP_F_SPLIT (status
 * 200) whose body lists the parts to run:
 *   uint32_t SPLIT_MAGIC; uint32_t nparts (2..SPLIT_PARTS_MAX);
 *   then nparts times { uint32_t len; len bytes: a part descriptor }.
 * The master (master/split.c) runs each part as an item of op
 * OP_QUERY_PART whose body field is
 *   uint32_t dlen; dlen bytes: the descriptor; then, to the end, the
 *   query's own item as encoded (struct item_wire and its fields).
 * A part answers 200 with its partial result (struct split_partial, then
 * records), or any other status, which is then the query's answer (the
 * other parts are dropped).  When every part has answered 200, one item
 * of op OP_QUERY_MERGE runs, whose body field is
 *   uint32_t elen; elen bytes: the query's item; uint32_t nparts;
 *   then nparts times { uint32_t len; len bytes: part i's answer }
 * in part order (the master splices the answers' bytes, it reads none);
 * the merge's answer is the query's.  All integers are native-endian
 * (one machine), read with memcpy (nothing is aligned).
 */
#define SPLIT_MAGIC	0x544c5053u	/* "SPLT" */
#define SPLIT_PARTS_MAX	64

/* A part: the rows from (ws_lo, key lo) included to (ws_hi, key hi)
 * excluded, in scan order (the request's workspace first, then the body's
 * "workspaces", each table in key order).  lo_len 0: from the first row
 * of ws_lo; ws_hi == the number of workspaces: to the end. */
struct split_part {
	uint32_t	 magic;		/* SPLIT_MAGIC */
	uint32_t	 index;		/* 0..nparts-1 */
	uint32_t	 nparts;
	uint32_t	 ws_lo, ws_hi;
	uint32_t	 lo_len, hi_len;	/* stored key bytes (no table id) */
	uint32_t	 debug;		/* SPLIT_DEBUG_* (debug_ops only) */
	int64_t		 now_ms;	/* the query's now(): one for all */
	int64_t		 debug_ms;	/* SPLIT_DEBUG_SLEEP: how long */
};	/* then lo_len bytes, hi_len bytes */
#define SPLIT_DEBUG_CRASH	0x1	/* the part aborts (its worker dies) */
#define SPLIT_DEBUG_SLEEP	0x2	/* the part sleeps debug_ms first */

/* What a part found, at the head of its answer. */
struct split_partial {
	uint32_t	 magic;		/* SPLIT_MAGIC */
	uint32_t	 kind;		/* SPLIT_K_*: what the records are */
	uint32_t	 index;
	uint32_t	 nfields;	/* then nfields bytes: 1 if some row
					 * of the part has the plan's stored
					 * field k (unknown-column check) */
	int64_t		 now_ms;
	int64_t		 scanned;	/* rows read */
	uint64_t	 bytes;		/* stored bytes read */
	int64_t		 user_ticks, sys_ticks;	/* CPU, 100 ns */
	double		 exec_s;	/* wall time */
	uint64_t	 count;		/* records; SPLIT_K_COUNT: the count */
};
/*
 * Records follow the seen bytes.  A value is a tag byte, then: 'n' null;
 * 'b' one byte '0'/'1'; 'l' long, 'd' datetime, 't' timespan: int64; 'r'
 * double; 's' string, 'j' dynamic (compact JSON): uint32_t len + bytes
 * (the query engine's group-key encoding, qval_key, with reals exact).
 *   SPLIT_K_ROWS    a row: uint8_t has_src (1: uint32_t len + the stored
 *                   row's JSON), then the fixed columns' values
 *   SPLIT_K_GROUPS  first, once (not a record): per dcount or dcountif
 *                   aggregate, in aggregate order, the part's dictionary
 *                   of its values: uint32_t D + D values (uint32_t len +
 *                   key bytes each) in id order, ids 0..D-1.  Then the
 *                   records, a summarize group each: uint32_t klen + its
 *                   key bytes; the by values; per aggregate: uint8_t sum
 *                   kind (a tag as above, 'n' none), int64 count, int64
 *                   long sum, double real sum, the min/max value, and for
 *                   a dcount/dcountif only the group's value ids: uint8_t
 *                   form, uint32_t n (ids in the set), then 'm' a bitmap
 *                   of ceil(D / 8) bytes (bit id % 8 of byte id / 8; the
 *                   form when it is smaller than the list), 'h' n uint16_t
 *                   ids (D <= 65536), 'w' n uint32_t ids
 *   SPLIT_K_COUNT   none (count holds the count)
 *   SPLIT_K_TEXT    the answer's own rows when its columns are fixed (a
 *                   project, summarize...): first, after the seen bytes,
 *                   uint32_t per column, the bit mask of the value types
 *                   its rows had (1 << enum qtype); then per row uint32_t
 *                   len + the row as the answer writes it, "[v,...]" (the
 *                   merge copies it, never parses it)
 */
#define SPLIT_K_ROWS	1
#define SPLIT_K_GROUPS	2
#define SPLIT_K_COUNT	3
#define SPLIT_K_TEXT	4

#endif
