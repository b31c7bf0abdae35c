"""The actor-critic network: parameter counts, the budget helper, distributions, the factored replay."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rtrl
from rtrl import agents
from rtrl.agents.network import ActorCritic


def test_ant_p_parameter_counts_match_the_paper():
    # Ant-P: 13 position features, 8 continuous actions, linear RTU n = 192 behind Dense 64
    cell = rtrl.cells.make("rtu-linear", hidden_size=192, gradient="rtrl")
    net = ActorCritic(observation_size=13, action_size=8, discrete=False, cell=cell)
    assert agents.parameter_count(net) == (75_729, 24_960)


def test_hidden_size_for_budget():
    assert agents.hidden_size_for_budget("rtu-linear", 24_960) == 192
    n = agents.hidden_size_for_budget("gru", 24_000)
    best = agents.recurrent_parameter_count("gru", n, 64)
    for m in (n - 1, n + 1):
        assert abs(best - 24_000) <= abs(agents.recurrent_parameter_count("gru", m, 64) - 24_000)
    with pytest.raises(ValueError, match="budget"):
        agents.hidden_size_for_budget("gru", 0)


def test_memoryless_network_has_no_recurrent_parameters():
    net = ActorCritic(observation_size=4, action_size=3, discrete=True, cell=None)
    params = net.init(jax.random.PRNGKey(0))
    assert agents.parameter_count(net, params).recurrent == 0
    carry, policy, value = net.step(params, (), jnp.ones((5, 4)), jnp.zeros(5, bool))
    assert carry == () and policy.logits.shape == (5, 3) and value.shape == (5,)


def test_initialisation_scales():
    net = ActorCritic(observation_size=4, action_size=3, discrete=False, cell=None)
    p = net.init(jax.random.PRNGKey(0))
    k = p["actor_out"]["kernel"]  # orthogonal with gain 0.01: columns of norm 0.01
    np.testing.assert_allclose(jnp.linalg.norm(k, axis=0), 0.01, rtol=1e-4)
    np.testing.assert_allclose(jnp.linalg.norm(p["critic_out"]["kernel"], axis=0), 1.0, rtol=1e-4)
    np.testing.assert_array_equal(p["log_std"], 0.0)


def test_distributions_against_closed_forms():
    logits = jnp.array([[0.0, 1.0, 2.0]])
    c = agents.Categorical(logits)
    probs = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()
    np.testing.assert_allclose(c.log_prob(jnp.array([2])), np.log(probs[2]), rtol=1e-6)
    np.testing.assert_allclose(c.entropy(), -(probs * np.log(probs)).sum(), rtol=1e-6)
    g = agents.DiagGaussian(jnp.array([[0.5, -1.0]]), jnp.array([0.0, math.log(2.0)]))
    a = jnp.array([[1.0, 0.0]])
    ref = (-0.5 * 0.5**2 - 0.5 * math.log(2 * math.pi)) + (-0.5 * 0.5**2 - math.log(2) - 0.5 * math.log(2 * math.pi))
    np.testing.assert_allclose(g.log_prob(a), ref, rtol=1e-6)
    np.testing.assert_allclose(g.entropy(), 2 * 0.5 * (1 + math.log(2 * math.pi)) + math.log(2), rtol=1e-6)
    s = agents.DiagGaussian(jnp.zeros((4000, 2)), jnp.array([0.0, math.log(2.0)])).sample(jax.random.PRNGKey(0))
    np.testing.assert_allclose(s.std(axis=0), [1.0, 2.0], rtol=0.06)


def test_distribution_modes_are_the_most_probable_actions():
    logits = jnp.array([[0.0, 3.0, 2.0], [5.0, -1.0, 5.0]])  # second row: a tie goes to the first index
    mode = agents.Categorical(logits).mode()
    assert mode.dtype == jnp.int32
    np.testing.assert_array_equal(mode, [1, 0])
    mean = jnp.array([[0.5, -1.0], [2.0, 0.25]])
    g = agents.DiagGaussian(mean, jnp.array([0.0, math.log(2.0)]))
    np.testing.assert_array_equal(g.mode(), mean)
    # the mode maximises the log-density: any other action is less probable
    assert bool(jnp.all(g.log_prob(g.mode()) > g.log_prob(g.mode() + 0.1)))
