"""Several prediction runs on the same streams, side by side: the demo and the sweeps.

    results = run_all(configs, out="runs/demo")    # one run directory per config, under out/
    table(results)                                  # rows for printing: MSRE, final MSRE, FLOPs, steps/s

Every config of a comparison uses the same ``seed`` and ``seeds``, so every learner sees the same
streams. Besides the run directories, ``out`` gets ``summary.csv`` (one row per run: the full
grid, with a warning on runs that end worse than the zero predictor), ``learning_curves.png``
(one line per group: its best run), and for a sweep ``sweep.png`` (final MSRE against FLOPs per
step or hidden size, one line per group — for T-BPTT its best truncation at each budget — the
oracle and zero predictor as reference lines).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rtrl.experiments import plots, prediction, run_dir
from rtrl.experiments.prediction import PredictionConfig


@dataclasses.dataclass(frozen=True)
class Entry:
    """One run of a comparison: its config, the group (line) it belongs to in a sweep plot and its x value."""

    config: PredictionConfig
    group: str = ""
    x: float | None = None
    x_label: str = ""  # what x is, for the sweep plot ("FLOPs per step", "hidden size")


WORSE_THAN_ZERO = "worse than the zero predictor"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower() or "run"


def check(entries: Sequence[Entry], out: str, *, overwrite: bool = False) -> run_dir.Plan:
    """Refuse bad input before any work: mismatched seeds, duplicate names, a run that will not fit
    in memory, an --out that cannot be written or is an existing directory (without ``overwrite``);
    returns the run directory's plan."""
    if not entries:
        raise ValueError("a comparison needs at least one run.")
    seeds = {(e.config.seed, e.config.seeds, e.config.steps) for e in entries}
    if len(seeds) > 1:
        raise ValueError(f"every run of a comparison must use the same seed, seeds and steps, got {sorted(seeds)}.")
    names = [slug(e.config.name) for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"two runs of the comparison have the same name: {', '.join(duplicates)}; give labels.")
    for entry in entries:  # the runs are one after the other: each must fit on its own
        prediction.check_memory(entry.config)
    return run_dir.prepare(out, overwrite=overwrite)


def run_all(entries: Sequence[Entry], out: str, *, overwrite: bool = False, title: str = "",
            progress_for: Callable[[int, Entry], contextlib.AbstractContextManager[Any]] | None = None,
            ) -> list[tuple[Entry, dict[str, Any]]]:
    """Run every entry, write its run directory under ``out`` and the comparison files; returns summaries.

    ``progress_for(index, entry)`` makes a context manager per run (e.g. `rtrl.cli.common.StepProgress`)
    whose ``update(steps_done)`` is called after each chunk of that run."""
    plan = check(entries, out, overwrite=overwrite)
    results: list[tuple[Entry, dict[str, Any]]] = []
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with run_dir.replacing(plan, {"runs": [dataclasses.asdict(e) for e in entries], "title": title}):
        for index, entry in enumerate(entries):
            with progress_for(index, entry) if progress_for else contextlib.nullcontext() as bar:
                result = prediction.run(entry.config, progress=bar.update if bar is not None else None)
            summary = prediction.write(result, os.path.join(out, slug(entry.config.name)))
            results.append((entry, summary))
            x, c = result.curves()
            curves[entry.config.name] = (x, c["learner"])
            _write_outputs(out, results, curves, title)  # as it goes: an interrupted run keeps what it has
    return results


def _final(summary: dict[str, Any]) -> float:
    return summary["msre_final"]["learner"]["mean"]


def best_per_group(results: Sequence[tuple[Entry, dict[str, Any]]]) -> dict[str, tuple[Entry, dict[str, Any]]]:
    """For each group (line) of a comparison, its run with the lowest mean final MSRE (an entry
    without a group is its own group)."""
    best: dict[str, tuple[Entry, dict[str, Any]]] = {}
    for entry, summary in results:
        group = entry.group or entry.config.name
        if group not in best or _final(summary) < _final(best[group][1]):
            best[group] = (entry, summary)
    return best


def best_per_group_and_x(results: Sequence[tuple[Entry, dict[str, Any]]]) -> set[str]:
    """Names of the runs a sweep plot shows: per group and x (a budget), the lowest mean final MSRE
    (for T-BPTT, the best truncation at that budget)."""
    best: dict[tuple[str, float], tuple[str, float]] = {}
    for entry, summary in results:
        if entry.x is not None:
            key = (entry.group or entry.config.name, entry.x)
            if key not in best or _final(summary) < best[key][1]:
                best[key] = (entry.config.name, _final(summary))
    return {name for name, _ in best.values()}


def _write_outputs(out: str, results, curves, title: str) -> None:
    """summary.csv (every run), learning_curves.png (one line per group: its best run) and, for a
    sweep, sweep.png (one line per group: final MSRE against x, the best run at each x)."""
    rows = table(results)
    run_dir.write_csv(os.path.join(out, "summary.csv"), rows)
    first = results[0][1]
    references = {"oracle": first["msre"]["oracle"]["mean"], "zero predictor": first["msre"]["zero"]["mean"]}
    shown = {}
    for group, (entry, _) in best_per_group(results).items():
        name = entry.config.name
        shown[name if group == name else f"{group}, best: {name}"] = curves[name]
    plots.learning_curves(os.path.join(out, "learning_curves.png"), shown, xlabel="step",
                          ylabel="squared return error (window mean)", title=title, reference_lines=references,
                          logy=True)
    plotted = best_per_group_and_x(results)
    groups: dict[str, list[tuple[float, list[float]]]] = {}
    for entry, summary in results:
        if entry.config.name in plotted:
            groups.setdefault(entry.group or entry.config.name, []).append(
                (entry.x, summary["msre_final"]["learner"]["per_seed"]))
    if groups:
        final = {"oracle": first["msre_final"]["oracle"]["mean"], "zero predictor": first["msre_final"]["zero"]["mean"]}
        plots.sweep(os.path.join(out, "sweep.png"), groups, xlabel=results[0][0].x_label or "x",
                    ylabel=f"MSRE, last {first['final_window']:,} steps", title=title, reference_lines=final,
                    logy=True)


def table(results: Sequence[tuple[Entry, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per run: name, group, x, MSRE (whole run and final window: mean and the 95% t
    half-width, empty for one seed), the references, FLOPs/step, env steps/s, whether the sweep plot
    shows it (the best of its group at its x) and a warning when it ends worse than the zero predictor."""
    plotted = best_per_group_and_x(results)
    rows = []
    for entry, s in results:
        rows.append({
            "name": s["name"],
            "group": entry.group,
            "x": entry.x if entry.x is not None else "",
            "msre": s["msre"]["learner"]["mean"],
            "msre_ci95": s["msre"]["learner"]["ci95"],
            "msre_final": s["msre_final"]["learner"]["mean"],
            "msre_final_ci95": s["msre_final"]["learner"]["ci95"],
            "oracle_final": s["msre_final"]["oracle"]["mean"],
            "zero_final": s["msre_final"]["zero"]["mean"],
            "flops_per_step": s["flops_per_step"],
            "steps_per_second": round(s["steps_per_second"]),
            "seeds": s["seeds"],
            "steps": s["steps"],
            "in_sweep_plot": entry.config.name in plotted if entry.x is not None else "",
            "warning": WORSE_THAN_ZERO if prediction.worse_than_zero(s) else "",
        })
    return rows
