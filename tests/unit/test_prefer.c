/*
 * test_prefer.c - unit tests for common/prefer.c: the Prefer header
 * (RFC 7240) as the query options read it.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "prefer.h"

static struct prefer
parse(const char *v)
{
	struct prefer p;

	memset(&p, 0, sizeof(p));
	prefer_parse(&p, v, strlen(v));
	return p;
}

START_TEST(test_sdk_forms)
{
	/* What azure-monitor-query sends, alone and together. */
	struct prefer p = parse("wait=30,include-statistics=true,"
	    "include-render=true");

	ck_assert_int_eq(p.wait_s, 30);
	ck_assert_uint_eq(p.flags, PREFER_STATS | PREFER_RENDER);
	p = parse("include-statistics=true");
	ck_assert_uint_eq(p.flags, PREFER_STATS);
	ck_assert_int_eq(p.wait_s, 0);
	p = parse("");
	ck_assert_uint_eq(p.flags, 0);
	ck_assert_int_eq(p.wait_s, 0);
}
END_TEST

START_TEST(test_rfc_syntax)
{
	struct prefer p;

	/* Case-insensitive names and values, BWS around '=', OWS, quoted
	 * values and parameters. */
	p = parse("  WAIT = 12 ;foo=bar; baz , Include-Render=\"TRUE\"");
	ck_assert_int_eq(p.wait_s, 12);
	ck_assert_uint_eq(p.flags, PREFER_RENDER);
	p = parse("wait=\"7\"");
	ck_assert_int_eq(p.wait_s, 7);
	/* A comma inside a quoted parameter does not split. */
	p = parse("respond-async; x=\"a,include-render=true\", wait=3");
	ck_assert_uint_eq(p.flags, 0);
	ck_assert_int_eq(p.wait_s, 3);
}
END_TEST

START_TEST(test_first_instance_counts)
{
	struct prefer p = parse("wait=5, wait=9, include-statistics=false, "
	    "include-statistics=true");

	ck_assert_int_eq(p.wait_s, 5);
	ck_assert_uint_eq(p.flags, 0);
	/* Across two headers too. */
	prefer_parse(&p, "wait=1,include-render=true", 26);
	ck_assert_int_eq(p.wait_s, 5);
	ck_assert_uint_eq(p.flags, PREFER_RENDER);
	/* A wait with a value that is not delta-seconds still is the first
	 * instance: the later one is not taken. */
	p = parse("wait=abc, wait=4");
	ck_assert_int_eq(p.wait_s, 0);
}
END_TEST

START_TEST(test_malformed_ignored)
{
	static const char *bad[] = { "wait=-1", "wait=1.5", "wait=", "wait",
	    "=5", "wait=5 x", "wait=\"5", "wait=5\x01", ";;;", ",,,",
	    "include-statistics", "include-statistics=yes", "\"wait\"=3",
	    "wait==3", "w@it=3" };
	struct prefer	p;
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = parse(bad[i]);
		ck_assert_msg(p.wait_s == 0 && p.flags == 0, "%s", bad[i]);
	}
	/* The well-formed rest of the header still counts. */
	p = parse("=5, w@it=3, wait=2, x y, include-statistics=true");
	ck_assert_int_eq(p.wait_s, 2);
	ck_assert_uint_eq(p.flags, PREFER_STATS);
	/* An unterminated quote ends the header. */
	p = parse("include-render=true, a=\"b, wait=3");
	ck_assert_uint_eq(p.flags, PREFER_RENDER);
	ck_assert_int_eq(p.wait_s, 0);
}
END_TEST

START_TEST(test_wait_range)
{
	struct prefer p;

	p = parse("wait=0");
	ck_assert_int_eq(prefer_timeout_ms(&p, 5000, 600000), 5000);
	p = parse("wait=30");
	ck_assert_int_eq(prefer_timeout_ms(&p, 5000, 600000), 30000);
	ck_assert_int_eq(prefer_timeout_ms(&p, 5000, 10000), 10000);
	/* A shorter wait shortens the timeout. */
	p = parse("wait=1");
	ck_assert_int_eq(prefer_timeout_ms(&p, 5000, 600000), 1000);
	/* Huge: no overflow, capped. */
	p = parse("wait=99999999999999999999999999999999999999");
	ck_assert_int_eq(p.wait_s, PREFER_WAIT_MAX);
	ck_assert_int_eq(prefer_timeout_ms(&p, 5000, 600000), 600000);
	p = parse("wait=9223372036854775808");
	ck_assert_int_eq(prefer_timeout_ms(&p, 5000, 86400000), 86400000);
	/* Not NUL-terminated: only n bytes are read. */
	memset(&p, 0, sizeof(p));
	prefer_parse(&p, "wait=12345", 6);
	ck_assert_int_eq(p.wait_s, 1);
}
END_TEST

static Suite *
prefer_suite(void)
{
	Suite	*s = suite_create("prefer");
	TCase	*tc = tcase_create("parse");

	tcase_add_test(tc, test_sdk_forms);
	tcase_add_test(tc, test_rfc_syntax);
	tcase_add_test(tc, test_first_instance_counts);
	tcase_add_test(tc, test_malformed_ignored);
	tcase_add_test(tc, test_wait_range);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(prefer_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
