/*
 * bench_lmdb.c - the storage ceiling for scripts/bench: random mdb_get on
 * batchd's own LMDB store, with nothing else on the path.
 *
 *   bench_lmdb [-s seconds] [-r renew_every] [-p procs] [-t table_id] DBDIR
 *
 * Collects every key of the "rows" database (u32 table id || row key, see
 * worker/store.h) once, optionally only those of one table, then each of
 * procs forked processes does random gets in a read transaction that is
 * reset and renewed every renew_every gets (as a worker does per burst),
 * copying each value out (a worker copies it into its completion ring).
 * Prints one JSON line:
 *   {"procs":1,"keys":100000,"gets":N,"secs":S,"gets_per_s":R,
 *    "ns_per_get":X,"renew_every":100,"value_bytes_avg":B}
 * The store must not be open by a writer (stop the server first); it is
 * opened read-only.
 */
#include <errno.h>
#include <lmdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "clock.h"

struct keyset {
	char		*bytes;		/* every key back to back */
	size_t		*off;		/* key i = bytes[off[i] .. off[i+1]) */
	size_t		 n, cap, used, bcap;
	uint64_t	 value_bytes;
};

struct result {
	uint64_t	 gets;
	uint64_t	 found;
	uint64_t	 ns;
	uint64_t	 sink;
};

static void
keys_add(struct keyset *ks, const void *p, size_t len)
{
	if (ks->n + 2 > ks->cap) {
		ks->cap = ks->cap ? ks->cap * 2 : 1024;
		if ((ks->off = realloc(ks->off, ks->cap * sizeof(*ks->off))) ==
		    NULL)
			die("realloc", ENOMEM);
	}
	if (ks->used + len > ks->bcap) {
		while (ks->used + len > ks->bcap)
			ks->bcap = ks->bcap ? ks->bcap * 2 : 65536;
		if ((ks->bytes = realloc(ks->bytes, ks->bcap)) == NULL)
			die("realloc", ENOMEM);
	}
	memcpy(ks->bytes + ks->used, p, len);
	ks->off[ks->n++] = ks->used;
	ks->used += len;
	ks->off[ks->n] = ks->used;
}

