"""`make(config, env)`: a PPO agent with ``init(key)``, ``iteration(state)``, and its two halves.

    agent = rtrl.agents.make(config, env)       # env from rtrl.envs.make (JAX-native or host)
    state = agent.init(key)                      # RunState
    state, metrics = agent.iteration(state)      # one rollout + one update; metrics: dict of scalars

For a JAX-native env, ``iteration`` is ONE jitted function (rollout in `lax.scan`, then the update)
and is pure: ``jax.vmap(agent.iteration)`` runs seeds side by side on states from
``jax.vmap(agent.init)(keys)``. For a host env, the rollout is a Python loop calling one jitted,
env-batched policy step per env step; the update is jitted. ``rollout(state)`` and
``update(state, rollout)`` are the two halves (for progress bars and checkpoints).

A training loop over a JAX-native env calls ``iteration_reusing(state, buffer)`` instead: the same
iteration, writing the rollout into the donated ``buffer`` (the rollout it returned last time, or
``empty_rollout(state)`` at first) so that XLA reuses its memory rather than allocating and zero-filling
a new one every iteration (≈200 MB of RTRL traces for Real-Time PPO with the paper's settings).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

from rtrl.agents import families, ppo
from rtrl.agents.budget import parameter_count
from rtrl.agents.config import PPOConfig
from rtrl.agents.network import ActorCritic
from rtrl.agents.r2ac import R2ACAgent
from rtrl.agents.r2ac import make_optimizer as r2ac_optimizer
from rtrl.agents.r2ac_config import R2ACConfig
from rtrl.agents.real_time_ppo import SINGLE_STEPS
from rtrl.agents.rollout import Rollout, RunState, host_rollout, jax_rollout, make_host_policy
from rtrl.agents.stream import StreamAgent, make_stream, stream_network
from rtrl.agents.stream_config import StreamConfig
from rtrl.agents.tbptt_ppo import SEQUENCES
from rtrl.agents.update import DataPath, UpdateInputs, ppo_update
from rtrl.envs.host import HostEnv
from rtrl.envs.jax_env import JaxEnv, VmapEnv
from rtrl.envs.spaces import Box, Discrete

__all__ = ["Agent", "DATA_PATHS", "build_network", "make"]

# Each agent is its loss and its data path on the one PPO loop (`rtrl.agents.update`).
DATA_PATHS: dict[str, DataPath] = {
    "real-time-ppo": SINGLE_STEPS,  # single steps replayed from stored RTRL carries
    "tbptt-ppo": SEQUENCES,  # sequences unrolled from stored start states (BPTT inside)
    "mlp-ppo": SINGLE_STEPS,  # single steps, no carry
}


@dataclasses.dataclass(frozen=True, eq=False)
class Agent:
    """A PPO agent bound to an environment. Build with `make`."""

    config: PPOConfig
    env: Any  # VmapEnv (JAX-native) or HostEnv
    network: ActorCritic
    optimizer: optax.GradientTransformation

    @property
    def jax_native(self) -> bool:
        return isinstance(self.env, JaxEnv)

    reuses_buffer = True  # a training loop hands each rollout's memory back (`iteration_reusing`)
    learns_while_acting = False  # a rollout, then an update (`host_rollout_seeds`, then `update`)

    def after_env_reset(self, states: RunState) -> RunState:
        """Host envs reset on resume: nothing of a PPO agent's state outlives the episodes (the carry is
        restarted by the caller)."""
        return states

    def __post_init__(self):
        if self.jax_native:
            object.__setattr__(self, "rollout", jax.jit(self._rollout))
            object.__setattr__(self, "update", jax.jit(self._update))
            object.__setattr__(self, "iteration", jax.jit(self._iteration))
            object.__setattr__(self, "iteration_reusing", jax.jit(self._iteration_reusing, donate_argnums=(1,)))
        else:
            object.__setattr__(self, "_policy", make_host_policy(self.network, self.env.action_space, self.config.num_steps))
            object.__setattr__(self, "update", jax.jit(self._update))

    # -- public --------------------------------------------------------------------------------

    def init(self, key: jax.Array) -> RunState:
        """Parameters, optimiser state, reset envs and zero carries. Pure for JAX-native envs."""
        k_params, k_env, k_run = jax.random.split(key, 3)
        params = self.network.init(k_params)
        e = self.config.num_envs
        if self.jax_native:
            env_state, obs = self.env.reset(k_env)
        else:  # host envs are seeded from the key: same key, same episodes
            env_state = ()
            seed = int(jax.random.randint(k_env, (), 0, 2**31 - 1))
            obs = jnp.asarray(self.env.reset(seed=seed))
        return RunState(params=params, opt_state=self.optimizer.init(params), env_state=env_state,
                        obs=jnp.asarray(obs, jnp.float32), first=jnp.ones((e,), bool),
                        carry=self.network.initial_carry(params, e),
                        episode_return=jnp.zeros((e,), jnp.float32), episode_length=jnp.zeros((e,), jnp.int32),
                        rng=k_run, iteration=jnp.zeros((), jnp.int32), env_steps=jnp.zeros((), jnp.int32))

    def rollout(self, state: RunState) -> tuple[RunState, Rollout]:  # replaced per back-end in __post_init__
        return self._rollout(state)

    def iteration(self, state: RunState) -> tuple[RunState, dict[str, jax.Array]]:
        """One rollout then one update."""
        state, rollout = self.rollout(state)
        return self.update(state, rollout)

    def iteration_reusing(self, state: RunState, buffer: Rollout) -> tuple[RunState, dict[str, jax.Array], Rollout]:
        """JAX-native envs: `iteration` with the rollout written into ``buffer``, which is donated (its
        memory reused; don't use it afterwards); returns (state, metrics, the rollout: the next call's
        buffer). Replaced by a jitted version in __post_init__."""
        return self._iteration_reusing(state, buffer)

    def empty_rollout(self, state: RunState) -> Rollout:
        """JAX-native envs: a zero rollout of the shapes ``iteration_reusing`` writes (the first buffer)."""
        shapes = jax.eval_shape(lambda s: self._rollout(s)[1], state)
        return jax.tree.map(lambda r: jnp.zeros(r.shape, r.dtype), shapes)

    def parameter_count(self) -> tuple[int, int]:
        """(total, recurrent) parameters."""
        return tuple(parameter_count(self.network))

    def memory_parts(self) -> dict[str, int]:
        """Bytes one seed holds at once, by part, from shapes (``T`` steps of ``E`` envs, P parameters):

            rollouts      rollout × (1 + [gradient == "fresh"])     (a re-scanned copy for fresh gradients)
            minibatches   2 × rollout / num_minibatches             (a minibatch and its gradient)
            parameters    4 × P × itemsize                          (parameters, Adam's two moments, a gradient)
            carry         rollout / num_steps                       (the carry held between iterations)
        """
        c = self.config
        rollout = self.rollout_bytes()
        return {"rollouts": rollout * (2 if c.gradient == "fresh" else 1),
                "minibatches": 2 * rollout // c.num_minibatches,
                "parameters": 4 * self.parameter_count()[0] * jnp.dtype(c.dtype).itemsize,
                "carry": rollout // c.num_steps}

    def rollout_bytes(self) -> int:
        """Bytes of one stored rollout (carries included), from shapes only."""
        state = jax.eval_shape(self.init, jax.random.PRNGKey(0)) if self.jax_native else None
        if state is None:
            params = jax.eval_shape(self.network.init, jax.random.PRNGKey(0))
            carry = jax.eval_shape(lambda p: self.network.initial_carry(p, self.config.num_envs), params)
        else:
            carry = state.carry
        t, e = self.config.num_steps, self.config.num_envs
        per_step = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(carry))
        obs = e * self.network.observation_size * 4
        act = e * (4 if self.network.discrete else 4 * self.network.action_size)
        return t * (per_step + obs + act + e * (4 * 6 + 4 + 4))

    # -- halves --------------------------------------------------------------------------------

    def _rollout(self, state: RunState, buffer: Rollout | None = None) -> tuple[RunState, Rollout]:
        if self.jax_native:
            return jax_rollout(self.network, self.env, state, self.config.num_steps, buffer)
        seeds = jax.tree.map(lambda x: x[None], state)  # the host loop runs a seed axis: here one seed
        seeds, rollout = self.host_rollout_seeds(seeds, [self.env])
        return jax.tree.map(lambda x: x[0], (seeds, rollout))

    def host_rollout_seeds(self, states: RunState, envs: list,
                           buffer: Rollout | None = None) -> tuple[RunState, Rollout]:
        """Host envs only: one rollout of several seeds in lockstep, ``states`` stacked on a leading
        seed axis and ``envs[k]`` the envs of seed k (each like ``self.env``); one policy call per step.
        ``buffer``: the rollout this returned last time, written over in place (donated), or None."""
        return host_rollout(self._policy, envs, states, self.config.num_steps, buffer)

    def _update(self, state: RunState, rollout: Rollout) -> tuple[RunState, dict[str, jax.Array]]:
        rng, key = jax.random.split(state.rng)
        inputs = UpdateInputs(rollout, state.carry, state.obs, state.first)
        params, opt_state, metrics = ppo_update(DATA_PATHS[self.config.agent], self.network, self.config,
                                                self.optimizer, state.params, state.opt_state, inputs, key)
        episodes = rollout.done.sum()
        metrics["episodes"] = episodes
        metrics["episode_return"] = rollout.episode_return.sum() / jnp.maximum(episodes, 1)
        metrics["episode_length"] = rollout.episode_length.sum() / jnp.maximum(episodes, 1)
        metrics["env_steps"] = state.env_steps
        state = state._replace(params=params, opt_state=opt_state, rng=rng, iteration=state.iteration + 1)
        return state, metrics

    def _iteration(self, state: RunState) -> tuple[RunState, dict[str, jax.Array]]:
        state, rollout = self._rollout(state)
        return self._update(state, rollout)

    def _iteration_reusing(self, state: RunState,
                           buffer: Rollout) -> tuple[RunState, dict[str, jax.Array], Rollout]:
        state, rollout = self._rollout(state, buffer)
        state, metrics = self._update(state, rollout)
        return state, metrics, rollout


def make(config: PPOConfig | StreamConfig | R2ACConfig, env: Any) -> Agent | StreamAgent | R2ACAgent:
    """The agent of ``config`` on ``env`` (from `rtrl.envs.make`): a PPO agent for a `PPOConfig`, a
    streaming one for a `StreamConfig`, R2AC for an `R2ACConfig`; validates before any work.

    A single (unbatched) JAX-native env is batched to ``config.num_envs`` copies with `VmapEnv`
    (streaming agents: one); an already batched one, or a host env, must have ``num_envs == config.num_envs``.
    """
    family = families.of_config(config)
    fix = ("a streaming agent steps one environment per seed" if family.config is StreamConfig
           else "or change the config's num_envs")
    if isinstance(env, JaxEnv):
        if env.batch_shape == ():
            env = VmapEnv(env, config.num_envs)
        elif env.batch_shape != (config.num_envs,):
            raise ValueError(f"num_envs={config.num_envs} but the env is batched as {env.batch_shape}; make the env "
                             f"unbatched (num_envs=None) ({fix}).")
    elif isinstance(env, HostEnv):
        if env.num_envs != config.num_envs:
            raise ValueError(f"num_envs={config.num_envs} but the host env has {env.num_envs} envs; pass "
                             f"num_envs={config.num_envs} to rtrl.envs.make ({fix}).")
    else:
        raise TypeError(f"env must be an rtrl JaxEnv or HostEnv (from rtrl.envs.make), got {type(env).__name__}.")
    obs_space = env.observation_space
    if not isinstance(obs_space, Box):
        raise ValueError(f"unsupported observation space {obs_space} of env {env.name}: a Box.")
    observation_shape = tuple(int(d) for d in obs_space.shape)
    if family.config is R2ACConfig:
        config.stem_for(observation_shape)  # a stem that does not fit the observations is refused, naming `stem`
    elif len(observation_shape) != 1:
        raise ValueError(f"the {family.kind} take flat observation vectors (a dense encoder); env {env.name} "
                         f"has observations {obs_space}. Pixel observations need a conv stem: --agent r2ac.")
    space = env.action_space
    if isinstance(space, Discrete):
        kind, size = "discrete", space.n
    elif isinstance(space, Box) and len(space.shape) == 1:
        kind, size = "continuous", space.shape[0]
    else:
        raise ValueError(f"unsupported action space {space} of env {env.name}: Discrete or a 1-D Box.")
    if config.action not in ("auto", kind):
        valid = ("auto", kind)
        raise ValueError(f"action={config.action!r} does not match env {env.name}, whose action space is {space} "
                         f"({kind}); valid: {valid}.")
    sizes = (int(obs_space.shape[0]), int(size), kind == "discrete")
    if family.config is StreamConfig:
        return make_stream(config, env, *sizes)
    if family.config is R2ACConfig:
        network = build_network(config, observation_shape, int(size), kind == "discrete")
        return R2ACAgent(config, env, network, r2ac_optimizer(config))
    optimizer = ppo.make_optimizer(config.learning_rate, eps=config.adam_eps, max_grad_norm=config.max_grad_norm)
    return Agent(config, env, build_network(config, *sizes), optimizer)


def build_network(config: PPOConfig | StreamConfig | R2ACConfig, observation: int | tuple[int, ...],
                  action_size: int, discrete: bool) -> Any:
    """The network an agent of ``config`` learns: an `ActorCritic` for a PPO agent or R2AC, the streaming
    agent's own (`rtrl.agents.stream_network`) for a streaming one. ``observation``: the flat size, or
    the shape of one observation ((C, H, W) images for R2AC's conv stems)."""
    if isinstance(config, StreamConfig):
        return stream_network(config, observation, action_size, discrete)
    return ActorCritic.from_config(config, observation, action_size, discrete)


def to_numpy(metrics: dict[str, jax.Array]) -> dict[str, float]:
    """Metrics as Python floats (one device transfer)."""
    return {k: float(v) for k, v in jax.device_get(metrics).items()}


