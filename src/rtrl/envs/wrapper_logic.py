"""Each environment wrapper's rule, written once over an array namespace ``xp`` (numpy or jax.numpy).

A wrapper rule is a frozen, hashable dataclass holding its options and the spaces of the env it
wraps. Its options are validated once, in ``__post_init__``, whichever back-end runs it. Its
statistics (if any) are a NamedTuple whose first field ``env_state`` holds the wrapped env's state
on the JAX back-end (None on the host, where the env keeps its own). The rule is four pure functions:

    state = rule.init(xp, batch_shape)                              # statistics before reset (None: none)
    state, obs = rule.reset(xp, state, obs)                         # on the wrapped env's first observations
    inner_action = rule.inner_action(xp, action)                    # what the wrapped env is sent
    state, obs, reward, info = rule.step(xp, state, action, obs, reward, done, info)

Two thin shells run them: `rtrl.envs.jax_wrappers.JaxWrapper` (statistics inside the env state;
works under ``jit``/``vmap``/``scan``) and `rtrl.envs.host_wrappers.HostWrapper` (statistics kept as
an attribute). Fed the same sequence, both give the same numbers because they run the same code.
Build wrapped envs with `rtrl.envs.wrappers`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np

from rtrl import validate
from rtrl.envs.episodes import episode_step
from rtrl.envs.running import Moments, init_moments, normalize, update_moments
from rtrl.envs.spaces import Box, Discrete, Space

__all__ = [
    "ClipAction",
    "EpisodeStatistics",
    "EpisodeStatisticsState",
    "MaskObservation",
    "NormalizeObservation",
    "NormalizeObservationState",
    "PreviousActionReward",
    "ScaleReward",
    "ScaleRewardState",
    "WrapperRule",
    "action_features",
    "previous_action_reward_space",
]

Info = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class WrapperRule:
    """A wrapper that changes nothing; subclasses override what they change (module docstring).

    Attributes:
      inner_observation_space: the wrapped env's observation space.
      inner_action_space: the wrapped env's action space.
    """

    inner_observation_space: Box
    inner_action_space: Space

    stateful: ClassVar[bool] = False  # init returns statistics (a NamedTuple with env_state first)
    uses_action: ClassVar[bool] = False  # the shell validates the action against `action_space` first

    @property
    def observation_space(self) -> Box:
        return self.inner_observation_space

    @property
    def action_space(self) -> Space:
        return self.inner_action_space

    def init(self, xp: Any, batch_shape: tuple[int, ...]) -> Any:
        """The statistics before any observation (None for a stateless wrapper)."""
        return None

    def reset(self, xp: Any, state: Any, obs: Any) -> tuple[Any, Any]:
        """``(state, obs)`` after the wrapped env's reset observation ``obs``."""
        return state, obs

    def inner_action(self, xp: Any, action: Any) -> Any:
        """The action the wrapped env receives."""
        return action

    def step(self, xp: Any, state: Any, action: Any, obs: Any, reward: Any, done: Any,
             info: Info) -> tuple[Any, Any, Any, Info]:
        """``(state, obs, reward, info)`` after one step of the wrapped env (``done`` passes through)."""
        return state, obs, reward, info


def _flat_observations(what: str, space: Box) -> None:
    if len(space.shape) != 1:
        raise ValueError(f"{what} needs flat (1-D) observations, got shape {space.shape}")


# --- previous action and reward ---------------------------------------------------------------
def action_features(space: Space) -> int:
    """Width of an action's encoding: ``n`` (one-hot) for Discrete, ``size`` for Box."""
    return space.n if isinstance(space, Discrete) else space.size


def previous_action_reward_space(obs_space: Box, action_space: Space, action: bool, reward: bool) -> Box:
    """The observation space after appending the previous action (one-hot or raw) and/or reward."""
    low, high = [obs_space.low_array.reshape(-1)], [obs_space.high_array.reshape(-1)]
    if action:
        if isinstance(action_space, Discrete):
            low.append(np.zeros(action_space.n, np.float32))
            high.append(np.ones(action_space.n, np.float32))
        else:  # the null action (zeros) is included in the bounds
            low.append(np.minimum(action_space.low_array.reshape(-1), 0))
            high.append(np.maximum(action_space.high_array.reshape(-1), 0))
    if reward:
        low.append(np.full(1, -np.inf, np.float32))
        high.append(np.full(1, np.inf, np.float32))
    lo, hi = np.concatenate(low), np.concatenate(high)
    return Box((lo.size,), tuple(lo.tolist()), tuple(hi.tolist()))


