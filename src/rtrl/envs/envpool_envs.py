"""envpool's batched C++ environments as rtrl host envs (the ``envpool`` extra): one pool for the
whole batch, its env-id order, and rtrl's same-step auto-reset. The Atari (`rtrl.envs.envpool_atari`)
and MuJoCo (`rtrl.envs.envpool_mujoco`) back-ends are this class with their task's options and
observation conversion.

envpool's gymnasium API auto-resets on the **next** call (checked on envpool 1.2.5, Atari and MuJoCo:
the step that ends an episode returns its last observation with terminated/truncated set; the
following ``step`` ignores that env's action and returns the first observation of a new episode,
reward 0, ``elapsed_step`` 0). `EnvpoolEnvs` converts to rtrl's same-step convention: after a step in
which some envs ended it steps those envs once more at once (their action is ignored) and returns the
reset observations in ``obs``, the real last observations in ``info["final_obs"]``.
"""

from __future__ import annotations

import abc
from importlib.util import find_spec
from typing import Any

import numpy as np

from rtrl import validate
from rtrl.envs.errors import require_extra
from rtrl.envs.host import HostEnv, Info, _check_seed, action_checker

__all__ = ["ENVPOOL_INSTALL", "ENVPOOL_REQUIRES", "EnvpoolEnvs", "require_envpool"]

ENVPOOL_REQUIRES = (("envpool", "envpool"),)  # (module, package)
ENVPOOL_INSTALL = "pip install 'rtrl[envpool]' (from a clone: pip install -e '.[envpool]')"


def require_envpool(what: str = "the envpool back-end") -> None:
    """Raise `MissingExtraError` (a ValueError) naming the extra unless envpool is importable."""
    require_extra(f"{what} needs", "envpool", ENVPOOL_REQUIRES, ENVPOOL_INSTALL, find_spec)


class EnvpoolEnvs(HostEnv):
    """``num_envs`` copies of the envpool task ``task`` in one synchronous batch, with rtrl's
    same-step auto-reset. Subclasses set ``observation_space`` and ``action_space`` and give the
    task's options (`_options`) and the conversion of its observations (`_observation`).

    ``reset(seed=s)`` builds a new pool whose env ``i`` is seeded with ``s + i`` (envpool seeds at
    construction); ``reset()`` without a seed resets the existing pool (a fresh random seed the
    first time). ``num_threads``: envpool's worker threads (0: its default, one per env up to the
    CPU count).
    """

    _action_dtype: Any = np.float64  # what envpool's step takes (Atari: int32)

    def __init__(self, task: str, num_envs: int, num_threads: int, name: str):
        self.num_envs = validate.positive_int("num_envs", num_envs)
        self.num_threads = validate.non_negative_int("num_threads", num_threads)
        require_envpool(f"{name} with backend='envpool'")
        import envpool

        if task not in envpool.list_all_envs():
            raise ValueError(f"envpool has no environment {task!r}")
        self._task, self._name = task, name
        self._pool: Any = None
        self._ids = np.arange(self.num_envs, dtype=np.int32)
        self._check_actions: Any = None

    @property
    def name(self) -> str:
        return self._name

    @abc.abstractmethod
    def _options(self) -> dict[str, Any]:
        """envpool's options for the task (besides the batch, threads and seed)."""

    @abc.abstractmethod
    def _observation(self, raw: np.ndarray) -> np.ndarray:
        """The batch's observations as rtrl gives them, from envpool's."""

    def _spec(self) -> Any:
        import envpool

        return envpool.make_spec(self._task, **self._config(seed=0))

    def _config(self, seed: int) -> dict[str, Any]:
        return dict(num_envs=self.num_envs, batch_size=self.num_envs,  # synchronous: every step returns the batch
                    num_threads=self.num_threads, seed=seed, **self._options())

    @staticmethod
    def _in_order(ids: np.ndarray, info: dict[str, Any], *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
        """The rows of ``arrays`` ordered like ``ids`` (envpool returns them in ``info["env_id"]`` order)."""
        got = np.asarray(info["env_id"])
        if np.array_equal(got, ids):
            return arrays
        position = {int(e): i for i, e in enumerate(got)}
        order = np.array([position[int(e)] for e in ids])
        return tuple(a[order] for a in arrays)

    def reset(self, *, seed: int | None = None) -> np.ndarray:
        _check_seed(seed)
        import envpool

        if seed is not None or self._pool is None:
            if self._pool is not None:
                self._pool.close()
            if seed is None:
                seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
            self._pool = envpool.make(self._task, env_type="gymnasium", **self._config(int(seed)))
        obs, info = self._pool.reset()
        (obs,) = self._in_order(self._ids, info, obs)
        return self._observation(obs)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Info]:
        if self._pool is None:
            raise RuntimeError(f"{self.name}: call reset() before step()")
        if self._check_actions is None:
            self._check_actions = action_checker(self.action_space, self.num_envs)
        actions = self._check_actions(actions).astype(self._action_dtype, copy=False)
        raw, reward, terminated, truncated, info = self._pool.step(actions, env_id=self._ids)
        raw, reward, terminated, truncated = self._in_order(self._ids, info, raw, reward, terminated, truncated)
        final_obs = self._observation(raw)
        terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
        done = terminated | truncated
        obs = final_obs
        if done.any():
            # envpool resets a finished env on its next step (ignoring the action): take that step now
            ended = np.flatnonzero(done).astype(np.int32)
            first, _, _, _, reset_info = self._pool.step(actions[ended], env_id=ended)
            first, elapsed = self._in_order(ended, reset_info, first, np.asarray(reset_info["elapsed_step"]))
            if np.any(elapsed != 0):  # pragma: no cover - guards against a change of envpool's auto-reset
                raise RuntimeError(f"envpool did not reset env(s) {ended.tolist()} after their episode ended")
            obs = final_obs.copy()
            obs[ended] = self._observation(first)
        return (obs, np.asarray(reward, np.float32), done,
                {"terminated": terminated, "truncated": truncated, "final_obs": final_obs})

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
