/*
 * test_ring.c - unit tests for common/ring.c (the work ring of shm.h: cells,
 * data slots, claims, reclaim, the stale-object sweep) and a multi-process
 * stress test of the whole master/worker protocol: one producer, three
 * forked consumers, completion rings and eventfd / futex wake-ups.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "ring.h"
#include "shm.h"
#include "wslot.h"

/* Exit code of a child whose SIGSEGV handler ran. */
#define EXIT_SEGV	42

/* CLOCK_MONOTONIC nanoseconds, the clock started_ns is read from. */
static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static struct ring	 r;
static char		 err[256];

static void
ring_up(uint32_t slots, uint32_t slot_bytes)
{
	err[0] = '\0';
	ck_assert_msg(ring_create(&r, slots, slot_bytes, err,
	    sizeof(err)) == 0, "ring_create(%u, %u): %s", slots, slot_bytes,
	    err);
}

static void
teardown(void)
{
	ring_destroy(&r);
}

/* The object ring_create makes for process pid, as seen in /dev/shm. */
static void
shm_path(char *p, size_t n, long pid)
{
	snprintf(p, n, "/dev/shm/batchd.%ld", pid);
}

static int
shm_exists(long pid)
{
	char		path[64];
	struct stat	st;

	shm_path(path, sizeof(path), pid);
	return stat(path, &st) == 0;
}

static struct ring_desc
desc_for(uint64_t id)
{
	struct ring_desc d;

	memset(&d, 0, sizeof(d));
	d.batch_id = 1000 + id;
	d.item_idx = (uint32_t)(id * 7 + 3);
	d.first_slot = (uint32_t)(id % 5);
	d.nslots = 1;
	d.len = (uint32_t)(id % 50);
	return d;
}

