"""The three descriptions of the environment pin the same packages at the same versions."""

import json
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAME = {"torch": "pytorch-cpu"}  # conda-forge's name for PyPI's package, where they differ


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    pins = {}
    for requirement in requirements:
        assert "==" in requirement, f"{requirement!r} in pyproject.toml is not pinned with =="
        name, version = requirement.split("==")
        pins[CONDA_NAME.get(name, name)] = version
    return pins


def conda_pins(path: Path) -> tuple[dict[str, str], list[str]]:
    environment = yaml.safe_load(path.read_text())
    assert environment["channels"] == ["conda-forge"]
    pins, pip = {}, []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            pip = entry["pip"]
        elif "=" in entry:
            name, version = entry.split("=")
            pins[name] = version
    return pins, pip


def test_environment_yml_matches_pyproject():
    pins, _ = conda_pins(ROOT / "environment.yml")
    pins.pop("python")
    assert pins == pyproject_pins()


def test_binder_environment_matches_the_root_one():
    assert conda_pins(ROOT / "binder" / "environment.yml") == conda_pins(ROOT / "environment.yml")


REFERENCE_LIBRARIES = ["torchattacks==3.5.1", "adversarial-robustness-toolbox==1.20.1"]  # test-only, pinned


def test_pip_only_packages_are_the_reference_libraries_and_the_browser_extra():
    _, pip = conda_pins(ROOT / "environment.yml")
    browser = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["browser"]
    assert pip == [*REFERENCE_LIBRARIES, *browser]
    makefile = (ROOT / "Makefile").read_text()
    assert all(pin in makefile for pin in REFERENCE_LIBRARIES) and ".[dev,browser]" in makefile


def test_installed_reference_libraries_are_the_pinned_ones():
    from importlib.metadata import PackageNotFoundError, version

    for pin in REFERENCE_LIBRARIES:
        name, pinned = pin.split("==")
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue  # the cross-checks skip without it
        assert installed == pinned, f"{name} {installed} is installed but {pinned} is pinned"


def test_installed_versions_are_the_pinned_ones():
    from importlib.metadata import version

    for name, pinned in pyproject_pins().items():
        name = {v: k for k, v in CONDA_NAME.items()}.get(name, name)
        assert version(name) == pinned, f"{name} {version(name)} is installed but {pinned} is pinned"


def test_binder_postbuild_fails_loudly_and_fetches_full_mnist():
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert post_build.startswith("#!/usr/bin/env bash") and "\nset -e\n" in post_build
    assert "download_full_mnist()" in post_build


def test_make_setup_and_binder_both_install_the_jupyterlab_defaults():
    overrides = json.loads((ROOT / "settings" / "jupyterlab-overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["python"] == "Jupytext Notebook", "a paired .py opens as a notebook"
    makefile = (ROOT / "Makefile").read_text()
    assert "settings/jupyterlab-overrides.json" in makefile and "share/jupyter/lab/settings/overrides.json" in makefile
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert 'cp settings/jupyterlab-overrides.json "$lab_settings/overrides.json"' in post_build
    assert "/share/jupyter/lab/settings" in post_build
