"""GPU readiness without a GPU: benchmarks/gpu.py runs end to end on the CPU at tiny sizes and writes its CSV;
the CPU-only choices of rtrl apply to the CPU backend only; the agents' and learners' compiled programs lower for
CUDA and ROCm (jax.export cross-lowers without the hardware) with no host callback in them; the memory checks use
an accelerator's own memory where JAX reports it. And benchmarks/soak.py: a tiny soak of each command (a sample a
second), its verdict on synthetic memory curves, and how it reads the commands' progress."""

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


# ppo takes the longest to compile and its `rtrl train` path is the stream workload's: kept for -m slow
@pytest.mark.parametrize("workload", ["td", pytest.param("ppo", marks=pytest.mark.slow), "stream"])
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


# --- benchmarks/soak.py -------------------------------------------------------------------------------------------


def _load_soak_script():
    spec = importlib.util.spec_from_file_location("benchmarks_soak", os.path.join(REPO, "benchmarks", "soak.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


soak = _load_soak_script()

_TINY_SOAK = {"ppo": ["--ppo-steps", "3000", "--ppo-flags", "--hidden-size 8 --num-steps 64 --num-minibatches 2 "
                      "--update-epochs 1"],
              "td": ["--td-steps", "5000", "--td-flags", "--hidden-size 8 --chunk 500"]}


@pytest.mark.parametrize("job", ["ppo", "td"])
def test_soak_runs_the_users_command_and_writes_samples_plot_and_verdict(job, tmp_path):
    out = tmp_path / "soak"
    status = soak.main(["--jobs", job, *_TINY_SOAK[job], "--every", "1", "--out", str(out)])
    with open(out / "verdict.json") as f:
        (verdict,) = json.load(f)["jobs"]
    samples = _rows(out / "soak.csv")
    assert (out / "soak.png").stat().st_size > 0 and (out / job / "summary.json").exists()
    assert verdict["job"] == job and verdict["rc"] == 0 and verdict["no_nan"] is True
    assert verdict["steps"] >= verdict["target_steps"] and verdict["steps_per_second"] > 0
    assert verdict["command"].startswith("rtrl train" if job == "ppo" else "rtrl predict")
    # a sample a second: the child's resident memory (a Python process with JAX: tens to thousands of MB)
    assert len(samples) >= 3 and all(s["job"] == job for s in samples)
    assert all(1 < float(s["rss_mb"]) < 50_000 for s in samples[1:])
    assert samples[0]["phase"] == "starting"
    times = [float(s["time_s"]) for s in samples]
    assert times == sorted(times) and times[-1] - times[0] >= 1
    # a few thousand steps learn in well under a second: too short to judge the memory, so it does not pass
    assert status == (0 if verdict["passed"] else 1)
    if verdict["memory"]["flat"] is None:
        assert verdict["passed"] is False and "too short" in verdict["memory"]["why"]


def _series(minutes: int, rss, *, kept_per_step_mb: float = 0.0, steps_per_minute: int = 1000,
            target: int | None = None) -> list[dict]:
    """Samples one a minute: a starting minute, then learning; rss(t_minutes, steps) in MB."""
    target = target or steps_per_minute * minutes
    out = [{"job": "td", "time_s": 0.0, "steps": None, "rss_mb": 50.0, "kept_mb": 0.0, "finite": "",
            "phase": "starting"}]
    for m in range(1, minutes + 1):
        steps = steps_per_minute * m
        out.append({"job": "td", "time_s": 60.0 * m, "steps": steps, "rss_mb": rss(m, steps),
                    "kept_mb": kept_per_step_mb * steps, "finite": "", "phase": soak.phase(steps, target)})
    return out


def test_soak_memory_verdict_flat_leaking_and_kept_by_design():
    thresholds = soak.Thresholds()
    noise = lambda m: 3.0 * ((-1) ** m)  # noqa: E731 - allocator jitter of a few MB
    flat = _series(60, lambda m, s: 800 + noise(m))
    assert soak.memory_verdict(flat, thresholds)["flat"] is True
    # 150 MB per hour: over the judged 47 minutes ≈ 118 MB, above 32 + 50 x 0.78 ≈ 71 MB
    leak = _series(60, lambda m, s: 800 + 2.5 * m + noise(m))
    verdict = soak.memory_verdict(leak, thresholds)
    assert verdict["flat"] is False and verdict["slope_mb_per_hour"] == pytest.approx(150, rel=0.05)
    # rtrl predict's stored streams grow by design (12 B a step): taken out, the rest is flat
    kept = 12 / 2**20
    stored = _series(60, lambda m, s: 800 + kept * s + noise(m), kept_per_step_mb=kept, steps_per_minute=10_000_000)
    assert soak.memory_verdict(stored, thresholds)["flat"] is True
    unexplained = [{**s, "kept_mb": 0.0} for s in stored]
    assert soak.memory_verdict(unexplained, thresholds)["flat"] is False
    # warm-up (the first 20% of learning) and the finishing spike (scoring at the end) are not judged
    settling = _series(60, lambda m, s: 400 + min(m, 10) * 40 + noise(m), target=59_000)
    settling[-1]["rss_mb"] += 3000
    verdict = soak.memory_verdict(settling, thresholds)
    assert verdict["flat"] is True and verdict["warmup_end_s"] == pytest.approx(60 + 0.2 * 57 * 60)
    assert verdict["rss_peak_mb"] > 3000
    short = _series(2, lambda m, s: 800)
    assert soak.memory_verdict(short, thresholds)["flat"] is None


def test_soak_nan_verdict():
    job = soak.Job("ppo", 1000)
    good = {"rc": 0, "summary": {"final_return": {"mean": 0.5}}, "command": "rtrl train"}
    rows = [{"finite": True}, {"finite": ""}]
    assert soak.nan_verdict(job, rows, good)["no_nan"] is True
    diverged = {"rc": 1, "error": "error: seed 0 diverged at iteration 3: value loss is nan", "command": "rtrl train"}
    verdict = soak.nan_verdict(job, rows, diverged)
    assert verdict["no_nan"] is False and "diverged" in verdict["why"]
    assert soak.nan_verdict(job, [*rows, {"finite": False}], good)["no_nan"] is False
    assert soak.nan_verdict(job, rows, {**good, "summary": {"final_return": {"mean": float("nan")}}})["no_nan"] is False
    td = soak.Job("td", 1000)
    assert soak.nan_verdict(td, [], {"rc": 0, "summary": {"msre": {"learner": {"mean": 0.02}}}})["no_nan"] is True
    assert soak.nan_verdict(td, [], {"rc": 2, "error": "error: the prediction diverged"})["no_nan"] is False


def test_soak_reads_progress_as_the_commands_write_it(tmp_path):
    from rich.console import Console

    from rtrl.cli.common import StepProgress

    log = tmp_path / "td.log"
    with open(log, "w") as f:
        console = Console(file=f, width=200)
        clock = iter(range(100)).__next__
        with StepProgress(50_000, label="predict rtu-linear n=8 (RTRL)", plain=True, out=console,
                          clock=clock) as progress:
            for done in (10_000, 20_000, 37_500):
                progress.update(done)
    assert soak.predict_progress(str(log)) == 37_500
    run = tmp_path / "run"
    run.mkdir()
    header = "iteration,env_steps,episode_return,value_loss,steps_per_second,wall_seconds\n"
    (run / "seed_0.csv").write_text(header)
    assert soak.train_progress(str(run)) == (None, None)
    (run / "seed_0.csv").write_text(header + "1,2048,-1.0,0.5,10.0,3.0\n2,4096,-0.9,0.4,7000.0,3.3\n2,40")
    assert soak.train_progress(str(run)) == (4096, True)  # a row being written is skipped
    (run / "seed_0.csv").write_text(header + "1,2048,-1.0,nan,10.0,3.0\n")
    assert soak.train_progress(str(run)) == (2048, False)


def test_soak_samples_resident_memory_with_or_without_psutil(monkeypatch):
    with_psutil = soak.resident_mb(os.getpid())
    monkeypatch.setitem(sys.modules, "psutil", None)  # `import psutil` now raises ImportError
    from_proc = soak.resident_mb(os.getpid())
    assert with_psutil is not None and from_proc is not None
    assert 10 < from_proc < 50_000 and abs(from_proc - with_psutil) < 0.2 * with_psutil
    assert soak.resident_mb(2**22 + 12345) is None  # no such process
