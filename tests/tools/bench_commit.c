/*
 * bench_commit.c - the storage ceiling of durable writes for scripts/bench:
 * LMDB alone, committing groups of random-key puts on the ordinary disk,
 * with nothing else on the path (no HTTP, no ring, no JSON).
 *
 *   bench_commit [-s seconds] [-g group] [-p procs] [-n keys] [-v bytes]
 *                [-m on|commit|off] DBDIR
 *
 * Creates a fresh store in DBDIR (which must not hold one), loads n keys
 * (u32 table id || "k%07u", as worker/store.h lays out rows) with values of
 * v bytes, syncs it, then each of procs forked processes loops for the
 * given seconds: one write transaction of group random-key puts of v fresh
 * bytes, committed.  -m on (db_sync on): the store is opened
 * MDB_NOMETASYNC as batchd opens it, and every commit is followed by
 * mdb_env_sync(): the least a writer must do before it may acknowledge the
 * group (worker/durable.h).  -m commit: the same store, without the
 * mdb_env_sync(): only the flush inside each commit, which nothing can
 * share (every commit of T also makes T - 1 durable), so this is the
 * ceiling of any scheme that shares the syncs.  -m off: MDB_NOSYNC, no
 * flush at all.
 * Prints one JSON line:
 *   {"mode":"on","procs":1,"group":100,"keys":100000,"value_bytes":200,
 *    "items":N,"commits":C,"secs":S,"items_per_s":R,"us_per_commit":U}
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "clock.h"

struct result {
	uint64_t	 items;
	uint64_t	 commits;
	uint64_t	 ns;
};

/* Key i as batchd stores a row of table 1. */
static size_t
key_make(char *buf, uint32_t i)
{
	buf[0] = 0;
	buf[1] = 0;
	buf[2] = 0;
	buf[3] = 1;
	return 4 + (size_t)snprintf(buf + 4, 16, "k%07u", i);
}

static void
value_fill(char *v, size_t n, uint64_t *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = (char)('a' + xorshift(s) % 26);
}

static MDB_env *
env_open(const char *dir, int sync, MDB_dbi *dbi, int create)
{
	MDB_env	*env;
	MDB_txn	*txn;
	int	 rc;

	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, 16)) != 0 ||
	    (rc = mdb_env_set_maxreaders(env, 512)) != 0 ||
	    (rc = mdb_env_set_mapsize(env, (size_t)4 << 30)) != 0)
		die("mdb_env_set", rc);
	if ((rc = mdb_env_open(env, dir, (sync ? MDB_NOMETASYNC : MDB_NOSYNC) |
	    MDB_NORDAHEAD, 0640)) != 0)
		die(dir, rc);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "rows", create ? MDB_CREATE : 0, dbi)) !=
	    0 || (rc = mdb_txn_commit(txn)) != 0)
		die("open rows", rc);
	return env;
}

static void
load(MDB_env *env, MDB_dbi dbi, uint32_t n, size_t vbytes)
{
	MDB_txn		*txn;
	MDB_val		 k, v;
	char		 kb[32], *vb;
	uint64_t	 s = 42;
	uint32_t	 i;
	int		 rc;

	if ((vb = malloc(vbytes)) == NULL)
		die("malloc", ENOMEM);
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		die("mdb_txn_begin", rc);
	for (i = 0; i < n; i++) {
		value_fill(vb, vbytes, &s);
		k.mv_data = kb;
		k.mv_size = key_make(kb, i);
		v.mv_data = vb;
		v.mv_size = vbytes;
		if ((rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND)) != 0)
			die("mdb_put (load)", rc);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		die("mdb_txn_commit (load)", rc);
	if ((rc = mdb_env_sync(env, 1)) != 0)
		die("mdb_env_sync (load)", rc);
	free(vb);
}

