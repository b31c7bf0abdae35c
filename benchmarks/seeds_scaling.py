"""Total env steps/s of 1, 2, 4, 8 seeds of one `rtrl train` run: do seeds use the machine's cores?

    python benchmarks/seeds_scaling.py [--seeds 1 2 4 8] [--iterations 10] [--csv benchmarks/seeds_scaling.csv]

The case is Real-Time PPO with the ``rtu-paper/popgym-countrecall`` preset (jax/CountRecallEasy, linear RTU
of 192 units, rollout 2048, 4 epochs x 32 minibatches). Each row is a fresh ``rtrl train --preset
rtu-paper/popgym-countrecall --seeds S`` process (the real command path: wrappers, logs, checkpoints);
``steps_per_s`` is its summary's figure (env steps/s of all seeds together, excluding the compiling iteration)
and ``ratio_to_1_seed`` its total over the one-seed total. The seed counts run one after another in one run of
this script: on a machine shared with other work the absolute figures drift with its load; compare ratios
within one CSV.

Target (issue 13): 8 seeds >= 1.5x one seed on a 2-core machine. Not met: the seeds are one vmapped program,
which XLA's CPU back-end runs kernel after kernel (vmap widens each small kernel; it adds no parallelism).
Running one program per seed on Python threads overlapped them (8 seeds 1.35x one seed, 1.48x over longer runs,
2 idle cores) but wedged XLA's 2-thread CPU pool (jaxlib 0.10.2): an execution waited in
``CpuPjRtRawLoadedExecutable::Execute``/``BlockUntilReady`` with every pool thread idle, about one run in twenty
(gdb). ``pmap`` over two forced host devices wedged every time, in the vmapped init's batched QR (LAPACK's
``ParallelBatchMap`` waiting on pool work queued behind the other device's kernel). A run that can hang is worse
than a slower one, so that layout was taken out (README, "Scale").
"""

from __future__ import annotations

import argparse
import os
import platform

PRESET = "rtu-paper/popgym-countrecall"
TIMEOUT_S = 900  # a run that takes longer has hung: reported, not waited on forever


def measure_train(seeds: int, iterations: int) -> float:
    """A fresh `rtrl train` process of ``seeds`` seeds: its summary's total env steps/s."""
    from rtrl.agents import PPOConfig
    from rtrl.bench.runs import train_summary

    rollout = PPOConfig().rollout_size
    flags = ["--preset", PRESET, "--seeds", str(seeds), "--total-steps", str((iterations + 1) * rollout)]
    return float(train_summary(flags, TIMEOUT_S)["steps_per_second"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--iterations", type=int, default=10, help="timed iterations per run (default 10)")
    parser.add_argument("--csv", default="benchmarks/seeds_scaling.csv")
    args = parser.parse_args()
    from rtrl.experiments.run_dir import write_csv

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    device = f"cpu {platform.processor() or platform.machine()}, {cpus} CPUs"
    rows, one_seed = [], float("nan")
    print(f"{'seeds':>5s} {'steps/s':>9s} {'ratio':>6s}  load")
    for seeds in args.seeds:
        rate = measure_train(seeds, args.iterations)
        one_seed = rate if seeds == 1 else one_seed
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        ratio = rate / one_seed
        print(f"{seeds:5d} {rate:9.0f} {ratio:6.2f}  {load:.1f}", flush=True)
        rows.append({"path": "rtrl train", "seeds": seeds, "steps_per_s": round(rate, 1),
                     "ratio_to_1_seed": round(ratio, 3), "load_1min": round(load, 2), "preset": PRESET,
                     "device": device})
    if rows and args.csv:
        write_csv(args.csv, rows)
        print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
