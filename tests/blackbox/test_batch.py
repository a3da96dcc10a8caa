"""SPEC section 3.1 / 3.2: POST /v1/$batch - whole-batch failures, item
properties, ordering, dependsOn, stop_on_error, mixed and concurrent
batches."""

import itertools
import threading
import unittest

from harness import (Server, Headers, check_envelope, check_item_error,
                     dumps, qkey, rows_path)
from batch_util import item

SRV = None
_counter = itertools.count()


def setUpModule():
    global SRV
    SRV = Server(workers=2).start()


def tearDownModule():
    global SRV
    if SRV is not None:
        SRV.stop()
        SRV = None


class BatchBase(unittest.TestCase):
    def setUp(self):
        self.n = next(_counter)
        self.ws = "b%d" % self.n

    def rp(self, key=None, table="t"):
        return rows_path(self.ws, table, key)

    def bad_batch(self, body, status=400, code="BAD_REQUEST", detail_has=()):
        r = SRV.request("POST", "/v1/$batch", body)
        err = check_envelope(self, r, status, code)
        for s in detail_has:
            self.assertIn(s, err.get("detail", ""),
                          "detail should name %r: %r" % (s, err))
        return err

    def get(self, key, table="t"):
        return SRV.v1("GET", self.rp(key, table))


class WholeBatchFailureTest(BatchBase):
    """SPEC 3.2: every rule that fails the whole batch, and that nothing of
    a refused batch runs."""

    def test_invalid_json(self):
        for raw in ("{", '{"requests": [}', "requests", '{"requests": []} x',
                    b"\xff\xfe\x00", ""):
            self.bad_batch(raw)

    def test_not_an_object(self):
        for body in ([], [{"id": "1", "path": "/x"}], "42", '"s"', "null",
                     "true"):
            self.bad_batch(body)

    def test_no_requests_array(self):
        self.bad_batch({})
        self.bad_batch({"request": []})
        self.bad_batch({"ordered": True})

    def test_requests_not_an_array(self):
        for v in ({}, "x", None, 3, {"0": {"id": "a", "path": "/x"}}):
            self.bad_batch({"requests": v})

    def test_item_not_an_object(self):
        ok = item("a", self.rp("k"))
        for bad in (1, "x", None, [], [ok]):
            self.bad_batch({"requests": [ok, bad]}, detail_has=["requests[1]"])

    def test_missing_id(self):
        self.bad_batch({"requests": [item("a", self.rp("k")),
                                     {"path": self.rp("k")}]},
                       detail_has=["requests[1]"])

    def test_id_not_a_string(self):
        for bad in (1, None, [], {}, True):
            self.bad_batch({"requests": [{"id": bad, "path": self.rp("k")}]},
                           detail_has=["requests[0]"])

    def test_missing_path_and_url(self):
        self.bad_batch({"requests": [{"id": "a", "method": "GET"}]},
                       detail_has=["requests[0]"])

    def test_path_or_url_not_a_string(self):
        for prop in ("path", "url"):
            for bad in (5, None, ["/x"], {}):
                self.bad_batch({"requests": [
                    item("ok", self.rp("k")), {"id": "a", prop: bad}]},
                    detail_has=["requests[1]"])

    def test_unknown_method(self):
        for bad in ("FOO", "HEAD", "OPTIONS", "", 1, None):
            self.bad_batch({"requests": [
                {"id": "a", "method": bad, "path": self.rp("k")}]},
                detail_has=["requests[0]"])

    def test_other_wrong_types(self):
        for prop, bad in (("headers", 5), ("headers", {"If-Match": 1}),
                          ("dependsOn", "x"), ("dependsOn", [1]),
                          ("workspace", 1)):
            self.bad_batch({"requests": [
                {"id": "a", "path": "/tables/t/rows/k", "workspace": "w",
                 prop: bad}]}, detail_has=["requests[0]"])
        for prop in ("ordered", "stop_on_error"):
            self.bad_batch({"requests": [], prop: "yes"})

    def test_duplicate_ids(self):
        err = self.bad_batch({"requests": [
            item("a", self.rp("1")), item("dup", self.rp("2")),
            item("b", self.rp("3")), item("dup", self.rp("4"))]})
        d = err.get("detail", "")
        self.assertTrue("requests[3]" in d or '"dup"' in d or "dup" in d,
                        "detail does not name the item: %r" % d)

    def test_depends_on_unknown_id(self):
        self.bad_batch({"requests": [
            item("a", self.rp("k")),
            item("b", self.rp("k"), dependsOn=["a", "zzz"])]})

    def test_depends_on_cycle(self):
        cycles = [
            [item("a", self.rp("k"), dependsOn=["a"])],
            [item("a", self.rp("k"), dependsOn=["b"]),
             item("b", self.rp("k"), dependsOn=["a"])],
            [item("x", self.rp("k")),
             item("a", self.rp("k"), dependsOn=["x", "c"]),
             item("b", self.rp("k"), dependsOn=["a"]),
             item("c", self.rp("k"), dependsOn=["b"])],
        ]
        for reqs in cycles:
            self.bad_batch({"requests": reqs})

    def test_refused_batch_runs_nothing(self):
        reqs = [item("w", self.rp("never"), "PUT", {"a": 1}),
                item("w2", self.rp("never2"), "PUT", {"a": 1}),
                item("bad", self.rp("k"), dependsOn=["nope"])]
        self.bad_batch({"requests": reqs})
        reqs = [item("w", self.rp("never"), "PUT", {"a": 1}),
                {"id": "w", "path": self.rp("x")}]
        self.bad_batch({"requests": reqs})
        self.assertEqual(self.get("never")[0], 404)
        self.assertEqual(self.get("never2")[0], 404)

    def test_empty_requests(self):
        st, h, body, raw = SRV.request("POST", "/v1/$batch", {"requests": []})
        self.assertEqual(st, 200, raw)
        self.assertEqual(body, {"responses": []})

    def test_batch_wrong_method(self):
        r = SRV.request("GET", "/v1/$batch")
        check_envelope(self, r, 405, "METHOD_NOT_ALLOWED")


