"""Training runs of the PPO agents (``rtrl train``): seeds, logs, checkpoints and resume.

    config = TrainConfig(env="jax/CountRecallEasy", total_steps=1_000_000, seeds=3,
                         ppo=PPOConfig(agent="real-time-ppo", cell="rtu-linear", hidden_size=192))
    train(config, "runs/countrecall")                 # config.yaml, seed_<k>.csv, tb/, checkpoint.npz, summary.json
    train(config, "runs/countrecall", resume=True)    # continues from the last checkpoint

Seed k (``seed + k``) initialises its parameters, environments and sampling from its own key.
With a JAX-native environment the seeds run side by side under `jax.vmap`, one jitted call per
iteration (rollout + update); with a host environment (popgym, MuJoCo) each seed has its own
environments, stepped in lockstep with the others: one jitted policy call per step serves every
seed, and the update is vmapped over the seeds.

Logs: after every iteration one row per seed is appended to ``seed_<k>.csv`` (and flushed) and to
TensorBoard: environment steps, the mean return and length of the episodes that ended in the
rollout, the losses, KL, clip fraction, explained variance and steps/s. ``checkpoint.npz``
(atomic) holds every seed's whole state every ``checkpoint_every`` iterations and at the end.

Resume: the state is restored from the checkpoint and the CSV rows after it are dropped, so a
run with a JAX-native environment continues to exactly the numbers of an uninterrupted run. A
host environment cannot be restored mid-episode: on resume its environments are reset (seeded
from the seed and the iteration) and the recurrent state starts afresh; parameters, optimiser
state and random keys are restored.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import time
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rtrl import agents, envs
from rtrl.agents import PPOConfig
from rtrl.experiments import checkpoint, plots, run_dir
from rtrl.experiments.config import field, from_dict, load_yaml, save_yaml, to_dict

WRAPPERS = ("standard", "none")
CHECKPOINT = "checkpoint.npz"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training run: environment, agent (``ppo``), budget, seeds and checkpoints."""

    env: str = field("jax/CountRecallEasy", "environment: one of rtrl.envs.names()")
    env_options: Mapping[str, Any] = field(None, "options of the environment, e.g. {previous_action: true}")
    wrappers: str = field("standard", "standard (the RTU paper's stack: episode stats, action clipping, "
                          "observation and reward normalisation, previous action/reward for discrete envs) or none")
    total_steps: int = field(1_000_000, "environment steps per seed (rounded up to whole rollouts)")
    seeds: int = field(1, "independent runs (vmapped for JAX-native environments, in lockstep for host ones)")
    seed: int = field(0, "seed of the first run; run k uses seed + k")
    checkpoint_every: int = field(10, "iterations between checkpoints")
    label: str = field("", "a name for plots and tables")
    ppo: PPOConfig = dataclasses.field(default_factory=PPOConfig, metadata={"help": "the agent (PPOConfig)"})

    def __post_init__(self):
        object.__setattr__(self, "env_options", dict(self.env_options or {}))
        for name in ("total_steps", "seeds", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}.")
        if self.wrappers not in WRAPPERS:
            raise ValueError(f"wrappers must be one of {WRAPPERS}, got {self.wrappers!r}.")
        if not isinstance(self.ppo, PPOConfig):
            raise ValueError(f"ppo must be a PPOConfig (or a mapping of its fields), got {self.ppo!r}.")
        envs.spec(self.env)  # an unknown name raises with close matches
        if "num_envs" in self.env_options:
            raise ValueError("env_options.num_envs: set ppo.num_envs instead (the agent batches its envs).")

    @property
    def iterations(self) -> int:
        return math.ceil(self.total_steps / self.ppo.rollout_size)

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        p = self.ppo
        if p.agent == "mlp-ppo":
            return f"MLP PPO on {self.env}"
        how = "RTRL" if p.agent == "real-time-ppo" else f"T-BPTT T={p.sequence_length}"
        return f"{p.cell} n={p.hidden_size} ({how}) on {self.env}"

    def make_env(self):
        options = dict(self.env_options)
        native = envs.spec(self.env).backend == "jax"
        env = envs.make(self.env, **options) if native else envs.make(self.env, num_envs=self.ppo.num_envs,
                                                                        **options)
        if self.wrappers == "standard":
            env = envs.wrappers.standard(env, gamma=self.ppo.gamma)
        return env

    def make_agent(self) -> agents.Agent:
        return agents.make(self.ppo, self.make_env())


def load_config(values: Mapping[str, Any]) -> TrainConfig:
    return from_dict(TrainConfig, values)


