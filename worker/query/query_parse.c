/*
 * query_parse.c - recursive descent from tokens to a struct qast.
 *
 *   query     := TABLE { '|' operator }
 *   operator  := where expr | project items | project-away names
 *              | project-rename NAME '=' NAME {',' ...} | extend items
 *              | summarize [items] [by items] | (sort|order) by keys
 *              | (take|limit) LONG | top LONG by key | count
 *              | distinct ('*' | items)
 *   items     := item {',' item};  item := [NAME '='] expr
 *   key       := expr [asc|desc] [nulls (first|last)]
 *
 *   expr      := and {'or' and}
 *   and       := cmp {'and' cmp}
 *   cmp       := add [cmpop add | strop add | in-op '(' expr {, expr} ')'
 *                     | between-op '(' add '..' add ')']
 *   add       := mul {('+'|'-') mul}
 *   mul       := unary {('*'|'/'|'%') unary}
 *   unary     := ('-'|'+') unary | postfix
 *   postfix   := primary {'.' NAME | '[' expr ']'}
 *   primary   := literal | NAME '(' [expr {, expr}] ')' | NAME
 *              | '[' STRING ']' | '(' expr ')'
 *
 * So "not" binds tightest (it is a function, as in Kusto), then
 * arithmetic, then one comparison, then "and", then "or".  Every error
 * names the position of the offending token, what was expected and what
 * was found.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "query_int.h"

/* Parentheses and unary operators the parser recurses into, and the
 * height of an expression tree (evaluation recurses that deep: a chain of
 * 100000 '+' must not overflow a worker's stack). */
#define QPARSE_DEPTH_MAX	200
#define QPARSE_TREE_MAX		1000

struct qparser {
	const struct qtok	*t;
	size_t			 n, i;
	struct qarena		*a;
	struct err		*e;
	int			 depth;
};

static const struct {
	const char	*name;
	enum qfn	 fn;
	int		 min, max;
} qparse_fns[] = {
	{ "not", QF_NOT, 1, 1 }, { "isnull", QF_ISNULL, 1, 1 },
	{ "isnotnull", QF_ISNOTNULL, 1, 1 }, { "isempty", QF_ISEMPTY, 1, 1 },
	{ "isnotempty", QF_ISNOTEMPTY, 1, 1 }, { "ago", QF_AGO, 1, 1 },
	{ "now", QF_NOW, 0, 1 }, { "bin", QF_BIN, 2, 2 },
	{ "floor", QF_BIN, 2, 2 }, { "startofday", QF_STARTOFDAY, 1, 1 },
	{ "tostring", QF_TOSTRING, 1, 1 }, { "tolong", QF_TOLONG, 1, 1 },
	{ "toint", QF_TOLONG, 1, 1 }, { "todouble", QF_TODOUBLE, 1, 1 },
	{ "toreal", QF_TODOUBLE, 1, 1 }, { "todatetime", QF_TODATETIME, 1, 1 },
	{ "tolower", QF_TOLOWER, 1, 1 }, { "toupper", QF_TOUPPER, 1, 1 },
	{ "strlen", QF_STRLEN, 1, 1 }, { "strcat", QF_STRCAT, 1, 64 },
	{ "iff", QF_IFF, 3, 3 }, { "iif", QF_IFF, 3, 3 },
	{ "abs", QF_ABS, 1, 1 }, { "round", QF_ROUND, 1, 2 },
};

static const struct {
	const char	*name;
	enum qagg	 agg;
	int		 min, max;
} qparse_aggs[] = {
	{ "count", QA_COUNT, 0, 0 }, { "countif", QA_COUNTIF, 1, 1 },
	{ "sum", QA_SUM, 1, 1 }, { "sumif", QA_SUMIF, 2, 2 },
	{ "avg", QA_AVG, 1, 1 }, { "avgif", QA_AVGIF, 2, 2 },
	{ "min", QA_MIN, 1, 1 }, { "max", QA_MAX, 1, 1 },
	{ "dcount", QA_DCOUNT, 1, 2 }, { "dcountif", QA_DCOUNTIF, 2, 3 },
};

