/*
 * worker.c - the worker process main loop.
 *
 * A worker claims one item at a time from the ring (the claim is recorded
 * in shared memory before anything else happens, see shm.h), executes it
 * against its own LMDB environment and appends the result to its
 * completion ring; write items it claims in a row are group-committed
 * (worker_flush) and answered once durable.  It wakes the master only if
 * the master asked for it (master_armed), so a burst of items costs one
 * wake-up.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "async.h"
#include "debug.h"
#include "futex.h"
#include "log.h"
#include "query/query.h"
#include "store.h"
#include "worker.h"

static pid_t			worker_master;
/* SIGUSR1 (the master passes on its own): reopen log_file between items. */
static volatile sig_atomic_t	worker_log_reopen;

static void
worker_on_usr1(int sig)
{
	(void)sig;
	worker_log_reopen = 1;
}

static int
worker_master_alive(void)
{
	return getppid() == worker_master;
}

/* Drop what the master's process image carries that a worker must not
 * use: its signal handlers, its sockets and event loop descriptors, and
 * the other workers' slot areas. */
static void
worker_detach(const struct worker_args *a)
{
	struct sigaction	 sa;
	size_t			 i;
	int			 sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT,
				    SIGQUIT, SIGUSR1, SIGUSR2 };

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = worker_on_usr1;
	sigaction(SIGUSR1, &sa, NULL);

	/* Die with the master: no orphans hold the store or the ring. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (!worker_master_alive())
		_exit(WORKER_EXIT_OK);

	if (a->efd > 3)
		close_range(3, (unsigned)a->efd - 1, 0);
	close_range((unsigned)a->efd + 1, ~0U, 0);
	if (a->efd < 3)
		close_range(3, ~0U, 0);

	for (i = 0; i < a->nall; i++)
		if (a->all[i] != NULL && a->all[i] != a->me)
			wslot_destroy(a->all[i]);
}

/* RLIMIT_AS = what is mapped now (ring, slot area, LMDB map) plus the
 * configured budget, so worker_memory_mb means heap the items may use. */
static void
worker_limit_memory(long mb)
{
#if defined(__SANITIZE_ADDRESS__)
	(void)mb;	/* ASan reserves terabytes of shadow: no RLIMIT_AS */
#else
	struct rlimit	 rl;
	unsigned long	 pages = 0;
	FILE		*f;

	if (mb <= 0 || (f = fopen("/proc/self/statm", "r")) == NULL)
		return;
	if (fscanf(f, "%lu", &pages) != 1)
		pages = 0;
	fclose(f);
	rl.rlim_cur = rl.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE)
	    + (rlim_t)mb * 1024 * 1024;
	setrlimit(RLIMIT_AS, &rl);
#endif
}

/* Execute one decoded operation into res.  -1 when memory ran out.  A
 * query taken from the ring (top) may be answered with parts to run in
 * parallel (COMP_F_SPLIT); one inside an atomicity group never is. */
static int
worker_exec_one(const struct worker_args *a, struct store *st,
    const struct item_req *rq, int top, struct item_res *res)
{
	struct query_limits ql;
	struct query_par_cfg pc;

	item_res_reset(res);
	switch (rq->op) {
	case OP_DEBUG_SLEEP:
	case OP_DEBUG_CRASH:
	case OP_DEBUG_ALLOC:
		return debug_exec(rq, res);
	case OP_ASYNC_SAVE:
	case OP_ASYNC_GET:
	case OP_ASYNC_PURGE:
		return async_exec(st, rq, res);
	case OP_QUERY:
	case OP_QUERY_PART:
	case OP_QUERY_MERGE:
		ql.max_rows_scanned = a->cfg->query_max_rows_scanned;
		ql.max_result_rows = a->cfg->query_max_result_rows;
		ql.max_result_bytes = (size_t)a->cfg->max_result_bytes;
		ql.max_workspaces = a->cfg->query_max_workspaces;
		pc.rows = a->cfg->query_parallel_rows;
		pc.parts = a->cfg->query_parallel_parts > 0 ?
		    a->cfg->query_parallel_parts : a->cfg->workers;
		pc.debug = a->cfg->debug_ops;
		return query_exec_par(st, rq, &ql, top ? &pc : NULL,
		    wall_ms(), res);
	default:
		return store_exec(st, rq, res);
	}
}

