/*
 * test_query_parse.c - unit tests for worker/query/query_parse.c: every
 * operator, the precedence of or / and / not / comparisons / arithmetic
 * (checked on the tree, printed as an S-expression by this file), and
 * every error path with the position and the words of its message.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"

static struct qarena	 arena;
static struct qast	 ast;
static struct err	 e;

static void
teardown(void)
{
	qarena_free(&arena);
}

static void
parse_ok(const char *src)
{
	memset(&e, 0, sizeof(e));
	ck_assert_msg(qparse(src, strlen(src), &arena, &ast, &e) == 0,
	    "%s: %s", src, e.detail);
}

static void
parse_fails(const char *src, const char *want)
{
	memset(&e, 0, sizeof(e));
	ck_assert_msg(qparse(src, strlen(src), &arena, &ast, &e) == -1,
	    "%s parsed", src);
	ck_assert_int_eq(e.code, ERR_QUERY_SYNTAX_ERROR);
	ck_assert_str_eq(e.detail, want);
}

/* ---- an independent printer of trees ---------------------------------- */

static void
sx(const struct qnode *n, char *out, size_t len);

static void
sx_cat(char *out, size_t len, const char *s)
{
	strncat(out, s, len - strlen(out) - 1);
}

static void
sx_args(const struct qnode *n, size_t from, char *out, size_t len)
{
	size_t	i;

	for (i = from; i < n->n_na; i++) {
		sx_cat(out, len, " ");
		sx(n->n_a[i], out, len);
	}
	sx_cat(out, len, ")");
}

static void
sx(const struct qnode *n, char *out, size_t len)
{
	static const char *bins[] = { "+", "-", "*", "/", "%", "==", "!=",
	    "<", "<=", ">", ">=" };
	static const char *strs[] = { "=~", "contains", "contains_cs",
	    "startswith", "startswith_cs", "endswith", "endswith_cs", "has",
	    "has_cs" };
	char	tmp[64];

	switch (n->n_kind) {
	case QN_LIT:
		switch (n->n_lit.t) {
		case QV_LONG:
			snprintf(tmp, sizeof(tmp), "%lld",
			    (long long)n->n_lit.u.l);
			break;
		case QV_REAL:
			snprintf(tmp, sizeof(tmp), "%gr", n->n_lit.u.r);
			break;
		case QV_BOOL:
			snprintf(tmp, sizeof(tmp), "%s",
			    n->n_lit.u.b ? "true" : "false");
			break;
		case QV_STRING:
			snprintf(tmp, sizeof(tmp), "'%.*s'",
			    (int)n->n_lit.u.s.n, n->n_lit.u.s.p);
			break;
		case QV_TIMESPAN:
			snprintf(tmp, sizeof(tmp), "%lldt",
			    (long long)n->n_lit.u.l);
			break;
		case QV_DATETIME:
			snprintf(tmp, sizeof(tmp), "@%lld",
			    (long long)n->n_lit.u.l);
			break;
		default:
			snprintf(tmp, sizeof(tmp), "?");
		}
		sx_cat(out, len, tmp);
		return;
	case QN_COL:
		sx_cat(out, len, n->n_name);
		return;
	case QN_NEG:
		sx_cat(out, len, "(neg");
		sx_args(n, 0, out, len);
		return;
	case QN_BIN:
		snprintf(tmp, sizeof(tmp), "(%s", bins[n->n_op]);
		break;
	case QN_AND:
		snprintf(tmp, sizeof(tmp), "(and");
		break;
	case QN_OR:
		snprintf(tmp, sizeof(tmp), "(or");
		break;
	case QN_STR:
		snprintf(tmp, sizeof(tmp), "(%s%s", n->n_neg ? "!" : "",
		    strs[n->n_op]);
		break;
	case QN_IN:
		snprintf(tmp, sizeof(tmp), "(%sin%s", n->n_neg ? "!" : "",
		    n->n_ci ? "~" : "");
		break;
	case QN_BETWEEN:
		snprintf(tmp, sizeof(tmp), "(%sbetween", n->n_neg ? "!" : "");
		break;
	case QN_CALL:
	case QN_AGG:
		snprintf(tmp, sizeof(tmp), "(%s%s", n->n_kind == QN_AGG ?
		    "agg:" : "", n->n_name);
		break;
	case QN_MEMBER:
		sx_cat(out, len, "(.");
		sx_args(n, 0, out, len);
		out[strlen(out) - 1] = '\0';
		sx_cat(out, len, " ");
		sx_cat(out, len, n->n_name);
		sx_cat(out, len, ")");
		return;
	case QN_INDEX:
		snprintf(tmp, sizeof(tmp), "([]");
		break;
	}
	sx_cat(out, len, tmp);
	sx_args(n, 0, out, len);
}

