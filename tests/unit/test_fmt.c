/*
 * test_fmt.c - unit tests for common/fmt.c (the printf-free formats of
 * the log line and the answer's head) and for the log line they make
 * (common/log.c: log_line, log_hold / log_release).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <regex.h>

#include "fmt.h"
#include "log.h"

/* What a fmt_* call wrote, as a string. */
#define FMT(call) (*(call) = '\0', out)

START_TEST(test_u64)
{
	char	out[64], ref[64];
	uint64_t vals[] = { 0, 1, 9, 10, 99, 100, 12345, 4294967295ULL,
	    4294967296ULL, UINT64_MAX - 1, UINT64_MAX };
	size_t	i;

	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		snprintf(ref, sizeof(ref), "%llu", (unsigned long long)vals[i]);
		ck_assert_str_eq(FMT(fmt_u64(out, vals[i])), ref);
	}
	ck_assert_uint_eq(strlen(FMT(fmt_u64(out, UINT64_MAX))), FMT_U64_MAX);
	ck_assert_str_eq(FMT(fmt_u64_pad(out, 7, 3)), "007");
	ck_assert_str_eq(FMT(fmt_u64_pad(out, 0, 3)), "000");
	ck_assert_str_eq(FMT(fmt_u64_pad(out, 1234, 3)), "1234");
	ck_assert_str_eq(FMT(fmt_u64_pad(out, 5, 0)), "5");
}
END_TEST

START_TEST(test_ms3)
{
	char	out[64], ref[64];
	uint64_t ns[] = { 0, 1, 499, 500, 999, 1000, 1499, 1500, 999499,
	    999500, 1000000, 123456789, 60000000000ULL, 86400000000000ULL };
	size_t	i;

	ck_assert_str_eq(FMT(fmt_ms3(out, 0)), "0.000");
	ck_assert_str_eq(FMT(fmt_ms3(out, 305000)), "0.305");
	ck_assert_str_eq(FMT(fmt_ms3(out, 123456789)), "123.457");
	ck_assert_str_eq(FMT(fmt_ms3(out, 999500)), "1.000");
	/* As printf's %.3f of ns / 1e6 where no tie is involved. */
	for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		if (ns[i] % 1000 == 500)
			continue;
		snprintf(ref, sizeof(ref), "%.3f", (double)ns[i] / 1e6);
		ck_assert_str_eq(FMT(fmt_ms3(out, ns[i])), ref);
	}
	/* The largest value still fits its bound. */
	ck_assert_uint_le(strlen(FMT(fmt_ms3(out, UINT64_MAX))),
	    FMT_U64_MAX + 1);
}
END_TEST

START_TEST(test_strn)
{
	char	out[64];
	char	exact[3] = { 'a', 'b', 'c' };	/* no NUL: only n read */

	ck_assert_str_eq(FMT(fmt_strn(out, "hello", 3)), "hel");
	ck_assert_str_eq(FMT(fmt_strn(out, "hi", 10)), "hi");
	ck_assert_str_eq(FMT(fmt_strn(out, "", 10)), "");
	ck_assert_str_eq(FMT(fmt_strn(out, exact, 3)), "abc");
	ck_assert_str_eq(FMT(fmt_mem(out, "a\0b", 3)) + 2, "b");
}
END_TEST

/* ------------------------------------------------------------ log */

static char	logpath[64];

static void
log_setup(void)
{
	char	err[256];
	int	fd;

	snprintf(logpath, sizeof(logpath), "/tmp/test_fmt.%ld.XXXXXX",
	    (long)getpid());
	fd = mkstemp(logpath);
	ck_assert_int_ge(fd, 0);
	close(fd);
	log_init(LOG_LEVEL_INFO);
	ck_assert_int_eq(log_open(logpath, err, sizeof(err)), 0);
}

static void
log_teardown(void)
{
	unlink(logpath);
}

