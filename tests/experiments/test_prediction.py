"""Online prediction runs: reproducible, scored against the oracle and the zero predictor, written
to a run directory that is never overwritten silently."""

import json
import os

import numpy as np
import pytest

from rtrl import tasks
from rtrl.experiments import comparison, prediction, replot
from rtrl.experiments.config import from_dict
from rtrl.experiments.prediction import PredictionConfig

SMALL = dict(steps=3_000, seeds=2, chunk=1_000, curve_points=10, final_window=1_000)


@pytest.fixture(scope="module")
def small_run():
    return prediction.run(PredictionConfig(hidden_size=4, **SMALL))


def test_same_seed_same_numbers_and_chunking_does_not_matter(small_run):
    again = prediction.run(PredictionConfig(hidden_size=4, **{**SMALL, "chunk": 3_000}))
    np.testing.assert_array_equal(small_run.predictions, again.predictions)
    np.testing.assert_array_equal(small_run.cumulants, again.cumulants)


def test_seeds_are_independent_streams_and_seed_offsets_line_up(small_run):
    assert not np.array_equal(small_run.cumulants[0], small_run.cumulants[1])
    shifted = prediction.run(PredictionConfig(hidden_size=4, **{**SMALL, "seeds": 1, "seed": 1}))
    np.testing.assert_array_equal(shifted.predictions[0], small_run.predictions[1])


def test_returns_and_references(small_run):
    task = tasks.make("trace-conditioning")
    g = np.asarray(tasks.returns(small_run.cumulants[0], task.gamma))
    np.testing.assert_allclose(small_run.returns[0], g)
    s = small_run.summary()
    assert s["msre"]["zero"]["mean"] == pytest.approx(np.mean(small_run.returns**2))
    assert s["msre"]["oracle"]["mean"] < s["msre"]["zero"]["mean"]
    assert s["msre_final"]["learner"]["per_seed"] == pytest.approx(
        list(((small_run.predictions - small_run.returns) ** 2)[:, -1_000:].mean(axis=1)))
    x, curves = small_run.curves()
    assert list(x) == list(range(300, 3_001, 300)) and curves["learner"].shape == (2, 10)


def test_learning_beats_the_zero_predictor():
    r = prediction.run(PredictionConfig(hidden_size=8, steps=20_000, seeds=1, chunk=10_000, final_window=5_000,
                                        step_size=3e-3))
    s = r.summary()["msre_final"]
    assert s["learner"]["mean"] < 0.5 * s["zero"]["mean"]


def test_write_refuses_an_existing_directory(small_run, tmp_path):
    out = tmp_path / "run"
    summary = prediction.write(small_run, str(out))
    assert sorted(os.listdir(out)) == ["config.yaml", "learning_curve.png", "seed_0.csv", "seed_1.csv",
                                       "summary.json", "tb"]
    assert json.loads((out / "summary.json").read_text())["msre"] == summary["msre"]
    before = (out / "seed_0.csv").read_text()
    with pytest.raises(ValueError, match="already exists"):
        prediction.write(small_run, str(out))
    assert (out / "seed_0.csv").read_text() == before
    label, x, columns = replot.load_curves(str(out))
    assert label == small_run.config.name and columns["msre"].shape == (2, 10)


def test_config_round_trips_through_yaml(small_run, tmp_path):
    prediction.write(small_run, str(tmp_path / "run"))
    from rtrl.experiments.config import load_yaml

    assert from_dict(PredictionConfig, load_yaml(str(tmp_path / "run" / "config.yaml"))) == small_run.config


@pytest.mark.parametrize("values,message", [
    ({"task": "trace-conditionin"}, "unknown task"),
    ({"task_options": {"isi": [13, 7]}}, "isi"),
    ({"task_options": {"num_distractors": 11}}, "num_distractors"),
    ({"task_options": {"gamma": 1.0}}, "gamma"),
    ({"cell": "gruu"}, "unknown cell"),
    ({"learner": "bptt"}, "learner"),
    ({"learner": "tbptt"}, "truncation"),
    ({"steps": 0}, "steps"),
    ({"seeds": -1}, "seeds"),
    ({"step_size": 0}, "step_size"),
    ({"stepsize": 0.1}, "did you mean 'step_size'"),
])
def test_bad_config_is_refused(values, message):
    with pytest.raises(ValueError, match=message):
        from_dict(PredictionConfig, values)


def test_comparison_checks_before_work(tmp_path):
    a = PredictionConfig(**SMALL)
    with pytest.raises(ValueError, match="same seed"):
        comparison.check([comparison.Entry(a), comparison.Entry(PredictionConfig(**{**SMALL, "seeds": 3}))],
                         str(tmp_path / "x"))
    with pytest.raises(ValueError, match="same name"):
        comparison.check([comparison.Entry(a), comparison.Entry(a)], str(tmp_path / "x"))
    (tmp_path / "exists").mkdir()
    with pytest.raises(ValueError, match="already exists"):
        comparison.check([comparison.Entry(a)], str(tmp_path / "exists"))


