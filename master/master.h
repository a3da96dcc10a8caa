/*
 * master.h - the master process: one struct of state, and the prototypes
 * of every master/ file, grouped by file.
 *
 * The master never blocks and never executes an item: it parses and
 * validates requests, encodes items into the ring, and learns of results
 * through the completion rings when its eventfd fires.
 */
#ifndef BATCHD_MASTER_H
#define BATCHD_MASTER_H

#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <event2/event.h>
#include <event2/buffer.h>

#include "buf.h"
#include "config.h"
#include "conn.h"
#include "errors.h"
#include "item.h"
#include "prefer.h"
#include "log.h"
#include "ring.h"
#include "route.h"
#include "wslot.h"

#define MASTER_MAX_WORKERS	256
/* Exit status when the store cannot be opened at start-up: a restart
 * would fail the same way (the unit file's RestartPreventExitStatus). */
#define SERVER_EXIT_FATAL	78

enum mitem_state {
	MI_WAITING = 0,		/* dependencies not finished */
	MI_PENDING,		/* in the master's queue, not yet in the ring */
	MI_QUEUED,		/* in the ring or held by a worker */
	MI_DONE			/* answered */
};

struct mbatch;

/* One item of a batch (a plain request is a batch of one). */
struct mitem {
	struct mbatch		*mi_batch;
	uint32_t		 mi_idx;
	enum mitem_state	 mi_state;
	struct buf		 mi_enc;	/* encoded item until published:
						 * a group's or the master's
						 * own; else ... */
	uint32_t		 mi_enc_off;	/* ... in the batch's mb_enc */
	uint32_t		 mi_enc_len;
	uint32_t		 mi_first;	/* data slots while queued */
	uint32_t		 mi_nslots;
	int			 mi_status;
	const char		*mi_id;		/* the item's id (JSON parse) */
	size_t			 mi_id_len;
	uint32_t		*mi_deps;	/* units this item waits for */
	uint32_t		 mi_ndeps;
	uint32_t		 mi_deps_cap;
	int32_t			 mi_group;	/* leader of its atomicity
						 * group, or -1 */
	const char		*mi_agroup;	/* the group's name (echoed in
						 * the answer), or NULL */
	size_t			 mi_agroup_len;
	uint32_t		 mi_group_n;	/* leader: members */
	uint32_t		 mi_group_left;	/* leader: not yet answered */
	uint32_t		 mi_deps_left;
	uint32_t		*mi_rdeps;	/* items waiting for this one */
	uint32_t		 mi_nrdeps;
	uint32_t		 mi_rdeps_cap;
	struct buf		 mi_out;	/* rendered answer (async), or
						 * the body (plain request) */
	uint32_t		 mi_out_off;	/* MB_SYNC: an answer that came
						 * early, in mb_side */
	uint32_t		 mi_out_len;
	char			 mi_etag[ITEM_ETAG_MAX]; /* plain request */
	struct buf		 mi_loc;	/* plain request */
	int			 mi_skipped;	/* stop_on_error: never run */
	int			 mi_inwin;	/* counted in mb_inflight */
	int			 mi_writes;	/* its operation writes */
	int			 mi_quarantined; /* answered by quarantine.c */
	int			 mi_stored;	/* async: the worker stored its
						 * answer (COMP_F_STORED) */
	struct prefer		 mi_prefer;	/* its Prefer header */
	uint32_t		 mi_retry_after; /* plain request: Retry-After
						 * seconds, or 0 */
	uint64_t		 mi_t_queued;	/* mono ns when published */
	uint64_t		 mi_t_start;	/* a split query's part or merge:
						 * mono ns its timeout counts
						 * from (split.c); else 0 */
	struct mitem		*mi_owner;	/* ... and its query while that
						 * is unanswered: a crash,
						 * timeout or OOM of the part
						 * quarantines the query */
	TAILQ_ENTRY(mitem)	 mi_pending;
};

enum mbatch_kind {
	MB_PLAIN = 0,		/* one HTTP request, one item */
	MB_SYNC,		/* POST /v1/$batch */
	MB_ASYNC,		/* POST /v1/batches */
	MB_SYSTEM		/* the master's own item (async persistence) */
};

struct masync;
struct msplit;
struct sched_answer;

