/*
 * json_check.h - is this exactly one JSON text of RFC 8259?
 *
 * json-c, even in strict mode, takes things RFC 8259 does not (NaN,
 * Infinity, "01", "1.", raw control characters in strings).  The master
 * runs this check over every body before it reads it in place
 * (json_scan.h, which relies on it), so only JSON is ever stored.  It
 * allocates nothing and keeps a small stack of open containers.
 */
#ifndef BATCHD_JSON_CHECK_H
#define BATCHD_JSON_CHECK_H

#include <stddef.h>

/*
 * 0 if s[0..n) is one JSON value with optional whitespace around it,
 * nested at most max_depth deep.  Otherwise -1, with *off the offset of
 * the first offending byte and *why a short reason.  UTF-8 validity is
 * not checked here (utf8_valid() in route.h does that).
 */
int	json_check(const char *s, size_t n, int max_depth, size_t *off,
	    const char **why);

#endif
