"""Operating batchd (issue 14): systemd readiness and watchdog through a
fake NOTIFY_SOCKET, the log file and its rotation (SIGUSR1), a second
server on a port already taken, the OpenAPI document (linted, served,
the same as its JSON), and the man pages.

Black-box: the real bin/batchd on 127.0.0.1; the notify socket is a unix
datagram socket the harness binds in the server's temp dir.
"""

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Server, children, unopenable_db_path, wait_until

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REDOCLY = os.path.join(ROOT, "tests", "lint", "node_modules", ".bin",
                       "redocly")


def store_open_by(pid, db_dir):
    """Does process pid hold the LMDB data file of db_dir open?"""
    want = os.path.realpath(os.path.join(db_dir, "data.mdb"))
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == want:
                return True
        except OSError:
            pass
    return False


class Notify(unittest.TestCase):
    """sd_notify(3): READY=1 only once every worker has opened the store;
    WATCHDOG=1 from the master's loop; RELOADING/READY around SIGHUP;
    STOPPING=1 at shutdown."""

    def test_ready_after_every_worker_opened_the_store(self):
        srv = Server(workers=3, notify=True)
        srv.start()
        try:
            # start() returned at READY=1: at that moment every worker
            # must already hold the store open.
            db = os.path.join(srv.tmpdir, "db")
            kids = children(srv.proc.pid)
            self.assertEqual(len(kids), 3, kids)
            for pid in kids:
                self.assertTrue(store_open_by(pid, db),
                                "worker %d had not opened the store at "
                                "READY=1" % pid)
            ready = [n for n in srv.notifications if "READY=1" in n]
            self.assertEqual(len(ready), 1, srv.notifications)
            self.assertIn("MAINPID=%d" % srv.proc.pid, ready[0])
            # Nothing said READY before the workers were there: the only
            # datagram before it is none at all.
            self.assertTrue(srv.notifications[0].startswith("READY=1"),
                            srv.notifications)
            st, _, body, _ = srv.request("GET", "/healthz")
            self.assertEqual(st, 200)
            # Past start-up: idle, or busy with the async purge the
            # master's first tick may already have handed out.
            self.assertTrue(all(w["state"] in ("idle", "busy")
                                for w in body["workers"]), body)
        finally:
            srv.stop()

    def test_no_ready_when_the_store_cannot_be_opened(self):
        d = tempfile.mkdtemp(prefix="batchd-bb-notify-")
        try:
            srv = Server(workers=2, notify=True,
                         extra_args=["--db-path", unopenable_db_path(d)])
            with self.assertRaises(Exception):
                srv.start()
            self.assertEqual(srv.proc.returncode, 78)
            self.assertFalse(any("READY=1" in n for n in srv.notifications),
                             srv.notifications)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_watchdog_reload_and_stopping(self):
        srv = Server(workers=1, notify=True,
                     env={"WATCHDOG_USEC": "200000"})
        srv.start()
        try:
            # Fed every 100 ms (half of WatchdogSec) by the loop.
            t0 = time.monotonic()
            wait_until(lambda: sum(n == "WATCHDOG=1"
                                   for n in srv.notifications) >= 4,
                       5.0, 0.02, "four WATCHDOG=1")
            self.assertGreater(time.monotonic() - t0, 0.15)
            n0 = len(srv.notifications)
            os.kill(srv.proc.pid, signal.SIGHUP)
            m = srv.wait_for_notify(r"^RELOADING=1\nMONOTONIC_USEC=\d+$",
                                    5.0, n0)
            self.assertIsNotNone(m, srv.notifications)
            self.assertIsNotNone(srv.wait_for_notify(r"^READY=1$", 5.0, n0),
                                 srv.notifications)
            n1 = len(srv.notifications)
            srv.proc.send_signal(signal.SIGTERM)
            self.assertIsNotNone(srv.wait_for_notify(r"^STOPPING=1$", 5.0,
                                                     n1), srv.notifications)
        finally:
            self.assertEqual(srv.stop(), 0)


