"""Partially observable environments behind one interface, with two back-ends.

    env = rtrl.envs.make("jax/CountRecallEasy")             # JAX-native: pure functions
    state, obs = env.reset(key)
    state, obs, reward, done, info = env.step(state, action, key)

    env = rtrl.envs.make("mujoco/Hopper-P", num_envs=8)     # host: gymnasium, numpy batches
    obs = env.reset(seed=0)                                  # (8, 5) float32
    obs, reward, done, info = env.step(actions)              # actions (8, 3) float

    env = rtrl.envs.make("gymnasium/CartPole-v1", num_envs=4)  # any id of gymnasium's registry

`names()` lists rtrl's curated environments: ``jax/*`` (JAX ports of POPGym tasks), ``popgym/*``
(the popgym package; Morad et al. 2023), ``mujoco/*`` (gymnasium v5; ``-P`` positions only, ``-V``
velocities only, ``Reacher-Memory``; the RTU paper, Elelimy et al. 2024; Hopper, Walker2d and
HalfCheetah also in envpool's C++ batch with ``backend="envpool"``, the ``envpool`` extra), ``atari/*`` (ale-py,
the ``atari`` extra; ``backend="envpool"`` runs the same games and preprocessing in envpool's C++
batch, the ``envpool`` extra) and ``minatar/*`` (gymnax's JAX ports of the MinAtar games, JAX-native
like ``jax/*``, observations ``(C, 10, 10)``; the ``minatar`` extra); ``names(family)`` one family. ``gymnasium/<id>`` takes any id of gymnasium's
registry (options ``num_envs``, ``max_episode_steps``, ``hide`` = "velocities"/"positions" for a
MuJoCo robot, ``render_mode``, ``make_kwargs``). `families()` describes the families; `spec(name)`
describes a name (options, whether its optional dependencies are ``installed``); `check(name,
options)` validates without building anything (ValueError naming the option, and
`MissingExtraError` with the install command). `from_gymnasium` adapts a gymnasium id, instance,
factory or vector env.

The reset / done convention (identical on both back-ends)
---------------------------------------------------------
Auto-reset happens inside ``step``, in the same call. For each env, step ``t`` takes action
``a_t`` and returns ``(obs_{t+1}, r_t, done_t, info_t)`` where

* ``r_t`` is the reward for ``a_t``: when the episode ended on this step, it is that episode's
  last reward;
* ``done_t`` is True iff the episode ended on this step (``info["terminated"] or
  info["truncated"]``), and then ``obs_{t+1}`` is **already the first observation of the next
  episode**. So ``done_t`` doubles as the ``first`` flag of ``obs_{t+1}``: "this observation
  starts a new episode". ``reset`` returns observations that are all first (``first = True``).
* ``info["final_obs"]`` is the real last observation of the finished episode (for bootstrapping a
  truncated episode's value); it equals ``obs_{t+1}`` where ``done_t`` is False.

An agent therefore keeps ``first = ones`` after ``reset`` and ``first = done`` after each step,
and resets its recurrent state (and RTRL traces) where ``first`` is True *before* consuming the
observation. The returns that bootstrap through step ``t`` stop where ``info["terminated"]``
is True (value 0) and use ``info["final_obs"]`` where ``info["truncated"]`` is True.
gymnasium's own vector envs default to the ``NEXT_STEP`` mode (the reset observation arrives one
call late with a reward of 0, the action of that call ignored); the host back-end does not use
it, and `from_gymnasium` accepts vector envs only in ``SAME_STEP`` mode.

Observations are float32 arrays (flat vectors, except Atari and MinAtar images, channel-first): discrete parts are one-hot
encoded as ``gymnasium.spaces.utils.flatten`` does, so a JAX port and its popgym original give
identical vectors for identical states. Spaces are `Discrete` (integer actions ``0..n-1``) or
`Box`. Actions outside the action space raise ``ValueError`` (outside ``jit``; see `check_action`).

Wrappers (`rtrl.envs.wrappers`) work on both back-ends, each written once over numpy/jax.numpy:
previous action/reward appended, per-feature observation normalisation, reward scaling, action
clipping, episode statistics, observation masks (`mask_observation`, and `hide` for MuJoCo
``-P``/``-V``), and `wrappers.standard` for the RTU paper's stack. `wrappers.observation_moments`
reads a trained stack's normalisation statistics so an evaluation env can use them frozen.
"""

from __future__ import annotations

from rtrl.envs import wrappers
from rtrl.envs.errors import MissingExtraError
from rtrl.envs.host import (
    GymnasiumEnvs,
    GymnasiumVectorEnv,
    HostEnv,
    check_host_actions,
    from_gymnasium,
)
from rtrl.envs.jax_env import JaxEnv, VmapEnv, check_action
from rtrl.envs.registry import EnvSpec, Family, check, families, make, names, spec
from rtrl.envs.running import Moments
from rtrl.envs.spaces import Box, Discrete, Space

__all__ = [
    "Box",
    "Discrete",
    "EnvSpec",
    "Family",
    "GymnasiumEnvs",
    "GymnasiumVectorEnv",
    "HostEnv",
    "JaxEnv",
    "MissingExtraError",
    "Moments",
    "Space",
    "VmapEnv",
    "check",
    "check_action",
    "check_host_actions",
    "families",
    "from_gymnasium",
    "make",
    "names",
    "spec",
    "wrappers",
]
