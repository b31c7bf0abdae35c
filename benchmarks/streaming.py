"""Environment steps per second of the streaming agents on this machine, on the user's path.

    python benchmarks/streaming.py [--steps 100000] [--csv benchmarks/streaming.csv] [--quick]

Every row is a fresh ``rtrl train --agent stream-ac|stream-q ...`` process (the StreamConfig defaults
unless the case says otherwise: no encoder, LayerNorm heads of 128, ObGD; the standard wrapper stack;
CSV and TensorBoard logs, checkpoints, progress; ``--threads auto``: one XLA CPU thread for one seed).
``steps/s`` is the run's own summary figure: env steps per second of all seeds together, excluding the
first (compiling) iteration; ``per seed`` divides it by the seeds; ``µs/step`` is one seed's step (an
environment step and a full actor and critic update). Every step of every seed is a full update: there is no rollout to amortise it over.

Targets (issue 11): stream-ac with an RTU of n = 64 on a JAX-native POPGym port, one stream,
>= 50,000 env steps/s; 16 vmapped seeds >= 3x the aggregate of one; the cost per step of RTRL
against T-BPTT(1) and feed-forward at the same width.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax

from rtrl.experiments.run_dir import write_csv

ENV = "jax/RepeatPreviousEasy"
TARGET_CASE = "stream-ac rtu-linear n=64 RTRL"


def cases(quick: bool) -> list[tuple[str, list[str], int, str]]:
    """(name, the `rtrl train` flags, seeds, env)."""
    rtu = ["--agent", "stream-ac", "--cell", "rtu-linear", "--hidden-size", "64"]
    rows = [
        (TARGET_CASE, [*rtu, "--gradient", "rtrl"], 1, ENV),
        (TARGET_CASE + ", 16 seeds", [*rtu, "--gradient", "rtrl"], 16, ENV),
        (TARGET_CASE + ", 2 XLA threads", [*rtu, "--gradient", "rtrl", "--threads", "2"], 1, ENV),
        (TARGET_CASE + ", no head layer", [*rtu, "--gradient", "rtrl", "--head", "[]"], 1, ENV),
        (TARGET_CASE + ", no head layer, 16 seeds", [*rtu, "--gradient", "rtrl", "--head", "[]"], 16, ENV),
        ("stream-ac rtu-linear n=64 T-BPTT(1)", [*rtu, "--gradient", "tbptt"], 1, ENV),
        ("stream-ac feed-forward", ["--agent", "stream-ac", "--gradient", "none"], 1, ENV),
        ("stream-ac rtu-linear n=64 RTRL, Adam", [*rtu, "--gradient", "rtrl", "--optimizer", "adam"], 1, ENV),
        ("stream-q rtu-linear n=64 RTRL", ["--agent", "stream-q", "--cell", "rtu-linear", "--hidden-size", "64"], 1,
         ENV),
        ("stream-ac gru n=64 T-BPTT(1)", ["--agent", "stream-ac", "--cell", "gru", "--hidden-size", "64",
                                          "--gradient", "tbptt"], 1, ENV),
        (TARGET_CASE + ", host popgym", [*rtu, "--gradient", "rtrl"], 1, "popgym/RepeatPreviousEasy"),
    ]
    return rows[:2] if quick else rows


def measure_train(flags: list[str], seeds: int, env_name: str, steps: int) -> dict:
    """A fresh `rtrl train` process: its summary's steps/s (all seeds) and the process's wall time."""
    from rtrl.bench.runs import train_summary

    t0 = time.perf_counter()
    summary = train_summary(["--env", env_name, "--seeds", str(seeds), "--total-steps", str(steps), *flags])
    return {"steps_per_s": summary["steps_per_second"], "process_s": time.perf_counter() - t0,
            "parameters": summary.get("parameters")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100_000, help="env steps per seed of each run")
    parser.add_argument("--csv", default="benchmarks/streaming.csv")
    parser.add_argument("--quick", action="store_true", help="the target case and its 16 seeds only")
    parser.add_argument("--one-seed", action="store_true", help="only the cases of one seed (one XLA thread "
                        "each: they can be measured while another run keeps the second core busy); the other "
                        "rows of --csv are kept")
    args = parser.parse_args()
    print(f"jax {jax.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    rows = []
    chosen = [c for c in cases(args.quick) if not args.one_seed or c[2] == 1]
    if args.one_seed and os.path.exists(args.csv):
        import csv

        with open(args.csv, newline="") as f:
            kept = [r for r in csv.DictReader(f) if int(r["seeds"]) != 1]
    else:
        kept = []
    for name, flags, seeds, env in chosen:
        steps = args.steps if env.startswith("jax/") else max(args.steps // 20, 3000)
        r = measure_train(flags, seeds, env, steps)
        per_seed = r["steps_per_s"] / seeds
        rows.append({"case": name, "env": env, "seeds": seeds, "steps_per_s": round(r["steps_per_s"]),
                     "per_seed": round(per_seed), "us_per_step": round(1e6 / per_seed, 1),
                     "process_s": round(r["process_s"], 1), "command": "rtrl train --env " + env + " --seeds "
                     + str(seeds) + " " + " ".join(flags)})
        print(f"{name:45s} {r['steps_per_s']:>10,.0f} steps/s ({per_seed:,.0f} per seed, "
              f"{1e6 / per_seed:.1f} µs/step), process {r['process_s']:.1f} s", flush=True)
    rows += [{**r, "seeds": int(r["seeds"]), "steps_per_s": int(r["steps_per_s"])} for r in kept]
    order = [c[0] for c in cases(args.quick)]
    rows.sort(key=lambda r: order.index(r["case"]) if r["case"] in order else len(order))
    one = next(r for r in rows if r["case"] == TARGET_CASE)
    many = next(r for r in rows if r["case"] == TARGET_CASE + ", 16 seeds")
    print(f"target one stream >= 50,000: {one['steps_per_s']:,} ({'met' if one['steps_per_s'] >= 50_000 else 'NOT met'});"
          f" 16 seeds / one = {many['steps_per_s'] / one['steps_per_s']:.2f}x (target >= 3)")
    write_csv(args.csv, rows)
    print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
