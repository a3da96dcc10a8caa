/*
 * test_item.c - unit tests for common/item.c: the wire encoding of an item
 * (struct item_wire + fields, shm.h) and error results.
 */
#include <check.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "errors.h"
#include "item.h"
#include "shm.h"

static struct buf	enc = BUF_INIT;

static void
teardown(void)
{
	buf_free(&enc);
}

static struct route_str
str_of(const char *s)
{
	struct route_str rs = { s, s == NULL ? 0 : strlen(s) };

	return rs;
}

/* The string field of rq that enum item_field f names (not IF_BODY). */
static struct route_str *
field(struct item_req *rq, int f)
{
	struct route_str *tab[] = {
		[IF_WS] = &rq->ws, [IF_TABLE] = &rq->table,
		[IF_KEY] = &rq->key, [IF_PREFIX] = &rq->prefix,
		[IF_AFTER] = &rq->after, [IF_QUERY] = &rq->query,
		[IF_TIMESPAN] = &rq->timespan, [IF_IF_MATCH] = &rq->if_match,
		[IF_IF_NONE_MATCH] = &rq->if_none_match,
		[IF_ASYNC_ID] = &rq->async_id, [IF_ITEM_ID] = &rq->item_id,
		[IF_AGROUP] = &rq->agroup,
	};

	return tab[f];
}

/* Same presence (p == NULL or not) and same bytes. */
static int
same_str(struct route_str a, struct route_str b)
{
	if ((a.p == NULL) != (b.p == NULL))
		return 0;
	if (a.p == NULL)
		return a.n == 0 && b.n == 0;
	return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

/* Decoded strings point into [p, p + n) (or are absent). */
static int
inside(struct route_str s, const char *p, size_t n)
{
	return s.p == NULL || (s.p >= p && s.p + s.n <= p + n);
}

/* Encode rq, decode it back from a copy at an odd address, compare all. */
static void
roundtrip(const struct item_req *rq)
{
	struct item_req	 out;
	char		*copy;
	size_t		 want = sizeof(struct item_wire);
	int		 f;

	ck_assert_int_eq(item_encode(rq, &enc), 0);
	for (f = 0; f < IF_BODY; f++)
		want += field((struct item_req *)rq, f)->n;
	want += rq->body != NULL ? rq->body_len : 0;
	ck_assert_uint_eq(enc.len, want);

	/* Slot memory is aligned, scratch copies need not be. */
	copy = malloc(enc.len + 1);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy + 1, enc.data, enc.len);
	memset(&out, 0x5a, sizeof(out));
	ck_assert_int_eq(item_decode(copy + 1, enc.len, &out), 0);
	ck_assert_int_eq(out.op, rq->op);
	ck_assert_int_eq(out.body_kind, rq->body_kind);
	ck_assert_int_eq(out.limit, rq->limit);
	for (f = 0; f < IF_BODY; f++) {
		ck_assert_msg(same_str(*field(&out, f),
		    *field((struct item_req *)rq, f)), "field %d differs", f);
		ck_assert(inside(*field(&out, f), copy + 1, enc.len));
	}
	ck_assert_msg((out.body == NULL) == (rq->body == NULL),
	    "body presence differs");
	ck_assert_uint_eq(out.body_len, rq->body != NULL ? rq->body_len : 0);
	if (rq->body != NULL) {
		ck_assert(out.body >= copy + 1 &&
		    out.body + out.body_len <= copy + 1 + enc.len);
		ck_assert(memcmp(out.body, rq->body, rq->body_len) == 0);
	}
	free(copy);
}

