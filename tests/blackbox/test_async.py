"""Issue 4 / SPEC 3.3: asynchronous batches - POST /v1/batches, GET with
progress and paged responses, DELETE (cancel), persistence across a
restart, expiry, size limit, owner tokens, and a 10,000-item batch that
must not starve synchronous work."""

import collections
import datetime
import re
import threading
import time
import unittest

from harness import (Server, check_envelope, check_item_error, rows_path)
from batch_util import (TempDir, async_all, async_get, async_post,
                         async_wait, batch, get, item, percentile, put, req,
                         sleep_item, token_options)

SRV = None
MAX_ASYNC = 300
_LOC_RE = re.compile(r"^/v1/batches/([A-Za-z0-9_-]+)$")
_SUMMARY_KEYS = {"id", "status", "total", "completed", "failed", "created_at"}


def setUpModule():
    global SRV
    SRV = Server(workers=2, debug_ops=True, max_async_items=MAX_ASYNC)
    SRV.start()


def tearDownModule():
    global SRV
    if SRV is not None:
        SRV.stop()
        SRV = None


def check_summary(tc, s, total=None, statuses=("queued", "running",
                                               "completed", "cancelled")):
    tc.assertIsInstance(s, dict)
    tc.assertEqual(set(s), _SUMMARY_KEYS, "summary members: %r" % (s,))
    tc.assertIsInstance(s["id"], str)
    tc.assertIn(s["status"], statuses, s)
    for k in ("total", "completed", "failed"):
        tc.assertIsInstance(s[k], int, s)
        tc.assertGreaterEqual(s[k], 0, s)
    tc.assertLessEqual(s["completed"], s["total"], s)
    tc.assertLessEqual(s["failed"], s["completed"], s)
    if total is not None:
        tc.assertEqual(s["total"], total, s)
    created = datetime.datetime.strptime(s["created_at"],
                                         "%Y-%m-%dT%H:%M:%SZ")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    tc.assertLess(abs((now - created).total_seconds()), 600,
                  "created_at %r is not now" % s["created_at"])


def post_ok(tc, srv, requests, token=None, **props):
    """POST /v1/batches that must be accepted; returns (location, body)."""
    resp = async_post(srv, requests, token=token, **props)
    st, h, body, raw = resp
    tc.assertEqual(st, 201, "async batch not accepted: %d %r" % (st, raw[:300]))
    loc = h.get("Location")
    tc.assertIsNotNone(loc, "201 without Location")
    m = _LOC_RE.match(loc)
    tc.assertIsNotNone(m, "Location %r" % loc)
    tc.assertIsInstance(body, dict, raw[:300])
    tc.assertEqual(set(body), {"meta", "batch"}, body)
    tc.assertEqual(body["meta"].get("request_id"), h.get("X-Request-Id"))
    check_summary(tc, body["batch"], total=len(requests),
                  statuses=("queued", "running", "completed"))
    tc.assertEqual(body["batch"]["id"], m.group(1))
    return loc, body


def ids_once(tc, responses, expected_ids):
    """Every expected id answered exactly once, and nothing else."""
    counts = collections.Counter(r.get("id") for r in responses)
    dup = sorted(i for i, c in counts.items() if c > 1)
    tc.assertFalse(dup, "ids answered more than once: %r" % dup[:10])
    missing = sorted(set(expected_ids) - set(counts))
    extra = sorted(set(counts) - set(expected_ids))
    tc.assertFalse(missing or extra, "missing %r, extra %r"
                   % (missing[:10], extra[:10]))