static char *
log_read(void)
{
	static char	 text[65536];
	FILE		*f = fopen(logpath, "r");
	size_t		 n;

	ck_assert_ptr_nonnull(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static void
assert_match(const char *text, const char *re)
{
	regex_t rx;

	ck_assert_int_eq(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE), 0);
	ck_assert_msg(regexec(&rx, text, 0, NULL, 0) == 0,
	    "no line matches %s in:\n%s", re, text);
	regfree(&rx);
}

START_TEST(test_log_line)
{
	char	 msg[] = "request path=/a\nb\x7f status=200";
	char	 big[4000];
	char	*text;

	log_line(LOG_LEVEL_INFO, msg, sizeof(msg) - 1);
	log_line(LOG_LEVEL_DEBUG, "not written", 11);
	log_info("formatted %d %s", 42, "x");
	memset(big, 'z', sizeof(big));
	log_line(LOG_LEVEL_WARN, big, sizeof(big));
	text = log_read();
	/* Same prefix as every other line; control bytes made '?', so
	 * client bytes never start a line of their own. */
	assert_match(text, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
	    "[0-9]{2}\\.[0-9]{3}Z info \\[[0-9]+\\] request path=/a\\?b\\? "
	    "status=200$");
	assert_match(text, "Z info \\[[0-9]+\\] formatted 42 x$");
	/* Cut to the line's 2 KiB, still one line. */
	assert_match(text, "Z warn \\[[0-9]+\\] z{1900,2040}$");
	ck_assert_ptr_null(strstr(text, "not written"));
	ck_assert_int_eq(log_enabled(LOG_LEVEL_INFO), 1);
	ck_assert_int_eq(log_enabled(LOG_LEVEL_DEBUG), 0);
}
END_TEST

START_TEST(test_log_control_bytes)
{
	static const unsigned char bad[] = { 0x00, 0x01, '\n', '\r', 0x1f,
	    0x7f };
	static const unsigned char good[] = { 0x20, 0x7e, 0x80, 0x9f, 0xa0,
	    0xff };
	char	 msg[41], want[41], *text, *at;
	size_t	 pos, k;

	/* Every position of a word, and past it: each control byte made
	 * '?', every other byte kept as it is. */
	for (pos = 0; pos < sizeof(msg); pos++)
		for (k = 0; k < sizeof(bad); k++) {
			memset(msg, 'a', sizeof(msg));
			msg[0] = 'M';
			msg[pos] = (char)bad[k];
			msg[(pos + 9) % sizeof(msg)] = (char)good[k];
			if ((pos + 9) % sizeof(msg) == 0)
				msg[0] = (char)good[k];
			memcpy(want, msg, sizeof(msg));
			want[pos] = '?';
			log_line(LOG_LEVEL_INFO, msg, sizeof(msg));
			text = log_read();
			at = text + strlen(text) - sizeof(msg) - 1;
			ck_assert_msg(memcmp(at, want, sizeof(want)) == 0 &&
			    at[sizeof(want)] == '\n', "byte %#x at %zu",
			    bad[k], pos);
		}
}
END_TEST

START_TEST(test_log_hold)
{
	char	*text;
	pid_t	 pid;
	int	 st, i;

	log_hold();
	log_info("held one");
	log_line(LOG_LEVEL_INFO, "held two", 8);
	/* Nothing written while held ... */
	ck_assert_ptr_null(strstr(log_read(), "held"));
	/* ... and a child forked now does not write the parent's lines. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		log_info("child line");
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	text = log_read();
	ck_assert_ptr_nonnull(strstr(text, "child line"));
	ck_assert_ptr_null(strstr(text, "held"));
	log_release();
	text = log_read();
	assert_match(text, "Z info \\[[0-9]+\\] held one\n"
	    "[^\n]*Z info \\[[0-9]+\\] held two$");
	/* More than the hold keeps: written as it fills, none lost, in
	 * order. */
	log_hold();
	for (i = 0; i < 500; i++)
		log_info("burst %03d", i);
	log_release();
	text = log_read();
	for (i = 0; i < 500; i++) {
		char want[32];

		snprintf(want, sizeof(want), "burst %03d\n", i);
		ck_assert_ptr_nonnull(strstr(text, want));
	}
	ck_assert_ptr_nonnull(strstr(strstr(text, "burst 100\n"),
	    "burst 499\n"));
}
END_TEST

static Suite *
fmt_suite(void)
{
	Suite	*s = suite_create("fmt");
	TCase	*tc = tcase_create("fmt");
	TCase	*tl = tcase_create("log");

	tcase_add_test(tc, test_u64);
	tcase_add_test(tc, test_ms3);
	tcase_add_test(tc, test_strn);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tl, log_setup, log_teardown);
	tcase_add_test(tl, test_log_line);
	tcase_add_test(tl, test_log_control_bytes);
	tcase_add_test(tl, test_log_hold);
	suite_add_tcase(s, tl);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(fmt_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
