"""Training runs of the PPO agents (``rtrl train``): the run loop, checkpoints, resume, and what stops a run.

    config = TrainConfig(env="jax/CountRecallEasy", total_steps=1_000_000, seeds=3,
                         ppo=PPOConfig(agent="real-time-ppo", cell="rtu-linear", hidden_size=192))
    result = train(config, "runs/countrecall")        # config.yaml, seed_<k>.csv, tb/, checkpoint.npz, summary.json
    result.summary, result.agent, result.state        # the state of every seed on a leading axis
    train(config, "runs/countrecall", resume=True)    # continues from the last checkpoint
    config, agent, state, iteration = load_state("runs/countrecall")

`train` is `prepare` (every check, nothing written: the run directory, the config against a
resumed run, the environment and agent, the memory the run needs) then `run`. The topics live in
their own modules: `train_config` (TrainConfig), `train_seeds` (the seeds run together: vmapped for
JAX-native environments, in lockstep for host ones), `train_logs` (CSV and TensorBoard),
`train_report` (reading runs back: final returns, tables, plots) and `checkpoint`.

Checkpoints: ``checkpoint.npz`` (atomic) holds every seed's whole state every ``checkpoint_every``
iterations and at the end.

Resume: the state is restored from the checkpoint and the logs after it are dropped, so a run
with a JAX-native environment continues to exactly the numbers of an uninterrupted run. A host
environment cannot be restored mid-episode: on resume its environments are reset (seeded from the
seed and the iteration) and the recurrent state starts afresh; parameters, optimiser state, random
keys and the wrapper statistics (observation normalisation, reward scale: a host run keeps a copy
in ``env_state``, see `train_seeds`) are restored, so normalisation continues where it stopped. A
host run's checkpoint written by an older rtrl, before host runs kept them (its ``env_state`` is
``()``), still resumes: its statistics restart from scratch, and `prepare` says so in
``Prepared.notes`` (`run` prints them to stderr).

What stops a run, each with the last good checkpoint kept:
  - divergence (`Diverged`): a seed's loss, metrics, parameters or optimiser state became NaN or
    infinite; the iteration's state is dropped, neither logged nor checkpointed, and no summary
    or final return is written;
  - memory: a run whose estimate (`memory_estimate`) exceeds the available memory is refused by
    `prepare`; an out-of-memory error of the device during the run becomes a `MemoryError`
    naming the estimate and what to reduce;
  - Ctrl-C (KeyboardInterrupt): the logs and checkpoint of the iteration under way are written
    whole or not at all, so the run can be resumed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import numpy as np

from rtrl import agents
from rtrl.agents import PPOConfig
from rtrl.experiments import checkpoint, memory, run_dir, seed_processes, train_logs, train_report, train_seeds
from rtrl.experiments.config import from_dict, load_yaml, save_yaml, to_dict
from rtrl.experiments.train_config import (RESUMABLE_CHANGES, WRAPPERS, TrainConfig, config_dict, learning_part,
                                           load_config)
from rtrl.experiments.train_report import FINAL_RETURN, final_returns, load_returns, plot_returns, report

__all__ = ["CHECKPOINT", "FINAL_RETURN", "RATE", "RESUMABLE_CHANGES", "STATISTICS_RESTART", "WRAPPERS", "Diverged",
           "PPOConfig", "Prepared", "Progress", "TrainConfig", "TrainResult", "check", "check_training_run",
           "config_dict", "final_returns", "from_dict", "load_config", "load_returns", "load_state", "memory_breakdown",
           "memory_estimate", "plot_returns", "prepare", "report", "run", "to_dict", "train"]

CHECKPOINT = "checkpoint.npz"
# Speed (run_dir.RATE), measured from the end of the first iteration of this process (which compiles)
# to the end of the latest.
RATE = run_dir.RATE


class TrainResult(NamedTuple):
    """What `train` returns: the summary (also in summary.json), the agent that was trained, the
    final state of every seed (an `rtrl.agents.RunState` whose leaves have a leading seed axis) and,
    for a host environment, seed k's environments as ``envs[k]`` (they hold their own state; None for
    a JAX-native environment, whose state is in ``state``). The wrapper statistics of every seed are
    in ``state.env_state`` for both kinds (for a host environment, as of the last rollout)."""

    summary: dict[str, Any]
    agent: agents.Agent
    state: agents.RunState
    envs: list[Any] | None = None


class Progress(NamedTuple):
    """What the ``progress`` callback of `run` gets after each iteration."""

    iteration: int  # iterations done, counting from 1 (a resumed run continues its count)
    iterations: int  # of the whole run
    env_steps: int  # per seed, so far
    total_env_steps: int  # per seed, of the whole run
    steps_per_second: float | None  # RATE; None until an iteration after the compiling one has ended
    final_return: float | None  # FINAL_RETURN so far, mean over the seeds with episodes; None before any


class Diverged(FloatingPointError):
    """A seed of a training run went non-finite. ``iteration`` (from 1) is the diverging iteration,
    ``seeds`` maps each diverged seed to what went non-finite, ``checkpoint`` is the last good
    checkpoint's path (None if none was written) and ``checkpoint_iteration`` its iteration."""

    def __init__(self, message: str, *, iteration: int, seeds: dict[int, str], checkpoint: str | None,
                 checkpoint_iteration: int | None):
        super().__init__(message)
        self.iteration = iteration
        self.seeds = seeds
        self.checkpoint = checkpoint
        self.checkpoint_iteration = checkpoint_iteration