/*
 * A batch's owner (http.c for MB_PLAIN and MB_SYNC, async.c for the rest)
 * sets what happens as it runs; batch.c calls these and knows nothing of
 * HTTP or of async batches.
 */
typedef void (*batch_cb)(struct master *, struct mbatch *);
typedef void (*batch_item_cb)(struct master *, struct mitem *);

struct mbatch {
	uint64_t		 mb_id;
	enum mbatch_kind	 mb_kind;
	struct hreq		*mb_req;	/* the request it answers, or
						 * NULL (none, or gone) */
	batch_cb		 mb_on_done;	/* every item answered: answer,
						 * then batch_free() (or keep) */
	batch_cb		 mb_on_emit;	/* MB_SYNC: mb_out has grown
						 * past BATCH_EMIT_BYTES */
	batch_item_cb		 mb_on_item;	/* an item was answered, or
						 * NULL */
	uint32_t		 mb_next_emit;	/* MB_SYNC: first item whose
						 * answer is not in mb_out */
	uint32_t		 mb_nemitted;	/* answers put in mb_out */
	uint64_t		 mb_out_total;	/* bytes of answers so far */
	uint32_t		 mb_inflight;	/* units submitted, not done */
	uint32_t		*mb_held;	/* units released, waiting for
						 * the window (FIFO) */
	uint32_t		 mb_held_head;
	uint32_t		 mb_nheld;
	int			 mb_paused;	/* owner: run nothing more for
						 * now (slow reader) */
	int			 mb_streaming;	/* owner: the answer's head is
						 * sent, mb_out goes in pieces */
	struct buf		 mb_side;	/* MB_SYNC: answers that came
						 * before their turn (each at
						 * its mi_out_off/len) */
	uint32_t		 mb_nside;	/* ... not yet in mb_out */
	uint32_t		 mb_nitems;
	uint32_t		 mb_ndone;
	struct mitem		*mb_items;
	uint32_t		*mb_order;	/* completion order */
	int			 mb_ordered;
	int			 mb_stop_on_error;
	int			 mb_started;	/* batch_start() ran */
	int			 mb_complete;	/* queued on master.finished */
	int			 mb_cancelled;	/* DELETE or shutdown */
	uint32_t		 mb_nskipped;	/* stop_on_error: never run */
	struct mbatch		*mb_next_done;
	struct masync		*mb_async;	/* MB_ASYNC and MB_SYSTEM */
	struct msplit		*mb_split;	/* the parts and merge of a
						 * split query (split.c) */
	uint32_t		 mb_next_seq;	/* stop_on_error: next to run */
	struct buf		 mb_enc;	/* items as encoded, one after
						 * another (one allocation) */
	struct buf		 mb_out;	/* MB_SYNC: answers in request
						 * order, ','-separated, not
						 * yet handed to the owner */
	char			*mb_strs;	/* ids and decoded strings,
						 * as long as the body */
	size_t			 mb_strs_len;
	size_t			 mb_strs_cap;	/* bytes mb_strs holds */
	uint32_t		 mb_items_cap;	/* items mb_items holds */
	char			 mb_rid[48];	/* request id */
	/* Set by an async batch's owner before batch_parse: workers store
	 * each item's answer under this batch id, in the transaction that
	 * runs the item (async_item.h).  "" otherwise. */
	char			 mb_store_id[32];
	uint64_t		 mb_t0;		/* mono ns at arrival */
	char			 mb_method[8];
	char			*mb_path;	/* for the log line */
	TAILQ_ENTRY(mbatch)	 mb_entry;
};

/* An item's encoding for the ring: its own, or its place in the batch's. */
static inline const char *
mitem_enc(const struct mitem *it, size_t *len)
{
	if (it->mi_enc.data != NULL) {
		*len = it->mi_enc.len;
		return it->mi_enc.data;
	}
	*len = it->mi_enc_len;
	return it->mi_batch->mb_enc.data + it->mi_enc_off;
}
TAILQ_HEAD(mbatch_list, mbatch);
TAILQ_HEAD(mitem_list, mitem);

enum mworker_state {
	MW_EMPTY = 0,		/* no process */
	MW_RUNNING,		/* forked */
	MW_BACKOFF		/* waiting to respawn after failures */
};

