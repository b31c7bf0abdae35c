"""A sweep's report: one Markdown table of final results and one figure per environment (or task).

    write_report(plan)          # <out>/report/results.md, results.csv, <group>.png

Each configuration's row pools its finished seeds (one run directory each): the final return of
a training run (`train_report.FINAL_RETURN`) or the final MSRE of a prediction run (over the last
``final_window`` steps), as the mean and the half-width of the 95% Student t interval over the
seeds (`rtrl.experiments.statistics`; one seed shows "n=1"). The figures are drawn as ``rtrl
plot`` draws them — `replot.load_column` reads every seed's CSV, `plots.learning_curves` draws the
mean and the t band, with `replot`'s axes, labels and title — except that a curve pools a
configuration's seed directories instead of one run's seeds. Runs not finished yet are left out of
the tables and figures (the report says how many); failed runs are listed with their errors.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from rtrl.experiments import replot, run_dir, statistics
from rtrl.experiments.sweep_spec import TRAIN, Configuration, PlannedRun, SweepPlan

__all__ = ["REPORT", "write_report"]

REPORT = "report"  # the report's directory under the sweep directory
TABLE, CSV = "results.md", "results.csv"


def _finished(plan: SweepPlan) -> dict[str, list[PlannedRun]]:
    """The finished runs (summary.json) of each configuration, by key, in seed order."""
    runs: dict[str, list[PlannedRun]] = {c.key: [] for c in plan.configurations}
    for run in sorted(plan.runs, key=lambda r: r.seed):
        if os.path.exists(os.path.join(run.out, run_dir.SUMMARY)):
            runs[run.configuration.key].append(run)
    return runs


def _final(command: str, run: PlannedRun) -> float:
    """The run's final number: its final return (training) or its final MSRE (prediction)."""
    summary = run_dir.read_summary(run.out)
    if command == TRAIN:
        return float(summary["final_return"]["mean"])
    return float(summary["msre_final"]["learner"]["mean"])


def _whole(run: PlannedRun) -> float:
    return float(run_dir.read_summary(run.out)["msre"]["learner"]["mean"])


def write_report(plan: SweepPlan, *, failures: Sequence[Any] = ()) -> str:
    """Write ``<out>/report/`` from the finished runs of ``plan`` (`RunFailure`s in ``failures`` are
    listed); returns the report directory. Earlier report files are replaced."""
    out = os.path.join(plan.out, REPORT)
    os.makedirs(out, exist_ok=True)
    command = plan.command
    finished = _finished(plan)
    groups: dict[str, list[Configuration]] = {}
    for c in plan.configurations:
        groups.setdefault(c.group, []).append(c)
    train = command == TRAIN
    if train:
        from rtrl.experiments.train_report import FINAL_RETURN

        measure, spec = f"final return ({FINAL_RETURN})", ".3f"
    else:
        window = plan.configurations[0].config.final_window
        measure, spec = f"final MSRE (mean squared return error over the last {window:,} steps)", ".4f"
    done = sum(len(v) for v in finished.values())
    lines = [f"# Sweep {plan.out}: {len(plan.configurations)} configuration(s) x {len(plan.spec.seeds)} seed(s)",
             "",
             f"`rtrl {command}` runs from {plan.spec.source}; {done} of {len(plan.runs)} run(s) finished"
             + (f", {len(failures)} failed" if failures else "") + ". "
             f"{measure[0].upper() + measure[1:]}: mean ± half-width of the {statistics.DEFINITION} "
             "(n = the seeds finished; one seed shows n=1). Runs not finished are left out.", ""]
    rows_csv = []
    for group, configurations in groups.items():
        figure = _figure(command, group, configurations, finished, out)
        lines += [f"## {group}", ""]
        if train:
            lines += ["| configuration | seeds | env steps per seed | final return | per seed |", "|---|---|---|---|---|"]
        else:
            lines += ["| configuration | seeds | FLOPs per step | final MSRE | MSRE over all steps | per seed |",
                      "|---|---|---|---|---|---|"]
        for c in configurations:
            runs = finished[c.key]
            planned = len(plan.spec.seeds)
            if not runs:
                lines.append(f"| {_cell(c.name)} | 0 of {planned} | | | |" + ("" if train else " |"))
                rows_csv.append(_csv_row(c, group, [], planned, None))
                continue
            values = [_final(command, r) for r in runs]
            final = statistics.interval(values)
            per_seed = ", ".join(f"{format(v, spec)} (seed {r.seed})" for v, r in zip(values, runs))
            shown = final.format(spec, compact=True)
            if train:
                lines.append(f"| {_cell(c.name)} | {len(runs)} of {planned} | {runs[0].steps:,} | {shown} | {per_seed} |")
            else:
                whole = statistics.interval([_whole(r) for r in runs]).format(spec, compact=True)
                flops = run_dir.read_summary(runs[0].out).get("flops_per_step", "")
                lines.append(f"| {_cell(c.name)} | {len(runs)} of {planned} | {flops:,} | {shown} | {whole} | "
                             f"{per_seed} |")
            rows_csv.append(_csv_row(c, group, values, planned, final))
        if figure:
            lines += ["", f"![{group}]({figure})"]
        lines.append("")
    if failures:
        lines += ["## Failed runs", "", "| run | attempts | last error |", "|---|---|---|"]
        lines += [f"| {f.run} | {f.attempts} | {_cell(f.error)} |" for f in failures]
        lines.append("")
    with open(os.path.join(out, TABLE), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(out, CSV), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows_csv[0]))
        writer.writeheader()
        writer.writerows(rows_csv)
    return out


def _cell(text: str) -> str:
    """Text for a Markdown table cell: no pipes or line breaks."""
    return " ".join(str(text).replace("|", "\\|").split())


def _csv_row(c: Configuration, group: str, values: list[float], planned: int,
             final: statistics.Interval | None) -> dict[str, Any]:
    return {"group": group, "configuration": c.name, "key": c.key, "seeds_finished": len(values),
            "seeds_planned": planned, "mean": "" if final is None else final.mean,
            "ci95": "" if final is None or final.half_width is None else final.half_width,
            "per_seed": " ".join(repr(v) for v in values),
            "settings": "; ".join(f"{k}={v}" for k, v in c.varying)}


def _figure(command: str, group: str, configurations: list[Configuration], finished: dict[str, list[PlannedRun]],
            out: str) -> str | None:
    """One figure of the group's learning curves, a curve per configuration pooling its seeds' run
    directories; the file name (in ``out``), or None when no run of the group has finished."""
    from rtrl.experiments.comparison import slug

    kind = replot.TRAINING if command == TRAIN else replot.PREDICTION
    metric = replot.DEFAULT_METRIC[kind]
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for c in configurations:
        runs = finished[c.key]
        if not runs:
            continue
        loaded = [replot.load_column(r.out, metric, kind) for r in runs]
        points = min(len(x) for x, _ in loaded)
        x = loaded[0][0][:points]
        curves[c.name] = (x, np.concatenate([ys[:, :points] for _, ys in loaded], axis=0))
    if not curves:
        return None
    name = f"{slug(group)}.png"
    everything = [r.out for c in configurations for r in finished[c.key]]
    replot.draw(os.path.join(out, name), kind, metric, curves, everything)
    return name