@dataclasses.dataclass
class Prepared:
    """A run that `prepare` found possible; nothing written yet. `run` carries it out."""

    config: TrainConfig
    out: str
    resume: bool
    plan: Any  # run_dir.Plan for a new run, None on resume
    seeds: train_seeds.Seeds
    start: int  # the iteration the run continues from (0 for a new run, the checkpoint's on resume)
    memory_bytes: int  # `memory_estimate`
    notes: tuple[str, ...] = ()  # what a user should know about the run, e.g. statistics that restart on resume

    @property
    def agent(self) -> agents.Agent:
        return self.seeds.agent

    @property
    def finished(self) -> bool:
        """A resumed run that has already done all its iterations."""
        return self.start >= self.config.iterations


def memory_breakdown(config: TrainConfig, agent: agents.Agent) -> dict[str, int]:
    """Bytes of memory a run holds at once, by part, from shapes: the agent's parts per seed
    (`Agent.memory_parts`: PPO's rollouts, minibatches, parameters and carry; a streaming agent's
    learner state) times the seeds. The compiled update adds its own temporaries, which
    `memory.HEADROOM` leaves room for."""
    return {name: config.seeds * b for name, b in agent.memory_parts().items()}


def memory_estimate(config: TrainConfig, agent: agents.Agent) -> int:
    """The sum of `memory_breakdown`: bytes the run holds at once."""
    return sum(memory_breakdown(config, agent).values())


def _reduce_hint(config: TrainConfig) -> str:
    """What a user can reduce, with the values now: "num_steps (2048), num_envs (1), ..."."""
    return f"{config.agent_config.shrink_hint()}, or seeds ({config.seeds})"


def check(config: TrainConfig, out: str, *, resume: bool = False, overwrite: bool = False) -> Any:
    """Refuse a bad run directory before any work: an existing one (without resume/overwrite), an
    unwritable or impossible path, or for resume, one without a checkpoint or of another
    configuration. Returns the `run_dir.Plan` of a new run (None on resume); changes nothing."""
    if not resume:
        return run_dir.prepare(out, overwrite=overwrite)
    check_training_run(out)
    previous = load_config(load_yaml(os.path.join(out, run_dir.CONFIG)))
    if learning_part(previous) != learning_part(config):
        a, b = config_dict(previous), config_dict(config)
        # a run of the other agent family has other keys (ppo.* against stream.*): compare their union
        diff = [f"{k}: run {a.get(k)!r}, now {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        raise ValueError(f"cannot resume {out!r} with another configuration ({'; '.join(diff)}); only "
                         f"{', '.join(RESUMABLE_CHANGES)} may change. Resume with its config.yaml or start a new run.")
    path = os.path.join(out, CHECKPOINT)
    if not os.path.exists(path):
        raise ValueError(f"cannot resume {out!r}: no {CHECKPOINT} was written yet.")
    meta = checkpoint.read_meta(path)
    if "paths" not in meta:  # written before checkpoints recorded their leaf paths (and before the state's layout
        # and the config's fingerprint changed with them): nothing this version can match it against
        raise ValueError(f"cannot resume {out!r}: its {CHECKPOINT} was written by an older version of rtrl, whose "
                         "checkpoints this version cannot continue; start a new run (the old run's logs and plots "
                         "stay readable).")
    if meta["fingerprint"] != checkpoint.fingerprint(learning_part(config)):
        raise ValueError(f"cannot resume {out!r}: its {CHECKPOINT} was written for another configuration than "
                         f"its {run_dir.CONFIG}; start a new run.")
    if int(meta["step"]) > config.iterations:
        done = int(meta["step"]) * config.agent_config.rollout_size
        raise ValueError(f"cannot resume {out!r} with total_steps={config.total_steps:,}: its checkpoint is at "
                         f"iteration {int(meta['step'])} ({done:,} env steps per seed); give total_steps of at "
                         f"least {done:,}, or leave it out to finish the run's own budget.")
    if not os.access(out, os.W_OK):
        raise ValueError(f"cannot resume {out!r}: the directory is not writable.")
    return None


