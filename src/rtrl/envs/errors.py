"""Errors raised by `rtrl.envs`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.util import find_spec as _find_spec
from typing import Any

__all__ = ["MissingExtraError", "require_extra"]


class MissingExtraError(ValueError, ImportError):
    """An environment needs an optional dependency that is not installed; the message says what to install.

    A ValueError (bad user input: the CLI prints it as "error: ..." with exit status 2) and an
    ImportError (what it is about).
    """


def require_extra(who_needs: str, extra: str, requires: Sequence[tuple[str, str]], install: str,
                  find_spec: Callable[[str], Any] = _find_spec) -> None:
    """Raise `MissingExtraError` unless every module of ``requires`` ((module, package) pairs) is
    importable: "<who_needs> the '<extra>' extra (missing: <packages>): <install>". ``find_spec`` is
    the caller's (so that a test can pretend a package is missing)."""
    missing = [package for module, package in requires if find_spec(module) is None]
    if missing:
        raise MissingExtraError(f"{who_needs} the '{extra}' extra (missing: {', '.join(missing)}): {install}")
