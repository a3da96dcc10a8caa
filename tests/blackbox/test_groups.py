"""Issue 4 / SPEC 3.1: atomicity groups (one LMDB write transaction,
all-or-nothing), dependsOn naming groups and group members, a group
whose worker dies mid-way, and stop_on_error."""

import itertools
import unittest

from harness import Server, check_item_error, rows_path
from batch_util import (batch_ok, crash_item, get, item, put, read_row,
                         sleep_item)

SRV = None
_counter = itertools.count()


def setUpModule():
    global SRV
    SRV = Server(workers=2, debug_ops=True)
    SRV.start()


def tearDownModule():
    global SRV
    if SRV is not None:
        SRV.stop()
        SRV = None


class GroupBase(unittest.TestCase):
    def setUp(self):
        self.ws = "g%d" % next(_counter)

    def put_ok(self, key, value):
        st, _, body, raw = SRV.v1("PUT", rows_path(self.ws, "t", key), value)
        self.assertIn(st, (200, 201), raw[:300])
        return body

    def row(self, key):
        """(status, body, etag) of the row now."""
        return read_row(SRV, self.ws, key)

    def snapshot(self, keys):
        """{key: (status, body or error code, ETag)} - comparable across
        reads (an error body's request id differs each time)."""
        out = {}
        for k in keys:
            st, body, etag = self.row(k)
            if st >= 400:
                body = (body or {}).get("error", {}).get("code")
            out[k] = (st, body, etag)
        return out

    def assert_absent(self, *keys):
        for k in keys:
            st, body, _ = self.row(k)
            self.assertEqual(st, 404, "row %r should not exist: %r" % (k, body))

    def assert_row(self, key, value):
        st, body, etag = self.row(key)
        self.assertEqual((st, body), (200, value), "row %r" % key)
        return etag

    def assert_424(self, it):
        check_item_error(self, it, 424, "FAILED_DEPENDENCY")


class AtomicGroupEchoTest(GroupBase):
    """OData 4.01: each answer item of an atomicity group carries that
    group's name; items outside a group carry none."""

    def test_answers_name_their_group(self):
        g1, g2 = "grp-\u00e9", "g2"
        byid, _ = batch_ok(self, SRV, [
            put("a", self.ws, "a", {"v": 1}, atomicityGroup=g1),
            put("b", self.ws, "b", {"v": 2}, atomicityGroup=g1),
            get("c", self.ws, "a"),
            put("d", self.ws, "d", {"v": 4}, atomicityGroup=g2),
        ])
        self.assertEqual(byid["a"].get("atomicityGroup"), g1)
        self.assertEqual(byid["b"].get("atomicityGroup"), g1)
        self.assertEqual(byid["d"].get("atomicityGroup"), g2)
        self.assertNotIn("atomicityGroup", byid["c"])

    def test_failed_group_members_name_their_group(self):
        self.put_ok("x", {"v": 0})
        byid, _ = batch_ok(self, SRV, [
            put("a", self.ws, "a", {"v": 1}, atomicityGroup="g"),
            put("b", self.ws, "x", {"v": 2}, atomicityGroup="g",
                headers={"If-Match": "\"nope\""}),
        ])
        self.assertEqual(byid["b"]["status"], 412)
        self.assert_424(byid["a"])
        self.assertEqual([byid[k].get("atomicityGroup") for k in "ab"],
                         ["g", "g"])


