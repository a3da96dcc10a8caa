/*
 * query_lex.c - the query text as tokens.
 *
 * Hand-written: KQL's lexical rules are few but context-bound, which a
 * generated scanner handles no better.  The contextual cases:
 *   - the first token is the table name, [A-Za-z0-9_-]+ (SPEC 1);
 *   - "project-away", "project-rename" ... are one identifier;
 *   - "!contains", "!in", "in~", "!in~" ... are one identifier, so the
 *     parser sees negated operators as words;
 *   - datetime(...) is one token: its argument is a date, not tokens;
 *   - a number followed by a unit (1d, 2h, 30m, 10s, 100ms) is a timespan.
 * Comments run from "//" to the end of the line.  Columns count
 * characters (UTF-8 continuation bytes do not count).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

struct qlex {
	const char	*src;
	size_t		 len;
	size_t		 pos;
	int		 line, col;
	struct qarena	*arena;
	struct err	*e;
};

static const char *qtk_names[TK__COUNT] = {
	[TK_EOF] = "end of query", [TK_IDENT] = "identifier",
	[TK_STRING] = "string", [TK_LONG] = "number", [TK_REAL] = "number",
	[TK_TIMESPAN] = "timespan", [TK_DATETIME] = "datetime",
	[TK_PIPE] = "'|'", [TK_LPAREN] = "'('", [TK_RPAREN] = "')'",
	[TK_LBRACKET] = "'['", [TK_RBRACKET] = "']'", [TK_COMMA] = "','",
	[TK_DOT] = "'.'", [TK_DOTDOT] = "'..'", [TK_ASSIGN] = "'='",
	[TK_EQ] = "'=='", [TK_NE] = "'!='", [TK_LT] = "'<'", [TK_LE] = "'<='",
	[TK_GT] = "'>'", [TK_GE] = "'>='", [TK_EQ_CI] = "'=~'",
	[TK_NE_CI] = "'!~'", [TK_PLUS] = "'+'", [TK_MINUS] = "'-'",
	[TK_STAR] = "'*'", [TK_SLASH] = "'/'", [TK_PERCENT] = "'%'",
};

const char *
qtk_name(enum qtk k)
{
	return (k >= 0 && k < TK__COUNT) ? qtk_names[k] : "token";
}

static int
qlex_fail(struct qlex *lx, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
qlex_fail(struct qlex *lx, int line, int col, const char *fmt, ...)
{
	char	 msg[200];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(lx->e, ERR_QUERY_SYNTAX_ERROR, "line %d, column %d: %s",
	    line, col, msg);
}

static int
qlex_oom(struct qlex *lx)
{
	return err_set(lx->e, ERR_OUT_OF_MEMORY, "query text");
}

static int
qlex_peek(const struct qlex *lx, size_t ahead)
{
	return lx->pos + ahead < lx->len ?
	    (unsigned char)lx->src[lx->pos + ahead] : -1;
}

/* Step over one byte, keeping line and column. */
static void
qlex_step(struct qlex *lx)
{
	unsigned char	c = (unsigned char)lx->src[lx->pos++];

	if (c == '\n') {
		lx->line++;
		lx->col = 1;
	} else if ((c & 0xc0) != 0x80)
		lx->col++;
}

static int
qlex_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int
qlex_digit(int c)
{
	return c >= '0' && c <= '9';
}

static void
qlex_space(struct qlex *lx)
{
	int	c;

	for (;;) {
		c = qlex_peek(lx, 0);
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
		    c == '\f' || c == '\v')
			qlex_step(lx);
		else if (c == '/' && qlex_peek(lx, 1) == '/') {
			while ((c = qlex_peek(lx, 0)) != -1 && c != '\n')
				qlex_step(lx);
		} else
			return;
	}
}

