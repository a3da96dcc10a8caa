"""Process lifecycle (SPEC sections 6 and 8, issue 3): recycling, respawn
back-off, SIGHUP resize and reload, SIGTERM drain, master SIGKILL and the
stale shared-memory sweep.

Black-box: the real bin/batchd on 127.0.0.1, signals sent to its pid,
processes observed through /healthz, /proc and /dev/shm.
"""

import os
import re
import signal
import shutil
import tempfile
import threading
import time
import unittest

from harness import (Server, check_envelope, kill_child, rows_path,
                     unopenable_db_path)
from lifecycle_util import (ConfServer, Load, children, delta, live_children,
                            metric, metrics, restarts, scan_all, shm_path,
                            value_for, wait_pids_gone, wait_until)

WS = "life"


class Recycling(unittest.TestCase):
    """Test 4: worker_max_items recycles workers without failing items."""

    def test_recycle_every_5_items(self):
        with Server(workers=2, worker_max_items=5) as srv:
            before = restarts(srv)
            seen_pids = set(srv.wait_workers(2))
            first = set(seen_pids)
            for i in range(30):
                key = "r%02d" % i
                v = value_for(key)
                st, _, body, raw = srv.v1("PUT", rows_path(WS, "rec", key), v)
                self.assertEqual((st, body), (201, v), "PUT %d: %r" % (i, raw[:200]))
                st, _, body, raw = srv.v1("GET", rows_path(WS, "rec", key))
                self.assertEqual((st, body), (200, v), "GET %d: %r" % (i, raw[:200]))
                for w in srv.healthz()["workers"]:
                    if w.get("pid"):
                        seen_pids.add(w["pid"])
                        self.assertLessEqual(w.get("items_done", 0), 5, w)
            last = set(srv.wait_workers(2, timeout=10))
            seen_pids |= last
            self.assertTrue(first.isdisjoint(last),
                            "workers not replaced: %r then %r" % (first, last))
            # 60 items, 5 per worker life: 12 lives; sampling sees most.
            self.assertGreaterEqual(len(seen_pids), 6, sorted(seen_pids))
            d = delta(restarts(srv), before)
            self.assertGreaterEqual(d["recycle"], 10, "restarts %r" % d)
            for cause in ("crash", "timeout", "oom", "exit"):
                self.assertEqual(d[cause], 0, "restarts %r" % d)
            self.assertEqual(wait_pids_gone(sorted(seen_pids - last), 5), [],
                             "recycled workers still running")
            m = srv.request("GET", "/metrics")[3].decode()
            self.assertNotRegex(m, r'batchd_items_total\{status="5xx"\} [1-9]')
            # One batch of 60 items: workers retire in the middle of it.
            reqs = [{"id": str(i), "url": rows_path(WS, "rec", "r%02d" % (i % 30))}
                    for i in range(60)]
            before = restarts(srv)
            by_id, _ = srv.batch_ok(reqs)
            for i in range(60):
                r = by_id[str(i)]
                self.assertEqual(r["status"], 200, r)
                self.assertEqual(r["body"], value_for("r%02d" % (i % 30)))
            srv.wait_workers(2, timeout=10)
            d = delta(restarts(srv), before)
            self.assertGreaterEqual(d["recycle"], 10, "restarts %r" % d)


