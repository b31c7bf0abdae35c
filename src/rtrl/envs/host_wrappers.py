"""The host shell of the wrapper rules of `rtrl.envs.wrapper_logic`: statistics kept as an attribute.

`HostWrapper(env, rule)` is itself a `HostEnv`; it runs the same rule as the JAX shell with numpy,
so a host and a JAX wrapper fed the same sequence give the same numbers. The rule's statistics are
``wrapper.state`` (its NamedTuple, ``env_state`` None: the host env keeps its own state) and their
fields read as attributes (``wrapper.moments``). Build wrapped envs through `rtrl.envs.wrappers`.

A stack of shells is stepped as one (fused): the outermost shell runs every rule of the stack in one
loop, the actions inward (each rule that reads actions checks the action it receives, then hands
on its ``inner_action``), the unwrapped env's step, then each rule's ``step`` outward, each shell's
statistics written back to that shell. This is exactly what stepping the nested shells one inside
the other does, without a method call, an action check against a space rebuilt per step and a
dict of results per layer: the host rollout steps the standard stack of five wrappers every step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rtrl.envs.host import HostEnv, Info, action_checker
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
        self._check_actions = action_checker(rule.action_space, self.num_envs) if rule.uses_action else None
        # the shells of the stack down to the first env that is not one, innermost first (this one last)
        inner = env._shells if isinstance(env, HostWrapper) else ()
        self._shells: tuple[HostWrapper, ...] = (*inner, self)
        self._base: HostEnv = env._base if isinstance(env, HostWrapper) else env

    @property
    def name(self) -> str:
        return f"{type(self.rule).__name__}({self.env.name})"

    def reset(self, *, seed: int | None = None) -> np.ndarray:
        obs = self._base.reset(seed=seed)
        for shell in self._shells:
            rule = shell.rule
            shell.state, obs = rule.reset(np, rule.init(np, (shell.num_envs,)), obs)
        return obs

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Info]:
        shells = self._shells
        received = [None] * len(shells)  # the action each shell is sent, outermost first
        for k in range(len(shells) - 1, -1, -1):
            shell = shells[k]
            if shell._check_actions is not None:
                actions = shell._check_actions(actions)
            received[k] = actions
            actions = shell.rule.inner_action(np, actions)
        obs, reward, done, info = self._base.step(actions)
        for shell, action in zip(shells, received):
            shell.state, obs, reward, info = shell.rule.step(np, shell.state, action, obs, reward, done, info)
        return obs, reward, done, info

    def close(self) -> None:
        self.env.close()

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: the rule's statistics by name (`.moments`), then
        # attributes of the wrapped env (e.g. `.envs`)
        if name in ("env", "rule", "state", "_shells", "_base", "_check_actions"):
            raise AttributeError(name)
        state = self.state
        if state is not None and name in state._fields and name != "env_state":
            return getattr(state, name)
        return getattr(self.env, name)