/* A request with every field present and distinct. */
static void
full_req(struct item_req *rq)
{
	static const char body[] = "{\"a\":1,\"nul\":\"x\0y\",\"z\":[true]}";

	memset(rq, 0, sizeof(*rq));
	rq->op = OP_ROW_PATCH;
	rq->ws = str_of("acme");
	rq->table = str_of("users");
	rq->key = str_of("k/with%2Fslash \xc3\xa9");
	rq->prefix = str_of("pre");
	rq->after = str_of("after-key");
	rq->limit = 1000;
	rq->query = str_of("SELECT * WHERE a = 1");
	rq->timespan = str_of("P1D");
	rq->if_match = str_of("\"etag-1\"");
	rq->if_none_match = str_of("*");
	rq->async_id = str_of("gDhgQRWWFLUwvtJRCzoa-tiE");
	rq->item_id = str_of("item \"7\"");
	rq->agroup = str_of("g1");
	rq->body_kind = BODY_OBJECT;
	rq->body = body;
	rq->body_len = sizeof(body) - 1;
}

/* --- round trips --- */

START_TEST(test_roundtrip_full)
{
	struct item_req rq;

	full_req(&rq);
	roundtrip(&rq);
}
END_TEST

START_TEST(test_roundtrip_all_absent)
{
	struct item_req	rq;
	struct item_req	out;

	memset(&rq, 0, sizeof(rq));
	rq.op = OP_TABLES_LIST;
	roundtrip(&rq);
	ck_assert_uint_eq(enc.len, sizeof(struct item_wire));
	ck_assert_int_eq(item_decode(enc.data, enc.len, &out), 0);
	ck_assert_ptr_null(out.ws.p);
	ck_assert_ptr_null(out.body);
}
END_TEST

START_TEST(test_roundtrip_all_empty)
{
	struct item_req	 rq, out;
	int		 f;

	memset(&rq, 0, sizeof(rq));
	rq.op = OP_ROW_CREATE;
	for (f = 0; f < IF_BODY; f++)
		*field(&rq, f) = str_of("");
	rq.body = "";
	rq.body_len = 0;
	rq.body_kind = BODY_OTHER;
	roundtrip(&rq);
	/* Present but empty is not absent. */
	ck_assert_uint_eq(enc.len, sizeof(struct item_wire));
	ck_assert_int_eq(item_decode(enc.data, enc.len, &out), 0);
	for (f = 0; f < IF_BODY; f++) {
		ck_assert_ptr_nonnull(field(&out, f)->p);
		ck_assert_uint_eq(field(&out, f)->n, 0);
	}
	ck_assert_ptr_nonnull(out.body);
	ck_assert_uint_eq(out.body_len, 0);
}
END_TEST

/* Every field in turn absent, present-empty and present, the others
 * present: each field's presence travels on its own. */
START_TEST(test_roundtrip_each_field)
{
	struct item_req	 rq;
	int		 f, mode;

	for (f = 0; f < IF__COUNT; f++) {
		for (mode = 0; mode < 3; mode++) {
			const char *v = mode == 0 ? NULL : mode == 1 ? "" :
			    "value-of-this-field";

			full_req(&rq);
			if (f == IF_BODY) {
				rq.body = v;
				rq.body_len = v == NULL ? 0 : strlen(v);
			} else
				*field(&rq, f) = str_of(v);
			roundtrip(&rq);
		}
	}
}
END_TEST

START_TEST(test_roundtrip_ops_and_limits)
{
	static const long limits[] = { 0, 1, -1, 1000, 2147483648L,
	    -9223372036854775807L - 1, 9223372036854775807L };
	struct item_req	 rq;
	size_t		 i;
	int		 op, kind;

	for (op = OP_NONE + 1; op < OP__COUNT; op++)
		for (kind = BODY_NONE; kind <= BODY_OTHER; kind++)
			for (i = 0; i < sizeof(limits) / sizeof(limits[0]);
			    i++) {
				full_req(&rq);
				rq.op = (enum route_op)op;
				rq.body_kind = (enum item_body)kind;
				rq.limit = limits[i];
				roundtrip(&rq);
			}
}
END_TEST

START_TEST(test_roundtrip_large)
{
	struct item_req	 rq;
	char		*big = malloc(1 << 20);
	size_t		 i;

	ck_assert_ptr_nonnull(big);
	for (i = 0; i < 1 << 20; i++)
		big[i] = (char)(i * 13 + (i >> 10));
	full_req(&rq);
	rq.body = big;
	rq.body_len = 1 << 20;
	rq.key = (struct route_str){ big + 5, 60000 };
	roundtrip(&rq);
	free(big);
}
END_TEST

