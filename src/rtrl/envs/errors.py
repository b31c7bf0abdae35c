"""Errors raised by `rtrl.envs`."""

from __future__ import annotations

__all__ = ["MissingExtraError"]


class MissingExtraError(ImportError):
    """An environment needs an optional dependency that is not installed; the message says what to install."""
