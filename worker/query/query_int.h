/*
 * query_int.h - private to the query engine (worker/query/ and its unit
 * tests and fuzz harness): values, tokens, the syntax tree and the
 * executor.  The rest of the worker sees only query.h.
 *
 * A query goes through these steps, one file each:
 *
 *   query_lex.c     text -> array of tokens (with line and column)
 *   query_parse.c   tokens -> struct qast (table name + one struct qop per
 *                   "| operator"), by recursive descent
 *   query_plan.c    resolves column names against each stage's schema and
 *                   builds a chain of stages
 *   query_ops.c     the stages at run time: rows pushed down the chain
 *   query_render.c  writes the Azure Log Analytics answer
 *   query_exec.c    runs the steps: pulls rows from a row source (the
 *                   store, or an in-memory table in the tests)
 *   query_eval.c    evaluates one expression over one row
 *   query_row.c     reads the fields of a stored row in place
 *
 * query_val.c holds what they share: typed values, time parsing and
 * printing, arenas, the byte-key hash set and the integer set.
 *
 * Prefixes: qlex_ (query_lex.c), qparse / qp_ (query_parse.c), qeval /
 * qe_ (query_eval.c), qplan (query_plan.c), qops_ (query_ops.c),
 * qrender_ (query_render.c), qrow_ (query_row.c), qx_ and query_run /
 * query_exec (query_exec.c); query_val.c's are named for their object
 * (qval_, qtime_, qspan_, qarena_, qhset_, qidset_).
 *
 * Conventions: functions return 0 or -1; on -1 a struct err is filled
 * (ERR_QUERY_SYNTAX_ERROR with "line L, column C: ..." in the detail for
 * anything wrong with the text, ERR_QUERY_SEMANTIC_ERROR for a column no
 * row has, ERR_OUT_OF_MEMORY when memory ran out).
 * Everything the parser produces lives in one arena, freed at once.
 *
 * Time: datetime and timespan values are int64 ticks of 100 ns (Kusto's
 * unit); a datetime counts ticks since 1970-01-01T00:00:00Z.
 */
#ifndef BATCHD_QUERY_INT_H
#define BATCHD_QUERY_INT_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "json_scan.h"
#include "query.h"

#define QTICKS_PER_MS		10000LL
#define QTICKS_PER_SEC		10000000LL
#define QTICKS_PER_DAY		(86400LL * QTICKS_PER_SEC)
/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.9999999Z. */
#define QTIME_MIN		(-621355968000000000LL)
#define QTIME_MAX		(2534023007999999999LL)

/* Longest text a value can print as without a buffer (times, numbers). */
#define QVAL_TEXT_MAX		48

/* ---- arenas (query_val.c) --------------------------------------------- */

/* A bump allocator: the parser's tree, per-row temporaries, hash keys. */
struct qarena {
	struct qchunk	*a_head;	/* newest chunk first */
	size_t		 a_grow;	/* size of the next chunk; 0: smallest */
};

void	*qarena_alloc(struct qarena *, size_t);	/* NULL: out of memory */
char	*qarena_strndup(struct qarena *, const char *, size_t);
/* Drop everything but keep the newest chunk for reuse. */
void	 qarena_reset(struct qarena *);
void	 qarena_free(struct qarena *);

/* ---- values (query_val.c) --------------------------------------------- */

enum qtype {
	QV_NULL = 0,		/* also "type unknown" in static typing */
	QV_BOOL,
	QV_LONG,
	QV_REAL,
	QV_DATETIME,
	QV_TIMESPAN,
	QV_STRING,
	QV_DYNAMIC,		/* a JSON object or array */
	QV__COUNT
};

struct qval {
	enum qtype	 t;
	int		 own;	/* s.p is malloc'ed / j holds a reference:
				 * release with qval_clear() */
	union {
		int		 b;
		int64_t		 l;	/* long; ticks for datetime, timespan */
		double		 r;
		struct {
			const char	*p;
			size_t		 n;
		}		 s;
		json_object	*j;
	} u;
};

const char	*qtype_name(enum qtype);
/* Read a JSON value of a row without copying: strings point into j.
 * A string of the form YYYY-MM-DDThh:mm:ss[.f...](Z|+hh:mm) reads as a
 * datetime (rows carry TimeGenerated as such strings). */
