/*
 * ring.c - the work ring: descriptors in cells, items in data slots.
 * The protocol is described in shm.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "futex.h"
#include "ring.h"

#define RING_PREFIX	"batchd."

static size_t
round_page(size_t n)
{
	return (n + SHM_PAGE - 1) & ~(size_t)(SHM_PAGE - 1);
}

int
ring_sweep_stale(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 name[300], *end;
	long		 pid;
	int		 n = 0;

	if ((d = opendir("/dev/shm")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, RING_PREFIX, strlen(RING_PREFIX)) != 0)
			continue;
		errno = 0;
		pid = strtol(de->d_name + strlen(RING_PREFIX), &end, 10);
		if (errno != 0 || *end != '\0' || pid <= 0)
			continue;
		/* Only objects whose master is gone; a live pid is left
		 * alone even if it was reused by another program. */
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(name, sizeof(name), "/%s", de->d_name);
		if (shm_unlink(name) == 0)
			n++;
	}
	closedir(d);
	return n;
}

int
ring_create(struct ring *r, uint32_t slots, uint32_t slot_bytes, char *err,
    size_t errlen)
{
	struct ring_hdr	*h;
	size_t		 cells_off, next_off, data_off, total;
	uint32_t	 i;
	void		*p;
	int		 fd;

	memset(r, 0, sizeof(*r));
	if (slots < 2 || (slots & (slots - 1)) != 0 || slot_bytes < 64) {
		snprintf(err, errlen, "ring: bad geometry %u x %u", slots,
		    slot_bytes);
		return -1;
	}
	cells_off = round_page(sizeof(struct ring_hdr));
	next_off = cells_off + (size_t)slots * sizeof(struct ring_cell);
	data_off = round_page(next_off + (size_t)slots * sizeof(uint32_t));
	total = data_off + round_page((size_t)slots * slot_bytes);

	snprintf(r->name, sizeof(r->name), "/" RING_PREFIX "%ld",
	    (long)getpid());
	shm_unlink(r->name);
	if ((fd = shm_open(r->name, O_RDWR | O_CREAT | O_EXCL, 0600)) == -1) {
		snprintf(err, errlen, "shm_open %s: %s", r->name,
		    strerror(errno));
		return -1;
	}
	if (ftruncate(fd, (off_t)total) == -1) {
		snprintf(err, errlen, "ftruncate %s: %s", r->name,
		    strerror(errno));
		goto fail;
	}
	p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "mmap %s: %s", r->name, strerror(errno));
		goto fail;
	}
	close(fd);
	if ((r->free = calloc(slots, sizeof(uint32_t))) == NULL) {
		snprintf(err, errlen, "ring: out of memory");
		munmap(p, total);
		shm_unlink(r->name);
		return -1;
	}
	h = p;
	h->magic = SHM_MAGIC;
	h->version = SHM_VERSION;
	h->ring_slots = slots;
	h->slot_bytes = slot_bytes;
	h->master_pid = getpid();
	h->cells_off = cells_off;
	h->next_off = next_off;
	h->data_off = data_off;
	h->total_size = total;
	r->hdr = h;
	r->cells = (struct ring_cell *)((char *)p + cells_off);
	r->next = (uint32_t *)((char *)p + next_off);
	r->data = (char *)p + data_off;
	r->mask = slots - 1;
	r->slot_bytes = slot_bytes;
	r->size = total;
	for (i = 0; i < slots; i++) {
		atomic_init(&r->cells[i].word, CELL_WORD(i, CELL_FREE));
		r->next[i] = SLOT_NONE;
		r->free[i] = slots - 1 - i;
	}
	r->nfree = slots;
	return 0;
fail:
	close(fd);
	shm_unlink(r->name);
	r->name[0] = '\0';
	return -1;
}

void
ring_destroy(struct ring *r)
{
	if (r->hdr != NULL)
		munmap(r->hdr, r->size);
	if (r->name[0] != '\0')
		shm_unlink(r->name);
	free(r->free);
	memset(r, 0, sizeof(*r));
}

void
ring_worker_init(struct ring *r)
{
	free(r->free);
	r->free = NULL;
	r->nfree = 0;
	r->name[0] = '\0';
	/* A worker bug must not be able to scribble over other items. */
	mprotect(r->data, r->size - r->hdr->data_off, PROT_READ);
}