@dataclasses.dataclass(frozen=True)
class PreviousActionReward(WrapperRule):
    """Append the previous action (one-hot if discrete, raw if continuous) and/or reward to the observation.

    ``obs'_t = [obs_t, enc(a_{t-1}), r_{t-1}]``. On the first observation of an episode (after
    ``reset`` or on a ``done`` step) there is no previous action: the action part is zeros when
    ``null_action`` is None, or the one-hot of ``null_action`` (popgym's ``PreviousAction``
    wrapper uses 0), and the reward part is 0. ``info["final_obs"]`` gets the real last action/reward.
    """

    action: bool = True
    reward: bool = True
    null_action: int | None = None

    uses_action: ClassVar[bool] = True

    def __post_init__(self) -> None:
        validate.boolean("action", self.action)
        validate.boolean("reward", self.reward)
        _flat_observations("previous_action_reward", self.inner_observation_space)
        if not (self.action or self.reward):
            raise ValueError("previous_action_reward: at least one of action=True or reward=True is needed")
        space = self.inner_action_space
        if self.null_action is not None:
            if not isinstance(space, Discrete):
                raise ValueError(f"null_action only applies to a Discrete action space, got {space}; leave it None")
            if not validate.is_integer(self.null_action) or not 0 <= self.null_action < space.n:
                raise ValueError(f"null_action must be an integer in 0..{space.n - 1}, got {self.null_action!r}")
            object.__setattr__(self, "null_action", int(self.null_action))
        # the appended part of a first observation: zeros, or the null action's one-hot
        null = np.zeros(action_features(space) * self.action + self.reward, np.float32)
        if self.action and self.null_action is not None:
            null[self.null_action] = 1.0
        null.setflags(write=False)
        object.__setattr__(self, "_null", null)

    @functools.cached_property  # a host shell reads it every step: built once
    def observation_space(self) -> Box:
        return previous_action_reward_space(self.inner_observation_space, self.inner_action_space, self.action,
                                            self.reward)

    def _features(self, xp: Any, action: Any, reward: Any, batch: tuple[int, ...]) -> Any:
        parts = []
        if self.action:
            space = self.inner_action_space
            if isinstance(space, Discrete):  # one-hot by comparison, as jax.nn.one_hot
                parts.append((xp.asarray(action)[..., None] == xp.arange(space.n)).astype(xp.float32))
            else:
                parts.append(xp.asarray(action, xp.float32).reshape(batch + (space.size,)))
        if self.reward:
            parts.append(xp.asarray(reward, xp.float32)[..., None])
        return xp.concatenate(parts, axis=-1)

    def _null_features(self, xp: Any, batch: tuple[int, ...]) -> Any:
        return xp.broadcast_to(xp.asarray(self._null), batch + self._null.shape)

    def reset(self, xp: Any, state: Any, obs: Any) -> tuple[Any, Any]:
        return state, xp.concatenate([obs, self._null_features(xp, obs.shape[:-1])], axis=-1)

    def step(self, xp, state, action, obs, reward, done, info):
        batch = obs.shape[:-1]
        real = self._features(xp, action, reward, batch)
        extra = xp.where(done[..., None], self._null_features(xp, batch), real)
        info = {**info, "final_obs": xp.concatenate([info["final_obs"], real], axis=-1)}
        return state, xp.concatenate([obs, extra], axis=-1), reward, info


