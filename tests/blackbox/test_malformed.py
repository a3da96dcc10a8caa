"""Issue 7, malformed-input suite: well over 1,000 generated bad requests
(deterministic PRNG) sent to one server - truncated and invalid JSON,
invalid UTF-8, 100,000-level nesting, multi-megabyte strings, a wrong type
in every field of a batch and of an item, oversized batches, 10 KB ids,
path tricks (.., %00, %252F), 100 KB headers, malformed HTTP, slowloris
sockets, clients that vanish mid-request and mid-response.  Each must get
a 4xx with the SPEC section 4 envelope (a batch item: a 4xx item with the
error object), or a closed connection where HTTP allows nothing else; the
server must stay up with a bounded RSS and answer a normal batch after.

A few narrower tests pin bugs this suite found (see their docstrings)."""

import json
import os
import random
import re
import socket
import threading
import time
import unittest

from harness import Server, dumps, rows_path
from hardening_util import (LOG_LINE_RE, envelope_problem, http_bytes,
                            item_problem, raw_request, read_response,
                            rss_parts, rst_close, shared_mapped_kb)

SEED = 0x7A11
WS = "mf"                 # never written: every generated row op misses
BIG_WS = "mfbig"          # holds the large row of the mid-response tests
MAX_BODY = 4194304        # the default max_body_bytes
HUGE = 3 * 1024 * 1024    # "a few MB under max_body_bytes"
DEEP = 100000

# Every JSON type, for "wrong type in every field".
JSON_VALUES = {
    "null": None, "true": True, "false": False, "zero": 0, "neg": -1,
    "real": 1.5, "big": 1e308, "empty_str": "", "str": "s", "empty_arr": [],
    "arr": [1], "empty_obj": {}, "obj": {"a": 1},
}


def values_except(*types):
    """JSON_VALUES whose Python type is none of types (bool is kept apart
    from int)."""
    out = []
    for name, v in JSON_VALUES.items():
        t = type(v)
        if t in types:
            continue
        out.append((name, v))
    return out


class Case:
    __slots__ = ("name", "send", "check")

    def __init__(self, name, send, check):
        self.name = name
        self.send = send
        self.check = check


# ------------------------------------------------------------- senders

def via_http(method, path, body=None, headers=None, timeout=30):
    """Through http.client (harness Server.request)."""
    def send(srv):
        return srv.request(method, path, body, headers=headers,
                           timeout=timeout)
    return send


def via_raw(data, timeout=15, head_only=False):
    def send(srv):
        return raw_request(srv.port, data, timeout, head_only)
    return send


# ------------------------------------------------------------- checks

def whole(statuses=(400,), codes=("BAD_REQUEST",), max_len=None):
    statuses = set(statuses)
    codes = set(codes) if codes is not None else None

    def check(resp):
        if not isinstance(resp, tuple):
            if resp.status is None:
                return "no answer: %r" % resp
            resp = resp.as_tuple()
        p = envelope_problem(resp, statuses, codes)
        if p is None and max_len is not None and len(resp[3]) > max_len:
            p = "error answer of %d bytes (> %d): the input is echoed" % (
                len(resp[3]), max_len)
        return p
    return check


def whole_or_closed(statuses=(400, 404, 405, 413), codes=None):
    """Raw HTTP: a 4xx envelope, or the connection closed unanswered."""
    inner = whole(statuses, codes)

    def check(resp):
        if resp.status is None:
            if resp.closed and not resp.raw:
                return None
            return "neither an answer nor a clean close: %r" % resp
        if resp.status >= 500:
            return "5xx for a client error: %r" % resp
        return inner(resp)
    return check


def answered():
    """Raw HTTP: some well-formed answer below 500."""
    def check(resp):
        if resp.status is None or resp.status >= 500 or not resp.complete:
            return "not answered cleanly: %r" % resp
        return None
    return check


def items(statuses=None, codes=None, ids=None):
    """Batch accepted (200) and every item a failure with its error."""
    def check(resp):
        st, _, body, raw = resp
        if st != 200 or not isinstance(body, dict) or \
                not isinstance(body.get("responses"), list):
            return "batch not answered 200 with responses: %d %r" % (
                st, raw[:300])
        for it in body["responses"]:
            p = item_problem(it, set(statuses) if statuses else None,
                             set(codes) if codes else None)
            if p:
                return p
        if ids is not None:
            got = sorted(it.get("id") for it in body["responses"])
            if got != sorted(ids):
                return "answered ids %r != %r" % (got[:5], sorted(ids)[:5])
        return None
    return check


# ------------------------------------------------------------- generators

def rand_str(rnd, lo=1, hi=12):
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789_-"
    return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(lo, hi)))


def rand_item(rnd, iid):
    k = rand_str(rnd)
    kind = rnd.randrange(6)
    if kind == 0:
        return {"id": iid, "url": rows_path(WS, "t", k)}
    if kind == 1:
        return {"id": iid, "method": "PUT", "url": rows_path(WS, "t", k),
                "body": {"v": rand_str(rnd), "n": rnd.randint(0, 99)}}
    if kind == 2:
        return {"id": iid, "method": "PATCH", "workspace": WS,
                "path": "/tables/t/rows/" + k, "body": {"m": None},
                "headers": {"If-Match": '"1"'}}
    if kind == 3:
        return {"id": iid, "url": "/v1/workspaces/%s/tables" % WS}
    if kind == 4:
        return {"id": iid, "url": rows_path(WS, "t") + "?limit=5&prefix=a"}
    return {"id": iid, "method": "DELETE", "url": rows_path(WS, "t", k),
            "atomicityGroup": "g"}


def rand_batch(rnd, n=None):
    n = rnd.randint(1, 5) if n is None else n
    reqs = [rand_item(rnd, "i%d" % i) for i in range(n)]
    b = {"requests": reqs}
    if rnd.random() < 0.3:
        b["ordered"] = rnd.random() < 0.5
    return b


def py_rejects(data):
    """True if data is not one strict JSON text (Python's view, with NaN
    and Infinity refused too)."""
    def no_const(c):
        raise ValueError(c)
    try:
        json.loads(data.decode("utf-8"), parse_constant=no_const)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return True
    return False


SYNTAX_FRAGMENTS = [b",", b",,", b"//c", b"/*c*/", b"'x'", b"NaN",
                    b"Infinity", b"undefined", b"\x00", b"}", b"]", b":",
                    b"{", b"[", b"\"", b"\\", b"tru", b"nul", b"01",
                    b"1.", b"-", b"+1", b".5", b"0x1F", b"\"\\x41\"",
                    b"\"\\u12G4\"", b"\"\\ud800\\u0041\"x"]
SYNTAX_CHARS = b"{}[],:\"\\'xyz0-+.e"
BAD_UTF8 = [b"\xff", b"\xfe", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80", b"\xc3", b"\xe2\x82", b"\x80",
            b"\xf8\x88\x80\x80\x80", b"\xc1\xbf", b"\xef\xbf"]
MARK = "@@M@@"