int
ring_publish(struct ring *r, const struct ring_desc *d)
{
	uint64_t		 h = atomic_load_explicit(&r->hdr->head,
				    memory_order_relaxed);
	struct ring_cell	*c = &r->cells[h & r->mask];

	if (atomic_load_explicit(&c->word, memory_order_acquire) !=
	    CELL_WORD(h, CELL_FREE))
		return -1;
	c->desc = *d;
	atomic_store_explicit(&c->word, CELL_WORD(h, CELL_READY),
	    memory_order_release);
	atomic_store(&r->hdr->head, h + 1);
	return 0;
}

void
ring_wake(struct ring *r, int n)
{
	atomic_fetch_add(&r->hdr->wake, 1);
	if (atomic_load(&r->hdr->sleepers) > 0)
		futex_wake(&r->hdr->wake, n);
}

uint64_t
ring_depth(const struct ring *r)
{
	uint64_t h = atomic_load(&r->hdr->head);
	uint64_t t = atomic_load(&r->hdr->tail);

	return h > t ? h - t : 0;
}

int
ring_claim(struct ring *r, struct wslot *me, uint32_t w,
    struct ring_desc *out)
{
	struct ring_cell	*c;
	uint64_t		 t, word;
	uint32_t		 slots = r->mask + 1;
	uint32_t		 n = atomic_load(&me->nheld);

	if (n >= WSLOT_HELD_MAX)
		return 0;
	for (;;) {
		t = atomic_load(&r->hdr->tail);
		c = &r->cells[t & r->mask];
		word = atomic_load(&c->word);
		if (word == CELL_WORD(t, CELL_READY)) {
			if (!atomic_compare_exchange_strong(&c->word, &word,
			    CELL_WORD(t, w)))
				continue;
			/* The claim is in the cell; now in our own slot. */
			*out = c->desc;
			me->held[n] = *out;
			atomic_store(&me->nheld, n + 1);
			if (n == 0)
				atomic_store(&me->started_ns, mono_ns());
			atomic_store(&me->held_pos, t + 1);
			atomic_store(&c->word, CELL_WORD(t + slots, CELL_FREE));
			atomic_compare_exchange_strong(&r->hdr->tail, &t, t + 1);
			return 1;
		}
		if (CELL_POS(word) == (uint32_t)t &&
		    CELL_STATE(word) == CELL_FREE)
			return 0;	/* nothing published at t yet */
		/* The cell still holds the previous lap's item, claimed but
		 * not yet released (or its worker died holding it): t is not
		 * published either, and tail must not pass it. */
		if (CELL_POS(word) == (uint32_t)(t - slots))
			return 0;
		/* Claimed by another worker, or released with tail lagging:
		 * help tail along and look again. */
		atomic_compare_exchange_strong(&r->hdr->tail, &t, t + 1);
	}
}

/*
 * Between yields, not pauses: where workers and the master share fewer
 * cores than they are, a spinning worker gives its core to whoever waits
 * for it (the master, most often) instead of burning it.  An item that
 * arrives meanwhile costs the master no FUTEX_WAKE and the worker no trip
 * through the scheduler; on an otherwise idle core sched_yield() returns
 * at once and this is a plain watch.
 */
int
ring_spin(struct ring *r, uint64_t ns)
{
	uint64_t	 t, word, end = mono_ns() + ns;

	for (;;) {
		t = atomic_load(&r->hdr->tail);
		word = atomic_load(&r->cells[t & r->mask].word);
		if (word == CELL_WORD(t, CELL_READY))
			return 1;
		if (atomic_load(&r->hdr->shutdown) || mono_ns() >= end)
			return 0;
		sched_yield();
	}
}

void
ring_sleep(struct ring *r, int timeout_ms)
{
	uint32_t	 seen = atomic_load(&r->hdr->wake);
	uint64_t	 t, word;

	atomic_fetch_add(&r->hdr->sleepers, 1);
	t = atomic_load(&r->hdr->tail);
	word = atomic_load(&r->cells[t & r->mask].word);
	if (((CELL_POS(word) == (uint32_t)t && CELL_STATE(word) == CELL_FREE) ||
	    CELL_POS(word) == (uint32_t)(t - (r->mask + 1))) &&
	    !atomic_load(&r->hdr->shutdown))
		futex_wait(&r->hdr->wake, seen, timeout_ms);
	atomic_fetch_sub(&r->hdr->sleepers, 1);
}

