/*
 * pool.c - the worker table: fork, reap, respawn with back-off, recycle,
 * retire, kill on timeout, and drain completion rings.
 *
 * Every lifecycle decision reads and writes struct mworker.  A worker may
 * die at any instruction; what it held is found in shared memory (its
 * wslot and any ring cell still marked with its slot number, see shm.h)
 * and answered here, never retried: a query of death must not take down
 * every worker in turn.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "futex.h"
#include "master.h"
#include "worker.h"

#define POOL_QUICK_DEATH_NS	(1000ULL * 1000000ULL)	/* 1 s */
#define POOL_BACKOFF_MIN_MS	100
#define POOL_BACKOFF_MAX_MS	10000
#define POOL_HELD_MAX		8

static void	pool_spawn(struct master *, uint32_t);

static size_t
pool_ring_bytes(const struct master *m)
{
	return (size_t)m->cfg.max_result_bytes + CONFIG_ITEM_SLACK;
}

/* Has every wanted worker opened the store (left WS_STARTING)? */
int
pool_ready(const struct master *m)
{
	uint32_t	 i, want = (uint32_t)m->cfg.workers;

	if (m->nslots < want)
		return 0;
	for (i = 0; i < want; i++)
		if (m->workers[i].w_state != MW_RUNNING ||
		    atomic_load(&m->workers[i].w_slot->state) == WS_STARTING)
			return 0;
	return 1;
}

uint32_t
pool_live(const struct master *m)
{
	uint32_t i, n = 0;

	for (i = 0; i < m->nslots; i++)
		if (m->workers[i].w_state == MW_RUNNING)
			n++;
	return n;
}

static void
pool_respawn_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct mworker	*w = arg;
	struct master	*m;

	(void)fd;
	(void)ev;
	m = (struct master *)((char *)(w - w->w_slot->index) -
	    offsetof(struct master, workers));
	if (w->w_state == MW_BACKOFF && w->w_wanted && !m->draining)
		pool_spawn(m, w->w_slot->index);
}

static void
pool_spawn(struct master *m, uint32_t i)
{
	struct mworker		*w = &m->workers[i];
	struct worker_args	 a;
	struct wslot		*all[MASTER_MAX_WORKERS];
	uint32_t		 k;
	pid_t			 pid, master = getpid();

	if (w->w_slot == NULL &&
	    (w->w_slot = wslot_create(i, pool_ring_bytes(m))) == NULL) {
		log_error("worker %u: cannot map its slot area: %s", i,
		    strerror(errno));
		return;
	}
	if (i >= m->nslots)
		m->nslots = i + 1;
	wslot_reset(w->w_slot);
	w->w_kill = KILL_NONE;
	w->w_wanted = 1;
	for (k = 0; k < m->nslots; k++)
		all[k] = m->workers[k].w_slot;
	if ((pid = fork()) == -1) {
		log_error("worker %u: fork: %s", i, strerror(errno));
		w->w_state = MW_BACKOFF;
		return;
	}
	if (pid == 0) {
		a.ring = &m->ring;
		a.me = w->w_slot;
		a.all = all;
		a.nall = m->nslots;
		a.efd = m->efd;
		a.cfg = &m->cfg;
		/* Taken before fork: if the master dies first, the child's
		 * getppid() is no longer it, and the worker sees that. */
		a.master = master;
		worker_run(&a);
	}
	w->w_pid = pid;
	w->w_slot->pid = pid;
	w->w_state = MW_RUNNING;
	w->w_started_ns = mono_ns();
	log_debug("worker %u started, pid %ld", i, (long)pid);
}

int
pool_start(struct master *m)
{
	uint32_t i;

	for (i = 0; i < (uint32_t)m->cfg.workers; i++)
		pool_spawn(m, i);
	return pool_live(m) > 0 ? 0 : -1;
}

