"""Throughput and memory of what ``rtrl train`` / ``rtrl predict`` run, against the number of vmapped seeds:
the GPU-readiness benchmark (runs on any JAX backend; sized for an accelerator by default).

    python benchmarks/gpu.py                                   # 1 ... 4096 seeds, every workload, CSV below
    python benchmarks/gpu.py --workloads td --max 1024 --budget 20 --csv gpu-td.csv
    python benchmarks/gpu.py --vary envs                       # Real-Time PPO: 1 seed of 1 ... 4096 envs
    python benchmarks/gpu.py --small --max 4 --csv /tmp/gpu.csv  # a CPU smoke test at tiny sizes

Workloads (each exactly a user's command; ``--small`` shrinks the networks and iterations for a CPU test):

- ``ppo``: Real-Time PPO with the paper's settings, ``rtrl train --env jax/CountRecallEasy`` (linear RTU n = 192,
  rollout 2048, 4 epochs x 32 minibatches, the standard wrappers, logs and checkpoints).
- ``td``: the online TD(λ) learner of ``rtrl predict`` (linear RTU n = 32 with RTRL on trace conditioning, the
  oracle and the scoring included), chunks of 10,000 steps.
- ``stream``: the streaming agent, ``rtrl train --agent stream-ac --env jax/RepeatPreviousEasy`` (RTU n = 64,
  StreamConfig defaults; 1000 steps per iteration).

For N = 1, 2, 4, ... ``--max`` (seeds, or PPO's environments with ``--vary envs``) every point is one run of
the command through ``rtrl.cli.main`` in a fresh worker process (``--no-isolate``: all in this process, for
tests; the peak memory is then the process's peak so far). The run's length aims at ``--budget`` seconds of
timed running: the first point of a workload runs the fewest iterations that give a rate (3 iterations of
``rtrl train``, whose first compiles; 2 chunks of ``rtrl predict``), each later point gets
``rate of the previous point x budget / N`` steps per seed. A worker is stopped after ``--timeout`` s.

Columns: ``env_steps_per_s`` is the run's own summary figure (env steps of all seeds per second, compilation
excluded; for ``rtrl predict`` the learning time of its chunks); ``device_peak_mb`` is JAX's
``memory_stats()["peak_bytes_in_use"]`` of the default device where the backend reports it (GPU, TPU; empty on
the CPU); ``rss_peak_mb`` the worker's peak resident memory (``getrusage``; it includes JAX's own ≈0.4 GB);
``estimate_mb`` the memory estimate the command checked before starting. ``status`` is ``ok``, ``refused`` (the
command's memory check: the estimate exceeds 80% of the available memory), ``failed`` or ``timeout``; a workload
stops at its first point that is not ``ok`` (a larger N would not do better). The worker does not change XLA
flags or JAX's GPU memory preallocation: the figures are what a user gets.

Goal (issue 13): >= 1M aggregate env steps/s for vmapped TD learners on a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import math
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

RESULT_MARK = "GPU_POINT_RESULT "  # a worker's last stdout line: this mark and its result as JSON
TD_GOAL = 1_000_000
STATUSES = ("ok", "refused", "failed", "timeout")


@dataclasses.dataclass(frozen=True)
class Workload:
    """One user command measured against N: its flags at full and at small size, and its unit of work."""

    name: str
    description: str
    command: str  # "train" or "predict"
    flags: tuple[str, ...]
    small_flags: tuple[str, ...]
    unit_flag: str  # the flag whose value is the steps per seed of one iteration (train) or chunk (predict)
    unit: int
    small_unit: int
    can_vary_envs: bool = False  # PPO's --num-envs

    @property
    def minimum_units(self) -> int:
        """Iterations (train) or chunks (predict) of the shortest run that gives a rate: `rtrl train`'s
        first iteration compiles and its rate counts the later ones; `rtrl predict` compiles apart."""
        return 3 if self.command == "train" else 2


WORKLOADS: dict[str, Workload] = {
    "ppo": Workload("ppo", "Real-Time PPO, linear RTU n=192, jax/CountRecallEasy (paper settings)", "train",
                    ("--env", "jax/CountRecallEasy", "--agent", "real-time-ppo"),
                    ("--hidden-size", "8", "--num-steps", "64", "--num-minibatches", "2", "--update-epochs", "1"),
                    "--num-steps", 2048, 64, can_vary_envs=True),
    "td": Workload("td", "TD(λ) learner, linear RTU n=32 (RTRL), trace conditioning (rtrl predict)", "predict",
                   ("--cell", "rtu-linear", "--hidden-size", "32", "--learner", "rtrl"),
                   ("--hidden-size", "8"), "--chunk", 10_000, 500),
    "stream": Workload("stream", "stream-ac, linear RTU n=64 (RTRL), jax/RepeatPreviousEasy", "train",
                       ("--env", "jax/RepeatPreviousEasy", "--agent", "stream-ac"),
                       ("--hidden-size", "8", "--head", "[]", "--num-steps", "100"), "--num-steps", 1000, 100),
}


@dataclasses.dataclass(frozen=True)
class Point:
    """One measurement: a workload at N seeds (or N environments) for ``steps_per_seed`` env steps per seed."""

    workload: str
    n: int
    vary: str  # "seeds" or "envs"
    steps_per_seed: int
    small: bool
    extra_flags: tuple[str, ...] = ()

    @property
    def seeds(self) -> int:
        return self.n if self.vary == "seeds" else 1

    @property
    def num_envs(self) -> int | None:
        return self.n if self.vary == "envs" else None

    def argv(self, out: str) -> list[str]:
        """The ``rtrl`` command line of this point, writing its run directory to ``out``."""
        w = WORKLOADS[self.workload]
        flags = [*w.flags, *(w.small_flags if self.small else ()), *self.extra_flags]
        unit = unit_of(w, flags, self.small)
        if w.command == "predict":
            argv = ["predict", *flags, "--seeds", str(self.seeds), "--steps", str(self.steps_per_seed),
                    "--chunk", str(unit), "--curve-points", str(min(100, self.steps_per_seed))]
        else:
            argv = ["train", *flags, "--seeds", str(self.seeds), "--total-steps", str(self.steps_per_seed)]
            if self.num_envs is not None:
                argv += ["--num-envs", str(self.num_envs)]
        return [*argv, "--out", out]


def flag_value(flags: Sequence[str], name: str) -> str | None:
    """The value of ``name`` in an argv list (the last one given wins, as argparse does); None if absent."""
    value = None
    for i, item in enumerate(flags):
        if item == name and i + 1 < len(flags):
            value = flags[i + 1]
        elif item.startswith(name + "="):
            value = item.split("=", 1)[1]
    return value


def unit_of(workload: Workload, flags: Sequence[str], small: bool) -> int:
    """Env steps per seed of one iteration (train; PPO: num_steps x num_envs is set apart) or one chunk (predict)."""
    given = flag_value(flags, workload.unit_flag)
    return int(float(given)) if given is not None else (workload.small_unit if small else workload.unit)


def next_steps(workload: Workload, point_unit: int, n: int, previous_rate: float | None, budget: float) -> int:
    """Steps per seed of the next point: the fewest that give a rate for the first point, else the previous
    point's aggregate rate x ``budget`` seconds / N, in whole units, never below that fewest."""
    fewest = workload.minimum_units * point_unit
    if previous_rate is None or not math.isfinite(previous_rate) or previous_rate <= 0:
        return fewest
    per_seed = previous_rate * budget / n
    return max(fewest, math.ceil(per_seed / point_unit) * point_unit)


