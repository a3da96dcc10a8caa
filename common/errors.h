/*
 * errors.h - the stable error codes of SPEC section 4.
 *
 * One table maps each code to its HTTP status and its short human message;
 * everything that produces an error body (master validation, router,
 * workers) goes through err_body() so the envelope is identical everywhere.
 */
#ifndef BATCHD_ERRORS_H
#define BATCHD_ERRORS_H

#include "buf.h"

enum err_code {
	ERR_NONE = 0,
	ERR_BAD_REQUEST,
	ERR_UNAUTHORIZED,
	ERR_FORBIDDEN,
	ERR_NOT_FOUND,
	ERR_PATH_NOT_FOUND,
	ERR_METHOD_NOT_ALLOWED,
	ERR_CONFLICT,
	ERR_PRECONDITION_FAILED,
	ERR_PAYLOAD_TOO_LARGE,
	ERR_BATCH_TOO_LARGE,
	ERR_NESTED_BATCH_NOT_ALLOWED,
	ERR_FAILED_DEPENDENCY,
	ERR_QUERY_SYNTAX_ERROR,
	ERR_QUERY_LIMIT_EXCEEDED,
	ERR_QUERY_TIMEOUT,
	ERR_WORKER_CRASHED,
	ERR_OUT_OF_MEMORY,
	ERR_CANCELLED,
	ERR_TOO_MANY_REQUESTS,
	ERR_INTERNAL,
	ERR_SERVICE_UNAVAILABLE,
	ERR_STORE_FULL,
	ERR__COUNT
};

/* A filled-in error: what a failing layer hands to the one above it. */
struct err {
	enum err_code	 code;
	char		 detail[256];	/* "" when there is nothing to add */
};

int		 err_status(enum err_code);
const char	*err_name(enum err_code);
const char	*err_message(enum err_code);
/* Sets e->code and formats e->detail; returns -1 so callers can
 * "return err_set(...)". */
int		 err_set(struct err *e, enum err_code, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
/* Appends {"error":{"code":..,"message":..[,"detail":..]}} to b. */
int		 err_body(struct buf *b, enum err_code, const char *detail);

#endif