class LimitsTest(unittest.TestCase):
    """max_batch_items and max_body_bytes, on their own server."""

    @classmethod
    def setUpClass(cls):
        # given as command-line flags, which override the config file
        cls.srv = Server(workers=2, extra_args=["--max-batch-items", "5",
                                                "--max-body-bytes=65536"])
        cls.srv.start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_max_batch_items(self):
        s = self.srv
        reqs = [item(str(i), rows_path("lim", "t", "k%d" % i), "PUT", {"i": i})
                for i in range(6)]
        r = s.batch(reqs)
        check_envelope(self, r, 400, "BATCH_TOO_LARGE")
        self.assertEqual(s.v1("GET", rows_path("lim", "t", "k0"))[0], 404)
        by_id, resps = s.batch_ok(reqs[:5])
        self.assertEqual(len(resps), 5)
        self.assertTrue(all(r["status"] == 201 for r in resps), resps)

    def test_max_body_bytes(self):
        s = self.srv
        big = {"requests": [item("a", rows_path("lim", "t", "big"), "PUT",
                                 {"x": "y" * 100000})]}
        r = s.request("POST", "/v1/$batch", big)
        self.assertGreater(len(dumps(big)), 100000)
        check_envelope(self, r, 413, "PAYLOAD_TOO_LARGE")

    def test_max_body_bytes_plain_put(self):
        s = self.srv
        r = s.v1("PUT", rows_path("lim", "t", "bigplain"), {"x": "y" * 100000})
        check_envelope(self, r, 413, "PAYLOAD_TOO_LARGE")

    def test_server_answers_after_too_large(self):
        s = self.srv
        for _ in range(3):
            try:
                s.request("POST", "/v1/$batch", "z" * 100000)
            except OSError:
                pass
        by_id, _ = s.batch_ok([item("a", rows_path("lim", "t2", "after"),
                                    "PUT", {"ok": True})])
        self.assertEqual(by_id["a"]["status"], 201, by_id)
        st, _, body, _ = s.v1("GET", rows_path("lim", "t2", "after"))
        self.assertEqual((st, body), (200, {"ok": True}))
        # a body just under the limit is accepted
        under = {"requests": [item("u", rows_path("lim", "t2", "under"), "PUT",
                                   {"x": "y" * 60000})]}
        self.assertLess(len(dumps(under)), 65536)
        by_id, _ = s.batch_ok(under["requests"])
        self.assertEqual(by_id["u"]["status"], 201)


