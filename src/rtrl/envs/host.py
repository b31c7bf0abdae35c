"""The host back-end: gymnasium environments stepped from Python, batched, numpy in and out.

Same semantics as the JAX back-end (see `rtrl.envs`)::

    obs = env.reset(seed=0)                           # (num_envs, *obs_shape) float32
    obs, reward, done, info = env.step(actions)       # actions (num_envs,) int or (num_envs, *shape) float

Auto-reset happens *in the same step*: where ``done[i]`` is True the episode of env ``i`` ended
with this action, ``reward[i]`` is that episode's last reward, and ``obs[i]`` is already the first
observation of the next episode (gymnasium's ``AutoresetMode.SAME_STEP``; gymnasium's default
``NEXT_STEP`` mode instead returns the reset observation one call later with a reward of 0 and
ignores that call's action, which is what shifts resets by one step in recurrent PPO code).
``info["terminated"]``/``info["truncated"]`` split ``done``; ``info["final_obs"]`` holds the real
last observation of each finished episode (equal to ``obs`` where not done).

Observations are flattened to float32 vectors with ``gymnasium.spaces.utils.flatten`` (Discrete
and MultiDiscrete parts one-hot), except when ``flatten_obs=False`` (Atari keeps its frames).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rtrl import validate
from rtrl.envs.errors import MissingExtraError
from rtrl.envs.spaces import (
    Box,
    Discrete,
    Space,
    flatten_gymnasium_space,
    from_gymnasium_action_space,
)

__all__ = ["GymnasiumEnvs", "GymnasiumVectorEnv", "HostEnv", "action_checker", "check_host_actions", "from_gymnasium"]

Info = dict[str, np.ndarray]


def check_host_actions(space: Space, actions: Any, num_envs: int) -> np.ndarray:
    """Validate a batch of actions for ``num_envs`` envs and return it as a numpy array.

    Discrete: integer dtype, shape ``(num_envs,)``, values ``0..n-1``. Box: float dtype, shape
    ``(num_envs, *shape)``, finite and within the bounds. Raises TypeError/ValueError otherwise.
    """
    a = np.asarray(actions)
    expected = (num_envs,) + space.shape
    if isinstance(space, Discrete):
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"actions for {space} must have an integer dtype, got {a.dtype}")
    elif not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"actions for {space} must have a float dtype, got {a.dtype}")
    if a.shape != expected:
        raise ValueError(
            f"actions must have shape {expected} (num_envs={num_envs} + space {space.shape}), got {a.shape}"
        )
    if isinstance(space, Discrete):
        bad = (a < 0) | (a >= space.n)
        if bad.any():
            raise ValueError(
                f"action outside the action space {space}: env(s) {np.flatnonzero(bad).tolist()[:5]} got "
                f"{a[bad].tolist()[:5]}; valid: 0..{space.n - 1}"
            )
    else:
        lo, hi = space.low_array, space.high_array
        bad = ~((a >= lo) & (a <= hi) & np.isfinite(a))  # NaN fails the comparisons
        if bad.any():
            raise ValueError(
                f"action outside the action space {space}: values {a[bad].tolist()[:5]} are not finite or out of "
                f"bounds [{lo.min()}, {hi.max()}]; wrap the env with rtrl.envs.wrappers.clip_action to clip instead"
            )
    return a


def action_checker(space: Space, num_envs: int) -> Callable[[Any], np.ndarray]:
    """`check_host_actions` for ``space`` and ``num_envs`` with the space's facts worked out once.

    A host env checks every action it is sent, so the common case (a numpy array of the right dtype
    and shape, every value valid) costs a few numpy calls; anything else goes to `check_host_actions`,
    which raises the same error as always. Returns what `check_host_actions` returns.
    """
    expected = (num_envs,) + space.shape
    if isinstance(space, Discrete):
        n = space.n

        def valid(a: np.ndarray) -> bool:
            return a.dtype.kind in "iu" and bool(a.min() >= 0) and bool(a.max() < n)
    else:
        lo, hi = space.low_array, space.high_array
        finite = bool(np.isfinite(lo).all() and np.isfinite(hi).all())
        unbounded = bool(np.isneginf(lo).all() and np.isposinf(hi).all())

        def valid(a: np.ndarray) -> bool:
            if a.dtype.kind != "f":
                return False
            if finite:  # NaN and ±inf fail the comparisons with finite bounds
                return bool(((a >= lo) & (a <= hi)).all())
            if unbounded:
                return bool(np.isfinite(a).all())
            return bool((np.isfinite(a) & (a >= lo) & (a <= hi)).all())

    def check(actions: Any) -> np.ndarray:
        a = np.asarray(actions)
        if a.shape == expected and valid(a):
            return a
        return check_host_actions(space, a, num_envs)

    return check


class HostEnv(abc.ABC):
    """A batch of ``num_envs`` environments stepped from the host (numpy in/out)."""

    num_envs: int
    observation_space: Box
    action_space: Space

    @abc.abstractmethod
    def reset(self, *, seed: int | None = None) -> np.ndarray:
        """Reset every env; env ``i`` is seeded with ``seed + i``. Returns obs ``(num_envs, *obs_shape)``."""

    @abc.abstractmethod
    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Info]:
        """``(obs, reward, done, info)`` with same-step auto-reset (module docstring)."""

    def close(self) -> None:  # noqa: B027  (optional to override: nothing to release by default)
        """Release the environments' resources."""

    @property
    def name(self) -> str:
        return type(self).__name__

    def __enter__(self) -> HostEnv:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _check_seed(seed: Any) -> None:
    if seed is not None and not validate.is_integer(seed):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")


