/*
 * prefer.h - the Prefer request header (RFC 7240) as Log Analytics reads
 * it: wait=N, include-statistics=true, include-render=true.
 *
 * Plain requests give the header's value, batch items the "Prefer" member
 * of their "headers"; both go through prefer_parse(), so an item honours
 * exactly what the plain request would.  Unknown, malformed or repeated
 * preferences are ignored, never an error (RFC 7240 section 2: only the
 * first instance of a preference counts).
 */
#ifndef BATCHD_PREFER_H
#define BATCHD_PREFER_H

#include <stddef.h>
#include <stdint.h>

#define PREFER_STATS	0x01u	/* include-statistics=true */
#define PREFER_RENDER	0x02u	/* include-render=true */

struct prefer {
	uint32_t	 flags;		/* PREFER_* asked for */
	uint32_t	 seen;		/* PREFER_* and PREFER_SEEN_WAIT met
					 * (true or not): later ones ignored */
	long		 wait_s;	/* wait=N, 1..PREFER_WAIT_MAX; 0: none */
};
#define PREFER_SEEN_WAIT	0x100u
/* wait=N above this is taken as this (far beyond any timeout cap). */
#define PREFER_WAIT_MAX		(86400L * 365)

/* Fold one Prefer header value (n bytes, need not be NUL-terminated) into
 * p, which starts zeroed; call once per Prefer header, in order. */
void	prefer_parse(struct prefer *p, const char *v, size_t n);
/* The item's timeout in ms: wait=N capped by max_ms, or def_ms without
 * wait. */
long	prefer_timeout_ms(const struct prefer *p, long def_ms, long max_ms);

#endif
