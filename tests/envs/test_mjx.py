"""mjx/<Robot>[-P|-V]: gymnasium v5 locomotion on MJX, against gymnasium's C MuJoCo env.

The physics tests compile MJX's step (≈10 s for HalfCheetah, ≈40 s for the RK4 robots on a busy 2-core
machine), so the HalfCheetah one runs by default and the others are marked slow. Everything else
(names, constants, healthy checks, observation layout) needs no compilation.
"""

from importlib.util import find_spec

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rtrl.envs as E
from rtrl.envs import registry
from rtrl.envs.mujoco import SPLITS, mujoco_factory, observation_split

HAS_MJX = find_spec("mujoco.mjx") is not None
needs_mjx = pytest.mark.skipif(not HAS_MJX, reason="mujoco-mjx is not installed (the mjx extra)")

# compile the physics with XLA's cheapest backend optimisation: same results, about half the compile time
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def _gym(robot):
    env = mujoco_factory(robot)()
    env.reset(seed=0)
    return env.unwrapped


# --- names and bad input (no MJX needed) ---------------------------------------------------------
def test_mjx_names_are_the_robots_with_a_split():
    assert E.names("mjx") == [f"mjx/{r}{p}" for r in SPLITS for p in ("", "-P", "-V")]
    assert all(E.spec(n).backend == "jax" and E.spec(n).extra == "mjx" for n in E.names("mjx"))


@pytest.mark.parametrize("name", ["mjx/Reacher-P", "mjx/Reacher-V", "mjx/Reacher"])
def test_a_robot_without_a_split_is_refused_with_the_ones_that_have_it(name):
    with pytest.raises(ValueError, match=r"Reacher has no -P/-V split.*mjx/Hopper-P.*mjx/Ant-V.*mujoco/Reacher"):
        E.check(name)
    with pytest.raises(ValueError, match="Reacher has no -P/-V split"):
        E.make(name)


@pytest.mark.parametrize("name", ["mjx/Humanoid-P", "mjx/Hopper-X", "mjx/hopper-P"])
def test_an_unknown_mjx_name_is_refused_with_the_family(name):
    with pytest.raises(ValueError, match=r"unknown environment .*The mjx family has: mjx/Hopper, mjx/Hopper-P"):
        E.check(name)


def test_bad_options_are_refused_naming_the_option():
    with pytest.raises(ValueError, match="mjx/Hopper-P: option num_envs must be a positive integer"):
        E.check("mjx/Hopper-P", {"num_envs": 0})
    with pytest.raises(ValueError, match="mjx/Hopper-P: option max_episode_steps must be a positive integer"):
        E.check("mjx/Hopper-P", {"max_episode_steps": 0})
    with pytest.raises(ValueError, match="does not take option.*reveal_steps"):
        E.check("mjx/Ant-V", {"reveal_steps": 2})


def test_a_missing_mjx_is_named_with_the_install_command(monkeypatch):
    import rtrl.envs.mjx as M

    def find(module):
        return None if module == "mujoco.mjx" else find_spec(module)

    monkeypatch.setattr(registry, "find_spec", find)
    monkeypatch.setattr(M, "find_spec", find)
    with pytest.raises(E.MissingExtraError, match=r"needs the 'mjx' extra \(missing: mujoco-mjx\).*\[mjx\]"):
        E.check("mjx/Hopper-P")
    with pytest.raises(E.MissingExtraError, match="mujoco-mjx"):
        M.MjxLocomotion("Hopper", "P")


# --- constants, healthy checks, observation layout (no compilation) -----------------------------
@needs_mjx
@pytest.mark.parametrize("robot", SPLITS)
def test_constants_are_gymnasiums(robot):
    from rtrl.envs.mjx import TASKS

    task, g = TASKS[robot], _gym(robot)
    assert task.frame_skip == g.frame_skip
    assert task.forward_reward_weight == g._forward_reward_weight
    assert task.ctrl_cost_weight == g._ctrl_cost_weight
    assert task.reset_noise_scale == g._reset_noise_scale
    assert task.healthy_reward == getattr(g, "_healthy_reward", 0.0)
    assert task.terminates == getattr(g, "_terminate_when_unhealthy", False)
    assert task.healthy_z_range == getattr(g, "_healthy_z_range", None)
    assert task.healthy_angle_range == getattr(g, "_healthy_angle_range", None)
    assert task.healthy_state_range == getattr(g, "_healthy_state_range", None)
    assert task.contact_cost_weight == getattr(g, "_contact_cost_weight", 0.0)
    assert task.forward_body == getattr(g, "_main_body", None)
    if robot == "Ant":
        assert task.contact_force_range == g._contact_force_range


