"""The registry: every name is made, reset and stepped (one test per environment, popgym-style)."""

from importlib.util import find_spec

import jax
import numpy as np
import popgym.envs
import pytest

import rtrl.envs as E
from rtrl.envs.popgym_host import NEEDS_MAZELIB, level_names
from rtrl.envs.popgym_jax import PORTS


def _random_actions(space, batch, rng):
    if isinstance(space, E.Discrete):
        return rng.integers(space.n, size=batch).astype(np.int32)
    lo, hi = space.low_array, space.high_array
    return rng.uniform(lo, hi, size=batch + space.shape).astype(np.float32)


def _check_obs(space, obs, batch):
    assert obs.shape == batch + space.shape and obs.dtype == np.float32
    assert np.all(np.isfinite(obs))
    assert np.all(obs >= space.low_array) and np.all(obs <= space.high_array)


@pytest.mark.parametrize("name", E.names())
def test_every_registered_environment(name):
    s = E.spec(name)
    level = name.split("/", 1)[1]
    if name.startswith("popgym/") and level.startswith(NEEDS_MAZELIB) and find_spec("mazelib") is None:
        with pytest.raises(E.MissingExtraError, match=r"pip install 'popgym\[navigation\]'"):
            E.make(name)
        return
    if s.extra is not None and not s.installed:  # an optional family (atari, minatar) without its extra
        with pytest.raises(E.MissingExtraError, match=rf"pip install 'rtrl\[{s.extra}\]'"):
            E.make(name)
        return
    rng = np.random.default_rng(0)
    if s.backend == "jax":
        env = E.make(name)
        assert isinstance(env, E.JaxEnv)
        state, obs = env.reset(jax.random.PRNGKey(0))
        _check_obs(env.observation_space, np.asarray(obs), ())
        if name.startswith("mjx/"):  # MJX's physics compiles for 10-40 s a robot: tests/envs/test_mjx.py steps it
            return
        for i in range(3):
            a = _random_actions(env.action_space, (), rng)
            state, obs, rew, done, info = env.step(state, a, jax.random.PRNGKey(i + 1))
            _check_obs(env.observation_space, np.asarray(obs), ())
            assert rew.dtype == np.float32 and rew.shape == () and done.dtype == bool
            assert set(info) >= {"terminated", "truncated", "final_obs"}
        return
    num_envs = 1 if s.extra == "atari" else 2
    env = E.make(name, num_envs=num_envs)
    assert isinstance(env, E.HostEnv) and env.num_envs == num_envs
    with env:
        obs = env.reset(seed=0)
        _check_obs(env.observation_space, obs, (num_envs,))
        for _ in range(3):
            obs, rew, done, info = env.step(_random_actions(env.action_space, (num_envs,), rng))
            _check_obs(env.observation_space, obs, (num_envs,))
            assert rew.shape == (num_envs,) and rew.dtype == np.float32 and done.dtype == bool
            assert set(info) >= {"terminated", "truncated", "final_obs"}


def test_names_and_families():
    assert len(E.names("jax")) == 19 and len(E.names("popgym")) == 48
    assert len(E.names("mujoco")) == 14 and len(E.names("atari")) == 6
    assert E.names() == (E.names("jax") + E.names("popgym") + E.names("mujoco") + E.names("atari") + E.names("minatar")
                         + E.names("mjx"))
    for robot in ("Hopper", "Walker2d", "HalfCheetah", "Ant"):
        assert {f"mujoco/{robot}-P", f"mujoco/{robot}-V"} <= set(E.names())
    assert {
        "mujoco/Reacher-Memory",
        "atari/Breakout",
        "atari/Gravitar",
        "atari/MsPacman",
        "atari/Qbert",
        "atari/Seaquest",
    } <= set(E.names())
    with pytest.raises(ValueError, match="family must be one of 'jax', 'popgym', 'mujoco', 'atari', 'minatar', 'mjx', 'gymnasium', got 'gym'"):
        E.names("gym")


def test_families_describe_every_name():
    families = E.families()
    assert [f.name for f in families] == ["jax", "popgym", "mujoco", "atari", "minatar", "mjx", "gymnasium"]
    by_name = {f.name: f for f in families}
    assert by_name["gymnasium"].pattern == "gymnasium/<id>" and by_name["jax"].pattern == "jax/<Task>"
    assert all(f.description and "\n" not in f.description for f in families)
    atari_installed = find_spec("ale_py") is not None and find_spec("cv2") is not None
    assert by_name["atari"].extra == "atari" and by_name["atari"].installed == atari_installed
    assert E.spec("atari/Pong").installed == atari_installed and E.spec("jax/CountRecallEasy").installed
    # every curated name belongs to a listed family; the open gymnasium family lists gymnasium's registry
    assert {n.split("/")[0] for n in E.names()} == set(by_name) - {"gymnasium"}
    assert {"gymnasium/CartPole-v1", "gymnasium/Hopper-v5"} <= set(E.names("gymnasium"))