/* The where predicate of "T | where <expr>" as an S-expression. */
static const char *
tree(const char *expr)
{
	static char	out[1024];
	char		src[512];

	snprintf(src, sizeof(src), "T | where %s", expr);
	parse_ok(src);
	ck_assert_uint_eq(ast.q_nops, 1);
	ck_assert_int_eq(ast.q_ops[0].o_kind, QO_WHERE);
	out[0] = '\0';
	sx(ast.q_ops[0].o_pred, out, sizeof(out));
	return out;
}

static const char *
item_tree(const struct qitem *it)
{
	static char	out[512];

	out[0] = '\0';
	sx(it->i_e, out, sizeof(out));
	return out;
}

/* ---- operators --------------------------------------------------------- */

START_TEST(test_table_only)
{
	parse_ok("AzureActivity");
	ck_assert_str_eq(ast.q_table, "AzureActivity");
	ck_assert_uint_eq(ast.q_nops, 0);
	parse_ok("  rows-2024_a  \n");
	ck_assert_str_eq(ast.q_table, "rows-2024_a");
	ck_assert_int_eq(ast.q_line, 1);
	ck_assert_int_eq(ast.q_col, 3);
}
END_TEST

START_TEST(test_where_filter)
{
	parse_ok("T | where a == 1 | filter b");
	ck_assert_uint_eq(ast.q_nops, 2);
	ck_assert_int_eq(ast.q_ops[0].o_kind, QO_WHERE);
	ck_assert_int_eq(ast.q_ops[1].o_kind, QO_WHERE);
	ck_assert_int_eq(ast.q_ops[1].o_line, 1);
	ck_assert_int_eq(ast.q_ops[1].o_col, 20);
	ck_assert_str_eq(tree("a == 1"), "(== a 1)");
}
END_TEST

START_TEST(test_project_extend)
{
	parse_ok("T | project a, b2 = a * 2, tolower(c) | extend d = 1, e");
	ck_assert_int_eq(ast.q_ops[0].o_kind, QO_PROJECT);
	ck_assert_uint_eq(ast.q_ops[0].o_nitems, 3);
	ck_assert_ptr_null(ast.q_ops[0].o_items[0].i_name);
	ck_assert_str_eq(item_tree(&ast.q_ops[0].o_items[0]), "a");
	ck_assert_str_eq(ast.q_ops[0].o_items[1].i_name, "b2");
	ck_assert_str_eq(item_tree(&ast.q_ops[0].o_items[1]), "(* a 2)");
	ck_assert_str_eq(item_tree(&ast.q_ops[0].o_items[2]), "(tolower c)");
	ck_assert_int_eq(ast.q_ops[0].o_items[1].i_col, 16);
	ck_assert_int_eq(ast.q_ops[1].o_kind, QO_EXTEND);
	ck_assert_uint_eq(ast.q_ops[1].o_nitems, 2);
	ck_assert_str_eq(ast.q_ops[1].o_items[0].i_name, "d");
	ck_assert_ptr_null(ast.q_ops[1].o_items[1].i_name);
}
END_TEST