/* --- malformed encodings --- */

static void
set_wire(const struct item_wire *w)
{
	memcpy(enc.data, w, sizeof(*w));
}

static void
get_wire(struct item_wire *w)
{
	memcpy(w, enc.data, sizeof(*w));
}

START_TEST(test_decode_truncated)
{
	struct item_req	 rq, out;
	size_t		 n;

	full_req(&rq);
	ck_assert_int_eq(item_encode(&rq, &enc), 0);
	/* Every proper prefix, header included, is refused ... */
	for (n = 0; n < enc.len; n++)
		ck_assert_msg(item_decode(enc.data, n, &out) == -1,
		    "prefix of %zu of %zu bytes accepted", n, enc.len);
	/* ... and so is anything after the last field. */
	ck_assert_int_eq(buf_putc(&enc, 'x'), 0);
	ck_assert_int_eq(item_decode(enc.data, enc.len, &out), -1);
	ck_assert_int_eq(buf_append(&enc, "\0\0\0\0\0\0\0", 7), 0);
	ck_assert_int_eq(item_decode(enc.data, enc.len, &out), -1);
	ck_assert_int_eq(item_decode(enc.data, enc.len - 8, &out), 0);
	ck_assert_int_eq(item_decode(NULL, 0, &out), -1);
}
END_TEST

START_TEST(test_decode_bad_header)
{
	struct item_req		 rq, out;
	struct item_wire	 w, good;

	full_req(&rq);
	ck_assert_int_eq(item_encode(&rq, &enc), 0);
	get_wire(&good);
	ck_assert_uint_eq(good.magic, ITEM_MAGIC);

	w = good;
	w.magic = ITEM_MAGIC ^ 1;
	set_wire(&w);
	ck_assert_int_eq(item_decode(enc.data, enc.len, &out), -1);
	w.magic = 0;
	set_wire(&w);
	ck_assert_int_eq(item_decode(enc.data, enc.len, &out), -1);

	w = good;
	w.op = OP_NONE;
	set_wire(&w);
	ck_assert_int_eq(item_decode(enc.data, enc.len, &out), -1);
	w.op = OP__COUNT;
	set_wire(&w);
	ck_assert_int_eq(item_decode(enc.data, enc.len, &out), -1);
	w.op = 0xffffffffu;
	set_wire(&w);
	ck_assert_int_eq(item_decode(enc.data, enc.len, &out), -1);

	w = good;
	w.body_kind = BODY_OTHER + 1;
	set_wire(&w);
	ck_assert_int_eq(item_decode(enc.data, enc.len, &out), -1);
	w.body_kind = 0x80000000u;
	set_wire(&w);
	ck_assert_int_eq(item_decode(enc.data, enc.len, &out), -1);

	/* The untouched header still decodes: the tests changed one thing
	 * each. */
	set_wire(&good);
	ck_assert_int_eq(item_decode(enc.data, enc.len, &out), 0);
	ck_assert_int_eq(out.op, OP_ROW_PATCH);
}
END_TEST