static const struct {
	const char	*name;
	enum qstrop	 op;
	int		 neg;
} qparse_strops[] = {
	{ "contains", QS_CONTAINS, 0 }, { "!contains", QS_CONTAINS, 1 },
	{ "contains_cs", QS_CONTAINS_CS, 0 },
	{ "!contains_cs", QS_CONTAINS_CS, 1 },
	{ "startswith", QS_STARTSWITH, 0 }, { "!startswith", QS_STARTSWITH, 1 },
	{ "startswith_cs", QS_STARTSWITH_CS, 0 },
	{ "!startswith_cs", QS_STARTSWITH_CS, 1 },
	{ "endswith", QS_ENDSWITH, 0 }, { "!endswith", QS_ENDSWITH, 1 },
	{ "endswith_cs", QS_ENDSWITH_CS, 0 },
	{ "!endswith_cs", QS_ENDSWITH_CS, 1 },
	{ "has", QS_HAS, 0 }, { "!has", QS_HAS, 1 },
	{ "has_cs", QS_HAS_CS, 0 }, { "!has_cs", QS_HAS_CS, 1 },
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

const char *
qfn_name(enum qfn fn)
{
	size_t	i;

	for (i = 0; i < NELEM(qparse_fns); i++)
		if (qparse_fns[i].fn == fn)
			return qparse_fns[i].name;
	return "?";
}

const char *
qagg_name(enum qagg agg)
{
	size_t	i;

	for (i = 0; i < NELEM(qparse_aggs); i++)
		if (qparse_aggs[i].agg == agg)
			return qparse_aggs[i].name;
	return "?";
}

static const struct qtok *
qp_cur(const struct qparser *p)
{
	return &p->t[p->i];
}

static const struct qtok *
qp_next(struct qparser *p)
{
	const struct qtok	*t = &p->t[p->i];

	if (t->kind != TK_EOF)
		p->i++;
	return t;
}

static int
qp_is(const struct qtok *t, const char *word)
{
	return t->kind == TK_IDENT && strcmp(t->s, word) == 0;
}

/* "'text'" of a token, or "end of query". */
static void
qp_show(const struct qtok *t, char *out, size_t len)
{
	size_t	i, k = 0;

	if (t->kind == TK_EOF) {
		snprintf(out, len, "end of query");
		return;
	}
	out[k++] = '\'';
	for (i = 0; i < t->n && i < 32 && k + 5 < len; i++)
		out[k++] = (t->p[i] >= 0x20 && t->p[i] < 0x7f) ? t->p[i] : '?';
	if (i < t->n && k + 5 < len) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k++] = '\'';
	out[k] = '\0';
}

static int
qp_fail_at(struct qparser *p, const struct qtok *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
qp_fail_at(struct qparser *p, const struct qtok *t, const char *fmt, ...)
{
	char	 msg[200];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(p->e, ERR_QUERY_SYNTAX_ERROR, "line %d, column %d: %s",
	    t->line, t->col, msg);
}

/* "expected WHAT after 'previous token', found 'current token'", at the
 * current token. */
static int
qp_expected(struct qparser *p, const char *what)
{
	char	 prev[48], found[48];

	qp_show(qp_cur(p), found, sizeof(found));
	if (p->i == 0)
		return qp_fail_at(p, qp_cur(p), "expected %s, found %s", what,
		    found);
	qp_show(&p->t[p->i - 1], prev, sizeof(prev));
	return qp_fail_at(p, qp_cur(p), "expected %s after %s, found %s", what,
	    prev, found);
}

static int
qp_oom(struct qparser *p)
{
	return err_set(p->e, ERR_OUT_OF_MEMORY, "query syntax tree");
}

static struct qnode *
qp_node(struct qparser *p, enum qnk kind, const struct qtok *at)
{
	struct qnode	*n;

	if ((n = qarena_alloc(p->a, sizeof(*n))) == NULL) {
		qp_oom(p);
		return NULL;
	}
	memset(n, 0, sizeof(*n));
	n->n_kind = kind;
	n->n_line = at->line;
	n->n_col = at->col;
	n->n_slot = -1;
	n->n_fld = -1;
	return n;
}

/* A node with operands copied from ops[0..n). */
static struct qnode *
qp_node_ops(struct qparser *p, enum qnk kind, const struct qtok *at,
    struct qnode **ops, size_t n)
{
	struct qnode	*nd;
	size_t		 i;

	if ((nd = qp_node(p, kind, at)) == NULL)
		return NULL;
	if ((nd->n_a = qarena_alloc(p->a, (n ? n : 1) * sizeof(*ops))) ==
	    NULL) {
		qp_oom(p);
		return NULL;
	}
	if (n > 0)
		memcpy(nd->n_a, ops, n * sizeof(*ops));
	nd->n_na = n;
	for (i = 0; i < n; i++)
		if (ops[i]->n_depth + 1 > nd->n_depth)
			nd->n_depth = ops[i]->n_depth + 1;
	if (nd->n_depth > QPARSE_TREE_MAX) {
		qp_fail_at(p, at, "expression too long (more than %d levels)",
		    QPARSE_TREE_MAX);
		return NULL;
	}
	return nd;
}

static int qp_expr(struct qparser *, struct qnode **);
static int qp_add(struct qparser *, struct qnode **);

/*
 * A parenthesised, comma-separated list of expressions, '(' already
 * expected at the current token.  The list grows in the arena; what names
 * the list ("the arguments of count") goes into the messages.
 */
static int
qp_list(struct qparser *p, struct qnode ***out, size_t *nout,
    const char *what)
{
	struct qnode	**v = NULL, **nv, *x;
	size_t		  n = 0, cap = 0;
	char		  msg[96];

	snprintf(msg, sizeof(msg), "'(' to open %s", what);
	if (qp_cur(p)->kind != TK_LPAREN)
		return qp_expected(p, msg);
	qp_next(p);
	if (qp_cur(p)->kind == TK_RPAREN) {
		qp_next(p);
		*out = NULL;
		*nout = 0;
		return 0;
	}
	for (;;) {
		if (qp_expr(p, &x) == -1)
			return -1;
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			if ((nv = qarena_alloc(p->a, cap * sizeof(*v))) == NULL)
				return qp_oom(p);
			if (n > 0)
				memcpy(nv, v, n * sizeof(*v));
			v = nv;
		}
		v[n++] = x;
		if (qp_cur(p)->kind == TK_COMMA) {
			qp_next(p);
			continue;
		}
		if (qp_cur(p)->kind == TK_RPAREN) {
			qp_next(p);
			break;
		}
		snprintf(msg, sizeof(msg), "',' or ')' in %s", what);
		return qp_expected(p, msg);
	}
	*out = v;
	*nout = n;
	return 0;
}

