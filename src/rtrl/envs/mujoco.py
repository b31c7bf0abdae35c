"""MuJoCo POMDPs from gymnasium v5 (host back-end), after the RTU paper (Elelimy et al. 2024).

``-P`` keeps the joint positions only, ``-V`` the joint velocities only (the
`rtrl.envs.wrappers.hide` wrapper, a `mask_observation`, on top of the full robot; it works on
``gymnasium/<Robot>-v5`` too); contact forces are never observed (Ant: ``include_cfrc_ext_in_observation=False``). gymnasium v5 observes
``qpos[skip:]`` then ``qvel``, where ``skip`` root coordinates are excluded
(``exclude_current_positions_from_observation=True``). The split is derived from the model,
``skip = nq + nv - obs_dim``, ``positions = obs[:nq - skip]``, ``velocities = obs[nq - skip:]``:

==========  ==  ==  ====  ===================  ============
robot       nq  nv  skip  -P (qpos[skip:])     -V (qvel)
==========  ==  ==  ====  ===================  ============
Hopper       6   6     1  5                    6
Walker2d     9   9     1  8                    9
HalfCheetah  9   9     1  8                    9
Ant         15  14     2  13                   14
==========  ==  ==  ====  ===================  ============

(The public RTU code keeps 9 dimensions for HalfCheetah-P, leaking the root x-velocity, and 8
for -V; this split does not.) As in gymnasium v5, Hopper and Walker2d observe their velocities
clipped to [-10, 10].

``Reacher-Memory``: Reacher-v5 whose target is shown only at the start of an episode. Reacher's
observation is ``[cos q0, cos q1, sin q0, sin q1, target_x, target_y, dq0, dq1, (fingertip -
target)_x, (fingertip - target)_y]``. The rule: the observations delivered before the first
``reveal_steps`` actions of an episode (the reset observation and the next ``reveal_steps - 1``;
default ``reveal_steps=1``: the reset observation only) are unchanged; in every later one the
four target-dependent entries (indices 4, 5, 8, 9) are set to 0. A flag is appended: 1.0 while
the target is shown, 0.0 afterwards (11 features). Episodes last ``max_episode_steps`` (default
50, Reacher-v5's), so the target must be remembered for the rest of the episode.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rtrl import validate

__all__ = [
    "BACKENDS",
    "REACHER_TARGET_INDICES",
    "ROBOTS",
    "SPLITS",
    "RevealTargetFirstSteps",
    "mujoco_factory",
    "observation_split",
    "reacher_memory_factory",
]

ROBOTS = ("Hopper", "Walker2d", "HalfCheetah", "Ant", "Reacher")
SPLITS = ("Hopper", "Walker2d", "HalfCheetah", "Ant")  # robots with a -P/-V split
REACHER_TARGET_INDICES = (4, 5, 8, 9)
BACKENDS = ("gymnasium", "envpool")  # a SPLITS robot's back-ends (`rtrl.envs.envpool_mujoco`)


def observation_split(env: Any) -> tuple[int, int, int]:
    """``(skip, n_positions, n_velocities)`` of a gymnasium v5 locomotion env, from its model.

    ``skip`` leading qpos entries are excluded from the observation; the observation is
    ``qpos[skip:]`` (``n_positions = nq - skip``) followed by ``qvel`` (``n_velocities = nv``).
    """
    base = env.unwrapped
    nq, nv = int(base.model.nq), int(base.model.nv)
    obs_dim = int(np.prod(base.observation_space.shape))
    skip = nq + nv - obs_dim
    excluded = bool(getattr(base, "_exclude_current_positions_from_observation", False))
    if skip < 0 or (skip > 0) != excluded:
        raise ValueError(
            f"{type(base).__name__}: observation of {obs_dim} values is not qpos[skip:] + qvel "
            f"(nq={nq}, nv={nv}, exclude_current_positions={excluded}); contact forces must be excluded"
        )
    return skip, nq - skip, nv


class RevealTargetFirstSteps(gym.Wrapper):
    """Reacher-v5 with the target shown for the first ``reveal_steps`` observations only (module docstring)."""

    def __init__(self, env: Any, reveal_steps: int = 1):
        super().__init__(env)
        reveal_steps = validate.positive_int("reveal_steps", reveal_steps)
        if env.observation_space.shape != (10,):
            raise ValueError(
                f"RevealTargetFirstSteps expects Reacher-v5's 10 features, got {env.observation_space.shape}"
            )
        self.reveal_steps = reveal_steps
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (11,), np.float64)
        self._t = 0

    def _obs(self, obs: np.ndarray) -> np.ndarray:
        shown = self._t < self.reveal_steps
        out = np.asarray(obs, np.float64).copy()
        if not shown:
            out[list(REACHER_TARGET_INDICES)] = 0.0
        return np.concatenate([out, [1.0 if shown else 0.0]])

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        obs, info = self.env.reset(**kwargs)
        self._t = 0
        return self._obs(obs), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._t += 1
        return self._obs(obs), reward, terminated, truncated, info


def mujoco_factory(robot: str, *, max_episode_steps: int | None = None, render_mode: str | None = None) -> Any:
    """A factory for ``<robot>-v5`` with contact forces excluded (the -P/-V split is the
    ``rtrl.envs.wrappers.hide`` wrapper on top)."""
    validate.choice("robot", robot, ROBOTS)
    kwargs: dict[str, Any] = {}
    if robot == "Ant":
        kwargs["include_cfrc_ext_in_observation"] = False
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = validate.positive_int("max_episode_steps", max_episode_steps)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode

    def factory() -> Any:
        return gym.make(f"{robot}-v5", **kwargs)

    return factory


def reacher_memory_factory(*, reveal_steps: int = 1, max_episode_steps: int = 50,
                           render_mode: str | None = None) -> Any:
    """A factory for ``Reacher-Memory`` (module docstring)."""
    reveal_steps = validate.positive_int("reveal_steps", reveal_steps)
    max_episode_steps = validate.positive_int("max_episode_steps", max_episode_steps)

    def factory() -> Any:
        env = gym.make("Reacher-v5", max_episode_steps=max_episode_steps, render_mode=render_mode)
        return RevealTargetFirstSteps(env, reveal_steps)

    return factory
