"""Latency of every slider explorer, as the kernel sees it and as a person feels it.

    python benchmarks/explorer_latency.py                # every notebook: redraw time and player cost
    python benchmarks/explorer_latency.py 01 03          # some notebooks
    python benchmarks/explorer_latency.py --browser      # also: catch-up after a fast drag, in JupyterLab

**Redraw** (no browser): each notebook's jupytext source (notebooks/NN_*.py) runs as a plain script
in a fresh process (quick mode, no display); every advlab.widgets.Explorer it built has its first
numeric slider moved 20 times across its range, each redraw timed (`Explorer.last_seconds`: draw
+ PNG encode). The same process then builds the player a headless run embeds (`player_html`: the
frames at `PLAYER_DPI`) and reports its time and size: what each explorer adds to a report and to
every nbval run.

**After a drag** (--browser, Debian's chromium): JupyterLab runs each notebook (quick mode), then
the first slider is dragged from its minimum with fast key presses, short drags (3 steps) and long
ones (up to 30), and the time from the last key press until the explorer's status line names the
final value is taken. Median and worst per explorer, on the machine as it is ("idle") and with a
competing CPU-bound process ("busy"). Target: under 500 ms after the last step on an idle 2-core
machine, and no growth with the length of the drag.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
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
    try:
        name, control = explorer.first_slider()
    except ValueError:
        continue
    low, high = control.min, control.max
    values = [low + (high - low) * (i + 1) / MOVES for i in range(MOVES)]
    if isinstance(control.value, int):
        values = [int(round(v)) for v in values]
    seconds = []
    for value in values:
        explorer.set(**{name: value})
        seconds.append(explorer.last_seconds)
    explorer.player_html()
    results.append({"control": name, "seconds": seconds, "player_seconds": explorer.player_seconds,
                    "player_bytes": explorer.player_bytes, "frames": len(explorer.frame_values())})
print("RESULTS " + json.dumps(results))
"""


def measure(source: Path) -> list[dict]:
    env = {**os.environ, "ADVLAB_QUICK": "1", "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
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


def redraw_table(sources: list[Path]) -> None:
    print("| notebook | explorer slider | redraw median | redraw p95 | player frames | player time | player size |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for source in sources:
        for i, result in enumerate(measure(source), 1):
            ms = [1000 * s for s in result["seconds"]]
            print(f"| {source.stem} | #{i} `{result['control']}` | {statistics.median(ms):.0f} ms | {p95(ms):.0f} ms "
                  f"| {result['frames']} | {result['player_seconds']:.2f} s | {result['player_bytes'] / 1e3:.0f} kB |",
                  flush=True)


def drag_table(names: list[str], drags: int) -> None:
    """Run each notebook in JupyterLab and time the catch-up after fast drags, idle and busy."""
    sys.path.insert(0, str(ROOT / "tests"))
    from browser.lab import CHROMIUM, CHROMIUM_FLAGS, ExplorerInPage, run_notebook, running_jupyterlab, shut_down_kernels
    from playwright.sync_api import sync_playwright

    print("\n| notebook | load | drags (steps) | median after last step | worst | short drags median | long drags median |")
    print("|---|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as state, running_jupyterlab(Path(state)) as lab, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        for name in names:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            run_notebook(page, lab, name)
            explorer = ExplorerInPage(page)
            long_drag = explorer.steps_in_range(at_most=30)
            lengths = [3, long_drag] * (drags // 2)
            for load in ("idle", "busy"):
                burner = None
                if load == "busy":  # one process that wants a whole core, as another kernel training would
                    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                try:
                    results = [explorer.drag(steps) for steps in lengths]
                finally:
                    if burner is not None:
                        burner.kill()
                        burner.wait()
                ms = [1000 * r["seconds"] for r in results]
                short = [1000 * r["seconds"] for r in results if r["steps"] == 3]
                long = [1000 * r["seconds"] for r in results if r["steps"] == long_drag]
                print(f"| {name} | {load} | {len(results)} (3 and {long_drag}) | {statistics.median(ms):.0f} ms "
                      f"| {max(ms):.0f} ms | {statistics.median(short):.0f} ms | {statistics.median(long):.0f} ms |",
                      flush=True)
            page.close()
            shut_down_kernels(lab)
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="name prefixes (default: all)")
    parser.add_argument("--browser", action="store_true", help="also time the catch-up after fast drags in JupyterLab")
    parser.add_argument("--drags", type=int, default=6, help="drags per explorer and load (half short, half long)")
    parser.add_argument("--no-redraw", action="store_true", help="skip the redraw and player table")
    args = parser.parse_args()
    sources = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    if args.notebooks:
        sources = [s for s in sources if any(s.name.startswith(p) for p in args.notebooks)]
    if not args.no_redraw:
        redraw_table(sources)
    if args.browser:
        sys.path.insert(0, str(ROOT / "tests"))
        from browser.lab import ALL_EXPLORER_NOTEBOOKS

        drag_table([s.stem for s in sources if s.stem in ALL_EXPLORER_NOTEBOOKS], args.drags)
    return 0


if __name__ == "__main__":
    sys.exit(main())
