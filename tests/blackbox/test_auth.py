"""Issue 4 / SPEC 7: bearer tokens with workspace scopes.  No, unknown or
malformed Authorization: 401 for the whole request; an item outside the
token's workspaces: 403 for that item only; Authorization inside an item
ignored; /healthz and /metrics open; secrets never logged; auth off (and
said so) without token lines."""

import itertools
import unittest

from harness import Server, check_envelope, check_item_error, rows_path
from batch_util import (async_post, async_wait, batch, batch_ok, get, item,
                         put, req, token_options)

# Long, distinctive secrets, so a grep of the log cannot match by chance.
T1 = "tok1-ZqX8vN3pL7wR2mK9sB4yH6dF1gJ5cT0e"     # ws1 only
T2 = "tok2-Uo9Ai8Qe7Wr6Ty5Ip4As3Df2Gh1Jk0Lz"     # every workspace
T3 = "tok3-Pq2Wx7Ec4Rv1Tb8Yn5Um3Ik6Ol9Az0Sx"     # wsa and wsb
WRONG = "tokW-Mn0Bv9Cx8Za7Sd6Fg5Hj4Kl3Qw2Er1Ty"
SECRETS = (T1, T2, T3, WRONG)

SRV = None
_counter = itertools.count()


def setUpModule():
    global SRV
    SRV = Server(workers=2, **token_options((T1, "ws1"), (T2, "*"),
                                            (T3, "wsa,wsb")))
    SRV.start()


def tearDownModule():
    global SRV
    if SRV is not None:
        SRV.stop()
        SRV = None


def key():
    return "k%d" % next(_counter)


def check_401(tc, resp):
    err = check_envelope(tc, resp, 401, "UNAUTHORIZED")
    challenge = resp[1].get("WWW-Authenticate", "")
    tc.assertTrue(challenge.lower().startswith("bearer"),
                  "401 without a Bearer challenge: %r" % challenge)
    return err


class UnauthorizedTest(unittest.TestCase):
    def assert_all_401(self, headers):
        k = key()
        cases = [
            ("GET", "/v1" + rows_path("ws1", "t", k), None),
            ("PUT", "/v1" + rows_path("ws1", "t", k), {"v": 1}),
            ("POST", "/v1/$batch",
             {"requests": [put("1", "ws1", k, {"v": 1})]}),
            ("POST", "/v1/batches",
             {"requests": [put("1", "ws1", k, {"v": 1})]}),
            ("GET", "/v1/batches/" + "A" * 24, None),
            ("GET", "/v1/workspaces/ws1/tables", None),
            ("GET", "/v1/nowhere", None),
        ]
        for method, path, body in cases:
            with self.subTest(method=method, path=path, headers=headers):
                check_401(self, SRV.request(method, path, body,
                                            headers=headers))
        # Nothing of any refused request ran.
        st, _, _, raw = req(SRV, "GET", "/v1" + rows_path("ws1", "t", k),
                            token=T2)
        self.assertEqual(st, 404, "a refused write was applied: %r" % raw[:200])

    def test_no_header(self):
        self.assert_all_401({})

    def test_unknown_tokens(self):
        for tok in (WRONG, T1[:-1], T1 + "x", T1.upper(), T2[1:],
                    T1 + " " + T2, "x"):
            self.assert_all_401({"Authorization": "Bearer " + tok})

    def test_malformed_headers(self):
        for value in ("Basic " + T1, "Basic dXNlcjpwYXNz", "Bearer",
                      "Bearer ", "Bearer    ", T1, "Token " + T1,
                      "Bearer" + T1, "Bearer " + T1 + " extra"):
            self.assert_all_401({"Authorization": value})


