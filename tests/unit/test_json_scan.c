/*
 * test_json_scan.c - walking JSON text in place (common/json_scan.c).
 *
 * Every text given to the unbounded walks passes json_check() first, as
 * in the master; the decoder is compared with json-c's own reading of the
 * same string.  The bounded walks (jscan_b*) get cut and broken text.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json_check.h"
#include "json_scan.h"

/* s must be JSON (the precondition of every jscan_ function). */
static const char *
checked(const char *s)
{
	size_t		 off;
	const char	*why;

	ck_assert_msg(json_check(s, strlen(s), 64, &off, &why) == 0,
	    "not JSON: %s", s);
	return s;
}

START_TEST(test_skip)
{
	static const struct {
		const char	*text;	/* a value, then what follows it */
		size_t		 len;	/* of the value */
		int		 ws;	/* whitespace inside it */
	} t[] = {
		{ "\"abc\",", 5, 0 },
		{ "\"a\\\"b\\\\\",", 8, 0 },
		{ "\"]}\\\"{[\"]", 8, 0 },
		{ "123]", 3, 0 },
		{ "-1.5e+10}", 8, 0 },
		{ "true,", 4, 0 },
		{ "null]", 4, 0 },
		{ "{}]", 2, 0 },
		{ "{\"a\":[1,{\"b\":\"}\"}]},", 19, 0 },
		{ "[ 1, [2] ]]", 10, 1 },
		{ "{\"a b\":\"c d\"},", 13, 0 },
		{ "{\"a\"\n:\t1}]", 9, 1 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int ws = 0;

		ck_assert_msg(jscan_skip(t[i].text, &ws) == t[i].text + t[i].len,
		    "%s", t[i].text);
		ck_assert_int_eq(ws, t[i].ws);
		ck_assert_ptr_eq(jscan_skip(t[i].text, NULL),
		    t[i].text + t[i].len);
	}
}
END_TEST

START_TEST(test_trim)
{
	const char	*s = " \t\n 42 \r\n";
	const char	*p;
	size_t		 n;

	p = jscan_trim(s, strlen(s), &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(memcmp(p, "42", 2), 0);
	/* A bare number at the very end: nothing past the length is read
	 * (the byte after it here is no delimiter). */
	p = jscan_trim("7x", 1, &n);
	ck_assert_uint_eq(n, 1);
	p = jscan_trim("{}", 2, &n);
	ck_assert_uint_eq(n, 2);
}
END_TEST

START_TEST(test_iter)
{
	const char		*s = checked(" { \"a\" : 1 , \"b\\u0063\":[true, "
	    "{\"x\":\"y\"}] ,\"\":null , \"a\":\"last\"}");
	struct jscan_iter	 it, ai;
	struct jscan_str	 name;
	const char		*v, *names[4] = { "a", "bc", "", "a" };
	int			 k = 0, n;

	jscan_iter_init(&it, s + 1);
	while (jscan_iter_next(&it, &name, &v)) {
		ck_assert_int_lt(k, 4);
		ck_assert_msg(jscan_eq(&name, names[k]), "member %d", k);
		switch (k) {
		case 0:
			ck_assert_int_eq(*v, '1');
			break;
		case 1:
			ck_assert(name.esc);
			ck_assert_int_eq(*v, '[');
			jscan_iter_init(&ai, v);
			for (n = 0; jscan_iter_next(&ai, NULL, &v); n++)
				ck_assert_int_eq(*v, n == 0 ? 't' : '{');
			ck_assert_int_eq(n, 2);
			break;
		case 2:
			ck_assert_int_eq(*v, 'n');
			break;
		case 3:
			ck_assert_int_eq(*v, '"');
			break;
		}
		k++;
	}
	ck_assert_int_eq(k, 4);
	/* At the end it stays at the end. */
	ck_assert_int_eq(jscan_iter_next(&it, &name, &v), 0);
	jscan_iter_init(&it, checked("[]"));
	ck_assert_int_eq(jscan_iter_next(&it, NULL, &v), 0);
	jscan_iter_init(&it, checked("{ }"));
	ck_assert_int_eq(jscan_iter_next(&it, &name, &v), 0);
	jscan_iter_init(&it, checked("[ \"]\" , \",\" ]"));
	for (n = 0; jscan_iter_next(&it, NULL, &v); n++)
		ck_assert_int_eq(*v, '"');
	ck_assert_int_eq(n, 2);
}
END_TEST

/* jscan_decode() against json-c, byte for byte. */
START_TEST(test_decode)
{
	static const char *t[] = {
		"\"plain\"", "\"\"", "\"a\\\"b\\\\c\\/d\"",
		"\"\\b\\f\\n\\r\\t\"", "\"caf\\u00e9 \\u00E9\"",
		"\"\\u0000x\\u0000\"", "\"\\u20ac\\uffff\"",
		"\"\\ud83d\\ude00\"",		/* a pair: U+1F600 */
		"\"\\ud800x\"",			/* lone high */
		"\"\\udc00\"",			/* lone low */
		"\"\\ud800\\u0041\"",		/* high, then no low */
		"\"\\ud800\\ud800\\udc00\"",	/* lone, then a pair */
		"\"\\ud800\"",			/* lone at the end */
		"\"tail \\u00e9\xc3\xa9 raw\"",
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct jscan_str	 s;
		struct json_object	*o;
		const char		*d;
		char			 out[64];
		size_t			 n;

		checked(t[i]);
		jscan_string(t[i], &s);
		ck_assert_uint_eq(s.n, strlen(t[i]) - 2);
		ck_assert_int_eq(s.esc, strchr(t[i], '\\') != NULL);
		memset(out, 0x55, sizeof(out));
		d = jscan_decode(&s, out, &n);
		ck_assert_uint_le(n, s.n);
		ck_assert_ptr_eq(d, s.esc ? out : s.p);
		/* Nothing written past the decoded bytes. */
		ck_assert_int_eq((unsigned char)out[s.esc ? n : 0], 0x55);
		o = json_tokener_parse(t[i]);
		ck_assert_ptr_nonnull(o);
		ck_assert_uint_eq(n, (size_t)json_object_get_string_len(o));
		ck_assert_msg(memcmp(d, json_object_get_string(o), n) == 0,
		    "decoded differently from json-c: %s", t[i]);
		json_object_put(o);
	}
}
END_TEST

START_TEST(test_eq)
{
	struct jscan_str	 s;
	char			 long_esc[200];
	int			 k;

	jscan_string("\"id\"", &s);
	ck_assert(jscan_eq(&s, "id"));
	ck_assert(!jscan_eq(&s, "i"));
	ck_assert(!jscan_eq(&s, "idx"));
	ck_assert(!jscan_eq(&s, "ID"));
	ck_assert(jscan_caseeq(&s, "ID"));
	jscan_string("\"\\u0069\\u0064\"", &s);
	ck_assert(jscan_eq(&s, "id"));
	jscan_string("\"i\\u0000d\"", &s);
	ck_assert(!jscan_eq(&s, "id"));
	ck_assert(!jscan_eq(&s, "i"));
	jscan_string("\"IF-match\"", &s);
	ck_assert(jscan_caseeq(&s, "If-Match"));
	ck_assert(!jscan_caseeq(&s, "If-None-Match"));
	/* 20 escaped letters (120 raw bytes) still compare... */
	long_esc[0] = '"';
	for (k = 0; k < 20; k++)
		memcpy(long_esc + 1 + 6 * k, "\\u0061", 6);
	memcpy(long_esc + 121, "\"", 2);
	jscan_string(checked(long_esc), &s);
	ck_assert(jscan_eq(&s, "aaaaaaaaaaaaaaaaaaaa"));
	ck_assert(!jscan_eq(&s, "aaaaaaaaaaaaaaaaaaa"));
	/* ... and a longer escaped form never equals a short literal. */
	memcpy(long_esc + 121, "\\u0061\"", 8);
	jscan_string(checked(long_esc), &s);
	ck_assert(!jscan_eq(&s, "id"));
}
END_TEST

START_TEST(test_minify)
{
	static const struct {
		const char *in, *out;
	} t[] = {
		{ "{ \"a b\" : [ 1 , 2 ] ,\n\t\"c\\\" d\":\"e\\\\ \" }",
		  "{\"a b\":[1,2],\"c\\\" d\":\"e\\\\ \"}" },
		{ "[]", "[]" },
		{ "[ ]", "[]" },
		{ "\" x \"", "\" x \"" },
	};
	size_t	i, n;
	char	out[128];

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		checked(t[i].in);
		n = jscan_minify(t[i].in, strlen(t[i].in), out);
		ck_assert_uint_eq(n, strlen(t[i].out));
		ck_assert_int_eq(memcmp(out, t[i].out, n), 0);
	}
}
END_TEST

/* The bounded walks of unchecked text: members of good objects as
 * jscan_iter gives them, and every cut of a row refused or read without
 * a byte past its end (each cut is a heap copy of exactly its length, so
 * that AddressSanitizer sees any overread). */
START_TEST(test_bounded)
{
	static const char *good[] = {
		"{\"a\":1,\"b\":\"x\\\"y\",\"c\":{\"d\":[1,{\"e\":\"]\"}]},"
		"\"f\":null}",
		" { \"a\" : 1 , \"b\" :\t\"x\\\"y\" ,\"c\":{ \"d\" : [ 1 , "
		"{\"e\":\"]\"} ] } , \"f\" : null } ",
		"{\"a\\u0062\":true}",
		"{}",
	};
	static const char *bad[] = {
		"", "[1]", "\"s\"", "{\"a\"}", "{\"a\":}", "{\"a\":1 \"b\":2}",
		"{\"a\":\"x}", "{a:1}", "{\"a\":1", "{\"a\":{\"b\":1}",
		"{\"a\":[1,2}",
	};
	struct jscan_biter	 bi;
	struct jscan_iter	 ci;
	struct jscan_str	 bn, cn;
	const char		*bv, *be, *cv;
	size_t			 i, k, n;
	char			*cut;
	int			 r;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		n = strlen(good[i]);
		ck_assert_int_eq(jscan_biter_init(&bi, good[i], good[i] + n),
		    0);
		jscan_iter_init(&ci, strchr(checked(good[i]), '{'));
		while ((r = jscan_iter_next(&ci, &cn, &cv)) == 1) {
			ck_assert_int_eq(jscan_biter_next(&bi, &bn, &bv, &be),
			    1);
			ck_assert_uint_eq(bn.n, cn.n);
			ck_assert_int_eq(bn.esc, cn.esc);
			ck_assert(memcmp(bn.p, cn.p, bn.n) == 0);
			ck_assert_ptr_eq(bv, cv);
			ck_assert_ptr_eq(be, jscan_skip(cv, NULL));
		}
		ck_assert_int_eq(jscan_biter_next(&bi, &bn, &bv, &be), 0);
		/* Every proper cut of a good object is refused somewhere. */
		for (k = 0; k < n; k++) {
			if ((cut = malloc(k + 1)) == NULL)
				ck_abort();
			memcpy(cut, good[i], k);
			if (jscan_biter_init(&bi, cut, cut + k) == 0) {
				while ((r = jscan_biter_next(&bi, &bn, &bv,
				    &be)) == 1)
					;
				ck_assert_msg(r == -1 || strspn(good[i] + k,
				    " \t") == n - k, "cut %zu of %s read whole",
				    k, good[i]);
			}
			free(cut);
		}
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = strlen(bad[i]);
		if ((cut = malloc(n + 1)) == NULL)
			ck_abort();
		memcpy(cut, bad[i], n);
		r = jscan_biter_init(&bi, cut, cut + n);
		while (r == 0 && (r = jscan_biter_next(&bi, &bn, &bv,
		    &be)) == 1)
			r = 0;
		ck_assert_msg(r == -1, "accepted %s", bad[i]);
		free(cut);
	}
	ck_assert_ptr_null(jscan_bskip("\"abc", "\"abc" + 4));
	ck_assert_ptr_null(jscan_bskip("[[1]", "[[1]" + 4));
	ck_assert_ptr_null(jscan_bskip("}", "}" + 0));
}
END_TEST