def mutate_syntax(rnd, data):
    for _ in range(50):
        op = rnd.randrange(6)
        pos = rnd.randrange(0, len(data) + 1)
        if op == 0 and data:
            pos = min(pos, len(data) - 1)
            out = data[:pos] + data[pos + 1:]
        elif op == 1:
            out = data[:pos] + bytes([rnd.choice(SYNTAX_CHARS)]) + data[pos:]
        elif op == 2 and data:
            pos = min(pos, len(data) - 1)
            out = data[:pos] + bytes([rnd.choice(SYNTAX_CHARS)]) + \
                data[pos + 1:]
        elif op == 3:
            out = data[:pos] + rnd.choice(SYNTAX_FRAGMENTS) + data[pos:]
        elif op == 4:
            out = data + rnd.choice([b"}", b"x", b"{}", b"[]", b"\"s\"",
                                     b" 1", b"\x00"])
        else:
            out = b"\xef\xbb\xbf" + data
        if py_rejects(out):
            return out
    return data + b"}"


def utf8_field_batch(rnd, bad):
    """A valid batch with one string (of a random field) holding bad."""
    b = rand_batch(rnd, rnd.randint(1, 4))
    it = rnd.choice(b["requests"])
    field = rnd.randrange(9)
    if field == 0:
        it["id"] = it["id"] + MARK
    elif field == 1:
        it.pop("path", None)
        it.pop("workspace", None)
        it["url"] = rows_path(WS, "t", "k") + MARK
    elif field == 2:
        it["workspace"] = WS + MARK
        it.pop("url", None)
        it["path"] = "/tables"
    elif field == 3:
        it["method"] = "GET" + MARK
    elif field == 4:
        it["headers"] = {"X-" + MARK: "v"}
    elif field == 5:
        it["headers"] = {"If-None-Match": MARK}
    elif field == 6:
        it["body"] = {"v" + MARK: 1}
    elif field == 7:
        it["body"] = {"v": ["a", "b" + MARK]}
    else:
        b["x" + MARK] = 1
    return dumps(b).encode("utf-8").replace(MARK.encode(), bad, 1)


def nested(depth, opener=b"[", closer=b"]", close=True, inner=b"1"):
    return opener * depth + (inner + closer * depth if close else b"")


