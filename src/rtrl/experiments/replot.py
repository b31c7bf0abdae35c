"""``rtrl plot``: redraw learning curves from run directories (mean and 95% band over seeds)."""

from __future__ import annotations

import glob
import os
import re

import numpy as np

from rtrl.experiments import plots, run_dir
from rtrl.experiments.config import from_dict, load_yaml
from rtrl.experiments.prediction import PredictionConfig


def prediction_runs(paths: list[str]) -> list[str]:
    """The prediction run directories named by ``paths``: a run itself, or a comparison's runs."""
    runs = []
    for path in paths:
        if not os.path.isdir(path):
            raise ValueError(f"{path!r} is not a directory.")
        if glob.glob(os.path.join(path, "seed_*.csv")):
            runs.append(path)
            continue
        inner = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(path, "*", "seed_*.csv")))
        if not inner:
            raise ValueError(f"{path!r} holds no run (no seed_<k>.csv in it or in its sub-directories).")
        runs.extend(dict.fromkeys(inner))
    return runs


def load_curves(run: str) -> tuple[str, np.ndarray, dict[str, np.ndarray]]:
    """(label, x, {column: (seeds, points)}) from a run's seed CSVs."""
    files = sorted(glob.glob(os.path.join(run, "seed_*.csv")), key=lambda p: int(re.findall(r"\d+", p)[-1]))
    tables = [run_dir.read_csv(f) for f in files]
    lengths = {len(t) for t in tables}
    if len(lengths) != 1:
        raise ValueError(f"{run!r}: the seeds' CSV files have different lengths {sorted(lengths)}.")
    x = np.array([row["step"] for row in tables[0]])
    columns = {k: np.array([[row[k] for row in t] for t in tables]) for k in tables[0][0] if k != "step"}
    label = os.path.basename(os.path.normpath(run))
    config_path = os.path.join(run, run_dir.CONFIG)
    if os.path.exists(config_path):
        try:
            label = from_dict(PredictionConfig, load_yaml(config_path)).name
        except ValueError:  # not a prediction run's config: keep the directory name
            pass
    return label, x, columns


def plot(paths: list[str], out: str, *, metric: str = "msre", logy: bool = True) -> list[str]:
    runs = prediction_runs(paths)
    curves, references = {}, {}
    for run in runs:
        label, x, columns = load_curves(run)
        if metric not in columns:
            raise ValueError(f"{run!r} has no column {metric!r}; it has {', '.join(columns)}.")
        curves[label] = (x, columns[metric])
        for ref, name in (("oracle", "oracle"), ("zero", "zero predictor")):
            if ref in columns and name not in references:
                references[name] = float(columns[ref].mean())
    plots.learning_curves(out, curves, xlabel="step", ylabel="squared return error (window mean)",
                          reference_lines=references, logy=logy)
    return runs
