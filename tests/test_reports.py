"""advlab.reports: papermill runs with parameters, HTML copies, and failures that do not hide the rest."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from advlab import reports


def write_notebook(path, *sources):
    cells = [new_code_cell(sources[0], metadata={"tags": ["parameters"]})] + [new_code_cell(s) for s in sources[1:]]
    notebook = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(notebook, path)


@pytest.fixture
def notebook_folder(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    write_notebook(folder / "00_good.ipynb", "quick = None\nseed = 0", "print(f'seed is {seed}, quick is {quick}')",
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
    status = reports.main(["--folder", str(notebook_folder), "--out", str(out), "--quick", "-p", "seed", "7"])
    assert status == 1
    captured = capfd.readouterr()  # file-descriptor level: the kernels' own output too
    printed = captured.out
    assert "IPKernelApp" not in captured.out + captured.err, "kernel start-up noise breaks the progress lines"
    assert "[1/2] 00_good.ipynb ... ok" in printed and "[2/2] 01_broken.ipynb ... FAILED" in printed
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


@pytest.mark.parametrize("numbers", [{}, {"accuracy": 1.5}, {"accuracy": float("nan")}, {"accuracy": "high"}, [0.5]])
def test_headline_rejects_what_is_not_a_mapping_of_fractions(numbers):
    with pytest.raises(ValueError, match="numbers"):
        reports.headline(numbers)
