"""Several prediction runs on the same streams, side by side: the demo and the sweeps.

    results = run_all(configs, out="runs/demo")    # one run directory per config, under out/
    table(results)                                  # rows for printing: MSRE, final MSRE, FLOPs, steps/s

Every config of a comparison uses the same ``seed`` and ``seeds``, so every learner sees the same
streams. Besides the run directories, ``out`` gets ``summary.csv`` (one row per run),
``learning_curves.png`` (all runs), and for a sweep ``sweep.png`` (final MSRE against FLOPs per
step or hidden size, one line per group, the oracle and zero predictor as reference lines).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from typing import Any, Callable, ContextManager, Sequence

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
            progress_for: Callable[[int, Entry], ContextManager[Any]] | None = None,
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


def _write_outputs(out: str, results, curves, title: str) -> None:
    rows = table(results)
    run_dir.write_csv(os.path.join(out, "summary.csv"), rows)
    first = results[0][1]
    references = {"oracle": first["msre"]["oracle"]["mean"], "zero predictor": first["msre"]["zero"]["mean"]}
    plots.learning_curves(os.path.join(out, "learning_curves.png"), curves, xlabel="step",
                          ylabel="squared return error (window mean)", title=title, reference_lines=references,
                          logy=True)
    # One point per (group, x): where a group has several runs at one x (T-BPTT with several
    # truncations at one budget), the one with the lowest mean final MSRE.
    best: dict[tuple[str, float], list[float]] = {}
    for entry, summary in results:
        if entry.x is not None:
            key, values = (entry.group or entry.config.name, entry.x), summary["msre_final"]["learner"]["per_seed"]
            if key not in best or sum(values) < sum(best[key]):
                best[key] = values
    if best:
        groups: dict[str, list[tuple[float, list[float]]]] = {}
        for (group, x), values in best.items():
            groups.setdefault(group, []).append((x, values))
        final = {"oracle": first["msre_final"]["oracle"]["mean"], "zero predictor": first["msre_final"]["zero"]["mean"]}
        plots.sweep(os.path.join(out, "sweep.png"), groups, xlabel=results[0][0].x_label or "x",
                    ylabel=f"MSRE, last {first['final_window']:,} steps", title=title, reference_lines=final,
                    logy=True)


def table(results: Sequence[tuple[Entry, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per run: name, MSRE (whole run and final window, mean and 95% CI), FLOPs/step, steps/s."""
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
        })
    return rows
