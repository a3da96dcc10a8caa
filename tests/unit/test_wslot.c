/*
 * test_wslot.c - unit tests for common/wslot.c: worker slot areas and their
 * completion rings (single producer, single consumer, records that wrap).
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm.h"
#include "wslot.h"

#define HDR		sizeof(struct comp_rec)
#define ALIGN8(n)	(((n) + 7) & ~(size_t)7)

/* CLOCK_MONOTONIC nanoseconds, the clock started_ns is read from. */
static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static struct wslot	*ws;

static void
teardown(void)
{
	wslot_destroy(ws);
	ws = NULL;
}

static void
slot_up(size_t min_ring)
{
	ws = wslot_create(1, min_ring);
	ck_assert_ptr_nonnull(ws);
}

/* The bytes of record i's field f (0 etag, 1 location, 2 body). */
static void
fill(char *p, size_t n, uint64_t i, int f)
{
	size_t k;

	for (k = 0; k < n; k++)
		p[k] = (char)(i * 131 + (uint64_t)f * 17 + k * 7 + (k >> 7));
}

/* A record with deterministic fields and lengths chosen by the caller. */
struct rec {
	struct comp_rec	 hdr;
	char		 etag[64];
	char		 loc[256];
	char		*body;
};

static void
rec_make(struct rec *r, uint64_t i, size_t etag, size_t loc, size_t body)
{
	ck_assert_uint_le(etag, sizeof(r->etag));
	ck_assert_uint_le(loc, sizeof(r->loc));
	memset(&r->hdr, 0, sizeof(r->hdr));
	r->hdr.batch_id = 0x100000000ULL + i;
	r->hdr.item_idx = (uint32_t)(i * 3);
	r->hdr.first_slot = (uint32_t)(i % 1000);
	r->hdr.status = (uint16_t)(200 + i % 300);
	r->hdr.etag_len = (uint16_t)etag;
	r->hdr.loc_len = (uint32_t)loc;
	r->hdr.body_len = (uint32_t)body;
	r->hdr.flags = (uint32_t)(i & COMP_F_OOM);
	fill(r->etag, etag, i, 0);
	fill(r->loc, loc, i, 1);
	r->body = malloc(body + 1);
	ck_assert_ptr_nonnull(r->body);
	fill(r->body, body, i, 2);
}

static int
rec_push(struct rec *r, int efd, int (*alive)(void))
{
	int rv = wslot_push(ws, &r->hdr, r->etag, r->loc, r->body, efd, alive);

	free(r->body);
	r->body = NULL;
	return rv;
}

/* Peek at the next record, check it is record i with those lengths, byte
 * for byte, and consume it.  Returns 0, or -1 with why filled. */
static int
rec_take(struct wslot *w, uint64_t i, size_t etag, size_t loc, size_t body,
    char *why, size_t whylen)
{
	struct comp_rec	 h;
	uint64_t	 pos, tail = atomic_load(&w->res_tail);
	char		*want, *got;
	int		 rv, bad = 0;

	if ((rv = wslot_peek(w, &h, &pos)) != 1) {
		snprintf(why, whylen, "record %llu: peek %d",
		    (unsigned long long)i, rv);
		return -1;
	}
	if (h.kind != COMP_ITEM || h.batch_id != 0x100000000ULL + i ||
	    h.item_idx != (uint32_t)(i * 3) ||
	    h.first_slot != (uint32_t)(i % 1000) ||
	    h.status != 200 + i % 300 || h.etag_len != etag ||
	    h.loc_len != loc || h.body_len != body ||
	    h.flags != (i & COMP_F_OOM) || h.len != ALIGN8(HDR + etag + loc +
	    body) || pos != tail + HDR) {
		snprintf(why, whylen, "record %llu: header differs (batch %llu "
		    "len %u)", (unsigned long long)i,
		    (unsigned long long)h.batch_id, h.len);
		return -1;
	}
	want = malloc(body + etag + loc + 1);
	got = malloc(body + etag + loc + 1);
	if (want == NULL || got == NULL)
		abort();
	fill(want, etag, i, 0);
	fill(want + etag, loc, i, 1);
	fill(want + etag + loc, body, i, 2);
	/* Field by field, as the master copies them. */
	wslot_copy(w, pos, got, etag);
	wslot_copy(w, pos + etag, got + etag, loc);
	wslot_copy(w, pos + etag + loc, got + etag + loc, body);
	if (memcmp(want, got, etag + loc + body) != 0) {
		snprintf(why, whylen, "record %llu: payload differs",
		    (unsigned long long)i);
		bad = 1;
	}
	free(want);
	free(got);
	if (bad)
		return -1;
	wslot_consume(w, &h);
	if (atomic_load(&w->res_tail) != tail + h.len) {
		snprintf(why, whylen, "record %llu: tail did not advance",
		    (unsigned long long)i);
		return -1;
	}
	return 0;
}

