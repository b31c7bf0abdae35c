"""Benchmarks' way to time the user's path: a fresh ``rtrl train`` or ``rtrl predict`` process, read back from
its summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

__all__ = ["run_summary", "train_summary"]


def train_summary(flags: Sequence[str], timeout_s: float = 1800) -> dict[str, Any]:
    """Run ``rtrl train FLAGS --out TMP`` as a fresh process (``python -m rtrl.cli``) and return its
    ``summary.json`` (``steps_per_second``: env steps/s of all seeds, the compiling iteration excluded).
    A run that exits non-zero raises RuntimeError with the end of its output; one that takes longer than
    ``timeout_s`` has hung and raises subprocess.TimeoutExpired."""
    return run_summary("train", flags, timeout_s)


def run_summary(command: str, flags: Sequence[str], timeout_s: float = 1800) -> dict[str, Any]:
    """`train_summary` for ``rtrl COMMAND`` (``train`` or ``predict``; for ``predict``,
    ``steps_per_second`` excludes compilation as well)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run")
        done = subprocess.run([sys.executable, "-m", "rtrl.cli", command, *flags, "--out", out],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout_s,
                              check=False)
        if done.returncode:  # rtrl prints a user's error on stdout and a traceback on stderr: both are kept
            raise RuntimeError(f"rtrl {command} {' '.join(flags)} exited {done.returncode}: {done.stdout[-600:]}")
        with open(os.path.join(out, "summary.json")) as f:
            return json.load(f)
