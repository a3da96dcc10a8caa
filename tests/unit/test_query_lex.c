/*
 * test_query_lex.c - unit tests for worker/query/query_lex.c: every token
 * kind, the glued forms (table names, project-away, !contains, in~,
 * datetime(...), timespans), positions, and every lexical error with the
 * position it reports.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

static struct qarena	 arena;
static struct qtok	*tk;
static size_t		 ntk;
static struct err	 e;

static void
teardown(void)
{
	qarena_free(&arena);
}

/* Lex src, expecting success. */
static void
lex_ok(const char *src)
{
	memset(&e, 0, sizeof(e));
	ck_assert_msg(qlex(src, strlen(src), &arena, &tk, &ntk, &e) == 0,
	    "%s: %s", src, e.detail);
	ck_assert_int_eq(tk[ntk - 1].kind, TK_EOF);
}

/* Lex src, expecting a syntax error whose detail is want. */
static void
lex_fails(const char *src, const char *want)
{
	memset(&e, 0, sizeof(e));
	ck_assert_msg(qlex(src, strlen(src), &arena, &tk, &ntk, &e) == -1,
	    "%s lexed", src);
	ck_assert_int_eq(e.code, ERR_QUERY_SYNTAX_ERROR);
	ck_assert_str_eq(e.detail, want);
}

static void
is_ident(size_t i, const char *name)
{
	ck_assert_msg(i < ntk, "token %zu missing", i);
	ck_assert_int_eq(tk[i].kind, TK_IDENT);
	ck_assert_str_eq(tk[i].s, name);
}

START_TEST(test_table_name_is_first_token)
{
	lex_ok("My-Table_2 | take 1");
	ck_assert_uint_eq(ntk, 5);
	is_ident(0, "My-Table_2");
	ck_assert_int_eq(tk[1].kind, TK_PIPE);
	is_ident(2, "take");
	ck_assert_int_eq(tk[3].kind, TK_LONG);
	ck_assert_int_eq(tk[3].l, 1);
	/* Later, '-' is minus again. */
	lex_ok("T | extend a-b");
	is_ident(3, "a");
	ck_assert_int_eq(tk[4].kind, TK_MINUS);
	is_ident(5, "b");
}
END_TEST

START_TEST(test_glued_identifiers)
{
	lex_ok("T | project-away a | project-rename b = c | where x "
	    "!contains 'y' and z in~ (1) and w !in~ (2) and v !in (3) "
	    "and u !between (1 .. 2)");
	is_ident(2, "project-away");
	is_ident(5, "project-rename");
	is_ident(12, "!contains");
	is_ident(16, "in~");
	is_ident(22, "!in~");
	is_ident(28, "!in");
	is_ident(34, "!between");
	/* project-awayx is not project-away. */
	lex_ok("T | project-awayx");
	is_ident(2, "project");
	ck_assert_int_eq(tk[3].kind, TK_MINUS);
	is_ident(4, "awayx");
}
END_TEST

START_TEST(test_numbers)
{
	lex_ok("T | x 42 3.5 1e3 2.5E-2 .5 0");
	ck_assert_int_eq(tk[3].kind, TK_LONG);
	ck_assert_int_eq(tk[3].l, 42);
	ck_assert_int_eq(tk[4].kind, TK_REAL);
	ck_assert_double_eq(tk[4].r, 3.5);
	ck_assert_int_eq(tk[5].kind, TK_REAL);
	ck_assert_double_eq(tk[5].r, 1000.0);
	ck_assert_int_eq(tk[6].kind, TK_REAL);
	ck_assert_double_eq_tol(tk[6].r, 0.025, 1e-15);
	ck_assert_int_eq(tk[7].kind, TK_REAL);
	ck_assert_double_eq(tk[7].r, 0.5);
	ck_assert_int_eq(tk[8].kind, TK_LONG);
	ck_assert_int_eq(tk[8].l, 0);
	/* "1..5" is a range, not a real. */
	lex_ok("T | x 1..5");
	ck_assert_int_eq(tk[3].kind, TK_LONG);
	ck_assert_int_eq(tk[4].kind, TK_DOTDOT);
	ck_assert_int_eq(tk[5].kind, TK_LONG);
	ck_assert_int_eq(tk[5].l, 5);
	lex_ok("T | x 9223372036854775807");
	ck_assert_int_eq(tk[3].l, INT64_MAX);
}
END_TEST