/* NAME '(' args ')': a built-in function or an aggregation. */
static int
qp_call(struct qparser *p, struct qnode **out)
{
	const struct qtok	 *name = qp_next(p);
	struct qnode		**args, *n;
	size_t			  na, i;
	char			  what[64];
	int			  min, max;

	snprintf(what, sizeof(what), "the arguments of %s()", name->s);
	for (i = 0; i < NELEM(qparse_fns); i++)
		if (strcmp(qparse_fns[i].name, name->s) == 0)
			break;
	if (i < NELEM(qparse_fns)) {
		if (qp_list(p, &args, &na, what) == -1)
			return -1;
		min = qparse_fns[i].min;
		max = qparse_fns[i].max;
		if ((n = qp_node_ops(p, QN_CALL, name, args, na)) == NULL)
			return -1;
		n->n_op = qparse_fns[i].fn;
	} else {
		for (i = 0; i < NELEM(qparse_aggs); i++)
			if (strcmp(qparse_aggs[i].name, name->s) == 0)
				break;
		if (i == NELEM(qparse_aggs))
			return qp_fail_at(p, name, "unknown function '%s'",
			    name->s);
		if (qp_list(p, &args, &na, what) == -1)
			return -1;
		min = qparse_aggs[i].min;
		max = qparse_aggs[i].max;
		if ((n = qp_node_ops(p, QN_AGG, name, args, na)) == NULL)
			return -1;
		n->n_op = qparse_aggs[i].agg;
	}
	n->n_name = name->s;
	if ((int)na < min || (int)na > max) {
		if (min == max)
			return qp_fail_at(p, name,
			    "%s() takes %d argument%s, found %zu", name->s, min,
			    min == 1 ? "" : "s", na);
		return qp_fail_at(p, name,
		    "%s() takes %d to %d arguments, found %zu", name->s, min,
		    max, na);
	}
	*out = n;
	return 0;
}

static int
qp_primary(struct qparser *p, struct qnode **out)
{
	const struct qtok	*t = qp_cur(p);
	struct qnode		*n;

	switch (t->kind) {
	case TK_LONG:
	case TK_REAL:
	case TK_STRING:
	case TK_TIMESPAN:
	case TK_DATETIME:
		if ((n = qp_node(p, QN_LIT, t)) == NULL)
			return -1;
		if (t->kind == TK_LONG) {
			n->n_lit.t = QV_LONG;
			n->n_lit.u.l = t->l;
		} else if (t->kind == TK_REAL) {
			n->n_lit.t = QV_REAL;
			n->n_lit.u.r = t->r;
		} else if (t->kind == TK_STRING) {
			n->n_lit.t = QV_STRING;
			n->n_lit.u.s.p = t->s;
			n->n_lit.u.s.n = t->sn;
		} else {
			n->n_lit.t = t->kind == TK_TIMESPAN ? QV_TIMESPAN :
			    QV_DATETIME;
			n->n_lit.u.l = t->l;
		}
		qp_next(p);
		*out = n;
		return 0;
	case TK_LPAREN:
		qp_next(p);
		if (qp_expr(p, out) == -1)
			return -1;
		if (qp_cur(p)->kind != TK_RPAREN)
			return qp_expected(p, "')'");
		qp_next(p);
		return 0;
	case TK_LBRACKET:
		/* ['column name'] */
		qp_next(p);
		if (qp_cur(p)->kind != TK_STRING)
			return qp_expected(p, "a quoted column name");
		if ((n = qp_node(p, QN_COL, t)) == NULL)
			return -1;
		n->n_name = qp_next(p)->s;
		if (qp_cur(p)->kind != TK_RBRACKET)
			return qp_expected(p, "']'");
		qp_next(p);
		*out = n;
		return 0;
	case TK_IDENT:
		if (t->s[0] == '!')
			break;
		if (p->t[p->i + 1].kind == TK_LPAREN)
			return qp_call(p, out);
		if ((n = qp_node(p, QN_LIT, t)) == NULL)
			return -1;
		if (qp_is(t, "true") || qp_is(t, "false")) {
			n->n_lit.t = QV_BOOL;
			n->n_lit.u.b = qp_is(t, "true");
		} else {
			n->n_kind = QN_COL;
			n->n_name = t->s;
		}
		qp_next(p);
		*out = n;
		return 0;
	default:
		break;
	}
	return qp_expected(p, "an expression");
}

