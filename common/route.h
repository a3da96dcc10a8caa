/*
 * route.h - the one dispatch table from (method, path) to operation.
 *
 * The master resolves every plain request and every batch item through
 * route_resolve(): unknown paths, wrong methods, bad names and nested
 * batches are answered from here, and workers receive the operation
 * already decoded (workspace, table, key, scan parameters).
 */
#ifndef BATCHD_ROUTE_H
#define BATCHD_ROUTE_H

#include <stddef.h>

#include "errors.h"

enum route_method {
	METHOD_GET = 0,
	METHOD_PUT,
	METHOD_POST,
	METHOD_PATCH,
	METHOD_DELETE,
	METHOD__COUNT
};

enum route_op {
	OP_NONE = 0,
	OP_TABLES_LIST,		/* GET    /workspaces/{ws}/tables */
	OP_TABLE_DROP,		/* DELETE /workspaces/{ws}/tables/{t} */
	OP_ROWS_SCAN,		/* GET    /workspaces/{ws}/tables/{t}/rows */
	OP_ROW_CREATE,		/* POST   /workspaces/{ws}/tables/{t}/rows */
	OP_ROW_GET,		/* GET    .../rows/{key} */
	OP_ROW_PUT,		/* PUT    .../rows/{key} */
	OP_ROW_PATCH,		/* PATCH  .../rows/{key} */
	OP_ROW_DELETE,		/* DELETE .../rows/{key} */
	OP_QUERY,		/* GET|POST /workspaces/{ws}/query */
	OP_DEBUG_SLEEP,		/* POST /debug/sleep {"ms":N} */
	OP_DEBUG_CRASH,		/* POST /debug/crash */
	OP_DEBUG_ALLOC,		/* POST /debug/alloc {"mb":N} */
	OP_GROUP,		/* not routable: an atomicity group's items,
				 * run in one write transaction (shm.h) */
	OP_ASYNC_SAVE,		/* not routable: store async results */
	OP_ASYNC_GET,		/* not routable: read an async batch */
	OP_ASYNC_PURGE,		/* not routable: drop expired async batches */
	OP_QUERY_PART,		/* not routable: one part of a split query
				 * (parallel scans, shm.h) */
	OP_QUERY_MERGE,		/* not routable: a split query's merge */
	OP__COUNT
};

#define ROUTE_NAME_MAX		64	/* workspace and table names */
#define ROUTE_KEY_MAX		512	/* row keys, bytes of UTF-8 */
#define ROUTE_LIMIT_DEFAULT	100
#define ROUTE_LIMIT_MAX		1000

/* A decoded string; p == NULL means "absent". Not NUL-terminated. */
struct route_str {
	const char	*p;
	size_t		 n;
};

struct route {
	enum route_op	 op;
	struct route_str ws, table, key;	/* path parameters */
	struct route_str prefix, after;		/* scan: ?prefix= ?after= */
	long		 limit;			/* scan: ?limit=, 1..1000 */
	struct route_str query, timespan;	/* GET query: ?query= ?timespan= */
	char		*mem;			/* the decoded strings, when
						 * they did not fit small */
	char		 small[160];		/* ... or here (most do) */
};

/* Is s a workspace or table name: [A-Za-z0-9_-]{1,64}? */
int		 route_name_ok(const struct route_str *s);
/* Method name to enum (exact upper case, as HTTP); -1 if unknown. */
int		 route_method(const char *name, size_t n);
const char	*route_method_name(enum route_method);
const char	*route_op_name(enum route_op);
/* Does this operation write to the store? */
int		 route_op_writes(enum route_op);

/*
 * Resolve a request target: a path with or without the "/v1" prefix and an
 * optional "?query" part.  On success fills r (free with route_free) and
 * returns 0.  On failure returns -1 with e set to PATH_NOT_FOUND,
 * METHOD_NOT_ALLOWED, BAD_REQUEST (bad name, key, encoding or parameter)
 * or NESTED_BATCH_NOT_ALLOWED (/$batch, /batches...), and r needs no free.
 * Debug paths exist only when debug_ops is non-zero.
 */
int		 route_resolve(enum route_method, const char *target, size_t len,
		    int debug_ops, struct route *r, struct err *e);
void		 route_free(struct route *);

/*
 * Percent-decode in[0..n) into out (room for n bytes); '+' becomes a space
 * only when plus_is_space (query strings).  Returns the decoded length, or
 * -1 on a malformed escape.
 */
long		 url_decode(const char *in, size_t n, char *out, int plus_is_space);
/* Append s[0..n) percent-encoded as one path segment. */
struct buf;
int		 url_encode_segment(struct buf *, const char *s, size_t n);
/* 1 if s[0..n) is valid UTF-8 (no overlongs, no surrogates), else 0. */
int		 utf8_valid(const char *s, size_t n);
/* Write the UTF-8 encoding of code point cp (at most 0x10FFFF) to out
 * (room for 4 bytes); its length. */
size_t		 utf8_put(unsigned long cp, char *out);

#endif