class AtomicGroupFailureTest(GroupBase):
    """A failing member rolls the whole group back: it answers its own
    error, every other member 424, and the store is as before."""

    def test_middle_if_match_mismatch_leaves_store_unchanged(self):
        self.put_ok("a", {"v": 0})
        self.put_ok("b", {"v": 0})
        before = self.snapshot(["a", "b", "c"])
        r, _ = batch_ok(self, SRV, [
            put("1", self.ws, "a", {"v": 1}, atomicityGroup="g"),
            put("2", self.ws, "b", {"v": 1}, atomicityGroup="g",
                headers={"If-Match": '"no-such-etag"'}),
            put("3", self.ws, "c", {"v": 1}, atomicityGroup="g"),
        ])
        self.assertEqual(sorted(r), ["1", "2", "3"])
        check_item_error(self, r["2"], 412, "PRECONDITION_FAILED")
        self.assert_424(r["1"])
        self.assert_424(r["3"])
        # A read of the group's uncommitted write is not handed out
        # either: it answers 424 like every other member.
        r, _ = batch_ok(self, SRV, [
            put("1", self.ws, "a", {"v": 2}, atomicityGroup="g"),
            get("2", self.ws, "a", atomicityGroup="g"),
            put("3", self.ws, "b", {"v": 2}, atomicityGroup="g",
                headers={"If-Match": '"no-such-etag"'}),
        ])
        check_item_error(self, r["3"], 412, "PRECONDITION_FAILED")
        self.assert_424(r["1"])
        self.assert_424(r["2"])
        # Nothing written: same bodies and same ETags as before.
        self.assertEqual(self.snapshot(["a", "b", "c"]), before)
        self.assertEqual(before["c"][0], 404)

    def test_middle_patch_of_missing_row_rolls_back_delete_and_put(self):
        self.put_ok("keep", {"k": 1})
        before = self.snapshot(["keep", "new"])
        r, _ = batch_ok(self, SRV, [
            item("del", rows_path(self.ws, "t", "keep"), "DELETE",
                 atomicityGroup="g"),
            item("patch", rows_path(self.ws, "t", "missing"), "PATCH",
                 {"x": 1}, atomicityGroup="g"),
            put("put", self.ws, "new", {"n": 1}, atomicityGroup="g"),
        ], ordered=True)
        check_item_error(self, r["patch"], 404, "NOT_FOUND")
        self.assert_424(r["del"])
        self.assert_424(r["put"])
        self.assertEqual(self.snapshot(["keep", "new"]), before)
        self.assert_absent("missing")

    def test_failure_at_each_position(self):
        # Three groups in one batch, failing first, middle and last.
        reqs = []
        for g in range(3):
            for pos in range(3):
                iid = "g%d-%d" % (g, pos)
                if pos == g:
                    # POST of an id that exists: 409 CONFLICT.
                    reqs.append(item(iid, rows_path(self.ws, "t"), "POST",
                                     {"id": "exists"}, atomicityGroup="G%d" % g))
                else:
                    reqs.append(put(iid, self.ws, "k%d-%d" % (g, pos),
                                    {"g": g}, atomicityGroup="G%d" % g))
        self.put_ok("exists", {"e": 1})
        r, _ = batch_ok(self, SRV, reqs)
        self.assertEqual(len(r), 9)
        for g in range(3):
            for pos in range(3):
                iid = "g%d-%d" % (g, pos)
                if pos == g:
                    check_item_error(self, r[iid], 409, "CONFLICT")
                else:
                    self.assert_424(r[iid])
                    self.assert_absent("k%d-%d" % (g, pos))
        self.assert_row("exists", {"e": 1})

    def test_member_that_cannot_be_routed_fails_the_group(self):
        # An unknown path or a nested batch is that member's own error;
        # nothing of the group runs.
        self.put_ok("a", {"v": 0})
        before = self.snapshot(["a", "b"])
        r, _ = batch_ok(self, SRV, [
            put("1", self.ws, "a", {"v": 1}, atomicityGroup="g"),
            item("2", "/workspaces/%s/nowhere" % self.ws,
                 atomicityGroup="g"),
            put("3", self.ws, "b", {"v": 1}, atomicityGroup="g"),
            put("4", self.ws, "b", {"v": 1}, atomicityGroup="h"),
            item("5", "/$batch", "POST", {"requests": []},
                 atomicityGroup="h"),
        ])
        check_item_error(self, r["2"], 404, "PATH_NOT_FOUND")
        check_item_error(self, r["5"], 400, "NESTED_BATCH_NOT_ALLOWED")
        for iid in ("1", "3", "4"):
            self.assert_424(r[iid])
        self.assertEqual(self.snapshot(["a", "b"]), before)

    def test_read_of_row_deleted_earlier_in_group_fails_the_group(self):
        # The read sees the group's own delete (404), and that 404 rolls
        # the delete back.
        self.put_ok("r", {"r": 1})
        etag = self.row("r")[2]
        r, _ = batch_ok(self, SRV, [
            item("d", rows_path(self.ws, "t", "r"), "DELETE",
                 atomicityGroup="g"),
            get("g", self.ws, "r", atomicityGroup="g"),
        ])
        check_item_error(self, r["g"], 404, "NOT_FOUND")
        self.assert_424(r["d"])
        self.assertEqual(self.row("r"), (200, {"r": 1}, etag))


