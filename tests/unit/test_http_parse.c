/*
 * test_http_parse.c - request heads and chunked bodies (master/http_parse.c):
 * what RFC 9112 frames, and every ambiguity that must be refused.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

static long
head(const char *s, struct http_head *h, struct err *e)
{
	return http_parse_head(s, strlen(s), 65536, h, e);
}

static int
str_is(struct route_str s, const char *lit)
{
	return s.p != NULL && s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

START_TEST(test_simple)
{
	struct http_head	 h;
	struct err		 e;
	const char		*s = "GET /v1/x?a=1 HTTP/1.1\r\nHost: h\r\n"
				    "If-Match: \"e1\"  \r\nX-Request-Id: abc\r\n"
				    "\r\nNEXT";

	ck_assert_int_eq(head(s, &h, &e), (long)strlen(s) - 4);
	ck_assert_int_eq(h.method, HM_GET);
	ck_assert(str_is(h.target, "/v1/x?a=1"));
	ck_assert(str_is(h.host, "h"));
	ck_assert(str_is(h.if_match, "\"e1\""));
	ck_assert(str_is(h.request_id, "abc"));
	ck_assert_int_eq(h.minor, 1);
	ck_assert_int_eq(h.keep_alive, 1);
	ck_assert_int_eq(h.content_length, -1);
	ck_assert_int_eq(h.chunked, 0);
}
END_TEST

START_TEST(test_incomplete_and_leading_crlf)
{
	struct http_head	 h;
	struct err		 e;
	const char		*s = "\r\n\r\nPOST / HTTP/1.1\r\nHost: h\r\n"
				    "Content-Length: 2\r\n\r\n";
	size_t			 i;

	for (i = 0; i < strlen(s); i++)
		ck_assert_int_eq(http_parse_head(s, i, 65536, &h, &e), 0);
	ck_assert_int_eq(head(s, &h, &e), (long)strlen(s));
	ck_assert_int_eq(h.method, HM_POST);
	ck_assert_int_eq(h.content_length, 2);
	/* Over the limit without an end: refused, not waited for. */
	ck_assert_int_eq(http_parse_head("GET / HTTP/1.1\r\nX: aaaaaaaa",
	    27, 16, &h, &e), -1);
	ck_assert_int_eq(e.code, ERR_BAD_REQUEST);
	ck_assert_int_eq(http_parse_head(s, strlen(s), 20, &h, &e), -1);
}
END_TEST

START_TEST(test_keep_alive)
{
	static const struct {
		const char	*req;
		int		 ka;
	} t[] = {
		{ "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, "
		    "close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
		    "Connection: CLOSE\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n", 0 },
	};
	struct http_head	h;
	struct err		e;
	size_t			i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_msg(head(t[i].req, &h, &e) > 0, "%s", t[i].req);
		ck_assert_msg(h.keep_alive == t[i].ka, "%s", t[i].req);
	}
}
END_TEST

/* Every one of these is ambiguous or malformed framing: 400. */
START_TEST(test_refused)
{
	static const char *bad[] = {
		"PUT /r HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n"
		    "Content-Length: 60\r\n\r\n",
		"PUT /r HTTP/1.1\r\nHost: h\r\nContent-Length: 7, 60\r\n\r\n",
		"PUT /r HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
		"PUT /r HTTP/1.1\r\nHost: h\r\nContent-Length: 1e3\r\n\r\n",
		"PUT /r HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n",
		"PUT /r HTTP/1.1\r\nHost: h\r\nContent-Length: "
		    "99999999999999999999999\r\n\r\n",
		"PUT /r HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n",
		"PUT /r HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, "
		    "chunked\r\n\r\n",
		"PUT /r HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, "
		    "gzip\r\n\r\n",
		"PUT /r HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n",
		"PUT /r HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n"
		    "\r\n",
		"PUT /r HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x\r\n"
		    "Authorization: Bearer y\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
		"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
		"GET / http/1.1\r\nHost: a\r\n\r\n",
		"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET x HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET ftp://h/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET http:/x HTTP/1.1\r\nHost: a\r\n\r\n",
		"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	};
	struct http_head	h;
	struct err		e;
	size_t			i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* Some hold a NUL: measured up to the final CRLFCRLF. */
		n = strlen(bad[i]);
		if (i == 22)
			n = 35;
		e.code = ERR_NONE;
		ck_assert_msg(http_parse_head(bad[i], n, 65536, &h, &e) == -1,
		    "accepted #%zu: %s", i, bad[i]);
		ck_assert_int_eq(e.code, ERR_BAD_REQUEST);
	}
}
END_TEST

