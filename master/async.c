/*
 * async.c - asynchronous batches (SPEC 3.3).
 *
 * An async batch runs like a synchronous one, from its own queue (see
 * sched_pump), with nobody waiting on the connection.  Every item that a
 * worker runs has its answer stored by that worker, in the transaction
 * that runs it (async_item.h), so no item runs without its record and
 * its result never enters the master (COMP_F_STORED).  The master, which
 * never touches LMDB, persists the rest through its own items (MB_SYSTEM
 * batches of one OP_ASYNC_* item, worker/async.h): the meta when the
 * batch is accepted, the answers it gave itself (424, 499, 503, a crash,
 * the quarantine) as they come (one save in flight per batch, flushed
 * every tick), and the final state.  GET pages come from the store; once
 * its final state is stored the master forgets the batch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/evp.h>

#include "async_item.h"
#include "futex.h"
#include "master.h"

_Static_assert(sizeof(((struct mbatch *)0)->mb_store_id) > ASYNC_ID_LEN,
    "mb_store_id holds a batch id");

#define ASYNC_PURGE_EVERY_NS	(60ULL * 1000000000ULL)
#define ASYNC_PURGE_BATCHES	64	/* expired batches dropped per round */
#define ASYNC_SAVE_MAX_BYTES	(1024 * 1024)

enum async_status { AS_QUEUED = 0, AS_RUNNING, AS_COMPLETED, AS_CANCELLED,
	AS_FAILED };
enum async_sys { SYS_NONE = 0, SYS_SAVE, SYS_GET, SYS_PURGE };

static const char *async_status_names[] = { "queued", "running",
	"completed", "cancelled", "failed" };

struct masync {
	/* MB_ASYNC */
	char			 ma_id[ASYNC_ID_LEN + 1];
	char			 ma_owner[65];	/* SHA-256 of the token, or "" */
	char			 ma_created[32];
	enum async_status	 ma_status;
	uint32_t		 ma_saved;	/* completion records stored */
	int			 ma_saving;	/* a save is in flight */
	int			 ma_done;	/* every item answered */
	int			 ma_stored;	/* final state stored */
	uint64_t		 ma_unsaved;	/* bytes of results done, not
						 * yet stored (the only ones
						 * held in memory) */
	uint32_t		 ma_ran;	/* AS_FAILED: items that ran */
	uint32_t		 ma_nfailed;	/* ... of which answered >= 400 */
	uint64_t		 ma_failed_ns;	/* AS_FAILED: when (mono) */
	/* MB_SYSTEM */
	enum async_sys		 ma_sys;
	struct mbatch		*ma_parent;	/* SYS_SAVE: whose state */
	uint32_t		 ma_upto;	/* SYS_SAVE: records after it */
	int			 ma_final;	/* SYS_SAVE: the final state */
	char			 ma_live[ASYNC_ID_LEN + 1]; /* SYS_GET: of a
						 * batch running here */
};

static void
async_new_id(char *out)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char	 r[ASYNC_ID_LEN];
	size_t		 i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		for (i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)(mono_ns() >> (i % 8));
	for (i = 0; i < ASYNC_ID_LEN; i++)
		out[i] = b64[r[i] & 63];
	out[ASYNC_ID_LEN] = '\0';
}

/*
 * The owner tag of a batch: the hex SHA-256 of the token that made it
 * (libcrypto's EVP), "" with auth off.  The store keeps this, never the
 * token.  -1 only if libcrypto fails (no memory).
 */
static int
async_owner(const struct config_token *tok, char out[65])
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 n = 0, i;

	out[0] = '\0';
	if (tok == NULL)
		return 0;
	if (EVP_Digest(tok->secret, strlen(tok->secret), md, &n, EVP_sha256(),
	    NULL) != 1 || n != 32)
		return -1;
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
	return 0;
}

