/*
 * server.c - the master's event loop: set-up, signals (as libevent
 * events: the handlers only write to libevent's self-pipe), reload,
 * graceful shutdown, tear-down.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sched.h>
#include <pwd.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include <openssl/ssl.h>

#include "futex.h"
#include "master.h"

#define SERVER_NSIGS	7
/* SIGQUIT (the new master is ready): how long the old one still answers
 * requests on connections it accepted before it drains. */
#define SERVER_HANDOVER_MS	1000

static void
server_check_shutdown(struct master *m)
{
	if (!m->draining || m->nbatches > 0)
		return;
	if (!m->stopping) {
		m->stopping = 1;
		log_info("in-flight batches done; stopping workers");
		pool_shutdown(m);
	}
	if (pool_live(m) == 0)
		event_base_loopexit(m->base, NULL);
}

static void
server_begin_shutdown(struct master *m, const char *why)
{
	if (m->draining)
		return;
	notify_stopping();
	log_info("%s: no new requests; finishing %llu in-flight batches",
	    why, (unsigned long long)m->nbatches);
	m->draining = 1;
	async_cancel_all(m);
	m->drain_deadline = mono_ns() +
	    (uint64_t)m->cfg.item_timeout_ms * 1000000ULL + 2000000000ULL;
	conn_stop_accepting(m);
	server_check_shutdown(m);
}

/*
 * Start-up ends when every worker has opened the store (each writes the
 * eventfd once it has): only then is the server ready, for the log and
 * for systemd.  A worker that could not open it ends start-up too.
 */
static void
server_check_start(struct master *m)
{
	if (m->ready || m->draining)
		return;
	if (m->start_failed) {
		log_error("stopping: a worker could not open the store at "
		    "start-up (db_path %s; its reason is logged above)",
		    m->cfg.db_path);
		m->exit_code = SERVER_EXIT_FATAL;
		server_begin_shutdown(m, "start-up failed");
		return;
	}
	if (!pool_ready(m))
		return;
	m->ready = 1;
	log_notice("listening on %s (workers=%ld)", m->bound_name,
	    m->cfg.workers);
	notify_ready(m);
	if (m->upgrade_from > 0) {
		log_notice("upgrade: told the old master (pid %ld) to hand over",
		    (long)m->upgrade_from);
		kill(m->upgrade_from, SIGQUIT);
		m->upgrade_from = 0;
	}
	if (notify_watchdog_start(m) == -1) {
		m->exit_code = 1;
		server_begin_shutdown(m, "start-up failed");
	}
}

/* Answer what the workers completed. */
static void
server_drain(struct master *m)
{
	/* A burst of completions answers many requests: their access lines
	 * go out in one write(2). */
	log_hold();
	pool_drain(m);
	server_check_start(m);
	server_check_shutdown(m);
	log_release();
}

static void
server_on_efd(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	server_drain(arg);
}

/*
 * Nothing to do but answers in flight: for up to ns, poll the completion
 * rings (memory) and the sockets (epoll_wait with no timeout, running
 * what is ready), yielding the CPU between looks, before sleeping.  On a
 * virtual machine a sleep and its wake-up (the idle vCPU halts, an IPI
 * brings it back) cost more than the work of a 1-item request; a worker
 * has its answer ready within microseconds, and meanwhile the master is
 * disarmed, so the worker writes no eventfd either.  1 when there is
 * work (a completion, a request), 0 when the time is up, -1 when the
 * loop was told to exit.
 */
static int
server_spin(struct master *m, uint64_t ns)
{
	uint64_t	end = mono_ns() + ns, req = m->metrics.requests;

	pool_busy(m);
	for (;;) {
		if (pool_pending(m))
			return 1;
		if (event_base_loop(m->base, EVLOOP_NONBLOCK | EVLOOP_ONCE) ==
		    -1 || event_base_got_exit(m->base) ||
		    event_base_got_break(m->base))
			return -1;
		if (m->metrics.requests != req)
			return 1;
		if (mono_ns() >= end)
			return 0;
		sched_yield();
	}
}

/*
 * The event loop, one round at a time.  While the master is at work
 * (reading and dispatching requests, or spinning) workers do not wake it
 * (pool_busy()): what they complete meanwhile is taken here, after the
 * round's callbacks, and pool_drain() asks for a wake-up again (then
 * looks once more) before epoll_wait may sleep.  Under load most
 * completions so cost the workers no eventfd write and the master no
 * extra trip through epoll.
 */