static int
qp_postfix(struct qparser *p, struct qnode **out)
{
	const struct qtok	*t;
	struct qnode		*ops[2], *n;

	if (qp_primary(p, &ops[0]) == -1)
		return -1;
	for (;;) {
		t = qp_cur(p);
		if (t->kind == TK_DOT) {
			qp_next(p);
			if (qp_cur(p)->kind != TK_IDENT ||
			    qp_cur(p)->s[0] == '!')
				return qp_expected(p, "a member name");
			if ((n = qp_node_ops(p, QN_MEMBER, t, ops, 1)) == NULL)
				return -1;
			n->n_name = qp_next(p)->s;
			ops[0] = n;
		} else if (t->kind == TK_LBRACKET) {
			qp_next(p);
			if (qp_expr(p, &ops[1]) == -1)
				return -1;
			if (qp_cur(p)->kind != TK_RBRACKET)
				return qp_expected(p, "']'");
			qp_next(p);
			if ((ops[0] = qp_node_ops(p, QN_INDEX, t, ops, 2)) ==
			    NULL)
				return -1;
		} else
			break;
	}
	*out = ops[0];
	return 0;
}

static int
qp_unary(struct qparser *p, struct qnode **out)
{
	const struct qtok	*t = qp_cur(p);
	struct qnode		*x;

	if (t->kind != TK_MINUS && t->kind != TK_PLUS)
		return qp_postfix(p, out);
	qp_next(p);
	if (++p->depth > QPARSE_DEPTH_MAX)
		return qp_fail_at(p, t, "expression nested too deeply");
	if (qp_unary(p, &x) == -1)
		return -1;
	p->depth--;
	if (t->kind == TK_PLUS) {
		*out = x;
		return 0;
	}
	/* Fold "-literal" so that -1 and -1h are literals. */
	if (x->n_kind == QN_LIT && (x->n_lit.t == QV_LONG ||
	    x->n_lit.t == QV_TIMESPAN) && x->n_lit.u.l != INT64_MIN) {
		x->n_lit.u.l = -x->n_lit.u.l;
		x->n_line = t->line;
		x->n_col = t->col;
		*out = x;
		return 0;
	}
	if (x->n_kind == QN_LIT && x->n_lit.t == QV_REAL) {
		x->n_lit.u.r = -x->n_lit.u.r;
		x->n_line = t->line;
		x->n_col = t->col;
		*out = x;
		return 0;
	}
	*out = qp_node_ops(p, QN_NEG, t, &x, 1);
	return *out == NULL ? -1 : 0;
}

static int
qp_mul(struct qparser *p, struct qnode **out)
{
	const struct qtok	*t;
	struct qnode		*ops[2];
	enum qbin		 op;

	if (qp_unary(p, &ops[0]) == -1)
		return -1;
	for (;;) {
		t = qp_cur(p);
		if (t->kind == TK_STAR)
			op = QB_MUL;
		else if (t->kind == TK_SLASH)
			op = QB_DIV;
		else if (t->kind == TK_PERCENT)
			op = QB_MOD;
		else
			break;
		qp_next(p);
		if (qp_unary(p, &ops[1]) == -1)
			return -1;
		if ((ops[0] = qp_node_ops(p, QN_BIN, t, ops, 2)) == NULL)
			return -1;
		ops[0]->n_op = op;
	}
	*out = ops[0];
	return 0;
}

static int
qp_add(struct qparser *p, struct qnode **out)
{
	const struct qtok	*t;
	struct qnode		*ops[2];

	if (qp_mul(p, &ops[0]) == -1)
		return -1;
	while ((t = qp_cur(p))->kind == TK_PLUS || t->kind == TK_MINUS) {
		qp_next(p);
		if (qp_mul(p, &ops[1]) == -1)
			return -1;
		if ((ops[0] = qp_node_ops(p, QN_BIN, t, ops, 2)) == NULL)
			return -1;
		ops[0]->n_op = t->kind == TK_PLUS ? QB_ADD : QB_SUB;
	}
	*out = ops[0];
	return 0;
}

