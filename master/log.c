/*
 * log.c - one line per event on stderr: UTC time, level, message.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "master.h"

static enum log_level	log_level = LOG_LEVEL_INFO;
static const char	*log_names[] = { "error", "warn", "info", "debug" };

/* The pid and the time down to the second, kept between lines: getpid()
 * is a system call in glibc, and gmtime_r() costs more than the rest of a
 * line.  A forked worker that logs learns its own pid again. */
static pid_t		 log_pid;
static time_t		 log_sec = -1;
static char		 log_stamp[64];		/* "YYYY-MM-DDTHH:MM:SS" */

static void
log_forked(void)
{
	log_pid = getpid();
}

void
log_init(enum log_level level)
{
	static int atfork;

	log_level = level;
	log_pid = getpid();
	if (!atfork && pthread_atfork(NULL, NULL, log_forked) == 0)
		atfork = 1;
}

static void	log_vline(const char *, const char *, va_list);

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_vline(log_names[level], fmt, ap);
	va_end(ap);
}

/* Start-up and shutdown milestones: written whatever log_level says, so
 * scripts can wait for "listening on" (as nginx logs its notices). */
void
log_notice(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline("notice", fmt, ap);
	va_end(ap);
}

static void
log_vline(const char *label, const char *fmt, va_list ap)
{
	char		 line[2048];
	struct timeval	 tv;
	struct tm	 tm;
	int		 n, m;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != log_sec) {
		gmtime_r(&tv.tv_sec, &tm);
		snprintf(log_stamp, sizeof(log_stamp),
		    "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec);
		log_sec = tv.tv_sec;
	}
	if (log_pid == 0)
		log_pid = getpid();
	n = snprintf(line, sizeof(line), "%s.%03ldZ %s [%ld] ", log_stamp,
	    (long)tv.tv_usec / 1000, label, (long)log_pid);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m > 0) {
		/* Messages quote client bytes (paths, item ids): none of them
		 * may start a line of their own. */
		char *p, *e = line + n + ((size_t)m < sizeof(line) - (size_t)n - 1 ?
		    (size_t)m : sizeof(line) - (size_t)n - 2);

		for (p = line + n; p < e; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	}
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write(2) per line: lines of different processes never mix. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