void		 qval_from_json(json_object *, struct qval *);
/* A string s[0..n) of a row, typed as qval_from_json types it. */
void		 qval_from_str(const char *s, size_t n, struct qval *);
/* Deep copy (strings duplicated, JSON referenced); -1 on ENOMEM. */
int		 qval_copy(struct qval *dst, const struct qval *src);
void		 qval_clear(struct qval *);
/* Total order used by sort, top, min and max: null first, then numbers
 * (long and real compared as numbers), bools, datetimes, timespans,
 * strings (bytewise), dynamic (as JSON text). */
int		 qval_order(const struct qval *, const struct qval *);
/* Append a self-delimiting encoding of v (type tag + payload): equal
 * encodings mean equal group keys / distinct values. */
int		 qval_key(struct buf *, const struct qval *);
/* The same with exact = 1 keeps a real's bits (-0.0, NaN payloads): how a
 * part of a split query sends values (shm.h, split_partial). */
int		 qval_encode(struct buf *, const struct qval *, int exact);
/* Append v as a value of the answer's rows (see query_exec.c for the
 * format of each type). */
int		 qval_json(struct buf *, const struct qval *);
/* v as text, the way tostring() prints it; small values go into tmp
 * (QVAL_TEXT_MAX bytes), dynamic values into the arena.  NULL on ENOMEM. */
const char	*qval_text(const struct qval *, char *tmp, struct qarena *,
		    size_t *len);

/* ISO-8601 date and time.  strict: the form rows use (see qval_from_json);
 * otherwise also "YYYY-MM-DD", a space instead of 'T', no seconds, no
 * zone (UTC).  0 or -1. */
int		 qtime_parse(const char *, size_t, int strict, int64_t *ticks);
/* "2024-01-01T00:00:00Z", with ".fffffff" trimmed of trailing zeros when
 * the time is not a whole second.  Returns the length. */
size_t		 qtime_format(int64_t ticks, char out[QVAL_TEXT_MAX]);
/* Kusto's timespan text: "[-][d.]hh:mm:ss[.fffffff]". */
size_t		 qspan_format(int64_t ticks, char out[QVAL_TEXT_MAX]);
/* ISO-8601 duration: P[nW][nD][T[nH][nM][nS]] (fractions allowed; no
 * years or months, which are not fixed spans).  0 or -1. */
int		 qspan_parse_iso(const char *, size_t, int64_t *ticks);
/* Shortest text of a real that reads back to the same double. */
size_t		 qreal_format(double, char out[QVAL_TEXT_MAX]);

/* ---- byte-key hash set (query_val.c) ---------------------------------- */

/* Maps byte strings to dense indexes 0, 1, 2... in first-seen order:
 * summarize groups, distinct rows, dcount values. */
struct qhset {
	struct qhent	*h_tab;
	size_t		 h_cap;		/* power of two, or 0 */
	size_t		 h_n;
	struct qarena	 h_keys;	/* copies of the keys */
};

/* Find key; when absent add it with index h_n.  *idx gets the index and
 * *added whether it was new.  -1 on ENOMEM. */
int	qhset_put(struct qhset *, const void *key, size_t n, size_t *idx,
	    int *added);
void	qhset_free(struct qhset *);
/* The key in slot j (0..h_cap-1), its length and its index (idx may be
 * NULL), or NULL when the slot is empty: every key, by walking the
 * slots. */
const char *qhset_slot(const struct qhset *, size_t j, size_t *n,
	    size_t *idx);

/* ---- small integer set (query_val.c) ---------------------------------- */

/*
 * A set of 32-bit ids: what a summarize group keeps for dcount, the ids
 * its values have in the stage's dictionary (a struct qhset of value
 * keys), so that a value is hashed as bytes once per row and a group's
 * set costs 4 bytes a value instead of a copy of the value and a byte-key
 * entry.  Open addressing with linear probing over a power-of-two table
 * kept at most 3/4 full (8 slots to start); the slot of an id is the top
 * bits of a multiplicative hash, so dense ids spread.  QIDSET_EMPTY marks
 * a free slot and is never an id.  Zeroed: the empty set.
 */
#define QIDSET_EMPTY	UINT32_MAX
struct qidset {
	uint32_t	*i_tab;
	uint32_t	 i_cap;		/* power of two, or 0 */
	uint32_t	 i_n;		/* ids in the set */
};

