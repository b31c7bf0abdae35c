"""R2AC's host actors and the actors that overlap the learner (rtrl.agents.r2ac_actors).

Planted and watched (by hand):
  - the host actor storing the carry after step 0 as the segment's start carry fails
    `test_host_segment_is_what_the_learner_recomputes` (log-ratios and end carry);
  - the actors acting with θ_{k+1} (the learner's result, a race) instead of θ_{k+1−lag} fails
    `test_overlapped_pipeline_equals_the_synchronous_loop` and its host twin;
  - the actor thread's exception swallowed (the segment taken as None) fails
    `test_an_actor_exception_surfaces_with_its_message`; leaving without waiting for the actors fails
    `test_interrupt_waits_for_the_actors`.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rtrl
from rtrl.agents import make as make_agent
from rtrl.agents.r2ac import R2ACAgent, forward, rtrl_gradient, targets
from rtrl.agents.r2ac_actors import ActorThread, Pipeline, host_segment_shapes
from rtrl.agents.r2ac_config import R2ACConfig
from rtrl.envs.host import HostEnv

EXACT = 1e-10


def tiny(**overrides: Any) -> R2ACConfig:
    base: dict[str, Any] = {"num_envs": 2, "unroll": 8, "hidden_size": 3, "head": (4,), "dtype": "float64"}
    base.update(overrides)
    return R2ACConfig(**base)


def cartpole() -> HostEnv:
    """Random CartPole episodes last ≈20 steps: with M = 8 they begin inside segments."""
    return rtrl.envs.make("gymnasium/CartPole-v1", num_envs=2)


def chain():
    return rtrl.envs.make("jax/MemoryChain", length=2)


def leaves_equal(a, b, atol: float = 0.0) -> None:
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=0, atol=atol)


def seed_axis(tree):
    return jax.tree.map(lambda x: x[None], tree)


def first_seed(tree):
    return jax.tree.map(lambda x: x[0], tree)


# --------------------------------------------------------------------------------------------
# Host actors
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host_segments():
    """A host agent, and three segments acted in a row with its initial parameters."""
    env = cartpole()
    agent = make_agent(tiny(), env)
    states = [agent.init(jax.random.PRNGKey(3))]
    segments = []
    for _ in range(3):
        state, segment = agent.act(states[-1])
        states.append(state)
        segments.append(segment)
    yield agent, states, segments
    env.close()


def test_host_segment_is_what_the_learner_recomputes(host_segments):
    agent, states, segments = host_segments
    params = states[0].params
    for k, segment in enumerate(segments):
        fwd = forward(agent.network, params, segment)
        np.testing.assert_allclose(fwd.log_prob, segment.behaviour_log_prob, atol=EXACT)  # lag 0: ρ = 1
        _, end_carry = rtrl_gradient(agent.network, agent.config, params, segment,
                                     targets(agent.config, segment, fwd))
        leaves_equal(end_carry, states[k + 1].carry, atol=EXACT)  # the traces recomputed are the actors'
        leaves_equal(segment.start_carry, states[k].carry)
        np.testing.assert_array_equal(segment.last_obs, states[k + 1].obs)
    # episodes ended inside the segments, and the next observation began the next episode
    later = segments[1:]
    assert any(bool(s.done.any()) for s in later) and any(bool(s.first[1:].any()) for s in later)
    assert max(float(jnp.abs(x).max()) for x in jax.tree.leaves(segments[1].start_carry.traces)) > 0
    for s in segments:
        np.testing.assert_array_equal(s.first[1:], s.done[:-1])
        np.testing.assert_array_equal(s.episode_length > 0, s.done)
    assert int(states[-1].env_steps) == 3 * agent.config.unroll * agent.config.num_envs


def test_host_segment_shapes_are_the_segments(host_segments):
    agent, _, segments = host_segments
    shapes = host_segment_shapes(agent)
    for want, got in zip(jax.tree.leaves(shapes), jax.tree.leaves(segments[0]), strict=True):
        assert (want.shape, want.dtype) == (got.shape, got.dtype)
    assert agent.rollout_bytes() == sum(x.nbytes for x in jax.tree.leaves(segments[0]))
    assert agent.memory_parts()["segment"] == agent.rollout_bytes()
    assert make_agent(tiny(lag=1), agent.env).memory_parts()["segment"] == 2 * agent.rollout_bytes()


def test_host_iteration_learns_from_the_segment(host_segments):
    agent, states, _ = host_segments
    new, metrics = agent.iteration(states[0])
    assert int(new.iteration) == 1 and not agent.jax_native
    assert float(metrics["importance_ratio"]) == pytest.approx(1.0, abs=1e-12)
    assert all(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(new.params), jax.tree.leaves(states[0].params)))
    with pytest.raises(TypeError, match="host environments"):
        make_agent(tiny(), chain()).act_seeds(states[0], [])


def test_host_seeds_step_in_lockstep_like_one_seed_each():
    """Two seeds in one lockstep loop give each seed's own segment (seed 1 alone, in its own loop)."""
    envs = [cartpole() for _ in range(3)]
    try:
        agent = make_agent(tiny(), envs[0])
        keys = [jax.random.PRNGKey(1), jax.random.PRNGKey(2)]
        states = [R2ACAgent(agent.config, env, agent.network, agent.optimizer).init(k)
                  for env, k in zip(envs[:2], keys)]
        stacked = jax.tree.map(lambda *x: jnp.stack(x), *states)
        both, segments = agent.act_seeds(stacked, envs[:2])
        alone = R2ACAgent(agent.config, envs[2], agent.network, agent.optimizer)
        state1, segment1 = alone.act(alone.init(keys[1]))
        leaves_equal(jax.tree.map(lambda x: x[1], segments), segment1, atol=EXACT)
        leaves_equal(jax.tree.map(lambda x: x[1], both.carry), state1.carry, atol=EXACT)
    finally:
        for env in envs:
            env.close()