/* Items answered 400 or more so far. */
static uint32_t
async_failed(const struct mbatch *b)
{
	uint32_t i, n = 0;

	for (i = 0; i < b->mb_ndone; i++)
		if (b->mb_items[b->mb_order[i]].mi_status >= 400)
			n++;
	return n;
}

/* {"id":..,"status":..,"total":..,"completed":..,"failed":..,"created_at":..} */
static void
async_summary(struct buf *o, const struct mbatch *b)
{
	const struct masync *a = b->mb_async;

	buf_puts(o, "{\"id\":\"");
	buf_puts(o, a->ma_id);
	buf_printf(o, "\",\"status\":\"%s\",\"total\":%u,\"completed\":%u,"
	    "\"failed\":%u,\"created_at\":\"%s\"}",
	    async_status_names[a->ma_status], b->mb_nitems,
	    a->ma_status == AS_FAILED ? a->ma_ran : b->mb_ndone - b->mb_nskipped,
	    a->ma_status == AS_FAILED ? a->ma_nfailed : async_failed(b),
	    a->ma_created);
}

static void	async_batch_done(struct master *, struct mbatch *);
static void	async_system_done(struct master *, struct mbatch *);

/* Hand one internal item to the workers as a batch of its own. */
static struct mbatch *
async_system(struct master *m, enum async_sys sys, const struct item_req *rq)
{
	struct mbatch	*b;

	if ((b = batch_new(m, MB_SYSTEM, 1)) == NULL)
		return NULL;
	b->mb_on_done = async_system_done;
	if ((b->mb_async = calloc(1, sizeof(*b->mb_async))) == NULL ||
	    item_encode(rq, &b->mb_items[0].mi_enc) == -1) {
		batch_free(m, b);
		return NULL;
	}
	b->mb_async->ma_sys = sys;
	b->mb_items[0].mi_id = "system";
	b->mb_items[0].mi_id_len = 6;
	return b;
}

/* Store the batch's state and the records not stored yet (one save in
 * flight per batch, so the stored meta only moves forward). */
static void
async_save(struct master *m, struct mbatch *b)
{
	struct masync	*a = b->mb_async;
	struct mbatch	*s;
	struct item_req	 rq;
	struct buf	 body = BUF_INIT, meta = BUF_INIT;
	uint32_t	 seq, len, mlen, status;
	struct mitem	*it;

	if (a->ma_saving || a->ma_stored)
		return;
	buf_printf(&meta, "{\"id\":\"%s\",\"status\":\"%s\",\"total\":%u,"
	    "\"completed\":%u,\"failed\":%u,\"created_at\":\"%s\","
	    "\"finished_at_ms\":%lld,\"owner\":\"%s\"}", a->ma_id,
	    async_status_names[a->ma_status], b->mb_nitems,
	    b->mb_ndone - b->mb_nskipped, async_failed(b), a->ma_created,
	    a->ma_done ? (long long)wall_ms() : 0LL, a->ma_owner);
	mlen = (uint32_t)meta.len;
	buf_append(&body, &mlen, 4);
	buf_append(&body, meta.data, meta.len);
	for (seq = a->ma_saved; seq < b->mb_ndone; seq++) {
		it = &b->mb_items[b->mb_order[seq]];
		if (it->mi_skipped || it->mi_stored)
			continue;
		if (body.len > ASYNC_SAVE_MAX_BYTES)
			break;
		len = (uint32_t)it->mi_out.len;
		status = (uint32_t)it->mi_status;
		buf_append(&body, &it->mi_idx, 4);
		buf_append(&body, &status, 4);
		buf_append(&body, &len, 4);
		buf_append(&body, it->mi_out.data, len);
	}
	buf_free(&meta);
	memset(&rq, 0, sizeof(rq));
	rq.op = OP_ASYNC_SAVE;
	rq.key.p = a->ma_id;
	rq.key.n = strlen(a->ma_id);
	rq.body = body.data;
	rq.body_len = body.len;
	rq.body_kind = BODY_OTHER;
	s = async_system(m, SYS_SAVE, &rq);
	buf_free(&body);
	if (s == NULL) {
		log_error("async batch %s: cannot queue a save", a->ma_id);
		return;
	}
	s->mb_async->ma_parent = b;
	s->mb_async->ma_upto = seq;
	s->mb_async->ma_final = a->ma_done && seq == b->mb_ndone;
	a->ma_saving = 1;
	batch_start(m, s);
}

