"""``rtrl sweep`` as a user meets it: bad input refused before any run (exit 2, one error line, nothing
written), an unreachable --address within the timeout, --dry-run, failed runs in the exit status (1),
Ctrl-C (130). The runs themselves are tested on a real Ray cluster in tests/experiments/test_sweep.py;
here the cluster is replaced where a test only needs the command's wiring."""

from __future__ import annotations

import importlib.util
import re
import socket
import time

import pytest

from rtrl.cli import main
from rtrl.experiments import sweep

SPEC = """command: predict
out: {out}
base: {{steps: 400, chunk: 200, curve_points: 4, final_window: 200, hidden_size: 4}}
grid: {{cell: [rtu-linear, lru]}}
seeds: 2
"""


def _must_not_connect(*args, **kwargs):
    raise AssertionError("the sweep reached Ray before its input was validated")


def _spec(tmp_path, text: str = SPEC) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(text.format(out=tmp_path / "sweep"))
    return str(path)


def _text(capsys) -> str:
    captured = capsys.readouterr()
    return " ".join((captured.out + captured.err).split())  # the console wraps long lines


BAD = {
    "unknown key": (SPEC + "retry: 2\n", (r"unknown key\(s\) 'retry' \(did you mean 'retries'\?\); valid keys: "
                                          "command, out, base, grid, runs, seeds, resources, retries")),
    "empty grid": (SPEC.replace("grid: {{cell: [rtu-linear, lru]}}", "grid: {{}}"), "grid is empty"),
    "empty grid field": (SPEC.replace("[rtu-linear, lru]", "[]"), "grid.cell is an empty list"),
    "a config refused": (SPEC.replace("hidden_size: 4", "hidden_size: -4"),
                         r"configuration \(cell=rtu-linear\).*hidden_size must be a positive integer"),
    "unknown cell": (SPEC.replace("lru]", "lstn]"), r"configuration \(cell=lstn\).*unknown cell"),
    "resources key": (SPEC + "resources: {{gpus: 1}}\n", r"resources: unknown key\(s\) 'gpus'"),
}


BAD["missing extra"] = ("command: train\nout: {out}\nbase: {{env: atari/Pong}}\n", r"pip install.*atari")


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_error_line_before_any_run(tmp_path, capsys, monkeypatch, case):
    if case == "missing extra" and importlib.util.find_spec("ale_py") is not None:
        pytest.skip("ale-py is installed")
    monkeypatch.setattr(sweep, "connect", _must_not_connect)
    text, message = BAD[case]
    assert main(["sweep", _spec(tmp_path, text)]) == 2
    shown = _text(capsys)
    assert "error:" in shown and "Traceback" not in shown and re.search(message, shown), shown
    assert not (tmp_path / "sweep").exists()


def test_a_missing_extra_is_refused_before_any_run(tmp_path, capsys, monkeypatch):
    import rtrl.envs

    def check(name, options=None):  # as on a machine without the atari extra
        raise ValueError(f"{name} needs the atari extra: pip install 'rtrl[atari]'")

    monkeypatch.setattr(rtrl.envs, "check", check)
    monkeypatch.setattr(sweep, "connect", _must_not_connect)
    spec = _spec(tmp_path, "command: train\nout: {out}\nbase: {{env: atari/Pong}}\n")
    assert main(["sweep", spec, "--dry-run"]) == 2
    assert "error: atari/Pong needs the atari extra: pip install 'rtrl[atari]'" in _text(capsys)


def test_an_unreachable_address_is_refused_within_the_timeout(tmp_path, capsys):
    with socket.socket() as s:  # a loopback port that was free a moment ago: nothing answers there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    assert main(["sweep", _spec(tmp_path), "--address", f"127.0.0.1:{port}", "--connect-timeout", "5"]) == 2
    assert time.monotonic() - started < 5
    shown = _text(capsys)
    assert f"error: cannot reach a Ray cluster at '127.0.0.1:{port}' within 5 s" in shown
    assert not (tmp_path / "sweep").exists()


def test_num_cpus_with_an_address_is_refused(tmp_path, capsys):
    assert main(["sweep", _spec(tmp_path), "--address", "127.0.0.1:1", "--num-cpus", "2"]) == 2
    assert "--num-cpus sizes a Ray cluster started on this machine" in _text(capsys)


def test_dry_run_lists_the_plan_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sweep, "connect", _must_not_connect)
    assert main(["sweep", _spec(tmp_path), "--dry-run"]) == 0
    shown = _text(capsys)
    assert "2 configuration(s) x 2 seed(s) = 4 run(s)" in shown and "4 new" in shown and "1,600 env steps" in shown
    assert not (tmp_path / "sweep").exists()


class _FakeCluster:
    """Stands in for Ray: `connect` returns a 2-CPU local cluster and `run_sweep` returns ``result``."""

    def __init__(self, monkeypatch, result=None, interrupt=False):
        self.disconnected = False
        monkeypatch.setattr(sweep, "connect", lambda *a, **k: sweep.Cluster(None, True, ({"CPU": 2.0},)))
        monkeypatch.setattr(sweep, "disconnect", lambda cluster: setattr(self, "disconnected", True))

        def run_sweep(plan, statuses, **kwargs):
            if interrupt:
                raise KeyboardInterrupt
            return result(plan)

        monkeypatch.setattr(sweep, "run_sweep", run_sweep)


def test_failed_runs_make_the_exit_status_1_and_are_listed(tmp_path, capsys, monkeypatch):
    def failing(plan):
        ids = [r.id for r in plan.runs]
        return sweep.SweepResult(plan.out, tuple(ids[1:]), (), (sweep.RunFailure(ids[0], 2, "RuntimeError: boom"),),
                                 {i: 1 for i in ids})

    fake = _FakeCluster(monkeypatch, failing)
    assert main(["sweep", _spec(tmp_path)]) == 1
    shown = _text(capsys)
    assert "3 run(s) finished now, 0 were finished before, 1 failed" in shown and "RuntimeError: boom" in shown
    assert "1 run(s) failed every attempt" in shown and fake.disconnected


def test_resources_the_cluster_cannot_give_are_refused_before_any_run(tmp_path, capsys, monkeypatch):
    fake = _FakeCluster(monkeypatch, lambda plan: pytest.fail("a run started"))
    assert main(["sweep", _spec(tmp_path, SPEC + "resources: {{num_cpus: 4}}\n")]) == 2
    assert "resources.num_cpus: each run asks for 4 CPUs, but this machine's Ray cluster has at most 2" in _text(capsys)
    assert fake.disconnected and not (tmp_path / "sweep").exists()


def test_ctrl_c_says_how_to_continue(tmp_path, capsys, monkeypatch):
    fake = _FakeCluster(monkeypatch, interrupt=True)
    spec = _spec(tmp_path)
    assert main(["sweep", spec]) == 130
    assert f"continue with rtrl sweep {spec}" in _text(capsys) and fake.disconnected


def test_report_only_rewrites_the_report_from_what_is_there(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sweep, "connect", _must_not_connect)
    spec = _spec(tmp_path)
    assert main(["sweep", spec, "--report-only"]) == 2
    assert "the sweep has not run yet" in _text(capsys)
    (tmp_path / "sweep").mkdir()
    assert main(["sweep", spec, "--report-only"]) == 0
    table = (tmp_path / "sweep" / "report" / "results.md").read_text()
    assert "| rtu-linear n=4 (RTRL) | 0 of 2 |" in table and "0 of 4 run(s) finished" in table
