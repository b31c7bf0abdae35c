"""``rtrl eval`` and ``rtrl envs``: they run, print what they say, and refuse bad input with exit status 2."""

from __future__ import annotations

import re

import pytest

import rtrl
from rtrl.agents import PPOConfig
from rtrl.cli import main
from rtrl.experiments.training import TrainConfig


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    config = TrainConfig(env="jax/RepeatPreviousEasy", total_steps=64, seeds=2, checkpoint_every=1,
                         ppo=PPOConfig(agent="mlp-ppo", encoder=(8,), head=(8,), num_envs=2, num_steps=32,
                                       num_minibatches=2, update_epochs=1))
    return rtrl.train(config, str(tmp_path_factory.mktemp("cli") / "run")).run_dir


def _out(capsys) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_eval_prints_every_episode_and_the_mean_with_its_interval(run_dir, capsys):
    assert main(["eval", run_dir, "--episodes", "3", "--deterministic", "--seed", "4", "--run-seed", "1"]) == 0
    out = _out(capsys)
    expected = rtrl.evaluate(rtrl.TrainedAgent.from_run(run_dir, seed=1), episodes=3, deterministic=True, seed=4)
    rows = re.findall(r"│\s*(\d+)\s*│\s*(-?[\d.]+)\s*│\s*(\d+)\s*│", out)
    assert [int(r[0]) for r in rows] == [0, 1, 2]
    assert [float(r[1]) for r in rows] == pytest.approx(expected.returns, abs=1e-3)
    assert str(expected) in out.replace("\n", " ") or expected.interval.format() in out
    assert "95% t, n=3" in out and "deterministic" in out


def test_eval_of_a_host_run_uses_its_statistics_and_notes_an_old_checkpoint_without(tmp_path, capsys):
    from rtrl.experiments import checkpoint, training

    config = TrainConfig(env="popgym/RepeatPreviousEasy", total_steps=32, checkpoint_every=1,
                         ppo=PPOConfig(agent="mlp-ppo", encoder=(8,), head=(8,), num_envs=2, num_steps=16,
                                       num_minibatches=1, update_epochs=1))
    out = rtrl.train(config, str(tmp_path / "host")).run_dir
    capsys.readouterr()
    assert main(["eval", out, "--episodes", "1", "--deterministic"]) == 0
    assert "note:" not in _out(capsys)  # the run's statistics are used
    # a checkpoint of an older version held none for a host run (env_state was ())
    _, _, state, step = training.load_state(out)
    checkpoint.save(f"{out}/{training.CHECKPOINT}", state._replace(env_state=()), step=step,
                    config=training.learning_part(config))
    assert main(["eval", out, "--episodes", "1", "--deterministic"]) == 0
    assert "holds no wrapper statistics" in _out(capsys).replace("\n", " ")


@pytest.mark.parametrize("argv,message", [
    (["eval", "{tmp}/missing"], "does not exist"),
    (["eval", "{tmp}"], "not a training run directory"),
    (["eval", "{run}", "--run-seed", "7"], "one of the run's seeds 0, 1"),
    (["eval", "{run}", "--env", "jax/CountRecallEasy"], "observations of shape"),
    (["eval", "{run}", "--env", "jax/NoSuchEnv"], "unknown environment"),
    (["eval", "{run}", "--video", "{tmp}/v.gif"], "video needs an environment that renders"),
    (["envs", "--family", "nope"], "family must be one of 'jax'"),
])
def test_bad_input_is_an_error_with_status_2(argv, message, run_dir, tmp_path, capsys):
    argv = [a.format(tmp=tmp_path, run=run_dir) for a in argv]
    assert main(argv) == 2
    out = _out(capsys)
    assert out.lstrip().startswith("error:") and message in out.replace("\n", " ") and "Traceback" not in out


@pytest.mark.parametrize("flags", [["--episodes", "0"], ["--episodes", "x"], ["--seed", "-1"]])
def test_bad_numbers_are_refused_by_the_parser(flags, run_dir, capsys):
    with pytest.raises(SystemExit) as e:
        main(["eval", run_dir, *flags])
    assert e.value.code == 2 and "expected a" in capsys.readouterr().err


def test_envs_lists_the_names_by_family_with_their_extras(capsys):
    assert main(["envs"]) == 0
    out = _out(capsys)
    assert "jax/CountRecallEasy" in out and "mujoco/Hopper-P" in out and "atari/Pong" in out
    assert f"{len(rtrl.envs.names())} environment(s)" in out and "gymnasium/<id>" in out
    atari = rtrl.envs.spec("atari/Pong")
    assert ("no" if not atari.installed else "yes") in out and "atari" in out
    assert main(["envs", "--family", "jax"]) == 0
    out = _out(capsys)
    assert "jax/RepeatFirstHard" in out and "mujoco/" not in out
    assert f"{len(rtrl.envs.names('jax'))} environment(s)" in out


def test_envs_names_what_a_missing_extra_needs(capsys, monkeypatch):
    from rtrl.envs import registry

    monkeypatch.setattr(registry.EnvSpec, "installed", property(lambda self: self.extra is None))
    assert main(["envs", "--family", "atari"]) == 0
    out = _out(capsys)
    assert f"{len(rtrl.envs.names('atari'))} need an extra that is not installed" in out
    assert rtrl.envs.spec("atari/Pong").install in out.replace("\n", " ")


def test_version_prints_the_installed_version(capsys):
    from importlib.metadata import version

    from rtrl.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"rtrl {version('rtrl')}"
