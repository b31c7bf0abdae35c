"""Training runs: logs and checkpoints, resume to the same numbers, bad input refused before work."""

import dataclasses
import os
import struct

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtrl import envs
from rtrl.agents import Agent, PPOConfig
from rtrl.envs import wrappers
from rtrl.envs.jax_env import JaxEnv
from rtrl.envs.running import Moments, update_moments
from rtrl.experiments import checkpoint, train_seeds, training
from rtrl.experiments.config import from_dict
from rtrl.experiments.training import TrainConfig
from rtrl.frozendict import FrozenDict
from run_rows import learning_rows

TINY = PPOConfig(hidden_size=4, encoder=(8,), head=(8,), num_steps=32, num_minibatches=2, update_epochs=2)


def test_resume_continues_to_the_same_result(tmp_path):
    config = TrainConfig(env="jax/RepeatPreviousEasy", total_steps=32 * 6, seeds=2, checkpoint_every=2, ppo=TINY)
    whole, parts = str(tmp_path / "whole"), str(tmp_path / "parts")
    result = training.train(config, whole)
    summary = result.summary
    assert summary["iterations"] == 6 and len(summary["final_return"]["per_seed"]) == 2
    assert isinstance(result.agent, Agent) and result.state.params is not None
    loaded_config, agent, state, iteration = training.load_state(whole)  # the final checkpoint, read back
    assert loaded_config == config and iteration == 6 and agent.config == config.ppo
    for a, b in zip(jax.tree.leaves(result.state), jax.tree.leaves(state)):
        np.testing.assert_array_equal(a, b)
    assert jax.tree.leaves(state)[0].shape[0] == 2  # seeds on the leading axis
    assert sorted(os.listdir(whole)) == ["checkpoint.npz", "config.yaml", "returns.png", "seed_0.csv", "seed_1.csv",
                                         "summary.json", "tb"]
    training.train(config, parts, stop_after=3)  # "crashes" after 3 iterations: checkpoint at 2, logs up to 3
    assert len(learning_rows(os.path.join(parts, "seed_0.csv"))) == 3
    training.train(config, parts, resume=True)
    for seed in ("seed_0.csv", "seed_1.csv"):
        assert learning_rows(os.path.join(whole, seed)) == learning_rows(os.path.join(parts, seed))
    # TensorBoard: the points logged after the checkpoint (iteration 3) are not written twice
    for seed in ("seed_0", "seed_1"):
        resumed, uninterrupted = _scalars(os.path.join(parts, "tb", seed)), _scalars(os.path.join(whole, "tb", seed))
        assert resumed["episode_return"] == [32 * k for k in range(1, 7)]
        assert resumed == uninterrupted
    assert learning_rows(os.path.join(whole, "seed_0.csv")) != learning_rows(os.path.join(whole, "seed_1.csv"))


def _scalars(directory):
    """{tag: [step, ...]} of every scalar in the TensorBoard event files of ``directory``, in file order
    (read with tensorboardX's protobufs: a record is a little-endian u64 length, its masked CRC, the
    serialised Event, its CRC)."""
    from tensorboardX.proto import event_pb2

    steps = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        at = 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at:at + 8])
            event = event_pb2.Event.FromString(data[at + 12:at + 12 + length])
            at += 12 + length + 4
            for value in event.summary.value:
                steps.setdefault(value.tag, []).append(event.step)
    return steps


def test_resume_refuses_another_configuration_and_existing_directories_are_kept(tmp_path):
    config = TrainConfig(env="jax/RepeatPreviousEasy", total_steps=64, ppo=TINY)
    out = str(tmp_path / "run")
    training.train(config, out)
    with open(os.path.join(out, "seed_0.csv")) as f:
        before = f.read()
    with pytest.raises(ValueError, match="already exists"):
        training.train(config, out)
    other = from_dict(TrainConfig, {"env": "jax/RepeatPreviousEasy", "total_steps": 64,
                                    "ppo": {**training.to_dict(TINY), "learning_rate": 0.1}})
    with pytest.raises(ValueError, match=r"another configuration \(ppo.learning_rate: run 0.0001, now 0.1\)"):
        training.train(other, out, resume=True)
    with pytest.raises(ValueError, match="no such run directory"):
        training.train(config, str(tmp_path / "nothing"), resume=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no config.yaml"):
        training.train(config, str(tmp_path / "empty"), resume=True)
    with open(os.path.join(out, "seed_0.csv")) as f:
        assert f.read() == before


def test_resume_refuses_a_budget_below_the_checkpoint_and_an_old_checkpoint_format(tmp_path):
    import json

    config = TrainConfig(env="jax/RepeatPreviousEasy", total_steps=32 * 4, checkpoint_every=2, ppo=TINY)
    out = str(tmp_path / "run")
    training.train(config, out)  # checkpoint at iteration 4
    shorter = dataclasses.replace(config, total_steps=32 * 2)
    with pytest.raises(ValueError, match=r"total_steps=64: its checkpoint is at iteration 4 \(128 env steps"):
        training.train(shorter, out, resume=True)
    # a checkpoint of an older rtrl: no leaf paths in its metadata
    path = os.path.join(out, training.CHECKPOINT)
    with np.load(path) as data:
        arrays = dict(data)
    meta = json.loads(bytes(arrays["__meta__"]).decode())
    meta.pop("paths")
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="written by an older version of rtrl"):
        training.train(dataclasses.replace(config, total_steps=32 * 6), out, resume=True)