# ---------------------------------------------------------------------------------------------------------------
# The worker: one point, in this process


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (getrusage: kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def device_facts() -> dict[str, Any]:
    """The default device (platform, kind, count) and its peak memory in MB where JAX reports it."""
    import jax

    device = jax.devices()[0]
    try:
        stats = device.memory_stats() or {}
    except Exception:  # noqa: BLE001 - back-ends without memory_stats
        stats = {}
    peak = stats.get("peak_bytes_in_use")
    return {"device": device.platform, "device_kind": device.device_kind, "device_count": jax.device_count(),
            "device_peak_mb": round(peak / 2**20, 1) if peak is not None else "", "jax": jax.__version__}


def run_point(point: Point) -> dict[str, Any]:
    """Run ``point``'s command through ``rtrl.cli.main`` here; its summary's rate and the memory figures."""
    from rtrl import cli

    with tempfile.TemporaryDirectory(prefix="rtrl-gpu-") as tmp:
        out = os.path.join(tmp, "run")
        argv = point.argv(out)
        output = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(output):  # the rich console writes to the current sys.stdout
            status = cli.main(argv)
        wall = time.perf_counter() - t0
        text = output.getvalue()
        result: dict[str, Any] = {"rc": status, "wall_s": round(wall, 2), "rss_peak_mb": round(peak_rss_mb(), 1)}
        result.update(device_facts())
        if status != 0:
            error = next((line for line in text.splitlines() if line.startswith("error:")), text.strip()[-300:])
            result["status"] = "refused" if "needs about" in error else "failed"
            result["error"] = error
            return result
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        rate = summary.get("steps_per_second")
        result["status"] = "ok" if rate else "failed"
        if not rate:
            result["error"] = "the run measured no rate (one iteration, which compiled)"
        result["env_steps_per_s"] = round(rate) if rate else ""
        result["steps_per_seed"] = summary.get("env_steps_per_seed", summary.get("steps"))
        estimate = summary.get("memory_estimate_megabytes")
        result["estimate_mb"] = round(estimate, 1) if estimate is not None else ""
        return result


def worker_main(encoded: str) -> int:
    """``--point JSON``: run one point and print its result after `RESULT_MARK` as the last line."""
    fields = json.loads(encoded)
    point = Point(**{**fields, "extra_flags": tuple(fields.get("extra_flags", ()))})
    result = run_point(point)
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


def run_isolated(point: Point, timeout: float) -> dict[str, Any]:
    """``point`` in a fresh worker process (its own peak memory); timeout and crashes become a status."""
    command = [sys.executable, os.path.abspath(__file__), "--point", json.dumps(dataclasses.asdict(point))]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "error": f"stopped after {timeout:.0f} s", "wall_s": round(timeout, 1)}
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        return {"status": "failed", "error": f"worker exited {done.returncode}: {tail[0][:300]}",
                "wall_s": round(time.perf_counter() - t0, 2)}
    return json.loads(lines[-1][len(RESULT_MARK):])


