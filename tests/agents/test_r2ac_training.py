"""R2AC behind `rtrl train` and the Python API: flags routed to the R2ACConfig, bad input refused before
any work, exact resume (the lagged behaviour parameters included), presets, save/load/evaluate."""

from __future__ import annotations

import dataclasses

import re
import threading

import jax
import numpy as np
import pytest

import rtrl
from rtrl.agents import R2ACConfig
from rtrl.cli import main
from rtrl.experiments import config as config_lib
from rtrl.experiments import training, training_presets
from rtrl.experiments.training import TrainConfig
from run_rows import learning_rows

TINY = ["--agent", "r2ac", "--env", "jax/MemoryChain", "--env-options", "{length: 3}", "--wrappers", "no-previous",
        "--num-envs", "2", "--unroll", "4", "--hidden-size", "4", "--head", "[8]"]


def tiny(**overrides) -> R2ACConfig:
    return R2ACConfig(**{"num_envs": 2, "unroll": 4, "hidden_size": 4, "head": (8,), **overrides})


def _must_not_run(*args, **kwargs):
    raise AssertionError("the run started before its input was validated")


BAD_INPUT = {
    "segment length 0": (["--unroll", "0"], r"unroll must be a positive integer"),
    "negative lag": (["--lag", "-1"], r"lag must be a non-negative integer"),
    "no RTRL for the cell": (["--cell", "no-such-cell"], r"cell/cell_options \(gradient='rtrl'\)"),
    "streaming flag": (["--kappa-actor", "2"], r"--kappa-actor do\(es\) not apply to agent r2ac"),
    "PPO flag": (["--num-minibatches", "4"], r"--num-minibatches do\(es\) not apply to agent r2ac"),
    "R2AC flag on a streaming agent": (["--agent", "stream-ac", "--unroll", "5", "--num-envs", "1"],
                                       r"--unroll.* do\(es\) not apply to agent stream-ac"),
    "cell with none": (["--gradient", "none", "--cell", "gru"], r"gradient none has no recurrent cell, so --cell"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_a_message_before_any_work(tmp_path, capsys, monkeypatch, case):
    monkeypatch.setattr(training, "run", _must_not_run)
    flags, message = BAD_INPUT[case]
    assert main(["train", *TINY, *flags, "--out", str(tmp_path / "run")]) == 2
    captured = capsys.readouterr()
    text = " ".join((captured.out + captured.err).split())
    assert "error:" in text and "Traceback" not in text
    assert re.search(message, text), text
    assert not (tmp_path / "run").exists()


def test_cli_trains_r2ac_and_writes_its_section(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--total-steps", "64", "--lag", "1", "--out", str(out)]) == 0
    config = config_lib.load_yaml(str(out / "config.yaml"))
    assert config["r2ac"]["unroll"] == 4 and config["r2ac"]["lag"] == 1 and config.get("ppo") is None
    rows = learning_rows(out / "seed_0.csv")
    assert len(rows) == 8  # 64 steps / (2 envs × 4 steps)
    assert "R2AC elstm n=4 (RTRL, M=4)" in capsys.readouterr().out


def test_a_config_with_two_agent_sections_is_refused():
    with pytest.raises(ValueError, match=r"give one agent's section, not several: stream .* and r2ac"):
        TrainConfig(env="jax/MemoryChain", stream=rtrl.agents.StreamConfig(), r2ac=tiny())


def test_resume_continues_to_exactly_the_uninterrupted_run(tmp_path):
    """With lag 1 (the actors overlapping the learner on their own thread) the checkpoint must hold the
    behaviour parameters and the segment in flight too, and the learning-rate decay must continue where
    it was: a resumed run equals the uninterrupted one, row by row and bit by bit, and the learner's
    results equal those of the synchronous loop without the pipeline."""
    config = TrainConfig(env="jax/MemoryChain", env_options={"length": 6}, wrappers="no-previous", total_steps=48,
                         seeds=2, checkpoint_every=1, r2ac=tiny(lag=1))
    whole = training.train(config, str(tmp_path / "whole"))
    training.train(config, str(tmp_path / "cut"), stop_after=3)
    resumed = training.train(config, str(tmp_path / "cut"), resume=True)
    for k in (0, 1):
        a, b = (learning_rows(tmp_path / run / f"seed_{k}.csv") for run in ("whole", "cut"))
        assert len(a) == len(b) == 6 and a == b, k
    for x, y in zip(jax.tree.leaves(whole.state), jax.tree.leaves(resumed.state)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    rates = [float(r["learning_rate"]) for r in learning_rows(tmp_path / "whole" / "seed_0.csv")]
    assert rates[0] > rates[-1] > 0  # decays over the run's 6 updates (total_updates from the run)
    assert whole.state.opt_state.in_flight != ()  # the pipeline ran
    agent = whole.agent
    state = agent.init(jax.random.PRNGKey(config.seed + 1))
    for _ in range(6):
        state, metrics = agent.iteration(state)
    for x, y in zip(jax.tree.leaves(state.params), jax.tree.leaves(whole.state.params)):
        np.testing.assert_allclose(np.asarray(y[1]), np.asarray(x), rtol=1e-5, atol=1e-6)
    assert float(learning_rows(tmp_path / "whole" / "seed_1.csv")[-1]["total_loss"]) == pytest.approx(
        float(metrics["total_loss"]), rel=1e-5, abs=1e-6)


def test_the_learning_rate_decays_over_the_run_unless_given():
    """rtrl train decays over the run and says so in config.yaml; an R2ACConfig on its own keeps a constant
    rate; a resumed run keeps its schedule (its config says total_updates, however long it is made)."""
    config = TrainConfig(env="jax/MemoryChain", total_steps=800, r2ac=tiny())
    assert config.r2ac.total_updates == config.iterations == 100
    assert config.make_agent().config.total_updates == 100
    longer = config_lib.from_dict(TrainConfig, {**config_lib.to_dict(config), "total_steps": 1600})
    assert longer.r2ac.total_updates == 100  # resuming with more steps does not move the schedule
    given = TrainConfig(env="jax/MemoryChain", total_steps=800, r2ac=tiny(total_updates=7))
    assert given.make_agent().config.total_updates == 7
    assert R2ACConfig().total_updates is None


HOST = ["--agent", "r2ac", "--env", "popgym/RepeatPreviousEasy", "--num-envs", "2", "--unroll", "4", "--hidden-size",
        "4", "--head", "[8]", "--total-steps", "32"]


def test_cli_trains_r2ac_on_a_host_environment_with_overlapping_actors(tmp_path):
    """popgym (a host env), two seeds in lockstep, lag 1: the actors act on their own thread."""
    out = tmp_path / "run"
    assert main(["train", *HOST, "--seeds", "2", "--lag", "1", "--out", str(out)]) == 0
    for k in (0, 1):
        rows = learning_rows(out / f"seed_{k}.csv")
        assert [int(r["env_steps"]) for r in rows] == [8, 16, 24, 32]
        assert float(rows[0]["importance_ratio"]) == pytest.approx(1.0) != float(rows[-1]["importance_ratio"])
    a, b = (learning_rows(out / f"seed_{k}.csv") for k in (0, 1))
    assert a != b  # two seeds, two runs
    assert main(["train", *HOST, "--total-steps", "48", "--out", str(out), "--resume"]) == 0  # host resume
    assert len(learning_rows(out / "seed_0.csv")) == 6


def test_lag_0_runs_no_actor_thread(tmp_path):
    before = {t.ident for t in threading.enumerate()}
    training.train(TrainConfig(env="jax/MemoryChain", total_steps=16, r2ac=tiny()), str(tmp_path / "run"))
    assert not [t for t in threading.enumerate() if t.ident not in before and t.name.startswith("r2ac-actors")]


def test_lag_1_joins_its_actor_thread_when_the_run_ends(tmp_path, monkeypatch):
    from rtrl.agents import r2ac_actors

    closed = []
    close = r2ac_actors.ActorThread.close
    monkeypatch.setattr(r2ac_actors.ActorThread, "close", lambda self: (closed.append(self), close(self)))
    before = {t.ident for t in threading.enumerate()}
    training.train(TrainConfig(env="jax/MemoryChain", total_steps=64, r2ac=tiny(lag=1)), str(tmp_path / "run"))
    assert len(closed) == 1  # joined by the run, not left to the garbage collector
    assert not [t for t in threading.enumerate() if t.ident not in before and t.name.startswith("r2ac-actors")]


@pytest.mark.parametrize("name", [n for n in training_presets.names() if n.startswith("irie/")])
def test_irie_presets_build(name):
    config = config_lib.from_dict(TrainConfig, training_presets.get(name))
    assert config.r2ac is not None and config.ppo is None and config.stream is None
    assert config.r2ac.cell == "elstm" and config.r2ac.gradient == "rtrl"
    spec = rtrl.envs.spec(config.env)
    if not spec.installed:  # atari/ and minatar/ without their extras: refused, naming the pip command
        with pytest.raises(rtrl.envs.MissingExtraError, match=rf"pip install 'rtrl\[{spec.extra}\]'"):
            config.make_agent()
        return
    if config.env.startswith("atari/"):  # a whole Atari network at N = 16 is big: its parts, not a run
        config = dataclasses.replace(config, r2ac=dataclasses.replace(config.r2ac, num_envs=1))
    agent = config.make_agent()
    assert agent.parameter_count().recurrent > 0
    assert agent.network.stem == {"atari": "nature", "minatar": "minatar"}.get(spec.family, "dense")


def test_the_python_api_trains_saves_loads_and_evaluates_r2ac(tmp_path):
    run = rtrl.train(TrainConfig(env="jax/MemoryChain", env_options={"length": 2}, wrappers="no-previous",
                                 total_steps=64, r2ac=tiny()), out=str(tmp_path / "run"))
    path = run.agent.save(str(tmp_path / "agent.npz"))
    loaded = rtrl.load(path)
    for x, y in zip(jax.tree.leaves(run.agent.params), jax.tree.leaves(loaded.params)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    returns = np.asarray(rtrl.evaluate(loaded, episodes=4).returns)
    assert returns.shape == (4,) and set(np.unique(returns)) <= {-1.0, 1.0}
