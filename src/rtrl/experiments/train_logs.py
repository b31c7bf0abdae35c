"""The logs of a training run: one CSV row per iteration and seed, and the same values in TensorBoard.

    runs/NAME/seed_<k>.csv     iteration, env_steps, episode_return, episode_length, episodes, the losses,
                               KL, clip fraction, explained variance, steps_per_second, wall_seconds
    runs/NAME/tb/seed_<k>/     every column but iteration and env_steps, at step = env_steps

Each row is appended and flushed as soon as the iteration ends, so a run can be read (`rtrl plot`)
while it goes. TensorBoard holds exactly the CSV's values: on resume `truncate` drops the rows
after the checkpoint and writes the TensorBoard events again from the rows kept, so no point is
logged twice.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Mapping
from typing import Any

import numpy as np

from rtrl.experiments import run_dir
from rtrl.experiments.train_config import TrainConfig

__all__ = ["COLUMNS_FIRST", "STEPS_PER_SECOND", "append", "csv_path", "open_tensorboard", "rows", "truncate"]

COLUMNS_FIRST = ("iteration", "env_steps", "episode_return", "episode_length", "episodes")
# Columns that index a row rather than measure it: not TensorBoard scalars.
_INDEX = ("iteration", "env_steps")
STEPS_PER_SECOND = ("env steps per second of all seeds together, over this iteration (rollout and update; "
                    "the first iteration includes compilation)")


def csv_path(out: str, seed: int) -> str:
    return os.path.join(out, f"seed_{seed}.csv")


def _tensorboard_dir(out: str, seed: int) -> str:
    return os.path.join(out, "tb", f"seed_{seed}")


def rows(config: TrainConfig, metrics: Mapping[str, Any], iteration: int, steps: int, rate: float,
         wall: float) -> list[dict[str, float]]:
    """One row per seed from the metrics of one iteration (each a (seeds,) array); ``iteration``
    counts from 1, ``steps`` are env steps per seed so far, ``rate`` is `STEPS_PER_SECOND`."""
    out = []
    for k in range(config.seeds):
        values = {key: float(np.asarray(v)[k]) for key, v in metrics.items() if key != "env_steps"}
        row = {"iteration": iteration, "env_steps": steps}
        row.update({key: values.pop(key) for key in COLUMNS_FIRST[2:] if key in values})
        row.update(dict(sorted(values.items())))
        row["steps_per_second"] = rate
        row["wall_seconds"] = wall
        out.append(row)
    return out


def open_tensorboard(out: str, config: TrainConfig, history: list[list[dict[str, Any]]] | None = None) -> list[Any]:
    """One tensorboardX SummaryWriter per seed, appending to the run's events; ``history`` (from
    `truncate`: the rows a resumed run keeps, per seed) is written first."""
    from tensorboardX import SummaryWriter

    writers = [SummaryWriter(_tensorboard_dir(out, config.seed + k)) for k in range(config.seeds)]
    for writer, kept in zip(writers, history or []):
        for row in kept:
            _add_scalars(writer, {key: float(value) for key, value in row.items()})
    return writers


def append(out: str, config: TrainConfig, seed_rows: list[dict[str, float]], writers: list[Any]) -> None:
    """Append each seed's row to its CSV (flushed) and its scalars to its TensorBoard writer."""
    for k, row in enumerate(seed_rows):
        _append_csv(csv_path(out, config.seed + k), row)
        _add_scalars(writers[k], row)


def truncate(out: str, config: TrainConfig, iteration: int) -> list[list[dict[str, Any]]]:
    """Drop what was logged after ``iteration`` (the checkpoint a resume starts from): the CSV rows,
    and the TensorBoard events. Returns the rows kept per seed: `open_tensorboard` writes their
    events again (one event file per writer: two writers opened in one second would share a name)."""
    history = []
    for k in range(config.seeds):
        seed = config.seed + k
        path = csv_path(out, seed)
        kept: list[dict[str, Any]] = []
        if os.path.exists(path):
            with open(path, newline="") as f:
                kept = [r for r in csv.DictReader(f) if int(float(r["iteration"])) <= iteration]
            run_dir.write_csv(path, kept) if kept else os.remove(path)
        shutil.rmtree(_tensorboard_dir(out, seed), ignore_errors=True)
        history.append(kept)
    return history


def _add_scalars(writer: Any, row: Mapping[str, float]) -> None:
    step = int(row["env_steps"])
    for key, value in row.items():
        if key not in _INDEX:
            writer.add_scalar(key, value, step)


def _append_csv(path: str, row: Mapping[str, float]) -> None:
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
        f.flush()
