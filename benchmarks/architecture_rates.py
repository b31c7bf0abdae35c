"""`rtrl train` env steps/s of the RTU paper's five architectures, for the sweep specs' cost estimates.

    python benchmarks/architecture_rates.py [--envs rtu-paper/popgym-countrecall rtu-paper/hopper-p]
                                            [--iterations 4] [--csv benchmarks/architecture_rates.csv]

For each preset (the paper's PPO settings: one environment, rollout 2048, 4 epochs x 32 minibatches) and each
architecture of `sweeps/rtu-paper-*.yaml` (RTU linear and nonlinear n = 192 and LRU n = 84 with Real-Time PPO,
GRU n = 64 with T-BPTT(32), MLP PPO), a fresh one-seed ``rtrl train --preset P ...`` process runs ``iterations``
+ 1 rollouts; the figure is its summary's env steps/s (the compiling iteration excluded). One run at a time:
each has the machine (2 cores here) to itself, as a sweep run with ``num_cpus: 2`` would.
"""

from __future__ import annotations

import argparse
import os
import platform

# the sweep specs' run entries, as rtrl train flags
ARCHITECTURES = {
    "RTU linear (RTRL)": [],
    "RTU nonlinear (RTRL)": ["--cell", "rtu-nonlinear"],
    "LRU (RTRL)": ["--cell", "lru", "--hidden-size", "84"],
    "GRU (T-BPTT 32)": ["--agent", "tbptt-ppo", "--cell", "gru", "--hidden-size", "64", "--sequence-length", "32"],
    "MLP": ["--agent", "mlp-ppo"],
}
TIMEOUT_S = 1800


def rate(preset: str, flags: list[str], iterations: int) -> float:
    """The summary's env steps/s of a fresh one-seed ``rtrl train`` run."""
    from rtrl.agents import PPOConfig
    from rtrl.bench.runs import train_summary

    rollout = PPOConfig().rollout_size
    run = ["--preset", preset, *flags, "--seeds", "1", "--total-steps", str((iterations + 1) * rollout),
           "--checkpoint-every", "1000000"]
    return float(train_summary(run, TIMEOUT_S)["steps_per_second"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["rtu-paper/popgym-countrecall", "rtu-paper/hopper-p"],
                        help="rtu-paper presets to measure")
    parser.add_argument("--iterations", type=int, default=4, help="timed rollouts per run (default 4)")
    parser.add_argument("--csv", default="benchmarks/architecture_rates.csv")
    args = parser.parse_args()
    from rtrl.experiments.run_dir import write_csv

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    device = f"cpu {platform.processor() or platform.machine()}, {cpus} CPUs"
    rows = []
    for preset in args.envs:
        for label, flags in ARCHITECTURES.items():
            steps_per_s = rate(preset, flags, args.iterations)
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            hours = 5_000_000 / steps_per_s / 3600
            print(f"{preset:32s} {label:22s} {steps_per_s:9,.0f} env steps/s  5M steps: {hours:5.2f} h  "
                  f"load {load:.1f}", flush=True)
            rows.append({"preset": preset, "architecture": label, "steps_per_s": round(steps_per_s, 1),
                         "hours_per_5M_steps": round(hours, 3), "load_1min": round(load, 2), "device": device})
    if args.csv:
        write_csv(args.csv, rows)
        print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
