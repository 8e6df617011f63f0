"""Driving a real JupyterLab from Playwright: start the server, open and run a notebook, drag a slider.

Shared by the browser tests (tests/browser) and benchmarks/explorer_latency.py. The browser is
Debian's /usr/bin/chromium; nothing here downloads one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from advlab.widgets import STATUS_CLASS

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUN_TIMEOUT_S = 600  # a quick-mode notebook on a busy 2-core machine
# Every notebook with an explorer; each drag test runs its notebook in JupyterLab first, minutes
# for all of them, so `make test` drags three: 00 (in the live-plot test), 01 (one slider, a light
# redraw) and 03 (three sliders and the heaviest redraw of the suite, PGD on every move; cheap to
# run in quick mode, unlike 07, which meta-trains for over two minutes before its explorer shows).
# ADVLAB_BROWSER_ALL=1 drags them all (what docs/performance.md's latency table comes from).
ALL_EXPLORER_NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py") if "Explorer(" in p.read_text())
EXPLORER_NOTEBOOKS = ALL_EXPLORER_NOTEBOOKS if os.environ.get("ADVLAB_BROWSER_ALL") == "1" else [
    n for n in ALL_EXPLORER_NOTEBOOKS if n.startswith(("00", "01", "03"))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_jupyterlab(state: Path, quick: bool = True):
    """Start JupyterLab (token-protected, localhost only) on a copy of notebooks/; yield (base URL, token)."""
    port, token = _free_port(), secrets.token_hex(16)
    served = state / "served"  # a copy: JupyterLab autosaves, and must never write into the repository
    shutil.copytree(ROOT / "notebooks", served / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    _write_settings(state / "settings")
    # the project's JupyterLab defaults, as `make setup` and binder/postBuild install them
    (state / "app-settings").mkdir()
    shutil.copy(ROOT / "settings" / "jupyterlab-overrides.json", state / "app-settings" / "overrides.json")
    # an empty run cache of its own: a learner's first Run All trains (and the live plot is watched redrawing)
    env = {**os.environ, "ADVLAB_QUICK": "1" if quick else "0", "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
           "ADVLAB_RUNS": str(state / "runs")}
    env.pop("ADVLAB_HEADLESS", None)  # a person watches JupyterLab
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--ServerApp.token={token}", f"--ServerApp.root_dir={served}",
        f"--LabApp.user_settings_dir={state / 'settings'}", f"--LabApp.workspaces_dir={state / 'workspaces'}",
        f"--LabApp.app_settings_dir={state / 'app-settings'}",
    ]
    if os.geteuid() == 0:  # CI runs as root
        command.append("--allow-root")
    log = open(state / "jupyterlab.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/api/status?token={token}", server)
        yield base, token
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _write_settings(folder: Path) -> None:
    """No news pop-ups, no autosave, and every cell kept in the page.

    JupyterLab's default windowing detaches cells scrolled out of view, so a test that watches
    one cell while Run All moves on would read an empty output (the live-plot test once waited
    its full 10-minute limit for text the page showed). A person scrolls; the tests keep all cells.
    """
    settings = {
        "apputils-extension/notification": '{"fetchNews": "false", "checkForUpdates": false}',
        "docmanager-extension/plugin": '{"autosave": false}',
        "notebook-extension/tracker": '{"windowingMode": "none"}',
    }
    for name, text in settings.items():
        path = folder / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _wait_until_up(url: str, server: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError("JupyterLab exited during start-up")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer within {timeout_s} s")


def start_kernel_session(jupyterlab, path):
    """Ask the server for a python3 kernel on `path`, so the page opens with its kernel ready."""
    base, token = jupyterlab
    body = json.dumps({"path": path, "type": "notebook", "kernel": {"name": "python3"}}).encode()
    request = urllib.request.Request(
        f"{base}/api/sessions", data=body, method="POST",
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 201


def shut_down_kernels(jupyterlab):
    """Stop every kernel of the server (one notebook's kernel must not compete with the next)."""
    base, token = jupyterlab
    headers = {"Authorization": f"token {token}"}
    with urllib.request.urlopen(urllib.request.Request(f"{base}/api/kernels", headers=headers), timeout=30) as response:
        kernels = json.load(response)
    for kernel in kernels:
        request = urllib.request.Request(f"{base}/api/kernels/{kernel['id']}", method="DELETE", headers=headers)
        urllib.request.urlopen(request, timeout=30).close()


def open_notebook(page, jupyterlab, name):
    from playwright.sync_api import expect

    base, token = jupyterlab
    start_kernel_session(jupyterlab, f"notebooks/{name}.ipynb")
    page.goto(f"{base}/lab/tree/notebooks/{name}.ipynb?reset&token={token}")  # reset: no tabs left by earlier tests
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=60_000)
    accept_kernel_dialog(page)
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(1, timeout=60_000)


