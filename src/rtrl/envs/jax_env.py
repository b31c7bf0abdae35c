"""The JAX-native back-end: pure ``reset(key)`` / ``step(state, action, key)`` usable in ``lax.scan``/``vmap``.

The protocol (gymnax-like, with auto-reset inside ``step``; see `rtrl.envs` for the convention)::

    state, obs = env.reset(key)                                 # obs: float32 (*batch, *obs_shape)
    state, obs, reward, done, info = env.step(state, action, key)

``done`` is True exactly when the returned ``obs`` is the first observation of a new episode
(the episode that the action belonged to ended on this step; ``reward`` is its last reward).
``info`` always holds ``"terminated"``, ``"truncated"`` (bool, the split of ``done``) and
``"final_obs"`` (the real last observation of the finished episode; equal to ``obs`` where not done).

A task subclasses `JaxEnv` and writes ``reset_env`` / ``step_env`` without auto-reset.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rtrl import validate
from rtrl.envs.spaces import Box, Discrete, Space

__all__ = ["JaxEnv", "VmapEnv", "check_action", "check_key"]

Info = dict[str, jax.Array]


def _is_tracer(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def check_key(key: Any, where: str) -> None:
    """Reject anything that is not a single PRNG key (raw uint32 ``(2,)`` or a typed key)."""
    if _is_tracer(key):
        return
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ():
        return
    arr = np.asarray(key) if isinstance(key, (jax.Array, np.ndarray)) else None
    if arr is None or arr.dtype != np.uint32 or arr.shape != (2,):
        got = f"{type(key).__name__} {getattr(key, 'dtype', '')}{getattr(key, 'shape', '')}"
        raise TypeError(f"{where}: key must be one PRNG key, e.g. jax.random.PRNGKey(0); got {got}")


def check_action(space: Space, action: Any, batch_shape: tuple[int, ...] = ()) -> jax.Array:
    """Validate an action against ``space`` and return it as a JAX array.

    Shape and dtype are checked always (they are static under ``jit``); the values (range of a
    discrete action, bounds of a continuous one) are checked when the action is concrete, i.e.
    outside ``jit``/``vmap``. Inside a trace out-of-range values cannot raise: a discrete action
    outside ``0..n-1`` then counts as a wrong answer, a continuous one is used as given (wrap the
    environment with ``clip_action`` to accept any real action).
    """
    if not isinstance(action, (jax.Array, np.ndarray, np.generic, int, float)) or isinstance(action, bool):
        raise TypeError(f"action must be an array or a number, got {type(action).__name__}")
    expected = batch_shape + space.shape
    shape = tuple(np.shape(action))
    dtype = action.dtype if hasattr(action, "dtype") else np.asarray(action).dtype
    if isinstance(space, Discrete):
        if not jnp.issubdtype(dtype, jnp.integer):
            raise TypeError(f"action for {space} must have an integer dtype, got {dtype}")
    elif not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"action for {space} must have a float dtype, got {dtype}")
    if shape != expected:
        raise ValueError(f"action must have shape {expected} (batch {batch_shape} + space {space.shape}), got {shape}")
    if not _is_tracer(action):
        a = np.asarray(action)
        if isinstance(space, Discrete):
            bad = (a < 0) | (a >= space.n)
            if np.any(bad):
                raise ValueError(
                    f"action outside the action space {space}: got {a[bad].reshape(-1)[:5].tolist()}; "
                    f"valid: 0..{space.n - 1}"
                )
        else:
            lo, hi = space.low_array, space.high_array
            bad = ~np.isfinite(a) | (a < lo) | (a > hi)
            if np.any(bad):
                raise ValueError(
                    f"action outside the action space {space}: values {a[bad].reshape(-1)[:5].tolist()} are "
                    f"not finite or out of bounds [{lo.min()}, {hi.max()}]; wrap the env with "
                    "rtrl.envs.wrappers.clip_action to clip instead"
                )
    if isinstance(space, Discrete):
        return jnp.asarray(action).astype(jnp.int32)
    return jnp.asarray(action, jnp.float32)


@dataclasses.dataclass(frozen=True)
class JaxEnv(abc.ABC):
    """Base of the JAX-native environments (frozen, hashable; hyperparameters are fields).

    Subclasses define ``observation_space``, ``action_space``, ``reset_env`` and ``step_env``.
    ``reset``/``step`` add validation and auto-reset; wrappers override ``reset``/``step``.
    """

    @property
    @abc.abstractmethod
    def observation_space(self) -> Box: ...

    @property
    @abc.abstractmethod
    def action_space(self) -> Space: ...

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading batch dimensions of obs/reward/done: ``()`` here, ``(num_envs,)`` for `VmapEnv`."""
        return ()

    @property
    def name(self) -> str:
        return type(self).__name__

    # -- to implement -------------------------------------------------------------------------
    def reset_env(self, key: jax.Array) -> tuple[Any, jax.Array]:
        """Start an episode: ``(state, first_obs)``, with the same pytree structure and dtypes as ``step_env``'s."""
        raise NotImplementedError

    def step_env(
        self, state: Any, action: jax.Array, key: jax.Array
    ) -> tuple[Any, jax.Array, jax.Array, jax.Array, jax.Array]:
        """One transition without auto-reset: ``(state, obs, reward, terminated, truncated)``."""
        raise NotImplementedError

    # -- the protocol -------------------------------------------------------------------------
    def reset(self, key: jax.Array) -> tuple[Any, jax.Array]:
        """``(state, obs)``; ``obs`` is the first observation of an episode."""
        check_key(key, f"{self.name}.reset")
        return self.reset_env(key)

    def step(self, state: Any, action: Any, key: jax.Array) -> tuple[Any, jax.Array, jax.Array, jax.Array, Info]:
        """``(state, obs, reward, done, info)`` with auto-reset: see the module docstring."""
        check_key(key, f"{self.name}.step")
        action = check_action(self.action_space, action, self.batch_shape)
        key_step, key_reset = jax.random.split(key)
        next_state, next_obs, reward, terminated, truncated = self.step_env(state, action, key_step)
        done = jnp.logical_or(terminated, truncated)
        if _is_tracer(done):  # under jit: a cond skips the reset on most steps (under vmap it is a select)
            state, obs = jax.lax.cond(done, lambda: self.reset_env(key_reset), lambda: (next_state, next_obs))
        else:  # eager: branch in Python (an eager cond would compile anew on every call)
            state, obs = self.reset_env(key_reset) if bool(done) else (next_state, next_obs)
        info = {
            "terminated": jnp.asarray(terminated, bool),
            "truncated": jnp.asarray(truncated, bool),
            "final_obs": next_obs,
        }
        return state, obs, jnp.asarray(reward, jnp.float32), done, info