class AuthorizedTest(unittest.TestCase):
    def test_right_token_200(self):
        k = key()
        for tok in (T1, T2):
            st, h, body, raw = req(SRV, "PUT", "/v1" + rows_path("ws1", "t", k),
                                   {"by": tok[:4]}, token=tok)
            self.assertIn(st, (200, 201), raw[:300])
            st, _, body, raw = req(SRV, "GET", "/v1" + rows_path("ws1", "t", k),
                                   token=tok)
            self.assertEqual((st, body), (200, {"by": tok[:4]}), raw[:300])
            r, _ = batch_ok(self, SRV, [get("1", "ws1", k)], token=tok)
            self.assertEqual(r["1"]["status"], 200)

    def test_auth_scheme_is_case_insensitive(self):
        # RFC 9110 11.1: the scheme name is case-insensitive.
        for scheme in ("bearer", "BEARER"):
            st, _, _, raw = SRV.request(
                "GET", "/v1/workspaces/ws1/tables",
                headers={"Authorization": "%s %s" % (scheme, T1)})
            self.assertEqual(st, 200, raw[:300])

    def test_plain_request_outside_scope_is_403(self):
        k = key()
        for method, body in (("PUT", {"v": 1}), ("GET", None),
                             ("DELETE", None), ("PATCH", {"v": 2})):
            check_envelope(self, req(SRV, method,
                                     "/v1" + rows_path("ws2", "t", k),
                                     body, token=T1), 403, "FORBIDDEN")
        check_envelope(self, req(SRV, "GET", "/v1/workspaces/ws2/tables",
                                 token=T1), 403, "FORBIDDEN")
        check_envelope(self, req(SRV, "POST", "/v1/workspaces/ws2/query",
                                 {"query": "t | count"}, token=T1),
                       403, "FORBIDDEN")
        check_envelope(self, req(SRV, "GET",
                                 "/v1/workspaces/ws2/query?query=t",
                                 token=T1), 403, "FORBIDDEN")
        # The PUT was refused, not applied.
        self.assertEqual(req(SRV, "GET", "/v1" + rows_path("ws2", "t", k),
                             token=T2)[0], 404)

    def test_batch_items_outside_scope_are_403_others_run(self):
        k = key()
        r, _ = batch_ok(self, SRV, [
            put("in1", "ws1", k, {"v": 1}),
            put("out1", "ws2", k, {"v": 1}),
            item("in2", "/tables/t/rows/%s-b" % k, "PUT", {"v": 2},
                 workspace="ws1"),
            item("out2", "/tables/t/rows/%s-b" % k, "PUT", {"v": 2},
                 workspace="ws2"),
            {"id": "out3", "method": "GET",
             "url": "/v1/workspaces/ws2/tables"},
            item("out4", "/query", "POST", {"query": "t | count"},
                 workspace="ws2"),
            get("in3", "ws1", k, dependsOn=["in1"]),
            get("dep", "ws1", k, dependsOn=["out1"]),
        ], token=T1)
        self.assertEqual(len(r), 8)
        self.assertEqual(r["in1"]["status"], 201)
        self.assertEqual(r["in2"]["status"], 201)
        self.assertEqual((r["in3"]["status"], r["in3"]["body"]),
                         (200, {"v": 1}))
        for iid in ("out1", "out2", "out3", "out4"):
            check_item_error(self, r[iid], 403, "FORBIDDEN")
        check_item_error(self, r["dep"], 424, "FAILED_DEPENDENCY")
        # ws2 untouched, ws1 written.
        for kk in (k, k + "-b"):
            self.assertEqual(req(SRV, "GET", "/v1" + rows_path("ws2", "t", kk),
                                 token=T2)[0], 404)
            self.assertEqual(req(SRV, "GET", "/v1" + rows_path("ws1", "t", kk),
                                 token=T2)[0], 200)

    def test_forbidden_member_fails_its_atomicity_group(self):
        k = key()
        r, _ = batch_ok(self, SRV, [
            put("in", "ws1", k, {"v": 1}, atomicityGroup="g"),
            put("out", "ws2", k, {"v": 1}, atomicityGroup="g"),
            put("free", "ws1", k + "-free", {"v": 1}),
        ], token=T1)
        check_item_error(self, r["out"], 403, "FORBIDDEN")
        check_item_error(self, r["in"], 424, "FAILED_DEPENDENCY")
        self.assertEqual(r["free"]["status"], 201)
        for ws in ("ws1", "ws2"):
            self.assertEqual(req(SRV, "GET", "/v1" + rows_path(ws, "t", k),
                                 token=T2)[0], 404)

    def test_workspace_list_is_matched_exactly(self):
        for tok, allowed, denied in (
                (T1, ("ws1",), ("ws10", "ws", "WS1", "w", "ws1-", "wsa")),
                (T3, ("wsa", "wsb"), ("wsc", "ws", "wsab", "WSA", "ws1"))):
            for ws in allowed:
                st, _, _, raw = req(SRV, "GET", "/v1/workspaces/%s/tables" % ws,
                                    token=tok)
                self.assertEqual(st, 200, "%s: %r" % (ws, raw[:200]))
            for ws in denied:
                with self.subTest(token=tok[:4], ws=ws):
                    check_envelope(self, req(SRV, "GET",
                                             "/v1/workspaces/%s/tables" % ws,
                                             token=tok), 403, "FORBIDDEN")

    def test_wildcard_token_reaches_every_workspace(self):
        k = key()
        r, _ = batch_ok(self, SRV, [put(str(i), "ws%d" % i, k, {"i": i})
                                    for i in range(1, 5)], token=T2)
        self.assertEqual({v["status"] for v in r.values()}, {201})

    def test_encoded_or_dotted_workspace_does_not_escape_scope(self):
        k = key()
        st, _, _, raw = req(SRV, "PUT", "/v1" + rows_path("ws2", "t", k),
                            {"secret": 1}, token=T2)
        self.assertEqual(st, 201, raw[:200])
        for path in ("/v1/workspaces/ws%%32/tables/t/rows/%s" % k,
                     "/v1/workspaces/%%77s2/tables/t/rows/%s" % k,
                     "/v1/workspaces/ws1/../ws2/tables/t/rows/%s" % k):
            st, _, body, raw = req(SRV, "GET", path, token=T1)
            self.assertNotEqual(st, 200, "%s read another workspace: %r"
                                % (path, raw[:200]))
            self.assertNotIn(b"secret", raw)
        r, _ = batch_ok(self, SRV, [
            item("1", "/../ws2/tables/t/rows/" + k, workspace="ws1"),
            item("2", "/workspaces/ws%32/tables/t/rows/" + k),
        ], token=T1)
        for v in r.values():
            self.assertGreaterEqual(v["status"], 400, v)
            self.assertNotIn("secret", str(v.get("body")))

    def test_authorization_inside_item_is_ignored(self):
        k = key()
        # The item claims the wildcard token; the batch's token applies.
        r, _ = batch_ok(self, SRV, [
            put("up", "ws2", k, {"v": 1},
                headers={"Authorization": "Bearer " + T2}),
            put("junk", "ws1", k, {"v": 1},
                headers={"Authorization": "Basic garbage"}),
        ], token=T1)
        check_item_error(self, r["up"], 403, "FORBIDDEN")
        self.assertEqual(r["junk"]["status"], 201)
        self.assertEqual(req(SRV, "GET", "/v1" + rows_path("ws2", "t", k),
                             token=T2)[0], 404)
        # A batch without credentials stays unauthorized whatever its
        # items carry.
        check_401(self, batch(SRV, [
            put("1", "ws1", k + "x", {"v": 1},
                headers={"Authorization": "Bearer " + T2})]))
        self.assertEqual(req(SRV, "GET", "/v1" + rows_path("ws1", "t", k + "x"),
                             token=T2)[0], 404)

    def test_async_items_outside_scope_are_403(self):
        k = key()
        st, h, body, raw = async_post(SRV, [put("in", "ws1", k, {"v": 1}),
                                            put("out", "ws2", k, {"v": 1})],
                                      token=T1)
        self.assertEqual(st, 201, raw[:300])
        async_wait(self, SRV, h["Location"], token=T1, timeout=20)
        st, _, body, raw = req(SRV, "GET", h["Location"], token=T1)
        r = {x["id"]: x for x in body["responses"]}
        self.assertEqual(r["in"]["status"], 201)
        check_item_error(self, r["out"], 403, "FORBIDDEN")
        self.assertEqual(body["batch"]["failed"], 1)

    def test_healthz_and_metrics_need_no_token(self):
        for path in ("/healthz", "/metrics"):
            st, _, _, raw = SRV.request("GET", path)
            self.assertEqual(st, 200, raw[:200])
            # A bad token there does not matter either.
            st, _, _, raw = SRV.request("GET", path, headers={
                "Authorization": "Bearer " + WRONG})
            self.assertEqual(st, 200, raw[:200])

    def test_secrets_never_logged(self):
        # Exercise every path a secret could leak through, then grep.
        k = key()
        check_401(self, SRV.request("GET", "/v1/workspaces/ws1/tables",
                                    headers={"Authorization": "Bearer " + WRONG}))
        check_401(self, SRV.request("GET", "/v1/workspaces/ws1/tables",
                                    headers={"Authorization": "Basic " + T1}))
        self.assertEqual(req(SRV, "PUT", "/v1" + rows_path("ws1", "t", k),
                             {"v": 1}, token=T1)[0], 201)
        req(SRV, "GET", "/v1" + rows_path("ws2", "t", k), token=T1)
        batch_ok(self, SRV, [put("1", "ws2", k, {"v": 1},
                                 headers={"Authorization": "Bearer " + WRONG})],
                 token=T1)
        st, h, _, _ = async_post(SRV, [get("1", "ws1", k)], token=T2)
        self.assertEqual(st, 201)
        async_wait(self, SRV, h["Location"], token=T2, timeout=20)
        log = SRV.log_sync()
        self.assertTrue(any("status=401" in l for l in log),
                        "expected request log lines")
        for secret in SECRETS:
            for frag in (secret, secret[5:], secret[-16:]):
                leaked = [l for l in log if frag in l]
                self.assertFalse(leaked, "token secret in the log: %r"
                                 % leaked[:3])


class AuthOffTest(unittest.TestCase):
    def test_no_token_lines_auth_off_and_said_so(self):
        with Server(workers=1) as srv:
            self.assertTrue(any("auth is off" in l for l in srv.log_lines()),
                            "no 'auth is off' line:\n%s" % srv.log_text())
            st, _, _, raw = srv.v1("PUT", rows_path("any", "t", "k"), {"v": 1})
            self.assertEqual(st, 201, raw[:200])
            # Any Authorization header is simply not looked at.
            st, _, body, raw = srv.request(
                "GET", "/v1" + rows_path("any", "t", "k"),
                headers={"Authorization": "Bearer whatever"})
            self.assertEqual((st, body), (200, {"v": 1}), raw[:200])

    def test_with_tokens_the_log_does_not_say_auth_off(self):
        self.assertFalse([l for l in SRV.log_lines() if "auth is off" in l])


if __name__ == "__main__":
    unittest.main()