/* Add id (< QIDSET_EMPTY): 1 when new, 0 when there, -1 on ENOMEM. */
int	qidset_add(struct qidset *, uint32_t id);
void	qidset_free(struct qidset *);

/* ---- tokens (query_lex.c) --------------------------------------------- */

enum qtk {
	TK_EOF = 0,
	TK_IDENT,		/* names and keywords; also "project-away",
				 * "!contains", "in~" */
	TK_STRING,		/* "..." '...' @"..." */
	TK_LONG,
	TK_REAL,
	TK_TIMESPAN,		/* 1d 2h 30m 10s 100ms ... */
	TK_DATETIME,		/* datetime(...) in one token */
	TK_PIPE,
	TK_LPAREN,
	TK_RPAREN,
	TK_LBRACKET,
	TK_RBRACKET,
	TK_COMMA,
	TK_DOT,
	TK_DOTDOT,
	TK_ASSIGN,		/* = */
	TK_EQ,			/* == */
	TK_NE,			/* != and <> */
	TK_LT,
	TK_LE,
	TK_GT,
	TK_GE,
	TK_EQ_CI,		/* =~ */
	TK_NE_CI,		/* !~ */
	TK_PLUS,
	TK_MINUS,
	TK_STAR,
	TK_SLASH,
	TK_PERCENT,
	TK__COUNT
};

struct qtok {
	enum qtk	 kind;
	int		 line, col;	/* 1-based; columns count characters */
	const char	*p;		/* the source text of the token */
	size_t		 n;
	const char	*s;		/* TK_IDENT: the name; TK_STRING: the
					 * decoded text (NUL-terminated) */
	size_t		 sn;
	int64_t		 l;		/* TK_LONG; ticks for TK_TIMESPAN and
					 * TK_DATETIME */
	double		 r;		/* TK_REAL */
};

/* Split src into tokens ending with one TK_EOF (placed at the end of the
 * text).  The first token of a query is the table name and may hold any
 * of [A-Za-z0-9_-].  Tokens live in the arena. */
int		 qlex(const char *src, size_t len, struct qarena *,
		    struct qtok **toks, size_t *ntoks, struct err *);
const char	*qtk_name(enum qtk);

/* ---- syntax tree (query_parse.c) -------------------------------------- */

enum qnk {
	QN_LIT = 0,		/* n_lit */
	QN_COL,			/* n_name; n_slot after resolution */
	QN_NEG,			/* - a[0] */
	QN_BIN,			/* a[0] n_op a[1]: arithmetic, comparison */
	QN_AND,
	QN_OR,
	QN_STR,			/* a[0] n_op a[1]: string operators */
	QN_IN,			/* a[0] in (a[1..]) */
	QN_BETWEEN,		/* a[0] between (a[1] .. a[2]) */
	QN_CALL,		/* n_op is an enum qfn */
	QN_AGG,			/* n_op is an enum qagg; n_slot its index */
	QN_MEMBER,		/* a[0].n_name */
	QN_INDEX		/* a[0][a[1]] */
};

enum qbin {
	QB_ADD = 0, QB_SUB, QB_MUL, QB_DIV, QB_MOD,
	QB_EQ, QB_NE, QB_LT, QB_LE, QB_GT, QB_GE
};

enum qstrop {
	QS_EQ_CI = 0,		/* =~ (n_neg: !~) */
	QS_CONTAINS,		/* case-insensitive, as Kusto */
	QS_CONTAINS_CS,
	QS_STARTSWITH,
	QS_STARTSWITH_CS,
	QS_ENDSWITH,
	QS_ENDSWITH_CS,
	QS_HAS,			/* whole term, case-insensitive */
	QS_HAS_CS
};

enum qfn {
	QF_NOT = 0, QF_ISNULL, QF_ISNOTNULL, QF_ISEMPTY, QF_ISNOTEMPTY,
	QF_AGO, QF_NOW, QF_BIN, QF_STARTOFDAY, QF_TOSTRING, QF_TOLONG,
	QF_TODOUBLE, QF_TODATETIME, QF_TOLOWER, QF_TOUPPER, QF_STRLEN,
	QF_STRCAT, QF_IFF, QF_ABS, QF_ROUND
};

enum qagg {
	QA_COUNT = 0, QA_COUNTIF, QA_SUM, QA_SUMIF, QA_AVG, QA_AVGIF, QA_MIN,
	QA_MAX, QA_DCOUNT, QA_DCOUNTIF
};