@dataclasses.dataclass(frozen=True)
class VmapEnv(JaxEnv):
    """``num_envs`` independent copies of a JAX env, batched with ``vmap`` (same protocol, leading axis)."""

    env: JaxEnv
    num_envs: int

    def __post_init__(self) -> None:
        if not isinstance(self.env, JaxEnv):
            raise TypeError(f"VmapEnv.env must be a JaxEnv, got {type(self.env).__name__}")
        object.__setattr__(self, "num_envs", validate.positive_int("num_envs", self.num_envs))

    @property
    def observation_space(self) -> Box:
        return self.env.observation_space

    @property
    def action_space(self) -> Space:
        return self.env.action_space

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return (self.num_envs,) + self.env.batch_shape

    @property
    def name(self) -> str:
        return f"VmapEnv({self.env.name}, {self.num_envs})"

    def reset(self, key: jax.Array) -> tuple[Any, jax.Array]:
        check_key(key, f"{self.name}.reset")
        return jax.vmap(self.env.reset)(jax.random.split(key, self.num_envs))

    def step(self, state: Any, action: Any, key: jax.Array) -> tuple[Any, jax.Array, jax.Array, jax.Array, Info]:
        check_key(key, f"{self.name}.step")
        action = check_action(self.action_space, action, self.batch_shape)
        return jax.vmap(self.env.step)(state, action, jax.random.split(key, self.num_envs))
