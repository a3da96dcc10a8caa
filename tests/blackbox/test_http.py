"""Black-box tests of batchd's HTTP/1.1 layer: SPEC section 9, issue 11.

Requests are written as exact bytes on raw sockets (harness.RawConnection)
wherever framing matters, so every test sees what a proxy or a hostile
client would send.  Every socket has a timeout and every wait a deadline.
"""

import json
import unittest

from harness import (RawConnection, Server, check_envelope, dumps,
                     http_bytes, rows_path)

WS = "hw"
READ_S = 5.0            # most an answer may take to come back
CLOSE_S = 5.0           # most the server may take to close after an answer


def row_target(key, ws=WS, table="t"):
    return "/v1" + rows_path(ws, table, key)


def chunked(*pieces):
    """A chunked body: one chunk per piece, then the last chunk."""
    out = b""
    for p in pieces:
        out += b"%x\r\n" % len(p) + p + b"\r\n"
    return out + b"0\r\n\r\n"


def probe_closed(conn):
    """True if the server has closed conn: a request is sent on it and
    must not be answered; the connection must end (FIN or RST) instead.
    A server that kept the connection open answers at once, so this fails
    fast rather than waiting out a timeout."""
    conn.send(http_bytes("GET", "/healthz"))
    return conn.wait_closed(CLOSE_S, stop_on_data=True)


class HttpCase(unittest.TestCase):
    """One server for the whole class (options in SRV_OPTIONS)."""

    SRV_OPTIONS = {}

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(**dict({"workers": 2}, **cls.SRV_OPTIONS)).start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def connect(self, **kw):
        return RawConnection(self.srv.port, READ_S, **kw)

    def exchange(self, data, head_only=False, piece=None):
        """data on a fresh connection; returns (connection, first answer).
        The caller closes the connection."""
        conn = self.connect()
        conn.send(data, piece)
        return conn, conn.read_response(READ_S, head_only)

    def put_row(self, key, value, ws=WS):
        st, _, body, raw = self.srv.request("PUT", row_target(key, ws), value)
        self.assertIn(st, (200, 201), raw[:300])
        return body

    def read_row(self, key, ws=WS):
        st, h, body, raw = self.srv.request("GET", row_target(key, ws))
        return st, body, h.get("ETag")

    def assert_refused_and_closed(self, conn, r, what):
        """A framing error: 400 BAD_REQUEST in the SPEC 4 envelope (with
        X-Request-Id == meta.request_id), `Connection: close`, and the
        connection closed after the answer."""
        self.assertEqual(r.status, 400, "%s: expected 400, got %r"
                         % (what, r))
        self.assertTrue(r.complete, "%s: answer not complete: %r" % (what, r))
        check_envelope(self, r.as_tuple(), 400, "BAD_REQUEST")
        self.assertIn("close", r.header_tokens("Connection"),
                      "%s: 400 without Connection: close: %r" % (what, r))
        self.assertTrue(probe_closed(conn),
                        "%s: connection left open after the 400 (a request "
                        "sent after it was answered: %r)"
                        % (what, bytes(conn.buf[:200])))


# ------------------------------------------------------------------ framing

