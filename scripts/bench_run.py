#!/usr/bin/env python3
"""scripts/bench_run.py - the driver behind scripts/bench (issue 6).

Run it through scripts/bench, which installs the peers and builds first.
Python 3 standard library only.  Starts every server on 127.0.0.1 on a free
port in a temporary directory, stops and reaps each by pid, removes every
temporary directory, and writes OUT/results.md and OUT/*.png (OUT/out/ holds
the raw numbers and the gnuplot inputs).
"""

import argparse
import csv
import datetime
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCHD = os.environ.get("BATCHD_BIN") or os.path.join(ROOT, "bin", "batchd")
TOOLS = os.path.join(ROOT, "build", "tools")
LUA = os.path.join(ROOT, "scripts", "bench-batch.lua")

NKEYS = 100_000
ROW_BYTES = 200
LOAD_BATCH = 100
WS, TABLE = "bench", "t"
SWEEP = [1, 2, 5, 10, 20, 50, 100]
HEAD = [1, 10, 100]
SCALE_WORKERS = [1, 2, 4, 8]
# --only: section name -> the --skip names it keeps.  "http" is the HTTP
# comparison (sections 1 and 3: batchd $batch and nginx); a run with
# --only writes results-ONLY.md (and no plots) beside results.md, which
# stays the full run's.
ONLY = {"http": ["batchd", "nginx"], "redis": ["batchd", "redis"],
        "lmdb": ["batchd", "lmdb"], "scaling": ["batchd", "scaling"],
        "ring": ["ring"], "durable": ["durable"], "bulk": ["bulk"],
        "syscalls": ["syscalls"]}
BULK_ITEMS = 1_000_000


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def key(i):
    # What redis-benchmark makes of key:__rand_int__ with -r 100000.
    return "key:%012d" % i


def row_json(i):
    """Row i: compact JSON of exactly ROW_BYTES bytes, the same in batchd
    (loaded, and written again by PUT items) and in Redis."""
    s = '{"id":%d,"name":"user-%06d","score":%d,"pad":""}' % (i, i, (i * 7919) % 1000)
    return '{"id":%d,"name":"user-%06d","score":%d,"pad":"%s"}' % (
        i, i, (i * 7919) % 1000, "x" * (ROW_BYTES - len(s)))


# --------------------------------------------------------------------------
# Processes: every one started is registered, stopped by pid and reaped.

class Procs:
    def __init__(self):
        self.live = []

    def start(self, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("preexec_fn", die_with_parent)
        p = subprocess.Popen(argv, **kw)
        self.live.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, timeout=20):
        if p is None:
            return None
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                log("pid %d did not stop on signal %d: killing it" % (p.pid, sig))
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        if p in self.live:
            self.live.remove(p)
        return p.returncode

    def stop_all(self):
        for p in list(reversed(self.live)):
            self.stop(p, timeout=10)

    def run(self, argv, timeout, **kw):
        """Run to completion; output captured.  Killed on timeout."""
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = self.start(argv, text=True, **kw)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(p, signal.SIGKILL)
            raise RuntimeError("%s: timed out after %ds" % (os.path.basename(argv[0]), timeout))
        finally:
            if p.poll() is None:        # interrupted: let it clean up
                self.stop(p, signal.SIGTERM, timeout=5)
            elif p in self.live:
                self.live.remove(p)
        return p.returncode, out, err


PROCS = Procs()

try:
    import ctypes
    _LIBC = ctypes.CDLL(None, use_errno=True)
except (ImportError, OSError):
    _LIBC = None


def die_with_parent():
    """In the child, before exec: SIGTERM it if this driver dies without
    cleaning up (killed with SIGKILL).  Best effort."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM, 0, 0, 0)     # PR_SET_PDEATHSIG


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def rss_kb(pid):
    """VmRSS and RssAnon of pid, in kB (None if gone)."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                    out[k] = int(v.split()[0])
    except OSError:
        return None
    return out


def cmd_out(argv):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=10, stdin=subprocess.DEVNULL)
        return r.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


# --------------------------------------------------------------------------
# batchd

class Batchd:
    def __init__(self, tmp, db, workers, tag, sync="off", extra=""):
        self.log_path = os.path.join(tmp, "batchd-%s.log" % tag)
        self.logf = open(self.log_path, "w")
        # Defaults of the SPEC (auth off, log_level info: one log line per
        # request, as a user runs it), but a scratch store and, unless a
        # section says otherwise, no fsync.
        conf = os.path.join(tmp, "batchd-%s.conf" % tag)
        with open(conf, "w") as f:
            f.write("# scripts/bench: every key at its default but these\n"
                    "db_sync = %s\nlog_level = info\n%s" % (sync, extra))
        argv = [BATCHD, "-c", conf, "--listen", "127.0.0.1:0",
                "--db-path", db, "--db-sync", sync, "--workers", str(workers)]
        self.proc = PROCS.start(argv, stdout=self.logf, stderr=self.logf)
        self.port = None
        end = time.time() + 15
        while time.time() < end and self.port is None:
            if self.proc.poll() is not None:
                break
            with open(self.log_path) as f:
                m = re.search(r"listening on 127\.0\.0\.1:(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
            else:
                time.sleep(0.05)
        if self.port is None:
            self.stop()
            with open(self.log_path) as f:
                tail = f.read()[-600:]
            raise RuntimeError("batchd did not start:\n" + tail)
        # Wait until every worker is up.
        end = time.time() + 15
        while time.time() < end:
            h = self.healthz()
            if h and len([w for w in h.get("workers", []) if w.get("state") != "starting"]) >= workers:
                break
            time.sleep(0.05)

    def request(self, method, path, body=None, conn=None):
        own = conn is None
        if own:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        hdr = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=hdr)
        r = conn.getresponse()
        data = r.read()
        if own:
            conn.close()
        return r.status, data

    def healthz(self):
        try:
            st, data = self.request("GET", "/healthz")
            return json.loads(data) if st == 200 else None
        except (OSError, ValueError, http.client.HTTPException):
            return None

    def metrics(self):
        out = {}
        try:
            st, data = self.request("GET", "/metrics")
        except (OSError, http.client.HTTPException):
            return out
        for line in data.decode().splitlines():
            m = re.match(r'batchd_items_total\{status="(\w+)"\} (\d+)', line)
            if m:
                out[m.group(1)] = int(m.group(2))
        return out

    def pids(self):
        h = self.healthz() or {}
        return self.proc.pid, [w["pid"] for w in h.get("workers", []) if w.get("pid")]

    def memory(self):
        master, workers = self.pids()
        return {"master": rss_kb(master), "workers": [rss_kb(p) for p in workers]}

    def stop(self):
        rc = PROCS.stop(self.proc)
        self.logf.close()
        return rc


