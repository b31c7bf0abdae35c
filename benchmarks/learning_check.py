"""Learning check: Real-Time PPO (nonlinear RTU) vs memoryless PPO on a POPGym memory task.

    python benchmarks/learning_check.py --agent real-time-ppo --cell rtu-nonlinear --steps 500000
    python benchmarks/learning_check.py --agent mlp-ppo --steps 500000

Prints the mean return of the episodes finished in each reporting window and writes a CSV row per
report (env steps, mean return). RepeatFirstEasy needs memory: the answer is the first card, so a
memoryless policy is at chance (negative mean return), while a recurrent one can reach ≈1.
"""

from __future__ import annotations

import argparse
import time

import jax

import rtrl.envs
from rtrl import agents
from rtrl.experiments.run_dir import write_csv


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="jax/RepeatFirstEasy")
    p.add_argument("--agent", default="real-time-ppo")
    p.add_argument("--cell", default="rtu-nonlinear")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--num-steps", type=int, default=256)
    p.add_argument("--minibatches", type=int, default=32)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--r-min", type=float, default=None, help="RTU/LRU eigenvalue ring: smallest |λ| at init")
    p.add_argument("--max-phase", type=float, default=None, help="RTU/LRU eigenvalue ring: largest phase at init")
    p.add_argument("--sequence-length", type=int, default=None)
    p.add_argument("--encoder", type=int, nargs="*", default=[64], help="encoder layer sizes (none: the raw input)")
    p.add_argument("--steps", type=int, default=500_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--report", type=int, default=10, help="iterations per printed line")
    p.add_argument("--wrappers", choices=("none", "standard", "standard-prev-action", "standard-no-prev"),
                   default="standard-prev-action",
                   help="rtrl.envs.wrappers.standard (obs/reward normalisation, previous action + reward); "
                        "with the previous action only (the default: no reward feedback for a memoryless "
                        "policy to exploit); with neither; or no wrappers")
    p.add_argument("--csv", default=None)
    a = p.parse_args()
    config = agents.PPOConfig(agent=a.agent, cell=a.cell, hidden_size=a.hidden, num_envs=a.num_envs,
                              num_steps=a.num_steps, num_minibatches=a.minibatches, update_epochs=a.epochs,
                              learning_rate=a.lr, sequence_length=a.sequence_length, encoder=tuple(a.encoder),
                              cell_options={k: v for k, v in (("r_min", a.r_min), ("max_phase", a.max_phase))
                                            if v is not None})
    env = rtrl.envs.make(a.env)
    if a.wrappers != "none":
        env = rtrl.envs.wrappers.standard(env, previous_action_and_reward=a.wrappers == "standard")
        if a.wrappers == "standard-prev-action":
            env = rtrl.envs.wrappers.previous_action_reward(env, reward=False)
    agent = agents.make(config, env)
    state = agent.init(jax.random.PRNGKey(a.seed))
    iterations = max(1, a.steps // config.rollout_size)
    rows, window, t0 = [], [], time.perf_counter()
    for i in range(iterations):
        state, m = agent.iteration(state)
        m = agents.to_numpy(m)
        if m["episodes"] > 0:
            window.append((m["episode_return"], m["episodes"]))
        if (i + 1) % a.report == 0 or i + 1 == iterations:
            ret = sum(r * n for r, n in window) / max(sum(n for _, n in window), 1)
            steps = int(m["env_steps"])
            print(f"{steps:9d} steps  return {ret:+.3f}  kl {m['approx_kl']:.4f}  ev {m['explained_variance']:+.2f}  "
                  f"{time.perf_counter() - t0:6.0f} s", flush=True)
            rows.append({"env_steps": steps, "mean_return": ret, "agent": a.agent, "cell": a.cell,
                         "seed": a.seed, "lr": a.lr})
            window = []
    print(f"final mean return {rows[-1]['mean_return']:+.3f} after {rows[-1]['env_steps']} steps "
          f"({a.agent}, {a.cell if a.agent != 'mlp-ppo' else 'no cell'}, seed {a.seed})")
    if a.csv:
        write_csv(a.csv, rows)


if __name__ == "__main__":
    main()