static void
server_loop(struct master *m)
{
	int rc;

	for (;;) {
		server_drain(m);
		/* Only for answers a client waits for: an async batch's
		 * items may run for long, and nobody waits on each. */
		if (m->cfg.master_spin_us > 0 &&
		    m->inflight_items > m->async_inflight) {
			rc = server_spin(m,
			    (uint64_t)m->cfg.master_spin_us * 1000);
			if (rc == -1)
				break;
			if (rc == 1)
				continue;
			server_drain(m);
		}
		if (event_base_loop(m->base, EVLOOP_ONCE) != 0 ||
		    event_base_got_exit(m->base) ||
		    event_base_got_break(m->base))
			break;
	}
}

static void
server_on_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct master *m = arg;

	(void)fd;
	(void)ev;
	/* A completion whose wake-up raced with re-arming is never lost for
	 * longer than a tick. */
	log_hold();
	pool_drain(m);
	log_release();
	pool_tick(m);
	async_tick(m);
	server_check_shutdown(m);
	if (m->draining && mono_ns() > m->drain_deadline) {
		log_warn("shutdown deadline passed; killing workers");
		event_base_loopexit(m->base, NULL);
	}
}

/*
 * SIGUSR2: start the binary at our path (an upgrade installed it there)
 * with the listening socket inherited.  One upgrade at a time; while it
 * runs this master goes on serving, and if the new one exits before it
 * took over (server_upgrade_exited), nothing has changed.
 */
static void
server_upgrade(struct master *m)
{
	char	 err[512];
	pid_t	 pid;

	if (m->draining || m->ev_handover != NULL) {
		log_warn("SIGUSR2 refused: shutting down");
		return;
	}
	if (m->upgrade_pid > 0) {
		log_warn("SIGUSR2 refused: an upgrade is in progress (new master "
		    "pid %ld)", (long)m->upgrade_pid);
		return;
	}
	if (m->lfd < 0 || m->exe[0] == '\0') {
		log_warn("SIGUSR2 refused: no listening socket or binary path");
		return;
	}
	pid = upgrade_start(m->exe, m->args, m->lfd, err, sizeof(err));
	if (pid == -1) {
		log_error("upgrade failed: %s; still serving", err);
		return;
	}
	m->upgrade_pid = pid;
	log_notice("upgrade: started %s as pid %ld", m->exe, (long)pid);
}

static void
server_on_handover(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	server_begin_shutdown(arg, "hand-over");
}

/*
 * SIGQUIT, from the new master once it is ready (or an operator): stop
 * accepting now, but answer for a moment more what comes on connections
 * already accepted (a client's request may be on its way on one), then
 * drain as SIGTERM does.
 */
static void
server_handover(struct master *m)
{
	struct timeval	 tv = { SERVER_HANDOVER_MS / 1000,
			    (SERVER_HANDOVER_MS % 1000) * 1000 };

	if (m->draining || m->ev_handover != NULL)
		return;
	log_notice("SIGQUIT: handing over; no new connections, draining in "
	    "%d ms", SERVER_HANDOVER_MS);
	conn_stop_accepting(m);
	m->upgrade_pid = 0;
	if ((m->ev_handover = evtimer_new(m->base, server_on_handover, m))
	    == NULL || evtimer_add(m->ev_handover, &tv) == -1)
		server_begin_shutdown(m, "hand-over");
}

/* SIGUSR1 (logrotate): reopen log_file here and in every worker. */
static void
server_reopen_log(struct master *m)
{
	char	 err[512];

	if (log_path()[0] == '\0') {
		log_info("SIGUSR1: logging to standard error, nothing to reopen");
		return;
	}
	if (log_reopen(err, sizeof(err)) == -1) {
		log_error("SIGUSR1: %s; still writing to the old file", err);
		return;
	}
	pool_signal(m, SIGUSR1);
	log_info("SIGUSR1: reopened %s", log_path());
}

static void
server_on_signal(evutil_socket_t sig, short ev, void *arg)
{
	struct master *m = arg;

	(void)ev;
	switch (sig) {
	case SIGCHLD:
		pool_reap(m);
		server_check_start(m);
		server_check_shutdown(m);
		break;
	case SIGHUP:
		server_reload(m);
		break;
	case SIGUSR1:
		server_reopen_log(m);
		break;
	case SIGUSR2:
		server_upgrade(m);
		break;
	case SIGQUIT:
		server_handover(m);
		break;
	case SIGTERM:
		server_begin_shutdown(m, "SIGTERM");
		break;
	case SIGINT:
		server_begin_shutdown(m, "SIGINT");
		break;
	}
}

static void
server_note_restart(const char *key, void *arg)
{
	(void)arg;
	log_warn("reload: %s changes only on restart; keeping the running "
	    "value", key);
}

/*
 * SIGHUP: parse the file again into a new config (plus the command-line
 * overrides); if anything is wrong keep the running one.  Keys the table
 * marks restart-only (they shape memory already shared, the socket, the
 * store or the process) keep their running value.
 */
