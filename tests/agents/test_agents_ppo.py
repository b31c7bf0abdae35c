"""The shared PPO pieces (rtrl.agents.ppo): GAE by hand, the clipped losses, minibatching."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtrl.agents import ppo


def test_gae_matches_hand_computation_with_termination_and_truncation():
    # T = 4, one env: terminated at t=1, truncated at t=2 (bootstrap from V(final_obs) = 5.0)
    reward = jnp.array([[1.0], [2.0], [3.0], [4.0]])
    value = jnp.array([[0.5], [0.6], [0.7], [0.8]])
    last_value = jnp.array([0.9])
    terminated = jnp.array([[False], [True], [False], [False]])
    truncated = jnp.array([[False], [False], [True], [False]])
    trunc_value = jnp.array([[0.0], [0.0], [5.0], [0.0]])
    done = terminated | truncated
    v_next = ppo.next_values(value, last_value, trunc_value, terminated, truncated)
    np.testing.assert_allclose(v_next[:, 0], [0.6, 0.0, 5.0, 0.9])
    adv, ret = ppo.gae(reward, value, v_next, done, gamma=0.9, lambda_=0.8)
    # δ = r + γ v' − v:  1.04, 1.4, 6.8, 4.01;  A3 = δ3; A2 = δ2 (done); A1 = δ1 (done); A0 = δ0 + γλ·A1
    expected = np.array([1.04 + 0.72 * 1.4, 1.4, 6.8, 4.01])
    np.testing.assert_allclose(adv[:, 0], expected, rtol=1e-12)
    np.testing.assert_allclose(ret[:, 0], expected + value[:, 0], rtol=1e-12)


def test_gae_equals_python_loop_over_many_envs():
    k = jax.random.split(jax.random.PRNGKey(0), 4)
    t, e = 13, 3
    reward = jax.random.normal(k[0], (t, e))
    value = jax.random.normal(k[1], (t, e))
    v_next = jax.random.normal(k[2], (t, e))
    done = jax.random.bernoulli(k[3], 0.3, (t, e))
    adv, _ = ppo.gae(reward, value, v_next, done, gamma=0.97, lambda_=0.9)
    ref = np.zeros((t, e))
    a = np.zeros(e)
    for i in reversed(range(t)):
        delta = np.asarray(reward[i] + 0.97 * v_next[i] - value[i])
        a = delta + 0.97 * 0.9 * (1 - np.asarray(done[i])) * a
        ref[i] = a
    np.testing.assert_allclose(adv, ref, rtol=1e-10)


def _loss(**kw):
    base = dict(clip_eps=0.2, value_coef=0.5, entropy_coef=0.0, clip_value=True, normalize_advantage=False)
    base.update(kw)
    return ppo.ppo_loss(**base)


def test_policy_loss_clipping():
    old = jnp.zeros(2)
    new = jnp.log(jnp.array([1.5, 1.5]))  # ratio 1.5
    adv = jnp.array([1.0, -1.0])
    _, info = _loss(log_prob=new, entropy=jnp.zeros(2), value=jnp.zeros(2), old_log_prob=old, old_value=jnp.zeros(2),
                    advantage=adv, target=jnp.zeros(2))
    # A > 0: min(1.5, 1.2)·1 = 1.2; A < 0: min(−1.5, −1.2) = −1.5  → loss = −(1.2 − 1.5)/2
    np.testing.assert_allclose(info.policy, -(1.2 - 1.5) / 2, rtol=1e-6)
    np.testing.assert_allclose(info.clip_fraction, 1.0)
    assert info.approx_kl > 0


def test_unchanged_policy_gives_zero_kl_and_minus_mean_advantage():
    adv = jnp.array([1.0, 2.0, -0.5])
    lp = jnp.array([-1.0, -2.0, -0.3])
    _, info = _loss(log_prob=lp, entropy=jnp.ones(3), value=jnp.zeros(3), old_log_prob=lp, old_value=jnp.zeros(3),
                    advantage=adv, target=jnp.zeros(3))
    np.testing.assert_allclose(info.policy, -adv.mean(), rtol=1e-6)
    assert info.approx_kl == 0 and info.clip_fraction == 0
    _, info = _loss(log_prob=lp, entropy=jnp.ones(3), value=jnp.zeros(3), old_log_prob=lp, old_value=jnp.zeros(3),
                    advantage=adv, target=jnp.zeros(3), normalize_advantage=True)
    np.testing.assert_allclose(info.policy, 0.0, atol=1e-6)  # normalised advantages have mean 0


def test_value_loss_clipped_and_entropy_bonus():
    kw = dict(log_prob=jnp.zeros(1), entropy=jnp.array([2.0]), value=jnp.array([1.0]), old_log_prob=jnp.zeros(1),
              old_value=jnp.array([0.0]), advantage=jnp.zeros(1), target=jnp.array([1.0]))
    total, info = _loss(**kw)
    np.testing.assert_allclose(info.value, 0.5 * 0.8**2, rtol=1e-6)  # clipped V = 0.2: max(0, 0.64)
    _, info = _loss(**kw, clip_value=False)
    np.testing.assert_allclose(info.value, 0.0)
    total, _ = _loss(**kw, clip_value=False, entropy_coef=0.1)
    np.testing.assert_allclose(total, -0.2, rtol=1e-6)


def test_minibatch_indices_partition_the_rollout():
    idx = ppo.minibatch_indices(jax.random.PRNGKey(1), 24, 4)
    assert idx.shape == (4, 6)
    assert sorted(np.asarray(idx).reshape(-1).tolist()) == list(range(24))


def test_explained_variance():
    y = jnp.array([1.0, 2.0, 3.0])
    assert float(ppo.explained_variance(y, y)) == pytest.approx(1.0)
    assert float(ppo.explained_variance(jnp.zeros(3), jnp.ones(3))) == 0.0
