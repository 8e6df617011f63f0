"""The suite as a learner meets it: JupyterLab in a real (headless) browser.

Runs a notebook with Run All, watches the training cell's live plot redraw in place, then
moves an explorer's slider and checks the picture changes, with no error output anywhere.
Screenshots land in tests/artifacts/.
"""

import hashlib
import json
import time
import urllib.request

from playwright.sync_api import expect

RUN_TIMEOUT_S = 240


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


def open_notebook(page, jupyterlab, name):
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


def move_slider(page, cell, presses=5):
    handle = cell.locator(".widget-slider .noUi-handle").first
    handle.focus()
    for _ in range(presses):
        handle.press("ArrowRight")


def test_notebook_00_live_plot_updates_in_place_and_its_explorer_responds(page, jupyterlab, artifacts):
    open_notebook(page, jupyterlab, "00_digit0_mixture")
    run_all_cells(page)

    training = cell_containing(page, "history = fit(")
    figure = training.locator(".jp-OutputArea-output img")
    frames, most_images = [], 0
    deadline = time.time() + RUN_TIMEOUT_S
    while time.time() < deadline:
        most_images = max(most_images, figure.count())
        if figure.count():
            digest = image_digest(figure.first)
            if not frames or frames[-1] != digest:
                frames.append(digest)
        if "test accuracy after" in training.locator(".jp-OutputArea").inner_text():
            break
        time.sleep(0.1)
    training.scroll_into_view_if_needed()
    training.screenshot(path=str(artifacts / "00_live_plot.png"))
    assert len(frames) >= 3, f"the live plot should redraw while training; saw {len(frames)} frame(s)"
    assert most_images == 1, f"one figure, updated in place; saw up to {most_images}"

    wait_for_kernel_idle(page)
    assert_no_errors(page)

    assert_slider_redraws(page, artifacts / "00_explorer.png")


def test_notebook_01_epsilon_slider_redraws_the_attack(page, jupyterlab, artifacts):
    open_notebook(page, jupyterlab, "01_fgsm")
    run_all_cells(page)
    wait_for_kernel_idle(page)
    assert_no_errors(page)
    assert_slider_redraws(page, artifacts / "01_eps_slider.png")


def test_a_paired_py_opens_as_the_same_notebook(page, jupyterlab, artifacts):
    """Double-clicking 00's .py opens a notebook (jupytext), with the .ipynb's cells, not a text editor."""
    base, token = jupyterlab
    with urllib.request.urlopen(f"{base}/api/contents/notebooks?token={token}", timeout=30) as response:
        listing = {item["name"]: item["type"] for item in json.load(response)["content"]}
    assert listing["00_digit0_mixture.py"] == "notebook", "the server must read the .py as a notebook"
    sources = {}
    for name in ["00_digit0_mixture.py", "00_digit0_mixture.ipynb"]:
        url = f"{base}/api/contents/notebooks/{name}?type=notebook&content=1&token={token}"
        with urllib.request.urlopen(url, timeout=30) as response:
            sources[name] = [(c["cell_type"], c["source"]) for c in json.load(response)["content"]["cells"]]
    assert sources["00_digit0_mixture.py"] == sources["00_digit0_mixture.ipynb"]

    page.goto(f"{base}/lab/tree/notebooks?reset&token={token}")
    page.locator(".jp-DirListing-item", has_text="00_digit0_mixture.py").dblclick(timeout=60_000)
    panel = page.locator(".jp-NotebookPanel:visible")
    expect(panel).to_have_count(1, timeout=60_000)
    accept_kernel_dialog(page)
    expect(panel.locator(".jp-MarkdownCell").first).to_contain_text("00", timeout=30_000)
    expect(page.locator(".jp-FileEditor:visible")).to_have_count(0)
    page.screenshot(path=str(artifacts / "00_py_as_notebook.png"))


def assert_slider_redraws(page, screenshot):
    """Move the first slider of the notebook's explorer; its readout and its picture must change."""
    explorer = cell_containing(page, "explorer = Explorer(")
    picture = explorer.locator(".widget-image")
    expect(picture).to_have_count(1, timeout=30_000)
    readout = explorer.locator(".widget-readout").first
    value_before, picture_before = readout.inner_text(), image_digest(picture)
    move_slider(page, explorer)
    expect(readout).not_to_have_text(value_before, timeout=10_000)
    deadline = time.time() + 10
    while image_digest(picture) == picture_before and time.time() < deadline:
        time.sleep(0.1)
    explorer.scroll_into_view_if_needed()
    explorer.screenshot(path=str(screenshot))
    assert image_digest(picture) != picture_before, "moving the slider must redraw the figure"
    assert_no_errors(page)
