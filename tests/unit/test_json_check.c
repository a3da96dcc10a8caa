/*
 * test_json_check.c - RFC 8259 syntax check (common/json_check.c).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "json_check.h"

static int
ok(const char *s)
{
	size_t		 off;
	const char	*why;

	return json_check(s, strlen(s), 64, &off, &why) == 0;
}

START_TEST(test_valid)
{
	static const char *good[] = {
		"{}", "[]", " {\"a\": [1, -2.5e-3, 0, 0.5, 1E+9, true, false, "
		"null, \"x\\u00e9\\n\\\"\"]} ", "\"\"", "0", "-0", "true",
		"null", "[[[]]]", "{\"a\":{\"b\":{}}}", "\t\r\n[1]\n",
		"\"caf\xc3\xa9\"", "123456789012345678901234567890",
	};
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(ok(good[i]), "refused: %s", good[i]);
}
END_TEST

START_TEST(test_invalid)
{
	static const char *bad[] = {
		"", " ", "{", "}", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}",
		"{a:1}", "{\"a\":1,}", "01", "1.", ".5", "-", "1e", "1e+",
		"+1", "NaN", "Infinity", "-Infinity", "nul", "truex", "'a'",
		"\"a", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "[1] [2]",
		"{}{}", "[1 2]", "\"a\tb\"", "\"a\x01\"", "[\"\n\"]",
	};
	size_t		 i, off;
	const char	*why;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(!ok(bad[i]), "accepted: %s", bad[i]);
		ck_assert_int_eq(json_check(bad[i], strlen(bad[i]), 64, &off,
		    &why), -1);
		ck_assert_ptr_nonnull(why);
		ck_assert_uint_le(off, strlen(bad[i]));
	}
}
END_TEST

START_TEST(test_depth_and_offset)
{
	char		 deep[200];
	size_t		 off;
	const char	*why;

	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	ck_assert_int_eq(json_check(deep, 130, 64, &off, &why), -1);
	ck_assert_str_eq(why, "nesting too deep");
	ck_assert_uint_eq(off, 64);
	ck_assert_int_eq(json_check(deep + 1, 128, 64, &off, &why), 0);
	ck_assert_int_eq(json_check("[1,2,x]", 7, 64, &off, &why), -1);
	ck_assert_uint_eq(off, 5);
	/* Embedded NUL bytes are data outside strings: refused, no read
	 * past the length. */
	ck_assert_int_eq(json_check("[1]\0", 4, 64, &off, &why), -1);
	ck_assert_int_eq(json_check("[1]\0", 3, 64, &off, &why), 0);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("json_check");
	TCase	*tc = tcase_create("core");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, test_valid);
	tcase_add_test(tc, test_invalid);
	tcase_add_test(tc, test_depth_and_offset);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