static void
run(MDB_env *env, MDB_dbi dbi, int envsync, uint32_t nkeys, long group,
    size_t vbytes, double secs, uint64_t seed, struct result *out)
{
	MDB_txn		*txn;
	MDB_val		 k, v;
	char		 kb[32], *vb;
	uint64_t	 t0, end, s = seed | 1;
	long		 i;
	int		 rc;

	if ((vb = malloc(vbytes)) == NULL)
		die("malloc", ENOMEM);
	t0 = mono_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	while (mono_ns() < end) {
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
			die("mdb_txn_begin", rc);
		for (i = 0; i < group; i++) {
			value_fill(vb, vbytes, &s);
			k.mv_data = kb;
			k.mv_size = key_make(kb,
			    (uint32_t)(xorshift(&s) % nkeys));
			v.mv_data = vb;
			v.mv_size = vbytes;
			if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0)
				die("mdb_put", rc);
		}
		if ((rc = mdb_txn_commit(txn)) != 0)
			die("mdb_txn_commit", rc);
		if (envsync && (rc = mdb_env_sync(env, 1)) != 0)
			die("mdb_env_sync", rc);
		out->items += (uint64_t)group;
		out->commits++;
	}
	out->ns = mono_ns() - t0;
	free(vb);
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_commit [-s seconds] [-g group] "
	    "[-p procs] [-n keys] [-v bytes] [-m on|commit|off] DBDIR\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	MDB_env		*env;
	MDB_dbi		 dbi;
	struct result	*res;
	struct stat	 sb;
	char		 path[4096];
	double		 secs = 2.0, rate = 0, span = 0;
	long		 group = 100, procs = 1, nkeys = 100000, vbytes = 200;
	long		 p;
	uint64_t	 items = 0, commits = 0;
	pid_t		*pids;
	int		 c, status, failed = 0, sync = 1, flushonly = 0;

	while ((c = getopt(argc, argv, "s:g:p:n:v:m:")) != -1) {
		switch (c) {
		case 's': secs = atof(optarg); break;
		case 'g': group = atol(optarg); break;
		case 'p': procs = atol(optarg); break;
		case 'n': nkeys = atol(optarg); break;
		case 'v': vbytes = atol(optarg); break;
		case 'm':
			if (strcmp(optarg, "on") != 0 &&
			    strcmp(optarg, "commit") != 0 &&
			    strcmp(optarg, "off") != 0)
				usage();
			sync = strcmp(optarg, "off") != 0;
			flushonly = strcmp(optarg, "commit") == 0;
			break;
		default: usage();
		}
	}
	if (optind != argc - 1 || secs <= 0 || group < 1 || procs < 1 ||
	    procs > 64 || nkeys < 1 || nkeys > 9999999 || vbytes < 1 ||
	    vbytes > 65536)
		usage();
	snprintf(path, sizeof(path), "%s/data.mdb", argv[optind]);
	if (stat(path, &sb) == 0) {
		fprintf(stderr, "bench_commit: %s exists: give an empty "
		    "directory\n", path);
		return 2;
	}
	if (mkdir(argv[optind], 0750) == -1 && errno != EEXIST)
		die(argv[optind], errno);

	env = env_open(argv[optind], sync, &dbi, 1);
	load(env, dbi, (uint32_t)nkeys, (size_t)vbytes);
	/* LMDB: an environment must not cross fork(). */
	mdb_env_close(env);

	res = mmap(NULL, sizeof(*res) * (size_t)procs, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pids = calloc((size_t)procs, sizeof(*pids));
	if (res == MAP_FAILED || pids == NULL)
		die("mmap", ENOMEM);
	memset(res, 0, sizeof(*res) * (size_t)procs);
	for (p = 0; p < procs; p++) {
		if ((pids[p] = fork()) == -1)
			die("fork", errno);
		if (pids[p] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			env = env_open(argv[optind], sync, &dbi, 0);
			run(env, dbi, sync && !flushonly, (uint32_t)nkeys, group,
			    (size_t)vbytes, secs,
			    0x9e3779b97f4a7c15ULL * (uint64_t)(p + 1), &res[p]);
			mdb_env_close(env);
			_exit(0);
		}
	}
	for (p = 0; p < procs; p++)
		if (waitpid(pids[p], &status, 0) != pids[p] ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	for (p = 0; p < procs; p++) {
		items += res[p].items;
		commits += res[p].commits;
		if (res[p].ns > 0)
			rate += (double)res[p].items / ((double)res[p].ns / 1e9);
		if ((double)res[p].ns / 1e9 > span)
			span = (double)res[p].ns / 1e9;
	}
	if (failed || items == 0) {
		fprintf(stderr, "bench_commit: a writer failed\n");
		return 1;
	}
	printf("{\"mode\":\"%s\",\"procs\":%ld,\"group\":%ld,\"keys\":%ld,"
	    "\"value_bytes\":%ld,\"items\":%llu,\"commits\":%llu,"
	    "\"secs\":%.3f,\"items_per_s\":%.0f,\"us_per_commit\":%.1f}\n",
	    !sync ? "off" : flushonly ? "commit" : "on", procs, group, nkeys, vbytes,
	    (unsigned long long)items, (unsigned long long)commits, span, rate,
	    1e6 * span * (double)procs / (double)commits);
	free(pids);
	munmap(res, sizeof(*res) * (size_t)procs);
	return 0;
}
