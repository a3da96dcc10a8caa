/*
 * buf.h - growable byte buffer.
 *
 * Every producer of response bytes (workers building item results, the
 * master splicing batch answers) appends into a struct buf.  Functions
 * return 0 on success and -1 when memory cannot be had; on failure the
 * buffer keeps its previous contents, so a worker under RLIMIT_AS can still
 * answer OUT_OF_MEMORY.
 */
#ifndef BATCHD_BUF_H
#define BATCHD_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct buf {
	char	*data;		/* NUL-terminated when len < cap */
	size_t	 len;
	size_t	 cap;
};

#define BUF_INIT { NULL, 0, 0 }

int	buf_reserve(struct buf *, size_t extra);
int	buf_append(struct buf *, const void *, size_t);
int	buf_puts(struct buf *, const char *);
int	buf_putc(struct buf *, char);
int	buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Append s[0..n) as a JSON string literal, quotes included. */
int	buf_json_str(struct buf *, const char *s, size_t n);
void	buf_reset(struct buf *);
void	buf_free(struct buf *);

#endif
