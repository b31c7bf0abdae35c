"""Any gymnasium environment: the ``gymnasium/<id>`` family and `from_gymnasium` (id, instance, factory)."""

import gymnasium as gym
import numpy as np
import pytest
from _envs_testing import GymCountdown

import rtrl.envs as E
from rtrl.envs import registry


def test_a_gymnasium_id_is_a_registry_name():
    env = E.make("gymnasium/CartPole-v1", num_envs=4)
    assert isinstance(env, E.HostEnv) and env.num_envs == 4 and env.name == "gymnasium/CartPole-v1"
    assert env.action_space == E.Discrete(2) and env.observation_space.shape == (4,)
    obs = env.reset(seed=7)
    for i in range(4):  # env i is seeded with seed + i, exactly as gymnasium's own env
        np.testing.assert_array_equal(obs[i], gym.make("CartPole-v1").reset(seed=7 + i)[0])
    s = E.spec("gymnasium/CartPole-v1")
    assert s.backend == "host" and s.family == "gymnasium" and s.installed
    assert dict(s.options) == {"num_envs": 1, "max_episode_steps": None, "hide": None, "render_mode": None,
                               "make_kwargs": {}}


def test_gymnasium_family_keeps_the_reset_convention():
    """A time limit truncates: done and truncated on that step, the next episode's first observation
    returned at once, the real last one in info["final_obs"] (same-step auto-reset)."""
    env = E.make("gymnasium/MountainCar-v0", num_envs=2, max_episode_steps=3)
    reference = gym.make("MountainCar-v0", max_episode_steps=3)
    obs = env.reset(seed=1)
    ref = [reference.reset(seed=1)[0]]
    for t in range(3):
        obs, _, done, info = env.step(np.array([1, 1]))
        ref.append(reference.step(1)[0])
        assert list(done) == [t == 2] * 2 and list(info["truncated"]) == [t == 2] * 2
        assert not info["terminated"].any()
    np.testing.assert_array_equal(info["final_obs"][0], ref[-1])
    assert not np.array_equal(obs[0], info["final_obs"][0])  # already the next episode's first observation
    same = E.make("gymnasium/MountainCar-v0", make_kwargs={"max_episode_steps": 3})
    same.reset(seed=0)
    assert [bool(same.step(np.array([0]))[2][0]) for _ in range(3)] == [False, False, True]


def test_unknown_gymnasium_id_suggests_close_matches():
    with pytest.raises(ValueError, match=r"unknown gymnasium environment id 'gymnasium/CartPol-v1'\. "
                                         r"Did you mean 'gymnasium/CartPole-v1'"):
        E.spec("gymnasium/CartPol-v1")
    with pytest.raises(ValueError, match=r"Did you mean 'gymnasium/CartPole-v1', 'gymnasium/CartPole-v0'"):
        E.make("gymnasium/CartPole")
    with pytest.raises(ValueError, match=r"Did you mean 'gymnasium/CartPole-v1'"):
        E.make("CartPole-v1")  # without the family


def test_gymnasium_ids_needing_a_missing_package_say_what_to_install(monkeypatch):
    monkeypatch.setattr(registry, "find_spec", lambda mod: None)
    # (once ale-py is installed and an earlier test registered the ALE ids, the id is known to gymnasium and
    # the message is the generic missing-dependency one; either way it names the extra to install)
    with pytest.raises(E.MissingExtraError, match=r"gymnasium/ALE/Pong-v5 .*needs .*pip install 'rtrl\[atari\]'"):
        E.make("gymnasium/ALE/Pong-v5")
    s = E.spec("gymnasium/CarRacing-v3")  # box2d
    assert not s.installed
    with pytest.raises(ValueError, match=r"gymnasium/CarRacing-v3 needs an optional dependency \(missing: box2d-py\): "
                                         r"pip install swig && pip install 'gymnasium\[box2d\]'"):
        E.check("gymnasium/CarRacing-v3")


def test_gymnasium_make_refusals_are_value_errors():
    with pytest.raises(ValueError, match=r"gymnasium.make\('CartPole-v1', wheels=3\) refused its arguments"):
        E.make("gymnasium/CartPole-v1", make_kwargs={"wheels": 3})
    with pytest.raises(ValueError, match="give max_episode_steps as an option or in make_kwargs, not both"):
        E.make("gymnasium/CartPole-v1", max_episode_steps=3, make_kwargs={"max_episode_steps": 4})


def test_from_gymnasium_takes_an_id_an_instance_or_a_factory():
    by_id = E.from_gymnasium("CartPole-v1", num_envs=2)
    prefixed = E.from_gymnasium("gymnasium/CartPole-v1", num_envs=2)
    by_factory = E.from_gymnasium(lambda: gym.make("CartPole-v1"), num_envs=2)
    first = [env.reset(seed=3) for env in (by_id, prefixed, by_factory)]
    np.testing.assert_array_equal(first[0], first[1])
    np.testing.assert_array_equal(first[0], first[2])
    single = E.from_gymnasium(GymCountdown(length=2))
    assert single.num_envs == 1 and single.action_space == E.Discrete(3)
    single.reset(seed=0)
    _, reward, done, _ = single.step(np.array([2]))
    assert reward[0] == 2.0 and not done[0]
    with pytest.raises(ValueError, match="a gymnasium.Env instance can only be adapted alone"):
        E.from_gymnasium(GymCountdown(), num_envs=2)
    with pytest.raises(ValueError, match=r"num_envs must be a positive integer, got 0"):
        E.from_gymnasium("CartPole-v1", num_envs=0)
    with pytest.raises(ValueError, match=r"unknown gymnasium environment id 'CartPole-v9'.*'CartPole-v1'"):
        E.from_gymnasium("CartPole-v9")


class _Spaces(gym.Env):
    def __init__(self, observation_space, action_space):
        self.observation_space, self.action_space = observation_space, action_space


def test_unsupported_spaces_are_refused_clearly():
    box = gym.spaces.Box(-1, 1, (2,), np.float32)
    with pytest.raises(ValueError, match=r"action space MultiBinary\(3\) is not supported; valid: gymnasium "
                                         r"Discrete, MultiDiscrete or float Box"):
        E.from_gymnasium(_Spaces(box, gym.spaces.MultiBinary(3)))
    with pytest.raises(ValueError, match=r"is not supported; valid"):
        E.from_gymnasium(_Spaces(box, gym.spaces.Box(0, 3, (2,), np.int64)))
    with pytest.raises(ValueError, match=r"observation space Sequence\(.*\) is not supported: it does not flatten to "
                                         r"a fixed-size vector"):
        E.from_gymnasium(_Spaces(gym.spaces.Sequence(gym.spaces.Discrete(2)), gym.spaces.Discrete(2)))
    dict_obs = gym.spaces.Dict({"a": gym.spaces.Discrete(3), "b": box})
    assert E.from_gymnasium(_Spaces(dict_obs, gym.spaces.Discrete(2))).observation_space.shape == (5,)
