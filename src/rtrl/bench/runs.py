"""Benchmarks' way to time the user's path: a fresh ``rtrl train`` process, read back from its summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

__all__ = ["train_summary"]


def train_summary(flags: Sequence[str], timeout_s: float = 1800) -> dict[str, Any]:
    """Run ``rtrl train FLAGS --out TMP`` as a fresh process (``python -m rtrl.cli``) and return its
    ``summary.json`` (``steps_per_second``: env steps/s of all seeds, the compiling iteration excluded).
    A run that exits non-zero raises RuntimeError with the end of its stderr; one that takes longer than
    ``timeout_s`` has hung and raises subprocess.TimeoutExpired."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run")
        command = [sys.executable, "-m", "rtrl.cli", "train", *flags, "--out", out]
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              timeout=timeout_s, check=False)
        if done.returncode:
            raise RuntimeError(f"rtrl train {' '.join(flags)} exited {done.returncode}: {done.stderr[-600:]}")
        with open(os.path.join(out, "summary.json")) as f:
            return json.load(f)