class AtomicGroupSuccessTest(GroupBase):
    def test_reads_inside_group_see_earlier_writes(self):
        r, _ = batch_ok(self, SRV, [
            put("w1", self.ws, "k", {"n": 1}, atomicityGroup="g"),
            get("r1", self.ws, "k", atomicityGroup="g"),
            item("p", rows_path(self.ws, "t", "k"), "PATCH", {"m": 2},
                 atomicityGroup="g"),
            get("r2", self.ws, "k", atomicityGroup="g"),
            item("scan", rows_path(self.ws, "t"), atomicityGroup="g"),
        ])
        self.assertEqual(r["w1"]["status"], 201, r["w1"])
        self.assertEqual((r["r1"]["status"], r["r1"].get("body")),
                         (200, {"n": 1}), r["r1"])
        self.assertEqual(r["p"]["status"], 200, r["p"])
        self.assertEqual((r["r2"]["status"], r["r2"].get("body")),
                         (200, {"n": 1, "m": 2}), r["r2"])
        self.assertEqual(r["scan"]["status"], 200, r["scan"])
        rows = r["scan"]["body"]["rows"]
        self.assertEqual([(x["key"], x["value"]) for x in rows],
                         [("k", {"n": 1, "m": 2})])
        # The read inside the group saw the ETag the write produced.
        self.assertEqual(r["r1"]["headers"].get("ETag"),
                         r["w1"]["headers"].get("ETag"))
        etag = self.assert_row("k", {"n": 1, "m": 2})
        self.assertEqual(etag, r["p"]["headers"].get("ETag"))

    def test_successful_group_commits_everything(self):
        self.put_ok("old", {"o": 1})
        self.put_ok("gone", {"x": 1})
        old_etag = self.row("old")[2]
        r, _ = batch_ok(self, SRV, [
            put("1", self.ws, "a", {"a": 1}, atomicityGroup="g"),
            put("2", self.ws, "old", {"o": 2}, atomicityGroup="g",
                headers={"If-Match": old_etag}),
            item("3", rows_path(self.ws, "t"), "POST", {"id": "c", "c": 3},
                 atomicityGroup="g"),
            item("4", rows_path(self.ws, "t", "gone"), "DELETE",
                 atomicityGroup="g"),
            put("5", self.ws, "d", {"d": 4}, atomicityGroup="g",
                headers={"If-None-Match": "*"}),
        ])
        self.assertEqual({k: v["status"] for k, v in r.items()},
                         {"1": 201, "2": 200, "3": 201, "4": 204, "5": 201})
        self.assertTrue(r["3"]["headers"].get("Location", "").endswith(
            "/rows/c"), r["3"])
        for iid, key, val in (("1", "a", {"a": 1}), ("2", "old", {"o": 2}),
                              ("3", "c", {"id": "c", "c": 3}),
                              ("5", "d", {"d": 4})):
            etag = self.assert_row(key, val)
            self.assertEqual(etag, r[iid]["headers"].get("ETag"), key)
        self.assertNotEqual(self.row("old")[2], old_etag)
        self.assert_absent("gone")

    def test_group_members_not_contiguous(self):
        # Members interleaved with a plain item still form one group.
        r, _ = batch_ok(self, SRV, [
            put("g1", self.ws, "x", {"x": 1}, atomicityGroup="g"),
            put("plain", self.ws, "p", {"p": 1}),
            get("g2", self.ws, "x", atomicityGroup="g"),
        ])
        self.assertEqual(r["g1"]["status"], 201)
        self.assertEqual(r["plain"]["status"], 201)
        self.assertEqual((r["g2"]["status"], r["g2"].get("body")),
                         (200, {"x": 1}))

    def test_two_groups_in_one_batch_are_independent(self):
        r, _ = batch_ok(self, SRV, [
            put("a1", self.ws, "a1", {"a": 1}, atomicityGroup="A"),
            put("b1", self.ws, "b1", {"b": 1}, atomicityGroup="B"),
            item("a2", rows_path(self.ws, "t", "nope"), "PATCH", {"z": 1},
                 atomicityGroup="A"),
            put("b2", self.ws, "b2", {"b": 2}, atomicityGroup="B"),
            put("a3", self.ws, "a3", {"a": 3}, atomicityGroup="A"),
            put("free", self.ws, "free", {"f": 1}),
        ])
        check_item_error(self, r["a2"], 404, "NOT_FOUND")
        self.assert_424(r["a1"])
        self.assert_424(r["a3"])
        self.assertEqual((r["b1"]["status"], r["b2"]["status"],
                          r["free"]["status"]), (201, 201, 201))
        self.assert_absent("a1", "a3")
        self.assert_row("b1", {"b": 1})
        self.assert_row("b2", {"b": 2})
        self.assert_row("free", {"f": 1})