static void
run(MDB_env *env, MDB_dbi dbi, const struct keyset *ks, double secs,
    long renew, uint64_t seed, struct result *out)
{
	MDB_txn		*txn;
	MDB_val		 k, v;
	char		 copy[65536];
	uint64_t	 t0, end, gets = 0, found = 0, sink = 0, s = seed | 1;
	long		 i;
	size_t		 j;
	int		 rc;

	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0)
		die("mdb_txn_begin", rc);
	t0 = mono_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	for (;;) {
		for (i = 0; i < renew; i++) {
			j = (size_t)(xorshift(&s) % ks->n);
			k.mv_data = ks->bytes + ks->off[j];
			k.mv_size = ks->off[j + 1] - ks->off[j];
			rc = mdb_get(txn, dbi, &k, &v);
			if (rc == 0) {
				size_t n = v.mv_size < sizeof(copy) ?
				    v.mv_size : sizeof(copy);

				memcpy(copy, v.mv_data, n);
				if (n > 0)
					sink += (unsigned char)copy[n - 1];
				found++;
			} else if (rc != MDB_NOTFOUND)
				die("mdb_get", rc);
		}
		gets += (uint64_t)renew;
		mdb_txn_reset(txn);
		if (mono_ns() >= end)
			break;
		if ((rc = mdb_txn_renew(txn)) != 0)
			die("mdb_txn_renew", rc);
	}
	out->ns = mono_ns() - t0;
	mdb_txn_abort(txn);
	out->gets = gets;
	out->found = found;
	out->sink = sink;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_lmdb [-s seconds] [-r renew_every] "
	    "[-p procs] [-t table_id] DBDIR\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	MDB_env		*env;
	MDB_txn		*txn;
	MDB_dbi		 dbi;
	MDB_cursor	*cur;
	MDB_val		 k, v;
	struct keyset	 ks;
	struct result	*res;
	double		 secs = 2.0, total_s = 0;
	long		 renew = 100, procs = 1, table = -1, p;
	uint64_t	 gets = 0, found = 0;
	pid_t		*pids;
	MDB_cursor_op	 op;
	int		 c, rc, status, failed = 0;

	while ((c = getopt(argc, argv, "s:r:p:t:")) != -1) {
		switch (c) {
		case 's': secs = atof(optarg); break;
		case 'r': renew = atol(optarg); break;
		case 'p': procs = atol(optarg); break;
		case 't': table = atol(optarg); break;
		default: usage();
		}
	}
	if (optind != argc - 1 || secs <= 0 || renew < 1 || procs < 1 ||
	    procs > 256)
		usage();

	if ((rc = mdb_env_create(&env)) != 0)
		die("mdb_env_create", rc);
	if ((rc = mdb_env_set_maxdbs(env, 16)) != 0 ||
	    (rc = mdb_env_set_maxreaders(env, 512)) != 0)
		die("mdb_env_set", rc);
	/* Read-only: the map size is the file's; no write lock taken. */
	if ((rc = mdb_env_open(env, argv[optind], MDB_RDONLY, 0640)) != 0)
		die(argv[optind], rc);
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0)
		die("mdb_txn_begin", rc);
	if ((rc = mdb_dbi_open(txn, "rows", 0, &dbi)) != 0)
		die("mdb_dbi_open rows", rc);
	memset(&ks, 0, sizeof(ks));
	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		die("mdb_cursor_open", rc);
	for (op = MDB_FIRST; (rc = mdb_cursor_get(cur, &k, &v, op)) == 0;
	    op = MDB_NEXT) {
		const unsigned char *kp = k.mv_data;
		uint32_t tid;

		if (k.mv_size < 4)
			continue;
		tid = (uint32_t)kp[0] << 24 | (uint32_t)kp[1] << 16 |
		    (uint32_t)kp[2] << 8 | kp[3];
		if (table >= 0 && tid != (uint32_t)table)
			continue;
		keys_add(&ks, k.mv_data, k.mv_size);
		ks.value_bytes += v.mv_size;
	}
	if (rc != MDB_NOTFOUND)
		die("mdb_cursor_get", rc);
	mdb_cursor_close(cur);
	/* Commit, not abort: a handle opened in an aborted txn is closed. */
	if ((rc = mdb_txn_commit(txn)) != 0)
		die("mdb_txn_commit", rc);
	if (ks.n == 0) {
		fprintf(stderr, "bench_lmdb: no rows in %s\n", argv[optind]);
		mdb_env_close(env);
		free(ks.off);
		free(ks.bytes);
		return 1;
	}

	/* Children write their result here; the parent sums. */
	res = mmap(NULL, sizeof(*res) * (size_t)procs, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pids = calloc((size_t)procs, sizeof(*pids));
	if (res == MAP_FAILED || pids == NULL)
		die("mmap", ENOMEM);
	memset(res, 0, sizeof(*res) * (size_t)procs);
	if (procs == 1) {
		run(env, dbi, &ks, secs, renew, 0x9e3779b97f4a7c15ULL, &res[0]);
	} else {
		/* LMDB: an environment must not cross fork(); each child opens
		 * its own (MDB_NOTLS not needed: one thread each). */
		mdb_env_close(env);
		env = NULL;
		for (p = 0; p < procs; p++) {
			if ((pids[p] = fork()) == -1)
				die("fork", errno);
			if (pids[p] == 0) {
				MDB_env *e;

				prctl(PR_SET_PDEATHSIG, SIGKILL);
				if ((rc = mdb_env_create(&e)) != 0 ||
				    (rc = mdb_env_set_maxdbs(e, 16)) != 0 ||
				    (rc = mdb_env_set_maxreaders(e, 512)) != 0 ||
				    (rc = mdb_env_open(e, argv[optind],
				    MDB_RDONLY, 0640)) != 0 ||
				    (rc = mdb_txn_begin(e, NULL, MDB_RDONLY,
				    &txn)) != 0 ||
				    (rc = mdb_dbi_open(txn, "rows", 0, &dbi)) !=
				    0)
					die("child open", rc);
				if ((rc = mdb_txn_commit(txn)) != 0)
					die("child mdb_txn_commit", rc);
				run(e, dbi, &ks, secs, renew,
				    0x9e3779b97f4a7c15ULL * (uint64_t)(p + 1),
				    &res[p]);
				mdb_env_close(e);
				_exit(0);
			}
		}
		for (p = 0; p < procs; p++) {
			if (waitpid(pids[p], &status, 0) != pids[p] ||
			    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
				failed = 1;
		}
	}
	for (p = 0; p < procs; p++) {
		gets += res[p].gets;
		found += res[p].found;
		if ((double)res[p].ns / 1e9 > total_s)
			total_s = (double)res[p].ns / 1e9;
	}
	if (env != NULL)
		mdb_env_close(env);
	if (failed || gets == 0) {
		fprintf(stderr, "bench_lmdb: a reader failed\n");
		return 1;
	}
	/* Aggregate rate: each process ran for about secs; sum of rates. */
	{
		double rate = 0;

		for (p = 0; p < procs; p++)
			rate += (double)res[p].gets / ((double)res[p].ns / 1e9);
		printf("{\"procs\":%ld,\"keys\":%zu,\"gets\":%llu,"
		    "\"found\":%llu,\"secs\":%.3f,\"gets_per_s\":%.0f,"
		    "\"ns_per_get\":%.1f,\"renew_every\":%ld,"
		    "\"value_bytes_avg\":%.0f}\n", procs, ks.n,
		    (unsigned long long)gets, (unsigned long long)found,
		    total_s, rate, 1e9 * (double)procs / rate, renew,
		    (double)ks.value_bytes / (double)ks.n);
	}
	free(pids);
	free(ks.off);
	free(ks.bytes);
	munmap(res, sizeof(*res) * (size_t)procs);
	return 0;
}
