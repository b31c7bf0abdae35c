"""R2AC, the real-time recurrent actor-critic (Irie, Gopalakrishnan, Schmidhuber, ICLR 2024, arXiv
2305.19044): IMPALA's V-trace actor-critic whose recurrent layer learns by exact RTRL, on JAX-native
and host environments.

    config = R2ACConfig(num_envs=16, unroll=10, cell="elstm", hidden_size=128)
    agent = rtrl.agents.make(config, rtrl.envs.make("jax/MemoryChain", length=40))
    state = agent.init(jax.random.PRNGKey(0))            # RunState, as for the other agents
    state, metrics = agent.iteration(state)               # one segment of N × M steps, then one update

One iteration (for a JAX-native env one jitted function, a pure function of the state: ``jax.vmap``
runs seeds side by side; for a host env the actors are a Python loop, see below):

1. **Actors** (`act`, here). With the behaviour parameters θ_b (the learner's own with ``lag = 0``, those of
   ``lag`` updates ago otherwise), N environments step M times in a `lax.scan` (the step is
   `rtrl.agents.rollout.actor_step`, PPO's too). Each carries its
   network carry c = (h, RTRL traces e) from segment to segment; the cell zeroes both before the first
   observation of an episode (the cell contract's ``first``). Recorded: the carry at the segment's
   start (before step 0's reset), o_t, first_t, a_t, log μ(a_t|·), r_t, done/terminated/truncated,
   the real last observation where an episode was truncated, and the observation after the segment.
   With ``lag = 0`` and RTRL the actors act with θ itself, so the learner's recomputation of the traces
   (step 3) is exactly theirs: the actors then step the cell's state alone (no trace update, the
   cheaper step) and the learner's recomputed carry, traces included, starts the next segment
   (`R2ACAgent.learner_carries_traces`; tested equal to actors that carry the traces).

2. **Targets** (`r2ac_learner.forward`, `targets`). The learner runs its current parameters θ over the segment from
   the actor's start state (no gradient; traces are not needed for values) and gets V(x_t),
   log π(a_t|x_t), H(π(·|x_t)), V(final_obs_t) at truncations (from the state after step t) and the
   bootstrap V(x_M). V-trace (`rtrl.agents.vtrace`) turns them into targets v_t and advantages A_t,
   with v_{t+1} as seen from step t's episode (`rtrl.agents.ppo.next_values`), discounts
   γ·(1 − terminated_t), the recursion cut at every episode end, and ρ_t = min(ρ̄, π/μ).

3. **Gradient** of the summed V-trace actor-critic loss, targets held constant,

       L(θ) = Σ_{t<M} Σ_envs  −A_t·log π_θ(a_t|x_t) + c_V·½(v_t − V_θ(x_t))² − c_H·H(π_θ(·|x_t)):

   * ``"rtrl"`` (`rtrl_gradient`): a `lax.scan` over the segment whose body is one
     ``jax.value_and_grad`` of ONE network step from the carry with traces (a VJP whose cotangent is
     ∂L_t/∂(policy, value)); the carry starts as the actor's start carry and the traces are recomputed
     with θ step by step, e_t = F_t·e_{t−1} + b_t, so the cell receives Σ_t (∂L_t/∂h_t)ᵀ·e_t: with
     ``lag = 0`` the exact gradient of L through every step since each episode began, however long
     before the segment (the heads get their exact gradient; the layers below the cell, a conv stem or
     an encoder, get ``stem_gradient``'s: back-propagation through the segment, or the immediate one;
     see `rtrl.agents.r2ac_learner`). With ``lag > 0`` the start traces were computed with θ_b (Irie et al.'s approximation).
   * ``"tbptt"`` (`tbptt_gradient`): ``jax.grad`` through the segment's unrolled forward, the start
     state a constant: T-BPTT with truncation M.
   * ``"none"``: the same with no recurrent layer (a feed-forward network).

4. Global-norm clipping, RMSProp with a linearly decaying learning rate (`make_optimizer`).

Alignment: `RunState.carry` is the carry *before* consuming `RunState.obs` (reset not yet applied),
as for the PPO agents (`rtrl.agents.rollout`); the segment's start carry is that carry, so the
learner's recomputation from it with θ = θ_b reproduces the actor's carries and log-probabilities
exactly.

Host environments (popgym/, mujoco/, gymnasium/, atari/): the actors are a Python loop of M steps,
each ONE jitted, env-batched network step with the behaviour parameters (its carry holding the RTRL
traces) serving every seed in lockstep, then the envs' steps (`rtrl.agents.r2ac_actors.host_act`);
they produce the same `Segment`, and the learner is the same jitted `learn`.

The lag. The state keeps the last ``lag`` parameter sets (`R2ACLearnerState.behaviour`): segment k
is acted with θ_{max(k − lag, 0)}, the parameters before update k − lag. With ``lag ≥ 1`` segment
k + 1 needs only parameters that exist before update k, so the actors can act it WHILE the learner
makes update k, with exactly these semantics (`rtrl.agents.r2ac_actors.Pipeline`, what ``rtrl
train`` runs for lag ≥ 1): the pipelined state holds the segment in flight
(`R2ACLearnerState.in_flight`, part of every checkpoint), and each step is
{learner: update k on segment k} ∥ {actors: segment k + 1 with θ_{k+1−lag}} (`learn_in_flight`,
`act_ahead`, then `continue_pipeline`). The parameters and metrics are those of `iteration`'s
synchronous loop; only the actors are one segment ahead. ``lag = 0`` stays synchronous.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rtrl.agents import ppo, vtrace
from rtrl.agents.budget import ParameterCount, parameter_count
from rtrl.agents.network import ActorCritic
from rtrl.agents.r2ac_config import R2ACConfig
from rtrl.agents.r2ac_learner import (
    Forward,
    Segment,
    forward,
    learning_rate_schedule,
    loss_terms,
    make_optimizer,
    rtrl_gradient,
    targets,
    tbptt_gradient,
)
from rtrl.agents.rollout import RunState, actor_step, make_host_policy
from rtrl.cells.base import Carry
from rtrl.envs.jax_env import JaxEnv

__all__ = [
    "Forward",
    "R2ACAgent",
    "R2ACLearnerState",
    "SEGMENT_ROWS",
    "Segment",
    "act",
    "forward",
    "make_optimizer",
    "rtrl_gradient",
    "targets",
    "tbptt_gradient",
]  # the learner's pieces live in `rtrl.agents.r2ac_learner`; re-exported here

# What the host actors store of every step on the device (`rollout.make_host_policy`): no per-step carry.
SEGMENT_ROWS = ("obs", "first", "action", "log_prob")


class R2ACLearnerState(NamedTuple):
    """What an R2AC agent carries besides its parameters (``RunState.opt_state``)."""

    optimizer: Any  # optax state of clipping + RMSProp
    behaviour: Any  # lag k ≥ 1: the last k parameter sets, oldest first, stacked on a leading axis; () for k = 0
    # the pipelined state (lag ≥ 1, `R2ACAgent.start_pipeline`): the segment the actors acted and the learner
    # learns next; () otherwise
    in_flight: Any = ()


# --------------------------------------------------------------------------------------------
# The pieces (pure functions; the agent below puts them together)
# --------------------------------------------------------------------------------------------


def act(net: ActorCritic, env: Any, params: Any, state: RunState, unroll: int) -> tuple[RunState, Segment]:
    """``unroll`` steps of the batched JAX-native ``env`` with ``params`` (the behaviour parameters),
    carrying the network's carry (with RTRL traces for an RTRL cell) from ``state``; returns the state
    after them and the `Segment` (see the module docstring)."""

    def step(s: RunState, _):
        a = actor_step(net, env, params, s)
        row = (s.obs, s.first, a.action, a.log_prob, a.reward.astype(jnp.float32), a.done, a.terminated,
               a.truncated, jnp.asarray(a.final_obs, jnp.float32), a.finished_return, a.finished_length)
        return a.state, row

    start_carry = state.carry
    state, rows = jax.lax.scan(step, state, None, length=unroll)
    obs, first, action, log_prob, reward, done, terminated, truncated, final_obs, ep_return, ep_length = rows
    segment = Segment(start_carry, obs, first, action, log_prob, reward, done, terminated, truncated, final_obs,
                      state.obs, state.first, ep_return, ep_length)
    env_steps = state.env_steps + jnp.int32(unroll * state.obs.shape[0])
    return state._replace(env_steps=env_steps), segment


# --------------------------------------------------------------------------------------------
# The agent
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class R2ACAgent:
    """An R2AC agent bound to a batched environment (a `VmapEnv` of N JAX-native envs, or a `HostEnv`
    with N envs). Build with `rtrl.agents.make`."""

    config: R2ACConfig
    env: Any  # VmapEnv (N copies) or HostEnv (num_envs = N)
    network: ActorCritic
    optimizer: optax.GradientTransformation

    reuses_buffer = False  # no stored rollout to hand back between iterations
    learns_while_acting = False

    @property
    def jax_native(self) -> bool:
        return isinstance(self.env, JaxEnv)

    @property
    def pipelined(self) -> bool:
        """Whether the actors can overlap the learner (lag ≥ 1; `rtrl.agents.r2ac_actors.Pipeline`)."""
        return self.config.lag >= 1

    def __post_init__(self):
        object.__setattr__(self, "learn", jax.jit(self._learn))
        if self.jax_native:
            object.__setattr__(self, "act", jax.jit(self._act))
            object.__setattr__(self, "iteration", jax.jit(self._iteration))
        else:
            object.__setattr__(self, "_policy", make_host_policy(self.network, self.env.action_space,
                                                                 self.config.unroll, stored=SEGMENT_ROWS))
            if self.learner_carries_traces:  # lag 0, RTRL: actors that step the cell's state alone
                object.__setattr__(self, "_untraced_policy", make_host_policy(
                    self.network.with_gradient("bptt"), self.env.action_space, self.config.unroll,
                    stored=SEGMENT_ROWS))
            object.__setattr__(self, "_behaviour_seeds", jax.jit(jax.vmap(self.behaviour_params)))

    # -- public --------------------------------------------------------------------------------

    def init(self, key: jax.Array) -> RunState:
        """Parameters, optimiser state (and the lag's copies of the parameters), reset envs, zero
        carries. Pure for a JAX-native env; a host env is reset with a seed drawn from ``key``."""
        k_params, k_env, k_run = jax.random.split(key, 3)
        params = self.network.init(k_params)
        n = self.config.num_envs
        if self.jax_native:
            env_state, obs = self.env.reset(k_env)
        else:  # host envs are seeded from the key: same key, same episodes
            env_state = ()
            obs = self.env.reset(seed=int(jax.random.randint(k_env, (), 0, 2**31 - 1)))
        lag = self.config.lag
        behaviour = () if lag == 0 else jax.tree.map(lambda p: jnp.stack([p] * lag), params)
        return RunState(params=params, opt_state=R2ACLearnerState(self.optimizer.init(params), behaviour),
                        env_state=env_state, obs=jnp.asarray(obs, jnp.float32), first=jnp.ones((n,), bool),
                        carry=self.network.initial_carry(params, n),
                        episode_return=jnp.zeros((n,), jnp.float32), episode_length=jnp.zeros((n,), jnp.int32),
                        rng=k_run, iteration=jnp.zeros((), jnp.int32), env_steps=jnp.zeros((), jnp.int32))

    def iteration(self, state: RunState) -> tuple[RunState, dict[str, jax.Array]]:  # JAX-native: jitted
        """One segment of every environment (`act`), then one update (`learn`): synchronous."""
        state, segment = self.act(state)
        return self.learn(state, segment)

    def act(self, state: RunState) -> tuple[RunState, Segment]:  # JAX-native: jitted in __post_init__
        """The actors' half: M steps with the behaviour parameters."""
        seeds, segment = self.act_seeds(jax.tree.map(lambda x: x[None], state), [self.env])
        return jax.tree.map(lambda x: x[0], (seeds, segment))

    def act_seeds(self, states: RunState, envs: Sequence[Any], params: Any = None) -> tuple[RunState, Segment]:
        """Host envs: the actors' half for several seeds in lockstep, ``states`` stacked on a leading
        seed axis and ``envs[k]`` seed k's host env (each like ``self.env``): one jitted network step per
        env step serves every seed. ``params``: the parameters to act with, per seed (default: each
        seed's behaviour parameters). Returns the states after the segment and the segments (seed axis)."""
        from rtrl.agents.r2ac_actors import host_act

        if self.jax_native:
            raise TypeError("act_seeds steps host environments; a JAX-native agent's seeds run under jax.vmap(act).")
        if params is None:
            params = self._behaviour_seeds(states)
        return host_act(self._policy, envs, states, params, self.config.unroll)

    def act_seeds_synchronous(self, states: RunState, envs: Sequence[Any]) -> tuple[RunState, Segment]:
        """Host envs, lag 0: `act_seeds`, with the actors stepping the cell's state alone when the learner
        carries the traces (`learner_carries_traces`); follow with `learn_synchronous`."""
        if not self.learner_carries_traces:
            return self.act_seeds(states, envs)
        from rtrl.agents.r2ac_actors import host_act

        traced = states.carry
        states, segments = host_act(self._untraced_policy, envs, states._replace(carry=Carry(traced.state, ())),
                                    states.params, self.config.unroll)
        return states, segments._replace(start_carry=traced)

    def learn_synchronous(self, state: RunState, segment: Segment) -> tuple[RunState, dict[str, jax.Array]]:
        """Lag 0: `learn` on the segment `act_seeds_synchronous` gave, its recomputed carry (traces
        included) becoming the state's carry where the learner carries the traces."""
        return self._learn(state, segment, carry_from_learner=self.learner_carries_traces)

    def learn(self, state: RunState, segment: Segment) -> tuple[RunState, dict[str, jax.Array]]:  # jitted
        """The learner's half: targets, gradient, clipping and RMSProp on ``segment``."""
        return self._learn(state, segment)

    def behaviour_params(self, state: RunState) -> Any:
        """The parameters the actors act with: the learner's (lag 0) or those of ``lag`` updates ago."""
        if self.config.lag == 0:
            return state.params
        return jax.tree.map(lambda q: q[0], state.opt_state.behaviour)

    def next_behaviour_params(self, state: RunState) -> Any:
        """lag ≥ 1: the parameters the actors act with after the next update, θ_{k+1−lag} in a state
        of k updates, known before that update (the learner's own for lag 1, else the second-oldest set)."""
        if self.config.lag == 0:
            raise ValueError("with lag 0 the next behaviour parameters are the next update's result.")
        if self.config.lag == 1:
            return state.params
        return jax.tree.map(lambda q: q[1], state.opt_state.behaviour)

    # -- the pipeline (lag ≥ 1; `rtrl.agents.r2ac_actors.Pipeline` runs it on two threads) ----------

    def start_pipeline(self, state: RunState) -> RunState:
        """The pipelined state of ``state``: its first segment acted (with the behaviour parameters)
        and in flight."""
        return self.with_in_flight(*self.act(state))

    @staticmethod
    def with_in_flight(state: RunState, segment: Segment) -> RunState:
        """``state`` holding ``segment`` in flight (`R2ACLearnerState.in_flight`)."""
        return state._replace(opt_state=state.opt_state._replace(in_flight=segment))

    def act_ahead(self, state: RunState) -> tuple[RunState, Segment]:
        """JAX-native, pipelined state: the actors' next segment, with `next_behaviour_params`."""
        return act(self.network, self.env, self.next_behaviour_params(state), state, self.config.unroll)

    def learn_in_flight(self, state: RunState) -> tuple[RunState, dict[str, jax.Array]]:
        """Pipelined state: the update on the segment in flight (the state it returns holds none)."""
        return self._learn(state, state.opt_state.in_flight)

    @staticmethod
    def continue_pipeline(acted: RunState, learned: RunState, segment: Segment) -> RunState:
        """The pipelined state after one step: the learner's parameters, optimiser state, behaviour sets
        and update count (``learned``, from `learn_in_flight`), the actors' envs, carries, random key
        and step count (``acted``, from `act_ahead`), and their new ``segment`` in flight."""
        return acted._replace(params=learned.params, opt_state=learned.opt_state._replace(in_flight=segment),
                              iteration=learned.iteration)

    def pipelined_iteration(self, state: RunState) -> tuple[RunState, dict[str, jax.Array]]:
        """JAX-native: one pipelined step in one thread (a pure function, jittable and vmappable): the
        reference the threaded `rtrl.agents.r2ac_actors.Pipeline` equals."""
        acted, segment = self.act_ahead(state)
        learned, metrics = self.learn_in_flight(state)
        return self.continue_pipeline(acted, learned, segment), metrics

    # -- sizes ---------------------------------------------------------------------------------

    def after_env_reset(self, states: RunState) -> RunState:
        """Nothing but the carry (restarted by the caller) belongs to the interrupted episodes: the
        segment in flight (lag ≥ 1) is whole, and is learned from as acted."""
        return states

    def parameter_count(self) -> ParameterCount:
        """(total, recurrent) parameters."""
        return parameter_count(self.network)

    def rollout_bytes(self) -> int:
        """Bytes of one segment (its start carry included), from shapes only."""
        return _bytes(self._segment_shapes())

    def memory_parts(self) -> dict[str, int]:
        """Bytes one seed holds at once, by part, estimated from shapes (P parameters):

            segment      one segment (observations twice, with the final ones; its start carry); two with
                         lag ≥ 1 (the one the learner learns and the one the actors act meanwhile)
            carry        3 × the actors' carry (the actors', the learner's recomputation, its VJP's residuals)
            parameters   (4 + lag) × P × itemsize   (parameters, RMSProp's ν, a gradient and its running sum,
                                                      the lag's parameter sets)
            backprop     tbptt: the forward's activations over the segment, ≈ 4 × M × the carry's state
        """
        c = self.config
        carry = _bytes(self._carry_shapes())
        parts = {"segment": (2 if self.pipelined else 1) * self.rollout_bytes(), "carry": 3 * carry,
                 "parameters": (4 + c.lag) * self.parameter_count().total * jnp.dtype(c.dtype).itemsize}
        if c.gradient == "tbptt":
            parts["backprop"] = 4 * c.unroll * carry
        return parts

    # -- internals -----------------------------------------------------------------------------

    def _carry_shapes(self) -> Any:
        params = jax.eval_shape(self.network.init, jax.random.PRNGKey(0))
        return jax.eval_shape(lambda p: self.network.initial_carry(p, self.config.num_envs), params)

    def _segment_shapes(self) -> Segment:
        if self.jax_native:
            state = jax.eval_shape(self.init, jax.random.PRNGKey(0))
            return jax.eval_shape(lambda s: self._act(s)[1], state)
        from rtrl.agents.r2ac_actors import host_segment_shapes

        return host_segment_shapes(self)

    def _act(self, state: RunState) -> tuple[RunState, Segment]:
        return act(self.network, self.env, self.behaviour_params(state), state, self.config.unroll)

    def _gradient(self, params: Any, segment: Segment) -> tuple[Any, Forward, vtrace.VTraceOutput,
                                                                vtrace.ActorCriticLoss, Any]:
        """(gradient, forward, targets, loss terms, the carry after the segment with the traces recomputed
        by RTRL (None for the other learners)) of the configured learner."""
        c = self.config
        if c.gradient != "rtrl":
            return (*tbptt_gradient(self.network, c, params, segment), None)
        fwd = jax.lax.stop_gradient(forward(self.network, params, segment))
        tg = targets(c, segment, fwd)
        grads, end_carry = rtrl_gradient(self.network, c, params, segment, tg)
        return grads, fwd, tg, loss_terms(c, fwd.log_prob, fwd.entropy, fwd.value, tg), end_carry

    @property
    def learner_carries_traces(self) -> bool:
        """Lag 0 with RTRL: the learner recomputes the actors' traces with the same parameters, so the
        actors step without them (the cell's state alone: a cheaper step) and the learner hands its
        recomputed carry, traces included, to the next segment (`_iteration`)."""
        c = self.config
        return c.lag == 0 and c.gradient == "rtrl" and self.network.cell is not None

    def _learn(self, state: RunState, segment: Segment,
               carry_from_learner: bool = False) -> tuple[RunState, dict[str, jax.Array]]:
        c = self.config
        params = state.params
        grads, fwd, tg, terms, end_carry = self._gradient(params, segment)
        if carry_from_learner:
            state = state._replace(carry=end_carry)
        learner = state.opt_state
        updates, opt_state = self.optimizer.update(grads, learner.optimizer, params)
        new_params = optax.apply_updates(params, updates)
        behaviour = learner.behaviour
        if c.lag > 0:  # drop the oldest parameter set, keep the ones this update started from
            behaviour = jax.tree.map(lambda q, p: jnp.concatenate([q[1:], p[None]]), behaviour, params)
        steps = c.unroll * c.num_envs
        episodes = segment.done.sum()
        metrics = {
            "episodes": episodes,
            "episode_return": segment.episode_return.sum() / jnp.maximum(episodes, 1),
            "episode_length": segment.episode_length.sum() / jnp.maximum(episodes, 1),
            "env_steps": state.env_steps,
            # losses per transition (the gradient is of their sum over the segment, as in IMPALA)
            "total_loss": terms.total_t.sum() / steps,
            "policy_loss": terms.policy_t.sum() / steps,
            "baseline_loss": terms.baseline_t.sum() / steps,
            "entropy": -terms.entropy_t.sum() / steps,
            "grad_norm": optax.tree.norm(grads),
            "learning_rate": learning_rate_schedule(c)(state.iteration),
            "importance_ratio": jnp.exp(fwd.log_prob - segment.behaviour_log_prob).mean(),
            "clipped_rho": tg.rho_t.mean(),
            "value": fwd.value.mean(),
            "explained_variance": ppo.explained_variance(fwd.value, tg.vs_t),
        }
        metrics = {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}
        state = state._replace(params=new_params, opt_state=R2ACLearnerState(opt_state, behaviour),
                               iteration=state.iteration + 1)
        return state, metrics

    def _iteration(self, state: RunState) -> tuple[RunState, dict[str, jax.Array]]:
        if not self.learner_carries_traces:
            state, segment = self._act(state)
            return self._learn(state, segment)
        # the actors step the cell's state alone; the segment starts from the full carry (traces
        # included), and the learner's recomputation over it becomes the next segment's start carry
        traced = state.carry
        untraced = Carry(traced.state, ())
        state, segment = act(self.network.with_gradient("bptt"), self.env, state.params,
                             state._replace(carry=untraced), self.config.unroll)
        return self._learn(state, segment._replace(start_carry=traced), carry_from_learner=True)


def _bytes(tree: Any) -> int:
    return sum(x.size * jnp.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree))