# Fields that may change on resume: how long to run and how often to checkpoint, not how to learn.
RESUMABLE_CHANGES = ("total_steps", "checkpoint_every")


def _learning_part(config: TrainConfig) -> TrainConfig:
    return dataclasses.replace(config, **{k: getattr(TrainConfig(), k) for k in RESUMABLE_CHANGES})


def check(config: TrainConfig, out: str, *, resume: bool = False, overwrite: bool = False) -> None:
    """Refuse a bad run directory before any work: an existing one (without resume/overwrite), or
    for resume, one without a checkpoint or of another configuration."""
    if not resume:
        run_dir.check_writable(out, overwrite=overwrite)
        return
    saved = os.path.join(out, run_dir.CONFIG)
    if not os.path.exists(saved):
        raise ValueError(f"cannot resume {out!r}: it holds no {run_dir.CONFIG} (not a training run directory).")
    previous = load_config(load_yaml(saved))
    if _learning_part(previous) != _learning_part(config):
        a, b = config_dict(previous), config_dict(config)
        diff = [f"{k}: run {a[k]!r}, now {b[k]!r}" for k in a if a[k] != b[k]]
        raise ValueError(f"cannot resume {out!r} with another configuration ({'; '.join(diff)}); only "
                         f"{', '.join(RESUMABLE_CHANGES)} may change. Resume with its config.yaml or start a new run.")
    path = os.path.join(out, CHECKPOINT)
    if not os.path.exists(path):
        raise ValueError(f"cannot resume {out!r}: no {CHECKPOINT} was written yet.")
    if checkpoint.read_meta(path)["fingerprint"] != checkpoint.fingerprint(_learning_part(config)):
        raise ValueError(f"cannot resume {out!r}: its {CHECKPOINT} was written for another configuration than "
                         f"its {run_dir.CONFIG}; start a new run.")


def config_dict(config: TrainConfig) -> dict[str, Any]:
    """Flat view of the fields (ppo fields as ppo.<name>), for messages."""
    flat = {k: v for k, v in to_dict(config).items() if k != "ppo"}
    flat.update({f"ppo.{k}": v for k, v in to_dict(config.ppo).items()})
    return flat


class TrainResult(NamedTuple):
    """What `train` returns: the summary (also in summary.json), the agent that was trained and the
    final state of every seed (an `rtrl.agents.RunState` whose leaves have a leading seed axis)."""

    summary: dict[str, Any]
    agent: agents.Agent
    state: agents.RunState


def train(config: TrainConfig, out: str, *, resume: bool = False, overwrite: bool = False,
          progress: Callable[[int, float, float | None], None] | None = None,
          stop_after: int | None = None) -> TrainResult:
    """Run (or resume) ``config`` into the run directory ``out``; returns a `TrainResult`.

    ``progress(env_steps_per_seed, steps_per_second, recent_return)`` is called after each iteration.
    ``stop_after`` stops after that many iterations in total (for tests of resume; the checkpoint
    is written there).
    """
    check(config, out, resume=resume, overwrite=overwrite)
    runners = _make_runners(config)
    total_params, recurrent_params = runners.agent.parameter_count()
    state = runners.init()
    start = 0
    if resume:
        state, start = checkpoint.load(os.path.join(out, CHECKPOINT), like=state, config=_learning_part(config))
        state = runners.after_restore(state, start)
        _truncate_logs(out, config, start)
        save_yaml(config, os.path.join(out, run_dir.CONFIG))  # a longer budget is recorded
    else:
        run_dir.create(out, config, overwrite=overwrite)
    recent: list[float] = []
    last = config.iterations if stop_after is None else min(stop_after, config.iterations)
    writers = _tensorboard(out, config)
    try:
        t_start, t_compiled = time.perf_counter(), None
        for it in range(start, last):
            t0 = time.perf_counter()
            state, metrics = runners.iteration(state)
            metrics = jax.device_get(metrics)
            seconds = time.perf_counter() - t0
            steps = (it + 1) * config.ppo.rollout_size
            rate = config.seeds * config.ppo.rollout_size / max(seconds, 1e-9)
            rows = _rows(config, metrics, it, steps, rate, time.perf_counter() - t_start)
            for k, row in enumerate(rows):
                _append_csv(os.path.join(out, f"seed_{config.seed + k}.csv"), row)
                for key, value in row.items():
                    if key not in ("iteration", "env_steps"):
                        writers[k].add_scalar(key, value, steps)
            finished = [r["episode_return"] for r in rows if r["episodes"] > 0]
            if finished:
                recent = (recent + [float(np.mean(finished))])[-10:]
            average = (time.perf_counter() - t_start) / max(1, it + 1 - start)
            if progress is not None:
                progress(steps, config.seeds * config.ppo.rollout_size / average,
                         float(np.mean(recent)) if recent else None)
            if (it + 1) % config.checkpoint_every == 0 or it + 1 == last:
                checkpoint.save(os.path.join(out, CHECKPOINT), state, step=it + 1, config=_learning_part(config))
            if t_compiled is None:  # the first iteration compiles: the rate is measured after it
                t_compiled = time.perf_counter()
        timed = max(0, last - start - 1)
        rate = timed * config.ppo.rollout_size * config.seeds / max(time.perf_counter() - t_compiled, 1e-9) \
            if timed else float("nan")
    finally:
        for w in writers:
            w.close()
    summary = _summary(out, config, total_params, recurrent_params, runners.agent.rollout_bytes(),
                       rate, last)
    run_dir.write_summary(out, summary)
    plot_returns([out], os.path.join(out, "returns.png"))
    return TrainResult(summary, runners.agent, state)


