/*
 * worker.c - the worker process main loop.
 *
 * A worker claims one item at a time from the ring (the claim is recorded
 * in shared memory before anything else happens, see shm.h), executes it
 * against its own LMDB environment and appends the result to its
 * completion ring.  It wakes the master only if the master asked for it
 * (master_armed), so a burst of items costs one wake-up.
 */
#include <errno.h>
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
#include "query.h"
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

/* Execute one decoded operation into res.  -1 when memory ran out. */
static int
worker_exec_one(const struct worker_args *a, struct store *st,
    const struct item_req *rq, struct item_res *res)
{
	struct query_limits ql;

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
		ql.max_rows_scanned = a->cfg->query_max_rows_scanned;
		ql.max_result_rows = a->cfg->query_max_result_rows;
		ql.max_result_bytes = (size_t)a->cfg->max_result_bytes;
		return query_exec(st, rq, &ql, wall_ms(), res);
	default:
		return store_exec(st, rq, res);
	}
}

/* Hand one result to the master. */
static void
worker_complete_idx(const struct worker_args *a, const struct ring_desc *d,
    uint32_t item_idx, struct item_res *res, int oom)
{
	struct comp_rec	 rec;
	size_t		 max = (size_t)a->cfg->max_result_bytes;

	if (res->body.len > max) {
		char detail[128];

		snprintf(detail, sizeof(detail), "result of %zu bytes exceeds "
		    "max_result_bytes (%zu)", res->body.len, max);
		item_res_error(res, ERR_INTERNAL, detail);
	}
	memset(&rec, 0, sizeof(rec));
	rec.batch_id = d->batch_id;
	rec.item_idx = item_idx;
	rec.first_slot = d->first_slot;
	rec.status = (uint16_t)res->status;
	rec.etag_len = (uint16_t)strlen(res->etag);
	rec.loc_len = (uint32_t)res->location.len;
	rec.body_len = (uint32_t)res->body.len;
	rec.flags = oom ? COMP_F_OOM : 0;
	if (wslot_push(a->me, &rec, res->etag, res->location.data ?
	    res->location.data : "", res->body.data ? res->body.data : "",
	    a->efd, worker_master_alive) == -1)
		_exit(WORKER_EXIT_OK);
	atomic_fetch_add(&a->me->items_done, 1);
	if (atomic_exchange(&a->ring->hdr->master_armed, 0))
		eventfd_write(a->efd, 1);
}

/* Published: only now does the item stop being ours. */
static void
worker_release(const struct worker_args *a)
{
	atomic_store(&a->me->held_pos, 0);
}

static int	worker_exec_one(const struct worker_args *, struct store *,
		    const struct item_req *, struct item_res *);

struct group_member {
	uint32_t	 idx;
	struct item_req	 rq;
	struct item_res	 res;
};

/*
 * An atomicity group: every member in request order inside one write
 * transaction.  The first member that fails rolls the group back and
 * answers its own error; every other member answers 424.  A worker killed
 * anywhere in here commits nothing.
 */
static int
worker_exec_group(const struct worker_args *a, struct store *st,
    const struct ring_desc *d, const struct item_req *grq)
{
	struct group_member	*g = NULL;
	struct err		 e;
	const char		*p = grq->body;
	size_t			 left = grq->body_len, k;
	uint32_t		 n = 0, len, i;
	int64_t			 failed = -1;
	int			 oom = 0, rc;

	if (left >= 4) {
		memcpy(&n, p, 4);
		p += 4;
		left -= 4;
	}
	if (n == 0 || n > left / 8 || (g = calloc(n, sizeof(*g))) == NULL)
		goto bad;
	for (i = 0; i < n; i++) {
		if (left < 8)
			goto bad;
		memcpy(&g[i].idx, p, 4);
		memcpy(&len, p + 4, 4);
		p += 8;
		left -= 8;
		if (len > left || item_decode(p, len, &g[i].rq) == -1 ||
		    g[i].rq.op == OP_GROUP)
			goto bad;
		p += len;
		left -= len;
	}
	if (store_group_begin(st, &e) == -1) {
		for (i = 0; i < n; i++)
			item_res_error(&g[i].res, e.code, e.detail);
		goto answer;
	}
	for (i = 0; i < n; i++) {
		rc = worker_exec_one(a, st, &g[i].rq, &g[i].res);
		if (rc == -1 && g[i].res.status == 507)
			oom = 1;
		if (g[i].res.status >= 400) {
			failed = i;
			break;
		}
	}
	if (failed < 0 && store_group_end(st, 1, &e) == -1) {
		for (i = 0; i < n; i++)
			item_res_error(&g[i].res, e.code, e.detail);
	} else if (failed >= 0) {
		char detail[160];

		store_group_end(st, 0, &e);
		snprintf(detail, sizeof(detail), "atomicity group rolled back: "
		    "requests[%u] answered %d", g[failed].idx,
		    g[failed].res.status);
		for (i = 0; i < n; i++)
			if ((int64_t)i != failed)
				item_res_error(&g[i].res, ERR_FAILED_DEPENDENCY,
				    detail);
	}
answer:
	for (i = 0; i < n; i++)
		worker_complete_idx(a, d, g[i].idx, &g[i].res, oom);
	worker_release(a);
	for (k = 0; k < n; k++)
		item_res_free(&g[k].res);
	free(g);
	return oom ? -1 : 0;
bad:
	free(g);
	{
		struct item_res r;

		memset(&r, 0, sizeof(r));
		item_res_error(&r, ERR_INTERNAL, "malformed atomicity group");
		worker_complete_idx(a, d, d->item_idx, &r, 0);
		worker_release(a);
		item_res_free(&r);
	}
	return 0;
}

