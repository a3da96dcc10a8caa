/*
 * upgrade.c - the two halves of a zero-downtime binary upgrade (SIGUSR2),
 * as nginx does it: the running master starts the binary it was started
 * from (by then replaced on disk) with the listening socket inherited, and
 * a master so started finds that socket instead of binding its own.
 *
 * The socket's number and the old master's pid travel in the environment
 * (BATCHD_LISTEN_FD, BATCHD_UPGRADE_FROM), as nginx passes its "NGINX"
 * variable.  The rest of the hand-over is server.c's: the new master
 * starts its ring and workers, and once every worker has opened the store
 * tells the old one to hand over (SIGQUIT); the old master stops
 * accepting, answers what it has accepted, and exits.
 *
 * Only this file knows how the socket is passed: the listener (conn.c)
 * asks upgrade_inherited_fd() at start-up and hands its descriptor to
 * upgrade_start().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "master.h"

#define UPGRADE_ENV_FD		"BATCHD_LISTEN_FD"
#define UPGRADE_ENV_FROM	"BATCHD_UPGRADE_FROM"

/* A decimal in 1..max, the whole string; 0 if it is not one. */
static long
upgrade_number(const char *s, long max)
{
	char	*end;
	long	 v;

	if (s == NULL || *s == '\0')
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > max)
		return 0;
	return v;
}

int
upgrade_inherited_fd(void)
{
	const char	*s = getenv(UPGRADE_ENV_FD);
	int		 fd, listening = 0, flags;
	socklen_t	 len = sizeof(listening);

	if (s == NULL)
		return -1;
	fd = (int)upgrade_number(s, INT_MAX);
	unsetenv(UPGRADE_ENV_FD);
	/* Only a listening stream socket is taken: a stale variable must
	 * not make us accept() on whatever that number is now. */
	if (fd < 3 || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
	    &len) == -1 || !listening) {
		log_warn("upgrade: %s=%s is not a listening socket; binding "
		    "anew", UPGRADE_ENV_FD, s);
		return -1;
	}
	if ((flags = fcntl(fd, F_GETFD)) != -1)
		fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
	log_info("upgrade: listening on the inherited socket %d", fd);
	return fd;
}

pid_t
upgrade_parent(void)
{
	pid_t	 from = (pid_t)upgrade_number(getenv(UPGRADE_ENV_FROM), INT_MAX);

	unsetenv(UPGRADE_ENV_FROM);
	/* Only the master that started us; if it is gone, nobody to tell. */
	return from > 0 && from == getppid() ? from : 0;
}

pid_t
upgrade_start(const char *exe, char *const argv[], int listen_fd, char *err,
    size_t errlen)
{
	char	 num[32];
	pid_t	 pid;
	int	 flags;

	if (access(exe, X_OK) == -1) {
		snprintf(err, errlen, "%s: %s", exe, strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0)
		return pid;
	/* The child: keep the socket across exec, and nothing else of ours
	 * (everything else is close-on-exec or closed here). */
	if ((flags = fcntl(listen_fd, F_GETFD)) == -1 ||
	    fcntl(listen_fd, F_SETFD, flags & ~FD_CLOEXEC) == -1)
		_exit(127);
	if (listen_fd > 3)
		close_range(3, (unsigned)listen_fd - 1, 0);
	close_range((unsigned)listen_fd + 1, ~0U, 0);
	snprintf(num, sizeof(num), "%d", listen_fd);
	setenv(UPGRADE_ENV_FD, num, 1);
	snprintf(num, sizeof(num), "%ld", (long)getppid());
	setenv(UPGRADE_ENV_FROM, num, 1);
	/* systemd named the old master as the one that feeds the watchdog;
	 * the new one takes that over with its own pid (exec keeps it). */
	if (upgrade_number(getenv("WATCHDOG_PID"), INT_MAX) == getppid()) {
		snprintf(num, sizeof(num), "%ld", (long)getpid());
		setenv("WATCHDOG_PID", num, 1);
	}
	execv(exe, argv);
	log_error("upgrade: exec %s: %s", exe, strerror(errno));
	_exit(127);
}