int
server_reload(struct master *m)
{
	struct config	nc;
	char		err[512];

	if (m->draining) {
		/* As nginx does: a server that is quitting takes no reload. */
		log_warn("SIGHUP ignored: shutting down");
		return -1;
	}
	notify_reloading();
	config_defaults(&nc);
	if ((m->conf_path != NULL &&
	    config_load_file(&nc, m->conf_path, err, sizeof(err)) == -1) ||
	    main_apply_overrides(&nc, m->argc, m->argv, err, sizeof(err)) == -1 ||
	    config_check(&nc, err, sizeof(err)) == -1) {
		log_error("reload refused, keeping the running configuration: %s",
		    err);
		config_free(&nc);
		notify_reloaded();
		return -1;
	}
	config_keep_restart(&nc, &m->cfg, server_note_restart, NULL);
	if (nc.max_body_bytes > m->cfg.max_body_bytes &&
	    (size_t)nc.max_body_bytes + CONFIG_ITEM_SLACK >
	    (size_t)(m->ring.mask + 1) * m->ring.slot_bytes) {
		log_warn("reload: max_body_bytes larger than the ring holds "
		    "needs a restart");
		nc.max_body_bytes = m->cfg.max_body_bytes;
	}
	conn_tls_reload(m, &nc);
	config_free(&m->cfg);
	m->cfg = nc;
	log_init(m->cfg.log_level);
	quarantine_reload(m);
	pool_resize(m);
	log_info("configuration reloaded (workers=%ld)", m->cfg.workers);
	notify_reloaded();
	return 0;
}

/*
 * Started as root with `user` set: hand the shared-memory object, the
 * store directory and the log file to that user (workers open the store
 * after fork; everyone reopens the log on SIGUSR1), then drop every
 * privilege for good.
 */
