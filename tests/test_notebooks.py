"""Notebook hygiene: each .py/.ipynb pair is in step, committed without outputs, and
parameterised for papermill. (nbval executes the notebooks themselves: see `make test`.)"""

import re
from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def cells(notebook):
    return [(cell.cell_type, cell.source.strip(), cell.metadata.get("tags", [])) for cell in notebook.cells]


def test_every_notebook_is_a_pair():
    assert SOURCES, "no notebooks found"
    assert {p.stem for p in SOURCES} == {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_pair_is_in_sync(source):
    from_py = jupytext.read(source)
    from_ipynb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert cells(from_py) == cells(from_ipynb), f"run `make sync` (jupytext --sync {source.name})"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_ipynb_is_committed_without_outputs(source):
    notebook = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_first_code_cell_holds_the_papermill_parameters(source):
    code = [cell for cell in jupytext.read(source).cells if cell.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert code[0].source.startswith("quick = None")
    assert "config.quick_mode(quick)" in code[1].source


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_states_its_headline_numbers_for_the_report_index(source):
    code = [cell.source for cell in jupytext.read(source).cells if cell.cell_type == "code"]
    assert sum("reports.headline(" in cell for cell in code) == 1, "one reports.headline(...) cell per notebook"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_runs_go_through_the_run_cache_with_a_retrain_switch(source):
    """A second Run All loads stored runs (advlab.runs); `retrain = True` computes them again."""
    code = [cell.source for cell in jupytext.read(source).cells if cell.cell_type == "code"]
    assert re.search(r"^retrain = False\b", code[0], re.MULTILINE), "the parameters cell offers retrain = False"
    assert "runs.set_retrain(retrain)" in code[1]
    text = "\n".join(code)
    trains = re.search(r"\bfit\(", text) is not None
    assert not trains or "runs.fit(" in text or "runs.cached(" in text, "training goes through the run cache"


def headings(source):
    """The '## ' headings of a notebook's markdown cells."""
    markdown = [cell.source for cell in jupytext.read(source).cells if cell.cell_type == "markdown"]
    return [line[3:].strip() for text in markdown for line in text.splitlines() if line.startswith("## ")]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_one_heading_convention_for_exercises(source):
    """'Graded exercises' (checked answers) and, after them, 'Going further' (open questions): never a bare 'Exercises'."""
    found = headings(source)
    assert found.count("Graded exercises") == 1
    assert "Exercises" not in found, "open questions go under '## Going further'"
    if "Going further" in found:
        assert found.index("Going further") > found.index("Graded exercises")


MEASURED_NUMBER = re.compile(r"\d\s?%|\d\s?points?\b|\bmeasured\b[^.]*\d")


def code_comments(source):
    """(line number, comment) for every comment in the notebook's code cells."""
    import io
    import tokenize

    found = []
    for cell in jupytext.read(source).cells:
        if cell.cell_type != "code":
            continue
        tokens = tokenize.generate_tokens(io.StringIO(cell.source + "\n").readline)
        try:
            found += [(token.start[0], token.string) for token in tokens if token.type == tokenize.COMMENT]
        except (tokenize.TokenError, IndentationError, SyntaxError):  # IPython magics: skip the cell
            continue
    return found


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_no_code_comment_quotes_a_number_from_a_past_run(source):
    """Numbers a notebook states are computed in it; a comment beside an assert must not quote an old run's."""
    quoted = [comment for _, comment in code_comments(source) if MEASURED_NUMBER.search(comment)]
    assert quoted == [], "say why a bound is where it is without quoting a run's numbers"


def test_the_comment_check_finds_quoted_numbers():
    for comment in ["# measured (seed 0): 41 % -> 77 %", "# gap 10 points at seed 0", "# measured 0.62 on seed 1"]:
        assert MEASURED_NUMBER.search(comment), comment
    assert not MEASURED_NUMBER.search("# two standard errors: 2 * sqrt(0.8 * 0.2 / 200) = 0.06")