/* A result over max_result_bytes becomes an error. */
static void
worker_bound(const struct worker_args *a, struct item_res *res)
{
	size_t	max = (size_t)a->cfg->max_result_bytes;

	if (res->body.len > max) {
		char detail[128];

		snprintf(detail, sizeof(detail), "result of %zu bytes exceeds "
		    "max_result_bytes (%zu)", res->body.len, max);
		item_res_error(res, ERR_INTERNAL, detail);
	}
}

/* Hand one result to the master; a stored one (async) as its status. */
static void
worker_complete_idx(const struct worker_args *a, const struct ring_desc *d,
    uint32_t item_idx, struct item_res *res, int oom)
{
	struct comp_rec	 rec;

	worker_bound(a, res);
	memset(&rec, 0, sizeof(rec));
	rec.batch_id = d->batch_id;
	rec.item_idx = item_idx;
	rec.first_slot = d->first_slot;
	rec.status = (uint16_t)res->status;
	if (!res->stored) {
		rec.etag_len = (uint16_t)strlen(res->etag);
		rec.loc_len = (uint32_t)res->location.len;
		rec.body_len = (uint32_t)res->body.len;
	}
	rec.flags = (oom ? COMP_F_OOM : 0) | (res->stored ? COMP_F_STORED : 0) |
	    res->comp_flags;
	if (wslot_push(a->me, &rec, res->etag, res->location.data ?
	    res->location.data : "", res->body.data ? res->body.data : "",
	    a->efd, worker_master_alive) == -1)
		_exit(WORKER_EXIT_OK);
	atomic_fetch_add(&a->me->items_done, 1);
	if (atomic_exchange(&a->ring->hdr->master_armed, 0))
		eventfd_write(a->efd, 1);
}

/*
 * Group commit (SPEC 6, shm.h "Group commit").  Write items the worker
 * claims one after another are executed into one write group: one LMDB
 * write transaction, opened at the first write; a row write runs straight
 * in it, any other in a nested transaction of it (store_direct; a group a
 * direct write spoilt is redone, worker_group_redo).  Their answers wait here and are published only once the group
 * is committed and durable; a read, an empty ring or a full group ends it.
 */
struct wans {
	uint32_t	 held;		/* its entry in me->held[] */
	uint32_t	 idx;		/* the item_idx it answers */
	struct item_res	 res;
};

struct wgroup {
	struct wans	*ans;		/* answers, reused group after group */
	size_t		 nans, cap;
	uint32_t	 nitems;	/* held items executed into the group */
	size_t		 bytes;		/* their encoded bytes */
};

/* The next answer slot of the group, reset; NULL if memory ran out. */
static struct item_res *
worker_wans(struct wgroup *g, uint32_t held, uint32_t idx)
{
	struct wans	*n;

	if (g->nans == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;

		if ((n = realloc(g->ans, cap * sizeof(*n))) == NULL)
			return NULL;
		memset(n + g->cap, 0, (cap - g->cap) * sizeof(*n));
		g->ans = n;
		g->cap = cap;
	}
	n = &g->ans[g->nans++];
	n->held = held;
	n->idx = idx;
	item_res_reset(&n->res);
	return &n->res;
}

/* An item of an asynchronous batch: its answer is stored with it. */
static int
worker_async_item(const struct item_req *rq)
{
	return rq->async_id.n > 0;
}

/* Writes, debug items and every item of an async batch (its answer is a
 * write) join a write group; other reads end it (they must see only
 * committed data and must not wait for a sync). */
static int
worker_groupable(const struct item_req *rq)
{
	return route_op_writes(rq->op) || rq->op == OP_DEBUG_SLEEP ||
	    rq->op == OP_DEBUG_CRASH || rq->op == OP_DEBUG_ALLOC ||
	    worker_async_item(rq);
}