class BatchSemanticsTest(BatchBase):

    def test_nested_batch_items(self):
        self.assertEqual(SRV.v1("PUT", self.rp("pre"), {"p": 1})[0], 201)
        reqs = [item("n1", "/$batch", "POST", {"requests": []}),
                item("n2", "/batches", "POST", {"requests": []}),
                item("n3", "/v1/$batch", "POST", {"requests": []}),
                item("n4", "/v1/batches", "POST", {"requests": []}),
                {"id": "n5", "method": "POST", "url": "/v1/$batch",
                 "body": {"requests": []}},
                item("ok1", self.rp("x"), "PUT", {"v": 1}),
                item("ok2", self.rp("pre"))]
        by_id, resps = SRV.batch_ok(reqs)
        self.assertEqual(len(resps), len(reqs))
        for n in ("n1", "n2", "n3", "n4", "n5"):
            check_item_error(self, by_id[n], 400, "NESTED_BATCH_NOT_ALLOWED")
        self.assertEqual(by_id["ok1"]["status"], 201)
        self.assertEqual(by_id["ok1"]["body"], {"v": 1})
        self.assertEqual(by_id["ok2"]["status"], 200)
        self.assertEqual(by_id["ok2"]["body"], {"p": 1})
        self.assertEqual(self.get("x")[2], {"v": 1})

    def test_ordered(self):
        self.assertEqual(SRV.v1("PUT", self.rp("r"), {"v": 0})[0], 201)
        ids = ["%02d-%s" % (i, "xyz"[i % 3]) for i in range(40)]
        ids.reverse()
        reqs = []
        for i, id_ in enumerate(ids):
            if i % 4 == 0:
                reqs.append(item(id_, self.rp("w%d" % i), "PUT", {"i": i}))
            elif i % 4 == 1:
                reqs.append(item(id_, self.rp("r")))
            elif i % 4 == 2:
                reqs.append(item(id_, self.rp("missing%d" % i)))
            else:
                reqs.append(item(id_, self.rp() + "?limit=2"))
        for rnd in range(3):
            _, resps = SRV.batch_ok(reqs, ordered=True)
            self.assertEqual([r["id"] for r in resps], ids)
            put = 201 if rnd == 0 else 200      # later rounds replace
            for i, r in enumerate(resps):
                self.assertEqual(r["status"], [put, 200, 404, 200][i % 4], r)
                if i % 4 == 1:
                    self.assertEqual(r["body"], {"v": 0})

    def test_ordered_runs_one_item_after_another(self):
        """SPEC 3.1: with ordered, each item starts when the one before
        it has finished, so every read sees the write just before it."""
        reqs = []
        for i in range(20):
            reqs.append(item("w%d" % i, self.rp("seq"), "PUT", {"v": i}))
            reqs.append(item("r%d" % i, self.rp("seq")))
        by_id, resps = SRV.batch_ok(reqs, ordered=True)
        self.assertEqual([r["id"] for r in resps], [r["id"] for r in reqs])
        for i in range(20):
            self.assertEqual(by_id["r%d" % i]["body"], {"v": i},
                             "read %d did not see the write before it" % i)

    def test_default_order_answers_every_id_once(self):
        reqs = [item("i%d" % i, self.rp("k%d" % i), "PUT", {"i": i})
                for i in range(50)]
        by_id, resps = SRV.batch_ok(reqs)
        self.assertEqual(len(resps), 50)
        self.assertEqual(sorted(r["id"] for r in resps),
                         sorted("i%d" % i for i in range(50)))
        for i in range(50):
            r = by_id["i%d" % i]
            self.assertEqual(r["status"], 201, r)
            self.assertEqual(r["body"], {"i": i})
            self.assertIn("ETag", r["headers"])
        # ordered: false explicitly is the same
        reqs = [item("g%d" % i, self.rp("k%d" % i)) for i in range(50)]
        by_id, resps = SRV.batch_ok(reqs, ordered=False)
        self.assertEqual(len(resps), 50)
        for i in range(50):
            self.assertEqual(by_id["g%d" % i]["body"], {"i": i})

    def test_depends_on_chain(self):
        # PUT then GET of the same key sees the write
        by_id, _ = SRV.batch_ok([
            item("get", self.rp("c"), dependsOn=["put"]),
            item("put", self.rp("c"), "PUT", {"v": 1})])
        self.assertEqual(by_id["put"]["status"], 201)
        self.assertEqual(by_id["get"]["status"], 200, by_id)
        self.assertEqual(by_id["get"]["body"], {"v": 1})
        self.assertEqual(Headers(by_id["get"]["headers"]).get("ETag"),
                         Headers(by_id["put"]["headers"]).get("ETag"))
        # a chain of 20 writes, each on the previous: last one wins
        reqs = [item("s0", self.rp("chain"), "PUT", {"step": 0})]
        for i in range(1, 20):
            reqs.append(item("s%d" % i, self.rp("chain"), "PATCH",
                             {"step": i, "f%d" % i: i}, dependsOn=["s%d" % (i - 1)]))
        reqs.append(item("end", self.rp("chain"), dependsOn=["s19"]))
        reqs.reverse()
        by_id, _ = SRV.batch_ok(reqs)
        want = {"step": 19}
        want.update({"f%d" % i: i for i in range(1, 20)})
        self.assertEqual(by_id["end"]["status"], 200)
        self.assertEqual(by_id["end"]["body"], want)
        for i in range(1, 20):
            self.assertEqual(by_id["s%d" % i]["status"], 200)
        # fan-in: one item after several
        by_id, _ = SRV.batch_ok([
            item("a", self.rp("fa"), "PUT", {"a": 1}),
            item("b", self.rp("fb"), "PUT", {"b": 1}),
            item("scan", self.rp() + "?prefix=f", dependsOn=["a", "b"])])
        self.assertEqual([r["key"] for r in by_id["scan"]["body"]["rows"]],
                         ["fa", "fb"])

    def test_failed_dependency(self):
        by_id, resps = SRV.batch_ok([
            item("miss", self.rp("nope")),                       # 404
            item("d1", self.rp("w1"), "PUT", {"a": 1}, dependsOn=["miss"]),
            item("d2", self.rp("w2"), "PUT", {"a": 1}, dependsOn=["d1"]),
            item("d3", self.rp("w3"), "PUT", {"a": 1}, dependsOn=["ok", "d2"]),
            item("ok", self.rp("w4"), "PUT", {"a": 1}),
            item("after_ok", self.rp("w4"), dependsOn=["ok"])], ordered=True)
        self.assertEqual([r["id"] for r in resps],
                         ["miss", "d1", "d2", "d3", "ok", "after_ok"])
        check_item_error(self, by_id["miss"], 404, "NOT_FOUND")
        for d in ("d1", "d2", "d3"):
            check_item_error(self, by_id[d], 424, "FAILED_DEPENDENCY")
        self.assertEqual(by_id["ok"]["status"], 201)
        self.assertEqual(by_id["after_ok"]["status"], 200)
        for k in ("w1", "w2", "w3"):
            self.assertEqual(self.get(k)[0], 404, "%s was written" % k)
        # a 4xx of any kind fails the dependents (here 400 and 412)
        by_id, _ = SRV.batch_ok([
            item("bad", self.rp("b"), "PUT", [1]),
            item("pre", self.rp("w4"), "PUT", {"a": 2},
                 headers={"If-Match": '"stale"'}),
            item("x", self.rp("x1"), "PUT", {}, dependsOn=["bad"]),
            item("y", self.rp("x2"), "PUT", {}, dependsOn=["pre"])])
        check_item_error(self, by_id["bad"], 400, "BAD_REQUEST")
        check_item_error(self, by_id["pre"], 412, "PRECONDITION_FAILED")
        check_item_error(self, by_id["x"], 424, "FAILED_DEPENDENCY")
        check_item_error(self, by_id["y"], 424, "FAILED_DEPENDENCY")

    def test_workspace_relative_path(self):
        by_id, _ = SRV.batch_ok([
            {"id": "p", "method": "PUT", "workspace": self.ws,
             "path": "/tables/t/rows/rel", "body": {"r": 1}},
            {"id": "g", "workspace": self.ws, "path": "/tables/t/rows/rel",
             "dependsOn": ["p"]},
            {"id": "l", "workspace": self.ws, "path": "/tables",
             "dependsOn": ["p"]},
            {"id": "s", "workspace": self.ws, "path": "/tables/t/rows?limit=5",
             "dependsOn": ["p"]},
            {"id": "u", "workspace": self.ws, "url": "/tables/t/rows/rel",
             "dependsOn": ["p"]},
            {"id": "bad", "workspace": "bad.ws", "path": "/tables/t/rows/rel"}])
        self.assertEqual(by_id["p"]["status"], 201)
        self.assertEqual(by_id["g"]["body"], {"r": 1})
        self.assertEqual(by_id["u"]["body"], {"r": 1})
        self.assertEqual(by_id["l"]["body"], {"tables": [{"name": "t", "rows": 1}]})
        self.assertEqual([r["key"] for r in by_id["s"]["body"]["rows"]], ["rel"])
        check_item_error(self, by_id["bad"], 400, "BAD_REQUEST")
        st, _, body, _ = self.get("rel")
        self.assertEqual((st, body), (200, {"r": 1}))

    def test_url_with_and_without_v1(self):
        SRV.v1("PUT", self.rp("u"), {"u": 1})
        by_id, _ = SRV.batch_ok([
            {"id": "a", "url": "/v1" + self.rp("u")},
            {"id": "b", "url": self.rp("u")},
            {"id": "c", "path": "/v1" + self.rp("u")},
            {"id": "d", "path": self.rp("u")},
            {"id": "e", "method": "PUT", "url": "/v1" + self.rp("u2"),
             "body": {"u": 2}},
            {"id": "f", "url": "/v1" + self.rp() + "?prefix=u&limit=1"},
            {"id": "g", "url": "/v2" + self.rp("u")}])
        for i in "abcd":
            self.assertEqual(by_id[i]["status"], 200, by_id[i])
            self.assertEqual(by_id[i]["body"], {"u": 1})
        self.assertEqual(by_id["e"]["status"], 201)
        self.assertEqual(by_id["f"]["status"], 200)
        self.assertEqual(len(by_id["f"]["body"]["rows"]), 1)
        check_item_error(self, by_id["g"], 404, "PATH_NOT_FOUND")
        self.assertEqual(self.get("u2")[2], {"u": 2})

    def test_method_default_and_case(self):
        SRV.v1("PUT", self.rp("m"), {"m": 1})
        by_id, _ = SRV.batch_ok([{"id": "a", "path": self.rp("m")}])
        self.assertEqual((by_id["a"]["status"], by_id["a"]["body"]),
                         (200, {"m": 1}))

    def test_item_headers_honoured(self):
        st, h, _, _ = SRV.v1("PUT", self.rp("h"), {"v": 1})
        etag = h["ETag"]
        by_id, _ = SRV.batch_ok([
            item("stale", self.rp("h"), "PUT", {"v": 2},
                 headers={"If-Match": '"not-it"'}),
            item("nm", self.rp("h"), "PUT", {"v": 3},
                 headers={"If-None-Match": "*"}),
            item("cond304", self.rp("h"), headers={"If-None-Match": etag})],
            ordered=True)
        check_item_error(self, by_id["stale"], 412, "PRECONDITION_FAILED")
        check_item_error(self, by_id["nm"], 412, "PRECONDITION_FAILED")
        self.assertEqual(by_id["cond304"]["status"], 304)
        self.assertIsNone(by_id["cond304"].get("body"))
        self.assertEqual(self.get("h")[2], {"v": 1})
        by_id, _ = SRV.batch_ok([
            item("match", self.rp("h"), "PUT", {"v": 4},
                 headers={"If-Match": etag, "Content-Type": "application/json"}),
            item("after", self.rp("h"), dependsOn=["match"],
                 headers={"If-None-Match": etag})])
        self.assertEqual(by_id["match"]["status"], 200, by_id)
        self.assertEqual(by_id["match"]["body"], {"v": 4})
        self.assertEqual(by_id["after"]["status"], 200)
        self.assertEqual(by_id["after"]["body"], {"v": 4})
        # a header name is case-insensitive
        new = Headers(by_id["match"]["headers"])["ETag"]
        by_id, _ = SRV.batch_ok([item("lc", self.rp("h"), "DELETE",
                                      headers={"if-match": '"nope"'})])
        check_item_error(self, by_id["lc"], 412, "PRECONDITION_FAILED")
        by_id, _ = SRV.batch_ok([item("lc", self.rp("h"), "DELETE",
                                      headers={"if-match": new})])
        self.assertEqual(by_id["lc"]["status"], 204)

    def test_get_body_ignored(self):
        SRV.v1("PUT", self.rp("g"), {"g": 1})
        by_id, _ = SRV.batch_ok([
            item("a", self.rp("g"), "GET", "not an object"),
            item("b", self.rp("g"), "GET", {"x": 1}),
            item("c", self.rp("g"), "GET", [1, 2]),
            item("d", self.rp() + "?limit=5", "GET", 17),
            item("e", "/workspaces/%s/tables" % self.ws, "GET", None)])
        for i in "abc":
            self.assertEqual((by_id[i]["status"], by_id[i]["body"]),
                             (200, {"g": 1}), by_id[i])
        self.assertEqual(by_id["d"]["status"], 200)
        self.assertEqual(by_id["e"]["status"], 200)

    def _stop_on_error(self, n, fail_at):
        """n items, the one at fail_at (0-based) fails; the others PUT."""
        reqs = []
        for i in range(n):
            if i == fail_at:
                reqs.append(item("i%d" % i, self.rp("missing")))
            else:
                reqs.append(item("i%d" % i, self.rp("s%d_%d" % (fail_at, i)),
                                 "PUT", {"i": i}))
        _, resps = SRV.batch_ok(reqs, stop_on_error=True)
        self.assertEqual([r["id"] for r in resps],
                         ["i%d" % i for i in range(fail_at + 1)])
        for i, r in enumerate(resps[:-1]):
            self.assertEqual(r["status"], 201, r)
        check_item_error(self, resps[-1], 404, "NOT_FOUND")
        for i in range(n):
            if i == fail_at:
                continue
            st = self.get("s%d_%d" % (fail_at, i))[0]
            self.assertEqual(st, 200 if i < fail_at else 404,
                             "item %d of stop_on_error batch (fail at %d)"
                             % (i, fail_at))

    def test_stop_on_error_first(self):
        self._stop_on_error(6, 0)

    def test_stop_on_error_middle(self):
        self._stop_on_error(7, 3)

    def test_stop_on_error_last(self):
        self._stop_on_error(5, 4)

    def test_stop_on_error_runs_in_order(self):
        # each item sees the previous one's write, without dependsOn
        reqs = [item("p", self.rp("seq"), "PUT", {"n": 0})]
        for i in range(1, 10):
            reqs.append(item("q%d" % i, self.rp("seq"), "PATCH", {"n": i}))
        reqs.append(item("g", self.rp("seq")))
        _, resps = SRV.batch_ok(reqs, stop_on_error=True)
        self.assertEqual([r["id"] for r in resps], [r["id"] for r in reqs])
        self.assertEqual(resps[-1]["body"], {"n": 9})
        # all succeed: everything answered in request order
        _, resps = SRV.batch_ok(reqs[::-1][:5], stop_on_error=True,
                                ordered=False)
        self.assertEqual([r["id"] for r in resps],
                         [r["id"] for r in reqs[::-1][:5]])

    def test_mixed_batch_of_100(self):
        pre = {"m%02d" % i: {"i": i, "name": "row %d" % i} for i in range(50)}
        items = [item(str(i), self.rp(k), "PUT", v)
                 for i, (k, v) in enumerate(pre.items())]
        by_id, _ = SRV.batch_ok(items)
        etags = {k: Headers(by_id[str(i)]["headers"])["ETag"]
                 for i, k in enumerate(pre)}
        reqs, checks = [], {}

        def add(it, check):
            reqs.append(it)
            checks[it["id"]] = check

        def ok(status, body=None):
            def c(r):
                self.assertEqual(r["status"], status, r)
                if body is not None:
                    self.assertEqual(r.get("body"), body, r)
            return c

        def err(status, code):
            return lambda r: check_item_error(self, r, status, code)

        for i in range(20):                           # 20 new rows
            add(item("put%d" % i, self.rp("new%02d" % i), "PUT", {"n": i}),
                ok(201, {"n": i}))
        for i in range(20):                           # 20 reads
            k = "m%02d" % i

            def c(r, k=k):
                ok(200, pre[k])(r)
                self.assertEqual(Headers(r["headers"])["ETag"], etags[k])
            add(item("get%d" % i, self.rp(k)), c)
        for i in range(20, 30):                       # 10 deletes
            add(item("del%d" % i, self.rp("m%02d" % i), "DELETE"), ok(204))
        for i in range(30, 40):                       # 10 replaces
            add(item("rep%d" % i, self.rp("m%02d" % i), "PUT", {"r": i}),
                ok(200, {"r": i}))
        for i in range(40, 50):                       # 10 merge patches
            add(item("patch%d" % i, self.rp("m%02d" % i), "PATCH",
                     {"name": None, "p": [i]}), ok(200, {"i": i, "p": [i]}))
        for i in range(10):                           # 10 scans of rows
            lo = 5 + i                     # reads m06..m17: nobody writes
            want = ["m%02d" % j for j in range(0, 20)
                    if ("m%02d" % j).encode() > ("m%02d" % lo).encode()][:3]

            def c(r, want=want):
                ok(200)(r)
                self.assertEqual([x["key"] for x in r["body"]["rows"]], want)
                self.assertEqual([x["value"] for x in r["body"]["rows"]],
                                 [pre[k] for k in want])
            add(item("scan%d" % i, self.rp() + "?prefix=m&limit=3&after=m%02d"
                     % lo), c)
        errors = [
            (item("e404", self.rp("absent")), err(404, "NOT_FOUND")),
            (item("e404t", self.rp("x", table="absent")), err(404, "NOT_FOUND")),
            (item("epath", "/nothing/here"), err(404, "PATH_NOT_FOUND")),
            (item("emeth", self.rp("m00"), "POST", {}),
             err(405, "METHOD_NOT_ALLOWED")),
            (item("ebody", self.rp("eb"), "PUT", "str"), err(400, "BAD_REQUEST")),
            (item("elimit", self.rp() + "?limit=0"), err(400, "BAD_REQUEST")),
            (item("econf", self.rp(), "POST", {"id": "m01"}),
             err(409, "CONFLICT")),
            (item("epre", self.rp("m02"), "PATCH", {"z": 1},
                  headers={"If-Match": '"stale"'}),
             err(412, "PRECONDITION_FAILED")),
            (item("ename", rows_path("bad.ws", "t", "k")),
             err(400, "BAD_REQUEST")),
            (item("enest", "/$batch", "POST", {"requests": []}),
             err(400, "NESTED_BATCH_NOT_ALLOWED")),
            (item("edep", self.rp("dd"), "PUT", {}, dependsOn=["e404"]),
             err(424, "FAILED_DEPENDENCY")),
            (item("epatch", self.rp("absent2"), "PATCH", {"a": 1}),
             err(404, "NOT_FOUND")),
        ]
        for it, c in errors:
            add(it, c)
        post_keys = []
        for i in range(8):
            def c(r, i=i):
                ok(201, {"gen": i})(r)
                loc = Headers(r["headers"]).get("Location")
                self.assertTrue(loc)
                post_keys.append(loc)
            add(item("post%d" % i, self.rp(), "POST", {"gen": i}), c)
        self.assertEqual(len(reqs), 100)
        by_id, resps = SRV.batch_ok(reqs)
        self.assertEqual(len(resps), 100)
        self.assertEqual(set(by_id), set(checks))
        for id_, c in checks.items():
            with self.subTest(item=id_):
                c(by_id[id_])
        # and the store agrees
        self.assertEqual(len(set(post_keys)), 8)
        for loc in post_keys:
            self.assertEqual(SRV.request("GET", loc)[0], 200)
        for i in range(20):
            self.assertEqual(self.get("new%02d" % i)[2], {"n": i})
        for i in range(20, 30):
            self.assertEqual(self.get("m%02d" % i)[0], 404)
        for i in range(30, 40):
            self.assertEqual(self.get("m%02d" % i)[2], {"r": i})
        for i in range(40, 50):
            self.assertEqual(self.get("m%02d" % i)[2], {"i": i, "p": [i]})
        self.assertEqual(self.get("m02")[2], pre["m02"])
        self.assertEqual(self.get("dd")[0], 404)
        st, _, body, _ = SRV.v1("GET", "/workspaces/%s/tables" % self.ws)
        self.assertEqual(body, {"tables": [{"name": "t",
                                            "rows": 50 - 10 + 20 + 8}]})

    def test_concurrent_clients(self):
        threads, nbatch, nitems = 8, 20, 20
        errors = []
        ws = self.ws

        def client(t):
            try:
                prev = None
                for b in range(nbatch):
                    reqs = []
                    for i in range(nitems - 1):
                        key = "c%d_%02d_%02d" % (t, b, i)
                        reqs.append(item("p%d" % i, rows_path(ws, "c", key),
                                         "PUT", {"t": t, "b": b, "i": i}))
                    if prev is not None:      # read back the last batch
                        reqs.append(item("g", rows_path(ws, "c", prev)))
                    else:
                        reqs.append(item("g", rows_path(ws, "c", "none")))
                    by_id, resps = SRV.batch_ok(reqs, ordered=(b % 2 == 0))
                    if len(resps) != nitems:
                        errors.append("t%d b%d: %d answers" % (t, b, len(resps)))
                    if b % 2 == 0 and [r["id"] for r in resps] != \
                            [r["id"] for r in reqs]:
                        errors.append("t%d b%d: not ordered" % (t, b))
                    for i in range(nitems - 1):
                        r = by_id.get("p%d" % i)
                        if not r or r["status"] != 201 or \
                                r["body"] != {"t": t, "b": b, "i": i}:
                            errors.append("t%d b%d p%d: %r" % (t, b, i, r))
                    g = by_id.get("g")
                    if prev is None:
                        if not g or g["status"] != 404:
                            errors.append("t%d b%d g: %r" % (t, b, g))
                    elif not g or g["status"] != 200 or \
                            g["body"] != {"t": t, "b": b - 1, "i": nitems - 2}:
                        errors.append("t%d b%d g: %r" % (t, b, g))
                    prev = "c%d_%02d_%02d" % (t, b, nitems - 2)
            except Exception as e:           # noqa: BLE001 - reported below
                errors.append("t%d: %r" % (t, e))

        ts = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
        for th in ts:
            th.start()
        for th in ts:
            th.join(120)
        self.assertFalse(any(th.is_alive() for th in ts), "a client hung")
        self.assertEqual(errors, [])
        # every write is visible afterwards, exactly once, in key order
        keys, after = [], None
        while True:
            q = "?limit=1000" + ("&after=" + qkey(after) if after else "")
            st, _, body, _ = SRV.v1("GET", rows_path(ws, "c") + q)
            self.assertEqual(st, 200)
            for r in body["rows"]:
                t, b, i = (int(x) for x in r["key"][1:].split("_"))
                self.assertEqual(r["value"], {"t": t, "b": b, "i": i})
                keys.append(r["key"])
            after = body["next"]
            if after is None:
                break
        want = sorted("c%d_%02d_%02d" % (t, b, i) for t in range(threads)
                      for b in range(nbatch) for i in range(nitems - 1))
        self.assertEqual(keys, want)


if __name__ == "__main__":
    unittest.main()