# --------------------------------------------------------------------------------------------
# The pipeline: actors overlapping the learner
# --------------------------------------------------------------------------------------------


def synchronous(agent: R2ACAgent, state, iterations: int):
    """The reference: `iteration` (act, then learn) ``iterations`` times; states and metrics."""
    states, metrics = [state], []
    for _ in range(iterations):
        state, m = agent.iteration(state)
        states.append(state)
        metrics.append(m)
    return states, metrics


def assert_pipeline_matches(pipelined, reference_states, reference_metrics, k: int, atol: float,
                            seed: int = 0) -> None:
    """Seed ``seed`` of the pipelined states after k steps: the synchronous loop's parameters,
    optimiser state, lag sets, update count and metrics."""
    state, metrics = jax.tree.map(lambda x: x[seed], pipelined)
    ref = reference_states[k + 1]
    leaves_equal(state.params, ref.params, atol)
    leaves_equal(state.opt_state.optimizer, ref.opt_state.optimizer, atol)
    leaves_equal(state.opt_state.behaviour, ref.opt_state.behaviour, atol)
    assert int(state.iteration) == int(ref.iteration) == k + 1
    for name, value in reference_metrics[k].items():
        np.testing.assert_allclose(np.asarray(metrics[name]), np.asarray(value), rtol=0, atol=atol, err_msg=name)


def run_pipeline(agent: R2ACAgent, keys: list, iterations: int, threaded: bool = True):
    """The synchronous loop of each seed, and the pipeline's steps over all seeds (vmapped)."""
    init = jax.jit(agent.init)
    reference = [synchronous(agent, init(key), iterations) for key in keys]
    pipeline = Pipeline(agent, threaded=threaded)
    state = pipeline.start(jax.jit(jax.vmap(agent.init))(jnp.stack(keys)))
    steps = [(state, None)]
    for _ in range(iterations):
        steps.append(pipeline.iteration(steps[-1][0]))
    pipeline.close()
    return reference, steps


@pytest.fixture(scope="module")
def lag1():
    """Lag 1, two seeds, four steps of the threaded pipeline and each seed's synchronous loop."""
    agent = make_agent(tiny(lag=1, unroll=4), chain())
    keys = [jax.random.PRNGKey(5), jax.random.PRNGKey(6)]
    return (agent, keys, *run_pipeline(agent, keys, 4))


