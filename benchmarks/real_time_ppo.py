"""Environment steps per second of the PPO agents on this machine (printed table + CSV).

    python benchmarks/real_time_ppo.py [--iterations 3] [--csv benchmarks/real_time_ppo.csv] [--quick]

Cases (paper settings: rollout 2048 per env, 4 epochs × 32 minibatches, exact float32 gradients):
Real-Time PPO with a linear RTU of 192 units on JAX-native jax/CountRecallEasy (target ≥ 4,000
steps/s on the 2-core CPU; the public code does ≈1,070), T-BPTT PPO with a GRU at the same
recurrent-parameter budget, memoryless PPO, and the popgym host loop (one jitted policy call per
env step). Each case is compiled and run once (compile time reported apart), then timed over
``--iterations`` iterations with block_until_ready; the median is reported.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import jax

import rtrl.envs
from rtrl import agents
from rtrl.experiments.run_dir import write_csv


def cases(quick: bool) -> list[tuple[str, agents.PPOConfig, str, int]]:
    gru_n = agents.hidden_size_for_budget("gru", 24_960)
    rows = [
        ("real-time-ppo rtu-linear n=192", agents.PPOConfig(agent="real-time-ppo", cell="rtu-linear", hidden_size=192),
         "jax/CountRecallEasy", 1),
        ("real-time-ppo rtu-linear n=192 fresh grad",
         agents.PPOConfig(agent="real-time-ppo", cell="rtu-linear", hidden_size=192, gradient="fresh"),
         "jax/CountRecallEasy", 1),
        ("real-time-ppo rtu-nonlinear n=192",
         agents.PPOConfig(agent="real-time-ppo", cell="rtu-nonlinear", hidden_size=192), "jax/CountRecallEasy", 1),
        (f"tbptt-ppo gru n={gru_n} T=32",
         agents.PPOConfig(agent="tbptt-ppo", cell="gru", hidden_size=gru_n, sequence_length=32),
         "jax/CountRecallEasy", 1),
        ("mlp-ppo", agents.PPOConfig(agent="mlp-ppo"), "jax/CountRecallEasy", 1),
        ("real-time-ppo rtu-linear n=192 host", agents.PPOConfig(agent="real-time-ppo", cell="rtu-linear",
                                                                 hidden_size=192), "popgym/CountRecallEasy", 1),
        ("real-time-ppo rtu-linear n=192 host 8 envs",
         agents.PPOConfig(agent="real-time-ppo", cell="rtu-linear", hidden_size=192, num_envs=8, num_steps=256),
         "popgym/CountRecallEasy", 8),
    ]
    return rows[:1] if quick else rows


def measure(config: agents.PPOConfig, env_name: str, num_envs: int, iterations: int) -> dict:
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
    steps = config.rollout_size
    total = statistics.median(totals)
    return {"steps_per_s": steps / total, "iteration_s": total, "rollout_s": statistics.median(rollouts),
            "update_s": statistics.median(updates), "first_call_s": first,
            "rollout_mb": agent.rollout_bytes() / 1e6, "params": agent.parameter_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--csv", default="benchmarks/real_time_ppo.csv")
    parser.add_argument("--quick", action="store_true", help="only the Real-Time PPO target case")
    args = parser.parse_args()
    device = f"{jax.devices()[0].platform} {platform.processor() or platform.machine()}"
    rows = []
    header = f"{'case':44s} {'env':24s} {'steps/s':>8s} {'iter s':>7s} {'rollout':>8s} {'update':>7s} " \
             f"{'compile':>8s} {'rollout MB':>10s} {'params (total, rec)':>20s}"
    print(header)
    for name, config, env_name, num_envs in cases(args.quick):
        try:
            r = measure(config, env_name, num_envs, args.iterations)
        except Exception as e:  # e.g. popgym missing: report and go on
            print(f"{name:44s} {env_name:24s} failed: {e}")
            continue
        print(f"{name:44s} {env_name:24s} {r['steps_per_s']:8.0f} {r['iteration_s']:7.3f} {r['rollout_s']:8.3f} "
              f"{r['update_s']:7.3f} {r['first_call_s']:8.1f} {r['rollout_mb']:10.1f} {str(r['params']):>20s}",
              flush=True)
        rows.append({"what": name, "env": env_name, "device": device, "mode": config.agent,
                     "steps_per_s": round(r["steps_per_s"], 1), "iteration_s": round(r["iteration_s"], 4),
                     "rollout_s": round(r["rollout_s"], 4), "update_s": round(r["update_s"], 4),
                     "compile_and_first_s": round(r["first_call_s"], 2), "rollout_mb": round(r["rollout_mb"], 1),
                     "params_total": r["params"][0], "params_recurrent": r["params"][1]})
    if rows and args.csv:
        write_csv(args.csv, rows)
        print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
