/*
 * scan_ahead.h - asking for a table scan's next LMDB pages before the
 * cursor reaches them (worker/scan_ahead.c).
 *
 * A scan walks leaf pages one after another, and inside mdb_cursor_get()
 * the first touch of each row is its node header: a cache miss per row,
 * waited for one at a time, which is most of a plain count's time.  LMDB
 * gives no way to ask for what comes next, so this reads its leaf-page
 * layout itself (LMDB 0.9's on-disk format: a 16-byte header whose
 * mp_lower, at offset 12, ends an array of 16-bit node offsets that starts
 * at offset 16) and issues prefetches:
 *
 *   on entering page P (a key of the scan lies in it), the node headers
 *   of page P + 1 (its header was asked for one page earlier) and the
 *   header line of page P + 2.
 *
 * A table loaded in key order lies in consecutive pages (the bench's
 * million rows: 99 % of page steps are to the next page), so a page's
 * misses are in flight while the one before it is read.  Where the guess
 * is wrong (a page split put the next leaf elsewhere, or P + 1 is a
 * branch or free page) nothing goes wrong: only prefetches come of what
 * is read, and every offset is checked to lie inside its page.  The one
 * real read past the current page, P + 1's header, is made only when P + 1
 * is inside the file: P's own header names its page number (mp_pgno, a
 * 64-bit word at offset 0), and mdb_env_info()'s me_last_pgno the file's
 * last page (a page of the map past the file's end would fault).  Only
 * for a read-only transaction, whose pages are all the map's: a write
 * transaction's changed pages are heap copies, not where a page starts
 * (worker/rows.c's rows_iter leaves it off there).  Built
 * only against LMDB 0.9 (whose format this is); elsewhere
 * scan_ahead_key() does nothing.
 */
#ifndef BATCHD_SCAN_AHEAD_H
#define BATCHD_SCAN_AHEAD_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

/* LMDB 0.9's page header (PAGEHDRSZ) and where mp_lower sits in it. */
#define SCAN_AHEAD_HDR		16u
#define SCAN_AHEAD_LOWER	12u

struct scan_ahead {
	size_t		 sa_psize;	/* page size, a power of two */
	size_t		 sa_last;	/* last page number in the file */
	uintptr_t	 sa_page;	/* page of the last key seen, or 0 */
	int		 sa_on;		/* 0: every call does nothing */
};

/* Ready for a scan over env's map (off when LMDB is not 0.9 or cannot
 * say its page size). */
void	scan_ahead_init(struct scan_ahead *, MDB_env *);
/* The scan is at a key whose bytes are at key (inside a leaf page, as
 * mdb_cursor_get() returns it): on a new page, prefetch ahead. */
void	scan_ahead_key(struct scan_ahead *, const void *key);
/*
 * The node offsets of the leaf page at page (psize bytes), as the page's
 * header lists them, into out (at most max); the count found, or 0 when
 * the header is not a plausible one.  Exposed for the unit test that
 * checks this layout against the linked LMDB.
 */
size_t	scan_ahead_nodes(const unsigned char *page, size_t psize,
	    uint16_t *out, size_t max);

#endif /* BATCHD_SCAN_AHEAD_H */
