"""The Python API of trained agents: rtrl.train, TrainedAgent.act, rtrl.evaluate, save / load, from_run.

The evaluation tests use a tiny environment whose return is known by hand: every episode lasts
LENGTH steps and pays 1 for action 0 and 3 for action 1, so a policy that always takes action 1
earns 3 · LENGTH. The agent's reward scale is frozen at a variance of 9, so a return summed from
the *scaled* rewards would be LENGTH — a third of the true one.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import ClassVar

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rtrl
from rtrl.agents import PPOConfig
from rtrl.agents.evaluation import record_video
from rtrl.agents.network import ActorCritic
from rtrl.agents.policy import TrainedAgent, WrapperStatistics
from rtrl.agents.saving import FORMAT, VERSION
from rtrl.envs import JaxEnv, wrappers
from rtrl.envs.running import Moments
from rtrl.envs.spaces import Box, Discrete
from rtrl.experiments.training import TrainConfig

LENGTH = 5
PAY = (1.0, 3.0)  # reward of action 0 and of action 1
OBS_MOMENTS = Moments(np.array([0.5, 0.25], np.float32), np.array([4.0, 0.25], np.float32), np.float32(100.0))
REWARD_MOMENTS = Moments(np.float32(0.0), np.float32(9.0), np.float32(100.0))


@dataclasses.dataclass(frozen=True)
class Payout(JaxEnv):
    """Episodes of LENGTH steps; obs [t / LENGTH, 1]; action a pays PAY[a]."""

    @property
    def observation_space(self) -> Box:
        return Box((2,), 0.0, 1.0)

    @property
    def action_space(self) -> Discrete:
        return Discrete(2)

    def _obs(self, t):
        return jnp.stack([t / LENGTH, 1.0]).astype(jnp.float32)

    def reset_env(self, key):
        t = jnp.zeros((), jnp.int32)
        return t, self._obs(t)

    def step_env(self, state, action, key):
        t = state + 1
        reward = jnp.where(action == 1, PAY[1], PAY[0]).astype(jnp.float32)
        return t, self._obs(t), reward, t >= LENGTH, jnp.zeros((), bool)


class GymPayout(gymnasium.Env):
    """The same task as a gymnasium env (host back-end), rendering a small rgb frame per step."""

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"]}

    def __init__(self, render_mode=None):
        self.observation_space = gymnasium.spaces.Box(0.0, 1.0, (2,), np.float32)
        self.action_space = gymnasium.spaces.Discrete(2)
        self.render_mode = render_mode
        self.t = 0

    def _obs(self):
        return np.array([self.t / LENGTH, 1.0], np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), PAY[int(action)], self.t >= LENGTH, False, {}

    def render(self):
        return np.full((8, 8, 3), 30 * self.t, np.uint8)


def _config(agent="real-time-ppo", env="jax/RepeatPreviousEasy", **ppo):
    options = {"agent": agent, "hidden_size": 4, "encoder": (8,), "head": (8,), "num_envs": 2, "num_steps": 32,
               "num_minibatches": 2, "update_epochs": 1}
    if agent == "tbptt-ppo":
        options.update(cell="gru", sequence_length=8)
    options.update(ppo)
    return TrainConfig(env=env, total_steps=64, checkpoint_every=1, ppo=PPOConfig(**options))


FROZEN = WrapperStatistics(OBS_MOMENTS, REWARD_MOMENTS)


def _payout_agent(agent="real-time-ppo", favour=1, statistics=FROZEN):
    """An agent for Payout behind the standard stack (obs 2 + previous action 2 + previous reward 1)
    whose policy strongly prefers action ``favour``."""
    config = _config(agent)
    net = ActorCritic(observation_size=5, action_size=2, discrete=True, cell=config.ppo.make_cell(),
                      encoder=config.ppo.encoder, head=config.ppo.head)
    params = net.init(jax.random.PRNGKey(0))
    params["actor_out"]["bias"] = jnp.zeros(2, jnp.float32).at[favour].set(20.0)
    return TrainedAgent(config=config, network=net, params=params, action_space=Discrete(2), statistics=statistics)


def _continuous_agent(bias=5.0):
    """An MLP agent with a Box(-0.5, 0.5) action space whose mean action (≈ bias) lies outside it."""
    config = _config("mlp-ppo", env="mujoco/Hopper-P")
    net = ActorCritic(observation_size=5, action_size=3, discrete=False, cell=None, encoder=(8,), head=(8,))
    params = net.init(jax.random.PRNGKey(1))
    params["actor_out"]["bias"] = jnp.array([bias, -bias, 0.0], jnp.float32)
    return TrainedAgent(config=config, network=net, params=params, action_space=Box((3,), -0.5, 0.5))


# -- training ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One run of 2 seeds (the recurrent agents are covered by the hand-built agents below), trained
    with out=None from a fresh working directory: it goes to runs/train-<time> there."""
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("api"))
    try:
        run = rtrl.train(dataclasses.replace(_config("mlp-ppo"), seeds=2))
        return dataclasses.replace(run, run_dir=os.path.abspath(run.run_dir))
    finally:
        os.chdir(cwd)