/* Read every completion record the worker in slot i published. */
static void
pool_drain_slot(struct master *m, uint32_t i)
{
	struct mworker		*w = &m->workers[i];
	struct wslot		*ws = w->w_slot;
	struct comp_rec		 rec;
	struct ring_desc	 d;
	struct sched_answer	 a;
	struct mitem		*it;
	char			 etag[ITEM_ETAG_MAX];
	char			 loc[8192];	/* a Location, if any */
	uint64_t		 pos;
	int			 r;

	if (ws == NULL)
		return;
	while ((r = wslot_peek(ws, &rec, &pos)) == 1) {
		memset(&d, 0, sizeof(d));
		d.batch_id = rec.batch_id;
		d.item_idx = rec.item_idx;
		d.first_slot = rec.first_slot;
		if ((it = sched_lookup(m, &d)) != NULL) {
			if (rec.flags & COMP_F_OOM) {
				snprintf(w->w_last_oom, sizeof(w->w_last_oom),
				    "batch %llu item %u (\"%.64s\")",
				    (unsigned long long)rec.batch_id,
				    rec.item_idx, it->mi_id ? it->mi_id : "");
				quarantine_note(m, it, ERR_OUT_OF_MEMORY);
			}
			memset(&a, 0, sizeof(a));
			a.status = rec.status >= 100 && rec.status <= 599 ?
			    rec.status : 500;
			a.etag_len = rec.etag_len < sizeof(etag) ?
			    rec.etag_len : 0;
			wslot_copy(ws, pos, etag, a.etag_len);
			a.etag = etag;
			if (rec.loc_len > 0 && rec.loc_len <= sizeof(loc)) {
				wslot_copy(ws, pos + rec.etag_len, loc,
				    rec.loc_len);
				a.loc = loc;
				a.loc_len = rec.loc_len;
			}
			a.src = ws;
			a.body_pos = pos + rec.etag_len + rec.loc_len;
			a.body_len = rec.body_len;
			a.stored = (rec.flags & COMP_F_STORED) != 0;
			m->answer_depth++;
			if ((rec.flags & COMP_F_SPLIT) && a.status == 200 &&
			    it->mi_state == MI_QUEUED)
				m->item_split(m, it, &a);
			else
				sched_answer(m, it, &a);
			m->answer_depth--;
		}
		wslot_consume(ws, &rec);
	}
	if (r == -1) {
		log_error("worker %u pid %ld wrote a corrupt completion "
		    "record; killing it", i, (long)w->w_pid);
		atomic_store(&ws->res_tail, atomic_load(&ws->res_head));
		if (w->w_state == MW_RUNNING) {
			w->w_kill = KILL_CORRUPT;
			kill(w->w_pid, SIGKILL);
		}
	}
}

/* Does a completion ring hold a record? */
int
pool_pending(const struct master *m)
{
	uint32_t i;

	for (i = 0; i < m->nslots; i++)
		if (m->workers[i].w_slot != NULL &&
		    wslot_pending(m->workers[i].w_slot) > 0)
			return 1;
	return 0;
}

/* The master is at work: workers need not wake it (server.c's loop
 * drains, and re-arms, before it sleeps). */
void
pool_busy(struct master *m)
{
	atomic_store(&m->ring.hdr->master_armed, 0);
}

/*
 * The eventfd fired (or we are about to sleep): consume every completion
 * ring, then ask to be woken for the next one and look once more, so a
 * completion published between the two is never missed.
 */
void
pool_drain(struct master *m)
{
	uint32_t	i;
	int		again;

	/* The eventfd is edge-triggered (server.c): nothing to read back. */
	m->burst_ns = mono_ns();	/* one clock read for the burst */
	do {
		atomic_store(&m->ring.hdr->master_armed, 0);
		for (i = 0; i < m->nslots; i++)
			pool_drain_slot(m, i);
		sched_settle(m);
		sched_pump(m);
		atomic_store(&m->ring.hdr->master_armed, 1);
		again = pool_pending(m);
	} while (again);
	m->burst_ns = 0;
}

static int
pool_desc_eq(const struct ring_desc *a, const struct ring_desc *b)
{
	return a->batch_id == b->batch_id && a->item_idx == b->item_idx &&
	    a->first_slot == b->first_slot;
}

/*
 * Answer or re-run whatever the dead worker in slot i held: the cells
 * still marked with its slot and its wslot's held[] (shm.h, "Group
 * commit").  While its group was open, only the item it was running is
 * answered as the crash; the others were never applied and run again.
 * Once it was committing, every unanswered item is answered as the crash:
 * it may have been applied, so it must not run twice.
 */
