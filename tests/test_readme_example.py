"""The README's Python API example runs as written (the first ```python block under "## Python API")."""

from __future__ import annotations

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
HEADING = "## Python API"


def python_example(text: str) -> str | None:
    """The first ```python block of the section under HEADING (up to the next "## " heading), or None."""
    heading = re.search(r"^" + re.escape(HEADING) + r"[ \t]*$", text, re.MULTILINE)
    if heading is None:
        return None
    section = text[heading.start():]
    following = re.search(r"^## ", section[len(HEADING):], re.MULTILINE)
    if following:
        section = section[:len(HEADING) + following.start()]
    block = re.search(r"^```python\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    return block.group(1) if block else None


def test_python_example_is_found_only_in_its_section():
    text = "# x\n\n## Other\n\n```python\nwrong = 1\n```\n\n## Python API\n\ntext\n\n```python\nright = 2\n```\n" \
           "\n```python\nsecond = 3\n```\n\n## Next\n"
    assert python_example(text) == "right = 2\n"
    assert python_example("## Python API\n\nno code\n\n## Next\n\n```python\nx = 1\n```\n") is None
    assert python_example("## Quickstart\n") is None


def test_readme_python_api_example_runs(tmp_path, monkeypatch):
    example = python_example(README.read_text(encoding="utf-8")) if README.exists() else None
    if example is None:
        pytest.skip(f"README.md has no '{HEADING}' section with a ```python block yet")
    monkeypatch.chdir(tmp_path)  # the example writes runs/ and agent.npz where it runs
    exec(compile(example, f"{README}:{HEADING}", "exec"), {"__name__": "readme_example"})
