"""envpool as a batched Atari back-end (``atari/<Game>`` with ``backend="envpool"``; the ``envpool`` extra).

envpool (C++, one thread pool for the whole batch) runs the same ALE emulator with the same
preprocessing as the ``ale`` path of `rtrl.envs.atari` (gymnasium's ``AtariPreprocessing`` over
``ALE/<Game>-v5``): sticky actions, minimal action set, 1..``noop_max`` no-op frames at reset,
frame skip 4 with max-pooling of the last two frames, 84x84 greyscale (INTER_AREA resize) scaled to
[0, 1] float32, no terminal on life loss, unclipped rewards, ``frame_stack`` frames as the
observation ``(frame_stack, 84, 84)``. With sticky actions off the two back-ends give identical
observations and rewards for identical actions (tests/envs/test_envs_atari.py checks this).

envpool's gymnasium API auto-resets on the **next** call (checked on envpool 1.2.5: the step that
ends an episode returns its last observation with terminated/truncated set; the following
``step`` ignores that env's action and returns the first observation of a new episode, reward 0,
``elapsed_step`` 0). `EnvpoolAtari` converts to rtrl's same-step convention: after a step in which
some envs ended it steps those envs once more at once (their action is ignored) and returns the
reset observations in ``obs``, the real last observations in ``info["final_obs"]``.

Not supported on this back-end (refused when checked): ``noop_max=0`` (envpool 1.2.5 crashes with a
segmentation fault) and ``terminal_on_life_loss=True`` (envpool's ``episodic_life`` continues the
game after a life loss, where the ale path restarts it).
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

import numpy as np

from rtrl import validate
from rtrl.envs.errors import require_extra
from rtrl.envs.host import HostEnv, Info, _check_seed, check_host_actions
from rtrl.envs.spaces import Box, Discrete

__all__ = ["ENVPOOL_INSTALL", "ENVPOOL_REQUIRES", "EnvpoolAtari", "require_envpool"]

ENVPOOL_REQUIRES = (("envpool", "envpool"),)  # (module, package)
ENVPOOL_INSTALL = "pip install 'rtrl[envpool]' (from a clone: pip install -e '.[envpool]')"


def require_envpool() -> None:
    """Raise `MissingExtraError` (a ValueError) naming the extra unless envpool is importable."""
    require_extra("the envpool Atari back-end needs", "envpool", ENVPOOL_REQUIRES, ENVPOOL_INSTALL, find_spec)


class EnvpoolAtari(HostEnv):
    """``num_envs`` copies of one Atari game in one envpool batch, with rtrl's same-step auto-reset.

    Args:
      game: an Atari game name as envpool spells it without the version (``"Pong"``, ``"Breakout"``).
      num_envs: the batch size.
      frame_stack, sticky_actions, noop_max, max_episode_steps: as for ``atari/<Game>``
        (`rtrl.envs.atari.atari_factory`); ``max_episode_steps`` counts agent steps (4 frames each).
      num_threads: envpool's worker threads (0: envpool's default, one per env up to the CPU count).

    ``reset(seed=s)`` builds a new pool whose env ``i`` is seeded with ``s + i`` (envpool seeds at
    construction); ``reset()`` without a seed resets the existing pool (a fresh random seed the
    first time).
    """

    def __init__(
        self,
        game: str,
        num_envs: int = 1,
        *,
        frame_stack: int = 1,
        sticky_actions: float = 0.25,
        noop_max: int = 30,
        max_episode_steps: int = 27_000,
        num_threads: int = 0,
    ):
        if not isinstance(game, str) or not game:
            raise ValueError(f"game must be a non-empty str such as 'Pong', got {game!r}")
        self.game = game
        self.num_envs = validate.positive_int("num_envs", num_envs)
        self.frame_stack = validate.positive_int("frame_stack", frame_stack)
        self.sticky_actions = validate.number_in("sticky_actions", sticky_actions, 0.0, 1.0, what="(a probability)")
        self.noop_max = validate.positive_int(
            "noop_max", noop_max, what="for backend='envpool' (envpool 1.2.5 crashes with noop_max=0)"
        )
        self.max_episode_steps = validate.positive_int("max_episode_steps", max_episode_steps)
        self.num_threads = validate.non_negative_int("num_threads", num_threads)
        require_envpool()
        import envpool

        self._task = f"{game}-v5"
        if self._task not in envpool.list_all_envs():
            raise ValueError(f"envpool has no Atari game {self._task!r}")
        self._pool: Any = None
        self._ids = np.arange(self.num_envs, dtype=np.int32)
        spec = envpool.make_spec(self._task, **self._config(seed=0))
        self.action_space = Discrete(int(spec.action_space.n))
        self.observation_space = Box((self.frame_stack, 84, 84), 0.0, 1.0)

    @property
    def name(self) -> str:
        return f"atari/{self.game}"

    def _config(self, seed: int) -> dict[str, Any]:
        """envpool's options for the preprocessing of the ale path (module docstring)."""
        return dict(
            num_envs=self.num_envs,
            batch_size=self.num_envs,  # synchronous: every step returns the whole batch
            num_threads=self.num_threads,
            seed=seed,
            max_episode_steps=self.max_episode_steps,
            stack_num=self.frame_stack,
            frame_skip=4,
            noop_max=self.noop_max,
            repeat_action_probability=self.sticky_actions,
            img_height=84,
            img_width=84,
            gray_scale=True,
            use_inter_area_resize=True,
            episodic_life=False,
            zero_discount_on_life_loss=False,
            reward_clip=False,
            use_fire_reset=False,  # AtariPreprocessing does not press FIRE at reset
            full_action_space=False,
        )

    @staticmethod
    def _scaled(frames: np.ndarray) -> np.ndarray:
        return frames.astype(np.float32) / np.float32(255.0)

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
        return self._scaled(obs)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Info]:
        if self._pool is None:
            raise RuntimeError(f"{self.name}: call reset() before step()")
        actions = check_host_actions(self.action_space, actions, self.num_envs).astype(np.int32)
        frames, reward, terminated, truncated, info = self._pool.step(actions, env_id=self._ids)
        frames, reward, terminated, truncated = self._in_order(self._ids, info, frames, reward, terminated, truncated)
        final_obs = self._scaled(frames)
        terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
        done = terminated | truncated
        obs = final_obs
        if done.any():
            # envpool resets a finished env on its next step (ignoring the action): take that step now
            ended = np.flatnonzero(done).astype(np.int32)
            first, _, _, _, reset_info = self._pool.step(np.zeros(ended.size, np.int32), env_id=ended)
            first, elapsed = self._in_order(ended, reset_info, first, np.asarray(reset_info["elapsed_step"]))
            if np.any(elapsed != 0):  # pragma: no cover - guards against a change of envpool's auto-reset
                raise RuntimeError(f"envpool did not reset env(s) {ended.tolist()} after their episode ended")
            obs = final_obs.copy()
            obs[ended] = self._scaled(first)
        return (
            obs,
            np.asarray(reward, np.float32),
            done,
            {"terminated": terminated, "truncated": truncated, "final_obs": final_obs},
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