# --- observation normalisation ----------------------------------------------------------------
def frozen_moments(name: str, moments: Any, feature_shape: tuple[int, ...]) -> Moments:
    """``moments`` (a `Moments` of arrays) as a hashable `Moments` of flat float tuples, checked.

    The float32 values survive the round trip exactly (float32 -> Python float -> float32).
    """
    if not isinstance(moments, Moments):
        raise ValueError(f"{name} must be rtrl.envs.running.Moments(mean, var, count) (e.g. from "
                         f"rtrl.envs.wrappers.observation_moments), got {type(moments).__name__}")
    mean, var, count = (np.asarray(v, np.float32) for v in moments)
    for field, value in (("mean", mean), ("var", var)):
        if value.shape != feature_shape:
            raise ValueError(f"{name}.{field} has shape {value.shape}, but the observations have shape {feature_shape}")
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(var)) and np.all(var >= 0)):
        raise ValueError(f"{name}: mean must be finite and var finite and >= 0")
    if count.shape != () or not (np.isfinite(count) and count > 0):
        raise ValueError(f"{name}.count must be one positive number, got {count}")
    return Moments(tuple(mean.reshape(-1).tolist()), tuple(var.reshape(-1).tolist()), float(count))


def thawed_moments(xp: Any, moments: Moments, feature_shape: tuple[int, ...]) -> Moments:
    """A `frozen_moments` value back as float32 arrays of ``xp``."""
    return Moments(xp.asarray(np.asarray(moments.mean, np.float32).reshape(feature_shape)),
                   xp.asarray(np.asarray(moments.var, np.float32).reshape(feature_shape)),
                   xp.asarray(moments.count, xp.float32))


def _optional_positive(name: str, value: Any) -> float | None:
    return None if value is None else validate.positive_number(name, value, what="(or None)")


class NormalizeObservationState(NamedTuple):
    env_state: Any
    moments: Moments  # per-feature running mean/var of the delivered observations


@dataclasses.dataclass(frozen=True)
class NormalizeObservation(WrapperRule):
    """Running per-feature observation normalisation, ``(obs - mean) / sqrt(var + epsilon)``.

    The statistics start from ``moments`` (default: mean 0, variance 1, count 1e-4) at every reset
    and are updated with every delivered observation, the reset ones included, pooled over the
    batch axes only. ``update=False`` freezes them (evaluation with the training statistics).
    ``info["final_obs"]`` is normalised with the same statistics; ``clip`` bounds the result.
    """

    epsilon: float = 1e-8
    clip: float | None = None
    update: bool = True
    moments: Moments | None = None  # initial statistics, as `frozen_moments`

    stateful: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "epsilon", validate.positive_number("epsilon", self.epsilon))
        object.__setattr__(self, "clip", _optional_positive("clip", self.clip))
        validate.boolean("update", self.update)
        if self.moments is not None:
            object.__setattr__(self, "moments",
                               frozen_moments("moments", self.moments, self.inner_observation_space.shape))

    @functools.cached_property  # a host shell reads it every step: built once
    def observation_space(self) -> Box:
        c = np.inf if self.clip is None else self.clip
        return Box(self.inner_observation_space.shape, -c, c)

    def initial_moments(self, xp: Any) -> Moments:
        shape = self.inner_observation_space.shape
        return init_moments(xp, shape) if self.moments is None else thawed_moments(xp, self.moments, shape)

    def _fold(self, xp: Any, m: Moments, obs: Any) -> Moments:
        return update_moments(xp, m, obs, len(self.inner_observation_space.shape)) if self.update else m

    def init(self, xp, batch_shape):
        return NormalizeObservationState(None, self.initial_moments(xp))

    def reset(self, xp, state, obs):
        m = self._fold(xp, state.moments, obs)
        return state._replace(moments=m), normalize(xp, m, obs, self.epsilon, self.clip)

    def step(self, xp, state, action, obs, reward, done, info):
        m = self._fold(xp, state.moments, obs)
        info = {**info, "final_obs": normalize(xp, m, info["final_obs"], self.epsilon, self.clip)}
        return state._replace(moments=m), normalize(xp, m, obs, self.epsilon, self.clip), reward, info


# --- reward scaling ---------------------------------------------------------------------------
class ScaleRewardState(NamedTuple):
    env_state: Any
    discounted_return: Any  # (*batch,) float32: running discounted return of the current episode
    moments: Moments  # scalar running mean/var of the discounted return