def test_host_environment_run(tmp_path):
    config = TrainConfig(env="popgym/RepeatPreviousEasy", total_steps=64, seeds=1, ppo=TINY)
    summary = training.train(config, str(tmp_path / "host")).summary
    assert summary["env_steps_per_seed"] == 64
    rows = learning_rows(os.path.join(tmp_path, "host", "seed_0.csv"))
    assert [int(r["env_steps"]) for r in rows] == [32, 64]


def test_a_host_run_writes_each_rollout_into_the_last(monkeypatch):
    # the ≈200 MB rollout of RTRL traces is reused, not allocated anew: each rollout gets the last one
    handed = []  # (buffer given, rollout returned) per call
    rollout_seeds = Agent.host_rollout_seeds

    def recorded(self, states, envs, buffer=None):
        states, rollout = rollout_seeds(self, states, envs, buffer)
        handed.append((buffer, rollout))
        return states, rollout

    monkeypatch.setattr(Agent, "host_rollout_seeds", recorded)
    seeds = train_seeds.make(TrainConfig(env="popgym/RepeatPreviousEasy", total_steps=96, ppo=TINY))
    states = seeds.init()
    for _ in range(3):
        states, _ = seeds.iteration(states)
    assert handed[0][0] is None
    assert handed[1][0] is handed[0][1] and handed[2][0] is handed[1][1]


def test_host_seeds_in_lockstep_equal_separate_runs(tmp_path):
    # seeds of a host run share one policy call per step; each must still be its own run
    def run(name, **kw):
        config = TrainConfig(env="popgym/RepeatPreviousEasy", total_steps=96, ppo=TINY, **kw)
        training.train(config, str(tmp_path / name))
        return [learning_rows(os.path.join(tmp_path, name, f"seed_{config.seed + k}.csv")) for k in range(config.seeds)]

    together = run("together", seeds=2, seed=5)
    apart = run("five", seed=5) + run("six", seed=6)
    assert together[0] != together[1]
    for lockstep, alone in zip(together, apart):
        for a, b in zip(lockstep, alone):
            assert a.keys() == b.keys()
            for key in a:
                np.testing.assert_allclose(float(a[key]), float(b[key]), rtol=1e-4, atol=1e-5, err_msg=key)


HOST = TrainConfig(env="popgym/RepeatPreviousEasy", total_steps=32 * 4, seeds=2, checkpoint_every=2,
                  ppo=dataclasses.replace(TINY, agent="mlp-ppo", num_envs=2, num_steps=16))


def _moments(env):
    """(observation, reward) moments of a live host env stack, as numpy."""
    return wrappers.observation_moments(env), wrappers.reward_moments(env)


def _assert_moments_equal(a, b):
    """Two (observation, reward) pairs of `Moments` are equal, field by field."""
    for ma, mb in zip(a, b, strict=True):
        for x, y in zip(ma, mb, strict=True):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _seed_moments(env_state, k):
    """Seed k's (observation, reward) moments from a host run's env_state."""
    return tuple(Moments(*(np.asarray(x[k]) for x in m)) for m in env_state)