class GroupDependsOnTest(GroupBase):
    def test_depends_on_group_and_member_wait_for_it(self):
        # The group starts with a 150 ms sleep, so an item that did not
        # wait for it would read nothing.
        r, _ = batch_ok(self, SRV, [
            sleep_item("s", 150, atomicityGroup="g"),
            put("w1", self.ws, "a", {"a": 1}, atomicityGroup="g"),
            put("w2", self.ws, "b", {"b": 1}, atomicityGroup="g"),
            get("byGroup", self.ws, "a", dependsOn=["g"]),
            get("byMember", self.ws, "b", dependsOn=["s"]),
        ])
        self.assertEqual([r[i]["status"] for i in ("s", "w1", "w2")],
                         [200, 201, 201], r)
        self.assertEqual((r["byGroup"]["status"], r["byGroup"].get("body")),
                         (200, {"a": 1}), r["byGroup"])
        self.assertEqual((r["byMember"]["status"], r["byMember"].get("body")),
                         (200, {"b": 1}), r["byMember"])

    def test_depends_on_failed_group_or_member_is_424(self):
        r, _ = batch_ok(self, SRV, [
            put("w1", self.ws, "a", {"a": 1}, atomicityGroup="g"),
            item("bad", rows_path(self.ws, "t", "missing"), "PATCH",
                 {"x": 1}, atomicityGroup="g"),
            put("byGroup", self.ws, "c", {"c": 1}, dependsOn=["g"]),
            # w1 itself answers 424 (rolled back), so this is 424 too.
            put("byMember", self.ws, "d", {"d": 1}, dependsOn=["w1"]),
            put("chain", self.ws, "e", {"e": 1}, dependsOn=["byGroup"]),
            put("free", self.ws, "f", {"f": 1}),
        ])
        check_item_error(self, r["bad"], 404, "NOT_FOUND")
        for iid in ("w1", "byGroup", "byMember", "chain"):
            self.assert_424(r[iid])
        self.assertEqual(r["free"]["status"], 201)
        self.assert_absent("a", "c", "d", "e")
        self.assert_row("f", {"f": 1})

    def test_group_waits_for_its_own_dependencies(self):
        r, _ = batch_ok(self, SRV, [
            sleep_item("slow", 100),
            put("pre", self.ws, "pre", {"p": 1}, dependsOn=["slow"]),
            get("g1", self.ws, "pre", atomicityGroup="g", dependsOn=["pre"]),
            put("g2", self.ws, "after", {"a": 1}, atomicityGroup="g"),
        ])
        self.assertEqual((r["g1"]["status"], r["g1"].get("body")),
                         (200, {"p": 1}), r["g1"])
        self.assertEqual(r["g2"]["status"], 201)
        self.assert_row("after", {"a": 1})

    def test_group_with_failed_dependency_does_not_run(self):
        r, _ = batch_ok(self, SRV, [
            item("dep", rows_path(self.ws, "t", "missing"), "PATCH", {"x": 1}),
            put("g1", self.ws, "h", {"h": 1}, atomicityGroup="g"),
            put("g2", self.ws, "i", {"i": 1}, atomicityGroup="g",
                dependsOn=["dep"]),
        ])
        check_item_error(self, r["dep"], 404, "NOT_FOUND")
        self.assert_424(r["g1"])
        self.assert_424(r["g2"])
        self.assert_absent("h", "i")