@dataclasses.dataclass(frozen=True)
class ScaleReward(WrapperRule):
    """Divide rewards by a running estimate of the discounted return's standard deviation.

    ``G_t = gamma * G_{t-1} + r_t`` per env (``G`` restarts at 0 after the step that ends an episode);
    ``r'_t = r_t / sqrt(var(G) + epsilon)`` with ``var(G)`` the running variance of every ``G_t`` seen
    so far, pooled over envs and updated before scaling (the reward-scaling rule of PPO
    implementations and of the RTU paper's code, with the episode boundary taken from ``done``).
    ``moments`` sets the initial statistics, ``update=False`` freezes them.
    """

    gamma: float = 0.99
    epsilon: float = 1e-8
    clip: float | None = None
    update: bool = True
    moments: Moments | None = None  # initial statistics of G, as `frozen_moments` with shape ()

    stateful: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "gamma", validate.number_in("gamma", self.gamma, 0.0, 1.0))
        object.__setattr__(self, "epsilon", validate.positive_number("epsilon", self.epsilon))
        object.__setattr__(self, "clip", _optional_positive("clip", self.clip))
        validate.boolean("update", self.update)
        if self.moments is not None:
            object.__setattr__(self, "moments", frozen_moments("moments", self.moments, ()))

    def init(self, xp, batch_shape):
        m = init_moments(xp, ()) if self.moments is None else thawed_moments(xp, self.moments, ())
        return ScaleRewardState(None, xp.zeros(batch_shape, xp.float32), m)

    def step(self, xp, state, action, obs, reward, done, info):
        g = (state.discounted_return * xp.float32(self.gamma) + reward).astype(xp.float32)
        m = update_moments(xp, state.moments, g, 0) if self.update else state.moments
        scaled = reward / xp.sqrt(m.var + xp.float32(self.epsilon))
        if self.clip is not None:
            scaled = xp.clip(scaled, -self.clip, self.clip)
        g = xp.where(done, xp.float32(0.0), g)
        return state._replace(discounted_return=g, moments=m), obs, scaled.astype(xp.float32), info


# --- action clipping --------------------------------------------------------------------------
def _hashable_bound(name: str, value: Any, size: int) -> float | tuple[float, ...] | None:
    """A bound as None, a float or a flat tuple of ``size`` floats (hashable)."""
    if value is None:
        return None
    try:
        a = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"clip_action {name} must be a number or hold {size} numbers, got {value!r}") from None
    if a.ndim == 0:
        return float(a)
    if a.size != size:
        raise ValueError(f"clip_action bound must be a number or hold {size} values, got {a.size}")
    return tuple(a.reshape(-1).tolist())


