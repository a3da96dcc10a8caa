/*
 * errors.c - the error code table.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"

static const struct {
	int		 status;
	const char	*name;
	const char	*message;
} err_table[ERR__COUNT] = {
	[ERR_NONE] = { 200, "OK", "OK." },
	[ERR_BAD_REQUEST] = { 400, "BAD_REQUEST", "The request was invalid." },
	[ERR_UNAUTHORIZED] = { 401, "UNAUTHORIZED",
	    "Authentication is required." },
	[ERR_FORBIDDEN] = { 403, "FORBIDDEN",
	    "The token may not access this workspace." },
	[ERR_NOT_FOUND] = { 404, "NOT_FOUND", "The resource was not found." },
	[ERR_PATH_NOT_FOUND] = { 404, "PATH_NOT_FOUND",
	    "No operation exists at this path." },
	[ERR_METHOD_NOT_ALLOWED] = { 405, "METHOD_NOT_ALLOWED",
	    "The method is not allowed on this path." },
	[ERR_CONFLICT] = { 409, "CONFLICT", "The resource already exists." },
	[ERR_PRECONDITION_FAILED] = { 412, "PRECONDITION_FAILED",
	    "A precondition header did not match." },
	[ERR_PAYLOAD_TOO_LARGE] = { 413, "PAYLOAD_TOO_LARGE",
	    "The request body is too large." },
	[ERR_BATCH_TOO_LARGE] = { 400, "BATCH_TOO_LARGE",
	    "The batch has too many items." },
	[ERR_NESTED_BATCH_NOT_ALLOWED] = { 400, "NESTED_BATCH_NOT_ALLOWED",
	    "A batch may not contain a batch." },
	[ERR_FAILED_DEPENDENCY] = { 424, "FAILED_DEPENDENCY",
	    "A request this one depends on failed." },
	[ERR_QUERY_SYNTAX_ERROR] = { 400, "QUERY_SYNTAX_ERROR",
	    "The query could not be parsed." },
	[ERR_QUERY_LIMIT_EXCEEDED] = { 422, "QUERY_LIMIT_EXCEEDED",
	    "The query exceeded a limit." },
	[ERR_QUERY_TIMEOUT] = { 504, "QUERY_TIMEOUT",
	    "The request did not finish in time." },
	[ERR_WORKER_CRASHED] = { 500, "WORKER_CRASHED",
	    "The worker running this request died." },
	[ERR_OUT_OF_MEMORY] = { 507, "OUT_OF_MEMORY",
	    "The request exhausted the worker's memory." },
	[ERR_CANCELLED] = { 499, "CANCELLED", "The request was cancelled." },
	[ERR_TOO_MANY_REQUESTS] = { 429, "TOO_MANY_REQUESTS",
	    "Too many requests." },
	[ERR_INTERNAL] = { 500, "INTERNAL_SERVER_ERROR",
	    "An internal error occurred." },
	[ERR_SERVICE_UNAVAILABLE] = { 503, "SERVICE_UNAVAILABLE",
	    "The server cannot take more work now." },
	[ERR_STORE_FULL] = { 507, "STORE_FULL",
	    "The data store has no room for this write." },
};

int
err_status(enum err_code c)
{
	return (c > 0 && c < ERR__COUNT) ? err_table[c].status : 500;
}

const char *
err_name(enum err_code c)
{
	return (c > 0 && c < ERR__COUNT) ? err_table[c].name :
	    "INTERNAL_SERVER_ERROR";
}

const char *
err_message(enum err_code c)
{
	return (c > 0 && c < ERR__COUNT) ? err_table[c].message :
	    "An internal error occurred.";
}

/*
 * A detail quotes what the client sent, cut with "%.64s" and the like,
 * which can split a UTF-8 sequence: every byte that is not part of a
 * complete, valid sequence becomes '?', so the JSON answer stays valid.
 */
static void
err_fix_utf8(char *s)
{
	unsigned char	*p = (unsigned char *)s;
	size_t		 n, i, k;

	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		n = *p >= 0xc2 && *p <= 0xdf ? 2 : *p >= 0xe0 && *p <= 0xef ? 3 :
		    *p >= 0xf0 && *p <= 0xf4 ? 4 : 0;
		for (i = 1; i < n && (p[i] & 0xc0) == 0x80; i++)
			;
		if (n == 0 || i < n ||
		    (p[0] == 0xe0 && p[1] < 0xa0) ||	/* overlong */
		    (p[0] == 0xed && p[1] > 0x9f) ||	/* surrogate */
		    (p[0] == 0xf0 && p[1] < 0x90) ||	/* overlong */
		    (p[0] == 0xf4 && p[1] > 0x8f)) {	/* > U+10FFFF */
			for (k = 0; k < (n == 0 ? 1 : i); k++)
				p[k] = '?';
			p += n == 0 ? 1 : i;
			continue;
		}
		p += n;
	}
}

int
err_set(struct err *e, enum err_code c, const char *fmt, ...)
{
	va_list	ap;

	e->code = c;
	e->detail[0] = '\0';
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
		va_end(ap);
		err_fix_utf8(e->detail);
	}
	return -1;
}

int
err_body(struct buf *b, enum err_code c, const char *detail)
{
	const char *name = err_name(c), *msg = err_message(c);

	if (buf_puts(b, "{\"error\":{\"code\":") == -1 ||
	    buf_json_str(b, name, strlen(name)) == -1 ||
	    buf_puts(b, ",\"message\":") == -1 ||
	    buf_json_str(b, msg, strlen(msg)) == -1)
		return -1;
	if (detail != NULL && detail[0] != '\0') {
		char fixed[512];

		/* Callers format details from client bytes themselves too. */
		snprintf(fixed, sizeof(fixed), "%s", detail);
		err_fix_utf8(fixed);
		if (buf_puts(b, ",\"detail\":") == -1 ||
		    buf_json_str(b, fixed, strlen(fixed)) == -1)
			return -1;
	}
	return buf_puts(b, "}}");
}