static void
pool_fail_held(struct master *m, uint32_t i, enum err_code code,
    const char *detail, char *held, size_t heldlen)
{
	struct wslot		*ws = m->workers[i].w_slot;
	struct ring_desc	 d[POOL_HELD_MAX];
	struct mitem		*it;
	char			 cdetail[192];
	size_t			 n, k, j, nh;
	uint32_t		 run, phase, owner = i + 1;
	int			 dup;

	n = ring_reclaim(&m->ring, i, d, POOL_HELD_MAX);
	nh = atomic_load(&ws->nheld);
	run = atomic_load(&ws->run_idx);
	phase = atomic_load(&ws->phase);
	if (nh > WSLOT_HELD_MAX)
		nh = WSLOT_HELD_MAX;
	/* A sync it owned is over: wake whoever waits for it. */
	if (atomic_compare_exchange_strong(&m->ring.hdr->sync_owner, &owner,
	    0)) {
		atomic_fetch_add(&m->ring.hdr->wake, 1);
		futex_wake(&m->ring.hdr->wake, INT32_MAX);
	}
	snprintf(cdetail, sizeof(cdetail), "%s while committing a write "
	    "group: the write may have been applied", detail);
	held[0] = '\0';
	for (k = 0; k < n + nh; k++) {
		const struct ring_desc *dk = k < n ? &d[k] : &ws->held[k - n];
		int blame = phase == WG_COMMIT || (k >= n && k - n == run);

		/* A cell is also in held[] if it died between the two. */
		for (j = 0, dup = 0; k < n && j < nh && !dup; j++)
			dup = pool_desc_eq(dk, &ws->held[j]);
		if (dup || (it = sched_lookup(m, dk)) == NULL ||
		    it->mi_state == MI_DONE)
			continue;
		m->answer_depth++;
		if (!blame)
			sched_requeue(m, it, dk, code, detail);
		else {
			snprintf(held, heldlen, "batch %llu item %u (\"%.64s\")",
			    (unsigned long long)dk->batch_id, dk->item_idx,
			    it->mi_id != NULL ? it->mi_id : "");
			sched_fail_entry(m, it, code, phase == WG_COMMIT ?
			    cdetail : detail);
		}
		m->answer_depth--;
	}
	wslot_release(ws);
}

/*
 * No worker is left alive (they all die at start-up and wait out their
 * back-off): nothing queued would be answered, so every item in the ring
 * or in the master's queues answers 503 now rather than hang.
 */
static void
pool_orphaned_work(struct master *m)
{
	struct ring_desc	 d[64];
	struct mitem		*it;
	size_t			 n, k;

	if (pool_live(m) > 0)
		return;
	m->answer_depth++;
	while ((n = ring_unpublish(&m->ring, d, 64)) > 0)
		for (k = 0; k < n; k++)
			if ((it = sched_lookup(m, &d[k])) != NULL)
				sched_fail_entry(m, it, ERR_SERVICE_UNAVAILABLE,
				    "no worker is running; retry shortly");
	while ((it = TAILQ_FIRST(&m->pending)) != NULL ||
	    (it = TAILQ_FIRST(&m->pending_async)) != NULL)
		sched_fail_entry(m, it, ERR_SERVICE_UNAVAILABLE,
		    "no worker is running; retry shortly");
	m->answer_depth--;
	sched_settle(m);
}

