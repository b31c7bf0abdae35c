"""``rtrl eval`` and ``rtrl envs``: trained agents and the environments they run on."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """No commands yet."""
