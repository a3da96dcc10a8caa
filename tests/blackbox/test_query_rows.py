"""SPEC section 5: how the query engine reads stored rows, black-box.

The engine reads the fields a query uses straight out of the stored JSON
bytes (worker/query/query_row.c).  These tests hold it to what a tree
would answer on rows written with escapes, numbers of every form and deep
nesting; to the two semantics SPEC fixes (a column no row of the table
has is 400 QUERY_SEMANTIC_ERROR naming it; a number with a fraction or an
exponent is real, a whole number long); and to a clear error, never a
dead server, on a stored row that is not JSON (written behind the API's
back with build/tools/load_lmdb -r, as the API refuses one).
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import Server, check_envelope, rows_path
from query_util import check_shape

WS = "rows"
SRV = None

# Raw row texts, stored as sent (the API keeps the client's bytes).
NUMS = {
    "n1": '{"k":"n1","W":7,"F":2.0,"E":1e2,"X":-0,"G":3E-1}',
    "n2": '{"k":"n2","W":-12,"F":0.5,"E":2E+3,"X":5,"G":1.5e0}',
}
ESC = {
    # "\u0041bc" is Abc; "caf\u00e9" is café; a name holding a quote
    "e1": '{"k":"e1","\\u0041bc":1,"caf\\u00e9":"x\\u0041y",'
          '"q\\"t":"a\\"b","P":{"st\\u0061tus":"ok","n":{"\\u0076":3}}}',
    "e2": '{"k":"e2","Abc":2,"P":{"status":"bad\\\\path"}}',
}
# The API takes bodies nested 64 deep; deeper rows are written raw below.
DEPTH = 60


def nested(depth, leaf):
    text = json.dumps(leaf)
    for _ in range(depth):
        text = '{"a":' + text + "}"
    return text


def setUpModule():
    global SRV
    SRV = Server(workers=2, extra_args=["--db-sync", "off"]).start()
    try:
        rows = [("Nums", k, v) for k, v in NUMS.items()]
        rows += [("Esc", k, v) for k, v in ESC.items()]
        rows += [("Deep", "d1", '{"k":"d1","D":%s}' % nested(DEPTH, "leaf")),
                 ("Deep", "d2", '{"k":"d2","D":{"a":1},"Only2":true}')]
        for table, key, text in rows:
            st, _, _, raw = SRV.v1("PUT", rows_path(WS, table, key), text)
            assert st == 201, (table, key, st, raw[:300])
    except BaseException:
        SRV.stop(check=False)
        SRV = None
        raise


def tearDownModule():
    global SRV
    if SRV is not None:
        SRV.stop()
        SRV = None


def post(srv, query, ws=WS):
    return srv.v1("POST", "/workspaces/%s/query" % ws, {"query": query})


class RowsCase(unittest.TestCase):
    maxDiff = 4000

    def q(self, query, srv=None, ws=WS):
        st, _, body, raw = post(srv or SRV, query, ws)
        self.assertEqual(st, 200, "%s -> %d %r" % (query, st, raw[:500]))
        return check_shape(self, body)


class NumberTypeTest(RowsCase):
    def test_fraction_or_exponent_is_real(self):
        cols, rows = self.q("Nums | project k, W, F, E, X, G")
        self.assertEqual(cols, [("k", "string"), ("W", "long"),
                                ("F", "real"), ("E", "real"),
                                ("X", "long"), ("G", "real")])
        self.assertEqual(rows, [["n1", 7, 2.0, 100.0, 0, 0.3],
                                ["n2", -12, 0.5, 2000.0, 5, 1.5]])

    def test_arithmetic_keeps_the_types(self):
        cols, rows = self.q("Nums | extend S = W + 1, T = F * 2 "
                            "| project S, T")
        self.assertEqual(cols, [("S", "long"), ("T", "real")])
        self.assertEqual(rows, [[8, 4.0], [-11, 1.0]])
        cols, rows = self.q("Nums | summarize sum(W), sum(E)")
        self.assertEqual(cols, [("sum_W", "long"), ("sum_E", "real")])
        self.assertEqual(rows, [[-5, 2100.0]])


class UnknownColumnTest(RowsCase):
    def test_no_row_has_it(self):
        for q, name in [
                ("Nums | where isnull(Nope) | count", "Nope"),
                ("Nums | project k, Zed", "Zed"),
                ("Nums | summarize count() by Missing", "Missing"),
                ("Nums | take 1 | project Gone", "Gone"),
                ("Nums | extend y = 1 | where Absent > y", "Absent"),
                ("Nums | project-rename z = Nix", "Nix")]:
            with self.subTest(query=q):
                err = check_envelope(self, post(SRV, q), 400,
                                     "QUERY_SEMANTIC_ERROR")
                self.assertIn("'%s'" % name, err.get("detail", ""))

    def test_some_row_has_it(self):
        # the row read has it
        cols, rows = self.q('Nums | where k == "n2" | project k, F')
        self.assertEqual(rows, [["n2", 0.5]])
        # take stops the scan before the row that has it: still known
        cols, rows = self.q("Deep | take 1 | project k, Only2")
        self.assertEqual(rows, [["d1", None]])
        cols, rows = self.q('Esc | where k == "e2" | project P.n')
        self.assertEqual(rows, [[None]])
        # a member a dynamic value lacks is null, not an error
        cols, rows = self.q("Nums | where isnull(k.nothing) | count")
        self.assertEqual(rows, [[2]])


class EscapeTest(RowsCase):
    def test_member_names_with_escapes(self):
        cols, rows = self.q("Esc | project k, Abc")
        self.assertEqual(rows, [["e1", 1], ["e2", 2]])
        self.assertEqual(self.q("Esc | where Abc == 1 | count")[1], [[1]])
        cols, rows = self.q("Esc | project k, P.status, P.n.v")
        self.assertEqual(rows, [["e1", "ok", 3], ["e2", "bad\\path", None]])
        self.assertEqual(self.q('Esc | where P.status == "ok" '
                                "| count")[1], [[1]])

    def test_whole_rows_name_their_columns_decoded(self):
        cols, rows = self.q('Esc | where k == "e1"')
        names = [c for c, _ in cols]
        self.assertEqual(names, ["k", "Abc", "caf\u00e9", 'q"t', "P"])
        got = dict(zip(names, rows[0]))
        self.assertEqual(got["caf\u00e9"], "xAy")
        self.assertEqual(got['q"t'], 'a"b')
        self.assertEqual(json.loads(got["P"]),
                         {"status": "ok", "n": {"v": 3}})

    def test_strings_with_escapes_compare_decoded(self):
        self.assertEqual(self.q('Esc | where P.status == "bad\\\\path" '
                                "| count")[1], [[1]])
        self.assertEqual(self.q('Esc | where tostring(P.status) '
                                'endswith "\\\\path" | count')[1], [[1]])
        self.assertEqual(self.q('Esc | where P.status startswith "o" '
                                "| count")[1], [[1]])


class DeepTest(RowsCase):
    def test_deep_paths(self):
        path = ".".join(["D"] + ["a"] * DEPTH)
        cols, rows = self.q("Deep | project k, v = %s" % path)
        self.assertEqual(rows, [["d1", "leaf"], ["d2", None]])
        # one level too deep: "leaf" has no members
        cols, rows = self.q("Deep | project v = %s.a" % path)
        self.assertEqual(rows, [[None], [None]])
        cols, rows = self.q("Deep | project v = D.a")
        self.assertEqual(json.loads(rows[0][0]),
                         json.loads(nested(DEPTH - 1, "leaf")))
        self.assertEqual(rows[1], [1])

    def test_path_deeper_than_the_parser_takes(self):
        path = ".".join(["D"] + ["a"] * 5000)
        st, _, body, raw = post(SRV, "Deep | project %s" % path)
        self.assertIn(st, (200, 400), raw[:300])
        if st == 400:
            check_envelope(self, (st, _, body, raw), 400,
                           "QUERY_SYNTAX_ERROR")
        SRV.healthz()


def load_raw(db, table, rows):
    """Write rows [(key, text)] verbatim with build/tools/load_lmdb -r."""
    tool = os.path.join(os.environ.get("BATCHD_TOOLS", "build/tools"),
                        "load_lmdb")
    lines = "".join(json.dumps({"key": k, "value": v}) + "\n"
                    for k, v in rows)
    r = subprocess.run([tool, "-r", db, WS, table], input=lines.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60, check=False)
    if r.returncode != 0:
        raise AssertionError("load_lmdb -r: %r" % r.stderr[-300:])


class DamagedRowTest(RowsCase):
    """A stored row that is not JSON fails the query that reads it with
    500 INTERNAL_SERVER_ERROR, never the worker or the server."""

    def test_invalid_stored_json(self):
        tmp = tempfile.mkdtemp(prefix="batchd-bb-raw-")
        try:
            db = os.path.join(tmp, "db")
            load_raw(db, "Bad", [
                ("b1", '{"a":1,"b":"x"}'),
                ("b2", '{"a":2,"b":'),                 # cut short
                ("b3", '{"a":3,"b":"unterminated}'),
                ("b4", 'not json at all'),
                ("b5", '{"a":5,"b":{"c":[1,2}'),
            ])
            load_raw(db, "Cut", [("c1", '{"a":1,"b":{"c":"d"')])
            load_raw(db, "Deeper", [("d1", '{"k":1,"D":%s}'
                                     % nested(950, 7))])
            load_raw(db, "Deepest", [("d1", '{"k":1,"D":%s}'
                                      % nested(5000, 7))])
            with Server(workers=2,
                        extra_args=["--db-sync", "off",
                                    "--db-path", db]) as srv:
                self.assertEqual(self.q("Bad | count", srv)[1], [[5]])
                for q in ["Bad | project b", "Bad", "Bad | where b == 1",
                          "Bad | summarize count() by a",
                          "Bad | distinct *", "Cut | project b.c",
                          "Cut"]:
                    with self.subTest(query=q):
                        err = check_envelope(self, post(srv, q), 500,
                                             "INTERNAL_SERVER_ERROR")
                        self.assertIn("not a JSON object",
                                      err.get("detail", ""))
                # deep rows: paths read them in place, as deep as the
                # parser takes a path; as a whole value a row nested
                # 5,000 deep is deeper than the engine parses
                path = ".".join(["D"] + ["a"] * 950)
                self.assertEqual(self.q("Deeper | project k, D.a.b, %s"
                                        % path, srv)[1], [[1, None, 7]])
                self.assertEqual(self.q("Deepest | project k, D.a.b",
                                        srv)[1], [[1, None]])
                err = check_envelope(self, post(srv, "Deepest | project D"),
                                     500, "INTERNAL_SERVER_ERROR")
                self.assertIn("nests deeper", err.get("detail", ""))
                # the first row alone is fine, and so is the server
                self.assertEqual(self.q("Bad | take 1 | project a, b",
                                        srv)[1], [[1, "x"]])
                srv.healthz()
                self.assertNotIn("WORKER_CRASHED", srv.log_text())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
