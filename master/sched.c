/*
 * sched.c - moving items from the master's queue into the ring, and
 * turning completion records into rendered answers.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "futex.h"
#include "master.h"

/* Asynchronous batches wait in their own queue (see sched_pump). */
static struct mitem_list *
sched_queue(struct master *m, const struct mitem *it)
{
	return it->mi_batch->mb_kind == MB_ASYNC ? &m->pending_async :
	    &m->pending;
}

/* The item may run now: queue it, unless the quarantine answers it. */
void
sched_submit(struct master *m, struct mitem *it)
{
	struct sched_answer	a;
	struct buf		body = BUF_INIT;

	if (quarantine_check(m, it, &a, &body)) {
		sched_answer(m, it, &a);
		buf_free(&body);
		return;
	}
	it->mi_state = MI_PENDING;
	TAILQ_INSERT_TAIL(sched_queue(m, it), it, mi_pending);
	m->npending++;
	if (it->mi_batch->mb_kind == MB_ASYNC)
		m->npending_async++;
}

void
sched_unqueue(struct master *m, struct mitem *it)
{
	TAILQ_REMOVE(sched_queue(m, it), it, mi_pending);
	m->npending--;
	if (it->mi_batch->mb_kind == MB_ASYNC)
		m->npending_async--;
}

/* Publish the head of queue q; -1 when the ring has no room for it. */
static int
sched_publish(struct master *m, struct mitem_list *q, struct mitem *it,
    uint64_t now)
{
	struct ring_desc d;
	const char	*enc;
	size_t		 len;

	enc = mitem_enc(it, &len);
	if (ring_data_alloc(&m->ring, len, &it->mi_first,
	    &it->mi_nslots) == -1)
		return -1;
	ring_data_write(&m->ring, it->mi_first, enc, len);
	d.batch_id = it->mi_batch->mb_id;
	d.item_idx = it->mi_idx;
	d.first_slot = it->mi_first;
	d.nslots = it->mi_nslots;
	d.len = (uint32_t)len;
	if (ring_publish(&m->ring, &d) == -1) {
		ring_data_free(&m->ring, it->mi_first, it->mi_nslots);
		it->mi_first = SLOT_NONE;
		return -1;
	}
	TAILQ_REMOVE(q, it, mi_pending);
	m->npending--;
	if (it->mi_batch->mb_kind == MB_ASYNC)
		m->npending_async--;
	m->inflight[it->mi_first] = it;
	m->inflight_items++;
	if (it->mi_batch->mb_kind == MB_ASYNC)
		m->async_inflight++;
	it->mi_state = MI_QUEUED;
	it->mi_t_queued = now;
	buf_free(&it->mi_enc);
	return 0;
}

/*
 * How many ring entries asynchronous batches may have while it is next:
 * one per worker, so a background batch never sits between a plain
 * request and a free worker for more than one item - but for a write with
 * db_sync on, SCHED_ASYNC_WRITES per worker (at most write_group_max_items),
 * so that each worker commits a group of them with one sync instead of
 * paying a sync per item, while a plain request still waits behind no
 * more than that.  Only entries not yet claimed can still be cancelled.
 */
#define SCHED_ASYNC_WRITES	64

static uint64_t
sched_async_cap(struct master *m, const struct mitem *it)
{
	const char	*enc;
	size_t		 len;
	uint32_t	 op = OP_NONE;

	enc = mitem_enc(it, &len);
	if (len >= sizeof(struct item_wire))
		memcpy(&op, enc + offsetof(struct item_wire, op), sizeof(op));
	if (!m->cfg.db_sync || !route_op_writes(op))
		return (uint64_t)m->cfg.workers;
	return (uint64_t)m->cfg.workers * (m->cfg.write_group_max_items <
	    SCHED_ASYNC_WRITES ? (uint64_t)m->cfg.write_group_max_items :
	    SCHED_ASYNC_WRITES);
}

/*
 * Publish as many pending items as the ring takes now, in arrival order
 * (a large item waits for room rather than being overtaken forever), and
 * wake the workers once for the whole burst.  Asynchronous batches get
 * what synchronous work leaves, within sched_async_cap().
 */
void
sched_pump(struct master *m)
{
	struct mitem	*it;
	uint64_t	 now;
	int		 n = 0;

	if (m->npending == 0)
		return;
	now = mono_ns();	/* one clock read for the burst */
	while ((it = TAILQ_FIRST(&m->pending)) != NULL &&
	    sched_publish(m, &m->pending, it, now) == 0)
		n++;
	if (it == NULL)
		while ((it = TAILQ_FIRST(&m->pending_async)) != NULL &&
		    m->async_inflight < sched_async_cap(m, it) &&
		    sched_publish(m, &m->pending_async, it, now) == 0)
			n++;
	if (n > 0)
		ring_wake(&m->ring, n);
}

/*
 * The item a completion record (or a dead worker's descriptor) names:
 * the ring entry is found by its first data slot, and must belong to the
 * same batch; item_idx is the entry's own item or, for an atomicity
 * group, one of its members.
 */
