"""XLA's CPU thread pool: one thread for a single stream (`rtrl.experiments.cpu_threads`, `rtrl train --threads`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import pytest

from rtrl.cli import main
from rtrl.experiments import cpu_threads

# A fresh process (the pool is sized when the backend starts): how many pool threads it ends with, and
# the affinity of every thread afterwards.
PROBE = """
import json, os, sys
from rtrl.experiments.cpu_threads import limit_xla_cpu_threads
limited = limit_xla_cpu_threads(int(sys.argv[1])) if sys.argv[1] != "none" else None
import jax
jax.devices()
tasks = os.listdir("/proc/self/task")
names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in tasks]
print(json.dumps({"limited": limited, "pool": names.count("tf_XLAEigen"),
                  "masks": sorted({tuple(sorted(os.sched_getaffinity(int(t)))) for t in tasks})}))
"""

needs_two_cpus = pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                                    reason="needs Linux affinity masks and at least 2 CPUs")


def _probe(threads: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, threads], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_auto_is_one_thread_for_a_single_stream_only():
    assert cpu_threads.resolve("auto", streaming=True, seeds=1) == 1
    assert cpu_threads.resolve("auto", streaming=True, seeds=16) is None
    assert cpu_threads.resolve("auto", streaming=False, seeds=1) is None
    assert cpu_threads.resolve(3, streaming=False, seeds=1) == 3


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "two"])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ValueError, match="threads must be 'auto' or a whole number >= 1"):
        cpu_threads.resolve(bad, streaming=True, seeds=1)
    with pytest.raises(ValueError, match="threads must be"):  # before anything is changed
        cpu_threads.limit_xla_cpu_threads(bad)
    with pytest.raises(ValueError, match="'auto' is resolved by resolve"):
        cpu_threads.limit_xla_cpu_threads("auto")


def test_cli_refuses_a_bad_thread_count_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--env", "jax/MemoryChain", "--agent", "stream-ac", "--threads", "0",
              "--out", str(tmp_path / "run")])
    assert exit_.value.code == 2
    assert "--threads: expected 'auto' or a whole number >= 1, got '0'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@needs_two_cpus
def test_limit_sizes_the_pool_and_gives_every_thread_its_cpus_back():
    everything = tuple(sorted(os.sched_getaffinity(0)))
    default, limited = _probe("none"), _probe("1")
    assert default["pool"] == len(everything)  # what the limit changes, seen without it
    assert limited["limited"] is True and limited["pool"] == 1
    assert limited["masks"] == [list(everything)]  # no thread is left pinned


def test_limit_changes_nothing_once_the_backend_has_started():
    jax.devices()
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    assert cpu_threads.limit_xla_cpu_threads(1) is False
    if before is not None:
        assert os.sched_getaffinity(0) == before


def test_auto_leaves_the_pool_alone_where_an_accelerator_may_start(monkeypatch):
    # a one-CPU mask while the backends start would also size a GPU client's host threads
    monkeypatch.setattr(cpu_threads, "_configured_platforms", lambda: "cuda,cpu")
    assert cpu_threads.accelerator_possible()
    assert cpu_threads.resolve("auto", streaming=True, seeds=1) is None
    monkeypatch.setattr(cpu_threads, "_configured_platforms", lambda: "cpu")
    assert not cpu_threads.accelerator_possible()
    assert cpu_threads.resolve("auto", streaming=True, seeds=1) == 1