def framing_cases(target):
    """(name, request bytes) that RFC 9112 says must be refused with 400
    and the connection closed.  Each is a PUT of {"v":1} to
    target(name)."""
    body = b'{"v":1}'
    te_body = chunked(body)

    def put(headers, payload=body):
        # Content-Length only where the case says so.
        return lambda name: http_bytes("PUT", target(name), None,
                                       headers) + payload

    cases = [
        ("two Content-Length lines",
         put([("Content-Length", "7"), ("Content-Length", "60")])),
        ("one Content-Length list",
         put([("Content-Length", "7, 60")])),
        ("Content-Length with Transfer-Encoding",
         put([("Content-Length", "7"), ("Transfer-Encoding", "chunked")],
             te_body)),
        ("Transfer-Encoding gzip, chunked",
         put([("Transfer-Encoding", "gzip, chunked")], te_body)),
        ("Transfer-Encoding chunked, gzip",
         put([("Transfer-Encoding", "chunked, gzip")], te_body)),
        ("Transfer-Encoding identity",
         put([("Transfer-Encoding", "identity")])),
        ("chunk size zz",
         put([("Transfer-Encoding", "chunked")],
             b"zz\r\n" + body + b"\r\n0\r\n\r\n")),
        ("chunk size -1",
         put([("Transfer-Encoding", "chunked")],
             b"-1\r\n" + body + b"\r\n0\r\n\r\n")),
        ("chunk size overflow",
         put([("Transfer-Encoding", "chunked")],
             b"ffffffffffffffffff\r\n" + body + b"\r\n0\r\n\r\n")),
        ("HTTP/1.1 without Host",
         put([("Host", None), ("Content-Length", "7")])),
        ("two Host headers",
         put([("Host", "a.example"), ("Host", "b.example"),
              ("Content-Length", "7")])),
        ("two Authorization headers",
         put([("Content-Length", "7"), ("Authorization", "Bearer x"),
              ("Authorization", "Bearer x")])),
        ("header line without a colon",
         put([("Content-Length", "7"), ("X-Pad", "1\r\nX-No-Colon")])),
        ("whitespace before the colon",
         put([("Content-Length", "7"), ("X-Pad ", "1")])),
        ("whitespace before the colon of Content-Length",
         put([("Content-Length ", "7")])),
        ("obs-fold",
         put([("Content-Length", "7"), ("X-Pad", "a\r\n b")])),
    ]
    return [(name, make(name)) for name, make in cases]


class FramingTest(HttpCase):

    def test_ambiguous_framing_is_400_and_close(self):
        """Every framing case of SPEC 9: 400 BAD_REQUEST envelope,
        Connection: close, the connection closed, the row not written."""
        def key(name):
            return "framing " + name

        for name, data in framing_cases(lambda n: row_target(key(n))):
            with self.subTest(case=name):
                conn, r = self.exchange(data)
                with conn:
                    self.assert_refused_and_closed(conn, r, name)
                st, body, _ = self.read_row(key(name))
                self.assertEqual(st, 404, "%s: the refused PUT wrote the row: "
                                 "%r" % (name, body))
        self.assertTrue(self.srv.alive())

    def test_identical_duplicate_content_length_is_accepted(self):
        data = http_bytes("PUT", row_target("dup-cl"), None,
                          [("Content-Length", "7"), ("Content-Length", "7")]
                          ) + b'{"v":7}'
        conn, r = self.exchange(data)
        with conn:
            self.assertEqual(r.status, 201, r)
            # The connection stays usable.
            conn.send(http_bytes("GET", row_target("dup-cl")))
            r2 = conn.read_response(READ_S)
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual(r2.json, {"v": 7})

    def test_http10_without_host_is_served(self):
        conn, r = self.exchange(http_bytes(
            "PUT", row_target("http10"), b'{"v":10}', {"Host": None},
            version="HTTP/1.0"))
        with conn:
            self.assertEqual(r.status, 201, r)
        self.assertEqual(self.read_row("http10")[:2], (200, {"v": 10}))

    def test_smuggled_delete_does_not_run(self):
        """Issue 11, row 1: a PUT with Content-Length 7 and 60 whose body
        is {"v":8} then a whole DELETE of the same row.  Taking the first
        length runs the hidden DELETE; RFC 9112 6.3 says 400 and close."""
        key = "smuggle"
        self.put_row(key, {"v": 1})
        _, _, etag0 = self.read_row(key)
        hidden = http_bytes("DELETE", row_target(key))
        data = http_bytes("PUT", row_target(key), None,
                          [("Content-Length", "7"), ("Content-Length", "60")]
                          ) + b'{"v":8}' + hidden
        conn, r = self.exchange(data)
        with conn:
            refused = r.status == 400
            closed = probe_closed(conn) if refused else False
        st, body, etag = self.read_row(key)
        self.assertEqual((st, body, etag), (200, {"v": 1}, etag0),
                         "the row changed: now %d %r (first answer %r)"
                         % (st, body, r))
        self.assertTrue(refused, "expected 400, got %r" % r)
        check_envelope(self, r.as_tuple(), 400, "BAD_REQUEST")
        self.assertTrue(closed, "connection left open after the 400")