def test_host_resume_continues_the_wrapper_statistics_of_the_checkpoint(tmp_path):
    out = str(tmp_path / "run")
    prepared = training.prepare(HOST, out)
    at_checkpoint = {}

    def progress(p):  # the statistics of the live envs of the uninterrupted run at the checkpoint (iteration 2)
        if p.iteration == 2:
            at_checkpoint.update({k: _moments(env) for k, env in enumerate(prepared.seeds.envs)})

    training.run(prepared, progress=progress, stop_after=3)  # "crashes" after 3: checkpoint at 2
    assert float(at_checkpoint[0][0].count) > 60  # 2 envs x (1 reset + 32 steps) observations so far
    _, _, state, iteration = training.load_state(out)
    assert iteration == 2
    for k in range(2):  # the checkpoint holds every seed's statistics as its live envs had them
        _assert_moments_equal(_seed_moments(state.env_state, k), at_checkpoint[k])
    assert not np.array_equal(state.env_state.observation.mean[0], state.env_state.observation.mean[1])

    resumed = training.train(HOST, out, resume=True, stop_after=2)  # restored and reset, no iteration yet
    for k, env in enumerate(resumed.envs):
        # the statistics continue from the checkpoint's, with the reset observations folded in
        raw = envs.make(HOST.env, num_envs=2).reset(seed=train_seeds.reset_seed(HOST.seed + k, 2))
        expected = update_moments(np, Moments(*(np.asarray(x) for x in at_checkpoint[k][0])), raw, 1)
        observation, reward = _moments(env)
        assert float(observation.count) == pytest.approx(float(at_checkpoint[k][0].count) + 2)
        np.testing.assert_allclose(observation.mean, expected.mean, rtol=1e-6)
        np.testing.assert_allclose(observation.var, expected.var, rtol=1e-6)
        _assert_moments_equal((reward,), (at_checkpoint[k][1],))  # reward scaling moves with rewards only
        _assert_moments_equal(_seed_moments(resumed.state.env_state, k), (observation, reward))
    finished = training.train(HOST, out, resume=True)
    assert finished.summary["iterations"] == 4
    for k, env in enumerate(finished.envs):  # and keep updating: 2 more iterations of 2 x 16 observations
        assert float(_moments(env)[0].count) == pytest.approx(float(at_checkpoint[k][0].count) + 2 + 64)


def test_host_checkpoint_without_statistics_resumes_with_a_note(tmp_path, capsys):
    # a host run's checkpoint of an older version: env_state was (), no statistics
    config = dataclasses.replace(HOST, total_steps=32 * 2, checkpoint_every=1)
    out = str(tmp_path / "run")
    training.train(config, out, stop_after=1)
    path = os.path.join(out, training.CHECKPOINT)
    _, _, state, _ = training.load_state(out)
    checkpoint.save(path, state._replace(env_state=()), step=1, config=training.learning_part(config))
    _, _, old, _ = training.load_state(out)
    assert old.env_state == train_seeds.NO_STATISTICS
    assert training.prepare(config, out, resume=True).notes == (training.STATISTICS_RESTART,)
    resumed = training.train(config, out, resume=True, stop_after=1)
    assert "note: " + training.STATISTICS_RESTART in capsys.readouterr().err
    for env in resumed.envs:  # restarted: the reset observations only
        assert float(_moments(env)[0].count) == pytest.approx(2, abs=1e-3)
    assert training.train(config, out, resume=True).summary["iterations"] == 2
    assert training.prepare(config, out, resume=True).notes == ()  # its new checkpoint holds them


@pytest.mark.parametrize("values,message", [
    ({"env": "jax/CountRecalEasy"}, "Did you mean 'jax/CountRecallEasy'"),
    ({"wrappers": "paper"}, "wrappers must be one of"),
    ({"env_options": {"num_envs": 4}}, "set ppo.num_envs"),
    ({"total_steps": 0}, "total_steps must be a positive integer"),
    ({"ppo": {"num_steps": 100, "num_minibatches": 32}}, "num_minibatches=32 must divide the rollout"),
    ({"ppo": {"learning_rate": -1}}, "learning_rate"),
    ({"ppo": {"agent": "ppo"}}, "agent"),
    ({"ppo": {"lr": 1e-3}}, "unknown key"),
])
def test_bad_config_is_refused(values, message):
    with pytest.raises(ValueError, match=message):
        from_dict(TrainConfig, values)


def test_continuous_option_on_a_discrete_env_is_refused():
    config = TrainConfig(env="jax/RepeatPreviousEasy", ppo=PPOConfig(action="continuous", num_steps=64,
                                                                      num_minibatches=2))
    with pytest.raises(ValueError, match="action='continuous' does not match"):
        config.make_agent()


@dataclasses.dataclass(frozen=True)
class NanRewardAfter(JaxEnv):
    """A JAX env whose rewards become NaN after ``after`` steps: a run that diverges at a known iteration."""

    env: JaxEnv
    after: int

    @property
    def observation_space(self):
        return self.env.observation_space

    @property
    def action_space(self):
        return self.env.action_space

    def reset(self, key):
        state, obs = self.env.reset(key)
        return (state, jnp.zeros((), jnp.int32)), obs

    def step(self, state, action, key):
        inner, t = state
        inner, obs, reward, done, info = self.env.step(inner, action, key)
        return (inner, t + 1), obs, jnp.where(t >= self.after, jnp.nan, reward), done, info