class _Converter:
    """Observation flattening and action conversion for one gymnasium env's spaces."""

    def __init__(self, observation_space: Any, action_space: Any, flatten_obs: bool):
        from gymnasium import spaces

        self.gym_obs_space = observation_space
        self.gym_action_space = action_space
        self.flatten_obs = flatten_obs
        if flatten_obs:
            self.observation_space = flatten_gymnasium_space(observation_space)
        elif isinstance(observation_space, spaces.Box):
            self.observation_space = Box(
                tuple(observation_space.shape),
                tuple(np.asarray(observation_space.low, np.float64).reshape(-1)),
                tuple(np.asarray(observation_space.high, np.float64).reshape(-1)),
            )
        else:
            raise ValueError(f"flatten_obs=False needs a Box observation space, got {observation_space}")
        self.action_space = from_gymnasium_action_space(action_space)
        self._flatten = _flattener(observation_space)
        if isinstance(action_space, spaces.Discrete):
            start = int(action_space.start)
            self.action = lambda a: int(a) + start
        elif isinstance(action_space, spaces.MultiDiscrete):
            nvec, dtype, start = action_space.nvec, action_space.dtype, action_space.start
            self.action = lambda a: (np.asarray(np.unravel_index(int(a), nvec)) + start).astype(dtype)
        else:
            dtype, shape = action_space.dtype, action_space.shape
            self.action = lambda a: np.asarray(a, dtype=dtype).reshape(shape)

    def obs(self, o: Any) -> np.ndarray:
        if self.flatten_obs:
            return self._flatten(o)
        return np.asarray(o, dtype=np.float32).reshape(self.observation_space.shape)


def _flattener(space: Any) -> Callable[[Any], np.ndarray]:
    """A fast float32 equivalent of ``gymnasium.spaces.utils.flatten(space, .)`` (one-hot for discrete parts).

    The common popgym spaces get a direct numpy path (the generic function dispatches per call and
    was the host loop's largest cost); anything else falls back to gymnasium's.
    """
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        n, start = int(space.n), int(space.start)

        def discrete(o: Any) -> np.ndarray:
            v = np.zeros(n, np.float32)
            v[int(o) - start] = 1.0
            return v

        return discrete
    if isinstance(space, spaces.MultiDiscrete) and space.nvec.ndim == 1:
        offsets = np.concatenate([[0], np.cumsum(space.nvec)[:-1]]) - np.asarray(space.start).reshape(-1)
        size = int(space.nvec.sum())

        def multi_discrete(o: Any) -> np.ndarray:
            v = np.zeros(size, np.float32)
            v[offsets + np.asarray(o).reshape(-1)] = 1.0
            return v

        return multi_discrete
    if isinstance(space, (spaces.Box, spaces.MultiBinary)):
        return lambda o: np.asarray(o, np.float32).reshape(-1)
    if isinstance(space, spaces.Tuple):
        parts = [_flattener(s) for s in space.spaces]
        return lambda o: np.concatenate([f(x) for f, x in zip(parts, o, strict=True)])
    generic = spaces.utils.flatten
    return lambda o: np.asarray(generic(space, o), np.float32)