class AuthFramingTest(HttpCase):
    """Two Authorization headers on a server with auth on: refused before
    the token is looked at, even when both carry the valid token."""

    SRV_OPTIONS = {"token": "s3cret *"}

    def test_two_authorization_headers_are_400_and_close(self):
        for second in ("Bearer s3cret", "Bearer other"):
            with self.subTest(second=second):
                conn, r = self.exchange(http_bytes(
                    "GET", "/v1/workspaces/%s/tables" % WS, None,
                    [("Authorization", "Bearer s3cret"),
                     ("Authorization", second)]))
                with conn:
                    self.assert_refused_and_closed(conn, r, second)


# ------------------------------------------------------------- chunked bodies

class ChunkedBodyTest(HttpCase):

    BODY = b'{"s":"' + b"x" * 30 + b'"}'     # 38 bytes: 0x1f + 7

    def put_chunked(self, key, payload):
        conn, r = self.exchange(http_bytes(
            "PUT", row_target(key), None,
            {"Transfer-Encoding": "chunked"}) + payload)
        conn.close()
        return r

    def test_plain_chunked_body(self):
        r = self.put_chunked("plain", chunked(self.BODY[:31], self.BODY[31:]))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.read_row("plain")[1], json.loads(self.BODY))

    def test_chunk_extensions_are_ignored(self):
        """RFC 9112 7.1.1.  batchd today: 413 "body exceeds
        max_body_bytes"."""
        payload = (b"1f;ext=1\r\n" + self.BODY[:31] + b"\r\n"
                   b'7;a=b;c="d"\r\n' + self.BODY[31:] + b"\r\n"
                   b"0;last=1\r\n\r\n")
        r = self.put_chunked("ext", payload)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.read_row("ext")[1], json.loads(self.BODY))

    def test_trailers_are_accepted_and_ignored(self):
        payload = (b"1f\r\n" + self.BODY[:31] + b"\r\n"
                   b"7\r\n" + self.BODY[31:] + b"\r\n"
                   b"0\r\nX-Checksum: 1234\r\nX-Other: a, b\r\n\r\n")
        conn, r = self.exchange(http_bytes(
            "PUT", row_target("trailer"), None,
            {"Transfer-Encoding": "chunked", "Trailer": "X-Checksum"}
            ) + payload)
        with conn:
            self.assertEqual(r.status, 201, r)
            # The trailer section was consumed: the next request parses.
            conn.send(http_bytes("GET", row_target("trailer")))
            r2 = conn.read_response(READ_S)
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual(r2.json, json.loads(self.BODY))


# ---------------------------------------------------------------- targets

class TargetAndMethodTest(HttpCase):

    def test_absolute_form_target(self):
        """RFC 9112 3.2.2.  batchd today: 404."""
        self.put_row("abs", {"v": "abs"})
        origin = "http://127.0.0.1:%d" % self.srv.port
        batch = dumps({"requests": [
            {"id": "1", "path": rows_path(WS, "t", "abs")}]}).encode()
        conn, r = self.exchange(http_bytes(
            "POST", origin + "/v1/$batch", batch,
            {"Content-Type": "application/json"}))
        with conn:
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["responses"][0]["status"], 200, r)
            self.assertEqual(r.json["responses"][0]["body"], {"v": "abs"})
            conn.send(http_bytes("GET", origin + row_target("abs")))
            r2 = conn.read_response(READ_S)
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual(r2.json, {"v": "abs"})

    def head_vs_get(self, target):
        """(HEAD answer, GET answer before it, GET answer after it), the
        HEAD pipelined in one write before the second GET on one
        connection: the GET must parse right after HEAD's header."""
        with self.connect() as conn:
            conn.send(http_bytes("GET", target))
            g1 = conn.read_response(READ_S)
            conn.send(http_bytes("HEAD", target) + http_bytes("GET", target))
            h = conn.read_response(READ_S, head_only=True)
            g2 = conn.read_response(READ_S)
        return h, g1, g2

    def test_head_works_wherever_get_does(self):
        """RFC 9110 9.3.2.  batchd today: 405."""
        self.put_row("head", {"v": "head", "pad": "p" * 100})
        for target in (row_target("head"), "/healthz", "/metrics",
                       "/v1" + rows_path(WS, "t") + "?limit=10"):
            with self.subTest(target=target):
                h, g1, g2 = self.head_vs_get(target)
                self.assertEqual(g1.status, 200, g1)
                self.assertEqual(h.status, 200, h)
                self.assertEqual(g2.status, 200,
                                 "the answer after HEAD does not parse "
                                 "(body bytes after HEAD's header?): %r" % g2)
                cl = h.headers.get("Content-Length")
                self.assertIsNotNone(cl, "HEAD without Content-Length: %r" % h)
                lens = sorted((len(g1.body), len(g2.body)))
                # /metrics and /healthz change between requests; the HEAD
                # came between the two GETs.
                self.assertTrue(lens[0] <= int(cl) <= lens[1],
                                "HEAD Content-Length %s, GET bodies %r"
                                % (cl, lens))
                self.assertEqual(h.headers.get("Content-Type"),
                                 g1.headers.get("Content-Type"))
                self.assertEqual(h.headers.get("ETag"), g1.headers.get("ETag"))
                self.assertTrue(h.headers.get("X-Request-Id"), h)