START_TEST(test_project_away_rename)
{
	parse_ok("T | project-away a, Res*, *Id, x*y | project-rename n = a, "
	    "m = b");
	ck_assert_int_eq(ast.q_ops[0].o_kind, QO_PROJECT_AWAY);
	ck_assert_uint_eq(ast.q_ops[0].o_nitems, 4);
	ck_assert_str_eq(ast.q_ops[0].o_items[0].i_name, "a");
	ck_assert_str_eq(ast.q_ops[0].o_items[1].i_name, "Res*");
	ck_assert_str_eq(ast.q_ops[0].o_items[2].i_name, "*Id");
	ck_assert_str_eq(ast.q_ops[0].o_items[3].i_name, "x*y");
	ck_assert_int_eq(ast.q_ops[1].o_kind, QO_PROJECT_RENAME);
	ck_assert_uint_eq(ast.q_ops[1].o_nitems, 2);
	ck_assert_str_eq(ast.q_ops[1].o_items[0].i_name, "n");
	ck_assert_str_eq(ast.q_ops[1].o_items[0].i_e->n_name, "a");
	ck_assert_str_eq(ast.q_ops[1].o_items[1].i_name, "m");
	ck_assert_str_eq(ast.q_ops[1].o_items[1].i_e->n_name, "b");
}
END_TEST

START_TEST(test_summarize)
{
	const struct qop	*op;

	parse_ok("T | summarize count(), n = dcount(c), avg(d) by e, "
	    "h = bin(t, 1h)");
	op = &ast.q_ops[0];
	ck_assert_int_eq(op->o_kind, QO_SUMMARIZE);
	ck_assert_uint_eq(op->o_nitems, 3);
	ck_assert_uint_eq(op->o_nby, 2);
	ck_assert_str_eq(item_tree(&op->o_items[0]), "(agg:count)");
	ck_assert_int_eq(op->o_items[0].i_e->n_op, QA_COUNT);
	ck_assert_str_eq(op->o_items[1].i_name, "n");
	ck_assert_str_eq(item_tree(&op->o_items[1]), "(agg:dcount c)");
	ck_assert_str_eq(item_tree(&op->o_items[2]), "(agg:avg d)");
	ck_assert_str_eq(item_tree(&op->o_by[0]), "e");
	ck_assert_str_eq(op->o_by[1].i_name, "h");
	ck_assert_str_eq(item_tree(&op->o_by[1]), "(bin t 36000000000t)");
	/* by only; aggregates only; an aggregate inside arithmetic. */
	parse_ok("T | summarize by a");
	ck_assert_uint_eq(ast.q_ops[0].o_nitems, 0);
	ck_assert_uint_eq(ast.q_ops[0].o_nby, 1);
	parse_ok("T | summarize sum(x), min(y), max(z), countif(p), "
	    "sumif(x, p), avgif(x, p), dcountif(x, p)");
	ck_assert_uint_eq(ast.q_ops[0].o_nitems, 7);
	ck_assert_uint_eq(ast.q_ops[0].o_nby, 0);
	ck_assert_int_eq(ast.q_ops[0].o_items[6].i_e->n_op, QA_DCOUNTIF);
	parse_ok("T | summarize pct = 100.0 * countif(ok) / count()");
	ck_assert_str_eq(item_tree(&ast.q_ops[0].o_items[0]),
	    "(/ (* 100r (agg:countif ok)) (agg:count))");
}
END_TEST

START_TEST(test_sort_order)
{
	const struct qop	*op;

	parse_ok("T | sort by a, b asc, c desc nulls first, d asc nulls last "
	    "| order by e");
	op = &ast.q_ops[0];
	ck_assert_int_eq(op->o_kind, QO_SORT);
	ck_assert_uint_eq(op->o_nitems, 4);
	/* Kusto: descending unless asked; nulls last when descending. */
	ck_assert_int_eq(op->o_items[0].i_desc, 1);
	ck_assert_int_eq(op->o_items[0].i_nulls_first, 0);
	ck_assert_int_eq(op->o_items[1].i_desc, 0);
	ck_assert_int_eq(op->o_items[1].i_nulls_first, 1);
	ck_assert_int_eq(op->o_items[2].i_desc, 1);
	ck_assert_int_eq(op->o_items[2].i_nulls_first, 1);
	ck_assert_int_eq(op->o_items[3].i_desc, 0);
	ck_assert_int_eq(op->o_items[3].i_nulls_first, 0);
	ck_assert_int_eq(ast.q_ops[1].o_kind, QO_SORT);
	ck_assert_str_eq(item_tree(&ast.q_ops[1].o_items[0]), "e");
}
END_TEST

