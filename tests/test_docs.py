"""The README is a front door, not a lab notebook: short, and no measured numbers in it.

Measurements live in docs/performance.md, each table under a heading that names the command that
produced it and the day; results live in docs/results.md, generated (tests/test_results.py).
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PERFORMANCE = ROOT / "docs" / "performance.md"
MEASUREMENT = re.compile(r"\d[\d,.]*\s?(%|ms|s\b|MiB|MB|GB|min\b|GFLOP)")
DATE = re.compile(r"20\d\d-\d\d-\d\d")


def sections(text: str) -> list[str]:
    """The '## ' sections of a markdown page (the text before the first one dropped)."""
    return re.split(r"^## ", text, flags=re.MULTILINE)[1:]


def test_the_readme_is_short_and_starts_with_the_two_commands_and_the_map():
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= 200
    first_screen = "\n".join(lines[:30])
    assert "make test" in first_screen and "make report" in first_screen
    map_at = text.index("## The notebooks")
    assert map_at < text.index("## How a notebook is built")
    for link in ("docs/results.md", "docs/performance.md", "CONTRIBUTING.md"):
        assert f"]({link})" in text


def test_the_readme_states_no_measured_number():
    found = [line for line in README.read_text(encoding="utf-8").splitlines() if MEASUREMENT.search(line)]
    assert found == [], "measurements belong in docs/performance.md, with their command and date"


def undocumented_tables(text: str) -> list[str]:
    """Sections holding a table with no command or no date between the section's heading and the table."""
    problems = []
    for section in sections(text):
        title = section.splitlines()[0]
        for table in re.finditer(r"^\|.*\|\n\|[-|: ]+\|$", section, re.MULTILINE):
            before = section[:table.start()]
            if not any(command in before for command in ("python ", "make ", ".ci/run")):
                problems.append(f"{title}: a table without its command")
            if not DATE.search(before):
                problems.append(f"{title}: a table without the day it was measured")
    return problems


def test_every_table_in_the_performance_page_has_its_command_and_date():
    assert undocumented_tables(PERFORMANCE.read_text(encoding="utf-8")) == []


def test_a_table_without_command_or_date_is_found():
    planted = "# P\n\n## Speed\n\nMeasured once.\n\n| a | b |\n|---|---:|\n| x | 1 s |\n"
    assert undocumented_tables(planted) == ["Speed: a table without its command", "Speed: a table without the day it was measured"]
    dated = planted.replace("Measured once.", "`python benchmarks/x.py`, 2026-12-07:")
    assert undocumented_tables(dated) == []


def test_the_measurement_pattern_catches_numbers_with_units():
    # the check above must be able to fail: these are the kinds of line it exists to keep out
    for line in ("takes 725 s of CPU", "peak 1,292 MiB", "robust 61.8 % here", "median 53 ms"):
        assert MEASUREMENT.search(line), line
    assert not MEASUREMENT.search("notebooks 00-10 and seeds 0, 1 and 2")


def notebook_map(text: str) -> list[str]:
    """The notebooks a README's map lists, in its order."""
    return re.findall(r"^\| `(\d\d_\w+)` \|", text, flags=re.MULTILINE)


def test_the_chinese_readme_mirrors_the_english_one():
    english = README.read_text(encoding="utf-8")
    chinese = (ROOT / "README.zh.md").read_text(encoding="utf-8")
    assert "](README.zh.md)" in english.splitlines()[2] and "](README.md)" in chinese.splitlines()[2]
    assert notebook_map(chinese) == notebook_map(english) != []
    assert "urlpath=lab/tree/notebooks/zh" in chinese, "the Chinese Binder link opens the Chinese edition"
    assert "make report-zh" in chinese and "docs/glossary.zh.md" in chinese
    assert sorted(notebook_map(english)) == sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
