/*
 * split.c - parallel scans, the master's share (SPEC 5; the layouts in
 * shm.h, "Parallel scans").
 *
 * A worker may answer a large query with parts instead of its answer
 * (COMP_F_SPLIT).  The query's item then waits while a hidden batch of its
 * own (MB_SYSTEM, so no window, metrics or quarantine of its own) runs
 * them through the ring like any item: one OP_QUERY_PART per part, then,
 * once every part has answered 200, one OP_QUERY_MERGE whose body is the
 * parts' answers spliced as they came - the master reads their lengths,
 * never their bytes.  The merge's answer is the query's.
 *
 * A part that answers anything but 200 (400, 422, or 500/504/507 when its
 * worker crashed, timed out or ran out of memory) is the query's answer at
 * once; parts not started are dropped, running ones are let finish and
 * ignored.  Every part and the merge time out at the query's deadline
 * (item_timeout_ms or Prefer: wait, counted from the split), and a crash,
 * timeout or out-of-memory of any of them quarantines the query itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "futex.h"
#include "master.h"
#include "shm.h"

struct msplit {
	struct mitem	*sp_query;	/* the query's item */
	struct mbatch	*sp_hb;		/* the hidden batch of its parts */
	uint32_t	 sp_nparts;
	uint32_t	 sp_ndone;	/* parts answered 200 */
	int		 sp_answered;	/* the query has its answer */
};

static size_t
split_ring_bytes(const struct master *m)
{
	return (size_t)(m->ring.mask + 1) * m->ring.slot_bytes;
}

/* Answer the query with status and body (once). */
static void
split_answer(struct master *m, struct msplit *sp, int status,
    const struct buf *body)
{
	struct sched_answer	 a;
	uint32_t		 i;

	sp->sp_answered = 1;
	/* The query's batch may go once answered: nothing points at it. */
	for (i = 0; i <= sp->sp_nparts; i++)
		sp->sp_hb->mb_items[i].mi_owner = NULL;
	memset(&a, 0, sizeof(a));
	a.status = status;
	a.body = body->data != NULL ? body->data : "";
	a.body_len = body->len;
	sched_answer(m, sp->sp_query, &a);
}

/* The hidden batch's items that never ran are answered (and ignored). */
static void
split_drop(struct master *m, struct mbatch *hb)
{
	struct mitem	*it;
	uint32_t	 i;

	for (i = 0; i < hb->mb_nitems; i++) {
		it = &hb->mb_items[i];
		if (it->mi_state == MI_WAITING || it->mi_state == MI_PENDING)
			sched_fail(m, it, ERR_CANCELLED, "another part of the "
			    "split query failed");
	}
}

/* Every part answered 200: the merge, with their answers spliced. */
static void
split_merge(struct master *m, struct mbatch *hb, struct msplit *sp)
{
	struct mitem	*mg = &hb->mb_items[sp->sp_nparts], *q = sp->sp_query;
	struct item_req	 rq;
	struct buf	 body = BUF_INIT, err = BUF_INIT;
	const char	*enc;
	size_t		 elen, total;
	uint32_t	 i, len;
	char		 why[160];

	enc = mitem_enc(q, &elen);
	total = 8 + elen;
	for (i = 0; i < sp->sp_nparts; i++)
		total += 4 + hb->mb_items[i].mi_out.len;
	if (total + sizeof(struct item_wire) > split_ring_bytes(m)) {
		snprintf(why, sizeof(why), "the parts' partial results (%zu "
		    "bytes) do not fit the ring", total);
		err_body(&err, ERR_QUERY_LIMIT_EXCEEDED, why);
		split_answer(m, sp, err_status(ERR_QUERY_LIMIT_EXCEEDED), &err);
		buf_free(&err);
		split_drop(m, hb);
		return;
	}
	if (buf_reserve(&body, total) == -1)
		goto oom;
	len = (uint32_t)elen;
	buf_append(&body, &len, 4);
	buf_append(&body, enc, elen);
	buf_append(&body, &sp->sp_nparts, 4);
	for (i = 0; i < sp->sp_nparts; i++) {
		len = (uint32_t)hb->mb_items[i].mi_out.len;
		buf_append(&body, &len, 4);
		buf_append(&body, hb->mb_items[i].mi_out.data, len);
		buf_free(&hb->mb_items[i].mi_out);
	}
	memset(&rq, 0, sizeof(rq));
	rq.op = OP_QUERY_MERGE;
	rq.body_kind = BODY_OTHER;
	rq.body = body.data;
	rq.body_len = body.len;
	if (item_encode(&rq, &mg->mi_enc) == -1)
		goto oom;
	buf_free(&body);
	sched_submit(m, mg);
	return;
oom:
	buf_free(&body);
	err_body(&err, ERR_INTERNAL, "out of memory for the merge");
	split_answer(m, sp, err_status(ERR_INTERNAL), &err);
	buf_free(&err);
	split_drop(m, hb);
}