/* A string of len bytes of content, with a run of backslashes at at,
 * then a quote or a letter (escaped when the run is odd), as a heap copy
 * of exactly its bytes (AddressSanitizer sees an overread): its end as
 * jscan_skip() finds it, and refused without its closing quote. */
static void
check_bounded_string(size_t len, size_t at, size_t run, char after)
{
	char	 s[64], *h;
	size_t	 n = len + 2;

	memset(s, 'a', sizeof(s));
	s[0] = '"';
	memset(s + 1 + at, '\\', run);
	if (run > 0)
		s[1 + at + run] = run % 2 ? after : 'b';
	s[n - 1] = '"';
	s[n] = '\0';
	if ((h = malloc(n)) == NULL)
		ck_abort();
	memcpy(h, s, n);
	ck_assert_ptr_eq(jscan_skip(s, NULL), s + n);
	ck_assert_msg(jscan_bskip(h, h + n) == h + n, "%s", s);
	ck_assert_msg(jscan_bskip(h, h + n - 1) == NULL, "%s", s);
	free(h);
}

/* A string's end is found sixteen and eight bytes at a time: every
 * length up to three blocks, an escape at every position. */
START_TEST(test_bounded_strings)
{
	size_t	len, at, run;

	for (len = 0; len <= 48; len++)
		for (at = 0; at <= len; at++)
			for (run = 0; run <= 4 && at + run + 1 <= len +
			    (run == 0); run++) {
				check_bounded_string(len, at, run, '"');
				check_bounded_string(len, at, run, 'n');
			}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("json_scan");
	TCase	*tc = tcase_create("core");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, test_skip);
	tcase_add_test(tc, test_trim);
	tcase_add_test(tc, test_iter);
	tcase_add_test(tc, test_decode);
	tcase_add_test(tc, test_eq);
	tcase_add_test(tc, test_minify);
	tcase_add_test(tc, test_bounded);
	tcase_add_test(tc, test_bounded_strings);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
