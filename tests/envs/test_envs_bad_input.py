"""Bad input gives clear errors: unknown names, bad options, actions outside the space, missing extras."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rtrl.envs as E
from rtrl.envs import atari
from rtrl.envs.popgym_jax import Concentration, CountRecall, RepeatPrevious

KEY = jax.random.PRNGKey(0)


def test_unknown_name_suggests_close_matches():
    with pytest.raises(
        ValueError, match=r"unknown environment 'jax/CountRecalEasy'\. Did you mean 'jax/CountRecallEasy'"
    ):
        E.make("jax/CountRecalEasy")
    with pytest.raises(ValueError, match=r"Did you mean 'jax/HigherLowerEasy', 'popgym/HigherLowerEasy'"):
        E.make("HigherLowerEasy")
    with pytest.raises(ValueError, match=r"unknown environment 'nothing/like/this'\. Names are family/Task"):
        E.make("nothing/like/this")
    with pytest.raises(TypeError, match="environment name must be a str"):
        E.make(3)


@pytest.mark.parametrize(
    "name", ["mujoco/Reacher-P", "mujoco/Hopper-P-V", "popgym/CountRecallEasy-V", "jax/RepeatFirstEasy-P"]
)
def test_split_suffix_on_an_environment_without_one(name):
    base = name.rsplit("-", 1)[0]
    with pytest.raises(ValueError, match=rf"'{base}' has no -P/-V split; environments with one: mujoco/Hopper-P"):
        E.make(name)


def test_options():
    with pytest.raises(
        ValueError,
        match=r"mujoco/Hopper-P does not take option\(s\) reveal_steps; its options are: backend='gymnasium', "
        r"max_episode_steps=1000, "
        r"num_envs=1, render_mode=None",
    ):
        E.make("mujoco/Hopper-P", reveal_steps=3)
    with pytest.raises(ValueError, match="popgym/CountRecallEasy: option num_envs must be a positive integer, got 0"):
        E.make("popgym/CountRecallEasy", num_envs=0)
    with pytest.raises(ValueError, match=r"option num_envs must be a positive integer \(or None\), got -1"):
        E.make("jax/CountRecallEasy", num_envs=-1)
    with pytest.raises(ValueError, match="reveal_steps must be a positive integer, got 0"):
        E.make("mujoco/Reacher-Memory", reveal_steps=0)
    with pytest.raises(ValueError, match="frame_stack must be a positive integer, got 0"):
        E.make("atari/Pong", frame_stack=0)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("jax/RepeatFirstEasy", {"previous_action": "maybe"},
         r"jax/RepeatFirstEasy: option previous_action must be true or false, got 'maybe'"),
        ("jax/CountRecallEasy", {"previous_action": 1}, r"option previous_action must be true or false, got 1"),
        ("popgym/RepeatFirstEasy", {"num_envs": 2.0}, r"option num_envs must be a positive integer, got 2\.0"),
        ("mujoco/Hopper", {"max_episode_steps": "100"}, r"option max_episode_steps must be a positive integer"),
        ("mujoco/Hopper", {"render_mode": "video"}, r"option render_mode must be one of 'rgb_array', 'human'"),
        ("atari/Pong", {"sticky_actions": 2}, r"atari/Pong: option sticky_actions must be a number in \[0, 1\]"),
        ("atari/Pong", {"terminal_on_life_loss": "no"}, r"option terminal_on_life_loss must be true or false"),
        ("atari/Pong", {"noop_max": -1}, r"option noop_max must be a non-negative integer, got -1"),
        ("gymnasium/CartPole-v1", {"hide": "legs"}, r"option hide must be one of 'velocities', 'positions'"),
        ("gymnasium/CartPole-v1", {"make_kwargs": 3}, r"option make_kwargs must be a mapping"),
        ("gymnasium/CartPole-v1", {"seed": 3}, r"does not take option\(s\) seed; its options are: hide=None"),
    ],
)
def test_options_of_the_wrong_type_name_the_option_and_the_environment(name, options, message):
    """ValueError (what the CLI prints without a traceback), from `check` before anything is built."""
    with pytest.raises(ValueError, match=message):
        E.check(name, options)
    with pytest.raises(ValueError, match=message):
        E.make(name, **options)


def test_check_returns_every_option_checked_without_building(monkeypatch):
    from rtrl.envs import popgym_jax

    monkeypatch.setattr(popgym_jax, "make_port", _must_not_build)
    assert E.check("jax/RepeatFirstEasy", {"previous_action": True}) == {"previous_action": True, "num_envs": None}
    assert E.check("jax/RepeatFirstEasy") == {"previous_action": False, "num_envs": None}
    with pytest.raises(ValueError, match=r"options of jax/RepeatFirstEasy must be a mapping"):
        E.check("jax/RepeatFirstEasy", ["previous_action"])


def _must_not_build(*args, **kwargs):
    raise AssertionError("built before the check refused")


def test_missing_atari_extra_is_refused_before_any_work(monkeypatch):
    """Simulated (so the test runs with the extra installed too): ale-py missing."""
    from rtrl.envs import registry

    monkeypatch.setattr(registry, "find_spec", lambda mod: None if mod == "ale_py" else object())
    monkeypatch.setattr(atari, "atari_factory", _must_not_build)
    message = r"atari/Breakout needs the 'atari' extra \(missing: ale-py\): pip install 'rtrl\[atari\]' " \
              r"\(from a clone: pip install -e '\.\[atari\]'\)"
    s = E.spec("atari/Breakout")  # describing the environment does not need the extra
    assert s.extra == "atari" and not s.installed and s.missing == ("ale-py",)
    for call in (lambda: E.check("atari/Breakout"), lambda: E.make("atari/Breakout", num_envs=2)):
        with pytest.raises(E.MissingExtraError, match=message) as caught:
            call()
        assert isinstance(caught.value, ValueError) and isinstance(caught.value, ImportError)
    assert {f.name: f.installed for f in E.families()}["atari"] is False


def test_missing_mazelib_names_the_install(monkeypatch):
    from rtrl.envs import popgym_host, registry

    monkeypatch.setattr(registry, "find_spec", lambda mod: None)
    monkeypatch.setattr(popgym_host, "popgym_factory", _must_not_build)
    with pytest.raises(ValueError, match=r"popgym/LabyrinthEscapeEasy needs .*missing: mazelib.*pip install "
                                         r"'popgym\[navigation\]'"):
        E.make("popgym/LabyrinthEscapeEasy")
    assert not E.spec("popgym/LabyrinthExploreHard").installed
    assert E.spec("popgym/CountRecallEasy").installed  # nothing optional


def test_jax_action_outside_the_action_space():
    env = E.make("jax/CountRecallEasy")
    state, _ = env.reset(KEY)
    with pytest.raises(ValueError, match=r"action outside the action space Discrete\(27\): got \[27\]; valid: 0..26"):
        env.step(state, 27, KEY)
    with pytest.raises(ValueError, match=r"got \[-1\]"):
        env.step(state, jnp.int32(-1), KEY)
    with pytest.raises(TypeError, match=r"action for Discrete\(27\) must have an integer dtype, got float32"):
        env.step(state, jnp.float32(1.0), KEY)
    with pytest.raises(ValueError, match=r"action must have shape \(\)"):
        env.step(state, jnp.array([1, 2]), KEY)
    with pytest.raises(TypeError, match="action must be an array or a number, got bool"):
        env.step(state, True, KEY)
    venv = E.make("jax/CountRecallEasy", num_envs=3)
    vstate, _ = venv.reset(KEY)
    with pytest.raises(ValueError, match=r"action must have shape \(3,\) \(batch \(3,\) \+ space \(\)\), got \(2,\)"):
        venv.step(vstate, jnp.array([1, 2]), KEY)
    with pytest.raises(ValueError, match=r"got \[30\]"):
        venv.step(vstate, jnp.array([1, 2, 30]), KEY)


def test_jax_action_checks_inside_jit():
    """Shapes and dtypes are static, so they are checked at trace time; values cannot be."""
    env = E.make("jax/RepeatFirstEasy")
    state, _ = env.reset(KEY)
    with pytest.raises(ValueError, match=r"action must have shape \(\)"):
        jax.jit(env.step)(state, jnp.zeros(2, jnp.int32), KEY)
    jax.jit(env.step)(state, jnp.int32(7), KEY)  # out of range under jit: no error (documented)


def test_jax_continuous_action_bounds():
    from _envs_testing import JaxCountdown

    env = JaxCountdown(continuous=True)
    state, _ = env.reset(KEY)
    with pytest.raises(ValueError, match="out of bounds.*clip_action"):
        env.step(state, jnp.array([0.5, 1.5], jnp.float32), KEY)
    with pytest.raises(ValueError, match="not finite"):
        env.step(state, jnp.array([0.5, jnp.nan], jnp.float32), KEY)
    clipped = E.wrappers.clip_action(env)
    clipped.step(state, jnp.array([0.5, 1.5], jnp.float32), KEY)  # accepted and clipped


def test_bad_keys():
    env = E.make("jax/RepeatFirstEasy")
    with pytest.raises(TypeError, match=r"reset: key must be one PRNG key, e\.g\. jax\.random\.PRNGKey\(0\); got int"):
        env.reset(0)
    state, _ = env.reset(jax.random.key(0))  # typed keys are fine
    with pytest.raises(TypeError, match="step: key must be one PRNG key"):
        env.step(state, 1, jax.random.split(KEY, 2))


def test_host_action_outside_the_action_space():
    env = E.make("popgym/CountRecallEasy", num_envs=2)
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\)"):
        env.step(np.array([0, 0]))
    env.reset(seed=0)
    with pytest.raises(
        ValueError, match=r"action outside the action space Discrete\(27\): env\(s\) \[1\] got \[27\]; valid: 0..26"
    ):
        env.step(np.array([0, 27]))
    with pytest.raises(TypeError, match="must have an integer dtype, got float64"):
        env.step(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"actions must have shape \(2,\) \(num_envs=2 \+ space \(\)\), got \(3,\)"):
        env.step(np.array([0, 1, 2]))
    hopper = E.make("mujoco/Hopper-V")
    hopper.reset(seed=0)
    with pytest.raises(
        ValueError, match=r"values \[1\.5\] are not finite or out of bounds \[-1\.0, 1\.0\].*clip_action"
    ):
        hopper.step(np.array([[0.0, 1.5, 0.0]], np.float32))
    with pytest.raises(ValueError, match=r"values \[nan\]"):
        hopper.step(np.array([[0.0, np.nan, 0.0]], np.float32))
    E.wrappers.clip_action(hopper).step(np.array([[0.0, 1.5, 0.0]], np.float32))  # clipped instead
    with pytest.raises(TypeError, match="seed must be an int or None, got str"):
        env.reset(seed="1")


def test_spaces_and_port_parameters_are_validated():
    with pytest.raises(ValueError, match="Discrete.n must be a positive integer, got 0"):
        E.Discrete(0)
    with pytest.raises(ValueError, match=r"Box.low must be a float or hold prod\(shape\) = 2 values, got 3 values"):
        E.Box((2,), low=(0.0, 1.0, 2.0))
    with pytest.raises(ValueError, match="Box.low must be <= Box.high"):
        E.Box((1,), low=1.0, high=0.0)
    with pytest.raises(ValueError, match=r"Box.shape must be a tuple of positive integers, got \(0,\)"):
        E.Box((0,))
    with pytest.raises(ValueError, match=r"k must be an integer in 1..51, got 0"):
        RepeatPrevious(k=0)
    with pytest.raises(ValueError, match="num_decks must be a positive integer, got 0"):
        RepeatPrevious(num_decks=0)
    with pytest.raises(ValueError, match="deck_type must be one of 'colors', 'suits', 'ranks', got 'jokers'"):
        CountRecall(deck_type="jokers")
    with pytest.raises(ValueError, match="deck_type must be 'colors' or 'ranks'"):
        Concentration(deck_type="suits")
