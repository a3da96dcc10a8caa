/*
 * scan_ahead.c - prefetching a scan's next LMDB leaf pages (scan_ahead.h
 * says what is read of LMDB's layout, and why that is safe).
 */
#include <string.h>

#include "scan_ahead.h"

#if MDB_VERSION_MAJOR == 0 && MDB_VERSION_MINOR == 9
#define SCAN_AHEAD_BUILT	1
#else
#define SCAN_AHEAD_BUILT	0
#endif

void
scan_ahead_init(struct scan_ahead *sa, MDB_env *env)
{
	MDB_envinfo	info;
	MDB_stat	st;

	memset(sa, 0, sizeof(*sa));
	if (!SCAN_AHEAD_BUILT || mdb_env_info(env, &info) != 0 ||
	    mdb_env_stat(env, &st) != 0 ||
	    st.ms_psize < 2 * SCAN_AHEAD_HDR ||
	    (st.ms_psize & (st.ms_psize - 1)) != 0)
		return;
	sa->sa_psize = st.ms_psize;
	sa->sa_last = info.me_last_pgno;
	sa->sa_on = 1;
}

size_t
scan_ahead_nodes(const unsigned char *page, size_t psize, uint16_t *out,
    size_t max)
{
	uint16_t	lower, off;
	size_t		n = 0, o;

	memcpy(&lower, page + SCAN_AHEAD_LOWER, sizeof(lower));
	if (lower < SCAN_AHEAD_HDR || lower > psize)
		return 0;
	for (o = SCAN_AHEAD_HDR; o + 1 < lower && n < max; o += 2) {
		memcpy(&off, page + o, sizeof(off));
		if (off >= lower && off < psize)
			out[n++] = off;
	}
	return n;
}

void
scan_ahead_key(struct scan_ahead *sa, const void *key)
{
	uintptr_t		 pg;
	const unsigned char	*next;
	uint16_t		 nodes[256];
	uint64_t		 pgno;
	size_t			 n, i;

	if (!sa->sa_on)
		return;
	pg = (uintptr_t)key & ~(uintptr_t)(sa->sa_psize - 1);
	if (pg == sa->sa_page)
		return;
	sa->sa_page = pg;
	/* The page's own number (mp_pgno), read from the page the key is
	 * in: P + 1 is read only when the file has it. */
	memcpy(&pgno, (const void *)pg, sizeof(pgno));
	if (pgno >= sa->sa_last)
		return;
	next = (const unsigned char *)(pg + sa->sa_psize);
	n = scan_ahead_nodes(next, sa->sa_psize, nodes,
	    sizeof(nodes) / sizeof(nodes[0]));
	for (i = 0; i < n; i++)
		__builtin_prefetch(next + nodes[i]);
	if (pgno + 2 <= sa->sa_last)
		__builtin_prefetch(next + sa->sa_psize);
}
