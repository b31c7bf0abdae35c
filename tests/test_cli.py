"""The `rtrl` command: each subcommand runs, and bad input is refused before any work."""

import csv
import json
import os

import pytest

from rtrl.cli import main


def test_cells_lists_every_cell(capsys):
    import rtrl

    assert main(["cells"]) == 0
    out = capsys.readouterr().out
    assert all(name[:6] in out for name in rtrl.cells.names())


def test_cost_prints_methods(capsys):
    assert main(["cost", "rtu-linear", "--hidden-size", "3", "--input-size", "2", "--truncation", "4"]) == 0
    out = capsys.readouterr().out
    assert "rtrl" in out and "tbptt T=4" in out


def test_gradcheck_one_cell(capsys):
    assert main(["gradcheck", "--cells", "rtu-linear", "--steps", "20"]) == 0
    assert "all exact" in capsys.readouterr().out


def test_bench_writes_csv_and_keeps_existing_files(tmp_path, capsys):
    out = tmp_path / "bench.csv"
    args = ["bench", "cells", "--cells", "rtu-linear", "--hidden-sizes", "4", "--batch-sizes", "1", "--modes",
            "forward", "rtrl-step", "rtrl", "tbptt-2", "--input-size", "3", "--target-seconds", "0.005",
            "--repeats", "1", "--out", str(out)]
    assert main(args) == 0
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["mode"] for r in rows] == ["forward", "rtrl-step", "rtrl", "tbptt-2"]
    assert all(float(r["us_per_step"]) > 0 for r in rows)
    before = out.read_text()
    assert main(args) == 2  # an existing CSV is not overwritten without --force
    assert out.read_text() == before
    assert "exists" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["cost", "rtu-lineer", "--hidden-size", "3", "--input-size", "2"], "unknown cell"),
    (["gradcheck", "--steps", "0"], "positive integer"),
    (["bench", "cells", "--hidden-sizes", "-4"], "positive integer"),
])
def test_bad_arguments_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_bench_mode_is_refused(tmp_path, capsys):
    out = tmp_path / "b.csv"
    assert main(["bench", "cells", "--modes", "tbptt-0", "--out", str(out)]) == 2
    assert "tbptt-T" in capsys.readouterr().out
    assert not out.exists()