START_TEST(test_decode_bad_lengths)
{
	struct item_req		 rq, out;
	struct item_wire	 w, good;
	size_t			 payload;
	int			 f;

	full_req(&rq);
	ck_assert_int_eq(item_encode(&rq, &enc), 0);
	get_wire(&good);
	payload = enc.len - sizeof(w);

	for (f = 0; f < IF__COUNT; f++) {
		/* One field a byte longer: the fields overrun the buffer. */
		w = good;
		w.flen[f]++;
		set_wire(&w);
		ck_assert_msg(item_decode(enc.data, enc.len, &out) == -1,
		    "field %d one byte long accepted", f);
		/* A byte shorter: a trailing byte is left over. */
		if (good.flen[f] > 0) {
			w.flen[f] -= 2;
			set_wire(&w);
			ck_assert_msg(item_decode(enc.data, enc.len, &out) ==
			    -1, "field %d one byte short accepted", f);
		}
		/* Lengths far beyond the buffer, up to just below absent. */
		w = good;
		w.flen[f] = (uint32_t)payload + 1;
		set_wire(&w);
		ck_assert_int_eq(item_decode(enc.data, enc.len, &out), -1);
		w.flen[f] = ITEM_ABSENT - 1;
		set_wire(&w);
		ck_assert_int_eq(item_decode(enc.data, enc.len, &out), -1);
		/* Marked absent while its bytes are there: trailing bytes. */
		if (good.flen[f] > 0) {
			w.flen[f] = ITEM_ABSENT;
			set_wire(&w);
			ck_assert_int_eq(item_decode(enc.data, enc.len, &out),
			    -1);
		}
	}
	/* Two fields whose sum wraps 32 bits. */
	w = good;
	w.flen[IF_WS] = 0x80000000u;
	w.flen[IF_TABLE] = 0x80000000u;
	set_wire(&w);
	ck_assert_int_eq(item_decode(enc.data, enc.len, &out), -1);
	/* All the bytes claimed by the first field: the rest overrun. */
	w = good;
	w.flen[IF_WS] = (uint32_t)payload;
	set_wire(&w);
	ck_assert_int_eq(item_decode(enc.data, enc.len, &out), -1);
	/* Moving bytes between two present fields is not detectable, and
	 * decodes with the new split: proof the lengths are what count. */
	w = good;
	w.flen[IF_WS] += 1;
	w.flen[IF_TABLE] -= 1;
	set_wire(&w);
	ck_assert_int_eq(item_decode(enc.data, enc.len, &out), 0);
	ck_assert_uint_eq(out.ws.n, 5);
	ck_assert(memcmp(out.ws.p, "acmeu", 5) == 0);
	ck_assert_uint_eq(out.table.n, 4);
}
END_TEST

/* --- error results --- */

/* Parse res's body as {"error":{"code":..,"message":..[,"detail":..]}}. */
static void
check_error_body(const struct item_res *res, const char *code,
    const char *detail)
{
	struct json_object	*root, *e, *v;

	ck_assert_uint_gt(res->body.len, 0);
	root = json_tokener_parse(res->body.data);
	ck_assert_msg(root != NULL, "not JSON: %s", res->body.data);
	ck_assert(json_object_object_get_ex(root, "error", &e));
	ck_assert_int_eq(json_object_object_length(root), 1);
	ck_assert(json_object_object_get_ex(e, "code", &v));
	ck_assert_str_eq(json_object_get_string(v), code);
	ck_assert(json_object_object_get_ex(e, "message", &v));
	ck_assert_uint_gt(strlen(json_object_get_string(v)), 0);
	if (detail != NULL && detail[0] != '\0') {
		struct json_object *d, *d0, *ie;

		ck_assert(json_object_object_get_ex(e, "detail", &v));
		ck_assert_str_eq(json_object_get_string(v), detail);
		/* The Azure shape: details[{code, message}], innererror. */
		ck_assert(json_object_object_get_ex(e, "details", &d));
		ck_assert_int_eq(json_object_array_length(d), 1);
		d0 = json_object_array_get_idx(d, 0);
		ck_assert(json_object_object_get_ex(d0, "code", &v));
		ck_assert_str_eq(json_object_get_string(v), code);
		ck_assert(json_object_object_get_ex(d0, "message", &v));
		ck_assert_str_eq(json_object_get_string(v), detail);
		ck_assert(json_object_object_get_ex(e, "innererror", &ie));
		ck_assert(json_object_object_get_ex(ie, "code", &v));
		ck_assert_str_eq(json_object_get_string(v), code);
		ck_assert(json_object_object_get_ex(ie, "message", &v));
		ck_assert_str_eq(json_object_get_string(v), detail);
		ck_assert_int_eq(json_object_object_length(e), 5);
	} else {
		ck_assert(!json_object_object_get_ex(e, "detail", NULL));
		ck_assert_int_eq(json_object_object_length(e), 2);
	}
	json_object_put(root);
}

