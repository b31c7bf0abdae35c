"""Wrappers on both back-ends: hand-computed values, and the JAX and host versions agree exactly."""

import gymnasium as gym
import jax
import numpy as np
import popgym.envs
import pytest
from _envs_testing import GymCountdown, JaxCountdown, host_rollout, jax_rollout

import rtrl.envs as E
from rtrl.envs import wrappers as W

KEY = jax.random.PRNGKey(0)
T = 7


def _pair(wrap, continuous=False, length=3, num_envs=2):
    jenv = wrap(E.VmapEnv(JaxCountdown(length=length, continuous=continuous), num_envs))
    henv = wrap(E.GymnasiumEnvs([lambda: GymCountdown(length=length, continuous=continuous)] * num_envs))
    return jenv, henv


def _actions(continuous=False, num_envs=2, scale=1.0):
    rng = np.random.default_rng(0)
    if continuous:
        return (scale * rng.uniform(-1, 1, (T, num_envs, 2))).astype(np.float32)
    return rng.integers(0, 3, (T, num_envs)).astype(np.int32)


def _both(wrap, continuous=False, scale=1.0):
    jenv, henv = _pair(wrap, continuous)
    actions = _actions(continuous, scale=scale)
    return jenv, henv, jax_rollout(jenv, actions, KEY), host_rollout(henv, actions), actions


def _assert_same(j, h, rtol=0.0):
    for a, b in zip(j[:4], h[:4], strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-6 if rtol else 0)
    for k in h[4]:
        np.testing.assert_allclose(j[4][k], h[4][k], rtol=rtol, atol=1e-6 if rtol else 0, err_msg=k)


def test_previous_action_and_reward():
    jenv, henv, j, h, actions = _both(W.previous_action_reward)
    _assert_same(j, h)
    assert jenv.observation_space == henv.observation_space and henv.observation_space.shape == (2 + 3 + 1,)
    obs0, obs, rew, done, info = h
    np.testing.assert_array_equal(obs0[:, 2:], 0)  # nothing before the first observation
    for t in range(T):
        expected = np.concatenate([np.eye(3)[actions[t]], rew[t][:, None]], axis=1)
        expected[done[t]] = 0  # a first observation carries no previous action/reward
        np.testing.assert_array_equal(obs[t, :, 2:], expected)
        np.testing.assert_array_equal(
            info["final_obs"][t, :, 2:], np.concatenate([np.eye(3)[actions[t]], rew[t][:, None]], 1)
        )


def test_previous_continuous_action_is_raw():
    jenv, henv, j, h, actions = _both(W.previous_action_reward, continuous=True)
    _assert_same(j, h)
    obs, done = h[1], h[3]
    np.testing.assert_array_equal(obs[~done][:, 2:4], actions[~done])


@pytest.mark.parametrize("level", ["CountRecallEasy", "ConcentrationEasy", "AutoencodeEasy"])
def test_jax_previous_action_option_equals_popgyms_wrapper(level):
    """jax/<level> with previous_action=True gives popgym's PreviousAction observation vectors."""
    from popgym.wrappers import PreviousAction

    env = PreviousAction(getattr(popgym.envs, level)())
    flat = lambda o: gym.spaces.utils.flatten(env.observation_space, o).astype(np.float32)  # noqa: E731
    o, _ = env.reset(seed=4)
    port = E.make(f"jax/{level}", previous_action=True)
    n = port.action_space.n
    inner_state, inner_obs = port.env.from_popgym(env)
    first = np.concatenate([np.asarray(inner_obs), np.eye(n, dtype=np.float32)[0]])  # null action 0
    np.testing.assert_array_equal(flat(o), first)
    actions = np.random.default_rng(1).integers(n, size=40).astype(np.int32)
    expected = np.stack([flat(env.step(int(a))[0]) for a in actions])
    _, obs, _, done, _ = jax_rollout(port, actions, KEY, state=(inner_state, first))
    assert not done.any()
    np.testing.assert_array_equal(obs, expected)
    host = E.make(f"popgym/{level}", previous_action=True)
    assert host.observation_space.shape == port.observation_space.shape
    np.testing.assert_array_equal(host.reset(seed=4)[0], first)


def test_observation_normalisation_is_per_feature():
    """Features 1 and 2 are affine in each other ([t, 1000 t + 5]): per-feature statistics make them equal.

    Pooling the statistics over features (defect 6 of the public RTU code) would not.
    """
    jenv, henv, j, h, _ = _both(W.normalize_observation)
    _assert_same(j, h, rtol=1e-5)
    obs = h[1]
    np.testing.assert_allclose(obs[..., 0], obs[..., 1], rtol=1e-3, atol=1e-3)
    # the running statistics equal numpy's over every delivered observation so far
    raw = _both(lambda e: e)[3]
    seen = np.concatenate([raw[0][None], raw[1]], axis=0).reshape(-1, 2)
    m = henv.moments
    np.testing.assert_allclose(m.mean, seen.mean(0), rtol=1e-4)
    np.testing.assert_allclose(m.var, seen.var(0), rtol=1e-3)
    assert np.isclose(m.count, seen.shape[0], atol=1e-3)