enum mworker_kill {
	KILL_NONE = 0,
	KILL_TIMEOUT,		/* item_timeout_ms passed */
	KILL_CORRUPT,		/* wrote a bad completion record */
	KILL_SHUTDOWN
};

/* The worker table: one row per worker slot. */
struct mworker {
	struct wslot		*w_slot;	/* shared area, kept for reuse */
	enum mworker_state	 w_state;
	pid_t			 w_pid;
	uint64_t		 w_started_ns;	/* fork time */
	enum mworker_kill	 w_kill;
	uint32_t		 w_timeout_ms;	/* KILL_TIMEOUT: the timeout */
	uint32_t		 w_fails;	/* quick deaths in a row */
	struct event		*w_respawn;	/* back-off timer */
	int			 w_wanted;	/* slot < configured workers */
	char			 w_last_oom[112]; /* item answered 507 before
						   * the worker exited */
};

enum restart_cause {
	RC_CRASH = 0, RC_TIMEOUT, RC_OOM, RC_RECYCLE, RC_EXIT, RC__COUNT
};

#define LAT_BUCKETS	12

struct metrics {
	uint64_t	 batches;		/* $batch requests accepted */
	uint64_t	 requests;		/* all HTTP requests */
	uint64_t	 items_by_class[6];	/* 1xx..5xx by status/100 */
	uint64_t	 responses_by_class[6];	/* HTTP responses, likewise */
	uint64_t	 batches_by_class[6];	/* $batch responses */
	uint64_t	 restarts[RC__COUNT];
	uint64_t	 requeued;		/* items of a dead worker's
						 * uncommitted group run again */
	uint64_t	 lat_bucket[LAT_BUCKETS + 1];	/* +Inf last */
	double		 lat_sum;
	uint64_t	 lat_count;
	uint64_t	 quarantined;		/* items answered by quarantine */
};

/* quarantine.c: poison items remembered by fingerprint (SHA-256). */
#define QUAR_FP_LEN	32
struct qentry;
struct evp_md_ctx_st;
struct quarantine {
	struct qentry		*q_tab;		/* open addressing */
	uint32_t		 q_mask;	/* slots - 1 (power of two) */
	uint32_t		 q_count;	/* entries in use */
	uint32_t		 q_max;		/* quarantine_max_entries */
	struct evp_md_ctx_st	*q_md;		/* reused digest context */
};

struct master {
	struct config		 cfg;
	const char		*conf_path;
	int			 argc;		/* overrides, re-applied on HUP */
	char			**argv;
	struct event_base	*base;
	int			 lfd;		/* listening socket, or -1 */
	struct event		*ev_accept;
	struct event		*ev_accept_retry;
	int			 accept_paused;	/* 1: at the cap, 2: backing
						 * off after EMFILE & co */
	uint64_t		 accept_log_ns;	/* last accept complaint */
	uint64_t		 accept_log_quiet; /* complaints not logged */
	TAILQ_HEAD(, hconn)	 conns;
	uint32_t		 nconns;
	long			 derived_max_conns;
	struct ssl_ctx_st	*tls;		/* HTTPS, or NULL */
	char			 bound_name[80];	/* HOST:PORT bound */
	struct ring		 ring;
	int			 efd;
	struct event		*ev_efd;
	struct event		*ev_tick;
	struct event		*ev_sig[7];	/* CHLD HUP TERM INT USR1 USR2
						 * QUIT */
	struct mworker		 workers[MASTER_MAX_WORKERS];
	uint32_t		 nslots;	/* worker table rows in use */
	struct mitem		**inflight;	/* by first data slot */
	struct mitem_list	 pending;	/* plain, $batch, system */
	struct mitem_list	 pending_async;	/* asynchronous batches */
	uint64_t		 async_inflight; /* their items in the ring */
	uint64_t		 last_purge_ns;
	uint64_t		 npending;	/* both queues */
	uint64_t		 npending_async;
	struct mbatch_list	 batches;
	uint64_t		 nbatches;
	struct mbatch		*spare_batch;	/* freed small batches kept
						 * for the next (batch.c),
						 * linked by mb_next_done */
	uint32_t		 nspare_batches;
	uint64_t		 next_batch_id;
	uint64_t		 inflight_items;
	int			 ready;		/* every worker opened the
						 * store once: start-up done */
	int			 start_failed;	/* a worker could not open the
						 * store before that: stop */
	struct event		*ev_watchdog;	/* systemd WatchdogSec */
	char			 exe[4096];	/* the binary, as started:
						 * SIGUSR2 starts what is
						 * there now */
	char			**args;		/* the whole command line */
	pid_t			 upgrade_pid;	/* SIGUSR2: the new master,
						 * until it exits or we do */
	pid_t			 upgrade_from;	/* started by SIGUSR2: the old
						 * master to tell when ready */
	struct event		*ev_handover;	/* SIGQUIT: grace, then drain */
	int			 draining;	/* SIGTERM: no new work */
	int			 stopping;	/* workers told to exit */
	uint64_t		 drain_deadline; /* mono ns */
	int			 exit_code;
	int			 answer_depth;	/* nested answers in progress */
	/* Where sched and pool hand an answered item: the batch layer's
	 * batch_item_done (set by batch_init), so the layers below the
	 * batch never call up into it.  A NULL item finishes the batches
	 * that became complete (see sched_settle). */
	void			(*item_done)(struct master *, struct mitem *);
	/* Where pool hands a query a worker answered with parts
	 * (COMP_F_SPLIT): split_start (set by batch_init), likewise. */
	void			(*item_split)(struct master *, struct mitem *,
				    const struct sched_answer *);
	uint64_t		 burst_ns;	/* mono ns of the completion
						 * burst being drained, or 0 */
	struct mbatch		*finished;	/* complete, to be answered */
	uint64_t		 rid_state;	/* request id generator */
	struct metrics		 metrics;
	struct quarantine	 quar;
};