static int
qp_cmp(struct qparser *p, struct qnode **out)
{
	static const struct {
		enum qtk	 tk;
		enum qbin	 op;
	} cmps[] = {
		{ TK_EQ, QB_EQ }, { TK_NE, QB_NE }, { TK_LT, QB_LT },
		{ TK_LE, QB_LE }, { TK_GT, QB_GT }, { TK_GE, QB_GE },
	};
	const struct qtok	 *t;
	struct qnode		 *ops[3], **list, **all, *n;
	size_t			  i, nl;
	char			  what[64];

	if (qp_add(p, &ops[0]) == -1)
		return -1;
	t = qp_cur(p);
	for (i = 0; i < NELEM(cmps); i++)
		if (t->kind == cmps[i].tk) {
			qp_next(p);
			if (qp_add(p, &ops[1]) == -1)
				return -1;
			if ((n = qp_node_ops(p, QN_BIN, t, ops, 2)) == NULL)
				return -1;
			n->n_op = cmps[i].op;
			*out = n;
			return 0;
		}
	if (t->kind == TK_EQ_CI || t->kind == TK_NE_CI) {
		qp_next(p);
		if (qp_add(p, &ops[1]) == -1)
			return -1;
		if ((n = qp_node_ops(p, QN_STR, t, ops, 2)) == NULL)
			return -1;
		n->n_op = QS_EQ_CI;
		n->n_neg = t->kind == TK_NE_CI;
		*out = n;
		return 0;
	}
	if (t->kind != TK_IDENT) {
		*out = ops[0];
		return 0;
	}
	for (i = 0; i < NELEM(qparse_strops); i++)
		if (strcmp(t->s, qparse_strops[i].name) == 0) {
			qp_next(p);
			if (qp_add(p, &ops[1]) == -1)
				return -1;
			if ((n = qp_node_ops(p, QN_STR, t, ops, 2)) == NULL)
				return -1;
			n->n_op = qparse_strops[i].op;
			n->n_neg = qparse_strops[i].neg;
			*out = n;
			return 0;
		}
	if (qp_is(t, "in") || qp_is(t, "!in") || qp_is(t, "in~") ||
	    qp_is(t, "!in~")) {
		qp_next(p);
		snprintf(what, sizeof(what), "the list of '%s'", t->s);
		if (qp_list(p, &list, &nl, what) == -1)
			return -1;
		if (nl == 0)
			return qp_fail_at(p, t, "'%s' needs at least one value",
			    t->s);
		if ((all = qarena_alloc(p->a, (nl + 1) * sizeof(*all))) ==
		    NULL)
			return qp_oom(p);
		all[0] = ops[0];
		memcpy(all + 1, list, nl * sizeof(*list));
		if ((n = qp_node_ops(p, QN_IN, t, all, nl + 1)) == NULL)
			return -1;
		n->n_neg = t->s[0] == '!';
		n->n_ci = t->s[t->sn - 1] == '~';
		*out = n;
		return 0;
	}
	if (qp_is(t, "between") || qp_is(t, "!between")) {
		qp_next(p);
		if (qp_cur(p)->kind != TK_LPAREN)
			return qp_expected(p, "'('");
		qp_next(p);
		if (qp_add(p, &ops[1]) == -1)
			return -1;
		if (qp_cur(p)->kind != TK_DOTDOT)
			return qp_expected(p, "'..'");
		qp_next(p);
		if (qp_add(p, &ops[2]) == -1)
			return -1;
		if (qp_cur(p)->kind != TK_RPAREN)
			return qp_expected(p, "')'");
		qp_next(p);
		if ((n = qp_node_ops(p, QN_BETWEEN, t, ops, 3)) == NULL)
			return -1;
		n->n_neg = t->s[0] == '!';
		*out = n;
		return 0;
	}
	*out = ops[0];
	return 0;
}

static int
qp_and(struct qparser *p, struct qnode **out)
{
	const struct qtok	*t;
	struct qnode		*ops[2];

	if (qp_cmp(p, &ops[0]) == -1)
		return -1;
	while (qp_is(t = qp_cur(p), "and")) {
		qp_next(p);
		if (qp_cmp(p, &ops[1]) == -1)
			return -1;
		if ((ops[0] = qp_node_ops(p, QN_AND, t, ops, 2)) == NULL)
			return -1;
	}
	*out = ops[0];
	return 0;
}

static int
qp_expr(struct qparser *p, struct qnode **out)
{
	const struct qtok	*t;
	struct qnode		*ops[2];

	if (++p->depth > QPARSE_DEPTH_MAX)
		return qp_fail_at(p, qp_cur(p), "expression nested too deeply");
	if (qp_and(p, &ops[0]) == -1)
		return -1;
	while (qp_is(t = qp_cur(p), "or")) {
		qp_next(p);
		if (qp_and(p, &ops[1]) == -1)
			return -1;
		if ((ops[0] = qp_node_ops(p, QN_OR, t, ops, 2)) == NULL)
			return -1;
	}
	p->depth--;
	*out = ops[0];
	return 0;
}

/* Does the current token end an operator's list? */
static int
qp_at_end(const struct qparser *p)
{
	enum qtk	k = qp_cur(p)->kind;

	return k == TK_EOF || k == TK_PIPE;
}

/* Grow an item array by one (in the arena). */
static struct qitem *
qp_item_add(struct qparser *p, struct qitem **v, size_t *n, size_t *cap)
{
	struct qitem	*nv;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		if ((nv = qarena_alloc(p->a, *cap * sizeof(*nv))) == NULL) {
			qp_oom(p);
			return NULL;
		}
		if (*n > 0)
			memcpy(nv, *v, *n * sizeof(*nv));
		*v = nv;
	}
	memset(&(*v)[*n], 0, sizeof(**v));
	return &(*v)[(*n)++];
}

