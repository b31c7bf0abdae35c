"""The agents against independent references: what each rollout stores, the truncation bootstrap on
both back-ends, and Real-Time PPO's fresh gradient / fresh target against an update written by hand
from `ActorCritic.step` with a non-zero learning rate (a zero one cannot see an update)."""

import dataclasses
import functools

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from rtrl import agents
from rtrl.agents import ppo
from rtrl.agents.update import gae_targets
from rtrl.envs.host import from_gymnasium
from rtrl.envs.jax_env import JaxEnv
from rtrl.envs.spaces import Box, Discrete

LENGTH = 5  # the test envs' time limit: episodes are truncated after 5 steps


def _obs(t):
    return jnp.stack([jnp.sin(0.7 * t + 0.3), jnp.cos(1.3 * t), 0.1 * t]).astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class TimeLimited(JaxEnv):
    """Observation (sin(0.7t + 0.3), cos(1.3t), 0.1t), reward a − 1 for action a ∈ {0, 1, 2}; never
    terminates, truncated after LENGTH steps (so V(final_obs) must be bootstrapped)."""

    @property
    def observation_space(self):
        return Box((3,))

    @property
    def action_space(self):
        return Discrete(3)

    def reset_env(self, key):
        return jnp.zeros((), jnp.int32), _obs(0)

    def step_env(self, t, action, key):
        t = t + 1
        return t, _obs(t), jnp.asarray(action, jnp.float32) - 1.0, jnp.asarray(False), t >= LENGTH


class GymTimeLimited(gym.Env):
    """The same dynamics as a gymnasium env, truncated by gymnasium's TimeLimit wrapper."""

    metadata: dict = {"render_modes": []}

    def __init__(self):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.action_space = gym.spaces.Discrete(3)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.asarray(_obs(0)), {}

    def step(self, action):
        self.t += 1
        return np.asarray(_obs(self.t)), float(action) - 1.0, False, False, {}


def _host_env(num_envs):
    return from_gymnasium(lambda: gym.wrappers.TimeLimit(GymTimeLimited(), LENGTH), num_envs)


def _config(**kw):
    base = dict(agent="real-time-ppo", cell="rtu-nonlinear", hidden_size=4, encoder=(8,), head=(8,), num_envs=2,
                num_steps=12, update_epochs=2, num_minibatches=1, learning_rate=3e-2, dtype="float64")
    base.update(kw)
    return agents.PPOConfig(**base)


def _make(backend, config):
    env = TimeLimited() if backend == "jax" else _host_env(config.num_envs)
    return agents.make(config, env)


def _stack(rows):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *rows)


@functools.cache
def _jit_step(net):
    return jax.jit(net.step)


def _loop(net, params, carry, obs, first):
    """A Python loop over `ActorCritic.step`: (carries before each step (T, E, ...), values (T, E), carry after)."""
    step = _jit_step(net)
    rows, values = [], []
    for t in range(obs.shape[0]):
        rows.append(carry)
        carry, _, value = step(params, carry, obs[t], first[t])
        values.append(value)
    return _stack(rows), jnp.stack(values), carry


def _gae_reference(config, ro, values, last_value):
    """GAE written out step by step (numpy), bootstrapping a truncated step from V(final_obs)."""
    reward, values, last_value = np.asarray(ro.reward), np.asarray(values), np.asarray(last_value)
    bootstrap, truncated = np.asarray(ro.truncation_value), np.asarray(ro.truncated)
    terminated, done = np.asarray(ro.terminated), np.asarray(ro.done)
    steps = reward.shape[0]
    advantage, running = np.zeros_like(values), np.zeros_like(last_value)
    for t in reversed(range(steps)):
        v_next = values[t + 1] if t + 1 < steps else last_value
        v_next = np.where(truncated[t], bootstrap[t], v_next)
        v_next = np.where(terminated[t], 0.0, v_next)
        delta = reward[t] + config.gamma * v_next - values[t]
        running = delta + config.gamma * config.gae_lambda * (1.0 - done[t]) * running
        advantage[t] = running
    return advantage, advantage + values