static void
async_reply_summary(struct master *m, struct hreq *req,
    const struct mbatch *b, int status, const char *rid, const char *method,
    const char *path, uint64_t t0, int with_page)
{
	struct buf	 o = BUF_INIT;
	char		 loc[64];

	buf_puts(&o, "{\"batch\":");
	async_summary(&o, b);
	/* Pages come from the store; the one page the master answers is a
	 * failed batch's, whose results could not be kept: none. */
	if (with_page)
		buf_puts(&o, ",\"responses\":[],\"next_offset\":null");
	buf_putc(&o, '}');
	snprintf(loc, sizeof(loc), "/v1/batches/%s", b->mb_async->ma_id);
	http_send_json(m, req, rid, status, o.data, o.len,
	    status == 201 ? loc : NULL);
	http_log(method, path, status, b->mb_nitems, rid, t0);
	buf_free(&o);
}

/*
 * A result is held in memory only until it is stored: past
 * ASYNC_SAVE_MAX_BYTES a save starts at once, and past async_buffer_bytes
 * the batch runs nothing more until a save has taken what it holds.
 */
static void
async_on_item(struct master *m, struct mitem *it)
{
	struct mbatch	*b = it->mi_batch;
	struct masync	*a = b->mb_async;

	if (a->ma_status == AS_FAILED) {
		buf_free(&it->mi_out);
		return;
	}
	if (it->mi_skipped || it->mi_stored)
		return;
	a->ma_unsaved += it->mi_out.len;
	if (a->ma_unsaved >= ASYNC_SAVE_MAX_BYTES)
		async_save(m, b);
	if (a->ma_unsaved >= (uint64_t)m->cfg.async_buffer_bytes)
		b->mb_paused = 1;
}

/* Answer every item of b not started yet with code (it will not run). */
static void
async_stop(struct master *m, struct mbatch *b, enum err_code code,
    const char *detail)
{
	struct mitem	*it;
	uint32_t	 i;

	b->mb_cancelled = 1;
	m->answer_depth++;
	for (i = 0; i < b->mb_nitems; i++) {
		it = &b->mb_items[i];
		if (it->mi_state != MI_WAITING && it->mi_state != MI_PENDING)
			continue;
		if (it->mi_group >= 0)
			sched_fail_entry(m, it, code, detail);
		else
			sched_fail(m, it, code, detail);
	}
	m->answer_depth--;
	batch_item_done(m, NULL);
}

/*
 * Its results cannot be stored (a full store, a disk error): the batch
 * stops and says so.  What did run is counted and reported as "failed"
 * (never "cancelled": its items ran, and may have changed rows); the
 * summary stays in memory, the results are gone, for async_result_ttl_s.
 */
static void
async_fail(struct master *m, struct mbatch *b, const char *why)
{
	struct masync	*a = b->mb_async;
	uint32_t	 i;

	if (a->ma_status == AS_FAILED)
		return;
	a->ma_ran = b->mb_ndone - b->mb_nskipped;
	a->ma_nfailed = async_failed(b);
	a->ma_status = AS_FAILED;
	a->ma_failed_ns = mono_ns();
	a->ma_unsaved = 0;
	log_error("async batch %s failed: its results cannot be stored "
	    "(%.200s); %u of %u items ran", a->ma_id, why, a->ma_ran,
	    b->mb_nitems);
	for (i = 0; i < b->mb_nitems; i++)
		buf_free(&b->mb_items[i].mi_out);
	if (!a->ma_done)
		async_stop(m, b, ERR_CANCELLED, "the batch failed: its results "
		    "cannot be stored");
}

