"""The R2AC agent (rtrl.agents.r2ac) on JAX-native environments: configuration and bad input, the
actors' carries and their alignment with the learner, the lag, and a tiny learning check.

The learner's exactness (RTRL = BPTT from the episode start, T-BPTT = BPTT through the segment) is in
test_r2ac_exact.py. Planted and watched (by hand): the actor storing the carry after step 0 as the
segment's start carry fails `test_learner_recomputation_reproduces_the_actor` (log-ratios and end
carry); the actor not passing ``first`` to the network (no resets) fails
`test_actor_carry_restarts_at_episode_starts`.
"""

from __future__ import annotations

import dataclasses

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)  # as tests/conftest.py: some configs below are float64

import rtrl
from rtrl.agents import make as make_agent
from rtrl.agents.r2ac import R2ACAgent, forward, rtrl_gradient, targets
from rtrl.agents.r2ac_config import R2ACConfig
from rtrl.envs.jax_env import JaxEnv
from rtrl.envs.spaces import Box, Discrete

EXACT = 1e-10


def tiny(**overrides: Any) -> R2ACConfig:
    base: dict[str, Any] = {"num_envs": 2, "unroll": 4, "hidden_size": 3, "head": (4,), "dtype": "float64"}
    base.update(overrides)
    return R2ACConfig(**base)


def chain(length: int = 2) -> JaxEnv:
    """MemoryChain episodes of length + 1 steps: with M = 4, episodes begin inside and before segments."""
    return rtrl.envs.make("jax/MemoryChain", length=length)


# --------------------------------------------------------------------------------------------
# Configuration and bad input
# --------------------------------------------------------------------------------------------


def test_config_defaults_are_the_papers():
    c = R2ACConfig()
    assert (c.cell, c.gradient, c.learning_rate, c.rmsprop_decay, c.rmsprop_eps) == ("elstm", "rtrl", 6e-4, 0.99, 0.01)
    assert (c.max_grad_norm, c.entropy_coef, c.baseline_coef, c.gamma, c.clip_rewards) == (40.0, 0.01, 0.5, 0.99, True)
    assert (c.rho_bar, c.c_bar, c.lag, c.unroll) == (1.0, 1.0, 0, 50)
    assert c.rollout_size == c.num_envs * c.unroll and c.recurrent
    assert not R2ACConfig(gradient="none").recurrent and R2ACConfig(gradient="none").make_cell() is None
    assert R2ACConfig(gradient="tbptt").make_cell().gradient == "bptt"
    assert R2ACConfig().make_cell().gradient == "rtrl"
    assert "T-BPTT(50)" in R2ACConfig(gradient="tbptt").describe()
    assert "unroll (50)" in R2ACConfig().shrink_hint()
    assert "learning rate" in R2ACConfig().divergence_advice()
    assert R2ACConfig().wrapper_options() == {"gamma": 0.99, "normalize_obs": False, "normalize_reward": False}
    hash(R2ACConfig(cell_options={"init_std": 0.2}))  # frozen and hashable (static under jit)


