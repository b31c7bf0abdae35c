"""JAX-native MuJoCo locomotion through MJX (``mjx/<Robot>[-P|-V]``; the ``mjx`` extra, mujoco-mjx).

`MjxLocomotion` is a `JaxEnv` — pure ``reset``/``step``, usable inside ``jit``, ``vmap`` and
``lax.scan`` on a CPU, GPU or TPU — that reproduces gymnasium's v5 Hopper, Walker2d, HalfCheetah and
Ant (contact forces not observed) on MJX, MuJoCo's JAX implementation:

* **Model.** gymnasium's own ``MjModel``, taken from the gymnasium env that ``mujoco/<Robot>`` builds
  (`rtrl.envs.mujoco.mujoco_factory`), put on the device with ``mjx.put_model(impl="jax")``.
* **Observation.** ``qpos[skip:]`` then ``qvel`` (Hopper and Walker2d: ``qvel`` clipped to
  [-10, 10]); ``-P`` keeps the positions, ``-V`` the velocities. ``skip`` and the split are read
  from the model exactly as for ``mujoco/`` (`rtrl.envs.mujoco.observation_split`): Hopper 5/6,
  Walker2d 8/9, HalfCheetah 8/9, Ant 13/14. float32.
* **Step.** ``ctrl = action`` (MJX clamps it to ``ctrlrange`` as MuJoCo does), ``frame_skip``
  physics steps (4, 4, 5, 5) in a ``lax.fori_loop``, then (Ant) ``rne_postconstraint`` for the
  contact forces ``cfrc_ext``.
* **Reward**, with dt = timestep · frame_skip and v = (x_after − x_before) / dt:
  Hopper, Walker2d: v + 1·healthy − 10⁻³‖a‖²;  HalfCheetah: v − 0.1‖a‖²;
  Ant: v + 1·healthy − 0.5‖a‖² − 5·10⁻⁴‖clip(cfrc_ext, −1, 1)‖². x is ``qpos[0]``, except for Ant,
  where it is the torso's ``xpos`` as MuJoCo leaves it after a step (gymnasium's ``main_body``):
  computed at the last stage of the step, not from the final ``qpos``.
* **Termination** when unhealthy (gymnasium's ``terminate_when_unhealthy=True``):
  Hopper healthy ⇔ 0.7 < z, −0.2 < angle < 0.2 and every entry of (qpos[2:], qvel) in (−100, 100);
  Walker2d ⇔ 0.8 < z < 2, −1 < angle < 1 (z = qpos[1], angle = qpos[2]);
  Ant ⇔ (qpos, qvel) finite and 0.2 ≤ qpos[2] ≤ 1; HalfCheetah never terminates.
  **Truncation** after ``max_episode_steps`` (1000) steps of an episode that did not terminate on
  that step (the two flags never hold together, as in ``minatar/``).
* **Reset**: ``qpos = qpos0 + U(−s, s)``; ``qvel = U(−s, s)`` (Hopper, Walker2d; s = 0.005) or
  ``s·N(0, 1)`` (HalfCheetah s = 0.1, Ant s = 0.1) — gymnasium's distributions, drawn with
  ``jax.random`` (so not gymnasium's samples for a seed).

What differs from the C MuJoCo behind ``mujoco/``: MJX computes in float32 (unless JAX's 64-bit
mode is on) where MuJoCo uses float64, and its constraint solver stops at its own tolerance, so
trajectories agree closely for a step and drift apart over many (chaotic contact dynamics); the
tests compare one step from the same state. Auto-reset does not run ``mjx.forward``: a reset state
holds only ``qpos``/``qvel`` (every derived quantity is recomputed at the start of the next step),
which keeps the reset cheap under ``vmap``, where both branches of the auto-reset run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
from importlib.util import find_spec
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rtrl import validate
from rtrl.envs.errors import require_extra
from rtrl.envs.jax_env import JaxEnv
from rtrl.envs.mujoco import SPLITS, mujoco_factory, observation_split
from rtrl.envs.spaces import Box

__all__ = [
    "MJX_INSTALL",
    "MJX_REQUIRES",
    "PARTS",
    "ROBOTS",
    "TASKS",
    "LocomotionTask",
    "MjxLocomotion",
    "MjxState",
    "is_healthy",
    "require_mjx",
]

MJX_REQUIRES = (("mujoco.mjx", "mujoco-mjx"),)  # (module, package)
MJX_INSTALL = "pip install 'rtrl[mjx]' (from a clone: pip install -e '.[mjx]')"
PARTS = ("P", "V")  # -P: positions only, -V: velocities only


@dataclasses.dataclass(frozen=True)
class LocomotionTask:
    """gymnasium v5's constants of one robot (its defaults; the tests compare them with gymnasium's env).

    Attributes:
      frame_skip: physics steps per environment step.
      forward_reward_weight, ctrl_cost_weight, healthy_reward: the reward's weights (module docstring).
      reset_noise_scale: s of the reset noise.
      normal_velocity_noise: qvel noise s·N(0, 1) (else U(−s, s)).
      velocity_clip: observed qvel clipped to [−c, c], or None.
      contact_cost_weight: weight of ‖clip(cfrc_ext)‖² (Ant), 0 for none.
      contact_force_range: the clip of cfrc_ext in the contact cost.
      healthy_z_range, healthy_angle_range, healthy_state_range: the healthy checks (`is_healthy`).
      forward_body: the body whose ``xpos`` x gives the forward velocity, or None for ``qpos[0]``.
    """

    frame_skip: int
    forward_reward_weight: float
    ctrl_cost_weight: float
    healthy_reward: float
    reset_noise_scale: float
    normal_velocity_noise: bool
    velocity_clip: float | None = None
    contact_cost_weight: float = 0.0
    contact_force_range: tuple[float, float] = (-1.0, 1.0)
    healthy_z_range: tuple[float, float] | None = None
    healthy_angle_range: tuple[float, float] | None = None
    healthy_state_range: tuple[float, float] | None = None
    forward_body: int | None = None

    @property
    def terminates(self) -> bool:
        """Whether an unhealthy state ends the episode (every robot but HalfCheetah)."""
        return self.healthy_z_range is not None


TASKS: dict[str, LocomotionTask] = {
    "Hopper": LocomotionTask(4, 1.0, 1e-3, 1.0, 5e-3, False, velocity_clip=10.0, healthy_z_range=(0.7, np.inf),
                             healthy_angle_range=(-0.2, 0.2), healthy_state_range=(-100.0, 100.0)),
    "Walker2d": LocomotionTask(4, 1.0, 1e-3, 1.0, 5e-3, False, velocity_clip=10.0, healthy_z_range=(0.8, 2.0),
                               healthy_angle_range=(-1.0, 1.0)),
    "HalfCheetah": LocomotionTask(5, 1.0, 0.1, 0.0, 0.1, True),
    "Ant": LocomotionTask(5, 1.0, 0.5, 1.0, 0.1, True, contact_cost_weight=5e-4, healthy_z_range=(0.2, 1.0),
                          forward_body=1),
}
ROBOTS = SPLITS  # the robots with a -P/-V split, as for mujoco/


def require_mjx() -> None:
    """Raise `MissingExtraError` (a ValueError) naming the extra unless mujoco-mjx is importable."""
    require_extra("MJX environments need", "mjx", MJX_REQUIRES, MJX_INSTALL, _find_module)


def _find_module(module: str) -> Any:
    try:
        return find_spec(module)
    except ModuleNotFoundError:  # the parent package (mujoco) is missing
        return None


def _import_mjx() -> Any:
    """``mujoco.mjx``, without the lines it prints about the optional Warp back-end (not used here)."""
    require_mjx()
    with contextlib.redirect_stdout(io.StringIO()):
        from mujoco import mjx
    return mjx


def is_healthy(task: LocomotionTask, qpos: Any, qvel: Any, xp: Any = jnp) -> Any:
    """gymnasium v5's ``is_healthy`` of ``task`` (module docstring), over ``xp`` (numpy or jax.numpy).

    Hopper and Walker2d use strict bounds (and so count NaN as unhealthy), Ant inclusive bounds on
    z = qpos[2] and an explicit finiteness check.
    """
    if not task.terminates:
        return xp.asarray(True)
    if task.forward_body is not None:  # Ant: a free-floating torso, z = qpos[2]
        low, high = task.healthy_z_range
        finite = xp.all(xp.isfinite(qpos)) & xp.all(xp.isfinite(qvel))
        return finite & (low <= qpos[2]) & (qpos[2] <= high)
    z, angle = qpos[1], qpos[2]
    (z_low, z_high), (a_low, a_high) = task.healthy_z_range, task.healthy_angle_range
    healthy = (z_low < z) & (z < z_high) & (a_low < angle) & (angle < a_high)
    if task.healthy_state_range is not None:
        s_low, s_high = task.healthy_state_range
        state = xp.concatenate([qpos[2:], qvel])
        healthy = healthy & xp.all((s_low < state) & (state < s_high))
    return healthy


@functools.cache
def _gymnasium_model(robot: str) -> tuple[Any, tuple[int, int, int]]:
    """gymnasium's ``MjModel`` of ``<robot>-v5`` (contact forces excluded) and its ``(skip, n_positions,
    n_velocities)`` split, read by the ``mujoco/`` family's own code."""
    env = mujoco_factory(robot)()
    try:
        return env.unwrapped.model, observation_split(env)
    finally:
        env.close()


