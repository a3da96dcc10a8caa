#!/usr/bin/env python3
"""Run the JavaScript half of the client compatibility suite
(tests/compat/js/run.mjs) against a batchd started for it.

    python3 tests/compat/run_js.py

The packages must be installed already (make test-compat runs "npm ci" in
tests/compat/js, from its package-lock.json); when node or the packages
are missing this says so and fails.  The server speaks HTTPS (a
certificate made for the run) and gets a token for ws1 and ws2, debug_ops
and query_max_result_rows = 50; node gets BATCHD_URL (https), BATCHD_TOKEN,
and the certificate as BATCHD_CA and NODE_EXTRA_CA_CERTS."""

import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
JS = os.path.join(HERE, "js")
sys.path.insert(0, os.path.join(HERE, "..", "blackbox"))

from harness import Server  # noqa: E402

TOKEN = "compat-js-token"
PACKAGES = ("@azure/monitor-query-logs", "@azure/monitor-query",
            "@microsoft/microsoft-graph-client", "@odata/client")


def main():
    node = shutil.which("node")
    missing = [p for p in PACKAGES
               if not os.path.isfile(os.path.join(JS, "node_modules", p,
                                                  "package.json"))]
    if node is None or missing:
        print("compat-js: cannot run: %s" % (
            "node is not installed" if node is None else
            "npm packages not installed: " + ", ".join(missing)))
        print("compat-js: 0 passed, 1 failed")
        return 1
    # HTTPS, as the Azure clients want before they send a token.
    with Server(workers=2, debug_ops=True, query_max_result_rows=50,
                token="%s ws1,ws2" % TOKEN, tls=True) as srv:
        env = dict(os.environ, BATCHD_URL="https://127.0.0.1:%d" % srv.port,
                   BATCHD_TOKEN=TOKEN, BATCHD_CA=srv.ca,
                   NODE_EXTRA_CA_CERTS=srv.ca)
        rc = subprocess.run([node, "run.mjs"], cwd=JS, env=env,
                            timeout=300).returncode
    return rc


if __name__ == "__main__":
    sys.exit(main())