/*
 * item {',' item}, each "[NAME =] expr" (named) or "expr key-options"
 * (sort keys).  Stops before 'by' when stop_at_by.
 */
static int
qp_items(struct qparser *p, struct qitem **out, size_t *nout, int named,
    int sortkeys, int stop_at_by)
{
	const struct qtok	*t;
	struct qitem		*v = NULL, *it;
	size_t			 n = 0, cap = 0;

	for (;;) {
		t = qp_cur(p);
		if ((it = qp_item_add(p, &v, &n, &cap)) == NULL)
			return -1;
		it->i_line = t->line;
		it->i_col = t->col;
		if (named && t->kind == TK_IDENT && t->s[0] != '!' &&
		    p->t[p->i + 1].kind == TK_ASSIGN) {
			it->i_name = t->s;
			qp_next(p);
			qp_next(p);
		}
		if (qp_expr(p, &it->i_e) == -1)
			return -1;
		if (sortkeys) {
			it->i_desc = 1;		/* Kusto sorts descending */
			if (qp_is(qp_cur(p), "asc") ||
			    qp_is(qp_cur(p), "desc"))
				it->i_desc = qp_is(qp_next(p), "desc");
			it->i_nulls_first = !it->i_desc;
			if (qp_is(qp_cur(p), "nulls")) {
				qp_next(p);
				if (!qp_is(qp_cur(p), "first") &&
				    !qp_is(qp_cur(p), "last"))
					return qp_expected(p,
					    "'first' or 'last'");
				it->i_nulls_first = qp_is(qp_next(p), "first");
			}
		}
		if (qp_cur(p)->kind != TK_COMMA)
			break;
		qp_next(p);
		if (stop_at_by && qp_is(qp_cur(p), "by"))
			return qp_expected(p, "an expression");
	}
	*out = v;
	*nout = n;
	return 0;
}

/* project-away: names, with '*' as a wildcard ("Res*", "*Id"). */
static int
qp_patterns(struct qparser *p, struct qop *op)
{
	const struct qtok	*t, *first;
	struct qitem		*it;
	size_t			 cap = 0;

	for (;;) {
		first = t = qp_cur(p);
		if (t->kind != TK_IDENT && t->kind != TK_STAR)
			return qp_expected(p, "a column name");
		if (t->kind == TK_IDENT && t->s[0] == '!')
			return qp_expected(p, "a column name");
		/* The pattern is the adjacent run of names and stars. */
		do {
			qp_next(p);
			t = qp_cur(p);
		} while ((t->kind == TK_IDENT || t->kind == TK_STAR) &&
		    t->p == p->t[p->i - 1].p + p->t[p->i - 1].n);
		if ((it = qp_item_add(p, &op->o_items, &op->o_nitems, &cap)) ==
		    NULL)
			return -1;
		it->i_line = first->line;
		it->i_col = first->col;
		if ((it->i_name = qarena_strndup(p->a, first->p,
		    (size_t)(p->t[p->i - 1].p + p->t[p->i - 1].n - first->p))) ==
		    NULL)
			return qp_oom(p);
		if (qp_cur(p)->kind != TK_COMMA)
			return 0;
		qp_next(p);
	}
}

/* project-rename NEW = OLD, ... */
static int
qp_renames(struct qparser *p, struct qop *op)
{
	const struct qtok	*t;
	struct qitem		*it;
	size_t			 cap = 0;

	for (;;) {
		t = qp_cur(p);
		if (t->kind != TK_IDENT || t->s[0] == '!')
			return qp_expected(p, "a new column name");
		if ((it = qp_item_add(p, &op->o_items, &op->o_nitems, &cap)) ==
		    NULL)
			return -1;
		it->i_line = t->line;
		it->i_col = t->col;
		it->i_name = qp_next(p)->s;
		if (qp_cur(p)->kind != TK_ASSIGN)
			return qp_expected(p, "'='");
		qp_next(p);
		t = qp_cur(p);
		if (t->kind != TK_IDENT || t->s[0] == '!')
			return qp_expected(p, "the column to rename");
		if ((it->i_e = qp_node(p, QN_COL, t)) == NULL)
			return -1;
		it->i_e->n_name = qp_next(p)->s;
		if (qp_cur(p)->kind != TK_COMMA)
			return 0;
		qp_next(p);
	}
}

static int
qp_count_arg(struct qparser *p, struct qop *op)
{
	if (qp_cur(p)->kind != TK_LONG || qp_cur(p)->l < 0)
		return qp_expected(p, "a row count (0 or more)");
	op->o_n = qp_next(p)->l;
	return 0;
}

static const char qp_opnames[] = "where, project, project-away, "
    "project-rename, extend, summarize, sort, order, take, limit, top, "
    "count, distinct or render";

