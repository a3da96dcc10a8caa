/*
 * test_merge_patch.c - unit tests for worker/merge_patch.c: the test cases
 * of RFC 7386 appendix A, its section 3 example, and the properties the
 * store relies on (member order kept, patch left untouched, no leaks).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "merge_patch.h"

#define FLAGS	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Parse JSON text that must be valid ("null" gives NULL). */
static json_object *
parse(const char *s)
{
	json_object	*o;

	o = json_tokener_parse(s);
	if (strcmp(s, "null") != 0)
		ck_assert_msg(o != NULL, "test JSON does not parse: %s", s);
	return o;
}

/* Apply patch to original; the result must equal expect. */
static void
check_patch(const char *original, const char *patch, const char *expect)
{
	json_object	*t, *p, *want, *p_before;
	const char	*got;

	t = parse(original);
	p = parse(patch);
	want = parse(expect);
	p_before = parse(patch);
	ck_assert_int_eq(merge_patch_apply(&t, p), 0);
	got = t == NULL ? "null" : json_object_to_json_string_ext(t, FLAGS);
	ck_assert_msg(json_object_equal(t, want),
	    "%s + %s: got %s, want %s", original, patch, got, expect);
	/* The patch itself is never modified. */
	ck_assert_msg(json_object_equal(p, p_before), "patch %s modified",
	    patch);
	json_object_put(t);
	json_object_put(p);
	json_object_put(want);
	json_object_put(p_before);
}

static const struct {
	const char	*original, *patch, *result;
} rfc7386_cases[] = {
	{ "{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
	{ "{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}" },
	{ "{\"a\":\"b\"}", "{\"a\":null}", "{}" },
	{ "{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}" },
	{ "{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
	{ "{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}" },
	{ "{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
	    "{\"a\":{\"b\":\"d\"}}" },
	{ "{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}" },
	{ "[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]" },
	{ "{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]" },
	{ "{\"a\":\"foo\"}", "null", "null" },
	{ "{\"a\":\"foo\"}", "\"bar\"", "\"bar\"" },
	{ "{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}" },
	{ "[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}" },
	{ "{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}" },
};

START_TEST(test_rfc7386_appendix_a)
{
	check_patch(rfc7386_cases[_i].original, rfc7386_cases[_i].patch,
	    rfc7386_cases[_i].result);
}
END_TEST

/* RFC 7386 section 3. */
START_TEST(test_rfc7386_example)
{
	check_patch(
	    "{\"title\":\"Goodbye!\",\"author\":{\"givenName\":\"John\","
	    "\"familyName\":\"Doe\"},\"tags\":[\"example\",\"sample\"],"
	    "\"content\":\"This will be unchanged\"}",
	    "{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\","
	    "\"author\":{\"familyName\":null},\"tags\":[\"example\"]}",
	    "{\"title\":\"Hello!\",\"author\":{\"givenName\":\"John\"},"
	    "\"tags\":[\"example\"],\"content\":\"This will be unchanged\","
	    "\"phoneNumber\":\"+01-123-456-7890\"}");
}
END_TEST

START_TEST(test_null_target)
{
	json_object	*t = NULL, *p = parse("{\"a\":{\"b\":null,\"c\":1}}");

	ck_assert_int_eq(merge_patch_apply(&t, p), 0);
	ck_assert_str_eq(json_object_to_json_string_ext(t, FLAGS),
	    "{\"a\":{\"c\":1}}");
	json_object_put(t);
	json_object_put(p);
}
END_TEST

/* Replaced members keep their place; new ones go last; output is the
 * compact form the store writes. */
START_TEST(test_member_order_and_serialisation)
{
	json_object	*t = parse("{\"a\":1,\"b\":{\"x\":1,\"y\":2},\"c\":3}");
	json_object	*p = parse("{\"b\":{\"x\":null,\"z\":\"/é\"},\"a\":2,"
	    "\"d\":1.50}");

	ck_assert_int_eq(merge_patch_apply(&t, p), 0);
	ck_assert_str_eq(json_object_to_json_string_ext(t, FLAGS),
	    "{\"a\":2,\"b\":{\"y\":2,\"z\":\"/é\"},\"c\":3,\"d\":1.50}");
	json_object_put(t);
	json_object_put(p);
}
END_TEST

/* Values taken from the patch are shared, so the patch must be able to
 * die first, and the target must survive being patched again. */
START_TEST(test_shared_values_outlive_patch)
{
	json_object	*t = parse("{}");
	json_object	*p = parse("{\"arr\":[1,2,3],\"s\":\"v\",\"o\":{\"k\":1}}");
	json_object	*p2 = parse("{\"o\":{\"k\":null,\"m\":2}}");

	ck_assert_int_eq(merge_patch_apply(&t, p), 0);
	json_object_put(p);
	ck_assert_int_eq(merge_patch_apply(&t, p2), 0);
	ck_assert_str_eq(json_object_to_json_string_ext(t, FLAGS),
	    "{\"arr\":[1,2,3],\"s\":\"v\",\"o\":{\"m\":2}}");
	/* p2's nested object was merged, not shared: p2 is unchanged. */
	ck_assert_str_eq(json_object_to_json_string_ext(p2, FLAGS),
	    "{\"o\":{\"k\":null,\"m\":2}}");
	json_object_put(t);
	json_object_put(p2);
}
END_TEST

START_TEST(test_deep_nesting)
{
	json_object	*t = parse("{\"a\":{\"b\":{\"c\":{\"d\":1,\"e\":2}}}}");
	json_object	*p = parse("{\"a\":{\"b\":{\"c\":{\"d\":null},\"f\":[]}}}");

	ck_assert_int_eq(merge_patch_apply(&t, p), 0);
	ck_assert_str_eq(json_object_to_json_string_ext(t, FLAGS),
	    "{\"a\":{\"b\":{\"c\":{\"e\":2},\"f\":[]}}}");
	json_object_put(t);
	json_object_put(p);
}
END_TEST

static Suite *
merge_patch_suite(void)
{
	Suite	*s = suite_create("merge_patch");
	TCase	*tc = tcase_create("rfc7386");

	tcase_add_loop_test(tc, test_rfc7386_appendix_a, 0,
	    (int)(sizeof(rfc7386_cases) / sizeof(rfc7386_cases[0])));
	tcase_add_test(tc, test_rfc7386_example);
	tcase_add_test(tc, test_null_target);
	tcase_add_test(tc, test_member_order_and_serialisation);
	tcase_add_test(tc, test_shared_values_outlive_patch);
	tcase_add_test(tc, test_deep_nesting);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(merge_patch_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