/* Items that must not hold the writer lock while they run: the writes
 * before them are committed first. */
static int
worker_runs_long(const struct item_req *rq)
{
	return rq->op == OP_DEBUG_SLEEP || rq->op == OP_QUERY;
}

/*
 * Commit the group, make it durable, then publish its answers (a failed
 * commit or sync turns every one into that error: nothing is acknowledged
 * that is not durable).  keep is the first held[] entry claimed but not
 * yet executed: it and those after it stay held (from held[0]); or
 * WSLOT_RUN_NONE.
 */
static void
worker_flush(const struct worker_args *a, struct store *st,
    struct wgroup *g, uint32_t keep)
{
	struct wslot	*me = a->me;
	struct err	 e;
	size_t		 i, n;

	atomic_store(&me->run_idx, WSLOT_RUN_NONE);
	atomic_store(&me->phase, WG_COMMIT);
	atomic_store(&me->started_ns, mono_ns());
	if (store_wgroup_open(st) && store_wgroup_commit(st, &e) == -1)
		for (i = 0; i < g->nans; i++)
			item_res_error(&g->ans[i].res, e.code, e.detail);
	for (i = 0; i < g->nans; i++)
		worker_complete_idx(a, &me->held[g->ans[i].held], g->ans[i].idx,
		    &g->ans[i].res, 0);
	g->nans = 0;
	g->nitems = 0;
	g->bytes = 0;
	store_direct(st, 1);
	if (keep == WSLOT_RUN_NONE) {
		wslot_release(me);
		return;
	}
	/* held[keep..nheld) were never applied: they stay, from held[0]. */
	n = atomic_load(&me->nheld) - keep;
	for (i = 0; i < n; i++)
		me->held[i] = me->held[keep + i];
	atomic_store(&me->run_idx, 0);
	atomic_store(&me->nheld, (uint32_t)n);
	atomic_store(&me->phase, WG_OPEN);
	atomic_store(&me->started_ns, mono_ns());
}

/*
 * Memory ran out in item k: the group is dropped unwritten, k's answers
 * (507) are published and the worker exits.  The master runs the other
 * held items again (none was applied) - see pool_fail_held().
 */
static void __attribute__((noreturn))
worker_oom(const struct worker_args *a, struct store *st, struct wgroup *g,
    size_t from)
{
	size_t	i;

	store_wgroup_abort(st);
	for (i = from; i < g->nans; i++) {
		g->ans[i].res.stored = 0;	/* its record went too */
		worker_complete_idx(a, &a->me->held[g->ans[i].held],
		    g->ans[i].idx, &g->ans[i].res, 1);
	}
	_exit(WORKER_EXIT_OOM);
}

struct group_member {
	uint32_t	 idx;
	struct item_req	 rq;
	struct item_res	*res;
};

/*
 * Store operations need the write group's transaction.  Opening it waits
 * for LMDB's writer lock, which another worker's group may hold: that wait
 * is not this item's running time, so item_timeout_ms does not count it
 * (started_ns 0 is "not running" to pool_tick).
 */
static int
worker_wgroup_open(const struct worker_args *a, struct store *st,
    struct err *e)
{
	int	rc;

	if (store_wgroup_open(st))
		return 0;
	atomic_store(&a->me->started_ns, 0);
	rc = store_wgroup_begin(st, e);
	atomic_store(&a->me->started_ns, mono_ns());
	return rc;
}

static int
worker_wgroup_need(const struct worker_args *a, struct store *st,
    const struct item_req *rq, struct err *e)
{
	if (rq->op == OP_DEBUG_SLEEP || rq->op == OP_DEBUG_CRASH ||
	    rq->op == OP_DEBUG_ALLOC)
		return 0;
	return worker_wgroup_open(a, st, e);
}

/*
 * An item of an async batch, into the write group: a write runs in a
 * nested transaction that also stores its answer (both or neither); any
 * other item runs first (inside the write group's transaction when one
 * is open) and its answer is stored after, in a nested transaction.  An
 * answer that cannot be stored is handed to the master unstored (it
 * tries again) - and a write whose answer cannot be stored is undone.
 * -1 when memory ran out.
 */
