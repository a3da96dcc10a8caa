/*
 * quarantine.c - poison items (SPEC 6, Quarantine).
 *
 * An item that timed out, crashed its worker or ran out of memory costs a
 * worker each time it runs, and clients retry failures (azure-core retries
 * a 504 three times): one bad query would kill worker after worker.  So
 * the master remembers such an item by a fingerprint and, for a cool-down,
 * answers a repeat at once with the same status and a Retry-After, without
 * publishing it.  Each new failure of a remembered fingerprint doubles its
 * cool-down, up to quarantine_cooldown_max_ms.
 *
 * The fingerprint is SHA-256 (libcrypto's EVP) over what makes two items
 * "the same": the operation (method and path shape), workspace, table,
 * key, query-string parameters and body, each with its length so that no
 * two different items run together into one byte string.  If-Match and
 * Prefer are left out: a retry with another precondition or a statistics
 * flag is the same query.  A timeout is remembered with the timeout the
 * item had, and a repeat that asks (Prefer: wait=N) for a longer one runs:
 * a query too slow for 5 s may finish in 60.
 *
 * Only single items are fingerprinted; an atomicity group's members run
 * and fail together and are left to their own retries.  The table is
 * bounded (quarantine_max_entries): open addressing, linear probing,
 * deletion by backward shift; when it is full the entry whose cool-down
 * ends first goes.  The table is empty but for poison items, and an empty
 * table costs an item nothing (no hash is computed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "futex.h"
#include "master.h"
#include "shm.h"

#define QUAR_NS_PER_MS	1000000ULL

struct qentry {
	unsigned char	 q_fp[QUAR_FP_LEN];
	uint64_t	 q_until_ns;	/* repeats answered until then */
	uint64_t	 q_last_ns;	/* last failure */
	uint64_t	 q_cool_ms;	/* the cool-down last applied */
	uint32_t	 q_strikes;	/* failures seen */
	uint32_t	 q_timeout_ms;	/* QUERY_TIMEOUT: the item's timeout */
	uint16_t	 q_code;	/* enum err_code of the failure */
	uint16_t	 q_used;
};

/* Can this item be fingerprinted (and so quarantined)? */
static int
quar_eligible(const struct master *m, const struct mitem *it)
{
	return m->cfg.quarantine_cooldown_ms > 0 && it->mi_group < 0 &&
	    it->mi_batch->mb_kind != MB_SYSTEM && it->mi_enc.data == NULL &&
	    it->mi_enc_len > 0;
}

/* The item's fingerprint from its encoding; -1 if it cannot be read. */
static int
quar_fingerprint(struct quarantine *q, const struct mitem *it,
    unsigned char *fp)
{
	struct item_req	 rq;
	const char	*enc;
	size_t		 len, k;
	uint32_t	 w[2];
	unsigned int	 n;

	enc = mitem_enc(it, &len);
	if (q->q_md == NULL || item_decode(enc, len, &rq) == -1)
		return -1;

	const struct route_str body = { rq.body, rq.body_len };
	const struct route_str *f[] = { &rq.ws, &rq.table, &rq.key,
	    &rq.prefix, &rq.after, &rq.query, &rq.timespan, &body };

	if (EVP_DigestInit_ex(q->q_md, EVP_sha256(), NULL) != 1)
		return -1;
	w[0] = (uint32_t)rq.op;
	w[1] = (uint32_t)rq.limit;
	EVP_DigestUpdate(q->q_md, w, sizeof(w));
	for (k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
		w[0] = f[k]->p != NULL ? (uint32_t)f[k]->n : ITEM_ABSENT;
		EVP_DigestUpdate(q->q_md, w, sizeof(w[0]));
		if (f[k]->p != NULL && f[k]->n > 0)
			EVP_DigestUpdate(q->q_md, f[k]->p, f[k]->n);
	}
	return EVP_DigestFinal_ex(q->q_md, fp, &n) == 1 &&
	    n == QUAR_FP_LEN ? 0 : -1;
}

static uint32_t
quar_home(const struct quarantine *q, const unsigned char *fp)
{
	uint32_t h;

	memcpy(&h, fp, sizeof(h));	/* already uniform: a SHA-256 */
	return h & q->q_mask;
}

/* The slot of fp: where it is, or the empty slot it would go to. */
static uint32_t
quar_slot(const struct quarantine *q, const unsigned char *fp)
{
	uint32_t i;

	for (i = quar_home(q, fp); q->q_tab[i].q_used;
	    i = (i + 1) & q->q_mask)
		if (memcmp(q->q_tab[i].q_fp, fp, QUAR_FP_LEN) == 0)
			break;
	return i;
}

