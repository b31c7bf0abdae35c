"""``rtrl train`` as a user meets it: bad input refused before any work with a message (exit 2, no
traceback), a diverging run stopped (exit 1) with its last good checkpoint, Ctrl-C with the command
that resumes (exit 130), plain progress lines when the output is not a terminal, resume messages."""

import importlib.util
import json
import os
import re

import jax
import pytest
import yaml

from rtrl.cli import main
from rtrl.experiments import memory, run_dir, train_seeds, training

BASE = ["--env", "jax/RepeatPreviousEasy", "--num-steps", "64", "--num-minibatches", "2", "--encoder", "[8]",
        "--head", "[8]", "--update-epochs", "1"]
TINY = [*BASE, "--hidden-size", "8"]


class Ran(Exception):
    """Raised instead of training: the command got past every check."""


def _must_not_run(*args, **kwargs):
    raise AssertionError("the run started before its input was validated")


def _reached_run(prepared, **kwargs):
    raise Ran(prepared)


def _write(path, text):
    path.write_text(text)
    return str(path)


def _old_run(tmp_path):
    """A finished-looking run directory that --overwrite must not lose."""
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.yaml").write_text("env: jax/RepeatPreviousEasy\n")
    (old / "seed_0.csv").write_text("iteration,env_steps\n1,64\n")
    return old