def test_predict_writes_a_run_and_refuses_to_overwrite_it(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["predict", "--cell", "gru", "--hidden-size", "3", "--learner", "tbptt", "--truncation", "2",
            "--task-options", "{isi: 10, num_distractors: 2}", "--steps", "600", "--seeds", "2", "--chunk", "300",
            "--curve-points", "3", "--out", str(out)]
    assert main(argv) == 0
    assert (out / "summary.json").exists() and (out / "learning_curve.png").exists()
    assert "oracle" in capsys.readouterr().out
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().out
    config = out / "config.yaml"
    again = tmp_path / "again"
    assert main(["predict", "--config", str(config), "--seeds", "1", "--out", str(again)]) == 0
    assert "seeds: 1" in (again / "config.yaml").read_text() and "truncation: 2" in (again / "config.yaml").read_text()


def test_predict_bad_config_before_any_work(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["predict", "--task-options", "{iti: [120, 80]}", "--out", str(out)]) == 2
    assert "iti" in capsys.readouterr().out and not out.exists()
    config = tmp_path / "c.yaml"
    config.write_text("cell: rtu-linear\nhidden: 3\n")
    assert main(["predict", "--config", str(config), "--out", str(out)]) == 2
    assert "unknown key" in capsys.readouterr().out and not out.exists()


def test_demo_and_plot(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--steps", "1000", "--seeds", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "RTU" in text and "GRU" in text and "zero predictor" in text
    assert (out / "learning_curves.png").exists() and (out / "summary.csv").exists()
    png = tmp_path / "again.png"
    assert main(["plot", str(out), "--out", str(png)]) == 0
    assert png.stat().st_size > 0
    assert main(["plot", str(out), "--out", str(png)]) == 2  # existing file kept
    assert main(["plot", str(tmp_path / "nope"), "--out", str(tmp_path / "x.png")]) == 2


def test_train_preset_with_overrides_then_resume(tmp_path, capsys):
    out = tmp_path / "train"
    tiny = ["--hidden-size", "4", "--encoder", "[8]", "--head", "[8]", "--num-steps", "32", "--num-minibatches", "2",
            "--update-epochs", "1", "--checkpoint-every", "1"]
    assert main(["train", "--preset", "rtu-paper/popgym-repeatprevious", "--total-steps", "32", *tiny,
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "recurrent" in text and "final return" in text
    assert "env: jax/RepeatPreviousEasy" in (out / "config.yaml").read_text()
    assert main(["train", "--out", str(out), "--resume", "--total-steps", "64"]) == 0
    with open(out / "seed_0.csv") as f:
        assert len(f.read().splitlines()) == 3  # header + 2 iterations
    assert main(["train", "--out", str(out), "--resume", "--learning-rate", "0.5"]) == 2
    assert "ppo.learning_rate" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert main(["plot", str(out), "--out", str(tmp_path / "returns.png")]) == 0  # a training run: curves + table
    text = capsys.readouterr().out
    assert (tmp_path / "returns.png").stat().st_size > 0
    assert "RepeatPreviousEasy" in text and f"{summary['final_return']['mean']:.3f}" in text
    with pytest.raises(SystemExit) as e:
        main(["train", "--preset", "rtu-paper/popgym-countrecal", "--out", str(tmp_path / "x")])
    assert e.value.code == 2 and "rtu-paper/popgym-countrecall" in capsys.readouterr().err


def _must_not_run(*args, **kwargs):
    raise AssertionError("the job ran before its --out was validated")


@pytest.mark.parametrize("command", [["predict"], ["demo"]])
def test_a_non_run_directory_is_refused_before_any_work(tmp_path, capsys, monkeypatch, command):
    from rtrl.experiments import prediction

    monkeypatch.setattr(prediction, "run", _must_not_run)
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    assert main([*command, "--steps", "100", "--out", str(home), "--overwrite"]) == 2
    assert "not a run directory" in capsys.readouterr().out
    assert os.listdir(home) == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    assert main([*command, "--steps", "100", "--out", str(tmp_path / "file" / "run")]) == 2
    assert "is a file" in capsys.readouterr().out


def test_overwrite_keeps_the_old_run_when_the_new_one_fails(tmp_path, capsys, monkeypatch):
    from rtrl.experiments import plots

    out = tmp_path / "run"
    argv = ["predict", "--hidden-size", "2", "--steps", "200", "--seeds", "1", "--chunk", "200", "--curve-points",
            "2", "--final-window", "100", "--out", str(out)]
    assert main(argv) == 0
    before = (out / "seed_0.csv").read_text()

    def fails(*args, **kwargs):
        raise ValueError("cannot draw the plot")

    monkeypatch.setattr(plots, "learning_curves", fails)  # fails while the new run is being written
    assert main([*argv, "--overwrite", "--seed", "3"]) == 2
    text = capsys.readouterr().out
    backups = [n for n in os.listdir(tmp_path) if n != "run"]
    assert "cannot draw the plot" in text and "kept at" in text and len(backups) == 1 and backups[0] in text
    assert (tmp_path / backups[0] / "seed_0.csv").read_text() == before
    monkeypatch.undo()
    assert main([*argv, "--overwrite", "--seed", "3"]) == 0
    assert (out / "seed_3.csv").exists() and not (out / "seed_0.csv").exists()
    assert len(os.listdir(tmp_path)) == 2  # the new run, and the backup of the failed attempt (never deleted)


def test_dense_rtrl_that_cannot_fit_is_refused_before_work(tmp_path, capsys, monkeypatch):
    from rtrl.experiments import prediction

    monkeypatch.setattr(prediction, "run", _must_not_run)
    out = tmp_path / "run"
    assert main(["predict", "--cell", "gru", "--hidden-size", "1000", "--out", str(out)]) == 2
    text = capsys.readouterr().out
    assert "needs about" in text and "GB available" in text and "element-wise cell" in text
    assert not out.exists()


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _plain_progress(**kwargs):
    import io

    from rich.console import Console

    from rtrl.cli.common import StepProgress

    buffer, clock = io.StringIO(), _Clock()
    out = Console(file=buffer, width=200)
    return StepProgress(out=out, clock=clock, **kwargs), buffer, clock


def test_progress_prints_plain_lines_when_not_a_terminal():
    progress, buffer, clock = _plain_progress(total=200_000, label="predict", seeds=3)
    assert progress.plain  # a StringIO is not a terminal
    with progress:
        for done in range(10_000, 200_001, 10_000):  # 20 updates, 1 s apart
            clock.now += 1.0
            progress.update(done)
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "predict: 200,000 steps per seed x 3 seed(s)"
    assert lines[1] == "predict: 10,000/200,000 steps (5%), - env steps/s"  # the first update: no speed yet
    # every 10% (20,000 steps) after that; speed = all seeds' steps since the first update per second
    assert lines[2] == "predict: 30,000/200,000 steps (15%), 30,000 env steps/s, eta 0:00:17"
    assert lines[-1] == "predict: 200,000/200,000 steps (100%), 30,000 env steps/s"
    assert len(lines) == 2 + 1 + 9


def test_progress_prints_every_few_seconds_on_slow_jobs_and_names_the_learner():
    progress, buffer, clock = _plain_progress(total=1_000, label="GRU n=16", stage="learner 2 of 2",
                                              every_seconds=10.0)
    with progress:
        for done in range(1, 31):  # 3% of the total per 4 s
            clock.now += 4.0
            progress.update(done, info="return 1.5")
    lines = buffer.getvalue().splitlines()
    assert all(line.startswith("learner 2 of 2: GRU n=16:") for line in lines)
    assert [line.split(":")[2].split(" ")[1] for line in lines[1:]] == ["1/1,000", "4/1,000", "7/1,000", "10/1,000",
                                                                       "13/1,000", "16/1,000", "19/1,000",
                                                                       "22/1,000", "25/1,000", "28/1,000", "30/1,000"]
    assert lines[-1].endswith(": 30/1,000 steps (3%), 0.25 env steps/s, eta 1:04:40, return 1.5")  # 29 steps/116 s


def test_a_resumed_or_finished_job_says_so_and_never_prints_nan():
    progress, buffer, _ = _plain_progress(total=100, label="train", start=100)
    with progress:
        progress.update(100)
    text = buffer.getvalue()
    assert "resumed at 100" in text and "nan" not in text and "100/100 steps (100%), - env steps/s" in text


def test_demo_progress_is_per_learner(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--steps", "1000", "--seeds", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "learner 1 of 2: RTU linear n=32 (RTRL): 1,000/1,000 steps (100%)" in text
    assert "learner 2 of 2: GRU n=16 (T-BPTT, T=10): 1,000/1,000 steps (100%)" in text
    assert "/2,000" not in text  # the two learners' steps are not one total


@pytest.mark.parametrize("kwargs,message", [
    ({"target_seconds": float("inf")}, "target_seconds must be a positive number, got inf"),
    ({"repeats": 0}, "repeats must be a positive integer, got 0"),
    ({"hidden_sizes": (8, 0)}, r"hidden_sizes\[1\] must be a positive integer, got 0"),
    ({"input_size": True}, "input_size must be a positive integer, got True"),
    ({"max_dense_hidden": 2.5}, "max_dense_hidden must be a positive integer, got 2.5"),
])
def test_bench_config_names_the_field(kwargs, message):
    from rtrl.bench.cells import BenchConfig

    with pytest.raises(ValueError, match=message):
        BenchConfig(**kwargs)


def test_float_flags_refuse_infinity(capsys):
    with pytest.raises(SystemExit):
        main(["gradcheck", "--tolerance", "inf"])
    assert "positive (finite) number" in capsys.readouterr().err


def test_readme_step_size_and_bad_numbers(tmp_path, capsys, monkeypatch):
    from rtrl.experiments import prediction

    out = tmp_path / "run"
    small = ["--hidden-size", "2", "--steps", "2e2", "--seeds", "1", "--chunk", "200", "--curve-points", "2",
             "--final-window", "100"]
    assert main(["predict", "--step-size", "3e-3", *small, "--out", str(out)]) == 0
    assert "step_size: 0.003" in (out / "config.yaml").read_text()
    capsys.readouterr()
    monkeypatch.setattr(prediction, "run", _must_not_run)
    for value in (".inf", "inf", ".nan"):
        assert main(["predict", "--step-size", value, *small, "--out", str(tmp_path / "x")]) == 2
        assert "step_size must be a positive number, got" in capsys.readouterr().out
    empty = tmp_path / "empty.yaml"
    empty.write_text("# all commented out\n")
    assert main(["predict", "--config", str(empty), "--out", str(tmp_path / "x")]) == 2
    assert "is empty" in capsys.readouterr().out
    assert not (tmp_path / "x").exists()