#define TAKE(i, e, l, b) do {						\
	char why_[128];							\
	ck_assert_msg(rec_take(ws, (i), (e), (l), (b), why_,		\
	    sizeof(why_)) == 0, "%s", why_);				\
} while (0)

static void
push_ok(uint64_t i, size_t etag, size_t loc, size_t body)
{
	struct rec r;

	rec_make(&r, i, etag, loc, body);
	ck_assert_int_eq(rec_push(&r, -1, NULL), 0);
	ck_assert_uint_eq(r.hdr.len, ALIGN8(HDR + etag + loc + body));
	ck_assert_uint_eq(r.hdr.kind, COMP_ITEM);
}

/*
 * Bring an empty ring's head (and tail) to ring offset off, through real
 * records pushed and taken, moving at least one header's worth.
 */
static void
advance_to_off(uint64_t off)
{
	uint64_t	head = atomic_load(&ws->res_head), pos, gap, len;

	ck_assert_uint_eq(head, atomic_load(&ws->res_tail));
	ck_assert_uint_eq(off % 8, 0);
	pos = head + HDR;
	pos += (off - pos) & (ws->res_size - 1);
	while ((gap = pos - head) > 0) {
		len = gap <= ws->res_size ? gap : ws->res_size / 2;
		push_ok(999, 0, 0, len - HDR);
		TAKE(999, 0, 0, len - HDR);
		head = atomic_load(&ws->res_head);
	}
	ck_assert_uint_eq(head & (ws->res_size - 1), off);
}

static int
never_alive(void)
{
	return 0;
}

/* --- creation --- */

START_TEST(test_create)
{
	struct wslot *w;

	slot_up(0);
	ck_assert_uint_eq(ws->res_size, 4096);
	ck_assert_uint_eq(ws->index, 1);
	ck_assert_uint_eq(atomic_load(&ws->state), WS_EMPTY);
	ck_assert_uint_eq(atomic_load(&ws->res_head), 0);
	ck_assert_uint_eq(atomic_load(&ws->res_tail), 0);
	ck_assert_uint_eq(wslot_pending(ws), 0);
	/* The whole ring after the page is mapped and writable. */
	memset((char *)ws + WSLOT_BYTES, 0x5a, ws->res_size);

	w = wslot_create(7, 4097);
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_eq(w->res_size, 8192);
	ck_assert_uint_eq(w->index, 7);
	memset((char *)w + WSLOT_BYTES, 0x5a, w->res_size);
	wslot_destroy(w);
	w = wslot_create(2, 65536);
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_eq(w->res_size, 65536);
	wslot_destroy(w);
	w = wslot_create(2, 65537);
	ck_assert_ptr_nonnull(w);
	ck_assert_uint_eq(w->res_size, 131072);
	wslot_destroy(w);
	wslot_destroy(NULL);
}
END_TEST

