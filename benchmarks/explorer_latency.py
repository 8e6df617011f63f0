"""Latency of every slider explorer: median and p95 redraw time over 20 moves of its first slider.

    python benchmarks/explorer_latency.py          # every notebook, in quick mode
    python benchmarks/explorer_latency.py 01 03    # some notebooks

Each notebook's jupytext source (notebooks/NN_*.py) runs as a plain script in a fresh process
(quick mode, no display); then every advlab.widgets.Explorer it built has its first numeric
slider moved 20 times across its range, as a person dragging it would, and each redraw is
timed (`Explorer.last_seconds`: draw + PNG encode, what a slider move costs the kernel).
Prints a markdown table. Target: median under 300 ms on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MOVES = 20

MEASURE = r"""
import gc, json, runpy, sys
import matplotlib
matplotlib.use("Agg")
from advlab.widgets import Explorer

runpy.run_path(sys.argv[1], run_name="__main__")
results = []
for explorer in [obj for obj in gc.get_objects() if isinstance(obj, Explorer)]:
    name, control = next(((n, c) for n, c in explorer.controls.items() if hasattr(c, "min") and hasattr(c, "max")),
                         (None, None))
    if control is None:
        continue
    low, high = control.min, control.max
    values = [low + (high - low) * (i + 1) / MOVES for i in range(MOVES)]
    if isinstance(control.value, int):
        values = [int(round(v)) for v in values]
    seconds = []
    for value in values:
        if value == control.value:
            explorer.redraw()
        else:
            explorer.set(**{name: value})
        seconds.append(explorer.last_seconds)
    results.append({"control": name, "seconds": seconds})
print("RESULTS " + json.dumps(results))
"""


def measure(source: Path) -> list[dict]:
    env = {**os.environ, "ADVLAB_QUICK": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE.replace("MOVES", str(MOVES)), str(source)],
        capture_output=True, text=True, cwd=source.parent, env=env,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULTS ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{source.name} failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULTS "):])


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="name prefixes (default: all)")
    args = parser.parse_args()
    sources = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    if args.notebooks:
        sources = [s for s in sources if any(s.name.startswith(p) for p in args.notebooks)]

    print(f"| notebook | explorer slider | median | p95 | moves |")
    print("|---|---|---:|---:|---:|")
    for source in sources:
        for i, result in enumerate(measure(source), 1):
            ms = [1000 * s for s in result["seconds"]]
            print(f"| {source.stem} | #{i} `{result['control']}` | {statistics.median(ms):.0f} ms | {p95(ms):.0f} ms | {len(ms)} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
