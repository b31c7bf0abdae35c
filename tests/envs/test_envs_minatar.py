"""minatar/<Game>: gymnax's MinAtar ports behind rtrl's JaxEnv protocol (skipped without the minatar extra)."""

from importlib.util import find_spec

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rtrl.envs as E
from rtrl.envs import minatar
from _envs_testing import jax_rollout

HAVE_MINATAR = find_spec("gymnax") is not None and find_spec("six") is not None
needs_minatar = pytest.mark.skipif(not HAVE_MINATAR, reason="minatar extra (gymnax) not installed")


def test_registry_lists_every_game_with_a_description():
    assert E.names("minatar") == [f"minatar/{g}" for g in minatar.GAMES]
    for name in E.names("minatar"):
        s = E.spec(name)  # describing needs no gymnax
        assert s.backend == "jax" and s.extra == "minatar" and "MinAtar" in s.description
        assert dict(s.options) == {"num_envs": None, "max_episode_steps": None, "sticky_actions": 0.0,
                                   "minimal_action_set": True}
    family = {f.name: f for f in E.families()}["minatar"]
    assert family.pattern == "minatar/<Game>" and family.extra == "minatar" and family.installed == HAVE_MINATAR


@needs_minatar
def test_every_game_gymnax_ports_is_registered():
    import gymnax

    ported = {e.removesuffix("-MinAtar") for e in gymnax.registered_envs if e.endswith("-MinAtar")}
    assert ported == set(minatar.GAMES)


def _must_not_build(*args, **kwargs):
    raise AssertionError("built before the check refused")


def test_bad_options_and_missing_extra_refused_before_any_work(monkeypatch):
    from rtrl.envs import registry

    monkeypatch.setattr(registry, "_build_minatar", _must_not_build)  # the entries keep their builders
    with pytest.raises(ValueError, match=r"minatar/Breakout: option sticky_actions must be a number in \[0, 1\]"):
        E.make("minatar/Breakout", sticky_actions=1.5)
    with pytest.raises(ValueError, match=r"minatar/Breakout: option max_episode_steps must be a positive integer"):
        E.check("minatar/Breakout", {"max_episode_steps": 0})
    with pytest.raises(ValueError, match=r"minatar/Breakout does not take option\(s\) frame_stack"):
        E.check("minatar/Breakout", {"frame_stack": 4})
    with pytest.raises(ValueError, match=r"unknown environment 'minatar/Pong'.*The minatar family has: "
                                         r"minatar/Asterix, minatar/Breakout, minatar/Freeway, minatar/Seaquest, "
                                         r"minatar/SpaceInvaders"):
        E.make("minatar/Pong")
    monkeypatch.setattr(registry, "find_spec", lambda mod: None if mod == "gymnax" else object())
    message = (r"minatar/SpaceInvaders needs the 'minatar' extra \(missing: gymnax\): pip install 'rtrl\[minatar\]' "
               r"\(from a clone: pip install -e '\.\[minatar\]'\)")
    for call in (lambda: E.check("minatar/SpaceInvaders"), lambda: E.make("minatar/SpaceInvaders", num_envs=2)):
        with pytest.raises(E.MissingExtraError, match=message):
            call()
    assert {f.name: f.installed for f in E.families()}["minatar"] is False


def test_missing_gymnax_refused_by_the_class_too(monkeypatch):
    monkeypatch.setattr(minatar, "find_spec", lambda mod: None)
    with pytest.raises(E.MissingExtraError, match=r"missing: gymnax, six\): pip install 'rtrl\[minatar\]'"):
        minatar.MinAtar("Breakout")