def trained_dir(run) -> pathlib.Path:
    return pathlib.Path(run.run_dir)


def test_train_returns_every_seed_with_its_parameters_and_statistics(trained):
    from rtrl.experiments import training

    assert len(trained.agents) == 2 and trained.agent is trained.agents[0]
    assert [a.seed for a in trained.agents] == [0, 1] and trained.seed(1) is trained.agents[1]
    assert trained.summary["seeds"] == 2
    _, agent, state, _ = training.load_state(trained.run_dir)
    for k, a in enumerate(trained.agents):
        for mine, theirs in zip(jax.tree.leaves(a.params), jax.tree.leaves(state.params)):
            np.testing.assert_array_equal(mine, theirs[k])
        seed_state = jax.tree.map(lambda x, k=k: x[k], state.env_state)
        expected = wrappers.observation_moments(agent.env, seed_state)
        for mine, theirs in zip(a.statistics.observation, expected):
            np.testing.assert_array_equal(mine, theirs)
        assert float(a.statistics.reward.var) == pytest.approx(float(wrappers.reward_moments(agent.env,
                                                                                              seed_state).var))
    assert float(trained.agents[0].statistics.observation.count) > 64  # every env's observations merged
    with pytest.raises(ValueError, match="one of the run's seeds 0, 1"):
        trained.seed(5)


def test_from_run_reads_the_same_agent(trained):
    agent = TrainedAgent.from_run(trained.run_dir, seed=1)
    assert agent.seed == 1 and agent.config == trained.config
    for mine, theirs in zip(jax.tree.leaves(agent.params), jax.tree.leaves(trained.agents[1].params)):
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(agent.statistics.observation.mean, trained.agents[1].statistics.observation.mean)
    assert TrainedAgent.from_run(trained.run_dir).seed == 0


def test_train_without_out_writes_a_new_run_under_runs(trained):
    run_dir = trained_dir(trained)
    assert run_dir.parent.name == "runs" and run_dir.name.startswith("train-")
    assert (run_dir / "checkpoint.npz").exists() and (run_dir / "summary.json").exists()
    with pytest.raises(ValueError, match="resume=True needs out"):
        rtrl.train(_config("mlp-ppo"), resume=True)
    with pytest.raises(TypeError, match="TrainConfig"):
        rtrl.train(_config().ppo)


def test_a_host_run_keeps_every_seeds_wrapper_statistics(tmp_path, monkeypatch):
    from rtrl.experiments import training

    config = dataclasses.replace(_config("mlp-ppo", env="popgym/RepeatPreviousEasy", num_envs=1, num_steps=16,
                                         num_minibatches=1), total_steps=32, seeds=2)
    live = []
    train = training.train

    def keep_envs(*args, **kwargs):  # the run's host envs, whose wrappers hold the statistics at the end
        result = train(*args, **kwargs)
        live.extend(result.envs)
        return result

    monkeypatch.setattr(training, "train", keep_envs)
    seen = []
    run = rtrl.train(config, str(tmp_path / "host"), progress=seen.append)
    assert [type(p) for p in seen] == [training.Progress] * 2 and seen[-1].env_steps == 32
    for k in range(2):
        expected = WrapperStatistics(wrappers.observation_moments(live[k]), wrappers.reward_moments(live[k]))
        assert float(expected.observation.count) == pytest.approx(33, abs=0.01)  # 1 reset + 32 steps
        read = TrainedAgent.from_run(run.run_dir, seed=k)
        for agent in (run.agents[k], read):  # every seed's own statistics, from the run and from its checkpoint
            assert agent.statistics.observation is not None and agent.statistics.reward is not None
            for part in WrapperStatistics._fields:
                for mine, theirs in zip(getattr(agent.statistics, part), getattr(expected, part), strict=True):
                    np.testing.assert_array_equal(mine, theirs)
    assert not np.array_equal(run.agents[0].statistics.observation.mean, run.agents[1].statistics.observation.mean)
    result = rtrl.evaluate(run.agents[1], episodes=2, seed=3)
    assert result.episodes == 2