static void
async_post(struct master *m, struct hreq *req,
    const struct config_token *tok, const char *rid, uint64_t t0)
{
	struct mbatch	*b;
	struct masync	*a;
	struct err	 e;
	struct tm	 tm;
	time_t		 now = time(NULL);

	if ((b = batch_new(m, MB_ASYNC, 0)) == NULL ||
	    (b->mb_async = calloc(1, sizeof(*b->mb_async))) == NULL) {
		if (b != NULL)
			batch_free(m, b);
		http_reply_error(m, req, rid, ERR_INTERNAL, "out of memory");
		http_log("POST", "/v1/batches", 500, 0, rid, t0);
		return;
	}
	b->mb_on_done = async_batch_done;
	b->mb_on_item = async_on_item;
	a = b->mb_async;
	/* Before the parse: every item carries the id its answer is
	 * stored under. */
	async_new_id(a->ma_id);
	snprintf(b->mb_store_id, sizeof(b->mb_store_id), "%s", a->ma_id);
	if (batch_parse(m, b, req->hr_body, req->hr_body_len, tok,
	    &e) == -1) {
		batch_free(m, b);
		http_reply_error(m, req, rid, e.code, e.detail);
		http_log("POST", "/v1/batches", err_status(e.code), 0, rid, t0);
		return;
	}
	if (http_overloaded(m, 1, b->mb_nitems, e.detail, sizeof(e.detail))) {
		batch_free(m, b);
		http_reply_error(m, req, rid, ERR_SERVICE_UNAVAILABLE, e.detail);
		http_log("POST", "/v1/batches", 503, 0, rid, t0);
		return;
	}
	if (async_owner(tok, a->ma_owner) == -1) {
		batch_free(m, b);
		http_reply_error(m, req, rid, ERR_INTERNAL,
		    "token hash failed (libcrypto)");
		http_log("POST", "/v1/batches", 500, 0, rid, t0);
		return;
	}
	gmtime_r(&now, &tm);
	strftime(a->ma_created, sizeof(a->ma_created), "%Y-%m-%dT%H:%M:%SZ",
	    &tm);
	a->ma_status = AS_QUEUED;
	snprintf(b->mb_rid, sizeof(b->mb_rid), "%s", rid);
	m->metrics.batches++;
	async_reply_summary(m, req, b, 201, rid, "POST", "/v1/batches", t0, 0);
	log_info("async batch %s accepted: %u items", a->ma_id, b->mb_nitems);
	async_save(m, b);
	batch_start(m, b);
}

/* Items not started answer 499; items already in the ring finish. */
static void
async_cancel(struct master *m, struct mbatch *b)
{
	if (b->mb_async->ma_done || b->mb_async->ma_status == AS_FAILED)
		return;
	b->mb_async->ma_status = AS_CANCELLED;
	async_stop(m, b, ERR_CANCELLED, "the batch was cancelled");
}

void
async_cancel_all(struct master *m)
{
	struct mbatch *b, *nb;

	for (b = TAILQ_FIRST(&m->batches); b != NULL; b = nb) {
		nb = TAILQ_NEXT(b, mb_entry);
		if (b->mb_kind == MB_ASYNC && !b->mb_async->ma_done)
			async_cancel(m, b);
	}
}

static struct mbatch *
async_find(struct master *m, const char *id)
{
	struct mbatch *b;

	TAILQ_FOREACH(b, &m->batches, mb_entry)
		if (b->mb_kind == MB_ASYNC &&
		    strcmp(b->mb_async->ma_id, id) == 0)
			return b;
	return NULL;
}

static int
async_id_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 1 || n > 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' &&
		    s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-' || s[i] == '_'))
			return 0;
	return 1;
}