START_TEST(test_accepted)
{
	struct http_head	h;
	struct err		e;

	ck_assert(head("PUT /r HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n"
	    "content-length: 7\r\n\r\n", &h, &e) > 0);
	ck_assert_int_eq(h.content_length, 7);
	ck_assert(head("PUT /r HTTP/1.1\r\nHost: h\r\nContent-Length: 7 , 7"
	    "\r\n\r\n", &h, &e) > 0);
	ck_assert_int_eq(h.content_length, 7);
	ck_assert(head("PUT /r HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
	    "Chunked\r\n\r\n", &h, &e) > 0);
	ck_assert_int_eq(h.chunked, 1);
	ck_assert(head("HEAD /r HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue"
	    "\r\nPrefer: wait=10\r\nPrefer: include-statistics=true\r\n\r\n",
	    &h, &e) > 0);
	ck_assert_int_eq(h.method, HM_HEAD);
	ck_assert_int_eq(h.expect_continue, 1);
	ck_assert_int_eq(h.nprefer, 2);
	ck_assert(str_is(h.prefer[1], "include-statistics=true"));
	ck_assert(head("BREW /r HTTP/1.1\r\nHost: h\r\n\r\n", &h, &e) > 0);
	ck_assert_int_eq(h.method, HM_OTHER);
	ck_assert(str_is(h.method_name, "BREW"));
	ck_assert(head("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &h, &e) > 0);
	ck_assert(str_is(h.target, "*"));
}
END_TEST

START_TEST(test_absolute_form)
{
	static const struct {
		const char *target, *path;
	} t[] = {
		{ "http://127.0.0.1:8080/v1/$batch", "/v1/$batch" },
		{ "HTTPS://h/v1/x?y=1", "/v1/x?y=1" },
		{ "http://h", "/" },
		{ "http://user@h:1/a/b", "/a/b" },
	};
	struct http_head	h;
	struct err		e;
	char			req[256];
	size_t			i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: h\r\n\r\n",
		    t[i].target);
		ck_assert_msg(head(req, &h, &e) > 0, "%s", req);
		ck_assert_msg(str_is(h.target, t[i].path), "%s -> %.*s",
		    t[i].target, (int)h.target.n, h.target.p);
	}
}
END_TEST

struct sink {
	char	data[256];
	size_t	len;
};

static void
sink_put(void *arg, const char *p, size_t n)
{
	struct sink *s = arg;

	ck_assert(s->len + n <= sizeof(s->data));
	memcpy(s->data + s->len, p, n);
	s->len += n;
}

/* Feed in pieces of step bytes; returns bytes consumed, -1 on error. */
static long
chunked(const char *in, size_t n, size_t step, uint64_t max,
    struct sink *out, struct err *e)
{
	struct http_chunked	st;
	size_t			i = 0, k;
	long			r;

	memset(&st, 0, sizeof(st));
	memset(out, 0, sizeof(*out));
	while (i < n && st.st != HC_DONE) {
		k = n - i < step ? n - i : step;
		if ((r = http_chunked_feed(&st, in + i, k, max, sink_put, out,
		    e)) < 0)
			return -1;
		i += (size_t)r;
		if ((size_t)r < k)
			ck_assert_int_eq(st.st, HC_DONE);
	}
	return st.st == HC_DONE ? (long)i : 0;
}