static void
pool_died(struct master *m, uint32_t i, int status)
{
	struct mworker		*w = &m->workers[i];
	enum restart_cause	 cause;
	enum err_code		 code = ERR_WORKER_CRASHED;
	char			 why[96], held[160], detail[128];
	const char		*label = "", *src;
	uint64_t		 now = mono_ns(), items;
	uint32_t		 ms;

	/* Did it die before it was ever ready for work? */
	int startup = atomic_load(&w->w_slot->state) == WS_STARTING;

	/* Results it published before dying are good answers. */
	pool_drain_slot(m, i);
	items = atomic_load(&w->w_slot->items_done);
	if (w->w_kill == KILL_TIMEOUT) {
		cause = RC_TIMEOUT;
		code = ERR_QUERY_TIMEOUT;
		/* The item's timeout: item_timeout_ms, or its Prefer: wait. */
		src = w->w_timeout_ms == (uint32_t)m->cfg.item_timeout_ms ?
		    "item_timeout_ms" : "Prefer: wait";
		snprintf(why, sizeof(why), "killed after %s (%u ms)", src,
		    w->w_timeout_ms);
		snprintf(detail, sizeof(detail), "still running after %s "
		    "(%u ms)", src, w->w_timeout_ms);
	} else if (WIFSIGNALED(status)) {
		cause = RC_CRASH;
		snprintf(why, sizeof(why), "killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
		snprintf(detail, sizeof(detail), "worker killed by signal %d "
		    "(%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	} else if (WEXITSTATUS(status) == WORKER_EXIT_OOM) {
		cause = RC_OOM;
		code = ERR_OUT_OF_MEMORY;
		snprintf(why, sizeof(why), "exited: memory ran out");
		snprintf(detail, sizeof(detail), "worker_memory_mb exhausted");
	} else if (WEXITSTATUS(status) == WORKER_EXIT_FATAL) {
		cause = RC_EXIT;
		snprintf(why, sizeof(why), "could not start (its reason is "
		    "logged above)");
		snprintf(detail, sizeof(detail), "worker could not start");
	} else if (WEXITSTATUS(status) == WORKER_EXIT_OK) {
		cause = RC_RECYCLE;
		snprintf(why, sizeof(why), "exited normally");
		snprintf(detail, sizeof(detail), "worker exited");
	} else {
		cause = RC_EXIT;
		snprintf(why, sizeof(why), "exited with code %d",
		    WEXITSTATUS(status));
		snprintf(detail, sizeof(detail), "worker exited with code %d",
		    WEXITSTATUS(status));
	}
	pool_fail_held(m, i, code, detail, held, sizeof(held));
	if (held[0] != '\0')
		label = ", holding ";
	else if (cause == RC_OOM && w->w_last_oom[0] != '\0') {
		snprintf(held, sizeof(held), "%s", w->w_last_oom);
		label = ", answered 507 for ";
	}
	w->w_last_oom[0] = '\0';
	if (cause != RC_RECYCLE || held[0] != '\0' || m->cfg.log_level >=
	    LOG_LEVEL_DEBUG)
		log_msg(cause == RC_RECYCLE ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
		    "worker %u pid %ld %s after %llu items%s%s", i,
		    (long)w->w_pid, why, (unsigned long long)items,
		    label, held);
	if (w->w_kill != KILL_SHUTDOWN && !(cause == RC_RECYCLE &&
	    !w->w_wanted))
		m->metrics.restarts[cause]++;
	w->w_pid = 0;
	w->w_state = MW_EMPTY;
	atomic_store(&w->w_slot->state, WS_EMPTY);
	sched_settle(m);

	if (m->draining || !w->w_wanted || i >= (uint32_t)m->cfg.workers) {
		pool_orphaned_work(m);
		return;
	}
	/* As nginx honours its workers' fatal exit: before the server was
	 * ever ready, a worker that cannot open the store will not open it
	 * on the next try either, so the server stops (server.c) instead of
	 * forking in a loop.  Once it has served, the store was good a
	 * moment ago: the failure may pass (a full disk, permissions being
	 * fixed), and the back-off below retries it. */
	if (!m->ready && WIFEXITED(status) &&
	    WEXITSTATUS(status) == WORKER_EXIT_FATAL) {
		m->start_failed = 1;
		pool_orphaned_work(m);
		return;
	}
	/* A worker that dies while starting (it never took an item) is
	 * respawned with exponential back-off, so a broken store cannot make
	 * us fork in a loop; an item that kills its worker does not count. */
	if (startup && now - w->w_started_ns < POOL_QUICK_DEATH_NS) {
		w->w_fails++;
		ms = POOL_BACKOFF_MIN_MS << (w->w_fails < 7 ? w->w_fails - 1 : 6);
		if (ms > POOL_BACKOFF_MAX_MS)
			ms = POOL_BACKOFF_MAX_MS;
		log_warn("worker %u died %u times in a row at start-up; "
		    "respawning in %u ms", i, w->w_fails, ms);
		if (w->w_respawn == NULL)
			w->w_respawn = evtimer_new(m->base, pool_respawn_cb, w);
		if (w->w_respawn != NULL) {
			struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

			w->w_state = MW_BACKOFF;
			evtimer_add(w->w_respawn, &tv);
			pool_orphaned_work(m);
			return;
		}
	} else
		w->w_fails = 0;
	pool_spawn(m, i);
}

/* The new master a SIGUSR2 started (server.c) is our child too: if it
 * exits, it never took over, and we serve on. */
static void
pool_upgrade_failed(struct master *m, int status)
{
	if (WIFSIGNALED(status))
		log_error("upgrade failed: the new master (pid %ld) was killed "
		    "by signal %d; still serving", (long)m->upgrade_pid,
		    WTERMSIG(status));
	else
		log_error("upgrade failed: the new master (pid %ld) exited with "
		    "code %d; still serving", (long)m->upgrade_pid,
		    WEXITSTATUS(status));
	m->upgrade_pid = 0;
}

void
pool_reap(struct master *m)
{
	pid_t		pid;
	int		status;
	uint32_t	i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < m->nslots; i++)
			if (m->workers[i].w_state == MW_RUNNING &&
			    m->workers[i].w_pid == pid)
				break;
		if (i < m->nslots)
			pool_died(m, i, status);
		else if (pid == m->upgrade_pid)
			pool_upgrade_failed(m, status);
	}
	sched_pump(m);
}

/*
 * The timeout of the item the worker holds: item_timeout_ms, or what its
 * Prefer: wait=N asked (capped by item_timeout_max_ms).  The descriptor is
 * read while the worker may replace it; sched_lookup() checks what it
 * names, and a torn read only picks the default for one tick.
 */
