/*
 * test_scan_ahead.c - unit tests for worker/scan_ahead.c: the LMDB 0.9
 * leaf-page layout it reads is checked against the linked liblmdb (every
 * key a cursor returns must be one of its page's listed nodes, and pages
 * must carry their own numbers), and its one read past the current page
 * must never happen where the file has no next page.
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <lmdb.h>

#include "scan_ahead.h"

#define NKEYS		3000
#define NODE_HDR	8	/* LMDB 0.9's node header before a key */

/* Each test's store is a directory inside the run's (made by main, which
 * removes it: check does not run the teardown of a failed test). */
static char	run_dir[64];
static char	dir[128];
static MDB_env	*env;
static MDB_dbi	 dbi;

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* A store of NKEYS keys in order, values 10 to ~1,000 bytes long. */
static void
setup(void)
{
	MDB_txn	*txn;
	MDB_val	 k, v;
	char	 key[16], val[1024];
	int	 i;

	snprintf(dir, sizeof(dir), "%s/db-XXXXXX", run_dir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_mapsize(env, 64u << 20), 0);
	ck_assert_int_eq(mdb_env_open(env, dir, MDB_NOSYNC, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	memset(val, 'v', sizeof(val));
	for (i = 0; i < NKEYS; i++) {
		snprintf(key, sizeof(key), "k%06d", i);
		k.mv_data = key;
		k.mv_size = strlen(key);
		v.mv_data = val;
		v.mv_size = 10 + (size_t)(i * 37) % 1000;
		ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	}
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

static void
teardown(void)
{
	mdb_env_close(env);
	env = NULL;
}

static size_t
psize_of(void)
{
	MDB_stat	st;

	ck_assert_int_eq(mdb_env_stat(env, &st), 0);
	return st.ms_psize;
}

static uint64_t
pgno_of(uintptr_t pg)
{
	uint64_t	n;

	memcpy(&n, (const void *)pg, sizeof(n));
	return n;
}

START_TEST(test_nodes_match_lmdb)
{
	MDB_txn		*txn;
	MDB_cursor	*cur;
	MDB_val		 k, v;
	uint16_t	 nodes[512];
	size_t		 psize = psize_of(), n = 0, seen = 0, i, keys = 0;
	size_t		 pages = 0, steps = 0;
	uintptr_t	 pg, last = 0;
	int		 found;

	ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(mdb_cursor_open(txn, dbi, &cur), 0);
	while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
		pg = (uintptr_t)k.mv_data & ~(uintptr_t)(psize - 1);
		if (pg != last) {
			/* Every key of the page before was one it listed. */
			ck_assert_uint_eq(seen, n);
			n = scan_ahead_nodes((const unsigned char *)pg, psize,
			    nodes, 512);
			ck_assert_uint_gt(n, 0);
			if (last != 0 && pg == last + psize) {
				ck_assert_uint_eq(pgno_of(pg),
				    pgno_of(last) + 1);
				steps++;
			}
			last = pg;
			seen = 0;
			pages++;
		}
		for (found = 0, i = 0; i < n && !found; i++)
			found = (uintptr_t)k.mv_data - NODE_HDR == pg +
			    nodes[i];
		ck_assert_msg(found, "key %.*s is not a node its page lists",
		    (int)k.mv_size, (const char *)k.mv_data);
		seen++;
		keys++;
	}
	ck_assert_uint_eq(seen, n);
	ck_assert_uint_eq(keys, NKEYS);
	/* Loaded in key order: many pages, most steps to the next one (the
	 * page numbers were checked on those). */
	ck_assert_uint_gt(pages, 100);
	ck_assert_uint_gt(steps, pages / 2);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
}
END_TEST

START_TEST(test_nodes_reject_bad_headers)
{
	unsigned char	page[4096];
	uint16_t	nodes[8], w;

	memset(page, 0, sizeof(page));
	/* mp_lower before the node array, or past the page. */
	w = 15;
	memcpy(page + SCAN_AHEAD_LOWER, &w, 2);
	ck_assert_uint_eq(scan_ahead_nodes(page, sizeof(page), nodes, 8), 0);
	w = 4097;
	memcpy(page + SCAN_AHEAD_LOWER, &w, 2);
	ck_assert_uint_eq(scan_ahead_nodes(page, sizeof(page), nodes, 8), 0);
	/* Three offsets listed: one inside the array, one past the page,
	 * one good. */
	w = SCAN_AHEAD_HDR + 6;
	memcpy(page + SCAN_AHEAD_LOWER, &w, 2);
	w = 4;
	memcpy(page + SCAN_AHEAD_HDR, &w, 2);
	w = 5000;
	memcpy(page + SCAN_AHEAD_HDR + 2, &w, 2);
	w = 4000;
	memcpy(page + SCAN_AHEAD_HDR + 4, &w, 2);
	ck_assert_uint_eq(scan_ahead_nodes(page, sizeof(page), nodes, 8), 1);
	ck_assert_uint_eq(nodes[0], 4000);
	/* At most max. */
	w = 3000;
	memcpy(page + SCAN_AHEAD_HDR + 2, &w, 2);
	ck_assert_uint_eq(scan_ahead_nodes(page, sizeof(page), nodes, 1), 1);
	ck_assert_uint_eq(scan_ahead_nodes(page, sizeof(page), nodes, 8), 2);
}
END_TEST

/* A whole scan through scan_ahead_key, as rows_iter makes it. */
START_TEST(test_key_walk)
{
	struct scan_ahead	 sa;
	MDB_txn			*txn;
	MDB_cursor		*cur;
	MDB_val			 k, v;
	size_t			 keys = 0;

	scan_ahead_init(&sa, env);
	ck_assert_int_eq(sa.sa_on, 1);	/* built against LMDB 0.9 */
	ck_assert_uint_eq(sa.sa_psize, psize_of());
	ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(mdb_cursor_open(txn, dbi, &cur), 0);
	while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
		scan_ahead_key(&sa, k.mv_data);
		ck_assert_uint_eq(sa.sa_page, (uintptr_t)k.mv_data &
		    ~(uintptr_t)(sa.sa_psize - 1));
		ck_assert_uint_lt(pgno_of(sa.sa_page), sa.sa_last + 1);
		keys++;
	}
	ck_assert_uint_eq(keys, NKEYS);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
}
END_TEST

/*
 * The page after the file's last one is never read: here it is a page
 * that cannot be read at all (PROT_NONE), after a page claiming to be
 * the last.  The same page claiming an earlier number makes the next one
 * read: shown with a readable next page.
 */
START_TEST(test_no_read_past_last_page)
{
	struct scan_ahead	 sa;
	size_t			 ps = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char		*m;
	uint64_t		 pgno;
	uint16_t		 lower = SCAN_AHEAD_HDR;

	memset(&sa, 0, sizeof(sa));
	sa.sa_psize = ps;
	sa.sa_last = 7;
	sa.sa_on = 1;
	m = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	pgno = 7;
	memcpy(m, &pgno, sizeof(pgno));
	memcpy(m + SCAN_AHEAD_LOWER, &lower, 2);
	memcpy(m + ps + SCAN_AHEAD_LOWER, &lower, 2);
	ck_assert_int_eq(mprotect(m + ps, ps, PROT_NONE), 0);
	scan_ahead_key(&sa, m + 100);	/* would fault on reading m + ps */
	ck_assert_uint_eq(sa.sa_page, (uintptr_t)m);
	ck_assert_int_eq(mprotect(m + ps, ps, PROT_READ), 0);
	pgno = 6;
	memcpy(m, &pgno, sizeof(pgno));
	sa.sa_page = 0;
	scan_ahead_key(&sa, m + 100);	/* reads m + ps: it is readable */
	ck_assert_uint_eq(sa.sa_page, (uintptr_t)m);
	munmap(m, 2 * ps);
}
END_TEST

static Suite *
scan_ahead_suite(void)
{
	Suite	*s = suite_create("scan_ahead");
	TCase	*lm = tcase_create("lmdb");
	TCase	*pg = tcase_create("pages");

	tcase_add_checked_fixture(lm, setup, teardown);
	tcase_add_test(lm, test_nodes_match_lmdb);
	tcase_add_test(lm, test_key_walk);
	suite_add_tcase(s, lm);
	tcase_add_test(pg, test_nodes_reject_bad_headers);
	tcase_add_test(pg, test_no_read_past_last_page);
	suite_add_tcase(s, pg);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	snprintf(run_dir, sizeof(run_dir), "/tmp/batchd-scan-ahead-XXXXXX");
	if (mkdtemp(run_dir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	sr = srunner_create(scan_ahead_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nftw(run_dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
