"""Total env steps/s of 1, 2, 4, 8 seeds of one `rtrl train` (or `rtrl predict`) run: do seeds use the cores?

    python benchmarks/seeds_scaling.py [--cases real-time-ppo tbptt-ppo td] [--seeds 1 2 4 8]
                                       [--processes auto 1] [--iterations 10] [--repeats 1]
                                       [--csv benchmarks/seeds_scaling.csv]

Cases: ``real-time-ppo`` (the ``rtu-paper/popgym-countrecall`` preset: jax/CountRecallEasy, linear RTU of 192
units, rollout 2048, 4 epochs x 32 minibatches), ``tbptt-ppo`` (the same with the sweeps' GRU T-BPTT(32)
baseline) and ``td`` (``rtrl predict``'s defaults, 1M steps: TD(lambda), linear RTU n = 32, RTRL). Each run is a
fresh ``rtrl train ... --seeds S --processes P`` (or ``rtrl predict``) process, the real command path (wrappers,
logs, checkpoints); ``steps_per_s`` is its summary's figure (env steps/s of all seeds together, compilation
excluded) and ``ratio_to_1_seed`` its total over the one-seed total of the same case. With ``--repeats R`` every
run is made R times, in rounds, and a row gives the median (``runs``: each run's figure): on a machine shared
with other work the figures drift with its load, so compare ratios within one CSV.

Target (issue 13): 8 seeds >= 1.5x one seed on a 2-core machine. One vmapped program does not get there: XLA's
CPU back-end runs its kernels one after another (vmap widens each small kernel; it adds no parallelism), so
``--processes 1`` rows stay near 1x. ``rtrl train`` therefore splits a JAX-native run's seeds over worker
processes, one per CPU, each a vmapped program on its own XLA thread (``--processes auto``, the default;
`rtrl.experiments.seed_processes`). Two programs in one process (Python threads, or pmap over forced host
devices) had wedged XLA's CPU thread pool (jaxlib 0.10.2), which is why the split is by process.
"""

from __future__ import annotations

import argparse
import statistics
import os
import platform

PRESET = "rtu-paper/popgym-countrecall"
TIMEOUT_S = 900  # a run that takes longer has hung: reported, not waited on forever


# what each case runs: rtrl train with these flags (after the preset's), or rtrl predict
CASES = {
    "real-time-ppo": ["--preset", PRESET],
    "tbptt-ppo": ["--preset", PRESET, "--agent", "tbptt-ppo", "--cell", "gru", "--hidden-size", "64",
                  "--sequence-length", "32"],  # the sweeps' GRU T-BPTT(32) baseline
    "td": [],  # rtrl predict's defaults: TD(lambda), linear RTU n = 32, RTRL, trace conditioning
}
PREDICT_STEPS = 1_000_000


def measure(case: str, seeds: int, iterations: int, processes: str) -> float:
    """A fresh ``rtrl train --processes P`` (or ``rtrl predict``) process of ``seeds`` seeds: its summary's
    total env steps/s."""
    from rtrl.agents import PPOConfig
    from rtrl.bench.runs import run_summary

    if case == "td":
        flags = ["--seeds", str(seeds), "--steps", str(PREDICT_STEPS)]
        return float(run_summary("predict", flags, TIMEOUT_S)["steps_per_second"])
    rollout = PPOConfig().rollout_size
    flags = [*CASES[case], "--seeds", str(seeds), "--total-steps", str((iterations + 1) * rollout),
             "--processes", processes]
    return float(run_summary("train", flags, TIMEOUT_S)["steps_per_second"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=["real-time-ppo"],
                        help="what to run: real-time-ppo (default), tbptt-ppo, td (rtrl predict; one process)")
    parser.add_argument("--processes", nargs="+", default=["auto", "1"],
                        help="--processes of rtrl train to compare (default: auto, then 1)")
    parser.add_argument("--iterations", type=int, default=10, help="timed iterations per run (default 10)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of every run; rows give the median")
    parser.add_argument("--csv", default="benchmarks/seeds_scaling.csv")
    args = parser.parse_args()
    from rtrl.experiments.run_dir import write_csv

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    device = f"cpu {platform.processor() or platform.machine()}, {cpus} CPUs"
    # every case's runs, one round after another: a drift in the machine's load reaches every row alike
    plan = [(case, processes, seeds) for case in args.cases for processes in (args.processes if case != "td" else ["1"])
            for seeds in args.seeds]
    plan = [p for k, p in enumerate(plan) if p[2] != 1 or all(q[0] != p[0] or q[2] != 1 for q in plan[:k])]
    rates: dict[tuple[str, str, int], list[float]] = {p: [] for p in plan}  # one seed runs in-process: measured once
    print(f"{'round':>5s} {'case':>13s} {'processes':>9s} {'seeds':>5s} {'steps/s':>9s}  load")
    for r in range(args.repeats):
        for case, processes, seeds in plan:
            rates[case, processes, seeds].append(measure(case, seeds, args.iterations, processes))
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            print(f"{r + 1:5d} {case:>13s} {processes:>9s} {seeds:5d} {rates[case, processes, seeds][-1]:9.0f}  "
                  f"{load:.1f}", flush=True)
    rows = []
    for case, processes, seeds in plan:
        rate = statistics.median(rates[case, processes, seeds])
        one_seed = statistics.median(next(v for (c, _, n), v in rates.items() if c == case and n == 1))
        rows.append({"case": case, "path": "rtrl predict" if case == "td" else "rtrl train", "processes": processes,
                     "seeds": seeds, "steps_per_s": round(rate, 1), "ratio_to_1_seed": round(rate / one_seed, 3),
                     "runs": " ".join(f"{v:.0f}" for v in rates[case, processes, seeds]),
                     "preset": "" if case == "td" else PRESET, "device": device})
        print(f"{case:>13s} --processes {processes:>4s} {seeds:2d} seeds: {rate:9.0f} env steps/s, "
              f"{rate / one_seed:.2f}x one seed")
    if rows and args.csv:
        write_csv(args.csv, rows)
        print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
