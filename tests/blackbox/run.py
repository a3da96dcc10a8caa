#!/usr/bin/env python3
"""Run the batchd black-box suite: every tests/blackbox/test_*.py.

    python3 tests/blackbox/run.py [-v] [pattern ...]

Patterns (optional) select tests whose id contains any of them.  The last
line is exactly "blackbox: N passed, N failed" (failed counts failures and
errors); the exit status is non-zero on any failure.  BATCHD_BIN names the
server binary (default ./bin/batchd).
"""

import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


def main(argv):
    verbose = "-v" in argv
    patterns = [a for a in argv if not a.startswith("-")]
    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    if patterns:
        picked = unittest.TestSuite()
        for t in iter_tests(suite):
            if any(p in t.id() for p in patterns):
                picked.addTest(t)
        suite = picked
    t0 = time.monotonic()
    runner = unittest.TextTestRunner(stream=sys.stdout,
                                     verbosity=2 if verbose else 1)
    result = runner.run(suite)
    dt = time.monotonic() - t0
    # A test fails once however many of its subTests fail (each failing
    # subTest is its own entry in failures).
    failed = len({getattr(t, "test_case", t).id()
                  for t, _ in result.failures + result.errors}) + \
        len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped) - \
        len(result.expectedFailures)
    print("blackbox: ran %d tests in %.1fs" % (result.testsRun, dt))
    if result.skipped:
        print("blackbox: %d skipped" % len(result.skipped))
    if result.testsRun == 0:
        print("blackbox: no tests found")
        failed = max(failed, 1)
    print("blackbox: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