START_TEST(test_take_limit_top_count_distinct)
{
	parse_ok("T | take 10 | limit 0 | top 3 by x asc | count | distinct a, "
	    "b | distinct *");
	ck_assert_uint_eq(ast.q_nops, 6);
	ck_assert_int_eq(ast.q_ops[0].o_kind, QO_TAKE);
	ck_assert_int_eq(ast.q_ops[0].o_n, 10);
	ck_assert_int_eq(ast.q_ops[1].o_kind, QO_TAKE);
	ck_assert_int_eq(ast.q_ops[1].o_n, 0);
	ck_assert_int_eq(ast.q_ops[2].o_kind, QO_TOP);
	ck_assert_int_eq(ast.q_ops[2].o_n, 3);
	ck_assert_uint_eq(ast.q_ops[2].o_nitems, 1);
	ck_assert_int_eq(ast.q_ops[2].o_items[0].i_desc, 0);
	ck_assert_int_eq(ast.q_ops[3].o_kind, QO_COUNT);
	ck_assert_int_eq(ast.q_ops[4].o_kind, QO_DISTINCT);
	ck_assert_uint_eq(ast.q_ops[4].o_nitems, 2);
	ck_assert_int_eq(ast.q_ops[4].o_star, 0);
	ck_assert_int_eq(ast.q_ops[5].o_kind, QO_DISTINCT);
	ck_assert_int_eq(ast.q_ops[5].o_star, 1);
}
END_TEST

/* ---- expressions ------------------------------------------------------- */

START_TEST(test_precedence_logic)
{
	ck_assert_str_eq(tree("a or b and c"), "(or a (and b c))");
	ck_assert_str_eq(tree("a and b or c"), "(or (and a b) c)");
	ck_assert_str_eq(tree("(a or b) and c"), "(and (or a b) c)");
	ck_assert_str_eq(tree("a or b or c"), "(or (or a b) c)");
	ck_assert_str_eq(tree("not(a) and b"), "(and (not a) b)");
	ck_assert_str_eq(tree("not(a or b)"), "(not (or a b))");
	ck_assert_str_eq(tree("a == 1 and b != 2 or c < 3"),
	    "(or (and (== a 1) (!= b 2)) (< c 3))");
}
END_TEST

START_TEST(test_precedence_arith)
{
	ck_assert_str_eq(tree("b == 1 + 2 * 3"), "(== b (+ 1 (* 2 3)))");
	ck_assert_str_eq(tree("1 * 2 + 3 > x"), "(> (+ (* 1 2) 3) x)");
	ck_assert_str_eq(tree("a - b - c"), "(- (- a b) c)");
	ck_assert_str_eq(tree("a / b % c"), "(% (/ a b) c)");
	ck_assert_str_eq(tree("(a + b) * c"), "(* (+ a b) c)");
	ck_assert_str_eq(tree("-a * b"), "(* (neg a) b)");
	ck_assert_str_eq(tree("- -a"), "(neg (neg a))");
	ck_assert_str_eq(tree("+a"), "a");
	/* Negative literals are folded. */
	ck_assert_str_eq(tree("x > -1"), "(> x -1)");
	ck_assert_str_eq(tree("x > -1h"), "(> x -36000000000t)");
	ck_assert_str_eq(tree("x > -2.5"), "(> x -2.5r)");
}
END_TEST

START_TEST(test_comparisons)
{
	ck_assert_str_eq(tree("a <= 1"), "(<= a 1)");
	ck_assert_str_eq(tree("a >= 1"), "(>= a 1)");
	ck_assert_str_eq(tree("a <> 1"), "(!= a 1)");
	ck_assert_str_eq(tree("a =~ 'x'"), "(=~ a 'x')");
	ck_assert_str_eq(tree("a !~ 'x'"), "(!=~ a 'x')");
	ck_assert_str_eq(tree("a contains 'x' or a !contains 'y'"),
	    "(or (contains a 'x') (!contains a 'y'))");
	ck_assert_str_eq(tree("a startswith 'x' and a !startswith_cs 'y'"),
	    "(and (startswith a 'x') (!startswith_cs a 'y'))");
	ck_assert_str_eq(tree("a endswith_cs 'x'"), "(endswith_cs a 'x')");
	ck_assert_str_eq(tree("a has 'x' and a !has_cs 'y'"),
	    "(and (has a 'x') (!has_cs a 'y'))");
	ck_assert_str_eq(tree("a contains_cs 'x' + 'y'"),
	    "(contains_cs a (+ 'x' 'y'))");
	ck_assert_str_eq(tree("a in (1, 2, 3)"), "(in a 1 2 3)");
	ck_assert_str_eq(tree("a !in ('x')"), "(!in a 'x')");
	ck_assert_str_eq(tree("a in~ ('x', 'Y')"), "(in~ a 'x' 'Y')");
	ck_assert_str_eq(tree("a !in~ ('x')"), "(!in~ a 'x')");
	ck_assert_str_eq(tree("a between (1 .. 5)"), "(between a 1 5)");
	ck_assert_str_eq(tree("a !between (1 + 1 .. 2 * 3)"),
	    "(!between a (+ 1 1) (* 2 3))");
	ck_assert_str_eq(tree("isnull(a) or isnotnull(b)"),
	    "(or (isnull a) (isnotnull b))");
}
END_TEST

