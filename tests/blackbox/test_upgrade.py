"""Zero-downtime binary upgrade (issue 14, nginx's SIGUSR2): the running
master starts the binary it was started from with the listening socket
inherited; the new master starts its own ring and workers and, once
ready, tells the old one to hand over; the old one stops accepting,
answers what it accepted and exits.  Under a client sending 1-item and
100-item batches the whole time, no request fails and no connection is
refused.  A new binary that fails to start leaves the old one serving; a
second SIGUSR2 during an upgrade is refused.

The server runs a copy of bin/batchd in its temp dir, so the test can
replace it on disk as an operator's "make install" would.
"""

import os
import re
import shutil
import signal
import threading
import time
import unittest

import harness
from harness import Server, children, pid_alive, wait_until

NEW_MASTER_RE = re.compile(r"notice \[(\d+)\] listening on 127\.0\.0\.1:"
                           r"(\d+) \(workers=(\d+)\)")


class CopiedServer(Server):
    """A Server that runs its own copy of the binary (self.binary), with
    WATCHDOG_PID naming it, as systemd sets it."""

    def _spawn(self, argv):
        self.binary = os.path.join(self.tmpdir, "batchd")
        shutil.copy2(os.path.abspath(harness.BATCHD_BIN), self.binary)
        super()._spawn(["sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"',
                        self.binary] + argv[1:])


class Load:
    """Two client threads, fresh connection per request: 1-item and
    100-item batches, writes and reads, until stopped."""

    def __init__(self, srv):
        self.srv = srv
        self.stop = threading.Event()
        self.failures = []
        self.counts = [0, 0]
        self.threads = [threading.Thread(target=self.run, args=(n,),
                                         daemon=True) for n in (1, 100)]

    def run(self, n):
        i = 0
        while not self.stop.is_set():
            i += 1
            reqs = [{"id": str(k), "method": "PUT" if k % 2 else "GET",
                     "url": harness.rows_path("up", "t", "k%d" % (k % 7)),
                     "body": {"i": i}} for k in range(n)]
            try:
                st, _, body, raw = self.srv.batch(reqs)
            except Exception as e:  # noqa: BLE001 - every failure counts
                self.failures.append("%d-item batch: %r" % (n, e))
                continue
            if st != 200:
                self.failures.append("%d-item batch: %d %r" % (n, st,
                                                               raw[:200]))
                continue
            bad = [r for r in body["responses"] if r["status"] not in
                   (200, 201, 404)]
            if bad:
                self.failures.append("%d-item batch: items %r" % (n, bad[:2]))
            self.counts[n == 100] += 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)
        return False


def stop_pid(pid, timeout=20.0):
    """SIGTERM a master that is not our child; wait until it is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    wait_until(lambda: not pid_alive(pid), timeout, 0.02,
               "master %d gone after SIGTERM" % pid)


class Upgrade(unittest.TestCase):

    def test_upgrade_under_load(self):
        srv = CopiedServer(workers=2, notify=True,
                           env={"WATCHDOG_USEC": "200000"})
        srv.start()
        new_pid = None
        try:
            old_pid = srv.proc.pid
            n0 = len(srv.log_lines())
            with Load(srv) as load:
                wait_until(lambda: min(load.counts) >= 3, 20.0, 0.01,
                           "load running")
                # The new binary: a fresh copy put in place, as an install
                # does (rename over the old file).
                fresh = srv.binary + ".new"
                shutil.copy2(os.path.abspath(harness.BATCHD_BIN), fresh)
                os.rename(fresh, srv.binary)
                os.kill(old_pid, signal.SIGUSR2)
                self.assertIsNotNone(srv.wait_for_log(
                    r"upgrade: started .* as pid \d+", 10.0, n0),
                    srv.log_text()[-3000:])
                # A second signal while the first upgrade runs: refused.
                os.kill(old_pid, signal.SIGUSR2)
                m = None
                deadline = time.monotonic() + 15.0
                while m is None and time.monotonic() < deadline:
                    m = srv.wait_for_log(NEW_MASTER_RE, 1.0, n0)
                    if m is not None and int(m.group(1)) == old_pid:
                        n0 = srv.log_lines().index(m.string) + 1
                        m = None
                self.assertIsNotNone(m, srv.log_text()[-3000:])
                new_pid = int(m.group(1))
                self.assertEqual(int(m.group(2)), srv.port)
                # The old master hands over and exits 0.
                srv.proc.wait(timeout=30)
                self.assertEqual(srv.proc.returncode, 0,
                                 srv.log_text()[-3000:])
                counts = list(load.counts)
                wait_until(lambda: min(load.counts) >= min(counts) + 3,
                           20.0, 0.01, "load served by the new master")
            self.assertEqual(load.failures, [], srv.log_text()[-3000:])
            print("\n  upgrade under load: %d 1-item and %d 100-item batches,"
                  " none failed; old master %d -> new master %d"
                  % (load.counts[0], load.counts[1], old_pid, new_pid),
                  flush=True)
            log = srv.log_text()
            # Refused whichever stage it met: the new master starting, or
            # the old one already handing over.
            self.assertRegex(log, r"warn \[%d\] SIGUSR2 refused: (an upgrade "
                             r"is in progress \(new master pid %d\)|shutting "
                             r"down)" % (old_pid, new_pid))
            self.assertIn("upgrade: told the old master (pid %d) to hand "
                          "over" % old_pid, log)
            # systemd heard of the new master from it: READY=1 with its
            # MAINPID, and the watchdog fed by it while both ran.
            sent = list(zip(srv.notify_senders, srv.notifications))
            self.assertIn((new_pid, "READY=1\nMAINPID=%d\nSTATUS=listening "
                           "on 127.0.0.1:%d, 2 workers" % (new_pid, srv.port)),
                          sent)
            self.assertIn((new_pid, "WATCHDOG=1"), sent)
            self.assertIn((old_pid, "WATCHDOG=1"), sent)
            # The new master serves with workers of its own.
            self.assertTrue(pid_alive(new_pid))
            self.assertEqual(len(children(new_pid)), 2)
            st, _, body, _ = srv.request("GET", "/healthz")
            self.assertEqual(st, 200)
            self.assertEqual(sorted(w["pid"] for w in body["workers"]),
                             sorted(children(new_pid)))
        finally:
            if new_pid is not None:
                stop_pid(new_pid)
            srv.stop(check=False)

    def test_failed_new_binary_leaves_the_old_serving(self):
        with CopiedServer(workers=1) as srv:
            n0 = len(srv.log_lines())
            broken = srv.binary + ".new"
            with open(broken, "w") as f:
                f.write("#!/bin/sh\necho 'cannot start' >&2\nexit 3\n")
            os.chmod(broken, 0o755)
            os.rename(broken, srv.binary)
            os.kill(srv.proc.pid, signal.SIGUSR2)
            m = srv.wait_for_log(r"upgrade failed: the new master \(pid "
                                 r"\d+\) exited with code 3; still serving",
                                 10.0, n0)
            self.assertIsNotNone(m, srv.log_text())
            self.assertTrue(srv.alive())
            by_id, _ = srv.batch_ok([{"id": "1", "method": "PUT",
                                      "url": harness.rows_path("up", "t", "a"),
                                      "body": {"v": 1}}])
            self.assertEqual(by_id["1"]["status"], 201)
            # And another upgrade may be tried after the failed one.
            os.kill(srv.proc.pid, signal.SIGUSR2)
            self.assertIsNotNone(srv.wait_for_log(
                r"upgrade failed", 10.0,
                srv.log_lines().index(m.string) + 1), srv.log_text())
