"""Microsoft's own Python query client (azure-monitor-query, from Debian's
python3-azure) pointed at batchd: every query option batchd speaks, through
the SDK's own API, with its answers checked.  Run by Debian's python3
(tests/compat/run_python.py), which is where python3-azure lives."""

import asyncio
import os
import re
import sys
import time
import unittest
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "blackbox"))

from harness import Server  # noqa: E402

from azure.core.credentials import AccessToken  # noqa: E402
from azure.core.exceptions import HttpResponseError  # noqa: E402
from azure.monitor.query import (LogsBatchQuery, LogsQueryClient,  # noqa: E402
                                 LogsQueryPartialResult, LogsQueryResult,
                                 LogsQueryStatus, LogsQueryError)
from azure.monitor.query.aio import LogsQueryClient as AsyncLogsQueryClient  # noqa: E402

TOKEN = "compat-python-token"


class StaticToken:
    """A TokenCredential returning the configured bearer token."""

    def get_token(self, *scopes, **kwargs):
        return AccessToken(TOKEN, int(time.time()) + 3600)


class AsyncStaticToken:
    async def get_token(self, *scopes, **kwargs):
        return AccessToken(TOKEN, int(time.time()) + 3600)

    async def close(self):
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *a):
        pass


def metric(srv, name):
    st, _, _, raw = srv.request("GET", "/metrics")
    total = 0.0
    for line in raw.decode().splitlines():
        m = re.match(r"^%s(\{[^}]*\})?\s+(\S+)$" % re.escape(name), line)
        if m:
            total += float(m.group(2))
    return total


