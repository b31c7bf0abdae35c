"""Wrappers on both back-ends: hand-computed values, and the JAX and host versions agree exactly."""

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import popgym.envs
import pytest
from _envs_testing import GymCountdown, JaxCountdown, host_rollout, jax_rollout, jax_rollout_with_state

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
    with pytest.raises(ValueError, match=r"gamma must be a number in \[0, 1\], got 1.5"):
        W.scale_reward(E.make("jax/CountRecallEasy"), gamma=1.5)
    with pytest.raises(ValueError, match="null_action must be an integer in 0..26"):
        W.previous_action_reward(E.make("jax/CountRecallEasy"), null_action=27)


# --- one rule, two shells ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("wrap", "message"),
    [
        (lambda e: W.normalize_observation(e, epsilon=0.0), r"epsilon must be a positive number, got 0\.0"),
        (lambda e: W.normalize_observation(e, update="no"), r"update must be true or false, got 'no'"),
        (lambda e: W.scale_reward(e, clip=-1.0), r"clip must be a positive number \(or None\), got -1\.0"),
        (lambda e: W.previous_action_reward(e, action="yes"), r"action must be true or false, got 'yes'"),
        (lambda e: W.mask_observation(e, [0, 5]), r"keep must hold observation indices in 0..1"),
        (lambda e: W.standard(e, update_statistics=1), r"update_statistics must be true or false, got 1"),
    ],
)
def test_options_are_checked_once_for_both_backends(wrap, message):
    jenv, henv = JaxCountdown(), E.GymnasiumEnvs([GymCountdown])
    for env in (jenv, henv):
        with pytest.raises(ValueError, match=message):
            wrap(env)


def test_jax_wrappers_are_hashable_and_compare_by_their_options():
    a = W.standard(E.make("jax/CountRecallEasy"))
    b = W.standard(E.make("jax/CountRecallEasy"))
    assert a == b and hash(a) == hash(b)
    assert W.normalize_observation(JaxCountdown(), clip=5.0) != W.normalize_observation(JaxCountdown())


# --- observation masks ------------------------------------------------------------------------
@pytest.mark.parametrize("keep", [[1], (True, False), np.array([False, True]), [-1, 0]],
                         ids=["indices", "mask", "numpy-mask", "reordered"])
def test_mask_observation_on_both_backends(keep):
    jenv, henv, j, h, _ = _both(lambda e: W.mask_observation(e, keep))
    _assert_same(j, h)
    raw = _both(lambda e: e)[3]
    index = {"[1]": [1], "(True, False)": [0], "[False  True]": [1], "[-1, 0]": [1, 0]}[str(keep)]
    assert henv.observation_space == jenv.observation_space == E.Box((len(index),))
    np.testing.assert_array_equal(h[0], raw[0][..., index])
    np.testing.assert_array_equal(h[1], raw[1][..., index])
    np.testing.assert_array_equal(h[4]["final_obs"], raw[4]["final_obs"][..., index])


def test_mask_observation_bad_keep():
    env = JaxCountdown()
    for keep, message in [([], "keep selects no observation feature"), ([0, 0], "lists an observation index twice"),
                          ([True], r"boolean keep mask must have one value per observation feature \(2\), got 1"),
                          ("0", "keep must be a list of observation indices or a boolean mask of 2 values"),
                          ([0.5], r"keep must hold observation indices in 0..1 .*got 0\.5")]:
        with pytest.raises(ValueError, match=message):
            W.mask_observation(env, keep)


# --- normalisation statistics for evaluation --------------------------------------------------
def _numpy_moments(observations, copies):
    """Reference: the statistics of every observation, plus ``copies`` initial pseudo-samples
    (weight 1e-4 each, mean 0, variance 1), computed directly."""
    x = np.asarray(observations, np.float64).reshape(-1, observations.shape[-1])
    pseudo = 1e-4 * copies
    count = pseudo + x.shape[0]
    mean = x.sum(0) / count
    second = (pseudo + np.square(x).sum(0)) / count
    return mean, second - mean**2, count


def test_frozen_statistics_normalise_exactly_as_the_trained_jax_env():
    base = E.VmapEnv(JaxCountdown(length=4), 3)
    trained = W.standard(base)
    actions = _actions(num_envs=3)
    raw = jax_rollout(base, actions, KEY)
    state, obs, *_ = jax_rollout_with_state(trained, actions, KEY)
    m = W.observation_moments(trained, state)
    mean, var, count = _numpy_moments(np.concatenate([raw[0][None], raw[1]]), copies=1)
    np.testing.assert_allclose(m.mean, mean, rtol=1e-5)
    np.testing.assert_allclose(m.var, var, rtol=1e-4)
    np.testing.assert_allclose(m.count, count, rtol=1e-6)
    frozen = W.standard(base, observation_moments=m, reward_moments=W.reward_moments(trained, state),
                        update_statistics=False)
    f_state, f_obs, *_ = jax_rollout_with_state(frozen, actions, KEY)
    # the trained env's last step used these statistics (under jit, XLA may fold the frozen ones into
    # constants and round differently: 1 ulp; eagerly, below, exactly)
    np.testing.assert_allclose(f_obs[-1], obs[-1], rtol=2e-7)
    expected = (raw[1] - m.mean) / np.sqrt(m.var + np.float32(1e-8))
    np.testing.assert_allclose(f_obs[..., :2], expected, rtol=1e-5, atol=1e-6)
    still = W.observation_moments(frozen, f_state)  # frozen: unchanged by the rollout
    for a, b in zip(still, m, strict=True):
        np.testing.assert_array_equal(a, b)


