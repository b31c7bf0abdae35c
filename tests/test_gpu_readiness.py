"""GPU readiness without a GPU: benchmarks/gpu.py runs end to end on the CPU at tiny sizes and writes its CSV;
the CPU-only choices of rtrl apply to the CPU backend only; the agents' and learners' compiled programs lower for
CUDA and ROCm (jax.export cross-lowers without the hardware) with no host callback in them; the memory checks use
an accelerator's own memory where JAX reports it."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import re
import subprocess
import sys

import jax
import pytest

import rtrl.envs
from rtrl import agents, tasks
from rtrl.experiments import memory
from rtrl.learners import TDConfig, make_learner

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_gpu_script():
    spec = importlib.util.spec_from_file_location("benchmarks_gpu", os.path.join(REPO, "benchmarks", "gpu.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


gpu = _load_gpu_script()


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --- benchmarks/gpu.py ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workload", ["td", "ppo", "stream"])
def test_gpu_script_runs_each_workload_on_cpu_and_writes_its_csv(workload, tmp_path, capsys):
    out = tmp_path / "gpu.csv"
    assert gpu.main(["--small", "--max", "1", "--budget", "0.5", "--no-isolate", "--workloads", workload,
                     "--csv", str(out)]) == 0
    rows = _rows(out)
    assert [(r["workload"], int(r["n"])) for r in rows] == [(workload, 1)]
    assert list(rows[0]) == list(gpu.COLUMNS)
    for r in rows:
        assert r["status"] == "ok", r
        assert int(r["seeds"]) == int(r["n"]) and r["vary"] == "seeds"
        assert float(r["env_steps_per_s"]) > 0 and float(r["rss_peak_mb"]) > 0
        assert r["device"] == jax.devices()[0].platform == "cpu" and r["device_kind"]
        assert r["device_peak_mb"] == ""  # the CPU reports no device memory: the resident memory stands in
        assert r["isolated"] == "False"
        assert r["command"].startswith("rtrl train" if r["workload"] != "td" else "rtrl predict")
        assert f"--seeds {r['n']}" in r["command"]
    # the first point of each workload is the shortest run that gives a rate (3 iterations of train, 2 chunks of
    # predict, in the small units), and the rows say how many steps each seed ran
    assert int(rows[0]["steps_per_seed"]) == {"td": 2 * 500, "ppo": 3 * 64, "stream": 3 * 100}[workload]
    assert ("goal >= 1,000,000" in capsys.readouterr().out) == (workload == "td")


def test_gpu_script_sizes_later_points_from_the_previous_rate(tmp_path):
    out = tmp_path / "gpu.csv"
    assert gpu.main(["--small", "--max", "2", "--budget", "0.5", "--no-isolate", "--workloads", "td",
                     "--csv", str(out)]) == 0
    one, two = _rows(out)
    assert (one["n"], two["n"], two["status"]) == ("1", "2", "ok")
    # the first point's aggregate rate for 0.5 s, over 2 seeds, in whole chunks of 500, at least 2 chunks
    expected = max(1000, math.ceil(float(one["env_steps_per_s"]) * 0.5 / 2 / 500) * 500)
    assert int(two["steps_per_seed"]) == expected and f"--steps {expected} " in two["command"]


def test_gpu_script_measures_each_point_in_its_own_process(tmp_path):
    out = tmp_path / "gpu.csv"
    done = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", "gpu.py"), "--small", "--max", "1",
                           "--workloads", "td", "--budget", "0.5", "--csv", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (row,) = _rows(out)
    assert row["status"] == "ok" and row["isolated"] == "True" and row["device"] == "cpu"
    assert float(row["env_steps_per_s"]) > 0
    assert 100 < float(row["rss_peak_mb"]) < 50_000  # the worker's own peak, in MB (not kB or bytes)


def test_gpu_script_records_a_refused_point_and_stops_the_workload(tmp_path):
    out = tmp_path / "gpu.csv"
    # dense RTRL of a GRU with 2000 units needs terabytes: `rtrl predict` refuses it before any work
    assert gpu.main(["--small", "--max", "4", "--no-isolate", "--workloads", "td",
                     "--td-flags", "--cell gru --hidden-size 2000", "--csv", str(out)]) == 0
    (row,) = _rows(out)
    assert row["status"] == "refused" and "needs about" in row["error"] and row["env_steps_per_s"] == ""


def test_gpu_script_sizes_and_budget():
    assert gpu.sizes(1) == [1]
    assert gpu.sizes(8) == [1, 2, 4, 8]
    assert gpu.sizes(4096)[-3:] == [1024, 2048, 4096] and len(gpu.sizes(4096)) == 13
    assert gpu.sizes(6) == [1, 2, 4, 6]
    ppo, td = gpu.WORKLOADS["ppo"], gpu.WORKLOADS["td"]
    assert gpu.next_steps(ppo, 2048, 1, None, 10.0) == 3 * 2048  # no rate yet: the fewest iterations with a rate
    assert gpu.next_steps(td, 10_000, 1, None, 10.0) == 2 * 10_000
    # 100k steps/s for 10 s over 4 seeds: 250k steps per seed, in whole iterations
    assert gpu.next_steps(ppo, 2048, 4, 100_000.0, 10.0) == 123 * 2048
    assert gpu.next_steps(ppo, 2048, 4096, 1_000.0, 1.0) == 3 * 2048  # never below the fewest
    assert gpu.flag_value(["--num-steps", "64", "--num-steps=128"], "--num-steps") == "128"
    assert gpu.flag_value(["--hidden-size", "8"], "--num-steps") is None
    # PPO with --vary envs: one seed, N environments, the rollout grows with them
    point = gpu.Point("ppo", 8, "envs", 3 * 64 * 8, True)
    argv = point.argv("OUT")
    assert point.seeds == 1 and argv[argv.index("--num-envs") + 1] == "8" and argv[argv.index("--seeds") + 1] == "1"


def test_gpu_script_reads_an_accelerators_peak_memory(monkeypatch):
    monkeypatch.setattr(jax, "devices", lambda *a: [_FakeAccelerator()])
    monkeypatch.setattr(jax, "device_count", lambda *a: 1)
    facts = gpu.device_facts()
    assert facts["device"] == "gpu" and facts["device_kind"] == "Fake H200"
    assert facts["device_peak_mb"] == 3072.0


# --- the CPU-only choices apply on the CPU only --------------------------------------------------------------


# A fresh process: the lowering of one random draw for each platform with JAX's own rules, then after
# `import rtrl` (which registers rtrl.xla_cpu's unrolled Threefry for the CPU). The function is made anew
# on the same source lines for every lowering, so that only the rules can differ.
_LOWERINGS = """
import json, jax
def text(platform):
    f = lambda key: jax.random.uniform(jax.random.split(key)[0], (3,))
    return jax.export.export(jax.jit(f), platforms=(platform,))(jax.random.PRNGKey(0)).mlir_module()
