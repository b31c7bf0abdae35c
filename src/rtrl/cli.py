"""The ``rtrl`` command.

    rtrl demo                 RTU (RTRL) against GRU (T-BPTT) on trace conditioning: table and plot
    rtrl predict              one online prediction run from flags or a YAML file
    rtrl compare PRESET       a named comparison of prediction learners (demo, compute-match)
    rtrl plot RUN_DIR...      redraw learning curves from run directories
    rtrl train                train a PPO agent (Real-Time PPO, T-BPTT PPO, MLP PPO) from a preset, YAML or flags
    rtrl gradcheck            exact-gradient check of every RTRL cell against BPTT (float64)
    rtrl bench cells          per-step time: forward, RTRL, T-BPTT; table + CSV
    rtrl cells                the cells, their options and trace rules
    rtrl cost CELL ...        FLOPs and memory per step from the cost model
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import sys
from typing import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def _cell_name(text: str) -> str:
    import rtrl

    if text not in rtrl.cells.names():
        raise argparse.ArgumentTypeError(f"unknown cell {text!r}; valid cells: {', '.join(rtrl.cells.names())}")
    return text


# --------------------------------------------------------------------------------------------
# rtrl predict / compare / demo / plot
# --------------------------------------------------------------------------------------------


def _step_progress(total: int):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
               TimeElapsedColumn(), TimeRemainingColumn())
    return Progress(*columns, console=console)


def cmd_predict(args: argparse.Namespace) -> int:
    from rtrl.experiments import config as config_lib
    from rtrl.experiments import prediction, run_dir

    values = config_lib.load_yaml(args.config) if args.config else {}
    values.update(config_lib.overrides(args, prediction.PredictionConfig))
    config = config_lib.from_dict(prediction.PredictionConfig, values)
    out = args.out or os.path.join("runs", run_dir.default_name("predict"))
    run_dir.check_writable(out, overwrite=args.overwrite)
    console.print(f"{config.name} on {config.task} {config.task_options or ''}: {config.steps:,} steps x "
                  f"{config.seeds} seed(s), {config.flops_per_step():,} FLOPs per learning step")
    with _step_progress(config.steps) as progress:
        task = progress.add_task("learning", total=config.steps)
        result = prediction.run(config, progress=lambda done: progress.update(task, completed=done))
    summary = prediction.write(result, out, overwrite=args.overwrite)
    _print_prediction_table([(config.name, summary)])
    console.print(f"wrote {out}/ (config.yaml, seed_*.csv, summary.json, tb/, learning_curve.png)")
    return 0


def _print_prediction_table(rows) -> None:
    first = rows[0][1]
    window = first["final_window"]
    table = Table("learner", "MSRE (all steps)", f"MSRE (last {window:,})", "FLOPs/step", "steps/s")
    for name, s in rows:
        m, f = s["msre"]["learner"], s["msre_final"]["learner"]
        table.add_row(escape(name), f"{m['mean']:.4f} ± {m['ci95']:.4f}", f"{f['mean']:.4f} ± {f['ci95']:.4f}",
                      f"{s['flops_per_step']:,}", f"{s['steps_per_second']:,.0f}")
    for ref, label in (("oracle", "oracle (best possible from history)"), ("zero", "zero predictor")):
        table.add_row(f"[dim]{label}[/dim]", f"[dim]{first['msre'][ref]['mean']:.4f}[/dim]",
                      f"[dim]{first['msre_final'][ref]['mean']:.4f}[/dim]", "", "")
    console.print(table)
    console.print(f"mean ± 95% confidence half-width over {first['seeds']} seed(s), {first['steps']:,} steps each")


def _run_comparison(entries, out: str, overwrite: bool, title: str) -> int:
    from rtrl.experiments import comparison

    comparison.check(entries, out, overwrite=overwrite)
    total = sum(e.config.steps for e in entries)
    done_before = [0]
    with _step_progress(total) as progress:
        bar = progress.add_task("", total=total)

        def on_start(entry):
            if progress.tasks[bar].completed:
                done_before[0] = int(progress.tasks[bar].completed)
            progress.update(bar, description=escape(entry.config.name))

        results = comparison.run_all(
            entries, out, overwrite=overwrite, title=title, on_start=on_start,
            progress=lambda done: progress.update(bar, completed=done_before[0] + done))
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


def _is_training_run(path: str) -> bool:
    from rtrl.experiments.training import CHECKPOINT

    return os.path.exists(os.path.join(path, CHECKPOINT))


def cmd_plot(args: argparse.Namespace) -> int:
    from rtrl.experiments import replot

    if os.path.exists(args.out) and not args.overwrite:
        console.print(f"[red]error:[/red] {escape(args.out)} exists; choose another --out or pass --overwrite.",
                      soft_wrap=True)
        return 2
    from rtrl.experiments import training

    if all(_is_training_run(r) for r in args.runs):
        training.plot_returns(args.runs, args.out)
        runs = args.runs
        table = Table("run", "env steps/seed", "final return (95% band)", "per seed")
        for row in training.report(runs):
            table.add_row(escape(row["label"]), f"{row['env_steps_per_seed']:,}",
                          f"{row['final_return']:.3f} ± {row['ci95']:.3f}",
                          " ".join(f"{v:.3f}" for v in row["per_seed"]))
        console.print(table)
        console.print(f"final return: {training.FINAL_RETURN}")
    else:
        runs = replot.plot(args.runs, args.out, metric=args.metric, logy=not args.linear)
    console.print(f"plotted {len(runs)} run(s) to {args.out}")
    return 0


# --------------------------------------------------------------------------------------------
# rtrl train
# --------------------------------------------------------------------------------------------


def _train_config(args: argparse.Namespace):
    from rtrl.agents import PPOConfig
    from rtrl.experiments import config as config_lib
    from rtrl.experiments import training, training_presets

    values = training_presets.get(args.preset) if args.preset else {}
    if args.config:
        loaded = config_lib.load_yaml(args.config)
        values = {**values, **loaded, "ppo": {**values.get("ppo", {}), **(loaded.get("ppo") or {})}}
    values.update(config_lib.overrides(args, training.TrainConfig))
    ppo_flags = config_lib.overrides(args, PPOConfig)
    if ppo_flags:
        values["ppo"] = {**(values.get("ppo") or {}), **ppo_flags}
    return config_lib.from_dict(training.TrainConfig, values)


def cmd_train(args: argparse.Namespace) -> int:
    from rtrl.experiments import run_dir, training

    if args.resume:
        if not args.out:
            raise ValueError("--resume needs --out RUN_DIR, the run to continue.")
        saved = os.path.join(args.out, run_dir.CONFIG)
        if not (args.config or args.preset) and os.path.exists(saved):
            args.config = saved  # resume with the run's own config unless told otherwise
    config = _train_config(args)
    out = args.out or os.path.join("runs", run_dir.default_name("train"))
    training.check(config, out, resume=args.resume, overwrite=args.overwrite)
    agent = config.make_agent()  # validates the env/agent pairing before any work
    total, recurrent = agent.parameter_count()
    console.print(f"{escape(config.name)}: {config.iterations} iterations x {config.ppo.rollout_size:,} steps, "
                  f"{config.seeds} seed(s); {total:,} parameters ({recurrent:,} recurrent); "
                  f"a rollout takes {agent.rollout_bytes() / 2**20:.1f} MB", soft_wrap=True)
    total_steps = config.iterations * config.ppo.rollout_size
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
               TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[ret]}"), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("training", total=total_steps, rate="", ret="")

        def report(steps, rate, recent):
            progress.update(bar, completed=steps, rate=f"{rate:,.0f} steps/s",
                            ret="" if recent is None else f"return {recent:.3f}")

        summary = training.train(config, out, resume=args.resume, overwrite=args.overwrite, progress=report)
    final = summary["final_return"]
    console.print(f"final return {final['mean']:.3f} ± {final['ci95']:.3f} (per seed "
                  f"{', '.join(f'{v:.3f}' for v in final['per_seed'])}); {summary['steps_per_second']:,.0f} steps/s")
    console.print(f"wrote {out}/ (config.yaml, seed_*.csv, tb/, checkpoint.npz, summary.json, returns.png)")
    return 0


# --------------------------------------------------------------------------------------------
# rtrl gradcheck
# --------------------------------------------------------------------------------------------


def cmd_gradcheck(args: argparse.Namespace) -> int:
    import jax

    jax.config.update("jax_enable_x64", True)
    import rtrl
    from rtrl.gradcheck import check_cell

    cells = args.cells or rtrl.cells.names()
    console.print(f"RTRL vs BPTT in float64: {args.steps} steps, batch {args.batch}, input {args.input_size}, "
                  f"hidden {args.hidden_size}, episode resets inside the sequence, tolerance {args.tolerance:g}")
    table = Table("cell", "traces", "resets", "max rel. error", "worst parameter", "outputs equal", "result")
    failed = 0
    with console.status("checking...") as status:
        for name in cells:
            d = rtrl.cells.definition(name)
            rules = [t for t in ("hand", "elementwise", "dense")
                     if (t != "hand" or d.hand_traces) and (t != "elementwise" or d.elementwise)]
            for traces in rules if args.all_rules else rules[:1]:
                status.update(f"checking {name} ({traces})")
                r = check_cell(name, traces=traces, hidden_size=args.hidden_size, input_size=args.input_size,
                               batch_size=args.batch, steps=args.steps, seed=args.seed)
                worst = max(r.gradient_errors, key=r.gradient_errors.get)
                ok = r.max_error <= args.tolerance and r.output_error <= 1e-12
                failed += not ok
                table.add_row(name, traces, str(r.resets), f"{r.max_error:.2e}", worst,
                              "yes" if r.output_error <= 1e-12 else f"no ({r.output_error:.1e})",
                              "[green]pass[/green]" if ok else "[red]FAIL[/red]")
    console.print(table)
    console.print("[green]all exact[/green]" if not failed else f"[red]{failed} check(s) failed[/red]")
    return 1 if failed else 0


# --------------------------------------------------------------------------------------------
# rtrl bench cells
# --------------------------------------------------------------------------------------------


def cmd_bench_cells(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from rtrl.bench import cells as bench
    from rtrl.experiments.run_dir import write_csv

    config = bench.BenchConfig(**{k: v for k, v in vars(args).items()
                                  if k in {f.name for f in dataclasses.fields(bench.BenchConfig)} and v is not None})
    out = args.out or f"bench-cells-{datetime.datetime.now():%Y%m%d-%H%M%S}.csv"
    if os.path.exists(out) and not args.force:
        console.print(f"[red]error:[/red] {escape(out)} exists; choose another --out or pass --force to overwrite it.",
                      soft_wrap=True)
        return 2
    todo = list(bench.cases(config))
    rows = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("benchmarking", total=len(todo))
        for case in todo:
            progress.update(task, description=f"{case.cell} {case.mode} B={case.batch} n={case.hidden}")
            rows.append(bench.measure(case, config))
            write_csv(out, rows)  # written as it goes: an interrupted run keeps what it measured
            progress.advance(task)
    table = Table("cell", "mode", "batch", "hidden", "µs/step", "env steps/s", "× forward", "GFLOP/s",
                  "memory (model)", "compile s")
    for r in rows:
        fwd = bench._time(rows, r["cell"], "forward", r["batch"], r["hidden"])
        table.add_row(r["cell"], r["mode"], str(r["batch"]), str(r["hidden"]), f"{r['us_per_step']:.1f}",
                      f"{r['env_steps_per_s']:,.0f}", f"{r['us_per_step'] / fwd:.1f}" if fwd else "",
                      f"{r['gflops_per_s']:.2f}", _bytes(r["model_memory_bytes"]), f"{r['compile_s']:.1f}")
    console.print(table)
    for line in bench.target_report(rows):
        console.print(line)
    console.print(f"wrote {out} ({rows[0]['device']}, jax {rows[0]['jax']})")
    return 0


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# --------------------------------------------------------------------------------------------
# rtrl cells / rtrl cost
# --------------------------------------------------------------------------------------------


def cmd_cells(args: argparse.Namespace) -> int:
    import rtrl

    table = Table("cell", "options (default)", "RTRL traces", "description")
    for name in rtrl.cells.names():
        d = rtrl.cells.definition(name)
        options = ", ".join(f"{f.name}={f.default!r}" for f in dataclasses.fields(d.options)) or "-"
        rules = [t for t in ("hand", "elementwise", "dense")
                 if (t != "hand" or d.hand_traces) and (t != "elementwise" or d.elementwise)]
        table.add_row(name, escape(options), ", ".join(rules), escape(d.summary))
    console.print(table)
    return 0


def cmd_cost(args: argparse.Namespace) -> int:
    from rtrl import cost

    table = Table("method", "FLOPs / step", "memory (floats)", "memory (float32)", "parameters")
    methods = [("forward", None), ("rtrl", None)] + [("tbptt", t) for t in args.truncation]
    for method, t in methods:
        c = cost.step_cost(args.cell, hidden_size=args.hidden_size, input_size=args.input_size, method=method,
                           truncation=t, batch_size=args.batch)
        table.add_row(method if t is None else f"tbptt T={t}", f"{c.flops:,}", f"{c.memory:,}",
                      _bytes(4 * c.memory), f"{c.parameters:,}")
    console.print(f"{args.cell}: hidden {args.hidden_size}, input {args.input_size}, batch {args.batch}")
    console.print(table)
    return 0


# --------------------------------------------------------------------------------------------


def _preset_names() -> list[str]:
    from rtrl.experiments import presets

    return presets.names()


def _comparison_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=_positive_int, help="steps of each stream (default: the preset's)")
    p.add_argument("--seeds", type=_positive_int, help="seeds (default: the preset's)")
    p.add_argument("--seed", type=int, help="first seed (default 0)")
    p.add_argument("--out", help="output directory (default runs/<preset>-<time>); never overwritten silently")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it is an existing run directory")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rtrl", description="Online training of recurrent networks with exact "
                                     "real-time recurrent learning (RTRL), in JAX.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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

    p = sub.add_parser("plot", help="redraw learning curves (mean and 95%% band over seeds) from run directories: "
                       "squared return error of prediction runs, episode return of training runs")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories or comparison directories")
    p.add_argument("--out", default="plot.png", help="PNG file to write (default plot.png)")
    p.add_argument("--metric", default="msre", help="CSV column to plot (default msre)")
    p.add_argument("--linear", action="store_true", help="linear y axis (default logarithmic)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_plot)

    from rtrl.agents import PPOConfig
    from rtrl.experiments import training, training_presets

    p = sub.add_parser("train", help="train a PPO agent (Real-Time PPO, T-BPTT PPO, MLP PPO)",
                       description="Train a PPO agent on an environment. Settings come from --preset, then --config "
                       "YAML, then flags (agent flags set fields of the PPOConfig).")
    p.add_argument("--preset", choices=training_presets.names(), metavar="PRESET",
                   help="a named experiment: " + ", ".join(training_presets.names()))
    p.add_argument("--config", help="YAML file of TrainConfig fields (with a ppo: mapping), e.g. a run's config.yaml")
    config_lib.add_arguments(p, training.TrainConfig, skip=("ppo",))
    agent_flags = p.add_argument_group("agent (PPOConfig)")
    config_lib.add_arguments(agent_flags, PPOConfig)
    p.add_argument("--out", help="run directory (default runs/train-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it is an existing run directory")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("gradcheck", help="check every RTRL cell's gradient against BPTT (float64)")
    p.add_argument("--cells", nargs="+", type=_cell_name, help="cells to check (default: all)")
    p.add_argument("--steps", type=_positive_int, default=60, help="sequence length (default 60)")
    p.add_argument("--batch", type=_positive_int, default=3, help="batch size (default 3)")
    p.add_argument("--input-size", type=_positive_int, default=4, help="input size (default 4)")
    p.add_argument("--hidden-size", type=_positive_int, default=5, help="hidden size (default 5)")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed for parameters and data (default 0)")
    p.add_argument("--tolerance", type=_positive_float, default=1e-6, help="max relative error (default 1e-6)")
    p.add_argument("--all-rules", action="store_true",
                   help="also check the generic element-wise and dense engines, not only each cell's default rule")
    p.set_defaults(func=cmd_gradcheck)

    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = bench_sub.add_parser("cells", help="per-step time of forward, RTRL and T-BPTT steps")
    p.add_argument("--cells", nargs="+", type=_cell_name, help="cells (default: %(default)s)",
                   default=None)
    p.add_argument("--hidden-sizes", nargs="+", type=_positive_int, help="hidden sizes (default 32 … 1024)")
    p.add_argument("--batch-sizes", nargs="+", type=_positive_int, help="batch sizes (default 1 64)")
    p.add_argument("--modes", nargs="+", help="forward, rtrl, tbptt-T (default: forward rtrl tbptt-1 tbptt-4 "
                   "tbptt-16 tbptt-64)")
    p.add_argument("--input-size", type=_positive_int, help="input size (default 64)")
    p.add_argument("--target-seconds", type=_positive_float, help="length of each timed run (default 0.25)")
    p.add_argument("--repeats", type=_positive_int, help="timed runs per case, median reported (default 5)")
    p.add_argument("--max-dense-hidden", type=_positive_int,
                   help="largest hidden size for dense O(n^4) RTRL of gru/lstm/rnn (default 32)")
    p.add_argument("--out", help="CSV path (default bench-cells-<time>.csv); an existing file is not overwritten")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(func=cmd_bench_cells)

    p = sub.add_parser("cells", help="list the cells, their options and trace rules")
    p.set_defaults(func=cmd_cells)

    p = sub.add_parser("cost", help="FLOPs and memory per step (forward, RTRL, T-BPTT) from the cost model")
    p.add_argument("cell", type=_cell_name)
    p.add_argument("--hidden-size", type=_positive_int, required=True)
    p.add_argument("--input-size", type=_positive_int, required=True)
    p.add_argument("--batch", type=_positive_int, default=1)
    p.add_argument("--truncation", nargs="+", type=_positive_int, default=[1, 4, 16, 64],
                   help="T-BPTT truncations (default 1 4 16 64)")
    p.set_defaults(func=cmd_cost)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        for field in ("hidden_sizes", "batch_sizes", "modes", "cells"):
            if getattr(args, field, None) is not None:
                setattr(args, field, tuple(getattr(args, field)))
        return args.func(args)
    except (ValueError, FloatingPointError) as e:  # a configuration error or a divergence: plainly, no traceback
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