struct qnode {
	enum qnk	 n_kind;
	int		 n_op;		/* enum qbin, qstrop, qfn or qagg */
	int		 n_neg;		/* !contains, !in, !between, !~ ... */
	int		 n_ci;		/* in~ */
	int		 n_line, n_col;
	struct qval	 n_lit;
	const char	*n_name;	/* column, function or member name */
	int		 n_slot;	/* QN_COL: fixed column or -1 (a field
					 * of the stored row); QN_AGG: index */
	int		 n_fld;		/* QN_COL, QN_MEMBER: the stored field
					 * it reads (struct qfield), or -1 */
	struct qnode	**n_a;
	size_t		 n_na;
	int		 n_depth;	/* height of the tree below: evaluation
					 * recurses this deep */
};

enum qopk {
	QO_WHERE = 0, QO_PROJECT, QO_PROJECT_AWAY, QO_PROJECT_RENAME,
	QO_EXTEND, QO_SUMMARIZE, QO_SORT, QO_TAKE, QO_TOP, QO_COUNT,
	QO_DISTINCT
};

/* One element of an operator's list: "name = expr", "expr", a sort key
 * "expr desc nulls last", a project-away name or a rename. */
struct qitem {
	const char	*i_name;	/* written name, or NULL */
	struct qnode	*i_e;
	int		 i_desc;
	int		 i_nulls_first;
	int		 i_line, i_col;
};

struct qop {
	enum qopk	 o_kind;
	int		 o_line, o_col;
	struct qnode	*o_pred;	/* where */
	struct qitem	*o_items;	/* project, extend, aggregates, keys,
					 * project-away patterns, renames
					 * (i_name = new, i_e = old column) */
	size_t		 o_nitems;
	struct qitem	*o_by;		/* summarize ... by */
	size_t		 o_nby;
	int64_t		 o_n;		/* take, top */
	int		 o_star;	/* distinct * */
};

/* "| render VISUALIZATION [with (name = value, ...)]": how a client
 * should draw the result; it changes nothing in the result itself. */
#define QRENDER_PROPS_MAX	16
struct qrprop {
	const char	*p_name;	/* as written, lower-cased */
	const char	*p_text;	/* JSON text of the value (arena) */
};
struct qrender_spec {
	const char	*r_vis;		/* NULL: no render operator */
	struct qrprop	 r_props[QRENDER_PROPS_MAX];
	size_t		 r_nprops;
};

struct qast {
	const char	*q_table;
	int		 q_line, q_col;
	struct qop	*q_ops;
	size_t		 q_nops;
	struct qrender_spec q_render;
};

/* Parse a whole query.  Everything lands in the arena. */
int		 qparse(const char *src, size_t len, struct qarena *,
		    struct qast *, struct err *);
/* Name of a built-in scalar function / an aggregate (as written). */
const char	*qfn_name(enum qfn);
const char	*qagg_name(enum qagg);

/* ---- stored rows read in place (query_row.c) -------------------------- */

struct qctx;

/*
 * A stored field a query reads: a member of the row, or a member of
 * another field's object ("Properties.statusCode").  The plan lists them
 * all; a row is read only as far as the fields asked for so far, each
 * member's value skipped unless it is one of them, and a field is decoded
 * only when an expression asks for it (where first: a row it drops is
 * read no further).
 */
struct qfield {
	const char	*f_name;	/* decoded, NUL-terminated */
	size_t		 f_len;
	int		 f_parent;	/* the field whose object holds it, or
					 * -1: a member of the row */
	int		 f_next;	/* next member of the row with a name
					 * of the same length % QROW_NLEN */
	int		 f_seen;	/* some row of the table has it */
	int		 f_named;	/* named by the query (not only the
					 * timespan's TimeGenerated) */
	int		 f_line, f_col;	/* first mention, for the error */
};

/* A field in the current row. */
struct qfval {
	uint64_t	 v_gen;		/* == s_gen: found (or known absent) */
	const char	*v_p, *v_e;	/* its raw JSON value; v_p NULL: absent */
	json_object	*v_j;		/* parsed, once used as dynamic */
};

#define QROW_NLEN	32

