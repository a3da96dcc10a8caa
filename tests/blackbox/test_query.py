"""SPEC section 5: queries, black-box.

One server (module level, --db-sync off) gets N_ROWS AzureActivity rows
loaded through the API by scripts/gen-activity (--now: the clock when the
module starts, so ago() and the request timespan are meaningful); the very
same rows are regenerated in Python (gen-activity --format lines, same
-n/--seed/--now) and every expected answer below is computed from them
here, in Python, never by the engine.  A small hand-written table "Mixed"
holds nulls, missing fields and mixed numbers.

Clock-dependent answers (ago(), now(), a duration timespan) are checked to
lie between the answers for the clock read just before and just after the
request (the server reads the same clock in between); everything else is
exact, floats within a relative tolerance of 1e-9.

Where the engine documents a choice SPEC leaves open (headers of
worker/query/query_*.c: rows stream in key order, so take gives the first
rows by key and where/project keep key order; sort is stable; dcount is
exact), the tests rely on it and say so.

A second, small server with low query_max_result_rows /
query_max_rows_scanned checks 422 QUERY_LIMIT_EXCEEDED.
"""

import json
import math
import re
import unittest
import urllib.parse

from harness import Server, check_envelope, check_item_error, rows_path
from query_util import (bin_floor, bin_time, check_shape, clock_ms, close,
                        fmt_dt, gen_load, gen_rows, parse_dt, public,
                        raw_request, rows_close, rows_close_unordered,
                        utc_now_text)

N_ROWS = 20000
SEED = 7
WS = "qws"
T = "AzureActivity"

SRV = None
NOW = None          # the --now given to gen-activity ("YYYY-MM-DDThh:mm:ssZ")
ROWS = []           # the generated rows, in key order
BY_CORR = {}        # CorrelationId -> row
PIVOT = None        # a TimeGenerated in the middle of the data, as text
PIVOT_S = None

MIXED = [
    {"k": "m01", "A": 1, "R": 1.5, "S": "abc", "B": True, "N": 1},
    {"k": "m02", "A": None, "R": 2.75, "S": None, "B": False, "N": 2.5},
    {"k": "m03", "R": -3.25, "S": "", "N": -4},
    {"k": "m04", "A": -7, "S": "ABC def", "B": None, "N": 10},
    {"k": "m05", "A": 40, "R": 0.5, "S": "xyz", "N": 0.25},
    {"k": "m06", "A": 12, "R": None, "S": "Q\"uote", "B": True},
]

# JSON integers beyond a long: 2**64 - 1 is valid JSON that json-c keeps
# exactly (as an unsigned 64-bit integer; a row read answers it as written)
BIG = {"u1": {"U": 18446744073709551615, "V": 1},
       "u2": {"U": 5, "V": 2}}


