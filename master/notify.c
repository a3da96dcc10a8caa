/*
 * notify.c - systemd's service protocol, through libsystemd's sd_notify(3):
 * READY=1 once the socket is bound and every worker has opened the store,
 * RELOADING=1 / READY=1 around a SIGHUP, STOPPING=1 at shutdown, and
 * WATCHDOG=1 from a timer of the master's event loop, so a loop that
 * stops turning stops feeding the watchdog.
 *
 * Outside systemd (no NOTIFY_SOCKET) every call here is a no-op.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "master.h"

void
notify_ready(struct master *m)
{
	sd_notifyf(0, "READY=1\nMAINPID=%ld\nSTATUS=listening on %s, %ld "
	    "workers", (long)getpid(), m->bound_name, m->cfg.workers);
}

void
notify_reloading(void)
{
	struct timespec	 ts;

	/* MONOTONIC_USEC: what systemd 253's Type=notify-reload expects;
	 * older systemd ignores it. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
}

void
notify_reloaded(void)
{
	sd_notify(0, "READY=1");
}

void
notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

static void
notify_on_watchdog(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

/* With WatchdogSec= set, feed it at half the interval, as sd_watchdog_
 * enabled(3) advises. */
int
notify_watchdog_start(struct master *m)
{
	struct timeval	 tv;
	uint64_t	 usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	usec /= 2;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	m->ev_watchdog = event_new(m->base, -1, EV_PERSIST, notify_on_watchdog,
	    m);
	if (m->ev_watchdog == NULL || event_add(m->ev_watchdog, &tv) == -1) {
		log_error("systemd watchdog: cannot add its timer");
		return -1;
	}
	sd_notify(0, "WATCHDOG=1");
	log_info("systemd watchdog: fed every %llu ms",
	    (unsigned long long)usec / 1000);
	return 0;
}

void
notify_watchdog_stop(struct master *m)
{
	if (m->ev_watchdog != NULL)
		event_free(m->ev_watchdog);
	m->ev_watchdog = NULL;
}