def test_hidden_size_fits_the_budget():
    config = PredictionConfig(cell="gru", learner="tbptt", truncation=4)
    n = prediction.suggest_hidden_size(config, 50_000)
    import dataclasses

    assert dataclasses.replace(config, hidden_size=n).flops_per_step() <= 50_000
    assert dataclasses.replace(config, hidden_size=n + 1).flops_per_step() > 50_000


def _summary(name, final, zero=1.0, per_seed=None):
    per_seed = per_seed or [final, final]
    stats = lambda v, p: {"mean": v, "ci95": 0.01, "n": len(p), "per_seed": p}  # noqa: E731
    return {"name": name, "msre": {"learner": stats(final, per_seed), "oracle": stats(0.01, [0.01]),
                                   "zero": stats(zero, [zero])},
            "msre_final": {"learner": stats(final, per_seed), "oracle": stats(0.01, [0.01]),
                           "zero": stats(zero, [zero])},
            "final_window": 100, "flops_per_step": 10, "steps_per_second": 1.0, "seeds": 2, "steps": 300}


def _grid():
    """compute-match-like results: an RTRL group with one run per budget, a T-BPTT group with two
    truncations per budget."""
    results = []
    for budget, rtu, gru_t2, gru_t5 in ((1e4, 0.5, 0.4, 0.6), (1e5, 0.2, 0.3, 0.25)):
        for name, group, final in ((f"rtu @{budget:g}", "RTU (RTRL)", rtu), (f"gru T=2 @{budget:g}", "GRU", gru_t2),
                                   (f"gru T=5 @{budget:g}", "GRU", gru_t5)):
            config = PredictionConfig(label=name, **SMALL)
            results.append((comparison.Entry(config, group=group, x=budget, x_label="FLOPs"), _summary(name, final)))
    return results


def test_comparison_plots_one_line_per_learner_and_tables_the_grid(tmp_path, monkeypatch):
    from rtrl.experiments import plots

    drawn = {}
    monkeypatch.setattr(plots, "learning_curves", lambda path, curves, **kw: drawn.setdefault("curves", curves))
    monkeypatch.setattr(plots, "sweep", lambda path, lines, **kw: drawn.setdefault("sweep", lines))
    results = _grid()
    curves = {e.config.name: (np.arange(3), np.zeros((2, 3))) for e, _ in results}
    comparison._write_outputs(str(tmp_path), results, curves, "t")
    assert list(drawn["curves"]) == ["RTU (RTRL), best: rtu @100000", "GRU, best: gru T=5 @100000"]
    assert {g: [x for x, _ in pts] for g, pts in drawn["sweep"].items()} == {"RTU (RTRL)": [1e4, 1e5],
                                                                           "GRU": [1e4, 1e5]}
    assert [v[0] for _, v in drawn["sweep"]["GRU"]] == [0.4, 0.25]  # the best truncation at each budget
    rows = comparison.table(results)
    assert len(rows) == 6  # the full grid
    assert [r["in_sweep_plot"] for r in rows] == [True, True, False, True, False, True]


def test_a_run_worse_than_the_zero_predictor_is_flagged(capsys):
    from rtrl.cli.prediction import _print_prediction_table

    good, bad = _summary("RTU n=4", 0.2, zero=1.0), _summary("RTU n=2711", 1.06, zero=1.0)
    rows = comparison.table([(comparison.Entry(PredictionConfig(label="a", **SMALL)), good),
                             (comparison.Entry(PredictionConfig(label="b", **SMALL)), bad)])
    assert [r["warning"] for r in rows] == ["", "worse than the zero predictor"]
    _print_prediction_table([("RTU n=4", good), ("RTU n=2711", bad)])
    text = capsys.readouterr().out
    assert "warning:" in text and "1 run(s) end worse than the zero predictor" in text and "RTU n=2711" in text
    assert prediction.worse_than_zero(bad) and not prediction.worse_than_zero(good)


def test_compute_match_names_keep_the_budget():
    from rtrl.experiments import presets

    entries = presets.make("compute-match", steps=1_000, seeds=1)
    budgets = sorted({e.x for e in entries})
    assert [presets.budget_name(b) for b in budgets] == ["20k", "50.4k", "127k", "320k"]
    slugs = [comparison.slug(e.config.name) for e in entries]
    assert len(set(slugs)) == len(slugs) and not any("e-0" in s or "e+0" in s for s in slugs)
    assert any(s.endswith("-127k") for s in slugs)
    assert presets.budget_name(1.234e6) == "1.23M" and presets.budget_name(999) == "999"


def test_a_diverging_stream_stops_at_the_chunk_where_it_diverged():
    # SGD with a huge step blows up within the first chunk; the run must stop there (a 100M-step run
    # that diverges early must not compute to the end) and name the seed and the step
    seen = []
    config = PredictionConfig(hidden_size=4, optimizer="sgd", step_size=1e6, steps=5_000, seeds=1, chunk=1_000,
                              curve_points=5, final_window=1_000)
    with pytest.raises(FloatingPointError, match=r"diverged \(non-finite at seed 0, step \d+\)"):
        prediction.run(config, progress=seen.append)
    assert seen == []