START_TEST(test_syntax_error_position)
{
	struct item_res		 res;
	struct json_object	*root, *e, *v, *ie;

	memset(&res, 0, sizeof(res));
	item_res_error(&res, ERR_QUERY_SYNTAX_ERROR,
	    "line 2, column 17: expected an expression after '=='");
	root = json_tokener_parse(res.body.data);
	ck_assert_ptr_nonnull(root);
	ck_assert(json_object_object_get_ex(root, "error", &e));
	ck_assert(json_object_object_get_ex(e, "message", &v));
	ck_assert_str_eq(json_object_get_string(v),
	    "The query could not be parsed at line 2, column 17.");
	ck_assert(json_object_object_get_ex(e, "innererror", &ie));
	ck_assert(json_object_object_get_ex(ie, "line", &v));
	ck_assert_int_eq(json_object_get_int(v), 2);
	ck_assert(json_object_object_get_ex(ie, "pos", &v));
	ck_assert_int_eq(json_object_get_int(v), 17);
	json_object_put(root);
	/* Other codes keep their message and have no position. */
	item_res_error(&res, ERR_BAD_REQUEST, "line 2, column 17: x");
	ck_assert_ptr_null(strstr(res.body.data, "\"pos\""));
	ck_assert_ptr_nonnull(strstr(res.body.data, "The request was invalid."));
	item_res_free(&res);
}
END_TEST

START_TEST(test_res_error)
{
	static const struct {
		enum err_code	 code;
		int		 status;
		const char	*name;
	} tab[] = {
		{ ERR_BAD_REQUEST, 400, "BAD_REQUEST" },
		{ ERR_NOT_FOUND, 404, "NOT_FOUND" },
		{ ERR_CONFLICT, 409, "CONFLICT" },
		{ ERR_PRECONDITION_FAILED, 412, "PRECONDITION_FAILED" },
		{ ERR_QUERY_LIMIT_EXCEEDED, 422, "QUERY_LIMIT_EXCEEDED" },
		{ ERR_QUERY_TIMEOUT, 504, "QUERY_TIMEOUT" },
		{ ERR_OUT_OF_MEMORY, 507, "OUT_OF_MEMORY" },
		{ ERR_WORKER_CRASHED, 500, "WORKER_CRASHED" },
		{ ERR_INTERNAL, 500, "INTERNAL_SERVER_ERROR" },
		{ ERR_SERVICE_UNAVAILABLE, 503, "SERVICE_UNAVAILABLE" },
	};
	struct item_res	 res;
	size_t		 i;

	memset(&res, 0, sizeof(res));
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		/* Whatever the result held before is replaced. */
		res.status = 201;
		snprintf(res.etag, sizeof(res.etag), "\"old\"");
		ck_assert_int_eq(buf_puts(&res.location, "/v1/old"), 0);
		ck_assert_int_eq(buf_puts(&res.body, "{\"old\":true}"), 0);
		ck_assert_int_eq(item_res_error(&res, tab[i].code,
		    "row \"k\" of\ttable\n\x01"), 0);
		ck_assert_int_eq(res.status, tab[i].status);
		ck_assert_str_eq(res.etag, "");
		ck_assert_uint_eq(res.location.len, 0);
		check_error_body(&res, tab[i].name, "row \"k\" of\ttable\n\x01");

		ck_assert_int_eq(item_res_error(&res, tab[i].code, NULL), 0);
		ck_assert_int_eq(res.status, tab[i].status);
		check_error_body(&res, tab[i].name, NULL);
		ck_assert_int_eq(item_res_error(&res, tab[i].code, ""), 0);
		check_error_body(&res, tab[i].name, "");
	}
	/* A code outside the table answers a generic 500. */
	ck_assert_int_eq(item_res_error(&res, ERR__COUNT, "x"), 0);
	ck_assert_int_eq(res.status, 500);
	check_error_body(&res, "INTERNAL_SERVER_ERROR", "x");
	ck_assert_int_eq(item_res_error(&res, (enum err_code)-1, NULL), 0);
	ck_assert_int_eq(res.status, 500);
	check_error_body(&res, "INTERNAL_SERVER_ERROR", NULL);
	item_res_free(&res);
}
END_TEST

