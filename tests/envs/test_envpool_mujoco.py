"""mujoco/<Robot> with backend='envpool': the same robot as the gymnasium path, stepped in one C++ batch
(skipped without the envpool extra, except the checks of options)."""

from importlib.util import find_spec

import numpy as np
import pytest

import rtrl.envs as E
from rtrl.envs.envpool_mujoco import ENVPOOL_ROBOTS
from rtrl.envs.mujoco import mujoco_factory

needs_envpool = pytest.mark.skipif(find_spec("envpool") is None, reason="needs the envpool extra")


def _must_not_build(*args, **kwargs):
    raise AssertionError("built before the check refused")


def test_backend_option_checked_and_refused_before_any_work(monkeypatch):
    from rtrl.envs import registry

    assert E.spec("mujoco/Hopper-P").options["backend"] == "gymnasium"
    with pytest.raises(ValueError, match=r"mujoco/Hopper-P: option backend must be one of 'gymnasium', 'envpool', "
                                         r"got 'mjx'"):
        E.check("mujoco/Hopper-P", {"backend": "mjx"})
    with pytest.raises(ValueError, match=r"mujoco/Hopper: option render_mode is not available with backend='envpool'"):
        E.check("mujoco/Hopper", {"backend": "envpool", "render_mode": "rgb_array"})
    with pytest.raises(ValueError, match="backend"):  # Reacher-Memory has no envpool path
        E.check("mujoco/Reacher-Memory", {"backend": "envpool"})
    monkeypatch.setattr(registry, "find_spec", lambda mod: None if mod == "envpool" else object())
    monkeypatch.setattr(registry, "_build_mujoco", _must_not_build)
    message = r"mujoco/Walker2d-V with backend='envpool' needs the 'envpool' extra \(missing: envpool\): pip install"
    for call in (lambda: E.check("mujoco/Walker2d-V", {"backend": "envpool"}),
                 lambda: E.make("mujoco/Walker2d-V", backend="envpool", num_envs=2)):
        with pytest.raises(E.MissingExtraError, match=message):
            call()
    assert E.check("mujoco/Walker2d-V")["backend"] == "gymnasium"  # the gymnasium path does not need envpool


def _sync(gym_env, state, skip, n_positions):
    """Put the gymnasium env in the state a (float64) observation shows (root x/y are not observed and
    change neither the dynamics nor the reward, which uses their difference)."""
    base = gym_env.unwrapped
    base.set_state(np.concatenate([np.zeros(skip), state[:n_positions]]), state[n_positions:])


@needs_envpool
@pytest.mark.parametrize("robot", ENVPOOL_ROBOTS)
def test_envpool_steps_like_gymnasium_from_the_same_states(robot):
    """Two envs, 150 random actions; before each step gymnasium is put in envpool's state (so chaos does
    not hide a difference): observations, rewards and episode ends equal gymnasium's; where an episode
    ends, final_obs is gymnasium's last observation and obs the next episode's first (same-step reset)."""
    from rtrl.envs.envpool_mujoco import EnvpoolMujoco

    class Recording(EnvpoolMujoco):  # keeps envpool's float64 observations: the states to put gymnasium in
        def _observation(self, raw):
            self.raw.append(np.asarray(raw, np.float64)[:, :self._size])
            return super()._observation(raw)

    pool = Recording(robot, 2)
    refs = [mujoco_factory(robot, max_episode_steps=10_000)() for _ in range(2)]
    skip, n_positions, n_velocities = pool.observation_split()
    assert pool.observation_space == E.make(f"mujoco/{robot}").observation_space
    assert pool.action_space == E.make(f"mujoco/{robot}").action_space
    pool.raw = []
    obs = pool.reset(seed=3)
    assert obs.shape == (2, n_positions + n_velocities) and obs.dtype == np.float32
    state = pool.raw[-1]
    for ref in refs:
        ref.reset(seed=0)
    rng = np.random.default_rng(0)
    low, high = np.asarray(pool.action_space.low), np.asarray(pool.action_space.high)
    ended = compared = 0
    for _ in range(150):
        actions = rng.uniform(low, high, (2,) + pool.action_space.shape).astype(np.float32)
        pool.raw = []
        next_obs, reward, done, info = pool.step(actions)
        next_state = pool.raw[0].copy()
        if done.any():  # the second conversion holds the ended envs' first observations
            next_state[done] = pool.raw[1]
        for i, ref in enumerate(refs):
            # a velocity at gymnasium's +-10 observation clip is not the state: compare from exact states only
            exact = np.abs(state[i, n_positions:]).max() < 10.0 or robot == "HalfCheetah"
            _sync(ref, state[i], skip, n_positions)
            o, r, terminated, _, _ = ref.step(actions[i])
            if exact:
                compared += 1
                np.testing.assert_allclose(info["final_obs"][i], o, rtol=1e-5, atol=1e-5)
                np.testing.assert_allclose(reward[i], r, rtol=1e-5, atol=1e-5)
                assert info["terminated"][i] == terminated and done[i] == terminated
            assert not info["truncated"][i]
            if done[i]:
                ended += 1
                assert not np.array_equal(next_obs[i], info["final_obs"][i])
            else:
                assert np.array_equal(next_obs[i], info["final_obs"][i])
        np.testing.assert_array_equal(next_obs, next_state.astype(np.float32))
        state = next_state
    pool.close()
    assert compared >= 50  # of 300 (a fallen Walker2d spins past the clip: 64 measured; Hopper, HalfCheetah 300)
    if robot != "HalfCheetah":  # random actions topple these: episode ends were compared
        assert ended > 0


def test_ant_is_refused_on_envpool():
    with pytest.raises(ValueError, match=r"mujoco/Ant-P: option backend='envpool' is not available for Ant"):
        E.check("mujoco/Ant-P", {"backend": "envpool"})


@needs_envpool
def test_split_and_truncation_through_the_registry():
    """mujoco/Hopper-P on envpool observes the first 5 values of mujoco/Hopper on envpool; a 7-step limit
    truncates every env at its 7th step, with the same-step reset."""
    full = E.make("mujoco/Hopper", backend="envpool", num_envs=3, max_episode_steps=7)
    part = E.make("mujoco/Hopper-P", backend="envpool", num_envs=3, max_episode_steps=7)
    np.testing.assert_array_equal(part.reset(seed=5), full.reset(seed=5)[:, :5])
    for t in range(1, 8):
        a = np.zeros((3, 3), np.float32)
        obs_full, _, done, info = full.step(a)
        obs_part, _, done_part, _ = part.step(a)
        np.testing.assert_array_equal(obs_part, obs_full[:, :5])
        np.testing.assert_array_equal(done, done_part)
        assert done.all() == (t == 7) and info["truncated"].all() == (t == 7) and not info["terminated"].any()
    assert not np.array_equal(info["final_obs"], obs_full)  # a new episode's first observation
    full.close()
    part.close()