/* The stored row being read, and the fields the plan wants. */
struct qsrc {
	struct qfield	*s_f;
	size_t		 s_nf, s_capf;
	int		 s_bylen[QROW_NLEN];	/* first member field of each
						 * name length % QROW_NLEN */
	struct qfval	*s_v;		/* s_nf of them, once planned */
	const char	*s_p, *s_e;	/* the row's JSON text */
	struct jscan_biter s_it;	/* the member walk, where it stopped */
	int		 s_walked;	/* the walk reached the end */
	int		 s_bad;		/* the text is not a JSON object */
	int		 s_parsed;	/* some v_j is set */
	uint64_t	 s_gen;		/* one per row */
};

void	qrow_init(struct qsrc *);
void	qrow_free(struct qsrc *);
/* The index of field name (of parent, or of the row when -1), added if
 * new; -1 on ENOMEM. */
int	qrow_field(struct qsrc *, int parent, const char *name, int line,
	    int col);
/* The plan is made: room for the fields' values.  0 or -1. */
int	qrow_ready(struct qsrc *);
/* Start reading the row p[0..n). */
void	qrow_open(struct qsrc *, const char *p, size_t n);
/* Field k of the current row into *out (borrowed from the row, ctx->tmp
 * or the field's parse: valid until the next qrow_open).  -1 on ENOMEM,
 * or with ctx->bad set when the row is not JSON. */
int	qrow_get(struct qctx *, struct qsrc *, int k, struct qval *out);
/* Walk the members of the row (p, e), each name decoded into ctx->tmp
 * (NUL-terminated) and each value into *v, which the caller clears
 * (dynamic values are parsed and owned).  1, 0 at the end, -1 as
 * qrow_get. */
int	qrow_member(struct qctx *, struct jscan_biter *, const char **name,
	    struct qval *v);
/* A member field the query names that no row read so far has, or -1. */
int	qrow_unseen(const struct qsrc *);
/* Walk the current row until every such field is found, the row ends or
 * its text turns out not to be JSON (the fields it has are then no
 * longer unseen). */
void	qrow_mark(struct qsrc *);
/* The JSON value raw[0..e) as a value (own = 1 when dynamic: the caller
 * clears it).  -1 as qrow_get. */
int	qrow_value(struct qctx *, const char *raw, const char *e,
	    struct qval *v);

/* ---- evaluation (query_eval.c) ---------------------------------------- */

/* A row between two stages: a stored row (src, NULL once a stage has
 * fixed the columns) and the values of the stage's own columns. */
struct qrow {
	struct qsrc	*src;
	struct qval	*cols;
};

/* What evaluation needs besides the row. */
struct qctx {
	int64_t		 now;		/* ticks */
	struct qarena	 tmp;		/* per-row temporaries */
	json_tokener	*tok;		/* parses objects and arrays of rows
					 * used as dynamic values; NULL: none
					 * yet */
	int		 bad;		/* a stored row is not JSON (the -1
					 * of qeval is not ENOMEM then) */
};

/* Evaluate n over r into *out.  out may borrow from r, n or ctx->tmp (own
 * = 0): copy it before the row goes away.  -1 only on ENOMEM. */
int		 qeval(struct qctx *, const struct qnode *, const struct qrow *,
		    struct qval *out);
/* 1 if v is bool true (where keeps the row). */
int		 qval_true(const struct qval *);
/* Kusto's result type of n when it can be known before running, else
 * QV_NULL.  cols: static types of the fixed columns. */
enum qtype	 qnode_type(const struct qnode *, const enum qtype *cols);

/* ---- the executor (query_exec.c, query_plan.c, query_ops.c,
 * query_render.c) ---------------------------------------------------- */

#define QX_JSON_DEPTH	1024

struct qschema {
	int		  s_open;	/* fields of the stored row visible */
	const char	**s_names;	/* fixed columns */
	enum qtype	 *s_types;	/* their static types (QV_NULL: ?) */
	size_t		  s_ncols;
	const char	**s_hidden;	/* patterns hiding stored fields */
	size_t		  s_nhidden;
};

/* A row kept by a buffering stage or by the answer: owns its values. */
struct qstored {
	char		*r_src;		/* a copy of the stored row, or NULL */
	size_t		 r_srclen;
	uint64_t	 r_seq;		/* arrival order: stable sorting */
	struct qval	*r_cols;
	struct qval	*r_keys;	/* sort keys */
	size_t		 r_ncols, r_nkeys;
};