size_t
ring_reclaim(struct ring *r, uint32_t w, struct ring_desc *out, size_t max)
{
	uint32_t	 i, slots = r->mask + 1;
	uint64_t	 word;
	size_t		 n = 0;

	for (i = 0; i < slots; i++) {
		word = atomic_load(&r->cells[i].word);
		if (CELL_STATE(word) != w)
			continue;
		if (n < max)
			out[n++] = r->cells[i].desc;
		atomic_store(&r->cells[i].word,
		    CELL_WORD(CELL_POS(word) + slots, CELL_FREE));
	}
	return n;
}

size_t
ring_unpublish(struct ring *r, struct ring_desc *out, size_t max)
{
	uint64_t		 t, h = atomic_load(&r->hdr->head), word;
	uint32_t		 slots = r->mask + 1;
	struct ring_cell	*c;
	size_t			 n = 0;

	for (t = atomic_load(&r->hdr->tail); t < h && n < max; t++) {
		c = &r->cells[t & r->mask];
		word = atomic_load(&c->word);
		if (word == CELL_WORD(t, CELL_READY))
			out[n++] = c->desc;
		if (CELL_POS(word) == (uint32_t)t)
			atomic_store(&c->word, CELL_WORD(t + slots, CELL_FREE));
		atomic_store(&r->hdr->tail, t + 1);
	}
	return n;
}

uint32_t
ring_slots_for(const struct ring *r, size_t len)
{
	size_t n = (len + r->slot_bytes - 1) / r->slot_bytes;

	return n == 0 ? 1 : (uint32_t)n;
}

int
ring_data_alloc(struct ring *r, size_t len, uint32_t *first, uint32_t *nslots)
{
	uint32_t	 n = ring_slots_for(r, len), i, s, prev = SLOT_NONE;

	if (len > (size_t)(r->mask + 1) * r->slot_bytes || n > r->nfree)
		return -1;
	*first = SLOT_NONE;
	for (i = 0; i < n; i++) {
		s = r->free[--r->nfree];
		if (prev == SLOT_NONE)
			*first = s;
		else
			r->next[prev] = s;
		prev = s;
	}
	r->next[prev] = SLOT_NONE;
	*nslots = n;
	return 0;
}

void
ring_data_free(struct ring *r, uint32_t first, uint32_t nslots)
{
	uint32_t s = first, i;

	for (i = 0; i < nslots && s <= r->mask; i++) {
		uint32_t nx = r->next[s];

		r->next[s] = SLOT_NONE;
		r->free[r->nfree++] = s;
		s = nx;
	}
}

void
ring_data_write(struct ring *r, uint32_t first, const void *p, size_t len)
{
	const char	*src = p;
	uint32_t	 s = first;
	size_t		 n;

	while (len > 0 && s <= r->mask) {
		n = len < r->slot_bytes ? len : r->slot_bytes;
		memcpy(r->data + (size_t)s * r->slot_bytes, src, n);
		src += n;
		len -= n;
		s = r->next[s];
	}
}

const char *
ring_data_read(const struct ring *r, const struct ring_desc *d,
    struct buf *scratch)
{
	uint32_t	 s = d->first_slot, i;
	size_t		 left = d->len, n;

	if (s > r->mask || d->nslots != ring_slots_for(r, d->len) ||
	    d->nslots > r->mask + 1)
		return NULL;
	if (d->nslots == 1)
		return r->data + (size_t)s * r->slot_bytes;
	buf_reset(scratch);
	if (buf_reserve(scratch, d->len) == -1)
		return NULL;
	for (i = 0; i < d->nslots; i++) {
		if (s > r->mask)
			return NULL;
		n = left < r->slot_bytes ? left : r->slot_bytes;
		buf_append(scratch, r->data + (size_t)s * r->slot_bytes, n);
		left -= n;
		s = r->next[s];
	}
	return scratch->data;
}