texts = {}
for stage in ("jax", "rtrl"):
    if stage == "rtrl":
        import rtrl
    texts[stage] = {p: text(p) for p in ("cpu", "cuda", "rocm")}
print(json.dumps({p: [texts["jax"][p] == texts["rtrl"][p], texts["jax"][p].count("stablehlo.while"),
                      texts["rtrl"][p].count("stablehlo.while")] for p in texts["jax"]}))
"""


def test_unrolled_threefry_changes_the_cpu_lowering_only():
    done = subprocess.run([sys.executable, "-c", _LOWERINGS], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "XLA_FLAGS": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    same = json.loads(done.stdout.strip().splitlines()[-1])
    # CPU: JAX's rolled loop (a while) becomes straight-line code; CUDA and ROCm keep JAX's own lowering
    assert same["cpu"][0] is False and same["cpu"][1] > 0 and same["cpu"][2] == 0
    assert same["cuda"][0] is True and same["rocm"][0] is True


_CALLBACKS = re.compile(r'call_target_name = "([^"]*callback[^"]*)"')


def _lowers_for_accelerators(fn, *args) -> None:
    """``fn`` (jitted) lowers for CUDA and ROCm, with no host callback (jax.export refuses custom calls
    that are not stable; a callback would tie a GPU run to the host every step)."""
    for platform in ("cuda", "rocm"):
        exported = jax.export.export(fn, platforms=(platform,))(*args)
        assert exported.platforms == (platform,)
        assert not _CALLBACKS.findall(exported.mlir_module())


def test_real_time_ppo_iteration_lowers_for_accelerators():
    config = agents.PPOConfig(hidden_size=8, num_steps=16, num_minibatches=2, update_epochs=1)
    agent = agents.make(config, rtrl.envs.make("jax/CountRecallEasy"))
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    states = jax.eval_shape(jax.vmap(agent.init), keys)  # shapes are enough to lower
    buffers = jax.eval_shape(jax.vmap(agent.empty_rollout), states)
    # the seeds' call of `rtrl train` (rtrl.experiments.train_seeds): vmapped, the rollout buffer donated
    _lowers_for_accelerators(jax.jit(jax.vmap(agent._iteration_reusing), donate_argnums=(1,)), states, buffers)


def test_streaming_agent_iteration_lowers_for_accelerators():
    from rtrl.experiments import train_seeds
    from rtrl.experiments.train_config import TrainConfig

    config = TrainConfig(env="jax/RepeatPreviousEasy", total_steps=100, seeds=2,
                         stream=agents.StreamConfig(hidden_size=8, head=(), num_steps=10))
    seeds = train_seeds.make(config)
    _lowers_for_accelerators(seeds.iteration, jax.eval_shape(seeds.init))  # the very function `rtrl train` calls


def test_td_learner_chunk_lowers_for_accelerators():
    task = tasks.make("trace-conditioning")
    learner = make_learner(TDConfig(cell="rtu-linear", hidden_size=8, learner="rtrl", gamma=task.gamma),
                           task.observation_size)
    oracle = tasks.Oracle(task)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    task_state = jax.eval_shape(jax.vmap(task.reset), keys)
    learner_state = jax.eval_shape(jax.vmap(learner.init), keys)
    oracle_state = jax.eval_shape(jax.vmap(oracle.init), task_state)

    def chunk(task_state, learner_state, oracle_state):  # one chunk of `rtrl predict` (rtrl.experiments.prediction)
        task_state, obs = jax.vmap(lambda s: task.generate(s, 20))(task_state)
        learner_state, v = jax.vmap(learner.run)(learner_state, obs)
        oracle_state, v_oracle = jax.vmap(lambda c, o: tasks.predict(oracle, c, o))(oracle_state, obs)
        return task_state, learner_state, oracle_state, v, v_oracle

    _lowers_for_accelerators(jax.jit(chunk), task_state, learner_state, oracle_state)


class _FakeAccelerator:
    platform = "gpu"
    device_kind = "Fake H200"

    def memory_stats(self):
        return {"bytes_limit": 10 * 2**30, "bytes_in_use": 4 * 2**30, "peak_bytes_in_use": 3 * 2**30}


class _FakeCPU:
    platform = "cpu"
    device_kind = "cpu"

    def memory_stats(self):
        raise AssertionError("the CPU's arrays are in host memory: its memory_stats must not be asked")


def test_memory_check_uses_an_accelerators_own_memory(monkeypatch):
    monkeypatch.setattr(jax, "devices", lambda *a: [_FakeAccelerator()])
    assert memory.device_available_bytes() == 6 * 2**30
    assert memory.available_bytes(device=True) == 6 * 2**30
    memory.check_fits(4 * 2**30, what="a job", reduce="seeds", device=True)  # 4 GiB <= 80% of 6 GiB
    with pytest.raises(ValueError, match="the device has 6.4 GB available"):
        memory.check_fits(5 * 2**30, what="a job", reduce="seeds", device=True)
    monkeypatch.setattr(jax, "devices", lambda *a: [_FakeCPU()])
    assert memory.device_available_bytes() is None  # on the CPU: the host's memory is what counts
    assert memory.available_bytes(device=True) == memory.host_available_bytes()
