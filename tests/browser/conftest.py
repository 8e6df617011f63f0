"""A real JupyterLab on localhost and Debian's headless Chromium, driven by Playwright.

The browser is the system one (/usr/bin/chromium, `apt-get install chromium`); nothing here
downloads a browser. Without it the tests skip, unless ADVLAB_REQUIRE_BROWSER=1 (set by
.ci/run, which installs it), in which case they fail.
"""

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _require_browser():
    missing = not Path(CHROMIUM).exists()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = True
    if missing:
        message = "needs Debian's chromium and the playwright package (see .ci/run)"
        if os.environ.get("ADVLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def jupyterlab(tmp_path_factory):
    """Start JupyterLab (quick mode, token-protected, localhost only); yield its base URL and token."""
    _require_browser()
    port, token = _free_port(), secrets.token_hex(16)
    state = tmp_path_factory.mktemp("jupyter")
    served = state / "served"  # a copy: JupyterLab autosaves, and must never write into the repository
    shutil.copytree(ROOT / "notebooks", served / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    _write_settings(state / "settings")
    # the project's JupyterLab defaults, as `make setup` and binder/postBuild install them
    (state / "app-settings").mkdir()
    shutil.copy(ROOT / "settings" / "jupyterlab-overrides.json", state / "app-settings" / "overrides.json")
    # a person watches JupyterLab: live plots redraw as training goes (make test sets ADVLAB_HEADLESS=1)
    env = {**os.environ, "ADVLAB_QUICK": "1", "ADVLAB_HEADLESS": "0", "JUPYTER_RUNTIME_DIR": str(state / "runtime")}
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
    """No news pop-ups, no autosave."""
    settings = {
        "apputils-extension/notification": '{"fetchNews": "false", "checkForUpdates": false}',
        "docmanager-extension/plugin": '{"autosave": false}',
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


@pytest.fixture(scope="session")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
