"""Where R2AC's time goes per frame, and how well its actors overlap its learner (issue 12, Deliver 8).

    python benchmarks/r2ac_overlap.py [--env popgym/RepeatPreviousEasy jax/RepeatPreviousEasy atari/Pong]
        [--env-options '{frame_stack: 4}'] [--cell elstm] [--hidden-size 256] [--num-envs 16] [--unroll 50] [--iterations 20]
        [--gradient rtrl] [--repeats 3] [--csv benchmarks/r2ac_overlap.csv]

Every measurement is on the objects ``rtrl train --agent r2ac`` builds (`TrainConfig.make_agent`,
the standard wrapper stack, `rtrl.experiments.train_seeds`; one seed), after a warm-up iteration
that compiles, and fetches each iteration's result as the training loop does; each is timed
``--repeats`` times over ``--iterations`` iterations and the best rate kept. Rates are env steps per
second (N envs × M steps per iteration):

  env        the environments alone, stepped with random actions (host: ``env.step`` in a loop;
             JAX-native: one jitted scan of M steps)
  actors     the actors alone: env + the network's inference with RTRL traces (host: the lockstep
             loop, one jitted network step per env step; JAX-native: the jitted `act`)
  learner    the learner alone: `learn` repeated on one stored segment (targets, RTRL/T-BPTT gradient,
             RMSProp)
  lag 0      the whole agent, synchronous: a segment, then an update
  lag 1      the whole agent with the actors on their own thread overlapping the learner (the pipeline
             ``rtrl train`` runs for lag >= 1)

Per frame it prints µs in the env (1/env), in the actors' inference (1/actors − 1/env) and in learning
(1/learner), and the overlap efficiency  lag-1 rate / min(actors rate, learner rate)  (the issue's
target: >= 80%; 100% means the slower half never waits for the faster). Logging and checkpoints,
which ``rtrl train`` adds, are not included. Envs whose extra is missing, or that the agent cannot take
(pixel observations without a vision stem), are skipped with the reason.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import yaml

from rtrl.agents import R2ACConfig
from rtrl.envs.jax_env import JaxEnv, VmapEnv
from rtrl.envs.spaces import Box, Discrete
from rtrl.experiments import train_seeds
from rtrl.experiments.run_dir import write_csv
from rtrl.experiments.train_config import TrainConfig

DEFAULT_ENVS = ("popgym/RepeatPreviousEasy", "jax/RepeatPreviousEasy", "atari/Pong")


REPEATS = [3]  # timed repeats of each measurement (--repeats); the best is kept: the least disturbed by other work


def rate(fn: Callable[[], Any], iterations: int, steps_per_call: int) -> float:
    """Env steps per second of ``fn`` (one iteration, its result fetched) after one warm-up call that
    compiles: the best of `REPEATS` timings of ``iterations`` calls."""
    jax.block_until_ready(fn())
    best = 0.0
    for _ in range(REPEATS[0]):
        start = time.perf_counter()
        for _ in range(iterations):
            jax.block_until_ready(fn())
        best = max(best, iterations * steps_per_call / (time.perf_counter() - start))
    return best


def random_actions(space: Any, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if isinstance(space, Discrete):
        return rng.integers(0, space.n, size=shape).astype(np.int32)
    assert isinstance(space, Box)
    return rng.uniform(space.low_array, space.high_array, size=shape + space.shape).astype(np.float32)


def env_alone(config: TrainConfig, iterations: int) -> float:
    """The environments of one seed stepped with random actions, M × N steps per iteration."""
    c = config.agent_config
    env = config.make_env()
    m, n = c.unroll, c.num_envs
    if isinstance(env, JaxEnv):
        batched = VmapEnv(env, n)

        @jax.jit
        def segment(state, key):
            def step(s, k):
                k_act, k_env = jax.random.split(k)
                space = batched.action_space
                if isinstance(space, Discrete):
                    action = jax.random.randint(k_act, (n,), 0, space.n)
                else:
                    action = jax.random.uniform(k_act, (n,) + space.shape, minval=space.low_array,
                                                maxval=space.high_array)
                s, _, reward, _, _ = batched.step(s, action, k_env)
                return s, reward.sum()
            return jax.lax.scan(step, state, jax.random.split(key, m))

        state, _ = batched.reset(jax.random.PRNGKey(0))
        box = [state, jax.random.PRNGKey(1)]

        def run():
            box[1], key = jax.random.split(box[1])
            box[0], total = segment(box[0], key)
            return total

        return rate(run, iterations, m * n)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    actions = [random_actions(env.action_space, (n,), rng) for _ in range(m)]

    def run():
        for a in actions:
            env.step(a)

    try:
        return rate(run, iterations, m * n)
    finally:
        env.close()


def halves(seeds: train_seeds.Seeds, iterations: int) -> tuple[float, float]:
    """(actors alone, learner alone) of one seed, on the run's own agent and envs."""
    agent = seeds.agent
    steps = agent.config.rollout_size
    states = seeds.init()
    if agent.jax_native:
        act = jax.jit(jax.vmap(agent._act))
    else:
        def act(s):
            return agent.act_seeds(s, seeds.envs)
    box = [states]

    def actors():
        box[0], segment = act(box[0])
        return segment

    actors_rate = rate(actors, iterations, steps)
    segment = actors()
    learn = jax.jit(jax.vmap(agent._learn))
    learner_box = [box[0]]

    def learner():
        learner_box[0], metrics = learn(learner_box[0], segment)
        return metrics

    return actors_rate, rate(learner, iterations, steps)


