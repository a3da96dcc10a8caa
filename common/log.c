/*
 * log.c - one line per event: UTC time, level, [pid], message; one
 * write(2) per line to standard error, which log_open() may point at a
 * file (see log.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *const log_names[LOG_LEVEL__COUNT] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static enum log_level	log_level = LOG_LEVEL_INFO;
static char		log_file[4096];		/* "" = standard error */

/* The pid and the time down to the second, kept between lines: getpid()
 * is a system call in glibc, and gmtime_r() costs more than the rest of a
 * line.  A forked worker that logs learns its own pid again. */
static pid_t		 log_pid;
static time_t		 log_sec = -1;
static char		 log_stamp[64];		/* "YYYY-MM-DDTHH:MM:SS" */

const char *
log_level_name(enum log_level l)
{
	return (unsigned)l < LOG_LEVEL__COUNT ? log_names[l] : "?";
}

int
log_level_parse(const char *s, enum log_level *out)
{
	int	 i;

	for (i = 0; i < LOG_LEVEL__COUNT; i++) {
		if (strcasecmp(s, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void
log_level_list(char *out, size_t len, const char *sep, const char *sep_last)
{
	size_t	 n = 0;
	int	 i;

	if (len == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < LOG_LEVEL__COUNT && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%s%s",
		    i == 0 ? "" : i == LOG_LEVEL__COUNT - 1 ? sep_last : sep,
		    log_names[i]);
}

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

/* Open path and put it on standard error; the old file is let go by the
 * dup2() itself, so no line is ever written to a closed descriptor. */
static int
log_attach(const char *path, char *err, size_t errlen)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
	    0640);
	if (fd == -1) {
		snprintf(err, errlen, "log_file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fd != STDERR_FILENO) {
		if (dup2(fd, STDERR_FILENO) == -1) {
			snprintf(err, errlen, "log_file %s: dup2: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

int
log_open(const char *path, char *err, size_t errlen)
{
	if (path == NULL || path[0] == '\0') {
		log_file[0] = '\0';
		return 0;
	}
	if (strlen(path) >= sizeof(log_file)) {
		snprintf(err, errlen, "log_file: path too long");
		return -1;
	}
	if (log_attach(path, err, errlen) == -1)
		return -1;
	strcpy(log_file, path);
	return 0;
}

int
log_reopen(char *err, size_t errlen)
{
	if (log_file[0] == '\0')
		return 0;
	return log_attach(log_file, err, errlen);
}

const char *
log_path(void)
{
	return log_file;
}

static void	log_vline(const char *, const char *, va_list);

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_vline(log_level_name(level), fmt, ap);
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
	/* One write(2) per line: lines of different processes never mix
	 * (O_APPEND keeps them whole in a file too). */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
