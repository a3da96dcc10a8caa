/*
 * fuzz.h - what the libFuzzer harnesses of tests/fuzz/ share.
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput() and nothing else
 * that is global.  It is linked two ways: with libFuzzer (make fuzz,
 * clang -fsanitize=fuzzer,address,undefined) to search for inputs, and
 * with replay.c (make fuzz-regress, the normal compiler and flags) to run
 * the kept corpus and every input that once crashed, as part of make test.
 *
 * A harness checks properties as well as surviving: FUZZ_CHECK() aborts
 * with the file and line, which libFuzzer reports as a crash and keeps the
 * input.
 */
#ifndef BATCHD_FUZZ_H
#define BATCHD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "route.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

/*
 * A workspace or table name by the letter of SPEC 1, [A-Za-z0-9_-]{1,64},
 * written out again as the oracle (the router's own check is what is
 * tested).  s->p NULL is not a name.
 */
static inline int
fuzz_name_ok(const struct route_str *s)
{
	size_t	i;

	if (s->p == NULL || s->n < 1 || s->n > ROUTE_NAME_MAX)
		return 0;
	for (i = 0; i < s->n; i++)
		if (!((s->p[i] >= 'A' && s->p[i] <= 'Z') ||
		    (s->p[i] >= 'a' && s->p[i] <= 'z') ||
		    (s->p[i] >= '0' && s->p[i] <= '9') ||
		    s->p[i] == '_' || s->p[i] == '-'))
			return 0;
	return 1;
}

#endif