static int
worker_exec_async(const struct worker_args *a, struct store *st,
    const struct item_req *rq, uint32_t idx, struct item_res *r)
{
	struct err	 e;
	int		 writes = route_op_writes(rq->op);

	if (writes && (worker_wgroup_open(a, st, &e) == -1 ||
	    store_group_begin(st, &e) == -1))
		return item_res_error(r, e.code, e.detail);
	/* Never split: its answer is stored here, with the item. */
	if (worker_exec_one(a, st, rq, 0, r) == -1 && r->status == 507)
		return -1;
	worker_bound(a, r);
	if (!writes && (worker_wgroup_open(a, st, &e) == -1 ||
	    store_group_begin(st, &e) == -1))
		return 0;
	if (async_record(st, rq, idx, r, &e) == -1) {
		store_group_end(st, 0, &e);
		if (writes)
			item_res_error(r, e.code, e.detail);
		return 0;
	}
	if (store_group_end(st, 1, &e) == -1) {
		if (writes)
			item_res_error(r, e.code, e.detail);
		return 0;
	}
	r->stored = 1;
	return 0;
}

/*
 * Store the answers of an async batch's atomicity group in the open
 * nested transaction (none for a group of another batch); each is marked
 * stored, for the caller to unmark if that transaction is dropped.
 */
static int
worker_group_record(const struct worker_args *a, struct store *st,
    struct group_member *gm, uint32_t n, struct err *e)
{
	uint32_t	i;

	for (i = 0; i < n; i++) {
		if (!worker_async_item(&gm[i].rq))
			continue;
		worker_bound(a, gm[i].res);
		if (async_record(st, &gm[i].rq, gm[i].idx, gm[i].res,
		    e) == -1) {
			while (i-- > 0)
				gm[i].res->stored = 0;
			return -1;
		}
		gm[i].res->stored = 1;
	}
	return 0;
}

/*
 * An atomicity group, held[k]: every member in request order inside one
 * nested transaction of the write group.  The first member that fails
 * rolls the atomicity group back and answers its own error; every other
 * member answers 424.  Its answers join the write group's.  Returns -1
 * when memory ran out.
 */
static int
worker_exec_group(const struct worker_args *a, struct store *st,
    struct wgroup *g, uint32_t k, const struct item_req *grq)
{
	struct group_member	*gm = NULL;
	struct item_res		*r;
	struct err		 e;
	const char		*p = grq->body;
	size_t			 left = grq->body_len;
	uint32_t		 n = 0, len, i;
	int64_t			 failed = -1;
	int			 oom = 0, rc;