/* main.c */
int	main_apply_overrides(struct config *, int argc, char **argv,
	    char *err, size_t errlen);

/* server.c */
int	server_run(struct master *);
int	server_reload(struct master *);

/* upgrade.c */
/* A listening socket handed down by the old master, or -1. */
int	upgrade_inherited_fd(void);
/* The old master that started us by SIGUSR2 (still our parent), or 0. */
pid_t	upgrade_parent(void);
/* Start exe (argv) with listen_fd inherited; its pid, or -1 and err. */
pid_t	upgrade_start(const char *exe, char *const argv[], int listen_fd,
	    char *err, size_t errlen);

/* notify.c */
void	notify_ready(struct master *);
void	notify_reloading(void);
void	notify_reloaded(void);
void	notify_stopping(void);
int	notify_watchdog_start(struct master *);
void	notify_watchdog_stop(struct master *);

/* pool.c */
int	pool_start(struct master *);
void	pool_resize(struct master *);
void	pool_reap(struct master *);
void	pool_busy(struct master *);
int	pool_pending(const struct master *);
void	pool_tick(struct master *);
void	pool_drain(struct master *);
void	pool_shutdown(struct master *);
void	pool_stop(struct master *);
uint32_t pool_live(const struct master *);
int	pool_ready(const struct master *);
void	pool_signal(struct master *, int sig);

/* sched.c */
/* What a worker (or the master, for errors) answered for one item. */
struct sched_answer {
	int			 status;
	const char		*etag;		/* may be NULL */
	size_t			 etag_len;
	const char		*loc;		/* may be NULL */
	size_t			 loc_len;
	const char		*body;		/* body bytes in memory, or */
	const struct wslot	*src;		/* in this completion ring */
	uint64_t		 body_pos;
	size_t			 body_len;
	uint32_t		 retry_after;	/* seconds, or 0: none */
	int			 stored;	/* COMP_F_STORED: no body */
};
void	sched_submit(struct master *, struct mitem *);
void	sched_unqueue(struct master *, struct mitem *);
void	sched_pump(struct master *);
void	sched_answer(struct master *, struct mitem *,
	    const struct sched_answer *);
void	sched_fail(struct master *, struct mitem *, enum err_code,
	    const char *detail);
struct mitem *sched_lookup(struct master *, const struct ring_desc *);
void	sched_release(struct master *, struct mitem *);
void	sched_requeue(struct master *, struct mitem *,
	    const struct ring_desc *, enum err_code, const char *);
void	sched_fail_entry(struct master *, struct mitem *, enum err_code,
	    const char *detail);
/* After a burst of answers: let the batch layer finish what completed. */
void	sched_settle(struct master *);

/* split.c */
/* A worker answered query q with parts (COMP_F_SPLIT): run them. */
void	split_start(struct master *, struct mitem *q,
	    const struct sched_answer *);

