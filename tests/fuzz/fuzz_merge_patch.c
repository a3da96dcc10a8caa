/*
 * fuzz_merge_patch.c - JSON merge patch, RFC 7386 (worker/merge_patch.c).
 *
 * Each input is two JSON texts, a target and a patch, split at the first
 * NUL (or, when there is none, in the middle).  Each must pass the gate
 * every body passes in batchd, batch_json_body() in the master (a stored
 * row passed it too, as a PUT body); what the worker then parses is the
 * text the master passes on (the client's, minified), parsed as the store
 * parses it.  The patch is
 * applied as PATCH .../rows/{key} does (both are objects there; values of
 * any type meet inside them), and the result serialised with the store's
 * flags.  Checks, from the RFC: the patch is never modified; the result
 * is an object; applying the same patch again changes nothing.  And what the store would write is JSON (by RFC
 * 8259, fuzz_json.h), which reads back as the same value.
 */
#include <math.h>
#include <string.h>

#include <json-c/json.h>

#include "master.h"
#include "merge_patch.h"
#include "fuzz.h"
#include "fuzz_json.h"

#define FM_DEPTH	1024	/* STORE_JSON_DEPTH */
#define FM_FLAGS	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Parse as the store does (store_json_parse): json-c, not strict. */
static json_object *
fm_store_parse(const char *s, size_t n)
{
	struct json_tokener	*tok;
	json_object		*o;

	FUZZ_CHECK((tok = json_tokener_new_ex(FM_DEPTH)) != NULL);
	o = json_tokener_parse_ex(tok, s, (int)n);
	FUZZ_CHECK(json_tokener_get_error(tok) == json_tokener_success);
	json_tokener_free(tok);
	return o;
}

/* A body as the worker receives it, or -1 if the master refuses it, or
 * the worker would before parsing it: rows and merge patches are objects
 * (rows_need_object); non-object values are merged inside them. */
static int
fm_body(const char *s, size_t n, json_object **out)
{
	struct batch_body	 body;
	struct buf		 scratch = BUF_INIT;
	struct err		 e;

	if (batch_json_body(s, n, &scratch, &body, &e) == -1 ||
	    body.kind != BODY_OBJECT) {
		buf_free(&scratch);
		return -1;
	}
	*out = fm_store_parse(body.p, body.n);
	buf_free(&scratch);
	return 0;
}

/* json_object_equal(), but numbers compare by value: json-c may write a
 * double that holds an integer as "1", which reads back as an int. */
static int
fm_equal(json_object *a, json_object *b)
{
	struct json_object_iter	 it;
	json_object		*bv;
	size_t			 i, n;
	int			 na, nb;

	na = json_object_is_type(a, json_type_int) ||
	    json_object_is_type(a, json_type_double);
	nb = json_object_is_type(b, json_type_int) ||
	    json_object_is_type(b, json_type_double);
	if (na && nb) {
		if (json_object_is_type(a, json_type_int) &&
		    json_object_is_type(b, json_type_int))
			return json_object_equal(a, b);
		return json_object_get_double(a) == json_object_get_double(b);
	}
	if (json_object_get_type(a) != json_object_get_type(b))
		return 0;
	switch (json_object_get_type(a)) {
	case json_type_array:
		if ((n = json_object_array_length(a)) !=
		    json_object_array_length(b))
			return 0;
		for (i = 0; i < n; i++)
			if (!fm_equal(json_object_array_get_idx(a, i),
			    json_object_array_get_idx(b, i)))
				return 0;
		return 1;
	case json_type_object:
		if (json_object_object_length(a) != json_object_object_length(b))
			return 0;
		json_object_object_foreachC(a, it) {
			if (!json_object_object_get_ex(b, it.key, &bv) ||
			    !fm_equal(it.val, bv))
				return 0;
		}
		return 1;
	default:
		return json_object_equal(a, b);
	}
}

static json_object *
fm_copy(json_object *o)
{
	json_object	*c = NULL;

	FUZZ_CHECK(json_object_deep_copy(o, &c, NULL) == 0);
	return c;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*s = (const char *)data, *nul, *text;
	json_object	*target, *patch, *before, *again, *back;
	size_t		 tlen, plen, len;

	if ((nul = memchr(s, '\0', size)) != NULL) {
		tlen = (size_t)(nul - s);
		plen = size - tlen - 1;
	} else {
		tlen = size / 2;
		plen = size - tlen;
	}
	if (fm_body(s, tlen, &target) == -1)
		return 0;
	if (fm_body(s + size - plen, plen, &patch) == -1) {
		json_object_put(target);
		return 0;
	}
	before = fm_copy(patch);

	FUZZ_CHECK(merge_patch_apply(&target, patch) == 0);
	FUZZ_CHECK(json_object_equal(patch, before));
	FUZZ_CHECK(json_object_is_type(target, json_type_object));

	/* Idempotent: patching the result again gives the result. */
	again = fm_copy(target);
	FUZZ_CHECK(merge_patch_apply(&again, patch) == 0);
	FUZZ_CHECK(json_object_equal(again, target));
	FUZZ_CHECK(json_object_equal(patch, before));

	/* What the store writes is JSON and reads back as the same value. */
	FUZZ_CHECK((text = json_object_to_json_string_length(target, FM_FLAGS,
	    &len)) != NULL);
	if (!fuzz_json_valid(text, len))
		fprintf(stderr, "stored row is not JSON: %.200s\n", text);
	FUZZ_CHECK(fuzz_json_valid(text, len));
	back = fm_store_parse(text, len);
	FUZZ_CHECK(fm_equal(back, target));
	json_object_put(back);

	json_object_put(again);
	json_object_put(before);
	json_object_put(patch);
	json_object_put(target);
	return 0;
}
