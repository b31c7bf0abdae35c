"""Speed of the online TD(λ) learners (`rtrl.learners`): environment steps per second.

    python benchmarks/td_learners.py                       # the default table, CSV to td_learners.csv
    python benchmarks/td_learners.py --steps 20000 --csv /tmp/td.csv

Each case runs ``learner.run`` (one `lax.scan` over a pre-generated chunk of observations, jitted)
on a trace-conditioning stream without distractors (ISI 7–13, ITI 80–120, CS 4 steps, US 2 steps;
observation [US, CS, 1], size 3; Rafiee et al. 2022). Compile time is measured apart (``lower``
and ``compile``); then one warm-up call and ``repeats`` timed calls, each ending in
``block_until_ready``; the median is reported. Several seeds run under ``jax.vmap``, one learner
per seed: env steps/s counts every seed's steps. The chunk of a case is ``--steps`` observations
per seed for RTRL and ``--steps`` / 5 for T-BPTT (slower per step).

On XLA CPU the vmapped (several-seed) cases run ≈1.5–1.7× faster with XLA's concurrency-optimised
thunk scheduler off (it spreads the many tiny kernels of a step over the thread pool, and the
synchronisation costs more than it gains); the flag is process-wide, so set it yourself:

    XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=false python benchmarks/td_learners.py
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from rtrl.bench.cells import describe_device as _device
from rtrl.experiments.run_dir import write_csv
from rtrl.learners import TDConfig, make_learner


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    config: TDConfig
    seeds: int  # 1: no vmap


def default_cases() -> list[Case]:
    rtu = TDConfig(cell="rtu-linear", hidden_size=32, learner="rtrl", gamma=0.9, lambda_=0.9)
    cases = [Case(f"rtrl rtu-linear-32 x{s}", rtu, s) for s in (1, 4, 16)]
    for t in (4, 16, 64):
        gru = TDConfig(cell="gru", hidden_size=32, learner="tbptt", truncation=t, gamma=0.9, lambda_=0.9)
        cases.append(Case(f"tbptt-{t} gru-32 x1", gru, 1))
    return cases


def trace_conditioning(steps: int, seed: int) -> np.ndarray:
    """Observations (steps, 3) = [US, CS, 1] of trace conditioning with ISI 7–13 and ITI 80–120."""
    rng = np.random.default_rng(seed)
    obs = np.zeros((steps, 3), np.float32)
    obs[:, 2] = 1.0
    t = 0
    while t < steps:
        isi, iti = rng.integers(7, 14), rng.integers(80, 121)
        obs[t:t + 4, 1] = 1.0  # CS for 4 steps
        obs[t + isi:t + isi + 2, 0] = 1.0  # US for 2 steps
        t += isi + iti
    return obs


def measure(case: Case, steps: int, repeats: int) -> dict:
    learner = make_learner(case.config, 3)
    if case.config.learner == "tbptt":
        steps = max(steps // 5, 1)
    keys = jax.random.split(jax.random.PRNGKey(0), case.seeds)
    obs = jnp.stack([jnp.asarray(trace_conditioning(steps, s)) for s in range(case.seeds)])
    if case.seeds == 1:
        run, state, obs = jax.jit(learner.run), learner.init(keys[0]), obs[0]
    else:
        run, state = jax.jit(jax.vmap(learner.run)), jax.vmap(learner.init)(keys)
    jax.block_until_ready(state)
    t0 = time.perf_counter()
    compiled = run.lower(state, obs).compile()
    compile_s = time.perf_counter() - t0
    state, v = compiled(state, obs)  # warm-up (and a realistic, already-learning state)
    jax.block_until_ready(v)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        state, v = compiled(state, obs)
        jax.block_until_ready(v)
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    return {
        "case": case.name,
        "cell": case.config.cell,
        "hidden": case.config.hidden_size,
        "learner": case.config.learner,
        "truncation": case.config.truncation or "",
        "seeds": case.seeds,
        "steps_per_seed": steps,
        "compile_s": round(compile_s, 3),
        "seconds": round(seconds, 4),
        "env_steps_per_s": round(case.seeds * steps / seconds),
        "us_per_step": round(seconds / steps * 1e6, 3),
        "finite": bool(jnp.all(jnp.isfinite(v))),
        "device": _device(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "jax": jax.__version__,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100_000, help="observations per seed in one chunk (RTRL)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per case (median reported)")
    parser.add_argument("--csv", default="td_learners.csv", help="where to write the table")
    args = parser.parse_args()
    if args.steps <= 0 or args.repeats <= 0:
        parser.error("--steps and --repeats must be positive")
    rows = []
    print(f"{'case':26s} {'env steps/s':>12s} {'µs/step':>9s} {'compile s':>9s}  ({_device()})")
    for case in default_cases():
        row = measure(case, args.steps, args.repeats)
        rows.append(row)
        print(f"{row['case']:26s} {row['env_steps_per_s']:12,d} {row['us_per_step']:9.2f} {row['compile_s']:9.2f}")
    write_csv(args.csv, rows)
    print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