def load_rows(b, threads=4):
    """PUT NKEYS rows in $batch bodies of LOAD_BATCH items from a few
    keep-alive connections; checks every item's status."""
    nbatches = (NKEYS + LOAD_BATCH - 1) // LOAD_BATCH
    lock = threading.Lock()
    state = {"next": 0, "bad": 0, "err": None}

    def body(first):
        items = []
        for n, i in enumerate(range(first, min(first + LOAD_BATCH, NKEYS))):
            items.append('{"id":"%d","method":"PUT","workspace":"%s","path":"/tables/%s/rows/%s","body":%s}'
                         % (n, WS, TABLE, key(i), row_json(i)))
        return ('{"requests":[' + ",".join(items) + "]}").encode()

    def loader():
        conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=60)
        try:
            while True:
                with lock:
                    k = state["next"]
                    state["next"] += 1
                if k >= nbatches:
                    return
                for attempt in range(50):
                    st, data = b.request("POST", "/v1/$batch", body(k * LOAD_BATCH), conn)
                    if st != 503:
                        break
                    time.sleep(0.05)
                if st != 200:
                    raise RuntimeError("load: batch answered %d" % st)
                bad = sum(1 for r in json.loads(data)["responses"] if r["status"] not in (200, 201))
                if bad:
                    with lock:
                        state["bad"] += bad
        except Exception as e:  # noqa: BLE001 - reported below
            state["err"] = e
        finally:
            conn.close()

    t0 = time.time()
    ts = [threading.Thread(target=loader) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    secs = time.time() - t0
    if state["err"]:
        raise RuntimeError("load failed: %s" % state["err"])
    if state["bad"]:
        raise RuntimeError("load: %d items failed" % state["bad"])
    return secs


# --------------------------------------------------------------------------
# wrk

POOL_ITEMS = 100_000      # random items per request pool (then cycled) ...
POOL_BYTES = 6 << 20      # ... within this many bytes: wrk reads it at start


def make_pool(path, mode, batch, seed):
    """Complete HTTP requests, NUL-separated, for bench-batch.lua: $batch
    bodies of batch random-key items; mode get, put (rows as loaded) or mix
    (each item a GET with probability 0.9, else a PUT)."""
    rnd = random.Random(seed)
    head = ("POST /v1/$batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: ")
    reqs, size = [], 0
    while len(reqs) < 16 or (len(reqs) < POOL_ITEMS // batch and size < POOL_BYTES):
        items = []
        for n in range(batch):
            k = rnd.randrange(NKEYS)
            if mode == "put" or (mode == "mix" and rnd.random() < 0.1):
                items.append('{"id":"%d","method":"PUT","workspace":"%s","path":"/tables/%s/rows/%s","body":%s}'
                             % (n, WS, TABLE, key(k), row_json(k)))
            else:
                items.append('{"id":"%d","workspace":"%s","path":"/tables/%s/rows/%s"}' % (n, WS, TABLE, key(k)))
        body = '{"requests":[' + ",".join(items) + "]}"
        reqs.append(head + str(len(body)) + "\r\n\r\n" + body)
        size += len(reqs[-1]) + 1
    with open(path, "w") as f:
        f.write("\0".join(reqs))


def wrk(url, mode, batch, secs, a, pool=None):
    argv = ["wrk", "-t", str(a.threads), "-c", str(a.connections), "-d", "%ds" % secs,
            "--latency", "-s", LUA, url, "--"] + (["pool", pool] if pool else ["static"])
    rc, out, err = PROCS.run(argv, timeout=secs + 60)
    m = re.search(r"^BENCHJSON (.*)$", out, re.M)
    if rc != 0 or not m:
        raise RuntimeError("wrk failed (rc %s): %s" % (rc, (err or out)[-400:]))
    r = json.loads(m.group(1))
    if r["requests"] == 0:
        raise RuntimeError("wrk: no request completed against %s" % url)
    dur = r["duration_us"] / 1e6
    r["batches_per_s"] = r["requests"] / dur
    r["items_per_s"] = r["requests"] * batch / dur
    r["batch"] = batch
    r["mode"] = mode
    r["errors_total"] = sum(r["errors"].values())
    return r


POOLS = {}


def batchd_wrk(b, mode, batch, secs, a):
    pool = POOLS.get((mode, batch))
    if pool is None:
        pool = os.path.join(POOLS["dir"], "%s-%d.req" % (mode, batch))
        make_pool(pool, mode, batch, seed="%s-%d" % (mode, batch))
        POOLS[(mode, batch)] = pool
    before = b.metrics()
    r = wrk("http://127.0.0.1:%d/v1/$batch" % b.port, mode, batch, secs, a, pool)
    after = b.metrics()
    # Items that did not answer 2xx inside 200 batches (e.g. a missing key).
    r["item_errors"] = sum(after.get(k, 0) - before.get(k, 0) for k in after if k != "2xx")
    return r


# --------------------------------------------------------------------------
# The run

class Run:
    def __init__(self, a):
        self.a = a
        self.res = {"notes": [], "skipped": {}, "timing": {}}
        sweep_stale_tmp()
        self.tmp = tempfile.mkdtemp(prefix="batchd-bench.%d." % os.getpid())
        POOLS["dir"] = self.tmp
        self.out = os.path.abspath(a.out)
        self.scratch = os.path.join(self.out, "out")
        os.makedirs(self.scratch, exist_ok=True)
        q = a.quick
        self.dur = a.duration or (3 if q else 10)           # batch 1, 10, 100
        self.sweep_dur = a.duration or (2 if q else 6)      # other points
        self.write_dur = a.duration or (2 if q else 10)     # PUT and mix
        self.scale_dur = a.duration or (2 if q else 10)     # --workers 1..8
        self.rounds = 1 if q else 3                         # alternating rounds
        self.ring_secs = 0.5 if q else 3
        self.lmdb_secs = 1 if q else 5
        self.durable_dur = a.duration or (3 if q else 10)   # durable writes
        self.sizes = a.sizes or SWEEP                       # GET batch sizes
        self.db = None
        self.b = self.redis_port = None
        self.nginx_urls = []

    def cleanup(self):
        PROCS.stop_all()
        if self.a.keep:
            log("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def skipped(self, section):
        if section in self.a.skip.split(","):
            self.skip(section, "--skip %s" % section)
            return True
        return False

    def skip(self, section, why):
        self.res["skipped"][section] = why
        log("%s: skipped: %s" % (section, why))

    def note(self, text):
        self.res["notes"].append(text)
        log(text)

    # -- machine ------------------------------------------------------------
    def machine(self):
        cpu = ""
        try:
            with open("/proc/cpuinfo") as f:
                m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
                cpu = m.group(1).strip() if m else ""
        except OSError:
            pass
        mem = ""
        try:
            with open("/proc/meminfo") as f:
                m = re.search(r"MemTotal:\s*(\d+)", f.read())
                mem = "%.1f GiB" % (int(m.group(1)) / 1048576)
        except OSError:
            pass
        osname = ""
        try:
            with open("/etc/os-release") as f:
                m = re.search(r'^PRETTY_NAME="?([^"\n]*)', f.read(), re.M)
                osname = m.group(1) if m else ""
        except OSError:
            pass

        def ver(argv, rx):
            m = re.search(rx, cmd_out(argv))
            return m.group(1) if m else "not installed"

        rev = cmd_out(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]) or "?"
        if cmd_out(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"]):
            rev += " + local changes"
        self.res["machine"] = {
            "nproc": os.cpu_count(),
            "cpu": cpu or platform.processor() or "?",
            "kernel": platform.release(),
            "os": osname,
            "memory": mem,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "loadavg_start": loadavg(),
        }
        self.res["versions"] = {
            "batchd": rev,
            "wrk": ver(["wrk", "-v"], r"wrk (\S+)"),
            "redis-server": ver(["redis-server", "--version"], r"v=(\S+)"),
            "nginx": ver(["nginx", "-v"], r"nginx/(\S+)"),
            "libevent": cmd_out(["pkg-config", "--modversion", "libevent"]) or "?",
            "lmdb": cmd_out(["pkg-config", "--modversion", "lmdb"]) or "?",
            "json-c": cmd_out(["pkg-config", "--modversion", "json-c"]) or "?",
            "gcc": ver(["gcc", "-dumpfullversion"], r"(\S+)"),
        }

    # -- 5. IPC ceiling -----------------------------------------------------
    def ring(self):
        tool = os.path.join(TOOLS, "bench_ring")
        if self.skipped("ring"):
            return
        if not os.access(tool, os.X_OK):
            return self.skip("ring", "build/tools/bench_ring not built")
        rows = []
        # Workers watch the ring for worker_spin_us (20) before sleeping, as
        # batchd's do; spin 0 shows what a wake-up of a sleeping worker costs.
        for w in (1, 2):
            for burst in (1, 64):
                for spin in (0, 20):
                    rc, out, err = PROCS.run([tool, "-w", str(w), "-b", str(burst), "-p", str(spin),
                                              "-s", str(self.ring_secs)], timeout=60)
                    if rc != 0:
                        self.note("bench_ring -w %d -b %d -p %d failed: %s" % (w, burst, spin, err.strip()[-200:]))
                        continue
                    rows.append(json.loads(out.strip().splitlines()[-1]))
                    log("ring: %d worker(s), bursts of %d, spin %d us: %.0f ns/item"
                        % (w, burst, spin, rows[-1]["ns_per_item"]))
        self.res["ring"] = rows

    # -- servers: batchd (1), Redis (2), nginx (3) up together, so that each
    #    batchd point is measured right next to its peer's ----------------------
    def start_batchd(self):
        if self.skipped("batchd"):
            return
        if not wrk_ok():
            return self.skip("batchd", "wrk not installed")
        a = self.a
        self.db = os.path.join(self.tmp, "db")
        b = self.b = Batchd(self.tmp, self.db, a.workers, "main")
        self.mem = [("started, empty store", b.memory())]
        log("batchd on 127.0.0.1:%d, %d workers; loading %d rows" % (b.port, a.workers, NKEYS))
        secs = load_rows(b)
        self.res["load"] = {"rows": NKEYS, "secs": secs, "rows_per_s": NKEYS / secs}
        log("loaded in %.1f s (%.0f rows/s)" % (secs, NKEYS / secs))
        self.mem.append(("after loading %s rows" % format(NKEYS, ","), b.memory()))
        # What the reads will see; the bytes nginx will serve.
        st, data = b.request("POST", "/v1/$batch",
                             ('{"requests":[{"id":"1","workspace":"%s","path":"/tables/%s/rows/%s"}]}'
                              % (WS, TABLE, key(NKEYS - 1))).encode())
        j = json.loads(data)
        if st != 200 or j["responses"][0]["status"] != 200 or \
           j["responses"][0]["body"] != json.loads(row_json(NKEYS - 1)):
            raise RuntimeError("batchd: a loaded row reads back wrong: %r" % data[:300])
        self.answer1 = data
        self.res["answer1_bytes"] = len(data)

    def start_redis(self):
        if self.skipped("redis"):
            return
        for t in ("redis-server", "redis-cli", "redis-benchmark"):
            if not shutil.which(t):
                return self.skip("redis", "%s not installed" % t)
        d = os.path.join(self.tmp, "redis")
        os.makedirs(d)
        port = free_port()
        logf = open(os.path.join(d, "redis.log"), "w")
        p = PROCS.start(["redis-server", "--bind", "127.0.0.1", "--port", str(port),
                         "--save", "", "--appendonly", "no", "--daemonize", "no",
                         "--dir", d, "--protected-mode", "yes"], stdout=logf, stderr=logf)
        logf.close()
        if not wait_port(port, p):
            PROCS.stop(p)
            raise RuntimeError("redis-server did not start: %s" % open(os.path.join(d, "redis.log")).read()[-300:])
        self.redis_proc = p
        cli = ["redis-cli", "-h", "127.0.0.1", "-p", str(port)]
        resp = os.path.join(d, "load.resp")
        with open(resp, "wb") as f:
            for i in range(NKEYS):
                k, v = key(i).encode(), row_json(i).encode()
                f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
        t0 = time.time()
        with open(resp, "rb") as f:
            rc, out, err = PROCS.run(cli + ["--pipe"], timeout=120, stdin=f)
        load_s = time.time() - t0
        _, n, _ = PROCS.run(cli + ["DBSIZE"], timeout=10)
        _, v, _ = PROCS.run(cli + ["GET", key(NKEYS - 1)], timeout=10)
        if rc != 0 or n.strip() != str(NKEYS) or v.strip() != row_json(NKEYS - 1):
            raise RuntimeError("redis load failed: %s %s" % (out.strip()[-200:], err.strip()[-200:]))
        self.res["redis_load"] = {"secs": load_s}
        self.redis_port = port
        log("redis-server on 127.0.0.1:%d, %d keys loaded in %.1f s" % (port, NKEYS, load_s))

    def start_nginx(self):
        if self.skipped("nginx"):
            return
        exe = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
        if not exe:
            return self.skip("nginx", "nginx not installed")
        if not wrk_ok():
            return self.skip("nginx", "wrk not installed")
        if not getattr(self, "answer1", None):
            # batchd did not answer: a file shaped like its 1-item answer.
            self.answer1 = ('{"responses":[{"id":"1","status":200,"headers":{"ETag":"\\"00000000000186a0\\"",'
                            '"Content-Type":"application/json"},"body":%s}]}' % row_json(NKEYS - 1)).encode()
            self.res["answer1_bytes"] = len(self.answer1)
        # nginx as shipped logs every request, as batchd does at its default
        # log_level: those are compared.  One more, with access_log off,
        # shows the bare HTTP ceiling.
        ncpu = os.cpu_count() or 1
        for nw, logs in sorted({(1, True), (ncpu, True)}) + [(ncpu, False)]:
            key = "%d" % nw if logs else "%d-nolog" % nw
            d = os.path.join(self.tmp, "nginx-" + key)
            os.makedirs(os.path.join(d, "www"))
            os.makedirs(os.path.join(d, "logs"))
            with open(os.path.join(d, "www", "answer.json"), "wb") as f:
                f.write(self.answer1)      # the very bytes batchd answered
            port = free_port()
            conf = os.path.join(d, "nginx.conf")
            with open(conf, "w") as f:
                f.write(NGINX_CONF.format(workers=nw, d=d, port=port,
                                          access_log=("%s/logs/access.log" % d) if logs else "off"))
            errf = open(os.path.join(d, "logs", "stderr"), "w")
            p = PROCS.start([exe, "-p", d + "/", "-c", conf, "-e", os.path.join(d, "logs", "error.log")],
                            stdout=subprocess.DEVNULL, stderr=errf)
            errf.close()
            if not wait_port(port, p):
                PROCS.stop(p)
                with open(os.path.join(d, "logs", "stderr")) as f:
                    raise RuntimeError("nginx did not start: " + f.read()[-300:])
            self.nginx_urls.append((key, nw, logs, "http://127.0.0.1:%d/answer.json" % port))
            log("nginx (%d worker%s%s) on 127.0.0.1:%d" % (nw, "s" if nw > 1 else "",
                                                          "" if logs else ", access_log off", port))

    def redis_bench(self, pl, secs):
        a = self.a
        base = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(self.redis_port), "-c", str(a.connections),
                "--threads", str(a.threads), "-r", str(NKEYS), "-P", str(pl), "--csv"]

        def once(n):
            rc, out, err = PROCS.run(base + ["-n", str(n), "GET", "key:__rand_int__"], timeout=300)
            rows = [l for l in out.splitlines() if l.startswith('"GET')]
            if rc != 0 or not rows:
                raise RuntimeError("redis-benchmark failed: %s" % (err or out)[-300:])
            f = [x.strip('"') for x in rows[-1].split('","')]
            return {"n": n, "rps": float(f[1]), "avg_ms": float(f[2]), "p50_ms": float(f[4]),
                    "p95_ms": float(f[5]), "p99_ms": float(f[6]), "max_ms": float(f[7]), "pipeline": pl}
        # redis-benchmark counts requests, not seconds: size -n from a short
        # calibration so that the run lasts about secs.
        r = once(min(10_000 * pl, 200_000))
        return once(int(max(20_000, min(r["rps"] * secs, 500_000_000))))

    def measure(self):
        """Every point with the servers up, each batchd point next to its
        peer's; whichever server is missing is left out."""
        a, b = self.a, self.b
        if b is not None:
            batchd_wrk(b, "get", 10, 1, a)     # warm-up: connections, caches
        for _, _, _, url in self.nginx_urls:
            wrk(url, "static", 1, 1, a)
        get, red, ngx = {}, {}, {}
        for rnd in range(self.rounds):
            for bs in self.sizes:
                if bs not in HEAD and rnd > 0:
                    continue
                secs = self.dur if bs in HEAD else self.sweep_dur
                msg = []
                if b is not None:
                    r = batchd_wrk(b, "get", bs, secs, a)
                    get.setdefault(bs, []).append(r)
                    msg.append("batchd GET x%d: %.0f items/s" % (bs, r["items_per_s"]))
                if self.redis_port:
                    try:
                        x = self.redis_bench(bs, secs)
                        red.setdefault(bs, []).append(x)
                        msg.append("Redis -P %d: %.0f" % (bs, x["rps"]))
                    except RuntimeError as e:
                        self.note(str(e))
                if bs == 1:
                    for key, nw, logs, url in self.nginx_urls:
                        x = wrk(url, "static", 1, secs, a)
                        x.update(key=key, workers=nw, access_log=logs)
                        ngx.setdefault(key, []).append(x)
                        msg.append("nginx/%s: %.0f req/s" % (key, x["batches_per_s"]))
                if msg:
                    log("; ".join(msg) + (" (round %d)" % (rnd + 1) if self.rounds > 1 else ""))
        self.res["batchd_rounds"] = {str(k): v for k, v in get.items()}
        self.res["redis_rounds"] = {str(k): v for k, v in red.items()}
        self.res["nginx_rounds"] = {str(k): v for k, v in ngx.items()}
        if red:
            self.res["redis"] = [median(red[p], "rps") for p in SWEEP if p in red]
        if ngx:
            self.res["nginx"] = [median(ngx[k], "batches_per_s") for k in sorted(ngx)]
        if b is None:
            return
        runs = [median(get[bs], "items_per_s") for bs in SWEEP if bs in get]
        for mode in ("put", "mix"):
            for bs in [x for x in HEAD if x in self.sizes]:
                r = batchd_wrk(b, mode, bs, self.write_dur, a)
                runs.append(r)
                log("batchd %s x%d: %.0f items/s" % (mode, bs, r["items_per_s"]))
        self.res["batchd"] = runs
        self.mem.append(("after the wrk runs", b.memory()))
        self.res["memory"] = self.mem

    def stop_servers(self):
        if self.b is not None:
            rc = self.b.stop()
            if rc != 0:
                self.note("batchd exited %s on SIGTERM (log: %s)" % (rc, self.b.log_path))
            self.b = None
        PROCS.stop_all()

    def servers(self):
        try:
            for step in (self.start_batchd, self.start_redis, self.start_nginx):
                try:
                    step()
                except (RuntimeError, OSError, ValueError, KeyError, http.client.HTTPException) as e:
                    self.skip(step.__name__[6:], "failed: %s" % str(e).strip().replace("\n", " ")[:400])
                    if step == self.start_batchd and self.b is not None:
                        self.b.stop()
                        self.b = None
            self.measure()
        finally:
            self.stop_servers()

    # -- 6. scaling ---------------------------------------------------------
    def scaling(self):
        a = self.a
        if self.skipped("scaling"):
            return
        if not self.db or "batchd" not in self.res:
            return self.skip("scaling", "no loaded store")
        rows = []
        for w in SCALE_WORKERS:
            b = Batchd(self.tmp, self.db, w, "w%d" % w)
            try:
                batchd_wrk(b, "get", 100, 1, a)     # warm-up
                r = batchd_wrk(b, "get", 100, self.scale_dur, a)
                r["workers"] = w
                r["memory"] = b.memory()
                rows.append(r)
                log("scaling: %d worker(s): %.0f items/s" % (w, r["items_per_s"]))
            finally:
                b.stop()
        self.res["scaling"] = rows

    # -- 4. storage ceiling -------------------------------------------------
    def lmdb(self):
        tool = os.path.join(TOOLS, "bench_lmdb")
        if self.skipped("lmdb"):
            return
        if not self.db or not os.path.exists(os.path.join(self.db, "data.mdb")):
            return self.skip("lmdb", "no store to read")
        if not os.access(tool, os.X_OK):
            return self.skip("lmdb", "build/tools/bench_lmdb not built")
        rows = []
        for procs in sorted({1, self.a.workers}):
            rc, out, err = PROCS.run([tool, "-s", str(self.lmdb_secs), "-r", "100",
                                      "-p", str(procs), self.db], timeout=120)
            if rc != 0:
                self.note("bench_lmdb -p %d failed: %s" % (procs, err.strip()[-200:]))
                continue
            rows.append(json.loads(out.strip().splitlines()[-1]))
            log("lmdb: %d process(es): %.0f gets/s" % (procs, rows[-1]["gets_per_s"]))
        self.res["lmdb"] = rows


    # -- 9. system calls per 1-item request (issue 11) ----------------------
    def syscalls(self):
        """scripts/bench-syscalls: strace -c over the same keep-alive
        requests, batchd's master beside nginx's worker."""
        if self.skipped("syscalls"):
            return
        if shutil.which("strace") is None:
            return self.skip("syscalls", "strace not installed")
        out = os.path.join(self.scratch, "syscalls.txt")
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench-syscalls"),
                        "-n", "2000", "-o", out], check=True, timeout=600,
                       stdout=subprocess.DEVNULL)
        with open(out) as f:
            self.res["syscalls"] = [l for l in f.read().splitlines()
                                    if l.startswith("|")]

    # -- 7. durable writes (issue 10) --------------------------------------
    def durable(self):
        """PUT $batch of 1, 10, 100 items from 8 connections, db_sync on (the
        default) against Redis appendfsync always at -P 1/10/100, then
        db_sync off against Redis without persistence.  Each batchd point
        is measured right before its Redis point; the master's and the
        workers' CPU per item comes from /proc/PID/stat."""
        if self.skipped("durable"):
            return
        if not wrk_ok():
            return self.skip("durable", "wrk not installed")
        a = argparse.Namespace(**vars(self.a))
        a.connections = DURABLE_CONNS
        have_redis = all(shutil.which(t) for t in ("redis-server", "redis-benchmark")) \
            and "redis" not in self.a.skip_given.split(",")
        hz = os.sysconf("SC_CLK_TCK")
        rows = []
        d0 = os.path.join(self.tmp, "durable")
        os.makedirs(d0, exist_ok=True)
        self.res["durable_fs"] = fs_of(d0)
        for sync in ("on", "off"):
            db = os.path.join(d0, "db-" + sync)
            b = Batchd(self.tmp, db, self.a.workers, "durable-" + sync, sync=sync)
            rp = rport = None
            try:
                if have_redis:
                    rp, rport = start_redis_server(os.path.join(d0, "redis-" + sync), sync == "on")
                batchd_wrk(b, "put", 10, 1, a)      # warm-up: connections, pages
                for bs in DURABLE_BATCH:
                    master, workers = b.pids()
                    t0 = [cpu_ticks(master)] + [cpu_ticks(w) for w in workers]
                    r = batchd_wrk(b, "put", bs, self.durable_dur, a)
                    t1 = [cpu_ticks(master)] + [cpu_ticks(w) for w in workers]
                    items = r["requests"] * bs
                    row = {"sync": sync, "batch": bs, "items_per_s": r["items_per_s"],
                           "p50_us": r["latency_us"]["50"], "p99_us": r["latency_us"]["99"],
                           "errors": r["errors_total"] + r["item_errors"],
                           "master_cpu_us": (t1[0] - t0[0]) / hz * 1e6 / max(items, 1),
                           "workers_cpu_us": (sum(t1[1:]) - sum(t0[1:])) / hz * 1e6 / max(items, 1)}
                    msg = "durable db_sync %s: batchd PUT x%d: %.0f items/s" % (sync, bs, row["items_per_s"])
                    if rport:
                        x = redis_set_bench(rport, bs, self.durable_dur, DURABLE_CONNS, self.a.threads)
                        row["redis_rps"] = x["rps"]
                        row["redis_p99_ms"] = x["p99_ms"]
                        msg += "; Redis -P %d: %.0f" % (bs, x["rps"])
                    for mode in (("on", "commit") if sync == "on" else ("off",)):
                        ceil = None
                        for procs in sorted({1, self.a.workers}):
                            c = lmdb_commit_bench(os.path.join(d0, "lmdb-%s-%d" % (mode, bs)), mode,
                                                  min(bs * DURABLE_CONNS, DURABLE_GROUP_MAX), procs,
                                                  min(self.durable_dur, 5))
                            if c and (ceil is None or c["items_per_s"] > ceil["items_per_s"]):
                                ceil = c
                        if ceil:
                            row["lmdb_" + mode] = ceil
                            msg += "; LMDB alone (%s): %.0f" % (mode, ceil["items_per_s"])
                    rows.append(row)
                    log(msg)
            finally:
                b.stop()
                if rp is not None:
                    PROCS.stop(rp)
        self.res["durable"] = rows
        if not have_redis:
            self.note("durable: Redis not installed, batchd measured alone")

    # -- 8. bulk import (issue 10) -----------------------------------------
    def bulk(self):
        """One asynchronous batch of BULK_ITEMS PUT items, db_sync on; items/s
        from acceptance to completion; RSS of the master and the workers
        sampled while it runs."""
        if self.skipped("bulk"):
            return
        n = BULK_ITEMS if not self.a.quick else BULK_ITEMS // 10
        items = ('{"id":"%d","method":"PUT","workspace":"bulk","path":"/tables/t/rows/k%07d","body":{"v":%d}}'
                 % (i, i, i) for i in range(n))
        body = ('{"requests":[' + ",".join(items) + "]}").encode()
        mb = (len(body) >> 20) + 8
        extra = ("max_async_items = %d\nmax_pending_items = %d\nmax_body_bytes = %d\nmax_result_bytes = %d\n"
                 "ring_slots = %d\n" % (n, n + 10000, mb << 20, (mb << 20) + 65536,
                                        1 << max(12, (mb * 256 + 16).bit_length())))
        db = os.path.join(self.tmp, "bulk-db")
        b = Batchd(self.tmp, db, self.a.workers, "bulk", sync="on", extra=extra)
        try:
            mem0 = b.memory()
            t0 = time.time()
            st, data = b.request("POST", "/v1/batches", body)
            t_acc = time.time()
            if st != 201:
                raise RuntimeError("bulk: POST /v1/batches answered %d: %r" % (st, data[:300]))
            loc = "/v1/batches/" + json.loads(data)["batch"]["id"]
            del body
            samples, status, j = [], None, {}
            end = time.time() + 3600
            def kb(m, k):
                return (m or {}).get(k, 0)
            while time.time() < end:
                m = b.memory()
                samples.append((time.time() - t0, kb(m["master"], "VmRSS"), kb(m["master"], "RssAnon"),
                                sum(kb(w, "VmRSS") for w in m["workers"]),
                                sum(kb(w, "RssAnon") for w in m["workers"])))
                st, data = b.request("GET", loc + "?limit=1")
                j = json.loads(data).get("batch", {})
                status = j.get("status")
                if status not in ("queued", "running"):
                    break
                time.sleep(0.5)
            t1 = time.time()
            if status != "completed" or j.get("completed") != n or j.get("failed"):
                raise RuntimeError("bulk: ended %s, %r" % (status, j))
            # Every row is there: the last one reads back.
            st, data = b.request("POST", "/v1/$batch", ('{"requests":[{"id":"1","workspace":"bulk",'
                                 '"path":"/tables/t/rows/k%07d"}]}' % (n - 1)).encode())
            if st != 200 or json.loads(data)["responses"][0]["status"] != 200:
                raise RuntimeError("bulk: last row missing: %r" % data[:300])
            cols = ("master_rss", "master_anon", "workers_rss", "workers_anon")
            mid = samples[len(samples) // 2]
            self.res["bulk"] = {
                "items": n, "body_mb": mb - 8, "accept_s": t_acc - t0, "total_s": t1 - t0,
                "items_per_s": n / (t1 - t0), "rss_before": mem0, "samples": len(samples),
                "first": dict(zip(cols, samples[0][1:])), "middle": dict(zip(cols, mid[1:])),
                "last": dict(zip(cols, samples[-1][1:])),
                "max": {c: max(x[i + 1] for x in samples) for i, c in enumerate(cols)}}
            log("bulk: %d items in %.1f s (%.0f items/s); master anon KiB first/mid/last/max %d/%d/%d/%d, "
                "workers anon %d/%d/%d/%d" % ((n, t1 - t0, n / (t1 - t0)) + tuple(
                    self.res["bulk"][k]["master_anon"] for k in ("first", "middle", "last", "max")) + tuple(
                    self.res["bulk"][k]["workers_anon"] for k in ("first", "middle", "last", "max"))))
        finally:
            b.stop()


def lmdb_commit_bench(d, mode, group, procs, secs):
    """build/tools/bench_commit -m mode: LMDB alone, the same rows and keys,
    groups of the given size committed by procs writers.  None if the tool
    is missing or fails."""
    tool = os.path.join(TOOLS, "bench_commit")
    if not os.access(tool, os.X_OK):
        return None
    shutil.rmtree(d, ignore_errors=True)
    try:
        rc, out, err = PROCS.run([tool, "-m", mode, "-g", str(group),
                                  "-p", str(procs), "-n", str(NKEYS), "-v", str(ROW_BYTES),
                                  "-s", str(secs), d], timeout=secs * 4 + 120)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if rc != 0:
        log("bench_commit failed: %s" % err.strip()[-200:])
        return None
    return json.loads(out.strip().splitlines()[-1])


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (0 if it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            f = f.read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except (OSError, IndexError, ValueError):
        return 0


def fs_of(path):
    """The file system type and device a path lives on (/proc/mounts)."""
    best, path = ("?", "?", ""), os.path.realpath(path)
    try:
        with open("/proc/mounts") as f:
            for line in f:
                dev, mnt, typ = line.split()[:3]
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best[2]):
                    best = (typ, dev, mnt)
    except OSError:
        pass
    return "%s (%s)" % (best[0], best[1])


# --------------------------------------------------------------------------
# Durable writes (issue 10): PUT batches with db_sync on against Redis with
# appendonly yes + appendfsync always, and db_sync off against Redis
# without persistence; the same 8 connections, ~200-byte values, 100,000
# random keys.

DURABLE_CONNS = 8
DURABLE_BATCH = [1, 10, 100]


def config_default(key):
    """A key's default as the shipped etc/batchd.conf gives it (that file
    is written from the config table, and a unit test holds them equal)."""
    with open(os.path.join(ROOT, "etc", "batchd.conf")) as f:
        for line in f:
            m = re.match(r"\s*%s\s*=\s*(\S+)" % re.escape(key), line)
            if m:
                return int(m.group(1))
    raise RuntimeError("etc/batchd.conf has no %s" % key)


DURABLE_GROUP_MAX = config_default("write_group_max_items")


def redis_set_bench(port, pl, secs, conns, threads):
    # As many bytes as batchd's rows; no quote or comma: redis-benchmark
    # puts the command into its CSV unescaped.
    value = "v" * len(row_json(0))
    base = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(conns),
            "--threads", str(threads), "-r", str(NKEYS), "-P", str(pl), "--csv"]

    def once(n):
        rc, out, err = PROCS.run(base + ["-n", str(n), "SET", "key:__rand_int__", value], timeout=600)
        rows = [f for f in csv.reader(out.splitlines()) if f and f[0].startswith("SET")]
        if rc != 0 or not rows:
            raise RuntimeError("redis-benchmark failed: %s" % (err or out)[-300:])
        f = rows[-1]
        return {"n": n, "rps": float(f[1]), "p50_ms": float(f[4]), "p99_ms": float(f[6]),
                "pipeline": pl}
    r = once(min(2_000 * pl, 100_000))
    return once(int(max(5_000, min(r["rps"] * secs, 500_000_000))))