static int
qp_operator(struct qparser *p, struct qop *op)
{
	const struct qtok	*t = qp_cur(p);
	char			 found[48];

	op->o_line = t->line;
	op->o_col = t->col;
	if (t->kind != TK_IDENT)
		return qp_expected(p, "an operator");
	qp_next(p);
	if (qp_is(t, "where") || qp_is(t, "filter")) {
		op->o_kind = QO_WHERE;
		return qp_expr(p, &op->o_pred);
	}
	if (qp_is(t, "project") || qp_is(t, "extend")) {
		op->o_kind = qp_is(t, "project") ? QO_PROJECT : QO_EXTEND;
		return qp_items(p, &op->o_items, &op->o_nitems, 1, 0, 0);
	}
	if (qp_is(t, "project-away")) {
		op->o_kind = QO_PROJECT_AWAY;
		return qp_patterns(p, op);
	}
	if (qp_is(t, "project-rename")) {
		op->o_kind = QO_PROJECT_RENAME;
		return qp_renames(p, op);
	}
	if (qp_is(t, "summarize")) {
		op->o_kind = QO_SUMMARIZE;
		if (qp_at_end(p))
			return qp_expected(p,
			    "an aggregation such as count() or 'by'");
		if (!qp_is(qp_cur(p), "by") && qp_items(p, &op->o_items,
		    &op->o_nitems, 1, 0, 1) == -1)
			return -1;
		if (qp_is(qp_cur(p), "by")) {
			qp_next(p);
			return qp_items(p, &op->o_by, &op->o_nby, 1, 0, 0);
		}
		return 0;
	}
	if (qp_is(t, "sort") || qp_is(t, "order")) {
		op->o_kind = QO_SORT;
		if (!qp_is(qp_cur(p), "by"))
			return qp_expected(p, "'by'");
		qp_next(p);
		return qp_items(p, &op->o_items, &op->o_nitems, 0, 1, 0);
	}
	if (qp_is(t, "take") || qp_is(t, "limit")) {
		op->o_kind = QO_TAKE;
		return qp_count_arg(p, op);
	}
	if (qp_is(t, "top")) {
		op->o_kind = QO_TOP;
		if (qp_count_arg(p, op) == -1)
			return -1;
		if (!qp_is(qp_cur(p), "by"))
			return qp_expected(p, "'by'");
		qp_next(p);
		if (qp_items(p, &op->o_items, &op->o_nitems, 0, 1, 0) == -1)
			return -1;
		if (op->o_nitems != 1)
			return qp_fail_at(p, &p->t[p->i - 1],
			    "top takes one sort key");
		return 0;
	}
	if (qp_is(t, "count")) {
		op->o_kind = QO_COUNT;
		return 0;
	}
	if (qp_is(t, "distinct")) {
		op->o_kind = QO_DISTINCT;
		if (qp_cur(p)->kind == TK_STAR) {
			qp_next(p);
			op->o_star = 1;
			return 0;
		}
		return qp_items(p, &op->o_items, &op->o_nitems, 1, 0, 0);
	}
	qp_show(t, found, sizeof(found));
	return qp_fail_at(p, t, "unknown operator %s, expected %s", found,
	    qp_opnames);
}

/* ---- render ------------------------------------------------------------ */

static const char *const qp_visualizations[] = {
	"anomalychart", "areachart", "barchart", "card", "columnchart",
	"ladderchart", "linechart", "piechart", "pivotchart", "scatterchart",
	"stackedareachart", "table", "timechart", "timepivot", "treemap", NULL
};

static const char *const qp_render_props[] = {
	"accumulate", "anomalycolumns", "kind", "legend", "series", "title",
	"xaxis", "xcolumn", "xtitle", "yaxis", "ycolumns", "ymax", "ymin",
	"ysplit", "ytitle", NULL
};

