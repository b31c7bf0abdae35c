"""Environment steps per second of the PPO agents on this machine: the user's path beside the bare agent.

    python benchmarks/real_time_ppo.py [--iterations 5] [--csv benchmarks/real_time_ppo.csv] [--quick]

Two kinds of row, named in the ``path`` column:

- ``rtrl train``: what ``rtrl train --env jax/CountRecallEasy`` runs with the paper's settings (PPOConfig
  defaults: one env, rollout 2048, 4 epochs x 32 minibatches, Adam 1e-4, exact float32 gradients; the standard
  wrapper stack; CSV and TensorBoard logs, checkpoints, progress), launched as a fresh ``rtrl train`` process.
  ``steps/s`` is the run's own summary figure (env steps/s, all seeds, excluding compilation); ``start-up`` is
  the wall time from launching the process to the end of its first (compiling) iteration, minus one steady
  iteration: import, config, env and agent set-up, initialisation and compilation.
- ``bare``: ``agent.iteration`` alone, jitted, without wrappers or logging (the previous benchmark), with the
  rollout and update timed apart; compile + first call reported apart.

Target (issue 10): >= 8,000 env steps/s on the ``rtrl train`` path for Real-Time PPO with a linear RTU of 192
units, and start-up under 10 s. The public implementation does about 1,070 steps/s here.
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

import jax

import rtrl.envs
from rtrl import agents
from rtrl.experiments.run_dir import write_csv

TARGET_CASE = "real-time-ppo rtu-linear n=192"


def cases(quick: bool) -> list[tuple[str, list[str], agents.PPOConfig, str, int]]:
    """(name, the `rtrl train` flags of the case, its PPOConfig, env, num_envs)."""
    gru_n = agents.hidden_size_for_budget("gru", 24_960)
    rows = [
        (TARGET_CASE, [], agents.PPOConfig(), "jax/CountRecallEasy", 1),
        ("real-time-ppo rtu-linear n=192 fresh grad", ["--gradient", "fresh"], agents.PPOConfig(gradient="fresh"),
         "jax/CountRecallEasy", 1),
        ("real-time-ppo rtu-nonlinear n=192", ["--cell", "rtu-nonlinear"], agents.PPOConfig(cell="rtu-nonlinear"),
         "jax/CountRecallEasy", 1),
        (f"tbptt-ppo gru n={gru_n} T=32",
         ["--agent", "tbptt-ppo", "--cell", "gru", "--hidden-size", str(gru_n), "--sequence-length", "32"],
         agents.PPOConfig(agent="tbptt-ppo", cell="gru", hidden_size=gru_n, sequence_length=32),
         "jax/CountRecallEasy", 1),
        ("mlp-ppo", ["--agent", "mlp-ppo"], agents.PPOConfig(agent="mlp-ppo"), "jax/CountRecallEasy", 1),
        ("real-time-ppo rtu-linear n=192 host", [], agents.PPOConfig(), "popgym/CountRecallEasy", 1),
    ]
    return rows[:1] if quick else rows


def measure_train(flags: list[str], env_name: str, iterations: int) -> dict:
    """A fresh `rtrl train` process on the case: its summary's steps/s and its start-up time (launch to the end of
    the first iteration, seen as the appearance of its first CSV row, minus one steady iteration)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run")
        command = [sys.executable, "-m", "rtrl.cli", "train", "--env", env_name,
                   "--total-steps", str((iterations + 1) * 2048), "--out", out, *flags]
        csv = os.path.join(out, "seed_0.csv")
        t0 = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        first_row = None
        while process.poll() is None:
            if first_row is None and os.path.exists(csv):
                first_row = time.perf_counter() - t0
            time.sleep(0.01)
        if process.returncode:
            raise RuntimeError(f"rtrl train exited {process.returncode}: {process.stderr.read()[-500:]}")
        with open(os.path.join(out, "summary.json")) as f:
            rate = json.load(f)["steps_per_second"]
        return {"steps_per_s": rate, "startup_s": first_row - 2048 / rate, "process_s": time.perf_counter() - t0}


def measure_bare(config: agents.PPOConfig, env_name: str, num_envs: int, iterations: int) -> dict:
    env = rtrl.envs.make(env_name, num_envs=num_envs) if env_name.startswith("popgym/") else rtrl.envs.make(env_name)
    agent = agents.make(config, env)
    state = agent.init(jax.random.PRNGKey(0))
    t0 = time.perf_counter()
    state, metrics = jax.block_until_ready(agent.iteration(state))
    first = time.perf_counter() - t0
    totals, rollouts, updates = [], [], []
    for _ in range(iterations):
        t0 = time.perf_counter()
        state, ro = jax.block_until_ready(agent.rollout(state))
        t1 = time.perf_counter()
        state, metrics = jax.block_until_ready(agent.update(state, ro))
        t2 = time.perf_counter()
        rollouts.append(t1 - t0)
        updates.append(t2 - t1)
        del ro
    if agent.jax_native:  # the fused single-call iteration, as used in training
        for _ in range(iterations):
            t0 = time.perf_counter()
            state, metrics = jax.block_until_ready(agent.iteration(state))
            totals.append(time.perf_counter() - t0)
    else:
        totals = [r + u for r, u in zip(rollouts, updates)]
    total = statistics.median(totals)
    return {"steps_per_s": config.rollout_size / total, "rollout_s": statistics.median(rollouts),
            "update_s": statistics.median(updates), "first_call_s": first, "rollout_mb": agent.rollout_bytes() / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=5, help="timed iterations per case (default 5)")
    parser.add_argument("--csv", default="benchmarks/real_time_ppo.csv")
    parser.add_argument("--quick", action="store_true", help="only the Real-Time PPO target case")
    parser.add_argument("--only", choices=("train", "bare"), help="only one kind of row")
    args = parser.parse_args()
    device = f"{jax.devices()[0].platform} {platform.processor() or platform.machine()}"
    rows = []
    print(f"{'case':44s} {'env':24s} {'path':10s} {'steps/s':>8s} {'start-up s':>10s} {'rollout s':>9s} "
          f"{'update s':>8s} {'compile s':>9s}")
    for name, flags, config, env_name, num_envs in cases(args.quick):
        for path in ("rtrl train", "bare"):
            if args.only and not path.endswith(args.only):
                continue
            try:
                if path == "bare":
                    r = measure_bare(config, env_name, num_envs, args.iterations)
                else:
                    r = measure_train(flags, env_name, args.iterations)
            except Exception as e:  # e.g. popgym missing: report and go on
                print(f"{name:44s} {env_name:24s} {path:10s} failed: {e}")
                continue
            print(f"{name:44s} {env_name:24s} {path:10s} {r['steps_per_s']:8.0f} "
                  f"{r.get('startup_s', float('nan')):10.1f} {r.get('rollout_s', float('nan')):9.3f} "
                  f"{r.get('update_s', float('nan')):8.3f} {r.get('first_call_s', float('nan')):9.1f}", flush=True)
            rows.append({"what": name, "env": env_name, "path": path, "device": device, "mode": config.agent,
                         **{k: round(v, 4) for k, v in r.items()}})
    if rows and args.csv:
        columns = list(dict.fromkeys(k for row in rows for k in row))
        write_csv(args.csv, [{k: row.get(k, "") for k in columns} for row in rows])
        print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
