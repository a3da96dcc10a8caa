/*
 * failsync.c - an LD_PRELOAD shim for tests/blackbox/test_group_commit.py:
 * while the file named by BATCHD_TEST_FAIL_SYNC exists, fsync() and
 * fdatasync() fail with EIO, as a dying disk makes them.  It exercises the
 * real path (LMDB's mdb_env_sync, batchd's handling of its error) without
 * a fault hook in the product.  Built by the test; not part of batchd.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* Fail while the trigger file exists, else call the real function. */
static int
failsync_call(int (**real)(int), const char *name, int fd)
{
	const char	*p = getenv("BATCHD_TEST_FAIL_SYNC");

	if (p != NULL && access(p, F_OK) == 0) {
		errno = EIO;
		return -1;
	}
	if (*real == NULL)
		*real = (int (*)(int))dlsym(RTLD_NEXT, name);
	return (*real)(fd);
}

int
fdatasync(int fd)
{
	static int	(*real)(int);

	return failsync_call(&real, "fdatasync", fd);
}

int
fsync(int fd)
{
	static int	(*real)(int);

	return failsync_call(&real, "fsync", fd);
}
