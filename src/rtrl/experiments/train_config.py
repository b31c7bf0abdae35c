"""`TrainConfig`: what a training run is (environment, agent, budget, seeds, checkpoints).

    config = TrainConfig(env="jax/CountRecallEasy", total_steps=1_000_000, seeds=3,
                         ppo=PPOConfig(agent="real-time-ppo", cell="rtu-linear", hidden_size=192))
    config = load_config(yaml.safe_load(open("runs/x/config.yaml")))   # the same, from a mapping

A run directory's ``config.yaml`` is this config written back (`rtrl.experiments.config.save_yaml`).
On resume only `RESUMABLE_CHANGES` may differ from it: how long to run and how often to
checkpoint, not how to learn (`learning_part` is the config with those fields reset).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from rtrl import agents, envs, validate
from rtrl.agents import PPOConfig, R2ACConfig, StreamConfig
from rtrl.agents.families import FAMILIES
from rtrl.envs.running import Moments
from rtrl.experiments.config import field, from_dict, to_dict
from rtrl.frozendict import FrozenDict

__all__ = ["CELL_FIELDS", "RESUMABLE_CHANGES", "TrainConfig", "WRAPPERS", "config_dict", "learning_part",
           "load_config"]

WRAPPERS = ("standard", "no-previous", "none")
# Fields of an agent config that only a recurrent agent uses (mlp-ppo, or gradient "none", has no cell).
CELL_FIELDS = ("cell", "hidden_size", "cell_options")
# Fields that may change on resume: how long to run and how often to checkpoint, not how to learn.
RESUMABLE_CHANGES = ("total_steps", "checkpoint_every")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training run: environment, agent, budget, seeds and checkpoints.

    The agent is a PPO agent (``ppo``, a `PPOConfig`), a streaming one (``stream``, a `StreamConfig`)
    or R2AC (``r2ac``, an `R2ACConfig`): give one of them; with none, ``ppo`` takes its defaults
    (`rtrl.agents.families` lists them). `agent_config` is the one given. An agent without a
    recurrent layer (mlp-ppo, or ``gradient == "none"``) has its cell fields (`CELL_FIELDS`) reset to
    their defaults, and the config written to the run directory says so. R2AC's ``total_updates``,
    when not given, becomes the run's iterations (its learning rate decays over the run; a resumed run
    keeps that schedule, so a longer run with ``--total-steps`` ends at a rate of 0).
    """

    env: str = field("jax/CountRecallEasy", "environment: one of rtrl.envs.names()")
    env_options: Mapping[str, Any] = field(None, "options of the environment, e.g. {previous_action: true}")
    wrappers: str = field("standard", "standard (the RTU paper's stack: episode stats, action clipping, "
                          "observation and reward normalisation, previous action/reward for discrete envs), "
                          "no-previous (the same without the previous action and reward) or none")
    total_steps: int = field(1_000_000, "environment steps per seed (rounded up to whole rollouts)")
    seeds: int = field(1, "independent runs (vmapped for JAX-native environments, in lockstep for host ones)")
    seed: int = field(0, "seed of the first run; run k uses seed + k")
    checkpoint_every: int = field(10, "iterations between checkpoints")
    label: str = field("", "a name for plots and tables")
    ppo: PPOConfig | None = dataclasses.field(default=None, metadata={"help": "a PPO agent (PPOConfig)"})
    stream: StreamConfig | None = dataclasses.field(default=None, metadata={
        "help": "a streaming agent (StreamConfig), instead of ppo"})
    r2ac: R2ACConfig | None = dataclasses.field(default=None, metadata={
        "help": "R2AC, the real-time recurrent actor-critic (R2ACConfig), instead of ppo"})

    def __post_init__(self):
        options = self.env_options if self.env_options is not None else {}
        if not isinstance(options, Mapping):
            raise ValueError(f"env_options must be a mapping of option names to values, e.g. "
                             f"{{previous_action: true}}, got {options!r}.")
        object.__setattr__(self, "env_options", FrozenDict(options))
        for name in ("total_steps", "seeds", "checkpoint_every"):
            object.__setattr__(self, name, validate.positive_int(name, getattr(self, name)))
        object.__setattr__(self, "seed", validate.non_negative_int("seed", self.seed))
        validate.choice("wrappers", self.wrappers, WRAPPERS)
        if validate.is_real(self.label):  # `--label 5` parses as a number; it names the run all the same
            object.__setattr__(self, "label", str(self.label))
        if not isinstance(self.label, str):
            raise ValueError(f"label must be a string, got {self.label!r}.")
        for f in FAMILIES:
            value = getattr(self, f.section)
            if value is not None and not isinstance(value, f.config):
                raise ValueError(f"{f.section} must be a {f.config.__name__} (or a mapping of its fields), "
                                 f"got {value!r}.")
        given = [f for f in FAMILIES if getattr(self, f.section) is not None]
        if len(given) > 1:
            named = " and ".join(f"{f.section} ({f.kind}: {getattr(self, f.section).agent})" for f in given)
            raise ValueError(f"give one agent's section, not several: {named}.")
        if not given:
            object.__setattr__(self, "ppo", PPOConfig())
        if not isinstance(self.env, str):
            raise ValueError(f"env must be an environment name (one of rtrl.envs.names()), got {self.env!r}.")
        if "num_envs" in self.env_options:
            if self.stream is not None:
                raise ValueError("env_options.num_envs: a streaming agent steps one environment per seed; leave "
                                 "num_envs out.")
            raise ValueError(f"env_options.num_envs: set {self.family.section}.num_envs instead (the agent batches "
                             "its envs).")
        # An unknown name (with close matches), an unknown option or a mistyped one is refused here, when the
        # config is built; a missing optional extra only when the run is prepared, so that runs can still be
        # read back (plotted, reported) on a machine without that extra.
        envs.spec(self.env).check_options(self.env_options)
        agent = self.agent_config
        if not agent.recurrent:
            defaults = type(agent)()
            agent = dataclasses.replace(agent, **{name: getattr(defaults, name) for name in CELL_FIELDS})
        if isinstance(agent, R2ACConfig) and agent.total_updates is None:  # IMPALA's decay over the whole run,
            agent = dataclasses.replace(agent, total_updates=self.iterations)  # written into config.yaml
        object.__setattr__(self, self.family.section, agent)

    @property
    def family(self) -> agents.families.Family:
        """The agent's family (`rtrl.agents.families`): its section, config class and agent names."""
        return next(f for f in FAMILIES if getattr(self, f.section) is not None)

    @property
    def agent_config(self) -> PPOConfig | StreamConfig | R2ACConfig:
        """The agent's config: ``ppo``, ``stream`` or ``r2ac``, whichever the run has."""
        return getattr(self, self.family.section)

    @property
    def iterations(self) -> int:
        """Iterations of the whole run (a rollout and an update; for a streaming agent, ``num_steps``
        steps each learned from): total_steps in whole iterations."""
        return math.ceil(self.total_steps / self.agent_config.rollout_size)

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        return f"{self.agent_config.describe()} on {self.env}"

    def make_env(self, *, observation_moments: Moments | None = None, reward_moments: Moments | None = None):
        """The environment of one seed, wrapped (a JAX-native env unbatched; a host env with num_envs).

        ``observation_moments`` / ``reward_moments`` start the standard stack's statistics there
        instead of afresh (they keep updating), e.g. a resumed host run's from its checkpoint;
        None (or ``wrappers == "none"``, which has no statistics) starts afresh.
        """
        options = dict(self.env_options)
        native = envs.spec(self.env).backend == "jax"
        agent = self.agent_config
        env = envs.make(self.env, **options) if native else envs.make(self.env, num_envs=agent.num_envs, **options)
        wrapper_options = self.wrapper_options()
        if wrapper_options is not None:
            if not wrapper_options.get("normalize_obs", True):
                observation_moments = None
            if not wrapper_options.get("normalize_reward", True):
                reward_moments = None
            env = envs.wrappers.standard(env, observation_moments=observation_moments, reward_moments=reward_moments,
                                         update_statistics=True, **wrapper_options)
        return env

    def wrapper_options(self) -> dict[str, Any] | None:
        """The options of `rtrl.envs.wrappers.standard` this run's stack is built with (the agent's
        discount and normalisation choices; no previous action/reward with ``wrappers="no-previous"``),
        or None with ``wrappers="none"``. Evaluation rebuilds the same stack from them."""
        if self.wrappers == "none":
            return None
        options = self.agent_config.wrapper_options()
        if self.wrappers == "no-previous":
            options["previous_action_and_reward"] = False
        return options

    def make_agent(self) -> agents.Agent | agents.StreamAgent | agents.R2ACAgent:
        return agents.make(self.agent_config, self.make_env())


def load_config(values: Mapping[str, Any]) -> TrainConfig:
    """A `TrainConfig` from a mapping (a YAML file), unknown keys refused."""
    return from_dict(TrainConfig, values)


def learning_part(config: TrainConfig) -> TrainConfig:
    """``config`` with the fields that may change on resume reset: what a checkpoint belongs to."""
    return dataclasses.replace(config, **{k: getattr(TrainConfig(), k) for k in RESUMABLE_CHANGES})


def config_dict(config: TrainConfig) -> dict[str, Any]:
    """Flat view of the fields (the agent's as <section>.<name>: ppo.lr, stream.gamma, ...), for messages."""
    flat = {k: v for k, v in to_dict(config).items() if k not in {f.section for f in FAMILIES}}
    flat.update({f"{config.family.section}.{k}": v for k, v in to_dict(config.agent_config).items()})
    return flat