def accept_kernel_dialog(page):
    """JupyterLab may still ask which kernel to use (Python 3 preselected): answer it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.locator(".jp-Dialog").get_by_role("button", name="Select", exact=True).click(timeout=8_000)
    except PlaywrightTimeout:
        pass


def run_all_cells(page):
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def image_digest(locator) -> str:
    return hashlib.sha1((locator.get_attribute("src") or "").encode()).hexdigest()


def cell_containing(page, text):
    return page.locator(".jp-CodeCell").filter(has_text=text)


def wait_for_kernel_idle(page, timeout_s=RUN_TIMEOUT_S):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        if prompts and all("*" not in p for p in prompts) and all(p.strip() != "[ ]:" for p in prompts):
            return
        time.sleep(0.5)
    raise TimeoutError("the notebook did not finish")


def assert_no_errors(page):
    errors = page.locator("[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.first.inner_text()
    assert "model not found" not in page.locator(".jp-Notebook").inner_text().lower()


def run_notebook(page, jupyterlab, name):
    """Open a notebook, Run All, wait until it finished without an error."""
    open_notebook(page, jupyterlab, name)
    run_all_cells(page)
    wait_for_kernel_idle(page)
    assert_no_errors(page)


class ExplorerInPage:
    """The first slider explorer of an open notebook: its first slider, readout, picture and status line."""

    def __init__(self, page):
        self.page = page
        self.cell = cell_containing(page, "explorer = Explorer(")
        self.picture = self.cell.locator(".widget-image")
        self._scroll_to_picture()
        self.slider = self.cell.locator(".widget-slider").first
        self.handle = self.slider.locator(".noUi-handle").first
        self.readout = self.slider.locator(".widget-readout")
        self.label = self.slider.locator(".widget-label").first.inner_text().strip()
        # by its class: a notebook may show other HTML widgets in the same cell (notebook 10's saliency line)
        self.status = self.cell.locator(f".{STATUS_CLASS}")
        self.output = self.cell.locator(".jp-OutputArea-output").filter(has=page.locator(".widget-image"))

    def _scroll_to_picture(self, timeout_s: float = 60) -> None:
        """JupyterLab renders cells lazily: scroll the notebook from the top until the explorer's picture shows."""
        notebook = self.page.locator(".jp-NotebookPanel:visible .jp-WindowedPanel-outer").first
        notebook.evaluate("(node) => node.scrollTo(0, 0)")
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.picture.count() and self.picture.first.is_visible():
                self.picture.first.scroll_into_view_if_needed()
                return
            notebook.evaluate("(node) => node.scrollBy(0, node.clientHeight * 0.8)")
            time.sleep(0.3)
        raise TimeoutError("the explorer's picture never showed")

    def screenshot(self, path) -> None:
        self.output.scroll_into_view_if_needed()
        self.output.screenshot(path=str(path))

    def shows(self, readout: str) -> str:
        """The status line's text once the picture shows the slider at `readout`."""
        return f"{self.label} = {readout}"

    def _wait_for_status(self, readout: str, timeout_s: float) -> None:
        """Until the status line names `readout` for the first slider ("sample = 3," or "sample = 3 ·", not "sample = 30")."""
        self.page.wait_for_function(
            "([status, text]) => [',', ' ·'].some((end) => status.textContent.includes(text + end))",
            arg=[self.status.element_handle(), self.shows(readout)], polling=10, timeout=timeout_s * 1000,
        )

    def wait_until_drawn(self, timeout_s: float = 30) -> float:
        """Seconds until the status line names the slider's current readout."""
        started = time.perf_counter()
        self._wait_for_status(self.readout.inner_text().strip(), timeout_s)
        return time.perf_counter() - started

    def drag(self, steps: int, key: str = "ArrowRight") -> dict:
        """Press `key` `steps` times as fast as the browser takes them, starting from the slider's minimum;
        return the final readout, the redraw the picture shows and the seconds from the last press until it shows it."""
        self.handle.focus()
        self.handle.press("Home")
        self.wait_until_drawn()
        start = self.readout.inner_text().strip()
        for _ in range(steps):
            self.handle.press(key)
        last_press = time.perf_counter()
        final = self.readout.inner_text().strip()
        assert final != start, f"the drag did not move the slider (stuck at {start})"
        self._wait_for_status(final, 60)
        return {"steps": steps, "final": final, "seconds": time.perf_counter() - last_press,
                "status": self.status.inner_text()}

    def steps_in_range(self, at_most: int = 100) -> int:
        """How many key presses move the slider from its minimum to its maximum (counted, up to `at_most`).

        Counted rather than computed: a SelectionSlider's readout is a label and noUiSlider's aria values
        are rounded to one decimal, so neither divides into a step count for every slider."""
        self.handle.focus()
        self.handle.press("End")
        high = self.readout.inner_text().strip()
        self.handle.press("Home")
        presses = 0
        while presses < at_most and self.readout.inner_text().strip() != high:
            self.handle.press("ArrowRight")
            presses += 1
        self.handle.press("Home")
        return max(1, presses)

    def redraw_seconds(self) -> float:
        """The redraw time the status line reports."""
        return float(self.status.inner_text().split("redrawn in")[1].split("ms")[0]) / 1000