START_TEST(test_reset)
{
	slot_up(4096);
	push_ok(1, 3, 4, 5);
	atomic_store(&ws->state, WS_BUSY);
	atomic_store(&ws->retire, 1);
	atomic_store(&ws->held_pos, 77);
	atomic_store(&ws->nheld, 3);
	atomic_store(&ws->run_idx, 2);
	atomic_store(&ws->phase, WG_COMMIT);
	ws->held[2].batch_id = 9;
	ws->held[2].len = 9;
	atomic_store(&ws->started_ns, 123);
	atomic_store(&ws->items_done, 5);
	atomic_store(&ws->res_waiting, 1);
	wslot_reset(ws);
	ck_assert_uint_eq(atomic_load(&ws->state), WS_STARTING);
	ck_assert_uint_eq(atomic_load(&ws->retire), 0);
	ck_assert_uint_eq(atomic_load(&ws->held_pos), 0);
	ck_assert_uint_eq(atomic_load(&ws->nheld), 0);
	ck_assert_uint_eq(atomic_load(&ws->run_idx), WSLOT_RUN_NONE);
	ck_assert_uint_eq(atomic_load(&ws->phase), WG_OPEN);
	ck_assert_uint_eq(ws->held[2].batch_id, 0);
	ck_assert_uint_eq(ws->held[2].len, 0);
	ck_assert_uint_eq(atomic_load(&ws->started_ns), 0);
	ck_assert_uint_eq(atomic_load(&ws->items_done), 0);
	ck_assert_uint_eq(atomic_load(&ws->res_waiting), 0);
	ck_assert_uint_eq(wslot_pending(ws), 0);
	ck_assert_uint_eq(atomic_load(&ws->res_head), 0);
	/* What the master set at creation survives. */
	ck_assert_uint_eq(ws->index, 1);
	ck_assert_uint_eq(ws->res_size, 4096);
	/* And the ring works from scratch. */
	push_ok(2, 1, 1, 1);
	TAKE(2, 1, 1, 1);
}
END_TEST

/* --- round trips --- */

START_TEST(test_roundtrip)
{
	struct comp_rec	 h;
	uint64_t	 pos;

	slot_up(4096);
	ck_assert_int_eq(wslot_peek(ws, &h, &pos), 0);
	push_ok(1, 10, 23, 301);
	ck_assert_uint_eq(wslot_pending(ws), ALIGN8(HDR + 10 + 23 + 301));
	TAKE(1, 10, 23, 301);
	ck_assert_uint_eq(wslot_pending(ws), 0);
	ck_assert_int_eq(wslot_peek(ws, &h, &pos), 0);

	/* Empty fields: a bare header. */
	push_ok(2, 0, 0, 0);
	ck_assert_uint_eq(wslot_pending(ws), HDR);
	TAKE(2, 0, 0, 0);

	/* Every padding remainder 0..7. */
	push_ok(3, 1, 0, 0);
	push_ok(4, 1, 1, 0);
	push_ok(5, 1, 1, 1);
	push_ok(6, 0, 2, 2);
	push_ok(7, 5, 0, 0);
	push_ok(8, 3, 3, 0);
	push_ok(9, 0, 0, 7);
	push_ok(10, 0, 0, 8);
	TAKE(3, 1, 0, 0);
	TAKE(4, 1, 1, 0);
	TAKE(5, 1, 1, 1);
	TAKE(6, 0, 2, 2);
	TAKE(7, 5, 0, 0);
	TAKE(8, 3, 3, 0);
	TAKE(9, 0, 0, 7);
	TAKE(10, 0, 0, 8);
	ck_assert_int_eq(wslot_peek(ws, &h, &pos), 0);
}
END_TEST

START_TEST(test_fifo_backlog)
{
	uint64_t i;

	slot_up(16384);
	/* Records queue up in order and come out in order. */
	for (i = 0; i < 40; i++)
		push_ok(i, i % 48, i % 100, i * 7);
	for (i = 0; i < 40; i++)
		TAKE(i, i % 48, i % 100, i * 7);
	ck_assert_uint_eq(wslot_pending(ws), 0);
}
END_TEST

/* --- wrap-around --- */

START_TEST(test_wrap_header)
{
	uint64_t off;

	slot_up(4096);
	/* The header itself straddles the end, split at every 8 bytes. */
	for (off = 8; off < HDR; off += 8) {
		advance_to_off(4096 - off);
		push_ok(off, 7, 9, 100);
		TAKE(off, 7, 9, 100);
	}
}
END_TEST

START_TEST(test_wrap_payload)
{
	slot_up(4096);
	/* The header fits; then the ETag, the location, the body cross. */
	advance_to_off(4096 - HDR - 8);
	push_ok(1, 10, 0, 0);
	TAKE(1, 10, 0, 0);
	advance_to_off(4096 - HDR - 16);
	push_ok(2, 8, 20, 0);
	TAKE(2, 8, 20, 0);
	advance_to_off(4096 - HDR - 16);
	push_ok(3, 8, 8, 3000);
	TAKE(3, 8, 8, 3000);
	/* The header ends exactly at the end: the payload starts at 0. */
	advance_to_off(4096 - HDR);
	push_ok(4, 5, 5, 50);
	TAKE(4, 5, 5, 50);
	/* A record ending exactly at the end: the next starts at 0. */
	advance_to_off(4096 - 200);
	push_ok(5, 0, 0, 200 - HDR);
	ck_assert_uint_eq(atomic_load(&ws->res_head) & 4095, 0);
	push_ok(6, 1, 2, 3);
	TAKE(5, 0, 0, 200 - HDR);
	TAKE(6, 1, 2, 3);
}
END_TEST

