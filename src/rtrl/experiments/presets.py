"""Named comparisons of online prediction learners (``rtrl compare NAME``; ``rtrl demo`` is ``demo``).

Each preset is a function of a few knobs (steps, seeds, seed) returning the list of runs
(`comparison.Entry`). All runs of a preset see the same streams.

- ``demo``: RTU (RTRL) against GRU (T-BPTT, T = 10) on trace conditioning, ISI (7, 13), γ = 0.9 —
  small and fast (about a minute on 2 cores).
- ``compute-match``: the shape of the RTU paper's compute-matched figure. For each budget of FLOPs
  per learning step (from `rtrl.cost`), the largest RTU and LRU trained with RTRL that fit, and the
  largest GRU and LSTM trained with T-BPTT that fit for each truncation T in ``truncations``:
  budgets trade truncation length against hidden size. The sweep plot shows the final MSRE
  against FLOPs per step; for T-BPTT each budget's point is its best T (on the same seeds — a
  choice that favours the baselines).
- ``rtu-variants``: MSRE against hidden size for the five architectural variants of the RTU
  paper, each as an RTU and as an LRU, trained with RTRL.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from rtrl.experiments.comparison import Entry
from rtrl.experiments.prediction import PredictionConfig, geometric_budgets, suggest_hidden_size

TRACE_CONDITIONING = {"isi": 10, "num_distractors": 0}  # ISI (7, 13), ITI (80, 120), γ = 0.9

# Step sizes: Adam, chosen by the sweep in benchmarks/prediction_step_size.py (trace conditioning,
# ISI (7, 13), 3 seeds); see the README.
STEP_SIZE = {"rtrl": 1e-3, "tbptt": 1e-3}


def demo(*, steps: int = 200_000, seeds: int = 3, seed: int = 0) -> list[Entry]:
    common = dict(task="trace-conditioning", task_options=TRACE_CONDITIONING, steps=steps, seeds=seeds, seed=seed,
                  chunk=min(steps, 20_000), final_window=min(steps // 2, 100_000))
    return [
        Entry(PredictionConfig(cell="rtu-linear", hidden_size=32, learner="rtrl", step_size=STEP_SIZE["rtrl"],
                               label="RTU linear n=32 (RTRL)", **common)),
        Entry(PredictionConfig(cell="gru", hidden_size=16, learner="tbptt", truncation=10,
                               step_size=STEP_SIZE["tbptt"], label="GRU n=16 (T-BPTT, T=10)", **common)),
    ]


def compute_match(*, steps: int = 500_000, seeds: int = 3, seed: int = 0, budgets: int = 4,
                  low: float = 2e4, high: float = 3.2e5, truncations: tuple[int, ...] = (2, 5, 10, 20)) -> list[Entry]:
    common = dict(task="trace-conditioning", task_options=TRACE_CONDITIONING, steps=steps, seeds=seeds, seed=seed,
                  chunk=min(steps, 20_000), final_window=min(steps // 2, 100_000))
    entries = []
    for budget in geometric_budgets(low, high, budgets):
        for cell, group in (("rtu-linear", "RTU (RTRL)"), ("lru", "online LRU (RTRL)")):
            base = PredictionConfig(cell=cell, learner="rtrl", step_size=STEP_SIZE["rtrl"], **common)
            entries.append(_fit(base, budget, group))
        for cell, group in (("gru", "GRU (T-BPTT)"), ("lstm", "LSTM (T-BPTT)")):
            for t in truncations:
                base = PredictionConfig(cell=cell, learner="tbptt", truncation=t, step_size=STEP_SIZE["tbptt"],
                                        **common)
                entries.append(_fit(base, budget, group))
    return entries


def _fit(base: PredictionConfig, budget: float, group: str) -> Entry:
    n = suggest_hidden_size(base, budget)
    config = dataclasses.replace(base, hidden_size=n, label=f"{base.name.split(' n=')[0]} n={n}"
                                 + (f" T={base.truncation}" if base.truncation else "") + f" @{budget_name(budget)}")
    return Entry(config, group=group, x=round(budget), x_label="FLOPs per learning step (rtrl.cost)")


def budget_name(flops: float) -> str:
    """A FLOPs budget for names and labels: "20k", "127k", "1.3M" (no exponent: a run directory's
    name keeps it as it is, where "1.27e+05" became "1.27e-05")."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if flops >= scale:
            value = flops / scale
            return f"{value:.3g}{suffix}" if value < 100 else f"{value:.0f}{suffix}"
    return f"{flops:.0f}"


def rtu_variants(*, steps: int = 200_000, seeds: int = 3, seed: int = 0,
                 hidden_sizes: tuple[int, ...] = (2, 4, 8, 16, 32)) -> list[Entry]:
    """The RTU paper's five architectures (RTU, RTRL), and the online LRU with and without a nonlinear
    projection (the LRU's own output C is already a linear projection, and it has no activation
    option, so its other variants do not apply). Projections are as wide as the cell's output."""
    common = dict(task="trace-conditioning", task_options=TRACE_CONDITIONING, steps=steps, seeds=seeds, seed=seed,
                  chunk=min(steps, 20_000), final_window=min(steps // 2, 100_000), learner="rtrl",
                  step_size=STEP_SIZE["rtrl"])
    linear = {"activation": "identity"}
    variants = {
        "RTU: linear recurrence": dict(cell="rtu-linear", cell_options=linear),
        "RTU: linear, nonlinear output": dict(cell="rtu-linear", cell_options={"activation": "relu"}),
        "RTU: nonlinear recurrence": dict(cell="rtu-nonlinear", cell_options={"activation": "relu"}),
        "RTU: linear, nonlinear projection": dict(cell="rtu-linear", cell_options=linear, projection_activation="relu"),
        "RTU: linear, linear projection": dict(cell="rtu-linear", cell_options=linear,
                                               projection_activation="identity"),
        "LRU (linear projection C)": dict(cell="lru"),
        "LRU, nonlinear projection": dict(cell="lru", projection_activation="relu"),
    }
    entries = []
    for group, options in variants.items():
        for n in hidden_sizes:
            width = 0 if "projection" not in group or group.startswith("LRU (") else (n if "LRU" in group else 2 * n)
            config = PredictionConfig(hidden_size=n, projection=width, label=f"{group} n={n}", **options, **common)
            entries.append(Entry(config, group=group, x=n, x_label="hidden size (units)"))
    return entries


PRESETS: dict[str, Callable[..., list[Entry]]] = {
    "demo": demo,
    "compute-match": compute_match,
    "rtu-variants": rtu_variants,
}


def names() -> list[str]:
    return list(PRESETS)


def make(name: str, **knobs) -> list[Entry]:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}.")
    return PRESETS[name](**{k: v for k, v in knobs.items() if v is not None})