@pytest.mark.parametrize("field,value,words", [
    ("unroll", 0, "unroll must be a positive integer"),
    ("unroll", 2.5, "unroll must be a positive integer"),
    ("lag", -1, "lag must be a non-negative integer"),
    ("num_envs", 0, "num_envs must be a positive integer"),
    ("gradient", "bptt", "gradient must be one of 'rtrl', 'tbptt', 'none'"),
    ("cell", "nope", "unknown cell 'nope'"),
    ("cell_options", {"r_max": 2}, "cell/cell_options"),
    ("learning_rate", 0.0, "learning_rate must be a positive number"),
    ("total_updates", 0, "total_updates must be a positive integer"),
    ("max_grad_norm", -1.0, "max_grad_norm must be a positive number"),
    ("rmsprop_decay", 1.0, "rmsprop_decay must be a number in [0, 1)"),
    ("gamma", 1.5, "gamma must be a number in [0, 1]"),
    ("entropy_coef", -0.1, "entropy_coef must be a number >= 0"),
    ("rho_bar", 0.0, "rho_bar must be a positive number"),
    ("clip_rewards", 1, "clip_rewards must be true or false"),
    ("encoder", 64, "encoder must be a list of positive layer widths"),
    ("activation", "gelu", "activation must be one of"),
    ("dtype", "float16", "dtype must be one of"),
])
def test_config_refuses_bad_input(field, value, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        R2ACConfig(**{field: value})


class PixelEnv(JaxEnv):
    """A stand-in for a pixel environment: (1, 4, 4) images, channel-first; never stepped."""

    @property
    def observation_space(self) -> Box:
        return Box((1, 4, 4), 0.0, 1.0)

    @property
    def action_space(self) -> Discrete:
        return Discrete(2)


def test_make_refuses_bad_environments():
    with pytest.raises(ValueError, match=r"num_envs=2 but the env is batched as \(3,\)"):
        make_agent(tiny(), rtrl.envs.make("jax/MemoryChain", num_envs=3))
    with pytest.raises(ValueError, match=r"stem='dense' takes flat observation vectors, but the observations are "
                                         r"images of shape \(1, 4, 4\).*valid for them: 'auto', 'nature', 'impala', "
                                         r"'minatar'"):
        make_agent(dataclasses.replace(tiny(), stem="dense"), PixelEnv())
    with pytest.raises(ValueError, match=r"stem='nature'.*\(1, 4, 4\)"):  # too small for its 8x8 stride-4 layer
        make_agent(dataclasses.replace(tiny(), stem="nature"), PixelEnv())
    with pytest.raises(ValueError, match=r"stem='minatar' is a convolutional stem for images"):
        make_agent(dataclasses.replace(tiny(), stem="minatar"), rtrl.envs.make("jax/MemoryChain"))
    with pytest.raises(ValueError, match="the PPO agents take flat observation vectors.*--agent r2ac"):
        rtrl.agents.make(rtrl.agents.PPOConfig(num_envs=2), PixelEnv())
    with pytest.raises(ValueError, match="action='continuous' does not match"):
        make_agent(tiny(action="continuous"), chain())
    with pytest.raises(TypeError, match="R2ACConfig"):
        make_agent(object(), chain())
    with pytest.raises(TypeError, match="JaxEnv"):
        make_agent(tiny(), object())
    assert make_agent(tiny(), rtrl.envs.make("jax/MemoryChain", num_envs=2)).env.batch_shape == (2,)


def test_make_builds_an_agent_on_a_host_environment():
    """Host environments (their actors: tests/agents/test_r2ac_actors.py) are checked like JAX-native ones."""
    host = rtrl.envs.make("gymnasium/CartPole-v1", num_envs=2)
    try:
        agent = make_agent(tiny(), host)
        assert isinstance(agent, R2ACAgent) and not agent.jax_native and agent.env is host
        with pytest.raises(ValueError, match="num_envs=3 but the host env has 2 envs"):
            make_agent(tiny(num_envs=3), host)
    finally:
        host.close()


# --------------------------------------------------------------------------------------------
# Actors and their alignment with the learner
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_segments():
    """The agent, its initial state, and two segments acted in a row with the initial parameters."""
    agent = make_agent(tiny(), chain())
    state0 = agent.init(jax.random.PRNGKey(3))
    state1, segment1 = agent.act(state0)
    state2, segment2 = agent.act(state1)
    return agent, state0, (state1, segment1), (state2, segment2)


def test_learner_recomputation_reproduces_the_actor(two_segments):
    agent, state0, _, (state2, segment) = two_segments
    params = state0.params
    # an episode began in the first segment and runs into the second: its start traces are not zero
    assert not bool(segment.first[0].all())
    assert max(float(jnp.abs(x).max()) for x in jax.tree.leaves(segment.start_carry.traces)) > 0
    fwd = forward(agent.network, params, segment)
    np.testing.assert_allclose(fwd.log_prob, segment.behaviour_log_prob, atol=EXACT)  # ρ = 1 with lag 0
    _, end_carry = rtrl_gradient(agent.network, agent.config, params, segment, targets(agent.config, segment, fwd))
    for got, want in zip(jax.tree.leaves(end_carry), jax.tree.leaves(state2.carry)):
        np.testing.assert_allclose(got, want, atol=EXACT)


def test_actor_carry_restarts_at_episode_starts(two_segments):
    agent, state0, (state1, segment1), (state2, segment2) = two_segments
    net, params = agent.network, state0.params
    assert bool(segment1.first[0].all())  # the first segment starts every episode
    for env in range(agent.config.num_envs):
        starts = np.flatnonzero(np.asarray(segment2.first[:, env]))
        assert starts.size, "the chain's episodes are shorter than a segment"
        carry = net.initial_carry(params, 1)  # zeros: what the reset must give, whatever came before
        for t in range(int(starts[-1]), agent.config.unroll):
            obs, first = segment2.obs[t, env][None], segment2.first[t, env][None]
            carry, _, _ = net.step(params, carry, obs, first)
        for got, want in zip(jax.tree.leaves(carry), jax.tree.leaves(state2.carry)):
            np.testing.assert_allclose(got[0], want[env], atol=EXACT)
    # the segment's start carry is the carry the previous segment ended with
    for got, want in zip(jax.tree.leaves(segment2.start_carry), jax.tree.leaves(state1.carry)):
        np.testing.assert_array_equal(got, want)


def test_segment_records_the_episodes(two_segments):
    agent, _, (_, segment1), (state2, segment2) = two_segments
    # MemoryChain length 2: episodes of 3 steps, terminated with reward ±1 at the last
    np.testing.assert_array_equal(segment1.done, segment1.terminated)
    assert not bool(segment1.truncated.any())
    np.testing.assert_array_equal(np.abs(segment1.reward), segment1.done.astype(float))
    np.testing.assert_array_equal(segment1.episode_return, segment1.reward * segment1.done)
    np.testing.assert_array_equal(segment1.episode_length, 3 * segment1.done)
    np.testing.assert_array_equal(segment2.first[0], segment1.done[-1])
    np.testing.assert_array_equal(segment1.last_obs, segment2.obs[0])
    assert int(state2.env_steps) == 2 * agent.config.unroll * agent.config.num_envs


def test_iteration_metrics_and_update():
    agent = make_agent(tiny(total_updates=4), chain())
    state = agent.init(jax.random.PRNGKey(0))
    new, metrics = agent.iteration(state)
    assert int(new.iteration) == 1
    assert float(metrics["importance_ratio"]) == pytest.approx(1.0, abs=1e-12)  # lag 0: μ = π
    assert float(metrics["learning_rate"]) == pytest.approx(6e-4)
    assert float(metrics["grad_norm"]) > 0
    changed = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(new.params), jax.tree.leaves(state.params))]
    assert all(changed)
    _, metrics = agent.iteration(new)
    assert float(metrics["learning_rate"]) == pytest.approx(6e-4 * 3 / 4)  # linear decay over total_updates
    for name in ("episodes", "episode_return", "episode_length", "env_steps", "total_loss", "policy_loss",
                 "baseline_loss", "entropy", "explained_variance", "clipped_rho", "value"):
        assert np.isfinite(float(metrics[name])), name


