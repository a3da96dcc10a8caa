/*
 * openapi.c - the OpenAPI 3.1 document served at GET /openapi.json.
 *
 * etc/openapi.yaml is the source; "make openapi" writes etc/openapi.json
 * from it with the pinned redocly (tests/lint), and a black-box test fails
 * when the two differ.  The JSON is committed and taken into the binary
 * as it is, by the assembler's .incbin, so building batchd needs neither
 * a YAML parser nor npm, and serving it is one reference to read-only
 * bytes.
 */
#include <stddef.h>

#include "master.h"

/* The Makefile makes master/openapi.o depend on etc/openapi.json (the
 * compiler's dependency list cannot see an .incbin); the path is relative
 * to the repository root, where make runs the compiler. */
__asm__(
    "	.section .rodata\n"
    "	.balign 16\n"
    "openapi_doc_start:\n"
    "	.incbin \"etc/openapi.json\"\n"
    "openapi_doc_end:\n"
    "	.byte 0\n"
    "	.previous\n");

extern const char	openapi_doc_start[], openapi_doc_end[];

const char *
openapi_json(size_t *len)
{
	*len = (size_t)(openapi_doc_end - openapi_doc_start);
	return openapi_doc_start;
}
