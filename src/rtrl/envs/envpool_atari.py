"""envpool as a batched Atari back-end (``atari/<Game>`` with ``backend="envpool"``; the ``envpool`` extra).

envpool (C++, one thread pool for the whole batch) runs the same ALE emulator with the same
preprocessing as the ``ale`` path of `rtrl.envs.atari` (gymnasium's ``AtariPreprocessing`` over
``ALE/<Game>-v5``): sticky actions, minimal action set, 1..``noop_max`` no-op frames at reset,
frame skip 4 with max-pooling of the last two frames, 84x84 greyscale (INTER_AREA resize) scaled to
[0, 1] float32, no terminal on life loss, unclipped rewards, ``frame_stack`` frames as the
observation ``(frame_stack, 84, 84)``. With sticky actions off the two back-ends give identical
observations and rewards for identical actions (tests/envs/test_envs_atari.py checks this). The pool
and the same-step auto-reset are `rtrl.envs.envpool_envs.EnvpoolEnvs`.

Not supported on this back-end (refused when checked): ``noop_max=0`` (envpool 1.2.5 crashes with a
segmentation fault) and ``terminal_on_life_loss=True`` (envpool's ``episodic_life`` continues the
game after a life loss, where the ale path restarts it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rtrl import validate
from rtrl.envs.envpool_envs import ENVPOOL_INSTALL, ENVPOOL_REQUIRES, EnvpoolEnvs, require_envpool
from rtrl.envs.spaces import Box, Discrete

__all__ = ["ENVPOOL_INSTALL", "ENVPOOL_REQUIRES", "EnvpoolAtari", "require_envpool"]


class EnvpoolAtari(EnvpoolEnvs):
    """``num_envs`` copies of one Atari game in one envpool batch, with rtrl's same-step auto-reset.

    Args:
      game: an Atari game name as envpool spells it without the version (``"Pong"``, ``"Breakout"``).
      num_envs: the batch size.
      frame_stack, sticky_actions, noop_max, max_episode_steps: as for ``atari/<Game>``
        (`rtrl.envs.atari.atari_factory`); ``max_episode_steps`` counts agent steps (4 frames each).
      num_threads: envpool's worker threads (0: envpool's default, one per env up to the CPU count).

    Seeding as `EnvpoolEnvs`.
    """

    _action_dtype = np.int32

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
        self.frame_stack = validate.positive_int("frame_stack", frame_stack)
        self.sticky_actions = validate.number_in("sticky_actions", sticky_actions, 0.0, 1.0, what="(a probability)")
        self.noop_max = validate.positive_int(
            "noop_max", noop_max, what="for backend='envpool' (envpool 1.2.5 crashes with noop_max=0)"
        )
        self.max_episode_steps = validate.positive_int("max_episode_steps", max_episode_steps)
        super().__init__(f"{game}-v5", num_envs, num_threads, f"atari/{game}")
        self.action_space = Discrete(int(self._spec().action_space.n))
        self.observation_space = Box((self.frame_stack, 84, 84), 0.0, 1.0)

    def _options(self) -> dict[str, Any]:
        """envpool's options for the preprocessing of the ale path (module docstring)."""
        return dict(
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

    def _observation(self, raw: np.ndarray) -> np.ndarray:
        return raw.astype(np.float32) / np.float32(255.0)