def test_observation_normalisation_can_be_frozen():
    jenv, henv, j, h, _ = _both(lambda e: W.normalize_observation(e, update=False))
    # frozen at mean 0, var 1: observations pass through (up to epsilon)
    raw = _both(lambda e: e)[3]
    np.testing.assert_allclose(h[1], raw[1], rtol=1e-6)
    np.testing.assert_allclose(j[1], raw[1], rtol=1e-6)


def test_reward_scaling():
    gamma = 0.9
    jenv, henv, j, h, actions = _both(lambda e: W.scale_reward(e, gamma=gamma))
    _assert_same(j, h, rtol=1e-5)
    raw = _both(lambda e: e)[3]
    # recompute: G_t = gamma G_{t-1} + r_t (restarting after done); r'_t = r_t / sqrt(var + eps) where
    # var is over every G so far plus the initial pseudo-sample (weight 1e-4, mean 0, variance 1)
    g, gs = np.zeros(2), []
    for t in range(T):
        g = gamma * g + raw[2][t]
        gs.extend(g)
        c = 1e-4 + len(gs)
        mean = np.sum(gs) / c
        var = (1e-4 + np.sum(np.square(gs))) / c - mean**2
        np.testing.assert_allclose(h[2][t], raw[2][t] / np.sqrt(var + 1e-8), rtol=1e-4)
        g = np.where(raw[3][t], 0.0, g)


def test_action_clipping():
    jenv, henv, j, h, actions = _both(W.clip_action, continuous=True, scale=3.0)
    _assert_same(j, h)
    raw_env = E.GymnasiumEnvs([lambda: GymCountdown(continuous=True)] * 2)
    clipped = host_rollout(raw_env, np.clip(actions, -1, 1))
    np.testing.assert_array_equal(h[2], clipped[2])
    assert henv.action_space == E.Box((2,)) == jenv.action_space
    custom = _both(lambda e: W.clip_action(e, low=-0.5, high=0.25), continuous=True, scale=3.0)
    clipped = host_rollout(raw_env, np.clip(actions, -0.5, 0.25))
    np.testing.assert_array_equal(custom[3][2], clipped[2])
    np.testing.assert_array_equal(custom[2][2], clipped[2])


def test_episode_statistics():
    jenv, henv, j, h, actions = _both(W.episode_statistics)
    _assert_same(j, h)
    rew, done, info = h[2], h[3], h[4]
    for i in range(2):
        ends = np.flatnonzero(done[:, i])
        start = 0
        for e in ends:
            assert info["episode_length"][e, i] == e - start + 1 == 3
            np.testing.assert_allclose(info["episode_return"][e, i], rew[start : e + 1, i].sum(), rtol=1e-6)
            start = e + 1
    assert np.all(info["episode_return"][:2] == 0)  # nothing finished yet


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
def test_standard_stack_is_the_same_on_both_backends(continuous):
    jenv, henv, j, h, _ = _both(W.standard, continuous=continuous, scale=2.0)
    _assert_same(j, h, rtol=1e-5)
    names = jenv.name
    assert names.startswith("PreviousActionReward(ScaleReward(NormalizeObservation(EpisodeStatistics") != continuous
    assert ("ClipAction" in names) == continuous
    assert "episode_return" in h[4]


def test_jax_wrappers_work_inside_vmap_of_a_single_env():
    """Wrapping the unbatched env, then vmapping, keeps per-env statistics; shapes follow."""
    env = E.VmapEnv(W.standard(JaxCountdown()), 3)
    obs0, obs, rew, done, info = jax_rollout(env, _actions(num_envs=3), KEY)
    assert obs0.shape == (3, 2 + 3 + 1) and obs.shape == (T, 3, 6) and info["episode_return"].shape == (T, 3)
    assert obs.dtype == np.float32 and rew.dtype == np.float32


def test_wrapping_something_else_is_a_type_error():
    with pytest.raises(TypeError, match="wraps an rtrl JaxEnv or HostEnv"):
        W.normalize_observation(GymCountdown())
    with pytest.raises(TypeError, match="continuous \\(Box\\) action spaces"):
        W.clip_action(E.make("jax/CountRecallEasy"))
    with pytest.raises(TypeError, match="continuous \\(Box\\) action spaces"):
        W.clip_action(E.make("popgym/CountRecallEasy"))
    with pytest.raises(ValueError, match="gamma must be in"):
        W.scale_reward(E.make("jax/CountRecallEasy"), gamma=1.5)
    with pytest.raises(ValueError, match="null_action must be an integer in 0..26"):
        W.previous_action_reward(E.make("jax/CountRecallEasy"), null_action=27)
