"""The reset/done convention, identical on both back-ends (see rtrl.envs' docstring).

done_t is True iff the episode ended with action a_t; then r_t is that episode's last reward,
the returned observation is already the next episode's first one, and info["final_obs"] is the
real last observation.
"""

import gymnasium as gym
import jax
import numpy as np
import pytest
from _envs_testing import GymCountdown, JaxCountdown, host_rollout, jax_rollout

import rtrl.envs as E

KEY = jax.random.PRNGKey(0)
T = 7  # steps: episodes of length 3 end at steps 3 and 6 (1-based)


def _expected(length=3, steps=T, actions=None):
    """Hand-computed sequences for Countdown with discrete actions."""
    actions = np.zeros(steps, int) if actions is None else actions
    t, obs, rew, done, final = 0, [], [], [], []
    for a in actions:
        t += 1
        rew.append(t + 0.5 * a)
        final.append([t, 1000 * t + 5])
        d = t >= length
        done.append(d)
        t = 0 if d else t
        obs.append([t, 1000 * t + 5])
    return np.array(obs, np.float32), np.array(rew, np.float32), np.array(done), np.array(final, np.float32)


def _backends(truncate=False, num_envs=2):
    jax_env = E.VmapEnv(JaxCountdown(length=3, truncate=truncate), num_envs)
    host_env = E.GymnasiumEnvs([lambda: GymCountdown(length=3, truncate=truncate)] * num_envs)
    vec = gym.vector.SyncVectorEnv(
        [lambda: GymCountdown(length=3, truncate=truncate)] * num_envs,
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    return {"jax": jax_env, "host": host_env, "gym-vector": E.from_gymnasium(vec)}


def _run(backend, env, actions):
    if backend == "jax":
        return jax_rollout(env, actions, KEY)
    return host_rollout(env, actions)


@pytest.mark.parametrize("truncate", [False, True], ids=["terminated", "truncated"])
@pytest.mark.parametrize("backend", ["jax", "host", "gym-vector"])
def test_done_marks_the_first_observation_of_the_next_episode(backend, truncate):
    env = _backends(truncate)[backend]
    actions = np.tile(np.array([[0], [2]]), (T, 1, 1)).reshape(T, 2)  # env 0 plays 0, env 1 plays 2
    obs0, obs, rew, done, info = _run(backend, env, actions)
    np.testing.assert_array_equal(obs0, [[0, 5], [0, 5]])  # reset: first observations
    for i, a in enumerate([0, 2]):
        e_obs, e_rew, e_done, e_final = _expected(actions=np.full(T, a))
        np.testing.assert_array_equal(obs[:, i], e_obs)
        np.testing.assert_array_equal(rew[:, i], e_rew)
        np.testing.assert_array_equal(done[:, i], e_done)
        np.testing.assert_array_equal(info["final_obs"][:, i], e_final)
        np.testing.assert_array_equal(info["terminated"][:, i], e_done & (not truncate))
        np.testing.assert_array_equal(info["truncated"][:, i], e_done & truncate)
    # the done steps are exactly 3 and 6 (1-based): the reward there is the episode's last (t=3)
    assert done[:, 0].nonzero()[0].tolist() == [2, 5]
    assert rew[2, 0] == 3.0 and rew[5, 1] == 4.0
    # the observation delivered with done is a first observation (t = 0), final_obs the last (t = 3)
    assert obs[2, 0, 0] == 0 and info["final_obs"][2, 0, 0] == 3


@pytest.mark.parametrize("backend", ["jax", "host"])
def test_first_flag_seen_by_an_agent(backend):
    """An agent keeps first = ones after reset and first = done after a step: first marks t == 0."""
    env = _backends()[backend]
    obs0, obs, rew, done, info = _run(backend, env, np.zeros((T, 2), int))
    first = np.concatenate([np.ones((1, 2), bool), done], axis=0)
    all_obs = np.concatenate([obs0[None], obs], axis=0)
    np.testing.assert_array_equal(first, all_obs[..., 0] == 0)


def test_backends_agree_on_popgym_episode_boundaries():
    """jax/RepeatFirstEasy and popgym/RepeatFirstEasy both end their episodes after 51 steps."""
    steps = 110
    jenv = E.make("jax/RepeatFirstEasy", num_envs=2)
    henv = E.make("popgym/RepeatFirstEasy", num_envs=2)
    actions = np.zeros((steps, 2), np.int32)
    _, jobs, _, jdone, jinfo = jax_rollout(jenv, actions, KEY)
    _, hobs, _, hdone, hinfo = host_rollout(henv, actions)
    for done, info in ((jdone, jinfo), (hdone, hinfo)):
        assert done[:, 0].nonzero()[0].tolist() == [50, 101]
        assert info["terminated"][50].all() and not info["truncated"].any()


def test_vector_env_in_next_step_mode_is_rejected():
    vec = gym.vector.SyncVectorEnv([lambda: GymCountdown()] * 2)  # gymnasium's default NEXT_STEP mode
    with pytest.raises(ValueError, match="autoreset_mode must be AutoresetMode.SAME_STEP.*make_vec"):
        E.from_gymnasium(vec)


def test_from_gymnasium_accepts_ids_factories_and_instances():
    a = E.from_gymnasium("CartPole-v1", num_envs=3)
    b = E.from_gymnasium(lambda: GymCountdown(), num_envs=2)
    c = E.from_gymnasium(GymCountdown())
    assert (a.num_envs, b.num_envs, c.num_envs) == (3, 2, 1)
    assert a.reset(seed=1).shape == (3, 4) and a.action_space == E.Discrete(2)
    with pytest.raises(ValueError, match="num_envs=1"):
        E.from_gymnasium(GymCountdown(), num_envs=2)
    with pytest.raises(TypeError, match="env must be a gymnasium id"):
        E.from_gymnasium(3)


def test_host_reset_seeds_env_i_with_seed_plus_i():
    env = E.make("popgym/RepeatFirstEasy", num_envs=2)
    single = E.make("popgym/RepeatFirstEasy")
    both = env.reset(seed=10)
    np.testing.assert_array_equal(both[1], single.reset(seed=11)[0])


@pytest.mark.parametrize("jit", [True, False], ids=["jit", "eager"])
def test_single_jax_env_auto_resets_like_the_batched_one(jit):
    """The unbatched env takes the cond (jit) or Python (eager) branch for its reset; same sequence."""
    env = JaxCountdown(length=3)
    actions = np.array([0, 2, 1, 0, 2, 1, 0], np.int32)
    e_obs, e_rew, e_done, e_final = _expected(actions=actions)
    if jit:
        _, obs, rew, done, info = jax_rollout(env, actions, KEY)
    else:
        state, _ = env.reset(KEY)
        outs = []
        for a in actions:
            state, o, r, d, i = env.step(state, a, KEY)
            outs.append((o, r, d, i["final_obs"]))
        obs, rew, done, final = (np.stack(x) for x in zip(*outs, strict=True))
        info = {"final_obs": final}
    np.testing.assert_array_equal(obs, e_obs)
    np.testing.assert_array_equal(rew, e_rew)
    np.testing.assert_array_equal(done, e_done)
    np.testing.assert_array_equal(info["final_obs"], e_final)