/* Remove slot i, moving later entries of its run back (no tombstones). */
static void
quar_remove(struct quarantine *q, uint32_t i)
{
	uint32_t j = i, h;

	q->q_tab[i].q_used = 0;
	q->q_count--;
	for (;;) {
		j = (j + 1) & q->q_mask;
		if (!q->q_tab[j].q_used)
			return;
		h = quar_home(q, q->q_tab[j].q_fp);
		/* Entry j may move to i if i lies on its probe path. */
		if (((j - h) & q->q_mask) >= ((j - i) & q->q_mask)) {
			q->q_tab[i] = q->q_tab[j];
			q->q_tab[j].q_used = 0;
			i = j;
		}
	}
}

/* An entry is kept while its cool-down, and as long again after it, has
 * not passed: a repeat failure in that time is a repeat. */
static int
quar_stale(const struct qentry *e, uint64_t now)
{
	return now > e->q_until_ns &&
	    now - e->q_until_ns > e->q_cool_ms * QUAR_NS_PER_MS;
}

/* Make room for one more: drop stale entries, then, if still full, the
 * one whose cool-down ends first. */
static void
quar_evict(struct quarantine *q, uint64_t now, uint32_t max)
{
	uint32_t i, victim = UINT32_MAX;

	for (i = 0; i <= q->q_mask && q->q_count > 0; i++)
		while (q->q_tab[i].q_used && quar_stale(&q->q_tab[i], now))
			quar_remove(q, i);
	while (q->q_count >= max) {
		for (i = 0; i <= q->q_mask; i++)
			if (q->q_tab[i].q_used && (victim == UINT32_MAX ||
			    q->q_tab[i].q_until_ns <
			    q->q_tab[victim].q_until_ns))
				victim = i;
		quar_remove(q, victim);
		victim = UINT32_MAX;
	}
}

/* A table for max entries, at most half full. */
static int
quar_alloc(struct quarantine *q, uint32_t max)
{
	uint32_t cap = 16;

	while (cap < 2 * (uint64_t)max)
		cap *= 2;
	if ((q->q_tab = calloc(cap, sizeof(*q->q_tab))) == NULL)
		return -1;
	q->q_mask = cap - 1;
	q->q_count = 0;
	q->q_max = max;
	return 0;
}

int
quarantine_init(struct master *m)
{
	struct quarantine *q = &m->quar;

	memset(q, 0, sizeof(*q));
	if ((q->q_md = EVP_MD_CTX_new()) == NULL)
		return -1;
	return quar_alloc(q, (uint32_t)m->cfg.quarantine_max_entries);
}

/*
 * After a reload: the remembered items stay remembered (a reload must not
 * let a poison query loose on the workers again); a smaller
 * quarantine_max_entries keeps those whose cool-down ends last, and
 * quarantine_cooldown_ms = 0 turns the quarantine off and forgets all.
 */
void
quarantine_reload(struct master *m)
{
	struct quarantine	*q = &m->quar, old = *q;
	uint32_t		 i, max = (uint32_t)m->cfg.quarantine_max_entries;

	if (m->cfg.quarantine_cooldown_ms == 0) {
		memset(q->q_tab, 0, (q->q_mask + 1) * sizeof(*q->q_tab));
		q->q_count = 0;
	}
	if (max == q->q_max || q->q_tab == NULL)
		return;
	if (quar_alloc(q, max) == -1) {
		*q = old;
		log_warn("reload: quarantine_max_entries: out of memory; "
		    "keeping %u", old.q_max);
		return;
	}
	for (i = 0; i <= old.q_mask; i++) {
		if (!old.q_tab[i].q_used)
			continue;
		if (q->q_count >= max)
			quar_evict(q, mono_ns(), max);
		q->q_tab[quar_slot(q, old.q_tab[i].q_fp)] = old.q_tab[i];
		q->q_count++;
	}
	free(old.q_tab);
}

void
quarantine_free(struct master *m)
{
	EVP_MD_CTX_free(m->quar.q_md);
	free(m->quar.q_tab);
	memset(&m->quar, 0, sizeof(m->quar));
}

static long
quar_item_timeout_ms(const struct master *m, const struct mitem *it)
{
	return prefer_timeout_ms(&it->mi_prefer, m->cfg.item_timeout_ms,
	    m->cfg.item_timeout_max_ms);
}