def test_update_is_clipped_rmsprop_as_pytorch(two_segments):
    """One update = global-norm clipping, then PyTorch's RMSprop from ν = 0 (ε outside the root):
    ν = (1 − α)·g², θ ← θ − lr·g / (√ν + ε), written out here."""
    agent, state0, _, (state2, segment) = two_segments
    cfg = tiny(max_grad_norm=1e-3, learning_rate=0.1)  # a clip that binds, a visible step
    agent = make_agent(cfg, chain())
    params = state0.params
    state = state2._replace(opt_state=agent.init(jax.random.PRNGKey(3)).opt_state)
    new, metrics = agent.learn(state, segment)
    grads = agent._gradient(params, segment)[0]
    norm = np.sqrt(sum(float(np.sum(np.square(g))) for g in jax.tree.leaves(grads)))
    assert norm > cfg.max_grad_norm and float(metrics["grad_norm"]) == pytest.approx(norm)
    for p, g, got in zip(jax.tree.leaves(params), jax.tree.leaves(grads), jax.tree.leaves(new.params)):
        g = np.asarray(g) * cfg.max_grad_norm / norm
        nu = (1 - cfg.rmsprop_decay) * g**2
        np.testing.assert_allclose(got, p - cfg.learning_rate * g / (np.sqrt(nu) + cfg.rmsprop_eps), atol=1e-12)


