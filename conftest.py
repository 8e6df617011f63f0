"""pytest settings for the whole repository: the unit tests in tests/ and the notebooks nbval executes."""

from pathlib import Path

# nbval reads a cell's outputs from the kernel's IOPub channel after the cell has finished and gives
# up when one message takes longer than its hard-coded 5 s ("Timeout of 5 seconds exceeded waiting
# for output"). On a machine where other CPU-bound work competes with the kernel, a message can
# lag that long although the cell ran correctly, so a busy machine would fail the suite. Waiting
# longer changes no check: a cell that hangs is still caught by nbval's own cell timeout.
NBVAL_OUTPUT_WAIT_SECONDS = 120

# Files that run whole notebooks, the long work units of `make test`, in the order they start.
RUNS_NOTEBOOKS_IN_JUPYTERLAB = "tests/browser/test_jupyterlab.py"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if type(item).__name__ == "IPyNbCell":  # nbval 0.11.0's cell item
            item.output_timeout = NBVAL_OUTPUT_WAIT_SECONDS
    items.sort(key=lambda item: long_work_first(Path(item.path), Path(config.rootpath)))


def long_work_first(path: Path, root: Path) -> int:
    """0 for the browser tests that run notebooks in JupyterLab, 1 for the notebooks, 2 for the rest.

    `make test` hands whole files to two workers (pytest-xdist, --dist loadfile) in collection order
    (--no-loadscope-reorder; xdist's default orders by number of tests, which put the longest file,
    with five tests, near the end). A file is a minute or more when it runs a notebook and seconds
    otherwise, so starting those first and filling the end with unit tests keeps both workers busy
    until the last minute. The sort is stable: within each group, the files keep their order.
    """
    relative = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()
    if relative == RUNS_NOTEBOOKS_IN_JUPYTERLAB:
        return 0
    return 1 if path.suffix == ".ipynb" else 2
