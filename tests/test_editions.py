"""The Chinese edition (notebooks/zh/) is the English one in another language, cell by cell.

For every English notebook there is a Chinese twin with the same file name, and:

* the same cells in the same order: cell types, tags (the papermill ``parameters`` cell too);
* code cells that parse to the same program (``ast.dump``: comments and layout may differ,
  names, strings and numbers may not);
* markdown cells that carry the same formulas (``$...$``, ``$$...$$``), the same numbers and
  the same link targets as their English twins (prose is translated, facts are not);
* the twin's .py/.ipynb pair in step, like the English pairs (tests/test_notebooks.py).

CI executes only the English edition: these checks are what makes that enough. The comparison
functions are tested on planted drifts below, so a check that stops working fails here.
"""

import ast
import re
from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
ENGLISH = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
CHINESE = NOTEBOOKS / "zh"
CJK = re.compile(r"[\u4e00-\u9fff]")

DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$", re.DOTALL)
INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<![\\$])\$", re.DOTALL)  # a formula may break across lines
LINK_TARGET = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|<(https?://[^>]+)>")
NUMBER = re.compile(r"(?<![A-Za-z0-9_.])\d+(?:[.,]\d+)*")  # after a CJK character too


def formulas(markdown: str) -> list[str]:
    """Every formula of a markdown cell, display then inline, with its spaces squeezed."""
    display = DISPLAY_MATH.findall(markdown)
    inline = INLINE_MATH.findall(DISPLAY_MATH.sub(" ", markdown))
    return sorted(" ".join(f.split()) for f in display + inline)


def numbers(markdown: str) -> set[str]:
    """The numbers a markdown cell states (digits, with their decimal point or thousands separator)."""
    return set(NUMBER.findall(markdown))


def links(markdown: str) -> set[str]:
    return {a or b for a, b in LINK_TARGET.findall(markdown)}


def program(code: str) -> str:
    """What a code cell does, without its comments or layout."""
    return ast.dump(ast.parse(code))


def differences(english, chinese) -> list[str]:
    """Every way the Chinese notebook `chinese` departs from its English twin (jupytext notebooks)."""
    if len(english.cells) != len(chinese.cells):
        return [f"{len(english.cells)} cells in English, {len(chinese.cells)} in Chinese"]
    found = []
    for i, (en, zh) in enumerate(zip(english.cells, chinese.cells)):
        where = f"cell {i} ({en.cell_type})"
        if en.cell_type != zh.cell_type:
            found.append(f"{where}: the Chinese cell is {zh.cell_type}")
        elif en.metadata.get("tags", []) != zh.metadata.get("tags", []):
            found.append(f"{where}: tags {en.metadata.get('tags', [])} vs {zh.metadata.get('tags', [])}")
        elif en.cell_type == "code" and program(en.source) != program(zh.source):
            found.append(f"{where}: the code differs (beyond comments and layout)")
        elif en.cell_type == "markdown":
            for what, read in (("formulas", formulas), ("numbers", numbers), ("links", links)):
                if read(en.source) != read(zh.source):
                    found.append(f"{where}: {what} differ: {_symmetric(read(en.source), read(zh.source))}")
    return found


def _symmetric(en, zh) -> str:
    en, zh = list(en), list(zh)
    only_en = [x for x in en if x not in zh]
    only_zh = [x for x in zh if x not in en]
    return f"only in English {only_en}, only in Chinese {only_zh}"


def twin(source: Path) -> Path:
    return CHINESE / source.name


@pytest.mark.parametrize("source", ENGLISH, ids=lambda p: p.stem)
def test_every_english_notebook_has_a_chinese_twin(source):
    assert twin(source).exists(), f"notebooks/zh/{source.name} is missing: translate {source.name} (CONTRIBUTING.md)"
    assert twin(source).with_suffix(".ipynb").exists(), f"run `make sync` for notebooks/zh/{source.name}"


def test_no_chinese_notebook_without_an_english_original():
    assert {p.name for p in CHINESE.glob("*.py")} <= {p.name for p in ENGLISH}


@pytest.mark.parametrize("source", ENGLISH, ids=lambda p: p.stem)
def test_the_chinese_twin_is_the_same_notebook(source):
    if not twin(source).exists():
        pytest.fail(f"notebooks/zh/{source.name} is missing")
    found = differences(jupytext.read(source), jupytext.read(twin(source)))
    assert not found, "\n".join(found)


@pytest.mark.parametrize("source", ENGLISH, ids=lambda p: p.stem)
def test_the_chinese_twin_is_in_chinese(source):
    """Every markdown cell that has words in English has Chinese in the twin (nothing left untranslated)."""
    if not twin(source).exists():
        pytest.fail(f"notebooks/zh/{source.name} is missing")
    english, chinese = jupytext.read(source), jupytext.read(twin(source))
    untranslated = [i for i, (en, zh) in enumerate(zip(english.cells, chinese.cells))
                    if en.cell_type == "markdown" and re.search(r"[A-Za-z]{4,}\s+[a-z]{3,}", en.source)
                    and not CJK.search(zh.source)]
    assert not untranslated, f"markdown cells {untranslated} have no Chinese"


@pytest.mark.parametrize("source", ENGLISH, ids=lambda p: p.stem)
def test_the_chinese_pair_is_in_sync(source):
    chinese = twin(source)
    if not chinese.exists():
        pytest.fail(f"notebooks/zh/{source.name} is missing")
    as_cells = lambda nb: [(c.cell_type, c.source.strip(), c.metadata.get("tags", [])) for c in nb.cells]  # noqa: E731
    from_ipynb = nbformat.read(chinese.with_suffix(".ipynb"), as_version=4)
    assert as_cells(jupytext.read(chinese)) == as_cells(from_ipynb), f"run `make sync` ({chinese})"
    assert all(c.outputs == [] for c in from_ipynb.cells if c.cell_type == "code"), "commit without outputs"


# ----------------------------------------------------------------------------- the checks can fail
ENGLISH_CELLS = [
    ("markdown", "## 1 · FGSM\n\nFGSM steps by $x' = x + \\epsilon\\,\\mathrm{sign}(g)$ with eps = 0.1 "
                 "(Goodfellow et al. 2015, [paper](https://arxiv.org/abs/1412.6572)).\n\n$$L = -\\log p_y$$"),
    ("code", "eps = 0.1  # the budget\nx_adv = attacks.fgsm(model, x, y, eps)"),
]
FAITHFUL = [
    ("markdown", "## 1 · 快速梯度符号法（FGSM）\n\nFGSM 的一步是 $x' = x + \\epsilon\\,\\mathrm{sign}(g)$，"
                 "eps = 0.1（Goodfellow 等，2015，[论文](https://arxiv.org/abs/1412.6572)）。\n\n$$L = -\\log p_y$$"),
    ("code", "eps = 0.1  # 扰动预算\nx_adv = attacks.fgsm(model, x,\n                    y, eps)"),
]


def notebook_of(cells):
    make = {"markdown": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    return nbformat.v4.new_notebook(cells=[make[kind](text) for kind, text in cells])


def test_a_faithful_translation_passes():
    assert differences(notebook_of(ENGLISH_CELLS), notebook_of(FAITHFUL)) == []


@pytest.mark.parametrize("drift, expected", [
    (lambda c: [(c[0][0], c[0][1].replace("\\epsilon", "2\\epsilon")), c[1]], "formulas differ"),
    (lambda c: [(c[0][0], c[0][1].replace("2015", "2016")), c[1]], "numbers differ"),
    (lambda c: [(c[0][0], c[0][1].replace("1412.6572", "1706.06083")), c[1]], "links differ"),
    (lambda c: [c[0], (c[1][0], c[1][1].replace("eps = 0.1", "eps = 0.2"))], "the code differs"),
    (lambda c: [c[0], (c[1][0], c[1][1].replace("fgsm", "pgd"))], "the code differs"),
    (lambda c: c[:1], "2 cells in English, 1 in Chinese"),
    (lambda c: [c[0], ("markdown", c[1][1])], "the Chinese cell is markdown"),
])
def test_a_planted_drift_is_caught(drift, expected):
    found = differences(notebook_of(ENGLISH_CELLS), notebook_of(drift(FAITHFUL)))
    assert any(expected in line for line in found), found


def test_a_changed_tag_is_caught():
    english, chinese = notebook_of(ENGLISH_CELLS), notebook_of(FAITHFUL)
    english.cells[1].metadata["tags"] = ["parameters"]
    assert any("tags" in line for line in differences(english, chinese))