START_TEST(test_timespans)
{
	static const struct {
		const char	*text;
		int64_t		 ticks;
	} cases[] = {
		{ "1d", 864000000000LL }, { "2h", 72000000000LL },
		{ "30m", 18000000000LL }, { "10s", 100000000LL },
		{ "100ms", 1000000LL }, { "1.5h", 54000000000LL },
		{ "3days", 2592000000000LL }, { "2hours", 72000000000LL },
		{ "5min", 3000000000LL }, { "1sec", 10000000LL },
		{ "2microseconds", 20LL }, { "7ticks", 7LL },
		{ "1millisecond", 10000LL },
	};
	char	src[64];
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(src, sizeof(src), "T | x %s", cases[i].text);
		lex_ok(src);
		ck_assert_msg(tk[3].kind == TK_TIMESPAN, "%s", cases[i].text);
		ck_assert_msg(tk[3].l == cases[i].ticks, "%s: %lld",
		    cases[i].text, (long long)tk[3].l);
		ck_assert_uint_eq(tk[3].n, strlen(cases[i].text));
	}
}
END_TEST

START_TEST(test_strings)
{
	lex_ok("T | x \"a\\\"b\\n\\t\\\\\" 'it\\'s' @\"C:\\dir\" "
	    "@'say ''hi''' \"\\u00e9\" \"\" 'a\"b'");
	ck_assert_int_eq(tk[3].kind, TK_STRING);
	ck_assert_str_eq(tk[3].s, "a\"b\n\t\\");
	ck_assert_uint_eq(tk[3].sn, 6);
	ck_assert_str_eq(tk[4].s, "it's");
	ck_assert_str_eq(tk[5].s, "C:\\dir");
	ck_assert_str_eq(tk[6].s, "say 'hi'");
	ck_assert_str_eq(tk[7].s, "\xc3\xa9");
	ck_assert_uint_eq(tk[8].sn, 0);
	ck_assert_int_eq(tk[8].kind, TK_STRING);
	ck_assert_str_eq(tk[9].s, "a\"b");
	/* The raw text of a token is its source. */
	ck_assert_uint_eq(tk[4].n, strlen("'it\\'s'"));
}
END_TEST

START_TEST(test_datetime_literal)
{
	lex_ok("T | x datetime(2024-01-02T03:04:05Z) datetime( \"2024-01-01\" )"
	    " datetime(2024-01-01 10:00) datetime('2024-01-01T00:00:00.5Z')");
	ck_assert_int_eq(tk[3].kind, TK_DATETIME);
	/* 2024-01-02T03:04:05Z is 1704164645 s after the epoch. */
	ck_assert_int_eq(tk[3].l, 1704164645LL * 10000000LL);
	ck_assert_int_eq(tk[4].kind, TK_DATETIME);
	ck_assert_int_eq(tk[4].l, 1704067200LL * 10000000LL);
	ck_assert_int_eq(tk[5].l, 1704103200LL * 10000000LL);
	ck_assert_int_eq(tk[6].l, 1704067200LL * 10000000LL + 5000000LL);
	ck_assert_int_eq(tk[7].kind, TK_EOF);
	/* Without '(' datetime is a name. */
	lex_ok("T | x datetime");
	is_ident(3, "datetime");
}
END_TEST

START_TEST(test_punctuation)
{
	static const enum qtk want[] = {
		TK_PIPE, TK_LPAREN, TK_RPAREN, TK_LBRACKET, TK_RBRACKET,
		TK_COMMA, TK_DOT, TK_DOTDOT, TK_ASSIGN, TK_EQ, TK_NE, TK_NE,
		TK_LT, TK_LE, TK_GT, TK_GE, TK_EQ_CI, TK_NE_CI, TK_PLUS,
		TK_MINUS, TK_STAR, TK_SLASH, TK_PERCENT, TK_EOF
	};
	size_t	i;

	lex_ok("T | ( ) [ ] , . .. = == != <> < <= > >= =~ !~ + - * / %");
	ck_assert_uint_eq(ntk, 1 + sizeof(want) / sizeof(want[0]));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(tk[i + 1].kind == want[i], "token %zu: %s", i,
		    qtk_name(tk[i + 1].kind));
	/* Adjacent without spaces. */
	lex_ok("T|where a>=1 and b<2");
	ck_assert_int_eq(tk[1].kind, TK_PIPE);
	ck_assert_int_eq(tk[4].kind, TK_GE);
	ck_assert_int_eq(tk[5].kind, TK_LONG);
	is_ident(6, "and");
	ck_assert_int_eq(tk[8].kind, TK_LT);
}
END_TEST

