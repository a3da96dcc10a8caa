/*
 * debug.h - the fault-injection operations of SPEC section 6 (debug_ops).
 */
#ifndef BATCHD_DEBUG_H
#define BATCHD_DEBUG_H

#include "item.h"

/* Run OP_DEBUG_SLEEP / CRASH / ALLOC.  Returns 0, or -1 when memory ran
 * out (res is then 507 and the worker should exit after answering). */
int	debug_exec(const struct item_req *, struct item_res *);

#endif