class GroupCrashTest(GroupBase):
    def test_worker_killed_mid_group_writes_nothing(self):
        self.put_ok("a", {"v": 0})
        before = self.snapshot(["a", "b", "z"])
        r, _ = batch_ok(self, SRV, [
            put("p1", self.ws, "a", {"v": 1}, atomicityGroup="g"),
            put("p2", self.ws, "b", {"v": 1}, atomicityGroup="g"),
            crash_item("boom", atomicityGroup="g"),
            put("p3", self.ws, "z", {"v": 1}, atomicityGroup="g"),
            put("dep", self.ws, "y", {"v": 1}, dependsOn=["g"]),
            put("other", self.ws, "o", {"o": 1}),
        ])
        for iid in ("p1", "p2", "boom", "p3"):
            check_item_error(self, r[iid], 500, "WORKER_CRASHED")
        self.assert_424(r["dep"])
        self.assertEqual(r["other"]["status"], 201)
        self.assertEqual(self.snapshot(["a", "b", "z"]), before)
        self.assert_absent("y")
        self.assert_row("o", {"o": 1})
        # The worker is replaced and groups work again.
        SRV.wait_workers(timeout=15)
        r, _ = batch_ok(self, SRV, [
            put("q1", self.ws, "a", {"v": 2}, atomicityGroup="g"),
            get("q2", self.ws, "a", atomicityGroup="g"),
        ])
        self.assertEqual((r["q1"]["status"], r["q2"].get("body")),
                         (200, {"v": 2}))


class GroupTimeoutTest(GroupBase):
    def test_group_killed_by_timeout_writes_nothing(self):
        with Server(workers=1, debug_ops=True, item_timeout_ms=300) as srv:
            ws = self.ws
            st, _, _, raw = srv.v1("PUT", rows_path(ws, "t", "a"), {"v": 0})
            self.assertEqual(st, 201, raw[:200])
            r, _ = batch_ok(self, srv, [
                put("p1", ws, "a", {"v": 1}, atomicityGroup="g"),
                put("p2", ws, "b", {"v": 1}, atomicityGroup="g"),
                sleep_item("slow", 3000, atomicityGroup="g"),
                put("p3", ws, "c", {"v": 1}, atomicityGroup="g"),
                put("dep", ws, "d", {"v": 1}, dependsOn=["g"]),
            ])
            for iid in ("p1", "p2", "slow", "p3"):
                self.assertIn(r[iid]["status"], (500, 504), r[iid])
                self.assertIn(r[iid]["body"]["error"]["code"],
                              ("QUERY_TIMEOUT", "WORKER_CRASHED"))
            self.assert_424(r["dep"])
            st, body, _ = read_row(srv, ws, "a")
            self.assertEqual((st, body), (200, {"v": 0}))
            for k in ("b", "c", "d"):
                self.assertEqual(read_row(srv, ws, k)[0], 404, k)


