"""Helpers for the isolation and process-lifecycle black-box tests
(test_isolation.py, test_lifecycle.py), on top of harness.py.

Only the Python 3 standard library is used.  Everything here is bounded in
time: every wait has a deadline, every thread is joined with a timeout.
"""

import hashlib
import os
import random
import re
import signal
import threading
import time

import harness
from harness import (SHM_DIR, Server, children, kill_child,  # noqa: F401
                     live_children, mdb_stat, pid_alive, rows_path, qkey,
                     shm_path, vm_rss_kb, wait_until)


# ------------------------------------------------------------- processes


def wait_pids_gone(pids, timeout):
    """Wait (bounded) until none of pids is a live process; returns the
    ones still alive at the deadline ([] on success)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if pid_alive(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


# ---------------------------------------------------------------- metrics

_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text format -> {(name, ((label, value), ...)): float}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            raise AssertionError("unparsable metrics line: %r" % line)
        labels = tuple(sorted(_LABEL_RE.findall(m.group(3) or "")))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metrics(srv):
    st, _, _, raw = srv.request("GET", "/metrics", timeout=10)
    if st != 200:
        raise AssertionError("/metrics answered %d: %r" % (st, raw[:300]))
    return parse_metrics(raw.decode("utf-8"))


def metric(m, name, **labels):
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


RESTART_CAUSES = ("crash", "timeout", "oom", "recycle", "exit")


def restarts(srv):
    """batchd_worker_restarts_total by cause, as ints."""
    m = metrics(srv)
    return {c: int(metric(m, "batchd_worker_restarts_total", cause=c))
            for c in RESTART_CAUSES}


def delta(after, before):
    return {k: after[k] - before.get(k, 0) for k in after}


# -------------------------------------------------------------- data

def value_for(key, size=64, extra=None):
    """A deterministic row for key whose integrity can be checked:
    `data` is derived from key and size, `sum` is its sha256."""
    seed = hashlib.sha256(key.encode("utf-8")).hexdigest()
    data = (seed * (size // len(seed) + 1))[:size]
    v = {"key": key, "size": size, "data": data,
         "sum": hashlib.sha256(data.encode("ascii")).hexdigest()}
    if extra:
        v.update(extra)
    return v


def value_intact(v):
    """True if v is a whole row made by value_for / big_value."""
    if not isinstance(v, dict):
        return False
    data = v.get("data")
    if not isinstance(data, str) or len(data) != v.get("size"):
        return False
    return hashlib.sha256(data.encode("ascii")).hexdigest() == v.get("sum")


def scan_all(srv, ws, table, prefix=None, limit=1000, max_pages=1000):
    """Every row of a table (optionally under a prefix), paging with
    `after`.  Returns {key: value}.  404 (no table) gives {}."""
    rows = {}
    after = None
    for _ in range(max_pages):
        q = ["limit=%d" % limit]
        if prefix is not None:
            q.append("prefix=" + qkey(prefix))
        if after is not None:
            q.append("after=" + qkey(after))
        st, _, body, raw = srv.v1("GET", rows_path(ws, table) + "?" + "&".join(q))
        if st == 404:
            return rows
        if st != 200 or not isinstance(body, dict):
            raise AssertionError("scan answered %d: %r" % (st, raw[:300]))
        for r in body.get("rows", []):
            if r["key"] in rows:
                raise AssertionError("scan returned %r twice" % r["key"])
            rows[r["key"]] = r["value"]
        after = body.get("next")
        if after is None:
            return rows
    raise AssertionError("scan did not finish in %d pages" % max_pages)


# ---------------------------------------------------------------- servers

class ConfServer(Server):
    """A Server whose worker count comes from its config file only (the
    harness puts --workers on the command line, which would override the
    file on SIGHUP).  conf_path names the file; set_conf() rewrites keys;
    sighup() signals the master."""

    @property
    def conf_path(self):
        return os.path.join(self.tmpdir, "batchd.conf")

    @property
    def db_dir(self):
        return os.path.join(self.tmpdir, "db")

    def _start(self):
        binary = os.path.abspath(harness.BATCHD_BIN)
        if not os.access(binary, os.X_OK):
            raise harness.ServerError("no executable batchd at %s (run make)"
                                      % binary)
        self._conf = {"listen": "127.0.0.1:0", "db_path": self.db_dir,
                      "workers": str(self.workers),
                      "debug_ops": "on" if self.debug_ops else "off",
                      "db_sync": "off", "log_level": "info"}
        for k, v in self.options.items():
            if isinstance(v, bool):
                v = "on" if v else "off"
            self._conf[k] = str(v)
        self._write_conf()
        self._spawn([binary, "-c", self.conf_path, "--listen", "127.0.0.1:0",
                     "--db-path", self.db_dir] + self.extra_args)

    def _write_conf(self, raw=None):
        text = raw if raw is not None else "".join(
            "%s = %s\n" % kv for kv in self._conf.items())
        tmp = self.conf_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.conf_path)

    def set_conf(self, **changes):
        for k, v in changes.items():
            self._conf[k] = str(v)
        if "workers" in changes:
            self.workers = int(changes["workers"])
        self._write_conf()

    def write_raw_conf(self, text):
        self._write_conf(text)

    def sighup(self):
        self.proc.send_signal(signal.SIGHUP)


# ------------------------------------------------------------- load

class Load:
    """Client threads sending small batches (PUTs of fresh keys, GETs of
    keys this thread already wrote) until stop(); every answer is checked
    and every anomaly recorded in `failures`.  `allow_crash` accepts 500
    WORKER_CRASHED on an item; `allow_503` accepts (and retries after) a
    whole-batch 503 with Retry-After."""

    def __init__(self, srv, nthreads, ws="ws1", table="load", items=10,
                 allow_crash=False, allow_503=False, value_size=64,
                 prefix="L"):
        self.srv = srv
        self.nthreads = nthreads
        self.ws = ws
        self.table = table
        self.items = items
        self.allow_crash = allow_crash
        self.allow_503 = allow_503
        self.value_size = value_size
        self.prefix = prefix
        self.lock = threading.Lock()
        self.failures = []          # strings
        self.acked = set()          # keys whose PUT answered 201
        self.unacked = set()        # keys whose PUT answered 500
        # The value written under a key is always expected(key).
        self.batches = 0
        self.items_answered = 0
        self.crashed_items = 0
        self.rejected_503 = 0
        self._stop = threading.Event()
        self._threads = []

    def start(self):
        for t in range(self.nthreads):
            th = threading.Thread(target=self._run, args=(t,), daemon=True)
            th.start()
            self._threads.append(th)
        return self

    def stop(self, timeout=40.0):
        self._stop.set()
        deadline = time.monotonic() + timeout
        for th in self._threads:
            th.join(max(0.0, deadline - time.monotonic()))
        stuck = [th for th in self._threads if th.is_alive()]
        if stuck:
            self._fail("%d client threads still running %.0fs after stop"
                       % (len(stuck), timeout))

    def _fail(self, msg):
        with self.lock:
            if len(self.failures) < 200:
                self.failures.append(msg)

    def _run(self, tid):
        rnd = random.Random(tid * 7919 + os.getpid())
        mine = []                   # acked keys of this thread
        n = 0
        while not self._stop.is_set():
            reqs, expect = [], {}
            for i in range(self.items):
                iid = "i%d" % i
                if mine and i % 2 == 1:
                    key = rnd.choice(mine)
                    reqs.append({"id": iid, "method": "GET",
                                 "url": rows_path(self.ws, self.table, key)})
                    expect[iid] = ("GET", key, None)
                else:
                    key = "%s%d-%06d" % (self.prefix, tid, n)
                    n += 1
                    val = value_for(key, self.value_size)
                    reqs.append({"id": iid, "method": "PUT",
                                 "url": rows_path(self.ws, self.table, key),
                                 "body": val})
                    expect[iid] = ("PUT", key, val)
            try:
                st, hdrs, body, raw = self.srv.batch(reqs)
            except Exception as e:  # connection trouble is a failure
                self._fail("batch raised %r" % (e,))
                time.sleep(0.05)
                continue
            if st == 503 and self.allow_503:
                ra = hdrs.get("Retry-After")
                err = (body or {}).get("error", {}) if isinstance(body, dict) else {}
                if not ra or err.get("code") != "SERVICE_UNAVAILABLE":
                    self._fail("503 without Retry-After/SERVICE_UNAVAILABLE: %r %r"
                               % (ra, raw[:200]))
                with self.lock:
                    self.rejected_503 += 1
                time.sleep(0.1)
                continue
            if st != 200 or not isinstance(body, dict) or \
                    not isinstance(body.get("responses"), list):
                self._fail("batch answered %d: %r" % (st, raw[:300]))
                continue
            seen = {}
            for r in body["responses"]:
                rid = r.get("id")
                if rid in seen:
                    self._fail("item %r answered twice" % rid)
                seen[rid] = r
            if set(seen) != set(expect):
                self._fail("answered ids %r != sent ids %r"
                           % (sorted(seen), sorted(expect)))
            crashed = 0
            for iid, (op, key, val) in expect.items():
                r = seen.get(iid)
                if r is None:
                    continue
                s = r.get("status")
                if s == 500 and self.allow_crash and \
                        ((r.get("body") or {}).get("error") or {}).get("code") == "WORKER_CRASHED":
                    crashed += 1
                    if op == "PUT":
                        with self.lock:
                            self.unacked.add(key)
                    continue
                if op == "PUT":
                    if s != 201 or r.get("body") != val:
                        self._fail("PUT %s: expected 201 + the row, got %r"
                                   % (key, _short(r)))
                    else:
                        mine.append(key)
                        with self.lock:
                            self.acked.add(key)
                else:
                    if s != 200 or r.get("body") != self.expected(key):
                        self._fail("GET %s: expected 200 + the acked row, got %r"
                                   % (key, _short(r)))
            with self.lock:
                self.batches += 1
                self.items_answered += len(seen)
                self.crashed_items += crashed

    def expected(self, key):
        """The one value this load ever writes under key."""
        return value_for(key, self.value_size)


def _short(r):
    s = repr(r)
    return s if len(s) < 300 else s[:300] + "..."

