"""``rtrl demo``, ``rtrl predict``, ``rtrl compare`` and ``rtrl plot``: online prediction runs and their plots."""

from __future__ import annotations

import argparse
import os

from rich.markup import escape
from rich.table import Table

from rtrl.cli.common import RATE, StepProgress, console, positive_int
from rtrl.experiments import statistics


def cmd_predict(args: argparse.Namespace) -> int:
    from rtrl.experiments import config as config_lib
    from rtrl.experiments import prediction, run_dir

    values = config_lib.load_yaml(args.config) if args.config else {}
    values.update(config_lib.overrides(args, prediction.PredictionConfig))
    config = config_lib.from_dict(prediction.PredictionConfig, values)
    out = args.out or os.path.join("runs", run_dir.default_name("predict"))
    plan = run_dir.prepare(out, overwrite=args.overwrite)
    prediction.check_memory(config)
    options = f" {dict(config.task_options)}" if config.task_options else ""
    console.print(f"{config.name} on {config.task}{options}: {config.steps:,} steps x "
                  f"{config.seeds} seed(s), {config.flops_per_step():,} FLOPs per learning step")
    with StepProgress(config.steps, label=f"predict {config.name}", seeds=config.seeds) as progress:
        result = prediction.run(config, progress=progress.update)
    summary = prediction.write(result, plan)
    _print_prediction_table([(config.name, summary)])
    console.print(f"wrote {out}/ (config.yaml, seed_*.csv, summary.json, tb/, learning_curve.png)")
    return 0


def _print_prediction_table(rows) -> None:
    from rtrl.experiments import prediction

    first = rows[0][1]
    window = first["final_window"]
    table = Table("learner", "MSRE (all steps)", f"MSRE (last {window:,})", "FLOPs/step", "env steps/s")
    worse = []
    for name, s in rows:
        m, f = (statistics.from_dict(s[key]["learner"]) for key in ("msre", "msre_final"))
        shown = escape(name)
        if prediction.worse_than_zero(s):
            worse.append(name)
            shown += " [yellow](worse than the zero predictor)[/yellow]"
        table.add_row(shown, m.format(".4f", compact=True), f.format(".4f", compact=True), f"{s['flops_per_step']:,}",
                      f"{s['steps_per_second']:,.0f}")
    for ref, label in (("oracle", "oracle (best possible from history)"), ("zero", "zero predictor")):
        table.add_row(f"[dim]{label}[/dim]", f"[dim]{first['msre'][ref]['mean']:.4f}[/dim]",
                      f"[dim]{first['msre_final'][ref]['mean']:.4f}[/dim]", "", "")
    console.print(table)
    console.print(f"MSRE: mean ± half-width of the {statistics.DEFINITION} ({first['seeds']} seed(s), "
                  f"{first['steps']:,} steps each); speed in {RATE}", soft_wrap=True)
    if worse:
        console.print(f"[yellow]warning:[/yellow] {len(worse)} run(s) end worse than the zero predictor (V = 0), "
                      f"i.e. learned nothing useful: {escape(', '.join(worse))}. Try another step size or "
                      "hidden size.", soft_wrap=True)


def _run_comparison(entries, out: str, overwrite: bool, title: str) -> int:
    from rtrl.experiments import comparison

    def progress_for(index: int, entry) -> StepProgress:
        return StepProgress(entry.config.steps, label=entry.config.name, seeds=entry.config.seeds,
                            stage=f"learner {index + 1} of {len(entries)}")

    results = comparison.run_all(entries, out, overwrite=overwrite, title=title, progress_for=progress_for)
    _print_prediction_table([(e.config.name, s) for e, s in results])
    pictures = [p for p in ("learning_curves.png", "sweep.png") if os.path.exists(os.path.join(out, p))]
    console.print(f"wrote {out}/ (summary.csv, {', '.join(pictures)}, one run directory per learner)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from rtrl.experiments import presets, run_dir

    entries = presets.make(args.preset, steps=args.steps, seeds=args.seeds, seed=args.seed)
    out = args.out or os.path.join("runs", run_dir.default_name(args.preset))
    return _run_comparison(entries, out, args.overwrite, f"{args.preset}: trace conditioning, ISI (7, 13), γ = 0.9")


def cmd_demo(args: argparse.Namespace) -> int:
    args.preset = "demo"
    return cmd_compare(args)


def cmd_plot(args: argparse.Namespace) -> int:
    from rtrl.experiments import replot

    drawn = replot.plot(args.runs, args.out, metric=args.metric, overwrite=args.overwrite,
                        logy=True if args.log else False if args.linear else None)
    if drawn.kind == replot.TRAINING:
        from rtrl.experiments import training

        table = Table("run", "env steps/seed", "final return", "per seed")
        for row, label in zip(training.report(list(drawn.runs)), drawn.labels):
            final = statistics.interval(row["per_seed"])
            table.add_row(escape(label), f"{row['env_steps_per_seed']:,}", final.format(".3f", compact=True),
                          " ".join(f"{v:.3f}" for v in row["per_seed"]))
        console.print(table)
        console.print(f"final return: {training.FINAL_RETURN}; mean ± half-width of the {statistics.DEFINITION}",
                      soft_wrap=True)
    console.print(f"plotted {len(drawn.labels)} curve(s) of {drawn.metric} ({drawn.title}) to {escape(args.out)}:",
                  soft_wrap=True, highlight=False)
    for label in drawn.labels:
        console.print(f"  {escape(label)}", soft_wrap=True, highlight=False)
    return 0


def _preset_names() -> list[str]:
    from rtrl.experiments import presets

    return presets.names()


def _comparison_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=positive_int, help="steps of each stream (default: the preset's)")
    p.add_argument("--seeds", type=positive_int, help="seeds (default: the preset's)")
    p.add_argument("--seed", type=int, help="first seed (default 0)")
    p.add_argument("--out", help="output directory (default runs/<preset>-<time>); never overwritten silently")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it is an existing run directory")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from rtrl.experiments import config as config_lib
    from rtrl.experiments.prediction import PredictionConfig

    p = sub.add_parser("demo", help="RTU (RTRL) vs GRU (T-BPTT) on trace conditioning: table and plot (~1-2 min)")
    _comparison_arguments(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("predict", help="one online prediction run (flags or --config YAML)",
                       description="Learn to predict the discounted future US online, on a classical-conditioning "
                       "task, with several seeds. Flags override the YAML file.")
    p.add_argument("--config", help="YAML file of PredictionConfig fields (e.g. a run's config.yaml)")
    config_lib.add_arguments(p, PredictionConfig)
    p.add_argument("--out", help="run directory (default runs/predict-<time>); never overwritten silently")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it is an existing run directory")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("compare", help="a named comparison of prediction learners on the same streams")
    p.add_argument("preset", choices=_preset_names(), help="which comparison")
    _comparison_arguments(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("plot", help="redraw learning curves (mean and 95%% Student t band over seeds) from run "
                       "directories: prediction runs (squared return error) or training runs (episode return, "
                       "or any logged column)")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories or comparison directories (all "
                   "prediction runs or all training runs)")
    p.add_argument("--out", default="plot.png", help="image to write, e.g. plot.png or plot.pdf (default plot.png); "
                   "its directory is created")
    p.add_argument("--metric", help="CSV column to plot (default: msre for prediction runs, episode_return for "
                   "training runs; others e.g. value_loss, approx_kl, episode_length)")
    scale = p.add_mutually_exclusive_group()
    scale.add_argument("--linear", action="store_true", help="linear y axis (default for training runs)")
    scale.add_argument("--log", action="store_true", help="logarithmic y axis (default for prediction runs)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_plot)
