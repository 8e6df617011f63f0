"""What training sends to a notebook front end is bounded by the work, never by the clock.

Every progress-bar redraw and live-plot update is a message on the kernel's output channel.
ZMQ keeps at most 1,000 of them queued for a client that is busy (nbval waits for the cell
to finish before it reads them); past that it drops messages, and the cell's final 'idle'
status can be lost, which made nbval fail notebook 04 at random ("Timeout of 5 seconds
exceeded waiting for output"). A live plot that redrew every 0.5 s of wall time once sent
494 updates in one cell on a busy machine. So: bars redraw every total/20 steps, and a
headless run (ADVLAB_HEADLESS=1, as under nbval and papermill) draws each live plot once.
"""

import os
import subprocess
import sys
import time

import pytest
from jupyter_client.manager import start_new_kernel

EPOCHS, FITS = 2, 2
TRAIN = f"""
from advlab import data
from advlab.models import SmallCNN
from advlab.train import fit
x, y, _ = data.digit0_mixture("train", n=1000, source="bundled")
for run in range({FITS}):
    fit(SmallCNN(), (x, y), epochs={EPOCHS}, batch_size=16, title=f"run {{run}}")
"""
# per fit: one bar of at most 21 redraws (each a couple of comm messages: value, text), its
# widgets' comm_open messages, and the plot's display; the 1,000-message queue is far away
BOUND_PER_FIT = 80


def run_in_kernel(code: str, headless: bool) -> dict[str, int]:
    env = dict(os.environ, ADVLAB_HEADLESS="1" if headless else "0", ADVLAB_THREADS="1")
    kernel_manager, client = start_new_kernel(kernel_name="python3", env=env)
    try:
        msg_id = client.execute(code)
        counts, errors = {}, []
        while True:
            message = client.get_iopub_msg(timeout=300)
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind = message["msg_type"]
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "error":
                errors.append(message["content"]["evalue"])
            if kind == "status" and message["content"]["execution_state"] == "idle":
                break
    finally:
        client.stop_channels()
        kernel_manager.shutdown_kernel(now=True)
    assert not errors, errors
    return counts


@pytest.fixture
def busy_cpu():
    """Two CPU-bound processes competing with the kernel for the machine's cores, for the test's duration."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    time.sleep(0.5)
    yield
    for spinner in spinners:
        spinner.kill()
        spinner.wait()


def test_headless_training_on_a_busy_machine_sends_a_bounded_number_of_messages(busy_cpu):
    counts = run_in_kernel(TRAIN, headless=True)
    assert counts.get("update_display_data", 0) == 0, f"a headless live plot draws its final frame only: {counts}"
    assert counts.get("display_data", 0) >= FITS, f"each fit still leaves its figure: {counts}"
    assert sum(counts.values()) <= FITS * BOUND_PER_FIT, f"{sum(counts.values())} messages: {counts}"


def test_watched_training_redraws_in_place_within_the_same_bound():
    counts = run_in_kernel(TRAIN, headless=False)
    assert counts.get("update_display_data", 0) >= FITS, "the live plot should update in place when watched"
    assert sum(counts.values()) <= FITS * (BOUND_PER_FIT + EPOCHS * 21), f"{sum(counts.values())} messages: {counts}"
