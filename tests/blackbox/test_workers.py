"""SPEC section 6 and 8: worker isolation (kill -9, crash, timeout), the
debug items, SIGTERM with a batch in flight, /healthz and /metrics."""

import os
import re
import signal
import threading
import time
import unittest

from harness import (Server, check_envelope, check_item_error, group_pids,
                     pid_alive, rows_path)


def restarts(srv):
    """Sum of batchd_worker_restarts_total over its labels."""
    st, _, _, raw = srv.request("GET", "/metrics")
    assert st == 200, st
    total = 0.0
    found = False
    for line in raw.decode().splitlines():
        m = re.match(r"^batchd_worker_restarts_total(\{[^}]*\})?\s+(\S+)$",
                     line)
        if m:
            found = True
            total += float(m.group(2))
    assert found, "no batchd_worker_restarts_total in /metrics"
    return total


def puts_and_gets(ws, n, tag):
    """n PUT items and, depending on them, n GET items."""
    reqs = []
    for i in range(n):
        reqs.append({"id": "p%d" % i, "method": "PUT",
                     "path": rows_path(ws, "t", "%s%d" % (tag, i)),
                     "body": {"tag": tag, "i": i}})
        reqs.append({"id": "g%d" % i,
                     "path": rows_path(ws, "t", "%s%d" % (tag, i)),
                     "dependsOn": ["p%d" % i]})
    return reqs