START_TEST(test_wrap_many_laps)
{
	uint64_t	 mix = 88172645463325252ULL, i, pushed = 0, taken = 0;
	size_t		 len[64][3];
	struct rec	 r;

	slot_up(4096);
	/* Random sizes with a random backlog, a few hundred laps. */
	for (i = 0; i < 20000; i++) {
		size_t e, l, b;

		mix ^= mix << 13;
		mix ^= mix >> 7;
		mix ^= mix << 17;
		e = mix % 49;
		l = (mix >> 8) % 200;
		b = (mix >> 16) % 1200;
		while (pushed - taken == 64 || ws->res_size -
		    wslot_pending(ws) < ALIGN8(HDR + e + l + b)) {
			TAKE(taken, len[taken % 64][0], len[taken % 64][1],
			    len[taken % 64][2]);
			taken++;
		}
		rec_make(&r, pushed, e, l, b);
		ck_assert_int_eq(rec_push(&r, -1, NULL), 0);
		len[pushed % 64][0] = e;
		len[pushed % 64][1] = l;
		len[pushed % 64][2] = b;
		pushed++;
	}
	while (taken < pushed) {
		TAKE(taken, len[taken % 64][0], len[taken % 64][1],
		    len[taken % 64][2]);
		taken++;
	}
	ck_assert_uint_gt(atomic_load(&ws->res_head), 300 * 4096);
	ck_assert_uint_eq(wslot_pending(ws), 0);
}
END_TEST

/* --- limits --- */

START_TEST(test_exact_fill)
{
	struct comp_rec	 h;
	uint64_t	 pos;
	struct rec	 r;

	slot_up(4096);
	/* One record the size of the ring, from offset 0 and from the
	 * middle (it then wraps). */
	push_ok(1, 40, 16, 4096 - HDR - 56);
	ck_assert_uint_eq(wslot_pending(ws), 4096);
	TAKE(1, 40, 16, 4096 - HDR - 56);
	advance_to_off(1000);
	push_ok(2, 0, 0, 4096 - HDR);
	ck_assert_uint_eq(wslot_pending(ws), 4096);
	TAKE(2, 0, 0, 4096 - HDR);

	/* Four records of 1024 bytes fill it exactly. */
	push_ok(3, 0, 0, 1024 - HDR);
	push_ok(4, 0, 0, 1024 - HDR);
	push_ok(5, 0, 0, 1024 - HDR);
	push_ok(6, 1, 1, 1022 - HDR);
	ck_assert_uint_eq(wslot_pending(ws), 4096);
	/* Full: not even a bare header fits (the worker gives up only
	 * because alive() says so). */
	rec_make(&r, 7, 0, 0, 0);
	ck_assert_int_eq(rec_push(&r, -1, never_alive), -1);
	ck_assert_uint_eq(wslot_pending(ws), 4096);
	TAKE(3, 0, 0, 1024 - HDR);
	TAKE(4, 0, 0, 1024 - HDR);
	TAKE(5, 0, 0, 1024 - HDR);
	TAKE(6, 1, 1, 1022 - HDR);
	ck_assert_int_eq(wslot_peek(ws, &h, &pos), 0);
}
END_TEST

START_TEST(test_too_large)
{
	struct rec	 r;

	slot_up(4096);
	push_ok(1, 2, 2, 2);
	/* One byte over (after alignment): refused at once, nothing
	 * published, no waiting. */
	rec_make(&r, 2, 0, 0, 4096 - HDR + 1);
	ck_assert_int_eq(rec_push(&r, -1, NULL), -1);
	rec_make(&r, 3, 48, 200, 100000);
	ck_assert_int_eq(rec_push(&r, -1, NULL), -1);
	ck_assert_uint_eq(atomic_load(&ws->res_head), ALIGN8(HDR + 6));
	ck_assert_uint_eq(atomic_load(&ws->res_waiting), 0);
	/* The sum of the lengths does not wrap around 32 bits. */
	memset(&r.hdr, 0, sizeof(r.hdr));
	r.hdr.etag_len = 0xffff;
	r.hdr.loc_len = 0xffffffffu;
	r.hdr.body_len = 0xffffffffu;
	ck_assert_int_eq(wslot_push(ws, &r.hdr, "", "", "", -1, NULL), -1);
	TAKE(1, 2, 2, 2);
	ck_assert_uint_eq(wslot_pending(ws), 0);
}
END_TEST

