"""Packaging: the declared Python range, ranges (not pins) for dependencies, the constraints file the README and
CI install with, and the warning filter that makes only this project's own warnings fatal."""

from __future__ import annotations

import pathlib
import re
import tomllib
import warnings

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_python_range_includes_311_to_313():
    spec = _pyproject()["project"]["requires-python"]
    assert spec == ">=3.11", spec  # no upper cap: 3.12 and 3.13 are supported and tested in CI


def test_dependencies_are_ranges_and_constraints_pin_each_of_them():
    project = _pyproject()["project"]
    constraints = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            constraints[name.lower().replace("_", "-")] = version
    requirements = list(project["dependencies"])
    for extra in ("test", "atari"):
        requirements += project["optional-dependencies"][extra]
    for req in requirements:
        name = re.split(r"[\[<>=!~ ;]", req, maxsplit=1)[0].lower().replace("_", "-")
        assert "==" not in req, f"{req}: a library declares a compatible range, not a pin"
        assert ">=" in req and "<" in req, f"{req}: give a lower and an upper bound"
        assert name in constraints, f"{name} is not pinned in constraints.txt"


def test_readme_and_ci_install_through_the_constraints():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = "pip install -e '.[test]' -c constraints.txt && pytest -n auto"
    assert test_command in readme and test_command in ci
    assert "pip install -e . -c constraints.txt && rtrl demo" in readme


def test_own_warnings_are_errors_third_party_warnings_are_not():
    with pytest.raises(UserWarning):
        warnings.warn_explicit("from rtrl", UserWarning, "rtrl/x.py", 1, module="rtrl.cells.rtu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn_explicit("from a plugin", UserWarning, "plugin.py", 1, module="some_pytest_plugin")
    assert [str(w.message) for w in caught] == ["from a plugin"]
