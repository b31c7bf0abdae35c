"""Wrappers for host (gymnasium) environments, with the same arithmetic as `rtrl.envs.jax_wrappers`.

They hold their statistics as attributes (the host env is stateful anyway) and compute with numpy
through the shared `rtrl.envs.running` functions, so a host and a JAX wrapper fed the same
sequence give the same numbers. Build them through `rtrl.envs.wrappers`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rtrl.envs.host import HostEnv, Info, check_host_actions
from rtrl.envs.jax_wrappers import _bound, action_features, previous_action_reward_space
from rtrl.envs.running import Moments, init_moments, normalize, update_moments
from rtrl.envs.spaces import Box, Discrete, Space

__all__ = [
    "HostClipAction",
    "HostEpisodeStatistics",
    "HostNormalizeObservation",
    "HostPreviousActionReward",
    "HostScaleReward",
    "HostWrapper",
]


class HostWrapper(HostEnv):
    """Delegates to ``env``; subclasses override what they change."""

    def __init__(self, env: HostEnv):
        if not isinstance(env, HostEnv):
            raise TypeError(f"{type(self).__name__} wraps a HostEnv, got {type(env).__name__}")
        self.env = env
        self.num_envs = env.num_envs
        self.observation_space = env.observation_space
        self.action_space = env.action_space

    @property
    def name(self) -> str:
        return f"{type(self).__name__}({self.env.name})"

    def reset(self, *, seed: int | None = None) -> np.ndarray:
        return self.env.reset(seed=seed)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Info]:
        return self.env.step(actions)

    def close(self) -> None:
        self.env.close()

    def __getattr__(self, name: str) -> Any:
        # reach attributes of the wrapped env (e.g. `.envs`); only called when normal lookup fails
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)


class HostPreviousActionReward(HostWrapper):
    """Host twin of `rtrl.envs.jax_wrappers.PreviousActionReward` (same encoding and null values)."""

    def __init__(self, env: HostEnv, *, action: bool = True, reward: bool = True, null_action: int | None = None):
        super().__init__(env)
        if len(env.observation_space.shape) != 1:
            raise ValueError(
                f"previous_action_reward needs flat (1-D) observations, got shape {env.observation_space.shape}"
            )
        if not (action or reward):
            raise ValueError("previous_action_reward: at least one of action=True or reward=True is needed")
        if null_action is not None:
            if not isinstance(env.action_space, Discrete):
                raise ValueError(
                    f"null_action only applies to a Discrete action space, got {env.action_space}; leave it None"
                )
            if (
                isinstance(null_action, bool)
                or not isinstance(null_action, int)
                or not 0 <= null_action < env.action_space.n
            ):
                raise ValueError(f"null_action must be an integer in 0..{env.action_space.n - 1}, got {null_action!r}")
        self.action, self.reward, self.null_action = action, reward, null_action
        self.observation_space = previous_action_reward_space(env.observation_space, env.action_space, action, reward)

    def _features(self, actions: np.ndarray | None, reward: np.ndarray | None) -> np.ndarray:
        b, parts = self.num_envs, []
        space: Space = self.env.action_space
        if self.action:
            width = action_features(space)
            if actions is None:
                f = np.zeros((b, width), np.float32)
                if self.null_action is not None:
                    f[:, self.null_action] = 1.0
            elif isinstance(space, Discrete):
                f = np.zeros((b, width), np.float32)
                f[np.arange(b), actions] = 1.0
            else:
                f = np.asarray(actions, np.float32).reshape(b, width)
            parts.append(f)
        if self.reward:
            parts.append(np.zeros((b, 1), np.float32) if reward is None else np.asarray(reward, np.float32)[:, None])
        return np.concatenate(parts, axis=-1)

    def reset(self, *, seed: int | None = None) -> np.ndarray:
        obs = self.env.reset(seed=seed)
        return np.concatenate([obs, self._features(None, None)], axis=-1)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Info]:
        actions = check_host_actions(self.env.action_space, actions, self.num_envs)
        obs, reward, done, info = self.env.step(actions)
        real = self._features(actions, reward)
        extra = np.where(done[:, None], self._features(None, None), real)
        info = {**info, "final_obs": np.concatenate([info["final_obs"], real], axis=-1)}
        return np.concatenate([obs, extra], axis=-1), reward, done, info


class HostNormalizeObservation(HostWrapper):
    """Host twin of `rtrl.envs.jax_wrappers.NormalizeObservation` (per-feature statistics)."""

    def __init__(self, env: HostEnv, *, epsilon: float = 1e-8, clip: float | None = None, update: bool = True):
        super().__init__(env)
        self.epsilon, self.clip, self.update = epsilon, clip, update
        c = np.inf if clip is None else float(clip)
        self.observation_space = Box(env.observation_space.shape, -c, c)
        self.moments: Moments = init_moments(np, env.observation_space.shape)

    def _fold(self, obs: np.ndarray) -> None:
        if self.update:
            self.moments = update_moments(np, self.moments, obs, len(self.env.observation_space.shape))

    def reset(self, *, seed: int | None = None) -> np.ndarray:
        obs = self.env.reset(seed=seed)
        self.moments = init_moments(np, self.env.observation_space.shape)
        self._fold(obs)
        return normalize(np, self.moments, obs, self.epsilon, self.clip)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Info]:
        obs, reward, done, info = self.env.step(actions)
        self._fold(obs)
        info = {**info, "final_obs": normalize(np, self.moments, info["final_obs"], self.epsilon, self.clip)}
        return normalize(np, self.moments, obs, self.epsilon, self.clip), reward, done, info


class HostScaleReward(HostWrapper):
    """Host twin of `rtrl.envs.jax_wrappers.ScaleReward`."""

    def __init__(
        self,
        env: HostEnv,
        *,
        gamma: float = 0.99,
        epsilon: float = 1e-8,
        clip: float | None = None,
        update: bool = True,
    ):
        super().__init__(env)
        if not 0.0 <= float(gamma) <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
        self.gamma, self.epsilon, self.clip, self.update = gamma, epsilon, clip, update
        self.discounted_return = np.zeros(self.num_envs, np.float32)
        self.moments: Moments = init_moments(np, ())

    def reset(self, *, seed: int | None = None) -> np.ndarray:
        self.discounted_return = np.zeros(self.num_envs, np.float32)
        self.moments = init_moments(np, ())
        return self.env.reset(seed=seed)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Info]:
        obs, reward, done, info = self.env.step(actions)
        g = (self.discounted_return * np.float32(self.gamma) + reward).astype(np.float32)
        if self.update:
            self.moments = update_moments(np, self.moments, g, 0)
        scaled = reward / np.sqrt(self.moments.var + np.float32(self.epsilon))
        if self.clip is not None:
            scaled = np.clip(scaled, -self.clip, self.clip)
        self.discounted_return = np.where(done, np.float32(0.0), g).astype(np.float32)
        return obs, scaled.astype(np.float32), done, info


class HostClipAction(HostWrapper):
    """Host twin of `rtrl.envs.jax_wrappers.ClipAction`."""

    def __init__(self, env: HostEnv, *, low: Any = None, high: Any = None):
        super().__init__(env)
        space = env.action_space
        if not isinstance(space, Box):
            raise TypeError(f"clip_action applies to continuous (Box) action spaces, got {space}")
        self.low, self.high = _bound(low, space.low_array), _bound(high, space.high_array)
        if not (np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high))):
            raise ValueError(f"clip_action needs finite bounds; the inner action space is {space}: pass low= and high=")
        if np.any(self.low > self.high):
            raise ValueError(f"clip_action: low must be <= high, got low={low}, high={high}")
        self.action_space = Box(space.shape)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Info]:
        actions = check_host_actions(self.action_space, actions, self.num_envs)
        return self.env.step(np.clip(actions, self.low, self.high).astype(np.float32))


class HostEpisodeStatistics(HostWrapper):
    """Host twin of `rtrl.envs.jax_wrappers.EpisodeStatistics`."""

    def __init__(self, env: HostEnv):
        super().__init__(env)
        self._zero()

    def _zero(self) -> None:
        b = self.num_envs
        self.episode_return = np.zeros(b, np.float32)
        self.episode_length = np.zeros(b, np.int32)
        self.returned_episode_return = np.zeros(b, np.float32)
        self.returned_episode_length = np.zeros(b, np.int32)

    def reset(self, *, seed: int | None = None) -> np.ndarray:
        self._zero()
        return self.env.reset(seed=seed)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Info]:
        obs, reward, done, info = self.env.step(actions)
        ret = (self.episode_return + reward).astype(np.float32)
        length = self.episode_length + 1
        self.returned_episode_return = np.where(done, ret, self.returned_episode_return).astype(np.float32)
        self.returned_episode_length = np.where(done, length, self.returned_episode_length).astype(np.int32)
        self.episode_return = np.where(done, 0.0, ret).astype(np.float32)
        self.episode_length = np.where(done, 0, length).astype(np.int32)
        info = {
            **info,
            "episode_return": self.returned_episode_return.copy(),
            "episode_length": self.returned_episode_length.copy(),
        }
        return obs, reward, done, info
