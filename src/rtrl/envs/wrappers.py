"""Environment wrappers for both back-ends, chosen by the type of the env they wrap.

Each function takes a `JaxEnv` or a `HostEnv` and returns one of the same kind. The rule of each
wrapper is written once (`rtrl.envs.wrapper_logic`, over numpy or jax.numpy, options validated
there) and run by two thin shells: `JaxWrapper` keeps the statistics in the env state (pure;
``jit``/``vmap``/``scan``), `HostWrapper` as an attribute.

* `previous_action_reward`, `normalize_observation`, `scale_reward`, `clip_action`,
  `episode_statistics`: the usual wrappers;
* `mask_observation` keeps chosen observation features; `hide` removes the velocities (``-P``) or
  positions (``-V``) of a gymnasium MuJoCo robot;
* `standard` applies the RTU paper's stack (Elelimy et al. 2024): episode statistics ->
  continuous-action clipping -> observation normalisation -> reward scaling -> previous action +
  previous reward (discrete actions);
* `observation_moments` / `reward_moments` read a stack's normalisation statistics, to evaluate a
  trained agent with them frozen: ``standard(env, observation_moments=m, update_statistics=False)``.
"""

from __future__ import annotations

from typing import Any, TypeVar

from rtrl import validate
from rtrl.envs import wrapper_logic as rules
from rtrl.envs.host import GymnasiumEnvs, HostEnv
from rtrl.envs.host_wrappers import HostWrapper
from rtrl.envs.jax_env import JaxEnv, VmapEnv
from rtrl.envs.jax_wrappers import JaxWrapper
from rtrl.envs.running import Moments, merge_moments
from rtrl.envs.spaces import Box, Discrete

__all__ = [
    "clip_action",
    "episode_statistics",
    "hide",
    "mask_observation",
    "normalize_observation",
    "observation_moments",
    "previous_action_reward",
    "reward_moments",
    "scale_reward",
    "standard",
    "unwrapped",
]

E = TypeVar("E", JaxEnv, HostEnv)


def _wrap(env: E, what: str, rule_type: type[rules.WrapperRule], **options: Any) -> E:
    """``env`` wrapped with ``rule_type(env's spaces, **options)`` in the shell of its back-end."""
    if isinstance(env, JaxEnv):
        return JaxWrapper(env, rule_type(env.observation_space, env.action_space, **options))
    if isinstance(env, HostEnv):
        return HostWrapper(env, rule_type(env.observation_space, env.action_space, **options))
    raise TypeError(f"{what} wraps an rtrl JaxEnv or HostEnv (from rtrl.envs.make), got {type(env).__name__}")


def previous_action_reward(env: E, *, action: bool = True, reward: bool = True, null_action: int | None = None) -> E:
    """Append the previous action (one-hot for discrete, raw for continuous) and/or the previous reward.

    At the first observation of an episode the appended part is zeros (or the one-hot of
    ``null_action``, popgym's ``PreviousAction`` convention, for a discrete space).
    """
    return _wrap(env, "previous_action_reward", rules.PreviousActionReward, action=action, reward=reward,
                 null_action=null_action)


def normalize_observation(env: E, *, epsilon: float = 1e-8, clip: float | None = None, update: bool = True,
                          moments: Moments | None = None) -> E:
    """Running per-feature observation normalisation (statistics pooled over envs and time, never over features).

    ``moments`` (e.g. from `observation_moments` of a trained stack) are the statistics every reset
    starts from (default mean 0, variance 1); ``update=False`` keeps them frozen.
    """
    return _wrap(env, "normalize_observation", rules.NormalizeObservation, epsilon=epsilon, clip=clip, update=update,
                 moments=moments)


