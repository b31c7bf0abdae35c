"""Training runs: logs and checkpoints, resume to the same numbers, bad input refused before work."""

import csv
import os

import jax
import numpy as np
import pytest

from rtrl.agents import Agent, PPOConfig
from rtrl.experiments import training
from rtrl.experiments.config import from_dict
from rtrl.experiments.training import TrainConfig

TINY = PPOConfig(hidden_size=4, encoder=(8,), head=(8,), num_steps=32, num_minibatches=2, update_epochs=2)


def _rows(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k not in ("steps_per_second", "wall_seconds")}
                for r in csv.DictReader(f)]


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
    assert len(_rows(os.path.join(parts, "seed_0.csv"))) == 3
    training.train(config, parts, resume=True)
    for seed in ("seed_0.csv", "seed_1.csv"):
        assert _rows(os.path.join(whole, seed)) == _rows(os.path.join(parts, seed))
    assert _rows(os.path.join(whole, "seed_0.csv")) != _rows(os.path.join(whole, "seed_1.csv"))


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
    with pytest.raises(ValueError, match="no config.yaml"):
        training.train(config, str(tmp_path / "nothing"), resume=True)
    with open(os.path.join(out, "seed_0.csv")) as f:
        assert f.read() == before


def test_host_environment_run(tmp_path):
    config = TrainConfig(env="popgym/RepeatPreviousEasy", total_steps=64, seeds=1, ppo=TINY)
    summary = training.train(config, str(tmp_path / "host")).summary
    assert summary["env_steps_per_seed"] == 64
    rows = _rows(os.path.join(tmp_path, "host", "seed_0.csv"))
    assert [int(r["env_steps"]) for r in rows] == [32, 64]


def test_host_seeds_in_lockstep_equal_separate_runs(tmp_path):
    # seeds of a host run share one policy call per step; each must still be its own run
    def run(name, **kw):
        config = TrainConfig(env="popgym/RepeatPreviousEasy", total_steps=96, ppo=TINY, **kw)
        training.train(config, str(tmp_path / name))
        return [_rows(os.path.join(tmp_path, name, f"seed_{config.seed + k}.csv")) for k in range(config.seeds)]

    together = run("together", seeds=2, seed=5)
    apart = run("five", seed=5) + run("six", seed=6)
    assert together[0] != together[1]
    for lockstep, alone in zip(together, apart):
        for a, b in zip(lockstep, alone):
            assert a.keys() == b.keys()
            for key in a:
                np.testing.assert_allclose(float(a[key]), float(b[key]), rtol=1e-4, atol=1e-5, err_msg=key)


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