void
quarantine_note(struct master *m, struct mitem *it, enum err_code code)
{
	struct quarantine	*q = &m->quar;
	struct qentry		*e;
	unsigned char		 fp[QUAR_FP_LEN];
	uint64_t		 now = mono_ns(), cool;
	uint32_t		 i;

	/* A part of a split query fails the query: remember the query. */
	if (it->mi_owner != NULL)
		it = it->mi_owner;
	if (!quar_eligible(m, it) || it->mi_quarantined ||
	    quar_fingerprint(q, it, fp) == -1)
		return;
	i = quar_slot(q, fp);
	if (!q->q_tab[i].q_used || quar_stale(&q->q_tab[i], now)) {
		if (q->q_tab[i].q_used)
			quar_remove(q, i);
		if (q->q_count >= q->q_max)
			quar_evict(q, now, q->q_max);
		i = quar_slot(q, fp);
		memset(&q->q_tab[i], 0, sizeof(q->q_tab[i]));
		memcpy(q->q_tab[i].q_fp, fp, QUAR_FP_LEN);
		q->q_tab[i].q_used = 1;
		q->q_count++;
	}
	e = &q->q_tab[i];
	e->q_strikes++;
	cool = (uint64_t)m->cfg.quarantine_cooldown_ms;
	for (i = 1; i < e->q_strikes &&
	    cool < (uint64_t)m->cfg.quarantine_cooldown_max_ms; i++)
		cool *= 2;
	if (cool > (uint64_t)m->cfg.quarantine_cooldown_max_ms)
		cool = (uint64_t)m->cfg.quarantine_cooldown_max_ms;
	if (cool < (uint64_t)m->cfg.quarantine_cooldown_ms)
		cool = (uint64_t)m->cfg.quarantine_cooldown_ms;
	e->q_cool_ms = cool;
	e->q_last_ns = now;
	e->q_until_ns = now + cool * QUAR_NS_PER_MS;
	e->q_code = (uint16_t)code;
	e->q_timeout_ms = code == ERR_QUERY_TIMEOUT ?
	    (uint32_t)quar_item_timeout_ms(m, it) : 0;
	log_warn("quarantine: item \"%.64s\" of batch %llu (%s) is answered "
	    "%d for %llu ms (failure %u)", it->mi_id != NULL ? it->mi_id : "",
	    (unsigned long long)it->mi_batch->mb_id, err_name(code),
	    err_status(code), (unsigned long long)cool, e->q_strikes);
}

int
quarantine_check(struct master *m, struct mitem *it, struct sched_answer *a,
    struct buf *body)
{
	struct quarantine	*q = &m->quar;
	struct qentry		*e;
	unsigned char		 fp[QUAR_FP_LEN];
	char			 detail[200];
	uint64_t		 now, left_ms;
	uint32_t		 i;

	if (q->q_count == 0 || !quar_eligible(m, it) ||
	    quar_fingerprint(q, it, fp) == -1)
		return 0;
	i = quar_slot(q, fp);
	e = &q->q_tab[i];
	now = mono_ns();
	if (!e->q_used || now >= e->q_until_ns)
		return 0;
	if (e->q_code == ERR_QUERY_TIMEOUT &&
	    quar_item_timeout_ms(m, it) > (long)e->q_timeout_ms)
		return 0;
	left_ms = (e->q_until_ns - now + QUAR_NS_PER_MS - 1) / QUAR_NS_PER_MS;
	snprintf(detail, sizeof(detail), "quarantined: the same request %s "
	    "%u time%s; not run again for %llu ms",
	    e->q_code == ERR_QUERY_TIMEOUT ? "timed out" :
	    e->q_code == ERR_OUT_OF_MEMORY ? "ran out of memory" :
	    "crashed its worker", e->q_strikes, e->q_strikes == 1 ? "" : "s",
	    (unsigned long long)left_ms);
	err_body(body, (enum err_code)e->q_code, detail);
	memset(a, 0, sizeof(*a));
	a->status = err_status((enum err_code)e->q_code);
	a->body = body->data;
	a->body_len = body->len;
	a->retry_after = (uint32_t)((left_ms + 999) / 1000);
	it->mi_quarantined = 1;
	m->metrics.quarantined++;
	return 1;
}

uint32_t
quarantine_size(const struct master *m)
{
	return m->quar.q_count;
}
