#!/usr/bin/python3
"""Run the Python half of the client compatibility suite: every
tests/compat/test_*.py, with Debian's python3 (python3-azure lives in its
dist-packages, not in a virtualenv or another interpreter's path).

    /usr/bin/python3 tests/compat/run_python.py [-v]

The last line is "compat-python: N passed, N failed"; the exit status is
non-zero on any failure, and when azure-monitor-query cannot be imported
(scripts/install-deps installs python3-azure)."""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv):
    try:
        import azure.monitor.query  # noqa: F401
    except ImportError as e:
        print("compat-python: azure-monitor-query not importable by %s (%s);"
              " install python3-azure (scripts/install-deps)"
              % (sys.executable, e))
        print("compat-python: 0 passed, 1 failed")
        return 1
    sys.path.insert(0, HERE)
    suite = unittest.TestLoader().discover(HERE, pattern="test_*.py",
                                           top_level_dir=HERE)
    result = unittest.TextTestRunner(
        stream=sys.stdout, verbosity=2 if "-v" in argv else 1).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    if result.testsRun == 0:
        failed = 1
    print("compat-python: %d passed, %d failed" % (passed, failed))
    return 1 if failed or result.skipped else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
