"""The agent families `rtrl train` knows: each a config class, the agents it names, and the section
of `rtrl.experiments.TrainConfig` that holds it.

    family = families.of_agent("stream-ac")      # Family(section="stream", config=StreamConfig, ...)
    family = families.of_config(R2ACConfig())   # the family of a config object

Every family's config has an ``agent`` field (one of ``agents``) and the surface the training layer
reads: ``num_envs``, ``rollout_size``, ``recurrent``, ``make_cell``, ``wrapper_options``,
``describe``, ``shrink_hint``, ``divergence_advice``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rtrl.agents.config import AGENTS, PPOConfig
from rtrl.agents.r2ac_config import R2AC_AGENTS, R2ACConfig
from rtrl.agents.stream_config import STREAM_AGENTS, StreamConfig

__all__ = ["FAMILIES", "Family", "of_agent", "of_config"]


@dataclasses.dataclass(frozen=True)
class Family:
    section: str  # the TrainConfig field (and YAML key) that holds its config
    config: type  # its frozen config class
    agents: tuple[str, ...]  # the names its ``agent`` field takes
    kind: str  # how messages name it


FAMILIES = (
    Family("ppo", PPOConfig, AGENTS, "PPO agents"),
    Family("stream", StreamConfig, STREAM_AGENTS, "streaming agents"),
    Family("r2ac", R2ACConfig, R2AC_AGENTS, "R2AC agents"),
)


def of_agent(name: str) -> Family:
    """The family whose agents include ``name``; ValueError listing every agent otherwise."""
    for family in FAMILIES:
        if name in family.agents:
            return family
    valid = " | ".join(", ".join(f.agents) for f in FAMILIES)
    raise ValueError(f"agent must be one of {valid}, got {name!r}.")


def of_config(config: Any) -> Family:
    """The family of an agent config object; TypeError for anything else."""
    for family in FAMILIES:
        if isinstance(config, family.config):
            return family
    names = ", ".join(f.config.__name__ for f in FAMILIES)
    raise TypeError(f"config must be one of {names}, got {type(config).__name__}.")
