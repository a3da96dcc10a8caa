"""SPEC section 2: every row and table operation, as a plain HTTP request
and as a batch item (the same test bodies run in both modes)."""

import json
import itertools
import random
import re
import string
import unittest
import urllib.parse

from harness import (Headers, Server, check_envelope, check_item_error,
                     dumps, qkey, rows_path)

SRV = None
_counter = itertools.count()

ETAG_RE = re.compile(r'^"[^"]*"$')  # strong (no W/), quoted


def setUpModule():
    global SRV
    SRV = Server(workers=2).start()


def tearDownModule():
    global SRV
    if SRV is not None:
        SRV.stop()
        SRV = None


class Resp:
    def __init__(self, status, headers, body, raw=None):
        self.status = status
        self.headers = headers
        self.body = body
        self.raw = raw

    def __repr__(self):
        return "Resp(%d, %r, %r)" % (self.status, dict(self.headers),
                                     self.raw[:300] if self.raw is not None
                                     else self.body)


class RowOpsMixin:
    """The operations of SPEC section 2; `call` sends one either plain or
    as the single item of a batch."""

    MODE = None

    def setUp(self):
        n = next(_counter)
        self.ws = "ws-%s" % self.MODE
        self.t = "t%d" % n
        self.n = n

    # -- transport -------------------------------------------------------

    def call(self, method, path, body=None, headers=None):
        if self.MODE == "plain":
            st, h, b, raw = SRV.v1(method, path, body, headers)
            self.assertTrue(h.get("X-Request-Id"),
                            "%s %s: no X-Request-Id" % (method, path))
            return Resp(st, h, b, raw)
        item = {"id": "only", "method": method, "path": path}
        if body is not None:
            item["body"] = body
        if headers:
            item["headers"] = headers
        by_id, resps = SRV.batch_ok([item])
        self.assertEqual(len(resps), 1, resps)
        r = by_id["only"]
        self.assertIsInstance(r.get("status"), int, r)
        h = r.get("headers", {})
        self.assertIsInstance(h, dict, r)
        return Resp(r["status"], Headers(h), r.get("body"))

    def call_url(self, method, location):
        """Follow a Location header (an absolute /v1/... path)."""
        self.assertTrue(location.startswith("/v1/"), location)
        if self.MODE == "plain":
            st, h, b, raw = SRV.request(method, location)
            return Resp(st, h, b, raw)
        by_id, _ = SRV.batch_ok([{"id": "u", "method": method,
                                  "url": location}])
        r = by_id["u"]
        return Resp(r["status"], Headers(r.get("headers", {})), r.get("body"))

    def assertError(self, r, status, code):
        if self.MODE == "plain":
            return check_envelope(self, (r.status, r.headers, r.body, r.raw),
                                  status, code)
        return check_item_error(self, {"id": "only", "status": r.status,
                                       "body": r.body}, status, code)

    def assertOk(self, r, status, body=None):
        self.assertEqual(r.status, status, r)
        if body is not None:
            self.assertEqual(r.body, body, r)

    def etag(self, r):
        e = r.headers.get("ETag")
        self.assertIsNotNone(e, "no ETag: %r" % r)
        self.assertRegex(e, ETAG_RE)
        return e

    def assertNoBody(self, r):
        if self.MODE == "plain":
            self.assertEqual(r.raw, b"", r)
        else:
            self.assertIsNone(r.body, r)

    def rp(self, key=None, table=None, ws=None):
        return rows_path(ws or self.ws, table or self.t, key)

    def populate(self, rows, table=None, ws=None):
        """Write {key: value} rows (through batches: setup, not the test)."""
        items = [{"id": str(i), "method": "PUT",
                  "path": self.rp(k, table, ws), "body": v}
                 for i, (k, v) in enumerate(rows.items())]
        for i in range(0, len(items), 100):
            by_id, _ = SRV.batch_ok(items[i:i + 100])
            for r in by_id.values():
                self.assertIn(r["status"], (200, 201), r)

    # -- PUT / GET -------------------------------------------------------

    def test_put_create_then_replace(self):
        r = self.call("PUT", self.rp("k1"), {"a": 1, "b": [1, "x", None]})
        self.assertOk(r, 201, {"a": 1, "b": [1, "x", None]})
        e1 = self.etag(r)
        self.assertIn("application/json", r.headers.get("Content-Type", ""))
        r = self.call("GET", self.rp("k1"))
        self.assertOk(r, 200, {"a": 1, "b": [1, "x", None]})
        self.assertEqual(self.etag(r), e1)
        r = self.call("PUT", self.rp("k1"), {"c": {"d": True}})
        self.assertOk(r, 200, {"c": {"d": True}})
        e2 = self.etag(r)
        self.assertNotEqual(e1, e2)
        r = self.call("GET", self.rp("k1"))
        self.assertOk(r, 200, {"c": {"d": True}})
        self.assertEqual(self.etag(r), e2)

    def test_put_empty_object(self):
        r = self.call("PUT", self.rp("empty"), {})
        self.assertOk(r, 201, {})
        self.assertOk(self.call("GET", self.rp("empty")), 200, {})

    def test_get_missing_row_and_table(self):
        r = self.call("GET", self.rp("k", table="nosuchtable%d" % self.n))
        self.assertError(r, 404, "NOT_FOUND")
        self.assertOk(self.call("PUT", self.rp("present"), {"x": 1}), 201)
        r = self.call("GET", self.rp("absent"))
        self.assertError(r, 404, "NOT_FOUND")
        r = self.call("GET", self.rp(table="nosuchtable%d" % self.n))
        self.assertError(r, 404, "NOT_FOUND")

    # -- POST ------------------------------------------------------------

    def test_post_with_id(self):
        r = self.call("POST", self.rp(), {"id": "abc", "v": 1})
        self.assertOk(r, 201, {"id": "abc", "v": 1})
        e = self.etag(r)
        self.assertEqual(r.headers.get("Location"), "/v1" + self.rp("abc"))
        g = self.call("GET", self.rp("abc"))
        self.assertOk(g, 200, {"id": "abc", "v": 1})
        self.assertEqual(self.etag(g), e)

    def test_post_without_id_generates_key(self):
        r1 = self.call("POST", self.rp(), {"v": 2})
        self.assertOk(r1, 201, {"v": 2})
        e1 = self.etag(r1)
        loc1 = r1.headers.get("Location")
        self.assertIsNotNone(loc1, r1)
        base = "/v1" + self.rp() + "/"
        self.assertTrue(loc1.startswith(base), loc1)
        key1 = urllib.parse.unquote(loc1[len(base):])
        self.assertTrue(key1)
        g = self.call_url("GET", loc1)
        self.assertOk(g, 200, {"v": 2})
        self.assertEqual(self.etag(g), e1)
        r2 = self.call("POST", self.rp(), {"v": 3})
        self.assertOk(r2, 201, {"v": 3})
        loc2 = r2.headers.get("Location")
        self.assertNotEqual(loc1, loc2, "two POSTs got the same key")
        self.assertOk(self.call_url("GET", loc2), 200, {"v": 3})
        # the generated key is an ordinary key
        self.assertOk(self.call("GET", self.rp(key1)), 200, {"v": 2})

    def test_post_conflict(self):
        self.assertOk(self.call("POST", self.rp(), {"id": "dup", "n": 1}), 201)
        r = self.call("POST", self.rp(), {"id": "dup", "n": 2})
        self.assertError(r, 409, "CONFLICT")
        self.assertOk(self.call("GET", self.rp("dup")), 200, {"id": "dup", "n": 1})
        # a key made by PUT conflicts too
        self.assertOk(self.call("PUT", self.rp("put"), {"n": 3}), 201)
        self.assertError(self.call("POST", self.rp(), {"id": "put"}),
                         409, "CONFLICT")

    def test_post_body_not_object(self):
        for body in ([1, 2], "text", 7):
            self.assertError(self.call("POST", self.rp(), body),
                             400, "BAD_REQUEST")

    # -- PATCH -----------------------------------------------------------

    def test_patch_merge(self):
        orig = {"a": 1, "b": {"c": 2, "d": 3, "deep": {"x": 1, "y": 2}},
                "e": [1, 2], "keep": "k"}
        r = self.call("PUT", self.rp("m"), orig)
        e1 = self.etag(r)
        patch = {"a": None, "b": {"c": None, "x": 5, "deep": {"y": None}},
                 "e": [3], "f": {"g": None, "h": 1}, "keep": "k"}
        want = {"b": {"d": 3, "deep": {"x": 1}, "x": 5}, "e": [3],
                "f": {"h": 1}, "keep": "k"}
        r = self.call("PATCH", self.rp("m"), patch)
        self.assertOk(r, 200, want)
        e2 = self.etag(r)
        self.assertNotEqual(e1, e2)
        g = self.call("GET", self.rp("m"))
        self.assertOk(g, 200, want)
        self.assertEqual(self.etag(g), e2)
        # an empty patch still writes (and so changes the ETag)
        r = self.call("PATCH", self.rp("m"), {})
        self.assertOk(r, 200, want)
        self.assertNotEqual(self.etag(r), e2)
        # replacing an object member by a scalar and back
        r = self.call("PATCH", self.rp("m"), {"b": 7, "e": {"z": None}})
        self.assertOk(r, 200, {"b": 7, "e": {}, "f": {"h": 1}, "keep": "k"})

    def test_patch_missing(self):
        self.assertError(self.call("PATCH", self.rp("nope"), {"a": 1}),
                         404, "NOT_FOUND")
        self.assertError(self.call("GET", self.rp("nope")), 404, "NOT_FOUND")

    def test_patch_body_not_object(self):
        self.assertOk(self.call("PUT", self.rp("p"), {"a": 1}), 201)
        for body in ([1], "s", 3):
            self.assertError(self.call("PATCH", self.rp("p"), body),
                             400, "BAD_REQUEST")
        self.assertOk(self.call("GET", self.rp("p")), 200, {"a": 1})

    # -- DELETE ----------------------------------------------------------

    def test_delete_row(self):
        self.assertOk(self.call("PUT", self.rp("d"), {"a": 1}), 201)
        self.assertOk(self.call("PUT", self.rp("d2"), {"a": 2}), 201)
        r = self.call("DELETE", self.rp("d"))
        self.assertOk(r, 204)
        self.assertNoBody(r)
        self.assertError(self.call("GET", self.rp("d")), 404, "NOT_FOUND")
        self.assertError(self.call("DELETE", self.rp("d")), 404, "NOT_FOUND")
        self.assertOk(self.call("GET", self.rp("d2")), 200, {"a": 2})
        # re-create after delete is a create again
        self.assertOk(self.call("PUT", self.rp("d"), {"a": 3}), 201)

    def test_delete_table_and_list(self):
        ws = "%s-dt%d" % (self.ws, self.n)
        self.populate({"r1": {"a": 1}, "r2": {"a": 2}}, table="gone", ws=ws)
        self.populate({"r1": {"a": 1}}, table="stays", ws=ws)
        r = self.call("GET", "/workspaces/%s/tables" % ws)
        self.assertOk(r, 200)
        self.assertEqual(sorted(r.body["tables"], key=lambda t: t["name"]),
                         [{"name": "gone", "rows": 2},
                          {"name": "stays", "rows": 1}])
        r = self.call("DELETE", "/workspaces/%s/tables/gone" % ws)
        self.assertOk(r, 204)
        self.assertNoBody(r)
        r = self.call("GET", "/workspaces/%s/tables" % ws)
        self.assertOk(r, 200, {"tables": [{"name": "stays", "rows": 1}]})
        self.assertError(self.call("GET", rows_path(ws, "gone", "r1")),
                         404, "NOT_FOUND")
        self.assertError(self.call("DELETE", "/workspaces/%s/tables/gone" % ws),
                         404, "NOT_FOUND")
        # a dropped table can be created again, empty but for the new row
        self.assertOk(self.call("PUT", rows_path(ws, "gone", "new"), {}), 201)
        r = self.call("GET", rows_path(ws, "gone") + "?limit=1000")
        self.assertOk(r, 200)
        self.assertEqual([x["key"] for x in r.body["rows"]], ["new"])

    def test_list_tables_with_counts(self):
        ws = "%s-lt%d" % (self.ws, self.n)
        r = self.call("GET", "/workspaces/%s/tables" % ws)
        self.assertOk(r, 200, {"tables": []})
        self.populate({"k%d" % i: {"i": i} for i in range(12)}, table="t1", ws=ws)
        self.populate({"only": {}}, table="t2", ws=ws)
        self.populate({"x": {}}, table="t3", ws=ws + "other")
        r = self.call("GET", "/workspaces/%s/tables" % ws)
        self.assertOk(r, 200)
        self.assertEqual(set(r.body), {"tables"})
        self.assertEqual(sorted(r.body["tables"], key=lambda t: t["name"]),
                         [{"name": "t1", "rows": 12}, {"name": "t2", "rows": 1}])
        self.call("DELETE", rows_path(ws, "t1", "k0"))
        self.call("PUT", rows_path(ws, "t1", "k1"), {"replaced": True})
        r = self.call("GET", "/workspaces/%s/tables" % ws)
        self.assertEqual(sorted(r.body["tables"], key=lambda t: t["name"]),
                         [{"name": "t1", "rows": 11}, {"name": "t2", "rows": 1}])

    # -- scans -----------------------------------------------------------

    def _scan_all(self, query, page_limit):
        """Follow next from the first page; return [(key, etag, value)]."""
        out = []
        after = None
        for _ in range(1000):
            q = dict(query)
            q["limit"] = str(page_limit)
            if after is not None:
                q["after"] = after
            r = self.call("GET", self.rp() + "?" + urllib.parse.urlencode(q))
            self.assertOk(r, 200)
            self.assertEqual(set(r.body), {"rows", "next"}, r.body)
            rows = r.body["rows"]
            self.assertLessEqual(len(rows), page_limit)
            for row in rows:
                self.assertEqual(set(row), {"key", "etag", "value"}, row)
                self.assertRegex(row["etag"], ETAG_RE)
                out.append((row["key"], row["etag"], row["value"]))
            nxt = r.body["next"]
            if nxt is None:
                return out
            self.assertIsInstance(nxt, str)
            self.assertTrue(rows, "non-null next on an empty page")
            self.assertEqual(nxt, rows[-1]["key"])
            after = nxt
        self.fail("scan did not end")

    def test_scan_paging(self):
        rows = {}
        for i in range(200):
            rows["a%03d" % i] = {"i": i, "p": "a"}
        for i in range(40):
            rows["b%02d" % i] = {"i": i, "p": "b"}
        for k in ("é", "z", "ключ", "🚀", "b", "ba", "a/", "A"):
            rows[k] = {"k": k}
        self.populate(rows)
        want = sorted(rows, key=lambda k: k.encode("utf-8"))
        self.assertEqual(len(want), 248)
        for limit in (7, 100, 248, 1000):
            got = self._scan_all({}, limit)
            self.assertEqual([k for k, _, _ in got], want, "limit %d" % limit)
            self.assertEqual({k: v for k, _, v in got}, rows)
        # prefix, alone and with after
        got = self._scan_all({"prefix": "b"}, 9)
        want_b = [k for k in want if k.startswith("b")]
        self.assertEqual([k for k, _, _ in got], want_b)
        self.assertEqual(len(want_b), 42)
        got = self._scan_all({"prefix": "a0", "after": "a050"}, 1000)
        self.assertEqual([k for k, _, _ in got],
                         ["a%03d" % i for i in range(51, 100)])
        got = self._scan_all({"prefix": "ключ"}, 5)
        self.assertEqual([k for k, _, _ in got], ["ключ"])
        self.assertEqual(self._scan_all({"prefix": "nomatch"}, 5), [])
        # after a key that does not exist, after the last key
        got = self._scan_all({"after": "b39x"}, 1000)
        self.assertEqual([k for k, _, _ in got],
                         [k for k in want if k.encode() > b"b39x"])
        self.assertEqual(self._scan_all({"after": want[-1]}, 10), [])
        # the default limit is 100
        r = self.call("GET", self.rp())
        self.assertOk(r, 200)
        self.assertEqual([x["key"] for x in r.body["rows"]], want[:100])
        self.assertEqual(r.body["next"], want[99])
        # ETags in a scan are the rows' ETags
        g = self.call("GET", self.rp("a005"))
        got = self._scan_all({"prefix": "a005"}, 1)
        self.assertEqual(got, [("a005", self.etag(g), {"i": 5, "p": "a"})])

    def test_scan_limit_invalid(self):
        self.populate({"x": {}})
        for lim in ("0", "1001", "abc", "-1", "", "1.5"):
            r = self.call("GET", self.rp() + "?limit=" + lim)
            self.assertError(r, 400, "BAD_REQUEST")
        for lim in ("1", "1000"):
            self.assertOk(self.call("GET", self.rp() + "?limit=" + lim), 200)

    # -- ETags and preconditions -----------------------------------------

    def test_etag_changes_on_every_write(self):
        seen = []
        r = self.call("PUT", self.rp("e"), {"v": 1})
        seen.append(self.etag(r))
        r = self.call("PUT", self.rp("e"), {"v": 1})        # same body
        seen.append(self.etag(r))
        r = self.call("PATCH", self.rp("e"), {"w": 2})
        seen.append(self.etag(r))
        r = self.call("PATCH", self.rp("e"), {"w": 2})      # no-op patch
        seen.append(self.etag(r))
        self.assertEqual(self.etag(self.call("GET", self.rp("e"))), seen[-1])
        self.assertOk(self.call("DELETE", self.rp("e")), 204)
        r = self.call("POST", self.rp(), {"id": "e", "v": 1})
        self.assertOk(r, 201)
        seen.append(self.etag(r))
        self.assertEqual(len(set(seen)), len(seen), seen)
        self.assertEqual(self.etag(self.call("GET", self.rp("e"))), seen[-1])
        # another row's ETag is not this row's
        r = self.call("PUT", self.rp("other"), {"v": 1})
        self.assertNotIn(self.etag(r), seen)

    def test_if_match(self):
        e1 = self.etag(self.call("PUT", self.rp("im"), {"v": 1}))
        e2 = self.etag(self.call("PUT", self.rp("im"), {"v": 2},
                                 {"If-Match": e1}))
        self.assertNotEqual(e1, e2)
        # stale ETag: every write kind answers 412 and changes nothing
        for method, body in (("PUT", {"v": 9}), ("PATCH", {"v": 9}),
                             ("DELETE", None)):
            r = self.call(method, self.rp("im"), body, {"If-Match": e1})
            self.assertError(r, 412, "PRECONDITION_FAILED")
        g = self.call("GET", self.rp("im"))
        self.assertOk(g, 200, {"v": 2})
        self.assertEqual(self.etag(g), e2)
        r = self.call("PATCH", self.rp("im"), {"p": 1}, {"If-Match": e2})
        self.assertOk(r, 200, {"v": 2, "p": 1})
        e3 = self.etag(r)
        r = self.call("DELETE", self.rp("im"), None, {"If-Match": e3})
        self.assertOk(r, 204)
        # If-Match on a missing row
        r = self.call("PUT", self.rp("im"), {"v": 1}, {"If-Match": e3})
        self.assertError(r, 412, "PRECONDITION_FAILED")
        self.assertError(self.call("GET", self.rp("im")), 404, "NOT_FOUND")
        r = self.call("PUT", self.rp("never"), {"v": 1},
                      {"If-Match": '"nonexistent"'})
        self.assertError(r, 412, "PRECONDITION_FAILED")
        self.assertError(self.call("GET", self.rp("never")), 404, "NOT_FOUND")

    def test_if_none_match_star_on_put(self):
        r = self.call("PUT", self.rp("once"), {"v": 1}, {"If-None-Match": "*"})
        self.assertOk(r, 201, {"v": 1})
        e = self.etag(r)
        r = self.call("PUT", self.rp("once"), {"v": 2}, {"If-None-Match": "*"})
        self.assertError(r, 412, "PRECONDITION_FAILED")
        g = self.call("GET", self.rp("once"))
        self.assertOk(g, 200, {"v": 1})
        self.assertEqual(self.etag(g), e)

    def test_get_if_none_match_304(self):
        e = self.etag(self.call("PUT", self.rp("c"), {"v": 1}))
        r = self.call("GET", self.rp("c"), None, {"If-None-Match": e})
        self.assertEqual(r.status, 304, r)
        self.assertNoBody(r)
        # a stale ETag gets the row
        e2 = self.etag(self.call("PUT", self.rp("c"), {"v": 2}))
        r = self.call("GET", self.rp("c"), None, {"If-None-Match": e})
        self.assertOk(r, 200, {"v": 2})
        self.assertEqual(self.etag(r), e2)
        r = self.call("GET", self.rp("c"), None, {"If-None-Match": e2})
        self.assertEqual(r.status, 304, r)
        self.assertNoBody(r)

    # -- keys --------------------------------------------------------------

    def test_unicode_keys(self):
        key = "ключ/üñî 🚀"
        path = self.rp(key)
        self.assertIn("%2F", path)
        r = self.call("PUT", path, {"k": key})
        self.assertOk(r, 201, {"k": key})
        e = self.etag(r)
        g = self.call("GET", path)
        self.assertOk(g, 200, {"k": key})
        self.assertEqual(self.etag(g), e)
        # the slash is part of the key, not a path separator
        self.assertError(self.call("GET", self.rp("ключ")), 404, "NOT_FOUND")
        r = self.call("GET", self.rp() + "?prefix=" + qkey("ключ/"))
        self.assertOk(r, 200)
        self.assertEqual([x["key"] for x in r.body["rows"]], [key])
        self.assertIsNone(r.body["next"])
        # POST with a unicode id: Location is encoded and leads to it
        key2 = "ü/?#%&+ x"
        r = self.call("POST", self.rp(), {"id": key2})
        self.assertOk(r, 201, {"id": key2})
        loc = r.headers.get("Location")
        base = "/v1" + self.rp() + "/"
        self.assertTrue(loc.startswith(base), loc)
        seg = loc[len(base):]
        self.assertNotIn("/", seg)
        self.assertNotIn("?", seg)
        self.assertNotIn("#", seg)
        self.assertEqual(urllib.parse.unquote(seg), key2)
        self.assertOk(self.call_url("GET", loc), 200, {"id": key2})
        self.assertOk(self.call("PATCH", self.rp(key2), {"n": 1}), 200,
                      {"id": key2, "n": 1})
        self.assertOk(self.call("DELETE", path), 204)
        self.assertError(self.call("GET", path), 404, "NOT_FOUND")

    def test_key_encoding(self):
        base = self.rp() + "/"
        # '+' is literal in a path; '.' and '..' are keys, not dot-segments
        self.assertOk(self.call("PUT", base + "a+b", {"k": "a+b"}), 201)
        self.assertOk(self.call("GET", base + "a%2Bb"), 200, {"k": "a+b"})
        self.assertError(self.call("GET", base + "a%20b"), 404, "NOT_FOUND")
        self.assertOk(self.call("PUT", base + "..", {"k": ".."}), 201)
        self.assertOk(self.call("PUT", base + ".", {"k": "."}), 201)
        self.assertOk(self.call("GET", base + "%2E%2E"), 200, {"k": ".."})
        self.assertOk(self.call("GET", base + "%2e"), 200, {"k": "."})
        r = self.call("GET", self.rp() + "?limit=10")
        self.assertEqual([x["key"] for x in r.body["rows"]], [".", "..", "a+b"])
        # not UTF-8, or a broken escape: 400
        for bad in ("%FF", "%C3", "ok%C3%28", "a%zzb", "a%2"):
            self.assertError(self.call("PUT", base + bad, {}), 400, "BAD_REQUEST")
            self.assertError(self.call("GET", base + bad), 400, "BAD_REQUEST")
        # an empty id is no key
        self.assertError(self.call("POST", self.rp(), {"id": ""}),
                         400, "BAD_REQUEST")

    def test_key_with_nul_character(self):
        # SPEC 1: a key is 1..512 bytes of UTF-8, "any characters"; U+0000
        # is one of them.
        key = "nul\x00inside"
        r = self.call("PUT", self.rp(key), {"k": 1})
        self.assertOk(r, 201, {"k": 1})
        self.assertOk(self.call("GET", self.rp(key)), 200, {"k": 1})
        self.assertError(self.call("GET", self.rp("nul")), 404, "NOT_FOUND")
        r = self.call("GET", self.rp() + "?prefix=nul")
        self.assertEqual([x["key"] for x in r.body["rows"]], [key])

    def test_key_length_limit(self):
        for key in ("k" * 512, "é" * 256, "🚀" * 128):
            self.assertEqual(len(key.encode()), 512)
            r = self.call("PUT", self.rp(key), {"n": len(key)})
            self.assertOk(r, 201, {"n": len(key)})
            self.assertOk(self.call("GET", self.rp(key)), 200, {"n": len(key)})
        for key in ("k" * 513, "é" * 256 + "x", "x" + "🚀" * 128):
            self.assertEqual(len(key.encode()), 513)
            self.assertError(self.call("PUT", self.rp(key), {}),
                             400, "BAD_REQUEST")
            self.assertError(self.call("GET", self.rp(key)),
                             400, "BAD_REQUEST")
        self.assertError(self.call("POST", self.rp(), {"id": "p" * 513}),
                         400, "BAD_REQUEST")
        self.assertOk(self.call("POST", self.rp(), {"id": "p" * 512}), 201)

    # -- bodies ------------------------------------------------------------

    def _big(self, nbytes):
        rnd = random.Random(nbytes)
        alphabet = string.ascii_letters + string.digits
        chunk = "".join(rnd.choice(alphabet) for _ in range(4096))
        s = (chunk * (nbytes // 4096 + 1))
        value = {"blob": None, "n": nbytes}
        overhead = len(dumps(value)) - len("null") + 2
        value["blob"] = s[:nbytes - overhead]
        self.assertEqual(len(dumps(value)), nbytes)
        return value

    def test_large_bodies(self):
        for nbytes in (1 << 20, int(3.5 * (1 << 20))):
            value = self._big(nbytes)
            key = "big%d" % nbytes
            if self.MODE == "plain":
                raw = dumps(value).encode()
                r = self.call("PUT", self.rp(key), raw,
                              {"Content-Type": "application/json"})
                self.assertEqual(r.status, 201, r)
                self.assertEqual(r.raw, raw, "PUT answer differs")
                g = self.call("GET", self.rp(key))
                self.assertEqual(g.status, 200)
                self.assertEqual(g.raw, raw, "GET of a %d-byte row is not "
                                 "byte-exact" % nbytes)
            else:
                r = self.call("PUT", self.rp(key), value)
                self.assertOk(r, 201)
                self.assertTrue(r.body == value, "PUT answer differs")
                g = self.call("GET", self.rp(key))
                self.assertEqual(g.status, 200)
                self.assertTrue(g.body == value, "GET of a %d-byte row "
                                "differs" % nbytes)

    def test_put_body_not_object(self):
        for body in ([1, 2], "str", 5, True):
            self.assertError(self.call("PUT", self.rp("nobj"), body),
                             400, "BAD_REQUEST")
        # no body at all
        self.assertError(self.call("PUT", self.rp("nobj")), 400, "BAD_REQUEST")
        self.assertError(self.call("GET", self.rp("nobj")), 404, "NOT_FOUND")

    # -- paths -------------------------------------------------------------

    def test_unknown_path(self):
        for path in ("/nope", "/workspaces", "/workspaces/w",
                     "/workspaces/w/frobs", "/workspaces/w/tables/t/rows/k/x",
                     "/workspaces/w/tables/t/cols"):
            self.assertError(self.call("GET", path), 404, "PATH_NOT_FOUND")

    def test_wrong_method(self):
        cases = [("POST", self.rp("k")), ("PUT", self.rp()),
                 ("PATCH", self.rp()), ("DELETE", self.rp()),
                 ("PUT", "/workspaces/w/tables"),
                 ("POST", "/workspaces/w/tables"),
                 ("DELETE", "/workspaces/w/tables"),
                 ("GET", "/workspaces/w/tables/t"),
                 ("PUT", "/workspaces/w/tables/t")]
        for method, path in cases:
            r = self.call(method, path, {})
            self.assertError(r, 405, "METHOD_NOT_ALLOWED")

    def test_invalid_names(self):
        good = "A" * 64
        self.assertOk(self.call("PUT", rows_path(good, good, self.t), {}), 201)
        for bad in ("bad.name", "a" * 65, qkey("a b"), qkey("ü"), "a%2Fb",
                    "a%00b"):
            self.assertError(self.call("PUT", rows_path(bad, "t", "k"), {}),
                             400, "BAD_REQUEST")
            self.assertError(self.call("PUT", rows_path("w", bad, "k"), {}),
                             400, "BAD_REQUEST")
            self.assertError(self.call("GET", "/workspaces/%s/tables" % bad),
                             400, "BAD_REQUEST")


class PlainRowsTest(RowOpsMixin, unittest.TestCase):
    MODE = "plain"

    def test_invalid_json_body(self):
        for method, path in (("PUT", self.rp("j")), ("POST", self.rp()),
                             ("PATCH", self.rp("j"))):
            for raw in (b"{bad", b'{"a":1', b"", b"\xff\xfe", b'{"a":1}x'):
                if raw == b"" and method == "PATCH":
                    continue
                r = self.call(method, path, raw,
                              {"Content-Type": "application/json"})
                self.assertError(r, 400, "BAD_REQUEST")
        self.assertError(self.call("GET", self.rp("j")), 404, "NOT_FOUND")

    def test_request_ids_are_unique(self):
        ids = set()
        for _ in range(20):
            st, h, b, _ = SRV.v1("GET", "/nope")
            ids.add(b["meta"]["request_id"])
        self.assertEqual(len(ids), 20)

    def test_batch_item_equals_plain_request(self):
        """The same operation answers the same, plain or as a batch item."""
        ws = "eq%d" % self.n
        self.populate({"r%02d" % i: {"i": i} for i in range(30)}, table="t",
                      ws=ws)
        etag = SRV.v1("GET", rows_path(ws, "t", "r01"))[1]["ETag"]
        reads = [
            ("GET", rows_path(ws, "t", "r01"), None, None),
            ("GET", rows_path(ws, "t", "nope"), None, None),
            ("GET", rows_path(ws, "t") + "?prefix=r1&limit=4", None, None),
            ("GET", rows_path(ws, "t") + "?after=r25", None, None),
            ("GET", "/workspaces/%s/tables" % ws, None, None),
            ("GET", rows_path(ws, "t") + "?limit=0", None, None),
            ("GET", rows_path(ws, "nope", "x"), None, None),
            ("GET", "/workspaces/%s/nothing" % ws, None, None),
            ("POST", rows_path(ws, "t", "r01"), {}, None),
            ("PUT", rows_path(ws, "t", "r01"), [1], None),
            ("PUT", rows_path("bad.ws", "t", "r01"), {}, None),
            ("PUT", rows_path(ws, "t", "r01"), {"x": 1}, {"If-Match": '"zz"'}),
            ("PATCH", rows_path(ws, "t", "nope"), {"x": 1}, None),
            ("POST", rows_path(ws, "t"), {"id": "r02"}, None),
            ("GET", rows_path(ws, "t", "r01"), None, {"If-None-Match": etag}),
        ]
        items = []
        for i, (m, p, b, h) in enumerate(reads):
            it = {"id": "q%d" % i, "method": m, "path": p}
            if b is not None:
                it["body"] = b
            if h:
                it["headers"] = h
            items.append(it)
        by_id, _ = SRV.batch_ok(items)
        for i, (m, p, b, h) in enumerate(reads):
            st, hd, body, raw = SRV.v1(m, p, b, h)
            item = by_id["q%d" % i]
            what = "%s %s" % (m, p)
            self.assertEqual(item["status"], st, what)
            self.assertEqual(Headers(item.get("headers", {})).get("ETag"),
                             hd.get("ETag"), what)
            if st >= 400:
                # same error object (the plain one also has meta); a
                # detail may echo the path, given here without /v1
                perr = json.loads(json.dumps(body["error"]).replace(
                    '\\"/v1/', '\\"/'))
                self.assertEqual(item["body"], {"error": perr}, what)
            elif st == 304:
                self.assertEqual(raw, b"")
                self.assertIsNone(item.get("body"), what)
            else:
                self.assertEqual(item["body"], body, what)
        # writes: the same writes to twin keys answer the same
        writes = [("POST", None, {"z": 1}), ("POST", None, {"z": 2}),
                  ("PUT", "k", {"a": [1, {"b": None}]}),
                  ("PATCH", "k", {"a": None, "c": 1}),
                  ("PUT", "k", [1]),
                  ("DELETE", "k", None), ("DELETE", "k", None),
                  ("PATCH", "k", {"c": 2})]
        for m, key, b in writes:
            got = {}
            for via in ("plain", "batch"):
                twin = "twin-" + via
                if m == "POST":
                    p, body = rows_path(ws, "w"), dict(b, id=twin)
                else:
                    p, body = rows_path(ws, "w", twin), b
                if via == "plain":
                    st, hd, rb, raw = SRV.v1(m, p, body)
                else:
                    it = {"id": "w", "method": m, "path": p}
                    if body is not None:
                        it["body"] = body
                    r = SRV.batch_ok([it])[0]["w"]
                    st, hd, rb = r["status"], Headers(r.get("headers", {})), \
                        r.get("body")
                if isinstance(rb, dict):
                    rb = {k: v for k, v in rb.items() if k != "meta"}
                    if rb.get("id") == twin:
                        rb["id"] = "twin"
                loc = hd.get("Location")
                got[via] = (st, rb, "ETag" in hd,
                            loc and loc.replace(twin, "twin"))
            self.assertEqual(got["plain"], got["batch"], "%s %s" % (m, key))


class BatchRowsTest(RowOpsMixin, unittest.TestCase):
    MODE = "batch"


class StoredAsSent(unittest.TestCase):
    """A row is the client's own JSON text, without the whitespace between
    its tokens, whether it came as a plain PUT or inside a batch: numbers
    past 2^64 and fractions keep their digits, escapes stay escapes."""

    SENT = ('{ "n" : 123456789012345678901234567890 ,\n\t"f": 1.50,'
            ' "e": -0.0e+00, "s": "caf\\u00e9 \\" \\/ ok",'
            ' "a" : [ 1 , { } , [ ] , "x y" ] }')
    STORED = ('{"n":123456789012345678901234567890,"f":1.50,'
              '"e":-0.0e+00,"s":"caf\\u00e9 \\" \\/ ok",'
              '"a":[1,{},[],"x y"]}')

    def get_raw(self, key):
        st, _, _, raw = SRV.v1("GET", rows_path("ws-raw", "t", key))
        self.assertEqual(st, 200, raw)
        return raw.decode()

    def test_plain_put(self):
        st, _, _, raw = SRV.v1("PUT", rows_path("ws-raw", "t", "plain"),
                               self.SENT.encode(),
                               {"Content-Type": "application/json"})
        self.assertEqual(st, 201, raw)
        self.assertEqual(raw.decode(), self.STORED)
        self.assertEqual(self.get_raw("plain"), self.STORED)

    def test_batch_put(self):
        body = ('{"requests": [ {"id": "p", "method": "PUT", "url": "%s",'
                ' "body" :  %s  } ] }'
                % (rows_path("ws-raw", "t", "batch"), self.SENT))
        st, _, b, raw = SRV.request("POST", "/v1/$batch", body.encode(),
                                    {"Content-Type": "application/json"})
        self.assertEqual(st, 200, raw)
        self.assertEqual(b["responses"][0]["status"], 201, b)
        # The answer splices the stored text in as it is.
        self.assertIn('"body":' + self.STORED + "}", raw.decode())
        self.assertEqual(self.get_raw("batch"), self.STORED)
        self.assertEqual(b["responses"][0]["body"]["n"],
                         123456789012345678901234567890)
        self.assertEqual(b["responses"][0]["body"]["s"], 'caf\u00e9 " / ok')


if __name__ == "__main__":
    unittest.main()