class StopOnErrorTest(GroupBase):
    N = 5

    def run_failing_at(self, fail_pos):
        reqs = []
        for i in range(self.N):
            if i == fail_pos:
                reqs.append(item(str(i), rows_path(self.ws, "t", "missing"),
                                 "PATCH", {"x": 1}))
            else:
                reqs.append(put(str(i), self.ws, "k%d" % i, {"i": i}))
        _, resps = batch_ok(self, SRV, reqs, stop_on_error=True)
        # Exactly the items run, in request order (ordered is false).
        self.assertEqual([x["id"] for x in resps],
                         [str(i) for i in range(fail_pos + 1)], resps)
        for x in resps[:-1]:
            self.assertEqual(x["status"], 201, x)
        check_item_error(self, resps[-1], 404, "NOT_FOUND")
        for i in range(self.N):
            if i < fail_pos:
                self.assert_row("k%d" % i, {"i": i})
            elif i > fail_pos:
                self.assert_absent("k%d" % i)

    def test_failure_first(self):
        self.run_failing_at(0)

    def test_failure_middle(self):
        self.run_failing_at(2)

    def test_failure_last(self):
        self.run_failing_at(self.N - 1)

    def test_no_failure_runs_all_in_order(self):
        # Sequential: each read sees the write just before it, with no
        # dependsOn; a 20 ms sleep first would let a parallel read win.
        _, resps = batch_ok(self, SRV, [
            sleep_item("s", 20),
            put("w1", self.ws, "k", {"n": 1}),
            get("r1", self.ws, "k"),
            put("w2", self.ws, "k", {"n": 2}),
            get("r2", self.ws, "k"),
        ], stop_on_error=True)
        self.assertEqual([x["id"] for x in resps],
                         ["s", "w1", "r1", "w2", "r2"])
        self.assertEqual([x["status"] for x in resps],
                         [200, 201, 200, 200, 200])
        self.assertEqual(resps[2]["body"], {"n": 1})
        self.assertEqual(resps[4]["body"], {"n": 2})

    def test_depends_on_a_later_item_is_still_honoured(self):
        # stop_on_error runs items in request order, but "dependsOn: the
        # item runs only after each listed item has finished" still holds:
        # an item naming a later one must not run before it.  Refusing
        # the batch (400) or running it after its dependency both keep
        # the contract; running it first does not.
        st, _, body, raw = SRV.batch([
            get("r", self.ws, "fk", dependsOn=["w"]),
            put("w", self.ws, "fk", {"a": 1}),
        ], stop_on_error=True)
        if st == 400:
            self.assertEqual(body["error"]["code"], "BAD_REQUEST")
            self.assert_absent("fk")
            return
        self.assertEqual(st, 200, raw[:300])
        r = {x["id"]: x for x in body["responses"]}
        self.assertIn("r", r)
        self.assertEqual((r["r"]["status"], r["r"].get("body")),
                         (200, {"a": 1}),
                         "item r ran before its dependency w: %r" % (r["r"],))

    def test_failed_group_stops_the_batch(self):
        _, resps = batch_ok(self, SRV, [
            put("0", self.ws, "k0", {"i": 0}),
            put("1", self.ws, "k1", {"i": 1}, atomicityGroup="g"),
            item("2", rows_path(self.ws, "t", "missing"), "PATCH", {"x": 1},
                 atomicityGroup="g"),
            put("3", self.ws, "k3", {"i": 3}),
        ], stop_on_error=True)
        self.assertEqual([x["id"] for x in resps], ["0", "1", "2"], resps)
        self.assertEqual(resps[0]["status"], 201)
        self.assert_424(resps[1])
        check_item_error(self, resps[2], 404, "NOT_FOUND")
        self.assert_row("k0", {"i": 0})
        self.assert_absent("k1", "k3")


if __name__ == "__main__":
    unittest.main()
