"""advlab.reports: papermill runs with parameters, HTML copies, and failures that do not hide the rest."""

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from advlab import reports


def write_notebook(path, *sources):
    """Code cells (the first tagged `parameters`); a source starting with "# md" is a markdown cell."""
    cells = [new_code_cell(sources[0], metadata={"tags": ["parameters"]})] + [
        new_markdown_cell(s[len("# md"):]) if s.startswith("# md") else new_code_cell(s) for s in sources[1:]]
    notebook = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(notebook, path)


EXPLORER_CELL = """\
from ipywidgets import FloatSlider
from advlab.widgets import Explorer

def draw(fig, eps):
    fig.subplots().bar([0], [eps])

explorer = Explorer(draw, figsize=(3, 2), eps=FloatSlider(value=0.1, min=0, max=0.3, step=0.05, description="epsilon"))
explorer"""


@pytest.fixture
def notebook_folder(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "00_good.ipynb", "quick = None\nseed = 0",
                   "# md The step $x + \\epsilon\\,\\operatorname{sign}(g)$, and $$\\|\\delta\\|_\\infty \\le \\epsilon.$$",
                   EXPLORER_CELL, "print(f'seed is {seed}, quick is {quick}')",
                   "from advlab.reports import headline\nheadline({'test accuracy': 0.5 + seed / 100, 'a later number': 0.25})")
    write_notebook(folder / "01_broken.ipynb", "quick = None", "raise ValueError('this lesson is broken')")
    (folder / "notes.ipynb").write_text("not a numbered notebook")
    return folder


def test_find_notebooks_filters_by_prefix(notebook_folder):
    assert [p.name for p in reports.find_notebooks(None, notebook_folder)] == ["00_good.ipynb", "01_broken.ipynb"]
    assert [p.name for p in reports.find_notebooks(["01"], notebook_folder)] == ["01_broken.ipynb"]
    with pytest.raises(ValueError, match="no notebook"):
        reports.find_notebooks(["07"], notebook_folder)


def test_a_failing_notebook_is_reported_and_the_others_still_run(notebook_folder, tmp_path, capfd):
    out = tmp_path / "reports"
    status = reports.main(["--folder", str(notebook_folder), "--out", str(out), "--quick", "-p", "seed", "7", "-j", "1"])
    assert status == 1
    captured = capfd.readouterr()  # file-descriptor level: the kernels' own output too
    printed = captured.out
    assert "IPKernelApp" not in captured.out + captured.err, "kernel start-up noise breaks the progress lines"
    assert "[1/2] 00_good: ok in" in printed and "[2/2] 01_broken: FAILED in" in printed
    assert "test accuracy 57.0%, a later number 25.0%" in printed  # in the notebook's order

    good = nbformat.read(out / "00_good.ipynb", as_version=4)
    assert "seed is 7, quick is True" in good.cells[-2].outputs[0]["text"]  # after papermill's injected cell
    assert list(reports.read_headline(out / "00_good.ipynb").items()) == [("test accuracy", pytest.approx(0.57)),
                                                                          ("a later number", 0.25)]
    assert reports.read_headline(out / "01_broken.ipynb") == {}
    assert (out / "00_good.html").exists() and (out / "01_broken.html").exists()
    index = (out / "index.html").read_text()
    assert "00_good.html" in index and "FAILED" in index and "this lesson is broken" in index
    assert "test accuracy: <b>57.0%</b>" in index and "1 of 2 notebooks ran" in index
    # the gallery: a thumbnail of the explorer's picture beside the numbers, and the sizes
    assert index.count("data:image/png;base64,") == 1 and "no figure" in index and "reports total" in index

    page = (out / "00_good.html").read_text()
    assert reports.remote_references(page) == [], "a report must open offline"
    assert "cdnjs" not in page and "unpkg" not in page and "require.js" not in page
    assert page.count("<math") == 2 and 'display="block"' in page, "math is MathML, drawn without a script"
    assert page.count('class="advlab-player"') == 1 and 'type="range"' in page and 'max="6"' in page  # 0..0.3 by 0.05


def test_parallel_jobs_give_the_same_index_and_exit_status(notebook_folder, tmp_path, capfd):
    pages = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"reports-j{jobs}"
        status = reports.main(["--folder", str(notebook_folder), "--out", str(out), "--quick", "-j", jobs])
        assert status == 1, "a failed notebook fails the run, however many run at a time"
        printed = capfd.readouterr().out
        assert f"with {jobs} notebook(s) at a time" in printed and "01_broken: FAILED" in printed
        index = (out / "index.html").read_text()
        assert index.index("00_good.html") < index.index("01_broken.html"), "the index keeps the notebooks' order"
        pages[jobs] = index
    strip_times = lambda page: re.sub(r"[0-9.]+ (s|min)\b", "T", page)  # noqa: E731
    assert strip_times(pages["1"]) == strip_times(pages["2"])


def test_the_chinese_edition_runs_in_chinese_with_its_own_index(notebook_folder, tmp_path, monkeypatch):
    """--edition zh: the kernels learn the edition's language, and the index page is in Chinese."""
    monkeypatch.setenv("ADVLAB_LANG", "en")
    write_notebook(notebook_folder / "02_language.ipynb", "quick = None",
                   "from advlab import config\nprint('language:', config.language())")
    out = tmp_path / "reports-zh"
    status = reports.main(["02", "--edition", "zh", "--folder", str(notebook_folder), "--out", str(out), "-j", "1"])
    assert status == 0
    executed = nbformat.read(out / "02_language.ipynb", as_version=4)
    assert "language: zh" in executed.cells[-1].outputs[0]["text"]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "<html lang='zh'>" in index and "advlab 报告" in index and "1 个笔记本中 1 个运行成功" in index
    assert "notebooks ran" not in index
    assert os.environ["ADVLAB_LANG"] == "en", "the edition's language is set for the kernels only"
    with pytest.raises(ValueError, match="edition"):
        reports.write_index([], tmp_path, {}, edition="fr")