/* quarantine.c */
int	quarantine_init(struct master *);
void	quarantine_reload(struct master *);
void	quarantine_free(struct master *);
/* Remember an item that timed out, crashed or ran out of memory. */
void	quarantine_note(struct master *, struct mitem *, enum err_code);
/* 1 if the item is quarantined: then it has been answered. */
/* 1 if the item is quarantined: a is its answer (body in body). */
int	quarantine_check(struct master *, struct mitem *,
	    struct sched_answer *a, struct buf *body);
uint32_t quarantine_size(const struct master *);

/* async.c */
void	async_request(struct master *, struct hreq *, const char *path,
	    const struct config_token *, const char *rid, uint64_t t0);
void	async_tick(struct master *);
void	async_cancel_all(struct master *);

/* auth.c */
int	auth_check(const struct master *, const char *header,
	    const struct config_token **, char *detail, size_t detlen);
int	auth_allows(const struct config_token *, const char *ws, size_t n);
int	auth_query_workspaces(const struct config_token *, const char *body,
	    long max, struct err *);

/* batch.c */
/* MB_SYNC answers are handed to the owner in pieces of about this size
 * (or whole, when the batch ends first). */
#define BATCH_EMIT_BYTES	(64 * 1024)
/* An item's body as it goes to a worker: JSON text, no whitespace
 * between tokens. */
struct batch_body {
	const char	*p;
	size_t		 n;
	enum item_body	 kind;
};
/* Check a request body (UTF-8, RFC 8259, depth, not null) and find its
 * value; minified into scratch when it has whitespace (scratch NULL:
 * left as it is). */
int	batch_json_body(const char *, size_t, struct buf *scratch,
	    struct batch_body *, struct err *);
struct mbatch *batch_new(struct master *, enum mbatch_kind, uint32_t n);
int	batch_parse(struct master *, struct mbatch *, const char *body,
	    size_t len, const struct config_token *, struct err *);
void	batch_start(struct master *, struct mbatch *);
/* Become the layer below's m->item_done. */
void	batch_init(struct master *);
/* The item was answered: release dependents, maybe finish the batch. */
void	batch_item_done(struct master *, struct mitem *);
/* The owner lifted mb_paused: run what the window allows. */
void	batch_resume(struct master *, struct mbatch *);
void	batch_free(struct master *, struct mbatch *);
/* Free the batches batch_free() keeps for reuse (at exit). */
void	batch_spare_drop(struct master *);
int	batch_item_route(struct master *, struct mitem *,
	    enum route_method, const char *target, size_t target_len,
	    struct route_str if_match, struct route_str if_none_match,
	    const struct batch_body *, const struct config_token *,
	    struct err *);

/* conn.c (TLS) */
int	conn_tls_init(struct master *);
void	conn_tls_reload(struct master *, struct config *newcfg);

/* http.c */
void	http_dispatch(struct master *, struct hreq *);
void	http_reply_early(struct master *, struct hreq *, enum err_code,
	    const char *detail);
void	http_reply_error(struct master *, struct hreq *, const char *rid,
	    enum err_code, const char *detail);
void	http_request_id(struct master *, const struct hreq *, char *out,
	    size_t outlen);
int	http_overloaded(struct master *, int async, uint32_t n, char *why,
	    size_t whylen);
void	http_send_json(struct master *, struct hreq *, const char *rid,
	    int status, const char *body, size_t len, const char *location);
void	http_log(const char *method, const char *path, int status,
	    uint32_t items, const char *rid, uint64_t t0);
/* The batch answering req: it owns req's answer from now on. */
void	http_own(struct hreq *, struct mbatch *);

/* openapi.c */
/* The OpenAPI document (etc/openapi.json), len bytes, NUL after them. */
const char *openapi_json(size_t *len);

/* metrics.c */
void	metrics_item(struct master *, int status, uint64_t lat_ns);
void	metrics_response(struct master *, int status, int is_batch);
/* metrics.c reads the master's counters and calls nothing: the live
 * workers and quarantine entries are given by the caller. */
void	metrics_render(struct master *, struct evbuffer *, uint32_t live,
	    uint32_t quarantined);
void	health_render(struct master *, struct evbuffer *, uint32_t live);

#endif
