"""envpool as a batched MuJoCo back-end (``mujoco/<Robot>[-P|-V]`` with ``backend="envpool"``; the
``envpool`` extra).

envpool 1.2.5 ships gymnasium's v5 locomotion tasks in C++: for ``Hopper-v5``, ``Walker2d-v5`` and
``HalfCheetah-v5`` the same models, observations (``qpos[skip:]`` then ``qvel``, Hopper/Walker2d
velocities clipped to ±10), rewards, healthy termination and reset noise, stepped for the whole batch
in one call with no Python per env. From the same state and action its observation, reward and episode
end equal gymnasium's to 1e-5 (measured ≤ 2e-13 on HalfCheetah; tests/envs/test_envpool_mujoco.py);
its reset noise comes from its own generator, so a seed gives other episodes than on the gymnasium
path. The -P/-V split is read from the gymnasium model, as on the gymnasium path
(`rtrl.envs.mujoco.observation_split`). Rendering is not available on this back-end.

Not Ant: envpool's ``Ant-v5`` always observes the contact forces (rtrl's Ant, as the RTU paper's,
does not), and from the same state its reward differed from gymnasium's by up to 0.04 per step and its
observation by up to 6e-4 (contacts) — not the same task, so it is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rtrl import validate
from rtrl.envs.envpool_envs import EnvpoolEnvs
from rtrl.envs.spaces import flatten_gymnasium_space, from_gymnasium_action_space

__all__ = ["ENVPOOL_ROBOTS", "EnvpoolMujoco"]

ENVPOOL_ROBOTS = ("Hopper", "Walker2d", "HalfCheetah")  # the robots whose envpool task is gymnasium's (docstring)


class EnvpoolMujoco(EnvpoolEnvs):
    """``num_envs`` copies of a gymnasium v5 locomotion robot (`ENVPOOL_ROBOTS`) in one
    envpool batch, with rtrl's same-step auto-reset; float32 observations of the gymnasium path's
    size. ``max_episode_steps`` truncates episodes; ``num_threads`` as `EnvpoolEnvs`."""

    def __init__(self, robot: str, num_envs: int = 1, *, max_episode_steps: int = 1000, num_threads: int = 0):
        from rtrl.envs.mujoco import mujoco_factory, observation_split

        self.robot = validate.choice("robot", robot, ENVPOOL_ROBOTS)
        self.max_episode_steps = validate.positive_int("max_episode_steps", max_episode_steps)
        super().__init__(f"{robot}-v5", num_envs, num_threads, f"mujoco/{robot}")
        reference = mujoco_factory(robot)()  # the gymnasium env of the same robot: its split and spaces
        try:
            self._split = observation_split(reference)
            self.observation_space = flatten_gymnasium_space(reference.observation_space)
            self.action_space = from_gymnasium_action_space(reference.action_space)
        finally:
            reference.close()
        self._size = sum(self._split[1:])
        envpool_size = self._spec().observation_space.shape[0]
        if envpool_size != self._size:  # pragma: no cover - guards against a change of envpool
            raise RuntimeError(f"envpool's {self._task} observes {envpool_size} values, gymnasium's {self._size}")

    def observation_split(self) -> tuple[int, int, int]:
        """``(skip, n_positions, n_velocities)``, as `rtrl.envs.mujoco.observation_split` of the robot."""
        return self._split

    def _options(self) -> dict[str, Any]:
        return dict(max_episode_steps=self.max_episode_steps)

    def _observation(self, raw: np.ndarray) -> np.ndarray:
        return np.asarray(raw, np.float32)
