"""Helpers for the hardening black-box tests (test_malformed.py,
test_crash_consistency.py, test_security.py), on top of harness.py.

Only the Python 3 standard library is used.  Everything here is bounded in
time: every socket has a timeout, every wait a deadline.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import time

from harness import (Headers, SHM_DIR, children, kill_child,  # noqa: F401
                     live_children, mdb_stat, pid_alive, proc_status, qkey,
                     rows_path, shm_path, vm_rss_kb, wait_until)

_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")
# A log line of batchd: "2026-11-25T22:15:06.530Z info [pid] ..."
LOG_LINE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                         r"[a-z]+ \[\d+\] ")


# ------------------------------------------------------------- raw HTTP

class RawResponse:
    """One answer read off a raw socket.  status is None when the server
    closed (or reset) the connection without a complete status line."""

    def __init__(self):
        self.status = None
        self.version = None
        self.headers = Headers()
        self.body = b""
        self.raw = b""
        self.complete = False       # the whole framed answer was read
        self.closed = False         # the server closed the connection
        self.timed_out = False
        self.json = None

    def as_tuple(self):
        """The shape of harness Server.request(): (status, headers,
        parsed JSON or None, raw body)."""
        return self.status, self.headers, self.json, self.body

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


def read_response(sock, timeout=10.0, head_only=False):
    """Read one HTTP/1.x answer from sock (bounded by timeout).  Bodies are
    framed by Content-Length, else by the connection closing.  head_only:
    the answer to a HEAD request (no body may follow the headers)."""
    r = RawResponse()
    deadline = time.monotonic() + timeout
    buf = b""
    need = None
    hdr_end = -1
    while True:
        if hdr_end < 0:
            hdr_end = buf.find(b"\r\n\r\n")
            if hdr_end >= 0:
                r.version, r.status, hdrs = _parse_head(buf[:hdr_end])
                if r.status is None:
                    r.raw = buf
                    return r
                r.headers = Headers(hdrs)
                cl = r.headers.get("Content-Length")
                if head_only:
                    need = 0
                elif cl is not None and cl.isdigit():
                    need = int(cl)
        if hdr_end >= 0 and need is not None and \
                len(buf) - hdr_end - 4 >= need:
            r.complete = True
            break
        left = deadline - time.monotonic()
        if left <= 0:
            r.timed_out = True
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            r.timed_out = True
            break
        except (ConnectionResetError, BrokenPipeError):
            r.closed = True
            break
        if not chunk:
            r.closed = True
            if hdr_end >= 0 and need is None:
                r.complete = True       # framed by the close
            break
        buf += chunk
    r.raw = buf
    if hdr_end >= 0:
        body = buf[hdr_end + 4:]
        r.body = body[:need] if need is not None else body
        if r.body:
            try:
                r.json = json.loads(r.body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                r.json = None
    return r


def raw_request(port, data, timeout=10.0, head_only=False):
    """Send data (bytes) on a fresh connection and read one answer.  A
    server that closes or resets the connection while we still send is
    not an error: whatever it answered is read."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_response(s, timeout, head_only)
    finally:
        s.close()


def http_bytes(method, target, body=None, headers=None, version="HTTP/1.1"):
    """A request as bytes.  target and header values may be bytes (sent
    as they are) or str (latin-1)."""
    def b(x):
        return x if isinstance(x, bytes) else str(x).encode("latin-1")
    out = [b(method) + b" " + b(target) + b" " + b(version)]
    hdrs = {"Host": "127.0.0.1"}
    if body is not None:
        hdrs["Content-Length"] = str(len(body))
    if headers:
        hdrs.update(headers)
    for k, v in hdrs.items():
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


# ------------------------------------------------------------ envelopes

def envelope_problem(resp, statuses, codes=None):
    """None if resp (a request() tuple) is a whole-request error with the
    SPEC section 4 envelope, a status in statuses and (if given) a code in
    codes; else a short description of what is wrong."""
    st, hdrs, body, raw = resp
    if st not in statuses:
        return "status %r not in %r: %r" % (st, sorted(statuses), raw[:300])
    if not isinstance(body, dict):
        return "body is not a UTF-8 JSON object: %r" % raw[:300]
    meta = body.get("meta")
    if not isinstance(meta, dict) or not isinstance(meta.get("request_id"), str) \
            or not meta["request_id"]:
        return "no meta.request_id: %r" % raw[:300]
    if hdrs.get("X-Request-Id") != meta["request_id"]:
        return "X-Request-Id %r != meta.request_id %r" % (
            hdrs.get("X-Request-Id"), meta["request_id"])
    if "application/json" not in (hdrs.get("Content-Type") or ""):
        return "Content-Type %r" % hdrs.get("Content-Type")
    p = error_object_problem(body.get("error"), codes)
    if p:
        return p + ": %r" % raw[:300]
    return None


