"""CPU seconds per section of a notebook, cold (empty cache) and warm (second run), and peak memory.

    python benchmarks/notebook_profile.py                   # every notebook, full mode, full-size files
    python benchmarks/notebook_profile.py 04 06 --cpus 0    # some notebooks, pinned to core 0
    python benchmarks/notebook_profile.py --source subset   # the bundled subset instead
    python benchmarks/notebook_profile.py --quick           # quick mode (what CI runs)
    python benchmarks/notebook_profile.py --json out.json   # also write every number as JSON

Each notebook runs twice in fresh kernels (nbclient) with one torch thread (ADVLAB_THREADS=1),
headless, in full mode unless --quick. Both runs share one new, empty cache folder (ADVLAB_DATA),
so the first run is *cold* (it trains and evaluates everything it needs, nothing is left from
another notebook) and the second is *warm* (a second Run All after a kernel restart).

A hook registered in the kernel (IPython's ``post_run_cell``) stamps ``time.process_time()``
after every cell: the CPU seconds of the kernel process, every thread counted, idle waits not.
Cells are grouped into the notebook's sections by its ``## `` headings (cells above the first
heading are "setup": imports, parameters, data). The peak is the kernel's peak resident set
(``ru_maxrss``), which includes ``import torch``.

Full-size data: offline there is no full MNIST, so ``--source full-size`` (the default) writes
60,000 / 10,000 stand-in images in torchvision's raw format (``advlab.mnist_files``) and the
notebooks load them with ``source="torchvision"``, exactly as they would load full MNIST: they
measure time and memory, never accuracy.

Prints markdown tables: one row per notebook (cold CPU, warm CPU, peaks, status, against the
budgets: cold <= 240 s, warm <= 45 s, peak < 1.5 GB), then the sections of each notebook.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from advlab.reports import find_notebooks  # noqa: E402

COLD_BUDGET_S, WARM_BUDGET_S, MEMORY_BUDGET_MIB = 240, 45, 1536
PROFILE_ENV = "ADVLAB_PROFILE_FILE"
NOT_RUN = {"cpu_s": float("nan"), "wall_s": float("nan"), "peak_mib": float("nan"), "sections": {}, "largest_cells": [],
           "error": None}
SECTION = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)
LARGEST_CELLS = 5  # the costliest cells of each cold run, printed under its sections

STAMP_CELL = f"""\
import json as _profile_json, os as _profile_os, resource as _profile_resource, time as _profile_time
_profile_stamps = []
def _profile_stamp(result=None):
    peak = _profile_resource.getrusage(_profile_resource.RUSAGE_SELF).ru_maxrss / 1024
    cell = result.info.raw_cell if result is not None else ""
    _profile_stamps.append([_profile_time.process_time(), _profile_time.perf_counter(), peak, cell])
    with open(_profile_os.environ["{PROFILE_ENV}"], "w") as _file:  # every cell: a failed run keeps what it reached
        _profile_json.dump(_profile_stamps, _file)
get_ipython().events.register("post_run_cell", _profile_stamp)
_profile_stamp()
"""


def matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    """One torch thread's float32 matmul speed here, GFLOP/s: the yardstick that makes CPU seconds comparable
    between machines (the run-cache issue's budgets were set on a core doing about 166)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    seconds = time.perf_counter() - started
    torch.set_num_threads(threads)
    return 2 * size**3 * repeats / seconds / 1e9


def section_of_cells(cells) -> list[str]:
    """For every cell, the title of the ``## `` section it belongs to ("setup" above the first)."""
    current, titles = "setup", []
    for cell in cells:
        if cell.cell_type == "markdown" and (match := SECTION.search(cell.source)):
            current = match.group(1)
        titles.append(current)
    return titles


def instrumented(notebook_path: Path, overrides: dict):
    """The notebook with the stamping cell first and `overrides` assigned after its parameters cell."""
    import nbformat

    notebook = nbformat.read(notebook_path, as_version=4)
    cells = list(notebook.cells)
    titles = section_of_cells(cells)
    position = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])) + 1
    if overrides:
        assignment = "\n".join(f"{name} = {value!r}" for name, value in overrides.items())
        cells.insert(position, nbformat.v4.new_code_cell(assignment))
        titles.insert(position, titles[position - 1])
    cells.insert(0, nbformat.v4.new_code_cell(STAMP_CELL))
    notebook.cells = cells
    code_titles = {cell.source: title for cell, title in zip(cells[1:], titles) if cell.cell_type == "code"}
    return notebook, code_titles  # the section of each code cell, by its source


