"""SPEC 5, query request options as Log Analytics has them (body
"workspaces", the Prefer header on plain requests and batch items), the
PartialError of a cut result, the Azure shape of errors (SPEC 4), and
relative item URLs (SPEC 3.1)."""

import http.client
import json
import unittest

from harness import Server, check_envelope, check_item_error, rows_path

TOKEN = "s3cret-qo"
AUTH = {"Authorization": "Bearer " + TOKEN}


class QueryOptionsTest(unittest.TestCase):
    """A token for ws1 and ws2 only; 4 workers, a 300 ms item timeout that
    Prefer: wait may raise up to 2.5 s; answers cut at 5 rows; scans
    stopped past 60 rows."""

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(workers=4, debug_ops=True, item_timeout_ms=300,
                         item_timeout_max_ms=2500, query_max_result_rows=5,
                         query_max_rows_scanned=60, query_max_workspaces=1000,
                         token="%s ws1,ws2" % TOKEN)
        cls.srv.start()
        # Ev: 3 rows in ws1, 2 in ws2; Only: in ws2 alone; Big: 30 rows
        # and Huge: 61 rows (more than a scan may read), in ws1.
        reqs = []
        for ws, n in (("ws1", 3), ("ws2", 2)):
            for i in range(n):
                reqs.append({"id": "%s-%d" % (ws, i), "method": "PUT",
                             "url": rows_path(ws, "Ev", "k%d" % i),
                             "body": {"ws": ws, "i": i}})
        reqs.append({"id": "only", "method": "PUT",
                     "url": rows_path("ws2", "Only", "k"), "body": {"x": 1}})
        cls.batch_ok_auth(reqs)
        cls.batch_ok_auth([{"id": "b%d" % i, "method": "PUT",
                            "url": rows_path("ws1", "Big", "k%02d" % i),
                            "body": {"i": i}} for i in range(30)])
        cls.batch_ok_auth([{"id": "h%d" % i, "method": "PUT",
                            "url": rows_path("ws1", "Huge", "k%02d" % i),
                            "body": {"i": i}} for i in range(61)])

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    @classmethod
    def batch_ok_auth(cls, reqs):
        st, _, body, raw = cls.srv.request("POST", "/v1/$batch",
                                           {"requests": reqs}, AUTH)
        assert st == 200, raw[:300]
        by_id = {r["id"]: r for r in body["responses"]}
        for r in body["responses"]:
            assert r["status"] < 300, r
        return by_id

    def query(self, ws, q, headers=None, **extra):
        body = {"query": q}
        body.update(extra)
        h = dict(AUTH)
        h.update(headers or {})
        return self.srv.v1("POST", "/workspaces/%s/query" % ws, body, h)

    def count(self, resp):
        st, _, body, raw = resp
        self.assertEqual(st, 200, raw[:300])
        return body["tables"][0]["rows"][0][0]

    # ------------------------------------------------------- workspaces

    def test_workspaces_union(self):
        self.assertEqual(self.count(self.query("ws1", "Ev | count")), 3)
        self.assertEqual(self.count(self.query(
            "ws1", "Ev | count", workspaces=["ws2"])), 5)
        # 0 entries, null (the SDKs send it), duplicates, itself
        self.assertEqual(self.count(self.query(
            "ws1", "Ev | count", workspaces=[])), 3)
        self.assertEqual(self.count(self.query(
            "ws1", "Ev | count", workspaces=None)), 3)
        self.assertEqual(self.count(self.query(
            "ws1", "Ev | count", workspaces=["ws2", "ws2", "ws1"])), 5)
        # 1,000 entries (query_max_workspaces here), each read once
        self.assertEqual(self.count(self.query(
            "ws1", "Ev | count", workspaces=["ws2"] * 1000)), 5)
        # rows of both, in workspace order
        st, _, body, _ = self.query("ws2", "Ev | project ws, i",
                                    workspaces=["ws1"])
        self.assertEqual(body["tables"][0]["rows"],
                         [["ws2", 0], ["ws2", 1], ["ws1", 0], ["ws1", 1],
                          ["ws1", 2]])
        # a table in one of them only; in none: 404
        self.assertEqual(self.count(self.query(
            "ws1", "Only | count", workspaces=["ws2"])), 1)
        check_envelope(self, self.query("ws1", "Only | count"), 404,
                       "NOT_FOUND")
        check_envelope(self, self.query("ws1", "Nope | count",
                                        workspaces=["ws2"]), 404, "NOT_FOUND")

    def test_workspaces_refused(self):
        # outside the token: 403, naming it
        err = check_envelope(self, self.query(
            "ws1", "Ev | count", workspaces=["ws2", "ws3"]), 403, "FORBIDDEN")
        self.assertIn('"ws3"', err["detail"])
        # 1,001: over query_max_workspaces
        err = check_envelope(self, self.query(
            "ws1", "Ev | count", workspaces=["ws2"] * 1001), 400,
            "BAD_REQUEST")
        self.assertIn("query_max_workspaces", err["detail"])
        for bad in ("ws2", [1], ["bad name"], [""], ["x" * 65], {"a": 1}):
            check_envelope(self, self.query("ws1", "Ev | count",
                                            workspaces=bad), 400,
                           "BAD_REQUEST")
        # in a batch: that item 403, the others run
        st, _, body, _ = self.srv.request("POST", "/v1/$batch", {"requests": [
            {"id": "a", "method": "POST", "workspace": "ws1", "path": "/query",
             "body": {"query": "Ev | count", "workspaces": ["ws3"]}},
            {"id": "b", "method": "POST", "workspace": "ws1", "path": "/query",
             "body": {"query": "Ev | count", "workspaces": ["ws2"]}}]}, AUTH)
        self.assertEqual(st, 200)
        by_id = {r["id"]: r for r in body["responses"]}
        check_item_error(self, by_id["a"], 403, "FORBIDDEN")
        self.assertEqual(by_id["b"]["body"]["tables"][0]["rows"], [[5]])

    # ------------------------------------------------------------ Prefer

    def sleep(self, ms, tag, prefer=None):
        h = dict(AUTH)
        if prefer is not None:
            h["Prefer"] = prefer
        return self.srv.request("POST", "/debug/sleep",
                                {"ms": ms, "tag": tag}, h)

    def test_wait_plain(self):
        # each a different item (tag): a 504 would quarantine a repeat
        cases = [(800, "wait=2", 200), (800, None, 504),
                 (800, "wait=0", 504), (800, "wait=-1", 504),
                 (800, "wait=1.5", 504), (800, "Wait = 2 ; x=y", 200),
                 (1500, "wait=99999999999999999999999", 200),
                 (3000, "wait=99999999999999999999999", 504),
                 (800, "wait=2, wait=0", 200), (800, "wait=abc, wait=2", 504),
                 (800, "=x;;, foo=bar, wait=2", 200),
                 (800, "respond-async, include-statistics=true, wait=2", 200)]
        for k, (ms, prefer, want) in enumerate(cases):
            st, _, body, _ = self.sleep(ms, "p%d" % k, prefer)
            self.assertEqual(st, want, "%r: %r" % (prefer, body))

    def test_wait_two_headers(self):
        # RFC 7240: the first instance counts, across header lines too
        for k, (first, second, want) in enumerate(
                (("wait=2", "wait=0", 200), ("wait=0", "wait=2", 504))):
            conn = http.client.HTTPConnection("127.0.0.1", self.srv.port,
                                              timeout=30)
            try:
                data = json.dumps({"ms": 800, "tag": "two%d" % k}).encode()
                conn.putrequest("POST", "/debug/sleep")
                conn.putheader("Authorization", AUTH["Authorization"])
                conn.putheader("Prefer", first)
                conn.putheader("Prefer", second)
                conn.putheader("Content-Length", str(len(data)))
                conn.endheaders(data)
                resp = conn.getresponse()
                resp.read()
                self.assertEqual(resp.status, want, (first, second))
            finally:
                conn.close()

    def test_wait_batch_item(self):
        reqs = [
            {"id": "w", "method": "POST", "url": "/debug/sleep",
             "headers": {"Prefer": "wait=2"}, "body": {"ms": 800, "t": "b1"}},
            {"id": "n", "method": "POST", "url": "/debug/sleep",
             "body": {"ms": 800, "t": "b2"}},
            {"id": "z", "method": "POST", "url": "/debug/sleep",
             "headers": {"prefer": "wait=0"}, "body": {"ms": 800, "t": "b3"}},
            {"id": "h", "method": "POST", "url": "/debug/sleep",
             "headers": {"Prefer": "wait=999999999999"},
             "body": {"ms": 3000, "t": "b4"}},
        ]
        st, _, body, _ = self.srv.request("POST", "/v1/$batch",
                                          {"requests": reqs}, AUTH)
        self.assertEqual(st, 200)
        by_id = {r["id"]: r for r in body["responses"]}
        self.assertEqual(by_id["w"]["status"], 200, by_id["w"])
        check_item_error(self, by_id["n"], 504, "QUERY_TIMEOUT")
        check_item_error(self, by_id["z"], 504, "QUERY_TIMEOUT")
        check_item_error(self, by_id["h"], 504, "QUERY_TIMEOUT")
        self.assertIn("Prefer: wait (2500 ms)",
                      by_id["h"]["body"]["error"]["detail"])

    def test_statistics_and_render(self):
        pids = set(self.srv.worker_pids())
        st, _, body, raw = self.query(
            "ws1", "Ev | where i >= 1 | render barchart with (title='t')",
            {"Prefer": "include-statistics=true,include-render=true"},
            workspaces=["ws2"])
        self.assertEqual(st, 200, raw[:300])
        self.assertEqual(len(body["tables"][0]["rows"]), 3)
        s = body["statistics"]
        self.assertIn(s["worker"]["pid"], pids)
        self.assertEqual(s["worker"]["rowsScanned"], 5)
        self.assertEqual(s["worker"]["resultRows"], 3)
        self.assertGreater(s["worker"]["bytesRead"], 5 * 10)
        self.assertGreaterEqual(s["worker"]["cpuTimeMs"], 0)
        self.assertEqual(s["query"]["inputDatasetStatistics"]["rows"]
                         ["scanned"], 5)
        self.assertIsInstance(s["query"]["executionTime"], float)
        self.assertRegex(s["query"]["resourceUsage"]["cpu"]["totalCpu"],
                         r"^\d\d:\d\d:\d\d(\.\d+)?$")
        self.assertEqual(body["render"]["visualization"], "barchart")
        self.assertEqual(body["render"]["title"], "t")
        # not asked: neither; unknown and malformed preferences ignored
        st, _, body, _ = self.query("ws1", "Ev | render barchart",
                                    {"Prefer": "include-statistics=false, "
                                     "include-render, x=\"y"})
        self.assertEqual(st, 200)
        self.assertNotIn("statistics", body)
        self.assertNotIn("render", body)
        # in a batch item's headers
        st, _, body, _ = self.srv.request("POST", "/v1/$batch", {"requests": [
            {"id": "s", "method": "POST", "workspace": "ws1", "path": "/query",
             "headers": {"Prefer": "include-statistics=true"},
             "body": {"query": "Ev | count"}}]}, AUTH)
        item = body["responses"][0]
        self.assertEqual(item["status"], 200)
        self.assertEqual(item["body"]["statistics"]["worker"]["rowsScanned"],
                         3)

    # ------------------------------------------------------ limits, errors

    def test_partial_result(self):
        st, _, body, raw = self.query("ws1", "Big | project i")
        self.assertEqual(st, 200, raw[:300])
        self.assertEqual(body["tables"][0]["rows"],
                         [[0], [1], [2], [3], [4]])
        err = body["error"]
        self.assertEqual(err["code"], "PartialError")
        self.assertEqual(err["details"][0]["code"], "QUERY_LIMIT_EXCEEDED")
        self.assertIn("query_max_result_rows (5)",
                      err["innererror"]["message"])
        st, _, body, _ = self.query("ws1", "Big | sort by i desc | take 5")
        self.assertEqual(st, 200)
        self.assertNotIn("error", body)
        st, _, body, _ = self.query("ws1", "Big | sort by i desc")
        self.assertEqual(body["tables"][0]["rows"],
                         [[29], [28], [27], [26], [25]])
        self.assertEqual(body["error"]["code"], "PartialError")
        # the scan limit is still an error
        check_envelope(self, self.query("ws1", "Huge | count"), 422,
                       "QUERY_LIMIT_EXCEEDED")

    def test_error_azure_shape(self):
        err = check_envelope(self, self.query(
            "ws1", "Ev\n| where i ==\n| take 1"), 400, "QUERY_SYNTAX_ERROR")
        self.assertIn("line 3, column 1", err["message"])
        self.assertEqual(err["details"][0]["code"], "QUERY_SYNTAX_ERROR")
        self.assertEqual(err["details"][0]["message"], err["detail"])
        self.assertEqual(err["innererror"]["message"], err["detail"])
        self.assertEqual((err["innererror"]["line"], err["innererror"]["pos"]),
                         (3, 1))
        err = check_envelope(self, self.query("ws1", "Nope"), 404, "NOT_FOUND")
        self.assertEqual(err["innererror"]["code"], "NOT_FOUND")

    # ------------------------------------------------------ relative URLs

    def test_relative_item_urls(self):
        st, _, body, _ = self.srv.request("POST", "/v1/$batch", {"requests": [
            {"id": "1", "method": "PUT", "url": "workspaces/ws1/tables/rel/rows/a",
             "body": {"v": 1}},
            {"id": "2", "url": "workspaces/ws1/tables/rel/rows/a",
             "dependsOn": ["1"]},
            {"id": "3", "method": "POST", "url": "workspaces/ws1/query",
             "body": {"query": "rel | count"}, "dependsOn": ["1"]},
            {"id": "4", "url": "$batch"},
            {"id": "5", "url": "workspaces/ws3/tables/rel/rows/a"},
            {"id": "6", "url": "nothing/here"}]}, AUTH)
        self.assertEqual(st, 200)
        by_id = {r["id"]: r for r in body["responses"]}
        self.assertEqual(by_id["1"]["status"], 201, by_id["1"])
        self.assertEqual((by_id["2"]["status"], by_id["2"]["body"]),
                         (200, {"v": 1}))
        self.assertEqual(by_id["3"]["body"]["tables"][0]["rows"], [[1]])
        check_item_error(self, by_id["4"], 400, "NESTED_BATCH_NOT_ALLOWED")
        check_item_error(self, by_id["5"], 403, "FORBIDDEN")
        check_item_error(self, by_id["6"], 404, "PATH_NOT_FOUND")


if __name__ == "__main__":
    unittest.main()
