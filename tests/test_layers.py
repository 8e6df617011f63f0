"""The package's one-way map: every import inside advlab goes to a module on an earlier layer.

The map is the one in advlab/__init__.py's docstring (and the README's package section, which must
show the same lines). Layers are separated by "->"; modules on one layer, separated by "|" or ",",
must not import each other. The imports are read with `ast`, in function bodies too, so a lazy
import cannot hide a cycle.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import advlab

PACKAGE = Path(advlab.__file__).resolve().parent
README = PACKAGE.parent / "README.md"


def map_lines(text: str) -> list[str]:
    """The indented lines of the map: the first starts with 'checks', the rest with '->'."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("checks, config"))
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.strip().startswith("->"):
            break
        block.append(line)
    return [line.strip() for line in block]


def layers_of(lines: list[str]) -> dict[str, int]:
    """Module name -> layer index (0 = the bottom)."""
    groups = " ".join(lines).split("->")
    return {name.strip(): index for index, group in enumerate(groups) for name in re.split(r"[|,]", group) if name.strip()}


def top_module(path: Path) -> str:
    """advlab/exercises/nb01.py -> 'exercises'; advlab/train.py -> 'train'."""
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def imported_modules(path: Path) -> set[str]:
    """The advlab modules (top level) a file imports, anywhere in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside_subpackage = path.parent != PACKAGE
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            if inside_subpackage and node.level == 1:
                continue  # a sibling inside the same subpackage (exercises.core, ...)
            names = [node.module] if node.module else [alias.name for alias in node.names]
            found |= {name.split(".")[0] for name in names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("advlab."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("advlab.")}
    return found


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue
        module = top_module(path)
        graph.setdefault(module, set()).update(imported_modules(path) - {module})
    return graph


def violations(graph: dict[str, set[str]], layers: dict[str, int]) -> list[str]:
    """Every import that is not strictly downward, and every module missing from the map."""
    problems = [f"{module} is not on the map" for module in graph if module not in layers]
    for module, imports in graph.items():
        for target in imports:
            if module in layers and target in layers and layers[target] >= layers[module]:
                direction = "sideways" if layers[target] == layers[module] else "upward"
                problems.append(f"{module} imports {target} ({direction})")
    return sorted(problems)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    visiting, done = [], set()

    def visit(module):
        if module in visiting:
            return visiting[visiting.index(module):] + [module]
        if module in done:
            return None
        visiting.append(module)
        for target in sorted(graph.get(module, ())):
            if cycle := visit(target):
                return cycle
        visiting.pop()
        done.add(module)
        return None

    return next((cycle for module in sorted(graph) if (cycle := visit(module))), None)


def test_every_import_goes_down_the_map():
    graph, layers = import_graph(), layers_of(map_lines(advlab.__doc__))
    assert "data" in graph and "idx" in graph["data"], "the scan reads the package's imports"
    assert violations(graph, layers) == []
    assert find_cycle(graph) is None


def test_the_readme_shows_the_same_map():
    assert map_lines(README.read_text(encoding="utf-8")) == map_lines(advlab.__doc__)


@pytest.mark.parametrize("planted", [{"data": {"idx", "mnist_files"}, "mnist_files": {"data"}},
                                     {"idx": {"data"}, "data": {"idx"}}])
def test_a_planted_cycle_or_upward_import_is_found(planted):
    graph = import_graph() | planted
    layers = layers_of(map_lines(advlab.__doc__))
    assert find_cycle(graph) is not None
    assert any("upward" in problem for problem in violations(graph, layers))