static int
desc_eq(const struct ring_desc *a, const struct ring_desc *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static uint64_t
word_at(uint32_t cell)
{
	return atomic_load(&r.cells[cell].word);
}

static void
segv_exit(int sig)
{
	(void)sig;
	_exit(EXIT_SEGV);
}

/* In a child: turn the next SIGSEGV into exit code EXIT_SEGV. */
static void
catch_segv(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = segv_exit;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

static int
wait_exit(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "child %ld died by signal %d",
	    (long)pid, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

/* --- geometry, creation, destruction --- */

/* A worker done with what it held claims the next item. */
static int
claim_next(struct wslot *ws, uint32_t w, struct ring_desc *out)
{
	wslot_release(ws);
	return ring_claim(&r, ws, w, out);
}

START_TEST(test_create_geometry)
{
	struct ring_hdr	*h;
	struct stat	 st;
	char		 path[64];
	uint32_t	 i;

	ring_up(16, 256);
	h = r.hdr;
	ck_assert_ptr_nonnull(h);
	ck_assert(h->magic == SHM_MAGIC);
	ck_assert_uint_eq(h->version, SHM_VERSION);
	ck_assert_uint_eq(h->ring_slots, 16);
	ck_assert_uint_eq(h->slot_bytes, 256);
	ck_assert_int_eq(h->master_pid, getpid());
	ck_assert_uint_eq(r.mask, 15);
	ck_assert_uint_eq(r.slot_bytes, 256);

	/* Header, cells, slot_next[], data: in order, no overlap, the data
	 * area page aligned and large enough. */
	ck_assert_uint_ge(h->cells_off, sizeof(struct ring_hdr));
	ck_assert_uint_eq(h->cells_off % SHM_PAGE, 0);
	ck_assert_uint_eq(h->next_off, h->cells_off + 16 *
	    sizeof(struct ring_cell));
	ck_assert_uint_ge(h->data_off, h->next_off + 16 * sizeof(uint32_t));
	ck_assert_uint_eq(h->data_off % SHM_PAGE, 0);
	ck_assert_uint_ge(h->total_size, h->data_off + 16 * 256);
	ck_assert_uint_eq(h->total_size % SHM_PAGE, 0);
	ck_assert_uint_eq(r.size, h->total_size);
	ck_assert_ptr_eq(r.cells, (char *)h + h->cells_off);
	ck_assert_ptr_eq(r.next, (char *)h + h->next_off);
	ck_assert_ptr_eq(r.data, (char *)h + h->data_off);

	/* The object exists under the master's pid with exactly that size. */
	snprintf(path, sizeof(path), "/batchd.%ld", (long)getpid());
	ck_assert_str_eq(r.name, path);
	shm_path(path, sizeof(path), getpid());
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq((uint64_t)st.st_size, h->total_size);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);

	/* Every cell free for its own position, every slot free, no chains. */
	for (i = 0; i < 16; i++) {
		ck_assert(word_at(i) == CELL_WORD(i, CELL_FREE));
		ck_assert_uint_eq(r.next[i], SLOT_NONE);
	}
	ck_assert_uint_eq(r.nfree, 16);
	ck_assert_uint_eq(atomic_load(&h->head), 0);
	ck_assert_uint_eq(atomic_load(&h->tail), 0);
	ck_assert_uint_eq(ring_depth(&r), 0);

	/* The whole data area is writable by the master. */
	memset(r.data, 0xa5, 16 * 256);
}
END_TEST

/* The sizes shm.h promises: one page for each header, 64-byte cells so
 * that two workers' CASes never share a cache line. */
START_TEST(test_layout)
{
	ck_assert_uint_le(sizeof(struct ring_hdr), SHM_PAGE);
	ck_assert_uint_le(sizeof(struct wslot), WSLOT_BYTES);
	ck_assert_uint_eq(WSLOT_BYTES % SHM_PAGE, 0);
	ck_assert_uint_eq(sizeof(struct comp_rec) % 8, 0);
	ck_assert_msg(sizeof(struct ring_cell) == 64, "struct ring_cell is "
	    "%zu bytes, shm.h says 64 (no false sharing of words)",
	    sizeof(struct ring_cell));
}
END_TEST

START_TEST(test_create_smallest)
{
	ring_up(2, 64);
	ck_assert_uint_eq(r.hdr->ring_slots, 2);
	ck_assert_uint_eq(r.nfree, 2);
}
END_TEST

START_TEST(test_create_bad_geometry)
{
	static const uint32_t bad[][2] = {
		{ 0, 256 }, { 1, 256 }, { 3, 256 }, { 6, 256 }, { 1000, 256 },
		{ 16, 0 }, { 16, 1 }, { 16, 63 }, { 0x80000001u, 256 },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(ring_create(&r, bad[i][0], bad[i][1], err,
		    sizeof(err)) == -1, "%u x %u accepted", bad[i][0],
		    bad[i][1]);
		ck_assert_msg(strstr(err, "bad geometry") != NULL,
		    "%u x %u: error \"%s\"", bad[i][0], bad[i][1], err);
		ck_assert_ptr_null(r.hdr);
		ck_assert_ptr_null(r.free);
		ck_assert(!shm_exists(getpid()));
	}
}
END_TEST

START_TEST(test_create_replaces_leftover)
{
	char	name[64];
	int	fd;

	/* A leftover object under our own pid (an earlier process that had
	 * it) must not stop the master from starting. */
	snprintf(name, sizeof(name), "/batchd.%ld", (long)getpid());
	fd = shm_open(name, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 12345), 0);
	close(fd);
	ring_up(8, 64);
	ck_assert_uint_eq(r.hdr->ring_slots, 8);
	ck_assert(word_at(7) == CELL_WORD(7, CELL_FREE));
}
END_TEST

START_TEST(test_destroy_unlinks)
{
	ring_up(8, 128);
	ck_assert(shm_exists(getpid()));
	ring_destroy(&r);
	ck_assert(!shm_exists(getpid()));
	ck_assert_ptr_null(r.hdr);
	ck_assert_ptr_null(r.free);
	ck_assert_str_eq(r.name, "");
	/* Destroying twice (and the fixture's teardown) is harmless. */
	ring_destroy(&r);
}
END_TEST

/* --- the queue of cells --- */

START_TEST(test_fifo)
{
	struct wslot		*ws = wslot_create(2, 4096);
	struct ring_desc	 d, out;
	uint64_t		 i;

	ck_assert_ptr_nonnull(ws);
	ring_up(8, 64);
	for (i = 0; i < 5; i++) {
		d = desc_for(i);
		ck_assert_int_eq(ring_publish(&r, &d), 0);
		ck_assert(word_at((uint32_t)i) == CELL_WORD(i, CELL_READY));
	}
	ck_assert_uint_eq(ring_depth(&r), 5);
	for (i = 0; i < 5; i++) {
		d = desc_for(i);
		ck_assert_int_eq(claim_next(ws, 2, &out), 1);
		ck_assert_msg(desc_eq(&out, &d), "item %llu out of order: got "
		    "batch_id %llu", (unsigned long long)i,
		    (unsigned long long)out.batch_id);
		ck_assert_uint_eq(ring_depth(&r), 4 - i);
	}
	ck_assert_int_eq(claim_next(ws, 2, &out), 0);
	ck_assert_int_eq(claim_next(ws, 2, &out), 0);
	ck_assert_uint_eq(atomic_load(&r.hdr->head), 5);
	ck_assert_uint_eq(atomic_load(&r.hdr->tail), 5);
	wslot_destroy(ws);
}
END_TEST

START_TEST(test_fifo_wraps)
{
	struct wslot		*ws = wslot_create(0, 4096);
	struct ring_desc	 d, out;
	uint64_t		 pub = 0, got = 0, k, lap;

	ck_assert_ptr_nonnull(ws);
	ring_up(8, 64);
	/* Bursts of 1..8 over many laps: cells are reused for positions
	 * p, p+8, p+16, ... and the order survives every wrap. */
	for (lap = 0; lap < 50; lap++) {
		for (k = 0; k < 1 + lap % 8; k++) {
			d = desc_for(pub);
			ck_assert_int_eq(ring_publish(&r, &d), 0);
			pub++;
		}
		ck_assert_uint_eq(ring_depth(&r), pub - got);
		while (got < pub) {
			d = desc_for(got);
			ck_assert_int_eq(claim_next(ws, 0, &out), 1);
			ck_assert(desc_eq(&out, &d));
			ck_assert_uint_eq(atomic_load(&ws->held_pos), got + 1);
			ck_assert(word_at((uint32_t)(got & 7)) ==
			    CELL_WORD(got + 8, CELL_FREE));
			got++;
		}
		ck_assert_int_eq(claim_next(ws, 0, &out), 0);
	}
	ck_assert_uint_gt(pub, 8 * 20);
	wslot_destroy(ws);
}
END_TEST

START_TEST(test_full)
{
	struct wslot		*ws = wslot_create(1, 4096);
	struct ring_desc	 d, out;
	uint64_t		 i;

	ck_assert_ptr_nonnull(ws);
	ring_up(8, 64);
	for (i = 0; i < 8; i++) {
		d = desc_for(i);
		ck_assert_int_eq(ring_publish(&r, &d), 0);
	}
	ck_assert_uint_eq(ring_depth(&r), 8);
	d = desc_for(8);
	ck_assert_int_eq(ring_publish(&r, &d), -1);
	ck_assert_int_eq(ring_publish(&r, &d), -1);
	/* A refused publish changes nothing. */
	ck_assert_uint_eq(atomic_load(&r.hdr->head), 8);
	ck_assert(word_at(0) == CELL_WORD(0, CELL_READY));
	ck_assert_uint_eq(r.cells[0].desc.batch_id, desc_for(0).batch_id);

	/* One claim frees exactly one cell. */
	ck_assert_int_eq(claim_next(ws, 1, &out), 1);
	ck_assert_int_eq(ring_publish(&r, &d), 0);
	d = desc_for(9);
	ck_assert_int_eq(ring_publish(&r, &d), -1);
	for (i = 1; i <= 8; i++) {
		d = desc_for(i);
		ck_assert_int_eq(claim_next(ws, 1, &out), 1);
		ck_assert(desc_eq(&out, &d));
	}
	ck_assert_int_eq(claim_next(ws, 1, &out), 0);
	ck_assert_uint_eq(ring_depth(&r), 0);
	wslot_destroy(ws);
}
END_TEST

START_TEST(test_depth)
{
	struct wslot		*ws = wslot_create(1, 4096);
	struct ring_desc	 d, out;
	uint64_t		 i;

	ck_assert_ptr_nonnull(ws);
	ring_up(16, 64);
	ck_assert_uint_eq(ring_depth(&r), 0);
	for (i = 0; i < 3; i++) {
		d = desc_for(i);
		ring_publish(&r, &d);
	}
	ck_assert_uint_eq(ring_depth(&r), 3);
	ck_assert_int_eq(claim_next(ws, 1, &out), 1);
	ck_assert_uint_eq(ring_depth(&r), 2);
	for (i = 3; i < 19; i++) {
		d = desc_for(i);
		if (ring_publish(&r, &d) == -1)
			break;
	}
	/* Sixteen cells: two still queued plus fourteen more. */
	ck_assert_uint_eq(i, 17);
	ck_assert_uint_eq(ring_depth(&r), 16);
	while (claim_next(ws, 1, &out) == 1)
		;
	ck_assert_uint_eq(ring_depth(&r), 0);
	wslot_destroy(ws);
}
END_TEST

/* --- claims: the item is named by the cell or the wslot at every moment --- */

START_TEST(test_claim_records_in_wslot)
{
	struct wslot		*ws = wslot_create(3, 4096);
	struct ring_desc	 d, out;
	uint64_t		 before, i;

	ck_assert_ptr_nonnull(ws);
	ring_up(4, 64);
	/* Take the ring to position 6 so the claimed cell is a reused one. */
	for (i = 0; i < 6; i++) {
		d = desc_for(i);
		ck_assert_int_eq(ring_publish(&r, &d), 0);
		ck_assert_int_eq(claim_next(ws, 3, &out), 1);
	}
	d = desc_for(6);
	d.nslots = 3;
	d.len = 99999;
	ck_assert_int_eq(ring_publish(&r, &d), 0);
	before = now_ns();
	ck_assert_int_eq(claim_next(ws, 3, &out), 1);
	ck_assert(desc_eq(&out, &d));
	ck_assert(desc_eq(&ws->held[0], &d));
	ck_assert_uint_eq(atomic_load(&ws->nheld), 1);
	ck_assert_uint_eq(atomic_load(&ws->held_pos), 7);
	ck_assert_uint_ge(atomic_load(&ws->started_ns), before);
	ck_assert_uint_le(atomic_load(&ws->started_ns), now_ns());
	/* The cell is released for the next lap. */
	ck_assert(word_at(6 & 3) == CELL_WORD(6 + 4, CELL_FREE));
	ck_assert_uint_eq(atomic_load(&r.hdr->tail), 7);
	wslot_destroy(ws);
}
END_TEST

/*
 * A worker that keeps what it claims (a write group) names every item in
 * held[], in claim order, and stops claiming at WSLOT_HELD_MAX: the master
 * must be able to find all of them if it dies.
 */
START_TEST(test_claim_accumulates_in_wslot)
{
	struct wslot		*ws = wslot_create(2, 4096);
	struct ring_desc	 d, out;
	uint64_t		 i;

	ck_assert_ptr_nonnull(ws);
	ring_up(2 * WSLOT_HELD_MAX, 64);
	for (i = 0; i < WSLOT_HELD_MAX + 3; i++) {
		d = desc_for(i);
		ck_assert_int_eq(ring_publish(&r, &d), 0);
	}
	for (i = 0; i < WSLOT_HELD_MAX; i++) {
		ck_assert_int_eq(ring_claim(&r, ws, 2, &out), 1);
		d = desc_for(i);
		ck_assert(desc_eq(&out, &d));
		ck_assert_uint_eq(atomic_load(&ws->nheld), i + 1);
		ck_assert(desc_eq(&ws->held[i], &d));
		ck_assert_uint_eq(atomic_load(&ws->held_pos), i + 1);
	}
	/* Full: the next item stays in the ring for another worker. */
	ck_assert_int_eq(ring_claim(&r, ws, 2, &out), 0);
	ck_assert_uint_eq(ring_depth(&r), 3);
	ck_assert(word_at(WSLOT_HELD_MAX) == CELL_WORD(WSLOT_HELD_MAX,
	    CELL_READY));
	/* Released, it takes the next one into held[0]. */
	wslot_release(ws);
	ck_assert_uint_eq(atomic_load(&ws->nheld), 0);
	ck_assert_uint_eq(atomic_load(&ws->held_pos), 0);
	ck_assert_int_eq(ring_claim(&r, ws, 2, &out), 1);
	d = desc_for(WSLOT_HELD_MAX);
	ck_assert(desc_eq(&ws->held[0], &d));
	ck_assert_uint_eq(atomic_load(&ws->nheld), 1);
	wslot_destroy(ws);
}
END_TEST

/*
 * Single-step a worker through ring_claim under ptrace and look at the
 * shared memory after every instruction: the item must be READY in its
 * cell, claimed (w) in its cell, or fully recorded in the wslot (held
 * written before held_pos) - never nowhere.  That is the property the
 * master relies on when a worker dies at an arbitrary instruction.
 */
START_TEST(test_claim_never_unnamed)
{
	struct wslot		*ws = wslot_create(5, 4096);
	struct ring_desc	 d, out;
	uint64_t		 i, word, t = 10;
	unsigned long		 steps = 0, cell_only = 0, both = 0, slot_only = 0;
	unsigned long		 nowhere = 0, torn = 0;
	int			 status, in_cell, in_slot;
	pid_t			 pid;

	ck_assert_ptr_nonnull(ws);
	ring_up(8, 64);
	for (i = 0; i < t; i++) {
		d = desc_for(i);
		ck_assert_int_eq(ring_publish(&r, &d), 0);
		ck_assert_int_eq(claim_next(ws, 5, &out), 1);
	}
	wslot_release(ws);
	memset(ws->held, 0, sizeof(ws->held));
	d = desc_for(t);
	ck_assert_int_eq(ring_publish(&r, &d), 0);

	if ((pid = fork()) == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == -1)
			_exit(2);
		raise(SIGSTOP);
		_exit(ring_claim(&r, ws, 5, &out) == 1 && desc_eq(&out, &d) ?
		    0 : 1);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSTOPPED(status), "child did not stop under ptrace "
	    "(exit %d)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	for (;;) {
		word = atomic_load(&r.cells[t & r.mask].word);
		in_cell = word == CELL_WORD(t, CELL_READY) ||
		    word == CELL_WORD(t, 5);
		in_slot = atomic_load(&ws->held_pos) == t + 1;
		if (in_slot && !desc_eq(&ws->held[0], &d))
			torn++;
		if (in_cell && in_slot)
			both++;
		else if (in_cell && word == CELL_WORD(t, 5))
			cell_only++;
		else if (in_slot)
			slot_only++;
		else if (!in_cell)
			nowhere++;
		if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) == -1)
			break;
		if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status))
			break;
		if (++steps > 2000000) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			ck_abort_msg("ring_claim did not finish in 2M steps");
		}
	}
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "traced claim failed (status %#x)", status);
	ck_assert_uint_gt(steps, 10);
	ck_assert_msg(nowhere == 0, "item named by neither cell nor wslot "
	    "for %lu of %lu instructions", nowhere, steps);
	ck_assert_msg(torn == 0, "held_pos set before held was written "
	    "(%lu instructions)", torn);
	/* Every phase of the protocol was seen, in some instruction. */
	ck_assert_uint_gt(cell_only, 0);
	ck_assert_uint_gt(both, 0);
	ck_assert_uint_gt(slot_only, 0);
	ck_assert(word_at(t & 7) == CELL_WORD(t + 8, CELL_FREE));
	wslot_destroy(ws);
}
END_TEST