START_TEST(test_chunked)
{
	const char	*s = "1f;ext=1\r\n0123456789abcdef0123456789abcde\r\n"
			    "3;a=b;c=\"d\"\r\nxyz\r\n0\r\nTrailer: t\r\n\r\n"
			    "GET / HTTP/1.1\r\n";
	size_t		 body = strlen(s) - strlen("GET / HTTP/1.1\r\n");
	size_t		 step;
	struct sink	 out;
	struct err	 e;

	for (step = 1; step <= strlen(s); step++) {
		ck_assert_int_eq(chunked(s, strlen(s), step, 1000, &out, &e),
		    (long)body);
		ck_assert_int_eq(out.len, 34);
		ck_assert(memcmp(out.data, "0123456789abcdef0123456789abcdexyz",
		    34) == 0);
	}
	ck_assert_int_eq(chunked("0\r\n\r\n", 5, 5, 10, &out, &e), 5);
	ck_assert_int_eq(out.len, 0);
	/* Still incomplete. */
	ck_assert_int_eq(chunked("5\r\nab", 5, 5, 10, &out, &e), 0);
}
END_TEST

START_TEST(test_chunked_refused)
{
	static const struct {
		const char	*in;
		enum err_code	 code;
	} t[] = {
		{ "zz\r\n", ERR_BAD_REQUEST },
		{ "-1\r\n", ERR_BAD_REQUEST },
		{ "\r\n", ERR_BAD_REQUEST },
		{ ";x\r\n", ERR_BAD_REQUEST },
		{ "ffffffffffffffffff\r\n", ERR_BAD_REQUEST },
		{ "3\nabc\r\n", ERR_BAD_REQUEST },
		{ "3\r\nabcd\r\n", ERR_BAD_REQUEST },
		{ "3\r\nabc\n0\r\n\r\n", ERR_BAD_REQUEST },
		{ "3;a\x01\r\nabc\r\n", ERR_BAD_REQUEST },
		{ "0\r\nNoColon\r\n\r\n", ERR_BAD_REQUEST },
		{ "0\r\n folded: x\r\n\r\n", ERR_BAD_REQUEST },
		{ "0\r\n\r\r", ERR_BAD_REQUEST },
		{ "ffffffffffffffff\r\n", ERR_PAYLOAD_TOO_LARGE },
		{ "b\r\n", ERR_PAYLOAD_TOO_LARGE },
		{ "5\r\nabcde\r\n6\r\n", ERR_PAYLOAD_TOO_LARGE },
	};
	struct sink	out;
	struct err	e;
	size_t		i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		e.code = ERR_NONE;
		ck_assert_msg(chunked(t[i].in, strlen(t[i].in), 1, 10, &out,
		    &e) == -1, "accepted %s", t[i].in);
		ck_assert_msg(e.code == t[i].code, "%s: code %d", t[i].in,
		    e.code);
	}
}
END_TEST

START_TEST(test_head_end_and_tchars)
{
	static const char tchars[] = "!#$%&'*+-.^_`|~0123456789"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	struct http_head	h;
	struct err		e;
	char			req[128];
	const char		*s;
	int			c, n;

	/* The head ends at the first CRLF CRLF, and only there: LF CR LF or
	 * CR LF LF is no end (a bare LF is refused once the end comes). */
	s = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
	ck_assert_int_eq(head(s, &h, &e), 27);
	ck_assert_int_eq(head("GET / HTTP/1.1\r\nHost: a\n\r\n", &h, &e), 0);
	ck_assert_int_eq(head("GET / HTTP/1.1\r\nHost: a\n\r\n\r\n", &h, &e),
	    -1);
	ck_assert_int_eq(head("GET / HTTP/1.1\r\nHost: a\r\n\n\r\n", &h, &e),
	    0);
	/* A field name is tchars (RFC 9110 5.6.2), every one of them and
	 * nothing else. */
	for (c = 1; c < 256; c++) {
		n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a\r\n"
		    "X%cY: 1\r\n\r\n", c);
		if (c == ':')
			continue;	/* "X:Y: 1" is the field X */
		ck_assert_msg((http_parse_head(req, (size_t)n, 65536, &h,
		    &e) > 0) == (strchr(tchars, c) != NULL), "byte %d", c);
	}
}
END_TEST

static Suite *
http_parse_suite(void)
{
	Suite	*s = suite_create("http_parse");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_simple);
	tcase_add_test(tc, test_incomplete_and_leading_crlf);
	tcase_add_test(tc, test_keep_alive);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_accepted);
	tcase_add_test(tc, test_head_end_and_tchars);
	tcase_add_test(tc, test_absolute_form);
	tcase_add_test(tc, test_chunked);
	tcase_add_test(tc, test_chunked_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(http_parse_suite());
	int	 nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