@needs_mjx
@pytest.mark.parametrize("robot", SPLITS)
def test_is_healthy_is_gymnasiums(robot):
    from rtrl.envs.mjx import TASKS, is_healthy

    task, g = TASKS[robot], _gym(robot)
    rng = np.random.default_rng(1)
    agree = []
    for i in range(300):
        # around the initial state, with some coordinates pushed across the bounds (and NaN, inf)
        qpos = g.init_qpos + rng.normal(0, [0.3, 0.5, 0.3][i % 3], g.model.nq)
        qvel = rng.normal(0, 5, g.model.nv) * (30 if i % 7 == 0 else 1)
        if i % 50 == 0:
            qvel[i % g.model.nv] = [np.nan, np.inf, -np.inf][i % 3]
        g.set_state(qpos, qvel)
        expected = bool(getattr(g, "is_healthy", True))  # HalfCheetah has no healthy check
        agree.append(expected)
        assert bool(is_healthy(task, qpos, qvel, np)) == expected, (i, qpos, qvel)
        assert bool(is_healthy(task, jnp.asarray(qpos), jnp.asarray(qvel))) == expected, i
    if task.terminates:
        assert 0 < sum(agree) < len(agree)  # both outcomes were exercised


@needs_mjx
@pytest.mark.parametrize("robot", SPLITS)
def test_observation_layout_is_the_mujoco_familys(robot):
    """mjx/<Robot>[-P|-V] observes what mujoco/<Robot>[-P|-V] observes from the same qpos/qvel."""
    for part in ("", "-P", "-V"):
        host = E.make(f"mujoco/{robot}{part}")
        env = E.make(f"mjx/{robot}{part}")
        assert env.observation_space.shape == host.observation_space.shape, part
        assert env.action_space.shape == host.action_space.shape
        np.testing.assert_array_equal(env.action_space.low_array, host.action_space.low_array)
        expected = host.reset(seed=4)[0]
        data = host.envs[0].unwrapped.data
        state, obs = env.state_from(data.qpos, data.qvel)
        assert obs.dtype == jnp.float32
        np.testing.assert_allclose(obs, expected, rtol=1e-6, atol=1e-7)
        # and after a few host steps (velocities large enough for Hopper's and Walker2d's clip to matter)
        for _ in range(3):
            expected = host.step(np.ones((1,) + host.action_space.shape, np.float32))[0][0]
        data.qvel[:] = data.qvel * 50  # beyond the clip of [-10, 10]
        g = host.envs[0].unwrapped
        full = g._get_obs()
        _, obs = env.state_from(data.qpos, data.qvel)
        _, n_p, _ = env.split
        assert env.split == observation_split(E.make(f"mujoco/{robot}").envs[0])
        want = {"": full, "-P": full[:n_p], "-V": full[n_p:]}[part]
        np.testing.assert_allclose(obs, want.astype(np.float32), rtol=1e-6, atol=1e-6)


@needs_mjx
@pytest.mark.parametrize("robot", SPLITS)
def test_reset_draws_gymnasiums_noise(robot):
    from rtrl.envs.mjx import TASKS, MjxLocomotion

    env, task = MjxLocomotion(robot), TASKS[robot]
    states = [env.reset(jax.random.PRNGKey(k))[0] for k in range(20)]
    qpos = np.stack([s.data.qpos for s in states])
    qvel = np.stack([s.data.qvel for s in states])
    s = task.reset_noise_scale
    noise = qpos - env.model.qpos0
    assert np.all(np.abs(noise) <= s) and np.std(noise) > s / 4
    if task.normal_velocity_noise:
        assert np.abs(qvel).max() > s and 0.5 * s < np.std(qvel) < 1.5 * s
    else:
        assert np.all(np.abs(qvel) <= s) and np.std(qvel) > s / 4
    assert all(int(st.steps) == 0 for st in states)


# --- physics: one compiled rollout (jit + vmap + scan, auto-reset) against gymnasium ------------------
def _compare_rollouts(robot, monkeypatch=None, elliptic=False):
    """Three states from gymnasium trajectories; from each, two steps of mjx (max_episode_steps=2, so the
    second step truncates) inside one jit(vmap(scan)), against two steps of gymnasium's env. MJX runs in
    JAX's default 32-bit mode, as users run it (the test suite turns 64-bit mode on)."""
    with jax.enable_x64(False):
        _compare_rollouts_32(robot, monkeypatch, elliptic)


