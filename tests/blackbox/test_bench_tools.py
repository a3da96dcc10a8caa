"""The storage-ceiling tools that scripts/bench quotes beside batchd
(build/tools/bench_commit): what they print must be what they did, or the
bench's "LMDB alone" rows mean nothing."""

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


if __name__ == "__main__":
    unittest.main()