struct qaggst {
	int		 a_kind;	/* sum: QV_NULL (nothing yet), QV_LONG,
					 * QV_REAL or QV_TIMESPAN */
	int64_t		 a_n;		/* count, countif, avg's count */
	int64_t		 a_l;
	double		 a_r;
	struct qval	 a_v;		/* min, max */
	struct qidset	 a_ids;		/* dcount: ids of the stage's
					 * dictionary (s_dicts) */
};

struct qgroup {
	struct qval	*g_keys;	/* the by values, owned */
	struct qaggst	*g_aggs;
};

struct qstage {
	enum qopk	  s_kind;
	const struct qop *s_op;
	struct qschema	  s_out;
	size_t		  s_nin;	/* fixed columns of input rows */
	struct qval	 *s_row;	/* the output row being built */
	const struct qitem *s_items;	/* expressions or sort keys */
	size_t		  s_nitems;
	size_t		 *s_slot;	/* extend: output slot of each item */
	int		 *s_map;	/* project-away, project-rename: input
					 * slot of each output column, or -1 */
	int		 *s_from;	/* project-rename: stored field read
					 * into a column (struct qfield), or
					 * -1 */
	int		  s_preserves;	/* no later stage drops rows */
	int		  s_sorted_after; /* a later stage reorders */
	int64_t		  s_n;		/* take, top: N */
	int64_t		  s_count;	/* take: rows passed; count: rows */
	uint64_t	  s_seq;
	struct qstored	**s_rows;	/* sort: all; top: heap of N */
	size_t		  s_nrows, s_caprows;
	struct qval	 *s_keys;	/* sort keys of the current row */
	/* summarize */
	struct qnode	**s_aggs;
	size_t		  s_naggs, s_capaggs;
	struct qval	 *s_aggv;	/* aggregate results of one group */
	struct qgroup	**s_groups;
	size_t		  s_ngroups, s_capgroups;
	struct qhset	  s_set;	/* summarize groups, distinct rows */
	struct qhset	 *s_dicts;	/* summarize: per aggregate, dcount's
					 * values (qops_key bytes) -> ids,
					 * one for all groups */
};

/* The answer being built. */
struct qsink {
	const struct qschema *k_schema;
	unsigned	*k_seen;	/* per fixed column: bit per type */
	struct buf	 k_rows;	/* closed schema: rows already written */
	long		 k_nrows;
	struct qstored	**k_kept;	/* open schema: rows kept */
	size_t		 k_nkept, k_cap;
};

struct qexec {
	struct qctx		 x_ctx;
	const struct query_limits *x_lim;
	struct err		*x_e;
	int			 x_failed;	/* x_e set by a callback */
	struct qarena		*x_arena;	/* the plan's memory */
	struct qstage		*x_st;
	size_t			 x_nst;
	struct qschema		 x_src;		/* the table: open, empty */
	struct qsink		 x_sink;
	struct qsrc		 x_row;		/* stored fields; the row read */
	int			 x_spanf;	/* the timespan's field */
	long			 x_scanned;
	uint64_t		 x_bytes;	/* stored bytes read */
	int			 x_partial;	/* result cut at max_result_rows */
	int			 x_stopped;	/* no more rows wanted */
	const struct query_opts	*x_opts;
	const struct qrender_spec *x_render;
	int			 x_span;
	int64_t			 x_span_lo, x_span_hi;
	struct buf		 x_key;
	/* Parallel scans (query_par.c) */
	int			 x_mode;	/* enum qpmode */
	int			 x_ckind;	/* enum qpcut: where parts stop */
	size_t			 x_cut;		/* ... the stage they stop at */
	size_t			 x_nst_all;	/* stages planned (a part runs
						 * fewer: x_nst) */
	struct buf		 x_pout;	/* part: its answer */
	uint64_t		 x_pnrec;	/* part: records in x_pout */
	uint32_t		 x_nparts;	/* merge: parts merged */
	uint32_t		 x_pindex;	/* part: its index */
	int64_t			 x_p_user, x_p_sys;	/* merge: parts' CPU */
	double			 x_p_exec;	/* merge: slowest part's time */
};

/* query_exec.c: errors.  Each fills x->x_e and returns -1. */
int		 qx_oom(struct qexec *);
int		 qx_syntax(struct qexec *, int line, int col, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));
int		 qx_limit_rows(struct qexec *);
int		 qx_limit_bytes(struct qexec *);
/* Would n result rows be over query_max_result_rows? */
int		 qx_over_rows(const struct qexec *, size_t n);