def _compare_rollouts_32(robot, monkeypatch, elliptic):
    import rtrl.envs.mjx as M

    g = _gym(robot)
    if elliptic:  # see test_ant_matches_gymnasium
        import mujoco

        g.model.opt.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
        mjx = M._import_mjx()
        device_model = mjx.put_model(g.model, impl="jax")
        monkeypatch.setattr(M, "_device_model", lambda robot, x64: (device_model,
                                                                      mjx.make_data(device_model, impl="jax")))
    env = M.MjxLocomotion(robot, max_episode_steps=2)
    rng = np.random.default_rng(0)
    starts, actions, expected = [], [], []
    for i in range(3):
        g.reset(seed=i)
        for _ in range(3 + 6 * i):  # later starts: further along, on the ground
            g.step(rng.uniform(-1, 1, g.action_space.shape).astype(np.float32))
        qpos, qvel = g.data.qpos.copy(), g.data.qvel.copy()
        a = rng.uniform(-1, 1, (2,) + g.action_space.shape).astype(np.float32)
        g.set_state(qpos, qvel)
        steps = [g.step(a[0])[:3], g.step(a[1])[:3]]
        starts.append((qpos, qvel))
        actions.append(a)
        expected.append(steps)

    def rollout(qpos, qvel, acts):
        state, obs0 = env.state_from(qpos, qvel)

        def body(carry, a):
            state, key = carry
            key, k = jax.random.split(key)
            state, obs, reward, done, info = env.step(state, a, k)
            return (state, key), (obs, reward, done, info["terminated"], info["truncated"], info["final_obs"])

        return obs0, jax.lax.scan(body, (state, jax.random.PRNGKey(0)), acts)[1]

    args = (np.stack([s[0] for s in starts]), np.stack([s[1] for s in starts]), np.stack(actions))
    compiled = jax.jit(jax.vmap(rollout)).trace(*args).lower().compile(FAST_COMPILE)
    obs0, (obs, reward, done, terminated, truncated, final_obs) = jax.device_get(compiled(*args))
    # float32 MJX against float64 MuJoCo, whose solvers stop at slightly different iterates: after one
    # step of 4-5 RK4/Euler substeps the observations differ by ≲ 3e-5 (measured), rewards (a velocity,
    # a position difference / dt) by ≲ 1e-5. 1e-3 leaves room and still catches a wrong frame skip,
    # clip, weight or healthy check (each changes an observation or reward by ≥ 1e-2).
    tol = dict(rtol=1e-3, atol=1e-3)
    skip, _, _ = env.split
    for i, ((qpos, qvel), steps) in enumerate(zip(starts, expected)):
        np.testing.assert_allclose(obs0[i], env.observation(jnp.asarray(qpos), jnp.asarray(qvel)), atol=1e-7)
        for t, (g_obs, g_reward, g_terminated) in enumerate(steps):
            np.testing.assert_allclose(final_obs[i, t], g_obs, **tol, err_msg=f"start {i}, step {t}")
            np.testing.assert_allclose(reward[i, t], g_reward, **tol, err_msg=f"start {i}, step {t}")
            assert terminated[i, t] == g_terminated, (i, t)
            if g_terminated:  # the episode ended: the next step belongs to a new one (not compared)
                break
        # step 0 is not truncated; step 1 is (2-step episodes) unless it terminated
        assert not truncated[i, 0] and done[i, 0] == terminated[i, 0]
        if not terminated[i, 0]:
            assert truncated[i, 1] == (not terminated[i, 1]) and done[i, 1]
        for t in range(2):
            if done[i, t]:  # the returned observation starts a new episode: qpos0 + reset noise
                assert not np.allclose(obs[i, t], final_obs[i, t])
                s = env.task.reset_noise_scale
                np.testing.assert_array_less(np.abs(obs[i, t, :env.model.nq - skip] - env.model.qpos0[skip:]), s + 1e-6)
            else:
                np.testing.assert_array_equal(obs[i, t], final_obs[i, t])


@needs_mjx
def test_half_cheetah_matches_gymnasium_under_jit_vmap_scan():
    _compare_rollouts("HalfCheetah")


@needs_mjx
@pytest.mark.slow
@pytest.mark.parametrize("robot", ["Hopper", "Walker2d"])
def test_hopper_and_walker_match_gymnasium_under_jit_vmap_scan(robot):
    _compare_rollouts(robot)


@needs_mjx
@pytest.mark.slow
def test_ant_matches_gymnasium_with_elliptic_cones(monkeypatch):
    """Ant's feet are capsules on a plane, where MJX 3.17 orients the contact's tangent frame along the
    world axes and C MuJoCo along the capsule: with the pyramidal friction cone (gymnasium's model)
    the pyramid's edges differ, and one step with a new contact differs by up to ≈0.25 in a velocity
    (the same with mujoco 3.17). The elliptic cone is the same whatever the tangents, so with it in both
    everything else (observation, reward with the contact cost, termination) must agree."""
    _compare_rollouts("Ant", monkeypatch, elliptic=True)
