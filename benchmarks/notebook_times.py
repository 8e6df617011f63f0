"""Time every notebook in quick and full mode and measure its kernel's peak memory.

    python benchmarks/notebook_times.py              # all notebooks, quick and full
    python benchmarks/notebook_times.py 00 --quick   # notebook 00, quick mode only

Each run executes the notebook with papermill in a child process (advlab.reports) and reads
the largest child's peak resident memory (the kernel, which imports torch and holds the data).
Prints a markdown table ready for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from advlab.reports import find_notebooks  # noqa: E402

MEASURE_ONE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
status = subprocess.run(sys.argv[1:], capture_output=True, text=True).returncode
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the runner and its kernel, once both have exited
print(json.dumps({"status": status, "seconds": seconds, "peak_mib": usage.ru_maxrss / 1024,
                  "cpu_seconds": usage.ru_utime + usage.ru_stime}))
"""


def measure(notebook: Path, quick: bool) -> dict:
    """Run one notebook in a fresh process; return its status, wall time and peak memory."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "advlab.reports", notebook.stem[:2], "--out", out]
        if quick:
            command.append("--quick")
        result = subprocess.run([sys.executable, "-c", MEASURE_ONE, *command], capture_output=True, text=True, cwd=ROOT)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="name prefixes (default: all)")
    parser.add_argument("--quick", action="store_true", help="quick mode only")
    args = parser.parse_args()
    modes = [True] if args.quick else [True, False]

    print("| notebook | mode | wall time | peak memory | status |")
    print("|---|---|---:|---:|---|")
    failed = False
    totals = {"quick": 0.0, "full": 0.0}
    for notebook in find_notebooks(args.notebooks):
        for quick in modes:
            m = measure(notebook, quick)
            failed |= m["status"] != 0
            status = "ok" if m["status"] == 0 else "FAILED"
            mode = "quick" if quick else "full"
            totals[mode] += m["seconds"]
            print(f"| {notebook.stem} | {mode} | {m['seconds']:.0f} s | {m['peak_mib']:.0f} MiB | {status} |", flush=True)
    for mode in ("quick", "full") if not args.quick else ("quick",):
        print(f"| **all notebooks** | {mode} | {totals[mode] / 60:.1f} min | | |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
