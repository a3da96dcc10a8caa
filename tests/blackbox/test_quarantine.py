"""SPEC 6, Quarantine: an item that timed out, crashed its worker or ran out
of memory is answered again at once, with the same status and a
Retry-After, without taking a worker, for a cool-down that grows on
repeats; /metrics counts it; the table is bounded; a reload keeps it."""

import re
import time
import unittest

from harness import Server, check_envelope, check_item_error, wait_until
from lifecycle_util import ConfServer


def metric(srv, name):
    st, _, _, raw = srv.request("GET", "/metrics")
    assert st == 200, st
    total, found = 0.0, False
    for line in raw.decode().splitlines():
        m = re.match(r"^%s(\{[^}]*\})?\s+(\S+)$" % re.escape(name), line)
        if m:
            found = True
            total += float(m.group(2))
    assert found, "no %s in /metrics" % name
    return total


def restarts(srv):
    return metric(srv, "batchd_worker_restarts_total")


def crash(srv, tag, headers=None):
    return srv.request("POST", "/debug/crash", {"tag": tag}, headers=headers)


class QuarantineTest(unittest.TestCase):
    """Two workers, 300 ms timeout, cool-down 60 s (never passes during a
    test), at most 1,000 ms of it for the growth test's server below."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(workers=2, debug_ops=True, item_timeout_ms=300,
                         item_timeout_max_ms=5000,
                         quarantine_cooldown_ms=60000,
                         quarantine_cooldown_max_ms=240000,
                         worker_memory_mb=256)
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        self.srv.wait_workers()

    def test_crash_repeat_answered_without_a_worker(self):
        srv = self.srv
        st, _, body, _ = crash(srv, "c1")
        self.assertEqual(st, 500)
        self.assertEqual(body["error"]["code"], "WORKER_CRASHED")
        self.assertNotIn("quarantined", body["error"].get("detail", ""))
        srv.wait_workers()
        r0, q0 = restarts(srv), metric(srv, "batchd_quarantined_total")
        pids = set(srv.worker_pids())
        t0 = time.monotonic()
        resp = crash(srv, "c1")
        took = time.monotonic() - t0
        check_envelope(self, resp, 500, "WORKER_CRASHED")
        st, hdrs, body, _ = resp
        self.assertIn("quarantined", body["error"]["detail"])
        ra = int(hdrs["Retry-After"])
        self.assertTrue(50 <= ra <= 60, ra)
        self.assertLess(took, 2.0)
        # no worker was taken: same pids, no restart
        self.assertEqual(restarts(srv), r0)
        self.assertEqual(set(srv.worker_pids()), pids)
        self.assertEqual(metric(srv, "batchd_quarantined_total"), q0 + 1)
        self.assertGreaterEqual(metric(srv, "batchd_quarantine_entries"), 1)
        # the same item in a batch, with or without /v1 and a workspace
        # form that routes to the same path: quarantined too
        by_id, _ = srv.batch_ok([
            {"id": "a", "method": "POST", "url": "/debug/crash",
             "body": {"tag": "c1"}},
            {"id": "b", "method": "POST", "url": "/debug/sleep",
             "body": {"ms": 1}}])
        check_item_error(self, by_id["a"], 500, "WORKER_CRASHED")
        self.assertIn("Retry-After", by_id["a"]["headers"])
        self.assertIn("quarantined", by_id["a"]["body"]["error"]["detail"])
        self.assertEqual(by_id["b"]["status"], 200)
        self.assertEqual(restarts(srv), r0)
        # If-Match and Prefer are not part of the fingerprint
        st, _, body, _ = crash(srv, "c1", {"If-Match": '"x"',
                                           "Prefer": "include-statistics=true"})
        self.assertEqual(st, 500)
        self.assertIn("quarantined", body["error"]["detail"])

    def test_other_body_runs(self):
        srv = self.srv
        self.assertEqual(crash(srv, "d1")[0], 500)
        srv.wait_workers()
        r0 = restarts(srv)
        st, hdrs, body, _ = crash(srv, "d2")
        self.assertEqual(st, 500)
        self.assertNotIn("Retry-After", hdrs)
        self.assertNotIn("quarantined", body["error"].get("detail", ""))
        wait_until(lambda: restarts(srv) == r0 + 1, 10, what="a restart")

    def test_timeout_repeat_and_longer_wait(self):
        srv = self.srv
        sleep = {"ms": 1500, "tag": "t1"}
        st, _, body, _ = srv.request("POST", "/debug/sleep", sleep)
        self.assertEqual(st, 504)
        srv.wait_workers()
        r0 = restarts(srv)
        t0 = time.monotonic()
        resp = srv.request("POST", "/debug/sleep", sleep)
        self.assertLess(time.monotonic() - t0, 1.0)
        check_envelope(self, resp, 504, "QUERY_TIMEOUT")
        st, hdrs, body, _ = resp
        self.assertIn("timed out 1 time;", body["error"]["detail"])
        self.assertIn("Retry-After", hdrs)
        self.assertEqual(restarts(srv), r0)
        # a longer timeout than the one that ran out is another chance:
        # it runs (and, still too short, times out again: the cool-down
        # doubles)
        st, hdrs, body, _ = srv.request("POST", "/debug/sleep", sleep,
                                        {"Prefer": "wait=1"})
        self.assertEqual(st, 504)
        self.assertNotIn("quarantined", body["error"]["detail"])
        srv.wait_workers()
        st, hdrs, body, _ = srv.request("POST", "/debug/sleep", sleep,
                                        {"Prefer": "wait=1"})
        self.assertEqual(st, 504)
        self.assertIn("timed out 2 times", body["error"]["detail"])
        self.assertGreater(int(hdrs["Retry-After"]), 60)
        # long enough: it runs and answers 200
        st, _, body, _ = srv.request("POST", "/debug/sleep", sleep,
                                     {"Prefer": "wait=3"})
        self.assertEqual(st, 200, body)

    def test_out_of_memory_repeat(self):
        srv = self.srv
        alloc = {"mb": 2048, "tag": "m1"}
        before = restarts(srv)
        st, _, body, _ = srv.request("POST", "/debug/alloc", alloc)
        self.assertIn(st, (500, 507))
        # A worker that answered 507 exits after its answer: wait for it
        # to be counted, so a late count is not taken for a second run.
        wait_until(lambda: restarts(srv) > before, 10.0, 0.02,
                   "the out-of-memory worker replaced")
        srv.wait_workers()
        r0 = restarts(srv)
        st2, hdrs, body, _ = srv.request("POST", "/debug/alloc", alloc)
        self.assertEqual(st2, st)
        self.assertIn("quarantined", body["error"]["detail"])
        self.assertIn("Retry-After", hdrs)
        self.assertEqual(restarts(srv), r0)

    def test_group_items_are_not_quarantined(self):
        # an atomicity group fails as a whole: its members are left to
        # their own retries (only single items have a fingerprint)
        srv = self.srv
        reqs = [{"id": "g1", "method": "POST", "url": "/debug/crash",
                 "body": {"tag": "g"}, "atomicityGroup": "G"}]
        for _ in range(2):
            by_id, _ = srv.batch_ok(reqs)
            self.assertEqual(by_id["g1"]["status"], 500)
            self.assertNotIn("Retry-After", by_id["g1"]["headers"])
            srv.wait_workers()


class QuarantineBoundsTest(unittest.TestCase):
    """A table of two entries; a cool-down that expires within the test;
    reload behaviour."""

    def test_table_bounded_oldest_goes(self):
        with Server(workers=1, debug_ops=True, quarantine_max_entries=2,
                    quarantine_cooldown_ms=60000) as srv:
            for tag in ("A", "B", "C"):
                self.assertEqual(crash(srv, tag)[0], 500)
                srv.wait_workers()
            self.assertEqual(metric(srv, "batchd_quarantine_entries"), 2)
            r0 = restarts(srv)
            # C and B are remembered; A, whose cool-down ended first, went
            self.assertIn("quarantined", crash(srv, "C")[2]["error"]["detail"])
            self.assertIn("quarantined", crash(srv, "B")[2]["error"]["detail"])
            self.assertEqual(restarts(srv), r0)
            self.assertNotIn("quarantined",
                             crash(srv, "A")[2]["error"].get("detail", ""))
            wait_until(lambda: restarts(srv) == r0 + 1, 10, what="restart")

    def test_cooldown_expires_and_grows(self):
        with Server(workers=1, debug_ops=True, quarantine_cooldown_ms=2000,
                    quarantine_cooldown_max_ms=3000) as srv:
            self.assertEqual(crash(srv, "E")[0], 500)
            # no wait for the respawn: the repeat needs no worker
            st, hdrs, body, _ = crash(srv, "E")
            self.assertIn("quarantined", body["error"]["detail"])
            self.assertIn(hdrs["Retry-After"], ("1", "2"))
            # no readiness signal exists for "time has passed": wait out
            # the cool-down itself
            time.sleep(2.1)
            srv.wait_workers()
            r0 = restarts(srv)
            st, hdrs, body, _ = crash(srv, "E")
            self.assertNotIn("quarantined", body["error"].get("detail", ""))
            self.assertEqual(restarts(srv), r0 + 1)
            # failed again: doubled (4 s), capped at 3 s
            self.assertIsNotNone(srv.wait_for_log(
                r"quarantine: item .* answered 500 for 3000 ms \(failure 2\)",
                10))
            st, hdrs, body, _ = crash(srv, "E")
            self.assertIn("crashed its worker 2 times", body["error"]["detail"])
            self.assertIn(hdrs["Retry-After"], ("1", "2", "3"))

    def test_reload_keeps_then_disables(self):
        srv = ConfServer(workers=1, debug_ops=True,
                         quarantine_cooldown_ms=60000)
        with srv:
            self.assertEqual(crash(srv, "R")[0], 500)
            srv.wait_workers()
            n = len(srv.log_lines())
            srv.set_conf(quarantine_max_entries=5)
            srv.sighup()
            self.assertIsNotNone(srv.wait_for_log(
                r"configuration reloaded", 10, start=n))
            r0 = restarts(srv)
            self.assertIn("quarantined", crash(srv, "R")[2]["error"]["detail"])
            self.assertEqual(restarts(srv), r0)
            n = len(srv.log_lines())
            srv.set_conf(quarantine_cooldown_ms=0)
            srv.sighup()
            self.assertIsNotNone(srv.wait_for_log(
                r"configuration reloaded", 10, start=n))
            self.assertEqual(metric(srv, "batchd_quarantine_entries"), 0)
            st, _, body, _ = crash(srv, "R")
            self.assertEqual(st, 500)
            self.assertNotIn("quarantined", body["error"].get("detail", ""))
            wait_until(lambda: restarts(srv) == r0 + 1, 10, what="restart")
            srv.wait_workers()
            # off: not even remembered now
            st, _, body, _ = crash(srv, "R")
            self.assertNotIn("quarantined", body["error"].get("detail", ""))


if __name__ == "__main__":
    unittest.main()
