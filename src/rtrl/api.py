"""The top-level Python API: train an agent, act with it, evaluate it, save and load it.

    from rtrl.agents import PPOConfig
    from rtrl.experiments.training import TrainConfig

    run = rtrl.train(TrainConfig(env="jax/RepeatPreviousEasy", total_steps=20_000,
                                 ppo=PPOConfig(hidden_size=32, num_steps=256, num_minibatches=8)))
    agent = run.agent                                   # a TrainedAgent (seed 0); run.agents: every seed
    print(rtrl.evaluate(agent, episodes=20))            # true returns, mean ± 95% t interval
    agent.save("agent.npz"); agent = rtrl.load("agent.npz")

`train` runs exactly what ``rtrl train`` runs (same config objects, same run directory: logs,
checkpoints, summary) and returns a `TrainedRun`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rtrl.agents.evaluation import EvaluationResult, evaluate
from rtrl.agents.policy import TrainedAgent
from rtrl.agents.saving import load

if TYPE_CHECKING:  # the experiments layer is imported when `train` runs
    from rtrl.experiments.training import Progress

__all__ = ["EvaluationResult", "TrainedAgent", "TrainedRun", "evaluate", "load", "train"]


@dataclasses.dataclass(frozen=True)
class TrainedRun:
    """What `train` returns, whatever the number of seeds.

    Attributes:
      run_dir: the run directory written (config.yaml, seed_<k>.csv, checkpoint.npz, summary.json, ...).
      config: the `TrainConfig`.
      summary: the run's summary (as in summary.json: final return over seeds, steps/s, parameters).
      agents: one `TrainedAgent` per seed, in seed order (seed ``config.seed + k`` is ``agents[k]``).
    """

    run_dir: str
    config: Any
    summary: dict[str, Any]
    agents: tuple[TrainedAgent, ...]

    @property
    def agent(self) -> TrainedAgent:
        """The agent of the run's first seed (``config.seed``)."""
        return self.agents[0]

    def seed(self, seed: int) -> TrainedAgent:
        """The agent of seed number ``seed`` (``config.seed + k``)."""
        seeds = [a.seed for a in self.agents]
        if seed not in seeds:
            raise ValueError(f"seed must be one of the run's seeds {', '.join(map(str, seeds))}, got {seed!r}.")
        return self.agents[seeds.index(seed)]


def default_run_dir(prefix: str = "train") -> str:
    """``runs/<prefix>-<date>-<time>`` under the working directory (as ``rtrl train`` without --out),
    with a suffix -2, -3, ... if that name is taken."""
    from rtrl.experiments import run_dir

    base = os.path.join("runs", run_dir.default_name(prefix))
    path, k = base, 1
    while os.path.exists(path):
        k += 1
        path = f"{base}-{k}"
    return path


def train(config: Any, out: str | None = None, *, overwrite: bool = False, resume: bool = False,
          progress: Callable[[Progress], None] | None = None, processes: int | str = "auto") -> TrainedRun:
    """Train (or resume) the run ``config`` describes and return its trained agents.

    Args:
      config: a `rtrl.experiments.training.TrainConfig` (the object ``rtrl train`` builds from flags/YAML).
      out: the run directory; None writes a new ``runs/train-<date>-<time>`` under the working directory.
      overwrite: replace ``out`` if it is an existing run directory.
      resume: continue the run in ``out`` from its last checkpoint.
      progress: called after every iteration with a `rtrl.experiments.training.Progress` (iteration,
        iterations, env steps per seed so far and in all, steps/s or None, final return so far or None).
      processes: worker processes the seeds of a JAX-native environment are split over, as ``rtrl train
        --processes``: "auto" (one per CPU on a CPU-only JAX), or a number (1: all in this process).

    Every seed's agent carries its wrapper statistics at the end of training (for a host
    environment too: a training run keeps them in its state and checkpoints).
    """
    from rtrl.experiments import training

    if not isinstance(config, training.TrainConfig):
        raise TypeError(f"config must be a TrainConfig (rtrl.experiments.training.TrainConfig), got "
                        f"{type(config).__name__}.")
    if out is None:
        if resume:
            raise ValueError("resume=True needs out=RUN_DIR, the run to continue.")
        out = default_run_dir()
    result = training.train(config, out, resume=resume, overwrite=overwrite, progress=progress, processes=processes)
    # the statistics come from result.state (a host run keeps them there too), never from live envs,
    # which a finished run that is "resumed" has only just reset
    agents = tuple(TrainedAgent.from_training(config, result.agent, result.state, k) for k in range(config.seeds))
    return TrainedRun(run_dir=out, config=config, summary=result.summary, agents=agents)
