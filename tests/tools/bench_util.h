/*
 * bench_util.h - what the storage-ceiling tools (bench_lmdb.c,
 * bench_commit.c) share: a fast random stream, and a fatal error that
 * names the tool and says an LMDB code or an errno as such (their clock is
 * common/clock.h's mono_ns).
 */
#ifndef BATCHD_BENCH_UTIL_H
#define BATCHD_BENCH_UTIL_H

#include <errno.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* rc: an errno (1..199) or an LMDB code. */
static inline void
die(const char *what, int rc)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what,
	    rc > 0 && rc < 200 ? strerror(rc) : mdb_strerror(rc));
	exit(1);
}

/* xorshift64*: the stream of a seed, not for anything but benchmarks. */
static inline uint64_t
xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

#endif
