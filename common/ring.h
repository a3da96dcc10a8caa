/*
 * ring.h - the work ring (layout in shm.h): a bounded queue of item
 * descriptors with one producer (the master) and many consumers (the
 * workers), plus the data slots that carry the encoded items.
 */
#ifndef BATCHD_RING_H
#define BATCHD_RING_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "shm.h"

struct ring {
	struct ring_hdr	 *hdr;
	struct ring_cell *cells;
	uint32_t	 *next;		/* slot_next[] */
	char		 *data;
	uint32_t	  mask;		/* ring_slots - 1 */
	uint32_t	  slot_bytes;
	size_t		  size;		/* bytes mapped */
	char		  name[64];	/* shm object name, "" once unlinked */
	/* Master only: the free data slots (a stack). */
	uint32_t	 *free;
	uint32_t	  nfree;
};

/* Master: create, size and map the object; unlink stale ones first. */
int	ring_create(struct ring *, uint32_t slots, uint32_t slot_bytes,
	    char *err, size_t errlen);
/* Master: unmap and remove the object. */
void	ring_destroy(struct ring *);
/* Remove /dev/shm/batchd.<pid> objects whose master no longer runs.
 * Returns how many were removed. */
int	ring_sweep_stale(void);
/* Worker, after fork: drop the master-only parts, map data read-only. */
void	ring_worker_init(struct ring *);

/* Master: publish one descriptor; -1 if the next cell is not free yet. */
int	ring_publish(struct ring *, const struct ring_desc *);
/* Master: after a burst of publishes, wake sleeping workers (one syscall,
 * and none when nobody sleeps). */
void	ring_wake(struct ring *, int n);
/* Items published and not yet claimed. */
uint64_t ring_depth(const struct ring *);

/* Worker in slot w: claim the oldest ready item, recording it in me
 * before releasing its cell.  Returns 1 with *out filled, 0 if empty. */
int	ring_claim(struct ring *, struct wslot *me, uint32_t w,
	    struct ring_desc *out);
/* Worker: sleep until the master publishes (or timeout_ms passes). */
void	ring_sleep(struct ring *, int timeout_ms);
/* Worker: watch for an item for up to ns nanoseconds without sleeping
 * (yielding the core between looks); 1 if one is ready to claim. */
int	ring_spin(struct ring *, uint64_t ns);

/* Master, after worker w died: free the cells it still had claimed and
 * return their descriptors (at most max) in out. */
size_t	ring_reclaim(struct ring *, uint32_t w, struct ring_desc *out,
	    size_t max);

/* Master, only while no worker process exists: take back every published,
 * unclaimed descriptor (at most max) so it can be answered otherwise.
 * Returns how many. */
size_t	ring_unpublish(struct ring *, struct ring_desc *out, size_t max);

/* Master: take data slots for len bytes; -1 if not enough free now. */
int	ring_data_alloc(struct ring *, size_t len, uint32_t *first,
	    uint32_t *nslots);
void	ring_data_free(struct ring *, uint32_t first, uint32_t nslots);
/* Master: copy len bytes into the chain starting at first. */
void	ring_data_write(struct ring *, uint32_t first, const void *, size_t);
/* Worker: the item's bytes, in place when it fits one slot, else copied
 * into scratch.  NULL if the descriptor is inconsistent or memory ran out. */
const char *ring_data_read(const struct ring *, const struct ring_desc *,
	    struct buf *scratch);
/* How many slots len bytes take. */
uint32_t ring_slots_for(const struct ring *, size_t len);

#endif
