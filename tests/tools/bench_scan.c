/*
 * bench_scan.c - what this machine gives two scans at once against one:
 * the ceiling of scripts/bench-query's "2w / 1w", measured without batchd.
 *
 *   bench_scan [-r rounds] FILE
 *
 * Two child processes map FILE (scripts/bench-query gives it the store's
 * data.mdb, already in the page cache) and search it 16 bytes at a time
 * for quotes and backslashes, as the query engine's string search does.
 * Each round times one process scanning the whole file alone, then both
 * scanning a half each at once (the slower of the two: what a query split
 * in two waits for).  Prints one JSON line: the medians and 90th
 * percentiles of both over the rounds, and whole / halves of the medians
 * - 2.00 where two cores scan as fast as one each.  A part of the machine
 * that batchd does not control (another tenant on the host, the memory
 * bus) shows here as it shows in the 2-worker times.  Exit 2 on a usage
 * error, 1 when the file cannot be read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "clock.h"

#define SCAN_ROUNDS_MAX	1000

static void
usage(void)
{
	fprintf(stderr, "usage: bench_scan [-r rounds] FILE\n");
	exit(2);
}

static void
fail(const char *what)
{
	fprintf(stderr, "bench_scan: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Quotes and backslashes in p[0..n). */
static uint64_t
scan(const unsigned char *p, size_t n)
{
	uint64_t	c = 0;
	size_t		i = 0;

#if defined(__SSE2__)
	const __m128i	q = _mm_set1_epi8('"'), b = _mm_set1_epi8('\\');
	__m128i		v;

	for (; i + 16 <= n; i += 16) {
		v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		c += (uint64_t)__builtin_popcount((unsigned)_mm_movemask_epi8(
		    _mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, b))));
	}
#endif
	for (; i < n; i++)
		c += p[i] == '"' || p[i] == '\\';
	return c;
}

static void
put_all(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n)
		fail("pipe");
}

static void
get_all(int fd, void *p, size_t n)
{
	if (read(fd, p, n) != (ssize_t)n)
		fail("pipe");
}

/*
 * Child k: scans on each command byte ('w' the whole file, 'h' its half)
 * and answers the seconds it took; exits at the end of its command pipe.
 */
static void
child(int k, int in, int out, const unsigned char *m, size_t size)
{
	volatile uint64_t	sink = scan(m, size);	/* mapped, cached */
	double			t;
	uint64_t		t0;
	char			c;

	while (read(in, &c, 1) == 1) {
		t0 = mono_ns();
		if (c == 'w')
			sink += scan(m, size);
		else
			sink += scan(m + (size_t)k * (size / 2),
			    k == 0 ? size / 2 : size - size / 2);
		t = (double)(mono_ns() - t0) / 1e9;
		put_all(out, &t, sizeof(t));
	}
	(void)sink;
	_exit(0);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
pct(double *v, int n, double f)
{
	int	i = (int)(f * (n - 1) + 0.5);

	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[i];
}

int
main(int argc, char **argv)
{
	int		 rounds = 15, opt, i, k, go[2][2], done[2];
	char		*end;
	struct stat	 sb;
	unsigned char	*m;
	double		*whole, *halves, a, b;
	pid_t		 pid[2];

	while ((opt = getopt(argc, argv, "r:")) != -1) {
		if (opt != 'r')
			usage();
		rounds = (int)strtol(optarg, &end, 10);
		if (*end != '\0' || rounds < 1 || rounds > SCAN_ROUNDS_MAX)
			usage();
	}
	if (optind != argc - 1)
		usage();
	if ((k = open(argv[optind], O_RDONLY)) == -1)
		fail(argv[optind]);
	if (fstat(k, &sb) == -1)
		fail("fstat");
	if (sb.st_size < 2)
		usage();
	m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, k, 0);
	if (m == MAP_FAILED)
		fail("mmap");
	close(k);
	if ((whole = calloc((size_t)rounds, sizeof(*whole))) == NULL ||
	    (halves = calloc((size_t)rounds, sizeof(*halves))) == NULL)
		fail("calloc");
	if (pipe(go[0]) == -1 || pipe(go[1]) == -1 || pipe(done) == -1)
		fail("pipe");
	for (k = 0; k < 2; k++) {
		if ((pid[k] = fork()) == -1)
			fail("fork");
		if (pid[k] == 0) {
			close(go[0][1]);
			close(go[1][1]);
			close(go[1 - k][0]);
			close(done[0]);
			child(k, go[k][0], done[1], m, (size_t)sb.st_size);
		}
	}
	close(go[0][0]);
	close(go[1][0]);
	close(done[1]);
	for (i = 0; i < rounds; i++) {
		put_all(go[0][1], "w", 1);
		get_all(done[0], &whole[i], sizeof(double));
		put_all(go[0][1], "h", 1);
		put_all(go[1][1], "h", 1);
		get_all(done[0], &a, sizeof(a));
		get_all(done[0], &b, sizeof(b));
		halves[i] = a > b ? a : b;
	}
	close(go[0][1]);
	close(go[1][1]);
	for (k = 0; k < 2; k++)
		waitpid(pid[k], NULL, 0);
	a = pct(whole, rounds, 0.5);
	b = pct(halves, rounds, 0.5);
	printf("{\"file_bytes\":%lld,\"rounds\":%d,\"whole_p50_ms\":%.3f,"
	    "\"whole_p90_ms\":%.3f,\"halves_p50_ms\":%.3f,"
	    "\"halves_p90_ms\":%.3f,\"ratio\":%.3f}\n",
	    (long long)sb.st_size, rounds, a * 1e3,
	    pct(whole, rounds, 0.9) * 1e3, b * 1e3,
	    pct(halves, rounds, 0.9) * 1e3, a / b);
	free(whole);
	free(halves);
	return 0;
}