def check_training_run(out: str, doing: str = "resume") -> None:
    """Refuse ``out`` unless it holds a training run's config.yaml (saying what it is otherwise)."""
    saved = os.path.join(out, run_dir.CONFIG)
    if not os.path.isdir(out):
        raise ValueError(f"cannot {doing} {out!r}: no such run directory.")
    if not os.path.exists(saved):
        raise ValueError(f"cannot {doing} {out!r}: it holds no {run_dir.CONFIG} (not a training run directory).")
    values = load_yaml(saved)
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    if any(key not in train_fields for key in values):
        from rtrl.experiments.prediction import PredictionConfig

        prediction_fields = {f.name for f in dataclasses.fields(PredictionConfig)}
        if all(key in prediction_fields for key in values):
            raise ValueError(f"cannot {doing} {out}: it is a prediction run (rtrl predict), not a training run "
                             "(rtrl train).")


def prepare(config: TrainConfig, out: str, *, resume: bool = False, overwrite: bool = False,
            check_memory: bool = True, processes: int | str = 1, threads: int | None = None) -> Prepared:
    """Every check of a run, in order, before anything is written or deleted: the run directory
    (`check`), the environment and the agent (built here), the memory the run needs against the
    memory available (``check_memory``), and on resume the checkpoint's iteration.

    ``processes`` splits a JAX-native run's seeds over worker processes ("auto": one per CPU on a
    CPU-only JAX; `rtrl.experiments.seed_processes`), each with ``threads`` XLA CPU threads (None:
    the CPUs shared out). Speed only: every seed's numbers are those of one process."""
    seed_processes.check(processes)
    plan = check(config, out, resume=resume, overwrite=overwrite)
    seeds = train_seeds.make(config, processes=processes, threads=threads)
    breakdown = memory_breakdown(config, seeds.agent)
    estimate = sum(breakdown.values())
    if check_memory:
        memory.check_fits(estimate, what=f"rtrl train: {config.name}, {config.seeds} seed(s)",
                          reduce=_reduce_hint(config), breakdown=breakdown, device=True)
    notes: tuple[str, ...] = ()
    start = 0
    if resume:
        meta = checkpoint.read_meta(os.path.join(out, CHECKPOINT))
        start = int(meta["step"])
        if train_seeds.statistics_missing(seeds, meta.get("paths") or []):
            notes = (STATISTICS_RESTART,)
    return Prepared(config, out, resume, plan, seeds, start, estimate, notes)


STATISTICS_RESTART = ("this host-environment run's checkpoint was written by an older version of rtrl and holds no "
                      "wrapper statistics: observation normalisation and reward scaling restart from scratch on "
                      "resume (the network sees differently scaled inputs until they settle).")


def _load_checkpoint(seeds: train_seeds.Seeds, path: str, like: agents.RunState,
                     config: TrainConfig) -> tuple[agents.RunState, int]:
    """(state, iteration) from the checkpoint at ``path``; a host run's checkpoint without wrapper
    statistics (an older version's) loads with ``env_state`` `train_seeds.NO_STATISTICS`."""
    if train_seeds.statistics_missing(seeds, checkpoint.read_meta(path).get("paths") or []):
        like = like._replace(env_state=train_seeds.NO_STATISTICS)
    return checkpoint.load(path, like=like, config=learning_part(config))