def scale_reward(env: E, *, gamma: float = 0.99, epsilon: float = 1e-8, clip: float | None = None,
                 update: bool = True, moments: Moments | None = None) -> E:
    """Divide rewards by the running standard deviation of the discounted return.

    ``moments`` (shape ``()``, e.g. from `reward_moments`) start the statistics; ``update=False`` freezes them.
    """
    return _wrap(env, "scale_reward", rules.ScaleReward, gamma=gamma, epsilon=epsilon, clip=clip, update=update,
                 moments=moments)


def clip_action(env: E, *, low: Any = None, high: Any = None) -> E:
    """Accept any finite real action and clip it to ``[low, high]`` (default: the action space's bounds)."""
    return _wrap(env, "clip_action", rules.ClipAction, low=low, high=high)


def episode_statistics(env: E) -> E:
    """Add ``info["episode_return"]`` and ``info["episode_length"]`` (last finished episode, per env)."""
    return _wrap(env, "episode_statistics", rules.EpisodeStatistics)


def mask_observation(env: E, keep: Any) -> E:
    """Keep only the observation features ``keep``: indices (in the order given) or a boolean mask.

    E.g. ``mask_observation(env, [0, 2])`` or ``mask_observation(env, obs_mask)`` with one bool per
    feature. Flat (1-D) observations only; ``info["final_obs"]`` is masked too.
    """
    return _wrap(env, "mask_observation", rules.MaskObservation, keep=keep)


HIDDEN_PARTS = ("velocities", "positions")


def hide(env: HostEnv, part: str) -> HostEnv:
    """A gymnasium MuJoCo robot without its ``"velocities"`` (the ``-P`` task) or ``"positions"`` (``-V``).

    ``env`` is a host env over a gymnasium v5 locomotion env (``rtrl.envs.make("gymnasium/Hopper-v5")``
    or ``from_gymnasium("Hopper-v5")``) or envpool's batch of one (`rtrl.envs.envpool_mujoco`), before
    any wrapper that changes its observation. The split comes from the model
    (`rtrl.envs.mujoco.observation_split`): the observation is ``qpos[skip:]`` then ``qvel``.
    Implemented as `mask_observation`.
    """
    validate.choice("part", part, HIDDEN_PARTS)
    if not isinstance(env, HostEnv):
        raise TypeError(f"hide applies to a host env over a gymnasium MuJoCo robot, got {type(env).__name__}")
    base = env
    while isinstance(base, HostWrapper):
        base = base.env
    if hasattr(base, "observation_split"):  # a batch that knows its robot's split (envpool's MuJoCo)
        skip, n_positions, n_velocities = base.observation_split()
    else:
        gym_env = base.envs[0] if isinstance(base, GymnasiumEnvs) else None
        if gym_env is None or not hasattr(gym_env.unwrapped, "model"):
            raise ValueError(f"hide needs a gymnasium MuJoCo environment (e.g. gymnasium/Hopper-v5), got {env.name}")
        from rtrl.envs.mujoco import observation_split

        skip, n_positions, n_velocities = observation_split(gym_env)
    size = n_positions + n_velocities
    if env.observation_space.shape != (size,):
        raise ValueError(f"hide needs {env.name}'s own observation of {size} values (qpos[{skip}:] + qvel), got "
                         f"shape {env.observation_space.shape}: apply it before wrappers that change the observation")
    keep = range(n_positions) if part == "velocities" else range(n_positions, size)
    return mask_observation(env, tuple(keep))


