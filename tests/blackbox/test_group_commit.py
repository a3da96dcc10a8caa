"""Issue 10, group commit (SPEC 6): the write items a worker holds are
applied in one LMDB transaction (one nested transaction each) and made
durable with one sync; nothing is answered 2xx before it is durable.

- a worker that dies in the middle of a group (crash, memory) answers the
  item it was running as before, and the group's other, uncommitted items
  are run again elsewhere, none applied twice;
- the master killed with SIGKILL many times under multi-item write
  batches loses no acknowledged write;
- dependsOn, ordered, read-your-writes across workers and ETag order with
  db_sync on;
- limits: a write larger than one group (write_group_max_bytes), a full
  store (507 STORE_FULL per item, reads still served), a failed sync (every
  item of the group 500 STORE_ERROR, nothing 2xx: through an LD_PRELOAD
  shim built here, so the product carries no fault hook).
"""

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from harness import (Server, check_item_error, rows_path, wait_until)
from batch_util import TempDir, crash_item, get, item, put, sleep_item

HERE = os.path.dirname(os.path.abspath(__file__))
REQ_TIMEOUT = 15


def create(id_, ws, key, value, table="t", **extra):
    """POST a row with an explicit id: a second application answers 409,
    so a create run twice cannot hide."""
    body = dict(value)
    body["id"] = key
    return item(id_, rows_path(ws, table), "POST", body, **extra)


def metric(srv, name):
    st, _, _, raw = srv.request("GET", "/metrics")
    m = re.search(r"^%s (\d+)$" % re.escape(name), raw.decode(), re.M)
    return int(m.group(1)) if m else None


def worker_busy(srv):
    return any(w.get("state") == "busy" for w in srv.healthz()["workers"])


def batch_in_one_group(test, srv, reqs):
    """Post reqs while the server's one worker sleeps through a 1 s debug
    item, so that the whole batch is in the ring when it wakes and goes
    into one write group.  Returns the answers by id."""
    srv.wait_workers()
    out = {}
    t = threading.Thread(target=lambda: out.update(
        first=srv.batch_ok([sleep_item("s", 1000)])))
    t.start()
    try:
        wait_until(lambda: worker_busy(srv), 10, what="worker busy")
        by_id, _ = srv.batch_ok(reqs)
    finally:
        t.join(timeout=30)
    test.assertFalse(t.is_alive())
    test.assertEqual(out["first"][0]["s"]["status"], 200)
    return by_id


class CrashMidGroup(unittest.TestCase):
    """One worker, so every item of the batch lands in its group: a sleep
    keeps it busy while the whole batch is published, then it takes the
    creates into one open group and meets the fault."""

    def run_fault(self, fault, **opts):
        with Server(workers=1, debug_ops=True, db_sync=True, **opts) as srv:
            reqs = [create("c%02d" % i, "gc", "k%02d" % i, {"v": i})
                    for i in range(10)]
            reqs.append(fault)
            reqs += [create("c%02d" % i, "gc", "k%02d" % i, {"v": i})
                     for i in range(10, 20)]
            by_id = batch_in_one_group(self, srv, reqs)
            for i in range(20):
                r = by_id["c%02d" % i]
                # 409 would mean the create was applied twice.
                self.assertEqual(r["status"], 201, r)
            requeued = metric(srv, "batchd_items_requeued_total")
            self.assertGreaterEqual(requeued, 10,
                                    "the creates before the fault were not "
                                    "run again: %r" % requeued)
            by_id2, _ = srv.batch_ok([get("g%02d" % i, "gc", "k%02d" % i)
                                      for i in range(20)])
            for i in range(20):
                r = by_id2["g%02d" % i]
                self.assertEqual(r["status"], 200, r)
                self.assertEqual(r["body"], {"v": i, "id": "k%02d" % i}
                                 if "id" in r["body"] else {"v": i})
            return by_id["fault"], srv.log_text()

    def test_crash_mid_group_reruns_the_rest(self):
        r, log = self.run_fault(crash_item("fault"))
        check_item_error(self, r, 500, "WORKER_CRASHED")
        self.assertRegex(log, r'holding batch \d+ item 10 \("fault"\)')

    def test_out_of_memory_mid_group_reruns_the_rest(self):
        r, _ = self.run_fault(item("fault", "/debug/alloc", "POST",
                                   {"mb": 512}), worker_memory_mb=64)
        self.assertIn(r["status"], (507, 500), r)
        check_item_error(self, r, r["status"], "OUT_OF_MEMORY"
                         if r["status"] == 507 else "WORKER_CRASHED")