START_TEST(test_primaries)
{
	ck_assert_str_eq(tree("t > ago(1h)"), "(> t (ago 36000000000t))");
	ck_assert_str_eq(tree("t < now()"), "(< t (now))");
	ck_assert_str_eq(tree("t > datetime(1970-01-01T00:00:01Z)"),
	    "(> t @10000000)");
	ck_assert_str_eq(tree("b == true or c == false"),
	    "(or (== b true) (== c false))");
	ck_assert_str_eq(tree("s == \"q\" or s == 'r'"),
	    "(or (== s 'q') (== s 'r'))");
	ck_assert_str_eq(tree("p.code == 'OK'"), "(== (. p code) 'OK')");
	ck_assert_str_eq(tree("p.a.b[0] == 1"),
	    "(== ([] (. (. p a) b) 0) 1)");
	ck_assert_str_eq(tree("p['k'] == 1"), "(== ([] p 'k') 1)");
	ck_assert_str_eq(tree("['my col'] == 1"), "(== my col 1)");
	ck_assert_str_eq(tree("iff(a, 1, 2) == strcat('a', b, 'c')"),
	    "(== (iff a 1 2) (strcat 'a' b 'c'))");
	ck_assert_str_eq(tree("x == 1.5 or y == 2e2"),
	    "(or (== x 1.5r) (== y 200r))");
	/* Function and aggregate names are recognised; floor is bin. */
	parse_ok("T | where floor(x, 10) == 0");
	ck_assert_int_eq(ast.q_ops[0].o_pred->n_a[0]->n_kind, QN_CALL);
	ck_assert_int_eq(ast.q_ops[0].o_pred->n_a[0]->n_op, QF_BIN);
	ck_assert_str_eq(qfn_name(QF_BIN), "bin");
	ck_assert_str_eq(qagg_name(QA_DCOUNT), "dcount");
}
END_TEST

START_TEST(test_positions_in_tree)
{
	parse_ok("T\n| where a ==\n   b");
	ck_assert_int_eq(ast.q_ops[0].o_line, 2);
	ck_assert_int_eq(ast.q_ops[0].o_col, 3);
	/* A binary node sits at its operator; operands at themselves. */
	ck_assert_int_eq(ast.q_ops[0].o_pred->n_line, 2);
	ck_assert_int_eq(ast.q_ops[0].o_pred->n_col, 11);
	ck_assert_int_eq(ast.q_ops[0].o_pred->n_a[1]->n_line, 3);
	ck_assert_int_eq(ast.q_ops[0].o_pred->n_a[1]->n_col, 4);
}
END_TEST

/* ---- errors ------------------------------------------------------------ */

START_TEST(test_errors_structure)
{
	parse_fails("", "line 1, column 1: expected a table name, found end "
	    "of query");
	parse_fails("| take 1", "line 1, column 1: expected a table name, "
	    "found '|'");
	parse_fails("T take 1", "line 1, column 3: expected '|' or the end of "
	    "the query after 'T', found 'take'");
	parse_fails("T |", "line 1, column 4: expected an operator after '|', "
	    "found end of query");
	parse_fails("T | 5", "line 1, column 5: expected an operator after "
	    "'|', found '5'");
	parse_fails("T | frobnicate", "line 1, column 5: unknown operator "
	    "'frobnicate', expected where, project, project-away, "
	    "project-rename, extend, summarize, sort, order, take, limit, "
	    "top, count, distinct or render");
	parse_fails("T | count 5", "line 1, column 11: expected '|' or the "
	    "end of the query after 'count', found '5'");
	parse_fails("T | where a == 1 b", "line 1, column 18: expected '|' or "
	    "the end of the query after '1', found 'b'");
	parse_fails("T\n| where x ==\n| take 1", "line 3, column 1: expected "
	    "an expression after '==', found '|'");
}
END_TEST