static int
qp_in(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

/* One property value as JSON text, into the arena. */
static int
qp_render_value(struct qparser *p, const char *name, const char **out)
{
	const struct qtok	*t;
	struct buf		 b = BUF_INIT;
	char			 num[QVAL_TEXT_MAX];
	int			 list, neg = 0, rc = -1;

	list = strcmp(name, "ycolumns") == 0 || strcmp(name, "series") == 0 ||
	    strcmp(name, "anomalycolumns") == 0;
	if (list) {
		/* Column names, comma-separated, up to the next "name =". */
		buf_putc(&b, '[');
		for (;;) {
			t = qp_cur(p);
			if (t->kind != TK_IDENT) {
				rc = qp_expected(p, "a column name");
				goto out;
			}
			if (b.len > 1)
				buf_putc(&b, ',');
			buf_json_str(&b, t->s, t->sn);
			qp_next(p);
			if (qp_cur(p)->kind != TK_COMMA ||
			    p->t[p->i + 1].kind != TK_IDENT ||
			    p->t[p->i + 2].kind == TK_ASSIGN)
				break;
			qp_next(p);
		}
		buf_putc(&b, ']');
	} else {
		if (qp_cur(p)->kind == TK_MINUS) {
			neg = 1;
			qp_next(p);
		}
		t = qp_cur(p);
		if (t->kind == TK_LONG)
			buf_printf(&b, "%s%lld", neg ? "-" : "", (long long)t->l);
		else if (t->kind == TK_REAL)	/* finite: the lexer saw to it */
			buf_append(&b, num, qreal_format(neg ? -t->r : t->r,
			    num));
		else if (neg) {
			rc = qp_expected(p, "a number");
			goto out;
		} else if (t->kind == TK_STRING)
			buf_json_str(&b, t->s, t->sn);
		else if (qp_is(t, "true") || qp_is(t, "false"))
			buf_puts(&b, t->s);
		else if (t->kind == TK_IDENT)
			buf_json_str(&b, t->s, t->sn);
		else {
			rc = qp_expected(p, "a property value");
			goto out;
		}
		qp_next(p);
	}
	if (b.data == NULL || (*out = qarena_strndup(p->a, b.data, b.len)) ==
	    NULL)
		rc = qp_oom(p);
	else
		rc = 0;
out:
	buf_free(&b);
	return rc;
}

/* render VISUALIZATION [with (name = value, ...)], the query's last
 * operator, as Kusto has it. */
static int
qp_render(struct qparser *p, struct qrender_spec *r)
{
	const struct qtok	*t = qp_cur(p);
	struct qrprop		*pr;
	char			 found[48];

	if (t->kind != TK_IDENT || !qp_in(t->s, qp_visualizations)) {
		qp_show(t, found, sizeof(found));
		return qp_fail_at(p, t, "unknown visualization %s, expected "
		    "timechart, barchart, columnchart, piechart, linechart, "
		    "areachart, scatterchart, table, card, ...", found);
	}
	r->r_vis = qp_next(p)->s;
	if (qp_is(qp_cur(p), "with")) {
		qp_next(p);
		if (qp_cur(p)->kind != TK_LPAREN)
			return qp_expected(p, "'('");
		qp_next(p);
		for (;;) {
			t = qp_cur(p);
			if (t->kind != TK_IDENT || !qp_in(t->s,
			    qp_render_props)) {
				qp_show(t, found, sizeof(found));
				return qp_fail_at(p, t, "unknown render property "
				    "%s, expected title, xcolumn, ycolumns, "
				    "series, kind, legend, xtitle, ytitle, ymin, "
				    "ymax, ...", found);
			}
			if (r->r_nprops == QRENDER_PROPS_MAX)
				return qp_fail_at(p, t, "too many render "
				    "properties");
			pr = &r->r_props[r->r_nprops++];
			pr->p_name = qp_next(p)->s;
			if (qp_cur(p)->kind != TK_ASSIGN)
				return qp_expected(p, "'='");
			qp_next(p);
			if (qp_render_value(p, pr->p_name, &pr->p_text) == -1)
				return -1;
			if (qp_cur(p)->kind == TK_RPAREN)
				break;
			if (qp_cur(p)->kind != TK_COMMA)
				return qp_expected(p, "',' or ')'");
			qp_next(p);
		}
		qp_next(p);
	}
	if (qp_cur(p)->kind != TK_EOF)
		return qp_fail_at(p, qp_cur(p), "render must be the last "
		    "operator of the query");
	return 0;
}

int
qparse(const char *src, size_t len, struct qarena *a, struct qast *ast,
    struct err *e)
{
	struct qparser	 p;
	struct qop	*nv;
	size_t		 cap = 0;

	memset(&p, 0, sizeof(p));
	memset(ast, 0, sizeof(*ast));
	p.a = a;
	p.e = e;
	if (qlex(src, len, a, (struct qtok **)&p.t, &p.n, e) == -1)
		return -1;
	if (qp_cur(&p)->kind != TK_IDENT)
		return qp_expected(&p, "a table name");
	if (qp_cur(&p)->n > ROUTE_NAME_MAX)
		return qp_fail_at(&p, qp_cur(&p),
		    "table name is longer than %d characters", ROUTE_NAME_MAX);
	ast->q_line = qp_cur(&p)->line;
	ast->q_col = qp_cur(&p)->col;
	ast->q_table = qp_next(&p)->s;
	while (qp_cur(&p)->kind != TK_EOF) {
		if (qp_cur(&p)->kind != TK_PIPE)
			return qp_expected(&p, "'|' or the end of the query");
		qp_next(&p);
		if (qp_is(qp_cur(&p), "render")) {
			qp_next(&p);
			return qp_render(&p, &ast->q_render);
		}
		if (ast->q_nops == cap) {
			cap = cap ? cap * 2 : 8;
			if ((nv = qarena_alloc(a, cap * sizeof(*nv))) == NULL)
				return qp_oom(&p);
			if (ast->q_nops > 0)
				memcpy(nv, ast->q_ops,
				    ast->q_nops * sizeof(*nv));
			ast->q_ops = nv;
		}
		memset(&ast->q_ops[ast->q_nops], 0, sizeof(*nv));
		if (qp_operator(&p, &ast->q_ops[ast->q_nops++]) == -1)
			return -1;
	}
	return 0;
}