class IsolationTest(unittest.TestCase):
    """debug_ops on, item_timeout_ms 300, two workers."""

    @classmethod
    def setUpClass(cls):
        # given as command-line flags, which override the config file
        cls.srv = Server(workers=2, extra_args=["--debug-ops", "on",
                                                "--item_timeout_ms", "300"])
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        # each test starts with a full, healthy pool
        self.pids = self.srv.wait_workers()

    def check_puts_and_gets(self, by_id, n, tag):
        for i in range(n):
            p, g = by_id["p%d" % i], by_id["g%d" % i]
            self.assertIn(p["status"], (200, 201), p)
            self.assertEqual(p["body"], {"tag": tag, "i": i})
            self.assertEqual(g["status"], 200, g)
            self.assertEqual(g["body"], {"tag": tag, "i": i})

    def test_kill9_worker_between_batches(self):
        s = self.srv
        by_id, _ = s.batch_ok(puts_and_gets("k9", 10, "a"))
        self.check_puts_and_gets(by_id, 10, "a")
        before = restarts(s)
        victim = self.pids[0]
        os.kill(victim, signal.SIGKILL)
        # the very next batch is answered fully
        by_id, resps = s.batch_ok(puts_and_gets("k9", 25, "b"))
        self.assertEqual(len(resps), 50)
        self.check_puts_and_gets(by_id, 25, "b")
        pids = s.wait_workers(exclude={victim})
        self.assertNotIn(victim, pids)
        self.assertFalse(pid_alive(victim))
        self.assertIn(self.pids[1], pids, "the other worker was replaced too")
        self.assertGreaterEqual(restarts(s), before + 1)
        by_id, _ = s.batch_ok(puts_and_gets("k9", 10, "c"))
        self.check_puts_and_gets(by_id, 10, "c")
        # earlier writes survived
        st, _, body, _ = s.v1("GET", rows_path("k9", "t", "a3"))
        self.assertEqual((st, body), (200, {"tag": "a", "i": 3}))

    def test_kill9_all_workers_between_batches(self):
        s = self.srv
        for pid in self.pids:
            os.kill(pid, signal.SIGKILL)
        by_id, resps = s.batch_ok(puts_and_gets("k9all", 20, "x"))
        self.assertEqual(len(resps), 40)
        self.check_puts_and_gets(by_id, 20, "x")
        pids = s.wait_workers(exclude=self.pids)
        self.assertEqual(len(set(pids) & set(self.pids)), 0)
        # plain requests too
        st, _, body, _ = s.v1("GET", rows_path("k9all", "t", "x7"))
        self.assertEqual((st, body), (200, {"tag": "x", "i": 7}))

    def test_crash_item(self):
        s = self.srv
        before = restarts(s)
        reqs = puts_and_gets("crash", 10, "c")
        # two different items (another body), each its first time: a
        # repeat of either would be answered by the quarantine instead
        reqs.insert(5, {"id": "boom", "method": "POST", "path": "/debug/crash",
                        "body": {"test": "crash_item"}})
        reqs.append({"id": "boom2", "method": "POST", "url": "/v1/debug/crash",
                     "body": {"test": "crash_item", "n": 2}})
        by_id, resps = s.batch_ok(reqs)
        self.assertEqual(len(resps), len(reqs))
        check_item_error(self, by_id["boom"], 500, "WORKER_CRASHED")
        check_item_error(self, by_id["boom2"], 500, "WORKER_CRASHED")
        self.check_puts_and_gets(by_id, 10, "c")
        s.wait_workers()
        self.assertGreaterEqual(restarts(s), before + 2)
        self.assertTrue(s.alive())
        # the batch after is fine
        by_id, _ = s.batch_ok(puts_and_gets("crash", 5, "d"))
        self.check_puts_and_gets(by_id, 5, "d")

    def test_crash_fails_dependents(self):
        s = self.srv
        by_id, _ = s.batch_ok([
            {"id": "boom", "method": "POST", "path": "/debug/crash"},
            {"id": "dep", "method": "PUT", "dependsOn": ["boom"],
             "path": rows_path("crash", "t", "dep"), "body": {}}])
        check_item_error(self, by_id["boom"], 500, "WORKER_CRASHED")
        check_item_error(self, by_id["dep"], 424, "FAILED_DEPENDENCY")
        self.assertEqual(s.v1("GET", rows_path("crash", "t", "dep"))[0], 404)

    def test_item_timeout(self):
        s = self.srv
        before = restarts(s)
        reqs = puts_and_gets("slow", 8, "s")
        reqs += [{"id": "slow", "method": "POST", "path": "/debug/sleep",
                  "body": {"ms": 3000}},
                 {"id": "quick", "method": "POST", "path": "/debug/sleep",
                  "body": {"ms": 20}}]
        t0 = time.monotonic()
        by_id, resps = s.batch_ok(reqs)
        took = time.monotonic() - t0
        self.assertEqual(len(resps), len(reqs))
        check_item_error(self, by_id["slow"], 504, "QUERY_TIMEOUT")
        self.assertEqual(by_id["quick"]["status"], 200, by_id["quick"])
        self.check_puts_and_gets(by_id, 8, "s")
        self.assertLess(took, 2.5, "the 3 s sleep was waited for")
        self.assertGreaterEqual(took, 0.25, "answered before item_timeout_ms")
        s.wait_workers()
        self.assertGreaterEqual(restarts(s), before + 1)

    def test_plain_request_timeout(self):
        s = self.srv
        r = s.v1("POST", "/debug/sleep", {"ms": 2000})
        check_envelope(self, r, 504, "QUERY_TIMEOUT")
        s.wait_workers()
        st, _, _, _ = s.v1("POST", "/debug/sleep", {"ms": 1})
        self.assertEqual(st, 200)

    def test_healthz_lists_workers(self):
        h = self.srv.healthz()
        ws = h["workers"]
        self.assertEqual(len(ws), 2)
        for w in ws:
            self.assertIsInstance(w["pid"], int)
            self.assertTrue(pid_alive(w["pid"]), w)
            self.assertIn("state", w)
        self.assertEqual(len({w["pid"] for w in ws}), 2)