def check_pipeline(agent, reference, steps) -> None:
    for seed, (states, metrics) in enumerate(reference):
        for k in range(len(metrics)):
            assert_pipeline_matches(steps[k + 1], states, metrics, k, atol=EXACT, seed=seed)
        # the segment in flight is the one the synchronous loop acts next, and the actors are past it
        last = jax.tree.map(lambda x, k=seed: x[k], steps[-1][0])
        _, upcoming = agent.act(states[-1])
        leaves_equal(last.opt_state.in_flight, upcoming, atol=EXACT)
        assert int(last.env_steps) == int(states[-1].env_steps) + agent.config.rollout_size
        assert abs(float(metrics[-1]["importance_ratio"]) - 1.0) > 1e-9  # stale actors: V-trace has work to do


def test_overlapped_pipeline_equals_the_synchronous_loop(lag1):
    """Lag 1, actors on their own thread, two vmapped seeds: each seed's parameters, optimiser state
    and metrics are its synchronous loop's (act, then learn) after every step."""
    agent, _, reference, steps = lag1
    check_pipeline(agent, reference, steps)
    assert not np.array_equal(*np.asarray(steps[-1][0].params["actor_out"]["kernel"]))  # the seeds differ


@pytest.mark.slow
def test_pipeline_without_thread_and_lag_2_equals_the_synchronous_loop():
    agent = make_agent(tiny(lag=2, unroll=4), chain())
    check_pipeline(agent, *run_pipeline(agent, [jax.random.PRNGKey(7)], 5, threaded=False))


def test_pipelined_iteration_is_pure_and_equals_the_threaded_pipeline(lag1):
    """The one-thread step (jitted, vmapped over seeds) from the same start gives the same states."""
    agent, _, _, steps = lag1
    pure = jax.jit(jax.vmap(agent.pipelined_iteration))
    state = steps[0][0]
    for k in range(1, len(steps)):
        state, metrics = pure(state)
        leaves_equal((state, metrics), steps[k], atol=EXACT)


def test_host_pipeline_equals_the_synchronous_host_loop():
    """Lag 1 on a host env: the actors on their thread stepping CartPole while the learner updates give
    the synchronous loop's parameters and metrics (same env seeds, same episodes)."""
    envs = [cartpole(), cartpole()]
    try:
        agent = make_agent(tiny(lag=1), envs[0])
        states, metrics = synchronous(agent, agent.init(jax.random.PRNGKey(4)), 4)
        twin = R2ACAgent(agent.config, envs[1], agent.network, agent.optimizer)
        pipeline = Pipeline(twin, [envs[1]])
        state = pipeline.start(seed_axis(twin.init(jax.random.PRNGKey(4))))
        for k in range(4):
            state, m = pipeline.iteration(state)
            assert_pipeline_matches((state, m), states, metrics, k, atol=EXACT)
        assert sum(float(m["episodes"]) for m in metrics) > 0
        pipeline.close()
    finally:
        for env in envs:
            env.close()


def test_pipeline_refuses_lag_0_and_mismatched_envs():
    with pytest.raises(ValueError, match="only with lag >= 1.*lag=0"):
        Pipeline(make_agent(tiny(), chain()))
    with pytest.raises(ValueError, match="give envs"):
        Pipeline(make_agent(tiny(lag=1), chain()), [object()])
    with pytest.raises(ValueError, match="with lag 0"):
        make_agent(tiny(), chain()).next_behaviour_params(None)


# --------------------------------------------------------------------------------------------
# The actors' thread: exceptions and Ctrl-C
# --------------------------------------------------------------------------------------------


class BreakingEnv(HostEnv):
    """A host env that raises on its ``fail_at``-th step."""

    def __init__(self, inner: HostEnv, fail_at: int):
        self.inner, self.fail_at, self.steps = inner, fail_at, 0
        self.num_envs, self.observation_space, self.action_space = (inner.num_envs, inner.observation_space,
                                                                    inner.action_space)

    def reset(self, *, seed=None):
        return self.inner.reset(seed=seed)

    def step(self, actions):
        self.steps += 1
        if self.steps == self.fail_at:
            raise RuntimeError(f"the simulator broke at step {self.steps}")
        return self.inner.step(actions)