def start_redis_server(d, persist):
    os.makedirs(d, exist_ok=True)
    port = free_port()
    logf = open(os.path.join(d, "redis.log"), "w")
    extra = ["--appendonly", "yes", "--appendfsync", "always"] if persist else ["--appendonly", "no"]
    p = PROCS.start(["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                     "--daemonize", "no", "--dir", d, "--protected-mode", "yes"] + extra,
                    stdout=logf, stderr=logf)
    logf.close()
    if not wait_port(port, p):
        PROCS.stop(p)
        raise RuntimeError("redis-server did not start: %s" % open(os.path.join(d, "redis.log")).read()[-300:])
    return p, port


def sweep_stale_tmp():
    """Remove temporary directories left by a run that was killed (SIGKILL
    leaves no chance to clean up): batchd-bench.PID.* whose PID is gone."""
    base = tempfile.gettempdir()
    for name in os.listdir(base):
        m = re.fullmatch(r"batchd-bench\.(\d+)\.[A-Za-z0-9_]+", name)
        if not m:
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue                     # still running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        shutil.rmtree(os.path.join(base, name), ignore_errors=True)
        log("removed %s, left by a killed run" % os.path.join(base, name))


def median(runs, field):
    """The run with the median value of field (its other numbers with it)."""
    s = sorted(runs, key=lambda x: x[field])
    m = dict(s[len(s) // 2])
    if len(s) > 1:
        m["rounds"] = [x[field] for x in runs]
    return m


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[:3]
    except OSError:
        return ["?"]


NGINX_CONF = """\
worker_processes {workers};
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {access_log};
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    default_type application/json;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        location / {{ }}
    }}
}}
"""


def wrk_ok():
    return shutil.which("wrk") is not None


# --------------------------------------------------------------------------
# Report

def fnum(x, nd=0):
    if x is None:
        return "–"
    return format(x, ",.%df" % nd)


def fms(us):
    return "%.2f" % (us / 1000.0)


def fratio(a, b):
    if not a or not b:
        return "–"
    return "%.2f" % (a / b)


def mib(kb):
    return "%.1f" % (kb / 1024.0) if kb is not None else "–"


def fmem(m):
    if not m:
        return "–"
    return "%s (%s)" % (mib(m.get("VmRSS")), mib(m.get("RssAnon")))


def report(run):
    r, a = run.res, run.a
    mach, v = r["machine"], r["versions"]
    L = []
    L.append("# batchd benchmark%s" % (" (quick)" if a.quick else ""))
    L.append("")
    opts = (" --quick" if a.quick else "") + (" --only " + a.only if a.only else "") + \
        (" --sizes " + ",".join(map(str, a.sizes)) if a.sizes else "")
    L.append("`scripts/bench%s`, %s." % (opts, mach["date"]))
    if a.only:
        L.append("")
        L.append("Only these sections ran (`--only %s`); `results.md` has the last full run." % a.only)
    L.append("")
    L.append("| machine | |")
    L.append("|---|---|")
    L.append("| CPU | %s × %s |" % (mach["nproc"], mach["cpu"]))
    L.append("| memory | %s |" % mach["memory"])
    L.append("| kernel | Linux %s (%s) |" % (mach["kernel"], mach["os"]))
    L.append("| load average at start / end | %s / %s |" % (" ".join(mach["loadavg_start"]),
                                                         " ".join(mach.get("loadavg_end", ["?"]))))
    L.append("| versions | %s |" % ", ".join("%s %s" % (k, x) for k, x in v.items()))
    L.append("| settings | wrk -t %d -c %d --latency for %d s per GET point at batch 1, 10, 100, %d s at 2, 5, 20, 50, "
             "%d s per PUT / mix point, %d s per scaling point; redis-benchmark -c %d --threads %d -r %d with -n "
             "sized for the same time; %s rows of %d bytes; batchd --workers %d --db-sync off, other keys at "
             "their defaults (log_level info: one log line per request); nginx with its default access log (one line "
             "per request too), 1 and %d worker processes, keepalive_requests raised from 1,000 so that it closes "
             "no connection during a point (batchd closes none); batchd and nginx driven by the same wrk command "
             "and Lua script (batchd: a POST of a 1-item body from a prepared pool; nginx: a GET of the file) |"
             % (a.threads, a.connections, run.dur, run.sweep_dur, run.write_dur, run.scale_dur, a.connections,
                a.threads, NKEYS, format(NKEYS, ","), ROW_BYTES, a.workers, os.cpu_count() or 1))
    if run.rounds > 1:
        L.append("| rounds | batch 1, 10, 100, Redis and nginx measured in %d alternating rounds; "
                 "tables show the median round, ratios are the median of the per-round ratios |" % run.rounds)
    L.append("")
    for sec, why in r["skipped"].items():
        L.append("**%s: skipped** — %s." % (sec, why))
        L.append("")

    bd = {(x["mode"], x["batch"]): x for x in r.get("batchd", [])}
    rd = {x["pipeline"]: x for x in r.get("redis", [])}
    ng = r.get("nginx", [])
    lm = r.get("lmdb", [])
    ring = r.get("ring", [])

    # Headline: issue 6's targets.
    L.append("## Headline (issue 6 targets; issue 11's for 1-item batches)")
    L.append("")
    L.append("| measure | batchd | ceiling / peer | ratio | target |")
    L.append("|---|---|---|---|---|")
    g100, g1 = bd.get(("get", 100)), bd.get(("get", 1))

    def rounds(mine, theirs, fa, fb):
        """Median of the per-round ratios; each round's when there are several."""
        if not mine or not theirs:
            return "–"
        rs = [x[fa] / y[fb] for x, y in zip(mine, theirs) if y[fb]]
        if not rs:
            return "–"
        txt = "%.2f" % sorted(rs)[len(rs) // 2]
        if len(rs) > 1:
            txt += " (rounds: %s)" % ", ".join("%.2f" % x for x in rs)
        return txt

    gr, rr, nr = r.get("batchd_rounds", {}), r.get("redis_rounds", {}), r.get("nginx_rounds", {})
    if g100 and 100 in rd:
        L.append("| 100-item read batches: items/s vs Redis GET -P 100 | %s | %s | %s | ≥ 0.50 |"
                 % (fnum(g100["items_per_s"]), fnum(rd[100]["rps"]),
                    rounds(gr.get("100"), rr.get("100"), "items_per_s", "rps")))
    logged = [x for x in ng if x.get("access_log", True)]
    if g1 and logged:
        best = max(logged, key=lambda x: x["batches_per_s"])
        L.append("| 1-item batches: req/s vs nginx static file (%d worker%s, access log on) | %s | %s | %s | "
                 "≥ 0.50 (issue 11: ≥ 0.80) |"
                 % (best["workers"], "s" if best["workers"] > 1 else "", fnum(g1["batches_per_s"]),
                    fnum(best["batches_per_s"]),
                    rounds(gr.get("1"), nr.get(best.get("key", str(best["workers"]))),
                           "batches_per_s", "batches_per_s")))
    if not ((g100 and rd) or (g1 and ng) or ring):
        L.append("| (nothing to compare: see the skipped sections above) | | | | |")
    for x in ring:
        if x["burst"] == 64 and x.get("spin_us", 20) == 20:
            L.append("| ring round trip, bursts of 64, %d worker%s: ns/item | %s | | | < 1000 |"
                     % (x["workers"], "s" if x["workers"] > 1 else "", fnum(x["ns_per_item"])))
    L.append("")

    if bd:
        L.append("## 1. batchd `$batch` (wrk, random keys)")
        L.append("")
        L.append("| items | batch | batches/s | items/s | p50 ms | p90 ms | p99 ms | errors |")
        L.append("|---|---|---|---|---|---|---|---|")
        names = {"get": "GET", "put": "PUT (db_sync off)", "mix": "90% GET / 10% PUT (db_sync off)"}
        for x in r["batchd"]:
            errs = x["errors_total"] + x["item_errors"]
            L.append("| %s | %d | %s | %s | %s | %s | %s | %s |" % (
                names[x["mode"]], x["batch"], fnum(x["batches_per_s"]), fnum(x["items_per_s"]),
                fms(x["latency_us"]["50"]), fms(x["latency_us"]["90"]), fms(x["latency_us"]["99"]),
                errs if errs else "0"))
        L.append("")
        if "load" in r:
            L.append("Loading %s rows in `$batch` bodies of %d PUT items from 4 connections: %.1f s (%s rows/s)."
                     % (format(NKEYS, ","), LOAD_BATCH, r["load"]["secs"], fnum(r["load"]["rows_per_s"])))
            L.append("")

    if rd:
        L.append("## 2. Redis peer: items/s by batch size (GET pipelined with -P = batch)")
        L.append("")
        L.append("| batch / -P | batchd items/s | Redis GET/s | Redis p50 ms | Redis p99 ms | batchd / Redis |")
        L.append("|---|---|---|---|---|---|")
        for p in SWEEP:
            x, g = rd.get(p), bd.get(("get", p))
            if not x:
                continue
            L.append("| %d | %s | %s | %.2f | %.2f | %s |" % (
                p, fnum(g["items_per_s"]) if g else "–", fnum(x["rps"]), x["p50_ms"], x["p99_ms"],
                fratio(g and g["items_per_s"], x["rps"])))
        L.append("")

    if ng:
        L.append("## 3. HTTP ceiling: nginx static file of batchd's 1-item answer (%d bytes)" % r["answer1_bytes"])
        L.append("")
        L.append("| server | access log | req/s | p50 ms | p99 ms | batchd 1-item / this |")
        L.append("|---|---|---|---|---|---|")
        if g1:
            L.append("| batchd, 1-item `$batch` | log_level info | %s | %s | %s | 1.00 |" % (
                fnum(g1["batches_per_s"]), fms(g1["latency_us"]["50"]), fms(g1["latency_us"]["99"])))
        for x in ng:
            L.append("| nginx %s, %d worker%s | %s | %s | %s | %s | %s |" % (
                v["nginx"], x["workers"], "s" if x["workers"] > 1 else "",
                "on" if x.get("access_log", True) else "off", fnum(x["batches_per_s"]),
                fms(x["latency_us"]["50"]), fms(x["latency_us"]["99"]),
                fratio(g1 and g1["batches_per_s"], x["batches_per_s"])))
        L.append("")
        L.append("Both servers as shipped write one log line per request; the last nginx row, with "
                 "`access_log off`, is the bare HTTP ceiling.")
        L.append("")

    if lm:
        L.append("## 4. Storage ceiling: random `mdb_get` on the same store (build/tools/bench_lmdb)")
        L.append("")
        L.append("| readers | gets/s | ns/get | batchd 100-item reads items/s ÷ gets/s |")
        L.append("|---|---|---|---|")
        for x in lm:
            L.append("| %d process%s, txn renewed every %d gets | %s | %.0f | %s |" % (
                x["procs"], "es" if x["procs"] > 1 else "", x["renew_every"], fnum(x["gets_per_s"]),
                x["ns_per_get"], fratio(g100 and g100["items_per_s"], x["gets_per_s"])))
        L.append("")

    if ring:
        L.append("## 5. IPC ceiling: work ring + completion ring round trips (build/tools/bench_ring)")
        L.append("")
        L.append("| workers | burst | worker spin µs | round trips/s | ns/item | µs/burst | master wake-ups/burst |")
        L.append("|---|---|---|---|---|---|---|")
        for x in ring:
            bursts = x["items"] / x["burst"]
            L.append("| %d | %d | %d | %s | %s | %.1f | %.2f |" % (
                x["workers"], x["burst"], x.get("spin_us", 20), fnum(x["items_per_s"]),
                fnum(x["ns_per_item"]), x["us_per_burst"], x["master_wakeups"] / bursts))
        L.append("")
        L.append("With spin 0 a worker sleeps on the futex as soon as the ring is empty, so every burst pays "
                 "for waking it; on an idle virtual machine that is mostly the time a vCPU takes to leave "
                 "its idle state.  The master always sleeps on its eventfd between bursts.")
        L.append("")

    du = r.get("durable", [])
    if du:
        L.append("## 7. Durable writes: PUT `$batch` vs Redis SET, %d connections (issue 10)" % DURABLE_CONNS)
        L.append("")
        L.append("wrk -t %d -c %d, %d s per point, PUT items of %d-byte rows on %s random keys; redis-benchmark "
                 "-c %d --threads %d -r %d -d-sized SET of the same bytes with -P = batch.  Stores on %s.  "
                 "**db_sync on** (batchd's default): every 2xx answer is on disk, as is every Redis reply with "
                 "`appendonly yes` + `appendfsync always`.  **db_sync off** against Redis without persistence "
                 "(no AOF, no RDB).  CPU: µs of CPU time per item, from /proc/PID/stat, master and all workers."
                 % (a.threads, DURABLE_CONNS, run.durable_dur, ROW_BYTES, format(NKEYS, ","), DURABLE_CONNS,
                    a.threads, NKEYS, r.get("durable_fs", "?")))
        L.append("")
        L.append("Issue 10's targets: batchd / Redis ≥ 1.00 on the three db_sync on rows.")
        L.append("")
        L.append("LMDB alone (`build/tools/bench_commit`, right after each point): the same rows and random keys "
                 "put straight into a store by 1 or %d writer processes (the faster; 5 s each), in groups of the "
                 "most items the point keeps in flight (connections × batch, at most write_group_max_items = %d), "
                 "nothing else on the path: the store's own speed for this load.  **commit + sync** (db_sync on): "
                 "each group committed MDB_NOMETASYNC, as batchd opens the store, then mdb_env_sync(), what one "
                 "writer must do before it may acknowledge the group (worker/durable.h).  **commit only**: the "
                 "same without mdb_env_sync(), only the flush inside each commit, which no sharing of syncs can "
                 "avoid: the ceiling of any scheme in front of this store.  db_sync off rows: MDB_NOSYNC."
                 % (a.workers, DURABLE_GROUP_MAX))
        L.append("")
        L.append("| mode | batch / -P | batchd items/s | Redis SET/s | batchd / Redis "
                 "| LMDB alone items/s (writers × group): commit + sync; off rows NOSYNC | LMDB alone, commit only "
                 "| LMDB alone best / Redis | batchd p50 / p99 ms | Redis p99 ms | master CPU µs/item "
                 "| workers CPU µs/item | item errors |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        def lm(c):
            return "%s (%d × %d)" % (fnum(c["items_per_s"]), c["procs"], c["group"]) if c else "–"
        for x in du:
            peer = "appendfsync always" if x["sync"] == "on" else "no persistence"
            first = x.get("lmdb_on") or x.get("lmdb_off")
            best = max([c["items_per_s"] for c in (x.get("lmdb_on"), x.get("lmdb_commit"), x.get("lmdb_off"))
                        if c] or [0])
            L.append("| db_sync %s vs Redis %s | %d | %s | %s | %s | %s | %s | %s | %s / %s | %s | %.1f | %.1f | %d |" % (
                x["sync"], peer, x["batch"], fnum(x["items_per_s"]), fnum(x.get("redis_rps")),
                fratio(x["items_per_s"], x.get("redis_rps")), lm(first), lm(x.get("lmdb_commit")),
                fratio(best, x.get("redis_rps")), fms(x["p50_us"]), fms(x["p99_us"]),
                "%.2f" % x["redis_p99_ms"] if "redis_p99_ms" in x else "–",
                x["master_cpu_us"], x["workers_cpu_us"], x["errors"]))
        L.append("")
    bk = r.get("bulk")
    if bk:
        L.append("## 8. Bulk import: one asynchronous batch of %s PUT items, db_sync on (issue 10)"
                 % format(bk["items"], ","))
        L.append("")
        L.append("`POST /v1/batches` with a %d MiB body (max_async_items, max_body_bytes, max_result_bytes and "
                 "ring_slots raised for it), polled every 0.5 s until completed: accepted in %.1f s, "
                 "completed after %.1f s: **%s items/s**." % (bk["body_mb"], bk["accept_s"], bk["total_s"],
                                                             fnum(bk["items_per_s"])))
        L.append("")
        L.append("| RSS KiB while it ran (%d samples) | first | middle | last | max |" % bk["samples"])
        L.append("|---|---|---|---|---|")
        for c, name in (("master_anon", "master RssAnon"), ("master_rss", "master VmRSS"),
                        ("workers_anon", "workers RssAnon (sum)"), ("workers_rss", "workers VmRSS (sum)")):
            L.append("| %s | %s | %s | %s | %s |" % (name, fnum(bk["first"][c]), fnum(bk["middle"][c]),
                                                     fnum(bk["last"][c]), fnum(bk["max"][c])))
        L.append("")
        L.append("The master holds the accepted batch (its body and one record per item) from the first sample "
                 "on; workers' VmRSS includes the LMDB pages they map, which grow with the store; RssAnon is "
                 "their own memory.")
        L.append("")
    sy = r.get("syscalls")
    if sy:
        L.append("## 9. System calls per 1-item request (issue 11)")
        L.append("")
        L.append("`scripts/bench-syscalls`: strace -c over 2,000 keep-alive requests from one client; batchd's "
                 "master (1-item `$batch`) beside nginx's worker (a static file of the answer's size).")
        L.append("")
        L.extend(sy)
        L.append("")
    sc = r.get("scaling", [])
    if sc:
        L.append("## 6. Scaling: 100-item read batches by `--workers`")
        L.append("")
        L.append("| workers | items/s | p50 ms | p99 ms | master RSS MiB (anon) | worker RSS MiB (anon), each |")
        L.append("|---|---|---|---|---|---|")
        for x in sc:
            L.append("| %d | %s | %s | %s | %s | %s |" % (
                x["workers"], fnum(x["items_per_s"]), fms(x["latency_us"]["50"]), fms(x["latency_us"]["99"]),
                fmem(x["memory"]["master"]), ", ".join(fmem(w) for w in x["memory"]["workers"])))
        L.append("")
    if bd and not a.only:
        L.append("Items/s by batch size: section 1 (GET rows) and `items_vs_batch.png`.")
        L.append("")
    if r.get("memory"):
        L.append("### Memory of the main run (%d workers): VmRSS MiB (RssAnon)" % a.workers)
        L.append("")
        nw = max(len(m["workers"]) for _, m in r["memory"])
        L.append("| moment | master | " + " | ".join("worker %d" % i for i in range(nw)) + " |")
        L.append("|---|---|" + "---|" * nw)
        for k, m in r["memory"]:
            ws = [fmem(w) for w in m["workers"]] + ["–"] * (nw - len(m["workers"]))
            L.append("| %s | %s | %s |" % (k, fmem(m["master"]), " | ".join(ws)))
        L.append("")
        L.append("Worker RSS counts the LMDB pages it mapped (file-backed, shared by all workers); "
                 "RssAnon is the process's own heap and stacks.")
        L.append("")
    for n in r["notes"]:
        L.append("Note: %s" % n)
        L.append("")
    if r.get("timing"):
        L.append("Time per section: " + ", ".join("%s %.0f s" % (k, x) for k, x in r["timing"].items()) + ".")
        L.append("")
    if a.only:
        L.append("Raw numbers: `out/raw-%s.json`." % a.only.replace(",", "-"))
    else:
        L.append("Plots: `items_vs_batch.png` (items/s by batch size, batchd and Redis), "
                 "`latency.png` (latency percentiles). Raw numbers: `out/raw.json`.")
    L.append("")
    return "\n".join(L)


def plots(run):
    r = run.res
    if not shutil.which("gnuplot"):
        run.res["notes"].append("gnuplot not installed: no plots")
        return
    sd = run.scratch
    bd = {(x["mode"], x["batch"]): x for x in r.get("batchd", [])}
    rd = {x["pipeline"]: x for x in r.get("redis", [])}
    with open(os.path.join(sd, "items_vs_batch.dat"), "w") as f:
        f.write("# batch batchd_get redis_get batchd_put batchd_mix\n")
        for b in SWEEP:
            def g(k):
                x = bd.get(k)
                return "%.0f" % x["items_per_s"] if x else "?"
            f.write("%d %s %s %s %s\n" % (b, g(("get", b)), ("%.0f" % rd[b]["rps"]) if b in rd else "?",
                                         g(("put", b)), g(("mix", b))))
    # Latency: rows = percentiles, columns = configurations.
    pcts = ["50", "75", "90", "95", "99", "99.9"]
    cols = []
    for b in HEAD:
        if ("get", b) in bd:
            cols.append(("batchd GET x%d" % b, {p: bd[("get", b)]["latency_us"][p] / 1000 for p in pcts}))
    for x in r.get("nginx", []):
        cols.append(("nginx static (%d worker%s%s)" % (x["workers"], "s" if x["workers"] > 1 else "",
                                                       "" if x.get("access_log", True) else ", no log"),
                     {p: x["latency_us"][p] / 1000 for p in pcts}))
    for p in HEAD:
        if p in rd:
            cols.append(("Redis GET -P %d" % p, {"50": rd[p]["p50_ms"], "95": rd[p]["p95_ms"], "99": rd[p]["p99_ms"]}))
    with open(os.path.join(sd, "latency.dat"), "w") as f:
        f.write("# pct " + " ".join('"%s"' % c[0] for c in cols) + "\n")
        for i, p in enumerate(pcts):
            f.write("%d p%s %s\n" % (i, p, " ".join(("%.4f" % c[1][p]) if p in c[1] else "?" for c in cols)))
    m = r["machine"]
    title = "%s × %s, %s" % (m["nproc"], m["cpu"].replace('"', ""), m["date"])
    # Ceilings as flat lines: raw LMDB gets in one process, ring round trips.
    extra = ""
    lm1 = [x for x in r.get("lmdb", []) if x["procs"] == 1]
    if lm1:
        extra += ', \\\n     %.0f with lines dt 2 lw 1 lc rgb "gray40" title "LMDB mdb_get, 1 process" noenhanced' % lm1[0]["gets_per_s"]
    rg = [x for x in r.get("ring", []) if x["burst"] == 64 and x["workers"] == run.a.workers
          and x.get("spin_us", 20) == 20]
    if rg:
        extra += ', \\\n     %.0f with lines dt 3 lw 1 lc rgb "gray20" title "ring round trips, bursts of 64" noenhanced' % rg[0]["items_per_s"]
    a = run.a
    gp = """\
set terminal pngcairo size 900,560 enhanced font ",10"
set datafile missing "?"
set key top left
set grid
set output "{out}/items_vs_batch.png"
set title "items/s by batch size — wrk -c {c} / redis-benchmark -c {c}\\n{title}" noenhanced
set logscale xy
set xlabel "items per batch (Redis: pipeline depth -P)"
set ylabel "items/s"
set xtics (1,2,5,10,20,50,100)
set xrange [0.8:125]
plot "{sd}/items_vs_batch.dat" using 1:2 with linespoints lw 2 pt 7 title "batchd $batch GET", \\
     "" using 1:3 with linespoints lw 2 pt 5 title "Redis GET pipelined", \\
     "" using 1:4 with linespoints lw 2 pt 9 title "batchd $batch PUT", \\
     "" using 1:5 with linespoints lw 2 pt 11 title "batchd $batch 90/10 mix"{extra}
unset logscale
set output "{out}/latency.png"
set title "latency percentiles (per HTTP request / per pipeline) — {c} connections\\n{title}" noenhanced
set logscale y
set xlabel "percentile"
set ylabel "latency (ms)"
set xrange [-0.3:5.3]
set xtics ("p50" 0, "p75" 1, "p90" 2, "p95" 3, "p99" 4, "p99.9" 5)
set key outside right
plot for [i=3:{ncol}] "{sd}/latency.dat" using 1:i with linespoints lw 2 pt (i+3) title columnhead(i) noenhanced
""".format(out=run.out, sd=sd, title=title, c=a.connections, ncol=len(cols) + 2, extra=extra)
    # columnhead needs a header line with the same number of columns.
    with open(os.path.join(sd, "latency.dat")) as f:
        body = f.read().split("\n", 1)[1]
    with open(os.path.join(sd, "latency.dat"), "w") as f:
        f.write("i pct " + " ".join('"%s"' % c[0] for c in cols) + "\n" + body)
    gpf = os.path.join(sd, "plots.gp")
    with open(gpf, "w") as f:
        f.write(gp)
    rc, out, err = PROCS.run(["gnuplot", gpf], timeout=60)
    if rc != 0:
        run.res["notes"].append("gnuplot failed: %s" % err.strip()[-300:])


def main():
    ap = argparse.ArgumentParser(description="batchd benchmark (see scripts/bench)")
    ap.add_argument("--quick", action="store_true", help="short runs: under 2 minutes")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2,
                    help="batchd workers for the main run (default: nproc)")
    ap.add_argument("--duration", type=int, default=0, help="seconds per wrk point (default 10, quick 3)")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--skip", default="", help="comma-separated sections to leave out: "
                    "redis, nginx, lmdb, scaling, ring, batchd, durable, bulk, syscalls")
    ap.add_argument("--only", default="",
                    help="comma-separated sections to run, the others skipped: " + ", ".join(ONLY))
    ap.add_argument("--sizes", default="",
                    help="GET batch sizes of sections 1-2 (default %s); PUT and mix rows at those of %s"
                    % (",".join(map(str, SWEEP)), ",".join(map(str, HEAD))))
    ap.add_argument("--no-install", action="store_true", help="(scripts/bench) do not apt-get install")
    a = ap.parse_args()
    a.skip_given = a.skip       # section 7 starts its own Redis unless told not to
    try:
        a.sizes = sorted({int(x) for x in a.sizes.split(",") if x.strip()})
    except ValueError:
        ap.error("--sizes: a comma-separated list of batch sizes")
    if any(x not in SWEEP for x in a.sizes):
        ap.error("--sizes: each of %s" % ",".join(map(str, SWEEP)))
    if a.only:
        want = set()
        for x in a.only.split(","):
            if x.strip() not in ONLY:
                ap.error("--only: %r is none of %s" % (x, ", ".join(ONLY)))
            want |= set(ONLY[x.strip()])
        every = {y for v in ONLY.values() for y in v}
        a.skip = ",".join(sorted((every - want) | set(filter(None, a.skip.split(",")))))

    def on_signal(sig, frame):
        raise KeyboardInterrupt("signal %d" % sig)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    if not os.access(BATCHD, os.X_OK):
        log("bin/batchd not built")
        return 1
    t0 = time.time()
    run = Run(a)
    rc = 0
    try:
        run.machine()
        for step in (run.servers, run.lmdb, run.scaling, run.ring, run.durable, run.bulk,
                     run.syscalls):
            t1 = time.time()
            try:
                step()
            except KeyboardInterrupt:
                raise
            except Exception as e:  # noqa: BLE001 - one failed section must not stop the rest
                name = step.__name__
                run.res["skipped"][name] = "failed: %s" % str(e).strip().replace("\n", " ")[:400]
                log("%s failed: %s" % (name, e))
                rc = 1
            run.res["timing"][step.__name__] = time.time() - t1
        run.res["machine"]["loadavg_end"] = loadavg()
        run.res["elapsed_s"] = time.time() - t0
        tag = ("-" + a.only.replace(",", "-")) if a.only else ""
        with open(os.path.join(run.scratch, "raw%s.json" % tag), "w") as f:
            json.dump(run.res, f, indent=1, default=str)
        if not a.only:
            plots(run)
        text = report(run)
        text += "Whole run: %.0f s.\n" % (time.time() - t0)
        with open(os.path.join(run.out, "results%s.md" % tag), "w") as f:
            f.write(text)
        print(text)
        log("wrote %s/results%s.md%s in %.0f s" % (run.out, tag, "" if a.only else
                                                   ", items_vs_batch.png, latency.png", time.time() - t0))
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    finally:
        run.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
