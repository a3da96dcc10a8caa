/*
 * json_scan.h - walking JSON text in place, without building anything.
 *
 * The master reads every batch body with these, once: json_check() has
 * already accepted the text (RFC 8259, bounded depth) and utf8_valid() its
 * bytes, so nothing here checks syntax again, and every function is
 * undefined on text json_check() refused.  Values are found where they
 * lie; an item's body travels on as the bytes the client sent (minified
 * only when it holds whitespace), and a string is decoded only when its
 * raw form holds an escape, into memory the caller gives.  Nothing here
 * allocates, which is the point: json-c costs a malloc per value and a
 * hash insert per member, more than the rest of a batch item together.
 */
#ifndef BATCHD_JSON_SCAN_H
#define BATCHD_JSON_SCAN_H

#include <stddef.h>

/* A string's raw bytes between its quotes; esc when they hold a '\'. */
struct jscan_str {
	const char	*p;
	size_t		 n;
	int		 esc;
};

/* Members of an object or elements of an array, in order. */
struct jscan_iter {
	const char	*p;		/* where the next search starts */
	const char	*val;		/* the last value given, or NULL */
	int		 obj;		/* an object (members have names) */
};

/* p at the first byte of a value: just past its end.  *ws (if not NULL)
 * is set to 1 when whitespace occurs inside the value, else left alone. */
const char	*jscan_skip(const char *p, int *ws);

/* s (len n, any surrounding whitespace included) holds one JSON value:
 * where it starts and how long it is, surrounding whitespace excluded. */
const char	*jscan_trim(const char *s, size_t n, size_t *len);

/* it over the object or array whose '{' or '[' is at p. */
void		 jscan_iter_init(struct jscan_iter *it, const char *p);

/* The next member (name set, if name is not NULL) or element: its value's
 * first byte in *val.  0 at the end. */
int		 jscan_iter_next(struct jscan_iter *it, struct jscan_str *name,
		    const char **val);

/* The caller walked the last value it gave (an element walk of its own,
 * jscan_skip()): it ends at end, so the next call starts there instead of
 * walking it again. */
void		 jscan_iter_past(struct jscan_iter *it, const char *end);

/* p at a string value's opening quote: its raw bytes. */
void		 jscan_string(const char *p, struct jscan_str *s);

/* The decoded bytes of s: s's own bytes when it has no escape, else
 * decoded into out, which must have room for s->n bytes (decoding never
 * lengthens: a lone surrogate escape becomes U+FFFD, 3 bytes of 6).
 * *len is the decoded length; a decoded string may hold U+0000. */
const char	*jscan_decode(const struct jscan_str *s, char *out, size_t *len);

/* Is s, decoded, exactly lit (a NUL-terminated literal of at most 20
 * bytes: longer raw forms are never equal to one)? */
int		 jscan_eq(const struct jscan_str *s, const char *lit);

/* ... compared without regard to ASCII case? */
int		 jscan_caseeq(const struct jscan_str *s, const char *lit);

/* Copy the n bytes of a value at p to out without its whitespace outside
 * strings; the number of bytes written (at most n). */
size_t		 jscan_minify(const char *p, size_t n, char *out);

/*
 * Unchecked text: a stored row is read in place by the query engine
 * (worker/query/query_row.c) without json_check() first, which would cost
 * as much as the query.  These walks stay inside [p, e) and answer NULL
 * or -1 where the text is not JSON as far as they look; they check
 * structure (quotes, brackets, commas, colons), not every byte.
 */

/* Members of an object, bounded by e. */
struct jscan_biter {
	const char	*p, *e;
};

/* p at a value's first byte: just past its end, or NULL. */
const char	*jscan_bskip(const char *p, const char *e);

/* it over the object at p (whitespace before it allowed); -1 when the
 * text there is not an object. */
int		 jscan_biter_init(struct jscan_biter *it, const char *p,
		    const char *e);

/* The next member: its name, its value in [*val, *vend).  1, 0 at the
 * end of the object, -1 when the text is not JSON. */
int		 jscan_biter_next(struct jscan_biter *it, struct jscan_str *name,
		    const char **val, const char **vend);

#endif