/* query_plan.c: build x->x_st from the tree; 0 or -1. */
int		 qplan(struct qexec *, const struct qast *);
/* Is a field of the stored row a column of the answer? */
int		 qplan_visible(const struct qschema *, const char *name);

/* query_ops.c */
/* Push row r into stage i (the answer when i is past the last stage).
 * Returns 0 to go on, 1 when no more rows are wanted, -1 on error. */
int		 qops_push(struct qexec *, size_t i, const struct qrow *);
/* The scan is over: each stage in turn passes on what it holds. */
int		 qops_flush(struct qexec *);
struct qstored	*qops_stored_new(const struct qrow *, size_t ncols,
		    const struct qval *keys, size_t nkeys, uint64_t seq);
void		 qops_stored_free(struct qstored *);
int		 qops_rows_add(struct qstored ***v, size_t *n, size_t *cap,
		    struct qstored *);
void		 qops_group_free(struct qgroup *, size_t nby, size_t naggs);
struct qgroup	*qops_group_new(const struct qval *keys, size_t nby,
		    size_t naggs);
int		 qops_group_add(struct qstage *, struct qgroup *);
/* A group or distinct key (values; every visible column of a row) into
 * x->x_key. */
int		 qops_key(struct qexec *, const struct qval *, size_t n);
int		 qops_key_row(struct qexec *, const struct qschema *,
		    const struct qrow *);

/* query_render.c */
/* A row reaches the answer: written at once (closed schema) or kept. */
int		 qrender_push(struct qexec *, const struct qrow *);
/* A row of a closed schema of ncols columns as the answer writes it,
 * "[v,...]", appended to out; the types of its values noted in seen (one
 * bit mask per column).  0, or -1 on ENOMEM. */
int		 qrender_row(struct buf *out, unsigned *seen, size_t ncols,
		    const struct qrow *);
/* A row a part wrote with qrender_row() reaches the answer, as
 * qrender_push() would have written it: 0, 1 (the answer is cut) or -1. */
int		 qrender_push_text(struct qexec *, const char *p, size_t n);
/* Write the whole answer into b. */
int		 qrender_answer(struct qexec *, struct buf *b);
/* What the answer carries beside "tables": the PartialError of a cut
 * result, the statistics and render objects the request asked for
 * (before the final '}' of b). */
struct qstats {
	double		 exec_s;	/* wall time */
	int64_t		 user_ticks, sys_ticks;	/* CPU time, 100 ns */
	long		 pid;
};
int		 qrender_extras(struct qexec *, const struct qstats *,
		    struct buf *b);

/* ---- parallel scans (query_par.c) ------------------------------------- */

enum qpmode {
	QPM_WHOLE = 0,		/* the whole query in one worker */
	QPM_SPLIT,		/* may answer with parts instead (COMP_F_SPLIT) */
	QPM_PART,		/* one part: a partial result (shm.h) */
	QPM_MERGE		/* the parts' partial results into the answer */
};

/* Where a part stops (the first stage that is not where, project,
 * project-away, project-rename or extend) and what it sends. */
enum qpcut {
	QPC_SINK = 0,		/* no such stage: the rows of the answer */
	QPC_SORT,		/* the rows that reach the sort */
	QPC_TOP,		/* its N rows */
	QPC_TAKE,		/* its N rows */
	QPC_DISTINCT,		/* its distinct rows */
	QPC_COUNT,		/* the count */
	QPC_GROUPS		/* summarize's groups, partial aggregates */
};

struct qpar;
/* QPM_SPLIT: the source's own splitting (the store's: query_exec.c).
 * Returns 1 when it answered res with the parts, 0 to run the query
 * whole, -1 with x->x_e set. */
typedef int (*qpar_split_fn)(void *srcarg, struct qexec *x,
    const char *table, const struct qpar *, struct item_res *res);

struct qpar {
	enum qpmode	 p_mode;
	/* QPM_SPLIT */
	qpar_split_fn	 p_split;
	uint64_t	 p_rows;	/* query_parallel_rows */
	uint32_t	 p_nparts;	/* parts to make */
	uint32_t	 p_debug;	/* SPLIT_DEBUG_* for the parts */
	uint32_t	 p_debug_part;
	int64_t		 p_debug_ms;
	/* QPM_PART */
	uint32_t	 p_index;
	/* QPM_MERGE: the parts' answers, in part order */
	const struct route_str *p_parts;
};

