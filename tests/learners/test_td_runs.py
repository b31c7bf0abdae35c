"""Running the TD(λ) learners: chunking, seeds under vmap, determinism, resets, learning, jit hygiene."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from td_helpers import random_stream

from rtrl.learners import TDConfig, TDLambdaState, make_learner

OBS = 3
STEPS, CHUNK = 30, 10  # one stream length and one chunk length throughout: each learner compiles twice
CONFIGS = {
    "rtrl": TDConfig(cell="rtu-linear", hidden_size=4, learner="rtrl", step_size=1e-2),
    "tbptt": TDConfig(cell="gru", hidden_size=4, learner="tbptt", truncation=3, step_size=1e-2),
}


def _assert_trees_close(a, b, rtol=1e-6, atol=1e-7):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=atol), a, b)


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def learner(request):
    return make_learner(CONFIGS[request.param], OBS)


def test_chunks_equal_one_call(learner):
    observations = random_stream(jax.random.PRNGKey(0), STEPS, OBS)
    state = learner.init(jax.random.PRNGKey(1))
    whole, v_whole = learner.run(state, observations)
    chunked, parts = state, []
    for lo in range(0, STEPS, CHUNK):
        chunked, v = learner.run(chunked, observations[lo:lo + CHUNK])
        parts.append(v)
    np.testing.assert_allclose(jnp.concatenate(parts), v_whole, rtol=1e-6, atol=1e-7)
    _assert_trees_close(chunked, whole)
    assert int(whole.step) == STEPS


def test_vmap_over_seeds_equals_separate_runs(learner):
    keys = jax.random.split(jax.random.PRNGKey(2), 3)
    observations = jax.vmap(lambda k: random_stream(k, STEPS, OBS))(keys)
    states = jax.vmap(learner.init)(keys)
    final, predictions = jax.vmap(learner.run)(states, observations)
    assert predictions.shape == (3, STEPS)
    for i in range(3):
        one, v = learner.run(learner.init(keys[i]), observations[i])
        np.testing.assert_allclose(predictions[i], v, rtol=1e-5, atol=1e-6)
        _assert_trees_close(jax.tree.map(lambda a, i=i: a[i], final), one, rtol=1e-5, atol=1e-6)


def test_same_seed_same_numbers(learner):
    observations = random_stream(jax.random.PRNGKey(3), STEPS, OBS)
    first = learner.run(learner.init(jax.random.PRNGKey(4)), observations)
    again = learner.run(learner.init(jax.random.PRNGKey(4)), observations)
    jax.tree.map(np.testing.assert_array_equal, first, again)
    other = learner.run(learner.init(jax.random.PRNGKey(5)), observations)
    assert not np.allclose(other[1], first[1])


def test_state_shapes_dtypes_and_no_recompile(learner):
    state = learner.init(jax.random.PRNGKey(0))
    assert isinstance(state, TDLambdaState)
    observations = random_stream(jax.random.PRNGKey(6), STEPS, OBS)
    state, v = learner.run(state, observations)
    assert v.shape == (STEPS,) and v.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(v)))
    assert state.v_tm1.dtype == jnp.float32 and state.step.dtype == jnp.int32
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(state.params))
    before = learner._run._cache_size()
    learner.run(state, observations + 1.0)
    assert learner._run._cache_size() == before


def test_a_reset_starts_a_new_stream(learner):
    """After a reset at step k, memory and z are those of a fresh stream starting at o_k, and the
    last prediction before the reset gets no update (θ after step k = θ after step k−1)."""
    observations = random_stream(jax.random.PRNGKey(7), 2 * CHUNK, OBS)
    state = learner.init(jax.random.PRNGKey(8))
    before, _ = learner.run(state, observations[:CHUNK])
    resets = jnp.zeros(CHUNK, bool).at[0].set(True)
    after, v_after = learner.run(before, observations[CHUNK:], resets)
    fresh = before._replace(memory=state.memory, eligibility=state.eligibility, step=jnp.zeros((), jnp.int32))
    fresh_after, v_fresh = learner.run(fresh, observations[CHUNK:])
    np.testing.assert_allclose(v_after, v_fresh, rtol=1e-6, atol=1e-7)
    _assert_trees_close(after._replace(step=fresh_after.step), fresh_after)


def _periodic_stream(steps: int, gamma: float, period: int = 10, isi: int = 5):
    """A cue (CS) every ``period`` steps and the cumulant (US) ``isi`` steps after it, with the return
    G_t = Σ_k γ^k c_{t+1+k} of each step (computed on a longer stream, so the tail is exact)."""
    t = jnp.arange(steps + 40 * period)
    us = (t % period == isi).astype(jnp.float32)
    cs = (t % period == 0).astype(jnp.float32)
    observations = jnp.stack([us, cs, jnp.zeros_like(us)], axis=1)

    def back(g_next, c_next):
        g = c_next + gamma * g_next
        return g, g

    _, g_from = jax.lax.scan(back, jnp.zeros(()), us[::-1])  # g_from[::-1][t] = c_t + γ G_t
    returns = jnp.concatenate([g_from[::-1][1:], jnp.zeros(1)])
    return observations[:steps], returns[:steps]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_learns_a_periodic_stream(name):
    steps, gamma, tail = 2000, 0.9, slice(1500, 2000)
    # T-BPTT needs a window longer than the cue-to-cumulant gap (5 steps) to learn this stream.
    config = dataclasses.replace(CONFIGS[name], hidden_size=8, gamma=gamma, lambda_=0.9,
                                 step_size=3e-3 if name == "rtrl" else 1e-2,
                                 truncation=8 if name == "tbptt" else None)
    learner = make_learner(config, OBS)
    observations, returns = _periodic_stream(steps, gamma)
    _, v = learner.run(learner.init(jax.random.PRNGKey(0)), observations)
    error = float(jnp.mean((v[tail] - returns[tail]) ** 2))
    zero = float(jnp.mean(returns[tail] ** 2))
    best_constant = float(jnp.var(returns[tail]))
    assert error < 0.05 * zero and error < 0.3 * best_constant, (error, zero, best_constant)