void
worker_run(const struct worker_args *a)
{
	struct store_opts	 so;
	struct store		*st = NULL;
	struct ring_desc	 d;
	struct item_req		 rq;
	struct item_res		 res;
	struct buf		 scratch = BUF_INIT;
	const char		*p;
	struct ring_hdr		*h = a->ring->hdr;
	char			 err[256];
	long			 max_items = a->cfg->worker_max_items;
	uint64_t		 done = 0;
	uint64_t		 spin_ns = (uint64_t)a->cfg->worker_spin_us * 1000;
	int			 oom;

	worker_master = a->master;
	worker_detach(a);
	ring_worker_init(a->ring);

	memset(&so, 0, sizeof(so));
	so.path = a->cfg->db_path;
	so.map_size_mb = (size_t)a->cfg->db_map_size_mb;
	so.sync = a->cfg->db_sync;
	so.max_result_bytes = (size_t)a->cfg->max_result_bytes;
	if (store_open(&st, &so, err, sizeof(err)) == -1) {
		log_error("worker %u: %s", a->me->index, err);
		_exit(WORKER_EXIT_FATAL);
	}
	worker_limit_memory(a->cfg->worker_memory_mb);
	memset(&res, 0, sizeof(res));
	atomic_store(&a->me->state, WS_IDLE);
	/* The master counts workers that opened the store before it says it
	 * is ready (sd_notify): tell it at once, armed or not. */
	eventfd_write(a->efd, 1);

	for (;;) {
		if (atomic_load(&h->shutdown) || atomic_load(&a->me->retire))
			break;
		if (worker_log_reopen) {
			worker_log_reopen = 0;
			if (log_reopen(err, sizeof(err)) == -1)
				log_error("worker %u: %s", a->me->index, err);
			else
				log_info("worker %u: reopened %s", a->me->index,
				    log_path());
		}
		if (!ring_claim(a->ring, a->me, a->me->index, &d)) {
			atomic_store(&a->me->state, WS_IDLE);
			if (spin_ns > 0 && ring_spin(a->ring, spin_ns))
				continue;
			store_idle(st);
			ring_sleep(a->ring, 1000);
			if (!worker_master_alive())
				_exit(WORKER_EXIT_OK);
			continue;
		}
		atomic_store(&a->me->state, WS_BUSY);
		if ((p = ring_data_read(a->ring, &d, &scratch)) == NULL ||
		    item_decode(p, d.len, &rq) == -1) {
			item_res_error(&res, ERR_INTERNAL,
			    "item could not be read from the ring");
			oom = 0;
		} else if (rq.op == OP_GROUP) {
			if (worker_exec_group(a, st, &d, &rq) == -1)
				_exit(WORKER_EXIT_OOM);
			goto next;
		} else
			oom = worker_exec_one(a, st, &rq, &res) == -1 &&
			    res.status == 507;
		worker_complete_idx(a, &d, d.item_idx, &res, oom);
		worker_release(a);
		if (oom)
			_exit(WORKER_EXIT_OOM);
next:
		if (max_items > 0 && ++done >= (uint64_t)max_items)
			break;
	}
	atomic_store(&a->me->state, WS_EXITING);
	store_close(st);
	item_res_free(&res);
	buf_free(&scratch);
	_exit(WORKER_EXIT_OK);
}