def standard(
    env: E,
    *,
    gamma: float = 0.99,
    normalize_obs: bool = True,
    normalize_reward: bool = True,
    clip_actions: tuple[float, float] | None = None,
    previous_action_and_reward: bool | None = None,
    observation_moments: Moments | None = None,
    reward_moments: Moments | None = None,
    update_statistics: bool = True,
) -> E:
    """The RTU paper's wrapper stack, in its order.

    episode statistics (raw rewards) -> clip continuous actions (to ``clip_actions`` or the space's
    bounds) -> per-feature observation normalisation -> reward scaling (``gamma``) -> previous action
    (one-hot) and previous reward appended (by default only for discrete action spaces, as in the paper,
    and flat observations: image observations (C, H, W) are left as they are).

    For evaluation, ``observation_moments`` (and ``reward_moments``) give the statistics of a trained
    stack (`observation_moments`, `reward_moments`) and ``update_statistics=False`` freezes them.
    """
    for name, value in (("normalize_obs", normalize_obs), ("normalize_reward", normalize_reward),
                        ("update_statistics", update_statistics)):
        validate.boolean(name, value)
    if previous_action_and_reward is not None:
        validate.boolean("previous_action_and_reward", previous_action_and_reward)
    if observation_moments is not None and not normalize_obs:
        raise ValueError("observation_moments needs normalize_obs=True")
    if reward_moments is not None and not normalize_reward:
        raise ValueError("reward_moments needs normalize_reward=True")
    env = episode_statistics(env)
    if isinstance(env.action_space, Box):
        lo, hi = (None, None) if clip_actions is None else clip_actions
        env = clip_action(env, low=lo, high=hi)
    if normalize_obs:
        env = normalize_observation(env, moments=observation_moments, update=update_statistics)
    if normalize_reward:
        env = scale_reward(env, gamma=gamma, moments=reward_moments, update=update_statistics)
    if previous_action_and_reward is None:  # images (C, H, W) have no feature axis to append them to
        previous_action_and_reward = isinstance(env.action_space, Discrete) and len(env.observation_space.shape) == 1
    if previous_action_and_reward:
        env = previous_action_reward(env)
    return env


def unwrapped(env: E) -> E:
    """``env`` without its wrappers (`JaxWrapper`/`HostWrapper` shells), e.g. the `GymnasiumEnvs` under
    ``mujoco/Hopper-P`` (a mask wrapper); a `VmapEnv` is kept, it is not a wrapper."""
    while isinstance(env, (JaxWrapper, HostWrapper)):
        env = env.env
    return env


def _statistics(env: Any, env_state: Any, rule_type: type, what: str) -> Moments | None:
    """The moments of the outermost ``rule_type`` wrapper in ``env``'s stack (see `observation_moments`)."""
    if isinstance(env, JaxEnv) and env_state is None:
        raise ValueError(f"{what}: a JAX env keeps its statistics in its state; pass env_state")
    state = env_state
    while True:
        if isinstance(env, (JaxWrapper, HostWrapper)):
            rule = env.rule
            if isinstance(rule, rule_type):
                moments = state.moments if isinstance(env, JaxWrapper) else env.state.moments
                feature_ndim = len(rule.inner_observation_space.shape) if rule_type is rules.NormalizeObservation else 0
                return merge_moments(moments, feature_ndim)
            if isinstance(env, JaxWrapper) and rule.stateful:
                state = state.env_state
            env = env.env
        elif isinstance(env, VmapEnv):  # its copies' statistics carry a leading env axis, merged above
            env = env.env
        else:
            return None


def observation_moments(env: JaxEnv | HostEnv, env_state: Any = None) -> Moments | None:
    """The statistics of the observation-normalisation wrapper in ``env``'s stack (None if there is none).

    A JAX env keeps them in its state: pass ``env_state``. Where the wrapper sits under a `VmapEnv`
    (``agents.make`` batches an unbatched wrapped env so) or the state has more leading axes (seeds),
    each copy has its own statistics; they are merged into one with the parallel (Chan) rule,
    `rtrl.envs.running.merge_moments`. Pass one seed's state for that seed's statistics. A host
    env's are read from the wrapper. Returned as numpy float32 `Moments`; build the evaluation env
    with ``standard(env, observation_moments=m, update_statistics=False)``.
    """
    return _statistics(env, env_state, rules.NormalizeObservation, "observation_moments")


def reward_moments(env: JaxEnv | HostEnv, env_state: Any = None) -> Moments | None:
    """The statistics (of the discounted return) of the reward-scaling wrapper, as `observation_moments`."""
    return _statistics(env, env_state, rules.ScaleReward, "reward_moments")
