"""Pure wrappers for JAX-native environments: every statistic lives in the wrapper's state.

Each wrapper is itself a `JaxEnv` (same ``reset``/``step`` protocol and auto-reset convention),
works on a single env or on a `VmapEnv` batch (statistics are then pooled over the batch, per
feature) and can sit inside ``jit``/``scan``/``vmap``. Build them through `rtrl.envs.wrappers`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rtrl.envs.jax_env import Info, JaxEnv, check_action
from rtrl.envs.running import Moments, init_moments, normalize, update_moments
from rtrl.envs.spaces import Box, Discrete, Space

__all__ = [
    "ClipAction",
    "EpisodeStatistics",
    "EpisodeStatisticsState",
    "JaxWrapper",
    "NormalizeObservation",
    "NormalizeObservationState",
    "PreviousActionReward",
    "ScaleReward",
    "ScaleRewardState",
    "action_features",
    "previous_action_reward_space",
]


@dataclasses.dataclass(frozen=True)
class JaxWrapper(JaxEnv):
    """Delegates everything to ``env``; subclasses override what they change."""

    env: JaxEnv

    def __post_init__(self) -> None:
        if not isinstance(self.env, JaxEnv):
            raise TypeError(f"{type(self).__name__}.env must be a JaxEnv, got {type(self.env).__name__}")

    @property
    def observation_space(self) -> Box:
        return self.env.observation_space

    @property
    def action_space(self) -> Space:
        return self.env.action_space

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.env.batch_shape

    @property
    def name(self) -> str:
        return f"{type(self).__name__}({self.env.name})"

    def reset(self, key: jax.Array) -> tuple[Any, jax.Array]:
        return self.env.reset(key)

    def step(self, state: Any, action: Any, key: jax.Array) -> tuple[Any, jax.Array, jax.Array, jax.Array, Info]:
        return self.env.step(state, action, key)


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
class PreviousActionReward(JaxWrapper):
    """Append the previous action (one-hot if discrete, raw if continuous) and/or reward to the observation.

    ``obs'_t = [obs_t, enc(a_{t-1}), r_{t-1}]``. On the first observation of an episode (after
    ``reset`` or on a ``done`` step) there is no previous action: the action part is zeros when
    ``null_action`` is None, or the one-hot of ``null_action`` (popgym's ``PreviousAction``
    wrapper uses 0), and the reward part is 0. ``info["final_obs"]`` gets the real last action/reward.
    """

    action: bool = True
    reward: bool = True
    null_action: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.env.observation_space.shape) != 1:
            raise ValueError(
                f"previous_action_reward needs flat (1-D) observations, got shape {self.env.observation_space.shape}"
            )
        if not (self.action or self.reward):
            raise ValueError("previous_action_reward: at least one of action=True or reward=True is needed")
        if self.null_action is not None:
            space = self.env.action_space
            if not isinstance(space, Discrete):
                raise ValueError(f"null_action only applies to a Discrete action space, got {space}; leave it None")
            if (
                isinstance(self.null_action, bool)
                or not isinstance(self.null_action, int)
                or not 0 <= self.null_action < space.n
            ):
                raise ValueError(f"null_action must be an integer in 0..{space.n - 1}, got {self.null_action!r}")

    @property
    def observation_space(self) -> Box:
        return previous_action_reward_space(self.env.observation_space, self.env.action_space, self.action, self.reward)

    def _features(self, action: jax.Array | None, reward: jax.Array | None, batch: tuple[int, ...]) -> jax.Array:
        parts = []
        if self.action:
            space = self.env.action_space
            if action is None:
                if self.null_action is None:
                    parts.append(jnp.zeros(batch + (action_features(space),), jnp.float32))
                else:
                    parts.append(
                        jnp.broadcast_to(
                            jax.nn.one_hot(self.null_action, space.n, dtype=jnp.float32), batch + (space.n,)
                        )
                    )
            elif isinstance(space, Discrete):
                parts.append(jax.nn.one_hot(action, space.n, dtype=jnp.float32))
            else:
                parts.append(jnp.asarray(action, jnp.float32).reshape(batch + (space.size,)))
        if self.reward:
            parts.append(
                jnp.zeros(batch + (1,), jnp.float32) if reward is None else jnp.asarray(reward, jnp.float32)[..., None]
            )
        return jnp.concatenate(parts, axis=-1)

    def reset(self, key: jax.Array) -> tuple[Any, jax.Array]:
        state, obs = self.env.reset(key)
        return state, jnp.concatenate([obs, self._features(None, None, obs.shape[:-1])], axis=-1)

    def step(self, state: Any, action: Any, key: jax.Array) -> tuple[Any, jax.Array, jax.Array, jax.Array, Info]:
        action = check_action(self.env.action_space, action, self.batch_shape)
        state, obs, reward, done, info = self.env.step(state, action, key)
        batch = obs.shape[:-1]
        real = self._features(action, reward, batch)
        null = self._features(None, None, batch)
        extra = jnp.where(done[..., None], null, real)
        info = {**info, "final_obs": jnp.concatenate([info["final_obs"], real], axis=-1)}
        return state, jnp.concatenate([obs, extra], axis=-1), reward, done, info


class NormalizeObservationState(NamedTuple):
    env_state: Any
    moments: Moments  # per-feature running mean/var of the delivered observations


@dataclasses.dataclass(frozen=True)
class NormalizeObservation(JaxWrapper):
    """Running per-feature observation normalisation, ``(obs - mean) / sqrt(var + epsilon)``.

    The statistics (in the state) are updated with every delivered observation, the reset ones
    included, pooled over the batch axes only. ``update=False`` freezes them (evaluation).
    ``info["final_obs"]`` is normalised with the same statistics.
    """

    epsilon: float = 1e-8
    clip: float | None = None
    update: bool = True

    @property
    def observation_space(self) -> Box:
        shape = self.env.observation_space.shape
        c = np.inf if self.clip is None else float(self.clip)
        return Box(shape, -c, c)

    def _fold(self, m: Moments, obs: jax.Array) -> Moments:
        return update_moments(jnp, m, obs, len(self.env.observation_space.shape)) if self.update else m

    def reset(self, key: jax.Array) -> tuple[NormalizeObservationState, jax.Array]:
        state, obs = self.env.reset(key)
        m = self._fold(init_moments(jnp, self.env.observation_space.shape), obs)
        return NormalizeObservationState(state, m), normalize(jnp, m, obs, self.epsilon, self.clip)

    def step(self, state: NormalizeObservationState, action: Any, key: jax.Array):
        env_state, obs, reward, done, info = self.env.step(state.env_state, action, key)
        m = self._fold(state.moments, obs)
        info = {**info, "final_obs": normalize(jnp, m, info["final_obs"], self.epsilon, self.clip)}
        return (
            NormalizeObservationState(env_state, m),
            normalize(jnp, m, obs, self.epsilon, self.clip),
            reward,
            done,
            info,
        )


class ScaleRewardState(NamedTuple):
    env_state: Any
    discounted_return: jax.Array  # (*batch,) float32: running discounted return of the current episode
    moments: Moments  # scalar running mean/var of the discounted return


@dataclasses.dataclass(frozen=True)
class ScaleReward(JaxWrapper):
    """Divide rewards by a running estimate of the discounted return's standard deviation.

    ``G_t = gamma * G_{t-1} + r_t`` per env (``G`` restarts at 0 after the step that ends an episode);
    ``r'_t = r_t / sqrt(var(G) + epsilon)`` with ``var(G)`` the running variance of every ``G_t`` seen
    so far, pooled over envs and updated before scaling (the reward-scaling rule of PPO
    implementations and of the RTU paper's code, with the episode boundary taken from ``done``).
    """

    gamma: float = 0.99
    epsilon: float = 1e-8
    clip: float | None = None
    update: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= float(self.gamma) <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma!r}")

    def reset(self, key: jax.Array) -> tuple[ScaleRewardState, jax.Array]:
        state, obs = self.env.reset(key)
        g = jnp.zeros(self.batch_shape, jnp.float32)
        return ScaleRewardState(state, g, init_moments(jnp, ())), obs

    def step(self, state: ScaleRewardState, action: Any, key: jax.Array):
        env_state, obs, reward, done, info = self.env.step(state.env_state, action, key)
        g = state.discounted_return * jnp.float32(self.gamma) + reward
        m = update_moments(jnp, state.moments, g, 0) if self.update else state.moments
        scaled = reward / jnp.sqrt(m.var + jnp.float32(self.epsilon))
        if self.clip is not None:
            scaled = jnp.clip(scaled, -self.clip, self.clip)
        g = jnp.where(done, jnp.float32(0.0), g)
        return ScaleRewardState(env_state, g, m), obs, scaled.astype(jnp.float32), done, info


@dataclasses.dataclass(frozen=True)
class ClipAction(JaxWrapper):
    """Accept any finite real action and clip it to ``[low, high]`` (default: the inner space's bounds)."""

    low: float | tuple[float, ...] | None = None
    high: float | tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        space = self.env.action_space
        if not isinstance(space, Box):
            raise TypeError(f"clip_action applies to continuous (Box) action spaces, got {space}")
        lo, hi = self.bounds
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ValueError(f"clip_action needs finite bounds; the inner action space is {space}: pass low= and high=")
        if np.any(lo > hi):
            raise ValueError(f"clip_action: low must be <= high, got low={self.low}, high={self.high}")

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` as float32 arrays of the action shape."""
        space = self.env.action_space
        return _bound(self.low, space.low_array), _bound(self.high, space.high_array)

    @property
    def action_space(self) -> Box:
        return Box(self.env.action_space.shape)

    def step(self, state: Any, action: Any, key: jax.Array):
        action = check_action(self.action_space, action, self.batch_shape)
        lo, hi = self.bounds
        return self.env.step(state, jnp.clip(action, jnp.asarray(lo), jnp.asarray(hi)), key)


def _bound(value: Any, default: np.ndarray) -> np.ndarray:
    if value is None:
        return default
    a = np.asarray(value, np.float32)
    if a.ndim == 0:
        return np.full(default.shape, a, np.float32)
    if a.size != default.size:
        raise ValueError(f"clip_action bound must be a number or hold {default.size} values, got {a.size}")
    return a.reshape(default.shape)


class EpisodeStatisticsState(NamedTuple):
    env_state: Any
    episode_return: jax.Array  # (*batch,) float32: return of the running episode so far
    episode_length: jax.Array  # (*batch,) int32
    returned_episode_return: jax.Array  # (*batch,) float32: return of the last finished episode
    returned_episode_length: jax.Array  # (*batch,) int32


@dataclasses.dataclass(frozen=True)
class EpisodeStatistics(JaxWrapper):
    """Track undiscounted episode returns and lengths for logging.

    ``info["episode_return"]``/``info["episode_length"]`` hold, per env, the last *finished*
    episode's values (0 before any finishes); they are new exactly where ``done`` is True.
    Place it innermost to log raw rewards.
    """

    def reset(self, key: jax.Array) -> tuple[EpisodeStatisticsState, jax.Array]:
        state, obs = self.env.reset(key)
        zf, zi = jnp.zeros(self.batch_shape, jnp.float32), jnp.zeros(self.batch_shape, jnp.int32)
        return EpisodeStatisticsState(state, zf, zi, zf, zi), obs

    def step(self, state: EpisodeStatisticsState, action: Any, key: jax.Array):
        env_state, obs, reward, done, info = self.env.step(state.env_state, action, key)
        ret = state.episode_return + reward
        length = state.episode_length + 1
        new = EpisodeStatisticsState(
            env_state,
            jnp.where(done, 0.0, ret).astype(jnp.float32),
            jnp.where(done, 0, length).astype(jnp.int32),
            jnp.where(done, ret, state.returned_episode_return).astype(jnp.float32),
            jnp.where(done, length, state.returned_episode_length).astype(jnp.int32),
        )
        info = {**info, "episode_return": new.returned_episode_return, "episode_length": new.returned_episode_length}
        return new, obs, reward, done, info
