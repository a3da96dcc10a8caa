"""Issue 7, security review (SPEC 7, 8): token secrets and row bodies
never reach the log (and log lines cannot be forged); wrong tokens of the
same and of another length are both 401 (constant-time comparison is a
property of the code - auth.c - only its behaviour is checked here);
workspace scoping survives every path trick (.., %2e%2e, encoded slashes,
workspace + path combinations in batch items, queries); the work ring's
shared-memory object is mode 0600; started as root with `user`, the
master and every worker run as that user and still serve."""

import os
import pwd
import re
import signal
import stat
import subprocess
import time
import unittest

import harness
from harness import Server, check_envelope, rows_path
from hardening_util import (LOG_LINE_RE, TempDir, bearer, kill_child,
                            live_children, mdb_stat, proc_status, shm_path,
                            token_options, uids, wait_until)

# Long and distinctive, so a grep of the log cannot match by chance.
TA = "secA-Kx9Qm2Vb7Lp4Wz8Rt1Yn6Hd3Jf5Gs0Ce-aaaaaaaaaaaaaaaa"   # ws a
TB = "secB-Pw3Ez8Ux1Ir6Oy4Tq9Ml2Nk7Jh5Bg0Vc-bbbbbbbbbbbbbbbb"   # ws b
TS = "secS-Zr5Xe2Cw9Vq4Bt7Nm1Ly8Ku3Ji6Hp0Go-ssssssssssssssss"   # *
WRONG_SAME_LEN = "secW-" + "q" * (len(TA) - 5)
SECRETS = (TA, TB, TS, WRONG_SAME_LEN)
B_SECRET = "B-ROW-SECRET-7f3a9c1e5b2d8046"


def row_marker(n):
    """A distinctive row value, to grep the log for."""
    return "ROWVAL-%04d-e1c7b95a3f60d284" % n


