"""A run directory: the resolved config, per-seed CSV curves, a summary, TensorBoard events, plots.

    runs/NAME/
      config.yaml        the resolved config (re-run with `--config runs/NAME/config.yaml`)
      seed_<k>.csv       one row per logged point, per seed
      summary.json       final numbers
      tb/seed_<k>/       TensorBoard event files (`tensorboard --logdir runs/NAME/tb`)
      *.png              plots

An existing directory is never overwritten silently: `create` refuses it unless asked to
overwrite, and then only after checking that it looks like a run directory.
"""

from __future__ import annotations

import csv
import datetime
import json
import os
import shutil
from typing import Any, Iterable, Mapping

from rtrl.experiments.config import save_yaml

CONFIG = "config.yaml"
SUMMARY = "summary.json"


def default_name(prefix: str) -> str:
    return f"{prefix}-{datetime.datetime.now():%Y%m%d-%H%M%S}"


def create(path: str, config: Any, *, overwrite: bool = False) -> str:
    """Make ``path`` (refusing an existing one unless ``overwrite``) and write the config."""
    if os.path.exists(path):
        if not overwrite:
            raise ValueError(f"run directory {path!r} already exists; choose another --out, or pass --overwrite "
                             "to replace it.")
        if not os.path.isdir(path) or (os.listdir(path) and not os.path.exists(os.path.join(path, CONFIG))):
            raise ValueError(f"{path!r} exists and is not a run directory (no {CONFIG}); refusing to replace it.")
        shutil.rmtree(path)
    os.makedirs(path)
    save_yaml(config, os.path.join(path, CONFIG))
    return path


def check_writable(path: str, *, overwrite: bool = False) -> None:
    """The checks of `create` without creating anything (to refuse bad input before work starts)."""
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"run directory {path!r} already exists; choose another --out, or pass --overwrite "
                         "to replace it.")
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.exists(parent) and not os.access(parent, os.W_OK):
        raise ValueError(f"cannot write the run directory {path!r}: {parent!r} is not writable.")


def write_csv(path: str, rows: Iterable[Mapping[str, Any]]) -> None:
    rows = list(rows)
    if not rows:
        return
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def read_csv(path: str) -> list[dict[str, float]]:
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def write_summary(run: str, summary: Mapping[str, Any]) -> None:
    with open(os.path.join(run, SUMMARY), "w") as f:
        json.dump(summary, f, indent=2)


def read_summary(run: str) -> dict[str, Any]:
    with open(os.path.join(run, SUMMARY)) as f:
        return json.load(f)


def write_tensorboard(run: str, seed: int, rows: Iterable[Mapping[str, Any]], step_key: str = "step") -> None:
    """Every column but ``step_key`` as a scalar series under tb/seed_<seed>."""
    from tensorboardX import SummaryWriter

    with SummaryWriter(os.path.join(run, "tb", f"seed_{seed}")) as writer:
        for row in rows:
            step = int(row[step_key])
            for key, value in row.items():
                if key != step_key:
                    writer.add_scalar(key, float(value), step)