def _eager_last(env, actions):
    state, _ = env.reset(KEY)
    for a in actions:
        state, obs, *_ = env.step(state, jnp.asarray(a), KEY)
    return state, np.asarray(obs)


def test_frozen_statistics_normalise_exactly_as_the_trained_jax_env_eagerly():
    base = E.VmapEnv(JaxCountdown(length=4), 2)
    trained = W.standard(base)
    actions = _actions()[:4]
    state, last = _eager_last(trained, actions)
    frozen = W.standard(base, observation_moments=W.observation_moments(trained, state),
                        reward_moments=W.reward_moments(trained, state), update_statistics=False)
    np.testing.assert_array_equal(_eager_last(frozen, actions)[1], last)


def test_statistics_of_vmapped_copies_are_merged():
    """agents.make vmaps an unbatched wrapped env: each copy (and seed) has its own statistics."""
    env = E.VmapEnv(W.standard(JaxCountdown(length=4)), 3)
    actions = _actions(num_envs=3)
    raw = jax_rollout(E.VmapEnv(JaxCountdown(length=4), 3), actions, KEY)
    state, *_ = jax_rollout_with_state(env, actions, KEY)
    assert state.env_state.moments.mean.shape == (3, 2)  # one row per copy
    m = W.observation_moments(env, state)
    mean, var, count = _numpy_moments(np.concatenate([raw[0][None], raw[1]]), copies=3)
    np.testing.assert_allclose(m.mean, mean, rtol=1e-5)
    np.testing.assert_allclose(m.var, var, rtol=1e-4)
    np.testing.assert_allclose(m.count, count, rtol=1e-6)
    seeds = jax.tree.map(lambda x: np.stack([x, x]), state)  # a leading seed axis: the same data twice
    twice = W.observation_moments(env, seeds)
    np.testing.assert_allclose(twice.mean, m.mean, rtol=1e-6)
    np.testing.assert_allclose(twice.var, m.var, rtol=1e-5)
    np.testing.assert_allclose(twice.count, 2 * m.count, rtol=1e-6)


def test_merged_moments_are_the_statistics_of_all_the_copies_data():
    from rtrl.envs.running import init_moments, merge_moments, update_moments

    rng = np.random.default_rng(3)
    data = [rng.normal(loc, scale, (n, 2)).astype(np.float32)  # copies with different means, spreads and counts
            for loc, scale, n in ((0.0, 1.0, 5), (4.0, 0.5, 9), (-2.0, 3.0, 2))]
    per_copy = [update_moments(np, init_moments(np, (2,)), x, 1) for x in data]
    stacked = E.Moments(*(np.stack(field) for field in zip(*per_copy, strict=True)))
    m = merge_moments(stacked, 1)
    mean, var, count = _numpy_moments(np.concatenate(data), copies=3)
    np.testing.assert_allclose(m.mean, mean, rtol=1e-5)
    np.testing.assert_allclose(m.var, var, rtol=1e-5)
    np.testing.assert_allclose(m.count, count, rtol=1e-6)


def test_host_statistics_and_frozen_evaluation():
    trained = W.standard(E.GymnasiumEnvs([lambda: GymCountdown(length=4)] * 2))
    actions = _actions()
    _, obs, *_ = host_rollout(trained, actions)
    m = W.observation_moments(trained)
    np.testing.assert_array_equal(m.mean, trained.env.env.moments.mean)  # the wrapper's own
    assert W.observation_moments(E.GymnasiumEnvs([GymCountdown])) is None
    assert W.reward_moments(trained).mean.shape == ()
    frozen = W.standard(E.GymnasiumEnvs([lambda: GymCountdown(length=4)] * 2), observation_moments=m,
                        reward_moments=W.reward_moments(trained), update_statistics=False)
    _, f_obs, *_ = host_rollout(frozen, actions)
    np.testing.assert_array_equal(f_obs[-1], obs[-1])
    jax_trained = W.standard(E.VmapEnv(JaxCountdown(length=4), 2))  # same numbers on the JAX back-end
    state, _ = jax_trained.reset(KEY)
    for a in actions:
        state, *_ = jax_trained.step(state, a, KEY)
    np.testing.assert_allclose(W.observation_moments(jax_trained, state).mean, m.mean, rtol=1e-6)


def test_statistics_bad_input():
    env = W.standard(JaxCountdown())
    with pytest.raises(ValueError, match="a JAX env keeps its statistics in its state; pass env_state"):
        W.observation_moments(env)
    with pytest.raises(ValueError, match=r"moments.mean has shape \(3,\), but the observations have shape \(2,\)"):
        W.normalize_observation(JaxCountdown(), moments=E.Moments(np.zeros(3), np.ones(3), 1.0))
    with pytest.raises(ValueError, match="observation_moments needs normalize_obs=True"):
        W.standard(JaxCountdown(), normalize_obs=False, observation_moments=E.Moments(np.zeros(2), np.ones(2), 1.0))
    with pytest.raises(ValueError, match=r"moments.count must be one positive number"):
        W.normalize_observation(JaxCountdown(), moments=E.Moments(np.zeros(2), np.ones(2), 0.0))