/* A part or the merge was answered. */
static void
split_on_item(struct master *m, struct mitem *it)
{
	struct mbatch	*hb = it->mi_batch;
	struct msplit	*sp = hb->mb_split;

	if (sp->sp_answered)
		return;
	if (it->mi_idx == sp->sp_nparts || it->mi_status != 200) {
		split_answer(m, sp, it->mi_status, &it->mi_out);
		split_drop(m, hb);
		return;
	}
	if (++sp->sp_ndone == sp->sp_nparts)
		split_merge(m, hb, sp);
}

static void
split_on_done(struct master *m, struct mbatch *hb)
{
	batch_free(m, hb);
}

/*
 * A worker answered the query q with parts (a: the COMP_F_SPLIT record's
 * body, in its completion ring).  Run them; if that cannot be done the
 * query is answered the error.  Reached from pool.c through
 * m->item_split (the layers below the batch do not call up).
 */
void
split_start(struct master *m, struct mitem *q, const struct sched_answer *a)
{
	struct mbatch	*hb = NULL;
	struct msplit	*sp = NULL;
	struct mitem	*it;
	struct item_req	 rq;
	struct buf	 list = BUF_INIT, body = BUF_INIT;
	const char	*enc, *p, *e;
	size_t		 elen;
	uint32_t	 magic, n = 0, i, len;
	uint64_t	 now = mono_ns();
	enum err_code	 code = ERR_INTERNAL;
	const char	*why = "malformed split of a query";

	if (buf_reserve(&list, a->body_len) == -1) {
		why = "out of memory";
		goto fail;
	}
	wslot_copy(a->src, a->body_pos, list.data, a->body_len);
	list.len = a->body_len;
	p = list.data;
	e = p + list.len;
	enc = mitem_enc(q, &elen);
	if (list.len < 8 || elen == 0)
		goto fail;
	memcpy(&magic, p, 4);
	memcpy(&n, p + 4, 4);
	p += 8;
	if (magic != SPLIT_MAGIC || n < 2 || n > SPLIT_PARTS_MAX)
		goto fail;
	if ((hb = batch_new(m, MB_SYSTEM, n + 1)) == NULL ||
	    (sp = calloc(1, sizeof(*sp))) == NULL) {
		why = "out of memory";
		goto fail;
	}
	hb->mb_split = sp;
	sp->sp_hb = hb;
	sp->sp_query = q;
	sp->sp_nparts = n;
	hb->mb_on_item = split_on_item;
	hb->mb_on_done = split_on_done;
	snprintf(hb->mb_rid, sizeof(hb->mb_rid), "%s", q->mi_batch->mb_rid);
	for (i = 0; i <= n; i++) {
		it = &hb->mb_items[i];
		it->mi_id = q->mi_id;
		it->mi_id_len = q->mi_id_len;
		it->mi_prefer = q->mi_prefer;
		it->mi_t_start = now;
		it->mi_owner = q;
		if (i == n) {
			it->mi_deps_left = 1;	/* the merge: after the parts */
			break;
		}
		if (e - p < 4)
			goto fail;
		memcpy(&len, p, 4);
		if (len > (size_t)(e - p) - 4)
			goto fail;
		buf_reset(&body);
		if (buf_append(&body, &len, 4) == -1 ||
		    buf_append(&body, p + 4, len) == -1 ||
		    buf_append(&body, enc, elen) == -1) {
			why = "out of memory";
			goto fail;
		}
		p += 4 + len;
		memset(&rq, 0, sizeof(rq));
		rq.op = OP_QUERY_PART;
		rq.body_kind = BODY_OTHER;
		rq.body = body.data;
		rq.body_len = body.len;
		if (item_encode(&rq, &it->mi_enc) == -1) {
			why = "out of memory";
			goto fail;
		}
		if (it->mi_enc.len > split_ring_bytes(m)) {
			code = ERR_PAYLOAD_TOO_LARGE;
			why = "a part of the query does not fit the ring";
			goto fail;
		}
	}
	if (p != e)
		goto fail;
	buf_free(&list);
	buf_free(&body);
	/* The query's own ring entry is done with: its parts take over. */
	sched_release(m, q);
	batch_start(m, hb);
	return;
fail:
	buf_free(&list);
	buf_free(&body);
	if (hb != NULL)
		batch_free(m, hb);
	sched_fail(m, q, code, why);
}