def build_cases(rnd):
    """The generated requests, in a deterministic order."""
    cases = []

    def add(name, send, check):
        cases.append(Case(name, send, check))

    # -- A. truncated JSON -------------------------------------------
    for i in range(200):
        data = dumps(rand_batch(rnd)).encode()
        cut = rnd.randrange(0, len(data))
        add("truncated batch %d@%d" % (i, cut),
            via_http("POST", "/v1/$batch", data[:cut]), whole())
    for i in range(40):
        data = dumps({"v": rand_str(rnd), "n": [1, 2, {"x": None}]}).encode()
        cut = rnd.randrange(1, len(data))
        add("truncated put %d" % i,
            via_http("PUT", "/v1" + rows_path(WS, "t", "k%d" % i), data[:cut]),
            whole())
    for i in range(30):
        data = dumps(rand_batch(rnd)).encode()
        cut = rnd.randrange(1, len(data))
        add("truncated async %d" % i,
            via_http("POST", "/v1/batches", data[:cut]), whole())

    # -- B. invalid JSON syntax ----------------------------------------
    for i in range(170):
        data = mutate_syntax(rnd, dumps(rand_batch(rnd)).encode())
        add("syntax batch %d %r" % (i, data[:80]),
            via_http("POST", "/v1/$batch", data), whole())
    for i in range(30):
        data = mutate_syntax(rnd, dumps({"v": rand_str(rnd), "a": [1, 2]})
                             .encode())
        add("syntax put %d" % i,
            via_http("PUT", "/v1" + rows_path(WS, "t", "s%d" % i), data),
            whole())
    for i in range(20):
        data = mutate_syntax(rnd, dumps(rand_batch(rnd)).encode())
        add("syntax async %d" % i, via_http("POST", "/v1/batches", data),
            whole())

    # -- C. invalid UTF-8 ----------------------------------------------
    for i in range(110):
        bad = rnd.choice(BAD_UTF8)
        add("utf8 batch %d" % i,
            via_http("POST", "/v1/$batch", utf8_field_batch(rnd, bad)),
            whole())
    for i in range(20):
        bad = rnd.choice(BAD_UTF8)
        data = ('{"v":"a%sb"}' % MARK).encode().replace(MARK.encode(), bad)
        add("utf8 put %d" % i,
            via_http("PUT", "/v1" + rows_path(WS, "t", "u%d" % i), data),
            whole())
    for i in range(10):
        add("utf8 async %d" % i,
            via_http("POST", "/v1/batches",
                     utf8_field_batch(rnd, rnd.choice(BAD_UTF8))), whole())
    for i in range(40):
        esc = "".join("%%%02X" % c for c in rnd.choice(BAD_UTF8))
        where = i % 5
        if where == 0:
            path = rows_path(WS, "t") + "/k" + esc
        elif where == 1:
            path = rows_path(WS, "t") + "?prefix=p" + esc
        elif where == 2:
            path = rows_path(WS, "t") + "?after=" + esc
        elif where == 3:
            path = "/workspaces/w%s/tables" % esc
        else:
            path = "/workspaces/%s/tables/t%s/rows" % (WS, esc)
        add("utf8 url %d %s" % (i, path), via_http("GET", "/v1" + path),
            whole((400,)))
        add("utf8 url item %d" % i,
            via_http("POST", "/v1/$batch",
                     {"requests": [{"id": "1", "url": path}]}),
            items((400,), ("BAD_REQUEST",)))
    for i in range(12):
        bad = rnd.choice(BAD_UTF8)
        target = [b"/v1/workspaces/" + WS.encode() + b"/tables/t/rows/k" + bad,
                  b"/v1/workspaces/w" + bad + b"/tables",
                  b"/v1/workspaces/" + WS.encode() + b"/tab" + bad + b"les",
                  b"/v1/workspaces/" + WS.encode() + b"/tables/t/rows?prefix="
                  + bad][i % 4]
        add("utf8 raw target %d" % i,
            via_raw(http_bytes("GET", target)),
            whole_or_closed((400, 404), ("BAD_REQUEST", "PATH_NOT_FOUND")))

    # -- D. 100,000-level nesting ----------------------------------------
    deep_arr = nested(DEEP)
    deep_obj = b'{"a":' * DEEP + b"1" + b"}" * DEEP
    deep_mix = b'[{"a":' * (DEEP // 2) + b"1" + b"}]" * (DEEP // 2)
    item_pre = ('{"requests":[{"id":"1","method":"PUT","url":"%s","body":'
                % rows_path(WS, "t", "deep")).encode()
    for name, data in [
            ("open arrays", nested(DEEP, close=False)),
            ("closed arrays", deep_arr),
            ("objects", deep_obj),
            ("mixed", deep_mix),
            ("requests", b'{"requests":' + deep_arr + b"}"),
            ("item body", item_pre + deep_arr + b"}]}"),
            ("item body objects", item_pre + deep_obj + b"}]}"),
            ("dependsOn", b'{"requests":[{"id":"1","url":"/x","dependsOn":'
             + deep_arr + b"}]}"),
            ("headers", b'{"requests":[{"id":"1","url":"/x","headers":'
             + deep_obj + b"}]}")]:
        add("deep batch " + name, via_http("POST", "/v1/$batch", data),
            whole())
    for name, data in [("arrays", deep_arr), ("objects", deep_obj),
                       ("open", nested(DEEP, b"{\"a\":", close=False))]:
        add("deep put " + name,
            via_http("PUT", "/v1" + rows_path(WS, "t", "deep"), data),
            whole())
        add("deep patch " + name,
            via_http("PATCH", "/v1" + rows_path(WS, "t", "deep"), data),
            whole())
        add("deep async " + name, via_http("POST", "/v1/batches", data),
            whole())
        add("deep query " + name,
            via_http("POST", "/v1/workspaces/%s/query" % WS, data), whole())

    # -- E. multi-megabyte strings -----------------------------------
    big = "x" * HUGE
    half = "y" * (HUGE // 2)
    add("huge duplicate ids",
        via_http("POST", "/v1/$batch",
                 {"requests": [{"id": half, "url": "/a"},
                               {"id": half, "url": "/a"}]}),
        whole(max_len=2048))
    add("huge method",
        via_http("POST", "/v1/$batch",
                 {"requests": [{"id": "1", "method": big, "url": "/a"}]}),
        whole(max_len=2048))
    add("huge dependsOn name",
        via_http("POST", "/v1/$batch",
                 {"requests": [{"id": "1", "url": "/a", "dependsOn": [big]}]}),
        whole(max_len=2048))
    add("huge header name",
        via_http("POST", "/v1/$batch",
                 {"requests": [{"id": "1", "url": "/a",
                                "headers": {big: 1}}]}),
        whole(max_len=2048))
    add("huge workspace",
        via_http("POST", "/v1/$batch",
                 {"requests": [{"id": "1", "workspace": big,
                                "path": "/tables"}]}),
        items((400,), ("BAD_REQUEST",)))
    add("huge key in url",
        via_http("POST", "/v1/$batch",
                 {"requests": [{"id": "1",
                                "url": rows_path(WS, "t") + "/" + big}]}),
        items((400,), ("BAD_REQUEST",)))
    add("huge path",
        via_http("POST", "/v1/$batch",
                 {"requests": [{"id": "1", "url": "/" + big}]}),
        items((404,), ("PATH_NOT_FOUND",)))
    add("huge segmented path",
        via_http("POST", "/v1/$batch",
                 {"requests": [{"id": "1", "url": "/a" * (HUGE // 2)}]}),
        items((404,), ("PATH_NOT_FOUND",)))
    add("huge unterminated string",
        via_http("POST", "/v1/$batch",
                 b'{"requests":[{"id":"' + big.encode()), whole())
    add("huge string then bad utf8",
        via_http("PUT", "/v1" + rows_path(WS, "t", "h"),
                 b'{"v":"' + big.encode() + b'\xff"}'), whole())
    add("huge key in plain url",
        via_http("GET", "/v1" + rows_path(WS, "t") + "/" + "k" * 200000),
        whole((400, 413), ("BAD_REQUEST", "PAYLOAD_TOO_LARGE")))
    add("huge async duplicate ids",
        via_http("POST", "/v1/batches",
                 {"requests": [{"id": half, "url": "/a"},
                               {"id": half, "url": "/a"}]}),
        whole(max_len=2048))

    # -- F. wrong types in every field --------------------------------
    for name, v in values_except(dict):
        add("root %s" % name, via_http("POST", "/v1/$batch", dumps(v)),
            whole())
        add("async root %s" % name,
            via_http("POST", "/v1/batches", dumps(v)), whole())
    for name, v in values_except(list):
        add("requests %s" % name,
            via_http("POST", "/v1/$batch", {"requests": v}), whole())
    add("no requests", via_http("POST", "/v1/$batch", {}), whole())
    add("requests misspelt",
        via_http("POST", "/v1/$batch", {"request": []}), whole())
    for prop in ("ordered", "stop_on_error"):
        for name, v in values_except(bool):
            b = rand_batch(rnd)
            b[prop] = v
            add("%s %s" % (prop, name), via_http("POST", "/v1/$batch", b),
                whole())

    def item_case(label, mutate, async_too=False):
        b = rand_batch(rnd, rnd.randint(1, 5))
        # ids unique and not colliding with generated ones
        for k, it in enumerate(b["requests"]):
            it["id"] = "v%d" % k
            it.pop("dependsOn", None)
        at = rnd.randrange(len(b["requests"]))
        b["requests"][at] = mutate(dict(b["requests"][at]), b)
        want = "requests[%d]" % at

        def check(resp, inner=whole()):
            p = inner(resp)
            if p is None:
                detail = resp[2]["error"].get("detail", "")
                if want not in detail:
                    p = "detail %r does not name %s" % (detail, want)
            return p
        add("item %s @%d" % (label, at),
            via_http("POST", "/v1/$batch", b), check)
        if async_too:
            add("async item %s @%d" % (label, at),
                via_http("POST", "/v1/batches", b), check)

    def setter(field, value):
        def m(it, b):
            it[field] = value
            if field == "url":
                it.pop("path", None)
                it.pop("workspace", None)
            if field == "path":
                it.pop("url", None)
            return it
        return m

    def dropper(*fields):
        def m(it, b):
            for f in fields:
                it.pop(f, None)
            return it
        return m

    for n, (name, v) in enumerate(values_except(dict)):
        item_case("is %s" % name, lambda it, b, v=v: v, n % 3 == 0)
    for n, (name, v) in enumerate(values_except(str)):
        for field in ("id", "method", "path", "url", "workspace",
                      "atomicityGroup"):
            item_case("%s %s" % (field, name), setter(field, v), n % 4 == 0)
    item_case("id empty", setter("id", ""), True)
    item_case("id missing", dropper("id"), True)
    item_case("path and url missing", dropper("path", "url"), True)
    item_case("path and url both",
              lambda it, b: dict(it, path="/tables", url="/a"), True)
    for m in ("FOO", "", "GETX", "get ", "HEAD", "OPTIONS", "CONNECT",
              "TRACE", "G\u0000ET", "P\u00e9T", "PUT" * 10):
        item_case("method %r" % m, setter("method", m))
    for n, (name, v) in enumerate(values_except(dict)):
        item_case("headers %s" % name, setter("headers", v), n % 4 == 0)
    for n, (name, v) in enumerate(values_except(str)):
        item_case("header value %s" % name,
                  setter("headers", {"If-Match": v}), n % 4 == 0)
    for n, (name, v) in enumerate(values_except(list)):
        item_case("dependsOn %s" % name, setter("dependsOn", v), n % 4 == 0)
    for n, (name, v) in enumerate(values_except(str)):
        item_case("dependsOn element %s" % name,
                  setter("dependsOn", [v]), n % 4 == 0)
    item_case("dependsOn unknown", setter("dependsOn", ["nope"]), True)

    def self_dep(it, b):
        it["dependsOn"] = [it["id"]]
        it.pop("atomicityGroup", None)
        return it
    item_case("dependsOn self", self_dep, True)
    # a duplicate id: detail names the second one
    b = rand_batch(rnd, 3)
    b["requests"][2]["id"] = b["requests"][0]["id"]
    add("duplicate ids", via_http("POST", "/v1/$batch", b), whole())
    b = {"requests": [{"id": "a", "url": "/workspaces/mf/tables",
                       "dependsOn": ["b"]},
                      {"id": "b", "url": "/workspaces/mf/tables",
                       "dependsOn": ["a"]}]}
    add("dependsOn cycle", via_http("POST", "/v1/$batch", b), whole())
    add("async dependsOn cycle", via_http("POST", "/v1/batches", b), whole())

    # item-level failures: the batch is accepted, the item answers 4xx
    for n, w in enumerate(["", "a/b", "..", ".", "a b", "x" * 65, "\u00e9",
                           "%2e%2e", "mf/../other", "*", "\u0000mf"]):
        add("workspace %r" % w,
            via_http("POST", "/v1/$batch",
                     {"requests": [{"id": "1", "workspace": w,
                                    "path": "/tables"},
                                   {"id": "2", "workspace": w,
                                    "path": "/../other/tables"}]}),
            items((400, 404), ("BAD_REQUEST", "PATH_NOT_FOUND")))
    for method in ("PUT", "PATCH", "POST"):
        for name, v in values_except(dict):
            url = rows_path(WS, "t") + ("" if method == "POST" else "/k")
            add("item %s body %s" % (method, name),
                via_http("POST", "/v1/$batch",
                         {"requests": [{"id": "1", "method": method,
                                        "url": url, "body": v}]}),
                items((400,), ("BAD_REQUEST",)))
            add("plain %s body %s" % (method, name),
                via_http(method, "/v1" + url, dumps(v)), whole())
    for p in ("", "/", "//", "relative", "/v1", "/v2/workspaces/mf/tables",
              rows_path(WS, "t") + "/", rows_path(WS, "t", "k") + "/x",
              "/workspaces//tables", "/v1/v1" + rows_path(WS, "t", "k"),
              "/%76%31" + rows_path(WS, "t", "k"),
              "/workspaces/mf/t%61bles"):
        add("item path %r" % p,
            via_http("POST", "/v1/$batch",
                     {"requests": [{"id": "1", "url": p}]}),
            items((400, 404), ("BAD_REQUEST", "PATH_NOT_FOUND")))
    for p in ("/$batch", "/v1/$batch", "/batches", "/v1/batches/x",
              "/%24batch", "/batches/"):
        add("nested %r" % p,
            via_http("POST", "/v1/$batch",
                     {"requests": [{"id": "1", "method": "POST", "url": p,
                                    "body": {"requests": []}}]}),
            items((400,), ("NESTED_BATCH_NOT_ALLOWED",)))
    for m in ("PUT", "PATCH", "POST"):
        add("item %s on table list" % m,
            via_http("POST", "/v1/$batch",
                     {"requests": [{"id": "1", "method": m, "body": {},
                                    "url": "/workspaces/mf/tables"}]}),
            items((405,), ("METHOD_NOT_ALLOWED",)))

    # -- G. oversized batches ---------------------------------------
    for n in (101, 1000):
        add("%d items" % n,
            via_http("POST", "/v1/$batch",
                     {"requests": [{"id": str(i), "url": "/workspaces/mf/tables"}
                                   for i in range(n)]}),
            whole((400,), ("BATCH_TOO_LARGE",)))
    add("1000 items in one group",
        via_http("POST", "/v1/$batch",
                 {"requests": [{"id": str(i), "method": "DELETE",
                                "url": rows_path(WS, "t", str(i)),
                                "atomicityGroup": "g"} for i in range(1000)]}),
        whole((400,), ("BATCH_TOO_LARGE",)))
    add("10001 async items",
        via_http("POST", "/v1/batches",
                 {"requests": [{"id": str(i), "url": "/a"}
                               for i in range(10001)]}),
        whole((400,), ("BATCH_TOO_LARGE",)))

    # -- H. 10 KB ids -------------------------------------------------
    ten_k = "".join(rnd.choice("abcdefghij") for _ in range(10240))
    add("10KB duplicate ids",
        via_http("POST", "/v1/$batch",
                 {"requests": [{"id": ten_k, "url": "/a"},
                               {"id": ten_k, "url": "/a"}]}),
        whole(max_len=1024))
    add("10KB unknown dependsOn",
        via_http("POST", "/v1/$batch",
                 {"requests": [{"id": "1", "url": "/a",
                                "dependsOn": [ten_k]}]}),
        whole(max_len=1024))
    add("10KB id, bad method",
        via_http("POST", "/v1/$batch",
                 {"requests": [{"id": ten_k, "url": "/a", "method": 7}]}),
        whole(max_len=1024))
    add("10KB id and group, failed dependency",
        via_http("POST", "/v1/$batch",
                 {"requests": [{"id": ten_k, "url": rows_path(WS, "t", "x")},
                               {"id": "2", "url": rows_path(WS, "t", "y"),
                                "dependsOn": [ten_k]}]}),
        items((404, 424), ("NOT_FOUND", "FAILED_DEPENDENCY"),
              ids=[ten_k, "2"]))
    add("10KB id, 10KB workspace",
        via_http("POST", "/v1/$batch",
                 {"requests": [{"id": ten_k, "workspace": ten_k,
                                "path": "/tables"}]}),
        items((400,), ("BAD_REQUEST",), ids=[ten_k]))

    # -- I. path tricks -----------------------------------------------
    nasty = ["..", ".", "%2e%2e", "%2E%2E", "%2e.", ".%2e", "%00", "a%00b",
             "%252F", "a%2Fb", "a%2fb", "%", "%g0", "%2", "%ff", "%c0%ae",
             "a%20b", "%u002e", "~", "*", "x" * 65, "mf%2F..%2Fother",
             "%252e%252e", "..%2F..%2Fother", "%5c..%5cother", "..;",
             "$batch", "%24batch", "batches", "CON", "a\\b"]
    key_nasty = ["%00", "..", "%2e%2e", "%252F", "a%2Fb", "%2F..%2F",
                 "%25", "a%00b", "%EF%BF%BF", "." * 600]
    queries = ["?limit=0", "?limit=-1", "?limit=1001",
               "?limit=99999999999999999999", "?limit=%00", "?limit=1e2",
               "?prefix=%ff", "?after=%", "?after=" + "a" * 600,
               "?prefix=%c0%af", "?limit=", "?limit"]
    for i in range(220):
        segs = ["v1", "workspaces", WS, "tables", "t", "rows",
                rnd.choice(key_nasty) if rnd.random() < 0.5 else "k%d" % i]
        kind = rnd.randrange(6)
        if kind == 0:
            segs[2] = rnd.choice(nasty)
        elif kind == 1:
            segs[4] = rnd.choice(nasty)
        elif kind == 2:
            segs.insert(rnd.randint(1, len(segs)), rnd.choice(["..", "."]))
        elif kind == 3:
            fixed = rnd.choice([0, 1, 3, 5])
            w = segs[fixed]
            j = rnd.randrange(len(w))
            segs[fixed] = w[:j] + "%%%02x" % ord(w[j]) + w[j + 1:]
        elif kind == 4:
            segs[rnd.choice([2, 4])] = rnd.choice(nasty)
            segs.insert(rnd.randint(1, len(segs)), "")
        else:
            segs = segs[:6]
        path = "/" + "/".join(segs)
        if kind == 5 or rnd.random() < 0.15:
            path += rnd.choice(queries)
            if kind == 5 and "?" not in path:
                path += "?limit=0"
        method = rnd.choice(["GET", "DELETE", "PATCH"])
        body = {"v": 1} if method == "PATCH" else None
        add("path %s %s" % (method, path), via_http(method, path, body),
            whole((400, 404, 405),
                  ("BAD_REQUEST", "PATH_NOT_FOUND", "NOT_FOUND",
                   "METHOD_NOT_ALLOWED")))
        if i % 2 == 0:
            # The same as a batch item, as url and as workspace + path.
            rel = path[len("/v1/workspaces/") + len(segs[2]):] \
                if path.startswith("/v1/workspaces/") else path
            reqs = [{"id": "u", "method": method, "url": path},
                    {"id": "p", "method": method, "workspace": WS,
                     "path": rel}]
            for r in reqs:
                if body is not None:
                    r["body"] = body
            add("path item %s" % path,
                via_http("POST", "/v1/$batch", {"requests": reqs}),
                items((400, 404, 405)))

    # -- J. malformed HTTP ------------------------------------------
    ok_get = "/v1/workspaces/%s/tables" % WS
    raw_cases = [
        ("100KB header value",
         b"GET " + ok_get.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Big: "
         + b"a" * 102400 + b"\r\n\r\n"),
        ("100KB of headers",
         b"GET " + ok_get.encode() + b" HTTP/1.1\r\nHost: x\r\n"
         + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 90) for i in range(1100))
         + b"\r\n"),
        ("100KB header name",
         b"GET " + ok_get.encode() + b" HTTP/1.1\r\n" + b"N" * 102400
         + b": v\r\n\r\n"),
        ("100KB request line",
         b"GET /v1/" + b"a" * 102400 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("100KB Authorization",
         http_bytes("GET", ok_get, headers={"Authorization": "Bearer "
                                            + "t" * 102400})),
        ("100KB X-Request-Id",
         http_bytes("GET", ok_get, headers={"X-Request-Id": "r" * 102400})),
        ("100KB If-Match on a batch",
         http_bytes("POST", "/v1/$batch", b'{"requests":[]}',
                    {"If-Match": "\"" + "e" * 102400 + "\""})),
        ("bad version", http_bytes("GET", ok_get, version="HTTP/9.9")),
        ("no version", b"GET " + ok_get.encode() + b"\r\n\r\n"),
        ("binary junk", b"\x00\x01\x02\xff\r\n\r\n"),
        ("only method", b"GET\r\n\r\n"),
        ("NUL in target",
         b"GET /v1/workspaces/mf/tables/t/rows/a\x00b HTTP/1.1\r\n\r\n"),
        ("header without colon", b"GET " + ok_get.encode()
         + b" HTTP/1.1\r\nNoColonHere\r\n\r\n"),
        ("negative Content-Length",
         b"POST /v1/$batch HTTP/1.1\r\nContent-Length: -1\r\n\r\n{}"),
        ("alpha Content-Length",
         b"POST /v1/$batch HTTP/1.1\r\nContent-Length: abc\r\n\r\n{}"),
        ("huge Content-Length",
         b"POST /v1/$batch HTTP/1.1\r\nContent-Length: 99999999999999\r\n\r\n"),
        ("Content-Length over max_body_bytes",
         b"POST /v1/$batch HTTP/1.1\r\nContent-Length: %d\r\n\r\n{"
         % (MAX_BODY + 1)),
        ("two Content-Lengths",
         b"POST /v1/$batch HTTP/1.1\r\nContent-Length: 2\r\n"
         b"Content-Length: 9\r\n\r\n{}{}{}{}{"),
        ("bad chunk size",
         b"POST /v1/$batch HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"zz\r\nabc\r\n0\r\n\r\n"),
        ("negative chunk size",
         b"POST /v1/$batch HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"-5\r\nabc\r\n0\r\n\r\n"),
        ("chunk size overflow",
         b"POST /v1/$batch HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"FFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n"),
        ("chunked over max_body_bytes",
         b"POST /v1/$batch HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"500000\r\n" + b"a" * 0x500000 + b"\r\n0\r\n\r\n"),
        ("chunked invalid json",
         b"POST /v1/$batch HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"3\r\n{\"r\r\n0\r\n\r\n"),
        ("TE and CL",
         b"POST /v1/$batch HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
         b"Content-Length: 3\r\n\r\n3\r\n{}x\r\n0\r\n\r\n"),
        ("absolute-form target",
         http_bytes("GET", "http://evil.example/v1/workspaces/mf/tables/t")),
        ("asterisk target", http_bytes("OPTIONS", "*")),
        ("TRACE", http_bytes("TRACE", ok_get)),
        ("OPTIONS", http_bytes("OPTIONS", ok_get)),
        ("DELETE $batch", http_bytes("DELETE", "/v1/$batch")),
        ("PUT healthz", http_bytes("PUT", "/healthz", b"{}")),
        ("no leading slash", http_bytes("GET", "v1/workspaces/mf/tables")),
        ("empty target", b"GET  HTTP/1.1\r\n\r\n"),
    ]
    for name, data in raw_cases:
        add("raw " + name, via_raw(data), whole_or_closed())
    # Tolerated (RFC 9110 lets a recipient replace a NUL in a field value
    # rather than refuse the message): answered, and not with a 5xx.
    add("raw NUL in an unused header",
        via_raw(b"GET " + ok_get.encode()
                + b" HTTP/1.1\r\nX-A: a\x00b\r\n\r\n"), answered())
    return cases


# ------------------------------------------------------------- the tests

class MalformedInputTest(unittest.TestCase):
    """One server takes everything; checked alive and sane at the end."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(workers=2, debug_ops=True, item_timeout_ms=3000)
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def run_cases(self, cases, problems, repeat=False):
        srv = self.srv
        for c in cases:
            if repeat and c.name.startswith("utf8 "):
                continue        # mishandled today: reported once is enough
            try:
                resp = c.send(srv)
            except Exception as e:        # a hang or a refused connect
                problems.append("%s: raised %r" % (c.name[:120], e))
                if not srv.alive():
                    problems.append("server died; log tail:\n"
                                    + "\n".join(srv.log_lines()[-20:]))
                    return
                continue
            p = c.check(resp)
            if p:
                problems.append("%s: %s" % (c.name[:120], p[:400]))

    def normal_batch_ok(self, tag):
        """A normal batch is answered exactly right."""
        srv = self.srv
        reqs = [{"id": "put", "method": "PUT",
                 "url": rows_path("mfok", "t", tag), "body": {"tag": tag}},
                {"id": "get", "url": rows_path("mfok", "t", tag),
                 "dependsOn": ["put"]},
                {"id": "list", "url": "/workspaces/mfok/tables",
                 "dependsOn": ["put"]}]
        by_id, resps = srv.batch_ok(reqs, ordered=True)
        self.assertEqual([r["id"] for r in resps], ["put", "get", "list"])
        self.assertIn(by_id["put"]["status"], (200, 201), by_id["put"])
        self.assertEqual(by_id["put"]["body"], {"tag": tag})
        self.assertEqual(by_id["get"]["status"], 200, by_id["get"])
        self.assertEqual(by_id["get"]["body"], {"tag": tag})
        self.assertEqual(by_id["list"]["status"], 200)
        self.assertIn({"name": "t", "rows": by_id["list"]["body"]["tables"][0]
                       ["rows"]}, by_id["list"]["body"]["tables"])

    def test_generated_bad_requests(self):
        srv = self.srv
        master = srv.proc.pid
        rnd = random.Random(SEED)
        cases = build_cases(rnd)
        problems = []
        # Warm-up: one of each large kind, so allocator pools exist before
        # the RSS baseline is taken.
        warm = [c for c in cases if c.name.startswith(("huge", "deep"))]
        self.run_cases(warm[:6], [])
        self.normal_batch_ok("warm")
        mem0 = rss_parts(master)
        shared0 = shared_mapped_kb(master)

        t0 = time.monotonic()
        self.run_cases(cases, problems)
        sent = len(cases)
        sent += self.slowloris(problems)
        sent += self.disconnect_mid_request(problems)
        sent += self.disconnect_mid_response(problems)
        mem_mid = rss_parts(master)
        # Everything once more: memory must not creep.  (Repeats are not
        # counted in `sent`.)
        self.run_cases(cases, problems, repeat=True)
        self.disconnect_mid_request(problems)
        self.disconnect_mid_response(problems)
        dt = time.monotonic() - t0

        self.assertTrue(srv.alive(), "batchd died:\n" + srv.log_text()[-3000:])
        self.assertGreaterEqual(sent, 1000)
        mem1 = rss_parts(master)
        # Memory.  The master's VmRSS counts the pages of its shared
        # mappings (the work ring, the workers' completion rings) it has
        # touched; multi-megabyte items touch more of them.  That part is
        # bounded by the mappings' size, which must not grow; VmRSS may
        # grow by that plus a generous margin.  Its private memory
        # (RssAnon) may grow in the first round (the heap takes the
        # multi-megabyte bodies and answers once); in the second, the same
        # requests again, it must not grow much more - a per-request leak
        # would.  (ASan's allocator keeps what the first round's large
        # bodies took, shadow memory included: under a sanitizer build only
        # the round-to-round bound holds.)
        san = "san" in os.path.basename(os.environ.get("BATCHD_BIN", ""))
        shared1 = shared_mapped_kb(master)
        if shared1 > shared0:
            problems.append("master shared mappings grew: %d -> %d KiB"
                            % (shared0, shared1))
        if not san and mem1["VmRSS"] > mem0["VmRSS"] + shared1 + 64 * 1024:
            problems.append("master VmRSS grew past its shared mappings' "
                            "size + 64 MiB: %r -> %r -> %r (shared %d KiB)"
                            % (mem0, mem_mid, mem1, shared1))
        if mem1["RssAnon"] > mem_mid["RssAnon"] + 16 * 1024 or (
                not san and mem1["RssAnon"] > mem0["RssAnon"] + 64 * 1024):
            problems.append("master private memory (RssAnon) grew: %d KiB "
                            "at start, %d after one round, %d after two"
                            % (mem0["RssAnon"], mem_mid["RssAnon"],
                               mem1["RssAnon"]))
        # Every worker is still (or again) there, and work is answered.
        srv.wait_workers(timeout=15)
        self.normal_batch_ok("after")
        # One line per log entry, whatever the clients sent.
        bad = [l for l in srv.log_lines() if not LOG_LINE_RE.match(l)]
        if bad:
            problems.append("malformed log lines: %r" % bad[:5])
        # Nothing of all that reached the store.
        st, _, body, raw = srv.v1("GET", "/workspaces/%s/tables" % WS)
        if (st, body) != (200, {"tables": []}):
            problems.append("refused requests wrote to workspace %s: %d %r"
                            % (WS, st, raw[:300]))
        show = int(os.environ.get("MF_SHOW", "25"))
        self.assertEqual(problems, [], "%d problems over %d bad requests "
                         "(%.1fs, master VmRSS %d -> %d -> %d KiB, RssAnon "
                         "%d -> %d -> %d KiB); first ones:\n%s"
                         % (len(problems), sent, dt, mem0["VmRSS"],
                            mem_mid["VmRSS"], mem1["VmRSS"], mem0["RssAnon"],
                            mem_mid["RssAnon"], mem1["RssAnon"],
                            "\n".join(p[:300] for p in problems[:show])))

    # -------------------------------------------------- slow clients

    def slowloris(self, problems):
        """Four sockets trickle requests a byte at a time for ~2 s; the
        server keeps answering others meanwhile; a trickled request that
        does complete is answered correctly.  Returns requests sent."""
        srv = self.srv
        port = srv.port
        body = dumps({"requests": [{"id": "1",
                                    "url": "/workspaces/%s/tables" % WS}]})
        reqs = [http_bytes("GET", "/v1/workspaces/%s/tables" % WS),
                http_bytes("POST", "/v1/$batch", body.encode()),
                http_bytes("POST", "/v1/$batch", b"x" * 5000),
                http_bytes("PUT", "/v1" + rows_path(WS, "t", "slow"),
                           b"{" * 3000)]
        socks = [socket.create_connection(("127.0.0.1", port), timeout=5)
                 for _ in reqs]
        stop = threading.Event()
        pos = [0] * len(reqs)

        def trickle():
            deadline = time.monotonic() + 2.0
            while not stop.is_set() and time.monotonic() < deadline:
                for i, s in enumerate(socks):
                    if pos[i] < len(reqs[i]) - 1:    # never the last byte
                        try:
                            s.send(reqs[i][pos[i]:pos[i] + 1])
                            pos[i] += 1
                        except OSError as e:
                            problems.append("slowloris %d: send: %r" % (i, e))
                            stop.set()
                time.sleep(0.02)
        th = threading.Thread(target=trickle, daemon=True)
        th.start()
        lat = []
        n = 0
        try:
            while th.is_alive() and n < 200:
                t = time.monotonic()
                st, _, b, raw = srv.v1("GET", "/workspaces/%s/tables" % WS,
                                       timeout=10)
                lat.append(time.monotonic() - t)
                n += 1
                if st != 200:
                    problems.append("during slowloris: %d %r" % (st, raw[:200]))
                time.sleep(0.02)
        finally:
            stop.set()
            th.join(5)
        if not lat or max(lat) > 1.5:
            problems.append("during slowloris others waited: max %.3fs over "
                            "%d requests" % (max(lat or [0]), len(lat)))
        # The first two finish their request now: answered correctly.
        for i in (0, 1):
            try:
                socks[i].sendall(reqs[i][pos[i]:])
                r = read_response(socks[i], 10)
                if r.status != 200 or not isinstance(r.json, dict):
                    problems.append("trickled request %d: %r" % (i, r))
            except OSError as e:
                problems.append("trickled request %d: %r" % (i, e))
        # The two broken ones, completed, are refused with an envelope.
        for i in (2, 3):
            try:
                socks[i].sendall(reqs[i][pos[i]:])
                r = read_response(socks[i], 10)
                p = whole()(r)
                if p:
                    problems.append("trickled bad request %d: %s" % (i, p))
            except OSError as e:
                problems.append("trickled bad request %d: %r" % (i, e))
        for s in socks:
            s.close()
        return len(reqs) + n

    def disconnect_mid_request(self, problems):
        """Clients that vanish while sending, or right after sending and
        before the answer.  Returns requests sent."""
        srv = self.srv
        port = srv.port
        sleep_batch = dumps({"requests": [
            {"id": "s", "method": "POST", "url": "/debug/sleep",
             "body": {"ms": 150}},
            {"id": "p", "method": "PUT", "url": rows_path("mfgone", "t", "k"),
             "body": {"v": 1}, "dependsOn": ["s"]}]}).encode()
        variants = [
            b"POST /v1/$ba",
            b"POST /v1/$batch HTTP/1.1\r\nContent-Le",
            b"POST /v1/$batch HTTP/1.1\r\nContent-Length: 1000\r\n\r\n",
            b"POST /v1/$batch HTTP/1.1\r\nContent-Length: 1000\r\n\r\n"
            b'{"requests":[{"id"',
            b"POST /v1/$batch HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"10\r\n{\"requ",
            http_bytes("POST", "/v1/$batch", sleep_batch),
            http_bytes("POST", "/v1/batches", sleep_batch),
            http_bytes("POST", "/v1/debug/sleep", b'{"ms":150}'),
        ]
        n = 0
        for rep in range(3):
            for k, data in enumerate(variants):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                try:
                    s.sendall(data)
                except OSError:
                    pass
                if (rep + k) % 2:
                    rst_close(s)
                else:
                    s.close()
                n += 1
        # Let the sleeping items finish; the server must be fine.
        time.sleep(0.5)
        try:
            st, _, _, raw = srv.request("GET", "/healthz", timeout=10)
            if st != 200:
                problems.append("after mid-request disconnects: healthz %d"
                                % st)
        except Exception as e:
            problems.append("after mid-request disconnects: %r" % (e,))
        return n

    def disconnect_mid_response(self, problems):
        """Large answers whose client reads a little and goes away."""
        srv = self.srv
        port = srv.port
        bigval = {"blob": "z" * (3 * 1024 * 1024)}
        st, _, _, raw = srv.v1("PUT", rows_path(BIG_WS, "t", "big"), bigval,
                               timeout=30)
        if st not in (200, 201):
            problems.append("big row PUT: %d %r" % (st, raw[:200]))
            return 1
        batch = dumps({"requests": [{"id": str(i),
                                     "url": rows_path(BIG_WS, "t", "big")}
                                    for i in range(4)]}).encode()
        variants = [http_bytes("GET", "/v1" + rows_path(BIG_WS, "t", "big")),
                    http_bytes("POST", "/v1/$batch", batch),
                    http_bytes("GET", "/v1" + rows_path(BIG_WS, "t")
                               + "?limit=10")]
        n = 1
        for rep in range(4):
            for k, data in enumerate(variants):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                try:
                    s.sendall(data)
                    got = b""
                    while len(got) < 12:
                        chunk = s.recv(1024 if rep % 2 else 65536)
                        if not chunk:
                            break
                        got += chunk
                    if not got.startswith(b"HTTP/1.1 200"):
                        problems.append("mid-response %d: %r" % (k, got[:100]))
                except OSError as e:
                    problems.append("mid-response %d: %r" % (k, e))
                if rep % 2:
                    rst_close(s)
                else:
                    s.close()
                n += 1
        # A full read still gets the whole row, intact.
        st, _, body, raw = srv.v1("GET", rows_path(BIG_WS, "t", "big"),
                                  timeout=30)
        n += 1
        if st != 200 or body != bigval:
            problems.append("big row after disconnects: %d, %d bytes"
                            % (st, len(raw)))
        return n

    # -------------------------------------------------- bugs found

    def test_unknown_http_method_is_4xx(self):
        """An unknown request method is the client's error.  libevent
        refuses it with 501, which batchd's evhttp_send_error() maps to
        500 INTERNAL_SERVER_ERROR."""
        for m in (b"FOO", b"PROPFIND", b"BREW", b"GETX", b"get"):
            r = raw_request(self.srv.port, m + b" /v1/workspaces/mf/tables "
                            b"HTTP/1.1\r\nHost: x\r\n\r\n")
            with self.subTest(method=m):
                self.assertIsNotNone(r.status, r)
                self.assertTrue(400 <= r.status < 500,
                                "%s answered %d (a 5xx for a client error): "
                                "%r" % (m, r.status, r.raw[:300]))
                p = envelope_problem(r.as_tuple(), {r.status})
                self.assertIsNone(p, p)

    def test_head_answer_has_no_body(self):
        """RFC 9110 9.3.2: HEAD is answered as GET would be (200, with
        the GET body's Content-Length) but with no content, so a keep-alive
        client reads the next answer right after the headers."""
        srv = self.srv
        for target in (b"/v1/workspaces/mf/tables", b"/healthz"):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            buf = b""
            try:
                s.sendall(b"HEAD " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n"
                          b"GET /v1/workspaces/mf/tables HTTP/1.1\r\n"
                          b"Host: x\r\n\r\n")
                # Everything the server sends until it goes quiet.
                s.settimeout(0.5)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    try:
                        chunk = s.recv(65536)
                    except socket.timeout:
                        break
                    if not chunk:
                        break
                    buf += chunk
            finally:
                s.close()
            with self.subTest(target=target):
                self.assertTrue(buf.startswith(b"HTTP/1.1 200 "), buf[:200])
                self.assertRegex(buf[:buf.index(b"\r\n\r\n")],
                                 rb"(?i)\r\ncontent-length: [1-9]")
                rest = buf[buf.index(b"\r\n\r\n") + 4:]
                self.assertTrue(rest.startswith(b"HTTP/1.1 200 "),
                                "HEAD %s: content after the headers: %r"
                                % (target, rest[:200]))

    def test_connect_answer_is_framed(self):
        """An error answer to CONNECT goes out without Content-Length
        (libevent leaves it out for CONNECT) on a connection kept open, so
        no client can tell where its body ends.  It needs a length, or the
        connection closed after it."""
        srv = self.srv
        for target in (b"example.com:443", b"/v1/workspaces/mf/tables"):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            buf = b""
            closed = False
            try:
                s.sendall(b"CONNECT " + target + b" HTTP/1.1\r\nHost: x\r\n"
                          b"\r\nGET /v1/workspaces/mf/tables HTTP/1.1\r\n"
                          b"Host: x\r\n\r\n")
                s.settimeout(0.5)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    try:
                        chunk = s.recv(65536)
                    except socket.timeout:
                        break
                    if not chunk:
                        closed = True
                        break
                    buf += chunk
            finally:
                s.close()
            with self.subTest(target=target):
                self.assertTrue(re.match(rb"HTTP/1\.1 4\d\d ", buf), buf[:200])
                head = buf[:buf.index(b"\r\n\r\n")].lower()
                self.assertTrue(b"\r\ncontent-length:" in head or closed,
                                "CONNECT %s: an answer body with no length "
                                "on a connection left open: %r"
                                % (target, buf[:400]))

    def test_truncated_detail_stays_valid_utf8(self):
        """Details quote ids with "%.64s"; a multi-byte character across
        byte 64 is cut in half and the answer is no longer UTF-8 (json
        parsers refuse it)."""
        srv = self.srv
        long_id = "a" * 63 + "\u00e9"           # bytes 64-65 are one char
        cases = [
            ("duplicate id", {"requests": [{"id": long_id, "url": "/a"},
                                           {"id": long_id, "url": "/a"}]},
             400),
            ("unknown dependsOn", {"requests": [
                {"id": "1", "url": "/a", "dependsOn": [long_id]}]}, 400),
            ("failed dependency", {"requests": [
                {"id": long_id, "url": rows_path(WS, "t", "missing")},
                {"id": "2", "url": rows_path(WS, "t", "m2"),
                 "dependsOn": [long_id]}]}, 200),
            ("header name", {"requests": [
                {"id": "1", "url": "/a", "headers": {"X" * 63 + "\u00e9": 1}}]},
             400),
        ]
        for name, body, status in cases:
            with self.subTest(case=name):
                st, _, parsed, raw = srv.request(
                    "POST", "/v1/$batch",
                    json.dumps(body, ensure_ascii=False).encode("utf-8"))
                self.assertEqual(st, status, raw[:300])
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    self.fail("%s: answer is not UTF-8 (%s): %r"
                              % (name, e, raw[-120:]))
                self.assertIsInstance(parsed, dict, raw[:300])

    def test_json_with_overlong_or_surrogate_utf8_is_refused(self):
        """RFC 8259 8.1: JSON text is UTF-8.  json-c's
        JSON_TOKENER_VALIDATE_UTF8 checks only the lead/continuation byte
        pattern, so overlong forms (C0 AF, E0 80 AF), encoded surrogates
        (ED A0 80) and code points past U+10FFFF (F4 90 80 80) pass; they
        are stored as row bytes and echoed, and the answers are not UTF-8.
        (route.c's utf8_valid() is strict; the JSON path never uses it.)"""
        srv = self.srv
        for bad in (b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf",
                    b"\xed\xa0\x80", b"\xf4\x90\x80\x80"):
            key = "u8-" + bad.hex()
            with self.subTest(bytes=bad):
                resp = srv.request("PUT", "/v1" + rows_path("mfutf8", "t", key),
                                   b'{"v":"a' + bad + b'b"}')
                p = envelope_problem(resp, {400}, {"BAD_REQUEST"})
                self.assertIsNone(p, "PUT: " + (p or ""))
                st, _, _, raw = srv.v1("GET", rows_path("mfutf8", "t", key))
                self.assertEqual(st, 404, "stored and served back: %r"
                                 % raw[:200])
                resp = srv.request("POST", "/v1/$batch",
                                   b'{"requests":[{"id":"x' + bad +
                                   b'","url":"/workspaces/mfutf8/tables"}]}')
                p = envelope_problem(resp, {400}, {"BAD_REQUEST"})
                self.assertIsNone(p, "$batch: " + (p or ""))

    def test_nul_in_item_strings_is_not_truncated(self):
        """Item strings are JSON strings and may hold U+0000; read as C
        strings they were cut at the NUL and the item ran on another
        target ({"workspace":"mf\u0000evil"} wrote workspace "mf", url
        ".../rows/a\u0000b" wrote key "a", method "GET\u0000X" ran a
        GET).  Each must be refused, or (a key may hold U+0000) run on
        exactly the bytes given - never on the truncated name."""
        srv = self.srv
        cases = [
            ("workspace", {"id": "1", "method": "PUT",
                           "workspace": "mfnul\u0000evil",
                           "path": "/tables/t/rows/w", "body": {"v": 1}},
             rows_path("mfnul", "t", "w")),
            ("url", {"id": "1", "method": "PUT",
                     "url": "/workspaces/mfnul/tables/t/rows/a\u0000b",
                     "body": {"v": 2}},
             rows_path("mfnul", "t", "a")),
            ("path", {"id": "1", "method": "PUT", "workspace": "mfnul",
                      "path": "/tables/t/rows/p\u0000/../../x",
                      "body": {"v": 3}},
             rows_path("mfnul", "t", "p")),
            ("table", {"id": "1", "method": "PUT", "workspace": "mfnul",
                       "path": "/tables/t\u0000/rows/x", "body": {"v": 4}},
             rows_path("mfnul", "t", "x")),
            ("method", {"id": "1", "method": "GET\u0000X",
                        "url": "/workspaces/mfnul/tables"}, None),
        ]
        for name, it, truncated in cases:
            with self.subTest(field=name):
                st, _, body, raw = srv.request(
                    "POST", "/v1/$batch",
                    json.dumps({"requests": [it]}).encode())
                if st == 200:
                    r = body["responses"][0]
                    if name != "url":
                        self.assertTrue(400 <= r["status"] < 500,
                                        "item with a NUL in %s ran: %r"
                                        % (name, r))
                else:
                    p = envelope_problem((st, _, body, raw), {400})
                    self.assertIsNone(p, p)
                if truncated:
                    st, _, _, raw = srv.v1("GET", truncated)
                    self.assertEqual(st, 404, "%s: written under the name "
                                     "cut at the NUL: %r" % (name, raw[:200]))
        # The url case, if accepted, wrote exactly "a\0b".
        st, _, body, _ = srv.v1("GET", rows_path("mfnul", "t", "a\u0000b"))
        self.assertIn((st, body), ((404, body), (200, {"v": 2})))

    def test_cycle_inside_atomicity_group_is_refused(self):
        """SPEC 3.2: a dependsOn cycle fails the whole batch (400).  Inside
        one atomicity group dependsOn edges are dropped (batch.c: "inside
        one group"), so a self-dependency or a 2-cycle between members is
        accepted and run."""
        srv = self.srv
        for name, reqs in [
                ("self", [{"id": "a", "atomicityGroup": "g",
                           "url": "/workspaces/mf/tables",
                           "dependsOn": ["a"]}]),
                ("pair", [{"id": "a", "atomicityGroup": "g",
                           "url": "/workspaces/mf/tables", "dependsOn": ["b"]},
                          {"id": "b", "atomicityGroup": "g",
                           "url": "/workspaces/mf/tables",
                           "dependsOn": ["a"]}])]:
            with self.subTest(cycle=name):
                resp = srv.request("POST", "/v1/$batch", {"requests": reqs})
                p = envelope_problem(resp, {400}, {"BAD_REQUEST"})
                self.assertIsNone(p, p)

    def test_ids_differing_after_nul_are_distinct(self):
        """Ids are JSON strings and may hold U+0000; "a\\u0000b" and
        "a\\u0000c" are different ids, but the duplicate check (a json-c
        object keyed by C strings) sees both as "a" and refuses the batch."""
        st, _, body, raw = self.srv.request(
            "POST", "/v1/$batch",
            b'{"requests":[{"id":"a\\u0000b","url":"/workspaces/mf/tables"},'
            b'{"id":"a\\u0000c","url":"/workspaces/mf/tables"}]}')
        self.assertEqual(st, 200, raw[:300])
        self.assertEqual(sorted(r["id"] for r in body["responses"]),
                         ["a\u0000b", "a\u0000c"])


if __name__ == "__main__":
    unittest.main()
