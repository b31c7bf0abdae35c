"""Sweeps on a real local Ray cluster (2 CPUs): tiny runs, a resume that never touches finished runs,
a worker killed mid-run that resumes from its checkpoint on retry, a run that always fails and is
reported, and the cluster's resources checked before any run."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from rtrl.experiments import run_dir, sweep, sweep_report
from rtrl.experiments.sweep_spec import Resources, make_plan, spec_from_dict

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def cluster():
    cluster = sweep.connect(num_cpus=2)
    yield cluster
    sweep.disconnect(cluster)


def _mtimes(root: str) -> dict[str, int]:
    return {os.path.join(d, f): os.stat(os.path.join(d, f)).st_mtime_ns for d, _, files in os.walk(root) for f in files}


def test_the_cluster_check_uses_the_real_cluster(cluster):
    assert cluster.started_here and cluster.total("CPU") == 2
    sweep.check_resources(Resources(num_cpus=2), cluster)
    with pytest.raises(ValueError, match="asks for 3 CPUs"):
        sweep.check_resources(Resources(num_cpus=3), cluster)
    with pytest.raises(ValueError, match="has no GPU"):
        sweep.check_resources(Resources(num_gpus=0.25), cluster)
    with pytest.raises(ValueError, match="already initialised"):
        sweep.connect()


def test_a_prediction_sweep_runs_reports_and_resumes_without_touching_finished_runs(cluster, tmp_path):
    spec = {"command": "predict", "out": str(tmp_path / "sweep"), "grid": {"cell": ["rtu-linear", "lru"]},
            "base": {"steps": 400, "chunk": 200, "curve_points": 4, "final_window": 200, "hidden_size": 4},
            "seeds": 2, "retries": 0}
    plan = make_plan(spec_from_dict(spec))
    seen = []
    result = sweep.run_sweep(plan, progress=seen.append, poll_seconds=0.2)
    assert result.ok and sorted(result.finished) == sorted(r.id for r in plan.runs) and not result.skipped
    assert seen[-1].finished == 4 and seen[-1].steps == seen[-1].total_steps == 1600
    for run in plan.runs:  # each run is an ordinary prediction run of its own seed
        summary = run_dir.read_summary(run.out)
        assert summary["seeds"] == 1 and os.path.exists(os.path.join(run.out, f"seed_{run.seed}.csv"))
    report = os.path.join(plan.out, sweep_report.REPORT)
    table = pathlib.Path(report, sweep_report.TABLE).read_text()
    for c in plan.configurations:
        assert f"| {c.name} | 2 of 2 |" in table
    assert os.path.exists(os.path.join(report, "trace-conditioning.png"))
    lru = next(r for r in plan.runs if r.config.cell == "lru" and r.seed == 1)
    # the table's interval is the t interval over the seeds' own final MSREs
    values = [run_dir.read_summary(r.out)["msre_final"]["learner"]["mean"] for r in plan.runs if r.config.cell == "lru"]
    from rtrl.experiments import statistics

    assert statistics.interval(values).format(".4f", compact=True) in table

    # interrupted: one run lost its summary (a prediction run has no checkpoint: it starts again)
    before = _mtimes(plan.out)
    os.remove(os.path.join(lru.out, run_dir.SUMMARY))
    assert sweep.check_directory(plan)[lru.id] == sweep.RESTART
    again = sweep.run_sweep(plan, poll_seconds=0.2)
    assert again.finished == (lru.id,) and sorted(again.skipped) == sorted(r.id for r in plan.runs if r is not lru)
    after = _mtimes(plan.out)
    untouched = {p: t for p, t in before.items() if not p.startswith(lru.out + os.sep)
                 and os.sep + sweep_report.REPORT + os.sep not in p and not p.endswith(sweep.SPEC_COPY)}
    assert untouched and all(after[p] == t for p, t in untouched.items())  # finished runs: not a byte rewritten
    assert os.path.exists(os.path.join(lru.out, run_dir.SUMMARY))


def test_a_killed_worker_resumes_from_its_checkpoint_and_a_failing_run_is_reported(cluster, tmp_path):
    spec = {"command": "train", "out": str(tmp_path / "sweep"),
            "base": {"env": "jax/RepeatPreviousEasy", "total_steps": 128, "checkpoint_every": 1,
                     "ppo": {"num_steps": 64, "num_minibatches": 2, "update_epochs": 1, "hidden_size": 4,
                             "encoder": [8], "head": [8]}},
            "seeds": [0, 1], "retries": 1}
    plan = make_plan(spec_from_dict(spec))
    marks = tmp_path / "marks"
    marks.mkdir()

    def work(run, resources, board):  # pickled by value into Ray's workers
        import signal

        from rtrl.experiments import training

        if run.seed == 1:
            raise RuntimeError("planted failure")
        if not (marks / "killed").exists():  # first attempt: one iteration and its checkpoint, then the worker dies
            training.train(run.config, run.out, stop_after=1)
            (marks / "first_row.csv").write_text(pathlib.Path(run.out, "seed_0.csv").read_text())
            (marks / "killed").write_text("")
            os.kill(os.getpid(), signal.SIGKILL)
        (marks / "status").write_text(sweep.run_status(run))
        return sweep.execute_run(run, resources, board)

    notes = []
    result = sweep.run_sweep(plan, work=work, notify=notes.append, poll_seconds=0.2)
    resumed, failing = plan.runs
    assert result.finished == (resumed.id,) and result.attempts[resumed.id] == 2
    assert (marks / "status").read_text() == sweep.RESUME  # the retry found the checkpoint and resumed
    rows = pathlib.Path(resumed.out, "seed_0.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[:2] == (marks / "first_row.csv").read_text().splitlines()  # iteration 1 kept
    assert run_dir.read_summary(resumed.out)["iterations"] == 2
    assert any("died" in n and "trying again" in n for n in notes)
    (failure,) = result.failed
    assert (failure.run, failure.attempts, failure.error) == (failing.id, 2, "RuntimeError: planted failure")
    assert not result.ok
    table = pathlib.Path(plan.out, sweep_report.REPORT, sweep_report.TABLE).read_text()
    assert f"| {failing.id} | 2 | RuntimeError: planted failure |" in table
    assert "| 1 of 2 |" in table  # the failed seed is missing from the row, and the row says so
    assert json.loads(pathlib.Path(resumed.out, run_dir.SUMMARY).read_text())["seeds"] == 1
