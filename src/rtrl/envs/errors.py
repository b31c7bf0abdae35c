"""Errors raised by `rtrl.envs`."""

from __future__ import annotations

__all__ = ["MissingExtraError"]


class MissingExtraError(ValueError, ImportError):
    """An environment needs an optional dependency that is not installed; the message says what to install.

    A ValueError (bad user input: the CLI prints it as "error: ..." with exit status 2) and an
    ImportError (what it is about).
    """