START_TEST(test_res_reset)
{
	struct item_res	 res;
	char		*body;

	memset(&res, 0, sizeof(res));
	ck_assert_int_eq(item_res_error(&res, ERR_CONFLICT, "dup"), 0);
	body = res.body.data;
	ck_assert_int_eq(buf_puts(&res.location, "/v1/x"), 0);
	item_res_reset(&res);
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.etag, "");
	ck_assert_uint_eq(res.location.len, 0);
	ck_assert_uint_eq(res.body.len, 0);
	/* Buffers are kept for the next item. */
	ck_assert_ptr_eq(res.body.data, body);
	ck_assert_uint_gt(res.body.cap, 0);
	item_res_free(&res);
	ck_assert_ptr_null(res.body.data);
	ck_assert_ptr_null(res.location.data);
}
END_TEST

/* The answer object is rendered the same by the master (sync answers)
 * and by a worker (a stored async answer): one function, checked here. */
START_TEST(test_render_head)
{
	struct buf	 o = BUF_INIT;
	struct item_head h = {
		.id = "a\"1", .id_len = 3, .agroup = "g", .agroup_len = 1,
		.status = 201, .etag = "\"e1\"", .etag_len = 4,
		.loc = "/v1/x", .loc_len = 5, .body_len = 7,
	};

	ck_assert_int_eq(item_render_head(&o, &h), 0);
	buf_append(&o, "{\"v\":1}", 7);
	buf_putc(&o, '}');
	ck_assert_str_eq(o.data, "{\"id\":\"a\\\"1\",\"atomicityGroup\":\"g\","
	    "\"status\":201,\"headers\":{\"ETag\":\"\\\"e1\\\"\","
	    "\"Location\":\"/v1/x\",\"Content-Type\":\"application/json\"},"
	    "\"body\":{\"v\":1}}");
	/* No body, no group, a Retry-After; a status out of range is 500. */
	buf_reset(&o);
	memset(&h, 0, sizeof(h));
	h.id = "q";
	h.id_len = 1;
	h.status = 42;
	h.retry_after = 3;
	ck_assert_int_eq(item_render_head(&o, &h), 0);
	buf_putc(&o, '}');
	ck_assert_str_eq(o.data, "{\"id\":\"q\",\"status\":500,\"headers\":"
	    "{\"Retry-After\":\"3\"}}");
	buf_free(&o);
}
END_TEST

START_TEST(test_res_stored_cleared)
{
	struct item_res	 res;

	memset(&res, 0, sizeof(res));
	res.stored = 1;
	item_res_error(&res, ERR_STORE_FULL, "full");
	/* An error replacing an answer was not stored with its item. */
	ck_assert_int_eq(res.stored, 0);
	res.stored = 1;
	item_res_reset(&res);
	ck_assert_int_eq(res.stored, 0);
	item_res_free(&res);
}
END_TEST

static Suite *
item_suite(void)
{
	Suite	*s = suite_create("item");
	TCase	*tc;

	tc = tcase_create("encode");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_roundtrip_full);
	tcase_add_test(tc, test_roundtrip_all_absent);
	tcase_add_test(tc, test_roundtrip_all_empty);
	tcase_add_test(tc, test_roundtrip_each_field);
	tcase_add_test(tc, test_roundtrip_ops_and_limits);
	tcase_add_test(tc, test_roundtrip_large);
	suite_add_tcase(s, tc);

	tc = tcase_create("decode");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_decode_truncated);
	tcase_add_test(tc, test_decode_bad_header);
	tcase_add_test(tc, test_decode_bad_lengths);
	suite_add_tcase(s, tc);

	tc = tcase_create("result");
	tcase_add_test(tc, test_res_error);
	tcase_add_test(tc, test_syntax_error_position);
	tcase_add_test(tc, test_res_reset);
	tcase_add_test(tc, test_render_head);
	tcase_add_test(tc, test_res_stored_cleared);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(item_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