@dataclasses.dataclass(frozen=True)
class ClipAction(WrapperRule):
    """Accept any finite real action and clip it to ``[low, high]`` (default: the inner space's bounds)."""

    low: float | tuple[float, ...] | None = None
    high: float | tuple[float, ...] | None = None

    uses_action: ClassVar[bool] = True

    def __post_init__(self) -> None:
        space = self.inner_action_space
        if not isinstance(space, Box):
            raise TypeError(f"clip_action applies to continuous (Box) action spaces, got {space}")
        bounds = []
        for name, default in (("low", space.low_array), ("high", space.high_array)):
            value = _hashable_bound(name, getattr(self, name), space.size)
            object.__setattr__(self, name, value)
            bounds.append(default if value is None else
                          np.broadcast_to(np.asarray(value, np.float32), (space.size,)).reshape(space.shape).copy())
        lo, hi = bounds
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ValueError(f"clip_action needs finite bounds; the inner action space is {space}: pass low= and high=")
        if np.any(lo > hi):
            raise ValueError(f"clip_action: low must be <= high, got low={self.low}, high={self.high}")
        object.__setattr__(self, "_bounds", (lo, hi))

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` as float32 arrays of the action shape."""
        return self._bounds

    @functools.cached_property  # a host shell checks every action against it: built once
    def action_space(self) -> Box:
        return Box(self.inner_action_space.shape)

    def inner_action(self, xp: Any, action: Any) -> Any:
        lo, hi = self._bounds
        return xp.clip(action, lo, hi).astype(xp.float32)


# --- episode statistics -----------------------------------------------------------------------
class EpisodeStatisticsState(NamedTuple):
    env_state: Any
    episode_return: Any  # (*batch,) float32: return of the running episode so far
    episode_length: Any  # (*batch,) int32
    returned_episode_return: Any  # (*batch,) float32: return of the last finished episode
    returned_episode_length: Any  # (*batch,) int32


@dataclasses.dataclass(frozen=True)
class EpisodeStatistics(WrapperRule):
    """Track undiscounted episode returns and lengths for logging (`rtrl.envs.episodes.episode_step`).

    ``info["episode_return"]``/``info["episode_length"]`` hold, per env, the last *finished*
    episode's values (0 before any finishes); they are new exactly where ``done`` is True.
    Place it innermost to log raw rewards.
    """

    stateful: ClassVar[bool] = True

    def init(self, xp, batch_shape):
        zf, zi = xp.zeros(batch_shape, xp.float32), xp.zeros(batch_shape, xp.int32)
        return EpisodeStatisticsState(None, zf, zi, zf, zi)

    def step(self, xp, state, action, obs, reward, done, info):
        s = episode_step(xp, state.episode_return, state.episode_length, reward, done)
        returned_return = xp.where(done, s.finished_return, state.returned_episode_return)
        returned_length = xp.where(done, s.finished_length, state.returned_episode_length)
        state = state._replace(episode_return=s.running_return, episode_length=s.running_length,
                               returned_episode_return=returned_return, returned_episode_length=returned_length)
        return state, obs, reward, {**info, "episode_return": returned_return, "episode_length": returned_length}


# --- observation masks ------------------------------------------------------------------------
def _keep_indices(keep: Any, size: int) -> tuple[int, ...]:
    """``keep`` (indices, or a boolean mask of ``size``) as a tuple of distinct indices in ``0..size-1``."""
    if isinstance(keep, (str, bytes)) or not isinstance(keep, (Sequence, np.ndarray)):
        raise ValueError(f"keep must be a list of observation indices or a boolean mask of {size} values, "
                         f"got {keep!r}")
    values = list(np.asarray(keep).reshape(-1)) if isinstance(keep, np.ndarray) else list(keep)
    if values and all(isinstance(v, (bool, np.bool_)) for v in values):
        if len(values) != size:
            raise ValueError(f"a boolean keep mask must have one value per observation feature ({size}), "
                             f"got {len(values)}")
        indices = [i for i, v in enumerate(values) if v]
    else:
        indices = []
        for v in values:
            if not validate.is_integer(v) or not -size <= v < size:
                raise ValueError(f"keep must hold observation indices in 0..{size - 1} (or negative from the end), "
                                 f"got {v!r}")
            indices.append(int(v) % size)
    if not indices:
        raise ValueError("keep selects no observation feature; keep at least one")
    if len(set(indices)) != len(indices):
        raise ValueError(f"keep lists an observation index twice: {indices}")
    return tuple(indices)


@dataclasses.dataclass(frozen=True)
class MaskObservation(WrapperRule):
    """Keep only the observation features ``keep`` (in that order), e.g. a robot's positions (-P).

    ``keep`` is a sequence of indices or a boolean mask with one value per feature; it is stored as
    a tuple of indices. ``info["final_obs"]`` is masked the same way.
    """

    keep: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _flat_observations("mask_observation", self.inner_observation_space)
        indices = _keep_indices(self.keep, self.inner_observation_space.size)
        object.__setattr__(self, "keep", indices)
        first = indices[0]
        contiguous = indices == tuple(range(first, first + len(indices)))
        object.__setattr__(self, "_slice", slice(first, first + len(indices)) if contiguous else None)

    @functools.cached_property  # a host shell reads it every step: built once
    def observation_space(self) -> Box:
        idx = list(self.keep)
        inner = self.inner_observation_space
        return Box((len(idx),), tuple(inner.low_array[idx].tolist()), tuple(inner.high_array[idx].tolist()))

    def _take(self, xp: Any, x: Any) -> Any:
        if self._slice is not None:  # a plain slice where it can be (cheaper than a gather)
            return x[..., self._slice]
        return xp.take(x, np.asarray(self.keep), axis=-1)

    def reset(self, xp, state, obs):
        return state, self._take(xp, obs)

    def step(self, xp, state, action, obs, reward, done, info):
        return state, self._take(xp, obs), reward, {**info, "final_obs": self._take(xp, info["final_obs"])}
