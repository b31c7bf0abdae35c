"""The memory check: what the machine has, the estimate of a prediction run against XLA's own count,
and a refusal before work that names the estimate and what to reduce."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtrl.experiments import memory, prediction, presets
from rtrl.experiments.prediction import PredictionConfig
from rtrl.learners import make_learner

GB = 10**9


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_meminfo_capped_by_a_cgroup_limit(tmp_path):
    meminfo = _write(tmp_path / "meminfo", "MemTotal: 32000000 kB\nMemAvailable:   20000000 kB\n")
    limit, usage = _write(tmp_path / "max", "8000000000\n"), _write(tmp_path / "current", "3000000000\n")
    assert memory.host_available_bytes(meminfo, cgroups=()) == 20_000_000 * 1024
    assert memory.host_available_bytes(meminfo, cgroups=((limit, usage),)) == 5_000_000_000
    unlimited = _write(tmp_path / "unlimited", "max\n")
    assert memory.host_available_bytes(meminfo, cgroups=((unlimited, usage),)) == 20_000_000 * 1024
    v1_unlimited = _write(tmp_path / "v1", "9223372036854771712\n")
    assert memory.host_available_bytes(meminfo, cgroups=((v1_unlimited, usage),)) == 20_000_000 * 1024


def test_without_meminfo_falls_back_to_sysconf(tmp_path):
    available = memory.host_available_bytes(str(tmp_path / "missing"), cgroups=())
    assert available is None or available > 0


def test_this_machine_reports_something_plausible():
    available = memory.available_bytes()
    assert available is None or 10**7 < available < 10**15


def test_check_fits_names_the_estimate_the_memory_and_what_to_reduce():
    memory.check_fits(0.7 * GB, what="job", reduce="x", available=1 * GB)  # fits within the headroom
    memory.check_fits(100 * GB, what="job", reduce="x", available=None) if memory.available_bytes() is None else None
    with pytest.raises(ValueError) as e:
        memory.check_fits(2 * GB, what="rtrl predict: gru n=1000", reduce="hidden_size",
                          breakdown={"traces": 1.5 * GB, "streams": 0.5 * GB}, available=1 * GB)
    message = str(e.value)
    assert message.startswith("rtrl predict: gru n=1000 needs about 2.0 GB (estimate: traces 1.5 GB, streams 0.5 GB)")
    assert "has 1.0 GB available" in message and message.endswith("reduce hidden_size.")
    with pytest.raises(ValueError, match="needs about"):  # over the headroom, under the total
        memory.check_fits(0.9 * GB, what="job", reduce="x", available=1 * GB)


SMALL_CONFIGS = [
    dict(cell="rtu-linear", hidden_size=16),
    dict(cell="rtu-linear", hidden_size=8, cell_options={"traces": "elementwise"}),
    dict(cell="lru", hidden_size=8, projection=4),
    dict(cell="elstm", hidden_size=8, optimizer="sgd"),
    dict(cell="gru", hidden_size=8),  # dense RTRL
    dict(cell="lstm", hidden_size=6),
    dict(cell="rnn", hidden_size=12),
    dict(cell="gru", hidden_size=8, learner="tbptt", truncation=6),
    dict(cell="rtu-nonlinear", hidden_size=8, learner="tbptt", truncation=3),
]


@pytest.mark.parametrize("options", SMALL_CONFIGS, ids=lambda o: f"{o['cell']}-{o.get('learner', 'rtrl')}")
def test_estimate_bounds_the_real_use(options):
    """The estimate is at least what XLA allocates for a chunk (arguments, outputs and temporaries of
    the compiled program) and at least twice the learner's real state, and not wildly more."""
    config = PredictionConfig(seeds=2, steps=200, chunk=100, curve_points=2, final_window=100, **options)
    task = config.make_task()
    learner = make_learner(config.td_config(task.gamma), task.observation_size)
    keys = jax.random.split(jax.random.PRNGKey(0), config.seeds)
    state = jax.eval_shape(jax.vmap(learner.init), keys)
    state_bytes = sum(int(np.prod(leaf.shape)) * leaf.dtype.itemsize for leaf in jax.tree.leaves(state))
    memory_bytes = sum(int(np.prod(leaf.shape)) * leaf.dtype.itemsize for leaf in jax.tree.leaves(state.memory))
    obs = jax.ShapeDtypeStruct((config.seeds, config.chunk, task.observation_size), jnp.float32)
    analysis = jax.jit(jax.vmap(learner.run)).lower(state, obs).compile().memory_analysis()
    xla = analysis.argument_size_in_bytes + analysis.output_size_in_bytes + analysis.temp_size_in_bytes
    device, host = prediction.memory_estimate(config)
    estimate = sum(device.values())
    assert device["learner state in and out of a chunk"] >= 2 * state_bytes
    assert device["traces/window temporaries"] >= 3 * memory_bytes
    assert xla <= estimate <= 4 * xla
    assert host["stored streams and scores"] == 8 * config.seeds * config.steps * 4


def test_dense_rtrl_of_a_large_gru_is_refused_before_work(monkeypatch):
    config = PredictionConfig(cell="gru", hidden_size=1000)
    device, _ = prediction.memory_estimate(config)
    assert sum(device.values()) > 100 * GB  # 3 seeds × ~3·10⁹ trace floats, several copies
    with pytest.raises(ValueError) as e:
        prediction.check_memory(config, available_device=24 * GB, available_host=24 * GB)
    message = str(e.value)
    assert "gru n=1000" in message and "needs about" in message and "24.0 GB available" in message
    assert "hidden_size" in message and "learner=tbptt" in message and "element-wise cell" in message

    def must_not_compile(*args, **kwargs):
        raise AssertionError("work started before the memory check")

    monkeypatch.setattr(prediction, "make_learner", must_not_compile)
    monkeypatch.setattr(memory, "available_bytes", lambda **kw: 24 * GB)
    monkeypatch.setattr(memory, "device_available_bytes", lambda: None)
    with pytest.raises(ValueError, match="needs about"):
        prediction.run(config)


@pytest.mark.parametrize("name", presets.names())
def test_the_defaults_and_presets_fit_a_small_machine(name):
    for config in [PredictionConfig()] + [e.config for e in presets.make(name)]:
        device, host = prediction.memory_estimate(config)
        assert sum(device.values()) + sum(host.values()) < 0.5 * GB, config.name
        prediction.check_memory(config, available_device=2 * GB, available_host=2 * GB)
