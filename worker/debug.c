/*
 * debug.c - sleep, crash and allocate on demand, so tests can provoke
 * every fault a worker must be isolated from.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "debug.h"

/* Integer field `name` of the JSON object body, 0..max; -1 if missing or
 * of the wrong type or range. */
static long
debug_arg(const struct item_req *rq, const char *name, long max)
{
	json_tokener	*tok;
	json_object	*o, *v;
	long		 n = -1;
	int64_t		 x;

	if (rq->body == NULL || rq->body_kind != BODY_OBJECT)
		return -1;
	if ((tok = json_tokener_new()) == NULL)
		return -1;
	o = json_tokener_parse_ex(tok, rq->body, (int)rq->body_len);
	json_tokener_free(tok);
	if (o != NULL && json_object_object_get_ex(o, name, &v) &&
	    json_object_is_type(v, json_type_int)) {
		x = json_object_get_int64(v);
		if (x >= 0 && x <= max)
			n = (long)x;
	}
	json_object_put(o);
	return n;
}

static int
debug_sleep(const struct item_req *rq, struct item_res *res)
{
	struct timespec	 ts;
	long		 ms = debug_arg(rq, "ms", 86400000L);

	if (ms < 0)
		return item_res_error(res, ERR_BAD_REQUEST,
		    "body must be {\"ms\": N}, 0 <= N <= 86400000");
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
	res->status = 200;
	return buf_printf(&res->body, "{\"slept_ms\":%ld}", ms) == -1 ? -1 : 0;
}

static int
debug_alloc(const struct item_req *rq, struct item_res *res)
{
	long	 mb = debug_arg(rq, "mb", 1L << 20);
	size_t	 n;
	char	*p;

	if (mb < 0)
		return item_res_error(res, ERR_BAD_REQUEST,
		    "body must be {\"mb\": N}, 0 <= N <= 1048576");
	n = (size_t)mb << 20;
	if ((p = malloc(n ? n : 1)) == NULL) {
		item_res_error(res, ERR_OUT_OF_MEMORY,
		    "allocation exceeded worker_memory_mb");
		return -1;
	}
	/* Touch every page: the memory must really be had. */
	memset(p, 0xa5, n);
	free(p);
	res->status = 200;
	return buf_printf(&res->body, "{\"allocated_mb\":%ld}", mb) == -1 ?
	    -1 : 0;
}

int
debug_exec(const struct item_req *rq, struct item_res *res)
{
	switch (rq->op) {
	case OP_DEBUG_SLEEP:
		return debug_sleep(rq, res);
	case OP_DEBUG_ALLOC:
		return debug_alloc(rq, res);
	case OP_DEBUG_CRASH:
		abort();
	default:
		return item_res_error(res, ERR_INTERNAL, "not a debug operation");
	}
}
