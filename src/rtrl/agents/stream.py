"""Streaming agents (stream-ac, stream-q): one environment per seed, an update after every step.

    config = rtrl.agents.StreamConfig(agent="stream-ac", cell="rtu-linear", hidden_size=64)
    agent = rtrl.agents.make(config, rtrl.envs.make("jax/MemoryChain", length=16))
    state = agent.init(jax.random.PRNGKey(0))          # RunState, as for the PPO agents
    state, metrics = agent.iteration(state)             # config.num_steps steps, each a full update

The loop, step by step (batch size 1, no replay buffer, no stored history): the state holds S_t
(``obs``, ``first``), the network's carry before it (state h_{t−1} and RTRL traces), and the
action A_t already chosen. One step sends A_t to the environment and then, in ONE function
(`StreamAgent.learn_then_act`, the same for JAX-native and host environments):

  1. the agent's rule (`rtrl.agents.stream_ac`, `rtrl.agents.stream_q`) forms δ_t and the gradients
     g_t of step t (one forward with traces and one backward), with the parameters of step t;
  2. per parameter group, z ← γλ z + g_t, then the optimiser (`rtrl.agents.obgd`: ObGD or Adam)
     moves the group along δ_t·z;
  3. z is zeroed where the episode ended (terminated or truncated) or the rule cuts it (Q(λ) after
     an exploratory action); the RTRL traces reset with the recurrent state at the next episode's
     first step (the cell contract's ``reset``);
  4. A_{t+1} is chosen at S_{t+1} with the new parameters (a forward without traces).

The eligibility traces and the optimiser state live in ``RunState.opt_state`` as a
`StreamLearnerState`, so checkpoints, divergence checks and seeds under `vmap` work as for PPO.

JAX-native environments: ``iteration`` is one jitted `lax.scan` over ``num_steps`` steps (pure:
``jax.vmap`` runs seeds side by side). Host environments (popgym, MuJoCo): ``host_iteration_seeds``
steps every seed's environment on the host and makes ONE jitted call per environment step for all
seeds together (`learn_then_act` under `vmap`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rtrl.agents import obgd
from rtrl.agents.budget import ParameterCount, parameter_count
from rtrl.agents.rollout import EPISODE_STATS, RunState, env_action, step_seeds, track_episodes
from rtrl.agents.stream_config import StreamConfig
from rtrl.agents.stream_rule import StreamRule, Transition
from rtrl.envs.jax_env import JaxEnv

__all__ = ["StreamAgent", "StreamLearnerState", "make_stream"]

# Per-step values summed over an iteration; the metrics divide them (see `_metrics`).
_EPISODE_SUMS = ("episodes", "finished_return", "finished_length")


class StreamLearnerState(NamedTuple):
    """What a streaming agent carries besides its parameters (``RunState.opt_state``)."""

    eligibility: Any  # z: a pytree like the parameters, reset at episode ends
    optimizer: dict[str, Any]  # per parameter group: the TraceOptimizer's state (() for ObGD)


def _rules() -> dict[str, StreamRule]:
    from rtrl.agents.stream_ac import STREAM_AC
    from rtrl.agents.stream_q import STREAM_Q

    return {"stream-ac": STREAM_AC, "stream-q": STREAM_Q}


@dataclasses.dataclass(frozen=True, eq=False)
class StreamAgent:
    """A streaming agent bound to one environment per seed. Build with `rtrl.agents.make`."""

    config: StreamConfig
    env: Any  # VmapEnv of 1 (JAX-native) or HostEnv with num_envs=1
    network: Any  # StreamActorCritic or StreamQNetwork
    rule: StreamRule

    def __post_init__(self):
        groups = self.rule.groups(self.config)
        c = self.config
        optimizers = {g: (obgd.obgd(c.step_size, kappa) if c.optimizer == "obgd" else obgd.adam(c.step_size))
                      for g, kappa in groups.items()}
        object.__setattr__(self, "optimizers", optimizers)
        if self.jax_native:
            object.__setattr__(self, "iteration", jax.jit(self._iteration))
        else:
            object.__setattr__(self, "_host_step", jax.jit(jax.vmap(self._accumulating_step), donate_argnums=(0, 1)))
            object.__setattr__(self, "_host_start", jax.jit(jax.vmap(self._start)))
            object.__setattr__(self, "_host_metrics", jax.jit(jax.vmap(self._metrics)))

    @property
    def jax_native(self) -> bool:
        return isinstance(self.env, JaxEnv)

    reuses_buffer = False  # no rollout to keep between iterations
    learns_while_acting = True  # every step is an update (`host_iteration_seeds` learns as it goes)

    def after_env_reset(self, states: RunState) -> RunState:
        """Host envs reset on resume: the eligibility traces belong to the interrupted episodes, and the
        next action is chosen afresh at the new first observation (the carry is restarted by the caller)."""
        eligibility = jax.tree.map(jnp.zeros_like, states.opt_state.eligibility)
        return states._replace(opt_state=states.opt_state._replace(eligibility=eligibility), action=())

    # -- public --------------------------------------------------------------------------------

    def init(self, key: jax.Array) -> RunState:
        """Parameters, zero traces, the environment reset and the first action chosen."""
        k_params, k_env, k_run = jax.random.split(key, 3)
        if self.jax_native:
            env_state, obs = self.env.reset(k_env)
        else:  # host envs are seeded from the key: same key, same episodes
            env_state = ()
            obs = jnp.asarray(self.env.reset(seed=int(jax.random.randint(k_env, (), 0, 2**31 - 1))))
        return self._start(self._fresh_state(k_params, env_state, obs, k_run))

    def iteration(self, state: RunState) -> tuple[RunState, dict[str, jax.Array]]:  # jitted in __post_init__
        """JAX-native envs: ``num_steps`` steps, each an update; metrics averaged over them."""
        return self._iteration(state)

    def host_iteration_seeds(self, states: RunState, envs: list[Any]) -> tuple[RunState, dict[str, jax.Array]]:
        """Host envs: ``num_steps`` steps of S seeds in lockstep (``states`` stacked on a leading seed
        axis, ``envs[k]`` seed k's environment): per step, every env on the host, then one jitted call."""
        if isinstance(states.action, tuple):  # () : no action chosen yet (a state restored after an env reset)
            states = self._host_start(states)
        sums = jax.tree.map(lambda x: jnp.zeros((len(envs),) + x.shape, x.dtype), self._zero_sums())
        to_env = np.asarray(jax.vmap(lambda a: env_action(self.env.action_space, a))(states.action))
        for _ in range(self.config.num_steps):
            step = step_seeds(envs, to_env)
            transition = Transition(step.reward, step.obs, step.done, step.terminated, step.final_obs,
                                    step.episode_stats)
            states, sums, to_env = self._host_step(states, sums, transition)
            to_env = np.asarray(to_env)
        states = states._replace(iteration=states.iteration + 1)
        return states, self._host_metrics(sums, states.env_steps)

    def learn_then_act(self, state: RunState, transition: Transition) -> tuple[RunState, dict[str, jax.Array]]:
        """Learn from (S_t, A_t, ``transition``), then choose A_{t+1}: the one streaming step."""
        c = self.config
        # observations are kept as float32 (RunState.obs): V(S_{t+1}) here sees what V(S_t) will see next step
        transition = transition._replace(obs=jnp.asarray(transition.obs, jnp.float32),
                                         final_obs=jnp.asarray(transition.final_obs, jnp.float32))
        g = self.rule.gradients(self.network, c, state.params, state.carry, state.obs, state.first, state.action,
                                transition, state.env_steps)
        eligibility, optimizer_states = state.opt_state
        decay = c.gamma * c.lambda_
        eligibility = jax.tree.map(lambda z, gi: (decay * z + gi).astype(z.dtype), eligibility, g.grads)
        params, new_optimizer_states, metrics = dict(state.params), {}, {}
        for group, optimizer in self.optimizers.items():
            updates, new_optimizer_states[group], fraction = optimizer.update(eligibility[group], g.delta,
                                                                              optimizer_states[group])
            params[group] = jax.tree.map(lambda p, u: p + u.astype(p.dtype), params[group], updates)
            if c.optimizer == "obgd":
                metrics[f"obgd_step_fraction_{group}"] = fraction
        keep = jnp.logical_not(transition.done[0] | g.cut_traces)
        eligibility = jax.tree.map(lambda z: jnp.where(keep, z, jnp.zeros((), z.dtype)), eligibility)
        rng, key = jax.random.split(state.rng)
        action = self.rule.act(self.network, c, params, g.carry, transition.obs, transition.done, key,
                               state.env_steps + 1)
        episode = track_episodes(jnp, state.episode_return, state.episode_length, transition.reward,
                                 transition.done, transition.episode_stats)
        metrics.update({"abs_td_error": jnp.abs(g.delta), **g.metrics, "episodes": transition.done[0],
                        "finished_return": episode.finished_return[0], "finished_length": episode.finished_length[0]})
        state = state._replace(params=params, opt_state=StreamLearnerState(eligibility, new_optimizer_states),
                               obs=transition.obs, first=transition.done, carry=g.carry,
                               action=action, rng=rng, episode_return=episode.running_return,
                               episode_length=episode.running_length, env_steps=state.env_steps + 1)
        return state, jax.tree.map(lambda m: jnp.asarray(m, jnp.float32), metrics)

    def parameter_count(self) -> ParameterCount:
        """(total, recurrent) parameters."""
        return parameter_count(self.network)

    def state_bytes(self) -> int:
        """Bytes of one seed's learner, from shapes: parameters, eligibility traces, optimiser state and
        the network's carry (the RTRL traces)."""
        state = jax.eval_shape(self.init_shapes_state)
        return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves((state.params, state.opt_state, state.carry)))

    def memory_parts(self) -> dict[str, int]:
        """Bytes one seed holds at once: no rollout; its learner state (`state_bytes`) and a working copy."""
        return {"learner": 2 * self.state_bytes()}

    def rollout_bytes(self) -> int:
        """A streaming agent stores no rollout: 0."""
        return 0

    # -- internals -----------------------------------------------------------------------------

    def _start(self, state: RunState) -> RunState:
        """Choose the action at the state's observation (after init, or a host env reset on resume)."""
        rng, key = jax.random.split(state.rng)
        action = self.rule.act(self.network, self.config, state.params, state.carry, state.obs, state.first, key,
                               state.env_steps)
        return state._replace(action=action, rng=rng)

    def _env_step(self, state: RunState) -> tuple[RunState, Transition]:
        rng, key = jax.random.split(state.rng)
        env_state, obs, reward, done, info = self.env.step(state.env_state,
                                                           env_action(self.env.action_space, state.action), key)
        stats = {name: info[name] for name in EPISODE_STATS if name in info}
        transition = Transition(reward, obs, done, info["terminated"], info["final_obs"], stats)
        return state._replace(env_state=env_state, rng=rng), transition

    def _iteration(self, state: RunState) -> tuple[RunState, dict[str, jax.Array]]:
        def step(s, _):
            s, transition = self._env_step(s)
            return self.learn_then_act(s, transition)

        state, per_step = jax.lax.scan(step, state, None, length=self.config.num_steps)
        state = state._replace(iteration=state.iteration + 1)
        return state, self._metrics(jax.tree.map(lambda x: jnp.sum(x, axis=0), per_step), state.env_steps)

    def _zero_sums(self) -> dict[str, jax.Array]:
        """One step's metrics as zeros (the host loop's running sums); their shapes traced once."""
        if "_metric_shapes" not in self.__dict__:
            object.__setattr__(self, "_metric_shapes", jax.eval_shape(lambda: self.learn_then_act(*self._example())[1]))
        return {k: jnp.zeros(v.shape, v.dtype) for k, v in self._metric_shapes.items()}

    def _example(self) -> tuple[RunState, Transition]:
        state = self._start(self.init_shapes_state())
        d = state.obs.shape[-1]
        return state, Transition(jnp.zeros((1,)), jnp.zeros((1, d)), jnp.zeros((1,), bool), jnp.zeros((1,), bool),
                                 jnp.zeros((1, d)), {})

    def init_shapes_state(self) -> RunState:
        """A state of the right structure, no environment touched (shapes, tests)."""
        key = jax.random.PRNGKey(0)
        return self._fresh_state(key, (), jnp.zeros((1, self.network.observation_size), jnp.float32), key)

    def _fresh_state(self, k_params: jax.Array, env_state: Any, obs: jax.Array, rng: jax.Array) -> RunState:
        """Initial parameters, zero eligibility traces and optimiser state, a zero carry, at ``obs``
        (an episode's first observation); no action chosen yet."""
        params = self.network.init(k_params)
        learner = StreamLearnerState(jax.tree.map(jnp.zeros_like, params),
                                     {g: opt.init(params[g]) for g, opt in self.optimizers.items()})
        return RunState(params=params, opt_state=learner, env_state=env_state, obs=jnp.asarray(obs, jnp.float32),
                        first=jnp.ones((1,), bool), carry=self.network.initial_carry(params, 1),
                        episode_return=jnp.zeros((1,), jnp.float32), episode_length=jnp.zeros((1,), jnp.int32),
                        rng=rng, iteration=jnp.zeros((), jnp.int32), env_steps=jnp.zeros((), jnp.int32), action=())

    def _accumulating_step(self, state: RunState, sums: dict[str, jax.Array],
                           transition: Transition) -> tuple[RunState, dict[str, jax.Array], jax.Array]:
        """`learn_then_act` adding its metrics to ``sums``, and the next action as the env takes it."""
        state, metrics = self.learn_then_act(state, transition)
        sums = {k: sums[k] + metrics[k] for k in sums}
        return state, sums, env_action(self.env.action_space, state.action)

    def _metrics(self, sums: dict[str, jax.Array], env_steps: jax.Array) -> dict[str, jax.Array]:
        """Iteration metrics from per-step sums: means over the steps, and the episodes that ended."""
        n = self.config.num_steps
        metrics = {k: v / n for k, v in sums.items() if k not in _EPISODE_SUMS}
        episodes = sums["episodes"]
        metrics["episodes"] = episodes
        metrics["episode_return"] = sums["finished_return"] / jnp.maximum(episodes, 1.0)
        metrics["episode_length"] = sums["finished_length"] / jnp.maximum(episodes, 1.0)
        metrics["env_steps"] = env_steps
        return metrics


def stream_network(config: StreamConfig, observation_size: int, action_size: int, discrete: bool) -> Any:
    """The network of the streaming agent ``config.agent``."""
    return _rules()[config.agent].network(config, observation_size, action_size, discrete)


def make_stream(config: StreamConfig, env: Any, observation_size: int, action_size: int,
                discrete: bool) -> StreamAgent:
    """The streaming agent of ``config`` on ``env`` (checked by `rtrl.agents.make`)."""
    rule = _rules()[config.agent]
    if rule.discrete_only and not discrete:
        raise ValueError(f"agent={config.agent!r} needs a discrete action space (Q(λ) takes a max over actions); "
                         f"env {env.name} has {env.action_space}. Use agent='stream-ac' for continuous actions.")
    return StreamAgent(config, env, stream_network(config, observation_size, action_size, discrete), rule)