START_TEST(test_no_room_gives_up)
{
	struct rec	 r;
	eventfd_t	 v = 0;
	uint64_t	 head, t0;
	int		 efd = eventfd(0, EFD_NONBLOCK);

	ck_assert_int_ge(efd, 0);
	slot_up(4096);
	push_ok(1, 0, 0, 3000);
	head = atomic_load(&ws->res_head);
	/* No room, and the master is gone: the worker asks for a drain
	 * (eventfd), waits once, then gives up without publishing. */
	rec_make(&r, 2, 0, 0, 2000);
	t0 = now_ns();
	ck_assert_int_eq(rec_push(&r, efd, never_alive), -1);
	ck_assert_uint_lt((now_ns() - t0) / 1000000, 2000);
	ck_assert_int_eq(eventfd_read(efd, &v), 0);
	ck_assert_uint_ge(v, 1);
	ck_assert_uint_eq(atomic_load(&ws->res_head), head);
	ck_assert_uint_eq(atomic_load(&ws->res_waiting), 0);
	TAKE(1, 0, 0, 3000);
	close(efd);
}
END_TEST

/* --- corruption --- */

/* Overwrite the header at the tail with h. */
static void
poke_hdr(const struct comp_rec *h)
{
	uint64_t	off = atomic_load(&ws->res_tail) & (ws->res_size - 1);

	ck_assert_uint_le(off + HDR, ws->res_size);
	memcpy((char *)ws + WSLOT_BYTES + off, h, HDR);
}

START_TEST(test_peek_corrupt)
{
	struct comp_rec	 h, good;
	uint64_t	 pos, head;

	slot_up(4096);
	push_ok(1, 4, 4, 100);
	ck_assert_int_eq(wslot_peek(ws, &good, &pos), 1);
	head = atomic_load(&ws->res_head);

	h = good;
	h.len = 0xdeadbeef;
	poke_hdr(&h);
	ck_assert_int_eq(wslot_peek(ws, &h, &pos), -1);
	h = good;
	h.len = 0;
	poke_hdr(&h);
	ck_assert_int_eq(wslot_peek(ws, &h, &pos), -1);
	h = good;
	h.len = good.len + 8;
	poke_hdr(&h);
	ck_assert_int_eq(wslot_peek(ws, &h, &pos), -1);
	h = good;
	h.kind = 0x12345678;
	poke_hdr(&h);
	ck_assert_int_eq(wslot_peek(ws, &h, &pos), -1);
	/* Lengths that disagree with len. */
	h = good;
	h.body_len += 8;
	poke_hdr(&h);
	ck_assert_int_eq(wslot_peek(ws, &h, &pos), -1);
	h = good;
	h.etag_len = 0xffff;
	poke_hdr(&h);
	ck_assert_int_eq(wslot_peek(ws, &h, &pos), -1);
	/* Self-consistent, but longer than what was published. */
	h = good;
	h.body_len += 1000;
	h.len = (uint32_t)ALIGN8(HDR + 8 + h.body_len);
	poke_hdr(&h);
	ck_assert_int_eq(wslot_peek(ws, &h, &pos), -1);
	/* The garbage rewritten with the original: readable again. */
	poke_hdr(&good);
	ck_assert_int_eq(wslot_peek(ws, &h, &pos), 1);

	/* Head and tail that cannot be: a partial header, or more than
	 * the ring holds. */
	atomic_store(&ws->res_head, atomic_load(&ws->res_tail) + 8);
	ck_assert_int_eq(wslot_peek(ws, &h, &pos), -1);
	atomic_store(&ws->res_head, atomic_load(&ws->res_tail) + 4096 + 8);
	ck_assert_int_eq(wslot_peek(ws, &h, &pos), -1);
	atomic_store(&ws->res_head, atomic_load(&ws->res_tail) - 8);
	ck_assert_int_eq(wslot_peek(ws, &h, &pos), -1);
	atomic_store(&ws->res_head, head);
	TAKE(1, 4, 4, 100);
}
END_TEST