# ---------------------------------------------------------------------------------------------------------------
# The sweep


COLUMNS = ("workload", "description", "vary", "n", "seeds", "num_envs", "steps_per_seed", "env_steps_per_s",
           "per_seed_steps_per_s", "device_peak_mb", "rss_peak_mb", "estimate_mb", "wall_s", "status", "error",
           "device", "device_kind", "device_count", "jax", "isolated", "budget_s", "command")


def sizes(largest: int) -> list[int]:
    """1, 2, 4, ... up to ``largest`` (which need not be a power of 2: it is the last size if it is not one)."""
    out, n = [], 1
    while n < largest:
        out.append(n)
        n *= 2
    return [*out, largest]


def sweep(workload: Workload, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every N of ``workload``, smallest first; stops at the first point that is not ok."""
    vary = "envs" if args.vary == "envs" and workload.can_vary_envs else "seeds"
    extra = tuple(shlex.split(getattr(args, f"{workload.name}_flags") or ""))
    flags = [*workload.flags, *(workload.small_flags if args.small else ()), *extra]
    unit = unit_of(workload, flags, args.small)
    rows, rate = [], None
    for n in sizes(args.max):
        point_unit = unit * n if vary == "envs" else unit  # PPO's rollout: num_steps x num_envs steps per seed
        steps = next_steps(workload, point_unit, n if vary == "seeds" else 1, rate, args.budget)
        point = Point(workload.name, n, vary, steps, args.small, extra)
        result = run_point(point) if args.no_isolate else run_isolated(point, args.timeout)
        rate = result.get("env_steps_per_s") or None
        description = workload.description + (" [--small: tiny sizes]" if args.small else "")
        row = {"workload": workload.name, "description": description, "vary": vary, "n": n,
               "seeds": point.seeds, "num_envs": point.num_envs or "", "steps_per_seed": steps,
               "isolated": not args.no_isolate, "budget_s": args.budget,
               "command": "rtrl " + " ".join(shlex.quote(a) for a in point.argv("OUT")), **result}
        if rate:
            row["per_seed_steps_per_s"] = round(rate / point.seeds)
        rows.append({c: row.get(c, "") for c in COLUMNS})
        shown = f"{rate:>12,.0f}" if rate else f"{'-':>12s}"
        print(f"{workload.name:7s} {vary} {n:5d}  {shown} env steps/s  device peak {row.get('device_peak_mb') or '-':>9} MB"
              f"  rss peak {row.get('rss_peak_mb', '-'):>8} MB  {row['wall_s']:>7} s  {row['status']}"
              + (f": {row['error']}" if row.get("error") else ""), flush=True)
        if row["status"] != "ok":
            break
    return rows


def write_rows(path: str, rows: list[dict[str, Any]]) -> None:
    import csv

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(rows)


def goal_line(rows: list[dict[str, Any]]) -> str | None:
    """The TD learners' best aggregate rate against the issue's goal, if the td workload ran."""
    td = [r for r in rows if r["workload"] == "td" and r["status"] == "ok"]
    if not td:
        return None
    best = max(td, key=lambda r: r["env_steps_per_s"])
    met = "met" if best["env_steps_per_s"] >= TD_GOAL else "not met"
    return (f"TD learners: best {best['env_steps_per_s']:,} env steps/s at {best['n']} seeds on "
            f"{best['device']} ({best['device_kind']}); goal >= {TD_GOAL:,} on a GPU: {met}")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default="ppo,td,stream",
                        help=f"comma-separated, of {', '.join(WORKLOADS)} (default: all)")
    parser.add_argument("--max", type=positive_int, default=4096, help="the largest N (default 4096)")
    parser.add_argument("--vary", choices=("seeds", "envs"), default="seeds",
                        help="N counts vmapped seeds (default), or for ppo the environments of one seed")
    parser.add_argument("--budget", type=positive_float, default=10.0,
                        help="seconds of timed running each point aims at (default 10)")
    parser.add_argument("--timeout", type=positive_float, default=600.0,
                        help="seconds after which a point's worker is stopped (default 600)")
    parser.add_argument("--small", action="store_true", help="tiny networks and iterations (a CPU smoke test)")
    parser.add_argument("--no-isolate", action="store_true",
                        help="run every point in this process (peak memory is then the process's peak so far)")
    for name in WORKLOADS:
        parser.add_argument(f"--{name}-flags", help=f"more `rtrl` flags for the {name} workload, e.g. "
                            "'--hidden-size 64' (they override the defaults)")
    parser.add_argument("--csv", default="benchmarks/gpu.csv", help="where to write the table")
    parser.add_argument("--point", help=argparse.SUPPRESS)  # a worker: one point, given as JSON
    args = parser.parse_args(argv)
    if args.point is None:
        names = [n.strip() for n in args.workloads.split(",") if n.strip()]
        unknown = [n for n in names if n not in WORKLOADS]
        if unknown or not names:
            parser.error(f"--workloads: expected names from {', '.join(WORKLOADS)}, got {args.workloads!r}")
        args.workloads = names
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.point is not None:
        return worker_main(args.point)
    print(f"rtrl train / rtrl predict against N ({args.vary}), N = {', '.join(map(str, sizes(args.max)))}; "
          f"{args.budget:g} s per point" + (" (small sizes)" if args.small else ""), flush=True)
    rows: list[dict[str, Any]] = []
    for name in args.workloads:
        rows += sweep(WORKLOADS[name], args)
        write_rows(args.csv, rows)  # after every workload: a long sweep keeps what it measured
    goal = goal_line(rows)
    if goal:
        print(goal)
    print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