struct mitem *
sched_lookup(struct master *m, const struct ring_desc *d)
{
	struct mitem	*it, *mem;
	struct mbatch	*b;

	if (d->first_slot > m->ring.mask)
		return NULL;
	it = m->inflight[d->first_slot];
	if (it == NULL || (b = it->mi_batch)->mb_id != d->batch_id)
		return NULL;
	if (it->mi_idx == d->item_idx)
		return it;
	if (it->mi_group != (int32_t)it->mi_idx || d->item_idx >= b->mb_nitems)
		return NULL;
	mem = &b->mb_items[d->item_idx];
	return mem->mi_group == it->mi_group ? mem : NULL;
}

/* The item's data slots are no longer read by any worker.  A group's
 * slots (held by its leader) go when its last member is answered. */
void
sched_release(struct master *m, struct mitem *it)
{
	struct mitem *lead = it;

	if (it->mi_group >= 0) {
		lead = &it->mi_batch->mb_items[it->mi_group];
		if (lead->mi_group_left > 0 && --lead->mi_group_left > 0)
			return;
	}
	if (lead->mi_first == SLOT_NONE)
		return;
	m->inflight[lead->mi_first] = NULL;
	m->inflight_items--;
	if (lead->mi_batch->mb_kind == MB_ASYNC)
		m->async_inflight--;
	ring_data_free(&m->ring, lead->mi_first, lead->mi_nslots);
	lead->mi_first = SLOT_NONE;
	lead->mi_nslots = 0;
}

/*
 * A worker died holding the entry of it in a write group that was never
 * committed (shm.h, "Group commit"): nothing of it was applied, so it goes
 * back into the ring, with the same data slots, for another worker.  If
 * the ring has no cell for it now, it is answered as the crash instead -
 * never lost, never run twice.
 */
void
sched_requeue(struct master *m, struct mitem *it, const struct ring_desc *d,
    enum err_code code, const char *detail)
{
	if (it->mi_state != MI_QUEUED || it->mi_first != d->first_slot ||
	    ring_publish(&m->ring, d) == -1) {
		sched_fail_entry(m, it, code, detail);
		return;
	}
	m->metrics.requeued++;
	ring_wake(&m->ring, 1);
}

/* A worker died holding the entry of it: answer it, or every member of
 * the group it leads that is not answered yet. */
void
sched_fail_entry(struct master *m, struct mitem *it, enum err_code code,
    const char *detail)
{
	struct mbatch	*b = it->mi_batch;
	uint32_t	 i;

	if (code == ERR_WORKER_CRASHED || code == ERR_QUERY_TIMEOUT ||
	    code == ERR_OUT_OF_MEMORY)
		quarantine_note(m, it, code);
	if (it->mi_group < 0) {
		sched_fail(m, it, code, detail);
		return;
	}
	for (i = (uint32_t)it->mi_group; i < b->mb_nitems; i++)
		if (b->mb_items[i].mi_group == it->mi_group &&
		    b->mb_items[i].mi_state != MI_DONE)
			sched_fail(m, &b->mb_items[i], code, detail);
}

static int
sched_copy_body(struct buf *out, const struct sched_answer *a)
{
	if (buf_reserve(out, a->body_len) == -1)
		return -1;
	if (a->src != NULL)
		wslot_copy(a->src, a->body_pos, out->data + out->len,
		    a->body_len);
	else if (a->body_len > 0)
		memcpy(out->data + out->len, a->body, a->body_len);
	out->len += a->body_len;
	out->data[out->len] = '\0';
	return 0;
}

/*
 * A batch item's answer, appended to o, spliced without re-serialising
 * the body: {"id":..,"status":N,"headers":{..},"body":RAW}
 */
static void
sched_render_item(struct buf *o, const struct mitem *it,
    const struct sched_answer *a)
{
	struct item_head h = {
		.id = it->mi_id, .id_len = it->mi_id_len,
		.agroup = it->mi_agroup, .agroup_len = it->mi_agroup_len,
		.status = a->status, .etag = a->etag, .etag_len = a->etag_len,
		.loc = a->loc, .loc_len = a->loc_len,
		.retry_after = a->retry_after, .body_len = a->body_len,
	};

	item_render_head(o, &h);
	if (a->body_len > 0)
		sched_copy_body(o, a);
	buf_putc(o, '}');
}

/* An error answer: the envelope's error object rendered into body. */
static void
sched_error(struct sched_answer *a, struct buf *body, enum err_code code,
    const char *detail)
{
	err_body(body, code, detail);
	memset(a, 0, sizeof(*a));
	a->status = err_status(code);
	a->body = body->data;
	a->body_len = body->len;
}

/*
 * it's answer was just put in mb_out at before.  Past max_response_bytes
 * a read's answer is replaced by an item error (running it alone will
 * do); a write's is kept, since what it did must be told.  Decided in
 * request order, so the answers cut are always the last ones.
 */
