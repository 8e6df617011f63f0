"""A report as a teacher mails it: the static HTML in headless Chromium with the network cut off.

Every request that is not the file itself (or inline data) is aborted and counted. The
explorer's precomputed player must still respond to its slider, math must be drawn, and no
request may leave the machine. Set ADVLAB_REPORTS=reports/ (after `make report`) to check
every report of a real run the same way.
"""

import os
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from advlab import reports

EXPLORER = """\
from ipywidgets import FloatSlider
from advlab.widgets import Explorer

def draw(fig, eps):
    ax = fig.subplots()
    ax.bar([0], [eps])
    ax.set(ylim=(0, 0.3), title=f"eps = {eps:.2f}")

explorer = Explorer(draw, figsize=(4, 2.5), eps=FloatSlider(value=0.1, min=0, max=0.3, step=0.01, description="epsilon"))
explorer"""


@pytest.fixture(scope="module")
def small_report(tmp_path_factory):
    """A one-explorer notebook with math, run headlessly by advlab.reports (papermill), as HTML."""
    folder = tmp_path_factory.mktemp("report")
    notebook = new_notebook(cells=[
        new_code_cell("quick = None", metadata={"tags": ["parameters"]}),
        new_markdown_cell("FGSM: $$x_{\\text{adv}} = \\operatorname{clip}_{[0,1]}(x + \\epsilon\\,\\operatorname{sign}(g))$$"),
        new_code_cell(EXPLORER),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(notebook, folder / "00_player.ipynb")
    assert reports.main(["--folder", str(folder), "--out", str(folder / "out"), "--quick"]) == 0
    return folder / "out" / "00_player.html"


def open_offline(browser, page_path: Path):
    """Open a local page with every non-local request aborted; return (page, list of requests that tried to leave)."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    left = []

    def block(route):
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            left.append(url)
            route.abort()

    context.route("**/*", block)
    page = context.new_page()
    page.goto(page_path.resolve().as_uri(), wait_until="load")
    page.wait_for_timeout(500)  # scripts that would load more (MathJax, widget manager) start on load
    return page, left


def drag_player(page, player, presses: int = 5) -> tuple[str, str]:
    """Move a player's slider by `presses` keyboard steps; return its picture and readout before and after."""
    picture, readout, slider = player.locator("img"), player.locator("output"), player.locator("input[type=range]")
    before = (picture.get_attribute("src"), readout.inner_text())
    slider.focus()
    key = "ArrowLeft" if int(slider.get_attribute("value")) == int(slider.get_attribute("max")) else "ArrowRight"
    for _ in range(presses):
        slider.press(key)
    after = (picture.get_attribute("src"), readout.inner_text())
    return before, after


def test_a_static_report_works_with_the_network_cut_off(browser, small_report, artifacts):
    page, left = open_offline(browser, small_report)
    player = page.locator(".advlab-player")
    assert player.count() == 1
    (src_before, value_before), (src_after, value_after) = drag_player(page, player)
    assert src_after != src_before, "dragging the precomputed slider must change the picture"
    assert (value_before, value_after) == ("0.09", "0.24"), "five frames on from the one nearest 0.1 (frames every 0.03)"
    math = page.locator("math")
    assert math.count() == 1 and math.first.bounding_box()["width"] > 50, "the formula is drawn (MathML)"
    player.screenshot(path=str(artifacts / "static_report_player.png"))
    assert left == [], f"requests left the machine: {left}"
    page.context.close()


def test_the_offline_check_sees_a_page_that_reaches_out(browser, tmp_path):
    """The request counter works: a page with a CDN script is caught."""
    page_path = tmp_path / "cdn.html"
    page_path.write_text('<!doctype html><script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js"></script>')
    page, left = open_offline(browser, page_path)
    assert left == ["https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js"]
    page.context.close()


REPORTS = Path(os.environ["ADVLAB_REPORTS"]) if os.environ.get("ADVLAB_REPORTS") else None


@pytest.mark.skipif(REPORTS is None, reason="set ADVLAB_REPORTS to a folder made by `make report`")
@pytest.mark.parametrize("name", sorted(p.name for p in REPORTS.glob("[0-9][0-9]_*.html")) if REPORTS else [])
def test_every_made_report_works_offline(browser, artifacts, name):
    page, left = open_offline(browser, REPORTS / name)
    players = page.locator(".advlab-player")
    for i in range(players.count()):
        player = players.nth(i)
        player.scroll_into_view_if_needed()
        (src_before, _), (src_after, _) = drag_player(page, player, presses=3)
        assert src_after != src_before, f"{name}: player {i} did not change its picture"
        player.screenshot(path=str(artifacts / f"report_{Path(name).stem}_player{i}.png"))
    assert left == [], f"{name}: requests left the machine: {left}"
    page.context.close()


# ----------------------------------------------------------------------------- the Chinese edition
CHINESE_NOTEBOOK = "00_digit0_mixture"


@pytest.fixture(scope="module")
def chinese_report(tmp_path_factory):
    """Notebook 00 of the Chinese edition (notebooks/zh/), run by `python -m advlab.reports --edition zh --quick`."""
    out = tmp_path_factory.mktemp("report-zh")
    assert reports.main([CHINESE_NOTEBOOK[:2], "--edition", "zh", "--out", str(out), "--quick", "-j", "1"]) == 0
    return out


def glyphs_differ(page, text: str, missing: str = "\ue000\ue001\ue002\ue003") -> bool:
    """Whether `text` is drawn with real glyphs: a string of private-use characters (which no font draws)
    renders as the same missing-glyph boxes that CJK text shows when no CJK font is installed."""
    shots = []
    for sample in (text, missing):
        page.evaluate("""sample => {
            let probe = document.getElementById('glyph-probe');
            if (!probe) { probe = document.createElement('span'); probe.id = 'glyph-probe';
                          probe.style.cssText = 'font-size:32px;position:fixed;top:0;left:0;background:white'; document.body.append(probe); }
            probe.textContent = sample; }""", sample)
        shots.append(page.locator("#glyph-probe").screenshot())
    return shots[0] != shots[1]


def test_a_chinese_report_renders_its_chinese_text(browser, chinese_report, artifacts):
    page, left = open_offline(browser, chinese_report / f"{CHINESE_NOTEBOOK}.html")
    heading = page.locator("h1").first
    assert any("\u4e00" <= ch <= "\u9fff" for ch in heading.inner_text()), "the lesson's title is in Chinese"
    chinese = "".join(ch for ch in heading.inner_text() if "\u4e00" <= ch <= "\u9fff")[:4]
    assert glyphs_differ(page, chinese), "Chinese text is drawn as missing-glyph boxes: install a CJK font (fonts-wqy-microhei)"
    assert page.locator("img").count() >= 1, "the report's figures are there"
    heading.screenshot(path=str(artifacts / "report_zh_title.png"))
    assert left == [], f"requests left the machine: {left}"
    page.context.close()

    index, left = open_offline(browser, chinese_report / "index.html")
    assert "advlab 报告" in index.locator("h1").inner_text() and index.locator("html").get_attribute("lang") == "zh"
    assert glyphs_differ(index, "核心结果")
    assert left == []
    index.context.close()


def test_the_glyph_check_sees_missing_glyphs(browser, tmp_path):
    """The check above can fail: private-use characters are drawn as the same boxes as each other."""
    page_path = tmp_path / "blank.html"
    page_path.write_text("<!doctype html><meta charset='utf-8'><body>x</body>", encoding="utf-8")
    page, _ = open_offline(browser, page_path)
    assert not glyphs_differ(page, "\ue010\ue011\ue012\ue013")
    assert glyphs_differ(page, "abcd")
    page.context.close()