/* One ?name=value of a query string, percent-decoded into out. */
static int
async_query_arg(const char *qs, size_t n, const char *name, char *out,
    size_t outlen)
{
	size_t	 nl = strlen(name), i = 0, s, e;
	long	 k;

	while (i < n) {
		s = i;
		while (i < n && qs[i] != '&')
			i++;
		e = i++;
		if (e - s > nl && memcmp(qs + s, name, nl) == 0 &&
		    qs[s + nl] == '=') {
			s += nl + 1;
			if (e - s >= outlen ||
			    (k = url_decode(qs + s, e - s, out, 1)) < 0)
				return -1;
			out[k] = '\0';
			return 1;
		}
	}
	return 0;
}

/* ?offset=&limit= ; -1 with detail on a bad value. */
static int
async_page_args(const struct route_str *target, long *offset, long *limit,
    char *detail, size_t dlen)
{
	const char	*qs = memchr(target->p, '?', target->n);
	char		 v[32], *end;
	size_t		 n;
	int		 rc;

	*offset = 0;
	*limit = ASYNC_PAGE_DEFAULT;
	if (qs == NULL)
		return 0;
	qs++;
	n = target->n - (size_t)(qs - target->p);
	if ((rc = async_query_arg(qs, n, "offset", v, sizeof(v))) != 0) {
		*offset = strtol(v, &end, 10);
		if (rc < 0 || v[0] == '\0' || *end != '\0' || *offset < 0) {
			snprintf(detail, dlen, "offset must be an integer >= 0");
			return -1;
		}
	}
	if ((rc = async_query_arg(qs, n, "limit", v, sizeof(v))) != 0) {
		*limit = strtol(v, &end, 10);
		if (rc < 0 || v[0] == '\0' || *end != '\0' || *limit < 1 ||
		    *limit > ASYNC_PAGE_MAX) {
			snprintf(detail, dlen, "limit must be an integer from "
			    "1 to %d", ASYNC_PAGE_MAX);
			return -1;
		}
	}
	return 0;
}

