"""`TrainedAgent`: a trained actor-critic as a policy you can act with, evaluate, save and load.

    agent = rtrl.train(config).agent                 # or rtrl.load("agent.npz"), TrainedAgent.from_run("runs/x")
    env = agent.make_env(num_envs=4)                  # the training env behind its wrapper stack, statistics frozen
    obs = env.reset(seed=0)                           # (host env; a JAX-native env: state, obs = env.reset(key))
    carry, first = agent.initial_carry(4), np.ones(4, bool)
    action, carry = agent.act(obs, carry, first, deterministic=True)

A trained agent is the network (`ActorCritic`), its parameters, the `TrainConfig` it was trained
with, the raw environment's action space, and the statistics of its wrappers at the end of
training (`WrapperStatistics`). It acts on observations *as its wrapper stack delivers them*
(normalised, previous action and reward appended): `wrap` puts that stack on any environment with
the statistics frozen (evaluation must not keep adapting them), and ``first`` marks observations
that start an episode (the ``done`` of the previous step; see `rtrl.envs`), where the recurrent
state is reset before the step.

Acting: ``a_t ~ π(·|h_t)`` (``key`` required) or, with ``deterministic=True``, the mode of π:
``argmax_a logits_a`` for a categorical policy and the mean ``μ(h_t)`` for a Gaussian one.
Continuous actions are clipped to the raw action space's bounds, as training sends them.

Wrapper statistics. The standard stack normalises observations per feature,
``(o − μ) / sqrt(σ² + ε)``, and divides rewards by the running spread of the discounted return
(the previous reward the network sees is that scaled one). The moments (mean, var, count) come
from the training run's environments (`rtrl.envs.wrappers.observation_moments` and `reward_moments`;
the statistics of several parallel environments merged exactly into those of all they saw), each
seed its own, through the run's state and checkpoints for JAX-native and host environments alike.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rtrl.agents.network import ActorCritic
from rtrl.agents.rollout import env_action
from rtrl.agents.stream_network import StreamActorCritic, StreamQNetwork
from rtrl.envs.host import HostEnv
from rtrl.envs.jax_env import JaxEnv
from rtrl.envs.running import Moments
from rtrl.envs.spaces import Box, Discrete, Space

if TYPE_CHECKING:  # the experiments layer builds on agents; imported lazily below to keep the layers apart
    from rtrl.experiments.training import TrainConfig

__all__ = ["TrainedAgent", "WrapperStatistics", "inner_env", "parameter_names", "parameter_problems"]


# The networks a trained agent can be: PPO's actor-critic and the streaming agents'.
NETWORKS = (ActorCritic, StreamActorCritic, StreamQNetwork)


class WrapperStatistics(NamedTuple):
    """The running statistics of a standard wrapper stack (None where the stack has no such wrapper
    or the statistics were not recorded, as in a host run's checkpoint written before rtrl kept them;
    evaluation then lets that wrapper adapt online). A host training run's ``RunState.env_state``
    is one, with every seed on the leading axis of each array."""

    observation: Moments | None = None  # per-feature mean/var of the raw observations, shape (D,)
    reward: Moments | None = None  # scalar mean/var of the discounted return (reward scaling)


@dataclasses.dataclass(frozen=True, eq=False)
class TrainedAgent:
    """A trained actor-critic: the network, its parameters, its config and its wrapper statistics.

    Attributes:
      config: the `rtrl.experiments.training.TrainConfig` it was trained with (environment, wrappers,
        the agent's `PPOConfig`, `StreamConfig` or `R2ACConfig` in ``config.agent_config``).
      network: the `ActorCritic` of a PPO agent, or a streaming agent's `StreamActorCritic` or
        `StreamQNetwork` (observation size, action size, cell, heads; the same ``step`` interface).
      params: its parameters (a pytree of arrays, see the network's ``init``).
      action_space: the raw environment's action space (continuous actions are clipped to it).
      statistics: the wrapper statistics at the end of training (`WrapperStatistics`).
      seed: the training seed these parameters come from (None if unknown).
      env_steps: environment steps (all of its parallel environments) it was trained for (None if unknown).
    """

    config: TrainConfig
    network: ActorCritic
    params: Any
    action_space: Space
    statistics: WrapperStatistics = WrapperStatistics()
    seed: int | None = None
    env_steps: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.network, NETWORKS):
            raise TypeError(f"network must be an ActorCritic or a streaming agent's network, got "
                            f"{type(self.network).__name__}.")
        if not isinstance(self.action_space, (Box, Discrete)):
            raise TypeError(f"action_space must be a Box or Discrete, got {type(self.action_space).__name__}.")
        if isinstance(self.action_space, Discrete) != self.network.discrete:
            raise ValueError(f"action_space {self.action_space} does not match the network's "
                             f"{'discrete' if self.network.discrete else 'continuous'} policy.")
        problems = parameter_problems(self.network, {n: np.shape(x) for n, x in _named(self.params).items()},
                                      {n: jnp.result_type(x) for n, x in _named(self.params).items()})
        if problems:
            raise ValueError(f"params do not fit the network ({problems}).")
        net, space = self.network, self.action_space

        def act_mode(params, carry, obs, first):
            carry, policy, _ = net.step(params, carry, obs, first)
            return env_action(space, policy.mode()), carry

        def act_sample(params, carry, obs, first, key):
            carry, policy, _ = net.step(params, carry, obs, first)
            return env_action(space, policy.sample(key)), carry

        object.__setattr__(self, "_act_mode", jax.jit(act_mode))
        object.__setattr__(self, "_act_sample", jax.jit(act_sample))

    # -- acting ------------------------------------------------------------------------------------

    @property
    def recurrent(self) -> bool:
        return self.network.recurrent

    @property
    def observation_size(self) -> int:
        """Size of the observations `act` takes (after the wrapper stack; C·H·W for images)."""
        return self.network.observation_size

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """Shape of one observation `act` takes: (observation_size,), or (C, H, W) for a conv stem."""
        return self.network.observation_shape

    def initial_carry(self, batch_size: int) -> Any:
        """The zero recurrent state (and RTRL traces) for ``batch_size`` environments; ``()`` for an MLP."""
        from rtrl import validate

        return self.network.initial_carry(self.params, validate.positive_int("batch_size", batch_size))

    def act(self, obs: Any, carry: Any, first: Any, *, key: jax.Array | None = None,
            deterministic: bool = False) -> tuple[jax.Array, Any]:
        """``(action, carry)`` for a batch of observations (one jitted call).

        Args:
          obs: (B, observation_size) observations of the wrapped environment (`wrap`, `make_env`).
          carry: the carry from `initial_carry` or from the previous call.
          first: (B,) bool, True where ``obs`` starts an episode (after a reset, or where the
            previous step returned ``done``); a single bool applies to the whole batch.
          key: a PRNG key, required to sample (``deterministic=False``).
          deterministic: take the most probable action (argmax / mean) instead of sampling.

        Returns: actions (B,) int32 or (B, A) float32 clipped to the action space, and the new carry.
        """
        obs = jnp.asarray(obs, jnp.float32)
        if obs.ndim != 1 + len(self.observation_shape) or obs.shape[1:] != self.observation_shape:
            shape = ", ".join(str(d) for d in self.observation_shape)
            raise ValueError(f"obs must have shape (batch, {shape}) (observations of the agent's "
                             f"wrapped environment), got {tuple(obs.shape)}.")
        first = jnp.asarray(first)
        if first.dtype != bool:
            raise ValueError(f"first must be bool (True where obs starts an episode), got dtype {first.dtype}.")
        if first.ndim == 0:
            first = jnp.broadcast_to(first, obs.shape[:1])
        if first.shape != obs.shape[:1]:
            raise ValueError(f"first must have shape ({obs.shape[0]},) like the batch of obs, got {tuple(first.shape)}.")
        if not isinstance(deterministic, bool):
            raise ValueError(f"deterministic must be True or False, got {deterministic!r}.")
        if deterministic:
            return self._act_mode(self.params, carry, obs, first)
        if key is None:
            raise ValueError("act samples from the policy when deterministic=False: pass key=jax.random.PRNGKey(k) "
                             "(a new key for each call), or deterministic=True for the most probable action.")
        return self._act_sample(self.params, carry, obs, first, key)

    # -- environments ------------------------------------------------------------------------------

    def wrap(self, env: JaxEnv | HostEnv) -> JaxEnv | HostEnv:
        """``env`` (raw, from `rtrl.envs.make` or `rtrl.envs.from_gymnasium`) behind the agent's training
        wrapper stack with its statistics frozen; episode statistics (raw rewards) innermost."""
        if not isinstance(env, (JaxEnv, HostEnv)):
            raise TypeError(f"env must be an rtrl JaxEnv or HostEnv, got {type(env).__name__}; see rtrl.envs.make "
                            "and rtrl.envs.from_gymnasium.")
        _refuse_wrapped(env)
        options = self.config.wrapper_options()
        if options is None:
            return env
        return frozen_standard(env, options=options, statistics=self.statistics)

    def make_env(self, num_envs: int | None = None) -> JaxEnv | HostEnv:
        """The environment the agent was trained on (``config.env`` with ``config.env_options``), wrapped
        by `wrap`. ``num_envs``: None gives an unbatched JAX-native env or one host env."""
        from rtrl import envs

        options = dict(self.config.env_options)
        native = envs.spec(self.config.env).backend == "jax"
        if num_envs is not None or not native:
            options["num_envs"] = 1 if num_envs is None else num_envs
        return self.wrap(envs.make(self.config.env, **options))

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def from_training(cls, config: TrainConfig, agent: Any, state: Any, index: int = 0,
                      envs: list[Any] | None = None) -> TrainedAgent:
        """Seed ``index`` of a training run's final state.

        ``agent`` is the `rtrl.agents.Agent` that was trained, ``state`` its `RunState` with every seed
        on a leading axis (as `rtrl.experiments.training.train` returns it). The wrapper statistics
        come from that seed's ``state.env_state``: the JAX env state, or for a host environment the
        `WrapperStatistics` a training run keeps there (`rtrl.experiments.train_seeds`). A host
        state without them (e.g. straight from `Agent.init`) takes them from ``envs[index]`` (the
        wrapped host env of that seed) when given; otherwise none are known.
        """
        seeds = int(np.shape(state.iteration)[0]) if np.ndim(state.iteration) else 1
        if not 0 <= index < seeds:
            raise ValueError(f"index must be in 0..{seeds - 1} (the run has {seeds} seed(s)), got {index}.")
        pick = (lambda x: x[index]) if np.ndim(state.iteration) else (lambda x: x)
        params = jax.tree.map(lambda x: jnp.asarray(pick(x)), state.params)
        if agent.jax_native:
            statistics = statistics_of(agent.env, jax.tree.map(pick, state.env_state))
        elif isinstance(state.env_state, WrapperStatistics) and any(m is not None for m in state.env_state):
            statistics = WrapperStatistics(*(None if m is None else Moments(*(np.asarray(pick(x), np.float32)
                                                                               for x in m))
                                             for m in state.env_state))
        elif envs is not None and envs[index] is not None:
            statistics = statistics_of(envs[index])
        else:
            statistics = WrapperStatistics()
        return cls(config=config, network=agent.network, params=params, action_space=raw_action_space(agent.env),
                   statistics=statistics, seed=config.seed + index, env_steps=int(pick(np.asarray(state.env_steps))))

    @classmethod
    def from_run(cls, run_dir: str, seed: int | None = None) -> TrainedAgent:
        """The agent of one seed of a training run directory (``rtrl train --out RUN_DIR``), from its
        ``config.yaml`` and ``checkpoint.npz``. ``seed``: the seed number as in ``seed_<k>.csv``
        (default: the run's first seed)."""
        from rtrl.agents.saving import read_run

        return read_run(run_dir, seed)

    @classmethod
    def load(cls, path: str) -> TrainedAgent:
        """An agent saved with `save` (see `rtrl.agents.saving`)."""
        from rtrl.agents.saving import load

        return load(path)

    def save(self, path: str) -> str:
        """Write the agent to one ``.npz`` file (see `rtrl.agents.saving`); returns the path written."""
        from rtrl.agents.saving import save

        return save(self, path)

    def __repr__(self) -> str:
        a = self.config.agent_config
        cell = "MLP" if self.network.cell is None else f"{a.cell} n={a.hidden_size}"
        return (f"TrainedAgent({a.agent}, {cell}, env={self.config.env!r}, seed={self.seed}, "
                f"env_steps={self.env_steps})")


# -- parameters by name ---------------------------------------------------------------------------------


def parameter_names(params: Any) -> list[str]:
    """``params/<key>/<key>/...`` for every leaf of a parameter pytree, in `jax.tree.flatten` order,
    e.g. ``params/encoder/0/kernel`` (dict keys, list indices and attribute names joined by "/")."""
    names = []
    for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]:
        names.append("/".join(["params"] + [_key(entry) for entry in path]))
    return names


def _key(entry: Any) -> str:
    for attribute in ("key", "name", "idx"):  # DictKey / FlattenedIndexKey, GetAttrKey, SequenceKey
        if hasattr(entry, attribute):
            return str(getattr(entry, attribute))
    return str(entry)


def _named(params: Any) -> dict[str, Any]:
    return dict(zip(parameter_names(params), jax.tree.leaves(params)))


def parameter_problems(network: ActorCritic, shapes: dict[str, tuple[int, ...]], dtypes: dict[str, Any]) -> str:
    """What differs between named parameter shapes/dtypes and those ``network.init`` makes ("" if nothing):
    missing names, names the network does not have, and wrong shapes or dtypes, each named."""
    template = _named(jax.eval_shape(network.init, jax.random.PRNGKey(0)))
    missing = [n for n in template if n not in shapes]
    unexpected = sorted(n for n in shapes if n not in template)
    wrong = [f"{n} is {jnp.dtype(dtypes[n])}{list(shapes[n])}, the network needs {t.dtype}{list(t.shape)}"
             for n, t in template.items()
             if n in shapes and (tuple(shapes[n]) != t.shape or jnp.dtype(dtypes[n]) != t.dtype)]
    problems = []
    if missing:
        problems.append(f"missing: {_listing(missing)}")
    if unexpected:
        problems.append(f"not in the network: {_listing(unexpected)}")
    if wrong:
        problems.append(_listing(wrong, sep="; "))
    return "; ".join(problems)


def _listing(items: list[str], most: int = 8, sep: str = ", ") -> str:
    return sep.join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


# -- environments and their wrappers -------------------------------------------------------------------


def statistics_of(env: JaxEnv | HostEnv, env_state: Any = None) -> WrapperStatistics:
    """The normalisation and reward-scaling statistics of ``env``'s wrapper stack (one seed's
    ``env_state`` for a JAX-native env; several parallel environments' statistics merged)."""
    from rtrl.envs import wrappers

    if isinstance(env, JaxEnv) and env_state is None:
        return WrapperStatistics()
    return WrapperStatistics(wrappers.observation_moments(env, env_state), wrappers.reward_moments(env, env_state))


def frozen_standard(env: JaxEnv | HostEnv, *, options: dict[str, Any],
                    statistics: WrapperStatistics) -> JaxEnv | HostEnv:
    """`rtrl.envs.wrappers.standard` with ``options`` (the training stack's, `TrainConfig.wrapper_options`)
    and its statistics fixed at ``statistics``. Without any statistics (not recorded) the wrappers
    adapt online, as in training."""
    from rtrl.envs import wrappers

    known = statistics.observation is not None or statistics.reward is not None
    return wrappers.standard(env, observation_moments=statistics.observation, reward_moments=statistics.reward,
                             update_statistics=not known, **options)


def inner_env(env: Any) -> Any:
    """The env a wrapper (or `VmapEnv`) wraps, or None for an innermost env."""
    inner = env.__dict__.get("env") if isinstance(env, HostEnv) else getattr(env, "env", None)
    return inner if isinstance(inner, (JaxEnv, HostEnv)) else None


def raw_action_space(env: Any) -> Space:
    """The action space of the innermost environment (the bounds continuous actions are clipped to)."""
    while inner_env(env) is not None:
        env = inner_env(env)
    return env.action_space


def _refuse_wrapped(env: Any) -> None:
    from rtrl.envs import wrapper_logic as rules

    node = env
    while node is not None:
        rule = getattr(node, "rule", None) if not isinstance(node, HostEnv) else node.__dict__.get("rule")
        if isinstance(rule, (rules.EpisodeStatistics, rules.NormalizeObservation, rules.ScaleReward)):
            raise ValueError(f"env {env.name} already has a {type(rule).__name__} wrapper; pass the raw environment "
                             "(e.g. rtrl.envs.make(name)): the agent puts its own training wrappers around it.")
        node = inner_env(node)
