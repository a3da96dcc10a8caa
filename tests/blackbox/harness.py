"""Black-box harness for batchd: start the real binary, talk HTTP to it.

The Python 3 standard library, and python3-jsonschema (Debian) to check
every answer against etc/openapi.yaml (openapi_check.py).

    with Server(workers=2, debug_ops=True, item_timeout_ms=300) as srv:
        status, headers, body, raw = srv.request("GET", "/healthz")
        status, headers, body, raw = srv.batch([...], ordered=True)

Every server runs from its own temporary directory (config file, LMDB
directory, cwd), listens on a kernel-chosen loopback port, and is stopped
with SIGTERM (exit code checked) when the `with` block ends.  Its stderr is
drained by a thread so the pipe never fills; readiness is the log line
"listening on 127.0.0.1:PORT (workers=N)".
"""

import http.client
import itertools
import json
import os
import re
import resource
import shutil
import signal
import ssl
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import openapi_check

BATCHD_BIN = os.environ.get("BATCHD_BIN", "./bin/batchd")

READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 30.0

_READY_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+) \(workers=(\d+)\)")


class ServerError(Exception):
    pass


class Headers(dict):
    """A dict of response headers with case-insensitive lookup."""

    def __init__(self, pairs=()):
        super().__init__()
        for k, v in (pairs.items() if isinstance(pairs, dict) else pairs):
            self[k] = v

    def __setitem__(self, k, v):
        super().__setitem__(k.lower(), v)

    def __getitem__(self, k):
        return super().__getitem__(k.lower())

    def __contains__(self, k):
        return super().__contains__(k.lower())

    def get(self, k, default=None):
        return super().get(k.lower(), default)


def qkey(key):
    """Percent-encode a row key (or any path segment) for a URL path,
    slashes included."""
    return urllib.parse.quote(key, safe="")


def rows_path(ws, table, key=None):
    """The /v1-less path of a table's rows, or of one row."""
    p = "/workspaces/%s/tables/%s/rows" % (ws, table)
    if key is not None:
        p += "/" + qkey(key)
    return p


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


_LOG_SYNC = itertools.count()


