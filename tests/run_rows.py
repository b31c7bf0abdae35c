"""What a training run's per-seed CSV says about learning: its rows without the wall-clock columns,
which differ between two runs that learn exactly the same (a uniquely named helper module)."""

from __future__ import annotations

import csv

WALL_CLOCK = ("steps_per_second", "wall_seconds")


def learning_rows(path) -> list[dict[str, str]]:
    """The rows of a seed_<k>.csv, every column but `WALL_CLOCK`."""
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k not in WALL_CLOCK} for r in csv.DictReader(f)]
