/*
 * log.c - one line per event on stderr: UTC time, level, message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "master.h"

static enum log_level	log_level = LOG_LEVEL_INFO;
static const char	*log_names[] = { "error", "warn", "info", "debug" };

void
log_init(enum log_level level)
{
	log_level = level;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	char		 line[2048];
	struct timeval	 tv;
	struct tm	 tm;
	va_list		 ap;
	int		 n, m;

	if (level > log_level)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s [%ld] ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)tv.tv_usec / 1000, log_names[level],
	    (long)getpid());
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
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
