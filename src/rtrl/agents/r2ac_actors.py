"""R2AC's actors on host environments, and actors that overlap the learner (`rtrl.agents.r2ac`).

    states, segments = host_act(policy, envs, states, params, unroll)   # S seeds' host envs in lockstep

    pipeline = Pipeline(agent, envs)              # lag ≥ 1; envs: seed k's host env (None if JAX-native)
    states = pipeline.start(jax.vmap(agent.init)(keys))     # the first segment acted, in flight
    states, metrics = pipeline.iteration(states)  # update k on segment k ∥ segment k + 1 acted

**Host actors** (`host_act`): a Python loop of M steps; each is ONE jitted call of the network step,
batched over seeds and environments (`rtrl.agents.rollout.make_host_policy`, PPO's host policy
storing only o_t, first_t, a_t and log μ(a_t|·)), then every seed's envs step (C or numpy code
mostly). The segment is the JAX path's `Segment`, with a leading seed axis.

**The overlap** (`Pipeline`). With ``lag ≥ 1`` segment k is acted with θ_{k−lag} (θ_0 for the first
``lag`` segments), so segment k + 1 needs only θ_{k+1−lag}, which exists before update k. One
pipelined step is therefore

    learner (this thread):   θ_{k+1} = update(θ_k, segment k)          `R2ACAgent.learn_in_flight`
    actors (their thread):   segment k + 1 = act(θ_{k+1−lag})          `R2ACAgent.act_ahead`

and the results (parameters, optimiser state, metrics) are those of the synchronous loop
(`R2ACAgent.iteration`) with the same lag: the same segments, the same updates. The state between
steps holds segment k + 1 in flight (`R2ACLearnerState.in_flight`): a checkpoint taken between steps
resumes to the same run. The actors run on a worker thread (Sebulba/cleanba style): a jitted call
releases the GIL while it runs, so the learner's update computes while the actors' Python loop
steps the host envs, or, on a JAX-native env, while their own jitted scan runs. An exception in the
actors is raised in the calling thread by `ActorThread.run_beside` (the same exception, with its
message); on Ctrl-C (or the learner failing) the caller waits for the actors' segment to end before
leaving, so no thread is left stepping the envs.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from rtrl.agents.r2ac import R2ACAgent
from rtrl.agents.r2ac_learner import Segment
from rtrl.agents.rollout import HostPolicy, RunState, host_steps

__all__ = ["ActorThread", "Pipeline", "host_act", "host_segment_shapes"]

A = TypeVar("A")
L = TypeVar("L")


def host_act(policy: HostPolicy, envs: Sequence[Any], states: RunState, params: Any,
             unroll: int) -> tuple[RunState, Segment]:
    """``unroll`` steps of S seeds' host envs in lockstep (``states`` and ``params`` stacked on a
    leading seed axis S = len(envs); ``policy`` stores `rtrl.agents.r2ac.SEGMENT_ROWS`): one jitted
    policy call per step for every seed and env, the carry (with RTRL traces) carried along
    (`rtrl.agents.rollout.host_steps`). Returns the states after the segment and the segments,
    (S, M, N, ...) time-major per seed."""
    start_carry = states.carry
    s, n = np.shape(states.first)
    final_obs = np.zeros((s, unroll, n) + tuple(np.shape(states.obs)[2:]), np.float32)  # (S, M, N, *obs_shape)

    def keep_final_obs(t: int, carry_t: Any, step: Any) -> None:
        final_obs[:, t] = step.final_obs

    states, bufs, host = host_steps(policy, envs, states, params, unroll, keep_final_obs)
    segment = Segment(start_carry, bufs["obs"], bufs["first"], bufs["action"], bufs["log_prob"],
                      *(jnp.asarray(host[name]) for name in ("reward", "done", "terminated", "truncated")),
                      jnp.asarray(final_obs), states.obs, states.first,
                      jnp.asarray(host["episode_return"]), jnp.asarray(host["episode_length"]))
    return states, segment


def host_segment_shapes(agent: R2ACAgent) -> Segment:
    """The shapes of one seed's `Segment` on ``agent``'s host env (no env is touched)."""
    m, n = agent.config.unroll, agent.config.num_envs
    obs_shape = (n,) + tuple(agent.env.observation_space.shape)

    def one_seed():
        params = agent.network.init(jax.random.PRNGKey(0))
        carry = agent.network.initial_carry(params, n)
        seeds = jax.tree.map(lambda x: x[None], (params, carry, jnp.zeros(obs_shape, jnp.float32), jnp.ones((n,), bool),
                                                 jax.random.PRNGKey(0)))
        return carry, jax.tree.map(lambda x: x[0], agent._policy.buffers(*seeds))  # the policy maps over seeds

    carry, rows = jax.eval_shape(one_seed)

    def per_step(dtype, trailing=()):
        return jax.ShapeDtypeStruct((m, n) + tuple(trailing), dtype)

    flag = per_step(jnp.bool_)
    return Segment(carry, rows["obs"], rows["first"], rows["action"], rows["log_prob"], per_step(jnp.float32), flag,
                   flag, flag, per_step(jnp.float32, obs_shape[1:]), jax.ShapeDtypeStruct(obs_shape, jnp.float32),
                   jax.ShapeDtypeStruct((n,), jnp.bool_), per_step(jnp.float32), per_step(jnp.int32))


class ActorThread:
    """One worker thread on which the actors run while the calling thread runs the learner."""

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="r2ac-actors")

    def run_beside(self, actors: Callable[[], A], learner: Callable[[], L]) -> tuple[A, L]:
        """``actors()`` on the worker thread while ``learner()`` runs here; both results, once both
        are done. An exception of either is raised here (the actors': the same exception object, so
        its type and message); whatever ends this call early (an exception, Ctrl-C) first waits for
        the actors to finish their call, so that none is left running."""
        future = self._pool.submit(actors)
        try:
            learned = learner()
        except BaseException as learner_error:
            # a segment's worth of steps at most (a second Ctrl-C stops the wait; the process still lets the
            # actors' segment end before it exits)
            concurrent.futures.wait([future])
            actors_error = None if future.cancelled() else future.exception()
            if actors_error is not None:  # both failed: the learner's error, with the actors' as its cause
                raise learner_error from actors_error
            raise
        try:
            acted = future.result()
        except BaseException:  # the actors' own error (already done), or Ctrl-C while waiting for them
            concurrent.futures.wait([future])
            raise
        return acted, learned

    def close(self) -> None:
        """Join the worker thread (idle between calls)."""
        self._pool.shutdown(wait=True)


class Pipeline:
    """The seeds of an R2AC agent with ``lag ≥ 1``, actors overlapping the learner (module docstring).

    ``states`` have a leading seed axis; ``envs[k]`` is seed k's host env (None for a JAX-native
    agent, whose seeds run under ``jax.vmap``). ``threaded=False`` runs the same two halves one
    after the other in this thread (for tests and measurements: the results are the same).
    ``checked`` wraps the per-seed update before it is vmapped (e.g. a finiteness check adding a
    metric); ``after_acting`` is applied to the states the actors return (on their thread), e.g. to
    copy host wrapper statistics into them.
    """

    def __init__(self, agent: R2ACAgent, envs: Sequence[Any] | None = None, *, threaded: bool = True,
                 checked: Callable[[Callable], Callable] | None = None,
                 after_acting: Callable[[RunState], RunState] | None = None):
        if not agent.pipelined:
            raise ValueError(f"the actors overlap the learner only with lag >= 1 (they act with parameters "
                             f"that exist before the update); this agent has lag={agent.config.lag}.")
        if agent.jax_native != (envs is None):
            raise ValueError("give envs (seed k's host env) for a host-environment agent, and none for a "
                             "JAX-native one.")
        self.agent = agent
        self.envs = envs  # a list may be refilled in place (a resumed host run rebuilds its envs)
        self._learn = jax.jit(jax.vmap((checked or (lambda f: f))(agent.learn_in_flight)))
        self._after_acting = after_acting or (lambda s: s)
        if agent.jax_native:
            first, ahead = jax.jit(jax.vmap(agent._act)), jax.jit(jax.vmap(agent.act_ahead))
            # the actors wait for their own result: their computation is what runs on their thread
            self._act_first = lambda s: jax.block_until_ready(first(s))
            self._act_ahead = lambda s: jax.block_until_ready(ahead(s))
        else:
            behaviour = jax.jit(jax.vmap(agent.behaviour_params))
            upcoming = jax.jit(jax.vmap(agent.next_behaviour_params))
            self._act_first = lambda s: agent.act_seeds(s, self.envs, behaviour(s))
            self._act_ahead = lambda s: agent.act_seeds(s, self.envs, upcoming(s))
        self._thread = ActorThread() if threaded else None

    def start(self, states: RunState) -> RunState:
        """The pipelined states of fresh ``states`` (from the agent's init): the first segment acted
        with the behaviour parameters, in flight."""
        acted, segment = self._act_first(states)
        return self.agent.with_in_flight(self._after_acting(acted), segment)

    def iteration(self, states: RunState) -> tuple[RunState, dict[str, Any]]:
        """One update on the segment in flight while the actors act the next one; returns the next
        pipelined states and the update's metrics (seed axis)."""

        def actors():
            acted, segment = self._act_ahead(states)
            return self._after_acting(acted), segment

        def learner():
            return self._learn(states)

        if self._thread is None:
            (acted, segment), (learned, metrics) = actors(), learner()
        else:
            (acted, segment), (learned, metrics) = self._thread.run_beside(actors, learner)
        return self.agent.continue_pipeline(acted, learned, segment), metrics

    def close(self) -> None:
        """Join the actors' thread."""
        if self._thread is not None:
            self._thread.close()