def run_once(notebook_path: Path, overrides: dict, env: dict) -> dict:
    """Execute the notebook in a fresh kernel; CPU seconds per section, peak MiB, status."""
    from nbclient import NotebookClient

    notebook, titles = instrumented(notebook_path, overrides)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as stamps_file:
        stamps_path = Path(stamps_file.name)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env | {PROFILE_ENV: str(stamps_path)})
    started, error = time.perf_counter(), None
    try:
        client = NotebookClient(notebook, timeout=None, kernel_name="python3",
                                resources={"metadata": {"path": str(notebook_path.parent)}},
                                extra_arguments=["--IPKernelApp.log_level=CRITICAL"])  # no start-up warnings
        client.execute()
    except Exception as exc:  # a failing cell: report how far it got
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    finally:
        os.environ.clear()
        os.environ.update(saved)
    wall = time.perf_counter() - started
    stamps = json.loads(stamps_path.read_text()) if stamps_path.stat().st_size else []
    stamps_path.unlink()
    sections: dict[str, float] = {}
    cells = []  # (CPU seconds, the cell's first line) of every code cell
    for cell_index in range(1, len(stamps)):  # a stamp after every execution the kernel ran, with its source
        source, seconds = stamps[cell_index][3], stamps[cell_index][0] - stamps[cell_index - 1][0]
        title = titles.get(source, "(kernel)")
        sections[title] = sections.get(title, 0.0) + seconds
        if source in titles:
            cells.append((seconds, first_code_line(source)))
    return {"cpu_s": stamps[-1][0] if stamps else float("nan"), "wall_s": wall,
            "peak_mib": max((s[2] for s in stamps), default=float("nan")), "sections": sections,
            "largest_cells": sorted(cells, reverse=True)[:LARGEST_CELLS], "error": error}