# -- acting ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("agent", ["real-time-ppo", "tbptt-ppo", "mlp-ppo"])
def test_act_is_the_network_step_with_its_mode_or_a_sample(agent):
    trained = _payout_agent(agent, favour=0)
    params = dict(trained.params, actor_out={"kernel": trained.params["actor_out"]["kernel"],
                                            "bias": jnp.array([0.3, -0.2], jnp.float32)})
    trained = dataclasses.replace(trained, params=params)
    obs = jax.random.normal(jax.random.PRNGKey(2), (3, 5))
    first = np.array([True, False, True])
    carry = trained.initial_carry(3)
    carry_net, policy, _ = trained.network.step(trained.params, carry, obs, jnp.asarray(first))
    action, carry_1 = trained.act(obs, carry, first, deterministic=True)
    np.testing.assert_array_equal(action, np.argmax(policy.logits, axis=-1))
    for a, b in zip(jax.tree.leaves(carry_1), jax.tree.leaves(carry_net)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    key = jax.random.PRNGKey(3)
    sampled, _ = trained.act(obs, carry, first, key=key)
    np.testing.assert_array_equal(sampled, policy.sample(key))
    with pytest.raises(ValueError, match="pass key"):
        trained.act(obs, carry, first)
    with pytest.raises(ValueError, match=r"shape \(batch, 5\)"):
        trained.act(obs[:, :4], carry, first, deterministic=True)
    with pytest.raises(ValueError, match="first must have shape"):
        trained.act(obs, carry, first[:2], deterministic=True)


def test_continuous_actions_are_clipped_to_the_action_space():
    agent = _continuous_agent(bias=5.0)
    obs = np.zeros((2, 5), np.float32)
    action, carry = agent.act(obs, agent.initial_carry(2), True, deterministic=True)
    assert carry == () and action.dtype == jnp.float32
    np.testing.assert_allclose(action[:, :2], [[0.5, -0.5], [0.5, -0.5]])
    sampled, _ = agent.act(obs, (), True, key=jax.random.PRNGKey(0))
    assert np.all(np.abs(np.asarray(sampled)) <= 0.5)


def test_wrap_freezes_the_training_statistics():
    agent = _payout_agent()
    env = agent.wrap(Payout())
    state, obs = env.reset(jax.random.PRNGKey(0))
    raw = np.array([0.0, 1.0])
    np.testing.assert_allclose(obs[:2], (raw - OBS_MOMENTS.mean) / np.sqrt(OBS_MOMENTS.var), rtol=1e-6)
    for _ in range(7):
        state, obs, reward, _, _ = env.step(state, jnp.int32(1), jax.random.PRNGKey(1))
    np.testing.assert_allclose(reward, PAY[1] / 3.0, rtol=1e-6)  # scaled by the frozen return spread
    np.testing.assert_array_equal(wrappers.observation_moments(env, state).mean, OBS_MOMENTS.mean)
    np.testing.assert_array_equal(wrappers.reward_moments(env, state).var, REWARD_MOMENTS.var)
    with pytest.raises(ValueError, match="already has a"):
        agent.wrap(env)


# -- evaluation --------------------------------------------------------------------------------------


@pytest.mark.parametrize("agent", ["real-time-ppo", "mlp-ppo"])
@pytest.mark.parametrize("favour", [0, 1])
def test_evaluate_reports_the_raw_return_on_a_jax_env(agent, favour):
    result = rtrl.evaluate(_payout_agent(agent, favour), Payout(), episodes=7, deterministic=True)
    assert result.returns == (PAY[favour] * LENGTH,) * 7  # not the scaled PAY / 3 · LENGTH
    assert result.lengths == (LENGTH,) * 7
    assert result.interval.mean == PAY[favour] * LENGTH and result.interval.n == 7


def test_evaluate_reports_the_raw_return_on_host_envs():
    agent = _payout_agent()
    result = rtrl.evaluate(agent, GymPayout(), episodes=3, deterministic=True)  # a gymnasium instance: 1 env
    assert result.returns == (PAY[1] * LENGTH,) * 3 and result.lengths == (LENGTH,) * 3
    two = rtrl.envs.from_gymnasium(GymPayout, num_envs=2)  # 2 envs: the first plays 2 episodes, the second 1
    result = rtrl.evaluate(agent, two, episodes=3, seed=1)
    assert result.returns == (PAY[1] * LENGTH,) * 3 and not result.deterministic and result.seed == 1


def test_evaluate_without_wrappers_sums_the_env_rewards():
    agent = _payout_agent(statistics=WrapperStatistics())
    agent = dataclasses.replace(agent, config=dataclasses.replace(agent.config, wrappers="none"),
                                network=dataclasses.replace(agent.network, observation_size=2, observation_shape=(2,)),
                                params=dataclasses.replace(agent.network, observation_size=2,
                                                           observation_shape=(2,)).init(
                                    jax.random.PRNGKey(0)))
    result = rtrl.evaluate(agent, Payout(), episodes=2, deterministic=True)
    assert result.returns[0] in (PAY[0] * LENGTH, PAY[1] * LENGTH) and result.lengths == (LENGTH, LENGTH)


def test_evaluate_is_reproducible_and_counts_episodes_per_env(trained):
    a = rtrl.evaluate(trained.agent, episodes=4, seed=5)
    b = rtrl.evaluate(trained.agent, "jax/RepeatPreviousEasy", episodes=4, seed=5)
    assert a.returns == b.returns and a.episodes == 4 and str(a).startswith("return ")
    assert a.to_dict()["return"]["n"] == 4


def test_evaluate_refuses_bad_input(trained):
    agent = trained.agent
    with pytest.raises(ValueError, match="episodes must be a positive integer"):
        rtrl.evaluate(agent, episodes=0)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        rtrl.evaluate(agent, episodes=1, seed=-1)
    with pytest.raises(ValueError, match="unknown environment"):
        rtrl.evaluate(agent, "jax/RepeatPreviousEasyy", episodes=1)
    with pytest.raises(ValueError, match="observations of shape"):
        rtrl.evaluate(agent, "jax/CountRecallEasy", episodes=1)
    with pytest.raises(TypeError, match="TrainedAgent"):
        rtrl.evaluate(trained, episodes=1)
    with pytest.raises(ValueError, match="max_steps"):
        rtrl.evaluate(_payout_agent(), Payout(), episodes=2, max_steps=3, deterministic=True)


def test_video_of_an_env_that_renders(tmp_path):
    imageio = pytest.importorskip("imageio")
    path = str(tmp_path / "episode.gif")
    frames = record_video(_payout_agent(), path, GymPayout(render_mode="rgb_array"), deterministic=True)
    assert frames == LENGTH and len(imageio.mimread(path)) == LENGTH
    masked = wrappers.mask_observation(rtrl.envs.from_gymnasium(GymPayout(render_mode="rgb_array")), [0, 1])
    assert record_video(_payout_agent(), path, masked, deterministic=True) == LENGTH  # frames from under the mask
    with pytest.raises(ValueError, match="made with render_mode='rgb_array'"):
        record_video(_payout_agent(), path, GymPayout())
    with pytest.raises(ValueError, match="video needs .* JAX-native"):
        record_video(_payout_agent(), path, "jax/RepeatPreviousEasy")


# -- save / load -------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [_payout_agent, _continuous_agent], ids=["recurrent-discrete", "mlp-continuous"])
def test_save_and_load_give_the_same_actions(make, tmp_path):
    agent = make()
    path = agent.save(str(tmp_path / "agent.npz"))
    loaded = rtrl.load(path)
    assert loaded.config == agent.config and loaded.network == agent.network
    assert loaded.action_space == agent.action_space
    obs = jax.random.normal(jax.random.PRNGKey(4), (3, agent.observation_size))
    first = np.array([True, True, False])
    for kwargs in ({"deterministic": True}, {"key": jax.random.PRNGKey(5)}):
        a, ca = agent.act(obs, agent.initial_carry(3), first, **kwargs)
        b, cb = loaded.act(obs, loaded.initial_carry(3), first, **kwargs)
        np.testing.assert_array_equal(a, b)
        for x, y in zip(jax.tree.leaves(ca), jax.tree.leaves(cb)):
            np.testing.assert_array_equal(x, y)
    for mine, theirs in zip(agent.statistics, loaded.statistics):
        assert (mine is None) == (theirs is None)
        if mine is not None:
            for x, y in zip(mine, theirs):
                np.testing.assert_array_equal(x, y)


def test_the_file_names_parameters_by_their_paths(tmp_path):
    path = _payout_agent().save(str(tmp_path / "agent.npz"))
    with np.load(path) as data:
        names = set(data.files)
        assert str(data["format"]) == FORMAT and int(data["version"]) == VERSION
        assert "hidden_size: 4" in str(data["config"])
    assert {"params/encoder/0/kernel", "params/encoder/0/bias", "params/actor_out/bias", "params/critic/0/kernel",
            "statistics/observation/mean", "statistics/reward/var"} <= names
    assert any(n.startswith("params/cell/") for n in names) and not any("leaf_" in n for n in names)


def _rewrite(path, **changes):
    with np.load(path) as data:
        arrays = dict(data)
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    np.savez(path, **arrays)


def test_load_refuses_other_files_and_names_the_differences(tmp_path, trained):
    path = str(tmp_path / "agent.npz")
    _payout_agent().save(path)
    with pytest.raises(ValueError, match="no agent file"):
        rtrl.load(str(tmp_path / "missing.npz"))
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not an rtrl agent file"):
        rtrl.load(str(tmp_path / "text.npz"))
    with pytest.raises(ValueError, match="training checkpoint: read it with TrainedAgent.from_run"):
        rtrl.load(f"{trained.run_dir}/checkpoint.npz")
    _rewrite(path, version=np.asarray(VERSION + 1))
    with pytest.raises(ValueError, match=f"version {VERSION + 1}; this rtrl reads version {VERSION}; upgrade"):
        rtrl.load(path)
    _rewrite(path, version=np.asarray(VERSION), **{"params/critic_out/bias": None})
    with pytest.raises(ValueError, match="missing: params/critic_out/bias"):
        rtrl.load(path)
    _payout_agent().save(path)
    with np.load(path) as data:
        config = str(data["config"]).replace("hidden_size: 4", "hidden_size: 6")
    _rewrite(path, config=np.asarray(config))
    with pytest.raises(ValueError, match=r"params/cell/\w+ is float32\[4.*the network needs float32\[6"):
        rtrl.load(path)


def test_from_run_refuses_what_is_not_a_training_run(tmp_path, trained):
    with pytest.raises(ValueError, match="does not exist"):
        TrainedAgent.from_run(str(tmp_path / "nothing"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is not a directory"):
        TrainedAgent.from_run(str(tmp_path / "file"))
    with pytest.raises(ValueError, match="not a training run directory: it holds no config.yaml"):
        TrainedAgent.from_run(str(tmp_path))
    prediction = tmp_path / "prediction"
    prediction.mkdir()
    (prediction / "config.yaml").write_text("cell: gru\nsteps: 100\n")
    with pytest.raises(ValueError, match="not a training configuration"):
        TrainedAgent.from_run(str(prediction))
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "config.yaml").write_text((trained_dir(trained) / "config.yaml").read_text())
    with pytest.raises(ValueError, match="no checkpoint.npz yet"):
        TrainedAgent.from_run(str(fresh))
    with pytest.raises(ValueError, match="one of the run's seeds 0, 1, got 2"):
        TrainedAgent.from_run(trained.run_dir, seed=2)