class GymnasiumEnvs(HostEnv):
    """``num_envs`` gymnasium envs in one process, stepped in a loop with same-step auto-reset.

    Args:
      env_fns: one zero-argument factory per env (each must return the same spaces).
      flatten_obs: flatten observations to float32 vectors (default) or keep a Box's shape.
      name: a label for messages.
    """

    def __init__(self, env_fns: Sequence[Callable[[], Any]], *, flatten_obs: bool = True, name: str | None = None):
        if isinstance(env_fns, (str, bytes)) or not isinstance(env_fns, Sequence) or len(env_fns) == 0:
            raise ValueError(f"env_fns must be a non-empty sequence of env factories, got {env_fns!r}")
        for i, fn in enumerate(env_fns):
            if not callable(fn):
                raise TypeError(f"env_fns[{i}] must be callable (returning a gymnasium Env), got {type(fn).__name__}")
        self.envs = [fn() for fn in env_fns]
        first = self.envs[0]
        for i, e in enumerate(self.envs[1:], 1):
            if e.observation_space != first.observation_space or e.action_space != first.action_space:
                raise ValueError(
                    f"env {i} has spaces {e.observation_space}/{e.action_space}, env 0 has "
                    f"{first.observation_space}/{first.action_space}; all envs must match"
                )
        self._conv = _Converter(first.observation_space, first.action_space, flatten_obs)
        self.num_envs = len(self.envs)
        self.observation_space = self._conv.observation_space
        self.action_space = self._conv.action_space
        self._name = name or getattr(getattr(first, "spec", None), "id", None) or type(first.unwrapped).__name__
        self._check_actions = action_checker(self.action_space, self.num_envs)
        self._started = False

    @property
    def name(self) -> str:
        return self._name

    def reset(self, *, seed: int | None = None) -> np.ndarray:
        _check_seed(seed)
        obs = [
            self._conv.obs(e.reset(seed=None if seed is None else int(seed) + i)[0]) for i, e in enumerate(self.envs)
        ]
        self._started = True
        return np.stack(obs)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Info]:
        if not self._started:
            raise RuntimeError(f"{self.name}: call reset() before step()")
        actions = self._check_actions(actions)
        b = self.num_envs
        obs = np.empty((b,) + self.observation_space.shape, np.float32)
        final_obs = np.empty_like(obs)
        reward = np.empty(b, np.float32)
        terminated = np.empty(b, bool)
        truncated = np.empty(b, bool)
        for i, env in enumerate(self.envs):
            o, r, term, trunc, _ = env.step(self._conv.action(actions[i]))
            final_obs[i] = self._conv.obs(o)
            reward[i], terminated[i], truncated[i] = r, term, trunc
            if term or trunc:
                obs[i] = self._conv.obs(env.reset()[0])
            else:
                obs[i] = final_obs[i]
        done = terminated | truncated
        return obs, reward, done, {"terminated": terminated, "truncated": truncated, "final_obs": final_obs}

    def close(self) -> None:
        for e in self.envs:
            e.close()


class GymnasiumVectorEnv(HostEnv):
    """Adapter for a gymnasium ``VectorEnv`` created with ``autoreset_mode=AutoresetMode.SAME_STEP``.

    gymnasium's default ``NEXT_STEP`` mode is rejected (it delivers the reset observation one call
    late, with a zero reward, ignoring that call's action), as is ``DISABLED``.
    """

    def __init__(self, vector_env: Any, *, flatten_obs: bool = True):
        from gymnasium.vector import AutoresetMode

        mode = vector_env.metadata.get("autoreset_mode")
        if mode != AutoresetMode.SAME_STEP:
            raise ValueError(
                f"vector env autoreset_mode must be AutoresetMode.SAME_STEP, got {mode}; create it with "
                "gymnasium.make_vec(id, n, vector_kwargs={'autoreset_mode': gymnasium.vector.AutoresetMode.SAME_STEP})"
            )
        self.vector_env = vector_env
        self._conv = _Converter(vector_env.single_observation_space, vector_env.single_action_space, flatten_obs)
        self.num_envs = int(vector_env.num_envs)
        self.observation_space = self._conv.observation_space
        self.action_space = self._conv.action_space
        self._check_actions = action_checker(self.action_space, self.num_envs)
        self._started = False

    def _batch_obs(self, obs: Any) -> np.ndarray:
        from gymnasium.vector.utils import iterate

        return np.stack([self._conv.obs(o) for o in iterate(self.vector_env.single_observation_space, obs)])

    def reset(self, *, seed: int | None = None) -> np.ndarray:
        _check_seed(seed)
        seeds = None if seed is None else [int(seed) + i for i in range(self.num_envs)]
        obs, _ = self.vector_env.reset(seed=seeds)
        self._started = True
        return self._batch_obs(obs)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Info]:
        if not self._started:
            raise RuntimeError(f"{self.name}: call reset() before step()")
        actions = self._check_actions(actions)
        gym_actions = [self._conv.action(a) for a in actions]
        from gymnasium.vector.utils import concatenate, create_empty_array

        space = self.vector_env.single_action_space
        batched = concatenate(space, gym_actions, create_empty_array(space, self.num_envs))
        o, r, term, trunc, info = self.vector_env.step(batched)
        obs = self._batch_obs(o)
        final_obs = obs.copy()
        if "_final_obs" in info:
            for i in np.flatnonzero(info["_final_obs"]):
                final_obs[i] = self._conv.obs(info["final_obs"][i])
        terminated, truncated = np.asarray(term, bool), np.asarray(trunc, bool)
        return (
            obs,
            np.asarray(r, np.float32),
            terminated | truncated,
            {"terminated": terminated, "truncated": truncated, "final_obs": final_obs},
        )

    def close(self) -> None:
        self.vector_env.close()


