"""atari/<Game>: the envpool back-end against the ale path (skipped without envpool / the atari extra)."""

from importlib.util import find_spec

import numpy as np
import pytest

import rtrl.envs as E

HAVE_ALE = find_spec("ale_py") is not None and find_spec("cv2") is not None
HAVE_ENVPOOL = find_spec("envpool") is not None
needs_both = pytest.mark.skipif(not (HAVE_ALE and HAVE_ENVPOOL), reason="needs the atari and envpool extras")


def _rollout(env, actions, seed=0):
    obs0 = env.reset(seed=seed)
    steps = [env.step(a) for a in actions]
    obs, reward, done = (np.stack([s[i] for s in steps]) for i in range(3))
    info = {k: np.stack([s[3][k] for s in steps]) for k in steps[0][3]}
    return obs0, obs, reward, done, info


def _must_not_build(*args, **kwargs):
    raise AssertionError("built before the check refused")


def test_backend_option_checked_and_missing_envpool_refused_before_any_work(monkeypatch):
    from rtrl.envs import registry

    assert E.spec("atari/Pong").options["backend"] == "ale"
    assert E.spec("atari/Pong").options["max_episode_steps"] == 27_000
    with pytest.raises(ValueError, match=r"atari/Pong: option backend must be one of 'ale', 'envpool', got 'cuda'"):
        E.check("atari/Pong", {"backend": "cuda"})
    with pytest.raises(ValueError, match=r"option noop_max must be at least 1 with backend='envpool'"):
        E.check("atari/Pong", {"backend": "envpool", "noop_max": 0})
    with pytest.raises(ValueError, match=r"terminal_on_life_loss=True is not available with backend='envpool'"):
        E.check("atari/Pong", {"backend": "envpool", "terminal_on_life_loss": True})
    monkeypatch.setattr(registry, "find_spec", lambda mod: None if mod == "envpool" else object())
    monkeypatch.setattr(registry, "_build_atari", _must_not_build)
    message = (r"atari/Pong with backend='envpool' needs the 'envpool' extra \(missing: envpool\): "
               r"pip install 'rtrl\[envpool\]' \(from a clone: pip install -e '\.\[envpool\]'\)")
    for call in (lambda: E.check("atari/Pong", {"backend": "envpool"}),
                 lambda: E.make("atari/Pong", backend="envpool", num_envs=2)):
        with pytest.raises(E.MissingExtraError, match=message):
            call()
    assert E.check("atari/Pong")["backend"] == "ale"  # the ale path does not need envpool


@needs_both
@pytest.mark.parametrize("game", ["Pong", "Breakout"])
def test_action_space_is_the_ale_paths_minimal_set(game):
    with E.make(f"atari/{game}", backend="envpool") as pool, E.make(f"atari/{game}") as ale:
        assert pool.action_space == ale.action_space == E.Discrete({"Pong": 6, "Breakout": 4}[game])
        assert pool.observation_space == ale.observation_space == E.Box((1, 84, 84), 0.0, 1.0)


@needs_both
def test_envpool_equals_the_ale_path_and_keeps_the_convention():
    """Sticky actions off, 1 no-op, a 6-step episode limit, 4 stacked frames, 2 envs, 16 steps: observations,
    rewards, done/terminated/truncated and final_obs equal the ale path's (whose same-step convention
    tests/envs/test_envs_convention.py checks), across two auto-resets."""
    options = dict(num_envs=2, frame_stack=4, sticky_actions=0.0, noop_max=1, max_episode_steps=6)
    actions = np.random.default_rng(0).integers(6, size=(16, 2)).astype(np.int64)
    with E.make("atari/Pong", backend="envpool", **options) as pool, E.make("atari/Pong", **options) as ale:
        got, want = _rollout(pool, actions), _rollout(ale, actions)
    obs0, obs, reward, done, info = got
    assert obs0.shape == (2, 4, 84, 84) and obs0.dtype == np.float32 and obs.dtype == np.float32
    assert 0.0 <= obs.min() and obs.max() <= 1.0 and reward.dtype == np.float32 and done.dtype == bool
    np.testing.assert_array_equal(done[:, 0], np.tile([False] * 5 + [True], 3)[:16])
    np.testing.assert_array_equal(info["truncated"], done)
    assert not info["terminated"].any()
    # the step after an end: obs is the reset's (its 4 frames all the first frame), final_obs the last one
    for t in np.flatnonzero(done[:, 0]):
        np.testing.assert_array_equal(obs[t], obs0)
        assert not np.array_equal(info["final_obs"][t], obs0)
    for name, a, b in zip(("obs0", "obs", "reward", "done"), got[:4], want[:4], strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)
    for key in ("terminated", "truncated", "final_obs"):
        np.testing.assert_array_equal(info[key], want[4][key], err_msg=key)


@needs_both
def test_same_seed_same_observations():
    actions = np.random.default_rng(1).integers(6, size=(12, 2)).astype(np.int64)
    with E.make("atari/Pong", backend="envpool", num_envs=2) as env:  # sticky actions 0.25, up to 30 no-ops
        a = _rollout(env, actions, seed=3)
        b = _rollout(env, actions, seed=3)
        c = _rollout(env, actions, seed=4)
        env.reset()  # no seed: the pool continues
    for x, y in zip(a[:4], b[:4], strict=True):
        np.testing.assert_array_equal(x, y)
    assert not all(np.array_equal(x, y) for x, y in zip(a[:2], c[:2], strict=True))


@needs_both
def test_bad_actions_and_step_before_reset():
    env = E.make("atari/Pong", backend="envpool", num_envs=2)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(np.array([0, 0]))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action outside the action space Discrete\(6\)"):
        env.step(np.array([0, 6]))
    with pytest.raises(ValueError, match=r"actions must have shape \(2,\)"):
        env.step(np.array([0]))
    env.close()