void
async_request(struct master *m, struct hreq *req, const char *path,
    const struct config_token *tok, const char *rid, uint64_t t0)
{
	struct mbatch	*b, *s;
	struct item_req	 rq;
	char		 owner[65], detail[96], offs[24], ttl[24];
	char		 pagemax[24];
	enum http_method cmd = req->hr_h.method == HM_HEAD ? HM_GET :
			    req->hr_h.method;
	const char	*id, *method = http_method_str(req->hr_h.method);
	long		 offset, limit;
	enum err_code	 code = ERR_NONE;

	if (strcmp(path, "/v1/batches") == 0) {
		if (cmd == HM_POST) {
			async_post(m, req, tok, rid, t0);
			return;
		}
		code = ERR_METHOD_NOT_ALLOWED;
		snprintf(detail, sizeof(detail), "allowed: POST");
	} else if (!async_id_ok(id = path + strlen("/v1/batches/"))) {
		code = ERR_PATH_NOT_FOUND;
		snprintf(detail, sizeof(detail), "no operation at this path");
	} else if (cmd != HM_GET && cmd != HM_DELETE) {
		code = ERR_METHOD_NOT_ALLOWED;
		snprintf(detail, sizeof(detail), "allowed: GET, DELETE");
	} else if (async_page_args(&req->hr_h.target, &offset, &limit, detail,
	    sizeof(detail)) == -1)
		code = ERR_BAD_REQUEST;
	if (code != ERR_NONE) {
		http_reply_error(m, req, rid, code, detail);
		http_log(method, path, err_status(code), 0, rid, t0);
		return;
	}
	if (async_owner(tok, owner) == -1) {
		http_reply_error(m, req, rid, ERR_INTERNAL,
		    "token hash failed (libcrypto)");
		http_log(method, path, 500, 0, rid, t0);
		return;
	}
	if ((b = async_find(m, id)) != NULL) {
		/* Another token's batch does not exist, as far as it knows. */
		if (strcmp(b->mb_async->ma_owner, owner) != 0) {
			http_reply_error(m, req, rid, ERR_NOT_FOUND,
			    "no such batch");
			http_log(method, path, 404, 0, rid, t0);
			return;
		}
		if (cmd == HM_DELETE) {
			async_cancel(m, b);
			/* b may now be finished, but is kept until stored. */
			async_reply_summary(m, req, b, 200, rid, method, path,
			    t0, 0);
			return;
		}
		/* A failed batch's results are gone: its summary only. */
		if (b->mb_async->ma_status == AS_FAILED) {
			async_reply_summary(m, req, b, 200, rid, method, path,
			    t0, 1);
			return;
		}
	}
	/* Not running here, or its page is stored: the store has it, or
	 * nobody does. */
	memset(&rq, 0, sizeof(rq));
	rq.op = OP_ASYNC_GET;
	rq.key.p = id;
	rq.key.n = strlen(id);
	rq.query.p = owner;
	rq.query.n = strlen(owner);
	snprintf(offs, sizeof(offs), "%ld", offset);
	rq.after.p = offs;
	rq.after.n = strlen(offs);
	rq.limit = limit;
	snprintf(ttl, sizeof(ttl), "%ld", m->cfg.async_result_ttl_s);
	rq.timespan.p = ttl;
	rq.timespan.n = strlen(ttl);
	snprintf(pagemax, sizeof(pagemax), "%ld", m->cfg.max_response_bytes);
	rq.prefix.p = pagemax;
	rq.prefix.n = strlen(pagemax);
	if (b != NULL) {
		rq.ws.p = "live";
		rq.ws.n = 4;
	}
	if ((s = async_system(m, SYS_GET, &rq)) == NULL) {
		http_reply_error(m, req, rid, ERR_INTERNAL, "out of memory");
		http_log(method, path, 500, 0, rid, t0);
		return;
	}
	if (b != NULL)
		snprintf(s->mb_async->ma_live, sizeof(s->mb_async->ma_live),
		    "%s", id);
	http_own(req, s);
	s->mb_t0 = t0;
	snprintf(s->mb_rid, sizeof(s->mb_rid), "%s", rid);
	snprintf(s->mb_method, sizeof(s->mb_method), "%s", method);
	s->mb_path = strdup(path);
	batch_start(m, s);
}

/* Every item of an async batch is answered. */
static void
async_batch_done(struct master *m, struct mbatch *b)
{
	struct masync	*a = b->mb_async;

	a->ma_done = 1;
	if (a->ma_status == AS_FAILED)
		return;		/* kept as it is until it expires */
	if (a->ma_status != AS_CANCELLED)
		a->ma_status = AS_COMPLETED;
	log_info("async batch %s %s: %u items, %u failed", a->ma_id,
	    async_status_names[a->ma_status], b->mb_nitems, async_failed(b));
	async_save(m, b);
}