def train(config: TrainConfig, out: str, *, resume: bool = False, overwrite: bool = False,
          progress: Callable[[Progress], None] | None = None, stop_after: int | None = None,
          check_memory: bool = True, processes: int | str = 1, threads: int | None = None) -> TrainResult:
    """Run (or resume) ``config`` into the run directory ``out``: `prepare` then `run` (``processes``
    and ``threads``: see `prepare`).

    ``progress(Progress)`` is called after each iteration. ``stop_after`` stops after that many
    iterations in total as if the process had been killed there (for tests of resume): only the
    checkpoints due by then are written, and no summary (the result's summary is empty).
    """
    prepared = prepare(config, out, resume=resume, overwrite=overwrite, check_memory=check_memory,
                       processes=processes, threads=threads)
    return run(prepared, progress=progress, stop_after=stop_after)


def run(prepared: Prepared, *, progress: Callable[[Progress], None] | None = None,
        stop_after: int | None = None) -> TrainResult:
    """Carry out a `Prepared` run (see the module docstring for what stops it)."""
    try:
        return _run(prepared, progress, stop_after)
    finally:
        prepared.seeds.close()  # R2AC's actor thread, if the run has one


def _run(prepared: Prepared, progress: Callable[[Progress], None] | None, stop_after: int | None) -> TrainResult:
    config, out, seeds = prepared.config, prepared.out, prepared.seeds
    state = seeds.init()
    start = prepared.start
    last = config.iterations if stop_after is None else min(stop_after, config.iterations)
    if prepared.resume:
        state, start = _load_checkpoint(seeds, os.path.join(out, CHECKPOINT), state, config)
        if start >= last and os.path.exists(os.path.join(out, run_dir.SUMMARY)):  # already finished: nothing to do
            return TrainResult(run_dir.read_summary(out), seeds.agent, state, seeds.envs)
        for note in prepared.notes:
            print(f"note: {note}", file=sys.stderr)
        state = seeds.after_restore(state, start)
        history = train_logs.truncate(out, config, start)
        save_yaml(config, os.path.join(out, run_dir.CONFIG))  # a longer budget is recorded
        replacing = contextlib.nullcontext(out)
    else:
        history, replacing = None, run_dir.replacing(prepared.plan, config)
    with replacing:
        state, rate = _loop(prepared, state, start, last, progress, history)
        if last < config.iterations:  # stopped by stop_after
            return TrainResult({}, seeds.agent, state, seeds.envs)
        summary = _summary(prepared, rate, last)
        run_dir.write_summary(out, summary)
        plot_returns([out], os.path.join(out, "returns.png"))
    return TrainResult(summary, seeds.agent, state, seeds.envs)


def _loop(prepared: Prepared, state: agents.RunState, start: int, last: int,
          progress: Callable[[Progress], None] | None,
          history: list[list[dict[str, Any]]] | None) -> tuple[agents.RunState, float | None]:
    """Iterations ``start`` … ``last`` − 1; returns the final state and the RATE (None if it was
    not measured: at most one iteration ran, and it compiled)."""
    config, out, seeds = prepared.config, prepared.out, prepared.seeds
    path = os.path.join(out, CHECKPOINT)
    rollout = config.agent_config.rollout_size
    # per seed, the episode return of every iteration with episodes (a resumed run's logged ones first)
    returns = [[float(r["episode_return"]) for r in kept if float(r["episodes"]) > 0] for kept in history] \
        if history else [[] for _ in range(config.seeds)]
    checkpointed = start if prepared.resume else None
    rate = None
    writers = train_logs.open_tensorboard(out, config, history)
    try:
        t_start, t_compiled = time.perf_counter(), None
        for it in range(start, last):
            t0 = time.perf_counter()
            with _out_of_memory_as_message(config, prepared.memory_bytes):
                new_state, metrics = seeds.iteration(state)
                metrics = jax.device_get(metrics)
            diverged = train_seeds.divergence(metrics)
            if diverged:
                raise _diverged(config, it + 1, diverged, path if checkpointed is not None else None, checkpointed)
            state = new_state
            now = time.perf_counter()
            steps = (it + 1) * rollout
            metrics = {k: v for k, v in metrics.items() if k != train_seeds.PARAMETERS_FINITE}
            rows = train_logs.rows(config, metrics, it + 1, steps, config.seeds * rollout / max(now - t0, 1e-9),
                                   now - t_start)
            for k, row in enumerate(rows):
                if row["episodes"] > 0:
                    returns[k].append(row["episode_return"])
            with _interrupt_deferred():  # the logs and the checkpoint of an iteration are written whole
                train_logs.append(out, config, rows, writers)
                if (it + 1) % config.checkpoint_every == 0 or it + 1 == config.iterations:
                    checkpoint.save(path, state, step=it + 1, config=learning_part(config))
                    checkpointed = it + 1
            if t_compiled is None:  # the first iteration compiles: the rate is measured after it
                t_compiled = time.perf_counter()
            elif it > start:
                rate = (it - start) * rollout * config.seeds / max(time.perf_counter() - t_compiled, 1e-9)
            if progress is not None:
                finals = [train_report.final_return(r) for r in returns if r]
                progress(Progress(it + 1, config.iterations, steps, config.iterations * rollout, rate,
                                  float(np.mean(finals)) if finals else None))
    finally:
        for w in writers:
            w.close()
    return state, rate


