"""``rtrl sweep SPEC.yaml``: a grid of ``rtrl train`` / ``rtrl predict`` runs × seeds on Ray.

Everything is checked before any run starts: the spec (unknown keys, an empty grid, every run's
config), the sweep directory (finished runs are skipped, never replaced), the Ray cluster (an
address that cannot be reached is refused within ``--connect-timeout``) and the resources each run
asks for. Then the runs, with one progress display for the whole sweep, and the report. Exit
status: 0 every run finished, 1 some run failed every attempt (listed, and in the report), 2 bad
input, 130 interrupted (rerun the same command to continue).
"""

from __future__ import annotations

import argparse
import os
import shlex

from rich.markup import escape
from rich.table import Table

from rtrl.cli.common import StepProgress, console, positive_float, positive_int

# Exit status of an interrupted command (128 + SIGINT), as shells report it.
INTERRUPTED = 130


def cmd_sweep(args: argparse.Namespace) -> int:
    from rtrl.experiments import sweep, sweep_report, sweep_spec

    spec = sweep_spec.load_spec(args.spec)
    plan = sweep_spec.make_plan(spec, out=args.out)
    if args.report_only:
        if not os.path.isdir(plan.out):
            raise ValueError(f"{plan.out!r} does not exist: the sweep has not run yet (leave --report-only out).")
        report = sweep_report.write_report(plan)
        console.print(f"wrote {escape(report)}/ ({sweep_report.TABLE}, {sweep_report.CSV}, one figure per group)",
                      soft_wrap=True)
        return 0
    statuses = sweep.check_plan(plan)
    counts = {s: sum(1 for v in statuses.values() if v == s) for s in (sweep.FINISHED, sweep.RESUME, sweep.RESTART,
                                                                        sweep.NEW)}
    remaining = sum(run.steps for run in plan.runs if statuses[run.id] != sweep.FINISHED)
    r = spec.resources
    console.print(f"{escape(args.spec)}: rtrl {spec.command}, {len(plan.configurations)} configuration(s) x "
                  f"{len(spec.seeds)} seed(s) = {len(plan.runs)} run(s) into {escape(plan.out)}/: "
                  f"{counts[sweep.FINISHED]} finished (skipped), {counts[sweep.RESUME]} to resume from a checkpoint, "
                  f"{counts[sweep.RESTART]} to start again, {counts[sweep.NEW]} new; {remaining:,} env steps to run; "
                  f"each run {r.num_cpus:g} CPU(s), {r.num_gpus:g} GPU, {spec.retries} retr{'y' if spec.retries == 1 else 'ies'}",
                  soft_wrap=True, highlight=False)
    if args.dry_run:
        table = Table("configuration", "group", "directory", "env steps per run")
        for c in plan.configurations:
            steps = next(run.steps for run in plan.runs if run.configuration.key == c.key)
            table.add_row(escape(c.name), escape(c.group), escape(c.key), f"{steps:,}")
        console.print(table)
        return 0
    cluster = sweep.connect(args.address, num_cpus=args.num_cpus, timeout=args.connect_timeout)
    try:
        sweep.check_resources(spec.resources, cluster)
        where = "this machine" if cluster.started_here else f"the cluster at {cluster.address}"
        console.print(f"Ray on {escape(where)}: {cluster.total('CPU'):g} CPU(s), {cluster.total('GPU'):g} GPU(s), "
                      f"{len(cluster.nodes)} node(s)", soft_wrap=True, highlight=False)
        total = sum(run.steps for run in plan.runs)
        done_before = sum(run.steps for run in plan.runs if statuses[run.id] == sweep.FINISHED)
        bar = StepProgress(total, label="sweep (env steps of all runs)", start=done_before)

        def progress(p) -> None:
            bar.update(p.steps, info=f"runs: {p.finished}/{p.runs} done, {p.running} running, {p.waiting} waiting, "
                                     f"{p.failed} failed")

        def notify(line: str) -> None:
            console.print(escape(line), soft_wrap=True, highlight=False)

        try:
            with bar:
                result = sweep.run_sweep(plan, statuses, progress=progress, notify=notify)
        except KeyboardInterrupt:
            console.print(f"interrupted; finished runs are kept and unfinished training runs resume from their "
                          f"checkpoints: continue with\n  rtrl sweep {escape(shlex.quote(args.spec))}"
                          + (f" --out {escape(shlex.quote(args.out))}" if args.out else ""), soft_wrap=True)
            return INTERRUPTED
    finally:
        sweep.disconnect(cluster)
    _print_result(plan, result)
    return 0 if result.ok else 1


def _print_result(plan, result) -> None:
    from rtrl.experiments import sweep_report

    report = os.path.join(plan.out, sweep_report.REPORT)
    console.print(f"{len(result.finished)} run(s) finished now, {len(result.skipped)} were finished before, "
                  f"{len(result.failed)} failed; report: {escape(os.path.join(report, sweep_report.TABLE))} "
                  "(one figure per group beside it)", soft_wrap=True, highlight=False)
    if result.failed:
        table = Table("failed run", "attempts", "last error")
        for failure in result.failed:
            table.add_row(escape(failure.run), str(failure.attempts), escape(failure.error))
        console.print(table)
        console.print(f"[red]error:[/red] {len(result.failed)} run(s) failed every attempt; fix the cause and rerun "
                      "the sweep (finished runs are skipped).", soft_wrap=True)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from rtrl.experiments.sweep import CONNECT_TIMEOUT

    p = sub.add_parser("sweep", help="a grid of train/predict runs x seeds from a YAML spec, on Ray (resumable)",
                       description="Run a sweep spec (YAML: command, base, grid and/or runs, seeds, resources, "
                       "retries, out; see sweeps/ for examples) as Ray tasks: on this machine by default, on a "
                       "cluster with --address. Rerunning a sweep skips its finished runs and resumes the others; "
                       "the report (a Markdown table with 95% Student t intervals over seeds, one figure per "
                       "environment) goes to OUT/report/.")
    p.add_argument("spec", metavar="SPEC.yaml", help="the sweep spec")
    p.add_argument("--out", help="the sweep directory (default: the spec's out, else runs/<spec name>)")
    p.add_argument("--address", help="a Ray cluster's head node, host:port (or ray://host:port, or auto); default: "
                   "start Ray on this machine. The sweep directory must be on a file system all nodes share")
    p.add_argument("--num-cpus", type=positive_int, help="CPUs the Ray cluster started on this machine offers "
                   "(default: all)")
    p.add_argument("--connect-timeout", type=positive_float, default=CONNECT_TIMEOUT,
                   help=f"seconds to reach --address before giving up (default {CONNECT_TIMEOUT:g})")
    p.add_argument("--dry-run", action="store_true", help="check the spec and the sweep directory, list the "
                   "configurations and what would run; start nothing")
    p.add_argument("--report-only", action="store_true", help="rewrite the report from the runs finished so far; "
                   "start nothing")
    p.set_defaults(func=cmd_sweep)