def error_object_problem(err, codes=None):
    if not isinstance(err, dict):
        return "no error object"
    code = err.get("code")
    if not isinstance(code, str) or not _CODE_RE.match(code):
        return "bad error.code %r" % (code,)
    if codes is not None and code not in codes:
        return "error.code %r not in %r" % (code, sorted(codes))
    if not isinstance(err.get("message"), str) or not err["message"]:
        return "bad error.message %r" % (err.get("message"),)
    if "detail" in err and not isinstance(err["detail"], str):
        return "bad error.detail %r" % (err.get("detail"),)
    return None


def item_problem(item, statuses=None, codes=None):
    """None if a batch response item is a failure (4xx unless statuses is
    given) with the error object in its body."""
    st = item.get("status")
    if statuses is None:
        ok = isinstance(st, int) and 400 <= st < 500
    else:
        ok = st in statuses
    if not ok:
        return "item %r status %r" % (item.get("id"), st)
    body = item.get("body")
    if not isinstance(body, dict):
        return "item %r body %r" % (item.get("id"), body)
    p = error_object_problem(body.get("error"), codes)
    return ("item %r: %s" % (item.get("id"), p)) if p else None


# ------------------------------------------------------------ processes


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def uids(pid):
    """(real, effective, saved, fs) uids of pid."""
    return tuple(int(x) for x in proc_status(pid)["Uid"].split())


# ------------------------------------------------------------ store

class TempDir:
    """A temporary directory that outlives the Servers using it (a db_path
    several servers open in turn); removed on exit."""

    def __init__(self, prefix="batchd-hard-", mode=None):
        self.prefix = prefix
        self.mode = mode
        self.path = None

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix=self.prefix)
        if self.mode is not None:
            os.chmod(self.path, self.mode)
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
        return False


def value_for(key, nonce, size=48):
    """A row whose integrity can be checked on its own (value_ok)."""
    seed = hashlib.sha256(("%s|%s" % (key, nonce)).encode()).hexdigest()
    data = (seed * (size // len(seed) + 1))[:size]
    return {"key": key, "nonce": nonce, "data": data,
            "sum": hashlib.sha256(data.encode("ascii")).hexdigest()}


def value_ok(key, v):
    if not isinstance(v, dict) or v.get("key") != key:
        return False
    data = v.get("data")
    return isinstance(data, str) and \
        hashlib.sha256(data.encode("ascii")).hexdigest() == v.get("sum")


def scan_rows(srv, ws, table, headers=None, limit=1000, max_pages=10000,
              timeout=30):
    """Every row of a table, paging with after/next.  Returns the list of
    rows (dicts key/etag/value) in scan order; [] if the table does not
    exist."""
    rows = []
    after = None
    for _ in range(max_pages):
        q = "?limit=%d" % limit
        if after is not None:
            q += "&after=" + qkey(after)
        st, _, body, raw = srv.request("GET", "/v1" + rows_path(ws, table) + q,
                                       headers=headers, timeout=timeout)
        if st == 404:
            return rows
        if st != 200 or not isinstance(body, dict) or \
                not isinstance(body.get("rows"), list):
            raise AssertionError("scan %s/%s answered %d: %r"
                                 % (ws, table, st, raw[:300]))
        rows.extend(body["rows"])
        after = body.get("next")
        if after is None:
            return rows
        if not body["rows"]:
            raise AssertionError("scan page with next=%r but no rows" % after)
    raise AssertionError("scan did not end within %d pages" % max_pages)


def token_options(*tokens):
    """Server keyword options for several `token = SECRET SCOPE` lines
    (harness.Server writes one line per keyword, so the extra token lines
    ride in the value of "token" after a newline)."""
    if not tokens:
        return {}
    lines = ["%s %s" % tokens[0]]
    lines += ["token = %s %s" % t for t in tokens[1:]]
    return {"token": "\n".join(lines)}


def bearer(token, headers=None):
    h = dict(headers or {})
    h["Authorization"] = "Bearer " + token
    return h


def rss_parts(pid):
    """{"VmRSS", "RssAnon", "RssFile", "RssShmem"} of pid, in KiB.  A
    master's VmRSS includes the pages of the work ring (shared memory) it
    has touched, which grows up to the ring's size with large items and
    is no leak; RssAnon is its private memory."""
    st = proc_status(pid)
    out = {}
    for k in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
        if k not in st:
            raise AssertionError("no %s for pid %d" % (k, pid))
        out[k] = int(st[k].split()[0])
    return out


def shared_mapped_kb(pid):
    """Total size in KiB of pid's shared mappings (/proc/PID/maps entries
    with an 's' permission): the work ring and the workers' completion
    rings, for a master - the most its RssShmem can reach."""
    total = 0
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split()
            if len(fields[1]) == 4 and fields[1][3] == "s":
                lo, hi = fields[0].split("-")
                total += (int(hi, 16) - int(lo, 16)) // 1024
    return total
