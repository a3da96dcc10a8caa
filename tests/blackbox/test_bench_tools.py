"""The ceiling tools the benchmarks quote beside batchd
(build/tools/bench_commit for scripts/bench, build/tools/bench_scan for
scripts/bench-query): what they print must be what they did, or the
bench's "LMDB alone" rows and its scan ceiling mean nothing."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

TOOLS = os.environ.get("BATCHD_TOOLS", "build/tools")


def run_tool(*args):
    return subprocess.run([os.path.join(TOOLS, "bench_commit")] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=120, check=False)


class BenchCommitTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bench-commit-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_every_mode_reports_whole_groups(self):
        for mode in ("on", "commit", "off"):
            for procs in ("1", "2"):
                db = os.path.join(self.dir, mode + procs)
                r = run_tool("-m", mode, "-p", procs, "-g", "7", "-n", "500",
                             "-v", "50", "-s", "0.2", db)
                self.assertEqual(r.returncode, 0, r.stderr)
                j = json.loads(r.stdout.decode().strip().splitlines()[-1])
                self.assertEqual((j["mode"], j["procs"], j["group"], j["keys"],
                                  j["value_bytes"]), (mode, int(procs), 7, 500, 50))
                self.assertGreater(j["commits"], 0)
                self.assertEqual(j["items"], 7 * j["commits"])
                self.assertGreater(j["items_per_s"], 0)
                self.assertTrue(os.path.exists(os.path.join(db, "data.mdb")))

    def test_refuses_a_store_that_exists(self):
        db = os.path.join(self.dir, "db")
        self.assertEqual(run_tool("-s", "0.1", "-n", "10", db).returncode, 0)
        before = os.path.getsize(os.path.join(db, "data.mdb"))
        r = run_tool("-s", "0.1", "-n", "10", db)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"exists", r.stderr)
        self.assertEqual(os.path.getsize(os.path.join(db, "data.mdb")), before)

    def test_bad_options_are_refused(self):
        for args in (["-m", "maybe"], ["-g", "0"], ["-p", "0"], ["-v", "0"], []):
            r = run_tool(*args + ([os.path.join(self.dir, "x")] if args else []))
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(b"usage", r.stderr)


class BenchScanTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="bench-scan-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def scan(self, *args):
        return subprocess.run([os.path.join(TOOLS, "bench_scan")] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=120, check=False)

    def test_reports_whole_and_halves(self):
        path = os.path.join(self.dir, "f")
        with open(path, "wb") as f:
            f.write(b'{"a":"x\\"}' * 1600000 + b"tail")
        r = self.scan("-r", "7", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout.decode())
        self.assertEqual((j["file_bytes"], j["rounds"]),
                         (os.path.getsize(path), 7))
        for k in ("whole_p50_ms", "halves_p50_ms"):
            self.assertGreater(j[k], 0)
        self.assertGreaterEqual(j["whole_p90_ms"], j["whole_p50_ms"])
        self.assertGreaterEqual(j["halves_p90_ms"], j["halves_p50_ms"])
        self.assertAlmostEqual(j["ratio"] * j["halves_p50_ms"] /
                               j["whole_p50_ms"], 1.0, delta=0.01)

    def test_bad_input_is_refused(self):
        path = os.path.join(self.dir, "f")
        with open(path, "wb") as f:
            f.write(b"x" * 100)
        for args in (["-r", "0", path], ["-r", "x", path], ["-q", path], [],
                     [path, path]):
            r = self.scan(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(b"usage", r.stderr)
        r = self.scan(os.path.join(self.dir, "missing"))
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"No such file", r.stderr)


if __name__ == "__main__":
    unittest.main()