class TokenLogTest(unittest.TestCase):
    """One server with three tokens, log_level debug, debug_ops on."""

    @classmethod
    def setUpClass(cls):
        opts = token_options((TA, "a"), (TB, "b"), (TS, "*"))
        cls.srv = Server(workers=2, debug_ops=True, item_timeout_ms=400,
                         log_level="debug", **opts)
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def check_401(self, resp):
        err = check_envelope(self, resp, 401, "UNAUTHORIZED")
        self.assertTrue(resp[1].get("WWW-Authenticate", "").lower()
                        .startswith("bearer"))
        for s in SECRETS:
            self.assertNotIn(s.encode(), resp[3], "401 echoes a secret")
        return err

    def test_wrong_tokens_same_or_other_length_are_401(self):
        srv = self.srv
        path = "/v1/workspaces/a/tables"
        st, _, _, raw = srv.request("GET", path, headers=bearer(TA))
        self.assertEqual(st, 200, raw[:200])
        flip = lambda s, i: s[:i] + ("x" if s[i] != "x" else "y") + s[i + 1:]
        wrong = [
            ("same length, first byte", flip(TA, 0)),
            ("same length, last byte", flip(TA, len(TA) - 1)),
            ("same length, middle byte", flip(TA, len(TA) // 2)),
            ("same length, unknown", WRONG_SAME_LEN),
            ("same length, case", TA.upper()),
            ("prefix", TA[:-1]),
            ("half", TA[:len(TA) // 2]),
            ("one byte", TA[0]),
            ("longer by one", TA + "a"),
            ("two tokens", TA + TB),
            ("10 KB", TA * (10240 // len(TA))),
            ("another token's prefix", TS[:len(TS) - 3]),
        ]
        for name, tok in wrong:
            with self.subTest(case=name):
                self.check_401(srv.request("GET", path, headers=bearer(tok)))
                self.check_401(srv.request(
                    "POST", "/v1/$batch",
                    {"requests": [{"id": "1", "url": "/workspaces/a/tables"}]},
                    headers=bearer(tok)))
        for hdr in ("Bearer", "Bearer ", "Basic " + TA, TA, "bearer" + TA,
                    "Bearer\t" + TA):
            with self.subTest(header=hdr):
                self.check_401(srv.request("GET", path,
                                           headers={"Authorization": hdr}))

    def test_tokens_and_row_bodies_never_logged(self):
        srv = self.srv
        markers = []

        def mk():
            markers.append(row_marker(len(markers)))
            return markers[-1]

        ra = "/v1" + rows_path("a", "t", "k1")
        # right token, plain writes and reads, every write method
        self.assertEqual(srv.request("PUT", ra, {"v": mk()},
                                     headers=bearer(TA))[0], 201)
        self.assertEqual(srv.request("PATCH", ra, {"w": mk()},
                                     headers=bearer(TA))[0], 200)
        st, h, _, _ = srv.request("POST", "/v1" + rows_path("a", "t"),
                                  {"id": "k2", "v": mk()}, headers=bearer(TA))
        self.assertEqual(st, 201)
        self.assertEqual(srv.request("GET", ra, headers=bearer(TA))[0], 200)
        # a failed precondition, a conflict, an invalid body
        self.assertEqual(srv.request("PUT", ra, {"v": mk()},
                                     headers=bearer(TA, {"If-Match": '"0"'})
                                     )[0], 412)
        self.assertEqual(srv.request("POST", "/v1" + rows_path("a", "t"),
                                     {"id": "k2", "v": mk()},
                                     headers=bearer(TA))[0], 409)
        self.assertEqual(srv.request("PUT", ra, '{"v":"%s",' % mk(),
                                     headers=bearer(TA))[0], 400)
        # wrong tokens (same and other length), on reads and writes
        for tok in (WRONG_SAME_LEN, TA[:-3], TA + "z", TB[::-1]):
            self.check_401(srv.request("PUT", ra, {"v": mk()},
                                       headers=bearer(tok)))
            self.check_401(srv.request("GET", ra + "?token=" + tok,
                                       headers=bearer(tok)))
        # a token in the query string of a good request
        srv.request("GET", ra + "?access_token=" + TS, headers=bearer(TA))
        # tokens inside batch items (ignored), right and wrong ones
        reqs = [
            {"id": "1", "method": "PUT", "url": rows_path("a", "t", "k3"),
             "body": {"v": mk()}, "headers": {"Authorization": "Bearer " + TS}},
            {"id": "2", "method": "PUT", "url": rows_path("b", "t", "k3"),
             "body": {"v": mk()}, "headers": {"Authorization": "Bearer " + TB}},
            {"id": "3", "method": "PUT", "url": rows_path("a", "t", "k4"),
             "body": {"v": mk()},
             "headers": {"authorization": "Bearer " + WRONG_SAME_LEN}},
            {"id": "4", "method": "PUT", "url": rows_path("a", "t", "k5"),
             "body": {"v": mk()}, "atomicityGroup": "g"},
            {"id": "5", "method": "PUT", "url": rows_path("a", "t", "k5"),
             "body": {"v": mk()}, "atomicityGroup": "g",
             "headers": {"If-Match": '"0"'}},
        ]
        st, _, body, raw = srv.request("POST", "/v1/$batch",
                                       {"requests": reqs, "ordered": True},
                                       headers=bearer(TA))
        self.assertEqual(st, 200, raw[:300])
        by = {r["id"]: r["status"] for r in body["responses"]}
        self.assertEqual((by["1"], by["2"], by["3"]), (201, 403, 201), by)
        self.assertEqual(by["5"], 412, by)
        self.check_401(srv.request("POST", "/v1/$batch", {"requests": reqs}))
        self.check_401(srv.request("POST", "/v1/$batch", {"requests": reqs},
                                   headers=bearer(WRONG_SAME_LEN)))
        # an async batch, polled with its own and another token
        st, h, _, raw = srv.request("POST", "/v1/batches", {"requests": [
            {"id": "1", "method": "PUT", "url": rows_path("a", "t", "k6"),
             "body": {"v": mk()}}]}, headers=bearer(TA))
        self.assertEqual(st, 201, raw[:300])
        loc = h["Location"]
        wait_until(lambda: srv.request("GET", loc, headers=bearer(TA))[2]
                   ["batch"]["status"] == "completed", 20, 0.02, "async done")
        self.assertEqual(srv.request("GET", loc, headers=bearer(TB))[0], 404)
        # items that crash, time out and exceed the body limit, with row
        # values in their bodies
        st, _, body, raw = srv.request("POST", "/v1/$batch", {"requests": [
            {"id": "c", "method": "POST", "url": "/debug/crash",
             "body": {"v": mk()}},
            {"id": "s", "method": "POST", "url": "/debug/sleep",
             "body": {"ms": 5000, "v": mk()}}]}, headers=bearer(TS))
        self.assertEqual(st, 200, raw[:300])
        st, _, _, _ = srv.request("PUT", ra, {"v": mk() + "x" * 4200000},
                                  headers=bearer(TA))
        self.assertEqual(st, 413)
        # a reload whose new token line is malformed: the refusal is
        # logged without the line (which would carry a secret)
        conf = os.path.join(srv.tmpdir, "batchd.conf")
        with open(conf) as f:
            good = f.read()
        bad_secret = "secX-Hn4Tg8Rf2Ed6Ws0Qa3Zx7Cv1Bn5Mk9Lj"
        try:
            with open(conf, "a") as f:
                f.write("token = %s not/a/workspace!\n" % bad_secret)
            n0 = len(srv.log_lines())
            srv.proc.send_signal(signal.SIGHUP)
            self.assertIsNotNone(srv.wait_for_log("reload refused", 10, n0),
                                 srv.log_text()[-2000:])
        finally:
            with open(conf, "w") as f:
                f.write(good)
        # `batchd -t` on that file says why, without the secret either
        with open(conf + ".bad", "w") as f:
            f.write(good + "token = %s not/a/workspace!\n" % bad_secret)
        p = subprocess.run([os.path.abspath(harness.BATCHD_BIN), "-t", "-c",
                            conf + ".bad"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertNotIn(bad_secret.encode(), p.stdout)
        self.assertNotIn(bad_secret[5:20].encode(), p.stdout)

        srv.wait_workers(timeout=15)
        log = srv.log_sync()
        self.assertTrue(any("status=401" in l for l in log))
        self.assertTrue(any("killed by signal" in l for l in log), log[-20:])
        for secret in SECRETS + (bad_secret,):
            for frag in (secret, secret[5:21], secret[-16:]):
                leaked = [l for l in log if frag in l]
                self.assertEqual(leaked, [], "secret %r in the log"
                                 % frag)
        for m in markers:
            leaked = [l for l in log if m in l or m[:12] in l]
            self.assertEqual(leaked, [], "row body %r in the log" % m)

    def test_log_lines_cannot_be_forged_through_item_ids(self):
        """A worker's death is logged with the id of the item it held;
        the id is the client's and is written raw, so an id holding a
        newline forges a log line (http_log() already sanitizes paths;
        pool.c's "holding batch N item M (\\"%.64s\\")" does not)."""
        srv = self.srv
        # short enough to survive the "%.64s" the id is printed with
        forged = "\n2026-01-01T00:00:00.000Z info [1] FORGED"
        st, _, body, raw = srv.request("POST", "/v1/$batch", {"requests": [
            {"id": "c" + forged, "method": "POST", "url": "/debug/crash"},
            {"id": "t\r" + forged, "method": "POST", "url": "/debug/sleep",
             "body": {"ms": 3000}}]}, headers=bearer(TS))
        self.assertEqual(st, 200, raw[:300])
        srv.wait_workers(timeout=15)
        bad = [l for l in srv.log_sync()
               if not LOG_LINE_RE.match(l) or
               l.startswith("2026-01-01T00:00:00.000Z")]
        self.assertEqual(bad, [], "log lines forged through an item id: %r"
                         % bad)
        for l in srv.log_lines():
            self.assertNotIn("\r", l, "raw CR in a log line: %r" % l)


class ScopeTest(unittest.TestCase):
    """A token for workspace a cannot read or write workspace b, whatever
    the spelling."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(workers=2, **token_options((TA, "a"), (TS, "*")))
        cls.srv.start()
        srv = cls.srv
        for key in ("k", "k2"):
            st, _, _, raw = srv.v1("PUT", rows_path("b", "t", key),
                                   {"secret": B_SECRET}, headers=bearer(TS))
            assert st == 201, raw
        st, _, _, raw = srv.v1("PUT", rows_path("a", "t", "mine"),
                               {"v": 1}, headers=bearer(TA))
        assert st == 201, raw

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def b_state(self):
        srv = self.srv
        st, _, tables, raw = srv.v1("GET", "/workspaces/b/tables",
                                    headers=bearer(TS))
        self.assertEqual(st, 200, raw[:200])
        st, _, rows, raw = srv.v1("GET", rows_path("b", "t") + "?limit=1000",
                                  headers=bearer(TS))
        self.assertEqual(st, 200, raw[:200])
        return tables, [(r["key"], r["etag"], r["value"]) for r in rows["rows"]]

    def assert_refused(self, resp, what):
        st, _, body, raw = resp
        self.assertFalse(200 <= st < 300, "%s answered %d: %r"
                         % (what, st, raw[:300]))
        self.assertNotIn(B_SECRET.encode(), raw, "%s read b" % what)

    def assert_items_refused(self, resp, what):
        st, _, body, raw = resp
        self.assertNotIn(B_SECRET.encode(), raw, "%s read b" % what)
        if st != 200:
            self.assertTrue(400 <= st < 500, "%s: %d %r" % (what, st, raw[:300]))
            return
        for r in body["responses"]:
            self.assertFalse(200 <= r["status"] < 300,
                             "%s: item %s answered %d: %r"
                             % (what, r["id"], r["status"], r))

    def test_path_tricks_plain(self):
        srv = self.srv
        before = self.b_state()
        spellings = [
            "/v1/workspaces/a/../b/tables",
            "/v1/workspaces/a/../b/tables/t/rows/k",
            "/v1/workspaces/a/../b/tables/t/rows",
            "/v1/workspaces/a/%2e%2e/b/tables/t/rows/k",
            "/v1/workspaces/a/%2E%2E/b/tables",
            "/v1/workspaces/a/.%2e/b/tables/t/rows/k",
            "/v1/workspaces/a%2Fb/tables/t/rows/k",
            "/v1/workspaces/a%2fb/tables",
            "/v1/workspaces/a%2F..%2Fb/tables/t/rows/k",
            "/v1/workspaces/a%252F..%252Fb/tables/t/rows/k",
            "/v1/workspaces/%62/tables/t/rows/k",
            "/v1/workspaces/%62/tables",
            "/v1/workspaces/b%00/tables/t/rows/k",
            "/v1/workspaces/b%00a/tables",
            "/v1/workspaces/a%00b/tables/t/rows/k",
            "/v1/workspaces/./b/tables/t/rows/k",
            "/v1/./workspaces/b/tables/t/rows/k",
            "/v1/workspaces//b/tables/t/rows/k",
            "/v1/workspaces/a/tables/../../b/tables/t/rows/k",
            "/v1/workspaces/a/tables/t/rows/..%2F..%2F..%2Fb%2Ftables%2Ft%2Frows%2Fk",
            "/v1/workspaces/a/tables/..%2F..%2Fb%2Ftables%2Ft/rows/k",
            "/v1/workspaces/b;a/tables/t/rows/k",
            "/v1/workspaces/b/tables/t/rows/k",
            "/v1/workspaces/b/tables/t/rows",
            "/v1/workspaces/b/tables",
            "/v1/workspaces/b/query?query=t",
            "/v1/../v1/workspaces/b/tables/t/rows/k",
            "/v1/workspaces/a/../../v1/workspaces/b/tables/t/rows/k",
            "/v1%2Fworkspaces%2Fb%2Ftables%2Ft%2Frows%2Fk",
            "/v1/workspaces/a/tables/t/rows/k?ws=b&workspace=b",
        ]
        # Spellings that really name a row of a (its key holds the
        # slashes and dots) may succeed - in a; b_state() checks that.
        in_a = {"/v1/workspaces/a/tables/t/rows/..%2F..%2F..%2Fb%2Ftables%2Ft%2Frows%2Fk",
                "/v1/workspaces/a/tables/t/rows/k?ws=b&workspace=b"}
        n = 0
        for path in spellings:
            for method in ("GET", "PUT", "PATCH", "DELETE", "POST"):
                body = None if method in ("GET", "DELETE") else \
                    {"secret": "overwritten", "id": "k"}
                resp = srv.request(method, path, body, headers=bearer(TA))
                n += 1
                self.assertNotIn(B_SECRET.encode(), resp[3],
                                 "%s %s read b" % (method, path))
                if path not in in_a:
                    self.assert_refused(resp, "%s %s" % (method, path))
        # POST queries naming b's table in every way the language might
        for q in ("t", "b.t", "workspace('b').t", "workspace(\"b\").t",
                  "['b'].t", "b:t", "../b/t", "union (workspace('b').t)",
                  "t | join (workspace('b').t) on key"):
            for ws in ("a", "b"):
                resp = srv.request("POST", "/v1/workspaces/%s/query" % ws,
                                   {"query": q}, headers=bearer(TA))
                n += 1
                self.assertNotIn(B_SECRET.encode(), resp[3],
                                 "query %r in %s read b" % (q, ws))
                if ws == "b":
                    self.assert_refused(resp, "query in b")
        self.assertEqual(self.b_state(), before, "b changed")
        self.assertGreater(n, 150)

    def test_path_tricks_in_batch_items(self):
        srv = self.srv
        before = self.b_state()
        tricks = [
            {"workspace": "a", "path": "/../b/tables"},
            {"workspace": "a", "path": "/../b/tables/t/rows/k"},
            {"workspace": "a", "path": "/../../workspaces/b/tables/t/rows/k"},
            {"workspace": "a", "path": "../b/tables/t/rows/k"},
            {"workspace": "a", "path": "/%2e%2e/b/tables/t/rows/k"},
            {"workspace": "a", "path": "/tables/../../b/tables/t/rows/k"},
            {"workspace": "a", "url": "/workspaces/b/tables/t/rows/k"},
            {"workspace": "a", "url": "/v1/workspaces/b/tables/t/rows/k"},
            {"workspace": "a/../b", "path": "/tables/t/rows/k"},
            {"workspace": "a/../b", "path": "/tables"},
            {"workspace": "a%2F..%2Fb", "path": "/tables/t/rows/k"},
            {"workspace": "..", "path": "/b/tables/t/rows/k"},
            {"workspace": "a\u0000", "path": "/../b/tables/t/rows/k"},
            {"workspace": "b", "path": "/tables/t/rows/k"},
            {"workspace": "b", "path": "/tables"},
            {"workspace": "%62", "path": "/tables/t/rows/k"},
            {"workspace": "", "path": "/workspaces/b/tables/t/rows/k"},
            {"url": "/workspaces/b/tables/t/rows/k"},
            {"url": "/v1/workspaces/b/tables/t/rows/k"},
            {"url": "/workspaces/a/../b/tables/t/rows/k"},
            {"url": "/workspaces/a/%2e%2e/b/tables/t/rows/k"},
            {"url": "/workspaces/a%2Fb/tables/t/rows/k"},
            {"url": "/workspaces/%62/tables/t/rows/k"},
            {"url": "/workspaces/b/tables"},
            {"url": "/workspaces/b/tables/t/rows"},
            {"url": "/workspaces/b/query?query=t"},
            {"path": "/workspaces/b/tables/t/rows/k"},
            {"path": "/workspaces/b/tables/t/rows/k",
             "headers": {"Authorization": "Bearer " + TS}},
        ]
        reqs = []
        n = 0
        for method in ("GET", "PUT", "PATCH", "DELETE", "POST"):
            for t in tricks:
                it = dict(t, id="%s-%d" % (method, len(reqs)), method=method)
                if method in ("PUT", "PATCH", "POST"):
                    it["body"] = {"secret": "overwritten", "id": "k"}
                reqs.append(it)
        for i in range(0, len(reqs), 50):
            chunk = reqs[i:i + 50]
            n += len(chunk)
            self.assert_items_refused(
                srv.request("POST", "/v1/$batch", {"requests": chunk},
                            headers=bearer(TA)), "batch %d" % i)
            self.assert_items_refused(
                srv.request("POST", "/v1/$batch",
                            {"requests": chunk, "stop_on_error": False,
                             "ordered": True}, headers=bearer(TA)),
                "ordered batch %d" % i)
        # An atomicity group with one member in b: nothing of it lands.
        resp = srv.request("POST", "/v1/$batch", {"requests": [
            {"id": "1", "method": "PUT", "atomicityGroup": "g",
             "url": rows_path("a", "t", "grp"), "body": {"v": 1}},
            {"id": "2", "method": "DELETE", "atomicityGroup": "g",
             "workspace": "a", "path": "/../b/tables/t/rows/k"},
            {"id": "3", "method": "DELETE", "atomicityGroup": "g",
             "url": rows_path("b", "t", "k")}]}, headers=bearer(TA))
        self.assert_items_refused(resp, "group")
        self.assertEqual(srv.v1("GET", rows_path("a", "t", "grp"),
                                headers=bearer(TA))[0], 404)
        # Asynchronous batches: the same items, and another token's batch.
        st, h, _, raw = srv.request("POST", "/v1/batches",
                                    {"requests": reqs[:60]},
                                    headers=bearer(TA))
        n += 60
        if st == 201:
            loc = h["Location"]
            wait_until(lambda: srv.request("GET", loc, headers=bearer(TA))[2]
                       ["batch"]["status"] in ("completed", "cancelled"),
                       30, 0.02, "async batch done")
            st, _, body, raw = srv.request("GET", loc + "?limit=1000",
                                           headers=bearer(TA))
            self.assertEqual(st, 200)
            self.assertNotIn(B_SECRET.encode(), raw)
            for r in body["responses"]:
                self.assertFalse(200 <= r["status"] < 300, r)
        else:
            self.assertTrue(400 <= st < 500, raw[:300])
        st, h, _, raw = srv.request("POST", "/v1/batches", {"requests": [
            {"id": "1", "url": rows_path("b", "t", "k")}]}, headers=bearer(TS))
        self.assertEqual(st, 201, raw[:300])
        loc = h["Location"]
        wait_until(lambda: srv.request("GET", loc, headers=bearer(TS))[2]
                   ["batch"]["status"] == "completed", 20, 0.02, "async done")
        for spelling in (loc, loc + "?offset=0&limit=10",
                         loc.replace("/v1/batches/", "/v1/batches/%2e%2e/")):
            resp = srv.request("GET", spelling, headers=bearer(TA))
            self.assert_refused(resp, "another token's async batch")
            resp = srv.request("DELETE", spelling, headers=bearer(TA))
            self.assert_refused(resp, "cancel another token's async batch")
        self.assertEqual(self.b_state(), before, "b changed")
        self.assertGreater(n, 150)


class ProcessTest(unittest.TestCase):

    def test_shared_memory_object_is_0600(self):
        with Server(workers=1) as srv:
            srv.wait_workers()
            p = shm_path(srv.proc.pid)
            st = os.stat(p)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600,
                             "%s has mode %o" % (p, stat.S_IMODE(st.st_mode)))
            self.assertEqual(st.st_uid, os.geteuid())
            # The store is not open to other users either (workers open
            # it after fork: wait for its files).
            db = os.path.join(srv.tmpdir, "db")
            wait_until(lambda: os.path.exists(os.path.join(db, "lock.mdb")),
                       10, 0.02, "the store's files")
            for name in os.listdir(db):
                m = stat.S_IMODE(os.stat(os.path.join(db, name)).st_mode)
                self.assertEqual(m & 0o007, 0, "%s/%s has mode %o"
                                 % (db, name, m))
            self.assertEqual(stat.S_IMODE(os.stat(db).st_mode) & 0o007, 0)
        self.assertFalse(os.path.exists(p), "%s left after SIGTERM" % p)

    def test_runs_as_user_when_started_as_root(self):
        if os.geteuid() != 0:
            self.skipTest("needs root: the `user` key only drops privileges "
                          "of a server started as root (CI runs as root)")
        try:
            pw = pwd.getpwnam("nobody")
        except KeyError:
            self.fail("no user 'nobody' on this system")
        want = (pw.pw_uid,) * 4
        with TempDir(prefix="batchd-user-", mode=0o755) as d:
            db = os.path.join(d, "db")
            srv = Server(workers=2, extra_args=["--db-path", db,
                                                "--user", "nobody"])
            srv.start()
            try:
                master = srv.proc.pid
                self.assertIsNotNone(srv.wait_for_log(
                    r"running as user nobody \(uid %d\)" % pw.pw_uid, 5),
                    srv.log_text())
                workers = srv.wait_workers()
                self.assertEqual(uids(master), want, "master uids")
                gid = proc_status(master)["Gid"].split()
                self.assertEqual(set(gid), {str(pw.pw_gid)}, "master gids")
                self.assertEqual(proc_status(master)["Groups"].split(),
                                 [str(pw.pw_gid)], "supplementary groups")
                self.assertEqual(sorted(live_children(master)), sorted(workers))
                for w in workers:
                    self.assertEqual(uids(w), want, "worker %d uids" % w)
                # Requests work: plain, batch, async, scan.
                st, _, body, raw = srv.v1("PUT", rows_path("ws", "t", "k"),
                                          {"v": 1})
                self.assertEqual((st, body), (201, {"v": 1}), raw[:300])
                by, _ = srv.batch_ok([
                    {"id": "1", "method": "PUT", "url": rows_path("ws", "t", "k2"),
                     "body": {"v": 2}},
                    {"id": "2", "url": rows_path("ws", "t", "k"),
                     "dependsOn": ["1"]}])
                self.assertEqual((by["1"]["status"], by["2"]["body"]),
                                 (201, {"v": 1}))
                st, h, _, raw = srv.v1("POST", "/batches", {"requests": [
                    {"id": "1", "url": rows_path("ws", "t", "k2")}]})
                self.assertEqual(st, 201, raw[:300])
                wait_until(lambda: srv.request("GET", h["Location"])[2]
                           ["batch"]["status"] == "completed", 20, 0.02,
                           "async batch done")
                st, _, body, _ = srv.v1("GET", rows_path("ws", "t"))
                self.assertEqual([r["key"] for r in body["rows"]], ["k", "k2"])
                # The store and the ring belong to nobody.
                for name in ("", "data.mdb", "lock.mdb"):
                    self.assertEqual(os.stat(os.path.join(db, name)).st_uid,
                                     pw.pw_uid, "owner of %s/%s" % (db, name))
                shm = os.stat(shm_path(master))
                self.assertEqual((shm.st_uid, stat.S_IMODE(shm.st_mode)),
                                 (pw.pw_uid, 0o600))
                # A replacement worker runs as nobody too.
                self.assertTrue(kill_child(master, workers[0]))
                new = srv.wait_workers(exclude=[workers[0]], timeout=15)
                for w in new:
                    self.assertEqual(uids(w), want, "respawned worker %d" % w)
                st, _, body, _ = srv.v1("GET", rows_path("ws", "t", "k2"))
                self.assertEqual((st, body), (200, {"v": 2}))
            finally:
                srv.stop()
            self.assertFalse(os.path.exists(shm_path(master)))
            # Restarted on the same (now nobody-owned) store.
            with Server(workers=1, extra_args=["--db-path", db,
                                                "--user", "nobody"]) as srv2:
                st, _, body, _ = srv2.v1("GET", rows_path("ws", "t", "k"))
                self.assertEqual((st, body), (200, {"v": 1}))



def async_entries(db_dir):
    """Entries of the store's "async" database (mdb_stat -a)."""
    rc, out = mdb_stat(db_dir)
    assert rc == 0, out
    m = re.search(r"Status of async\n(?:  .*\n)*?  Entries: (\d+)", out)
    return int(m.group(1)) if m else 0


class ResourceTest(unittest.TestCase):
    """Resource exhaustion (a denial of service for every tenant)."""

    def test_expired_async_results_are_all_purged(self):
        """Any token holder may start asynchronous batches; their results
        live in LMDB until async_result_ttl_s after they end.  The purge
        (master/async.c async_tick, worker/async.c async_purge) drops at
        most 64 batches per run and runs once a minute (and at start-up),
        so more than ~1 batch/s outlives its TTL for good and the store
        grows until the map is full (scripts/soak shows it: async entries
        34,479 -> 128,966 in 10 minutes with a TTL of 30 s).  Here: 100
        expired batches, a restart (whose first tick purges): all must go."""
        n = 100
        with TempDir() as d:
            db = os.path.join(d, "db")
            with Server(workers=2, async_result_ttl_s=1,
                        extra_args=["--db-path", db]) as srv:
                locs = []
                for i in range(n):
                    st, h, _, raw = srv.v1("POST", "/batches", {"requests": [
                        {"id": "1", "url": "/workspaces/ws/tables"}]})
                    self.assertEqual(st, 201, raw[:200])
                    locs.append(h["Location"])
                for loc in locs:
                    wait_until(lambda: srv.request("GET", loc)[2]["batch"]
                               ["status"] == "completed", 20, 0.01,
                               "async batch done")
                # Every result is stored (saving is asynchronous too).
                wait_until(lambda: async_entries(db) >= 2 * n, 10, 0.1,
                           "async results stored")
            time.sleep(1.5)                 # past the TTL
            with Server(workers=2, async_result_ttl_s=1,
                        extra_args=["--db-path", db]) as srv:
                try:
                    wait_until(lambda: async_entries(db) == 0, 10, 0.2,
                               "the purge")
                except AssertionError:
                    self.fail("%d entries of %d expired async batches still "
                              "stored 10 s after a restart's purge"
                              % (async_entries(db), n))


if __name__ == "__main__":
    unittest.main()
