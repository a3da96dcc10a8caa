"""Issue 7, crash consistency: writers run plain PUTs of unique keys and
atomic groups of three PUTs while processes are SIGKILLed at random
moments - first workers (every 30-80 ms, for ~12 s), then, separately, the
master itself, several times, each time restarted on the same store.
Afterwards: every write acknowledged 2xx is there with its exact value, a
write whose answer was lost is there whole or not at all, no group is
half-applied, `mdb_stat -a` reads the store, and a full scan (paging with
after/next) finds every acknowledged key and only well-formed rows."""

import os
import random
import re
import threading
import time
import unittest

from harness import Server, rows_path
from hardening_util import (TempDir, kill_child, live_children, mdb_stat,
                            scan_rows, value_for, value_ok)

WS = "cc"
PLAIN = "plain"
GROUPS = "groups"
REQ_TIMEOUT = 15
_ETAG_RE = re.compile(r'^"[^"]+"$')


class Ledger:
    """What the clients know: writes acknowledged 2xx, and writes whose
    outcome is unknown (error answer, or no answer at all)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}            # key -> value
        self.unknown = {}          # key -> value
        self.groups_acked = {}     # group -> [(key, value)] * 3
        self.groups_unknown = {}
        self.answers = {}          # status (or exception name) -> count
        self.unknown_present = None          # filled in by verify()
        self.groups_unknown_present = None

    def count(self, what):
        with self.lock:
            self.answers[what] = self.answers.get(what, 0) + 1

    def summary(self):
        return ("%d plain acked, %d plain unknown (%s stored), %d groups "
                "acked, %d groups unknown (%s stored); answers %r"
                % (len(self.acked), len(self.unknown), self.unknown_present,
                   len(self.groups_acked), len(self.groups_unknown),
                   self.groups_unknown_present,
                   sorted(self.answers.items(), key=str)))


class Writers:
    """nplain threads of plain PUTs, ngroup threads of 3-PUT atomic
    groups, until stop().  tag keeps keys of different runs apart."""

    def __init__(self, srv, ledger, tag, nplain=3, ngroup=2):
        self.srv = srv
        self.ledger = ledger
        self.tag = tag
        self.nplain = nplain
        self.ngroup = ngroup
        self.stop_ev = threading.Event()
        self.threads = []
        self.rnd = random.Random(tag)

    def size(self):
        # Mostly small rows, some of up to 64 KiB: a write then takes long
        # enough (copy, overflow pages, fsync) for a kill to land in it.
        r = self.rnd.random()
        return 48 if r < 0.6 else self.rnd.randint(1024, 65536)

    def start(self):
        for t in range(self.nplain):
            self.threads.append(threading.Thread(
                target=self._plain, args=(t,), daemon=True))
        for t in range(self.ngroup):
            self.threads.append(threading.Thread(
                target=self._group, args=(t,), daemon=True))
        for th in self.threads:
            th.start()
        return self

    def stop(self, timeout=40.0):
        self.stop_ev.set()
        deadline = time.monotonic() + timeout
        for th in self.threads:
            th.join(max(0.0, deadline - time.monotonic()))
        return [th for th in self.threads if th.is_alive()]

    def _pause(self, st):
        # Back off a little on refusals (no live worker, a dead master)
        # so the loop does not spin.
        if st in (503, None):
            time.sleep(0.02)

    def _plain(self, t):
        led = self.ledger
        n = 0
        while not self.stop_ev.is_set():
            key = "%s-p%d-%06d" % (self.tag, t, n)
            n += 1
            val = value_for(key, "%s/%d" % (self.tag, n), self.size())
            st = None
            try:
                st, _, body, _ = self.srv.v1("PUT", rows_path(WS, PLAIN, key),
                                             val, timeout=REQ_TIMEOUT)
                led.count(st)
            except Exception as e:       # connection refused/reset
                led.count(type(e).__name__)
                body = None
            with led.lock:
                if st in (200, 201) and body == val:
                    led.acked[key] = val
                else:
                    led.unknown[key] = val
            self._pause(st)

    def _group(self, t):
        led = self.ledger
        n = 0
        while not self.stop_ev.is_set():
            gid = "%s-g%d-%06d" % (self.tag, t, n)
            n += 1
            members = []
            for k in range(3):
                key = "%s-%d" % (gid, k)
                members.append((key, value_for(key, gid, self.size())))
            reqs = [{"id": str(k), "method": "PUT", "atomicityGroup": "g",
                     "url": rows_path(WS, GROUPS, key), "body": val}
                    for k, (key, val) in enumerate(members)]
            st = None
            ok = False
            try:
                st, _, body, _ = self.srv.request(
                    "POST", "/v1/$batch", {"requests": reqs},
                    timeout=REQ_TIMEOUT)
                led.count("batch %s" % st)
                if st == 200:
                    by = {r["id"]: r for r in body["responses"]}
                    ok = all(by[str(k)]["status"] in (200, 201) and
                             by[str(k)]["body"] == members[k][1]
                             for k in range(3))
                    for r in body["responses"]:
                        led.count("item %s" % r["status"])
            except Exception as e:
                led.count(type(e).__name__)
            with led.lock:
                (led.groups_acked if ok else led.groups_unknown)[gid] = members
            self._pause(st)


class Killer:
    """SIGKILL a random worker of master every 30-80 ms."""

    def __init__(self, master, seed):
        self.master = master
        self.rnd = random.Random(seed)
        self.stop_ev = threading.Event()
        self.kills = 0
        self.th = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.th.start()
        return self

    def stop(self):
        self.stop_ev.set()
        self.th.join(10)

    def _run(self):
        while not self.stop_ev.wait(self.rnd.uniform(0.03, 0.08)):
            kids = live_children(self.master)
            if kids and kill_child(self.master, self.rnd.choice(kids)):
                self.kills += 1


class CrashConsistencyTest(unittest.TestCase):

    def verify(self, srv, led, db_dir):
        """The store holds exactly what the ledger allows."""
        problems = []
        rows = {}
        for table in (PLAIN, GROUPS):
            got = scan_rows(srv, WS, table, limit=97, timeout=30)
            keys = [r.get("key") for r in got]
            if keys != sorted(set(keys)):
                problems.append("%s: scan not in strictly increasing key "
                                "order" % table)
            for r in got:
                key = r.get("key")
                if not isinstance(key, str) or \
                        not isinstance(r.get("etag"), str) or \
                        not _ETAG_RE.match(r["etag"]) or \
                        not value_ok(key, r.get("value")):
                    problems.append("%s: malformed row %r" % (table, r))
                rows[(table, key)] = r.get("value")
        led.unknown_present = sum(1 for k in led.unknown
                                  if (PLAIN, k) in rows)
        led.groups_unknown_present = sum(
            1 for m in led.groups_unknown.values() if (GROUPS, m[0][0]) in rows)
        known_plain = dict(led.unknown)
        known_plain.update(led.acked)
        for (table, key), v in rows.items():
            if table == PLAIN and key not in known_plain:
                problems.append("plain row nobody wrote: %r" % key)
        for key, val in led.acked.items():
            got = rows.get((PLAIN, key), "<missing>")
            if got != val:
                problems.append("acknowledged PUT %s: stored %r, want %r"
                                % (key, got, val))
        for key, val in led.unknown.items():
            got = rows.get((PLAIN, key))
            if got is not None and got != val:
                problems.append("unacknowledged PUT %s stored damaged: %r"
                                % (key, got))
        group_keys = set()
        for acked, groups in ((True, led.groups_acked),
                              (False, led.groups_unknown)):
            for gid, members in groups.items():
                present = 0
                for key, val in members:
                    group_keys.add(key)
                    got = rows.get((GROUPS, key))
                    if got is not None:
                        present += 1
                        if got != val:
                            problems.append("group %s key %s stored %r"
                                            % (gid, key, got))
                if present not in (0, 3) or (acked and present != 3):
                    problems.append("group %s (%s) half-applied: %d of 3 "
                                    "rows" % (gid, "acknowledged" if acked
                                              else "unacknowledged", present))
        for (table, key) in rows:
            if table == GROUPS and key not in group_keys:
                problems.append("group row nobody wrote: %r" % key)
        # Spot checks through plain reads: value and ETag.
        rnd = random.Random(len(led.acked))
        for key in rnd.sample(sorted(led.acked), min(40, len(led.acked))):
            st, h, body, raw = srv.v1("GET", rows_path(WS, PLAIN, key))
            if st != 200 or body != led.acked[key] or \
                    not _ETAG_RE.match(h.get("ETag") or ""):
                problems.append("GET %s: %d %r" % (key, st, raw[:200]))
        rc, out = mdb_stat(db_dir)
        if rc != 0:
            problems.append("mdb_stat -a %s: exit %d: %s" % (db_dir, rc,
                                                            out[-1000:]))
        self.assertEqual(problems, [], "%d problems (%s); first:\n%s"
                         % (len(problems), led.summary(),
                            "\n".join(problems[:20])))
        return len(rows)

    def test_workers_sigkilled_during_writes(self):
        led = Ledger()
        with TempDir() as d:
            db = os.path.join(d, "db")
            # db_sync on: a commit then includes an fsync, a wide window
            # for a kill to land in the middle of a write.
            srv = Server(workers=3, extra_args=["--db-path", db,
                                                "--db-sync", "on"])
            srv.start()
            try:
                master = srv.proc.pid
                srv.wait_workers()
                writers = Writers(srv, led, "w").start()
                killer = Killer(master, 0xC0FFEE).start()
                time.sleep(12.0)
                killer.stop()
                stuck = writers.stop()
                self.assertEqual(stuck, [], "writer threads hung")
                self.assertTrue(srv.alive(), "the master died:\n"
                                + srv.log_text()[-3000:])
                self.assertGreater(killer.kills, 50, "killer barely ran")
                # Some writes got through between the kills.
                self.assertGreater(len(led.acked), 20, led.summary())
                self.assertGreater(len(led.groups_acked), 5, led.summary())
                srv.wait_workers(timeout=20)
                self.verify(srv, led, db)
            finally:
                srv.stop()
            # And after a clean restart on the same store.
            with Server(workers=2, extra_args=["--db-path", db]) as srv2:
                self.verify(srv2, led, db)

    def test_master_sigkilled_during_writes(self):
        led = Ledger()
        rnd = random.Random(0xDEAD)
        with TempDir() as d:
            db = os.path.join(d, "db")
            for rnd_no in range(4):
                srv = Server(workers=2, extra_args=["--db-path", db,
                                                    "--db-sync", "on"])
                srv.start()
                try:
                    writers = Writers(srv, led, "m%d" % rnd_no).start()
                    time.sleep(rnd.uniform(0.4, 1.2))
                    srv.kill_master()
                    stuck = writers.stop()
                    self.assertEqual(stuck, [], "writer threads hung")
                finally:
                    srv.stop(check=False)
                rc, out = mdb_stat(db)
                self.assertEqual(rc, 0, "mdb_stat after master kill %d:\n%s"
                                 % (rnd_no, out[-1000:]))
            self.assertGreater(len(led.acked), 20, led.summary())
            self.assertGreater(len(led.groups_acked), 5, led.summary())
            self.assertGreater(len(led.unknown) + len(led.groups_unknown), 0,
                               "no write was cut short: " + led.summary())
            with Server(workers=2, extra_args=["--db-path", db]) as srv:
                self.verify(srv, led, db)


if __name__ == "__main__":
    unittest.main()
