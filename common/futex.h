/*
 * futex.h - process-shared futex wait/wake on words in shared memory.
 */
#ifndef BATCHD_FUTEX_H
#define BATCHD_FUTEX_H

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

/* Sleep while *w == expected, at most timeout_ms (-1: no limit).  Spurious
 * returns are fine: every caller re-checks its condition. */
static inline void
futex_wait(_Atomic uint32_t *w, uint32_t expected, int timeout_ms)
{
	struct timespec ts, *tp = NULL;

	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		tp = &ts;
	}
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT, expected, tp, NULL, 0);
}

static inline void
futex_wake(_Atomic uint32_t *w, int n)
{
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, n, NULL, NULL, 0);
}

#endif
