"""Real-Time PPO: stored carries are aligned (carry BEFORE each step; rtu.md defect 3), the fresh
refresh reproduces them, resets clear state and traces together, and the single-step RTRL gradient
from stored carries equals BPTT through the rollout with frozen parameters (float64)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rtrl
from rtrl import agents
from rtrl.agents import ppo
from rtrl.agents.agent import Agent
from rtrl.agents.real_time_ppo import flat_batch, loss, refresh
from rtrl.cells.base import Carry


def _config(**kw):
    base = dict(agent="real-time-ppo", cell="rtu-nonlinear", hidden_size=6, encoder=(8,), head=(8,), num_envs=2,
                num_steps=64, update_epochs=2, num_minibatches=4, dtype="float64")
    base.update(kw)
    return agents.PPOConfig(**base)


@pytest.fixture(scope="module")
def rolled():
    """A float64 agent and one rollout on CountRecallEasy (51-step episodes: resets inside)."""
    agent = agents.make(_config(), rtrl.envs.make("jax/CountRecallEasy"))
    state0 = agent.init(jax.random.PRNGKey(0))
    state, ro = agent.rollout(state0)
    assert bool(ro.first[1:].any()), "the rollout should cross an episode boundary"
    return agent, state, ro


def _flat(x):
    return x.reshape((-1,) + x.shape[2:])


def test_stale_replay_reproduces_the_rollout_and_a_shift_would_not(rolled):
    agent, state, ro = rolled
    net, params = agent.network, state.params
    carry = jax.tree.map(_flat, ro.carry)
    policy, value = net.replay(params, carry, _flat(ro.obs), _flat(ro.first))
    np.testing.assert_allclose(policy.log_prob(_flat(ro.action)), _flat(ro.log_prob), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(value, _flat(ro.value), rtol=1e-10, atol=1e-12)
    # the carry AFTER step t (what the public code stores) gives different values
    shifted = jax.tree.map(lambda x: _flat(x[1:]), ro.carry)
    _, v_shift = net.replay(params, shifted, _flat(ro.obs[:-1]), _flat(ro.first[:-1]))
    assert float(jnp.max(jnp.abs(v_shift - _flat(ro.value[:-1])))) > 1e-4


def test_fresh_refresh_with_unchanged_parameters_equals_the_stored_carries(rolled):
    agent, state, ro = rolled
    carries, values, last_value = refresh(agent.network, state.params, ro, state.obs, state.first)
    for a, b in zip(jax.tree.leaves(carries), jax.tree.leaves(ro.carry)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(values, ro.value)
    np.testing.assert_allclose(last_value, agent.network.value_only(state.params, state.carry, state.obs,
                                                                    state.first), rtol=1e-12)
    # and the refreshed rows are not off by one
    h, h_stored = carries.state[0], ro.carry.state[0]
    assert not np.allclose(h[1:], h_stored[:-1])


@pytest.mark.parametrize("gradient,target", [("fresh", "stale"), ("stale", "fresh")])
def test_fresh_variants_with_zero_learning_rate_equal_stale(rolled, gradient, target):
    """With frozen parameters a refreshed carry/target must equal the stored one, so every metric matches."""
    agent, state, ro = rolled
    frozen = {}
    for g, t in (("stale", "stale"), (gradient, target)):
        cfg = _config(gradient=g, target=t)
        a = Agent(cfg, agent.env, agent.network, optax.set_to_zero())
        s = state._replace(opt_state=a.optimizer.init(state.params))
        frozen[(g, t)] = a.update(s, ro)[1]
    ref, got = frozen[("stale", "stale")], frozen[(gradient, target)]
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-9, atol=1e-12, err_msg=k)


def test_reset_rows_ignore_the_stored_carry(rolled):
    agent, state, ro = rolled
    net = agent.network
    carry = jax.tree.map(_flat, ro.carry)
    first = _flat(ro.first)
    garbage = jax.tree.map(lambda x: x + 7.0 * jnp.ones_like(x), carry)
    p1, v1 = net.replay(state.params, carry, _flat(ro.obs), first)
    p2, v2 = net.replay(state.params, garbage, _flat(ro.obs), first)
    rows = np.asarray(first)
    assert rows.any()
    np.testing.assert_array_equal(v1[rows], v2[rows])
    assert not np.allclose(v1[~rows], v2[~rows])
    # the traces are cleared with the state: gradients on reset rows do not see stored traces
    sub = lambda c: jax.tree.map(lambda x: x[rows], c)  # noqa: E731

    def g(c):
        return jax.grad(lambda p: jnp.sum(net.replay(p, sub(c), _flat(ro.obs)[rows], first[rows])[1]))(state.params)

    for a, b in zip(jax.tree.leaves(g(carry)), jax.tree.leaves(g(garbage))):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cell", ["rtu-linear", "rtu-nonlinear"])
def test_single_step_rtrl_gradient_equals_bptt_with_frozen_parameters(cell):
    agent = agents.make(_config(cell=cell, num_minibatches=1), rtrl.envs.make("jax/CountRecallEasy"))
    state, ro = agent.rollout(agent.init(jax.random.PRNGKey(1)))
    assert bool(ro.first[1:].any())
    net, cfg, params = agent.network, agent.config, state.params
    k1, k2 = jax.random.split(jax.random.PRNGKey(2))
    adv = jax.random.normal(k1, ro.value.shape, jnp.float64)
    tgt = jax.random.normal(k2, ro.value.shape, jnp.float64)
    g_rtrl = jax.grad(lambda p: loss(net, cfg, p, flat_batch(ro, ro.carry, ro.value, adv, tgt))[0])(params)

    bptt = net.with_gradient("bptt")
    c0 = Carry(jax.tree.map(lambda x: x[0], ro.carry.state), ())

    def reference(p, stop):
        def step(c, xs):
            obs, first = xs
            c = jax.lax.stop_gradient(c) if stop else c
            c, policy, value = bptt.step(p, c, obs, first)
            return c, (policy.logits, value)

        _, (logits, value) = jax.lax.scan(step, c0, (ro.obs, ro.first))
        log_prob = agents.Categorical(logits).log_prob(ro.action)
        entropy = agents.Categorical(logits).entropy()
        return ppo.ppo_loss(log_prob, entropy, value, old_log_prob=ro.log_prob, old_value=ro.value, advantage=adv,
                            target=tgt, clip_eps=cfg.clip_eps, value_coef=cfg.value_coef,
                            entropy_coef=cfg.entropy_coef, clip_value=cfg.clip_value,
                            normalize_advantage=cfg.normalize_advantage)[0]

    g_full = jax.grad(reference)(params, False)
    g_trunc = jax.grad(reference)(params, True)
    for name in ("cell", "actor", "actor_out", "critic", "critic_out"):
        for a, b in zip(jax.tree.leaves(g_rtrl[name]), jax.tree.leaves(g_full[name])):
            np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-13, err_msg=name)
    assert max(float(jnp.abs(x).max()) for x in jax.tree.leaves(g_rtrl["cell"])) > 1e-6
    # the encoder below the RTRL layer gets the immediate gradient: BPTT with the carried state held constant
    for a, b in zip(jax.tree.leaves(g_rtrl["encoder"]), jax.tree.leaves(g_trunc["encoder"])):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-13)