/* Text of a token for messages: at most 32 bytes, printable. */
static void
qlex_show(const char *p, size_t n, char *out, size_t outlen)
{
	size_t	i, k = 0;

	for (i = 0; i < n && k + 4 < outlen && i < 32; i++)
		out[k++] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
	if (i < n && k + 4 < outlen) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

static const struct {
	const char	*name;
	int64_t		 ticks;
} qlex_units[] = {
	{ "d", QTICKS_PER_DAY }, { "day", QTICKS_PER_DAY },
	{ "days", QTICKS_PER_DAY },
	{ "h", 3600 * QTICKS_PER_SEC }, { "hr", 3600 * QTICKS_PER_SEC },
	{ "hrs", 3600 * QTICKS_PER_SEC }, { "hour", 3600 * QTICKS_PER_SEC },
	{ "hours", 3600 * QTICKS_PER_SEC },
	{ "m", 60 * QTICKS_PER_SEC }, { "min", 60 * QTICKS_PER_SEC },
	{ "minute", 60 * QTICKS_PER_SEC }, { "minutes", 60 * QTICKS_PER_SEC },
	{ "s", QTICKS_PER_SEC }, { "sec", QTICKS_PER_SEC },
	{ "second", QTICKS_PER_SEC }, { "seconds", QTICKS_PER_SEC },
	{ "ms", QTICKS_PER_MS }, { "milli", QTICKS_PER_MS },
	{ "millis", QTICKS_PER_MS }, { "millisecond", QTICKS_PER_MS },
	{ "milliseconds", QTICKS_PER_MS },
	{ "microsecond", 10 }, { "microseconds", 10 },
	{ "tick", 1 }, { "ticks", 1 },
};

/* A number, possibly with a timespan unit. */
static int
qlex_number(struct qlex *lx, struct qtok *t)
{
	const char	*s = lx->src + lx->pos, *u;
	size_t		 i = 0, un, k;
	int		 real = 0;
	char		 show[48], num[64];
	double		 r;
	long long	 l;

	while (qlex_digit(qlex_peek(lx, i)))
		i++;
	/* "1..5" is 1, '..', 5: a '.' is a decimal point only before a
	 * digit. */
	if (qlex_peek(lx, i) == '.' && qlex_digit(qlex_peek(lx, i + 1))) {
		real = 1;
		for (i++; qlex_digit(qlex_peek(lx, i)); i++)
			;
	}
	if ((qlex_peek(lx, i) == 'e' || qlex_peek(lx, i) == 'E') &&
	    (qlex_digit(qlex_peek(lx, i + 1)) ||
	    ((qlex_peek(lx, i + 1) == '+' || qlex_peek(lx, i + 1) == '-') &&
	    qlex_digit(qlex_peek(lx, i + 2))))) {
		real = 1;
		for (i += 2; qlex_digit(qlex_peek(lx, i)); i++)
			;
	}
	u = s + i;
	for (un = 0; qlex_alpha(qlex_peek(lx, i + un)) ||
	    qlex_digit(qlex_peek(lx, i + un)); un++)
		;
	t->p = s;
	t->n = i + un;
	qlex_show(s, t->n, show, sizeof(show));
	/* The text need not be NUL-terminated: convert a copy. */
	if (i >= sizeof(num))
		return qlex_fail(lx, t->line, t->col, "number '%s' is too long",
		    show);
	memcpy(num, s, i);
	num[i] = '\0';
	if (un > 0) {
		for (k = 0; k < sizeof(qlex_units) / sizeof(qlex_units[0]); k++)
			if (strlen(qlex_units[k].name) == un &&
			    memcmp(qlex_units[k].name, u, un) == 0)
				break;
		if (k == sizeof(qlex_units) / sizeof(qlex_units[0]))
			return qlex_fail(lx, t->line, t->col,
			    "invalid number '%s': unknown timespan unit", show);
		r = strtod(num, NULL);
		r *= (double)qlex_units[k].ticks;
		if (!(fabs(r) <= (double)QTIME_MAX))
			return qlex_fail(lx, t->line, t->col,
			    "timespan '%s' is out of range", show);
		t->kind = TK_TIMESPAN;
		t->l = (int64_t)llround(r);
	} else if (real) {
		errno = 0;
		t->r = strtod(num, NULL);
		if (errno == ERANGE && isinf(t->r))
			return qlex_fail(lx, t->line, t->col,
			    "number '%s' is out of range", show);
		t->kind = TK_REAL;
	} else {
		errno = 0;
		l = strtoll(num, NULL, 10);
		if (errno == ERANGE)
			return qlex_fail(lx, t->line, t->col,
			    "number '%s' is out of range for a long", show);
		t->kind = TK_LONG;
		t->l = l;
	}
	for (k = 0; k < t->n; k++)
		qlex_step(lx);
	return 0;
}

/* "..." or '...' with backslash escapes; @"..." verbatim, where a doubled
 * quote stands for one. */
static int
qlex_string(struct qlex *lx, struct qtok *t)
{
	size_t		 start = lx->pos, k, n = 0;
	int		 verbatim = 0, q, c, h;
	unsigned long	 cp;
	char		*out;

	if (qlex_peek(lx, 0) == '@') {
		verbatim = 1;
		qlex_step(lx);
	}
	q = qlex_peek(lx, 0);
	qlex_step(lx);
	/* The decoded text is never longer than the source. */
	if ((out = qarena_alloc(lx->arena, lx->len - lx->pos + 1)) == NULL)
		return qlex_oom(lx);
	for (;;) {
		c = qlex_peek(lx, 0);
		if (c == -1 || c == '\n')
			return qlex_fail(lx, t->line, t->col,
			    "unterminated string literal");
		qlex_step(lx);
		if (c == q) {
			if (verbatim && qlex_peek(lx, 0) == q) {
				qlex_step(lx);
				out[n++] = (char)q;
				continue;
			}
			break;
		}
		if (c != '\\' || verbatim) {
			out[n++] = (char)c;
			continue;
		}
		c = qlex_peek(lx, 0);
		if (c == -1)
			continue;	/* reported as unterminated above */
		switch (c) {
		case 'n':  out[n++] = '\n'; break;
		case 't':  out[n++] = '\t'; break;
		case 'r':  out[n++] = '\r'; break;
		case '0':  out[n++] = '\0'; break;
		case '\\': case '"': case '\'':
			out[n++] = (char)c;
			break;
		case 'u':
			for (cp = 0, k = 1; k <= 4; k++) {
				h = qlex_peek(lx, k);
				if (h >= '0' && h <= '9')
					cp = cp * 16 + (unsigned long)(h - '0');
				else if ((h | 0x20) >= 'a' && (h | 0x20) <= 'f')
					cp = cp * 16 +
					    (unsigned long)((h | 0x20) - 'a' + 10);
				else
					return qlex_fail(lx, lx->line, lx->col - 1,
					    "expected 4 hex digits after \\u");
			}
			if (cp >= 0xd800 && cp <= 0xdfff)
				return qlex_fail(lx, lx->line, lx->col - 1,
				    "\\u%04lx is a surrogate", cp);
			/* \uXXXX (6 bytes) never decodes to more than 3. */
			n += utf8_put(cp, out + n);
			for (k = 0; k < 4; k++)
				qlex_step(lx);
			break;
		default:
			return qlex_fail(lx, lx->line, lx->col - 1,
			    "unknown escape '\\%c' in string", c >= 0x20 &&
			    c < 0x7f ? c : '?');
		}
		qlex_step(lx);
	}
	out[n] = '\0';
	t->kind = TK_STRING;
	t->p = lx->src + start;
	t->n = lx->pos - start;
	t->s = out;
	t->sn = n;
	return 0;
}

/* datetime(...): the name has been read; what is between the parentheses
 * is a date, quoted or not. */
static int
qlex_datetime(struct qlex *lx, struct qtok *t)
{
	const char	*a;
	size_t		 an;
	char		 show[48];
	int		 c;

	qlex_space(lx);
	qlex_step(lx);		/* '(' */
	qlex_space(lx);
	a = lx->src + lx->pos;
	while ((c = qlex_peek(lx, 0)) != -1 && c != ')' && c != '\n')
		qlex_step(lx);
	if (c != ')')
		return qlex_fail(lx, lx->line, lx->col,
		    "expected ')' to close datetime(");
	an = (size_t)(lx->src + lx->pos - a);
	while (an > 0 && (a[an - 1] == ' ' || a[an - 1] == '\t'))
		an--;
	if (an >= 2 && (a[0] == '"' || a[0] == '\'') && a[an - 1] == a[0]) {
		a++;
		an -= 2;
	}
	qlex_step(lx);		/* ')' */
	t->kind = TK_DATETIME;
	t->n = (size_t)(lx->src + lx->pos - t->p);
	if (qtime_parse(a, an, 0, &t->l) == -1) {
		qlex_show(a, an, show, sizeof(show));
		return qlex_fail(lx, t->line, t->col,
		    "invalid datetime '%s': expected YYYY-MM-DD[Thh:mm[:ss]]",
		    show);
	}
	return 0;
}

static int
qlex_word_is(const char *p, size_t n, const char *w)
{
	return strlen(w) == n && memcmp(p, w, n) == 0;
}

/* Identifiers, with the glued forms described at the top. */
/* The next n bytes are an identifier token: take them. */
static int
qlex_take_ident(struct qlex *lx, struct qtok *t, size_t n)
{
	size_t k;

	t->kind = TK_IDENT;
	t->p = lx->src + lx->pos;
	t->n = n;
	if ((t->s = qarena_strndup(lx->arena, t->p, n)) == NULL)
		return qlex_oom(lx);
	t->sn = n;
	for (k = 0; k < n; k++)
		qlex_step(lx);
	return 0;
}

static int
qlex_ident(struct qlex *lx, struct qtok *t)
{
	static const char *dashed[] = { "-away", "-rename" };
	size_t		 i = 0, k, dl;
	int		 c;

	if (qlex_peek(lx, 0) == '!')
		i = 1;
	while (qlex_alpha(c = qlex_peek(lx, i)) || qlex_digit(c))
		i++;
	if (qlex_word_is(lx->src + lx->pos, i, "project"))
		for (k = 0; k < sizeof(dashed) / sizeof(dashed[0]); k++) {
			dl = strlen(dashed[k]);
			if (lx->len - lx->pos - i >= dl &&
			    memcmp(lx->src + lx->pos + i, dashed[k], dl) == 0 &&
			    !qlex_alpha(qlex_peek(lx, i + dl)) &&
			    !qlex_digit(qlex_peek(lx, i + dl))) {
				i += dl;
				break;
			}
		}
	if ((qlex_word_is(lx->src + lx->pos, i, "in") ||
	    qlex_word_is(lx->src + lx->pos, i, "!in")) &&
	    qlex_peek(lx, i) == '~')
		i++;
	if (qlex_take_ident(lx, t, i) == -1)
		return -1;
	if (qlex_word_is(t->p, t->n, "datetime")) {
		k = lx->pos;
		while (k < lx->len && (lx->src[k] == ' ' || lx->src[k] == '\t'))
			k++;
		if (k < lx->len && lx->src[k] == '(')
			return qlex_datetime(lx, t);
	}
	return 0;
}

static int
qlex_table(struct qlex *lx, struct qtok *t)
{
	size_t	 i = 0;
	int	 c;

	while (qlex_alpha(c = qlex_peek(lx, i)) || qlex_digit(c) || c == '-')
		i++;
	return qlex_take_ident(lx, t, i);
}

/* Operators and punctuation, longest match first. */
static const struct {
	const char	*text;
	enum qtk	 kind;
} qlex_puncts[] = {
	{ "==", TK_EQ }, { "!=", TK_NE }, { "<>", TK_NE }, { "<=", TK_LE },
	{ ">=", TK_GE }, { "=~", TK_EQ_CI }, { "!~", TK_NE_CI },
	{ "..", TK_DOTDOT },
	{ "|", TK_PIPE }, { "(", TK_LPAREN }, { ")", TK_RPAREN },
	{ "[", TK_LBRACKET }, { "]", TK_RBRACKET }, { ",", TK_COMMA },
	{ ".", TK_DOT }, { "=", TK_ASSIGN }, { "<", TK_LT }, { ">", TK_GT },
	{ "+", TK_PLUS }, { "-", TK_MINUS }, { "*", TK_STAR },
	{ "/", TK_SLASH }, { "%", TK_PERCENT },
};

static int
qlex_one(struct qlex *lx, struct qtok *t, int first)
{
	size_t	 k, pl;
	int	 c, c1;

	memset(t, 0, sizeof(*t));
	t->line = lx->line;
	t->col = lx->col;
	t->p = lx->src + lx->pos;
	c = qlex_peek(lx, 0);
	c1 = qlex_peek(lx, 1);
	if (c == -1) {
		t->kind = TK_EOF;
		return 0;
	}
	if (first && (qlex_alpha(c) || qlex_digit(c) || c == '-'))
		return qlex_table(lx, t);
	if (qlex_digit(c) || (c == '.' && qlex_digit(c1)))
		return qlex_number(lx, t);
	if (c == '"' || c == '\'' || (c == '@' && (c1 == '"' || c1 == '\'')))
		return qlex_string(lx, t);
	if (qlex_alpha(c) || (c == '!' && qlex_alpha(c1)))
		return qlex_ident(lx, t);
	for (k = 0; k < sizeof(qlex_puncts) / sizeof(qlex_puncts[0]); k++) {
		pl = strlen(qlex_puncts[k].text);
		if (lx->len - lx->pos >= pl &&
		    memcmp(lx->src + lx->pos, qlex_puncts[k].text, pl) == 0) {
			t->kind = qlex_puncts[k].kind;
			t->n = pl;
			while (pl-- > 0)
				qlex_step(lx);
			return 0;
		}
	}
	if (c >= 0x20 && c < 0x7f)
		return qlex_fail(lx, t->line, t->col,
		    "unexpected character '%c'", c);
	return qlex_fail(lx, t->line, t->col, "unexpected byte 0x%02x", c);
}

int
qlex(const char *src, size_t len, struct qarena *a, struct qtok **toks,
    size_t *ntoks, struct err *e)
{
	struct qlex	 lx = { src, len, 0, 1, 1, a, e };
	struct qtok	*v, *nv;
	size_t		 n = 0, cap = 16;

	if ((v = qarena_alloc(a, cap * sizeof(*v))) == NULL)
		return qlex_oom(&lx);
	for (;;) {
		if (n == cap) {
			if ((nv = qarena_alloc(a, 2 * cap * sizeof(*v))) ==
			    NULL)
				return qlex_oom(&lx);
			memcpy(nv, v, cap * sizeof(*v));
			v = nv;
			cap *= 2;
		}
		qlex_space(&lx);
		if (qlex_one(&lx, &v[n], n == 0) == -1)
			return -1;
		if (v[n++].kind == TK_EOF)
			break;
	}
	*toks = v;
	*ntoks = n;
	return 0;
}