class Server:
    """One batchd process.  Keyword options become config keys, written to
    the temp config file (underscored) - e.g. item_timeout_ms=300."""

    def __init__(self, workers=2, debug_ops=False, ready_timeout=READY_TIMEOUT_S,
                 extra_args=(), rlimit_nofile=None, tls=False, notify=False,
                 env=None, **options):
        """rlimit_nofile: start the server with RLIMIT_NOFILE (soft and
        hard) set to this number of file descriptors.  tls: serve HTTPS
        with a certificate for 127.0.0.1 made for it; request() then
        speaks HTTPS and self.ca names the certificate to trust."""
        self.tls = tls
        self.ca = None
        self.workers = workers
        # notify: readiness is systemd's READY=1 on a NOTIFY_SOCKET the
        # harness binds (self.notifications has every datagram), not the
        # "listening on" line (which a log_file takes away from stderr).
        self.notify = notify
        self.env = env
        self.notifications = []
        self.notify_senders = []	# pid of each notification's sender
        self._notify_sock = None
        self._notify_eof = False
        self.debug_ops = debug_ops
        self.ready_timeout = ready_timeout
        self.extra_args = list(extra_args)
        self.rlimit_nofile = rlimit_nofile
        self.options = options
        # Every answer request() receives is checked against
        # etc/openapi.yaml (openapi_check.py).
        self.check_openapi = True
        self.proc = None
        self.port = None
        self.tmpdir = None
        self.exit_code = None
        self._lines = []
        self._cond = threading.Condition()
        self._reader = None

    # ---------------------------------------------------------------- life

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        # Never let a failing stop mask the test's own exception.
        self.stop(check=exc_type is None)
        return False

    def start(self):
        self.tmpdir = tempfile.mkdtemp(prefix="batchd-bb-")
        try:
            self._start()
        except BaseException:
            if self.proc is not None:
                if self.proc.poll() is None:
                    self._kill_group()
                self.proc.wait(timeout=STOP_TIMEOUT_S)
                self._reap_group()
                self._finish()
            else:
                self._cleanup()
            raise
        return self

    def _start(self):
        binary = os.path.abspath(BATCHD_BIN)
        if not os.access(binary, os.X_OK):
            raise ServerError("no executable batchd at %s (run make)" % binary)
        db = os.path.join(self.tmpdir, "db")
        conf = os.path.join(self.tmpdir, "batchd.conf")
        if self.tls:
            self.ca, key = make_tls_cert(self.tmpdir)
            self.options.setdefault("tls_cert_file", self.ca)
            self.options.setdefault("tls_key_file", key)
        lines = ["# written by tests/blackbox/harness.py",
                 "listen = 127.0.0.1:0",
                 "db_path = %s" % db,
                 "workers = %d" % self.workers,
                 "debug_ops = %s" % ("on" if self.debug_ops else "off"),
                 "db_sync = off",
                 "log_level = info"]
        for k, v in self.options.items():
            if isinstance(v, bool):
                v = "on" if v else "off"
            lines.append("%s = %s" % (k, v))
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        argv = [binary, "-c", conf, "--listen", "127.0.0.1:0",
                "--db-path", db, "--workers", str(self.workers)]
        self._spawn(argv + self.extra_args)

    def _spawn(self, argv):
        """Run argv as the server, read its stderr, wait until it says on
        which port it listens."""
        preexec = None
        if self.rlimit_nofile is not None:
            n = self.rlimit_nofile

            def preexec():
                resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("WATCHDOG_USEC", None)
        env.pop("WATCHDOG_PID", None)
        if self.notify:
            path = os.path.join(self.tmpdir, "notify.sock")
            self._notify_sock = socket.socket(socket.AF_UNIX,
                                              socket.SOCK_DGRAM)
            self._notify_sock.bind(path)
            # As systemd's own: writable by a server that dropped to
            # `user` (the dir only traversable, not listable).
            os.chmod(self.tmpdir, 0o711)
            os.chmod(path, 0o666)
            # Who sent each datagram (SCM_CREDENTIALS): notify_senders.
            self._notify_sock.setsockopt(socket.SOL_SOCKET,
                                         socket.SO_PASSCRED, 1)
            self._notify_sock.settimeout(0.2)
            env["NOTIFY_SOCKET"] = path
            threading.Thread(target=self._read_notify, daemon=True).start()
        env.update(self.env or {})
        self.proc = subprocess.Popen(
            argv, cwd=self.tmpdir, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True, env=env, preexec_fn=preexec)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if self.notify:
            m = self.wait_for_notify(r"(?m)^READY=1$", self.ready_timeout)
            m = m and re.search(r"STATUS=listening on 127\.0\.0\.1:(\d+)",
                                m.string)
        else:
            m = self.wait_for_log(_READY_RE, self.ready_timeout)
        if m is None:
            raise ServerError("batchd not ready within %.0fs; log:\n%s"
                              % (self.ready_timeout, self.log_text()))
        self.port = int(m.group(1))

    def _read_notify(self):
        """Every datagram, until the socket is closed (_finish).  Once the
        server has exited and nothing is left queued (what it sent just
        before exiting is still read), waiters are told no more will come
        (_notify_eof); reading goes on, because a process the server
        started (a new master after SIGUSR2) may still send, and a sender
        blocks when a unix datagram queue is full."""
        sock = self._notify_sock
        while True:
            try:
                data, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                if self.proc is not None and self.proc.poll() is not None:
                    with self._cond:
                        self._notify_eof = True
                        self._cond.notify_all()
                continue
            except OSError:
                break
            pid = 0
            for level, kind, cred in anc:
                if (level, kind) == (socket.SOL_SOCKET,
                                     socket.SCM_CREDENTIALS):
                    pid = int.from_bytes(cred[:4], sys.byteorder)
            with self._cond:
                self.notifications.append(data.decode("utf-8", "replace"))
                self.notify_senders.append(pid)
                self._cond.notify_all()
        with self._cond:
            self._notify_eof = True
            self._cond.notify_all()

    def wait_for_notify(self, pattern, timeout, start=0):
        """Wait (bounded) for a datagram on the notify socket matching
        pattern; return the match (its .string is the datagram), or None
        on timeout or when the server exited."""
        return self._wait_for(self.notifications, pattern, timeout, start,
                              ended=lambda: self._notify_eof)

    def _read_stderr(self):
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self._lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._lines.append(None)  # EOF marker
            self._cond.notify_all()

    def wait_for_log(self, pattern, timeout, start=0):
        """Wait (bounded) for a stderr line matching pattern (regex or
        compiled); return the match, or None on timeout or EOF."""
        return self._wait_for(self._lines, pattern, timeout, start)

    def _wait_for(self, entries, pattern, timeout, start, ended=None):
        """The first of entries (a list the reader threads append to under
        self._cond) from start on that matches pattern, waiting (bounded)
        for more; None on timeout, at an EOF marker (None), or once
        ended() says nothing more will come."""
        if isinstance(pattern, str):
            pattern = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self._cond:
            while True:
                while i < len(entries):
                    if entries[i] is None:
                        return None
                    m = pattern.search(entries[i])
                    if m:
                        return m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or (ended is not None and ended()):
                    return None
                self._cond.wait(left)

    def log_lines(self):
        """Lines logged so far.  Once the server has exited, everything it
        wrote: the reader thread may still be draining the pipe, so wait
        (bounded) for its EOF marker first."""
        exited = self.proc is not None and self.proc.poll() is not None
        deadline = time.monotonic() + 5.0
        with self._cond:
            while (exited and self._reader is not None
                   and (not self._lines or self._lines[-1] is not None)):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return [l for l in self._lines if l is not None]

    def log_sync(self, timeout=10.0):
        """The log of a running server up to now, complete: a request the
        server logs is sent, and its line awaited.  Lines are written in
        order, and a request's own line only after its answer is sent, so
        reading the log right after an answer can miss it (or the reader
        thread can still be behind); after this, nothing logged before is
        missing."""
        marker = "/v1/__logsync-%d" % next(_LOG_SYNC)
        try:
            self.request("GET", marker, timeout=timeout)
        except OSError:
            pass
        if self.wait_for_log(re.escape("path=" + marker + " "),
                             timeout) is None:
            raise AssertionError("log sync line never came; log:\n"
                                 + self.log_text()[-2000:])
        return self.log_lines()

    def log_text(self):
        return "\n".join(self.log_lines())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, check=True, timeout=STOP_TIMEOUT_S):
        """SIGTERM, wait; SIGKILL as a fallback.  Always reaps the process
        and removes the temp dir.  With check, asserts exit code 0.
        Returns the exit code."""
        if self.proc is None:
            self._cleanup()
            return self.exit_code
        killed = False
        try:
            if self.proc.poll() is not None:
                # The master is already gone (kill_master, a crash): what
                # is left of its group is orphans; end them now.
                self._kill_group()
            else:
                try:
                    self.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    killed = True
                    self._kill_group()
                    self.proc.wait(timeout=timeout)
            self.exit_code = self.proc.returncode
        finally:
            self._reap_group()
            self._finish()
        if check:
            if killed:
                raise AssertionError("batchd did not exit within %.0fs of "
                                     "SIGTERM; log:\n%s"
                                     % (timeout, self.log_text()))
            if self.exit_code != 0:
                raise AssertionError("batchd exited with %r after SIGTERM; "
                                     "log:\n%s"
                                     % (self.exit_code, self.log_text()))
        return self.exit_code

    def kill_master(self, timeout=STOP_TIMEOUT_S):
        """SIGKILL the master only and reap it.  Its workers are left to
        notice on their own; stop() still cleans up whatever remains of the
        process group."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=timeout)
        self.exit_code = self.proc.returncode
        return self.exit_code

    def _kill_group(self):
        # The server runs in its own session/process group (pgid == its
        # pid): this reaches exactly the processes this harness started.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _reap_group(self):
        """Make sure no process of the server's group survives (orphaned
        workers are reparented and reaped by init)."""
        if self.proc is None:
            return
        deadline = time.monotonic() + 5.0
        while True:
            # Zombies do not count: orphans are reaped by init, on its
            # own schedule.
            if not group_pids(self.proc.pid):
                return
            if time.monotonic() > deadline:
                self._kill_group()
                return
            time.sleep(0.02)

    def _finish(self):
        if self._reader is not None:
            self._reader.join(timeout=5.0)
        if self._notify_sock is not None:
            self._notify_sock.close()
            self._notify_sock = None
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self._cleanup()

    def _cleanup(self):
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    # ---------------------------------------------------------------- HTTP

    def request(self, method, path, body=None, headers=None,
                timeout=REQUEST_TIMEOUT_S):
        """One HTTP request on a fresh connection.  body: dict/list -> JSON,
        str/bytes -> sent raw.  Returns (status, Headers, parsed JSON or
        None, raw bytes)."""
        hdrs = {}
        data = None
        if body is not None:
            if isinstance(body, (dict, list)):
                data = dumps(body).encode("utf-8")
                hdrs["Content-Type"] = "application/json"
            elif isinstance(body, str):
                data = body.encode("utf-8")
            else:
                data = bytes(body)
        if headers:
            hdrs.update(headers)
        if self.ca is not None:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout,
                context=ssl.create_default_context(cafile=self.ca))
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                              timeout=timeout)
        try:
            try:
                conn.request(method, path, body=data, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError):
                # The server may answer (e.g. 413) and close before it
                # has read the whole body: the answer is still there.
                pass
            resp = conn.getresponse()
            raw = resp.read()
            rh = Headers(resp.getheaders())
            status = resp.status
        finally:
            conn.close()
        if self.check_openapi:
            openapi_check.check_answer(method, path, status, rh, raw)
        parsed = None
        if raw:
            try:
                parsed = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                parsed = None
        return status, rh, parsed, raw

    def v1(self, method, path, body=None, headers=None, **kw):
        """request() with the /v1 prefix added."""
        return self.request(method, "/v1" + path, body, headers, **kw)

    def batch(self, requests, **props):
        body = {"requests": requests}
        body.update(props)
        return self.request("POST", "/v1/$batch", body)

    def batch_ok(self, requests, **props):
        """A batch that must be accepted: returns {id: response item} and
        the list of responses in the order given."""
        status, _, body, raw = self.batch(requests, **props)
        if status != 200 or not isinstance(body, dict):
            raise AssertionError("batch not accepted: %d %r" % (status, raw[:500]))
        resps = body.get("responses")
        if not isinstance(resps, list):
            raise AssertionError("batch answer has no responses list: %r" % raw[:500])
        by_id = {}
        for r in resps:
            if r.get("id") in by_id:
                raise AssertionError("id %r answered twice" % r.get("id"))
            by_id[r.get("id")] = r
        return by_id, resps

    def healthz(self):
        status, _, body, raw = self.request("GET", "/healthz", timeout=10)
        if status != 200 or not isinstance(body, dict):
            raise AssertionError("/healthz: %d %r" % (status, raw[:300]))
        return body

    def worker_pids(self):
        return [w["pid"] for w in self.healthz()["workers"]]

    def wait_workers(self, count=None, exclude=(), timeout=10.0):
        """Poll /healthz (bounded; there is no push signal) until it lists
        `count` live workers, each past start-up (state idle or busy), none
        of which is in `exclude`.  Returns the pids, or raises
        AssertionError."""
        count = self.workers if count is None else count
        exclude = set(exclude)
        deadline = time.monotonic() + timeout
        pids = []
        while True:
            h = self.healthz()
            ws = h.get("workers", [])
            pids = [w.get("pid") for w in ws]
            live = [w["pid"] for w in ws
                    if isinstance(w.get("pid"), int) and w["pid"] > 0
                    and w["pid"] not in exclude
                    and w.get("state") in ("idle", "busy")
                    and pid_alive(w["pid"])]
            if len(live) == count and len(pids) == count:
                return live
            if time.monotonic() > deadline:
                raise AssertionError("workers not back to %d within %.0fs: %r"
                                     % (count, timeout, h))
            time.sleep(0.02)


def make_tls_cert(d, name="server"):
    """A self-signed certificate for 127.0.0.1 (and localhost) and its
    key, made with the openssl command in directory d: (cert, key)."""
    cert = os.path.join(d, name + ".crt")
    key = os.path.join(d, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def unopenable_db_path(d):
    """A db_path under d that no worker can open: its parent is a regular
    file (the name says not-a-dir, so log lines can be matched)."""
    blocker = os.path.join(d, "not-a-dir")
    with open(blocker, "w") as f:
        f.write("a regular file\n")
    return os.path.join(blocker, "db")


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def children(pid):
    """Direct children of pid (all its threads), from /proc.  [] if the
    process is gone."""
    out = set()
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return []
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out.update(int(x) for x in f.read().split())
        except (OSError, ValueError):
            pass
    return sorted(out)


def live_children(pid):
    return [c for c in children(pid) if pid_alive(c)]


def kill_child(master_pid, child_pid, sig=signal.SIGKILL):
    """Send sig to child_pid only if it still is a live child of
    master_pid.  A pidfd is opened first and the parentage checked after,
    so the signal cannot reach a recycled pid.  Returns True if sent."""
    try:
        fd = os.pidfd_open(child_pid)
    except OSError:
        return False
    try:
        if child_pid not in children(master_pid) or not pid_alive(child_pid):
            return False
        try:
            signal.pidfd_send_signal(fd, sig)
        except OSError:
            return False
        return True
    finally:
        os.close(fd)


def mdb_stat(db_dir, timeout=30):
    """`mdb_stat -a DBDIR` on an LMDB directory: (returncode, output)."""
    exe = shutil.which("mdb_stat")
    if exe is None:
        raise AssertionError("mdb_stat not found (install lmdb-utils)")
    p = subprocess.run([exe, "-a", db_dir], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def proc_status(pid):
    """/proc/PID/status as a dict of str -> str ({} if gone)."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        pass
    return out


