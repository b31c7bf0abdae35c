"""Environment steps per second for each back-end of `rtrl.envs`, printed as a table and written as CSV.

    python benchmarks/envs.py --csv envs.csv            # the default set (about a minute)
    python benchmarks/envs.py --quick                   # fewer steps, for a smoke run
    python benchmarks/envs.py --atari                   # add Atari (needs the atari extra)
    python benchmarks/envs.py --wrappers                # only the JAX wrapper stack rows (a few seconds)

Measured:
* JAX-native POPGym ports inside ``lax.scan``: one env, and ``vmap`` over 64 and 1024 envs
  (compile time reported apart; the timed run is the second call, after ``block_until_ready``);
  beside the bare env, the env behind `rtrl.envs.wrappers.standard` vmapped over 64 copies, as
  ``rtrl train`` steps it (``VmapEnv(standard(env))``: mode ``scan+vmap+standard``);
* popgym from the host: the bare popgym env in a Python loop (reference), and `rtrl.envs.make`'s
  host env (flattening, validation, auto-reset) with 1 and 8 envs;
* MuJoCo -P/-V from the host with 1 and 8 envs (random actions).
Actions are drawn beforehand so that only the environment is timed.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import asdict, dataclass

import jax
import jax.numpy as jnp
import numpy as np

import rtrl.envs as E
from rtrl.experiments.run_dir import write_csv


@dataclass(frozen=True)
class Row:
    what: str
    backend: str
    mode: str
    num_envs: int
    steps: int  # environment steps (all envs together)
    seconds: float
    steps_per_s: float
    compile_s: float
    device: str


def _device() -> str:
    d = jax.devices()[0]
    return f"{d.platform}:{platform.processor() or platform.machine()}"


def bench_jax(name: str, num_envs: int | None, steps: int, standard: bool = False) -> Row:
    """``steps`` steps of ``name`` (``num_envs`` vmapped copies), bare or behind the standard wrappers."""
    if standard:  # as rtrl train: the unbatched env wrapped, then vmapped (statistics per copy)
        env = E.VmapEnv(E.wrappers.standard(E.make(name)), num_envs)
    else:
        env = E.make(name, num_envs=num_envs)
    batch = () if num_envs is None else (num_envs,)
    n = env.action_space.n
    actions = jax.random.randint(jax.random.PRNGKey(1), (steps,) + batch, 0, n, dtype=jnp.int32)

    def run(key, actions):
        state, _ = env.reset(key)

        def body(carry, a):
            s, k, total = carry
            k, sub = jax.random.split(k)
            s, _, r, _, _ = env.step(s, a, sub)
            return (s, k, total + r.sum()), None

        return jax.lax.scan(body, (state, key, jnp.float32(0.0)), actions)[0][2]

    f = jax.jit(run)
    t0 = time.perf_counter()
    jax.block_until_ready(f(jax.random.PRNGKey(0), actions))
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(f(jax.random.PRNGKey(2), actions))
    seconds = time.perf_counter() - t0
    total = steps * (num_envs or 1)
    mode = ("scan" if num_envs is None else "scan+vmap") + ("+standard" if standard else "")
    return Row(name, "jax", mode, num_envs or 1, total, seconds, total / seconds, compile_s, _device())


def _host_actions(env: E.HostEnv, steps: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    space = env.action_space
    if isinstance(space, E.Discrete):
        return rng.integers(space.n, size=(steps, env.num_envs)).astype(np.int64)
    return rng.uniform(space.low_array, space.high_array, (steps, env.num_envs) + space.shape).astype(np.float32)


def bench_host(name: str, num_envs: int, steps: int) -> Row:
    env = E.make(name, num_envs=num_envs)
    actions = _host_actions(env, steps // num_envs)
    env.reset(seed=0)
    t0 = time.perf_counter()
    for a in actions:
        env.step(a)
    seconds = time.perf_counter() - t0
    env.close()
    total = len(actions) * num_envs
    return Row(
        name, "host", "loop" if num_envs == 1 else "vector", num_envs, total, seconds, total / seconds, 0.0, "cpu"
    )


def bench_bare_popgym(level: str, steps: int) -> Row:
    import popgym.envs

    env = getattr(popgym.envs, level)()
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(env.action_space.n, size=steps).tolist()
    t0 = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    seconds = time.perf_counter() - t0
    return Row(f"popgym {level} (bare)", "host", "bare loop", 1, steps, seconds, steps / seconds, 0.0, "cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", default="envs_benchmark.csv", help="where to write the CSV")
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    parser.add_argument("--atari", action="store_true", help="also time atari/Breakout (atari extra)")
    parser.add_argument("--wrappers", action="store_true",
                        help="only the JAX rows with and without the standard wrappers (64 envs)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1

    levels = [
        "RepeatPreviousEasy",
        "RepeatFirstEasy",
        "CountRecallEasy",
        "AutoencodeEasy",
        "ConcentrationEasy",
        "HigherLowerEasy",
    ]
    rows: list[Row] = []

    def add(row: Row) -> None:
        rows.append(row)
        print(
            f"{row.what:34s} {row.backend:5s} {row.mode:18s} {row.num_envs:5d} {row.steps_per_s:14,.0f} "
            f"{row.compile_s:8.2f}",
            flush=True,
        )

    print(f"{'environment':34s} {'back':5s} {'mode':18s} {'envs':>5s} {'env-steps/s':>14s} {'compile':>8s}")
    if args.wrappers:
        for level in ("CountRecallEasy", "RepeatPreviousEasy"):
            add(bench_jax(f"jax/{level}", 64, 2_000 // scale))
            add(bench_jax(f"jax/{level}", 64, 2_000 // scale, standard=True))
        levels = []
    for level in levels:
        add(bench_jax(f"jax/{level}", None, 20_000 // scale))
        add(bench_jax(f"jax/{level}", 64, 2_000 // scale))
        add(bench_jax(f"jax/{level}", 64, 2_000 // scale, standard=True))
        add(bench_jax(f"jax/{level}", 1024, 500 // scale))
    for level in ("RepeatPreviousEasy", "CountRecallEasy", "ConcentrationEasy") if levels else ():
        add(bench_bare_popgym(level, 20_000 // scale))
        add(bench_host(f"popgym/{level}", 1, 20_000 // scale))
        add(bench_host(f"popgym/{level}", 8, 40_000 // scale))
    for name in ("mujoco/Hopper-P", "mujoco/HalfCheetah-V", "mujoco/Ant-V", "mujoco/Reacher-Memory") if levels else ():
        add(bench_host(name, 1, 4_000 // scale))
        add(bench_host(name, 8, 8_000 // scale))
    if args.atari:
        add(bench_host("atari/Breakout", 1, 2_000 // scale))
        add(bench_host("atari/Breakout", 8, 4_000 // scale))

    write_csv(args.csv, [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(r).items()} for r in rows])
    print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
