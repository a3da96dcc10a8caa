/*
 * wslot.c - worker slot areas and their completion rings (see shm.h).
 */
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "futex.h"
#include "wslot.h"

#define ALIGN8(n)	(((n) + 7) & ~(uint64_t)7)

static char *
ring_base(const struct wslot *ws)
{
	return (char *)ws + WSLOT_BYTES;
}

struct wslot *
wslot_create(uint32_t index, size_t min_ring)
{
	struct wslot	*ws;
	size_t		 size = 4096;
	void		*p;

	while (size < min_ring)
		size *= 2;
	p = mmap(NULL, WSLOT_BYTES + size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	ws = p;
	ws->index = index;
	ws->res_size = size;
	return ws;
}

void
wslot_destroy(struct wslot *ws)
{
	if (ws != NULL)
		munmap(ws, WSLOT_BYTES + ws->res_size);
}

void
wslot_reset(struct wslot *ws)
{
	atomic_store(&ws->state, WS_STARTING);
	atomic_store(&ws->retire, 0);
	atomic_store(&ws->held_pos, 0);
	atomic_store(&ws->nheld, 0);
	atomic_store(&ws->run_idx, WSLOT_RUN_NONE);
	atomic_store(&ws->phase, WG_OPEN);
	memset(ws->held, 0, sizeof(ws->held));
	atomic_store(&ws->started_ns, 0);
	atomic_store(&ws->items_done, 0);
	atomic_store(&ws->res_head, 0);
	atomic_store(&ws->res_tail, 0);
	atomic_store(&ws->res_waiting, 0);
}

static void
ring_put(struct wslot *ws, uint64_t pos, const void *src, size_t n)
{
	size_t off = pos & (ws->res_size - 1), first;

	first = ws->res_size - off < n ? ws->res_size - off : n;
	memcpy(ring_base(ws) + off, src, first);
	if (n > first)
		memcpy(ring_base(ws), (const char *)src + first, n - first);
}

void
wslot_copy(const struct wslot *ws, uint64_t pos, void *dst, size_t n)
{
	size_t off = pos & (ws->res_size - 1), first;

	first = ws->res_size - off < n ? ws->res_size - off : n;
	memcpy(dst, ring_base(ws) + off, first);
	if (n > first)
		memcpy((char *)dst + first, ring_base(ws), n - first);
}

int
wslot_push(struct wslot *ws, struct comp_rec *hdr, const char *etag,
    const char *loc, const char *body, int efd, int (*alive)(void))
{
	uint64_t	 need, head, tail, pos;
	uint32_t	 seen;

	need = ALIGN8(sizeof(*hdr) + (uint64_t)hdr->etag_len + hdr->loc_len +
	    hdr->body_len);
	if (need > ws->res_size || need > UINT32_MAX)
		return -1;
	hdr->len = (uint32_t)need;
	hdr->kind = COMP_ITEM;
	head = atomic_load_explicit(&ws->res_head, memory_order_relaxed);
	for (;;) {
		tail = atomic_load(&ws->res_tail);
		if (ws->res_size - (head - tail) >= need)
			break;
		seen = atomic_load(&ws->res_wake);
		atomic_store(&ws->res_waiting, 1);
		if (efd >= 0)
			eventfd_write(efd, 1);
		if (atomic_load(&ws->res_tail) == tail)
			futex_wait(&ws->res_wake, seen, 100);
		atomic_store(&ws->res_waiting, 0);
		if (alive != NULL && !alive())
			return -1;
	}
	pos = head;
	ring_put(ws, pos, hdr, sizeof(*hdr));
	pos += sizeof(*hdr);
	ring_put(ws, pos, etag, hdr->etag_len);
	pos += hdr->etag_len;
	ring_put(ws, pos, loc, hdr->loc_len);
	pos += hdr->loc_len;
	ring_put(ws, pos, body, hdr->body_len);
	atomic_store_explicit(&ws->res_head, head + need, memory_order_release);
	return 0;
}

int
wslot_peek(struct wslot *ws, struct comp_rec *hdr, uint64_t *pos)
{
	uint64_t head = atomic_load_explicit(&ws->res_head,
	    memory_order_acquire);
	uint64_t tail = atomic_load_explicit(&ws->res_tail,
	    memory_order_relaxed);
	uint64_t avail = head - tail, need;

	if (head == tail)
		return 0;
	if (avail < sizeof(*hdr) || avail > ws->res_size)
		return -1;
	wslot_copy(ws, tail, hdr, sizeof(*hdr));
	need = ALIGN8(sizeof(*hdr) + (uint64_t)hdr->etag_len + hdr->loc_len +
	    hdr->body_len);
	if (hdr->kind != COMP_ITEM || hdr->len != need || need > avail)
		return -1;
	*pos = tail + sizeof(*hdr);
	return 1;
}

void
wslot_consume(struct wslot *ws, const struct comp_rec *hdr)
{
	atomic_fetch_add(&ws->res_tail, hdr->len);
	if (atomic_load(&ws->res_waiting)) {
		atomic_fetch_add(&ws->res_wake, 1);
		futex_wake(&ws->res_wake, 1);
	}
}

uint64_t
wslot_pending(const struct wslot *ws)
{
	return atomic_load(&ws->res_head) - atomic_load(&ws->res_tail);
}

void
wslot_release(struct wslot *ws)
{
	atomic_store(&ws->run_idx, WSLOT_RUN_NONE);
	atomic_store(&ws->nheld, 0);
	atomic_store(&ws->held_pos, 0);
	atomic_store(&ws->phase, WG_OPEN);
}
