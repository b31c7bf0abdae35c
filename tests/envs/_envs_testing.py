"""Test-only environments and policies shared by the env tests.

`Countdown` exists twice, as a JAX env and as a gymnasium env with identical dynamics, so both
back-ends (and their wrappers) can be checked against exact, hand-computable sequences:
observation ``[t, 1000 t + 5]`` with ``t`` the step within the episode (0 at reset), reward
``t + 0.5 a`` (discrete) or ``t + sum(a)`` (continuous), and the episode ends when ``t`` reaches
``length`` (terminated, or truncated when ``truncate=True``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from rtrl.envs import Box, Discrete, JaxEnv


class CountdownState(NamedTuple):
    t: jax.Array  # () int32


@dataclasses.dataclass(frozen=True)
class JaxCountdown(JaxEnv):
    length: int = 3
    truncate: bool = False
    continuous: bool = False

    @property
    def observation_space(self) -> Box:
        return Box((2,))

    @property
    def action_space(self):
        return Box((2,), -1.0, 1.0) if self.continuous else Discrete(3)

    @staticmethod
    def _obs(t):
        t = jnp.asarray(t, jnp.float32)
        return jnp.stack([t, 1000.0 * t + 5.0])

    def reset_env(self, key):
        return CountdownState(jnp.int32(0)), self._obs(0)

    def step_env(self, state, action, key):
        t = state.t + 1
        extra = jnp.sum(action) if self.continuous else 0.5 * action
        reward = jnp.asarray(t, jnp.float32) + extra
        end = t >= self.length
        term = end & (not self.truncate)
        trunc = end & self.truncate
        return CountdownState(t), self._obs(t), reward, term, trunc


class GymCountdown(gym.Env):
    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, length: int = 3, truncate: bool = False, continuous: bool = False):
        self.length, self.truncate, self.continuous = length, truncate, continuous
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32) if continuous else gym.spaces.Discrete(3)
        self.t = 0

    def _obs(self):
        return np.array([self.t, 1000.0 * self.t + 5.0], np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        extra = float(np.sum(action)) if self.continuous else 0.5 * int(action)
        end = self.t >= self.length
        return self._obs(), float(self.t + extra), end and not self.truncate, end and self.truncate, {}


@functools.cache
def _reset(env: JaxEnv):
    return jax.jit(env.reset)


@functools.cache
def _scan(env: JaxEnv):
    def run(state, key, actions):
        def body(carry, a):
            s, k = carry
            k, sub = jax.random.split(k)
            s, o, r, d, i = env.step(s, a, sub)
            return (s, k), (o, r, d, i)

        return jax.lax.scan(body, (state, key), actions)[1]

    return jax.jit(run)


def jax_rollout(env: JaxEnv, actions: np.ndarray, key: jax.Array, state: Any = None):
    """Scan ``env`` over ``actions`` (T, *batch, ...) from ``reset(key)`` (or a given ``(state, obs)``).

    Returns ``(first_obs, obs (T, ...), reward, done, info)`` as numpy. One compile per env.
    """
    if state is None:
        state, obs0 = _reset(env)(key)
    else:
        state, obs0 = state
    out = _scan(env)(state, key, jnp.asarray(actions))
    return np.asarray(obs0), *jax.tree.map(np.asarray, out)


def host_rollout(env, actions: np.ndarray, seed: int = 0):
    """Step a HostEnv over ``actions`` (T, num_envs, ...); returns like `jax_rollout`."""
    obs0 = env.reset(seed=seed)
    outs = [env.step(a) for a in actions]
    obs, rew, done, infos = zip(*outs, strict=True)
    info = {k: np.stack([i[k] for i in infos]) for k in infos[0]}
    return obs0, np.stack(obs), np.stack(rew), np.stack(done), info


@functools.cache
def _scan_final(env: JaxEnv):
    def run(key, actions):
        state, _ = env.reset(key)

        def body(carry, a):
            s, k = carry
            k, sub = jax.random.split(k)
            s, o, r, d, i = env.step(s, a, sub)
            return (s, k), (o, r, d, i)

        (state, _), out = jax.lax.scan(body, (state, key), actions)
        return state, out

    return jax.jit(run)


def jax_rollout_with_state(env: JaxEnv, actions: np.ndarray, key: jax.Array):
    """As `jax_rollout` from ``reset(key)`` (same keys), in one jitted call; returns ``(final_state, obs, ...)``."""
    state, out = _scan_final(env)(key, jnp.asarray(actions))
    return state, *jax.tree.map(np.asarray, out)