def first_code_line(source: str) -> str:
    """A cell's first line that is not a comment or blank, cut to 70 characters: enough to find it."""
    lines = [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return (lines[0] if lines else source.strip())[:70]


def profile(notebook_path: Path, data_template: Path | None, quick: bool, overrides: dict, warm: bool = True) -> dict:
    """Cold then warm run of one notebook in a new cache folder (holding only the MNIST files, if any)."""
    cache = Path(tempfile.mkdtemp(prefix=f"advlab-profile-{notebook_path.stem[:2]}-"))
    if data_template is not None:
        (cache / "MNIST").symlink_to(data_template / "MNIST", target_is_directory=True)
    env = dict(os.environ, ADVLAB_DATA=str(cache), ADVLAB_THREADS="1", ADVLAB_HEADLESS="1")
    env.pop("ADVLAB_QUICK", None)
    if quick:
        env["ADVLAB_QUICK"] = "1"
    try:
        cold = run_once(notebook_path, overrides, env)
        return {"cold": cold, "warm": run_once(notebook_path, overrides, env) if warm else NOT_RUN}
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def status(result: dict, quick: bool) -> str:
    cold, warm = result["cold"], result["warm"]
    if cold["error"] or warm["error"]:
        return f"FAILED: {cold['error'] or warm['error']}"
    over = []
    if not quick and cold["cpu_s"] > COLD_BUDGET_S:
        over.append(f"cold > {COLD_BUDGET_S} s")
    if not quick and warm["cpu_s"] > WARM_BUDGET_S:  # False for a warm run not made (nan)
        over.append(f"warm > {WARM_BUDGET_S} s")
    if max(cold["peak_mib"], warm["peak_mib"]) >= MEMORY_BUDGET_MIB:
        over.append(f"peak >= {MEMORY_BUDGET_MIB} MiB")
    return "ok" if not over else "over budget: " + ", ".join(over)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="name prefixes (default: all)")
    parser.add_argument("--source", choices=["full-size", "subset"], default="full-size")
    parser.add_argument("--quick", action="store_true", help="quick mode instead of full mode")
    parser.add_argument("--cpus", help="pin this process and its kernels to these cores, e.g. 0 or 0,1")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="extra notebook parameter (the value is read as JSON, else as a string)")
    parser.add_argument("--cold-only", action="store_true", help="skip the warm (second) run")
    parser.add_argument("--json", type=Path, help="also write every number to this JSON file")
    args = parser.parse_args()
    if args.cpus:
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})

    overrides = {}
    for name, value in args.parameter:
        try:
            overrides[name] = json.loads(value)
        except json.JSONDecodeError:
            overrides[name] = value
    data_template = None
    if args.source == "full-size":
        from advlab.mnist_files import write_full_size_stand_in

        data_template = Path(tempfile.mkdtemp(prefix="advlab-full-size-"))
        write_full_size_stand_in(data_template)
        overrides.setdefault("source", "torchvision")
    else:
        overrides.setdefault("source", "bundled")

    mode = "quick" if args.quick else "full"
    cores = f"core(s) {args.cpus}" if args.cpus else f"{os.cpu_count()} cores, unpinned"
    gflops = matmul_gflops()
    print(f"{time.strftime('%Y-%m-%d')}: {mode} mode, {args.source} data, one torch thread, {cores}; "
          f"cold = empty cache, warm = second run; one thread multiplies 1024^2 matrices at {gflops:.0f} GFLOP/s "
          f"here\n", flush=True)
    results = {}
    for notebook in find_notebooks(args.notebooks):
        results[notebook.stem] = profile(notebook, data_template, args.quick, overrides, warm=not args.cold_only)
        r = results[notebook.stem]
        print(f"  {notebook.stem}: cold {r['cold']['cpu_s']:.0f} s, warm {r['warm']['cpu_s']:.0f} s CPU, "
              f"peak {max(r['cold']['peak_mib'], r['warm']['peak_mib']):,.0f} MiB, {status(r, args.quick)}",
              flush=True)
    if data_template is not None:
        shutil.rmtree(data_template, ignore_errors=True)

    print("\n| notebook | cold CPU | warm CPU | cold wall | peak memory (cold / warm) | status |")
    print("|---|---:|---:|---:|---:|---|")
    for name, r in results.items():
        cold, warm = r["cold"], r["warm"]
        print(f"| `{name}` | {cold['cpu_s']:.0f} s | {warm['cpu_s']:.0f} s | {cold['wall_s']:.0f} s | "
              f"{cold['peak_mib']:,.0f} / {warm['peak_mib']:,.0f} MiB | {status(r, args.quick)} |")
    print(f"| **largest** | **{max(r['cold']['cpu_s'] for r in results.values()):.0f} s** | "
          f"**{max(r['warm']['cpu_s'] for r in results.values()):.0f} s** | | "
          f"{max(max(r['cold']['peak_mib'], r['warm']['peak_mib']) for r in results.values()):,.0f} MiB | |")
    for name, r in results.items():
        print(f"\n`{name}`\n\n| section | cold CPU | warm CPU |\n|---|---:|---:|")
        for title, seconds in r["cold"]["sections"].items():
            if title == "(kernel)" and seconds < 0.05:
                continue  # the client's own requests between cells
            print(f"| {title} | {seconds:.1f} s | {r['warm']['sections'].get(title, float('nan')):.1f} s |")
        print("\nlargest cold cells: " + "; ".join(f"{seconds:.0f} s `{line}`"
                                                  for seconds, line in r["cold"].get("largest_cells", [])))
    if args.json:
        args.json.write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "mode": mode, "source": args.source,
                                         "cpus": args.cpus, "matmul_gflops": gflops, "results": results}, indent=1))
    failed = any(status(r, args.quick) != "ok" for r in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