def test_an_actor_exception_surfaces_with_its_message():
    env = BreakingEnv(cartpole(), fail_at=12)  # in the second segment: the first step of the pipeline
    try:
        agent = make_agent(tiny(lag=1), env)
        pipeline = Pipeline(agent, [env])
        state = pipeline.start(seed_axis(agent.init(jax.random.PRNGKey(0))))
        with pytest.raises(RuntimeError, match="the simulator broke at step 12"):
            pipeline.iteration(state)
        assert [t for t in threading.enumerate() if t.name.startswith("r2ac-actors") and t.is_alive()]  # idle, reusable
        pipeline.close()
        assert not [t for t in threading.enumerate() if t.name.startswith("r2ac-actors") and t.is_alive()]
    finally:
        env.inner.close()


def test_interrupt_waits_for_the_actors():
    """Whatever ends the learner's side early (here KeyboardInterrupt) waits for the actors' call to end."""
    thread = ActorThread()
    finished = threading.Event()

    def actors():
        time.sleep(0.3)
        finished.set()
        return "segment"

    def learner():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        thread.run_beside(actors, learner)
    assert finished.is_set()
    assert thread.run_beside(lambda: 1, lambda: 2) == (1, 2)  # the thread is still usable
    thread.close()


def test_when_both_halves_fail_the_actors_error_is_kept():
    """The learner's error is raised, with the actors' as its cause (neither is lost)."""
    thread = ActorThread()

    def actors():
        raise RuntimeError("env crashed")

    def learner():
        time.sleep(0.1)
        raise FloatingPointError("learner diverged")

    with pytest.raises(FloatingPointError, match="learner diverged") as caught:
        thread.run_beside(actors, learner)
    assert isinstance(caught.value.__cause__, RuntimeError) and "env crashed" in str(caught.value.__cause__)
    thread.close()


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_ctrl_c_while_waiting_for_the_actors_does_not_hang():
    """A real SIGINT while the caller waits for a slow actor: KeyboardInterrupt, after the actor's call."""
    thread = ActorThread()
    finished = threading.Event()

    def actors():
        time.sleep(0.5)
        finished.set()

    timer = threading.Timer(0.1, lambda: os.kill(os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        thread.run_beside(actors, lambda: None)
    assert finished.is_set() and time.perf_counter() - start < 5
    thread.close()


def test_host_actors_at_lag_0_step_without_traces_and_the_learner_hands_them_on():
    """Lag 0 with RTRL on a host env: actors stepping the cell's state alone and the learner's recomputed
    carry starting the next segment give the parameters, carries and metrics of actors carrying the
    traces themselves (CartPole episodes begin inside segments, so the start traces matter)."""
    envs = [cartpole(), cartpole()]
    try:
        agent = make_agent(tiny(), envs[0])
        twin = R2ACAgent(agent.config, envs[1], agent.network, agent.optimizer)
        assert agent.learner_carries_traces
        learn = jax.jit(jax.vmap(agent._learn))
        learn_synchronous = jax.jit(jax.vmap(twin.learn_synchronous))
        traced = seed_axis(agent.init(jax.random.PRNGKey(5)))
        lean = seed_axis(twin.init(jax.random.PRNGKey(5)))
        episodes = 0.0
        for _ in range(4):
            traced, segment = agent.act_seeds(traced, [envs[0]])
            traced, traced_metrics = learn(traced, segment)
            lean, segment = twin.act_seeds_synchronous(lean, [envs[1]])
            lean, lean_metrics = learn_synchronous(lean, segment)
            leaves_equal((lean, lean_metrics), (traced, traced_metrics), atol=EXACT)
            episodes += float(traced_metrics["episodes"][0])
        assert episodes > 0
    finally:
        for env in envs:
            env.close()