	if (left >= 4) {
		memcpy(&n, p, 4);
		p += 4;
		left -= 4;
	}
	if (n == 0 || n > left / 8 || (gm = calloc(n, sizeof(*gm))) == NULL)
		goto bad;
	for (i = 0; i < n; i++) {
		if (left < 8)
			goto bad;
		memcpy(&gm[i].idx, p, 4);
		memcpy(&len, p + 4, 4);
		p += 8;
		left -= 8;
		if (len > left || item_decode(p, len, &gm[i].rq) == -1 ||
		    gm[i].rq.op == OP_GROUP)
			goto bad;
		p += len;
		left -= len;
	}
	for (i = 0; i < n; i++)
		if ((gm[i].res = worker_wans(g, k, gm[i].idx)) == NULL) {
			free(gm);
			return -1;
		}
	/* worker_wans() may have moved the array: point into it again. */
	for (i = 0; i < n; i++)
		gm[i].res = &g->ans[g->nans - n + i].res;
	if (worker_wgroup_need(a, st, grq, &e) == -1 ||
	    store_group_begin(st, &e) == -1) {
		for (i = 0; i < n; i++)
			item_res_error(gm[i].res, e.code, e.detail);
		goto done;
	}
	for (i = 0; i < n; i++) {
		rc = worker_exec_one(a, st, &gm[i].rq, 0, gm[i].res);
		if (rc == -1 && gm[i].res->status == 507)
			oom = 1;
		if (gm[i].res->status >= 400) {
			failed = i;
			break;
		}
	}
	/* An async batch's group: the answers are stored with the effects. */
	if (failed < 0 && worker_group_record(a, st, gm, n, &e) == -1) {
		store_group_end(st, 0, &e);
		for (i = 0; i < n; i++)
			item_res_error(gm[i].res, e.code, e.detail);
	} else if (failed < 0 && store_group_end(st, 1, &e) == -1) {
		for (i = 0; i < n; i++)
			item_res_error(gm[i].res, e.code, e.detail);
	} else if (failed >= 0) {
		char detail[160];

		store_group_end(st, 0, &e);
		snprintf(detail, sizeof(detail), "atomicity group rolled back: "
		    "requests[%u] answered %d", gm[failed].idx,
		    gm[failed].res->status);
		for (i = 0; i < n; i++)
			if ((int64_t)i != failed)
				item_res_error(gm[i].res, ERR_FAILED_DEPENDENCY,
				    detail);
		/* Nothing of it is applied; its answers are still stored. */
		if (store_group_begin(st, &e) == 0) {
			rc = worker_group_record(a, st, gm, n, &e);
			if (store_group_end(st, rc == 0, &e) == -1 || rc == -1)
				for (i = 0; i < n; i++)
					gm[i].res->stored = 0;
		}
	}
done:
	free(gm);
	return oom ? -1 : 0;
bad:
	free(gm);
	if ((r = worker_wans(g, k, a->me->held[k].item_idx)) == NULL)
		return -1;
	item_res_error(r, ERR_INTERNAL, "malformed atomicity group");
	return 0;
}

/* Execute held[k] (decoded into rq) into the write group. */
static int
worker_group_exec(const struct worker_args *a, struct store *st,
    struct wgroup *g, uint32_t k, const struct item_req *rq)
{
	struct item_res	*r;
	struct err	 e;

	if (rq->op == OP_GROUP)
		return worker_exec_group(a, st, g, k, rq);
	if ((r = worker_wans(g, k, a->me->held[k].item_idx)) == NULL)
		return -1;
	if (worker_async_item(rq))
		return worker_exec_async(a, st, rq, a->me->held[k].item_idx, r);
	if (worker_wgroup_need(a, st, rq, &e) == -1)
		return item_res_error(r, e.code, e.detail);
	return worker_exec_one(a, st, rq, 0, r) == -1 && r->status == 507 ?
	    -1 : 0;
}

/*
 * Add held[k] to the write group.  An item that failed for lack of room
 * while other items filled the group is run again alone, in a group of
 * its own, after the others are committed.
 */
static void worker_group_redo(const struct worker_args *, struct store *,
    struct wgroup *, uint32_t, struct buf *);

static void
worker_group_add(const struct worker_args *a, struct store *st,
    struct wgroup *g, uint32_t k, const struct item_req *rq,
    struct buf *scratch)
{
	size_t	from = g->nans;

	if (worker_group_exec(a, st, g, k, rq) == -1)
		worker_oom(a, st, g, from);
	if (store_poisoned(st)) {
		worker_group_redo(a, st, g, k, scratch);
		return;
	}
	if (store_overflowed(st) && g->nitems > 0) {
		g->nans = from;
		worker_flush(a, st, g, k);
		k = 0;
		if (worker_group_exec(a, st, g, k, rq) == -1)
			worker_oom(a, st, g, 0);
	}
	g->nitems++;
	g->bytes += a->me->held[k].len;
	atomic_store(&a->me->run_idx, WSLOT_RUN_NONE);
}

/*
 * A write that ran straight in the group's transaction failed after
 * changing it (the store ran out of room, or of memory: store_direct):
 * the group is dropped and held[0..k] run again in claim order, each in
 * its own nested transaction, as if they had just been claimed.  Nothing
 * was committed or answered, so nothing is applied twice; ETags come out
 * in the same order.  A write that fails again for lack of room is run
 * alone, as worker_group_add() does.
 */
