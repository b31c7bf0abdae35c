"""Compile time and steps per second of ``mjx/<Robot>-P`` (MJX, inside ``lax.scan``), beside the host MuJoCo.

    python benchmarks/mjx.py                                  # Hopper-P and HalfCheetah-P, 1 and 8 envs
    python benchmarks/mjx.py --robots Hopper --num-envs 1 4 --steps 200 --csv mjx.csv
    python benchmarks/mjx.py --num-envs 1 64 1024 4096        # on a GPU

For each robot and each number of vmapped envs, one jitted ``lax.scan`` of ``--steps`` environment steps
(uniform random actions drawn beforehand, auto-reset included) is compiled ("compile_s": tracing,
lowering and XLA's compilation, measured apart) and then timed on its second call, after
``block_until_ready``. "steps_per_s" counts the steps of all envs together. For reference the same
robot's ``mujoco/<Robot>-P`` (gymnasium's C MuJoCo, host, one env) is timed over the same number of steps.
Needs the mjx extra (``pip install -e '.[mjx]'``).
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import asdict, dataclass

import jax
import numpy as np

import rtrl.envs as E
from rtrl.experiments.run_dir import write_csv


@dataclass(frozen=True)
class Row:
    env: str
    num_envs: int
    steps: int  # environment steps (all envs together)
    seconds: float
    steps_per_s: float
    compile_s: float
    device: str


def _device() -> str:
    d = jax.devices()[0]
    return f"{d.platform}:{platform.processor() or platform.machine()}"


def bench_mjx(name: str, num_envs: int, steps: int) -> Row:
    """``steps`` steps of ``num_envs`` vmapped copies of ``name`` in one jitted ``lax.scan``."""
    env = E.make(name, num_envs=num_envs)
    space = env.action_space
    actions = jax.random.uniform(jax.random.PRNGKey(1), (steps, num_envs) + space.shape,
                                 minval=space.low_array, maxval=space.high_array)

    def run(key, actions):
        state, _ = env.reset(key)

        def body(carry, action):
            state, key = carry
            key, step_key = jax.random.split(key)
            state, obs, reward, done, _ = env.step(state, action, step_key)
            return (state, key), reward

        return jax.lax.scan(body, (state, key), actions)[1].sum()

    key = jax.random.PRNGKey(0)
    start = time.perf_counter()
    compiled = jax.jit(run).trace(key, actions).lower().compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(key, actions))  # first call: allocations
    start = time.perf_counter()
    jax.block_until_ready(compiled(key, actions))
    seconds = time.perf_counter() - start
    return Row(name, num_envs, steps * num_envs, seconds, steps * num_envs / seconds, compile_s, _device())


def bench_host(name: str, steps: int) -> Row:
    """``steps`` steps of the host env ``name`` (one env), random actions drawn beforehand."""
    env = E.make(name)
    space = env.action_space
    actions = np.random.default_rng(1).uniform(space.low_array, space.high_array,
                                               (steps, 1) + space.shape).astype(np.float32)
    env.reset(seed=0)
    start = time.perf_counter()
    for action in actions:
        env.step(action)
    seconds = time.perf_counter() - start
    return Row(name, 1, steps, seconds, steps / seconds, 0.0, "host:" + (platform.processor() or platform.machine()))


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--robots", nargs="+", default=["Hopper", "HalfCheetah"],
                        choices=["Hopper", "Walker2d", "HalfCheetah", "Ant"])
    parser.add_argument("--num-envs", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--steps", type=int, default=500, help="environment steps per env (default 500)")
    parser.add_argument("--csv", help="write the rows to this CSV file")
    args = parser.parse_args(argv)
    rows = []
    print(f"{'env':<22}{'envs':>6}{'steps':>9}{'steps/s':>12}{'compile s':>11}  device")
    for robot in args.robots:
        for num_envs in args.num_envs:
            rows.append(bench_mjx(f"mjx/{robot}-P", num_envs, args.steps))
            r = rows[-1]
            print(f"{r.env:<22}{r.num_envs:>6}{r.steps:>9}{r.steps_per_s:>12,.0f}{r.compile_s:>11.1f}  {r.device}")
        rows.append(bench_host(f"mujoco/{robot}-P", args.steps))
        r = rows[-1]
        print(f"{r.env:<22}{r.num_envs:>6}{r.steps:>9}{r.steps_per_s:>12,.0f}{'-':>11}  {r.device}")
    if args.csv:
        write_csv(args.csv, [asdict(r) for r in rows])
    return rows


if __name__ == "__main__":
    main()