def test_popgym_names_are_every_environment_popgym_ships():
    shipped = {cls.__name__ for cls in popgym.envs.ALL}
    labyrinths = {f + lvl for f in NEEDS_MAZELIB for lvl in ("Easy", "Medium", "Hard")}
    assert set(level_names()) == shipped | labyrinths
    assert {n.split("/")[1] for n in E.names("jax")} == set(PORTS) | {"MemoryChain"} and set(PORTS) <= shipped


def test_spec_describes_the_options():
    s = E.spec("jax/CountRecallEasy")
    assert s.backend == "jax" and dict(s.options) == {"previous_action": False, "num_envs": None}
    assert E.spec("atari/Breakout").extra == "atari"
    assert E.spec("mujoco/Reacher-Memory").options["reveal_steps"] == 1


def test_host_env_is_deterministic_given_the_seed():
    def run():
        env = E.make("popgym/HigherLowerEasy", num_envs=2)
        first = env.reset(seed=5)
        steps = [env.step(np.array([0, 1]))[:2] for _ in range(5)]
        return first, steps

    a, b = run(), run()
    np.testing.assert_array_equal(a[0], b[0])
    for (o1, r1), (o2, r2) in zip(a[1], b[1], strict=True):
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)


def test_popgym_host_observations_are_gymnasiums_flattening():
    """For every popgym env (and its previous-action variant): the host env's vectors equal
    ``gymnasium.spaces.utils.flatten`` of the bare popgym observations under the same seed."""
    import gymnasium as gym
    from popgym.wrappers import PreviousAction

    rng = np.random.default_rng(0)
    for level in level_names():
        if level.startswith(NEEDS_MAZELIB) and find_spec("mazelib") is None:
            continue
        for previous_action in (False, True):
            host = E.make(f"popgym/{level}", previous_action=previous_action)
            bare = getattr(popgym.envs, level)()
            bare = PreviousAction(bare) if previous_action else bare
            space = bare.observation_space

            def flat(o, space=space):
                return gym.spaces.utils.flatten(space, o).astype(np.float32)

            np.testing.assert_array_equal(host.reset(seed=3)[0], flat(bare.reset(seed=3)[0]), err_msg=level)
            for _ in range(5):
                a = _random_actions(host.action_space, (1,), rng)
                obs, _, done, info = host.step(a)
                if isinstance(bare.action_space, gym.spaces.MultiDiscrete):  # raveled like popgym's DiscreteAction
                    bare_a = np.array(np.unravel_index(int(a[0]), bare.action_space.nvec))
                elif isinstance(bare.action_space, gym.spaces.Discrete):
                    bare_a = int(a[0])
                else:
                    bare_a = a[0]
                o, *_ = bare.step(bare_a)
                np.testing.assert_array_equal(info["final_obs"][0], flat(o), err_msg=level)
                if done[0]:
                    break


@pytest.mark.skipif(find_spec("ale_py") is None or find_spec("cv2") is None, reason="atari extra not installed")
def test_atari_preprocessing_and_frame_stack():
    env = E.make("atari/Breakout", frame_stack=4, num_envs=2)
    assert env.observation_space.shape == (4, 84, 84) and env.action_space == E.Discrete(4)
    obs = env.reset(seed=0)
    assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.float32 and 0.0 <= obs.min() and obs.max() <= 1.0
    obs, _, _, info = env.step(np.array([1, 1]))
    assert obs.shape == (2, 4, 84, 84) and info["final_obs"].shape == (2, 4, 84, 84)


@pytest.mark.parametrize("name", E.names("jax"))
def test_jax_env_traces_with_fixed_dtypes(name):
    """reset/step trace under jit (single env: the reset is a cond) and keep float32/int32/bool."""
    env = E.make(name)
    key = jax.random.PRNGKey(0)
    state, obs = jax.eval_shape(env.reset, key)
    out = jax.eval_shape(env.step, state, jax.ShapeDtypeStruct((), np.int32), key)
    _, obs2, rew, done, info = out
    assert obs.dtype == obs2.dtype == np.float32 and obs.shape == obs2.shape == env.observation_space.shape
    assert rew.dtype == np.float32 and done.dtype == bool and info["final_obs"].shape == obs.shape
    assert jax.tree.structure(out[0]) == jax.tree.structure(state)
    for leaf in jax.tree.leaves(state):
        assert leaf.dtype in (np.int32, np.bool_, np.float32), leaf


def test_public_api():
    for name in E.__all__:
        assert hasattr(E, name), name
    for name in E.wrappers.__all__:
        assert callable(getattr(E.wrappers, name)), name
