/*
 * log.h - one line per event, the master's and every worker's alike:
 * UTC time, level, [pid], message, written with one write(2) to standard
 * error.
 *
 * With `log_file` set, that file is opened and dup2()ed onto standard
 * error, so a forked worker inherits it (worker_detach() closes every
 * other descriptor) and a line needs no lock.  Reopening (SIGUSR1, after
 * logrotate moved the file) is done by each process for itself: the
 * master from its event loop, a worker between items; their signal
 * handlers only set a flag.
 */
#ifndef BATCHD_LOG_H
#define BATCHD_LOG_H

#include <stddef.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG, LOG_LEVEL__COUNT };

/* "error", "warn", "info", "debug": the only place they are spelled. */
const char	*log_level_name(enum log_level);
/* Case-insensitive name to level; -1 if it is none of them. */
int		 log_level_parse(const char *, enum log_level *);
/* "error, warn, info or debug" (sep_last " or ") or "error|warn|..."
 * (sep and sep_last "|"), for messages and documentation. */
void		 log_level_list(char *out, size_t len, const char *sep,
		    const char *sep_last);

void	log_init(enum log_level);
/*
 * Send every later line to path (appended, created 0640), or to the
 * standard error the process was started with when path is "" or NULL.
 * -1 with a reason in err (the old destination is kept).
 */
int	log_open(const char *path, char *err, size_t errlen);
/* Open the same file again (it was rotated); a no-op for stderr. */
int	log_reopen(char *err, size_t errlen);
/* The file lines go to, "" for standard error. */
const char *log_path(void);

void	log_msg(enum log_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A message already formatted (len bytes, no newline), written as
 * log_msg() would: for the line of every request, where printf would
 * cost more than the rest of the request's own work. */
void	log_line(enum log_level, const char *msg, size_t len);
/* Would a line of this level be written? */
int	log_enabled(enum log_level);
/*
 * Between log_hold() and log_release() lines are kept (up to 16 KiB,
 * then written) and written together by log_release(), each still whole
 * and in order: one write(2) for a burst of lines.  A forked child starts
 * with none held.
 */
void	log_hold(void);
void	log_release(void);
#define log_error(...)	log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