def test_lag_acts_with_the_parameters_of_lag_updates_ago():
    agent = make_agent(tiny(lag=2), chain())
    states = [agent.init(jax.random.PRNGKey(1))]
    metrics = []
    for _ in range(4):
        state, m = agent.iteration(states[-1])
        states.append(state)
        metrics.append(m)

    def same(a, b):
        return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))

    # after k updates the actors use θ_{max(k − 2, 0)}
    for k, state in enumerate(states):
        assert same(agent.behaviour_params(state), states[max(k - 2, 0)].params), k
    assert float(metrics[0]["importance_ratio"]) == pytest.approx(1.0, abs=1e-12)
    assert abs(float(metrics[3]["importance_ratio"]) - 1.0) > 1e-9  # stale actors: π ≠ μ, V-trace corrects
    # the behaviour log-probabilities are those of the stale parameters
    _, segment = agent.act(states[3])
    fwd = forward(agent.network, states[1].params, segment)
    np.testing.assert_allclose(fwd.log_prob, segment.behaviour_log_prob, atol=EXACT)


def test_iteration_vmaps_over_seeds_and_reports_memory():
    agent = make_agent(tiny(gradient="tbptt", dtype="float32"), chain())
    states = jax.vmap(agent.init)(jax.random.split(jax.random.PRNGKey(0), 2))
    states, metrics = jax.jit(jax.vmap(agent.iteration))(states)
    assert metrics["total_loss"].shape == (2,)
    assert not np.array_equal(*np.asarray(states.params["actor_out"]["kernel"]))
    parts = agent.memory_parts()
    assert set(parts) == {"segment", "carry", "parameters", "backprop"} and all(v > 0 for v in parts.values())
    assert agent.rollout_bytes() == parts["segment"]
    assert agent.parameter_count().recurrent > 0
    assert isinstance(agent, R2ACAgent) and agent.jax_native and not agent.reuses_buffer


# --------------------------------------------------------------------------------------------
# Learning
# --------------------------------------------------------------------------------------------


def mean_returns(agent: R2ACAgent, iterations: int, seed: int = 0) -> np.ndarray:
    """Mean finished-episode return in each fifth of ``iterations`` iterations (one jitted scan)."""

    def run(state):
        return jax.lax.scan(lambda s, _: agent._iteration(s), state, None, length=iterations)[1]

    metrics = jax.jit(run)(agent.init(jax.random.PRNGKey(seed)))
    ret, eps = (np.asarray(metrics[k]).reshape(5, -1) for k in ("episode_return", "episodes"))
    return (ret * eps).sum(1) / np.maximum(eps.sum(1), 1)


LEARNING = {"num_envs": 16, "unroll": 5, "hidden_size": 16, "head": (32,), "learning_rate": 3e-3,
            "dtype": "float32"}


def test_rtrl_learns_a_short_memory_chain():
    """MemoryChain length 2: a memoryless policy scores 0; R2AC-RTRL reaches ≈1 within 300 updates
    (24k steps; measured 0.99 in the last fifth, ≈5 s with compilation)."""
    returns = mean_returns(make_agent(R2ACConfig(**LEARNING), chain(2)), 300)
    assert returns[-1] > 0.8, returns


@pytest.mark.slow
def test_feed_forward_cannot_learn_the_memory_chain():
    """The same budget for a feed-forward R2AC: it stays near 0 (measured |mean| < 0.05)."""
    returns = mean_returns(make_agent(R2ACConfig(**LEARNING, gradient="none"), chain(2)), 300)
    assert abs(returns[-1]) < 0.3, returns


@pytest.mark.parametrize("cell", ["elstm", "rtu-linear"])
def test_lag_0_actors_step_without_traces_and_the_learner_hands_them_on(cell):
    """At lag 0 with RTRL the actors step the cell's state alone and the learner's recomputed carry
    (traces included) starts the next segment: the same parameters, carries and metrics as actors that
    carry the traces themselves, over iterations whose episodes begin in earlier segments (`chain`)."""
    config = tiny(cell=cell, dtype="float64")
    agent = make_agent(config, chain())
    assert agent.learner_carries_traces

    @jax.jit
    def traced_iteration(state):  # the plain order: actors carrying traces, then the learner
        state, segment = agent._act(state)
        return agent._learn(state, segment)

    lean = traced = agent.init(jax.random.PRNGKey(3))
    for _ in range(4):
        lean, lean_metrics = agent.iteration(lean)
        traced, traced_metrics = traced_iteration(traced)
    assert jax.tree.structure(lean) == jax.tree.structure(traced)
    for a, b in zip(jax.tree.leaves((lean, lean_metrics)), jax.tree.leaves((traced, traced_metrics))):
        if jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        else:
            np.testing.assert_array_equal(a, b)
    assert float(jnp.abs(jax.tree.leaves(lean.carry.traces)[0]).max()) > 0  # the traces are there, not zeros