@needs_minatar
@pytest.mark.parametrize("game", minatar.GAMES)
def test_reset_and_step_shapes_dtypes_channel_first(game):
    """Also in 64-bit mode (the test suite's): gymnax's games run in 32-bit mode inside (Freeway fails otherwise)."""
    assert jax.config.jax_enable_x64
    env = E.make(f"minatar/{game}")
    channels = minatar.CHANNELS[game]
    assert env.observation_space == E.Box((channels, 10, 10), 0.0, 1.0)
    assert env.gymnax_env.obs_shape == (10, 10, channels)
    assert env.action_space == E.Discrete(int(env.gymnax_env.num_actions))
    key = jax.random.PRNGKey(0)
    state, obs = jax.eval_shape(env.reset, key)
    out = jax.eval_shape(env.step, state, jax.ShapeDtypeStruct((), np.int32), key)
    _, obs2, reward, done, info = out
    assert obs.shape == obs2.shape == info["final_obs"].shape == (channels, 10, 10)
    assert obs.dtype == obs2.dtype == np.float32 and reward.dtype == np.float32 and done.dtype == bool
    assert info["terminated"].dtype == info["truncated"].dtype == bool
    # one exact type per state leaf, the same after reset and after a step (lax.cond and scan need it)
    assert jax.tree.structure(out[0]) == jax.tree.structure(state)
    assert state.last_action.dtype == out[0].last_action.dtype == np.int32  # the action's type (check_action)
    for a, b in zip(jax.tree.leaves(state.game), jax.tree.leaves(out[0].game), strict=True):
        assert a.dtype == b.dtype and a.dtype in (np.int32, np.bool_, np.float32) and not a.weak_type


def test_action_sets():
    if not HAVE_MINATAR:
        pytest.skip("minatar extra (gymnax) not installed")
    sizes = {g: E.make(f"minatar/{g}").action_space.n for g in minatar.GAMES}
    assert sizes == {"Asterix": 5, "Breakout": 3, "Freeway": 3, "Seaquest": 6, "SpaceInvaders": 4}
    assert E.make("minatar/Breakout", minimal_action_set=False).action_space == E.Discrete(6)


def _gymnax_rollout(env, key, actions):
    """gymnax's own reset and auto-resetting step with the keys rtrl's rollout uses (tests/_envs_testing),
    in JAX's 32-bit mode as rtrl runs gymnax (the test suite turns 64-bit mode on)."""
    genv, params = env.gymnax_env, env.gymnax_params
    out = []
    k = key
    with jax.enable_x64(False):
        obs0, state = genv.reset(key, params)
        step = jax.jit(genv.step)
        for a in actions:
            k, sub = jax.random.split(k)
            obs, state, reward, terminated, truncated, info = step(sub, state, jnp.int32(a), params)
            out.append((obs, reward, terminated, truncated, info["final_observation"]))
    return obs0, [tuple(np.asarray(x) for x in o) for o in out]


@needs_minatar
@pytest.mark.parametrize("game", ["Breakout", "SpaceInvaders", pytest.param("Asterix", marks=pytest.mark.slow)])
def test_equal_to_gymnax_step_for_the_same_keys(game):
    """Observations (transposed), rewards and ends equal gymnax's ``step`` over 40 steps, across an auto-reset."""
    env = E.make(f"minatar/{game}", max_episode_steps=15)  # a truncation (and its reset) inside the window
    actions = np.random.default_rng(1).integers(env.action_space.n, size=40).astype(np.int32)
    key = jax.random.PRNGKey(3)
    obs0, obs, reward, done, info = jax_rollout(env, actions, key)
    g_obs0, g = _gymnax_rollout(env, key, actions)
    np.testing.assert_array_equal(obs0, np.transpose(g_obs0, (2, 0, 1)))
    for t, (g_obs, g_reward, g_term, g_trunc, g_final) in enumerate(g):
        np.testing.assert_array_equal(obs[t], np.transpose(g_obs, (2, 0, 1)), err_msg=f"step {t}")
        np.testing.assert_array_equal(info["final_obs"][t], np.transpose(g_final, (2, 0, 1)), err_msg=f"step {t}")
        assert reward[t] == g_reward and done[t] == (g_term or g_trunc), t
        assert info["terminated"][t] == g_term and info["truncated"][t] == (g_trunc and not g_term), t
    assert done.sum() >= 2


