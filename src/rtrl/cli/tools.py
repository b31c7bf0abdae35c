"""``rtrl gradcheck``, ``rtrl bench cells``, ``rtrl cells`` and ``rtrl cost``: checks and measurements of the cells."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os

from rich.markup import escape
from rich.table import Table

from rtrl.cli.common import cell_name, console, human_bytes, positive_float, positive_int


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
                      f"{r['gflops_per_s']:.2f}", human_bytes(r["model_memory_bytes"]), f"{r['compile_s']:.1f}")
    console.print(table)
    for line in bench.target_report(rows):
        console.print(line)
    console.print(f"wrote {out} ({rows[0]['device']}, jax {rows[0]['jax']})")
    return 0


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
                      human_bytes(4 * c.memory), f"{c.parameters:,}")
    console.print(f"{args.cell}: hidden {args.hidden_size}, input {args.input_size}, batch {args.batch}")
    console.print(table)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gradcheck", help="check every RTRL cell's gradient against BPTT (float64)")
    p.add_argument("--cells", nargs="+", type=cell_name, help="cells to check (default: all)")
    p.add_argument("--steps", type=positive_int, default=60, help="sequence length (default 60)")
    p.add_argument("--batch", type=positive_int, default=3, help="batch size (default 3)")
    p.add_argument("--input-size", type=positive_int, default=4, help="input size (default 4)")
    p.add_argument("--hidden-size", type=positive_int, default=5, help="hidden size (default 5)")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed for parameters and data (default 0)")
    p.add_argument("--tolerance", type=positive_float, default=1e-6, help="max relative error (default 1e-6)")
    p.add_argument("--all-rules", action="store_true",
                   help="also check the generic element-wise and dense engines, not only each cell's default rule")
    p.set_defaults(func=cmd_gradcheck)

    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = bench_sub.add_parser("cells", help="per-step time of forward, RTRL and T-BPTT steps")
    p.add_argument("--cells", nargs="+", type=cell_name, help="cells (default: %(default)s)",
                   default=None)
    p.add_argument("--hidden-sizes", nargs="+", type=positive_int, help="hidden sizes (default 32 … 1024)")
    p.add_argument("--batch-sizes", nargs="+", type=positive_int, help="batch sizes (default 1 64)")
    p.add_argument("--modes", nargs="+", help="forward, rtrl, tbptt-T (default: forward rtrl tbptt-1 tbptt-4 "
                   "tbptt-16 tbptt-64)")
    p.add_argument("--input-size", type=positive_int, help="input size (default 64)")
    p.add_argument("--target-seconds", type=positive_float, help="length of each timed run (default 0.25)")
    p.add_argument("--repeats", type=positive_int, help="timed runs per case, median reported (default 5)")
    p.add_argument("--max-dense-hidden", type=positive_int,
                   help="largest hidden size for dense O(n^4) RTRL of gru/lstm/rnn (default 32)")
    p.add_argument("--out", help="CSV path (default bench-cells-<time>.csv); an existing file is not overwritten")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(func=cmd_bench_cells)

    p = sub.add_parser("cells", help="list the cells, their options and trace rules")
    p.set_defaults(func=cmd_cells)

    p = sub.add_parser("cost", help="FLOPs and memory per step (forward, RTRL, T-BPTT) from the cost model")
    p.add_argument("cell", type=cell_name)
    p.add_argument("--hidden-size", type=positive_int, required=True)
    p.add_argument("--input-size", type=positive_int, required=True)
    p.add_argument("--batch", type=positive_int, default=1)
    p.add_argument("--truncation", nargs="+", type=positive_int, default=[1, 4, 16, 64],
                   help="T-BPTT truncations (default 1 4 16 64)")
    p.set_defaults(func=cmd_cost)
