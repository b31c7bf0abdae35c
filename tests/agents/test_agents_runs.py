"""Whole iterations: all three agents run, vmapped seeds equal separate runs, runs are reproducible,
T-BPTT sequences are aligned, host envs work, and bad input fails before training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rtrl
from rtrl import agents
from rtrl.agents.agent import DATA_PATHS
from rtrl.agents.tbptt_ppo import sequence_batch, sequence_loss
from rtrl.experiments.config import to_dict
from rtrl.frozendict import FrozenDict


def _config(**kw):
    base = dict(agent="real-time-ppo", cell="rtu-linear", hidden_size=4, encoder=(8,), head=(8,), num_envs=2,
                num_steps=16, update_epochs=2, num_minibatches=2, learning_rate=1e-3)
    base.update(kw)
    return agents.PPOConfig(**base)


CONFIGS = {
    "real-time-ppo": _config(),
    "tbptt-ppo": _config(agent="tbptt-ppo", cell="gru", sequence_length=8),
    "mlp-ppo": _config(agent="mlp-ppo"),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_iteration_runs_and_is_deterministic(name):
    agent = agents.make(CONFIGS[name], rtrl.envs.make("jax/RepeatPreviousEasy"))
    runs = []
    for _ in range(2):
        state = agent.init(jax.random.PRNGKey(0))
        for _ in range(2):
            state, metrics = agent.iteration(state)
        runs.append((state, agents.to_numpy(metrics)))
    (s1, m1), (s2, m2) = runs
    assert m1 == m2
    for a, b in zip(jax.tree.leaves(s1.params), jax.tree.leaves(s2.params)):
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(v) for v in m1.values())
    assert m1["env_steps"] == 2 * 16 * 2 and int(s1.iteration) == 2
    for k in ("policy_loss", "value_loss", "approx_kl", "clip_fraction", "explained_variance", "episode_return",
              "episode_length", "episodes", "entropy"):
        assert k in m1


def test_vmapped_seeds_equal_separate_runs():
    cfg = _config(num_steps=8, update_epochs=1, num_minibatches=2)
    agent = agents.make(cfg, rtrl.envs.make("jax/RepeatPreviousEasy"))
    keys = jax.random.split(jax.random.PRNGKey(7), 2)
    states, metrics = jax.vmap(agent.iteration)(jax.vmap(agent.init)(keys))
    for i, key in enumerate(keys):
        state, m = agent.iteration(agent.init(key))
        for k in m:
            np.testing.assert_allclose(metrics[k][i], m[k], rtol=1e-5, atol=1e-6, err_msg=k)
        for a, b in zip(jax.tree.leaves(states.params), jax.tree.leaves(state.params)):
            np.testing.assert_allclose(a[i], b, rtol=1e-5, atol=1e-6)


def test_tbptt_sequences_start_from_the_stored_state_and_reproduce_the_rollout():
    cfg = _config(agent="tbptt-ppo", cell="gru", sequence_length=8, num_steps=64, dtype="float64")
    agent = agents.make(cfg, rtrl.envs.make("jax/CountRecallEasy"))
    state, ro = agent.rollout(agent.init(jax.random.PRNGKey(0)))
    assert bool(ro.first[1:].any())  # a reset inside some sequence
    batch = sequence_batch(ro, ro.value, ro.value, 8)
    assert batch.obs.shape[:2] == (8, 16)
    # sequence c·E + e is chunk c of env e
    np.testing.assert_array_equal(batch.obs[:, 3], ro.obs[8:16, 1])
    np.testing.assert_array_equal(batch.carry.state[0][3], ro.carry.state[0][8, 1])
    # unrolling from the stored start states with the rollout's parameters gives ratio 1 everywhere
    _, info = sequence_loss(agent.network, cfg, state.params, batch)
    assert float(info.approx_kl) < 1e-12 and float(info.clip_fraction) == 0.0


@pytest.mark.parametrize("cell", ["lstm", "lru"])
def test_tbptt_other_cells(cell):
    cfg = _config(agent="tbptt-ppo", cell=cell, sequence_length=4)
    agent = agents.make(cfg, rtrl.envs.make("jax/RepeatFirstEasy"))
    _, m = agent.iteration(agent.init(jax.random.PRNGKey(0)))
    assert np.isfinite(float(m["total_loss"]))


def test_continuous_actions_on_a_jax_env_with_box_actions():
    from rtrl.envs.jax_env import JaxEnv
    from rtrl.envs.spaces import Box

    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Reach(JaxEnv):  # reward −|a − 0.5|, 8-step episodes
        @property
        def observation_space(self):
            return Box((2,), 0.0, 1.0)

        @property
        def action_space(self):
            return Box((1,), -1.0, 1.0)

        def reset_env(self, key):
            return jnp.zeros((), jnp.int32), jnp.zeros(2, jnp.float32)

        def step_env(self, t, action, key):
            return (t + 1, jnp.ones(2, jnp.float32), -jnp.abs(action[0] - 0.5), t + 1 >= 8, jnp.asarray(False))

    agent = agents.make(_config(action="continuous"), Reach())
    state, m = agent.iteration(agent.init(jax.random.PRNGKey(0)))
    assert np.isfinite(float(m["total_loss"])) and state.params["log_std"].shape == (1,)
    with pytest.raises(ValueError, match="action='discrete'"):
        agents.make(_config(action="discrete"), Reach())


def test_host_env_rollout_is_reproducible():
    pytest.importorskip("popgym")
    cfg = _config(num_envs=2, num_steps=8)
    results = []
    for _ in range(2):
        env = rtrl.envs.make("popgym/RepeatPreviousEasy", num_envs=2)
        agent = agents.make(cfg, env)
        state = agent.init(jax.random.PRNGKey(3))
        state, m = agent.iteration(state)
        results.append(agents.to_numpy(m))
        env.close()
    assert results[0] == results[1]
    assert results[0]["env_steps"] == 16


def test_host_rollout_into_the_last_rollouts_memory_equals_a_fresh_one():
    # rtrl train hands each host rollout the last one to write over (donated): every row must be
    # overwritten (a skipped row would show the first rollout's data), and the memory really reused
    pytest.importorskip("popgym")
    cfg = _config(num_envs=2, num_steps=8)
    second = []
    for reuse in (False, True):
        env = rtrl.envs.make("popgym/RepeatPreviousEasy", num_envs=2)
        agent = agents.make(cfg, env)
        states = jax.tree.map(lambda x: x[None], agent.init(jax.random.PRNGKey(3)))
        states, first = agent.host_rollout_seeds(states, [env])
        old = jax.tree.map(lambda x: jnp.full_like(x, 7), first)  # the last rollout, other data in every row
        states, rollout = agent.host_rollout_seeds(states, [env], old if reuse else None)
        deleted = [x.is_deleted() for x in jax.tree.leaves(old.carry)]  # its trace rows written over in place
        assert deleted == [reuse] * len(deleted)
        second.append(jax.tree.map(np.asarray, rollout))
        env.close()
    jax.tree.map(np.testing.assert_array_equal, second[0], second[1])



@pytest.mark.parametrize("statistics", [False, True])
def test_host_rollout_episode_returns_are_the_sums_of_their_rewards(statistics):
    # with or without the env's own episode statistics, a finished episode logs the sum of its rewards
    pytest.importorskip("popgym")
    env = rtrl.envs.make("popgym/RepeatPreviousEasy", num_envs=2)
    if statistics:
        env = rtrl.envs.wrappers.episode_statistics(env)
    agent = agents.make(_config(num_envs=2, num_steps=128), env)
    state, rollout = agent.rollout(agent.init(jax.random.PRNGKey(1)))
    reward, done = np.asarray(rollout.reward), np.asarray(rollout.done)
    logged, lengths = np.asarray(rollout.episode_return), np.asarray(rollout.episode_length)
    assert done.sum() >= 4
    for e in range(2):
        running, length = 0.0, 0
        for t in range(128):
            running, length = running + reward[t, e], length + 1
            if done[t, e]:
                assert logged[t, e] == pytest.approx(running, abs=1e-5) and lengths[t, e] == length
                running, length = 0.0, 0
            else:
                assert logged[t, e] == 0 and lengths[t, e] == 0
        assert float(state.episode_return[e]) == pytest.approx(running, abs=1e-5)
    env.close()

BAD = [
    (dict(num_minibatches=3), "num_minibatches"),
    (dict(num_steps=0), "num_steps"),
    (dict(num_envs=-1), "num_envs"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(learning_rate=-1e-3), "learning_rate"),
    (dict(agent="ppo"), "agent"),
    (dict(cell="transformer"), "cell"),
    (dict(gradient="sometimes"), "gradient"),
    (dict(agent="tbptt-ppo", cell="gru", sequence_length=5), "sequence_length"),
    (dict(agent="tbptt-ppo", cell="gru"), "sequence_length"),
    (dict(agent="tbptt-ppo", cell="gru", sequence_length=16, num_minibatches=4), "num_minibatches"),
    (dict(sequence_length=4), "sequence_length"),
    (dict(agent="mlp-ppo", gradient="fresh"), "gradient"),
    (dict(hidden_size=0), "hidden_size"),
    (dict(gamma=1.5), "gamma"),
    (dict(cell_options={"colour": "red"}), "cell_options"),
    (dict(cell_options=[("activation", "tanh")]), "cell_options"),
    (dict(learning_rate=float("inf")), "learning_rate must be a positive number"),
    (dict(learning_rate=float("nan")), "learning_rate must be a positive number"),
    (dict(max_grad_norm=float("inf")), "max_grad_norm"),
    (dict(entropy_coef=float("nan")), "entropy_coef"),
    (dict(gae_lambda=float("nan")), "gae_lambda"),
    (dict(learning_rate="3e-4"), "learning_rate"),
    (dict(clip_value="yes"), "clip_value"),
    (dict(encoder=(64, 0)), r"encoder\[1\]"),
]


@pytest.mark.parametrize("kw,field", BAD, ids=[f for _, f in BAD])
def test_bad_config_names_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        _config(**kw)


def test_cell_options_are_an_immutable_hashable_mapping():
    as_dict = _config(cell="rtu-nonlinear", cell_options={"activation": "tanh", "r_max": 0.9})
    as_pairs = _config(cell="rtu-nonlinear", cell_options=(("r_max", 0.9), ("activation", "tanh")))
    assert isinstance(as_dict.cell_options, FrozenDict) and as_dict.cell_options["activation"] == "tanh"
    assert as_dict == as_pairs and hash(as_dict) == hash(as_pairs)
    assert as_dict.cell_options == {"activation": "tanh", "r_max": 0.9}
    with pytest.raises(TypeError):
        as_dict.cell_options["activation"] = "relu"  # type: ignore[index]
    assert as_dict.make_cell().options.activation == "tanh"
    assert to_dict(as_dict)["cell_options"] == {"activation": "tanh", "r_max": 0.9}
    assert _config().cell_options == {}


def test_every_agent_has_a_data_path_on_the_shared_update():
    assert set(DATA_PATHS) == set(agents.AGENTS)


def test_bad_environment_pairing():
    env = rtrl.envs.make("jax/RepeatFirstEasy")
    with pytest.raises(ValueError, match="action='continuous'.*valid"):
        agents.make(_config(action="continuous"), env)
    with pytest.raises(ValueError, match="num_envs"):
        agents.make(_config(num_envs=2), rtrl.envs.make("jax/RepeatFirstEasy", num_envs=3))
    with pytest.raises(TypeError, match="env"):
        agents.make(_config(), object())


def test_public_api():
    for name in agents.__all__:
        assert hasattr(agents, name)
    assert agents.AGENTS == ("real-time-ppo", "tbptt-ppo", "mlp-ppo")
    assert set(CONFIGS) == set(agents.AGENTS)  # every agent family is exercised above


def test_real_time_ppo_learns_repeat_previous_quickly():
    """A tiny learning check: a small nonlinear RTU trained online by RTRL gets better than chance
    (−0.5) on RepeatPreviousEasy, which needs a 3-step memory, within ≈25k steps (seed 0)."""
    cfg = agents.PPOConfig(agent="real-time-ppo", cell="rtu-nonlinear", hidden_size=32, num_envs=8, num_steps=128,
                           num_minibatches=16, learning_rate=1e-3)
    agent = agents.make(cfg, rtrl.envs.make("jax/RepeatPreviousEasy"))
    state = agent.init(jax.random.PRNGKey(0))
    returns = []
    for _ in range(24):
        state, m = agent.iteration(state)
        returns.append(float(m["episode_return"]))
    early, late = np.mean(returns[:4]), np.mean(returns[-4:])
    assert early < -0.4 and late > early + 0.2, returns