class StoreFatalAtStart(unittest.TestCase):
    """A store that cannot be opened at start-up stops the server with a
    clear message and exit status 78 (the workers' fatal exit code is
    honoured, as nginx does), instead of respawning workers forever."""

    def test_unopenable_store_stops_the_server(self):
        d = tempfile.mkdtemp(prefix="batchd-bb-fatal-")
        try:
            srv = Server(workers=2,
                         extra_args=["--db-path", unopenable_db_path(d)])
            t0 = time.monotonic()
            with self.assertRaises(Exception):
                srv.start()
            self.assertLess(time.monotonic() - t0, 10.0)
            log = "\n".join(srv.log_lines())
            self.assertEqual(srv.proc.returncode, 78, log)
            self.assertIn("not-a-dir", log)
            self.assertRegex(log, r"error \[\d+\] worker \d: .*not-a-dir")
            self.assertIn("stopping: a worker could not open the store at "
                          "start-up", log)
            self.assertNotIn("respawning in", log)
            self.assertNotIn("listening on", log)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class RespawnStorm(unittest.TestCase):
    """Test 5: once the server has served, workers that cannot open the
    store any more die at start-up again and again: back-off with log
    lines, 503 + Retry-After, the master lives."""

    def test_broken_store_backoff_and_503(self):
        d = tempfile.mkdtemp(prefix="batchd-bb-storm-")
        try:
            db = os.path.join(d, "db")
            srv = Server(workers=2, extra_args=["--db-path", db])
            srv.start()
            try:
                pids = srv.wait_workers(2)
                # The store goes away under a running server: its path is
                # now a regular file, so a new worker cannot open it.
                os.rename(db, os.path.join(d, "db.moved"))
                with open(db, "w") as f:
                    f.write("a regular file, not-a-dir\n")
                for pid in pids:
                    kill_child(srv.proc.pid, pid)
                m = srv.wait_for_log(r"respawning in (\d+) ms", 5.0)
                self.assertIsNotNone(m, "no back-off line:\n" + srv.log_text())
                # The master must know why: the workers' error is logged.
                self.assertIn(db + ": not a directory", srv.log_text())
                # Once every slot waits out a back-off of 400 ms or more,
                # no worker is alive: a whole-request 503.
                for w in (0, 1):
                    self.assertIsNotNone(srv.wait_for_log(
                        r"worker %d died [3-9] times in a row" % w, 5.0),
                        srv.log_text())
                wait_until(lambda: all(w.get("state") == "backoff" for w in
                                       srv.healthz()["workers"]),
                           2.0, 0.01, "both slots in back-off")
                t0 = time.monotonic()
                try:
                    r = srv.request("POST", "/v1/$batch", {"requests": [
                        {"id": "1", "url": rows_path(WS, "t", "k")}]},
                        timeout=5)
                except OSError as e:
                    self.fail("a batch during the respawn storm got no answer "
                              "(%r after %.1fs); healthz %r"
                              % (e, time.monotonic() - t0, srv.healthz()))
                self.assertLess(time.monotonic() - t0, 5.0, "503 took too long")
                check_envelope(self, r, 503, "SERVICE_UNAVAILABLE")
                ra = r[1].get("Retry-After")
                self.assertIsNotNone(ra, "503 without Retry-After")
                self.assertRegex(ra, r"^\d+$")
                self.assertGreaterEqual(int(ra), 1)
                # Plain requests too.
                try:
                    r = srv.v1("GET", rows_path(WS, "t", "k"), timeout=5)
                except OSError as e:
                    self.fail("a plain request during the respawn storm got "
                              "no answer (%r); healthz %r" % (e, srv.healthz()))
                check_envelope(self, r, 503, "SERVICE_UNAVAILABLE")
                # Delays grow (back-off, not a fork loop).
                wait_until(lambda: len(re.findall(r"respawning in",
                                                  srv.log_text())) >= 6,
                           6.0, 0.05, "more back-off lines")
                delays = [int(x) for x in
                          re.findall(r"worker 0 died \d+ times in a row[^\n]*"
                                     r"respawning in (\d+) ms", srv.log_text())]
                self.assertGreaterEqual(len(delays), 3, srv.log_text())
                self.assertEqual(delays, sorted(delays), "back-off not growing")
                self.assertGreater(delays[-1], delays[0])
                starts = len(re.findall(r"exited with code|killed by signal",
                                        srv.log_text()))
                self.assertLess(starts, 40, "workers forked in a loop")
                h = srv.healthz()
                self.assertEqual(len(h["workers"]), 2)
                self.assertTrue(srv.alive())
                self._hammer(srv)
                self.assertTrue(srv.alive())
                srv.healthz()
            finally:
                code = srv.stop(check=False)
            self.assertEqual(code, 0, "exit code after SIGTERM during back-off")
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def _hammer(self, srv, seconds=1.2, nthreads=2, timeout=4.0):
        """Requests in a tight loop across several respawns: a request may
        arrive while a doomed worker is forked and not yet dead.  Each
        must still answer 503 + Retry-After at once: never a hang."""
        lock = threading.Lock()
        bad, count = [], [0]

        def unavailable(r):
            body = r[2] if isinstance(r[2], dict) else {}
            return (r[0] == 503 and bool(r[1].get("Retry-After")) and
                    (body.get("error") or {}).get("code")
                    == "SERVICE_UNAVAILABLE")

        def run(n):
            t_end = time.monotonic() + seconds
            i = 0
            while time.monotonic() < t_end:
                i += 1
                t0 = time.monotonic()
                what = ("batch" if i % 2 else "plain")
                try:
                    if what == "batch":
                        r = srv.request("POST", "/v1/$batch", {"requests": [
                            {"id": "1", "url": rows_path(WS, "t", "k")}]},
                            timeout=timeout)
                    else:
                        r = srv.v1("GET", rows_path(WS, "t", "k"),
                                   timeout=timeout)
                    ok = unavailable(r)
                    if not ok and what == "batch" and r[0] == 200:
                        # Accepted while a doomed worker still lived: its
                        # items must then be answered, 503 each.
                        resps = (r[2] or {}).get("responses") or []
                        ok = len(resps) == 1 and unavailable(
                            (resps[0].get("status"), {"Retry-After": "-"},
                             resps[0].get("body"), b""))
                    got = "%d %r" % (r[0], r[3][:160])
                except Exception as e:
                    ok, got = False, repr(e)
                with lock:
                    count[0] += 1
                    if not ok:
                        bad.append("%s at +%.3fs: %s after %.2fs"
                                   % (what, t0 - t_start, got,
                                      time.monotonic() - t0))

        t_start = time.monotonic()
        threads = [threading.Thread(target=run, args=(n,), daemon=True)
                   for n in range(nthreads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + timeout + 5)
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertGreater(count[0], 20)
        self.assertEqual(bad, [], "with no worker able to start, %d of %d "
                         "requests did not answer 503 at once (e.g. an "
                         "item queued for a worker that then died at "
                         "start-up and never answered); healthz: %r"
                         % (len(bad), count[0], srv.healthz()))


class Sighup(unittest.TestCase):
    """Test 6: SIGHUP resizes the pool under load with no failed item; a
    broken file is refused and the running configuration kept."""

    def test_resize_under_load_and_refuse_broken_config(self):
        with ConfServer(workers=2) as srv:
            master = srv.proc.pid
            srv.wait_workers(2)
            load = Load(srv, 3, ws=WS, table="hup", items=10,
                        prefix="h").start()
            try:
                time.sleep(0.3)
                n0 = len(srv.log_lines())
                srv.set_conf(workers=4)
                srv.sighup()
                self.assertIsNotNone(
                    srv.wait_for_log(r"configuration reloaded \(workers=4\)",
                                     5.0, start=n0), srv.log_text())
                four = srv.wait_workers(4, timeout=10)
                self.assertEqual(sorted(live_children(master)), sorted(four))
                time.sleep(0.5)
                n1 = len(srv.log_lines())
                srv.set_conf(workers=1)
                srv.sighup()
                self.assertIsNotNone(
                    srv.wait_for_log(r"configuration reloaded \(workers=1\)",
                                     5.0, start=n1), srv.log_text())
                one = srv.wait_workers(1, timeout=10)
                retired = sorted(set(four) - set(one))
                self.assertEqual(len(retired), 3)
                self.assertEqual(wait_pids_gone(retired, 10), [],
                                 "retired workers still running")
                wait_until(lambda: live_children(master) == sorted(one), 10,
                           what="only the one worker left as a child")
                time.sleep(0.5)
                b0 = load.batches
                wait_until(lambda: load.batches > b0 + 3, 10,
                           what="load still answered with one worker")
            finally:
                load.stop()
            if os.environ.get("BATCHD_BB_VERBOSE"):
                print("\nsighup: batches=%d items=%d acked=%d"
                      % (load.batches, load.items_answered, len(load.acked)))
            self.assertEqual(load.failures, [], "items failed across resizes")
            self.assertGreater(load.batches, 10)
            rows = scan_all(srv, WS, "hup")
            self.assertEqual([k for k in load.acked
                              if rows.get(k) != load.expected(k)], [],
                             "acknowledged writes missing or altered")

            # A broken file: refused, logged, old config kept.
            n2 = len(srv.log_lines())
            srv.write_raw_conf("workers = 3\nworkers_typo = = 7\n"
                               "item_timeout_ms = banana\n")
            srv.sighup()
            m = srv.wait_for_log(r"reload refused", 5.0, start=n2)
            self.assertIsNotNone(m, "no refusal logged:\n" + srv.log_text())
            self.assertRegex(m.string, r"batchd\.conf")
            time.sleep(0.3)
            self.assertEqual(len(srv.wait_workers(1)), 1,
                             "the refused file changed the worker count")
            v = value_for("after-broken")
            st, _, body, raw = srv.v1("PUT", rows_path(WS, "hup", "zz"), v)
            self.assertEqual((st, body), (201, v), raw[:200])
            self.assertTrue(srv.alive())
            # The previous (valid) file still works for a later reload.
            srv.set_conf(workers=2)
            srv.sighup()
            srv.wait_workers(2, timeout=10)

    def test_reload_applies_item_timeout(self):
        """SIGHUP re-reads the file: a new item_timeout_ms applies to the
        next items."""
        with ConfServer(workers=1, debug_ops=True, item_timeout_ms=5000) as srv:
            n = len(srv.log_lines())
            srv.set_conf(item_timeout_ms=300)
            srv.sighup()
            self.assertIsNotNone(srv.wait_for_log(r"configuration reloaded",
                                                  5.0, start=n))
            t0 = time.monotonic()
            r = srv.v1("POST", "/debug/sleep", {"ms": 3000}, timeout=10)
            check_envelope(self, r, 504, "QUERY_TIMEOUT")
            self.assertLess(time.monotonic() - t0, 2.0)


class RestartOnlyKeys(unittest.TestCase):
    """The key table says which keys SIGHUP keeps: those are named in the
    log and keep their running value; the rest of the file applies."""

    def test_reload_keeps_restart_only_keys(self):
        with ConfServer(workers=1) as srv:
            srv.wait_workers(1)
            n = len(srv.log_lines())
            srv.set_conf(ring_slots=8192, max_result_bytes=16777216,
                         workers=2)
            srv.sighup()
            self.assertIsNotNone(srv.wait_for_log(r"configuration reloaded "
                                                  r"\(workers=2\)", 5.0,
                                                  start=n), srv.log_text())
            log = "\n".join(srv.log_lines()[n:])
            for key in ("ring_slots", "max_result_bytes"):
                self.assertIn("reload: %s changes only on restart; keeping "
                              "the running value" % key, log)
            self.assertNotIn("reload: workers changes", log)
            srv.wait_workers(2)


class SigtermDrain(unittest.TestCase):
    """Test 7: SIGTERM with 3 batches in flight: all answered, no new work,
    exit 0, shared memory removed, no worker left."""

    def test_drain_in_flight_batches(self):
        srv = Server(workers=3, debug_ops=True, item_timeout_ms=5000)
        srv.start()
        try:
            master = srv.proc.pid
            shm = shm_path(master)
            self.assertTrue(os.path.exists(shm), "no %s while running" % shm)
            pids = srv.wait_workers(3)
            results = [None] * 3

            def client(n):
                reqs = [{"id": "put", "method": "PUT",
                         "url": rows_path(WS, "drain", "k%d" % n),
                         "body": value_for("k%d" % n)},
                        {"id": "sleep", "method": "POST", "path": "/debug/sleep",
                         "body": {"ms": 500}},
                        {"id": "get", "method": "GET", "dependsOn": ["put"],
                         "url": rows_path(WS, "drain", "k%d" % n)},
                        {"id": "after", "method": "GET", "dependsOn": ["sleep"],
                         "url": rows_path(WS, "drain", "k%d" % n)}]
                try:
                    results[n] = srv.batch(reqs)
                except Exception as e:
                    results[n] = e

            threads = [threading.Thread(target=client, args=(n,), daemon=True)
                       for n in range(3)]
            for t in threads:
                t.start()

            def sleeping():
                ws = srv.healthz()["workers"]
                return sum(1 for w in ws if w.get("state") == "busy") >= 3
            wait_until(sleeping, 5.0, 0.01, "3 sleeps running")
            # Observability while they run: item ages and in-flight gauge.
            time.sleep(0.15)
            ages = [w.get("current_item_age_ms") for w in
                    srv.healthz()["workers"] if w.get("state") == "busy"]
            self.assertEqual(len(ages), 3, ages)
            for a in ages:
                self.assertIsInstance(a, int)
                self.assertGreaterEqual(a, 100, "current_item_age_ms %r" % ages)
                self.assertLess(a, 5000, "current_item_age_ms %r" % ages)
            self.assertGreaterEqual(metric(metrics(srv),
                                           "batchd_inflight_items"), 3)
            n0 = len(srv.log_lines())
            t_sig = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            self.assertIsNotNone(
                srv.wait_for_log(r"no new requests|shutting down", 5.0, start=n0),
                srv.log_text())
            # New connections: refused, or a 503.
            try:
                r = srv.request("GET", "/v1" + rows_path(WS, "drain", "k0"),
                                timeout=5)
                check_envelope(self, r, 503, "SERVICE_UNAVAILABLE")
            except (ConnectionRefusedError, ConnectionResetError):
                pass
            for t in threads:
                t.join(15)
            self.assertFalse(any(t.is_alive() for t in threads),
                             "in-flight batches not answered")
            for n, r in enumerate(results):
                self.assertNotIsInstance(r, Exception, "batch %d: %r" % (n, r))
                st, _, body, raw = r
                self.assertEqual(st, 200, "batch %d: %r" % (n, raw[:300]))
                by_id = {x["id"]: x for x in body["responses"]}
                self.assertEqual(sorted(by_id), ["after", "get", "put", "sleep"])
                self.assertEqual(by_id["put"]["status"], 201, by_id["put"])
                self.assertEqual(by_id["sleep"]["status"], 200, by_id["sleep"])
                for g in ("get", "after"):
                    self.assertEqual(by_id[g]["status"], 200, by_id[g])
                    self.assertEqual(by_id[g]["body"], value_for("k%d" % n))
            rc = srv.proc.wait(timeout=15)
            self.assertEqual(rc, 0, "exit code after SIGTERM:\n" + srv.log_text())
            self.assertLess(time.monotonic() - t_sig, 10.0)
            self.assertFalse(os.path.exists(shm), "%s left after exit" % shm)
            self.assertEqual(wait_pids_gone(pids, 2), [], "workers left behind")
            self.assertEqual(children(master), [])
            log = srv.log_text()
            self.assertEqual(len(re.findall(r"request method=POST path=/v1/\$batch "
                                            r"status=200 items=4 ", log)), 3, log)
        finally:
            srv.stop(check=False)

    def test_drain_is_bounded_by_item_timeout(self):
        """SIGTERM while an item sleeps far past item_timeout_ms: the drain
        does not wait for it; it answers 504, the batch completes, exit 0
        within about item_timeout_ms."""
        srv = Server(workers=2, debug_ops=True, item_timeout_ms=1000)
        srv.start()
        try:
            res = []
            reqs = [{"id": "s", "method": "POST", "path": "/debug/sleep",
                     "body": {"ms": 8000}},
                    {"id": "g", "url": "/workspaces/%s/tables" % WS}]
            th = threading.Thread(target=lambda: res.append(srv.batch(reqs)),
                                  daemon=True)
            th.start()
            wait_until(lambda: any(w.get("state") == "busy" for w in
                                   srv.healthz()["workers"]),
                       5.0, 0.01, "the sleep running")
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            th.join(10)
            self.assertFalse(th.is_alive(), "batch not answered")
            st, _, body, raw = res[0]
            self.assertEqual(st, 200, raw[:300])
            by_id = {r["id"]: r for r in body["responses"]}
            self.assertEqual(by_id["s"]["status"], 504, by_id["s"])
            self.assertEqual(by_id["g"]["status"], 200, by_id["g"])
            self.assertEqual(srv.proc.wait(timeout=10), 0)
            self.assertLess(time.monotonic() - t0, 4.0,
                            "drain not bounded by item_timeout_ms")
        finally:
            srv.stop(check=False)

    def test_sighup_during_drain_starts_no_workers(self):
        """A SIGHUP that raises `workers` while a SIGTERM drain is under
        way must not fork new workers into a server that is shutting down
        (as nginx's master ignores reconfiguration once it is quitting)."""
        srv = ConfServer(workers=1, debug_ops=True, item_timeout_ms=5000)
        srv.start()
        try:
            master = srv.proc.pid
            before = srv.wait_workers(1)
            res = []
            reqs = [{"id": "s", "method": "POST", "path": "/debug/sleep",
                     "body": {"ms": 800}}]
            th = threading.Thread(target=lambda: res.append(srv.batch(reqs)),
                                  daemon=True)
            th.start()
            wait_until(lambda: any(w.get("state") == "busy" for w in
                                   srv.healthz()["workers"]),
                       5.0, 0.01, "the sleep running")
            n0 = len(srv.log_lines())
            srv.proc.send_signal(signal.SIGTERM)
            self.assertIsNotNone(srv.wait_for_log(r"no new requests", 5.0,
                                                  start=n0))
            srv.set_conf(workers=4)
            srv.sighup()
            time.sleep(0.3)
            forked = sorted(set(live_children(master)) - set(before))
            th.join(10)
            self.assertEqual(srv.proc.wait(timeout=10), 0)
            self.assertEqual(res[0][0], 200)
            self.assertEqual(forked, [], "the draining master forked new "
                             "workers on SIGHUP:\n" + srv.log_text())
        finally:
            srv.stop(check=False)

    def test_sigint_also_drains(self):
        srv = Server(workers=1)
        srv.start()
        try:
            master = srv.proc.pid
            pids = srv.wait_workers(1)
            srv.proc.send_signal(signal.SIGINT)
            self.assertEqual(srv.proc.wait(timeout=15), 0)
            self.assertFalse(os.path.exists(shm_path(master)))
            self.assertEqual(wait_pids_gone(pids, 2), [])
        finally:
            srv.stop(check=False)

    def test_more_signals_while_exiting_still_exit_0(self):
        """A service manager (or an impatient operator) may send SIGTERM
        again while the master is exiting.  Once the loop is over, freeing
        the signal events gave SIGTERM back its default action, and a
        repeat landing there killed the master (exit status -15, seen as
        a flake of test_operating).  Every repeat is ignored now."""
        for rnd in range(8):
            srv = Server(workers=1)
            srv.start()
            try:
                srv.proc.send_signal(signal.SIGTERM)
                sent = 1
                while srv.proc.poll() is None:
                    for sig in (signal.SIGTERM, signal.SIGINT):
                        try:
                            os.kill(srv.proc.pid, sig)
                            sent += 1
                        except ProcessLookupError:
                            break
                self.assertEqual(srv.proc.wait(timeout=15), 0,
                                 "round %d: exit status after %d signals"
                                 % (rnd, sent))
            finally:
                srv.stop(check=False)


class MasterKilled(unittest.TestCase):
    """Test 8: after SIGKILL of the master its workers exit, its shared
    memory stays until the next start sweeps it, and the data survives."""

    def test_master_sigkill_then_restart_on_same_store(self):
        old = Server(workers=3, debug_ops=True, item_timeout_ms=20000)
        bystander = Server(workers=1)
        old.start()
        try:
            bystander.start()
            db_dir = os.path.join(old.tmpdir, "db")
            reqs = [{"id": str(i), "method": "PUT",
                     "url": rows_path(WS, "mk", "k%02d" % i),
                     "body": value_for("k%02d" % i)} for i in range(20)]
            by_id, _ = old.batch_ok(reqs)
            self.assertEqual(sorted(r["status"] for r in by_id.values()),
                             [201] * 20)
            master = old.proc.pid
            shm = shm_path(master)
            pids = old.wait_workers(3)
            self.assertTrue(os.path.exists(shm))
            # A worker busy with a long item when the master dies.
            threading.Thread(target=lambda: _swallow(
                old.v1, "POST", "/debug/sleep", {"ms": 15000}, timeout=20),
                daemon=True).start()
            wait_until(lambda: any(w.get("state") == "busy" for w in
                                   old.healthz()["workers"]),
                       5.0, 0.01, "the sleep running")
            old.kill_master()
            left = wait_pids_gone(pids, 5.0)
            self.assertEqual(left, [], "workers outlived their master")
            self.assertTrue(os.path.exists(shm),
                            "the killed master's %s should be left behind" % shm)

            new = Server(workers=2, extra_args=["--db-path", db_dir])
            new.start()
            try:
                m = new.wait_for_log(r"removed (\d+) stale shared-memory", 5.0)
                self.assertIsNotNone(m, "no stale-object line:\n" + new.log_text())
                self.assertGreaterEqual(int(m.group(1)), 1)
                self.assertFalse(os.path.exists(shm), "%s not swept" % shm)
                self.assertTrue(os.path.exists(shm_path(new.proc.pid)))
                # A live master's object is not stale.
                self.assertTrue(os.path.exists(shm_path(bystander.proc.pid)),
                                "the sweep removed a running server's object")
                st, _, _, _ = bystander.v1("PUT", rows_path(WS, "b", "k"),
                                           {"n": 1})
                self.assertEqual(st, 201)
                rows = scan_all(new, WS, "mk")
                self.assertEqual(rows, {"k%02d" % i: value_for("k%02d" % i)
                                        for i in range(20)})
                v = value_for("again")
                st, _, body, _ = new.v1("PUT", rows_path(WS, "mk", "again"), v)
                self.assertEqual((st, body), (201, v))
            finally:
                new.stop()
        finally:
            bystander.stop(check=False)
            old.stop(check=False)


def _swallow(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except Exception:
        pass


if __name__ == "__main__":
    unittest.main()