class SemanticsWithSync(unittest.TestCase):
    """Batch semantics over group commit, db_sync on, two workers."""

    def test_ordered_depends_on_etags_and_read_your_writes(self):
        with Server(workers=2, db_sync=True) as srv:
            # A dependsOn chain: each PUT sees the one before; ETags rise;
            # ordered: the answers in request order.
            reqs = [put("p%d" % i, "ws", "k", {"n": i},
                        **({"dependsOn": ["p%d" % (i - 1)]} if i else {}))
                    for i in range(8)]
            reqs.append(get("g", "ws", "k", dependsOn=["p7"]))
            by_id, resps = srv.batch_ok(reqs, ordered=True)
            self.assertEqual([r["id"] for r in resps],
                             [q["id"] for q in reqs])
            etags = [by_id["p%d" % i]["headers"]["ETag"] for i in range(8)]
            self.assertEqual(by_id["p0"]["status"], 201)
            for i in range(1, 8):
                self.assertEqual(by_id["p%d" % i]["status"], 200)
            self.assertEqual(etags, sorted(etags))
            self.assertEqual(len(set(etags)), 8)
            self.assertEqual(by_id["g"]["body"], {"n": 7})
            self.assertEqual(by_id["g"]["headers"]["ETag"], etags[-1])
            # stop_on_error runs items one after another: same order.
            by_id, _ = srv.batch_ok([put("q%d" % i, "ws", "s", {"n": i})
                                     for i in range(6)], stop_on_error=True)
            etags = [by_id["q%d" % i]["headers"]["ETag"] for i in range(6)]
            self.assertEqual(etags, sorted(etags))
            self.assertEqual(len(set(etags)), 6)
            # dependsOn: a PATCH after its PUT, with the PUT's ETag valid.
            by_id, _ = srv.batch_ok([
                put("a", "ws", "d", {"x": 1}),
                item("b", rows_path("ws", "t", "d"), "PATCH", {"y": 2},
                     dependsOn=["a"]),
                get("c", "ws", "d", dependsOn=["b"])])
            self.assertEqual(by_id["b"]["status"], 200, by_id["b"])
            self.assertEqual(by_id["c"]["body"], {"x": 1, "y": 2})
            # Read-your-writes across workers: every acknowledged write is
            # seen by the next batch, whichever worker runs it.
            for n in range(20):
                by_id, _ = srv.batch_ok([put("w%d" % i, "ws", "r%d" % i,
                                             {"round": n}) for i in range(6)])
                self.assertTrue(all(r["status"] in (200, 201)
                                    for r in by_id.values()))
                by_id, _ = srv.batch_ok([get("r%d" % i, "ws", "r%d" % i)
                                         for i in range(6)])
                for r in by_id.values():
                    self.assertEqual(r["body"], {"round": n})


class MasterKilledUnderBatches(unittest.TestCase):
    """PUT batches of 10 items from 4 connections, db_sync on; the master is
    SIGKILLed 8 times at random moments and restarted on the same store.
    Every value acknowledged 2xx must be there afterwards (the last
    acknowledged value of its key: keys are never written twice)."""

    def test_master_sigkill_loses_no_acknowledged_write(self):
        rnd = random.Random(0x10)
        acked = {}
        lock = threading.Lock()
        with TempDir() as d:
            db = os.path.join(d, "db")
            for rno in range(8):
                srv = Server(workers=2, extra_args=["--db-path", db,
                                                    "--db-sync", "on"])
                srv.start()
                stop = threading.Event()

                def writer(tid):
                    seq = 0
                    while not stop.is_set():
                        reqs = [put("%d" % i, "mk", "r%d-t%d-%d-%d"
                                    % (rno, tid, seq, i), {"v": seq * 10 + i})
                                for i in range(10)]
                        seq += 1
                        try:
                            st, _, body, _ = srv.batch(reqs)
                        except Exception:  # noqa: BLE001 - the master died
                            # (http.client may raise more than OSError for
                            # a connection cut mid-answer): this writer is
                            # done; its unanswered batch is not counted.
                            return
                        if st != 200 or not isinstance(body, dict):
                            return
                        with lock:
                            for r, q in zip(body["responses"], reqs):
                                if r["status"] in (200, 201):
                                    acked[q["path"]] = q["body"]
                try:
                    ts = [threading.Thread(target=writer, args=(k,))
                          for k in range(4)]
                    for t in ts:
                        t.start()
                    time.sleep(rnd.uniform(0.3, 0.8))
                    srv.kill_master()
                    stop.set()
                    for t in ts:
                        t.join(timeout=REQ_TIMEOUT + 5)
                    self.assertFalse(any(t.is_alive() for t in ts))
                finally:
                    stop.set()
                    srv.stop(check=False)
            self.assertGreater(len(acked), 100, "too few writes acknowledged")
            with Server(workers=2, extra_args=["--db-path", db]) as srv:
                paths = sorted(acked)
                for k in range(0, len(paths), 100):
                    chunk = paths[k:k + 100]
                    by_id, _ = srv.batch_ok([item(str(i), p) for i, p
                                             in enumerate(chunk)])
                    for i, p in enumerate(chunk):
                        r = by_id[str(i)]
                        self.assertEqual(r["status"], 200,
                                         "acknowledged write lost: %s %r"
                                         % (p, r))
                        self.assertEqual(r["body"], acked[p])