/* --- the waiting path, across processes --- */

#define WAIT_RECORDS	3000

static pid_t	wait_parent;

static int
parent_alive(void)
{
	return getppid() == wait_parent;
}

static void
wait_sizes(uint64_t i, size_t *e, size_t *l, size_t *b)
{
	*e = (i * 5) % 49;
	*l = (i * 11) % 160;
	*b = (i * 2654435761u) % 1900;
}

/*
 * A child pushes far more than the ring holds; the parent takes one
 * record per wake-up only (a slow master), so the child must wait for
 * room over and over.  Every record arrives intact and in order.
 */
START_TEST(test_waiting_path)
{
	struct pollfd	 pfd;
	struct rec	 r;
	eventfd_t	 v;
	uint64_t	 i = 0, bytes = 0, wakeups = 0, t0;
	double		 secs;
	size_t		 e, l, b;
	pid_t		 pid;
	int		 efd = eventfd(0, EFD_NONBLOCK), exiting, status, n;

	ck_assert_int_ge(efd, 0);
	slot_up(4096);
	wslot_reset(ws);
	wait_parent = getpid();
	if ((pid = fork()) == 0) {
		for (i = 0; i < WAIT_RECORDS; i++) {
			wait_sizes(i, &e, &l, &b);
			rec_make(&r, i, e, l, b);
			if (rec_push(&r, efd, parent_alive) == -1)
				_exit(1);
		}
		atomic_store(&ws->state, WS_EXITING);
		eventfd_write(efd, 1);
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	t0 = now_ns();
	pfd.fd = efd;
	pfd.events = POLLIN;
	i = 0;
	while (i < WAIT_RECORDS) {
		n = poll(&pfd, 1, 10000);
		if (n == -1 && errno == EINTR)
			continue;
		ck_assert_msg(n == 1, "no wake-up in 10 s after record %llu",
		    (unsigned long long)i);
		eventfd_read(efd, &v);
		wakeups++;
		exiting = atomic_load(&ws->state) == WS_EXITING;
		do {
			if (wslot_pending(ws) == 0)
				break;
			wait_sizes(i, &e, &l, &b);
			TAKE(i, e, l, b);
			bytes += ALIGN8(HDR + e + l + b);
			i++;
		} while (exiting);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "pusher status %#x", status);
	ck_assert_uint_eq(wslot_pending(ws), 0);
	ck_assert_uint_eq(atomic_load(&ws->res_waiting), 0);
	/* The child cannot have finished without waiting many times. */
	ck_assert_uint_gt(bytes, 100 * ws->res_size);
	ck_assert_uint_gt(wakeups, WAIT_RECORDS / 2);
	/* Each wait a consume failed to end costs the pusher a 100 ms
	 * futex timeout; a handful would show here. */
	secs = (double)(now_ns() - t0) / 1e9;
	ck_assert_msg(secs < 10.0, "waiting path took %.1f s", secs);
	printf("wslot waiting path: %d records, %llu bytes through a %llu-byte "
	    "ring, %llu wake-ups, %.3f s\n", WAIT_RECORDS,
	    (unsigned long long)bytes, (unsigned long long)ws->res_size,
	    (unsigned long long)wakeups, secs);
	fflush(stdout);
	close(efd);
}
END_TEST

static Suite *
wslot_suite(void)
{
	Suite	*s = suite_create("wslot");
	TCase	*tc;

	tc = tcase_create("slot");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_create);
	tcase_add_test(tc, test_reset);
	suite_add_tcase(s, tc);

	tc = tcase_create("records");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_fifo_backlog);
	tcase_add_test(tc, test_wrap_header);
	tcase_add_test(tc, test_wrap_payload);
	tcase_add_test(tc, test_wrap_many_laps);
	tcase_add_test(tc, test_exact_fill);
	tcase_add_test(tc, test_too_large);
	tcase_add_test(tc, test_no_room_gives_up);
	tcase_add_test(tc, test_peek_corrupt);
	suite_add_tcase(s, tc);

	tc = tcase_create("waiting");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_waiting_path);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(wslot_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
