"""Helpers for black-box tests that build batches, items and async
batches and wait on them, on top of harness.py.

Only the Python 3 standard library is used.  Every wait here has a
deadline and every thread is joined with a timeout.
"""

import shutil
import tempfile
import threading
import time

from harness import rows_path

ASYNC_DONE = ("completed", "cancelled")


# ------------------------------------------------------------- config

def token_options(*tokens):
    """Server keyword options for several `token = SECRET SCOPE` lines.

    harness.Server writes one `key = value` line per keyword option and
    a dict holds one "token" key, so the extra token lines ride in its
    value after a newline: the config file ends up with one line per
    token, exactly as an operator would write it.  tokens: (secret,
    scope) pairs, scope being "ws1,ws2" or "*"."""
    if not tokens:
        return {}
    lines = ["%s %s" % tokens[0]]
    lines += ["token = %s %s" % t for t in tokens[1:]]
    return {"token": "\n".join(lines)}


class TempDir:
    """A temporary directory that outlives one Server (for a db_path
    shared by two servers in turn); removed on exit."""

    def __init__(self, prefix="batchd-i4-"):
        self.prefix = prefix
        self.path = None

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix=self.prefix)
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
        return False


# ------------------------------------------------------------- requests

def auth_headers(token=None, headers=None):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    return h


def req(srv, method, path, body=None, token=None, headers=None, **kw):
    """srv.request() with an optional bearer token."""
    return srv.request(method, path, body, auth_headers(token, headers), **kw)


def batch(srv, requests, token=None, path="/v1/$batch", **props):
    body = {"requests": requests}
    body.update(props)
    return req(srv, "POST", path, body, token=token)


def batch_ok(tc, srv, requests, token=None, **props):
    """A synchronous batch that must be accepted (200): returns
    ({id: item}, [items in answer order]); asserts every id answered at
    most once."""
    st, _, body, raw = batch(srv, requests, token=token, **props)
    tc.assertEqual(st, 200, "batch not accepted: %d %r" % (st, raw[:500]))
    tc.assertIsInstance(body, dict, raw[:300])
    resps = body.get("responses")
    tc.assertIsInstance(resps, list, raw[:300])
    by_id = {}
    for r in resps:
        tc.assertNotIn(r.get("id"), by_id, "id %r answered twice" % r.get("id"))
        by_id[r.get("id")] = r
    return by_id, resps


def item(id_, path, method="GET", body=None, **extra):
    it = {"id": id_, "method": method, "path": path}
    if body is not None:
        it["body"] = body
    it.update(extra)
    return it


def put(id_, ws, key, value, table="t", **extra):
    return item(id_, rows_path(ws, table, key), "PUT", value, **extra)


def get(id_, ws, key, table="t", **extra):
    return item(id_, rows_path(ws, table, key), "GET", **extra)


def sleep_item(id_, ms, **extra):
    return item(id_, "/debug/sleep", "POST", {"ms": ms}, **extra)


def crash_item(id_, **extra):
    return item(id_, "/debug/crash", "POST", {}, **extra)


def read_row(srv, ws, key, table="t", token=None):
    """(status, body, ETag) of a plain row read."""
    st, h, body, _ = req(srv, "GET", "/v1" + rows_path(ws, table, key),
                         token=token)
    return st, body, h.get("ETag")


# ------------------------------------------------------------- async

def async_post(srv, requests, token=None, **props):
    return batch(srv, requests, token=token, path="/v1/batches", **props)


def async_get(srv, loc, token=None, offset=None, limit=None):
    q = []
    if offset is not None:
        q.append("offset=%s" % offset)
    if limit is not None:
        q.append("limit=%s" % limit)
    return req(srv, "GET", loc + ("?" + "&".join(q) if q else ""),
               token=token)


def async_wait(tc, srv, loc, token=None, timeout=30.0, pred=None,
               interval=0.02):
    """Poll GET loc (bounded) until pred(batch summary) holds (default:
    the batch is completed or cancelled).  Returns the last answer body."""
    pred = pred or (lambda b: b.get("status") in ASYNC_DONE)
    deadline = time.monotonic() + timeout
    while True:
        st, _, body, raw = async_get(srv, loc, token, limit=1)
        tc.assertEqual(st, 200, "GET %s: %d %r" % (loc, st, raw[:300]))
        if pred(body["batch"]):
            return body
        if time.monotonic() > deadline:
            tc.fail("async batch %s: condition not reached within %.0fs; "
                    "last %r" % (loc, timeout, body["batch"]))
        time.sleep(interval)


def async_all(tc, srv, loc, token=None, limit=1000, max_pages=10000):
    """Follow next_offset from 0 to the end; returns (summary of the last
    page, responses in page order, number of pages)."""
    out = []
    offset = 0
    pages = 0
    summary = None
    while offset is not None:
        pages += 1
        tc.assertLessEqual(pages, max_pages, "next_offset never ends")
        st, _, body, raw = async_get(srv, loc, token, offset=offset,
                                     limit=limit)
        tc.assertEqual(st, 200, "GET %s offset=%s: %d %r"
                       % (loc, offset, st, raw[:300]))
        tc.assertIsInstance(body.get("responses"), list, raw[:300])
        tc.assertLessEqual(len(body["responses"]), limit)
        tc.assertIn("next_offset", body)
        nxt = body["next_offset"]
        if nxt is not None:
            tc.assertIsInstance(nxt, int)
            tc.assertGreater(nxt, offset, "next_offset does not advance")
        out.extend(body["responses"])
        summary = body["batch"]
        offset = nxt
    return summary, out, pages


# ------------------------------------------------------------- threads

def run_threads(fn, n, timeout=60.0):
    """Run fn(i) in n threads at once (released together by a barrier);
    returns the list of results (exceptions are returned, not raised).
    Every thread is joined with a deadline; a thread still alive then is
    reported as a TimeoutError result."""
    results = [None] * n
    barrier = threading.Barrier(n)

    def body(i):
        try:
            barrier.wait(timeout=timeout)
            results[i] = fn(i)
        except BaseException as e:  # reported to the caller
            results[i] = e

    threads = [threading.Thread(target=body, args=(i,), daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for i, t in enumerate(threads):
        t.join(max(0.0, deadline - time.monotonic()))
        if t.is_alive():
            results[i] = TimeoutError("thread %d still running" % i)
    return results


def percentile(values, p):
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]