BAD_INPUT = {
    "inf learning rate": (["--learning-rate", ".inf"], r"learning_rate must be a (positive|finite) number, got inf"),
    "out under /proc": (["--out", "/proc/rtrl-x"], "cannot"),
    "ppo: 5": (["--config", "{tmp}/ppo5.yaml"], "ppo must be a mapping"),
    "empty yaml": (["--config", "{tmp}/empty.yaml"], "empty"),
    "option type": (["--env-options", "{previous_action: maybe}"], "previous_action"),
    "cell flag with mlp": (["--agent", "mlp-ppo", "--cell", "gru"], "mlp-ppo has no recurrent cell, so --cell"),
    "cell in yaml with mlp": (["--config", "{tmp}/mlp.yaml"], r"hidden_size: 32 in .*mlp.yaml would be ignored"),
    "missing extra": (["--env", "atari/Pong"], "atari"),
    "memory": (["--hidden-size", "100000", "--num-steps", "2048"],
               r"needs about .* GB \(estimate: rollouts .*\) but the .* has 8.0 GB available.*reduce num_steps "
               r"\(2048\), num_envs \(1\), hidden_size \(100000\), or seeds \(1\)"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_a_message_before_any_work(tmp_path, capsys, monkeypatch, case):
    if case == "missing extra" and importlib.util.find_spec("ale_py") is not None:
        pytest.skip("ale-py is installed")
    monkeypatch.setattr(training, "run", _must_not_run)
    monkeypatch.setattr(memory, "available_bytes", lambda device=False: 8 * 10**9)
    _write(tmp_path / "ppo5.yaml", "ppo: 5\n")
    _write(tmp_path / "empty.yaml", "")
    _write(tmp_path / "mlp.yaml", "env: jax/RepeatPreviousEasy\nppo: {agent: mlp-ppo, hidden_size: 32}\n")
    flags, message = BAD_INPUT[case]
    flags = [f.replace("{tmp}", str(tmp_path)) for f in flags]
    out = [] if "--out" in flags else ["--out", str(tmp_path / "run")]
    assert main(["train", *BASE, *flags, *out]) == 2
    captured = capsys.readouterr()
    text = " ".join((captured.out + captured.err).split())  # the console wraps long lines
    assert "error:" in text and "Traceback" not in text
    assert re.search(message, text), text
    assert not (tmp_path / "run").exists()


def test_out_under_a_file_and_an_overwrite_that_fails_validation_lose_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(training, "run", _must_not_run)
    (tmp_path / "file").write_text("mine")
    assert main(["train", *TINY, "--out", str(tmp_path / "file" / "run")]) == 2
    assert "is a file" in capsys.readouterr().out
    old = _old_run(tmp_path)
    before = sorted(os.listdir(old))
    for bad in (["--learning-rate", "1e400"], ["--env-options", "{previous_action: maybe}"], ["--seeds", "0"]):
        assert main(["train", *TINY, *bad, "--out", str(old), "--overwrite"]) == 2
        assert sorted(os.listdir(old)) == before and sorted(os.listdir(tmp_path)) == ["file", "old"]


def test_resume_of_a_prediction_run_says_what_it_is(tmp_path, capsys):
    from rtrl.experiments.config import save_yaml
    from rtrl.experiments.prediction import PredictionConfig

    run = tmp_path / "pred"
    run.mkdir()
    save_yaml(PredictionConfig(), str(run / "config.yaml"))
    assert main(["train", "--out", str(run), "--resume"]) == 2
    text = " ".join(capsys.readouterr().out.split())
    assert f"{run}: it is a prediction run (rtrl predict), not a training run" in text and "unknown key" not in text


def test_preset_cell_with_mlp_override_and_float64_reach_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "run", _reached_run)
    with pytest.raises(Ran) as e:  # the preset's cell (rtu-nonlinear) is the preset's, not the user's
        main(["train", "--preset", "rtu-paper/popgym-repeatprevious", "--agent", "mlp-ppo", "--num-steps", "64",
              "--num-minibatches", "2", "--out", str(tmp_path / "a")])
    assert e.value.args[0].config.ppo.agent == "mlp-ppo"
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(Ran) as e:  # the CLI turns on JAX's 64-bit mode itself
            main(["train", *TINY, "--dtype", "float64", "--out", str(tmp_path / "b")])
        assert e.value.args[0].config.ppo.dtype == "float64" and jax.config.jax_enable_x64
    finally:
        jax.config.update("jax_enable_x64", True)  # as tests/conftest.py sets it


def test_a_diverging_run_exits_1_and_keeps_the_run_it_replaced(tmp_path, capsys):
    old = _old_run(tmp_path)
    assert main(["train", *TINY, "--total-steps", "128", "--learning-rate", "1e30", "--out", str(old),
                 "--overwrite"]) == 1
    text = " ".join(capsys.readouterr().out.split())
    assert "error: seed 0 diverged at iteration 1:" in text and "Traceback" not in text
    assert "no checkpoint was written before it; lower the learning rate (now 1e+30)" in text
    assert "No final return was written" in text and "final return" not in text.replace("No final return", "")
    assert not (old / "summary.json").exists()
    backups = [d for d in os.listdir(tmp_path) if d.startswith(".old.replaced-")]
    assert len(backups) == 1 and "was kept at" in text
    assert (tmp_path / backups[0] / "seed_0.csv").read_text() == "iteration,env_steps\n1,64\n"


def test_ctrl_c_says_how_to_resume_then_resume_and_progress_lines(tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "run")
    make = train_seeds.make
    calls = []

    def interrupted_at_third(config, agent=None, **kwargs):
        seeds = make(config, agent, **kwargs)
        step = seeds.iteration

        def iteration(state):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return step(state)

        seeds.iteration = iteration
        return seeds

    monkeypatch.setattr(train_seeds, "make", interrupted_at_third)
    args = ["train", *TINY, "--total-steps", "256", "--checkpoint-every", "1", "--out", out]
    assert main(args) == 130
    text = capsys.readouterr().out
    flat = " ".join(text.split())
    assert f"the last checkpoint is {out}/checkpoint.npz (iteration 2)" in flat
    assert f"rtrl train --out {out} --resume" in text and "Traceback" not in text
    # plain progress lines while the output is not a terminal, with the labelled speed definition
    assert "train: 64/256 steps (25%), - env steps/s" in text
    assert "env steps/s, all seeds, excluding compilation" in flat
    with open(os.path.join(out, "seed_0.csv")) as f:
        assert len(f.read().splitlines()) == 3  # header + the 2 whole iterations
    monkeypatch.setattr(train_seeds, "make", make)
    assert main(["train", "--out", out, "--resume"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "resuming at iteration 2 (128 steps per seed)" in text and "train: 256/256 steps (100%)" in text
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["final_return"]["n"] == 1 and summary["final_return"]["ci95"] is None
    assert summary["steps_per_second_definition"] == training.RATE
    assert main(["train", "--out", out, "--resume"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "already finished its 4 iterations" in text and "nan" not in text and "steps/s" not in text
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["total_steps"] == 256
    assert run_dir.read_summary(out) == summary
