"""pytest settings for the whole repository: the unit tests in tests/ and the notebooks nbval executes."""

# nbval reads a cell's outputs from the kernel's IOPub channel after the cell has finished and gives
# up when one message takes longer than its hard-coded 5 s ("Timeout of 5 seconds exceeded waiting
# for output"). On a machine where other CPU-bound work competes with the kernel, a message can
# lag that long although the cell ran correctly, so a busy machine would fail the suite. Waiting
# longer changes no check: a cell that hangs is still caught by nbval's own cell timeout.
NBVAL_OUTPUT_WAIT_SECONDS = 120

# The browser tests that run notebooks in JupyterLab: the longest file of `make test`.
RUNS_NOTEBOOKS_IN_JUPYTERLAB = "tests/browser/test_jupyterlab.py"


def pytest_collection_modifyitems(items):
    for item in items:
        if type(item).__name__ == "IPyNbCell":  # nbval 0.11.0's cell item
            item.output_timeout = NBVAL_OUTPUT_WAIT_SECONDS
    items.sort(key=long_work_first)


def long_work_first(item) -> int:
    """0 for the browser tests that run notebooks in JupyterLab, 1 for the notebooks, 2 for the rest.

    `make test` hands whole files to two workers (pytest-xdist, --dist loadfile) in collection order
    (--no-loadscope-reorder; xdist's default orders by number of tests, which put the longest file,
    with five tests, near the end). A file is a minute or more when it runs a notebook and seconds
    otherwise, so starting those first and filling the end with unit tests keeps both workers busy
    until the last minute. The sort is stable: within each group, the files keep their order.
    """
    file = item.nodeid.split("::")[0]  # relative to the repository root, as xdist groups files
    if file == RUNS_NOTEBOOKS_IN_JUPYTERLAB:
        return 0
    return 1 if file.endswith(".ipynb") else 2
