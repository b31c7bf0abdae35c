"""The JAX shell of the wrapper rules of `rtrl.envs.wrapper_logic`: statistics live in the env state.

`JaxWrapper(env, rule)` is itself a `JaxEnv` (same ``reset``/``step`` protocol and auto-reset
convention), frozen and hashable (so it can be a static argument), works on a single env or on a
`VmapEnv` batch (statistics are then pooled over the batch, per feature) and can sit inside
``jit``/``scan``/``vmap``. The state of a stateful rule is its NamedTuple with ``env_state`` holding
the wrapped env's state; a stateless rule passes the wrapped env's state through unchanged.
Build wrapped envs through `rtrl.envs.wrappers`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from rtrl.envs.jax_env import Info, JaxEnv, check_action
from rtrl.envs.spaces import Box, Space
from rtrl.envs.wrapper_logic import WrapperRule

__all__ = ["JaxWrapper"]


@dataclasses.dataclass(frozen=True)
class JaxWrapper(JaxEnv):
    """``env`` with the wrapper rule ``rule`` applied (jax.numpy back-end)."""

    env: JaxEnv
    rule: WrapperRule

    def __post_init__(self) -> None:
        if not isinstance(self.env, JaxEnv):
            raise TypeError(f"JaxWrapper.env must be a JaxEnv, got {type(self.env).__name__}")
        if not isinstance(self.rule, WrapperRule):
            raise TypeError(f"JaxWrapper.rule must be a WrapperRule, got {type(self.rule).__name__}")

    @property
    def observation_space(self) -> Box:
        return self.rule.observation_space

    @property
    def action_space(self) -> Space:
        return self.rule.action_space

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.env.batch_shape

    @property
    def name(self) -> str:
        return f"{type(self.rule).__name__}({self.env.name})"

    def reset(self, key: jax.Array) -> tuple[Any, jax.Array]:
        inner, obs = self.env.reset(key)
        state, obs = self.rule.reset(jnp, self.rule.init(jnp, self.batch_shape), obs)
        return (state._replace(env_state=inner) if self.rule.stateful else inner), obs

    def step(self, state: Any, action: Any, key: jax.Array) -> tuple[Any, jax.Array, jax.Array, jax.Array, Info]:
        rule = self.rule
        if rule.uses_action:
            action = check_action(rule.action_space, action, self.batch_shape)
        inner = state.env_state if rule.stateful else state
        inner, obs, reward, done, info = self.env.step(inner, rule.inner_action(jnp, action), key)
        state, obs, reward, info = rule.step(jnp, state if rule.stateful else None, action, obs, reward, done, info)
        return (state._replace(env_state=inner) if rule.stateful else inner), obs, reward, done, info