def setUpModule():
    global SRV, NOW, ROWS, BY_CORR, PIVOT, PIVOT_S
    SRV = Server(workers=2, item_timeout_ms=20000,
                 extra_args=["--db-sync", "off"]).start()
    try:
        NOW = utc_now_text()
        gen_load(SRV.port, WS, T, N_ROWS, SEED, NOW)
        ROWS = gen_rows(N_ROWS, SEED, NOW)
        BY_CORR = {r["CorrelationId"]: r for r in ROWS}
        assert len(BY_CORR) == N_ROWS, "CorrelationId not unique"
        ts = sorted(r["_ts"] for r in ROWS)
        PIVOT_S = ts[len(ts) // 2]
        PIVOT = fmt_dt(PIVOT_S)
        reqs = [{"id": r["k"], "method": "PUT", "workspace": WS,
                 "path": "/tables/Mixed/rows/" + r["k"], "body": r}
                for r in MIXED]
        reqs += [{"id": k, "method": "PUT", "workspace": WS,
                  "path": "/tables/Big/rows/" + k, "body": v}
                 for k, v in BIG.items()]
        by_id, _ = SRV.batch_ok(reqs)
        for r in reqs:
            assert by_id[r["id"]]["status"] == 201, by_id[r["id"]]
    except BaseException:
        SRV.stop(check=False)
        SRV = None
        raise


def tearDownModule():
    global SRV
    if SRV is not None:
        SRV.stop()
        SRV = None


def query_path(ws=WS):
    return "/workspaces/%s/query" % ws


def qbody(query, timespan=None):
    b = {"query": query}
    if timespan is not None:
        b["timespan"] = timespan
    return b


def get_path(query, timespan=None, ws=WS, plus=False):
    p = {"query": query}
    if timespan is not None:
        p["timespan"] = timespan
    return query_path(ws) + "?" + urllib.parse.urlencode(
        p, quote_via=urllib.parse.quote_plus if plus else urllib.parse.quote)


# ------------------------------------------------- reference predicates

def isnull(row, col):
    return row.get(col) is None


def ci_contains(hay, needle):
    return needle.lower() in hay.lower()


def ci_startswith(hay, prefix):
    return hay.lower().startswith(prefix.lower())


# (where clause, the same predicate in Python).  Each is run as
# "AzureActivity | where CLAUSE | count".
WHERE_CASES = [
    ('Level == "Error"', lambda r: r["Level"] == "Error"),
    ('Level != "Informational"', lambda r: r["Level"] != "Informational"),
    ('Level == "error"', lambda r: False),      # == is case-sensitive
    ("DurationMs < 50", lambda r: r["DurationMs"] < 50),
    ("DurationMs <= 50", lambda r: r["DurationMs"] <= 50),
    ("DurationMs > 4000", lambda r: r["DurationMs"] > 4000),
    ("DurationMs >= 4000", lambda r: r["DurationMs"] >= 4000),
    ("DurationMs == 100", lambda r: r["DurationMs"] == 100),
    ("DurationMs != 100", lambda r: r["DurationMs"] != 100),
    ("Success == false", lambda r: r["Success"] is False),
    ("Success", lambda r: r["Success"] is True),
    ("not(Success)", lambda r: not r["Success"]),
    ('not(Level == "Informational" or Category == "Administrative")',
     lambda r: not (r["Level"] == "Informational" or
                    r["Category"] == "Administrative")),
    ('Level == "Error" and DurationMs > 3000',
     lambda r: r["Level"] == "Error" and r["DurationMs"] > 3000),
    # and binds tighter than or
    ('Level == "Error" and DurationMs > 3000 or '
     'Caller == "user00@contoso.com"',
     lambda r: (r["Level"] == "Error" and r["DurationMs"] > 3000) or
     r["Caller"] == "user00@contoso.com"),
    ('Level == "Error" and '
     '(DurationMs > 3000 or Caller == "user00@contoso.com")',
     lambda r: r["Level"] == "Error" and
     (r["DurationMs"] > 3000 or r["Caller"] == "user00@contoso.com")),
    ('OperationName contains "VIRTUALMACHINES"',     # case-insensitive
     lambda r: ci_contains(r["OperationName"], "VIRTUALMACHINES")),
    ('OperationName contains "/delete"',
     lambda r: ci_contains(r["OperationName"], "/delete")),
    ('ResourceGroup startswith "rg-prod"',
     lambda r: ci_startswith(r["ResourceGroup"], "rg-prod")),
    ('ResourceGroup startswith "RG-Staging"',
     lambda r: ci_startswith(r["ResourceGroup"], "RG-Staging")),
    ('Caller in ("user01@contoso.com", "user07@contoso.com", "nobody")',
     lambda r: r["Caller"] in ("user01@contoso.com", "user07@contoso.com")),
    ("DurationMs in (10, 11, 12, 209)",
     lambda r: r["DurationMs"] in (10, 11, 12, 209)),
    ("isnotnull(DurationMs)", lambda r: True),
    ("DurationMs * 2 + 10 > 500", lambda r: r["DurationMs"] * 2 + 10 > 500),
    ("DurationMs % 10 == 3", lambda r: r["DurationMs"] % 10 == 3),
    ("DurationMs - 5 * 2 < 20", lambda r: r["DurationMs"] - 10 < 20),
    ('Properties.region == "eastus"',
     lambda r: r["Properties"]["region"] == "eastus"),
    ("TimeGenerated <= now()", lambda r: True),
]


def pivot_cases():
    """datetime() comparisons around a TimeGenerated of the data (so ==
    and the inclusive/exclusive edges are exercised)."""
    p = PIVOT_S
    return [
        ("TimeGenerated >= datetime(%s)" % PIVOT, lambda r: r["_ts"] >= p),
        ("TimeGenerated > datetime(%s)" % PIVOT, lambda r: r["_ts"] > p),
        ("TimeGenerated == datetime(%s)" % PIVOT, lambda r: r["_ts"] == p),
        ("TimeGenerated < datetime(%s) + 2h" % PIVOT,
         lambda r: r["_ts"] < p + 7200),
        ("TimeGenerated between (datetime(%s) - 1d .. datetime(%s))"
         % (PIVOT, PIVOT), lambda r: p - 86400 <= r["_ts"] <= p),
        ('TimeGenerated >= datetime("%s") - 30m and Level == "Warning"'
         % PIVOT, lambda r: r["_ts"] >= p - 1800 and r["Level"] == "Warning"),
    ]


def count_of(pred, rows=None):
    return sum(1 for r in (ROWS if rows is None else rows) if pred(r))


def group(rows, keyf):
    out = {}
    for r in rows:
        out.setdefault(keyf(r), []).append(r)
    return out


def avg(xs):
    return sum(xs) / len(xs)


# -------------------------------------------------------------- base

class QueryCase(unittest.TestCase):
    maxDiff = 4000

    def post(self, query, timespan=None, ws=WS):
        return SRV.v1("POST", query_path(ws), qbody(query, timespan))

    def q(self, query, timespan=None):
        """POST a query that must succeed; (columns, rows)."""
        st, hdrs, body, raw = self.post(query, timespan)
        self.assertEqual(st, 200, "%s -> %d %r" % (query, st, raw[:500]))
        self.assertIn("application/json", hdrs.get("Content-Type", ""))
        return check_shape(self, body)

    def q_count(self, query, timespan=None):
        cols, rows = self.q(query, timespan)
        self.assertEqual(cols, [("Count", "long")], query)
        self.assertEqual(len(rows), 1, query)
        self.assertIsInstance(rows[0][0], int)
        return rows[0][0]

    def assert_rows(self, got, want, msg=""):
        self.assertTrue(rows_close(got, want),
                        "%s\n got: %r\nwant: %r" % (msg, got[:20], want[:20]))

    def assert_rows_unordered(self, got, want, msg=""):
        self.assertTrue(rows_close_unordered(got, want),
                        "%s\n got: %r\nwant: %r"
                        % (msg, sorted(map(repr, got))[:20],
                           sorted(map(repr, want))[:20]))

    def assert_full_row(self, cols, got, want):
        """A result row of the stored row `want` (open schema): each column
        is the stored field; dynamic values come as their compact JSON."""
        for (name, typ), v in zip(cols, got):
            exp = want.get(name)
            if typ == "dynamic" and isinstance(exp, (dict, list)):
                self.assertIsInstance(v, str, name)
                self.assertEqual(json.loads(v), exp, name)
            else:
                self.assertTrue(close(v, exp), "%s: got %r want %r"
                                % (name, v, exp))

    def window_counts(self, query, pred_for_now, timespan=None):
        """Run a count query whose answer depends on the server's clock;
        pred_for_now(now_ms) is the Python predicate for a given now.
        Returns (got, lo, hi) with lo/hi the answers for the clock read
        after/before the request."""
        before = math.floor(clock_ms())
        got = self.q_count(query, timespan)
        after = math.ceil(clock_ms())
        a = count_of(pred_for_now(before))
        b = count_of(pred_for_now(after))
        lo, hi = min(a, b), max(a, b)
        self.assertTrue(lo <= got <= hi, "%s (timespan %s): got %d, want "
                        "%d..%d" % (query, timespan, got, lo, hi))
        return got, lo, hi


# ------------------------------------------------------------ answers

class WhereTest(QueryCase):
    def test_where_count_cases(self):
        """Every comparison operator, and/or/not and precedence, contains,
        startswith, in, isnull/isnotnull, arithmetic in where, dynamic
        member access, now()."""
        for clause, pred in WHERE_CASES:
            q = "%s | where %s | count" % (T, clause)
            with self.subTest(query=q):
                self.assertEqual(self.q_count(q), count_of(pred), q)

    def test_where_datetime_literals(self):
        for clause, pred in pivot_cases():
            q = "%s | where %s | count" % (T, clause)
            with self.subTest(query=q):
                self.assertEqual(self.q_count(q), count_of(pred), q)

    def test_count_whole_table(self):
        self.assertEqual(self.q_count("%s | count" % T), N_ROWS)

    def test_exact_azure_shape(self):
        st, _, body, raw = self.post("%s | count" % T)
        self.assertEqual(st, 200, raw[:300])
        self.assertEqual(body, {"tables": [{
            "name": "PrimaryResult",
            "columns": [{"name": "Count", "type": "long"}],
            "rows": [[N_ROWS]]}]})

    def test_where_project_keeps_key_order(self):
        # engine choice: rows stream in key order, where/project keep it
        q = ('%s | where Level == "Error" and DurationMs > 4500 '
             '| project CorrelationId, Caller, DurationMs, Success' % T)
        cols, rows = self.q(q)
        self.assertEqual(cols, [("CorrelationId", "string"),
                                ("Caller", "string"), ("DurationMs", "long"),
                                ("Success", "bool")])
        want = [[r["CorrelationId"], r["Caller"], r["DurationMs"],
                 r["Success"]] for r in ROWS
                if r["Level"] == "Error" and r["DurationMs"] > 4500]
        self.assertGreater(len(want), 10)
        self.assert_rows(rows, want, q)

    def test_project_rename_and_dynamic_member(self):
        q = ('%s | where ResourceGroup == "rg-dev-ml" and DurationMs > 2500 '
             '| project Who = Caller, Region = Properties.region, '
             'Status = Properties.statusCode' % T)
        cols, rows = self.q(q)
        self.assertEqual(cols, [("Who", "string"), ("Region", "string"),
                                ("Status", "string")])
        want = [[r["Caller"], r["Properties"]["region"],
                 r["Properties"]["statusCode"]] for r in ROWS
                if r["ResourceGroup"] == "rg-dev-ml" and
                r["DurationMs"] > 2500]
        self.assert_rows(rows, want, q)


class ProjectExtendTest(QueryCase):
    def test_project_away(self):
        q = "%s | project-away CorrelationId, Properties, ResourceProvider " \
            "| take 3" % T
        cols, rows = self.q(q)
        names = [k for k in public(ROWS[0])
                 if k not in ("CorrelationId", "Properties",
                              "ResourceProvider")]
        self.assertEqual([c[0] for c in cols], names)
        self.assertEqual(dict(cols), {
            "TimeGenerated": "datetime", "Level": "string",
            "OperationName": "string", "Category": "string",
            "Caller": "string", "ResourceGroup": "string",
            "SubscriptionId": "string", "DurationMs": "long",
            "Success": "bool", "ActivityStatus": "string"})
        self.assertEqual(len(rows), 3)
        for got, want in zip(rows, ROWS[:3]):
            self.assert_full_row(cols, got, want)

    def test_extend_arithmetic(self):
        q = (T + " | where DurationMs % 97 == 0 "
             "| extend D2 = DurationMs * 2 + 1, Secs = DurationMs / 1000.0, "
             "Q = DurationMs / 7, M = DurationMs % 7, Neg = 0 - DurationMs, "
             "Mixed = (DurationMs + 3) * 0.5 "
             "| project CorrelationId, DurationMs, D2, Secs, Q, M, Neg, Mixed")
        cols, rows = self.q(q)
        self.assertEqual(cols, [("CorrelationId", "string"),
                                ("DurationMs", "long"), ("D2", "long"),
                                ("Secs", "real"), ("Q", "long"),
                                ("M", "long"), ("Neg", "long"),
                                ("Mixed", "real")])
        want = []
        for r in ROWS:
            d = r["DurationMs"]
            if d % 97 == 0:
                want.append([r["CorrelationId"], d, d * 2 + 1, d / 1000.0,
                             d // 7, d % 7, -d, (d + 3) * 0.5])
        self.assertGreater(len(want), 20)
        self.assert_rows(rows, want, q)

    def test_column_types(self):
        q = ("%s | take 1 | project TimeGenerated, Level, DurationMs, "
             "Success, Half = DurationMs / 2.0, Later = TimeGenerated + 1h, "
             "Fast = DurationMs < 100" % T)
        cols, rows = self.q(q)
        self.assertEqual(cols, [("TimeGenerated", "datetime"),
                                ("Level", "string"), ("DurationMs", "long"),
                                ("Success", "bool"), ("Half", "real"),
                                ("Later", "datetime"), ("Fast", "bool")])
        r = ROWS[0]     # engine choice: take gives the first key
        self.assertEqual(len(rows), 1)
        got = rows[0]
        self.assertEqual(parse_dt(got[0]), r["_ts"])
        self.assertEqual(got[1:4], [r["Level"], r["DurationMs"],
                                    r["Success"]])
        self.assertTrue(close(got[4], r["DurationMs"] / 2.0))
        self.assertEqual(parse_dt(got[5]), r["_ts"] + 3600)
        self.assertIs(got[6], r["DurationMs"] < 100)

    def test_take_and_limit(self):
        cols, rows = self.q("%s | take 5" % T)
        self.assertEqual([c[0] for c in cols], list(public(ROWS[0])))
        self.assertEqual(len(rows), 5)
        for got, want in zip(rows, ROWS[:5]):
            self.assert_full_row(cols, got, want)
        cols, rows = self.q("%s | limit 3 | project CorrelationId" % T)
        self.assertEqual(rows, [[r["CorrelationId"]] for r in ROWS[:3]])
        cols, rows = self.q("%s | take 0" % T)
        self.assertEqual(rows, [])


class SummarizeTest(QueryCase):
    def test_aggregates_by_level(self):
        q = ("%s | summarize count(), sum(DurationMs), avg(DurationMs), "
             "min(DurationMs), max(DurationMs), dcount(Caller) by Level" % T)
        cols, rows = self.q(q)
        self.assertEqual(cols, [("Level", "string"), ("count_", "long"),
                                ("sum_DurationMs", "long"),
                                ("avg_DurationMs", "real"),
                                ("min_DurationMs", "long"),
                                ("max_DurationMs", "long"),
                                ("dcount_Caller", "long")])
        want = []
        for lv, rs in group(ROWS, lambda r: r["Level"]).items():
            d = [r["DurationMs"] for r in rs]
            want.append([lv, len(rs), sum(d), avg(d), min(d), max(d),
                         len({r["Caller"] for r in rs})])
        self.assert_rows_unordered(rows, want, q)

    def test_named_aggregates_two_by_columns(self):
        q = ("%s | summarize N = count(), Total = sum(DurationMs), "
             "Callers = dcount(Caller) by ResourceGroup, Category" % T)
        cols, rows = self.q(q)
        self.assertEqual(cols, [("ResourceGroup", "string"),
                                ("Category", "string"), ("N", "long"),
                                ("Total", "long"), ("Callers", "long")])
        want = [[k[0], k[1], len(rs), sum(r["DurationMs"] for r in rs),
                 len({r["Caller"] for r in rs})]
                for k, rs in group(ROWS, lambda r: (r["ResourceGroup"],
                                                    r["Category"])).items()]
        self.assert_rows_unordered(rows, want, q)

    def test_summarize_without_by(self):
        q = ("%s | summarize count(), avg(DurationMs), dcount(OperationName), "
             "min(TimeGenerated), max(TimeGenerated), sum(DurationMs / 1000.0)"
             % T)
        cols, rows = self.q(q)
        self.assertEqual([c[1] for c in cols],
                         ["long", "real", "long", "datetime", "datetime",
                          "real"])
        self.assertEqual([c[0] for c in cols][:5],
                         ["count_", "avg_DurationMs", "dcount_OperationName",
                          "min_TimeGenerated", "max_TimeGenerated"])
        d = [r["DurationMs"] for r in ROWS]
        ts = [r["_ts"] for r in ROWS]
        self.assertEqual(len(rows), 1)
        got = rows[0]
        self.assertEqual(got[0], N_ROWS)
        self.assertTrue(close(got[1], avg(d)), (got[1], avg(d)))
        self.assertEqual(got[2], len({r["OperationName"] for r in ROWS}))
        self.assertEqual(parse_dt(got[3]), min(ts))
        self.assertEqual(parse_dt(got[4]), max(ts))
        self.assertTrue(math.isclose(got[5], sum(x / 1000.0 for x in d),
                                     rel_tol=1e-9))

    def test_filtered_summarize_empty(self):
        cols, rows = self.q('%s | where Level == "Nope" | summarize count()'
                            % T)
        self.assertEqual((cols, rows), ([("count_", "long")], [[0]]))
        cols, rows = self.q('%s | where Level == "Nope" '
                            '| summarize count() by Level' % T)
        self.assertEqual(rows, [])
        self.assertEqual([c[0] for c in cols], ["Level", "count_"])

    def test_bin_timegenerated_1h(self):
        q = "%s | summarize count() by bin(TimeGenerated, 1h)" % T
        cols, rows = self.q(q)
        self.assertEqual(cols, [("TimeGenerated", "datetime"),
                                ("count_", "long")])
        got = {parse_dt(r[0]): r[1] for r in rows}
        self.assertEqual(len(got), len(rows), "a bin answered twice")
        want = {k: len(v) for k, v in
                group(ROWS, lambda r: bin_time(r["_ts"], 3600)).items()}
        self.assertEqual(got, want)

    def test_bin_timegenerated_1d_and_level(self):
        q = ("%s | summarize count(), avg(DurationMs) "
             "by bin(TimeGenerated, 1d), Level" % T)
        cols, rows = self.q(q)
        self.assertEqual(cols, [("TimeGenerated", "datetime"),
                                ("Level", "string"), ("count_", "long"),
                                ("avg_DurationMs", "real")])
        for r in rows:
            self.assertRegex(r[0], r"^\d{4}-\d\d-\d\dT00:00:00Z$")
        got = [[parse_dt(r[0])] + r[1:] for r in rows]
        want = [[k[0], k[1], len(rs), avg([r["DurationMs"] for r in rs])]
                for k, rs in group(ROWS, lambda r: (
                    bin_time(r["_ts"], 86400), r["Level"])).items()]
        self.assert_rows_unordered(got, want, q)

    def test_bin_numeric(self):
        q = "%s | summarize c = count() by bin(DurationMs, 500)" % T
        cols, rows = self.q(q)
        self.assertEqual(cols, [("DurationMs", "long"), ("c", "long")])
        want = [[k, len(v)] for k, v in
                group(ROWS, lambda r: bin_floor(r["DurationMs"], 500)).items()]
        self.assert_rows_unordered(rows, want, q)

    def test_spec_example(self):
        """The pipeline of SPEC section 5, verbatim."""
        q = ('%s\n| where Level == "Error" and DurationMs > 250\n'
             '| extend Slow = DurationMs > 1000\n'
             '| summarize count(), avg(DurationMs), dcount(Caller) '
             'by OperationName, bin(TimeGenerated, 1h)\n'
             '| sort by count_ desc\n| take 10' % T)
        cols, rows = self.q(q)
        self.assertEqual(cols, [("OperationName", "string"),
                                ("TimeGenerated", "datetime"),
                                ("count_", "long"),
                                ("avg_DurationMs", "real"),
                                ("dcount_Caller", "long")])
        groups = group([r for r in ROWS if r["Level"] == "Error" and
                        r["DurationMs"] > 250],
                       lambda r: (r["OperationName"],
                                  bin_time(r["_ts"], 3600)))
        stats = {k: (len(rs), avg([r["DurationMs"] for r in rs]),
                     len({r["Caller"] for r in rs}))
                 for k, rs in groups.items()}
        top = sorted((s[0] for s in stats.values()), reverse=True)[:10]
        self.assertEqual([r[2] for r in rows], top)
        seen = set()
        for r in rows:
            k = (r[0], parse_dt(r[1]))
            self.assertIn(k, stats)
            self.assertNotIn(k, seen)
            seen.add(k)
            self.assertTrue(close(r[2:], list(stats[k])), (r, stats[k]))

    def test_count_after_summarize_and_distinct(self):
        self.assertEqual(
            self.q_count("%s | summarize count() by Caller | count" % T),
            len({r["Caller"] for r in ROWS}))
        self.assertEqual(
            self.q_count("%s | distinct OperationName, Level | count" % T),
            len({(r["OperationName"], r["Level"]) for r in ROWS}))

    def test_distinct(self):
        q = "%s | distinct ResourceGroup, Level" % T
        cols, rows = self.q(q)
        self.assertEqual(cols, [("ResourceGroup", "string"),
                                ("Level", "string")])
        self.assertEqual(len(rows), len({tuple(r) for r in rows}),
                         "distinct answered a row twice")
        self.assertEqual({tuple(r) for r in rows},
                         {(r["ResourceGroup"], r["Level"]) for r in ROWS})


class SortTopTest(QueryCase):
    def test_sort_desc_then_asc(self):
        q = ('%s | where Level == "Warning" '
             '| sort by DurationMs desc, CorrelationId asc | take 25 '
             '| project CorrelationId, DurationMs' % T)
        cols, rows = self.q(q)
        want = sorted((r for r in ROWS if r["Level"] == "Warning"),
                      key=lambda r: (-r["DurationMs"], r["CorrelationId"]))
        self.assertEqual(rows, [[r["CorrelationId"], r["DurationMs"]]
                                for r in want[:25]])

    def test_order_by_asc(self):
        q = ("%s | order by TimeGenerated asc, CorrelationId desc | take 12 "
             "| project TimeGenerated, CorrelationId" % T)
        cols, rows = self.q(q)
        self.assertEqual(cols, [("TimeGenerated", "datetime"),
                                ("CorrelationId", "string")])
        want = sorted(ROWS, key=lambda r: r["CorrelationId"], reverse=True)
        want = sorted(want, key=lambda r: r["_ts"])[:12]
        self.assertEqual([[parse_dt(a), b] for a, b in rows],
                         [[r["_ts"], r["CorrelationId"]] for r in want])

    def test_sort_default_is_desc(self):
        # Kusto: sort by without asc/desc sorts descending
        q = ('%s | where Level == "Error" | sort by DurationMs '
             '| project DurationMs' % T)
        cols, rows = self.q(q)
        want = sorted((r["DurationMs"] for r in ROWS
                       if r["Level"] == "Error"), reverse=True)
        self.assertEqual([r[0] for r in rows], want)

    def test_top_n_by(self):
        q = "%s | top 10 by DurationMs" % T
        cols, rows = self.q(q)
        self.assertEqual([c[0] for c in cols], list(public(ROWS[0])))
        names = [c[0] for c in cols]
        want = sorted((r["DurationMs"] for r in ROWS), reverse=True)[:10]
        self.assertEqual([r[names.index("DurationMs")] for r in rows], want)
        for r in rows:
            src = BY_CORR[r[names.index("CorrelationId")]]
            self.assert_full_row(cols, r, src)

    def test_top_n_by_asc(self):
        q = ("%s | top 7 by CorrelationId asc | project CorrelationId, Level"
             % T)
        cols, rows = self.q(q)
        want = sorted(ROWS, key=lambda r: r["CorrelationId"])[:7]
        self.assertEqual(rows, [[r["CorrelationId"], r["Level"]]
                                for r in want])

    def test_summarize_sort_take(self):
        q = ("%s | summarize avg(DurationMs) by ResourceGroup "
             "| sort by avg_DurationMs asc" % T)
        cols, rows = self.q(q)
        want = sorted(([k, avg([r["DurationMs"] for r in rs])]
                       for k, rs in group(ROWS, lambda r:
                                          r["ResourceGroup"]).items()),
                      key=lambda x: x[1])
        self.assert_rows(rows, want, q)


class TimeTest(QueryCase):
    def test_ago(self):
        for span, secs in (("1h", 3600), ("1d", 86400), ("90m", 5400)):
            q = "%s | where TimeGenerated > ago(%s) | count" % (T, span)
            with self.subTest(query=q):
                self.window_counts(
                    q, lambda now, s=secs:
                    lambda r: r["_ts"] * 1000 > now - s * 1000)
        q = '%s | where TimeGenerated > ago(2d) and Level == "Error" | count' \
            % T
        self.window_counts(q, lambda now: lambda r: (
            r["_ts"] * 1000 > now - 2 * 86400000 and r["Level"] == "Error"))

    def test_now_minus_timespan_literal(self):
        q = "%s | where TimeGenerated > now() - 6h | count" % T
        self.window_counts(q, lambda now: lambda r:
                           r["_ts"] * 1000 > now - 6 * 3600000)

    def test_request_timespan(self):
        for ts, secs in (("PT1H", 3600), ("P1D", 86400), ("PT30M", 1800)):
            with self.subTest(timespan=ts):
                got, lo, hi = self.window_counts(
                    "%s | count" % T, lambda now, s=secs:
                    lambda r: now - s * 1000 <= r["_ts"] * 1000 <= now, ts)
                self.assertGreater(hi, 0)
                self.assertLess(hi, N_ROWS)

    def test_request_timespan_with_summarize(self):
        before = math.floor(clock_ms())
        cols, rows = self.q("%s | summarize count() by Level" % T, "P1D")
        after = math.ceil(clock_ms())
        self.assertEqual(cols, [("Level", "string"), ("count_", "long")])
        got = dict(rows)
        for lv in ("Error", "Warning", "Informational"):
            hi = count_of(lambda r: r["Level"] == lv and
                          r["_ts"] * 1000 >= before - 86400000)
            lo = count_of(lambda r: r["Level"] == lv and
                          r["_ts"] * 1000 >= after - 86400000)
            self.assertTrue(lo <= got.get(lv, 0) <= hi,
                            "%s: %r not in %d..%d" % (lv, got.get(lv), lo, hi))

    def test_request_timespan_start_end(self):
        """"start/end" (both ends included) is exact, clock-free."""
        start, end = PIVOT_S - 7200, PIVOT_S
        ts = "%s/%s" % (fmt_dt(start), fmt_dt(end))
        got = self.q_count("%s | where Level != \"Error\" | count" % T, ts)
        self.assertEqual(got, count_of(lambda r: start <= r["_ts"] <= end and
                                       r["Level"] != "Error"))


class MixedTest(QueryCase):
    """Nulls, missing fields and numbers of two types (table Mixed)."""

    def keys(self, query):
        cols, rows = self.q(query)
        # an empty answer may type its columns dynamic (engine choice)
        self.assertIn(cols[0], [("k", "string")] +
                      ([("k", "dynamic")] if not rows else []))
        return [r[0] for r in rows]

    def test_isnull_isnotnull(self):
        for col in ("A", "R", "B", "S"):
            with self.subTest(col=col):
                self.assertEqual(
                    self.keys("Mixed | where isnull(%s) | project k" % col),
                    [r["k"] for r in MIXED if isnull(r, col)])
                self.assertEqual(
                    self.keys("Mixed | where isnotnull(%s) | project k" % col),
                    [r["k"] for r in MIXED if not isnull(r, col)])

    def test_aggregates_skip_nulls(self):
        q = ("Mixed | summarize count(), sum(A), avg(R), min(A), max(R), "
             "sum(N)")
        cols, rows = self.q(q)
        self.assertEqual(cols, [("count_", "long"), ("sum_A", "long"),
                                ("avg_R", "real"), ("min_A", "long"),
                                ("max_R", "real"), ("sum_N", "real")])
        a = [r["A"] for r in MIXED if not isnull(r, "A")]
        rr = [r["R"] for r in MIXED if not isnull(r, "R")]
        nn = [r["N"] for r in MIXED if not isnull(r, "N")]
        self.assert_rows(rows, [[len(MIXED), sum(a), avg(rr), min(a),
                                 max(rr), sum(nn)]], q)

    def test_long_and_real_make_real(self):
        cols, rows = self.q("Mixed | project k, N")
        self.assertEqual(cols, [("k", "string"), ("N", "real")])
        self.assert_rows(rows, [[r["k"], r.get("N")] for r in MIXED])

    def test_sort_nulls(self):
        # Kusto: nulls first ascending, last descending
        def key_a(r):
            return r.get("A")
        nulls = [r["k"] for r in MIXED if key_a(r) is None]
        vals = sorted((r for r in MIXED if key_a(r) is not None), key=key_a)
        self.assertEqual(self.keys("Mixed | sort by A asc | project k, A"),
                         nulls + [r["k"] for r in vals])
        self.assertEqual(self.keys("Mixed | sort by A desc | project k, A"),
                         [r["k"] for r in reversed(vals)] + nulls)

    def test_strings(self):
        self.assertEqual(
            self.keys('Mixed | where S == \'Q"uote\' | project k'), ["m06"])
        self.assertEqual(self.keys('Mixed | where S contains "c d" '
                                   '| project k'), ["m04"])
        self.assertEqual(self.keys('Mixed | where S startswith "ab" '
                                   '| project k'), ["m01", "m04"])
        self.assertEqual(self.keys('Mixed | where S in ("abc", "xyz") '
                                   '| project k'), ["m01", "m05"])

    def test_arithmetic_with_nulls(self):
        cols, rows = self.q("Mixed | extend X = A * 2 + 1 | project k, X")
        self.assertEqual(cols, [("k", "string"), ("X", "long")])
        self.assertEqual(rows, [[r["k"], None if isnull(r, "A")
                                 else r["A"] * 2 + 1] for r in MIXED])


class PipelineTest(QueryCase):
    """Operators feeding one another."""

    def test_where_after_summarize(self):
        q = ("%s | summarize c = count() by Caller | where c > 500 "
             "| sort by c desc, Caller asc" % T)
        cols, rows = self.q(q)
        self.assertEqual(cols, [("Caller", "string"), ("c", "long")])
        cnt = {k: len(v) for k, v in group(ROWS, lambda r:
                                           r["Caller"]).items()}
        want = sorted(([k, c] for k, c in cnt.items() if c > 500),
                      key=lambda x: (-x[1], x[0]))
        self.assertGreater(len(want), 3)
        self.assertEqual(rows, want)

    def test_summarize_by_extended_bool(self):
        q = ("%s | extend Slow = DurationMs > 1000 "
             "| summarize n = count(), mx = max(DurationMs) by Slow" % T)
        cols, rows = self.q(q)
        self.assertEqual(cols, [("Slow", "bool"), ("n", "long"),
                                ("mx", "long")])
        want = [[k, len(v), max(r["DurationMs"] for r in v)]
                for k, v in group(ROWS, lambda r:
                                  r["DurationMs"] > 1000).items()]
        self.assert_rows_unordered(rows, want, q)

    def test_top_after_summarize_and_project(self):
        q = ('%s | where Level == "Warning" | summarize count(), '
             'avg(DurationMs) by ResourceGroup, Category '
             '| project ResourceGroup, Category, N = count_, '
             'AvgS = avg_DurationMs / 1000 | top 5 by N desc' % T)
        cols, rows = self.q(q)
        self.assertEqual(cols, [("ResourceGroup", "string"),
                                ("Category", "string"), ("N", "long"),
                                ("AvgS", "real")])
        stats = {k: [len(v), avg([r["DurationMs"] for r in v]) / 1000]
                 for k, v in group([r for r in ROWS
                                    if r["Level"] == "Warning"],
                                   lambda r: (r["ResourceGroup"],
                                              r["Category"])).items()}
        top = sorted((v[0] for v in stats.values()), reverse=True)[:5]
        self.assertEqual([r[2] for r in rows], top)
        for r in rows:
            self.assertTrue(close(r[2:], stats[(r[0], r[1])]), r)

    def test_count_after_take_and_distinct_after_project(self):
        self.assertEqual(self.q_count("%s | take 123 | count" % T), 123)
        cols, rows = self.q('%s | where Level == "Error" '
                            '| project Op = OperationName, Lv = Level '
                            '| distinct Op, Lv' % T)
        self.assertEqual(cols, [("Op", "string"), ("Lv", "string")])
        self.assertEqual({tuple(r) for r in rows},
                         {(r["OperationName"], "Error") for r in ROWS
                          if r["Level"] == "Error"})

    def test_by_expression_over_member_is_named_after_the_path(self):
        # Kusto: "by tostring(Properties.region)" is column Properties_region
        q = "%s | summarize count() by tostring(Properties.region)" % T
        cols, rows = self.q(q)
        self.assertEqual(cols, [("Properties_region", "string"),
                                ("count_", "long")])
        want = [[k, len(v)] for k, v in
                group(ROWS, lambda r: r["Properties"]["region"]).items()]
        self.assert_rows_unordered(rows, want, q)

    def test_string_and_bool_min_max(self):
        q = ("%s | summarize min(Caller), max(Caller), min(Success), "
             "max(Success), dcount(Success) by Category" % T)
        cols, rows = self.q(q)
        self.assertEqual(cols, [("Category", "string"),
                                ("min_Caller", "string"),
                                ("max_Caller", "string"),
                                ("min_Success", "bool"),
                                ("max_Success", "bool"),
                                ("dcount_Success", "long")])
        want = [[k, min(r["Caller"] for r in v), max(r["Caller"] for r in v),
                 min(r["Success"] for r in v), max(r["Success"] for r in v),
                 len({r["Success"] for r in v})]
                for k, v in group(ROWS, lambda r: r["Category"]).items()]
        self.assert_rows_unordered(rows, want, q)

    def test_bin_30m_and_7d(self):
        # 7d bins start on Mondays, as Kusto's (counted from 0001-01-01)
        for span, secs in (("30m", 1800), ("7d", 7 * 86400)):
            q = ("%s | summarize count() by bin(TimeGenerated, %s)"
                 % (T, span))
            with self.subTest(query=q):
                cols, rows = self.q(q)
                got = {parse_dt(r[0]): r[1] for r in rows}
                want = {k: len(v) for k, v in
                        group(ROWS, lambda r, s=secs:
                              bin_time(r["_ts"], s)).items()}
                self.assertEqual(got, want)

    def test_timespan_applies_to_the_table(self):
        """The request timespan filters the stored rows before the
        pipeline: take sees only rows in the span, and a later column
        named TimeGenerated does not change which rows were kept."""
        lo, hi = PIVOT_S - 3 * 3600, PIVOT_S
        span = "%s/%s" % (fmt_dt(lo), fmt_dt(hi))
        inside = [r for r in ROWS if lo <= r["_ts"] <= hi]
        cols, rows = self.q("%s | take 5 | project CorrelationId" % T, span)
        self.assertEqual(rows, [[r["CorrelationId"]] for r in inside[:5]])
        self.assertEqual(self.q_count(
            "%s | extend TimeGenerated = datetime(2000-01-01) | count" % T,
            span), len(inside))
        self.assertEqual(self.q_count(
            "%s | project-away TimeGenerated | count" % T, span),
            len(inside))


class BigIntegerTest(QueryCase):
    def test_integer_beyond_long(self):
        """A stored JSON integer above 2**63 - 1 must not be answered as
        another number (the engine may answer it as a real)."""
        st, _, body, _ = SRV.v1("GET", rows_path(WS, "Big", "u1"))
        self.assertEqual((st, body), (200, BIG["u1"]))   # stored exactly
        cols, rows = self.q("Big | project V, U")
        self.assertEqual(len(rows), 2)
        for got, k in zip(rows, ("u1", "u2")):
            self.assertEqual(got[0], BIG[k]["V"])
            self.assertTrue(close(got[1], BIG[k]["U"]),
                            "U of %s: got %r, stored %r"
                            % (k, got[1], BIG[k]["U"]))
        self.assertEqual(self.q_count(
            "Big | where U > 9223372036854775807 | count"), 1)


# ------------------------------------------------------------ errors

SYNTAX_SEP = re.compile(r"line (\d+), column (\d+)")


def col_of(query, token, nth=0):
    """1-based column of the nth occurrence of token on its line."""
    i = -1
    for _ in range(nth + 1):
        i = query.index(token, i + 1)
    line_start = query.rfind("\n", 0, i) + 1
    return query.count("\n", 0, i) + 1, i - line_start + 1


def syntax_cases():
    q1 = "%s | where Level == " % T
    q2 = "%s | wher Level" % T
    q3 = "%s | take abc" % T
    q4 = "%s\n| where DurationMs >\n| count" % T
    q5 = "%s | where (DurationMs > 3" % T
    q6 = '%s | where Level == "Err' % T
    q7 = "%s | summarize count() by" % T
    q8 = "%s | where Level == 1 ||| count" % T
    q9 = "%s | extend X = nosuchfn(DurationMs)" % T
    return [
        (q1, (1, len(q1) + 1)),               # end of query
        (q2, col_of(q2, "wher")),
        (q3, col_of(q3, "abc")),
        (q4, (3, 1)),                          # the '|' of line 3
        (q5, (1, len(q5) + 1)),
        (q6, col_of(q6, '"')),                 # unterminated string
        (q7, (1, len(q7) + 1)),
        (q8, col_of(q8, "|", 2)),              # the second '|' of '|||'
        (q9, col_of(q9, "nosuchfn")),
    ]


class ErrorTest(QueryCase):
    def test_syntax_error_position(self):
        for q, (line, col) in syntax_cases():
            with self.subTest(query=q):
                err = check_envelope(self, self.post(q), 400,
                                     "QUERY_SYNTAX_ERROR")
                detail = err.get("detail", "")
                m = SYNTAX_SEP.search(detail)
                self.assertIsNotNone(m, "no position in detail %r" % detail)
                self.assertEqual((int(m.group(1)), int(m.group(2))),
                                 (line, col), "%r: %r" % (q, detail))

    def test_unknown_table(self):
        check_envelope(self, self.post("NoSuchTable | count"), 404,
                       "NOT_FOUND")
        check_envelope(self, self.post("%s | count" % T, ws="no-such-ws"),
                       404, "NOT_FOUND")
        check_envelope(self, SRV.v1("GET", get_path("NoSuchTable | take 1")),
                       404, "NOT_FOUND")

    def test_bad_requests(self):
        p = query_path()
        check_envelope(self, SRV.v1("POST", p, {"timespan": "PT1H"}), 400,
                       "BAD_REQUEST")
        check_envelope(self, SRV.v1("POST", p, [1, 2]), 400, "BAD_REQUEST")
        check_envelope(self, SRV.v1("POST", p, "{not json"), 400,
                       "BAD_REQUEST")
        check_envelope(self, self.post("%s | count" % T, "bogus"), 400,
                       "BAD_REQUEST")

    def test_server_alive_after_errors(self):
        for q, _ in syntax_cases():
            self.post(q)
        self.assertEqual(self.q_count("%s | count" % T), N_ROWS)
        SRV.healthz()


# ------------------------------------------------------- GET and batch

GET_POST_QUERIES = [
    ("%s | count" % T, None),
    ('%s | where Caller in ("user03@contoso.com") and DurationMs >= 200 '
     '| summarize count(), avg(DurationMs) by OperationName' % T, None),
    ("%s | where OperationName contains \"Storage\" | top 5 by DurationMs "
     "| project CorrelationId, DurationMs, Success" % T, None),
    ("%s | summarize count() by bin(TimeGenerated, 1d) | sort by "
     "TimeGenerated asc" % T, None),
    ("%s | distinct Category & more" % T, None),   # a syntax error
    ("Mixed | project k, A, R, S, B", None),
]


def fixed_span():
    return "%s/%s" % (fmt_dt(PIVOT_S - 86400), fmt_dt(PIVOT_S))


class GetPostBatchTest(QueryCase):
    def test_get_equals_post(self):
        cases = GET_POST_QUERIES + [
            ("%s | summarize count() by Level" % T, fixed_span()),
            # "start/duration", clock-free like "start/end"
            ("%s | where Level == \"Error\" | count" % T,
             "%s/P1DT6H" % fmt_dt(PIVOT_S - 86400))]
        for q, ts in cases:
            with self.subTest(query=q, timespan=ts):
                p = self.post(q, ts)
                g = SRV.v1("GET", get_path(q, ts))
                self.assertEqual(g[0], p[0], "%r %r" % (g[3][:300],
                                                      p[3][:300]))
                # an HTML-form encoding ('+' for space) reads the same
                g2 = SRV.v1("GET", get_path(q, ts, plus=True))
                self.assertEqual((g2[0], g2[2] if p[0] == 200 else None),
                                 (p[0], p[2] if p[0] == 200 else None))
                if p[0] == 200:
                    self.assertEqual(g[2], p[2])
                else:
                    self.assertEqual(g[2]["error"]["code"],
                                     p[2]["error"]["code"])
                    self.assertEqual(g[2]["error"].get("detail"),
                                     p[2]["error"].get("detail"))

    def test_long_get_query(self):
        """A query longer than the server takes in a request line: POST
        runs it; GET gets a well-formed HTTP/1.x answer (200, or a 4xx
        with the error envelope), never a malformed status line."""
        q = '%s | where Level == "Error"%s| count' % (T, " " * 25000)
        self.assertEqual(self.q_count(q),
                         count_of(lambda r: r["Level"] == "Error"))
        target = "/v1" + get_path(q)
        self.assertGreater(len(target), 65536)
        status, hdrs, body = raw_request(SRV.port, "GET", target)
        m = re.match(r"^HTTP/1\.[01] (\d{3}) ", status)
        self.assertIsNotNone(m, "malformed status line %r" % status)
        code = int(m.group(1))
        self.assertTrue(code == 200 or 400 <= code < 500, status)
        if code != 200:
            err = json.loads(body)["error"]
            self.assertIn(err["code"], ("BAD_REQUEST", "PAYLOAD_TOO_LARGE"))

    def test_batch_item_equals_plain(self):
        reqs = []
        for i, (q, ts) in enumerate(GET_POST_QUERIES):
            reqs.append({"id": "p%d" % i, "method": "POST",
                         "workspace": WS, "path": "/query",
                         "body": qbody(q, ts)})
            reqs.append({"id": "g%d" % i, "method": "GET",
                         "url": "/v1" + get_path(q, ts)})
        by_id, _ = SRV.batch_ok(reqs)
        for i, (q, ts) in enumerate(GET_POST_QUERIES):
            st, _, body, _ = self.post(q, ts)
            for kind in "pg":
                item = by_id["%s%d" % (kind, i)]
                with self.subTest(item=item["id"], query=q):
                    self.assertEqual(item["status"], st)
                    if st == 200:
                        self.assertEqual(item["body"], body)
                    else:
                        self.assertEqual(item["body"]["error"]["code"],
                                         body["error"]["code"])

    def test_batch_20_queries_crud_and_syntax_error(self):
        notes = "Notes"
        reqs, expect = [], {}
        # 18 counting queries over AzureActivity, answers from Python
        cases = WHERE_CASES[:14] + pivot_cases()[:4]
        for i, (clause, pred) in enumerate(cases):
            reqs.append({"id": "q%d" % i, "method": "POST", "workspace": WS,
                         "path": "/query",
                         "body": qbody("%s | where %s | count" % (T, clause))})
            expect["q%d" % i] = ([("Count", "long")], [[count_of(pred)]])
        # a GET-form query item with a (clock-free) timespan
        span = fixed_span()
        lo, hi = PIVOT_S - 86400, PIVOT_S
        reqs.append({"id": "q18", "method": "GET",
                     "url": get_path("%s | summarize count(), max(DurationMs)"
                                     " by Success" % T, span)})
        sel = [r for r in ROWS if lo <= r["_ts"] <= hi]
        expect["q18"] = ([("Success", "bool"), ("count_", "long"),
                          ("max_DurationMs", "long")],
                         [[k, len(v), max(r["DurationMs"] for r in v)]
                          for k, v in group(sel, lambda r:
                                            r["Success"]).items()])
        # CRUD on another table, then a query that sees it
        reqs += [
            {"id": "c1", "method": "PUT", "workspace": WS,
             "path": "/tables/%s/rows/n1" % notes, "body": {"v": 1}},
            {"id": "c2", "method": "GET", "workspace": WS,
             "path": "/tables/%s/rows/n1" % notes, "dependsOn": ["c1"]},
            {"id": "c3", "method": "PATCH", "workspace": WS,
             "path": "/tables/%s/rows/n1" % notes, "body": {"w": 2},
             "dependsOn": ["c2"]},
            {"id": "c4", "method": "POST", "workspace": WS,
             "path": "/tables/%s/rows" % notes, "body": {"id": "n2", "v": 5}},
            {"id": "c5", "method": "PUT", "workspace": WS,
             "path": "/tables/%s/rows/n3" % notes, "body": {"v": 10.5}},
            {"id": "c6", "method": "DELETE", "workspace": WS,
             "path": "/tables/%s/rows/n1" % notes, "dependsOn": ["c3"]},
            {"id": "c7", "method": "GET", "workspace": WS,
             "path": "/tables/%s/rows/missing" % notes},
            {"id": "q19", "method": "POST", "workspace": WS, "path": "/query",
             "body": qbody("%s | summarize count(), sum(v)" % notes),
             "dependsOn": ["c4", "c5", "c6"]},
        ]
        expect["q19"] = ([("count_", "long"), ("sum_v", "real")],
                         [[2, 15.5]])
        bad = "%s | where DurationMs >> 3" % T
        reqs.append({"id": "bad", "method": "POST", "workspace": WS,
                     "path": "/query", "body": qbody(bad)})
        self.assertEqual(sum(1 for r in reqs if r["id"].startswith("q")), 20)

        by_id, resps = SRV.batch_ok(reqs)
        self.assertEqual(set(by_id), {r["id"] for r in reqs})
        for qid, (cols, rows) in expect.items():
            item = by_id[qid]
            with self.subTest(item=qid):
                self.assertEqual(item["status"], 200, item)
                gcols, grows = check_shape(self, item["body"])
                self.assertEqual(gcols, cols)
                self.assert_rows_unordered(grows, rows, qid)
        self.assertEqual(by_id["c1"]["status"], 201, by_id["c1"])
        self.assertIn("ETag", by_id["c1"]["headers"])
        self.assertEqual((by_id["c2"]["status"], by_id["c2"]["body"]),
                         (200, {"v": 1}))
        self.assertEqual((by_id["c3"]["status"], by_id["c3"]["body"]),
                         (200, {"v": 1, "w": 2}))
        self.assertEqual(by_id["c4"]["status"], 201, by_id["c4"])
        self.assertEqual(by_id["c5"]["status"], 201, by_id["c5"])
        self.assertEqual(by_id["c6"]["status"], 204, by_id["c6"])
        check_item_error(self, by_id["c7"], 404, "NOT_FOUND")
        err = check_item_error(self, by_id["bad"], 400, "QUERY_SYNTAX_ERROR")
        m = SYNTAX_SEP.search(err.get("detail", ""))
        self.assertIsNotNone(m, err)
        self.assertEqual((int(m.group(1)), int(m.group(2))),
                         col_of(bad, ">", 1))
        # the batch's writes are there afterwards
        st, _, body, _ = SRV.v1("GET", rows_path(WS, notes, "n1"))
        self.assertEqual(st, 404)
        st, _, body, _ = SRV.v1("GET", rows_path(WS, notes, "n2"))
        self.assertEqual((st, body), (200, {"id": "n2", "v": 5}))


# ------------------------------------------------------------ limits

LIM = None
LIM_ROWS = 1500


class LimitTest(QueryCase):
    """query_max_result_rows = 100, query_max_rows_scanned = 1000."""

    @classmethod
    def setUpClass(cls):
        global LIM
        LIM = Server(workers=2, query_max_result_rows=100,
                     query_max_rows_scanned=1000,
                     extra_args=["--db-sync", "off"]).start()
        try:
            gen_load(LIM.port, "lim", T, LIM_ROWS, 3, NOW)
            gen_load(LIM.port, "lim", "Small", 300, 4, NOW)
            gen_load(LIM.port, "lim", "Edge", 1000, 5, NOW)
        except BaseException:
            LIM.stop(check=False)
            LIM = None
            raise

    @classmethod
    def tearDownClass(cls):
        global LIM
        if LIM is not None:
            LIM.stop()
            LIM = None

    def lpost(self, query):
        return LIM.v1("POST", "/workspaces/lim/query", qbody(query))

    def ok(self, query):
        st, _, body, raw = self.lpost(query)
        self.assertEqual(st, 200, "%s -> %d %r" % (query, st, raw[:300]))
        return check_shape(self, body)

    def over(self, query, which):
        err = check_envelope(self, self.lpost(query), 422,
                             "QUERY_LIMIT_EXCEEDED")
        self.assertIn(which, err.get("detail", ""), (query, err))

    def partial(self, query):
        """Over query_max_result_rows: 200, the first 100 rows, and a
        PartialError beside the tables (as Log Analytics answers)."""
        st, _, body, raw = self.lpost(query)
        self.assertEqual(st, 200, "%s -> %d %r" % (query, st, raw[:300]))
        self.assertEqual(body["error"]["code"], "PartialError", query)
        self.assertIn("query_max_result_rows",
                      body["error"]["innererror"]["message"])
        self.assertEqual(len(body["tables"][0]["rows"]), 100, query)
        return body["tables"][0]["rows"]

    def test_result_rows(self):
        cols, rows = self.ok("%s | take 100" % T)
        self.assertEqual(len(rows), 100)
        self.partial("%s | take 101" % T)
        self.partial("Small | project CorrelationId")
        self.partial("Small | summarize count() by CorrelationId")
        rows = self.partial("Small | sort by DurationMs desc | project "
                            "DurationMs")
        self.assertEqual(rows, sorted(rows, reverse=True))
        self.partial("Small | distinct CorrelationId")
        # groups then sorted: all are needed before the first is known
        self.over("Small | summarize count() by CorrelationId | sort by "
                  "count_", "query_max_result_rows")
        cols, rows = self.ok("Small | sort by DurationMs desc | take 5")
        self.assertEqual(len(rows), 5)
        cols, rows = self.ok("Small | summarize count() by Level")
        self.assertEqual(sum(r[1] for r in rows), 300)
        cols, rows = self.ok("Small | where DurationMs > 10000 | project "
                             "CorrelationId")
        self.assertEqual(rows, [])

    def test_rows_scanned(self):
        self.over("%s | count" % T, "query_max_rows_scanned")
        self.over('%s | where Level == "Nope" | count' % T,
                  "query_max_rows_scanned")
        self.over("%s | summarize count() by Level" % T,
                  "query_max_rows_scanned")
        self.over("%s | top 3 by DurationMs" % T, "query_max_rows_scanned")
        cols, rows = self.ok("%s | take 10" % T)     # the scan stops early
        self.assertEqual(len(rows), 10)

    def test_scan_boundary(self):
        self.assertEqual(self.ok("Edge | count")[1], [[1000]])
        st, _, _, raw = LIM.v1("PUT", rows_path("lim", "Edge", "zz-extra"),
                               {"Level": "Error"})
        self.assertEqual(st, 201, raw[:300])
        self.over("Edge | count", "query_max_rows_scanned")

    def test_limit_in_batch(self):
        reqs = [
            {"id": "over", "method": "POST", "workspace": "lim",
             "path": "/query", "body": qbody("%s | count" % T)},
            {"id": "ok", "method": "POST", "workspace": "lim",
             "path": "/query", "body": qbody("Small | count")},
            {"id": "put", "method": "PUT", "workspace": "lim",
             "path": "/tables/Other/rows/a", "body": {"x": 1}},
        ]
        by_id, _ = LIM.batch_ok(reqs)
        check_item_error(self, by_id["over"], 422, "QUERY_LIMIT_EXCEEDED")
        self.assertEqual(by_id["ok"]["status"], 200)
        self.assertEqual(check_shape(self, by_id["ok"]["body"])[1], [[300]])
        self.assertEqual(by_id["put"]["status"], 201)
        LIM.healthz()


if __name__ == "__main__":
    unittest.main()