def _diverged(config: TrainConfig, iteration: int, seeds: dict[int, str], path: str | None,
              checkpointed: int | None) -> Diverged:
    what = "; ".join(f"seed {config.seed + k} diverged at iteration {iteration}: {why}" for k, why in seeds.items())
    if path is None:
        kept = "no checkpoint was written before it"
    else:
        kept = f"the last good checkpoint is {path} (iteration {checkpointed})"
    advice = config.agent_config.divergence_advice()
    return Diverged(f"{what}; {kept}; {advice}. No final return was written.", iteration=iteration,
                    seeds={config.seed + k: why for k, why in seeds.items()}, checkpoint=path,
                    checkpoint_iteration=checkpointed)


@contextlib.contextmanager
def _out_of_memory_as_message(config: TrainConfig, estimate: int) -> Iterator[None]:
    """A device out-of-memory error (XLA's RESOURCE_EXHAUSTED) as a MemoryError that says what to reduce."""
    try:
        yield
    except Exception as e:  # XlaRuntimeError has no stable import path across JAX versions
        text = str(e)
        if "RESOURCE_EXHAUSTED" not in text and "out of memory" not in text.lower():
            raise
        first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
        raise MemoryError(f"the device ran out of memory during the run ({first[:300]}); the estimate was "
                          f"{memory.gigabytes(estimate)}; reduce {_reduce_hint(config)}.") from None


@contextlib.contextmanager
def _interrupt_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, then raise KeyboardInterrupt (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def _summary(prepared: Prepared, rate: float | None, iterations: int) -> dict[str, Any]:
    agent = prepared.agent
    return train_report.summary(prepared.out, prepared.config, parameters=agent.parameter_count(),
                                rollout_bytes=agent.rollout_bytes(), memory_bytes=prepared.memory_bytes,
                                steps_per_second=rate, steps_per_second_definition=RATE, iterations=iterations,
                                device=jax.devices()[0].platform)


def load_state(out: str) -> tuple[TrainConfig, agents.Agent, agents.RunState, int]:
    """Read a training run back: (config, agent, state, iteration) from ``out``'s config.yaml and
    checkpoint.npz. The agent is rebuilt from the config; ``state`` holds every seed on a leading
    axis, as `train` left it at the checkpoint's ``iteration`` (a host run's ``env_state``: its wrapper
    statistics, `train_seeds.NO_STATISTICS` for a checkpoint of an older version that holds none)."""
    check_training_run(out, "load")
    config = load_config(load_yaml(os.path.join(out, run_dir.CONFIG)))
    path = os.path.join(out, CHECKPOINT)
    if not os.path.exists(path):
        raise ValueError(f"{out!r} holds no {CHECKPOINT}: the run has not written a checkpoint yet.")
    seeds = train_seeds.make(config)
    state, iteration = _load_checkpoint(seeds, path, seeds.init(), config)
    return config, seeds.agent, state, iteration