class LogFile(unittest.TestCase):
    """log_file: the master's and the workers' lines in one file, in one
    format; SIGUSR1 reopens it in the master and every worker."""

    LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                      r"(error|warn|info|debug|notice) \[(\d+)\] .+$")

    def lines(self, path):
        with open(path, encoding="utf-8") as f:
            out = f.read().splitlines()
        for line in out:
            self.assertRegex(line, self.LINE)
        return out

    def test_log_file_and_sigusr1(self):
        d = tempfile.mkdtemp(prefix="batchd-bb-log-")
        try:
            log = os.path.join(d, "batchd.log")
            srv = Server(workers=2, notify=True, log_file=log)
            srv.start()
            try:
                # Nothing on stderr: every line goes to the file.
                self.assertEqual(srv.log_lines(), [])
                st = srv.request("GET", "/v1/workspaces/w/tables")[0]
                self.assertEqual(st, 200)
                wait_until(lambda: any("path=/v1/workspaces/w/tables " in l
                                       for l in self.lines(log)),
                           5.0, 0.02, "the request's log line")
                self.assertTrue(any("listening on" in l
                                    for l in self.lines(log)))
                # logrotate: move the file away, SIGUSR1, new lines go to
                # a new file, from the master and from each worker.
                os.rename(log, log + ".1")
                os.kill(srv.proc.pid, signal.SIGUSR1)
                workers = set(children(srv.proc.pid))
                self.assertEqual(len(workers), 2)

                def reopened():
                    if not os.path.exists(log):
                        return False
                    pids = {int(self.LINE.match(l).group(2))
                            for l in self.lines(log)
                            if re.search(r"worker \d: reopened ", l)}
                    return pids == workers and any(
                        "SIGUSR1: reopened" in l for l in self.lines(log))
                wait_until(reopened, 5.0, 0.02,
                           "master and both workers reopening the log")
                srv.request("GET", "/v1/workspaces/w2/tables")
                wait_until(lambda: any("path=/v1/workspaces/w2/tables " in l
                                       for l in self.lines(log)),
                           5.0, 0.02, "a request logged in the new file")
                self.assertFalse(any("path=/v1/workspaces/w2/tables " in l
                                     for l in self.lines(log + ".1")))
            finally:
                self.assertEqual(srv.stop(), 0)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_rotation_after_dropping_to_user(self):
        """Started as root with `user`: the log file is handed to that
        user, so the master and the workers, no longer root, can still
        reopen (create) it after rotation."""
        if os.geteuid() != 0:
            self.skipTest("needs root: `user` only drops privileges of a "
                          "server started as root (CI runs as root)")
        pw = pwd.getpwnam("nobody")
        d = tempfile.mkdtemp(prefix="batchd-bb-log-")
        try:
            os.chmod(d, 0o777)
            log = os.path.join(d, "batchd.log")
            srv = Server(workers=2, notify=True, log_file=log,
                         extra_args=["--user", "nobody", "--db-path",
                                     os.path.join(d, "db")])
            srv.start()
            try:
                self.assertEqual(os.stat(log).st_uid, pw.pw_uid)
                os.rename(log, log + ".1")
                os.kill(srv.proc.pid, signal.SIGUSR1)
                wait_until(lambda: os.path.exists(log) and len(
                    [l for l in self.lines(log)
                     if re.search(r"worker \d: reopened ", l)]) == 2,
                    5.0, 0.02, "both workers reopening the log")
                self.assertEqual(os.stat(log).st_uid, pw.pw_uid)
                self.assertFalse(any("error" in l.split()[1]
                                     for l in self.lines(log)),
                                 self.lines(log))
            finally:
                self.assertEqual(srv.stop(), 0)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_worker_lines_share_the_format(self):
        """A worker's line (its store cannot be opened) is written by the
        same code as the master's: same format, the worker's own pid."""
        d = tempfile.mkdtemp(prefix="batchd-bb-log-")
        try:
            log = os.path.join(d, "batchd.log")
            srv = Server(workers=1, notify=True, log_file=log,
                         extra_args=["--db-path", unopenable_db_path(d)])
            with self.assertRaises(Exception):
                srv.start()
            lines = self.lines(log)
            worker = [l for l in lines
                      if re.search(r"\] worker 0: mkdir .*: Not a directory", l)]
            self.assertEqual(len(worker), 1, lines)
            wpid = int(self.LINE.match(worker[0]).group(2))
            self.assertNotEqual(wpid, srv.proc.pid)
            self.assertTrue(any("[%d] stopping" % srv.proc.pid in l
                                for l in lines), lines)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_unwritable_log_file_refused_at_start(self):
        p = subprocess.run([os.path.abspath(harness.BATCHD_BIN),
                            "--log-file", "/nonexistent/dir/batchd.log",
                            "--listen", "127.0.0.1:0"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"log_file /nonexistent/dir/batchd.log: No such file "
                      b"or directory", p.stderr)


class SecondServer(unittest.TestCase):
    """Two servers (two units) on one port: the second fails at once with
    a message naming the address and the reason, exit status 1."""

    def test_port_taken(self):
        with Server(workers=1) as first:
            d = tempfile.mkdtemp(prefix="batchd-bb-second-")
            try:
                p = subprocess.run(
                    [os.path.abspath(harness.BATCHD_BIN), "--listen",
                     "127.0.0.1:%d" % first.port, "--db-path",
                     os.path.join(d, "db"), "--workers", "1"],
                    cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    timeout=30)
            finally:
                shutil.rmtree(d, ignore_errors=True)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertRegex(p.stderr.decode(),
                             r"cannot listen on 127\.0\.0\.1:%d: Address "
                             r"already in use" % first.port)
            # The first is untouched.
            self.assertEqual(first.request("GET", "/healthz")[0], 200)


class OpenAPI(unittest.TestCase):
    """etc/openapi.yaml passes redocly's recommended rules with no warning;
    etc/openapi.json is its bundle; GET /openapi.json serves it."""

    def test_lint(self):
        p = subprocess.run([REDOCLY, "lint", "etc/openapi.yaml"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        out = p.stdout.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("Your API description is valid", out)
        self.assertNotRegex(out, r"(?i)\bwarning", out)

    def test_json_is_the_yaml(self):
        d = tempfile.mkdtemp(prefix="batchd-bb-openapi-")
        try:
            out = os.path.join(d, "openapi.json")
            p = subprocess.run([REDOCLY, "bundle", "etc/openapi.yaml",
                                "--ext", "json", "-o", out], cwd=ROOT,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=120)
            self.assertEqual(p.returncode, 0, p.stdout)
            with open(out) as f:
                want = json.load(f)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        with open(os.path.join(ROOT, "etc", "openapi.json")) as f:
            got = json.load(f)
        self.assertEqual(got, want, "etc/openapi.json is not the bundle of "
                         "etc/openapi.yaml: run make openapi")

    def test_served(self):
        with open(os.path.join(ROOT, "etc", "openapi.json"), "rb") as f:
            want = f.read()
        with Server(workers=1, token="s3cr3t ws1") as srv:
            # No token needed, as for /healthz.
            st, hdrs, body, raw = srv.request("GET", "/openapi.json")
            self.assertEqual(st, 200)
            self.assertEqual(raw, want)
            self.assertEqual(hdrs.get("Content-Type"), "application/json")
            self.assertEqual(body["openapi"], "3.1.0")
            st = srv.request("POST", "/openapi.json", {})[0]
            self.assertEqual(st, 405)

    def test_checker_catches_a_wrong_answer(self):
        """The harness's check is real: an answer that breaks its schema
        is refused."""
        import openapi_check
        good = b'{"tables":[{"name":"t","rows":1}]}'
        h = harness.Headers({"Content-Type": "application/json"})
        openapi_check.check_answer("GET", "/v1/workspaces/w/tables", 200, h,
                                   good)
        for method, target, status, raw in (
                ("GET", "/v1/workspaces/w/tables", 200,
                 b'{"tables":[{"name":"t"}]}'),
                ("GET", "/v1/workspaces/w/tables", 201, good),
                ("GET", "/nowhere", 200, good),
                ("GET", "/v1/workspaces/w/tables", 404,
                 b'{"error":{"code":"NOT_FOUND","message":"x"}}'),
                ("POST", "/v1/$batch", 200,
                 b'{"responses":[{"id":"1","status":404,"body":{}}]}')):
            with self.assertRaises(openapi_check.AnswerMismatch,
                                   msg="%s %s %d %r" % (method, target,
                                                        status, raw)):
                openapi_check.check_answer(method, target, status, h, raw)


class ManPages(unittest.TestCase):
    """batchd(8) and batchd.conf(5) pass mandoc -Tlint (warnings and
    above); the second is written from the key table (test_config checks
    it is current)."""

    def test_mandoc_lint(self):
        mandoc = shutil.which("mandoc")
        self.assertIsNotNone(mandoc, "mandoc not installed "
                             "(scripts/install-deps installs it)")
        p = subprocess.run([mandoc, "-Tlint", "-Wwarning", "etc/batchd.8",
                            "etc/batchd.conf.5"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout.decode())
        self.assertEqual(p.stdout, b"")


class FullFileSystem(unittest.TestCase):
    """A write that meets a full file system answers 507 STORE_FULL saying
    so (LMDB itself says "Input/output error"), and the server goes on:
    reads still answer.  The store lives on a 1 MiB tmpfs mounted in a
    mount namespace of the server's own, gone when it exits."""

    class TinyFsServer(Server):
        def _spawn(self, argv):
            mnt = os.path.join(self.tmpdir, "fs")
            os.mkdir(mnt)
            super()._spawn(["unshare", "-m", "--propagation", "private",
                            "sh", "-c", 'mount -t tmpfs -o size=1m tmpfs '
                            '"$0" && exec "$@"', mnt] + argv)

    def test_store_full(self):
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            self.skipTest("needs root and unshare(1) for a tmpfs")
        srv = self.TinyFsServer(workers=1, db_sync=True)
        srv.extra_args = ["--db-path", "fs/db"]
        with srv:
            value = {"v": "x" * 100000}
            full = None
            for i in range(40):
                r = srv.v1("PUT", "/workspaces/w/tables/t/rows/k%d" % i,
                           value)
                if r[0] != 201:
                    full = (i, r)
                    break
            self.assertIsNotNone(full, "1 MiB never filled up")
            i, r = full
            self.assertGreater(i, 0)
            harness.check_envelope(self, r, 507, "STORE_FULL")
            self.assertIn("the file system holding the store is full",
                          r[2]["error"]["detail"])
            st, _, body, _ = srv.v1("GET", "/workspaces/w/tables/t/rows/k0")
            self.assertEqual((st, body), (200, value))
            # Still full, still said so, in a batch item too.
            by_id, _ = srv.batch_ok([{"id": "1", "method": "PUT",
                                      "url": "/workspaces/w/tables/t/rows/z",
                                      "body": value}])
            self.assertEqual(by_id["1"]["status"], 507, by_id)
            self.assertEqual(by_id["1"]["body"]["error"]["code"],
                             "STORE_FULL")
