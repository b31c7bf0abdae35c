"""Seeds split over worker processes (`rtrl.experiments.seed_processes`, `rtrl train --processes`): the same
numbers as one process, resume through the workers, a dead worker reported, no worker left behind."""

from __future__ import annotations

import os
import signal
import time

import jax
import numpy as np
import pytest

from rtrl.agents import PPOConfig, StreamConfig
from rtrl.cli import main
from rtrl.experiments import seed_processes, train_seeds, training
from rtrl.experiments.training import TrainConfig
from run_rows import learning_rows

TINY = PPOConfig(hidden_size=4, encoder=(8,), head=(8,), num_steps=32, num_minibatches=2, update_epochs=2)


def _children() -> set[int]:
    """This process's child processes (Linux)."""
    pids = set()
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/children") as f:
            pids.update(int(p) for p in f.read().split())
    return pids


def _pool_threads(pid: int) -> int:
    """XLA CPU pool threads of process ``pid``."""
    names = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return names.count("tf_XLAEigen")


def _wait_until_ended(pid: int, timeout_s: float = 60.0) -> None:
    """Wait until child ``pid`` has ended with all its threads, without reaping it: only then are its pipes
    closed. (Its /proc state shows "Z" as soon as the main thread has exited, while a JAX process's other
    threads, which share its file descriptors, can take tens of milliseconds more.)"""
    deadline = time.monotonic() + timeout_s
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} did not end")
        time.sleep(0.01)


linux = pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads /proc (Linux)")


def test_groups_share_the_seeds_out_and_refuse_what_cannot_be_split(monkeypatch):
    groups = seed_processes.groups
    assert groups(2, 8, splittable=True, what="") == [(0, 4), (4, 4)]
    assert groups(2, 3, splittable=True, what="") == [(0, 2), (2, 1)]
    assert groups(5, 3, splittable=True, what="") == [(0, 1), (1, 1), (2, 1)]  # at most one process per seed
    assert groups(1, 8, splittable=True, what="") == [(0, 8)]
    monkeypatch.setattr(seed_processes, "usable_cpus", lambda: 4)
    monkeypatch.setattr("rtrl.experiments.cpu_threads.accelerator_possible", lambda: False)
    assert groups("auto", 8, splittable=True, what="") == [(0, 2), (2, 2), (4, 2), (6, 2)]
    assert groups("auto", 1, splittable=True, what="") == [(0, 1)]
    assert groups("auto", 8, splittable=False, what="") == [(0, 8)]  # a host env or R2AC: auto stays in-process
    monkeypatch.setattr("rtrl.experiments.cpu_threads.accelerator_possible", lambda: True)
    assert groups("auto", 8, splittable=True, what="") == [(0, 8)]  # one device program on a GPU
    with pytest.raises(ValueError, match="processes must be 1 .or auto. for a host environment"):
        groups(2, 4, splittable=False, what="a host environment")
    for bad in (0, -1, 1.5, "two", True):
        with pytest.raises(ValueError, match="processes must be 'auto' or a whole number >= 1"):
            seed_processes.check(bad)


def _same_runs(a: str, b: str, seeds: int, *, exact: bool = True) -> None:
    """Runs ``a`` and ``b`` logged and checkpointed the same numbers; not ``exact``: up to float32
    rounding (a seed vmapped in a group of another width may differ in the last bits)."""
    for k in range(seeds):
        rows_a, rows_b = (learning_rows(os.path.join(d, f"seed_{k}.csv")) for d in (a, b))
        assert [r.keys() for r in rows_a] == [r.keys() for r in rows_b]
        for ra, rb in zip(rows_a, rows_b):
            if exact:
                assert ra == rb
            else:
                np.testing.assert_allclose([float(v) for v in ra.values()], [float(v) for v in rb.values()],
                                           rtol=1e-4, atol=1e-6)
    with np.load(os.path.join(a, training.CHECKPOINT)) as x, np.load(os.path.join(b, training.CHECKPOINT)) as y:
        assert sorted(x.files) == sorted(y.files)
        for name in x.files:
            if name == "__meta__":
                continue
            if exact or not np.issubdtype(x[name].dtype, np.inexact):
                np.testing.assert_array_equal(x[name], y[name], err_msg=name)
            else:
                np.testing.assert_allclose(x[name], y[name], rtol=1e-4, atol=1e-6, err_msg=name)


@linux
def test_ppo_in_two_processes_gives_one_process_numbers_and_resumes_through_them(tmp_path):
    config = TrainConfig(env="jax/RepeatPreviousEasy", total_steps=32 * 4, seeds=3, checkpoint_every=2, ppo=TINY)
    one, two, parts = (str(tmp_path / n) for n in ("one", "two", "parts"))
    training.train(config, one)
    result = training.train(config, two, processes=2)  # seeds 0-1 vmapped in one worker, seed 2 alone in the other
    assert jax.tree.leaves(result.state)[0].shape[0] == 3
    _same_runs(one, two, 3, exact=False)
    # stopped after 3 iterations (checkpoint at 2) in one process, resumed in workers: the restored state reaches them
    training.train(config, parts, stop_after=3)
    training.train(config, parts, processes=2, resume=True)
    _same_runs(one, parts, 3, exact=False)
    assert not _children()  # every worker has ended


@linux
def test_streaming_agent_in_two_processes_gives_one_process_numbers(tmp_path):
    config = TrainConfig(env="jax/RepeatPreviousEasy", total_steps=40, seeds=2, checkpoint_every=1,
                         stream=StreamConfig(hidden_size=4, head=(8,), num_steps=20))
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    training.train(config, one)
    training.train(config, two, processes=2)
    _same_runs(one, two, 2, exact=False)


@linux
def test_workers_run_on_their_share_of_the_cpus_and_a_dead_worker_is_reported():
    config = TrainConfig(env="jax/RepeatPreviousEasy", total_steps=64, seeds=2, ppo=TINY)
    seeds = train_seeds.make(config, processes=2, threads=1)
    try:
        state = seeds.init()
        workers = sorted(_children())
        assert len(workers) == 2 and all(_pool_threads(pid) == 1 for pid in workers)
        first, metrics = seeds.iteration(state)
        assert np.asarray(metrics["total_loss"]).shape == (2,)
        second, _ = seeds.iteration(first)  # the workers ran it ahead, while this process looked at `first`
        again, _ = seeds.iteration(state)  # another state than the last: the run ahead is dropped, `state` continued
        for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(again)):
            np.testing.assert_array_equal(a, b)
        assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(second)))
        os.kill(workers[1], signal.SIGKILL)
        _wait_until_ended(workers[1])  # a dying process's pipes stay open until it has ended
        with pytest.raises(seed_processes.SeedWorkerError, match=r"worker process of seed 1 ended unexpectedly"):
            seeds.iteration(again)
    finally:
        seeds.close()
    assert not _children()


def test_cli_refuses_processes_it_cannot_use(tmp_path, capsys):
    out = str(tmp_path / "run")
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--processes", "0", "--out", out])
    assert exit_.value.code == 2 and "--processes: expected 'auto' or a whole number >= 1" in capsys.readouterr().err
    code = main(["train", "--env", "popgym/RepeatPreviousEasy", "--seeds", "2", "--processes", "2",
                 "--total-steps", "64", "--out", out])
    assert code == 2 and "processes must be 1 (or auto) for a host environment (popgym/RepeatPreviousEasy)" in \
        capsys.readouterr().out
    assert not os.path.exists(out)