/* The cut of the plan x (x_cut gets its stage). */
enum qpcut	 qpar_cut(struct qexec *x);
/* Can the scan stop before the end of the table (take, or the answer's
 * row limit), so that its length is not known beforehand? */
int		 qpar_stops_early(const struct qexec *x);
/* A part: run only up to the cut (call after qplan). */
void		 qpar_part_begin(struct qexec *x);
/* A row reaches the end of a part's stages. */
int		 qpar_emit(struct qexec *x, const struct qrow *r);
/* The scan of a part is over (and flushed): its answer into b. */
int		 qpar_part_end(struct qexec *x, const int64_t now_ms,
		    const struct qstats *, struct buf *b);
/* A merge: feed every part's answer into the stages, in part order. */
int		 qpar_merge(struct qexec *x, const struct qpar *par);
/*
 * The key of the row at fraction f (0..1) between stored keys a and b
 * (a <= b), as if keys were spread evenly: their common prefix, then
 * what follows read as a number and interpolated (rows keys va, va + 1,
 * ... have va + rank at f = rank / rows).  That number is the run of
 * digits both keys have there when it is 3 or more long, decimal if all
 * are decimal digits, else hexadecimal (lower case; at most 15 digits):
 * "act-00000000" to "act-00999999" at 0.25 is "act-00250000", as
 * generated ids and UUIDs are spread.  Otherwise the next 8 bytes of each
 * as big-endian numbers (trailing zero bytes dropped).  Monotonic in f.
 * Returns its length (at most outmax).
 */
size_t		 qpar_key_between(const char *a, size_t an, const char *b,
		    size_t bn, double f, char *out, size_t outmax);
/* A reader over one part's answer: bad once something was short or
 * malformed. */
struct qpr {
	const char	*p, *e;
	int		 bad;
};
/* The forms of a group's dcount ids in a part's answer (shm.h). */
#define QPAR_IDS_BITMAP	'm'
#define QPAR_IDS_U16	'h'
#define QPAR_IDS_U32	'w'
/* Append the set s of ids < d (the size of the part's dictionary) in the
 * smallest form: a bitmap of ceil(d / 8) bytes when that is smaller than
 * the list, else the list in u16 (d <= 65536) or u32.  -1 on ENOMEM. */
int		 qpar_put_ids(struct buf *, const struct qidset *s,
		    uint32_t d);
/* Read one such set into dst (NULL: only checked), each id translated
 * through tr[0..d).  -1 with r->bad set when it is short or malformed
 * (an id >= d, a count that is not the bitmap's), else on ENOMEM. */
int		 qpar_get_ids(struct qpr *r, const uint32_t *tr, uint32_t d,
		    struct qidset *dst);
/* Merge partial aggregate state src into dst for aggregate n (sum, avg
 * as sum + count, min, max, count, dcount as sets of ids of one
 * dictionary). */
int		 qpar_agg_merge(const struct qnode *n, struct qaggst *dst,
		    struct qaggst *src);
/* query_val.c: a dynamic value's compact JSON text. */
const char	*qval_dyn_text(const struct qval *, size_t *n);

/* ---- running a query (query_exec.c) ----------------------------------- */

/* A source of rows: calls cb for each row of table, in key order, until
 * cb returns non-zero.  Returns 0, or -1 with e set (ERR_NOT_FOUND when
 * the table does not exist). */
typedef int (*query_source_fn)(void *arg, const char *table,
    store_row_cb cb, void *cbarg, struct err *e);

/*
 * Run query text q (with the request's timespan, or ts == NULL) over the
 * rows src gives.  Always fills res; returns -1 only when memory ran out
 * (res is then 507).  query_exec() is this with the store as the source.
 */
int	query_run(const char *q, size_t qlen, const char *ts, size_t tslen,
	    const struct query_limits *, int64_t now_ms, query_source_fn src,
	    void *srcarg, const struct query_opts *, struct item_res *res);
/* The same in one of the modes of parallel scans (par NULL: whole). */
int	query_run_par(const char *q, size_t qlen, const char *ts,
	    size_t tslen, const struct query_limits *, int64_t now_ms,
	    query_source_fn src, void *srcarg, const struct query_opts *,
	    const struct qpar *par, struct item_res *res);

#endif