/*
 * A worker that dies on its first write to its wslot (right after the CAS)
 * leaves the claim in the cell, and the master gets the item back.
 */
START_TEST(test_claim_dies_after_cas)
{
	struct wslot		*ws = wslot_create(6, 4096);
	struct ring_desc	 d, out[4];
	pid_t			 pid;

	ck_assert_ptr_nonnull(ws);
	ring_up(8, 64);
	d = desc_for(0);
	ck_assert_int_eq(ring_publish(&r, &d), 0);
	if ((pid = fork()) == 0) {
		catch_segv();
		if (mprotect(ws, WSLOT_BYTES, PROT_READ) == -1)
			_exit(2);
		ring_claim(&r, ws, 6, &out[0]);
		_exit(1);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(wait_exit(pid), EXIT_SEGV);
	ck_assert(word_at(0) == CELL_WORD(0, 6));
	ck_assert_uint_eq(atomic_load(&ws->held_pos), 0);
	ck_assert_uint_eq(ring_reclaim(&r, 6, out, 4), 1);
	ck_assert(desc_eq(&out[0], &d));
	ck_assert(word_at(0) == CELL_WORD(8, CELL_FREE));
	wslot_destroy(ws);
}
END_TEST

/* Claim position pos for worker w by hand, as a worker's CAS would. */
static void
claim_by_hand(uint64_t pos, uint32_t w)
{
	uint64_t expect = CELL_WORD(pos, CELL_READY);

	ck_assert(atomic_compare_exchange_strong(&r.cells[pos & r.mask].word,
	    &expect, CELL_WORD(pos, w)));
}

START_TEST(test_reclaim)
{
	struct wslot		*ws = wslot_create(1, 4096);
	struct ring_desc	 d, out[4];
	uint64_t		 i;

	ck_assert_ptr_nonnull(ws);
	ring_up(8, 64);
	for (i = 0; i < 4; i++) {
		d = desc_for(i);
		ck_assert_int_eq(ring_publish(&r, &d), 0);
	}
	/* Worker 5 dies holding position 0; worker 2 is alive, holding 1. */
	claim_by_hand(0, 5);
	claim_by_hand(1, 2);
	ck_assert_uint_eq(ring_reclaim(&r, 9, out, 4), 0);
	ck_assert_uint_eq(ring_reclaim(&r, 5, out, 4), 1);
	d = desc_for(0);
	ck_assert(desc_eq(&out[0], &d));
	ck_assert(word_at(0) == CELL_WORD(8, CELL_FREE));
	ck_assert(word_at(1) == CELL_WORD(1, 2));
	ck_assert(word_at(2) == CELL_WORD(2, CELL_READY));
	ck_assert_uint_eq(ring_reclaim(&r, 5, out, 4), 0);

	/* The others carry on past both cells. */
	for (i = 2; i < 4; i++) {
		d = desc_for(i);
		ck_assert_int_eq(claim_next(ws, 1, &out[0]), 1);
		ck_assert(desc_eq(&out[0], &d));
	}
	ck_assert_int_eq(claim_next(ws, 1, &out[0]), 0);

	/* Worker 2 now dies too; with max 0 the cell is still freed. */
	ck_assert_uint_eq(ring_reclaim(&r, 2, out, 0), 0);
	ck_assert(word_at(1) == CELL_WORD(9, CELL_FREE));
	/* And the whole ring is usable again: eight fresh publishes. */
	for (i = 4; i < 12; i++) {
		d = desc_for(i);
		ck_assert_int_eq(ring_publish(&r, &d), 0);
	}
	for (i = 4; i < 12; i++) {
		d = desc_for(i);
		ck_assert_int_eq(claim_next(ws, 1, &out[0]), 1);
		ck_assert(desc_eq(&out[0], &d));
	}
	wslot_destroy(ws);
}
END_TEST

/*
 * The ring is full and worker 7 has claimed the oldest cell (position 0)
 * but not yet released it - it is between its CAS and its release, or it
 * died there.  Another worker takes positions 1..3 and then finds the ring
 * empty.  Position 4 (cell 0's next lap) is not published yet, so tail
 * must stay at 4: once the cell comes back and the master publishes 4,
 * the next claim must return it.
 */
static void
claim_after_unreleased(int master_reclaims)
{
	struct wslot		*ws = wslot_create(1, 4096);
	struct ring_desc	 d, out;
	uint64_t		 i, tail, head, now_tail, now_head, word0, depth;
	int			 got;

	ck_assert_ptr_nonnull(ws);
	ring_up(4, 64);
	for (i = 0; i < 4; i++) {
		d = desc_for(i);
		ck_assert_int_eq(ring_publish(&r, &d), 0);
	}
	claim_by_hand(0, 7);
	for (i = 1; i < 4; i++) {
		d = desc_for(i);
		ck_assert_int_eq(claim_next(ws, 1, &out), 1);
		ck_assert(desc_eq(&out, &d));
	}
	ck_assert_int_eq(claim_next(ws, 1, &out), 0);
	d = desc_for(4);
	ck_assert_int_eq(ring_publish(&r, &d), -1);
	tail = atomic_load(&r.hdr->tail);
	head = atomic_load(&r.hdr->head);

	if (master_reclaims) {
		ck_assert_uint_eq(ring_reclaim(&r, 7, &out, 1), 1);
	} else {
		/* Worker 7 finishes its claim: releases the cell. */
		atomic_store(&r.cells[0].word, CELL_WORD(4, CELL_FREE));
	}
	ck_assert_int_eq(ring_publish(&r, &d), 0);
	got = claim_next(ws, 1, &out);
	now_tail = atomic_load(&r.hdr->tail);
	now_head = atomic_load(&r.hdr->head);
	word0 = word_at(0);
	depth = ring_depth(&r);
	/* Clean up first: a failed check ends this process. */
	wslot_destroy(ws);
	ring_destroy(&r);
	ck_assert_msg(got == 1, "item at position 4 lost: the empty claim "
	    "moved tail to %llu past head %llu while cell 0 was still "
	    "claimed; now tail %llu head %llu, cell 0 %#llx",
	    (unsigned long long)tail, (unsigned long long)head,
	    (unsigned long long)now_tail, (unsigned long long)now_head,
	    (unsigned long long)word0);
	ck_assert(desc_eq(&out, &d));
	ck_assert_uint_le(tail, head);
	ck_assert_uint_eq(depth, 0);
}

START_TEST(test_claim_waits_for_unreleased_cell)
{
	claim_after_unreleased(0);
}
END_TEST

START_TEST(test_claim_after_reclaim_of_full_ring)
{
	claim_after_unreleased(1);
}
END_TEST

START_TEST(test_sleep)
{
	struct wslot		*ws = wslot_create(1, 4096);
	struct ring_desc	 d, out;
	uint64_t		 t0, ms;

	ck_assert_ptr_nonnull(ws);
	ring_up(8, 64);
	/* Empty: sleeps about the timeout (a spurious early return is
	 * allowed, but the futex word does not change here). */
	t0 = now_ns();
	ring_sleep(&r, 60);
	ms = (now_ns() - t0) / 1000000;
	ck_assert_uint_ge(ms, 50);
	ck_assert_uint_lt(ms, 2000);
	ck_assert_uint_eq(atomic_load(&r.hdr->sleepers), 0);

	/* Something published (even without ring_wake): no sleep at all. */
	d = desc_for(0);
	ck_assert_int_eq(ring_publish(&r, &d), 0);
	t0 = now_ns();
	ring_sleep(&r, 5000);
	ck_assert_uint_lt((now_ns() - t0) / 1000000, 1000);
	ck_assert_int_eq(claim_next(ws, 1, &out), 1);

	/* Shutting down: no sleep either. */
	atomic_store(&r.hdr->shutdown, 1);
	t0 = now_ns();
	ring_sleep(&r, 5000);
	ck_assert_uint_lt((now_ns() - t0) / 1000000, 1000);
	ck_assert_uint_eq(atomic_load(&r.hdr->sleepers), 0);
	wslot_destroy(ws);
}
END_TEST

START_TEST(test_spin)
{
	struct ring_desc	 d;
	uint64_t		 t0, us;
	pid_t			 pid;

	ring_up(8, 64);
	/* Empty: watches about the time given, and is not a sleeper. */
	t0 = now_ns();
	ck_assert_int_eq(ring_spin(&r, 30 * 1000000ULL), 0);
	us = (now_ns() - t0) / 1000;
	ck_assert_uint_ge(us, 30000);
	ck_assert_uint_lt(us, 2000000);
	ck_assert_uint_eq(atomic_load(&r.hdr->sleepers), 0);

	/* An item published by another process meanwhile is seen without
	 * any wake-up, long before the time is up. */
	if ((pid = fork()) == 0) {
		struct timespec ts = { 0, 20 * 1000000 };

		nanosleep(&ts, NULL);
		d = desc_for(0);
		_exit(ring_publish(&r, &d) == 0 ? 0 : 1);
	}
	ck_assert_int_gt(pid, 0);
	t0 = now_ns();
	ck_assert_int_eq(ring_spin(&r, 10ULL * 1000000000ULL), 1);
	ck_assert_uint_lt((now_ns() - t0) / 1000000, 5000);
	ck_assert_int_eq(wait_exit(pid), 0);
	/* Ready already: at once. */
	ck_assert_int_eq(ring_spin(&r, 0), 1);

	/* Shutting down: gives up at once. */
	ring_destroy(&r);
	ring_up(8, 64);
	atomic_store(&r.hdr->shutdown, 1);
	t0 = now_ns();
	ck_assert_int_eq(ring_spin(&r, 10ULL * 1000000000ULL), 0);
	ck_assert_uint_lt((now_ns() - t0) / 1000000, 1000);
}
END_TEST

/*
 * Ping-pong with a sleeping worker: each item is published while the
 * worker is going to sleep or asleep with a 10 s timeout, so one lost
 * wake-up blows the test's time limit.
 */
#define WAKE_ROUNDS	300

START_TEST(test_wake_sleeping_worker)
{
	struct wslot		*ws = wslot_create(1, 4096);
	struct ring_desc	 d, out;
	uint64_t		 i, t0, got;
	int			 ack[2];
	pid_t			 pid;

	ck_assert_ptr_nonnull(ws);
	ring_up(8, 64);
	ck_assert_int_eq(pipe(ack), 0);
	if ((pid = fork()) == 0) {
		close(ack[0]);
		ring_worker_init(&r);
		for (i = 0; i < WAKE_ROUNDS; i++) {
			while (claim_next(ws, 1, &out) == 0)
				ring_sleep(&r, 10000);
			if (out.batch_id != desc_for(i).batch_id)
				_exit(1);
			if (write(ack[1], &out.batch_id, sizeof(out.batch_id)) !=
			    sizeof(out.batch_id))
				_exit(2);
		}
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	close(ack[1]);
	t0 = now_ns();
	for (i = 0; i < WAKE_ROUNDS; i++) {
		d = desc_for(i);
		ck_assert_int_eq(ring_publish(&r, &d), 0);
		ring_wake(&r, 1);
		ck_assert_int_eq(read(ack[0], &got, sizeof(got)), sizeof(got));
		ck_assert_uint_eq(got, d.batch_id);
	}
	ck_assert_int_eq(wait_exit(pid), 0);
	ck_assert_uint_lt((now_ns() - t0) / 1000000, 5000);
	ck_assert_uint_eq(atomic_load(&r.hdr->sleepers), 0);
	close(ack[0]);
	wslot_destroy(ws);
}
END_TEST

/* --- data slots --- */

START_TEST(test_slots_for)
{
	ring_up(16, 100);
	ck_assert_uint_eq(ring_slots_for(&r, 0), 1);
	ck_assert_uint_eq(ring_slots_for(&r, 1), 1);
	ck_assert_uint_eq(ring_slots_for(&r, 99), 1);
	ck_assert_uint_eq(ring_slots_for(&r, 100), 1);
	ck_assert_uint_eq(ring_slots_for(&r, 101), 2);
	ck_assert_uint_eq(ring_slots_for(&r, 1600), 16);
	ck_assert_uint_eq(ring_slots_for(&r, 1601), 17);
}
END_TEST

/* Walk a chain: n distinct in-range slots, ending in SLOT_NONE. */
static void
check_chain(uint32_t first, uint32_t n, uint8_t *seen)
{
	uint32_t s = first, i;

	for (i = 0; i < n; i++) {
		ck_assert_uint_le(s, r.mask);
		ck_assert_msg(!seen[s], "slot %u handed out twice", s);
		seen[s] = 1;
		s = i + 1 < n ? r.next[s] : s;
	}
	ck_assert_uint_eq(r.next[s], SLOT_NONE);
}

START_TEST(test_data_alloc_exhaust)
{
	uint8_t		 seen[16];
	uint32_t	 first[16], n[16], f, k, i;

	ring_up(16, 64);
	memset(seen, 0, sizeof(seen));
	/* Mixed sizes until nothing is left: 1+2+3+1+2+3+1+2 = 15 ... */
	for (i = 0; i < 16; i++) {
		size_t len = (size_t)(i % 3) * 64 + 1;

		if (ring_data_alloc(&r, len, &first[i], &n[i]) == -1)
			break;
		ck_assert_uint_eq(n[i], ring_slots_for(&r, len));
		check_chain(first[i], n[i], seen);
	}
	ck_assert_uint_eq(i, 8);
	ck_assert_uint_eq(r.nfree, 1);
	/* ... then one 1-slot item takes the last slot. */
	ck_assert_int_eq(ring_data_alloc(&r, 0, &first[8], &n[8]), 0);
	ck_assert_uint_eq(n[8], 1);
	check_chain(first[8], 1, seen);
	ck_assert_uint_eq(r.nfree, 0);
	ck_assert_int_eq(ring_data_alloc(&r, 0, &f, &k), -1);
	ck_assert_int_eq(ring_data_alloc(&r, 1, &f, &k), -1);

	/* Free a 3-slot chain: exactly those come back, a 2-slot item
	 * fits, a 4-slot one never did. */
	ring_data_free(&r, first[2], n[2]);
	ck_assert_uint_eq(r.nfree, 3);
	ck_assert_int_eq(ring_data_alloc(&r, 4 * 64, &f, &k), -1);
	ck_assert_uint_eq(r.nfree, 3);
	ck_assert_int_eq(ring_data_alloc(&r, 2 * 64, &first[2], &n[2]), 0);
	ck_assert_uint_eq(n[2], 2);
	ck_assert_uint_eq(r.nfree, 1);
	ck_assert_int_eq(ring_data_alloc(&r, 64, &first[9], &n[9]), 0);
	ck_assert_uint_eq(r.nfree, 0);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 10; i++)
		check_chain(first[i], n[i], seen);

	/* Free everything: all sixteen slots are back, once each. */
	for (i = 0; i < 10; i++)
		ring_data_free(&r, first[i], n[i]);
	ck_assert_uint_eq(r.nfree, 16);
	ck_assert_int_eq(ring_data_alloc(&r, 16 * 64, &f, &k), 0);
	memset(seen, 0, sizeof(seen));
	check_chain(f, 16, seen);
}
END_TEST

START_TEST(test_data_alloc_accounting)
{
	uint8_t		 seen[16];
	uint32_t	 first, n, all[16], i;

	ring_up(16, 64);
	/* A failed allocation takes nothing (no partial chain). */
	for (i = 0; i < 15; i++)
		ck_assert_int_eq(ring_data_alloc(&r, 10, &all[i], &n), 0);
	ck_assert_int_eq(ring_data_alloc(&r, 65, &first, &n), -1);
	ck_assert_uint_eq(r.nfree, 1);
	/* Free and reallocate repeatedly: the count never drifts and every
	 * slot is handed out once at a time. */
	for (i = 0; i < 15; i++)
		ring_data_free(&r, all[i], 1);
	ck_assert_uint_eq(r.nfree, 16);
	ck_assert_int_eq(ring_data_alloc(&r, 16 * 64, &first, &n), 0);
	ck_assert_uint_eq(n, 16);
	ck_assert_uint_eq(r.nfree, 0);
	memset(seen, 0, sizeof(seen));
	check_chain(first, 16, seen);
	ring_data_free(&r, first, n);
	ck_assert_uint_eq(r.nfree, 16);
	for (i = 0; i < 16; i++)
		ck_assert_uint_eq(r.next[i], SLOT_NONE);
	/* Larger than the whole data area: never. */
	ck_assert_int_eq(ring_data_alloc(&r, 16 * 64 + 1, &first, &n), -1);
	ck_assert_int_eq(ring_data_alloc(&r, (size_t)1 << 40, &first, &n), -1);
	ck_assert_int_eq(ring_data_alloc(&r, (size_t)-1, &first, &n), -1);
	ck_assert_uint_eq(r.nfree, 16);
}
END_TEST

static void
pattern(char *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (char)(seed * 31 + i * 7 + (i >> 8));
}

/* Write len bytes through the ring and read them back as a worker would. */
static void
roundtrip(size_t len, struct buf *scratch)
{
	struct ring_desc	 d;
	const char		*got;
	char			*src = malloc(len + 1);
	uint32_t		 first, n;
	uint32_t		 before = r.nfree;

	ck_assert_ptr_nonnull(src);
	pattern(src, len, (unsigned)len);
	ck_assert_int_eq(ring_data_alloc(&r, len, &first, &n), 0);
	ring_data_write(&r, first, src, len);
	memset(&d, 0, sizeof(d));
	d.first_slot = first;
	d.nslots = n;
	d.len = (uint32_t)len;
	got = ring_data_read(&r, &d, scratch);
	ck_assert_msg(got != NULL, "len %zu: read refused", len);
	ck_assert_msg(memcmp(got, src, len) == 0, "len %zu: bytes differ", len);
	/* One slot is read in place, longer chains through scratch. */
	if (n == 1)
		ck_assert_ptr_eq(got, r.data + (size_t)first * r.slot_bytes);
	else
		ck_assert_ptr_eq(got, scratch->data);
	ring_data_free(&r, first, n);
	ck_assert_uint_eq(r.nfree, before);
	free(src);
}

START_TEST(test_data_roundtrip)
{
	static const uint32_t geom[][2] = { { 16, 64 }, { 32, 100 },
	    { 16, 256 } };
	struct buf	scratch = BUF_INIT;
	size_t		i, s;

	for (i = 0; i < sizeof(geom) / sizeof(geom[0]); i++) {
		size_t slot = geom[i][1];
		size_t sizes[] = { 0, 1, slot - 1, slot, slot + 1,
		    10 * slot + 7, 2 * slot, geom[i][0] * slot };

		ring_up(geom[i][0], geom[i][1]);
		for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
			roundtrip(sizes[s], &scratch);
		ring_destroy(&r);
	}
	buf_free(&scratch);
}
END_TEST

START_TEST(test_data_roundtrip_fragmented)
{
	struct buf	 scratch = BUF_INIT;
	uint32_t	 first[16], n, i;

	ring_up(16, 64);
	/* Take every slot, free every other one: a long item gets a chain
	 * of scattered slots, in no particular order. */
	for (i = 0; i < 16; i++)
		ck_assert_int_eq(ring_data_alloc(&r, 1, &first[i], &n), 0);
	for (i = 0; i < 16; i += 2)
		ring_data_free(&r, first[i], 1);
	ck_assert_uint_eq(r.nfree, 8);
	roundtrip(7 * 64 + 13, &scratch);
	roundtrip(8 * 64, &scratch);
	ck_assert_int_eq(ring_data_alloc(&r, 8 * 64 + 1, &first[0], &n), -1);
	/* The slots still held were not touched by those writes. */
	for (i = 1; i < 16; i += 2)
		ck_assert_uint_eq(r.next[first[i]], SLOT_NONE);
	buf_free(&scratch);
}
END_TEST

START_TEST(test_data_read_rejects)
{
	struct buf		 scratch = BUF_INIT;
	struct ring_desc	 d, bad;
	uint32_t		 first, n, one, n1;
	char			 src[3 * 64];

	ring_up(16, 64);
	pattern(src, sizeof(src), 1);
	ck_assert_int_eq(ring_data_alloc(&r, sizeof(src), &first, &n), 0);
	ring_data_write(&r, first, src, sizeof(src));
	ck_assert_int_eq(ring_data_alloc(&r, 10, &one, &n1), 0);
	memset(&d, 0, sizeof(d));
	d.first_slot = first;
	d.nslots = n;
	d.len = sizeof(src);
	ck_assert_ptr_nonnull(ring_data_read(&r, &d, &scratch));

	/* First slot out of range. */
	bad = d;
	bad.first_slot = 16;
	ck_assert_ptr_null(ring_data_read(&r, &bad, &scratch));
	bad.first_slot = SLOT_NONE;
	ck_assert_ptr_null(ring_data_read(&r, &bad, &scratch));
	/* Slot count that does not match the length, either way. */
	bad = d;
	bad.nslots = 2;
	ck_assert_ptr_null(ring_data_read(&r, &bad, &scratch));
	bad.nslots = 4;
	ck_assert_ptr_null(ring_data_read(&r, &bad, &scratch));
	bad.nslots = 0;
	ck_assert_ptr_null(ring_data_read(&r, &bad, &scratch));
	bad = d;
	bad.len = 3 * 64 + 1;
	ck_assert_ptr_null(ring_data_read(&r, &bad, &scratch));
	bad.len = 0;
	ck_assert_ptr_null(ring_data_read(&r, &bad, &scratch));
	/* More than the whole ring. */
	bad.first_slot = first;
	bad.len = 17 * 64;
	bad.nslots = 17;
	ck_assert_ptr_null(ring_data_read(&r, &bad, &scratch));
	bad.len = UINT32_MAX;
	bad.nslots = ring_slots_for(&r, UINT32_MAX);
	ck_assert_ptr_null(ring_data_read(&r, &bad, &scratch));
	/* A consistent count over a chain that ends early. */
	bad.first_slot = one;
	bad.len = 3 * 64;
	bad.nslots = 3;
	ck_assert_ptr_null(ring_data_read(&r, &bad, &scratch));
	/* A 0-byte item is one slot. */
	bad.len = 0;
	bad.nslots = 1;
	ck_assert_ptr_nonnull(ring_data_read(&r, &bad, &scratch));
	buf_free(&scratch);
}
END_TEST

START_TEST(test_worker_init)
{
	pid_t	pid;

	ring_up(8, 64);
	memset(r.data, 'x', 8 * 64);
	if ((pid = fork()) == 0) {
		ring_worker_init(&r);
		if (r.free != NULL || r.nfree != 0 || r.name[0] != '\0')
			_exit(1);
		if (r.data[8 * 64 - 1] != 'x' || r.hdr->ring_slots != 8)
			_exit(2);
		/* The descriptor side stays writable (claims are CASes). */
		atomic_fetch_add(&r.hdr->sleepers, 0);
		catch_segv();
		*(volatile char *)r.data = 'y';
		_exit(3);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(wait_exit(pid), EXIT_SEGV);
	ck_assert_int_eq(r.data[0], 'x');

	/* A worker's ring_destroy unmaps but never unlinks the master's
	 * object. */
	if ((pid = fork()) == 0) {
		ring_worker_init(&r);
		ring_destroy(&r);
		_exit(0);
	}
	ck_assert_int_eq(wait_exit(pid), 0);
	ck_assert(shm_exists(getpid()));
	ck_assert_int_eq(r.data[0], 'x');
}
END_TEST

/* --- the stale-object sweep --- */

START_TEST(test_sweep_stale)
{
	char	name[64], junk[64];
	pid_t	dead;
	int	fd, n;

	/* A pid that surely is dead: our own child, reaped. */
	if ((dead = fork()) == 0)
		_exit(0);
	ck_assert_int_gt(dead, 0);
	ck_assert_int_eq(wait_exit(dead), 0);
	snprintf(name, sizeof(name), "/batchd.%ld", (long)dead);
	fd = shm_open(name, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* Not a pid at all: left alone. */
	snprintf(junk, sizeof(junk), "/batchd.%ldx", (long)dead);
	fd = shm_open(junk, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* A live master's object. */
	ring_up(8, 64);

	ck_assert(shm_exists(dead));
	n = ring_sweep_stale();
	ck_assert_int_ge(n, 1);
	ck_assert(!shm_exists(dead));
	ck_assert(shm_exists(getpid()));
	ck_assert_int_eq(shm_unlink(junk), 0);
	/* Nothing of ours is left to sweep. */
	ck_assert(!shm_exists(dead));
	ring_sweep_stale();
	ck_assert(shm_exists(getpid()));
}
END_TEST

/* --- the multi-process stress test --- */

#define ST_WORKERS	3
#define ST_POLL_MS	3000

struct stress_cfg {
	uint32_t	 ring_slots;
	uint32_t	 slot_bytes;
	uint32_t	 max_len;	/* item sizes are 0..max_len */
	uint64_t	 items;
	size_t		 comp_ring;	/* completion ring bytes */
};

/* The producer's (master's) view. */
struct stress {
	const struct stress_cfg	*cfg;
	struct ring		 ring;
	struct wslot		*ws[ST_WORKERS];
	pid_t			 pid[ST_WORKERS];
	int			 efd;
	char			*item;		/* the next item's bytes */
	int			 filled;	/* item holds item next */
	uint64_t		 next;		/* items published */
	uint64_t		*sum;		/* expected checksum, per item */
	uint32_t		*first;		/* first data slot, per item */
	uint8_t			*done;		/* completions seen, per item */
	uint64_t		 completed, dups, bad_sum, bad_slot, bad_rec;
	uint64_t		 mismatches, corrupt, wakeups, timeouts;
	uint64_t		 cell_busy, data_full;
};

static uint64_t
mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint32_t
item_len(uint64_t seq, uint32_t max_len)
{
	return (uint32_t)(mix64(seq ^ 0x51ce5eedULL) % ((uint64_t)max_len + 1));
}

/* Item seq's bytes: an xorshift stream seeded by seq. */
static void
item_fill(uint64_t seq, char *p, size_t len)
{
	uint64_t	s = mix64(seq) | 1, w;
	size_t		i;

	for (i = 0; i < len; i += 8) {
		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		w = s * 0x2545f4914f6cdd1dULL;
		memcpy(p + i, &w, len - i < 8 ? len - i : 8);
	}
}

static uint64_t
item_sum(const char *p, size_t len)
{
	uint64_t	h = 0xcbf29ce484222325ULL ^ len, w;
	size_t		i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	for (; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
	return h;
}

static pid_t	st_master;

static int
st_master_alive(void)
{
	return getppid() == st_master;
}

/*
 * A consumer: claim, check the descriptor and every byte, answer with a
 * completion record carrying the sequence number and a checksum, and wake
 * the producer the way a worker does (master_armed, eventfd).
 */
static void
stress_consumer(struct ring *rg, struct wslot *me, int efd, uint32_t max_len)
{
	struct ring_desc	 d;
	struct comp_rec		 rec;
	struct buf		 scratch = BUF_INIT;
	const char		*got;
	char			*want = malloc((size_t)max_len + 8);
	uint64_t		 sum;
	uint16_t		 bad;

	if (want == NULL)
		_exit(5);
	ring_worker_init(rg);
	atomic_store(&me->state, WS_IDLE);
	for (;;) {
		if (!ring_claim(rg, me, me->index, &d)) {
			if (atomic_load(&rg->hdr->shutdown))
				break;
			atomic_store(&me->state, WS_IDLE);
			ring_sleep(rg, 1000);
			if (!st_master_alive())
				_exit(3);
			continue;
		}
		atomic_store(&me->state, WS_BUSY);
		bad = 0;
		sum = 0;
		if (d.item_idx != (uint32_t)d.batch_id ||
		    d.len != item_len(d.batch_id, max_len))
			bad = 1;
		else if ((got = ring_data_read(rg, &d, &scratch)) == NULL)
			bad = 2;
		else {
			item_fill(d.batch_id, want, d.len);
			if (memcmp(got, want, d.len) != 0)
				bad = 3;
			sum = item_sum(got, d.len);
		}
		memset(&rec, 0, sizeof(rec));
		rec.batch_id = d.batch_id;
		rec.item_idx = d.item_idx;
		rec.first_slot = d.first_slot;
		rec.status = (uint16_t)(bad ? 500 + bad : 200);
		rec.body_len = sizeof(sum);
		if (wslot_push(me, &rec, "", "", (const char *)&sum, efd,
		    st_master_alive) == -1)
			_exit(4);
		wslot_release(me);
		atomic_fetch_add(&me->items_done, 1);
		if (atomic_exchange(&rg->hdr->master_armed, 0))
			eventfd_write(efd, 1);
	}
	atomic_store(&me->state, WS_EXITING);
	buf_free(&scratch);
	free(want);
	_exit(0);
}

/* Publish while data slots and cells last; wake sleepers once. */
static int
stress_publish(struct stress *st)
{
	const struct stress_cfg	*c = st->cfg;
	struct ring_desc	 d;
	uint32_t		 len, first, nslots;
	int			 n = 0;

	while (st->next < c->items) {
		len = item_len(st->next, c->max_len);
		if (ring_data_alloc(&st->ring, len, &first, &nslots) == -1) {
			st->data_full++;
			break;
		}
		if (!st->filled) {
			item_fill(st->next, st->item, len);
			st->sum[st->next] = item_sum(st->item, len);
			st->filled = 1;
		}
		ring_data_write(&st->ring, first, st->item, len);
		d.batch_id = st->next;
		d.item_idx = (uint32_t)st->next;
		d.first_slot = first;
		d.nslots = nslots;
		d.len = len;
		if (ring_publish(&st->ring, &d) == -1) {
			ring_data_free(&st->ring, first, nslots);
			st->cell_busy++;
			break;
		}
		st->first[st->next] = first;
		st->next++;
		st->filled = 0;
		n++;
	}
	if (n > 0)
		ring_wake(&st->ring, n);
	return n;
}

/* Consume every completion record; free each item's slots. */
static int
stress_drain(struct stress *st)
{
	struct comp_rec	 rec;
	struct wslot	*ws;
	uint64_t	 pos, sum, seq;
	int		 i, rv, n = 0;

	for (i = 0; i < ST_WORKERS; i++) {
		ws = st->ws[i];
		while ((rv = wslot_peek(ws, &rec, &pos)) == 1) {
			seq = rec.batch_id;
			if (seq >= st->next || rec.item_idx != (uint32_t)seq ||
			    rec.body_len != sizeof(sum)) {
				st->bad_rec++;
			} else if (st->done[seq]++ != 0) {
				st->dups++;
			} else {
				wslot_copy(ws, pos + rec.etag_len + rec.loc_len,
				    &sum, sizeof(sum));
				if (rec.status != 200)
					st->mismatches++;
				if (sum != st->sum[seq])
					st->bad_sum++;
				if (rec.first_slot != st->first[seq])
					st->bad_slot++;
				ring_data_free(&st->ring, st->first[seq],
				    ring_slots_for(&st->ring, item_len(seq,
				    st->cfg->max_len)));
				st->completed++;
			}
			wslot_consume(ws, &rec);
			n++;
		}
		if (rv == -1)
			st->corrupt++;
	}
	return n;
}

static int
stress_pending(const struct stress *st)
{
	int i;

	for (i = 0; i < ST_WORKERS; i++)
		if (wslot_pending(st->ws[i]) > 0)
			return 1;
	return 0;
}

static void
stress_run(const struct stress_cfg *c, const char *what)
{
	struct stress	 st;
	struct pollfd	 pfd;
	eventfd_t	 v;
	uint64_t	 t0, ns, done_items = 0, pending = 0, held = 0, i;
	uint64_t	 head, tail, depth, nfree;
	double		 secs;
	int		 k, rc, status[ST_WORKERS], stalled = 0;

	memset(&st, 0, sizeof(st));
	st.cfg = c;
	err[0] = '\0';
	ck_assert_msg(ring_create(&st.ring, c->ring_slots, c->slot_bytes, err,
	    sizeof(err)) == 0, "ring_create: %s", err);
	st.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ck_assert_int_ge(st.efd, 0);
	st.item = malloc((size_t)c->max_len + 8);
	st.sum = calloc(c->items, sizeof(*st.sum));
	st.first = calloc(c->items, sizeof(*st.first));
	st.done = calloc(c->items, sizeof(*st.done));
	ck_assert(st.item && st.sum && st.first && st.done);
	st_master = getpid();
	for (k = 0; k < ST_WORKERS; k++) {
		st.ws[k] = wslot_create((uint32_t)k, c->comp_ring);
		ck_assert_ptr_nonnull(st.ws[k]);
		wslot_reset(st.ws[k]);
	}
	for (k = 0; k < ST_WORKERS; k++) {
		st.ws[k]->pid = st.pid[k] = fork();
		ck_assert_int_ge(st.pid[k], 0);
		if (st.pid[k] == 0)
			stress_consumer(&st.ring, st.ws[k], st.efd, c->max_len);
	}

	t0 = now_ns();
	pfd.fd = st.efd;
	pfd.events = POLLIN;
	while (st.completed < c->items && st.corrupt == 0) {
		k = stress_publish(&st);
		if (stress_drain(&st) > 0 || k > 0)
			continue;
		/* Nothing to do: ask to be woken, look once more, block. */
		atomic_store(&st.ring.hdr->master_armed, 1);
		if (stress_pending(&st)) {
			atomic_store(&st.ring.hdr->master_armed, 0);
			continue;
		}
		rc = poll(&pfd, 1, ST_POLL_MS);
		atomic_store(&st.ring.hdr->master_armed, 0);
		if (rc == 1) {
			eventfd_read(st.efd, &v);
			st.wakeups++;
			continue;
		}
		if (rc == -1 && errno == EINTR)
			continue;
		st.timeouts++;
		k = stress_publish(&st);
		if (stress_drain(&st) == 0 && k == 0) {
			stalled = 1;
			break;
		}
	}
	ns = now_ns() - t0;
	secs = (double)ns / 1e9;

	atomic_store(&st.ring.hdr->shutdown, 1);
	ring_wake(&st.ring, INT32_MAX);
	if (stalled || st.corrupt)
		for (k = 0; k < ST_WORKERS; k++)
			kill(st.pid[k], SIGKILL);
	for (k = 0; k < ST_WORKERS; k++) {
		ck_assert_int_eq(waitpid(st.pid[k], &status[k], 0), st.pid[k]);
		done_items += atomic_load(&st.ws[k]->items_done);
		pending += wslot_pending(st.ws[k]);
		held += atomic_load(&st.ws[k]->held_pos) != 0;
	}
	head = atomic_load(&st.ring.hdr->head);
	tail = atomic_load(&st.ring.hdr->tail);
	depth = ring_depth(&st.ring);
	nfree = st.ring.nfree;
	/* Everything is released before the first check can fail. */
	for (k = 0; k < ST_WORKERS; k++)
		wslot_destroy(st.ws[k]);
	ring_destroy(&st.ring);
	close(st.efd);
	free(st.item);
	free(st.sum);
	free(st.first);
	printf("ring stress (%s): %llu items of 0..%u bytes, %u-byte slots, "
	    "%u cells, %d consumers: %.2f s, %.0f items/s; %llu producer "
	    "wake-ups, %llu publishes refused (cell busy), %llu (no data slots)\n", what,
	    (unsigned long long)st.completed, c->max_len, c->slot_bytes,
	    c->ring_slots, ST_WORKERS, secs, (double)st.completed / secs,
	    (unsigned long long)st.wakeups, (unsigned long long)st.cell_busy,
	    (unsigned long long)st.data_full);
	fflush(stdout);

	ck_assert_msg(!stalled, "stalled: %llu of %llu completed, %llu "
	    "published, head %llu tail %llu depth %llu",
	    (unsigned long long)st.completed, (unsigned long long)c->items,
	    (unsigned long long)st.next, (unsigned long long)head,
	    (unsigned long long)tail, (unsigned long long)depth);
	ck_assert(!shm_exists(getpid()));
	ck_assert_uint_eq(st.corrupt, 0);
	for (k = 0; k < ST_WORKERS; k++)
		ck_assert_msg(WIFEXITED(status[k]) &&
		    WEXITSTATUS(status[k]) == 0, "consumer %d: status %#x", k,
		    status[k]);
	ck_assert_uint_eq(st.bad_rec, 0);
	ck_assert_uint_eq(st.dups, 0);
	ck_assert_uint_eq(st.mismatches, 0);
	ck_assert_uint_eq(st.bad_sum, 0);
	ck_assert_uint_eq(st.bad_slot, 0);
	ck_assert_msg(st.timeouts == 0, "%llu producer polls timed out: a "
	    "lost wake-up", (unsigned long long)st.timeouts);
	ck_assert_uint_eq(st.completed, c->items);
	ck_assert_uint_eq(done_items, c->items);
	for (i = 0; i < c->items; i++)
		ck_assert_msg(st.done[i] == 1, "item %llu completed %u times",
		    (unsigned long long)i, st.done[i]);
	free(st.done);
	ck_assert_uint_eq(depth, 0);
	ck_assert_uint_eq(head, c->items);
	ck_assert_uint_eq(tail, c->items);
	/* Every data slot came back, no completion or claim is left. */
	ck_assert_uint_eq(nfree, c->ring_slots);
	ck_assert_uint_eq(pending, 0);
	ck_assert_uint_eq(held, 0);
	ck_assert_uint_lt(secs, 60.0);
}

START_TEST(test_stress)
{
	static const struct stress_cfg c = {
		.ring_slots = 1024, .slot_bytes = 256, .max_len = 3 * 256,
		.items = 1000000, .comp_ring = 8192,
	};

	stress_run(&c, "1M items, multi-slot");
}
END_TEST

/*
 * Small items in a 4-cell ring: the ring itself (not the data slots)
 * fills up, so claims race with the producer refilling the same cells.
 */
START_TEST(test_stress_tiny_ring)
{
	static const struct stress_cfg c = {
		.ring_slots = 4, .slot_bytes = 64, .max_len = 64,
		.items = 300000, .comp_ring = 4096,
	};

	stress_run(&c, "4-cell ring");
}
END_TEST

static Suite *
ring_suite(void)
{
	Suite	*s = suite_create("ring");
	TCase	*tc;

	tc = tcase_create("create");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_create_geometry);
	tcase_add_test(tc, test_create_smallest);
	tcase_add_test(tc, test_create_bad_geometry);
	tcase_add_test(tc, test_create_replaces_leftover);
	tcase_add_test(tc, test_destroy_unlinks);
	tcase_add_test(tc, test_sweep_stale);
	suite_add_tcase(s, tc);

	tc = tcase_create("queue");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_fifo);
	tcase_add_test(tc, test_fifo_wraps);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_depth);
	tcase_add_test(tc, test_sleep);
	tcase_add_test(tc, test_spin);
	tcase_add_test(tc, test_wake_sleeping_worker);
	suite_add_tcase(s, tc);

	tc = tcase_create("claim");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_claim_records_in_wslot);
	tcase_add_test(tc, test_claim_accumulates_in_wslot);
	tcase_add_test(tc, test_claim_never_unnamed);
	tcase_add_test(tc, test_claim_dies_after_cas);
	tcase_add_test(tc, test_reclaim);
	tcase_add_test(tc, test_claim_waits_for_unreleased_cell);
	tcase_add_test(tc, test_claim_after_reclaim_of_full_ring);
	suite_add_tcase(s, tc);

	tc = tcase_create("data");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_slots_for);
	tcase_add_test(tc, test_data_alloc_exhaust);
	tcase_add_test(tc, test_data_alloc_accounting);
	tcase_add_test(tc, test_data_roundtrip);
	tcase_add_test(tc, test_data_roundtrip_fragmented);
	tcase_add_test(tc, test_data_read_rejects);
	tcase_add_test(tc, test_worker_init);
	suite_add_tcase(s, tc);

	tc = tcase_create("stress");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_stress);
	tcase_add_test(tc, test_stress_tiny_ring);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(ring_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* A test that failed mid-way left its (now dead) process's object
	 * behind; remove it as a restarting master would. */
	ring_sweep_stale();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