def vm_rss_kb(pid):
    """Resident set size of pid in KiB, from /proc/<pid>/status."""
    v = proc_status(pid).get("VmRSS")
    if v is None:
        raise AssertionError("no VmRSS for pid %d" % pid)
    return int(v.split()[0])


def cpu_seconds(pid):
    """User plus system CPU time pid has used so far, in seconds (from
    /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fd_count(pid):
    """Open file descriptors of pid (-1 if it is gone)."""
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def raise_nofile_limit():
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (for
    tests that open many sockets); returns the new soft limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


SHM_DIR = "/dev/shm"


def shm_path(master_pid):
    """The work ring's POSIX shared-memory object of a master."""
    return os.path.join(SHM_DIR, "batchd.%d" % master_pid)


def wait_until(pred, timeout, interval=0.02, what="condition"):
    """Poll pred() until it returns a true value (returned) or the deadline
    passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


# ------------------------------------------------------------ raw HTTP

RAW_MAX_BYTES = 512 * 1024 * 1024   # most a RawConnection buffers


class RawResponse:
    """One answer read off a raw socket.  status is None when the server
    closed (or reset) the connection, or went quiet, without a complete
    status line and header."""

    def __init__(self):
        self.status = None
        self.version = None
        self.headers = Headers()
        self.header_list = []       # (name, value) in order, repeats kept
        self.body = b""
        self.trailers = b""         # a chunked answer's trailer section
        self.chunked = False        # framed by the chunked transfer coding
        self.raw = b""              # the head, and the body as it came
        self.complete = False       # the whole framed answer was read
        self.closed = False         # the server closed the connection
        self.timed_out = False
        self.json = None

    def as_tuple(self):
        """The shape of Server.request(): (status, headers, parsed JSON or
        None, raw body)."""
        return self.status, self.headers, self.json, self.body

    def header_tokens(self, name):
        """The comma-separated, lower-cased tokens of every `name` header
        (e.g. Connection)."""
        out = []
        for k, v in self.header_list:
            if k.lower() == name.lower():
                out += [t.strip().lower() for t in v.split(",") if t.strip()]
        return out

    def __repr__(self):
        return "<RawResponse %r closed=%r complete=%r %r>" % (
            self.status, self.closed, self.complete, self.raw[:300])


def _parse_head(head):
    lines = head.split(b"\r\n")
    m = re.match(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
    if not m:
        return None, None, None
    hdrs = []
    for l in lines[1:]:
        k, sep, v = l.partition(b":")
        if sep:
            hdrs.append((k.strip().decode("latin-1"),
                         v.strip().decode("latin-1")))
    return m.group(1).decode(), int(m.group(2)), hdrs


class RawConnection:
    """One client connection to 127.0.0.1:port that sends exact bytes and
    reads answers one at a time, framed as RFC 9112 section 6.3 says: no
    body for 1xx, 204, 304 and answers to HEAD, else chunked, else
    Content-Length, else up to the close.  Bytes past one answer stay
    buffered for the next (pipelining).  Every read has a deadline.

    rcvbuf: SO_RCVBUF set before connecting (a small one makes a client
    that does not read hold back the server quickly)."""

    def __init__(self, port, timeout=10.0, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf is not None:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                     rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect(("127.0.0.1", port))
            # Every send() its own segment, so split writes stay split.
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            self.sock.close()
            raise
        self.buf = bytearray()
        self.eof = False            # the server closed (FIN or RST)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        self.sock.close()

    def send(self, data, piece=None):
        """Send data whole, or in pieces of `piece` bytes, one send() each.
        Returns False if the server closed or reset the connection before
        everything was sent (whatever it answered can still be read)."""
        try:
            if piece is None:
                self.sock.sendall(data)
            else:
                for i in range(0, len(data), piece):
                    self.sock.sendall(data[i:i + piece])
        except (BrokenPipeError, ConnectionResetError):
            return False
        return True

    def _fill(self, deadline, r=None):
        """Read what is there into buf (bounded by deadline).  False, and
        r.closed or r.timed_out set, when nothing more can come."""
        if self.eof:
            if r is not None:
                r.closed = True
            return False
        left = deadline - time.monotonic()
        if left <= 0 or len(self.buf) > RAW_MAX_BYTES:
            if r is not None:
                r.timed_out = True
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            if r is not None:
                r.timed_out = True
            return False
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.eof = True
            if r is not None:
                r.closed = True
            return False
        self.buf += chunk
        return True

    def read_response(self, timeout=10.0, head_only=False):
        """Read one answer (head_only: the answer to a HEAD request).
        Returns a RawResponse; see its complete, closed, timed_out."""
        r = RawResponse()
        deadline = time.monotonic() + timeout
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if not self._fill(deadline, r):
                r.raw = bytes(self.buf)
                self.buf.clear()
                return r
        head = bytes(self.buf[:end])
        del self.buf[:end + 4]
        r.raw = head + b"\r\n\r\n"
        r.version, r.status, hdrs = _parse_head(head)
        if r.status is None:
            r.raw = head + b"\r\n\r\n" + bytes(self.buf)
            self.buf.clear()
            return r
        r.header_list = hdrs
        r.headers = Headers(hdrs)
        te = r.headers.get("Transfer-Encoding", "").lower()
        cl = r.headers.get("Content-Length")
        if head_only or r.status < 200 or r.status in (204, 304):
            r.complete = True
        elif te:
            r.chunked = te.split(",")[-1].strip() == "chunked"
            if r.chunked:
                self._read_chunked(r, deadline)
        elif cl is not None and cl.isdigit():
            need = int(cl)
            while len(self.buf) < need and self._fill(deadline, r):
                pass
            r.body = bytes(self.buf[:need])
            del self.buf[:need]
            r.raw += r.body
            r.complete = len(r.body) == need
        else:
            while self._fill(deadline, r):
                pass
            r.body = bytes(self.buf)
            self.buf.clear()
            r.raw += r.body
            r.complete = r.closed
        if r.body:
            try:
                r.json = json.loads(r.body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                r.json = None
        return r

    def _read_chunked(self, r, deadline):
        body = bytearray()
        raw = bytearray()
        while True:
            eol = self.buf.find(b"\r\n")
            if eol < 0:
                if not self._fill(deadline, r):
                    break
                continue
            size = bytes(self.buf[:eol]).split(b";")[0].strip()
            try:
                n = int(size, 16)
            except ValueError:
                break               # not chunked framing: incomplete
            if n == 0:
                tend = self.buf.find(b"\r\n\r\n", eol)
                if tend < 0:
                    if not self._fill(deadline, r):
                        break
                    continue
                r.trailers = bytes(self.buf[eol + 2:tend])
                raw += self.buf[:tend + 4]
                del self.buf[:tend + 4]
                r.complete = True
                break
            if len(self.buf) < eol + 2 + n + 2:
                if not self._fill(deadline, r):
                    break
                continue
            if self.buf[eol + 2 + n:eol + 4 + n] != b"\r\n":
                break
            body += self.buf[eol + 2:eol + 2 + n]
            raw += self.buf[:eol + 4 + n]
            del self.buf[:eol + 4 + n]
        r.body = bytes(body)
        r.raw += bytes(raw)

    def wait_closed(self, timeout=5.0, stop_on_data=False):
        """Read and discard until the server closes (True) or the deadline
        passes (False).  stop_on_data: return False as soon as anything
        arrives instead (the server answered rather than closed).  Bytes
        read are left in buf."""
        deadline = time.monotonic() + timeout
        seen = len(self.buf)
        while True:
            if stop_on_data and len(self.buf) > seen:
                return False
            if not self._fill(deadline):
                return self.eof


def read_response(sock, timeout=10.0, head_only=False):
    """Read one answer from a plain socket (see RawConnection); bytes past
    it are dropped."""
    conn = RawConnection.__new__(RawConnection)
    conn.sock = sock
    conn.buf = bytearray()
    conn.eof = False
    return conn.read_response(timeout, head_only)


def raw_request(port, data, timeout=10.0, head_only=False):
    """Send data (bytes) on a fresh connection and read one answer.  A
    server that closes or resets the connection while we still send is
    not an error: whatever it answered is read."""
    with RawConnection(port, timeout) as conn:
        conn.send(data)
        return conn.read_response(timeout, head_only)


def http_bytes(method, target, body=None, headers=None, version="HTTP/1.1"):
    """A request as bytes.  target and header values may be bytes (sent
    as they are) or str (latin-1).  headers: a dict, or a list of
    (name, value) pairs to send repeats or an exact order; a value of
    None leaves that header out (e.g. {"Host": None})."""
    def b(x):
        return x if isinstance(x, bytes) else str(x).encode("latin-1")
    out = [b(method) + b" " + b(target) + b" " + b(version)]
    pairs = [("Host", "127.0.0.1")]
    if body is not None:
        pairs.append(("Content-Length", str(len(body))))
    given = list(headers.items() if isinstance(headers, dict)
                 else headers or [])
    names = {b(k).lower() for k, _ in given}
    pairs = [(k, v) for k, v in pairs if b(k).lower() not in names] + given
    for k, v in pairs:
        if v is not None:
            out.append(b(k) + b": " + b(v))
    return b"\r\n".join(out) + b"\r\n\r\n" + (body or b"")


def rst_close(sock):
    """Close with an RST (SO_LINGER 0) instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    sock.close()


