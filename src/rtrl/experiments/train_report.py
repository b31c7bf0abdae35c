"""Reading training runs back: final returns, learning curves, the summary, a table and a plot.

    final_returns("runs/x")              # per seed: FINAL_RETURN
    report(["runs/a", "runs/b"])         # one row per run (finished or still going)
    plot_returns(["runs/a"], "a.png")    # mean episode return over seeds, with a 95% t band

The final return of a seed is the mean episode return over the last 10% of its logged iterations
in which episodes ended (`FINAL_RETURN`); over seeds it is reported as a Student t interval
(`rtrl.experiments.statistics`: "n=1" for one seed, no ± 0).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from rtrl.experiments import replot, run_dir, statistics
from rtrl.experiments.config import load_yaml
from rtrl.experiments.train_config import TrainConfig, load_config

__all__ = ["FINAL_RETURN", "final_interval", "final_return", "final_returns", "load_returns", "plot_returns", "report",
           "summary"]

FINAL_RETURN = "mean episode return over the last 10% of iterations with episodes"


def final_return(returns: list[float]) -> float:
    """`FINAL_RETURN` of one seed from the episode returns of its iterations with episodes, in
    order (NaN when there are none)."""
    if not returns:
        return float("nan")
    return float(np.mean(returns[-max(1, len(returns) // 10):]))


def final_returns(run: str) -> list[float]:
    """Per seed of a training run directory (finished or not): its `final_return` so far."""
    return [final_return([r["episode_return"] for r in run_dir.read_csv(os.path.join(run, f)) if r["episodes"] > 0])
            for f in _seed_files(run)]


def final_interval(run: str) -> statistics.Interval:
    """`final_returns` over seeds as a 95% Student t interval."""
    return statistics.interval(final_returns(run))


def _seed_files(run: str) -> list[str]:
    if not os.path.isdir(run):
        raise ValueError(f"{run!r} is not a run directory.")
    files = sorted((f for f in os.listdir(run) if f.startswith("seed_") and f.endswith(".csv")),
                   key=lambda f: int(f[len("seed_"):-len(".csv")]))
    if not files:
        raise ValueError(f"{run!r} holds no seed_<k>.csv (no iteration has been logged yet).")
    return files


def load_returns(run: str) -> tuple[str, np.ndarray, np.ndarray]:
    """(label, env steps (points,), episode return (seeds, points)) from a training run directory,
    with iterations where no episode ended filled by the previous value (`replot`'s reader, as
    ``rtrl plot`` draws them)."""
    x, ys = replot.load_column(run, "episode_return", replot.TRAINING)
    return replot.label_of(run, replot.TRAINING), x, ys


def report(runs: list[str]) -> list[dict[str, Any]]:
    """One row per training run directory (finished or still running): its label and environment,
    the env steps every seed has reached, and the final return (`final_returns`): ``interval``
    (a `statistics.Interval`), ``final_return`` (its mean), ``ci95`` (its half-width, NaN for one
    seed) and ``per_seed``."""
    rows = []
    for run in runs:
        label, x, _ = load_returns(run)
        config = load_config(load_yaml(os.path.join(run, run_dir.CONFIG)))
        finals = final_interval(run)
        rows.append({"run": run, "label": label, "env": config.env,
                     "env_steps_per_seed": int(x[-1]) if len(x) else 0, "seeds": finals.n,
                     "interval": finals, "final_return": finals.mean,
                     "ci95": float("nan") if finals.half_width is None else finals.half_width,
                     "per_seed": list(finals.per_seed)})
    return rows


def plot_returns(runs: list[str], path: str) -> None:
    """Learning curves (mean episode return over seeds, 95% t band) of training runs, one per run:
    what ``rtrl plot`` draws (`replot.plot`), written over ``path``."""
    replot.plot(runs, path, metric="episode_return", overwrite=True)


def summary(out: str, config: TrainConfig, *, parameters: tuple[int, int], rollout_bytes: int,
            memory_bytes: int, steps_per_second: float | None, steps_per_second_definition: str,
            iterations: int, device: str) -> dict[str, Any]:
    """The summary.json of a finished run."""
    total, recurrent = parameters
    final = final_interval(out)
    return {"name": config.name, "env": config.env, "agent": config.agent_config.agent, "iterations": iterations,
            "env_steps_per_seed": iterations * config.agent_config.rollout_size, "seeds": config.seeds,
            "final_return": {**final.to_dict(), "definition": FINAL_RETURN},
            "parameters": total, "recurrent_parameters": recurrent,
            "rollout_megabytes": rollout_bytes / 2**20, "memory_estimate_megabytes": memory_bytes / 2**20,
            "steps_per_second": steps_per_second, "steps_per_second_definition": steps_per_second_definition,
            "device": device}