def from_gymnasium(env: Any, num_envs: int = 1, *, flatten_obs: bool = True, **make_kwargs: Any) -> HostEnv:
    """A `HostEnv` over any gymnasium environment.

    ``env`` may be an id of gymnasium's registry (``"CartPole-v1"`` or ``"gymnasium/CartPole-v1"``,
    made ``num_envs`` times with ``make_kwargs``), a zero-argument factory (called ``num_envs``
    times), a single ``gymnasium.Env`` (``num_envs`` must be 1: an instance cannot be copied) or a
    gymnasium ``VectorEnv`` in ``SAME_STEP`` auto-reset mode. An unknown id, keyword arguments
    ``gymnasium.make`` refuses, a missing optional dependency (`MissingExtraError`) and spaces the
    agents cannot use raise ``ValueError`` saying what is valid.
    """
    import gymnasium as gym

    num_envs = validate.positive_int("num_envs", num_envs)
    validate.boolean("flatten_obs", flatten_obs)
    if isinstance(env, gym.vector.VectorEnv):
        if make_kwargs:
            raise ValueError(f"make_kwargs {sorted(make_kwargs)} cannot be applied to an existing vector env")
        return GymnasiumVectorEnv(env, flatten_obs=flatten_obs)
    if isinstance(env, gym.Env):
        if num_envs != 1 or make_kwargs:
            raise ValueError(
                "a gymnasium.Env instance can only be adapted alone (num_envs=1, no make_kwargs); "
                "pass its id or a factory for more"
            )
        return GymnasiumEnvs([lambda: env], flatten_obs=flatten_obs)
    if isinstance(env, str):
        env_id = env.removeprefix("gymnasium/")
        if env_id not in gym.registry:
            from rtrl.envs.registry import gymnasium_ids, unknown_gymnasium_id

            if env_id not in gymnasium_ids():  # gymnasium_ids registers Atari's ids when ale-py is installed
                raise unknown_gymnasium_id(env_id)

        def factory() -> Any:
            return _gymnasium_make(env_id, make_kwargs)

        return GymnasiumEnvs([factory] * num_envs, flatten_obs=flatten_obs, name=f"gymnasium/{env_id}")
    if callable(env):
        if make_kwargs:
            raise ValueError(f"make_kwargs {sorted(make_kwargs)} only apply to an env id")
        return GymnasiumEnvs([env] * num_envs, flatten_obs=flatten_obs)
    raise TypeError(
        f"env must be a gymnasium id, a factory, a gymnasium.Env or a gymnasium VectorEnv, got {type(env).__name__}"
    )


def _gymnasium_make(env_id: str, kwargs: dict[str, Any]) -> Any:
    """``gymnasium.make(env_id, **kwargs)`` with its refusals as ValueError (a missing package as `MissingExtraError`)."""
    import gymnasium as gym

    try:
        return gym.make(env_id, **kwargs)
    except gym.error.DependencyNotInstalled as e:
        raise MissingExtraError(f"gymnasium/{env_id} needs an optional dependency: {e}") from None
    except TypeError as e:  # an unexpected keyword argument of the env's constructor
        shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise ValueError(f"gymnasium.make({env_id!r}, {shown}) refused its arguments: {e}") from None