class AsyncBasicsTest(unittest.TestCase):
    def test_post_201_location_shape_and_poll_to_completed(self):
        ws = "abasic"
        reqs = [put("p%d" % i, ws, "k%d" % i, {"i": i}) for i in range(5)]
        reqs.append(get("miss", ws, "nope", dependsOn=["p0"]))
        reqs.append(get("r0", ws, "k0", dependsOn=["p0"]))
        loc, _ = post_ok(self, SRV, reqs)
        body = async_wait(self, SRV, loc, timeout=20)
        s = body["batch"]
        check_summary(self, s, total=7, statuses=("completed",))
        self.assertEqual((s["completed"], s["failed"]), (7, 1), s)
        summary, resps, _ = async_all(self, SRV, loc)
        self.assertEqual(summary, s)
        ids_once(self, resps, [r["id"] for r in reqs])
        by_id = {r["id"]: r for r in resps}
        for i in range(5):
            r = by_id["p%d" % i]
            self.assertEqual((r["status"], r["body"]), (201, {"i": i}), r)
            self.assertTrue(r["headers"].get("ETag"), r)
        check_item_error(self, by_id["miss"], 404, "NOT_FOUND")
        self.assertEqual((by_id["r0"]["status"], by_id["r0"]["body"]),
                         (200, {"i": 0}))
        # The items really ran against the store.
        st, _, b, _ = SRV.v1("GET", rows_path(ws, "t", "k4"))
        self.assertEqual((st, b), (200, {"i": 4}))

    def test_groups_depends_on_and_ordered_work_in_async_batches(self):
        ws = "agroup"
        loc, _ = post_ok(self, SRV, [
            put("a", ws, "a", {"a": 1}, atomicityGroup="g"),
            item("bad", rows_path(ws, "t", "missing"), "PATCH", {"x": 1},
                 atomicityGroup="g"),
            put("after", ws, "c", {"c": 1}, dependsOn=["g"]),
            put("ok", ws, "d", {"d": 1}),
            item("nested", "/$batch", "POST", {"requests": []}),
        ])
        async_wait(self, SRV, loc, timeout=20)
        s, resps, _ = async_all(self, SRV, loc)
        self.assertEqual((s["status"], s["completed"], s["failed"]),
                         ("completed", 5, 4), s)
        r = {x["id"]: x for x in resps}
        check_item_error(self, r["bad"], 404, "NOT_FOUND")
        check_item_error(self, r["a"], 424, "FAILED_DEPENDENCY")
        check_item_error(self, r["after"], 424, "FAILED_DEPENDENCY")
        check_item_error(self, r["nested"], 400, "NESTED_BATCH_NOT_ALLOWED")
        self.assertEqual(r["ok"]["status"], 201)
        self.assertEqual(SRV.v1("GET", rows_path(ws, "t", "a"))[0], 404)

    def test_stop_on_error_async_holds_exactly_the_items_run(self):
        # SPEC 3.1 stop_on_error: the items after the failure are neither
        # run nor answered; an async batch has the same body semantics.
        ws = "astop"
        reqs = [put("a", ws, "k0", {"i": 0}),
                item("b", rows_path(ws, "t", "missing"), "PATCH", {"x": 1}),
                put("c", ws, "k2", {"i": 2}),
                put("d", ws, "k3", {"i": 3}),
                put("e", ws, "k4", {"i": 4})]
        loc, _ = post_ok(self, SRV, reqs, stop_on_error=True)
        async_wait(self, SRV, loc, timeout=20)
        for limit in (1000, 2, 1):
            s, resps, _ = async_all(self, SRV, loc, limit=limit)
            self.assertEqual([r["id"] for r in resps], ["a", "b"],
                             "limit=%d: responses %r"
                             % (limit, [(r["id"], r["status"]) for r in resps]))
            self.assertEqual(s["failed"], 1, s)
        self.assertEqual(resps[0]["status"], 201)
        check_item_error(self, resps[1], 404, "NOT_FOUND")
        for k in ("k2", "k3", "k4"):
            self.assertEqual(SRV.v1("GET", rows_path(ws, "t", k))[0], 404)

    def test_paged_responses_cover_every_id_once(self):
        ws = "apage"
        n = 250
        reqs = []
        for i in range(n):
            if i % 10 == 3:
                reqs.append(get(str(i), ws, "missing%d" % i))
            else:
                reqs.append(put(str(i), ws, "k%03d" % i, {"i": i}))
        loc, _ = post_ok(self, SRV, reqs)
        async_wait(self, SRV, loc, timeout=30)
        for limit in (1, 40, 1000):
            s, resps, pages = async_all(self, SRV, loc, limit=limit)
            self.assertEqual((s["status"], s["total"], s["completed"],
                              s["failed"]), ("completed", n, n, n // 10), s)
            self.assertEqual(pages, -(-n // limit), "limit %d" % limit)
            ids_once(self, resps, [str(i) for i in range(n)])
            for x in resps:
                i = int(x["id"])
                if i % 10 == 3:
                    check_item_error(self, x, 404, "NOT_FOUND")
                else:
                    self.assertEqual((x["status"], x["body"]), (201, {"i": i}))
        # Pages are stable: the same offset gives the same responses.
        a = async_get(SRV, loc, offset=37, limit=20)[2]
        b = async_get(SRV, loc, offset=37, limit=20)[2]
        self.assertEqual(a["responses"], b["responses"])
        self.assertEqual(len(a["responses"]), 20)
        self.assertEqual(a["next_offset"], 57)
        # Past the end: an empty page, no next.
        st, _, body, raw = async_get(SRV, loc, offset=n + 5, limit=10)
        self.assertEqual(st, 200, raw[:300])
        self.assertEqual((body["responses"], body["next_offset"]), ([], None))
        # Nonsense paging parameters are the client's error.
        for q in ("?limit=abc", "?offset=-1", "?limit=0", "?offset=x"):
            check_envelope(self, SRV.request("GET", loc + q), 400,
                           "BAD_REQUEST")

    def test_more_than_max_async_items_is_batch_too_large(self):
        reqs = [sleep_item(str(i), 0) for i in range(MAX_ASYNC + 1)]
        check_envelope(self, async_post(SRV, reqs), 400, "BATCH_TOO_LARGE")
        # Exactly the limit is accepted.
        loc, _ = post_ok(self, SRV, reqs[:MAX_ASYNC])
        s = async_wait(self, SRV, loc, timeout=30)["batch"]
        self.assertEqual((s["completed"], s["failed"]), (MAX_ASYNC, 0))
        # A synchronous batch keeps its own, smaller limit.
        check_envelope(self, batch(SRV, reqs[:101]), 400, "BATCH_TOO_LARGE")

    def test_invalid_body_is_400(self):
        for body in ("{", {"requests": {}}, {"requests": [{"id": "1"}]},
                     {"requests": [{"id": "1", "path": "/x"},
                                   {"id": "1", "path": "/y"}]}):
            check_envelope(self, req(SRV, "POST", "/v1/batches", body), 400,
                           "BAD_REQUEST")

    def test_unknown_id_is_404(self):
        for bid in ("A" * 24, "nosuchbatch", "x"):
            check_envelope(self, SRV.request("GET", "/v1/batches/" + bid),
                           404, "NOT_FOUND")
            check_envelope(self, SRV.request("DELETE", "/v1/batches/" + bid),
                           404, "NOT_FOUND")

    def test_wrong_methods_are_405(self):
        loc, _ = post_ok(self, SRV, [sleep_item("1", 0)])
        for m in ("GET", "PUT", "PATCH", "DELETE"):
            check_envelope(self, SRV.request(m, "/v1/batches"), 405,
                           "METHOD_NOT_ALLOWED")
        for m in ("POST", "PUT", "PATCH"):
            check_envelope(self, SRV.request(m, loc, {}), 405,
                           "METHOD_NOT_ALLOWED")
            check_envelope(self, SRV.request(m, "/v1/batches/" + "B" * 24,
                                             {}), 405, "METHOD_NOT_ALLOWED")
        async_wait(self, SRV, loc, timeout=20)

    def test_cancel_mid_way(self):
        n = 200
        reqs = [sleep_item("s%d" % i, 20) for i in range(n)]
        loc, _ = post_ok(self, SRV, reqs)
        async_wait(self, SRV, loc, timeout=20,
                   pred=lambda b: b["completed"] >= 4, interval=0.01)
        st, h, body, raw = SRV.request("DELETE", loc)
        self.assertEqual(st, 200, raw[:300])
        self.assertEqual(body["meta"]["request_id"], h.get("X-Request-Id"))
        check_summary(self, body["batch"], total=n, statuses=("cancelled",))
        self.assertLess(body["batch"]["completed"], n,
                        "batch finished before it could be cancelled")
        # Items already running finish; then every item has its answer.
        t0 = time.monotonic()
        s = async_wait(self, SRV, loc, timeout=10,
                       pred=lambda b: b["completed"] == b["total"])["batch"]
        self.assertLess(time.monotonic() - t0, 5.0,
                        "cancelled items were not answered at once")
        self.assertEqual(s["status"], "cancelled", s)
        s, resps, _ = async_all(self, SRV, loc, limit=64)
        ids_once(self, resps, [r["id"] for r in reqs])
        statuses = [r["status"] for r in resps]
        ran = statuses.count(200)
        cancelled = [r for r in resps if r["status"] == 499]
        self.assertEqual(ran + len(cancelled), n,
                         "unexpected statuses %r" % sorted(set(statuses)))
        self.assertGreaterEqual(ran, 4)
        self.assertGreater(len(cancelled), n // 2, "%d cancelled" % len(cancelled))
        for r in cancelled:
            check_item_error(self, r, 499, "CANCELLED")
        self.assertEqual((s["status"], s["completed"], s["failed"]),
                         ("cancelled", n, len(cancelled)), s)
        # Cancelling again changes nothing.
        st, _, body, raw = SRV.request("DELETE", loc)
        self.assertIn(st, (200, 404), raw[:300])
        if st == 200:
            self.assertEqual(body["batch"]["status"], "cancelled")
        s2, resps2, _ = async_all(self, SRV, loc, limit=1000)
        self.assertEqual((s2["status"], s2["failed"]), ("cancelled",
                                                        len(cancelled)))
        self.assertEqual(sorted(r["id"] for r in resps2),
                         sorted(r["id"] for r in resps))


    def test_cancel_answers_not_started_dependents_499(self):
        # Two long sleeps hold both async worker places; "late" has not
        # started when the batch is cancelled, and neither has "dep",
        # which waits for it: SPEC 3.3 "items not yet started answer 499".
        loc, _ = post_ok(self, SRV, [
            sleep_item("a", 600), sleep_item("b", 600),
            sleep_item("late", 10),
            put("dep", "acancel", "k", {"v": 1}, dependsOn=["late"]),
            put("grp", "acancel", "g", {"v": 1}, atomicityGroup="g",
                dependsOn=["late"]),
        ])
        st, _, body, raw = SRV.request("DELETE", loc)
        self.assertEqual(st, 200, raw[:300])
        self.assertEqual(body["batch"]["status"], "cancelled")
        async_wait(self, SRV, loc, timeout=10,
                   pred=lambda b: b["completed"] == b["total"])
        _, resps, _ = async_all(self, SRV, loc)
        r = {x["id"]: x for x in resps}
        ids_once(self, resps, ["a", "b", "late", "dep", "grp"])
        self.assertEqual((r["a"]["status"], r["b"]["status"]), (200, 200))
        for iid in ("late", "dep", "grp"):
            check_item_error(self, r[iid], 499, "CANCELLED")
        self.assertEqual(SRV.v1("GET", rows_path("acancel", "t", "k"))[0], 404)


class AsyncOwnerTest(unittest.TestCase):
    A = "owner-A-7f3c9e2b41d8a6f0c5e9"
    B = "owner-B-0d1e2f3a4b5c6d7e8f90"

    def test_batch_visible_only_to_its_token(self):
        with Server(workers=2, debug_ops=True,
                    **token_options((self.A, "ows1"), (self.B, "*"))) as srv:
            reqs = [sleep_item("s%d" % i, 100) for i in range(10)]
            reqs.append(put("w", "ows1", "k", {"v": 1}))
            loc, _ = post_ok(self, srv, reqs, token=self.A)
            # While it runs: B sees nothing, cannot cancel it.
            check_envelope(self, req(srv, "GET", loc, token=self.B), 404,
                           "NOT_FOUND")
            check_envelope(self, req(srv, "DELETE", loc, token=self.B), 404,
                           "NOT_FOUND")
            check_envelope(self, req(srv, "GET", loc), 401, "UNAUTHORIZED")
            st, _, body, _ = req(srv, "GET", loc, token=self.A)
            self.assertEqual(st, 200)
            self.assertNotEqual(body["batch"]["status"], "cancelled")
            s = async_wait(self, srv, loc, token=self.A, timeout=20)["batch"]
            self.assertEqual((s["status"], s["failed"]), ("completed", 0), s)
            # Stored: still A's only.
            check_envelope(self, req(srv, "GET", loc, token=self.B), 404,
                           "NOT_FOUND")
            check_envelope(self, req(srv, "GET", loc + "?offset=0&limit=5",
                                     token=self.B), 404, "NOT_FOUND")
            _, resps, _ = async_all(self, srv, loc, token=self.A)
            ids_once(self, resps, [r["id"] for r in reqs])
            # B's own batch is B's.
            loc2, _ = post_ok(self, srv, [sleep_item("x", 0)], token=self.B)
            async_wait(self, srv, loc2, token=self.B, timeout=20)
            check_envelope(self, req(srv, "GET", loc2, token=self.A), 404,
                           "NOT_FOUND")


class AsyncExpiryTest(unittest.TestCase):
    def test_results_expire_after_ttl_counted_from_completion(self):
        with Server(workers=2, debug_ops=True, async_result_ttl_s=1) as srv:
            # Two sleeps in a chain: the batch runs ~1.4 s, longer than
            # the TTL, so a TTL counted from creation would already have
            # dropped it when it completes.
            loc, _ = post_ok(self, srv, [
                sleep_item("1", 700), sleep_item("2", 700, dependsOn=["1"])])
            async_wait(self, srv, loc, timeout=20)
            t_done = time.monotonic()
            st, _, body, raw = async_get(srv, loc)
            self.assertEqual(st, 200, "gone right at completion: %r" % raw[:300])
            self.assertEqual(len(body["responses"]), 2)
            # Expiry is time-based: a bounded sleep past the TTL, then a
            # bounded poll for the 404.
            time.sleep(1.2)
            deadline = t_done + 6.0
            while True:
                resp = async_get(srv, loc)
                if resp[0] == 404 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            check_envelope(self, resp, 404, "NOT_FOUND")


class AsyncLargeAndRestartTest(unittest.TestCase):
    N = 10000

    def test_10000_items_do_not_starve_sync_and_survive_restart(self):
        with TempDir() as db:
            args = ["--db-sync", "off", "--max-async-items", str(self.N),
                    "--db-path", db]
            srv = Server(workers=2, extra_args=args).start()
            try:
                loc, summary = self.run_large(srv)
            finally:
                srv.stop(check=False)
            self.assertEqual(srv.exit_code, 0, "SIGTERM exit code")
            with Server(workers=2, extra_args=args) as srv2:
                self.check_after_restart(srv2, loc, summary)

    def run_large(self, srv):
        ws = "big"
        stop = threading.Event()
        samples = []      # (t_start, latency, status, item status)
        errors = []

        def sync_client():
            i = 0
            while not stop.is_set() and i < 100000:
                t = time.monotonic()
                try:
                    st, _, body, _ = srv.request(
                        "POST", "/v1/$batch",
                        {"requests": [put("1", "sync", "s%d" % (i % 50),
                                          {"i": i})]}, timeout=10)
                    ist = body["responses"][0]["status"] if st == 200 else None
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(repr(e))
                    st, ist = None, None
                samples.append((t, time.monotonic() - t, st, ist))
                i += 1

        th = threading.Thread(target=sync_client, daemon=True)
        th.start()
        try:
            reqs = [put(str(i), ws, "k%05d" % i, {"i": i})
                    for i in range(self.N)]
            t_post = time.monotonic()
            loc, _ = post_ok(self, srv, reqs)
            t_posted = time.monotonic()
            body = async_wait(self, srv, loc, timeout=60, interval=0.02)
            t_done = time.monotonic()
        finally:
            stop.set()
            th.join(15)
        self.assertFalse(th.is_alive(), "sync client thread hung")
        s = body["batch"]
        self.assertEqual((s["status"], s["total"], s["completed"], s["failed"]),
                         ("completed", self.N, self.N, 0), s)
        self.assertFalse(errors, "sync requests failed: %r" % errors[:5])
        bad = [x for x in samples if x[2] != 200 or x[3] not in (200, 201)]
        self.assertFalse(bad, "sync batches not answered 200/2xx: %r" % bad[:5])
        during = [x[1] for x in samples if t_posted <= x[0] and
                  x[0] + x[1] <= t_done]
        lat = [x[1] for x in samples]
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        print("\n  async %d items: accepted in %.3fs, completed in %.3fs; "
              "sync 1-item batches: %d total, %d during, p50 %.1f ms, "
              "p99 %.1f ms, max %.1f ms"
              % (self.N, t_posted - t_post, t_done - t_post, len(lat),
                 len(during), p50 * 1e3, p99 * 1e3, max(lat) * 1e3),
              flush=True)
        self.assertGreaterEqual(len(during), 3,
                                "too few synchronous batches ran while the "
                                "async batch did")
        self.assertLess(p99, 0.5, "sync p99 latency %.3fs" % p99)
        self.assertLess(max(lat), 2.0, "sync max latency %.3fs" % max(lat))
        return loc, s

    def check_after_restart(self, srv, loc, summary):
        st, _, body, raw = async_get(srv, loc, limit=1)
        self.assertEqual(st, 200, "after restart: %d %r" % (st, raw[:300]))
        self.assertEqual(body["batch"], summary)
        s, resps, pages = async_all(self, srv, loc, limit=1000)
        self.assertEqual(pages, self.N // 1000)
        self.assertEqual(s, summary)
        ids_once(self, resps, [str(i) for i in range(self.N)])
        for r in resps:
            if r["status"] != 201 or r["body"] != {"i": int(r["id"])}:
                self.fail("stored response %r" % (r,))
        st, _, b, _ = srv.v1("GET", rows_path("big", "t", "k09999"))
        self.assertEqual((st, b), (200, {"i": 9999}))

    def test_batch_cut_short_by_sigterm_is_cancelled_after_restart(self):
        with TempDir() as db:
            args = ["--db-path", db]
            srv = Server(workers=1, debug_ops=True, extra_args=args).start()
            try:
                reqs = [sleep_item(str(i), 50) for i in range(100)]
                loc, _ = post_ok(self, srv, reqs)
                async_wait(self, srv, loc, timeout=20,
                           pred=lambda b: b["completed"] >= 2, interval=0.01)
            finally:
                srv.stop(check=False)
            self.assertEqual(srv.exit_code, 0)
            with Server(workers=1, debug_ops=True, extra_args=args) as srv2:
                st, _, body, raw = async_get(srv2, loc)
                self.assertEqual(st, 200, raw[:300])
                s, resps, _ = async_all(self, srv2, loc, limit=1000)
                self.assertEqual(s["status"], "cancelled", s)
                ids = [r["id"] for r in resps]
                self.assertEqual(len(ids), len(set(ids)),
                                 "an item answered twice")
                self.assertEqual(s["completed"], len(resps))
                for r in resps:
                    self.assertIn(r["status"], (200, 499), r)
                self.assertTrue(any(r["status"] == 200 for r in resps))


class AsyncRecordWithItemTest(unittest.TestCase):
    """Issue 11: no item of an async batch runs without its record being
    stored.  The master is killed (SIGKILL, its workers die with it) while
    a batch of PUTs runs; after a restart on the same store every row a
    PUT wrote has that PUT's stored answer, once.  Before the worker
    stored an answer in the transaction that ran its item, the master
    saved answers in bursts, and a kill between the two lost the records
    of items that had run."""

    N = 8000
    ROUNDS = 3

    def rows(self, srv, ws):
        keys, after = set(), None
        while True:
            path = rows_path(ws, "t") + "?limit=1000"
            if after is not None:
                path += "&after=" + after
            st, _, body, raw = srv.v1("GET", path)
            self.assertEqual(st, 200, raw[:300])
            keys.update(r["key"] for r in body["rows"])
            after = body["next"]
            if after is None:
                return keys

    def test_every_row_written_has_its_record_after_master_kill(self):
        with TempDir() as db:
            args = ["--db-path", db, "--max-async-items", str(self.N)]
            for rnd in range(self.ROUNDS):
                ws = "kill%d" % rnd
                # Single PUTs, and atomicity groups of two every 50 items
                # (their answers are stored with the group's effects).
                reqs = []
                for i in range(self.N):
                    extra = {}
                    if i % 50 in (0, 1):
                        extra["atomicityGroup"] = "g%d" % (i // 50)
                    reqs.append(put(str(i), ws, "k%05d" % i, {"i": i},
                                    **extra))
                srv = Server(workers=2, extra_args=args).start()
                try:
                    loc, _ = post_ok(self, srv, reqs)
                    async_wait(self, srv, loc, timeout=60, interval=0.005,
                               pred=lambda b: b["completed"] >= 50)
                    srv.kill_master()
                finally:
                    srv.stop(check=False)
                with Server(workers=2, extra_args=args) as srv2:
                    s, resps, _ = async_all(self, srv2, loc, limit=1000)
                    written = self.rows(srv2, ws)
                print("\n  round %d: %d of %d items ran before the kill, "
                      "%d records" % (rnd, len(written), self.N, len(resps)),
                      flush=True)
                ids = [r["id"] for r in resps]
                self.assertEqual(len(ids), len(set(ids)),
                                 "an item has two records")
                self.assertEqual(s["completed"], len(resps), s)
                ok = {"k%05d" % int(r["id"]) for r in resps
                      if r["status"] in (200, 201)}
                ran_unrecorded = sorted(written - ok)
                self.assertFalse(ran_unrecorded, "round %d: %d rows written "
                                 "by items without a stored answer, e.g. %r"
                                 % (rnd, len(ran_unrecorded),
                                    ran_unrecorded[:5]))
                self.assertLess(len(written), self.N,
                                "round %d: the kill came after the end" % rnd)
                self.assertGreater(len(written), 0, s)
                for r in resps:
                    if r["status"] in (200, 201):
                        self.assertEqual(r["body"], {"i": int(r["id"])}, r)
                        if int(r["id"]) % 50 in (0, 1):
                            self.assertEqual(r.get("atomicityGroup"),
                                             "g%d" % (int(r["id"]) // 50), r)


if __name__ == "__main__":
    unittest.main()
