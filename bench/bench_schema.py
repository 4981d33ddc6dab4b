"""Property-based run over the OpenAPI schema, longer than the one in the test suite.

Runs ``tests/test_api_schema_fuzz.py`` (schemathesis: requests that fit the schema and requests
that do not, for every operation, against the real ``fast`` model and a corpus database) with
``--examples`` analyze requests per generation mode, twice as many for the other operations, on
fresh random seeds. Prints the cases run and the statuses seen; exits 1 if any answer was a 5xx.

    python bench/bench_schema.py                   # 200 examples
    python bench/bench_schema.py --examples 1000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=200, help="analyze requests per generation mode (default 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "fuzz.json"
        env = {
            **os.environ,
            "PROPSCAN_FUZZ_EXAMPLES": str(args.examples),
            "PROPSCAN_FUZZ_RANDOM": "1",
            "PROPSCAN_FUZZ_REPORT": str(report),
        }
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:logging",
            "tests/test_api_schema_fuzz.py",
        ]
        started = time.perf_counter()
        run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if run.returncode != 0 or not report.exists():
            print(run.stdout[-4000:], run.stderr[-2000:], sep="\n")
            print(f"FAILED after {elapsed:.0f} s: a request got a server error (the case is above)")
            return 1
        figures = json.loads(report.read_text())
    statuses = ", ".join(f"{status} {count}" for status, count in sorted(figures["statuses"].items()))
    print(f"schema run  {figures['cases']} cases in {elapsed:.0f} s ({args.examples} analyze examples per mode)")
    print(f"statuses    {statuses}; 5xx {figures['statuses'].get('5xx', 0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