# -------------------------------------------------------------- assertions

_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")


def check_error_object(tc, err, code):
    """err is the "error" object of SPEC section 4."""
    tc.assertIsInstance(err, dict, "error is not an object: %r" % (err,))
    tc.assertEqual(err.get("code"), code, "wrong error code in %r" % (err,))
    tc.assertRegex(err["code"], _CODE_RE)
    tc.assertIsInstance(err.get("message"), str, "error.message: %r" % (err,))
    tc.assertTrue(err["message"], "empty error.message")
    if "detail" in err:
        tc.assertIsInstance(err["detail"], str, "error.detail: %r" % (err,))


def check_envelope(tc, resp, status, code):
    """A whole-request error: status, SPEC section 4 envelope, and an
    X-Request-Id header equal to meta.request_id.  resp is a request()
    tuple.  Returns the error object."""
    st, hdrs, body, raw = resp
    tc.assertEqual(st, status, "expected %d %s, got %d %r"
                   % (status, code, st, raw[:300]))
    tc.assertIsInstance(body, dict, "error body is not a JSON object: %r"
                        % raw[:300])
    meta = body.get("meta")
    tc.assertIsInstance(meta, dict, "no meta object in %r" % (body,))
    rid = meta.get("request_id")
    tc.assertIsInstance(rid, str, "meta.request_id: %r" % (meta,))
    tc.assertTrue(rid)
    tc.assertEqual(hdrs.get("X-Request-Id"), rid,
                   "X-Request-Id header != meta.request_id")
    tc.assertIn("application/json", hdrs.get("Content-Type", ""))
    check_error_object(tc, body.get("error"), code)
    return body["error"]


def check_item_error(tc, item, status, code):
    """A failed batch item: its status and the "error" object in its body.
    Returns the error object."""
    tc.assertEqual(item.get("status"), status,
                   "item %r: expected %d %s, got %r"
                   % (item.get("id"), status, code, item))
    body = item.get("body")
    tc.assertIsInstance(body, dict, "item %r body: %r" % (item.get("id"), body))
    check_error_object(tc, body.get("error"), code)
    return body["error"]


def group_pids(pgid):
    """Live (non-zombie) processes whose process group is pgid."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # fields: state ppid pgrp ...
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            out.append(int(name))
    return out