class PythonSdkTest(unittest.TestCase):
    """A token for ws1 and ws2; results cut at 50 rows; a 300 ms item
    timeout that server_timeout may raise to 3 s."""

    @classmethod
    def setUpClass(cls):
        # HTTPS: the SDK sends its token as it would to Azure.
        cls.srv = Server(workers=2, debug_ops=True, item_timeout_ms=300,
                         item_timeout_max_ms=3000, query_max_result_rows=50,
                         token="%s ws1,ws2" % TOKEN, tls=True)
        cls.srv.start()
        now = datetime.now(timezone.utc)
        reqs = []
        # AzureActivity: 12 rows in ws1, 5 in ws2 (the 12 and 17)
        for ws, n in (("ws1", 12), ("ws2", 5)):
            for i in range(n):
                t = (now - timedelta(minutes=5 * i)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")
                reqs.append({"id": "%s-%d" % (ws, i), "method": "PUT",
                             "url": "/v1/workspaces/%s/tables/AzureActivity/"
                                    "rows/r%02d" % (ws, i),
                             "body": {"TimeGenerated": t,
                                      "Level": "Error" if i % 3 == 0
                                      else "Informational",
                                      "DurationMs": 100 * i, "Ws": ws}})
        for i in range(60):
            reqs.append({"id": "big%d" % i, "method": "PUT",
                         "url": "/v1/workspaces/ws1/tables/Big/rows/k%02d" % i,
                         "body": {"i": i}})
        st, _, body, raw = cls.srv.request(
            "POST", "/v1/$batch", {"requests": reqs},
            {"Authorization": "Bearer " + TOKEN})
        assert st == 200 and all(r["status"] == 201
                                 for r in body["responses"]), raw[:300]
        # SDK 1.1.0 appends /v1 to the endpoint it is given
        cls.endpoint = "https://127.0.0.1:%d" % cls.srv.port
        cls.client = LogsQueryClient(StaticToken(), endpoint=cls.endpoint,
                                     retry_total=0,
                                     connection_verify=cls.srv.ca)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.srv.stop()

    def q(self, query, ws="ws1", **kw):
        kw.setdefault("timespan", None)
        return self.client.query_workspace(ws, query,
                                           **kw)

    def test_query_and_timespans(self):
        r = self.q("AzureActivity | summarize count() by Level "
                   "| sort by Level asc")
        self.assertIsInstance(r, LogsQueryResult)
        self.assertEqual(r.status, LogsQueryStatus.SUCCESS)
        t = r.tables[0]
        self.assertEqual(t.columns, ["Level", "count_"])
        self.assertEqual([list(row) for row in t.rows],
                         [["Error", 4], ["Informational", 8]])
        # every timespan form the SDK sends
        now = datetime.now(timezone.utc)
        for ts, want in ((timedelta(minutes=22), 5),
                         ((now - timedelta(minutes=22), now), 5),
                         ((now - timedelta(minutes=22), timedelta(minutes=23)),
                          5)):
            r = self.q("AzureActivity | count", timespan=ts)
            self.assertEqual(r.tables[0].rows[0][0], want, ts)

    def test_additional_workspaces(self):
        r = self.q("AzureActivity | count", additional_workspaces=["ws2"])
        self.assertEqual(r.tables[0].rows[0][0], 17)
        with self.assertRaises(HttpResponseError) as cm:
            self.q("AzureActivity | count", additional_workspaces=["ws3"])
        self.assertEqual(cm.exception.status_code, 403)

    def test_statistics_and_visualization(self):
        r = self.q("AzureActivity | summarize count() by Level "
                   "| render piechart with (title=\"levels\")",
                   include_statistics=True, include_visualization=True)
        self.assertEqual(r.statistics["worker"]["rowsScanned"], 12)
        self.assertIn(r.statistics["worker"]["pid"], self.srv.worker_pids())
        self.assertIn("executionTime", r.statistics["query"])
        self.assertEqual(r.visualization["visualization"], "piechart")
        self.assertEqual(r.visualization["title"], "levels")
        r = self.q("AzureActivity | count")
        self.assertIsNone(r.statistics)
        self.assertIsNone(r.visualization)

    def test_server_timeout(self):
        # /debug/sleep is not a query, so the wait is shown with a query
        # long enough to matter only through Prefer: a 200 within 3 s
        r = self.q("AzureActivity | take 1", server_timeout=3)
        self.assertEqual(len(r.tables[0].rows), 1)
        # and the raw Prefer the SDK sends makes a sleeping item survive
        st, _, body, _ = self.srv.request(
            "POST", "/debug/sleep", {"ms": 700, "sdk": 1},
            {"Authorization": "Bearer " + TOKEN, "Prefer": "wait=3"})
        self.assertEqual(st, 200)

    def test_partial_result(self):
        r = self.q("Big | project i")
        self.assertIsInstance(r, LogsQueryPartialResult)
        self.assertEqual(r.status, LogsQueryStatus.PARTIAL)
        self.assertEqual(len(r.partial_data[0].rows), 50)
        self.assertEqual(r.partial_error.code, "PartialError")
        self.assertIn("query_max_result_rows (50)", r.partial_error.message)

    def test_syntax_error_names_line_and_column(self):
        with self.assertRaises(HttpResponseError) as cm:
            self.q("AzureActivity\n| where Level ==\n| take 1")
        e = cm.exception
        self.assertEqual(e.status_code, 400)
        self.assertIn("line 3, column 1", str(e))
        # azure-core reads the body as an OData v4 error: code, message,
        # details and innererror, all of which batchd gives it
        self.assertEqual(e.error.code, "QUERY_SYNTAX_ERROR")
        self.assertIn("line 3, column 1", e.error.message)
        self.assertEqual(e.error.details[0].code, "QUERY_SYNTAX_ERROR")
        self.assertIn("line 3, column 1", e.error.details[0].message)
        self.assertEqual(e.error.innererror["line"], 3)

    def test_query_batch(self):
        reqs = [
            LogsBatchQuery("ws1", "AzureActivity | count", timespan=None),
            LogsBatchQuery("ws1", "AzureActivity | where Level == | count",
                           timespan=None),
            LogsBatchQuery("ws1", "AzureActivity | count", timespan=None,
                           additional_workspaces=["ws2"],
                           include_statistics=True),
            LogsBatchQuery("ws1", "Big | project i", timespan=None),
            LogsBatchQuery("ws1", "AzureActivity | count", timespan=None,
                           additional_workspaces=["ws3"]),
            LogsBatchQuery("ws2", "AzureActivity | count | render card",
                           timespan=timedelta(hours=1),
                           include_visualization=True, server_timeout=2),
        ]
        res = self.client.query_batch(reqs)
        self.assertEqual(len(res), 6)
        self.assertEqual(res[0].tables[0].rows[0][0], 12)
        self.assertIsInstance(res[1], LogsQueryError)
        self.assertIn("line 1, column", res[1].message)
        self.assertEqual(res[2].tables[0].rows[0][0], 17)
        self.assertEqual(res[2].statistics["worker"]["rowsScanned"], 17)
        self.assertIsInstance(res[3], LogsQueryPartialResult)
        self.assertIsInstance(res[4], LogsQueryError)
        self.assertEqual(res[4].code, "FORBIDDEN")
        self.assertEqual(res[5].tables[0].rows[0][0], 5)
        self.assertEqual(res[5].visualization["visualization"], "card")

    def test_quarantine_answers_retries_at_once(self):
        # a retried 504 costs no second worker
        h = {"Authorization": "Bearer " + TOKEN}
        st, _, _, _ = self.srv.request("POST", "/debug/sleep",
                                       {"ms": 2000, "sdk": "q"}, h)
        self.assertEqual(st, 504)
        self.srv.wait_workers()
        restarts = metric(self.srv, "batchd_worker_restarts_total")
        t0 = time.monotonic()
        st, hdrs, body, _ = self.srv.request("POST", "/debug/sleep",
                                             {"ms": 2000, "sdk": "q"}, h)
        self.assertEqual(st, 504)
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertIn("Retry-After", hdrs)
        self.assertEqual(metric(self.srv, "batchd_worker_restarts_total"),
                         restarts)

    def test_async_client(self):
        async def run():
            async with AsyncLogsQueryClient(
                    AsyncStaticToken(), endpoint=self.endpoint,
                    retry_total=0, connection_verify=self.srv.ca) as c:
                r = await c.query_workspace(
                    "ws1", "AzureActivity | count", timespan=None,
                    additional_workspaces=["ws2"])
                return r.tables[0].rows[0][0]
        self.assertEqual(asyncio.run(run()), 17)


if __name__ == "__main__":
    unittest.main()