class Limits(unittest.TestCase):

    def test_write_larger_than_a_group_commits_alone(self):
        big = {"pad": "x" * 20000}
        with Server(workers=1, db_sync=True,
                    write_group_max_bytes=4096) as srv:
            reqs = []
            for i in range(6):
                reqs.append(put("b%d" % i, "lim", "big%d" % i, big))
                reqs.append(put("s%d" % i, "lim", "small%d" % i, {"i": i}))
            by_id, _ = srv.batch_ok(reqs)
            for r in by_id.values():
                self.assertEqual(r["status"], 201, r)
            by_id, _ = srv.batch_ok([get("g%d" % i, "lim", "big%d" % i)
                                     for i in range(6)])
            for r in by_id.values():
                self.assertEqual(r["body"], big)

    def test_full_store_is_507_per_item_and_reads_go_on(self):
        row = {"pad": "x" * 60000}
        with Server(workers=2, db_sync=True, db_map_size_mb=1) as srv:
            by_id, _ = srv.batch_ok([put("s", "full", "small", {"v": 1})])
            self.assertEqual(by_id["s"]["status"], 201)
            full = None
            for n in range(40):
                by_id, resps = srv.batch_ok(
                    [put("p%d" % i, "full", "r%d-%d" % (n, i), row)
                     for i in range(4)])
                bad = [r for r in resps if r["status"] != 201]
                if bad:
                    full = bad
                    break
            self.assertIsNotNone(full, "a 1 MiB store never filled up")
            for r in full:
                check_item_error(self, r, 507, "STORE_FULL")
            # Still full: each write that does not fit says so on its own,
            # the reads of the same batch are served.
            by_id, _ = srv.batch_ok([
                put("big", "full", "more", row),
                get("g", "full", "small"),
                get("g2", "full", "r0-0")])
            check_item_error(self, by_id["big"], 507, "STORE_FULL")
            self.assertEqual(by_id["g"]["status"], 200)
            self.assertEqual(by_id["g"]["body"], {"v": 1})
            self.assertEqual(by_id["g2"]["status"], 200)
            self.assertTrue(srv.alive())

    def test_full_store_mid_group_redoes_it(self):
        """Row writes run straight in the group's transaction; one that
        runs out of room after changing it (its ETag counted, its row not
        written) spoils the group, which is dropped and run again with one
        nested transaction per item: the writes around it are kept, in
        order, it alone answers 507.  One worker, held busy by a sleep
        while the batch is published, so all of it is one group."""
        huge = {"pad": "x" * (2 << 20)}
        with Server(workers=1, debug_ops=True, db_sync=True,
                    db_map_size_mb=1) as srv:
            reqs = [create("a%d" % i, "rd", "k%d" % i, {"v": i})
                    for i in range(5)]
            reqs.append(put("huge", "rd", "huge", huge))
            reqs += [create("a%d" % i, "rd", "k%d" % i, {"v": i})
                     for i in range(5, 10)]
            by_id = batch_in_one_group(self, srv, reqs)
            check_item_error(self, by_id["huge"], 507, "STORE_FULL")
            etags = []
            for i in range(10):
                r = by_id["a%d" % i]
                # 409 would be a create applied twice; 500 a spoilt group.
                self.assertEqual(r["status"], 201, r)
                etags.append(r["headers"]["ETag"])
            self.assertEqual(etags, sorted(etags), "ETags out of order")
            by_id, _ = srv.batch_ok([get("g%d" % i, "rd", "k%d" % i)
                                     for i in range(10)] +
                                    [get("gh", "rd", "huge")])
            for i in range(10):
                r = by_id["g%d" % i]
                self.assertEqual(r["status"], 200, r)
                self.assertEqual(r["headers"]["ETag"], etags[i])
            self.assertEqual(by_id["gh"]["status"], 404)
            self.assertTrue(srv.alive())

    def test_failed_sync_acknowledges_nothing(self):
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            self.fail("no C compiler to build the fsync shim")
        tmp = tempfile.mkdtemp(prefix="batchd-shim-")
        try:
            so = os.path.join(tmp, "failsync.so")
            subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", so,
                            os.path.join(HERE, "failsync.c"), "-ldl"],
                           check=True, timeout=60)
            trigger = os.path.join(tmp, "fail-now")
            env = {"LD_PRELOAD": so, "BATCHD_TEST_FAIL_SYNC": trigger,
                   # Under ASan the runtime must come first; the shim is
                   # plain libc interposition and does not mind.
                   "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                   ":verify_asan_link_order=0"}
            saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            try:
                srv = Server(workers=2, db_sync=True)
                srv.start()
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            try:
                by_id, _ = srv.batch_ok([put("a", "fs", "before", {"v": 1})])
                self.assertEqual(by_id["a"]["status"], 201)
                open(trigger, "w").close()
                by_id, resps = srv.batch_ok(
                    [put("p%d" % i, "fs", "k%d" % i, {"v": i})
                     for i in range(20)])
                for r in resps:
                    check_item_error(self, r, 500, "STORE_ERROR")
                os.unlink(trigger)
                by_id, _ = srv.batch_ok([put("b", "fs", "after", {"v": 2}),
                                         get("g", "fs", "before")])
                self.assertEqual(by_id["b"]["status"], 201)
                self.assertEqual(by_id["g"]["body"], {"v": 1})
            finally:
                srv.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