static int
server_drop_privileges(struct master *m)
{
	struct passwd	*pw;
	char		 path[4200];
	const char	*files[] = { "", "/data.mdb", "/lock.mdb" };
	size_t		 i;

	if (m->cfg.user[0] == '\0')
		return 0;
	if (geteuid() != 0) {
		log_warn("user = %s ignored: not started as root", m->cfg.user);
		return 0;
	}
	if ((pw = getpwnam(m->cfg.user)) == NULL) {
		log_error("user %s: no such user", m->cfg.user);
		return -1;
	}
	snprintf(path, sizeof(path), "/dev/shm%s", m->ring.name);
	if (chown(path, pw->pw_uid, pw->pw_gid) == -1) {
		log_error("chown %s: %s", path, strerror(errno));
		return -1;
	}
	if (mkdir(m->cfg.db_path, 0750) == -1 && errno != EEXIST) {
		log_error("mkdir %s: %s", m->cfg.db_path, strerror(errno));
		return -1;
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", m->cfg.db_path, files[i]);
		if (lchown(path, pw->pw_uid, pw->pw_gid) == -1 &&
		    errno != ENOENT) {
			log_error("chown %s: %s", path, strerror(errno));
			return -1;
		}
	}
	/* The log file, opened as root, must stay reopenable (SIGUSR1)
	 * by the master and the workers once they are that user. */
	if (log_path()[0] != '\0' &&
	    chown(log_path(), pw->pw_uid, pw->pw_gid) == -1) {
		log_error("chown %s: %s", log_path(), strerror(errno));
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1) {
		log_error("dropping privileges to %s: %s", m->cfg.user,
		    strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		log_error("dropping privileges to %s: root could be regained",
		    m->cfg.user);
		return -1;
	}
	log_info("running as user %s (uid %ld)", m->cfg.user,
	    (long)pw->pw_uid);
	return 0;
}

/*
 * The event base.  Write interest goes on and off around an answer that
 * did not fit the socket at once; with the change list such toggles are
 * folded into one epoll_ctl(2) per descriptor per loop pass, or none when
 * they cancel out (libevent's caveat about dup()ed
 * descriptors does not apply: the master never dup()s one).
 */
static struct event_base *
server_base_new(void)
{
	struct event_config	*cfg;
	struct event_base	*base;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

int
server_run(struct master *m)
{
	struct timeval	 tick;
	char		 err[256];
	int		 sigs[SERVER_NSIGS] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT,
			    SIGUSR1, SIGUSR2, SIGQUIT }, i, n;
	sigset_t	 quiet;
	long		 tick_ms;

	log_init(m->cfg.log_level);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Every batch allocates and frees a few buffers of tens of KiB; with
	 * glibc's defaults the top of the heap was given back and taken
	 * again for each one (a brk(2) and fresh zeroed pages per request).
	 * Keep up to 8 MiB of freed heap; blocks of 1 MiB and more (huge
	 * bodies, 10,000-item async batches) still come from mmap(2) and go
	 * back at once.  Workers inherit this.
	 */
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	if (m->cfg.ntokens == 0)
		log_warn("auth is off: the config has no token lines");
	if ((n = ring_sweep_stale()) > 0)
		log_info("removed %d stale shared-memory object(s) of dead "
		    "masters", n);
	if (ring_create(&m->ring, (uint32_t)m->cfg.ring_slots,
	    (uint32_t)m->cfg.ring_slot_bytes, err, sizeof(err)) == -1) {
		log_error("%s", err);
		return 1;
	}
	m->lfd = -1;
	TAILQ_INIT(&m->conns);
	m->inflight = calloc((size_t)m->cfg.ring_slots, sizeof(*m->inflight));
	m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	m->base = server_base_new();
	if (m->inflight == NULL || m->efd == -1 || m->base == NULL ||
	    quarantine_init(m) == -1) {
		log_error("start-up failed: %s", strerror(errno));
		m->exit_code = 1;
		goto out;
	}
	batch_init(m);
	TAILQ_INIT(&m->pending);
	TAILQ_INIT(&m->pending_async);
	TAILQ_INIT(&m->batches);
	atomic_store(&m->ring.hdr->master_armed, 1);
	/*
	 * Edge-triggered: every eventfd_write() of a worker is an edge (the
	 * kernel wakes the epoll waiters on each write), so the master
	 * never has to read the counter back to quiet it: one system call
	 * less per burst.  The counter only grows, by one per wake-up; 2^64
	 * of them will not happen.
	 */
	m->ev_efd = event_new(m->base, m->efd, EV_READ | EV_PERSIST | EV_ET,
	    server_on_efd, m);
	event_add(m->ev_efd, NULL);
	for (i = 0; i < SERVER_NSIGS; i++) {
		m->ev_sig[i] = evsignal_new(m->base, sigs[i], server_on_signal, m);
		event_add(m->ev_sig[i], NULL);
	}
	m->upgrade_from = upgrade_parent();
	/* Bind (perhaps a privileged port) as started, then drop to `user`
	 * before any worker exists, then say we are ready. */
	if (conn_tls_init(m) == -1 || conn_listen(m) == -1 ||
	    server_drop_privileges(m) == -1) {
		m->exit_code = 1;
		goto out;
	}
	if (pool_start(m) == -1) {
		log_error("no worker could be started");
		m->exit_code = 1;
		goto out;
	}
	tick_ms = m->cfg.item_timeout_ms / 4;
	tick_ms = tick_ms < 5 ? 5 : tick_ms > 100 ? 100 : tick_ms;
	tick.tv_sec = 0;
	tick.tv_usec = tick_ms * 1000;
	m->ev_tick = event_new(m->base, -1, EV_PERSIST, server_on_tick, m);
	event_add(m->ev_tick, &tick);

	server_loop(m);
	log_notice("shutting down");
out:
	pool_stop(m);
	notify_watchdog_stop(m);
	if (m->ev_handover != NULL)
		event_free(m->ev_handover);
	conn_close_all(m);
	if (m->tls != NULL)
		SSL_CTX_free(m->tls);
	if (m->ev_tick != NULL)
		event_free(m->ev_tick);
	if (m->ev_efd != NULL)
		event_free(m->ev_efd);
	/*
	 * Exiting: a stop or reload signal has nothing left to do.  Freeing
	 * a signal event gives the signal back its default action (for
	 * SIGTERM: death, and an exit status that is not 0), so they are
	 * blocked first and ignored after, which also drops one pending.
	 */
	sigemptyset(&quiet);
	for (i = 0; i < SERVER_NSIGS; i++)
		if (sigs[i] != SIGCHLD)
			sigaddset(&quiet, sigs[i]);
	sigprocmask(SIG_BLOCK, &quiet, NULL);
	for (i = 0; i < SERVER_NSIGS; i++)
		if (m->ev_sig[i] != NULL)
			event_free(m->ev_sig[i]);
	for (i = 0; i < SERVER_NSIGS; i++)
		if (sigs[i] != SIGCHLD)
			signal(sigs[i], SIG_IGN);
	while (!TAILQ_EMPTY(&m->batches))
		batch_free(m, TAILQ_FIRST(&m->batches));
	batch_spare_drop(m);
	if (m->base != NULL)
		event_base_free(m->base);
	if (m->efd >= 0)
		close(m->efd);
	ring_destroy(&m->ring);
	free(m->inflight);
	quarantine_free(m);
	config_free(&m->cfg);
	free(m->argv);
	if (m->exit_code == 0)
		log_info("bye");
	return m->exit_code;
}
