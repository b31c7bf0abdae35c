"""Per-kernel times of Real-Time PPO's rollout and update (a developer tool; performance.md lever 5).

    XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true python benchmarks/profile_agent.py [--part update]

Prints the compiled XLA kernels (fusions) by total time per iteration, largest first.
"""

import argparse

import jax

import rtrl.envs
from rtrl import agents
from rtrl.bench.profile import kernel_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("rollout", "update", "iteration"), default="update")
    parser.add_argument("--agent", default="real-time-ppo")
    parser.add_argument("--cell", default="rtu-linear")
    parser.add_argument("--hidden", type=int, default=192)
    parser.add_argument("--env", default="jax/CountRecallEasy")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    config = agents.PPOConfig(agent=args.agent, cell=args.cell, hidden_size=args.hidden,
                              sequence_length=32 if args.agent == "tbptt-ppo" else None)
    agent = agents.make(config, rtrl.envs.make(args.env))
    state = agent.init(jax.random.PRNGKey(0))
    state, rollout = jax.block_until_ready(agent.rollout(state))
    run = {"rollout": lambda: agent.rollout(state), "update": lambda: agent.update(state, rollout),
           "iteration": lambda: agent.iteration(state)}[args.part]
    total, count = kernel_times(run)
    for name, microseconds in total.most_common(args.top):
        print(f"{microseconds / 1e3:9.2f} ms  {count[name]:7d} calls  {name[:110]}")


if __name__ == "__main__":
    main()
