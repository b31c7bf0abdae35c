"""``rtrl plot``: redraw learning curves from run directories (mean and 95% t band over seeds).

    drawn = plot(["runs/a", "runs/demo"], "curves.png")                 # prediction runs: MSRE
    drawn = plot(["runs/train"], "value.png", metric="value_loss")      # training runs: any CSV column

A path is a run directory or a directory of runs (a comparison). Every run must be of one kind:
prediction runs (x: step of the stream; default metric ``msre``, logarithmic y axis) or training
runs (x: environment steps per seed; default metric ``episode_return``, linear y axis). A metric
is a column of the runs' ``seed_<k>.csv``; an unknown one is refused with the list of columns.
Runs that share a label (two runs of one configuration) are told apart by their directory names,
so that every run is drawn as its own curve. Nothing is drawn or written before all runs are read.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re

import numpy as np

from rtrl.experiments import plots, run_dir, statistics
from rtrl.experiments.config import from_dict, load_yaml

PREDICTION, TRAINING = "prediction", "training"
DEFAULT_METRIC = {PREDICTION: "msre", TRAINING: "episode_return"}
X_COLUMN = {PREDICTION: "step", TRAINING: "env_steps"}
X_LABEL = {PREDICTION: "step", TRAINING: "environment steps (per seed)"}
Y_LABEL = {"msre": "squared return error (window mean)", "episode_return": "episode return"}
# Training columns logged only in iterations where an episode ended: carried forward in between.
_EPISODE_COLUMNS = ("episode_return", "episode_length")
_NOT_METRICS = ("step", "iteration", "env_steps")


@dataclasses.dataclass(frozen=True)
class Drawn:
    """What `plot` drew: the kind of runs, the metric, one label per run (in order), the title."""

    kind: str
    metric: str
    runs: tuple[str, ...]
    labels: tuple[str, ...]
    title: str


def _config(run: str) -> dict | None:
    path = os.path.join(run, run_dir.CONFIG)
    if not os.path.isfile(path):
        return None
    try:
        return load_yaml(path)
    except ValueError:
        return None


def _has_seed_csv(path: str) -> bool:
    return bool(glob.glob(os.path.join(path, "seed_*.csv")))


def run_kind(run: str) -> str:
    """`TRAINING` for a training run (a checkpoint, or a config with an env or an agent section), else
    `PREDICTION`."""
    from rtrl.agents.families import FAMILIES
    from rtrl.experiments import training

    config = _config(run) or {}
    if (os.path.exists(os.path.join(run, training.CHECKPOINT)) or "env" in config
            or any(f.section in config for f in FAMILIES)):
        return TRAINING
    return PREDICTION


def expand(paths: list[str]) -> list[str]:
    """The run directories named by ``paths``: a run itself, or the runs inside a directory."""
    runs = []
    for path in paths:
        if not os.path.isdir(path):
            raise ValueError(f"{path!r} is not a directory (give run directories or directories of runs).")
        if _has_seed_csv(path):
            runs.append(path)
            continue
        inner = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(path, "*", "seed_*.csv")))
        if not inner:
            raise ValueError(f"{path!r} holds no run (no seed_<k>.csv in it or in its sub-directories).")
        runs.extend(inner)
    return list(dict.fromkeys(os.path.normpath(r) for r in runs))  # a run named twice is drawn once


def kind_of(runs: list[str]) -> str:
    """The one kind of all ``runs``; a mix is refused, naming which is which."""
    kinds = {run: run_kind(run) for run in runs}
    if len(set(kinds.values())) > 1:
        training = [r for r, k in kinds.items() if k == TRAINING]
        prediction = [r for r, k in kinds.items() if k == PREDICTION]
        raise ValueError(f"cannot plot training runs ({', '.join(training)}) and prediction runs "
                         f"({', '.join(prediction)}) on one set of axes: their x axes and metrics differ. "
                         "Plot them separately.")
    return next(iter(kinds.values()))


def _seed_tables(run: str) -> list[list[dict[str, float]]]:
    files = sorted(glob.glob(os.path.join(run, "seed_*.csv")), key=lambda p: int(re.findall(r"\d+", p)[-1]))
    tables = [run_dir.read_csv(f) for f in files]
    if not tables or not tables[0]:
        raise ValueError(f"{run!r}: its seed_<k>.csv files hold no rows yet.")
    return tables


def columns(run: str) -> list[str]:
    """The metrics a run logged: its CSV columns but the x axis and the iteration."""
    return [c for c in _seed_tables(run)[0][0] if c not in _NOT_METRICS]


def load_column(run: str, metric: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(x (points,), metric (seeds, points)) from a run's seed CSVs; seeds cut to the shortest (a
    training run still going). Episode columns of training runs are carried forward over the
    iterations in which no episode ended (training reports and returns.png read them through here)."""
    tables = _seed_tables(run)
    if metric not in tables[0][0] or metric in _NOT_METRICS:
        valid = ", ".join(c for c in tables[0][0] if c not in _NOT_METRICS)
        raise ValueError(f"{run!r} has no metric {metric!r}; its columns are: {valid}.")
    if kind == PREDICTION and len({len(t) for t in tables}) != 1:
        raise ValueError(f"{run!r}: the seeds' CSV files have different lengths {sorted({len(t) for t in tables})}.")
    points = min(len(t) for t in tables)
    x = np.array([row[X_COLUMN[kind]] for row in tables[0][:points]])
    ys = []
    for table in tables:
        y, last = [], np.nan
        for row in table[:points]:
            if kind == TRAINING and metric in _EPISODE_COLUMNS and row.get("episodes", 1) <= 0:
                y.append(last)
                continue
            last = row[metric]
            y.append(last)
        ys.append(y)
    return x, np.array(ys, dtype=float)