def load_state(out: str) -> tuple[TrainConfig, agents.Agent, agents.RunState, int]:
    """Read a training run back: (config, agent, state, iteration) from ``out``'s config.yaml and
    checkpoint.npz. The agent is rebuilt from the config; ``state`` holds every seed on a leading
    axis, as `train` left it at the checkpoint's ``iteration``."""
    saved = os.path.join(out, run_dir.CONFIG)
    if not os.path.exists(saved):
        raise ValueError(f"{out!r} holds no {run_dir.CONFIG}: not a training run directory.")
    config = load_config(load_yaml(saved))
    path = os.path.join(out, CHECKPOINT)
    if not os.path.exists(path):
        raise ValueError(f"{out!r} holds no {CHECKPOINT}: the run has not written a checkpoint yet.")
    runners = _make_runners(config)
    state, iteration = checkpoint.load(path, like=runners.init(), config=_learning_part(config))
    return config, runners.agent, state, iteration


# -- the per-back-end loop ---------------------------------------------------------------------


@dataclasses.dataclass
class _Runners:
    agent: agents.Agent
    init: Callable[[], Any]
    iteration: Callable[[Any], tuple[Any, dict]]
    after_restore: Callable[[Any, int], Any]


def _make_runners(config: TrainConfig) -> _Runners:
    keys = [jax.random.PRNGKey(config.seed + k) for k in range(config.seeds)]
    agent = config.make_agent()
    if agent.jax_native:
        batched = jax.jit(jax.vmap(agent.iteration))
        return _Runners(agent, lambda: jax.vmap(agent.init)(jnp.stack(keys)), batched, lambda s, it: s)
    # Host environments hold their own state: each seed has its own envs; the seeds step in lockstep
    # (one policy call per step for all of them) and are updated together under vmap.
    envs = [agent.env] + [config.make_env() for _ in range(config.seeds - 1)]
    update = jax.jit(jax.vmap(agent.update))

    def init():
        states = [dataclasses.replace(agent, env=env).init(key) for env, key in zip(envs, keys)]
        return jax.tree.map(lambda *x: jnp.stack(x), *states)

    def iteration(states):
        states, rollout = agent.host_rollout_seeds(states, envs)
        return update(states, rollout)

    def after_restore(states, it):
        e = config.ppo.num_envs
        obs = np.stack([env.reset(seed=(config.seed + k) * 1_000_003 + it) for k, env in enumerate(envs)])
        carry = jax.vmap(lambda p: agent.network.initial_carry(p, e))(states.params)
        return states._replace(obs=jnp.asarray(obs, jnp.float32), first=jnp.ones_like(states.first), carry=carry,
                               episode_return=jnp.zeros_like(states.episode_return),
                               episode_length=jnp.zeros_like(states.episode_length))

    return _Runners(agent, init, iteration, after_restore)


# -- logs ----------------------------------------------------------------------------------------

COLUMNS_FIRST = ("iteration", "env_steps", "episode_return", "episode_length", "episodes")


def _rows(config: TrainConfig, metrics: Mapping[str, Any], it: int, steps: int, rate: float,
          wall: float) -> list[dict[str, float]]:
    rows = []
    for k in range(config.seeds):
        values = {key: float(np.asarray(v)[k]) for key, v in metrics.items() if key != "env_steps"}
        row = {"iteration": it + 1, "env_steps": steps}
        row.update({key: values.pop(key) for key in COLUMNS_FIRST[2:] if key in values})
        row.update(dict(sorted(values.items())))
        row["steps_per_second"] = rate
        row["wall_seconds"] = wall
        rows.append(row)
    return rows