class DebugOffTest(unittest.TestCase):
    """Default config: debug_ops off."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(workers=2)
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_debug_paths_absent(self):
        s = self.srv
        pids = s.worker_pids()
        reqs = [{"id": "sleep", "method": "POST", "path": "/debug/sleep",
                 "body": {"ms": 10}},
                {"id": "crash", "method": "POST", "path": "/debug/crash"},
                {"id": "alloc", "method": "POST", "path": "/debug/alloc",
                 "body": {"mb": 1}},
                {"id": "ok", "method": "PUT", "body": {"a": 1},
                 "path": rows_path("dbg", "t", "k")}]
        by_id, _ = s.batch_ok(reqs)
        for i in ("sleep", "crash", "alloc"):
            check_item_error(self, by_id[i], 404, "PATH_NOT_FOUND")
        self.assertEqual(by_id["ok"]["status"], 201)
        for p in ("/debug/sleep", "/debug/crash", "/debug/alloc"):
            check_envelope(self, s.v1("POST", p, {"ms": 1, "mb": 1}),
                           404, "PATH_NOT_FOUND")
        self.assertEqual(sorted(s.worker_pids()), sorted(pids),
                         "a worker was replaced")

    def test_healthz(self):
        st, h, body, _ = self.srv.request("GET", "/healthz")
        self.assertEqual(st, 200)
        self.assertIn("application/json", h.get("Content-Type", ""))
        self.assertEqual(len(body["workers"]), 2)
        for w in body["workers"]:
            self.assertTrue(pid_alive(w["pid"]))

    def test_metrics(self):
        s = self.srv
        s.batch_ok([{"id": "a", "path": rows_path("m", "t", "x")}])
        st, h, _, raw = s.request("GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertIn("text/plain", h.get("Content-Type", ""))
        text = raw.decode()
        self.assertIn("batchd_worker_restarts_total", text)
        self.assertIn("# TYPE batchd_worker_restarts_total counter", text)
        for line in text.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, r"^[a-zA-Z_:][a-zA-Z0-9_:]*"
                                 r"(\{[^}]*\})? \S+$")
        self.assertEqual(restarts(s), 0)


class ShutdownTest(unittest.TestCase):

    def test_sigterm_with_batch_in_flight(self):
        srv = Server(workers=2, debug_ops=True, item_timeout_ms=5000)
        with srv:
            res = {}

            def client():
                try:
                    res["r"] = srv.batch_ok([
                        {"id": "sleep", "method": "POST",
                         "path": "/debug/sleep", "body": {"ms": 500}},
                        {"id": "after", "method": "PUT", "dependsOn": ["sleep"],
                         "path": rows_path("term", "t", "k"), "body": {"a": 1}},
                        {"id": "put", "method": "PUT",
                         "path": rows_path("term", "t", "j"), "body": {"b": 2}}])
                except Exception as e:    # noqa: BLE001 - asserted below
                    res["e"] = e

            srv.wait_workers()
            th = threading.Thread(target=client)
            th.start()
            # wait (bounded) until the sleep item is running
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                h = srv.healthz()
                if any(w.get("state") == "busy" for w in h["workers"]) \
                        or h.get("inflight_items"):
                    break
                time.sleep(0.01)
            else:
                self.fail("the sleep item never showed as running")
            t0 = time.monotonic()
            code = srv.stop(check=False)
            took = time.monotonic() - t0
            th.join(10)
            self.assertFalse(th.is_alive())
            self.assertNotIn("e", res, res.get("e"))
            by_id, resps = res["r"]
            self.assertEqual(len(resps), 3)
            self.assertEqual(by_id["sleep"]["status"], 200, by_id)
            self.assertEqual(by_id["after"]["status"], 201, by_id)
            self.assertEqual(by_id["put"]["status"], 201, by_id)
            self.assertEqual(code, 0, srv.log_text())
            self.assertLess(took, 5)

    def test_sigterm_idle(self):
        srv = Server(workers=3)
        with srv:
            pids = srv.wait_workers()
            self.assertEqual(srv.stop(), 0)
        for p in pids:
            self.assertFalse(pid_alive(p), "worker %d outlived the master" % p)

    def test_master_sigkill_takes_workers_down(self):
        """No worker outlives a SIGKILLed master (no orphan holds the ring
        or the store).  Killed at once after readiness, several times, as
        that is when workers are still starting up."""
        for rnd in range(12):
            srv = Server(workers=2)
            try:
                srv.start()
                pgid = srv.proc.pid       # the server leads its own group
                if rnd == 0:
                    srv.wait_workers()
                srv.kill_master()
                deadline = time.monotonic() + 3
                while group_pids(pgid) and time.monotonic() < deadline:
                    time.sleep(0.02)
                left = group_pids(pgid)
                self.assertEqual(left, [], "round %d: %d worker(s) outlived "
                                 "a SIGKILLed master" % (rnd, len(left)))
            finally:
                srv.stop(check=False)


if __name__ == "__main__":
    unittest.main()
