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

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

#endif