def _append_csv(path: str, row: Mapping[str, float]) -> None:
    new = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)
        f.flush()


def _truncate_logs(out: str, config: TrainConfig, iteration: int) -> None:
    """Drop the CSV rows written after the checkpoint (they will be written again)."""
    for k in range(config.seeds):
        path = os.path.join(out, f"seed_{config.seed + k}.csv")
        if not os.path.exists(path):
            continue
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        kept = [r for r in rows if int(float(r["iteration"])) <= iteration]
        run_dir.write_csv(path, kept) if kept else os.remove(path)


def _tensorboard(out: str, config: TrainConfig):
    from tensorboardX import SummaryWriter

    return [SummaryWriter(os.path.join(out, "tb", f"seed_{config.seed + k}")) for k in range(config.seeds)]


def _summary(out: str, config: TrainConfig, total_params: int, recurrent_params: int, rollout_bytes: int,
             rate: float, iterations: int) -> dict[str, Any]:
    finals = final_returns(out)
    mean, band = plots.mean_and_band(np.asarray(finals))
    return {"name": config.name, "env": config.env, "agent": config.ppo.agent, "iterations": iterations,
            "env_steps_per_seed": iterations * config.ppo.rollout_size, "seeds": config.seeds,
            "final_return": {"mean": float(mean), "ci95": float(band), "per_seed": finals,
                             "definition": FINAL_RETURN},
            "parameters": total_params, "recurrent_parameters": recurrent_params,
            "rollout_megabytes": rollout_bytes / 2**20,
            "steps_per_second": rate, "steps_per_second_definition": "all seeds, after the first (compiling) iteration",
            "device": jax.devices()[0].platform}


FINAL_RETURN = "mean episode return over the last 10% of iterations with episodes"


def final_returns(run: str) -> list[float]:
    """Per seed of a training run directory (finished or not): the mean episode return over the
    last 10% of its logged iterations in which episodes ended."""
    finals = []
    for f in _seed_files(run):
        returns = [r["episode_return"] for r in run_dir.read_csv(os.path.join(run, f)) if r["episodes"] > 0]
        tail = returns[-max(1, len(returns) // 10):] if returns else [float("nan")]
        finals.append(float(np.mean(tail)))
    return finals


def _seed_files(run: str) -> list[str]:
    files = sorted((f for f in os.listdir(run) if f.startswith("seed_") and f.endswith(".csv")),
                   key=lambda f: int(f[len("seed_"):-len(".csv")]))
    if not files:
        raise ValueError(f"{run!r} holds no seed_<k>.csv.")
    return files


def load_returns(run: str) -> tuple[str, np.ndarray, np.ndarray]:
    """(label, env steps (points,), episode return (seeds, points)) from a training run directory,
    with iterations where no episode ended filled by the previous value."""
    tables = [run_dir.read_csv(os.path.join(run, f)) for f in _seed_files(run)]
    points = min(len(t) for t in tables)
    x = np.array([r["env_steps"] for r in tables[0][:points]])
    ys = []
    for t in tables:
        y, last = [], np.nan
        for r in t[:points]:
            last = r["episode_return"] if r["episodes"] > 0 else last
            y.append(last)
        ys.append(y)
    label = os.path.basename(os.path.normpath(run))
    config_path = os.path.join(run, run_dir.CONFIG)
    if os.path.exists(config_path):
        try:
            label = load_config(load_yaml(config_path)).name
        except ValueError:
            pass
    return label, x, np.array(ys)


def report(runs: list[str]) -> list[dict[str, Any]]:
    """One row per training run directory (finished or still running): its label and environment,
    the env steps every seed has reached, and the final return (`final_returns`) as mean, 95% band
    and per seed."""
    rows = []
    for run in runs:
        label, x, _ = load_returns(run)
        config = load_config(load_yaml(os.path.join(run, run_dir.CONFIG)))
        finals = final_returns(run)
        mean, band = plots.mean_and_band(np.asarray(finals))
        rows.append({"run": run, "label": label, "env": config.env,
                     "env_steps_per_seed": int(x[-1]) if len(x) else 0, "seeds": len(finals),
                     "final_return": float(mean), "ci95": float(band), "per_seed": finals})
    return rows


def plot_returns(runs: list[str], path: str) -> None:
    curves = {}
    for run in runs:
        label, x, ys = load_returns(run)
        curves[label] = (x, ys)
    plots.learning_curves(path, curves, xlabel="environment steps (per seed)", ylabel="episode return",
                          title="mean and 95% band over seeds")