static void
worker_group_redo(const struct worker_args *a, struct store *st,
    struct wgroup *g, uint32_t k, struct buf *scratch)
{
	struct wslot	*me = a->me;
	struct item_req	 rq;
	struct item_res	*r;
	const char	*p;
	size_t		 from;
	uint32_t	 j, n = k + 1;

	store_wgroup_abort(st);
	store_direct(st, 0);
	g->nans = 0;
	g->nitems = 0;
	g->bytes = 0;
	for (j = 0; j < n; j++) {
		atomic_store(&me->run_idx, j);
		from = g->nans;
		if ((p = ring_data_read(a->ring, &me->held[j], scratch)) ==
		    NULL || item_decode(p, me->held[j].len, &rq) == -1) {
			if ((r = worker_wans(g, j, me->held[j].item_idx)) ==
			    NULL)
				worker_oom(a, st, g, from);
			item_res_error(r, ERR_INTERNAL,
			    "item could not be read from the ring");
		} else if (worker_group_exec(a, st, g, j, &rq) == -1)
			worker_oom(a, st, g, from);
		if (store_overflowed(st) && g->nitems > 0) {
			/* Commit those before it; it starts a group alone. */
			g->nans = from;
			worker_flush(a, st, g, j);
			n -= j;
			j = (uint32_t)-1;
			store_direct(st, 0);
			continue;
		}
		g->nitems++;
		g->bytes += me->held[j].len;
	}
	atomic_store(&me->run_idx, WSLOT_RUN_NONE);
}

/*
 * The group is ready to commit but another worker is syncing: sleep until
 * that sync ends or new items arrive, whichever comes first - both bump
 * ring_hdr.wake (shm.h, "Shared sync") - so the group keeps growing while
 * it waits instead of paying for a sync of its own right after.
 */
static void
worker_wait_sync(const struct worker_args *a, struct store *st)
{
	struct ring_hdr	*h = a->ring->hdr;
	uint32_t	 seen = atomic_load(&h->wake);

	atomic_fetch_add(&h->sleepers, 1);
	if (store_sync_busy(st) && !ring_spin(a->ring, 0))
		futex_wait(&h->wake, seen, 10);
	atomic_fetch_sub(&h->sleepers, 1);
}