def label_of(run: str, kind: str) -> str:
    """The run's name from its config (`PredictionConfig.name` / `TrainConfig.name`), else its directory."""
    fallback = os.path.basename(os.path.normpath(run))
    values = _config(run)
    if values is None:
        return fallback
    try:
        if kind == TRAINING:
            from rtrl.experiments import training

            return training.load_config(values).name
        from rtrl.experiments.prediction import PredictionConfig

        return from_dict(PredictionConfig, values).name
    except (ValueError, TypeError):
        return fallback


def unique_labels(runs: list[str], labels: list[str]) -> list[str]:
    """``labels`` with the run directory's name appended where two runs share a label (and the
    whole path where the directory names are the same too), so that no curve hides another."""
    out = list(labels)
    for suffix in (lambda r: os.path.basename(os.path.normpath(r)), os.path.normpath):
        collide = {label for label in out if out.count(label) > 1}
        if not collide:
            break
        out = [f"{original} ({suffix(run)})" if current in collide else current
               for run, original, current in zip(runs, labels, out)]
    return out


def title_of(runs: list[str], kind: str) -> str:
    """What the runs learned: the environment(s) of training runs, the task(s) of prediction runs."""
    names = []
    for run in runs:
        values = _config(run) or {}
        if kind == TRAINING:
            names.append(str(values.get("env", "?")))
        else:
            task = values.get("task", "trace-conditioning")
            options = values.get("task_options") or {}
            shown = ", ".join(f"{k} {v}" for k, v in options.items())
            names.append(f"{task} ({shown})" if shown else str(task))
    distinct = list(dict.fromkeys(names))
    where = distinct[0] if len(distinct) == 1 else "; ".join(distinct[:3]) + (" ..." if len(distinct) > 3 else "")
    return f"{where}: mean and {statistics.DEFINITION} band"


def plot(paths: list[str], out: str, *, metric: str | None = None, logy: bool | None = None,
         overwrite: bool = False) -> Drawn:
    """Draw the runs under ``paths`` into the image ``out`` (see the module docstring); returns what
    was drawn. ``logy`` defaults to a logarithmic axis for prediction runs, linear for training runs."""
    check_image_path(out, overwrite=overwrite)
    runs = expand(paths)
    kind = kind_of(runs)
    metric = metric or DEFAULT_METRIC[kind]
    loaded = [load_column(run, metric, kind) for run in runs]
    labels = unique_labels(runs, [label_of(run, kind) for run in runs])
    title = draw(out, kind, metric, dict(zip(labels, loaded)), runs, logy=logy)
    return Drawn(kind, metric, tuple(runs), tuple(labels), title)


def draw(out: str, kind: str, metric: str, curves: dict[str, tuple[np.ndarray, np.ndarray]], runs: list[str], *,
         logy: bool | None = None) -> str:
    """Draw ``curves`` (label → (x, ys (seeds, points))) of ``runs`` into ``out``, titled after the runs, with
    the oracle's and the zero predictor's error (mean over the runs' streams) as reference lines for a
    prediction MSRE; returns the title."""
    references = {}
    if kind == PREDICTION and metric == "msre":
        for ref, name in (("oracle", "oracle"), ("zero", "zero predictor")):
            available = [load_column(run, ref, kind)[1].mean() for run in runs if ref in columns(run)]
            if available:
                references[name] = float(np.mean(available))
    title = title_of(runs, kind)
    if os.path.dirname(os.path.abspath(out)):
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    plots.learning_curves(out, curves, xlabel=X_LABEL[kind], ylabel=Y_LABEL.get(metric, metric), title=title,
                          reference_lines=references, logy=(kind == PREDICTION) if logy is None else logy)
    return title


def check_image_path(out: str, *, overwrite: bool = False) -> None:
    """Refuse, before anything is read or drawn, an image path that exists (without ``overwrite``), is a
    directory, has a format matplotlib cannot write, or whose directory cannot be created."""
    if not isinstance(out, str) or not out.strip():
        raise ValueError(f"--out must be a file name such as plot.png, got {out!r}.")
    if os.path.isdir(out):
        raise ValueError(f"--out {out!r} is a directory; give a file name such as {os.path.join(out, 'plot.png')}.")
    if os.path.exists(out) and not overwrite:
        raise ValueError(f"{out!r} exists; choose another --out or pass --overwrite.")
    extension = os.path.splitext(out)[1].lstrip(".").lower()
    formats = plots.image_formats()
    if extension not in formats:
        raise ValueError(f"--out {out!r}: the file name must end in an image format matplotlib writes "
                         f"({', '.join('.' + f for f in sorted(formats))}).")
    run_dir.check_can_create(os.path.dirname(os.path.abspath(out)), out)


def load_curves(run: str) -> tuple[str, np.ndarray, dict[str, np.ndarray]]:
    """(label, x, {column: (seeds, points)}) of a prediction run, every column."""
    x = None
    data = {}
    for column in columns(run):
        x, data[column] = load_column(run, column, PREDICTION)
    return label_of(run, PREDICTION), x, data
