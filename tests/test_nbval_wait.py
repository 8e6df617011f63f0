"""The repository's conftest.py makes nbval wait longer for a cell's output on a busy machine."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = '''
import sys

def pytest_collection_finish(session):
    waits = sorted({getattr(item, "output_timeout", None) for item in session.items})
    sys.stderr.write(f"output waits: {waits}\\n")
'''


def test_every_notebook_cell_waits_the_configured_time_not_nbvals_five_seconds(tmp_path):
    (tmp_path / "probe_waits.py").write_text(PROBE, encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "-p", "probe_waits", "--collect-only", "-q", "--nbval-lax",
               "--nbval-current-env", "notebooks/00_digit0_mixture.ipynb"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    finished = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "output waits: [120]" in finished.stderr, finished.stderr
