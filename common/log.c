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

#include "fmt.h"
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
static char		 log_pidstr[FMT_U64_MAX + 1];
static size_t		 log_pidlen;
static time_t		 log_sec = -1;
static char		 log_stamp[64];		/* "YYYY-MM-DDTHH:MM:SS" */
static size_t		 log_stamplen;

/*
 * Lines kept by log_hold() until log_release(): the master holds them
 * while it answers a burst of completions, so the burst's access lines
 * cost one write(2), not one each.  Each line stays whole and in order.
 */
#define LOG_HELD_MAX	16384
static char		 log_held[LOG_HELD_MAX];
static size_t		 log_nheld;
static int		 log_holding;

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
log_set_pid(void)
{
	log_pid = getpid();
	log_pidlen = (size_t)(fmt_u64(log_pidstr, (uint64_t)log_pid) -
	    log_pidstr);
}

static void
log_forked(void)
{
	/* The parent's held lines are the parent's to write. */
	log_nheld = 0;
	log_holding = 0;
	log_set_pid();
}

static void
log_flush(void)
{
	size_t n = log_nheld;

	log_nheld = 0;
	if (n > 0 && write(STDERR_FILENO, log_held, n) < 0)
		return;
}

void
log_hold(void)
{
	log_holding = 1;
}

void
log_release(void)
{
	log_holding = 0;
	log_flush();
}

/* One write(2) per line, or one per held run of lines: lines of
 * different processes never mix (O_APPEND keeps them whole in a file). */
static void
log_put(const char *line, size_t n)
{
	if (log_holding) {
		if (log_nheld + n > sizeof(log_held))
			log_flush();
		if (n <= sizeof(log_held)) {
			memcpy(log_held + log_nheld, line, n);
			log_nheld += n;
			return;
		}
	}
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

void
log_init(enum log_level level)
{
	static int atfork;

	log_level = level;
	log_set_pid();
	if (!atfork && pthread_atfork(NULL, NULL, log_forked) == 0)
		atfork = 1;
}

/* Open path and put it on standard error; the old file is let go by the
 * dup2() itself, so no line is ever written to a closed descriptor. */
static int
log_attach(const char *path, char *err, size_t errlen)
{
	int	 fd;

	log_flush();	/* held lines belong to the old destination */
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

/* "2026-12-05T00:41:31.123Z info [4242] " into line (64 bytes at most). */
static size_t
log_prefix(char *line, const char *label)
{
	struct timeval	 tv;
	struct tm	 tm;
	char		*p;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != log_sec) {
		gmtime_r(&tv.tv_sec, &tm);
		log_stamplen = (size_t)snprintf(log_stamp, sizeof(log_stamp),
		    "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec);
		log_sec = tv.tv_sec;
	}
	if (log_pid == 0)
		log_set_pid();
	p = fmt_mem(line, log_stamp, log_stamplen);
	*p++ = '.';
	p = fmt_u64_pad(p, (uint64_t)tv.tv_usec / 1000, 3);
	*p++ = 'Z';
	*p++ = ' ';
	p = fmt_strn(p, label, 8);
	*p++ = ' ';
	*p++ = '[';
	p = fmt_mem(p, log_pidstr, log_pidlen);
	*p++ = ']';
	*p++ = ' ';
	return (size_t)(p - line);
}

/* No byte of p[0..8) is below 0x20 or is 0x7f: the word tests "has a
 * byte less than n" and "has a zero byte" (of x ^ 0x7f...), which never
 * miss one (a false alarm only sends the bytes through one by one). */
static int
log_clean8(const char *p)
{
	const uint64_t	ones = 0x0101010101010101ULL;
	const uint64_t	high = 0x8080808080808080ULL;
	uint64_t	x, y;

	memcpy(&x, p, 8);
	y = x ^ (0x7f * ones);
	return (((x - 0x20 * ones) & ~x) | ((y - ones) & ~y)) & high ? 0 : 1;
}

/*
 * The message is line[n..n+m) (m cut here to what fits): control bytes
 * made harmless, the newline added, the line written.
 */
static void
log_finish(char *line, size_t size, size_t n, size_t m)
{
	char *p, *e;

	if (m > size - n - 2)
		m = size - n - 2;
	/* Messages quote client bytes (paths, item ids): none of them may
	 * start a line of their own.  Eight bytes at a time are let through
	 * when none is below 0x20 or 0x7f (most never are). */
	for (p = line + n, e = p + m; p < e; p++) {
		while (e - p >= 8 && log_clean8(p))
			p += 8;
		if (p < e && ((unsigned char)*p < 0x20 || *p == 0x7f))
			*p = '?';
	}
	n += m;
	line[n++] = '\n';
	log_put(line, n);
}

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

void
log_line(enum log_level level, const char *msg, size_t len)
{
	char	line[2048];
	size_t	n;

	if (level > log_level)
		return;
	n = log_prefix(line, log_level_name(level));
	if (len > sizeof(line) - n - 2)
		len = sizeof(line) - n - 2;
	memcpy(line + n, msg, len);
	log_finish(line, sizeof(line), n, len);
}

int
log_enabled(enum log_level level)
{
	return level <= log_level;
}

static void
log_vline(const char *label, const char *fmt, va_list ap)
{
	char	line[2048];
	size_t	n;
	int	m;

	n = log_prefix(line, label);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	log_finish(line, sizeof(line), n, m > 0 ? (size_t)m : 0);
}