@needs_minatar
def test_convention_under_a_forced_truncation():
    """Step limit 4: done every 4th step (truncated), the next obs is the reset's, final_obs the real last one."""
    env = E.make("minatar/Freeway", max_episode_steps=4)  # Freeway never ends by itself
    assert env.episode_limit == 4 and E.make("minatar/Freeway").episode_limit == 2500
    key = jax.random.PRNGKey(0)
    actions = np.ones(12, np.int32)  # "up"
    obs0, obs, reward, done, info = jax_rollout(env, actions, key)
    np.testing.assert_array_equal(done, np.tile([False, False, False, True], 3))
    np.testing.assert_array_equal(info["truncated"], done)
    assert not info["terminated"].any()
    first_chicken = obs0[0]  # channel 0: the chicken, which starts at the bottom
    for t in np.flatnonzero(done):
        np.testing.assert_array_equal(obs[t][0], first_chicken)  # a new episode: the chicken back at the start
        assert not np.array_equal(info["final_obs"][t][0], first_chicken)  # it had moved up before the end
    for t in np.flatnonzero(~done):
        np.testing.assert_array_equal(info["final_obs"][t], obs[t])


@needs_minatar
def test_game_over_is_terminated_not_truncated():
    env = E.make("minatar/Breakout")
    actions = np.zeros(200, np.int32)  # stand still: the ball is lost soon
    _, _, _, done, info = jax_rollout(env, actions, jax.random.PRNGKey(0))
    assert info["terminated"].any() and not info["truncated"].any()
    np.testing.assert_array_equal(done, info["terminated"])


@needs_minatar
def test_same_key_same_episode_and_sticky_actions():
    breakout = E.make("minatar/Breakout")  # the ball starts in a random corner
    actions = np.random.default_rng(0).integers(3, size=30).astype(np.int32)
    a = jax_rollout(breakout, actions, jax.random.PRNGKey(7))
    b = jax_rollout(breakout, actions, jax.random.PRNGKey(7))
    c = jax_rollout(breakout, actions, jax.random.PRNGKey(9))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[1], c[1])
    env = E.make("minatar/SpaceInvaders")
    actions = np.random.default_rng(0).integers(4, size=30).astype(np.int32)
    a = jax_rollout(env, actions, jax.random.PRNGKey(7))
    # sticky actions 1.0: every step repeats the previous executed action, 0 (no-op) after a reset, so the
    # cannon (channel 0) never moves: its row equals a no-op rollout's (which the random actions' does not)
    sticky = E.make("minatar/SpaceInvaders", sticky_actions=1.0)
    assert int(jax.jit(sticky.reset)(jax.random.PRNGKey(7))[0].last_action) == 0
    always_noop = jax_rollout(sticky, actions, jax.random.PRNGKey(7))
    noops = jax_rollout(env, np.zeros_like(actions), jax.random.PRNGKey(7))
    np.testing.assert_array_equal(always_noop[1][:, 0], noops[1][:, 0])
    assert not np.array_equal(a[1][:, 0], noops[1][:, 0])


@needs_minatar
def test_gymnax_env_built_inside_a_trace_does_not_leak_tracers():
    """The first use of a game may come inside jit (make, then a jitted reset): its cached gymnax object
    must hold concrete arrays, or every later trace fails with UnexpectedTracerError."""
    minatar._gymnax.cache_clear()
    jax.jit(lambda key: minatar._gymnax("Breakout", True)[0].reset_env(key, minatar._gymnax("Breakout", True)[1]))(
        jax.random.PRNGKey(0)
    )
    env = E.make("minatar/Breakout")
    jax_rollout(env, np.zeros(3, np.int32), jax.random.PRNGKey(1))  # a second trace uses the cached object


@needs_minatar
def test_under_jit_vmap_scan():
    env = E.make("minatar/Breakout", num_envs=4)
    assert isinstance(env, E.VmapEnv)
    actions = np.random.default_rng(0).integers(3, size=(25, 4)).astype(np.int32)
    obs0, obs, reward, done, info = jax_rollout(env, actions, jax.random.PRNGKey(0))
    assert obs0.shape == (4, 4, 10, 10) and obs.shape == (25, 4, 4, 10, 10) and reward.shape == done.shape == (25, 4)
    assert not np.array_equal(obs0[0], obs0[1]) or not np.array_equal(obs[:, 0], obs[:, 1])  # envs differ
    assert set(np.unique(obs)) <= {0.0, 1.0}