def whole(config: TrainConfig, iterations: int, overlap: bool = True) -> float:
    """The whole agent of ``config`` as `rtrl train` runs it (train_seeds), one seed."""
    seeds = train_seeds.make(config, overlap=overlap)
    box = [seeds.init()]

    def run():
        box[0], metrics = seeds.iteration(box[0])
        return jax.device_get(metrics)

    try:
        return rate(run, iterations, config.agent_config.rollout_size)
    finally:
        for env in seeds.envs or []:
            env.close()


def measure(env_name: str, args: argparse.Namespace) -> dict[str, Any] | str:
    """One env's row, or the reason it was skipped."""
    r2ac = R2ACConfig(cell=args.cell, hidden_size=args.hidden_size, num_envs=args.num_envs, unroll=args.unroll,
                      gradient=args.gradient)
    steps = r2ac.rollout_size * (args.iterations + 2) * 4
    try:
        config = TrainConfig(env=env_name, env_options=yaml.safe_load(args.env_options) or {}, total_steps=steps,
                             r2ac=r2ac)
        seeds = train_seeds.make(config)
    except (ValueError, TypeError, ImportError) as e:  # a missing extra, an env the agent cannot take: say why
        return f"{type(e).__name__}: {e}"
    try:
        env_rate = env_alone(config, args.iterations)
        actors_rate, learner_rate = halves(seeds, args.iterations)
    finally:
        for env in seeds.envs or []:
            env.close()
    lag0 = whole(config, args.iterations)
    lagged = dataclasses.replace(config, r2ac=dataclasses.replace(config.r2ac, lag=1))
    lag1 = whole(lagged, args.iterations)
    lag1_one_thread = whole(lagged, args.iterations, overlap=False)
    us = {"env_us": 1e6 / env_rate, "actor_inference_us": max(1e6 / actors_rate - 1e6 / env_rate, 0.0),
          "learning_us": 1e6 / learner_rate}
    slower = min(actors_rate, learner_rate)
    return {"env": env_name, "env_options": args.env_options, "cell": args.cell, "gradient": args.gradient, "hidden_size": args.hidden_size,
            "num_envs": args.num_envs, "unroll": args.unroll, "iterations": args.iterations, "repeats": args.repeats,
            "env_steps_per_s": env_rate, "actors_steps_per_s": actors_rate, "learner_steps_per_s": learner_rate,
            "lag0_steps_per_s": lag0, "lag1_steps_per_s": lag1, "lag1_one_thread_steps_per_s": lag1_one_thread,
            **us, "overlap_efficiency": lag1 / slower, "lag0_efficiency": lag0 / slower,
            "speedup_lag1_over_lag0": lag1 / lag0, "device": jax.devices()[0].platform,
            "cpus": os.cpu_count(), "machine": platform.processor() or platform.machine()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", nargs="+", default=list(DEFAULT_ENVS), help="environments (rtrl.envs names)")
    parser.add_argument("--env-options", default="{}",
                        help="YAML mapping of env options for every --env, e.g. '{frame_stack: 4}' (Irie et al.'s Atari)")
    parser.add_argument("--cell", default="elstm")
    parser.add_argument("--gradient", default="rtrl", choices=("rtrl", "tbptt", "none"))
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--unroll", type=int, default=50)
    parser.add_argument("--iterations", type=int, default=20, help="timed iterations of each measurement")
    parser.add_argument("--repeats", type=int, default=3, help="timings of each measurement; the best is kept")
    parser.add_argument("--csv", default="benchmarks/r2ac_overlap.csv")
    args = parser.parse_args(argv)
    REPEATS[0] = args.repeats
    rows = []
    for name in args.env:
        row = measure(name, args)
        if isinstance(row, str):
            print(f"{name}: skipped ({row})", file=sys.stderr)
            continue
        rows.append(row)
        print(f"{name}: R2AC {args.cell} n={args.hidden_size} ({args.gradient}), N={args.num_envs}, "
              f"M={args.unroll}; env steps/s: env {row['env_steps_per_s']:,.0f}, actors "
              f"{row['actors_steps_per_s']:,.0f}, learner {row['learner_steps_per_s']:,.0f}, whole lag 0 "
              f"{row['lag0_steps_per_s']:,.0f}, lag 1 overlapped {row['lag1_steps_per_s']:,.0f} (one thread "
              f"{row['lag1_one_thread_steps_per_s']:,.0f})")
        print(f"  per frame: {row['env_us']:.1f} µs env, {row['actor_inference_us']:.1f} µs actor inference, "
              f"{row['learning_us']:.1f} µs learning; lag 1 / min(actors, learner) = "
              f"{100 * row['overlap_efficiency']:.0f}% (target >= 80%), lag 0: {100 * row['lag0_efficiency']:.0f}%")
    if rows:
        write_csv(args.csv, rows)
        print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
