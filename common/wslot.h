/*
 * wslot.h - a worker slot's shared area: its state (struct wslot, shm.h)
 * and its completion ring.
 */
#ifndef BATCHD_WSLOT_H
#define BATCHD_WSLOT_H

#include <stddef.h>
#include <stdint.h>

#include "shm.h"

/* Master: map a slot area with a completion ring of at least min_ring
 * bytes (rounded up to a power of two).  NULL on failure. */
struct wslot	*wslot_create(uint32_t index, size_t min_ring);
void		 wslot_destroy(struct wslot *);
/* Master, before forking a (new) worker into the slot. */
void		 wslot_reset(struct wslot *);

/* Worker: every item it held is answered (its records are published):
 * it holds nothing now, and its next items start a new group. */
void		 wslot_release(struct wslot *);

/*
 * Worker: append one completion record (hdr->len is computed here).  When
 * the ring lacks room, writes efd to make the master drain it and waits.
 * Returns 0, or -1 if the record can never fit or alive() says to give up.
 */
int		 wslot_push(struct wslot *, struct comp_rec *hdr,
		    const char *etag, const char *loc, const char *body,
		    int efd, int (*alive)(void));

/*
 * Master: look at the next record.  Returns 1 with hdr filled and *pos at
 * the first byte after the header, 0 if there is none, -1 if the record is
 * inconsistent (the worker wrote garbage: kill it, drop its ring).
 */
int		 wslot_peek(struct wslot *, struct comp_rec *hdr, uint64_t *pos);
/* Master: copy n bytes at ring position pos (wrap-aware). */
void		 wslot_copy(const struct wslot *, uint64_t pos, void *dst,
		    size_t n);
/* Master: the record at the tail is handled; release its room. */
void		 wslot_consume(struct wslot *, const struct comp_rec *hdr);
/* Bytes waiting in the completion ring. */
uint64_t	 wslot_pending(const struct wslot *);

#endif
