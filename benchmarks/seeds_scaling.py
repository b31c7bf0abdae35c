"""Total env steps/s of 1, 2, 4, 8 seeds of one `rtrl train` run: do seeds use the machine's cores?

    python benchmarks/seeds_scaling.py [--seeds 1 2 4 8] [--iterations 4] [--csv benchmarks/seeds_scaling.csv]

The case is Real-Time PPO with the ``rtu-paper/popgym-countrecall`` preset (jax/CountRecallEasy, linear RTU
of 192 units, rollout 2048, 4 epochs x 32 minibatches), short runs. Two kinds of row, named in ``path``:

- ``rtrl train``: a fresh ``rtrl train --preset rtu-paper/popgym-countrecall --seeds S`` process (the real
  command path: wrappers, logs, checkpoints); ``steps/s`` is its summary's figure (env steps/s of all seeds
  together, excluding the compiling iteration). On a CPU each seed is its own program and min(seeds, CPUs)
  of them run at once on threads (`rtrl.experiments.train_seeds`).
- ``one vmapped program``: the layout before (issue 13): every seed in ONE jitted ``vmap`` of the
  iteration, timed in this process (median of ``--iterations`` calls after the compiling one).

``ratio`` is a row's total over the one-seed total of the same path. Both paths are measured for each
seed count in turn, so the ratios come from one run of this script: on a machine shared with other
work the absolute figures drift with its load; compare ratios within one CSV, not across CSVs.

Target (issue 13): 8 seeds >= 1.5x one seed on the ``rtrl train`` path on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

PRESET = "rtu-paper/popgym-countrecall"


def measure_train(seeds: int, iterations: int) -> float:
    """A fresh `rtrl train` process of ``seeds`` seeds: its summary's total env steps/s."""
    from rtrl.agents import PPOConfig

    rollout = PPOConfig().rollout_size
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run")
        command = [sys.executable, "-m", "rtrl.cli", "train", "--preset", PRESET, "--seeds", str(seeds),
                   "--total-steps", str((iterations + 1) * rollout), "--out", out]
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode:
            raise RuntimeError(f"rtrl train exited {done.returncode}: {done.stderr[-500:]}")
        with open(os.path.join(out, "summary.json")) as f:
            return float(json.load(f)["steps_per_second"])


def measure_vmapped(seeds: int, iterations: int) -> float:
    """Total env steps/s of every seed in one jitted vmapped iteration (the layout before issue 13)."""
    import jax
    import jax.numpy as jnp

    from rtrl.experiments import training_presets
    from rtrl.experiments.train_config import load_config

    config = load_config({**training_presets.get(PRESET), "seeds": seeds})
    agent = config.make_agent()
    states = jax.jit(jax.vmap(agent.init))(jnp.stack([jax.random.PRNGKey(k) for k in range(seeds)]))
    iteration = jax.jit(jax.vmap(agent._iteration_reusing), donate_argnums=(1,))
    buffer = jax.jit(jax.vmap(agent.empty_rollout))(states)
    states, _, buffer = jax.block_until_ready(iteration(states, buffer))  # compiles
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        states, _, buffer = jax.block_until_ready(iteration(states, buffer))
        times.append(time.perf_counter() - t0)
    del states, buffer
    return seeds * config.agent_config.rollout_size / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--iterations", type=int, default=4, help="timed iterations per measurement (default 4)")
    parser.add_argument("--csv", default="benchmarks/seeds_scaling.csv")
    parser.add_argument("--only", choices=("train", "vmapped"), help="only one kind of row")
    args = parser.parse_args()
    from rtrl.experiments.run_dir import write_csv

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    device = f"cpu {platform.processor() or platform.machine()}, {cpus} CPUs"
    paths = {"rtrl train": measure_train, "one vmapped program": measure_vmapped}
    if args.only:
        paths = {k: v for k, v in paths.items() if (args.only == "train") == (k == "rtrl train")}
    rows, one_seed = [], {}
    print(f"{'path':22s} {'seeds':>5s} {'steps/s':>9s} {'ratio':>6s}  load")
    for seeds in args.seeds:
        for path, measure in paths.items():
            rate = measure(seeds, args.iterations)
            one_seed.setdefault(path, rate if seeds == 1 else float("nan"))
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            ratio = rate / one_seed[path]
            print(f"{path:22s} {seeds:5d} {rate:9.0f} {ratio:6.2f}  {load:.1f}", flush=True)
            rows.append({"path": path, "seeds": seeds, "steps_per_s": round(rate, 1), "ratio_to_1_seed": round(ratio, 3),
                         "load_1min": round(load, 2), "preset": PRESET, "device": device})
    if rows and args.csv:
        write_csv(args.csv, rows)
        print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
