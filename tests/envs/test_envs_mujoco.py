"""MuJoCo POMDPs: the -P/-V split against the model's qpos/qvel, and the Reacher-Memory rule."""

import numpy as np
import pytest

import rtrl.envs as E
from rtrl.envs.mujoco import REACHER_TARGET_INDICES, SPLITS, observation_split

# (nq, nv, excluded root coordinates, -P size, -V size) of gymnasium v5, contact forces excluded
LAYOUT = {
    "Hopper": (6, 6, 1, 5, 6),
    "Walker2d": (9, 9, 1, 8, 9),
    "HalfCheetah": (9, 9, 1, 8, 9),
    "Ant": (15, 14, 2, 13, 14),
}


@pytest.mark.parametrize("robot", SPLITS)
def test_split_matches_the_model(robot):
    nq, nv, skip, n_p, n_v = LAYOUT[robot]
    full = E.make(f"mujoco/{robot}")
    base = full.envs[0].unwrapped
    assert (base.model.nq, base.model.nv) == (nq, nv)
    assert observation_split(full.envs[0]) == (skip, n_p, n_v)
    assert full.observation_space.shape == (n_p + n_v,)  # no contact forces
    for part, size in (("P", n_p), ("V", n_v)):
        env = E.make(f"mujoco/{robot}-{part}", num_envs=2)
        obs = env.reset(seed=3)
        assert obs.shape == (2, size) and obs.dtype == np.float32
        rng = np.random.default_rng(0)
        for _ in range(3):
            actions = rng.uniform(-1, 1, (2,) + env.action_space.shape).astype(np.float32)
            obs, _, done, _ = env.step(actions)
        data = env.envs[1].unwrapped.data
        # gymnasium's Hopper and Walker2d observe velocities clipped to [-10, 10]
        vel = np.clip(data.qvel, -10, 10) if robot in ("Hopper", "Walker2d") else data.qvel
        expected = data.qpos[skip:] if part == "P" else vel
        np.testing.assert_allclose(obs[1], expected.astype(np.float32), rtol=1e-6, atol=1e-6)


def test_half_cheetah_split_does_not_leak_the_root_velocity():
    """Defect 4 of the public RTU code: its HalfCheetah-P kept 9 values (a velocity) and -V 8."""
    p, v = E.make("mujoco/HalfCheetah-P"), E.make("mujoco/HalfCheetah-V")
    assert p.observation_space.shape == (8,) and v.observation_space.shape == (9,)
    p.reset(seed=0)
    v.reset(seed=0)
    act = np.full((1, 6), 0.5, np.float32)
    op, ov = p.step(act)[0], v.step(act)[0]
    data = p.envs[0].unwrapped.data
    np.testing.assert_allclose(op[0], data.qpos[1:], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ov[0, 0], v.envs[0].unwrapped.data.qvel[0], rtol=1e-6, atol=1e-6)  # root x-velocity


@pytest.mark.parametrize("reveal_steps", [1, 3])
def test_reacher_memory_shows_the_target_only_at_the_start(reveal_steps):
    env = E.make("mujoco/Reacher-Memory", reveal_steps=reveal_steps, max_episode_steps=8)
    assert env.observation_space.shape == (11,)
    obs = [env.reset(seed=5)[0]]
    base = env.envs[0].unwrapped
    target = base.data.qpos[2:4].copy()
    np.testing.assert_allclose(obs[0][4:6], target, rtol=1e-6)  # target shown at reset
    fingertip = base.get_body_com("fingertip")[:2] - base.get_body_com("target")[:2]
    np.testing.assert_allclose(obs[0][8:10], fingertip, rtol=1e-5, atol=1e-6)
    dones = []
    for _ in range(9):
        o, _, d, info = env.step(np.zeros((1, 2), np.float32))
        obs.append(info["final_obs"][0])
        dones.append(d[0])
    # observations 0 .. reveal_steps-1 show the target; the rest of the episode hides it
    for t, o in enumerate(obs[:9]):
        shown = t < reveal_steps
        assert o[10] == (1.0 if shown else 0.0), t
        hidden = np.asarray(o)[list(REACHER_TARGET_INDICES)]
        assert np.any(hidden != 0) if shown else np.all(hidden == 0), t
    assert dones[7] and not any(dones[:7])  # 8-step episodes


def test_reacher_memory_first_observation_after_auto_reset_shows_the_new_target():
    env = E.make("mujoco/Reacher-Memory", max_episode_steps=2)
    env.reset(seed=0)
    env.step(np.zeros((1, 2), np.float32))
    obs, _, done, info = env.step(np.zeros((1, 2), np.float32))
    assert done[0] and obs[0, 10] == 1.0 and info["final_obs"][0, 10] == 0.0
    np.testing.assert_allclose(obs[0, 4:6], env.envs[0].unwrapped.data.qpos[2:4], rtol=1e-6)


def test_hide_is_the_split_of_the_registry_and_works_on_any_gymnasium_robot():
    """mujoco/<Robot>-P/-V and gymnasium/<Robot>-v5 with hide= are the same mask wrapper."""
    rng = np.random.default_rng(1)
    actions = rng.uniform(-1, 1, (5, 2, 3)).astype(np.float32)
    for part, hidden in (("P", "velocities"), ("V", "positions")):
        registered = E.make(f"mujoco/Hopper-{part}", num_envs=2)
        assert registered.name == "MaskObservation(mujoco/Hopper)"
        assert isinstance(E.wrappers.unwrapped(registered), E.GymnasiumEnvs)
        for other in (E.make("gymnasium/Hopper-v5", num_envs=2, hide=hidden),
                      E.wrappers.hide(E.from_gymnasium("Hopper-v5", num_envs=2), hidden)):
            assert other.observation_space == registered.observation_space
            np.testing.assert_array_equal(other.reset(seed=4), registered.reset(seed=4))
            for a in actions:
                o1, o2 = other.step(a), registered.step(a)
                np.testing.assert_array_equal(o1[0], o2[0])
                np.testing.assert_array_equal(o1[3]["final_obs"], o2[3]["final_obs"])
    ant = E.make("gymnasium/Ant-v5", hide="positions", make_kwargs={"include_cfrc_ext_in_observation": False})
    assert ant.observation_space.shape == (LAYOUT["Ant"][4],)


def test_hide_refuses_what_it_cannot_split():
    with pytest.raises(ValueError, match=r"hide needs a gymnasium MuJoCo environment \(e.g. gymnasium/Hopper-v5\), "
                                         r"got gymnasium/CartPole-v1"):
        E.make("gymnasium/CartPole-v1", hide="velocities")
    with pytest.raises(ValueError, match="contact forces must be excluded"):
        E.make("gymnasium/Ant-v5", hide="velocities")
    hopper = E.wrappers.previous_action_reward(E.make("mujoco/Hopper"))
    with pytest.raises(ValueError, match="apply it before wrappers that change the observation"):
        E.wrappers.hide(hopper, "velocities")
    with pytest.raises(ValueError, match="part must be one of 'velocities', 'positions', got 'P'"):
        E.wrappers.hide(E.make("mujoco/Hopper"), "P")