START_TEST(test_errors_expressions)
{
	parse_fails("T | where", "line 1, column 10: expected an expression "
	    "after 'where', found end of query");
	parse_fails("T | where (a == 1", "line 1, column 18: expected ')' "
	    "after '1', found end of query");
	parse_fails("T | where a == )", "line 1, column 16: expected an "
	    "expression after '==', found ')'");
	parse_fails("T | where a < b < c", "line 1, column 17: expected '|' "
	    "or the end of the query after 'b', found '<'");
	parse_fails("T | where !contains", "line 1, column 11: expected an "
	    "expression after 'where', found '!contains'");
	parse_fails("T | where foo(x)", "line 1, column 11: unknown function "
	    "'foo'");
	parse_fails("T | where bin(x)", "line 1, column 11: bin() takes 2 "
	    "arguments, found 1");
	parse_fails("T | where strcat()", "line 1, column 11: strcat() takes "
	    "1 to 64 arguments, found 0");
	parse_fails("T | summarize count(x)", "line 1, column 15: count() "
	    "takes 0 arguments, found 1");
	parse_fails("T | summarize count( by x", "line 1, column 25: expected "
	    "',' or ')' in the arguments of count() after 'by', found 'x'");
	parse_fails("T | where x in 1", "line 1, column 16: expected '(' to "
	    "open the list of 'in' after 'in', found '1'");
	parse_fails("T | where x in ()", "line 1, column 13: 'in' needs at "
	    "least one value");
	parse_fails("T | where x !in~ (1,", "line 1, column 21: expected an "
	    "expression after ',', found end of query");
	parse_fails("T | where x between (1, 2)", "line 1, column 23: expected "
	    "'..' after '1', found ','");
	parse_fails("T | where x between 1 .. 2", "line 1, column 21: expected "
	    "'(' after 'between', found '1'");
	parse_fails("T | where x between (1 .. 2", "line 1, column 28: "
	    "expected ')' after '2', found end of query");
	parse_fails("T | where a.'x'", "line 1, column 13: expected a member "
	    "name after '.', found ''x''");
	parse_fails("T | where a[1", "line 1, column 14: expected ']' after "
	    "'1', found end of query");
	parse_fails("T | where [a] == 1", "line 1, column 12: expected a "
	    "quoted column name after '[', found 'a'");
	parse_fails("T | where ['a' == 1", "line 1, column 16: expected ']' "
	    "after ''a'', found '=='");
}
END_TEST

START_TEST(test_errors_operators)
{
	parse_fails("T | sort DurationMs", "line 1, column 10: expected 'by' "
	    "after 'sort', found 'DurationMs'");
	parse_fails("T | order by", "line 1, column 13: expected an "
	    "expression after 'by', found end of query");
	parse_fails("T | sort by x nulls middle", "line 1, column 21: expected "
	    "'first' or 'last' after 'nulls', found 'middle'");
	parse_fails("T | take x", "line 1, column 10: expected a row count "
	    "(0 or more) after 'take', found 'x'");
	parse_fails("T | limit -1", "line 1, column 11: expected a row count "
	    "(0 or more) after 'limit', found '-'");
	parse_fails("T | take 1.5", "line 1, column 10: expected a row count "
	    "(0 or more) after 'take', found '1.5'");
	parse_fails("T | top by x", "line 1, column 9: expected a row count "
	    "(0 or more) after 'top', found 'by'");
	parse_fails("T | top 5 x", "line 1, column 11: expected 'by' after "
	    "'5', found 'x'");
	parse_fails("T | top 3 by a, b", "line 1, column 17: top takes one "
	    "sort key");
	parse_fails("T | summarize", "line 1, column 14: expected an "
	    "aggregation such as count() or 'by' after 'summarize', found end "
	    "of query");
	parse_fails("T | summarize count() by", "line 1, column 25: expected "
	    "an expression after 'by', found end of query");
	parse_fails("T | summarize count(), by x", "line 1, column 24: "
	    "expected an expression after ',', found 'by'");
	parse_fails("T | project", "line 1, column 12: expected an expression "
	    "after 'project', found end of query");
	parse_fails("T | project a,", "line 1, column 15: expected an "
	    "expression after ',', found end of query");
	parse_fails("T | extend x =", "line 1, column 15: expected an "
	    "expression after '=', found end of query");
	parse_fails("T | project-away 1", "line 1, column 18: expected a "
	    "column name after 'project-away', found '1'");
	parse_fails("T | project-away a,", "line 1, column 20: expected a "
	    "column name after ',', found end of query");
	parse_fails("T | project-rename a b", "line 1, column 22: expected '=' "
	    "after 'a', found 'b'");
	parse_fails("T | project-rename = a", "line 1, column 20: expected a "
	    "new column name after 'project-rename', found '='");
	parse_fails("T | project-rename a = 1", "line 1, column 24: expected "
	    "the column to rename after '=', found '1'");
	parse_fails("T | distinct", "line 1, column 13: expected an "
	    "expression after 'distinct', found end of query");
}
END_TEST