def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    make = envs.make
    monkeypatch.setattr(envs, "make", lambda name, **kw: NanRewardAfter(make(name, **kw), after=64))
    config = TrainConfig(env="jax/RepeatPreviousEasy", total_steps=32 * 6, seeds=2, checkpoint_every=1,
                         wrappers="none", ppo=TINY)
    out = str(tmp_path / "run")
    with pytest.raises(training.Diverged, match=r"seed 0 diverged at iteration 3: .*loss is nan.*; seed 1 diverged "
                       r"at iteration 3.*the last good checkpoint is .*checkpoint.npz \(iteration 2\); lower the "
                       r"learning rate") as e:
        training.train(config, out)
    assert e.value.iteration == 3 and e.value.checkpoint_iteration == 2 and sorted(e.value.seeds) == [0, 1]
    assert checkpoint.read_meta(os.path.join(out, training.CHECKPOINT))["step"] == 2
    assert len(learning_rows(os.path.join(out, "seed_0.csv"))) == 2  # the diverged iteration is not logged
    assert not os.path.exists(os.path.join(out, "summary.json"))  # no final return
    _, _, state, iteration = training.load_state(out)
    assert iteration == 2 and all(np.isfinite(x).all() for x in jax.tree.leaves(state.params))


def test_out_of_memory_during_the_run_is_a_message(tmp_path):
    config = TrainConfig(env="jax/RepeatPreviousEasy", total_steps=64, ppo=TINY)
    prepared = training.prepare(config, str(tmp_path / "run"))

    def exhausted(state):
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 109775175680 bytes.")

    prepared.seeds.iteration = exhausted
    with pytest.raises(MemoryError, match=r"ran out of memory .*RESOURCE_EXHAUSTED.*the estimate was .* GB; reduce "
                       r"num_steps \(32\), num_envs \(1\), hidden_size \(4\), or seeds \(1\)"):
        training.run(prepared)
    other = training.prepare(config, str(tmp_path / "other"))
    other.seeds.iteration = lambda state: 1 / 0  # any other error is not turned into a message
    with pytest.raises(ZeroDivisionError):
        training.run(other)


def test_memory_estimate_counts_rollouts_parameters_and_seeds():
    small = TrainConfig(env="jax/RepeatPreviousEasy", ppo=TINY)
    agent = small.make_agent()
    one = training.memory_estimate(small, agent)
    rollout = agent.rollout_bytes()
    params = agent.parameter_count()[0] * 4
    assert one == rollout + 2 * rollout // TINY.num_minibatches + 4 * params + rollout // TINY.num_steps
    three = dataclasses.replace(small, seeds=3)
    assert training.memory_estimate(three, three.make_agent()) == 3 * one
    wide = dataclasses.replace(small, ppo=dataclasses.replace(TINY, hidden_size=400))
    assert training.memory_estimate(wide, wide.make_agent()) > 50 * one  # RTRL traces grow with the width


def test_mlp_ppo_config_drops_the_cell_it_does_not_have():
    config = TrainConfig(env="jax/RepeatPreviousEasy", ppo=dataclasses.replace(TINY, agent="mlp-ppo", cell="gru"))
    assert (config.ppo.cell, config.ppo.hidden_size) == (PPOConfig().cell, PPOConfig().hidden_size)
    assert hash(config) == hash(TrainConfig(env="jax/RepeatPreviousEasy",
                                            ppo=dataclasses.replace(TINY, agent="mlp-ppo")))


def test_env_options_are_frozen_and_hash():
    config = TrainConfig(env="jax/RepeatPreviousEasy", env_options={"previous_action": True})
    assert isinstance(config.env_options, FrozenDict) and config.env_options == {"previous_action": True}
    assert hash(config) == hash(TrainConfig(env="jax/RepeatPreviousEasy", env_options={"previous_action": True}))
    with pytest.raises(ValueError, match="env_options must be a mapping"):
        TrainConfig(env_options=5)


def test_env_options_are_checked_when_the_config_is_built():
    with pytest.raises(ValueError, match="previous_action must be true or false, got 'maybe'"):
        TrainConfig(env="jax/RepeatPreviousEasy", env_options={"previous_action": "maybe"})
    with pytest.raises(ValueError, match="does not take option"):
        TrainConfig(env="jax/RepeatPreviousEasy", env_options={"colour": 3})
    assert TrainConfig(label=5).label == "5"  # `--label 5` is read as a number