static void
sched_cut(struct master *m, struct mbatch *b, struct mitem *it,
    size_t before)
{
	struct buf		*o = &b->mb_out;
	struct buf		 err = BUF_INIT;
	struct sched_answer	 ea;
	char			 why[160];

	if (!it->mi_writes && b->mb_out_total + (o->len - before) >
	    (uint64_t)m->cfg.max_response_bytes) {
		o->len = before;
		snprintf(why, sizeof(why), "not answered: the batch's answer "
		    "reached max_response_bytes (%ld); run it alone",
		    m->cfg.max_response_bytes);
		sched_error(&ea, &err, ERR_PAYLOAD_TOO_LARGE, why);
		sched_render_item(o, it, &ea);
		buf_free(&err);
	}
	b->mb_out_total += o->len - before + 1;
}

/*
 * A synchronous batch's answers are listed in request order (SPEC 3.1:
 * clients such as Azure's JavaScript SDK match them by position), into
 * one buffer, mb_out, that the owner takes in pieces as it grows: an
 * answer whose turn has come goes straight in, followed by any that came
 * before their turn and waited in mb_side.  No allocation per item.
 */
static void
sched_render_sync(struct master *m, struct mitem *it,
    const struct sched_answer *a)
{
	struct mbatch	*b = it->mi_batch;
	struct buf	*o = &b->mb_out, *side = &b->mb_side;
	struct mitem	*n;
	size_t		 before;

	if (it->mi_idx != b->mb_next_emit) {
		it->mi_out_off = (uint32_t)side->len;
		sched_render_item(side, it, a);
		it->mi_out_len = (uint32_t)(side->len - it->mi_out_off);
		b->mb_nside++;
		return;
	}
	if (o->data == NULL)
		buf_reserve(o, b->mb_nitems < 256 ? (size_t)b->mb_nitems *
		    192 + 64 : BATCH_EMIT_BYTES);
	if (b->mb_nemitted++ > 0)
		buf_putc(o, ',');
	before = o->len;
	sched_render_item(o, it, a);
	sched_cut(m, b, it, before);
	for (b->mb_next_emit++; b->mb_next_emit < b->mb_nitems;
	    b->mb_next_emit++) {
		n = &b->mb_items[b->mb_next_emit];
		if (n->mi_state != MI_DONE)
			break;
		if (n->mi_skipped)
			continue;
		buf_putc(o, ',');
		b->mb_nemitted++;
		before = o->len;
		buf_append(o, side->data + n->mi_out_off, n->mi_out_len);
		sched_cut(m, b, n, before);
		if (--b->mb_nside == 0) {
			/* Large results leave no large buffer behind. */
			if (side->cap > BATCH_EMIT_BYTES)
				buf_free(side);
			else
				buf_reset(side);
		}
	}
	if (o->len >= BATCH_EMIT_BYTES && b->mb_on_emit != NULL)
		b->mb_on_emit(m, b);
}

void
sched_answer(struct master *m, struct mitem *it, const struct sched_answer *a)
{
	enum mbatch_kind kind = it->mi_batch->mb_kind;

	if (it->mi_state == MI_DONE)
		return;
	if (it->mi_state == MI_QUEUED)
		sched_release(m, it);
	if (it->mi_state == MI_PENDING)
		sched_unqueue(m, it);
	buf_free(&it->mi_enc);
	it->mi_status = a->status;
	it->mi_state = MI_DONE;
	if (kind == MB_PLAIN || kind == MB_SYSTEM) {
		size_t n = a->etag_len < ITEM_ETAG_MAX ? a->etag_len :
		    ITEM_ETAG_MAX - 1;

		memcpy(it->mi_etag, a->etag != NULL ? a->etag : "", n);
		it->mi_etag[n] = '\0';
		buf_reset(&it->mi_loc);
		if (a->loc_len > 0)
			buf_append(&it->mi_loc, a->loc, a->loc_len);
		buf_reset(&it->mi_out);
		sched_copy_body(&it->mi_out, a);
		it->mi_retry_after = a->retry_after;
	} else if (kind == MB_SYNC)
		sched_render_sync(m, it, a);
	else {
		/* MB_ASYNC: kept until stored, unless the worker stored it. */
		buf_reset(&it->mi_out);
		it->mi_stored = a->stored;
		if (!a->stored)
			sched_render_item(&it->mi_out, it, a);
	}
	if (kind != MB_SYSTEM)
		metrics_item(m, a->status, it->mi_t_queued ?
		    (m->burst_ns ? m->burst_ns : mono_ns()) - it->mi_t_queued :
		    0);
	m->item_done(m, it);
}

void
sched_settle(struct master *m)
{
	m->item_done(m, NULL);
}

void
sched_fail(struct master *m, struct mitem *it, enum err_code code,
    const char *detail)
{
	struct sched_answer	 a;
	struct buf		 body = BUF_INIT;

	sched_error(&a, &body, code, detail);
	sched_answer(m, it, &a);
	buf_free(&body);
}