START_TEST(test_errors_limits)
{
	char	src[2048], name[80];
	size_t	i, n = 0;

	n += (size_t)snprintf(src + n, sizeof(src) - n, "T | where ");
	for (i = 0; i < 300; i++)
		src[n++] = '(';
	src[n++] = '1';
	for (i = 0; i < 300; i++)
		src[n++] = ')';
	src[n] = '\0';
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(qparse(src, n, &arena, &ast, &e), -1);
	ck_assert_int_eq(e.code, ERR_QUERY_SYNTAX_ERROR);
	ck_assert_ptr_nonnull(strstr(e.detail, "nested too deeply"));
	ck_assert_ptr_nonnull(strstr(e.detail, "line 1, column 2"));
	/* A long flat chain is as deep as nested parentheses for whoever
	 * walks the tree. */
	{
		static char	chain[16384];
		size_t		k;

		k = (size_t)snprintf(chain, sizeof(chain), "T | where x == 1");
		for (i = 0; i < 1200; i++)
			k += (size_t)snprintf(chain + k, sizeof(chain) - k,
			    " + 1");
		memset(&e, 0, sizeof(e));
		ck_assert_int_eq(qparse(chain, k, &arena, &ast, &e), -1);
		ck_assert_ptr_nonnull(strstr(e.detail, "expression too long "
		    "(more than 1000 levels)"));
		k = (size_t)snprintf(chain, sizeof(chain), "T | where x == 1");
		for (i = 0; i < 990; i++)
			k += (size_t)snprintf(chain + k, sizeof(chain) - k,
			    " + 1");
		parse_ok(chain);
	}
	memset(name, 'a', 65);
	name[65] = '\0';
	parse_fails(name, "line 1, column 1: table name is longer than 64 "
	    "characters");
	name[64] = '\0';
	parse_ok(name);
	/* Lexical errors come through the parser unchanged. */
	parse_fails("T | where x == 'a", "line 1, column 16: unterminated "
	    "string literal");
}
END_TEST

static Suite *
parse_suite(void)
{
	Suite	*s = suite_create("query_parse");
	TCase	*tc;

	tc = tcase_create("operators");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_table_only);
	tcase_add_test(tc, test_where_filter);
	tcase_add_test(tc, test_project_extend);
	tcase_add_test(tc, test_project_away_rename);
	tcase_add_test(tc, test_summarize);
	tcase_add_test(tc, test_sort_order);
	tcase_add_test(tc, test_take_limit_top_count_distinct);
	suite_add_tcase(s, tc);

	tc = tcase_create("expressions");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_precedence_logic);
	tcase_add_test(tc, test_precedence_arith);
	tcase_add_test(tc, test_comparisons);
	tcase_add_test(tc, test_primaries);
	tcase_add_test(tc, test_positions_in_tree);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_errors_structure);
	tcase_add_test(tc, test_errors_expressions);
	tcase_add_test(tc, test_errors_operators);
	tcase_add_test(tc, test_errors_limits);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(parse_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
