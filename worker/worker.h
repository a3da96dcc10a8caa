/*
 * worker.h - a worker process: claim items from the ring, execute them,
 * publish completion records.  Never talks HTTP.
 */
#ifndef BATCHD_WORKER_H
#define BATCHD_WORKER_H

#include <sys/types.h>

#include "config.h"
#include "ring.h"
#include "wslot.h"

/* Exit codes a worker uses to tell the master why it left. */
#define WORKER_EXIT_OK		0	/* retired, recycled or shut down */
#define WORKER_EXIT_OOM		3	/* memory ran out; answered 507 */
#define WORKER_EXIT_FATAL	4	/* cannot start (store); back off */

struct worker_args {
	struct ring		 *ring;
	struct wslot		 *me;
	struct wslot		**all;	/* every slot area, to unmap others' */
	size_t			  nall;
	int			  efd;	/* eventfd: wake the master */
	const struct config	 *cfg;
	pid_t			  master;
};

/* Runs in the child after fork(); never returns. */
void	worker_run(const struct worker_args *) __attribute__((noreturn));

#endif
