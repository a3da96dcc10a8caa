"""Helpers for the hardening black-box tests (test_malformed.py,
test_crash_consistency.py, test_security.py), on top of harness.py.

Only the Python 3 standard library is used.  Everything here is bounded in
time: every socket has a timeout, every wait a deadline.
"""

import hashlib
import os
import re
import shutil
import tempfile

# The raw HTTP client lives in harness.py; re-exported for the tests that
# import it from here.
from harness import (SHM_DIR, children, fd_count,  # noqa: F401
                     http_bytes, kill_child, live_children, mdb_stat, pid_alive,
                     proc_status, qkey, raw_request, read_response,
                     rows_path, rst_close, shm_path, vm_rss_kb, wait_until)

_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")
# A log line of batchd: "2026-11-25T22:15:06.530Z info [pid] ..."
LOG_LINE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                         r"[a-z]+ \[\d+\] ")


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