@functools.cache
def _device_model(robot: str, x64: bool) -> tuple[Any, Any]:
    """The MJX model of ``robot`` and an empty MJX data to start episodes from (one per 64-bit mode).

    Made once, concretely (a first call from inside a ``jit`` trace must not cache tracers).
    """
    mjx = _import_mjx()
    model, _ = _gymnasium_model(robot)
    with jax.ensure_compile_time_eval():
        device_model = mjx.put_model(model, impl="jax")
        return device_model, mjx.make_data(device_model, impl="jax")


@functools.partial(jax.jit, static_argnums=(2, 3))
def _physics(device_model: Any, data: Any, frame_skip: int, contact_forces: bool) -> Any:
    """``frame_skip`` MJX steps, then (``contact_forces``) ``rne_postconstraint`` for ``cfrc_ext``, as
    gymnasium's ``do_simulation`` does. Jitted with the model as an argument, so that an eager
    ``env.step`` compiles the physics once per model rather than at every call (inside a caller's
    ``jit`` it is inlined)."""
    mjx = _import_mjx()
    data = jax.lax.fori_loop(0, frame_skip, lambda _, d: mjx.step(device_model, d), data)
    return mjx.rne_postconstraint(device_model, data) if contact_forces else data


def _cfrc_ext(data: Any) -> jax.Array:
    """The contact forces on the bodies (``cfrc_ext``): MJX 3.17 keeps them in its JAX back-end's data
    (reading them from ``Data`` itself is deprecated there)."""
    impl = getattr(data, "_impl", None)
    return impl.cfrc_ext if impl is not None and hasattr(impl, "cfrc_ext") else data.cfrc_ext


