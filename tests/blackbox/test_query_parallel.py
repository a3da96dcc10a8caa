"""SPEC 5, parallel scans: "large scans may be split across idle workers
and merged; the answer is the same as on one worker".

One store is written with build/tools/load_lmdb (generated AzureActivity
rows in two workspaces, rows with escaped member names and deep paths,
and a table with one damaged row); a server that never splits
(query_parallel_rows = 0) answers every query first, and those answers
are the oracle for a server on the same store that splits any table over
100 rows into 3 parts (query_parallel_rows = 100, query_parallel_parts =
3): the answers must be the same, byte for byte once parsed (take without
a sort: the same number of rows, each a row of the table).  Then a part
that crashes (debug_ops: the body's {"debug": {"crash_part": k}}) fails
its query 500 WORKER_CRASHED and nothing else, a part that outlives the
query's Prefer: wait fails it 504 QUERY_TIMEOUT, query_max_rows_scanned
counts over every part (422), and a damaged row met by one part is the
query's 500, never the server's.  A table with more distinct values than
a part's dcount dictionary sends as u16 ids (65,536), each value in two
parts, is counted exactly (an answer computed here, in Python).
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import Server, check_envelope
from batch_util import async_all, async_post, async_wait
from test_query_rows import nested

WS, WS2 = "par", "par2"
ROWS, ROWS2 = 1500, 400
TOOLS = os.environ.get("BATCHD_TOOLS", "build/tools")
TMP = None
DB = None
WANT = {}		# query -> (status, parsed body) of the server that never splits
SRV = None		# the server that splits

# (query, body extras) pairs run on both servers.
QUERIES = [
    "Act | where Level == 'Error' | project Caller, DurationMs, "
    "TimeGenerated",
    "Act | where DurationMs > 4000",
    "Act | project-away Properties | extend D2 = DurationMs * 2 + 1",
    "Act | where Properties.statusCode == 'Conflict' "
    "| project CorrelationId, Properties.region",
    "Act | count",
    "Act | where Caller startswith 'user1' | count",
    "Act | summarize count(), sum(DurationMs), avg(DurationMs), "
    "min(DurationMs), max(DurationMs), dcount(Caller) by OperationName, "
    "bin(TimeGenerated, 1h)",
    "Act | summarize countif(DurationMs > 1000), dcountif(Caller, "
    "Level == 'Error'), min(TimeGenerated), max(Caller)",
    "Act | summarize n = count() by Level | sort by n desc",
    "Act | extend Cost = DurationMs * 2 + 1 | summarize sum(Cost) by Level",
    "Act | top 10 by DurationMs",
    "Act | top 7 by Caller asc, DurationMs desc",
    "Act | sort by DurationMs desc | take 12",
    "Act | sort by Caller asc | where DurationMs > 4500",
    "Act | distinct ResourceGroup, Category",
    "Act | distinct Level",
    "Act | project Level, Category | distinct *",
    "Act | where DurationMs > 100 | take 5 | project Caller",
    "Act | where Nope == 1",
    "Esc | project k, Abc, P.status, P.n.v",
    "Esc | summarize count() by P.status",
    "Esc | where k == 'e137' | project D.a.a.a.a.a.a.a.a.a.a",
]
TAKES = ["Act | take 9", "Act | where DurationMs > 2000 | take 4"]


def post(srv, body, headers=None):
    return srv.v1("POST", "/workspaces/%s/query" % WS, json.dumps(body),
                  headers=headers)


def answer(srv, q, **extra):
    body = {"query": q}
    body.update(extra)
    st, _, _, raw = post(srv, body)
    got = json.loads(raw) if raw else None
    if isinstance(got, dict):
        got.pop("meta", None)		# the request id
    return st, got


def load(db, ws, table, lines, raw=False):
    args = [os.path.join(TOOLS, "load_lmdb")] + (["-r"] if raw else []) + \
        [db, ws, table]
    r = subprocess.run(args, input="".join(lines).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120, check=False)
    if r.returncode != 0:
        raise AssertionError("load_lmdb: %r" % r.stderr[-300:])


def gen(db, ws, n, seed, table="Act"):
    r = subprocess.run([os.path.join(TOOLS, "load_lmdb"), "-g", str(n),
                        "-s", str(seed), db, ws, table],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120, check=False)
    if r.returncode != 0:
        raise AssertionError("load_lmdb -g: %r" % r.stderr[-300:])


def esc_rows():
    """Member names with escapes, strings with escapes, deep paths."""
    out = []
    for i in range(300):
        k = "e%03d" % i
        text = ('{"k":"%s","\\u0041bc":%d,"P":{"st\\u0061tus":"%s",'
                '"n":{"\\u0076":%d}},"D":%s}'
                % (k, i, ["ok", "b\\\"ad", "caf\\u00e9"][i % 3], i % 7,
                   nested(30, i)))
        out.append(json.dumps({"key": k, "value": text}) + "\n")
    return out


def bad_rows():
    """300 rows, the 200th of which is not JSON."""
    out = []
    for i in range(300):
        text = '{"a":%d,"b":"x"}' % i if i != 199 else '{"a":199,"b":'
        out.append(json.dumps({"key": "b%03d" % i, "value": text}) + "\n")
    return out


# "Many": MANY rows, value "v<i mod MANY/2>" in column c, so each value is
# in two rows half the table apart (two of the 3 parts, each of which has
# over 65,536 values); even rows in group "all" (half of a part's values:
# its ids travel as a bitmap, and its values meet again in another part),
# odd rows over 97 groups (a few values each: a list of u32 ids).
MANY = 200000


def many_row(i):
    return {"g": "all" if i % 2 == 0 else "g%d" % (i % 97),
            "c": "v%d" % (i % (MANY // 2)), "n": i % 1000}


def many_rows():
    return [json.dumps({"key": "m%06d" % i,
                        "value": json.dumps(many_row(i))}) + "\n"
            for i in range(MANY)]


def many_want():
    """count(), dcount(c), dcountif(c, n > 500) by g, groups in first-seen
    (key) order."""
    groups = {}
    for i in range(MANY):
        r = many_row(i)
        g = groups.setdefault(r["g"], [0, set(), set()])
        g[0] += 1
        g[1].add(r["c"])
        if r["n"] > 500:
            g[2].add(r["c"])
    return [[k, v[0], len(v[1]), len(v[2])] for k, v in groups.items()]


def setUpModule():
    global TMP, DB, SRV
    TMP = tempfile.mkdtemp(prefix="batchd-bb-par-")
    try:
        DB = os.path.join(TMP, "db")
        gen(DB, WS, ROWS, 1)
        gen(DB, WS2, ROWS2, 2)
        gen(DB, WS, 100, 3, table="Small")
        load(DB, WS, "Esc", esc_rows(), raw=True)
        load(DB, WS, "Bad", bad_rows(), raw=True)
        load(DB, WS, "Many", many_rows(), raw=True)
        with Server(workers=2, extra_args=["--db-path", DB],
                    query_parallel_rows=0) as one:
            for q in QUERIES + TAKES:
                WANT[q] = answer(one, q)
            WANT["union"] = answer(one, "Act | summarize count(), "
                                   "dcount(Caller) by Level",
                                   workspaces=[WS2])
            WANT["span"] = answer(one, "Act | summarize count() by Level",
                                  timespan="2024-01-04T00:00:00Z/"
                                  "2024-01-06T00:00:00Z")
        SRV = Server(workers=2, debug_ops=True, extra_args=["--db-path", DB],
                     query_parallel_rows=100, query_parallel_parts=3,
                     quarantine_cooldown_ms=0).start()
    except BaseException:
        if SRV is not None:
            SRV.stop(check=False)
        shutil.rmtree(TMP, ignore_errors=True)
        raise


def tearDownModule():
    try:
        if SRV is not None:
            SRV.stop()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


class SameAnswerTest(unittest.TestCase):
    """Every operator family answers on 3 parts what one scan answers."""

    def test_every_query(self):
        for q in QUERIES:
            with self.subTest(query=q):
                self.assertEqual(answer(SRV, q), WANT[q])
        self.assertEqual(WANT[QUERIES[0]][0], 200)
        self.assertEqual(WANT["Act | where Nope == 1"][0], 400)

    def test_take_without_order(self):
        # Kusto lets take pick any rows: the same number, each a row of
        # the table (this engine takes the first in key order either way).
        every = answer(SRV, "Act")[1]["tables"][0]["rows"]
        for q in TAKES:
            with self.subTest(query=q):
                st, got = answer(SRV, q)
                self.assertEqual(st, 200)
                rows = got["tables"][0]["rows"]
                self.assertEqual(len(rows),
                                 len(WANT[q][1]["tables"][0]["rows"]))
                for r in rows:
                    self.assertIn(r, every)

    def test_workspaces_and_timespan(self):
        self.assertEqual(answer(SRV, "Act | summarize count(), "
                                "dcount(Caller) by Level",
                                workspaces=[WS2]), WANT["union"])
        total = sum(r[1] for r in WANT["union"][1]["tables"][0]["rows"])
        self.assertEqual(total, ROWS + ROWS2)
        self.assertEqual(answer(SRV, "Act | summarize count() by Level",
                                timespan="2024-01-04T00:00:00Z/"
                                "2024-01-06T00:00:00Z"), WANT["span"])

    def test_statistics_count_every_part(self):
        st, _, _, raw = post(SRV, {"query": "Act | count"},
                             headers={"Prefer": "include-statistics=true"})
        self.assertEqual(st, 200)
        stats = json.loads(raw)["statistics"]
        self.assertEqual(stats["worker"]["parts"], 3)
        self.assertEqual(stats["worker"]["rowsScanned"], ROWS)
        self.assertEqual(stats["query"]["inputDatasetStatistics"]["rows"]
                         ["scanned"], ROWS)
        # a table of no more rows than query_parallel_rows is not split
        st, _, _, raw = post(SRV, {"query": "Small | count"},
                             headers={"Prefer": "include-statistics=true"})
        got = json.loads(raw)
        self.assertEqual(got["tables"][0]["rows"], [[100]])
        self.assertEqual(got["statistics"]["worker"]["parts"], 1)

    def test_dcount_many_values(self):
        st, _, _, raw = post(SRV, {"query": "Many | summarize count(), "
                                   "dcount(c), dcountif(c, n > 500) by g"},
                             headers={"Prefer": "include-statistics=true"})
        self.assertEqual(st, 200, raw[:300])
        got = json.loads(raw)
        self.assertEqual(got["statistics"]["worker"]["parts"], 3)
        want = many_want()
        self.assertEqual(len(want), 98)
        self.assertEqual(want[0], ["all", MANY // 2, MANY // 4, 24900])
        self.assertEqual(got["tables"][0]["rows"], want)

    def test_batch_and_async_items(self):
        q = QUERIES[6]
        st, _, body, _ = SRV.batch([
            {"id": "1", "method": "POST",
             "path": "/v1/workspaces/%s/query" % WS, "body": {"query": q}},
            {"id": "2", "method": "GET",
             "path": "/v1/workspaces/%s/query?query=%s"
             % (WS, "Act%20%7C%20count")}])
        self.assertEqual(st, 200)
        got = {r["id"]: r for r in body["responses"]}
        self.assertEqual(got["1"]["status"], 200)
        self.assertEqual(got["1"]["body"], WANT[q][1])
        self.assertEqual(got["2"]["body"], WANT["Act | count"][1])
        # an asynchronous batch's query runs whole (the worker stores its
        # answer with it), and answers the same
        st, h, _, raw = async_post(SRV, [
            {"id": "a", "method": "POST",
             "path": "/v1/workspaces/%s/query" % WS, "body": {"query": q}}])
        self.assertEqual(st, 201, raw[:300])
        async_wait(self, SRV, h.get("Location"), timeout=30)
        _, resps, _ = async_all(self, SRV, h.get("Location"))
        self.assertEqual([(r["id"], r["status"], r["body"]) for r in resps],
                         [("a", 200, WANT[q][1])])


class PartFailureTest(unittest.TestCase):
    """A part's crash or timeout is its query's answer, not the server's."""

    def test_part_crash_fails_only_its_query(self):
        st, _, body, _ = SRV.batch([
            {"id": "c", "method": "POST",
             "path": "/v1/workspaces/%s/query" % WS,
             "body": {"query": "Act | summarize count() by Caller",
                      "debug": {"crash_part": 1}}},
            {"id": "ok", "method": "POST",
             "path": "/v1/workspaces/%s/query" % WS,
             "body": {"query": "Act | distinct Level"}}])
        self.assertEqual(st, 200)
        got = {r["id"]: r for r in body["responses"]}
        self.assertEqual(got["c"]["status"], 500)
        self.assertEqual(got["c"]["body"]["error"]["code"], "WORKER_CRASHED")
        self.assertEqual(got["ok"]["status"], 200)
        self.assertEqual(got["ok"]["body"], WANT["Act | distinct Level"][1])
        self.assertIn("signal 6", got["c"]["body"]["error"]["detail"])
        SRV.wait_workers()
        self.assertEqual(answer(SRV, "Act | count"), WANT["Act | count"])

    def test_part_crash_quarantines_the_query(self):
        with Server(workers=2, debug_ops=True, extra_args=["--db-path", DB],
                    query_parallel_rows=100, query_parallel_parts=2) as srv:
            body = {"query": "Act | summarize max(DurationMs)",
                    "debug": {"crash_part": 0}}
            check_envelope(self, post(srv, body), 500, "WORKER_CRASHED")
            # the query itself is remembered, not its parts: the repeat is
            # answered at once, without running
            r = post(srv, body)
            err = check_envelope(self, r, 500, "WORKER_CRASHED")
            self.assertIn("quarantined", err.get("detail", ""))
            self.assertIsNotNone(r[1].get("Retry-After"))
            srv.wait_workers()
            self.assertEqual(answer(srv, "Act | count"), WANT["Act | count"])

    def test_part_timeout_is_504(self):
        r = post(SRV, {"query": "Act | top 3 by DurationMs",
                       "debug": {"sleep_part": 0, "sleep_ms": 20000}},
                 headers={"Prefer": "wait=1"})
        err = check_envelope(self, r, 504, "QUERY_TIMEOUT")
        self.assertIn("Prefer: wait", err.get("detail", ""))
        SRV.wait_workers()
        self.assertEqual(answer(SRV, "Act | count"), WANT["Act | count"])

    def test_damaged_row_in_one_part(self):
        st, body = answer(SRV, "Bad | summarize count() by b")
        self.assertEqual(st, 500)
        self.assertIn("not a JSON object", body["error"]["detail"])
        st, body = answer(SRV, "Bad | where a < 100 | count")
        self.assertEqual((st, body["tables"][0]["rows"]), (200, [[100]]))


class RowsScannedTest(unittest.TestCase):
    """query_max_rows_scanned counts the rows of every part."""

    def test_limit_over_all_parts(self):
        with Server(workers=2, extra_args=["--db-path", DB],
                    query_parallel_rows=100, query_parallel_parts=3,
                    query_max_rows_scanned=1000) as srv:
            # each part reads about 500 rows, all of them together 1500
            for q in ["Act | where DurationMs < 0 | take 1",
                      "Act | where DurationMs < 0"]:
                with self.subTest(query=q):
                    err = check_envelope(self, post(srv, {"query": q}), 422,
                                         "QUERY_LIMIT_EXCEEDED")
                    self.assertIn("query_max_rows_scanned (1000)",
                                  err.get("detail", ""))
            # a query that must read every row is refused before any is
            st, body = answer(srv, "Act | count")
            self.assertEqual(st, 422)
            # one that stops early, in its first part, is not
            st, body = answer(srv, "Act | take 3")
            self.assertEqual(st, 200)
            self.assertEqual(len(body["tables"][0]["rows"]), 3)
            srv.healthz()
