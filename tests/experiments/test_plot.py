"""`rtrl plot`: every run is its own curve, --metric is honoured for training runs, a mix of kinds and
bad --out paths are refused before drawing, and the title names the task or environment."""

import os

import pytest

from rtrl.cli import main
from rtrl.experiments import plots, replot, run_dir
from rtrl.experiments.config import save_yaml
from rtrl.experiments.prediction import PredictionConfig


def _prediction_run(path, *, seeds=2, offset=0.0, **config):
    os.makedirs(path)
    config = PredictionConfig(seeds=seeds, **{"steps": 300, "curve_points": 3, "final_window": 100, **config})
    save_yaml(config, os.path.join(path, run_dir.CONFIG))
    for k in range(seeds):
        rows = [{"step": 100 * (i + 1), "msre": 0.5 / (i + 1) + offset + 0.01 * k, "oracle": 0.01, "zero": 0.6}
                for i in range(3)]
        run_dir.write_csv(os.path.join(path, f"seed_{k}.csv"), rows)
    return str(path)


def _training_run(path, *, env="jax/RepeatPreviousEasy", seeds=2):
    from rtrl.experiments import training

    os.makedirs(path)
    save_yaml(training.TrainConfig(env=env, seeds=seeds), os.path.join(path, run_dir.CONFIG))
    for k in range(seeds):
        rows = [{"iteration": i + 1, "env_steps": 32 * (i + 1), "episode_return": float(i + k),
                 "episode_length": 10.0, "episodes": 0.0 if i == 1 else 2.0, "value_loss": 1.0 / (i + 1 + k),
                 "steps_per_second": 1000.0} for i in range(4)]
        run_dir.write_csv(os.path.join(path, f"seed_{k}.csv"), rows)
    return str(path)


@pytest.fixture
def drawn_curves(monkeypatch):
    """The curves handed to the plotting function, per call."""
    calls = []
    real = plots.learning_curves

    def spy(path, curves, **kwargs):
        calls.append((curves, kwargs))
        real(path, curves, **kwargs)

    monkeypatch.setattr(plots, "learning_curves", spy)
    return calls


def test_runs_that_share_a_label_are_two_curves(tmp_path, drawn_curves):
    a = _prediction_run(tmp_path / "a")
    b = _prediction_run(tmp_path / "b", offset=1.0)
    out = str(tmp_path / "p.png")
    drawn = replot.plot([a, b], out)
    name = PredictionConfig().name
    assert drawn.labels == (f"{name} (a)", f"{name} (b)")
    curves, _ = drawn_curves[0]
    assert list(curves) == list(drawn.labels)
    assert curves[drawn.labels[1]][1][0, 0] == pytest.approx(1.5)  # b's own numbers
    assert os.path.getsize(out) > 0


def test_same_directory_names_in_different_places_are_told_apart(tmp_path):
    runs = [_prediction_run(tmp_path / "x" / "run"), _prediction_run(tmp_path / "y" / "run")]
    labels = replot.unique_labels(runs, ["same", "same"])
    assert len(set(labels)) == 2 and all(label.startswith("same (") for label in labels)
    assert replot.unique_labels(runs, ["one", "two"]) == ["one", "two"]