class MjxState(NamedTuple):
    """The state of one episode.

    Attributes:
      data: MJX's ``Data`` (after a reset only ``qpos``/``qvel`` are meaningful).
      forward_position: the x the forward reward differentiates, as it stood after the last step or reset.
      steps: environment steps taken in this episode (int32).
    """

    data: Any
    forward_position: jax.Array
    steps: jax.Array


@dataclasses.dataclass(frozen=True)
class MjxLocomotion(JaxEnv):
    """One gymnasium v5 locomotion robot on MJX, fully observed or split (module docstring).

    Attributes:
      robot: one of `ROBOTS` (Hopper, Walker2d, HalfCheetah, Ant).
      part: ``"P"`` (positions only), ``"V"`` (velocities only) or None (both).
      max_episode_steps: the step limit after which an episode is truncated.
    """

    robot: str = "Hopper"
    part: str | None = None
    max_episode_steps: int = 1000

    def __post_init__(self) -> None:
        validate.choice("robot", self.robot, ROBOTS)
        if self.part is not None:
            validate.choice("part", self.part, PARTS)
        object.__setattr__(self, "max_episode_steps", validate.positive_int("max_episode_steps",
                                                                              self.max_episode_steps))
        require_mjx()
        _device_model(self.robot, jax.config.jax_enable_x64)  # built here, outside any trace

    # -- the model --------------------------------------------------------------------------------
    @property
    def task(self) -> LocomotionTask:
        """The robot's gymnasium v5 constants."""
        return TASKS[self.robot]

    @property
    def model(self) -> Any:
        """gymnasium's ``mujoco.MjModel`` of the robot (C MuJoCo, host side)."""
        return _gymnasium_model(self.robot)[0]

    @property
    def split(self) -> tuple[int, int, int]:
        """``(skip, n_positions, n_velocities)``, read from the model (`rtrl.envs.mujoco.observation_split`)."""
        return _gymnasium_model(self.robot)[1]

    @property
    def dt(self) -> float:
        """Seconds per environment step: timestep · frame_skip."""
        return float(self.model.opt.timestep) * self.task.frame_skip

    def _device(self) -> tuple[Any, Any]:
        return _device_model(self.robot, jax.config.jax_enable_x64)

    # -- the JaxEnv interface ---------------------------------------------------------------------
    @property
    def name(self) -> str:
        return f"mjx/{self.robot}" + ("" if self.part is None else f"-{self.part}")

    @property
    def observation_space(self) -> Box:
        _, n_positions, n_velocities = self.split
        size = {None: n_positions + n_velocities, "P": n_positions, "V": n_velocities}[self.part]
        return Box((size,))

    @property
    def action_space(self) -> Box:
        low, high = np.asarray(self.model.actuator_ctrlrange, np.float32).T
        return Box((int(self.model.nu),), tuple(low), tuple(high))

    def observation(self, qpos: jax.Array, qvel: jax.Array) -> jax.Array:
        """The observation of a state: ``qpos[skip:]`` and/or ``qvel`` (clipped for Hopper, Walker2d), float32."""
        skip, _, _ = self.split
        clip = self.task.velocity_clip
        velocities = qvel if clip is None else jnp.clip(qvel, -clip, clip)
        parts = {None: (qpos[skip:], velocities), "P": (qpos[skip:],), "V": (velocities,)}[self.part]
        return jnp.concatenate(parts).astype(jnp.float32)

    def reset_env(self, key: jax.Array) -> tuple[MjxState, jax.Array]:
        _, empty = self._device()
        task, model = self.task, self.model
        key_qpos, key_qvel = jax.random.split(key)
        s = task.reset_noise_scale
        dtype = empty.qpos.dtype
        qpos = jnp.asarray(model.qpos0, dtype) + jax.random.uniform(key_qpos, (model.nq,), dtype, -s, s)
        if task.normal_velocity_noise:
            qvel = s * jax.random.normal(key_qvel, (model.nv,), dtype)
        else:
            qvel = jax.random.uniform(key_qvel, (model.nv,), dtype, -s, s)
        return self.state_from(qpos, qvel)

    def state_from(self, qpos: Any, qvel: Any) -> tuple[MjxState, jax.Array]:
        """``(state, obs)`` of an episode's start at ``qpos``/``qvel``: gymnasium's ``set_state(qpos, qvel)``."""
        _, empty = self._device()
        qpos, qvel = jnp.asarray(qpos, empty.qpos.dtype), jnp.asarray(qvel, empty.qvel.dtype)
        if qpos.shape != empty.qpos.shape or qvel.shape != empty.qvel.shape:
            raise ValueError(f"{self.name}: qpos and qvel must have shapes {empty.qpos.shape} and "
                             f"{empty.qvel.shape}, got {qpos.shape} and {qvel.shape}")
        data = empty.replace(qpos=qpos, qvel=qvel)
        # after gymnasium's mj_forward at reset the torso's xpos is qpos[0:3] (a free joint), so x = qpos[0]
        state = MjxState(data, qpos[0], jnp.zeros((), jnp.int32))
        return state, self.observation(qpos, qvel)

    def step_env(
        self, state: MjxState, action: jax.Array, key: jax.Array
    ) -> tuple[MjxState, jax.Array, jax.Array, jax.Array, jax.Array]:
        del key  # the dynamics are deterministic
        device_model, _ = self._device()
        task = self.task
        data = state.data.replace(ctrl=jnp.asarray(action, state.data.ctrl.dtype))
        data = _physics(device_model, data, task.frame_skip, task.contact_cost_weight > 0)
        if task.forward_body is None:
            forward_position = data.qpos[0]
        else:
            forward_position = data.xpos[task.forward_body, 0]
        velocity = (forward_position - state.forward_position) / self.dt
        healthy = is_healthy(task, data.qpos, data.qvel)
        reward = (task.forward_reward_weight * velocity + task.healthy_reward * healthy
                  - task.ctrl_cost_weight * jnp.sum(jnp.square(action)))
        if task.contact_cost_weight:
            low, high = task.contact_force_range
            reward = reward - task.contact_cost_weight * jnp.sum(jnp.square(jnp.clip(_cfrc_ext(data), low, high)))
        terminated = jnp.logical_not(healthy) if task.terminates else jnp.asarray(False)
        steps = state.steps + 1
        truncated = jnp.logical_and(steps >= self.max_episode_steps, jnp.logical_not(terminated))
        next_state = MjxState(data, forward_position.astype(state.forward_position.dtype), steps)
        return next_state, self.observation(data.qpos, data.qvel), reward.astype(jnp.float32), terminated, truncated