# ------------------------------------------------------------ connections

class ConnectionTest(HttpCase):

    def test_connection_close_in_a_list_closes(self):
        """Connection is a list (RFC 9110 7.6.1).  batchd today leaves
        `keep-alive, close` open."""
        for value in ("keep-alive, close", "close", "Keep-Alive,Close"):
            with self.subTest(connection=value):
                conn, r = self.exchange(http_bytes(
                    "GET", "/healthz", None, {"Connection": value}))
                with conn:
                    self.assertEqual(r.status, 200, r)
                    self.assertTrue(probe_closed(conn),
                                    "left open after Connection: %s" % value)

    def test_http10_closes_unless_keep_alive(self):
        conn, r = self.exchange(http_bytes("GET", "/healthz",
                                           version="HTTP/1.0"))
        with conn:
            self.assertEqual(r.status, 200, r)
            self.assertTrue(probe_closed(conn), "HTTP/1.0 left open")
        conn, r = self.exchange(http_bytes(
            "GET", "/healthz", None, {"Connection": "keep-alive"},
            version="HTTP/1.0"))
        with conn:
            self.assertEqual(r.status, 200, r)
            conn.send(http_bytes("GET", "/healthz", version="HTTP/1.0"))
            r2 = conn.read_response(READ_S)
        self.assertEqual(r2.status, 200,
                         "HTTP/1.0 keep-alive connection not kept: %r" % r2)

    def pipelined(self, tag):
        """Three requests (GET, PUT with a body, $batch) as one byte
        string, and a check of their three answers."""
        key = "pipe-" + tag
        self.put_row(key, {"n": 1})
        batch = dumps({"requests": [
            {"id": "b", "path": rows_path(WS, "t", key)}]}).encode()
        data = (http_bytes("GET", row_target(key), None,
                           {"X-Request-Id": tag + "-1"}) +
                http_bytes("PUT", row_target(key + "-2"), b'{"n":2}',
                           {"X-Request-Id": tag + "-2"}) +
                http_bytes("POST", "/v1/$batch", batch,
                           {"X-Request-Id": tag + "-3",
                            "Content-Type": "application/json"}))

        def check(answers):
            got = [(a.status, a.headers.get("X-Request-Id")) for a in answers]
            self.assertEqual(got, [(200, tag + "-1"), (201, tag + "-2"),
                                   (200, tag + "-3")], answers)
            self.assertEqual(answers[0].json, {"n": 1})
            self.assertEqual(answers[1].json, {"n": 2})
            self.assertEqual(answers[2].json["responses"][0]["body"], {"n": 1})
        return data, check

    def test_pipelined_requests_in_one_write(self):
        data, check = self.pipelined("one")
        with self.connect() as conn:
            conn.send(data)
            answers = [conn.read_response(READ_S) for _ in range(3)]
        check(answers)

    def test_pipelined_requests_one_byte_per_write(self):
        data, check = self.pipelined("bytes")
        with self.connect() as conn:
            conn.send(data, piece=1)
            answers = [conn.read_response(READ_S) for _ in range(3)]
        check(answers)


if __name__ == "__main__":
    unittest.main()