void
worker_run(const struct worker_args *a)
{
	struct store_opts	 so;
	struct store		*st = NULL;
	struct ring_desc	 d;
	struct item_req		 rq;
	struct item_res		 res;
	struct wgroup		 g;
	struct buf		 scratch = BUF_INIT;
	const char		*p;
	struct ring_hdr		*h = a->ring->hdr;
	struct wslot		*me = a->me;
	char			 err[256];
	long			 max_items = a->cfg->worker_max_items;
	uint64_t		 done = 0;
	uint64_t		 spin_ns = (uint64_t)a->cfg->worker_spin_us * 1000;
	uint32_t		 gmax = (uint32_t)a->cfg->write_group_max_items;
	size_t			 gbytes = (size_t)a->cfg->write_group_max_bytes;
	uint32_t		 k;
	int			 oom, ok;

	worker_master = a->master;
	worker_detach(a);
	ring_worker_init(a->ring);

	memset(&so, 0, sizeof(so));
	so.path = a->cfg->db_path;
	so.map_size_mb = (size_t)a->cfg->db_map_size_mb;
	so.sync = a->cfg->db_sync;
	so.max_result_bytes = (size_t)a->cfg->max_result_bytes;
	so.shared.durable = &h->durable_txnid;
	so.shared.owner = &h->sync_owner;
	so.shared.seq = &h->wake;
	so.shared.self = me->index + 1;
	if (store_open(&st, &so, err, sizeof(err)) == -1) {
		log_error("worker %u: %s", me->index, err);
		_exit(WORKER_EXIT_FATAL);
	}
	/*
	 * Every nested transaction (atomicity groups, redone write groups,
	 * writes other than row writes) has LMDB allocate
	 * its dirty-page lists, 3 MiB, and free them at commit.  With glibc's
	 * defaults those come from mmap, or from heap it trims at once:
	 * fresh pages, page faults, every item.  Kept in the heap instead,
	 * the same pages serve item after item.
	 */
	mallopt(M_MMAP_THRESHOLD, 8 << 20);
	mallopt(M_TRIM_THRESHOLD, 16 << 20);
	worker_limit_memory(a->cfg->worker_memory_mb);
	memset(&res, 0, sizeof(res));
	memset(&g, 0, sizeof(g));
	atomic_store(&me->state, WS_IDLE);
	/* The master counts workers that opened the store before it says it
	 * is ready (sd_notify): tell it at once, armed or not. */
	eventfd_write(a->efd, 1);

	for (;;) {
		if (atomic_load(&h->shutdown) || atomic_load(&me->retire) ||
		    (max_items > 0 && done >= (uint64_t)max_items)) {
			if (g.nitems > 0)
				worker_flush(a, st, &g, WSLOT_RUN_NONE);
			break;
		}
		if (worker_log_reopen) {
			worker_log_reopen = 0;
			if (log_reopen(err, sizeof(err)) == -1)
				log_error("worker %u: %s", me->index, err);
			else
				log_info("worker %u: reopened %s", me->index,
				    log_path());
		}
		if (g.nitems > 0 && (g.nitems >= gmax || g.bytes >= gbytes)) {
			worker_flush(a, st, &g, WSLOT_RUN_NONE);
			continue;
		}
		if (!ring_claim(a->ring, me, me->index, &d)) {
			/*
			 * A moment's watch lets a burst join the group; while
			 * another worker syncs, this group keeps taking what
			 * arrives, and commits once that sync is over: one
			 * sync then covers all of it.
			 */
			if (g.nitems > 0) {
				if (spin_ns > 0 && ring_spin(a->ring, spin_ns))
					continue;
				if (store_sync_busy(st)) {
					worker_wait_sync(a, st);
					continue;
				}
				worker_flush(a, st, &g, WSLOT_RUN_NONE);
				continue;
			}
			atomic_store(&me->state, WS_IDLE);
			if (spin_ns > 0 && ring_spin(a->ring, spin_ns))
				continue;
			store_idle(st);
			ring_sleep(a->ring, 1000);
			if (!worker_master_alive())
				_exit(WORKER_EXIT_OK);
			continue;
		}
		k = atomic_load(&me->nheld) - 1;
		atomic_store(&me->run_idx, k);
		atomic_store(&me->started_ns, mono_ns());
		atomic_store(&me->state, WS_BUSY);
		done++;
		ok = (p = ring_data_read(a->ring, &d, &scratch)) != NULL &&
		    item_decode(p, d.len, &rq) == 0;
		if (ok && worker_groupable(&rq)) {
			/* Too big to join: it starts a group of its own.  A
			 * sleep must not hold the writer lock for its length:
			 * the writes before it are committed first. */
			if (g.nitems > 0 && (g.bytes + d.len > gbytes ||
			    (worker_runs_long(&rq) && store_wgroup_open(st)))) {
				worker_flush(a, st, &g, k);
				k = 0;
			}
			worker_group_add(a, st, &g, k, &rq, &scratch);
			continue;
		}
		if (g.nitems > 0) {
			worker_flush(a, st, &g, k);
			k = 0;
		}
		if (!ok) {
			item_res_error(&res, ERR_INTERNAL,
			    "item could not be read from the ring");
			oom = 0;
		} else
			oom = worker_exec_one(a, st, &rq, 1, &res) == -1 &&
			    res.status == 507;
		worker_complete_idx(a, &d, d.item_idx, &res, oom);
		wslot_release(me);
		if (oom)
			_exit(WORKER_EXIT_OOM);
	}
	atomic_store(&me->state, WS_EXITING);
	store_close(st);
	item_res_free(&res);
	for (k = 0; k < g.cap; k++)
		item_res_free(&g.ans[k].res);
	free(g.ans);
	buf_free(&scratch);
	_exit(WORKER_EXIT_OK);
}