static void
async_system_done(struct master *m, struct mbatch *s)
{
	struct masync	*sa = s->mb_async, *pa;
	struct mbatch	*p = sa->ma_parent;
	struct mitem	*it = &s->mb_items[0];
	uint32_t	 seq;

	switch (sa->ma_sys) {
	case SYS_SAVE:
		pa = p->mb_async;
		pa->ma_saving = 0;
		if (pa->ma_status == AS_FAILED)
			break;
		if (it->mi_status >= 300) {
			async_fail(m, p, it->mi_out.data ? it->mi_out.data :
			    "saving failed");
			break;
		}
		/* Stored: those results leave the master. */
		for (seq = pa->ma_saved; seq < sa->ma_upto; seq++) {
			struct mitem *r = &p->mb_items[p->mb_order[seq]];

			pa->ma_unsaved -= r->mi_out.len < pa->ma_unsaved ?
			    r->mi_out.len : pa->ma_unsaved;
			buf_free(&r->mi_out);
		}
		pa->ma_saved = sa->ma_upto;
		if (sa->ma_final)
			pa->ma_stored = 1;
		if (pa->ma_stored) {
			/* Stored for good: forget it. */
			batch_free(m, p);
			break;
		}
		if (pa->ma_done || pa->ma_saved < p->mb_ndone)
			async_save(m, p);
		if (p->mb_paused && pa->ma_unsaved <
		    (uint64_t)m->cfg.async_buffer_bytes / 2)
			batch_resume(m, p);
		break;
	case SYS_GET:
		if (s->mb_req != NULL) {
			struct buf	 o = BUF_INIT;
			const char	*rest;

			/* A page of a batch still running here: the stored
			 * records, with the summary as it is now. */
			if (sa->ma_live[0] != '\0' && it->mi_status == 200 &&
			    (p = async_find(m, sa->ma_live)) != NULL &&
			    it->mi_out.data != NULL && (rest = strstr(
			    it->mi_out.data, ",\"responses\":[")) != NULL) {
				buf_puts(&o, "{\"batch\":");
				async_summary(&o, p);
				buf_append(&o, rest, it->mi_out.len -
				    (size_t)(rest - it->mi_out.data));
				buf_free(&it->mi_out);
				it->mi_out = o;
			}
			http_send_json(m, s->mb_req, s->mb_rid, it->mi_status,
			    it->mi_out.data ? it->mi_out.data : "",
			    it->mi_out.len, NULL);
			http_log(s->mb_method, s->mb_path ? s->mb_path : "",
			    it->mi_status, 1, s->mb_rid, s->mb_t0);
			s->mb_req = NULL;
		}
		break;
	case SYS_PURGE:
		if (it->mi_status >= 300) {
			log_error("async purge failed (%d)", it->mi_status);
			break;
		}
		log_debug("async purge: %.100s",
		    it->mi_out.data ? it->mi_out.data : "");
		/* A full round means more may be waiting: purge again on the
		 * next tick rather than in a minute, so expired results can
		 * never pile up faster than they go. */
		if (it->mi_out.data != NULL &&
		    strtol(it->mi_out.data + strcspn(it->mi_out.data,
		    "0123456789"), NULL, 10) >= ASYNC_PURGE_BATCHES)
			m->last_purge_ns = 0;
		break;
	default:
		break;
	}
	batch_free(m, s);
}

/* Every tick: store new records of running batches; now and then drop
 * expired results. */
void
async_tick(struct master *m)
{
	struct mbatch	*b, *nb, *s;
	struct item_req	 rq;
	char		 ttl[24];
	uint64_t	 now = mono_ns();

	for (b = TAILQ_FIRST(&m->batches); b != NULL; b = nb) {
		nb = TAILQ_NEXT(b, mb_entry);
		if (b->mb_kind != MB_ASYNC)
			continue;
		if (b->mb_async->ma_status == AS_FAILED) {
			/* Its summary is all that is left, for a while. */
			if (b->mb_async->ma_done && now -
			    b->mb_async->ma_failed_ns > (uint64_t)
			    m->cfg.async_result_ttl_s * 1000000000ULL)
				batch_free(m, b);
			continue;
		}
		if (b->mb_async->ma_status == AS_QUEUED && b->mb_ndone > 0)
			b->mb_async->ma_status = AS_RUNNING;
		if (!b->mb_async->ma_saving && b->mb_async->ma_saved <
		    b->mb_ndone)
			async_save(m, b);
	}
	if (m->last_purge_ns != 0 && now - m->last_purge_ns <
	    ASYNC_PURGE_EVERY_NS)
		return;
	m->last_purge_ns = now;
	if (m->draining)
		return;
	memset(&rq, 0, sizeof(rq));
	rq.op = OP_ASYNC_PURGE;
	rq.limit = ASYNC_PURGE_BATCHES;
	snprintf(ttl, sizeof(ttl), "%ld", m->cfg.async_result_ttl_s);
	rq.timespan.p = ttl;
	rq.timespan.n = strlen(ttl);
	if ((s = async_system(m, SYS_PURGE, &rq)) != NULL)
		batch_start(m, s);
}
