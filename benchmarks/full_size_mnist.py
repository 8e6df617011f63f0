"""Every notebook in full mode on the bundled subset and on full-size MNIST files: time and peak memory.

    python benchmarks/full_size_mnist.py                  # all notebooks, subset vs full-size
    python benchmarks/full_size_mnist.py 03 04            # some notebooks
    python benchmarks/full_size_mnist.py --cpus 0         # pinned to one core (taskset -c 0), like Binder's CPU
    python benchmarks/full_size_mnist.py --only full-size # skip the subset runs

There is no internet here, so the full-size data are stand-ins written by
``advlab.mnist_files``: 60,000 / 10,000 real bundled digits shifted by a few pixels, in
torchvision's raw format, loaded through ``source="torchvision"`` exactly as real full MNIST
would be. They measure **time and memory only, never accuracy**. Each notebook runs in a fresh
process through papermill (advlab.reports); the peak memory is the largest child's peak
resident set, the kernel's. Prints a markdown table for docs/performance.md, with the targets:
peak kernel memory < 1.5 GB; full-size CPU time within 1.5x of the subset's. Beside the wall time
it prints the CPU time (user + system) of the run and its kernel: on a machine shared with other
jobs the wall time grows with the load, the CPU time much less, and with one thread
(``ADVLAB_THREADS=1``) the CPU time is what the run would take on one idle core, so the ratio
compares CPU times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from advlab.mnist_files import write_full_size_stand_in  # noqa: E402
from advlab.reports import find_notebooks  # noqa: E402
from notebook_times import MEASURE_ONE  # noqa: E402  (this folder: the same peak-memory wrapper)

MEMORY_TARGET_MIB = 1536
TIME_RATIO_TARGET = 1.5


def measure(notebook: Path, source: str, data_dir: Path, quick: bool = False, cpus: str | None = None) -> dict:
    """Run one notebook through papermill in a fresh process; its status, wall time and peak kernel memory."""
    env = dict(os.environ, ADVLAB_DATA=str(data_dir), ADVLAB_HEADLESS="1")
    env.pop("ADVLAB_QUICK", None)
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "advlab.reports", notebook.stem[:2], "--out", out, "-p", "source", source]
        if quick:
            command.append("--quick")
        runner = [sys.executable, "-c", MEASURE_ONE, *command]
        if cpus is not None:
            runner = ["taskset", "-c", cpus, *runner]
        result = subprocess.run(runner, capture_output=True, text=True, cwd=ROOT, env=env)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="name prefixes (default: all)")
    parser.add_argument("--cpus", help="run pinned to these cores with taskset, e.g. 0")
    parser.add_argument("--only", choices=["subset", "full-size"], help="run one data source only")
    parser.add_argument("--quick", action="store_true", help="quick mode instead of full mode")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="advlab-full-size-"))
    write_full_size_stand_in(data_dir)
    sources = {"subset": "bundled", "full-size": "torchvision"}
    if args.only:
        sources = {args.only: sources[args.only]}
    mode = "quick" if args.quick else "full"
    cores = f"cores {args.cpus}" if args.cpus else f"{os.cpu_count()} cores"
    print(f"{mode} mode, {cores}; full-size = 60,000/10,000 stand-in images (time and memory only)\n")
    print("| notebook | " + " | ".join(f"{name} time | {name} CPU | {name} peak" for name in sources) + " | CPU ratio | status |")
    print("|---|" + "---:|---:|---:|" * len(sources) + "---:|---|")
    totals, cpu_totals = dict.fromkeys(sources, 0.0), dict.fromkeys(sources, 0.0)
    worst_peak, failed = 0.0, False
    for notebook in find_notebooks(args.notebooks):
        cells, cpu_seconds, status = [], {}, "ok"
        for name, source in sources.items():
            m = measure(notebook, source, data_dir, args.quick, args.cpus)
            cpu_seconds[name] = m["cpu_seconds"]
            totals[name] += m["seconds"]
            cpu_totals[name] += m["cpu_seconds"]
            worst_peak = max(worst_peak, m["peak_mib"])
            if m["status"] != 0:
                status, failed = f"FAILED ({name})", True
            cells.append(f"{m['seconds']:.0f} s | {m['cpu_seconds']:.0f} s | {m['peak_mib']:,.0f} MiB")
        ratio = "-"
        if len(cpu_seconds) == 2:
            ratio_value = cpu_seconds["full-size"] / cpu_seconds["subset"]
            ratio = f"{ratio_value:.2f}"
            if ratio_value > TIME_RATIO_TARGET:
                status, failed = f"{status}, CPU ratio above {TIME_RATIO_TARGET}", True
        print(f"| {notebook.stem} | " + " | ".join(cells) + f" | {ratio} | {status} |", flush=True)
    total_cells = " | ".join(f"{totals[name] / 60:.1f} min | {cpu_totals[name] / 60:.1f} min | " for name in sources)
    print(f"| **all** | {total_cells} | |")
    print(f"\nworst peak kernel memory: {worst_peak:,.0f} MiB (target < {MEMORY_TARGET_MIB:,} MiB)")
    shutil.rmtree(data_dir, ignore_errors=True)
    return 1 if failed or worst_peak >= MEMORY_TARGET_MIB else 0


if __name__ == "__main__":
    sys.exit(main())