def test_training_metric_is_honoured(tmp_path, drawn_curves):
    run = _training_run(tmp_path / "t")
    drawn = replot.plot([run], str(tmp_path / "v.png"), metric="value_loss")
    curves, kwargs = drawn_curves[0]
    x, ys = curves[drawn.labels[0]]
    assert list(x) == [32, 64, 96, 128]
    assert ys[1].tolist() == pytest.approx([1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert kwargs["ylabel"] == "value_loss" and drawn.metric == "value_loss"
    replot.plot([run], str(tmp_path / "r.png"))
    curves, kwargs = drawn_curves[1]
    # episode_return by default; carried forward over the iteration without episodes
    assert curves[drawn.labels[0]][1][0].tolist() == [0.0, 0.0, 2.0, 3.0]
    assert kwargs["ylabel"] == "episode return" and kwargs["logy"] is False


def test_an_unknown_metric_lists_the_columns(tmp_path):
    run = _training_run(tmp_path / "t")
    with pytest.raises(ValueError, match=r"no metric 'valu_loss'; its columns are: episode_return, .*value_loss"):
        replot.plot([run], str(tmp_path / "v.png"), metric="valu_loss")
    assert not (tmp_path / "v.png").exists()


def test_a_mix_of_prediction_and_training_runs_is_refused(tmp_path, capsys):
    p = _prediction_run(tmp_path / "p")
    t = _training_run(tmp_path / "t")
    out = tmp_path / "mix.png"
    assert main(["plot", p, t, "--out", str(out)]) == 2
    text = capsys.readouterr().out
    assert "training runs" in text and "prediction runs" in text and "separately" in text
    assert not out.exists()


def test_a_missing_out_directory_is_created(tmp_path):
    run = _prediction_run(tmp_path / "p")
    out = tmp_path / "figures" / "new" / "p.png"
    replot.plot([run], str(out))
    assert out.stat().st_size > 0


@pytest.mark.parametrize("out,message", [("file/p.png", "is a file, not a directory"), ("p.xyz", "image format"),
                                         ("dir", "is a directory")])
def test_a_bad_out_is_refused_before_drawing(tmp_path, capsys, out, message):
    run = _prediction_run(tmp_path / "p")
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    assert main(["plot", run, "--out", str(tmp_path / out)]) == 2
    assert message in capsys.readouterr().out


def test_the_title_names_the_task_or_environment(tmp_path, drawn_curves):
    run = _prediction_run(tmp_path / "p", task="trace-patterning")
    replot.plot([run], str(tmp_path / "p.png"))
    assert drawn_curves[0][1]["title"].startswith("trace-patterning")
    train = _training_run(tmp_path / "t", env="jax/CountRecallEasy")
    replot.plot([train], str(tmp_path / "t.png"))
    assert drawn_curves[1][1]["title"].startswith("jax/CountRecallEasy")


def test_cli_says_what_it_drew(tmp_path, capsys):
    a = _prediction_run(tmp_path / "a")
    b = _prediction_run(tmp_path / "b")
    assert main(["plot", a, b, "--out", str(tmp_path / "p.png")]) == 0
    text = capsys.readouterr().out
    assert "plotted 2 curve(s) of msre" in text and "(a)" in text and "(b)" in text


def test_cli_training_table_and_metric(tmp_path, capsys):
    run = _training_run(tmp_path / "t")
    assert main(["plot", run, "--out", str(tmp_path / "t.png"), "--metric", "value_loss"]) == 0
    text = capsys.readouterr().out
    assert "plotted 1 curve(s) of value_loss" in text and "final return" in text
    assert "3.500 ± 6.353" in text  # seeds' final returns 3 and 4: 12.706 · 0.7071 / √2


def test_log_axis_bands_run_off_the_bottom_and_limits_follow_the_means():
    """Three seeds whose t interval reaches below zero: on a log axis the band's lower edge stays positive (no
    holes), and the axis spans the means, band tops and reference lines, not the clipped edge."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from rtrl.experiments import plots

    fig, ax = plt.subplots()
    ax.set_yscale("log")
    x = np.arange(3.0)
    mean, half = np.array([0.02, 0.03, 0.05]), np.array([0.03, 0.01, 0.1])  # lower edges -0.01, 0.02, -0.05
    plots._band(ax, x, mean, half, "C0")
    lower = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert (lower > 0).all()
    plots._log_limits(ax, [mean], [mean + half], {"zero predictor": 0.18})
    bottom, top = ax.get_ylim()
    assert bottom == pytest.approx(0.02 / plots._LOG_MARGIN) and top == pytest.approx(0.18 * plots._LOG_MARGIN)
    plt.close(fig)