static long
pool_held_timeout_ms(struct master *m, struct wslot *ws, uint64_t *started)
{
	uint32_t		 run = atomic_load(&ws->run_idx);
	struct ring_desc	 d;
	struct mitem		*it;

	/* Between items, or committing a group: the default. */
	if (run >= WSLOT_HELD_MAX)
		return m->cfg.item_timeout_ms;
	d = ws->held[run];
	it = sched_lookup(m, &d);
	/* A split query's part or merge: the query's deadline. */
	if (it != NULL && it->mi_t_start != 0 && it->mi_t_start < *started)
		*started = it->mi_t_start;

	return it == NULL ? m->cfg.item_timeout_ms :
	    prefer_timeout_ms(&it->mi_prefer, m->cfg.item_timeout_ms,
	    m->cfg.item_timeout_max_ms);
}

/* Kill workers whose item ran past its timeout (the master's clock). */
void
pool_tick(struct master *m)
{
	struct mworker	*w;
	uint64_t	 now = mono_ns(), started;
	uint32_t	 i;
	long		 ms;

	for (i = 0; i < m->nslots; i++) {
		w = &m->workers[i];
		if (w->w_state != MW_RUNNING || w->w_kill != KILL_NONE ||
		    atomic_load(&w->w_slot->nheld) == 0)
			continue;
		started = atomic_load(&w->w_slot->started_ns);
		if (started == 0 || now <= started)
			continue;
		ms = pool_held_timeout_ms(m, w->w_slot, &started);
		if (now - started > (uint64_t)ms * 1000000ULL) {
			w->w_timeout_ms = (uint32_t)ms;
			w->w_kill = KILL_TIMEOUT;
			kill(w->w_pid, SIGKILL);
		}
	}
}

/* SIGUSR1: each worker reopens log_file between two items. */
void
pool_signal(struct master *m, int sig)
{
	uint32_t	 i;

	for (i = 0; i < m->nslots; i++)
		if (m->workers[i].w_state == MW_RUNNING)
			kill(m->workers[i].w_pid, sig);
}

/* SIGHUP changed `workers`: add slots, or retire the extra ones after
 * their current item (they check retire before claiming another). */
void
pool_resize(struct master *m)
{
	uint32_t	i, want = (uint32_t)m->cfg.workers;
	int		woke = 0;

	for (i = 0; i < want; i++) {
		m->workers[i].w_wanted = 1;
		if (m->workers[i].w_state == MW_EMPTY)
			pool_spawn(m, i);
	}
	for (i = want; i < m->nslots; i++) {
		m->workers[i].w_wanted = 0;
		if (m->workers[i].w_state == MW_BACKOFF) {
			evtimer_del(m->workers[i].w_respawn);
			m->workers[i].w_state = MW_EMPTY;
		}
		if (m->workers[i].w_state == MW_RUNNING) {
			atomic_store(&m->workers[i].w_slot->retire, 1);
			woke = 1;
		}
	}
	if (woke)
		ring_wake(&m->ring, INT32_MAX);
}

/* Shutdown, step 1: every worker finishes its item and exits; SIGCHLD
 * reaps them through the event loop. */
void
pool_shutdown(struct master *m)
{
	uint32_t i;

	for (i = 0; i < m->nslots; i++) {
		m->workers[i].w_wanted = 0;
		if (m->workers[i].w_state == MW_RUNNING)
			m->workers[i].w_kill = KILL_SHUTDOWN;
		if (m->workers[i].w_state == MW_BACKOFF) {
			evtimer_del(m->workers[i].w_respawn);
			m->workers[i].w_state = MW_EMPTY;
		}
	}
	atomic_store(&m->ring.hdr->shutdown, 1);
	ring_wake(&m->ring, INT32_MAX);
}

/* Shutdown, step 2: kill and reap any worker still there (only after the
 * shutdown deadline), and unmap every slot area. */
void
pool_stop(struct master *m)
{
	uint32_t i;

	for (i = 0; i < m->nslots; i++) {
		if (m->workers[i].w_state == MW_RUNNING) {
			kill(m->workers[i].w_pid, SIGKILL);
			waitpid(m->workers[i].w_pid, NULL, 0);
			m->workers[i].w_state = MW_EMPTY;
		}
		if (m->workers[i].w_respawn != NULL)
			event_free(m->workers[i].w_respawn);
		m->workers[i].w_respawn = NULL;
		wslot_destroy(m->workers[i].w_slot);
		m->workers[i].w_slot = NULL;
	}
}
