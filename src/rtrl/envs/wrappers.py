"""Environment wrappers for both back-ends, chosen by the type of the env they wrap.

Each function takes a `JaxEnv` (giving a pure wrapper whose statistics live in the env state,
`rtrl.envs.jax_wrappers`) or a `HostEnv` (giving a stateful numpy twin with the same arithmetic,
`rtrl.envs.host_wrappers`). `standard` applies the RTU paper's stack (Elelimy et al. 2024):
episode statistics -> continuous-action clipping -> observation normalisation -> reward scaling
-> previous action + previous reward (discrete actions).
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from rtrl.envs import host_wrappers as hw
from rtrl.envs import jax_wrappers as jw
from rtrl.envs.host import HostEnv
from rtrl.envs.jax_env import JaxEnv
from rtrl.envs.spaces import Box, Discrete

__all__ = [
    "clip_action",
    "episode_statistics",
    "normalize_observation",
    "previous_action_reward",
    "scale_reward",
    "standard",
]

E = TypeVar("E", JaxEnv, HostEnv)


def _backend(env: Any, what: str) -> str:
    if isinstance(env, JaxEnv):
        return "jax"
    if isinstance(env, HostEnv):
        return "host"
    raise TypeError(f"{what} wraps an rtrl JaxEnv or HostEnv (from rtrl.envs.make), got {type(env).__name__}")


def previous_action_reward(env: E, *, action: bool = True, reward: bool = True, null_action: int | None = None) -> E:
    """Append the previous action (one-hot for discrete, raw for continuous) and/or the previous reward.

    At the first observation of an episode the appended part is zeros (or the one-hot of
    ``null_action``, popgym's ``PreviousAction`` convention, for a discrete space).
    """
    if _backend(env, "previous_action_reward") == "jax":
        return jw.PreviousActionReward(env, action=action, reward=reward, null_action=null_action)
    return hw.HostPreviousActionReward(env, action=action, reward=reward, null_action=null_action)


def normalize_observation(env: E, *, epsilon: float = 1e-8, clip: float | None = None, update: bool = True) -> E:
    """Running per-feature observation normalisation (statistics pooled over envs and time, never over features)."""
    if _backend(env, "normalize_observation") == "jax":
        return jw.NormalizeObservation(env, epsilon=epsilon, clip=clip, update=update)
    return hw.HostNormalizeObservation(env, epsilon=epsilon, clip=clip, update=update)


def scale_reward(
    env: E, *, gamma: float = 0.99, epsilon: float = 1e-8, clip: float | None = None, update: bool = True
) -> E:
    """Divide rewards by the running standard deviation of the discounted return."""
    if _backend(env, "scale_reward") == "jax":
        return jw.ScaleReward(env, gamma=gamma, epsilon=epsilon, clip=clip, update=update)
    return hw.HostScaleReward(env, gamma=gamma, epsilon=epsilon, clip=clip, update=update)


def clip_action(env: E, *, low: Any = None, high: Any = None) -> E:
    """Accept any finite real action and clip it to ``[low, high]`` (default: the action space's bounds)."""
    if _backend(env, "clip_action") == "jax":
        return jw.ClipAction(env, low=_hashable_bound(low), high=_hashable_bound(high))
    return hw.HostClipAction(env, low=low, high=high)


def _hashable_bound(v: Any) -> float | tuple[float, ...] | None:
    """A bound as None, a float or a flat tuple, so that the frozen JAX wrapper stays hashable."""
    if v is None:
        return None
    a = np.asarray(v, np.float64)
    return float(a) if a.ndim == 0 else tuple(a.reshape(-1).tolist())


def episode_statistics(env: E) -> E:
    """Add ``info["episode_return"]`` and ``info["episode_length"]`` (last finished episode, per env)."""
    if _backend(env, "episode_statistics") == "jax":
        return jw.EpisodeStatistics(env)
    return hw.HostEpisodeStatistics(env)


def standard(
    env: E,
    *,
    gamma: float = 0.99,
    normalize_obs: bool = True,
    normalize_reward: bool = True,
    clip_actions: tuple[float, float] | None = None,
    previous_action_and_reward: bool | None = None,
) -> E:
    """The RTU paper's wrapper stack, in its order.

    episode statistics (raw rewards) -> clip continuous actions (to ``clip_actions`` or the space's
    bounds) -> per-feature observation normalisation -> reward scaling (``gamma``) -> previous action
    (one-hot) and previous reward appended (by default only for discrete action spaces, as in the paper).
    """
    env = episode_statistics(env)
    if isinstance(env.action_space, Box):
        lo, hi = (None, None) if clip_actions is None else clip_actions
        env = clip_action(env, low=lo, high=hi)
    if normalize_obs:
        env = normalize_observation(env)
    if normalize_reward:
        env = scale_reward(env, gamma=gamma)
    if previous_action_and_reward is None:
        previous_action_and_reward = isinstance(env.action_space, Discrete)
    if previous_action_and_reward:
        env = previous_action_reward(env)
    return env