# --------------------------------------------------------------------------------------------
# what a rollout stores
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["jax", "host"])
def test_rollout_stores_the_carry_before_each_step(backend):
    """Row t of the stored carries is carry_{t-1}, the one step t consumed: a loop over `step` from the
    run's carry reproduces every row, the values and the carry after the rollout."""
    agent = _make(backend, _config())
    state0 = agent.init(jax.random.PRNGKey(0))
    state0, _ = agent.rollout(state0)  # start the checked rollout from non-zero carries
    state, ro = agent.rollout(state0)
    carries, values, after = _loop(agent.network, state0.params, state0.carry, ro.obs, ro.first)
    for stored, ref in zip(jax.tree.leaves(ro.carry), jax.tree.leaves(carries)):
        np.testing.assert_allclose(stored, ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ro.value, values, rtol=1e-9, atol=1e-12)
    for a, b in zip(jax.tree.leaves(state.carry), jax.tree.leaves(after)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------------
# the truncation bootstrap
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["jax", "host"])
def test_truncated_steps_bootstrap_from_the_value_of_the_final_observation(backend):
    """Where a time limit cuts an episode at step t, the rollout stores V(final_obs_t) from the carry
    after step t, and the update's GAE targets use it (against GAE written out by hand)."""
    config = _config()
    agent = _make(backend, config)
    state0 = agent.init(jax.random.PRNGKey(1))
    state, ro = agent.rollout(state0)
    truncated = np.asarray(ro.truncated)
    assert truncated.sum() >= 2 and not np.asarray(ro.terminated).any()
    net, params = agent.network, state0.params
    _, _, after = _loop(net, params, state0.carry, ro.obs, ro.first)
    steps = truncated.shape[0]
    for t, e in zip(*np.nonzero(truncated)):
        carry_after_t = jax.tree.map(lambda x: x[t + 1], ro.carry) if t + 1 < steps else after
        carry_e = jax.tree.map(lambda x: x[e:e + 1], carry_after_t)
        final_obs = _obs(LENGTH)[None]  # the observation the time limit cut off
        expected = net.value_only(params, carry_e, final_obs, jnp.zeros(1, bool))[0]
        assert abs(float(expected)) > 1e-3
        # (a host rollout keeps its env-side arrays in float32)
        np.testing.assert_allclose(ro.truncation_value[t, e], expected, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(ro.truncation_value)[~truncated], 0.0)
    # the GAE targets of the update bootstrap from it
    last_value = net.value_only(params, state.carry, state.obs, state.first)
    advantage, target = gae_targets(config, ro, ro.value, last_value)
    ref_advantage, ref_target = _gae_reference(config, ro, ro.value, last_value)
    np.testing.assert_allclose(advantage, ref_advantage, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(target, ref_target, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Real-Time PPO's fresh gradient and fresh target against a reference update
# --------------------------------------------------------------------------------------------


def _reference_update(agent, state, ro, gradient, target):
    """``update_epochs`` full-batch Adam steps written out from `ActorCritic.step`: before every epoch
    after the first, a fresh gradient re-runs the rollout from its first stored carry with the current
    parameters; a fresh target recomputes the values, advantages and targets with them."""
    net, config, optimizer = agent.network, agent.config, agent.optimizer
    assert config.num_minibatches == 1
    step = _jit_step(net)
    params, opt_state = state.params, state.opt_state
    steps = ro.first.shape[0]
    carries, anchor = ro.carry, ro.value
    last_value = step(params, state.carry, state.obs, state.first)[2]
    advantage, returns = _gae_reference(config, ro, ro.value, last_value)
    flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731

    @jax.jit
    @jax.grad
    def grad(p, carries, anchor, advantage, returns):  # the full-batch PPO loss through net.step
        _, policy, value = net.step(p, jax.tree.map(flat, carries), flat(ro.obs), flat(ro.first))
        return ppo.ppo_loss(policy.log_prob(flat(ro.action)), policy.entropy(), value,
                            old_log_prob=flat(ro.log_prob), old_value=flat(anchor), advantage=flat(advantage),
                            target=flat(returns), clip_eps=config.clip_eps, value_coef=config.value_coef,
                            entropy_coef=config.entropy_coef, clip_value=config.clip_value,
                            normalize_advantage=config.normalize_advantage)[0]

    for epoch in range(config.update_epochs):
        if epoch > 0:
            if gradient == "fresh":
                first_carry = jax.tree.map(lambda x: x[0], ro.carry)
                carries, values, last_carry = _loop(net, params, first_carry, ro.obs, ro.first)
            else:
                values = jnp.stack([step(params, jax.tree.map(lambda x: x[t], ro.carry), ro.obs[t], ro.first[t])[2]
                                    for t in range(steps)])
                last_carry = state.carry
            if target == "fresh":
                last_value = step(params, last_carry, state.obs, state.first)[2]
                advantage, returns = _gae_reference(config, ro, values, last_value)
                anchor = values

        grads = grad(params, carries, anchor, jnp.asarray(advantage), jnp.asarray(returns))
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    return params


@pytest.fixture(scope="module")
def rolled():
    """A float64 Real-Time PPO rollout of 16 steps (episodes end, by truncation, inside it), run once."""
    agent = _make("jax", _config(num_steps=16))
    state, ro = agent.rollout(agent.init(jax.random.PRNGKey(2)))
    assert bool(ro.first[1:].any()) and bool(ro.truncated.any())
    return agent, state, ro


def test_stale_update_equals_the_reference_update(rolled):
    """The reference itself, checked on the plain stale/stale update (single steps from stored carries)."""
    agent, state, ro = rolled
    got = agent.update(state, ro)[0].params
    expected = _reference_update(agent, state, ro, "stale", "stale")
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("gradient,target", [("fresh", "stale"), ("stale", "fresh"), ("fresh", "fresh")])
def test_fresh_variants_equal_a_reference_update_and_differ_from_stale(rolled, gradient, target):
    stale_agent, state, ro = rolled
    agent = agents.make(dataclasses.replace(stale_agent.config, gradient=gradient, target=target), stale_agent.env)
    got = agent.update(state, ro)[0].params
    expected = _reference_update(agent, state, ro, gradient, target)
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(got), jax.tree.leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10, err_msg=jax.tree_util.keystr(path))
    # and the renewal matters: after the second epoch the parameters differ from the stale update's
    stale = _reference_update(stale_agent, state, ro, "stale", "stale")
    gap = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(stale)))
    assert gap > 1e-6