START_TEST(test_positions)
{
	lex_ok("T\n| where  x\n  == 1 // trailing\n| take 2");
	ck_assert_int_eq(tk[0].line, 1);
	ck_assert_int_eq(tk[0].col, 1);
	ck_assert_int_eq(tk[1].line, 2);	/* | */
	ck_assert_int_eq(tk[1].col, 1);
	ck_assert_int_eq(tk[2].col, 3);		/* where */
	ck_assert_int_eq(tk[3].col, 10);	/* x */
	ck_assert_int_eq(tk[4].line, 3);	/* == */
	ck_assert_int_eq(tk[4].col, 3);
	ck_assert_int_eq(tk[5].col, 6);		/* 1 */
	ck_assert_int_eq(tk[6].line, 4);	/* | after the comment */
	ck_assert_int_eq(tk[6].col, 1);
	ck_assert_int_eq(tk[8].kind, TK_LONG);
	/* EOF sits at the end of the text. */
	ck_assert_int_eq(tk[9].line, 4);
	ck_assert_int_eq(tk[9].col, 9);
	/* A multi-byte character counts as one column. */
	lex_ok("T | where s == '\xc3\xa9\xc3\xa9' and x");
	ck_assert_int_eq(tk[7].col, 25);
}
END_TEST

START_TEST(test_errors)
{
	lex_fails("T | where x == 'abc",
	    "line 1, column 16: unterminated string literal");
	lex_fails("T | where x == \"ab\ncd\"",
	    "line 1, column 16: unterminated string literal");
	lex_fails("T | where x # 1",
	    "line 1, column 13: unexpected character '#'");
	lex_fails("T | where x == \x01",
	    "line 1, column 16: unexpected byte 0x01");
	lex_fails("T | where x > 12abc",
	    "line 1, column 15: invalid number '12abc': unknown timespan "
	    "unit");
	lex_fails("T | where x > 99999999999999999999",
	    "line 1, column 15: number '99999999999999999999' is out of range "
	    "for a long");
	lex_fails("T | where x > 1e999",
	    "line 1, column 15: number '1e999' is out of range");
	lex_fails("T | where x > 99999999999d",
	    "line 1, column 15: timespan '99999999999d' is out of range");
	lex_fails("T | where t > datetime(2024-13-01)",
	    "line 1, column 15: invalid datetime '2024-13-01': expected "
	    "YYYY-MM-DD[Thh:mm[:ss]]");
	lex_fails("T | where t > datetime(2023-02-29)",
	    "line 1, column 15: invalid datetime '2023-02-29': expected "
	    "YYYY-MM-DD[Thh:mm[:ss]]");
	lex_fails("T | where t > datetime(2024-01-01",
	    "line 1, column 34: expected ')' to close datetime(");
	lex_fails("T | where s == 'a\\qb'",
	    "line 1, column 18: unknown escape '\\q' in string");
	lex_fails("T | where s == '\\u12'",
	    "line 1, column 17: expected 4 hex digits after \\u");
	lex_fails("T | where s == '\\ud800'",
	    "line 1, column 17: \\ud800 is a surrogate");
}
END_TEST

START_TEST(test_token_names)
{
	ck_assert_str_eq(qtk_name(TK_EOF), "end of query");
	ck_assert_str_eq(qtk_name(TK_PIPE), "'|'");
	ck_assert_str_eq(qtk_name(TK_EQ_CI), "'=~'");
	ck_assert_str_eq(qtk_name((enum qtk)999), "token");
}
END_TEST

static Suite *
lex_suite(void)
{
	Suite	*s = suite_create("query_lex");
	TCase	*tc = tcase_create("tokens");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_table_name_is_first_token);
	tcase_add_test(tc, test_glued_identifiers);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_timespans);
	tcase_add_test(tc, test_strings);
	tcase_add_test(tc, test_datetime_literal);
	tcase_add_test(tc, test_punctuation);
	tcase_add_test(tc, test_positions);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_token_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(lex_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