def test_jobs_must_be_positive(notebook_folder, tmp_path):
    with pytest.raises(SystemExit):
        reports.main(["--folder", str(notebook_folder), "--out", str(tmp_path), "-j", "0"])


def test_remote_references_finds_what_a_page_would_fetch_and_ignores_links():
    page = """<script src="https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/latest.js"></script>
    <link rel="stylesheet" href='//unpkg.com/x.css'><style>@import url(https://fonts.example/f.css);
    .a { background: url( "http://img.example/b.png") }</style><script type="module">import("https://cdn.jsdelivr.net/m.mjs")</script>
    <a href="https://arxiv.org/abs/1412.6572">paper</a><math xmlns="http://www.w3.org/1998/Math/MathML"></math>
    <img src="data:image/png;base64,AAAA"><script src="local.js"></script>"""
    assert reports.remote_references(page) == [
        "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/latest.js", "//unpkg.com/x.css",
        "https://fonts.example/f.css", "http://img.example/b.png", "https://cdn.jsdelivr.net/m.mjs"]


def test_plain_nbconvert_would_fail_the_offline_check(notebook_folder, tmp_path):
    """The check can fail: nbconvert's own template references CDN scripts."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook_folder / "00_good.ipynb", as_version=4))
    assert any("cdnjs" in url or "unpkg" in url or "jsdelivr" in url for url in reports.remote_references(body))


@pytest.mark.parametrize("numbers", [{}, {"accuracy": 1.5}, {"accuracy": float("nan")}, {"accuracy": "high"}, [0.5]])
def test_headline_rejects_what_is_not_a_mapping_of_fractions(numbers):
    with pytest.raises(ValueError, match="numbers"):
        reports.headline(numbers)


ALLOWED_LATIN = {"eps", "softmax", "sigma", "fast"}  # symbols and names that stay as they are in Chinese


def headline_names_in_notebooks() -> list[str]:
    """The names each notebook passes to reports.headline, an f-string's fields filled with a sample value."""
    import ast
    from pathlib import Path

    import jupytext

    names = []
    for source in sorted((Path(reports.NOTEBOOKS)).glob("[0-9][0-9]_*.py")):
        for cell in jupytext.read(source).cells:
            if cell.cell_type != "code" or "reports.headline(" not in cell.source:
                continue
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "headline" and isinstance(node.args[0], ast.Dict):
                    for key in node.args[0].keys:
                        if isinstance(key, ast.Constant):
                            names.append(key.value)
                        elif isinstance(key, ast.JoinedStr):
                            names.append("".join(part.value if isinstance(part, ast.Constant) else
                                                 ("10%" if "%" in ast.unparse(part) else "10") for part in key.values))
    return names


def test_every_headline_name_has_a_chinese_form():
    import json

    summary = json.loads((reports.ROOT / "docs" / "results.json").read_text(encoding="utf-8"))
    names = {name for entry in summary["notebooks"] for name, _ in entry["headline"]} | set(headline_names_in_notebooks())
    assert len(names) > 40
    untranslated = {}
    for name in sorted(names):
        chinese = reports.headline_name(name, "zh")
        leftover = {word for word in re.findall(r"\b[a-z]{3,}\b", chinese)} - ALLOWED_LATIN
        if leftover or not re.search(r"[\u4e00-\u9fff]", chinese):
            untranslated[name] = chinese
    assert untranslated == {}, "add phrases to reports.HEADLINE_PHRASES_ZH"
    assert reports.headline_name("PGD-AT, worst-case accuracy at eps 0.1", "en") == "PGD-AT, worst-case accuracy at eps 0.1"
    assert reports.headline_name("a made-up number", "zh") == "a made-up number", "the check above can fail"
    with pytest.raises(ValueError, match="lang"):
        reports.headline_name("clean accuracy", "fr")


def test_several_notebooks_at_once_start_longest_first_by_past_run_time(tmp_path, monkeypatch):
    notebooks = [Path(f"notebooks/{name}.ipynb") for name in ("00_a", "01_b", "02_c", "03_new")]
    past = tmp_path / "past.json"
    past.write_text(json.dumps({"notebooks": [{"name": "00_a", "seconds": 20}, {"name": "01_b", "seconds": 300},
                                              {"name": "02_c", "seconds": 90}]}))
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.json").write_text(json.dumps({"notebooks": [{"name": "00_a", "seconds": 500}]}))  # the folder's own run wins
    (tmp_path / "broken.json").write_text("{not json")
    monkeypatch.setattr(reports, "PAST_RUNS", [past, tmp_path / "missing.json", tmp_path / "broken.json"])
    seconds = reports.past_seconds(out)
    assert seconds == {"00_a": 500.0, "01_b": 300.0, "02_c": 90.0}
    order = [n.stem for n in reports.longest_first(notebooks, seconds)]
    assert order == ["03_new", "00_a", "01_b", "02_c"], "unknown first, then by past seconds, longest first"
