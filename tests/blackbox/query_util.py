"""Helpers for tests/blackbox/test_query.py (SPEC section 5), on top of
harness.py.  Only the Python 3 standard library is used.

The expected answers of the query tests are computed here, in Python, from
the very rows scripts/gen-activity generates (same -n/--seed/--now), not
by anything of the engine.
"""

import calendar
import datetime
import json
import math
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GEN = os.path.join(ROOT, "scripts", "gen-activity")

AZ_TYPES = ("string", "long", "real", "bool", "datetime", "dynamic",
            "timespan")


# ------------------------------------------------------------ time

def utc_now_text():
    """The wall clock, rounded down to the second, as gen-activity's
    --now takes it."""
    t = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_dt(text):
    """"2024-01-02T03:04:05[.fffffff]Z" -> seconds since the epoch (float
    when fractional)."""
    assert isinstance(text, str) and text.endswith("Z"), text
    body = text[:-1]
    frac = 0.0
    if "." in body:
        body, f = body.split(".", 1)
        frac = float("0." + f)
    t = time.strptime(body, "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(t) + frac


def fmt_dt(secs):
    """Whole seconds since the epoch -> "YYYY-MM-DDThh:mm:ssZ"."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(secs)))


def clock_ms():
    return time.time() * 1000.0


# ------------------------------------------------------------ data

def gen_rows(n, seed, now):
    """The rows of `gen-activity --format lines` as a list of dicts in key
    order; each gets "_key" (the row key) and "_ts" (TimeGenerated in
    seconds since the epoch) besides the generated fields."""
    out = subprocess.run(
        [sys.executable, GEN, "--format", "lines", "-n", str(n),
         "--seed", str(seed), "--now", now],
        check=True, stdout=subprocess.PIPE, timeout=120).stdout
    rows = []
    for line in out.decode("utf-8").splitlines():
        obj = json.loads(line)
        v = obj["value"]
        v["_key"] = obj["key"]
        v["_ts"] = parse_dt(v["TimeGenerated"])
        rows.append(v)
    if len(rows) != n:
        raise AssertionError("gen-activity printed %d rows, not %d"
                             % (len(rows), n))
    return rows


def gen_load(port, workspace, table, n, seed, now, timeout=120):
    """Load the same rows through the API ($batch PUTs; gen-activity
    fails unless every item answers 200/201)."""
    subprocess.run(
        [sys.executable, GEN, "--url", "http://127.0.0.1:%d" % port,
         "--workspace", workspace, "--table", table, "-n", str(n),
         "--seed", str(seed), "--now", now],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        timeout=timeout)


def public(row):
    """A generated row without the test's own "_" fields."""
    return {k: v for k, v in row.items() if not k.startswith("_")}


# ------------------------------------------------------------ answers

def check_shape(tc, body):
    """The Azure Log Analytics answer shape, exactly:
    {"tables": [{"name": "PrimaryResult", "columns": [{"name", "type"}],
    "rows": [[...]]}]}.  Returns (columns as [(name, type)], rows)."""
    tc.assertIsInstance(body, dict, "answer is not an object: %r" % (body,))
    tc.assertEqual(set(body), {"tables"}, "top-level keys: %r" % list(body))
    tables = body["tables"]
    tc.assertIsInstance(tables, list)
    tc.assertEqual(len(tables), 1, "expected one table: %r" % (tables,))
    t = tables[0]
    tc.assertEqual(set(t), {"name", "columns", "rows"},
                   "table keys: %r" % list(t))
    tc.assertEqual(t["name"], "PrimaryResult")
    tc.assertIsInstance(t["columns"], list)
    cols = []
    for c in t["columns"]:
        tc.assertIsInstance(c, dict)
        tc.assertEqual(set(c), {"name", "type"}, "column keys: %r" % (c,))
        tc.assertIsInstance(c["name"], str)
        tc.assertIn(c["type"], AZ_TYPES, "column type: %r" % (c,))
        cols.append((c["name"], c["type"]))
    tc.assertIsInstance(t["rows"], list)
    for r in t["rows"]:
        tc.assertIsInstance(r, list)
        tc.assertEqual(len(r), len(cols), "row %r vs columns %r" % (r, cols))
    return cols, t["rows"]


def close(a, b, rel=1e-9, abs_=1e-9):
    """Values equal, floats within a tolerance (ints and floats mix)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, float) and math.isnan(a):
            return isinstance(b, float) and math.isnan(b)
        return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(close(x, y, rel, abs_)
                                        for x, y in zip(a, b))
    return a == b


def rows_close(got, want):
    """Two lists of rows equal, in order, floats with a tolerance."""
    return len(got) == len(want) and all(close(g, w)
                                         for g, w in zip(got, want))


def _sort_key(row):
    return [(0, "") if v is None else
            (1, repr(round(v, 6))) if isinstance(v, float) else
            (2, repr(v)) for v in row]


def rows_close_unordered(got, want):
    """The same rows in any order (rows are ordered by a key where floats
    are rounded, then compared with a tolerance)."""
    return rows_close(sorted(got, key=_sort_key), sorted(want, key=_sort_key))


def bin_floor(v, size):
    """bin() of a number: down to a multiple of size."""
    return v - v % size


# Kusto's datetimes count from 0001-01-01 (a Monday), so bin(t, 7d) starts
# weeks on Mondays; for spans dividing a day this is the same as counting
# from the Unix epoch.
EPOCH_FROM_0001_S = 62135596800


def bin_time(ts, span_s):
    """bin() of a datetime given in seconds since the Unix epoch."""
    return ts - (ts + EPOCH_FROM_0001_S) % span_s


def in_window(rows, lo_ms, hi_ms):
    """Rows whose TimeGenerated t (ms) has lo_ms <= t <= hi_ms."""
    return [r for r in rows if lo_ms <= r["_ts"] * 1000 <= hi_ms]


def raw_request(port, method, target, timeout=10.0):
    """One HTTP/1.1 request over a plain socket, for answers http.client
    refuses to parse.  Returns (status line, {lower-case header: value},
    body bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Connection: close\r\n\r\n" % (method, target))
                  .encode("ascii"))
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return lines[0], hdrs, body
