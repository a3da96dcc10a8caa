/*
 * query.h - the KQL-style query language of SPEC section 5, executed in a
 * worker against one table of the store.
 */
#ifndef BATCHD_QUERY_H
#define BATCHD_QUERY_H

#include <stdint.h>

#include "item.h"
#include "store.h"

struct query_limits {
	long	 max_rows_scanned;	/* query_max_rows_scanned */
	long	 max_result_rows;	/* query_max_result_rows: more rows
					 * answer the first ones and a
					 * PartialError */
	size_t	 max_result_bytes;	/* max_result_bytes */
	long	 max_workspaces;	/* query_max_workspaces */
};

/* What the request asked for beside the query (Prefer, prefer.h). */
struct query_opts {
	uint32_t prefer;		/* PREFER_STATS | PREFER_RENDER */
};

/*
 * Run the query of rq (OP_QUERY: from rq->query/rq->timespan for GET, or
 * from the JSON body {"query": "...", "timespan": "PT1H"} for POST) over
 * the workspace rq->ws.  now_ms is the wall clock in ms since the epoch
 * (ago(), now(), timespan).  Always fills res; returns -1 only when memory
 * ran out (res is then 507).
 */
int	query_exec(struct store *, const struct item_req *rq,
	    const struct query_limits *, int64_t now_ms, struct item_res *res);

/* Parallel scans (shm.h, query_par.c): when a query may be split. */
struct query_par_cfg {
	long	 rows;		/* query_parallel_rows: split above; 0 never */
	long	 parts;		/* parts to cut it into; < 2: never split */
	int	 debug;		/* debug_ops: honour the body's "debug" */
};
/*
 * query_exec() for any query item: OP_QUERY (answered with parts, res
 * comp_flags COMP_F_SPLIT, when cfg allows and the table is large; cfg
 * NULL: never), OP_QUERY_PART (a partial result) and OP_QUERY_MERGE (the
 * query's answer from its parts' results).
 */
int	query_exec_par(struct store *, const struct item_req *rq,
	    const struct query_limits *, const struct query_par_cfg *cfg,
	    int64_t now_ms, struct item_res *res);

#endif
