"""The host shell of the wrapper rules of `rtrl.envs.wrapper_logic`: statistics kept as an attribute.

`HostWrapper(env, rule)` is itself a `HostEnv`; it runs the same rule as the JAX shell with numpy,
so a host and a JAX wrapper fed the same sequence give the same numbers. The rule's statistics are
``wrapper.state`` (its NamedTuple, ``env_state`` None: the host env keeps its own state) and their
fields read as attributes (``wrapper.moments``). Build wrapped envs through `rtrl.envs.wrappers`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rtrl.envs.host import HostEnv, Info, check_host_actions
from rtrl.envs.wrapper_logic import WrapperRule

__all__ = ["HostWrapper"]


class HostWrapper(HostEnv):
    """``env`` with the wrapper rule ``rule`` applied (numpy back-end)."""

    def __init__(self, env: HostEnv, rule: WrapperRule):
        if not isinstance(env, HostEnv):
            raise TypeError(f"HostWrapper wraps a HostEnv, got {type(env).__name__}")
        if not isinstance(rule, WrapperRule):
            raise TypeError(f"HostWrapper.rule must be a WrapperRule, got {type(rule).__name__}")
        self.env = env
        self.rule = rule
        self.num_envs = env.num_envs
        self.observation_space = rule.observation_space
        self.action_space = rule.action_space
        self.state = rule.init(np, (self.num_envs,))

    @property
    def name(self) -> str:
        return f"{type(self.rule).__name__}({self.env.name})"

    def reset(self, *, seed: int | None = None) -> np.ndarray:
        obs = self.env.reset(seed=seed)
        self.state, obs = self.rule.reset(np, self.rule.init(np, (self.num_envs,)), obs)
        return obs

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Info]:
        rule = self.rule
        if rule.uses_action:
            actions = check_host_actions(rule.action_space, actions, self.num_envs)
        obs, reward, done, info = self.env.step(rule.inner_action(np, actions))
        self.state, obs, reward, info = rule.step(np, self.state, actions, obs, reward, done, info)
        return obs, reward, done, info

    def close(self) -> None:
        self.env.close()

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: the rule's statistics by name (`.moments`), then
        # attributes of the wrapped env (e.g. `.envs`)
        if name in ("env", "rule", "state"):
            raise AttributeError(name)
        state = self.state
        if state is not None and name in state._fields and name != "env_state":
            return getattr(state, name)
        return getattr(self.env, name)
