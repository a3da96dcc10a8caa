/*
 * clock.h - the two clocks batchd reads: monotonic nanoseconds for
 * durations and deadlines, wall-clock milliseconds for what users see
 * (created_at, now(), ago(), result expiry).
 */
#ifndef BATCHD_CLOCK_H
#define BATCHD_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
