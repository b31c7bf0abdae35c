"""How close a host environment's training run comes to the environment's own speed (issue 13, item 4).

    python benchmarks/host_envs.py [--env mujoco/Hopper-P] [--num-envs 1 8] [--steps 4096] [--repeats 3]
                                   [--csv benchmarks/host_envs.csv]

Measured in one script, so that the ratios hold on a busy machine (the rows of one repeat run back to
back, and the figure of each row is its median over the repeats):

(a) ``bare gymnasium``: the gymnasium env itself (``gymnasium.make("Hopper-v5")`` for ``mujoco/Hopper-P``),
    ``num_envs`` copies stepped in a Python loop with random actions, reset where an episode ends;
(b) ``rtrl env + wrappers``: the env ``rtrl train`` builds (`TrainConfig.make_env`: ``rtrl.envs.make``,
    the -P observation mask and the standard wrapper stack), stepped with the same kind of actions;
(c) ``rtrl train``: what ``rtrl train --env mujoco/Hopper-P --num-envs N --num-steps 2048/N`` runs with
    Real-Time PPO's defaults otherwise (rollout 2048, 4 epochs x 32 minibatches, RTU 192; N = 1 is the
    default command), launched as a fresh process; the figure is the run's own summary (env steps/s
    excluding compilation: rollouts and updates);
(c') ``host rollout``: the rollout half of (c) alone (the policy call per step and the env), in process.

Each ``--num-envs`` value N gets its own rows (N envs per seed: one policy call serves N env steps; the
rollout stays 2048 transitions). Every row is env steps per second (all envs), and ``ratio_to_bare`` is
the row over (a) of the same N (N bare envs in a loop: one env's rate);
``cpu_us_per_step`` is the process's CPU time (all threads) per env step of the in-process rows, a
figure that a busy machine disturbs less than the wall clock. The target
of issue 13 is (c)/(a) >= 0.8. ``--envpool`` adds, when envpool is installed: (d) envpool's
``Hopper-v5`` in a bare loop (C++ MuJoCo, the batch in one call, no same-step auto-reset), (be) the
env ``rtrl train`` builds with ``--env-options '{backend: envpool}'`` (`rtrl.envs.envpool_mujoco`) and
(ce) that ``rtrl train`` run; each is also a ratio to (a), the bare gymnasium loop.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import time

import numpy as np

GYMNASIUM_IDS = {"Hopper": "Hopper-v5", "Walker2d": "Walker2d-v5", "HalfCheetah": "HalfCheetah-v5",
                 "Ant": "Ant-v5"}


def gymnasium_id(env_name: str) -> str:
    """The gymnasium id under an ``mujoco/<Robot>[-P|-V]`` name."""
    robot = env_name.removeprefix("mujoco/").split("-")[0]
    if robot not in GYMNASIUM_IDS:
        raise SystemExit(f"--env must be mujoco/<Robot>[-P|-V] with a robot of {sorted(GYMNASIUM_IDS)}, "
                         f"got {env_name}")
    return GYMNASIUM_IDS[robot]


def random_actions(low: np.ndarray, high: np.ndarray, steps: int, num_envs: int) -> np.ndarray:
    """Uniform actions in the bounds, drawn beforehand so that only the environment is timed."""
    rng = np.random.default_rng(0)
    return rng.uniform(low, high, (steps, num_envs) + low.shape).astype(np.float32)


def bare_gymnasium(env_id: str, num_envs: int, steps: int) -> tuple[float, float]:
    """(a) env steps/s of ``num_envs`` gymnasium envs in a Python loop."""
    import gymnasium as gym

    kwargs = {"include_cfrc_ext_in_observation": False} if env_id.startswith("Ant") else {}
    envs = [gym.make(env_id, **kwargs) for _ in range(num_envs)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    space = envs[0].action_space
    actions = random_actions(space.low, space.high, steps, num_envs)
    t0, c0 = time.perf_counter(), time.process_time()
    for row in actions:
        for env, a in zip(envs, row):
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    for env in envs:
        env.close()
    return steps * num_envs / seconds, cpu / (steps * num_envs)


def rtrl_env(config, steps: int) -> tuple[float, float]:
    """(b) env steps/s of the wrapped host env ``rtrl train`` builds for ``config``."""
    env = config.make_env()
    env.reset(seed=0)
    space = env.action_space
    low, high = np.maximum(space.low_array, -1.0), np.minimum(space.high_array, 1.0)
    actions = random_actions(low, high, steps, env.num_envs)
    t0, c0 = time.perf_counter(), time.process_time()
    for a in actions:
        env.step(a)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    env.close()
    return steps * env.num_envs / seconds, cpu / (steps * env.num_envs)


class Rollouts:
    """(c') the host rollout of the agent ``rtrl train`` builds (compiled once, then timed per rollout)."""

    def __init__(self, config):
        import jax

        self.agent = config.make_agent()
        state = self.agent.init(jax.random.PRNGKey(0))
        self.states = jax.tree.map(lambda x: x[None], state)  # one seed, as rtrl train runs it
        self.last = None  # the last rollout, written over by the next one, as rtrl train does
        self.run()  # compile

    def run(self) -> tuple[float, float]:
        import jax

        t0, c0 = time.perf_counter(), time.process_time()
        self.states, self.last = self.agent.host_rollout_seeds(self.states, [self.agent.env], self.last)
        jax.block_until_ready(self.last)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        size = self.agent.config.rollout_size
        return size / seconds, cpu / size


def rtrl_train(env_name: str, iterations: int, rollout_size: int, num_envs: int,
               env_options: str = "") -> tuple[float, float]:
    """(c) the summary's env steps/s of a fresh ``rtrl train`` process (first, compiling iteration excluded)."""
    from rtrl.bench.runs import train_summary

    flags = ["--env", env_name, "--num-envs", str(num_envs), "--num-steps", str(rollout_size // num_envs),
             "--total-steps", str((iterations + 1) * rollout_size), "--checkpoint-every", "1000000",
             *(["--env-options", env_options] if env_options else [])]
    return float(train_summary(flags)["steps_per_second"]), math.nan  # its CPU time would include compiling


def envpool_bare(env_id: str, num_envs: int, steps: int) -> tuple[float, float] | None:
    """envpool's MuJoCo ``env_id`` stepped with random actions (None where envpool is missing)."""
    try:
        import envpool
    except ImportError:
        return None
    env = envpool.make_gymnasium(env_id, num_envs=num_envs, seed=0)
    env.reset()
    space = env.action_space
    actions = random_actions(space.low, space.high, steps, num_envs)
    t0, c0 = time.perf_counter(), time.process_time()
    for a in actions:
        env.step(a)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    env.close()
    return steps * num_envs / seconds, cpu / (steps * num_envs)


def measure(args: argparse.Namespace, env_id: str, num_envs: int) -> list[dict]:
    """Every row for ``num_envs`` envs per seed: each repeat runs the rows back to back."""
    from rtrl.agents import PPOConfig
    from rtrl.experiments.train_config import TrainConfig

    rollout = PPOConfig().rollout_size
    if rollout % num_envs:
        raise SystemExit(f"--num-envs {num_envs} must divide the rollout of {rollout} transitions")
    # Real-Time PPO's defaults, as `rtrl train --env ENV --num-envs N --num-steps 2048/N`
    config = TrainConfig(env=args.env, ppo=PPOConfig(num_envs=num_envs, num_steps=rollout // num_envs))
    on_envpool = dataclasses.replace(config, env_options={"backend": "envpool"})
    rollouts = Rollouts(config)
    names = {"a": "bare gymnasium", "b": "rtrl env + wrappers", "c'": "host rollout", "c": "rtrl train",
             "d": "envpool bare", "be": "rtrl env, envpool", "ce": "rtrl train, envpool"}
    measured: dict[str, list[tuple[float, float]]] = {key: [] for key in names}
    for repeat in range(args.repeats):
        measured["a"].append(bare_gymnasium(env_id, num_envs, args.steps))
        measured["b"].append(rtrl_env(config, args.steps))
        measured["c'"].append(rollouts.run())
        if not args.no_train:
            measured["c"].append(rtrl_train(args.env, args.iterations, rollout, num_envs))
        if args.envpool:
            result = envpool_bare(env_id, num_envs, args.steps)
            if result is not None:
                measured["d"].append(result)
                measured["be"].append(rtrl_env(on_envpool, args.steps))
                if not args.no_train:
                    measured["ce"].append(rtrl_train(args.env, args.iterations, rollout, num_envs,
                                                     "{backend: envpool}"))
        print(f"repeat {repeat + 1}/{args.repeats}: "
              + ", ".join(f"({k}) {v[-1][0]:,.0f}" for k, v in measured.items() if len(v) > repeat), flush=True)

    bare = statistics.median(rate for rate, _ in measured["a"])
    rows = []
    print(f"\n{args.env}, {num_envs} env(s); env steps/s and CPU time per env step (all threads), "
          f"medians of {args.repeats}")
    for key, values in measured.items():
        if not values:
            continue
        rate = statistics.median(r for r, _ in values)
        cpu = statistics.median(c for _, c in values) * 1e6
        rows.append({"row": key, "what": names[key], "env": args.env, "num_envs": num_envs,
                     "steps_per_s": round(rate, 1), "ratio_to_bare": round(rate / bare, 4),
                     "cpu_us_per_step": "" if math.isnan(cpu) else round(cpu, 1),
                     "runs": " ".join(f"{r:.0f}" for r, _ in values)})
        shown = "" if math.isnan(cpu) else f"{cpu:8.0f} us CPU/step"
        print(f"({key:2s}) {names[key]:22s} {rate:10,.0f}   {rate / bare:6.1%} of (a)  {shown}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="mujoco/Hopper-P", help="a mujoco/<Robot>[-P|-V] name")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1],
                        help="envs per seed, one set of rows each (each must divide 2048; default 1)")
    parser.add_argument("--steps", type=int, default=4096, help="steps per env of rows (a) and (b) per repeat")
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations of the rtrl train run (c)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of every row (medians reported)")
    parser.add_argument("--no-train", action="store_true", help="leave out row (c), the rtrl train process")
    parser.add_argument("--envpool", action="store_true",
                        help="add envpool's MuJoCo (bare loop, rtrl's env and rtrl train on it), if installed")
    parser.add_argument("--csv", default="benchmarks/host_envs.csv", help="where to write the CSV ('' for none)")
    args = parser.parse_args()

    env_id = gymnasium_id(args.env)
    rows = []
    for num_envs in args.num_envs:
        rows += measure(args, env_id, num_envs)
    if args.csv:
        from rtrl.experiments.run_dir import write_csv

        write_csv(args.csv, rows)
        print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
