/*
 * fmt.h - the few formats the hot paths need (the log line, the status
 * line and header lines of an answer), written without printf.
 *
 * A 1-item request used to spend a third of the master's own
 * instructions in vfprintf (seven snprintf calls and the log line's
 * vsnprintf): printf parses its format string each time and goes through
 * a FILE shim.  These write straight into a caller's buffer and return
 * the new end; the caller makes sure there is room (each says how much).
 */
#ifndef BATCHD_FMT_H
#define BATCHD_FMT_H

#include <stddef.h>
#include <stdint.h>

#define FMT_U64_MAX	20	/* digits of UINT64_MAX */

/* v in decimal (at most FMT_U64_MAX bytes). */
char	*fmt_u64(char *p, uint64_t v);
/* v in decimal, at least width digits, zero-padded (width <= 20). */
char	*fmt_u64_pad(char *p, uint64_t v, int width);
/* ns as milliseconds with three decimals, rounded to the microsecond,
 * as printf's "%.3f" of ns / 1e6 (at most FMT_U64_MAX + 1 bytes). */
char	*fmt_ms3(char *p, uint64_t ns);
/* The first n bytes of s, or fewer if s ends (NUL) before: "%.*s". */
char	*fmt_strn(char *p, const char *s, size_t n);
/* s[0..n) as it is (n bytes). */
char	*fmt_mem(char *p, const void *s, size_t n);

#endif
