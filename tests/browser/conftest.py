"""A real JupyterLab on localhost and Debian's headless Chromium, driven by Playwright.

The browser is the system one (/usr/bin/chromium, `apt-get install chromium`); nothing here
downloads a browser. Without it the tests skip, unless ADVLAB_REQUIRE_BROWSER=1 (set by
.ci/run, which installs it), in which case they fail.
"""

import os
from pathlib import Path

import pytest

from .lab import CHROMIUM, CHROMIUM_FLAGS, ROOT, running_jupyterlab

ARTIFACTS = ROOT / "tests" / "artifacts"


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


@pytest.fixture(scope="session")
def jupyterlab(tmp_path_factory):
    """Start JupyterLab (quick mode, token-protected, localhost only); yield its base URL and token."""
    _require_browser()
    with running_jupyterlab(tmp_path_factory.mktemp("jupyter")) as server:
        yield server


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
