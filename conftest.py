"""pytest settings for the whole repository: the unit tests in tests/ and the notebooks nbval executes."""

# nbval reads a cell's outputs from the kernel's IOPub channel after the cell has finished and gives
# up when one message takes longer than its hard-coded 5 s ("Timeout of 5 seconds exceeded waiting
# for output"). On a machine where other CPU-bound work competes with the kernel, a message can
# lag that long although the cell ran correctly, so a busy machine would fail the suite. Waiting
# longer changes no check: a cell that hangs is still caught by nbval's own cell timeout.
NBVAL_OUTPUT_WAIT_SECONDS = 120


def pytest_collection_modifyitems(items):
    for item in items:
        if type(item).__name__ == "IPyNbCell":  # nbval 0.11.0's cell item
            item.output_timeout = NBVAL_OUTPUT_WAIT_SECONDS
