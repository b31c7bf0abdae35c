"""Sweep specs (`rtrl.experiments.sweep_spec`) and the checks before any run (`sweep.check_directory`,
`sweep.check_resources`, `sweep.connect`'s address probe): no Ray cluster, no runs."""

from __future__ import annotations

import os
import socket
import time

import pytest
import yaml

from rtrl.experiments import sweep, sweep_spec
from rtrl.experiments.config import save_yaml
from rtrl.experiments.sweep_spec import Resources, make_plan, spec_from_dict

TINY_PPO = {"num_steps": 64, "num_minibatches": 2, "update_epochs": 1, "hidden_size": 4, "encoder": [8], "head": [8]}


def train_spec(**changes) -> dict:
    spec = {"command": "train", "out": "unused",
            "base": {"preset": "rtu-paper/popgym-countrecall", "total_steps": 128, "ppo": dict(TINY_PPO)},
            "grid": {"env": ["jax/CountRecallEasy", "jax/RepeatFirstEasy"]},
            "runs": [{"label": "RTU"}, {"label": "GRU", "ppo": {"agent": "tbptt-ppo", "cell": "gru",
                                                                 "sequence_length": 8}}],
            "seeds": 3}
    spec.update(changes)
    return spec


def test_a_grid_crossed_with_runs_and_seeds_gives_one_run_per_configuration_and_seed(tmp_path):
    plan = make_plan(spec_from_dict(train_spec(out=str(tmp_path / "s"))))
    assert len(plan.configurations) == 4 and len(plan.runs) == 12
    # seed-major: every configuration's seed 0 before any seed 1
    assert [r.seed for r in plan.runs] == [0] * 4 + [1] * 4 + [2] * 4
    for run in plan.runs:
        assert run.config.seeds == 1 and run.config.seed == run.seed
        assert run.out == os.path.join(str(tmp_path / "s"), run.configuration.key, f"seed-{run.seed}")
        assert run.steps == 128
    by_label = {(c.config.env, c.config.label): c.config for c in plan.configurations}
    gru = by_label[("jax/RepeatFirstEasy", "GRU")]
    # preset < base < grid < run entry; mappings merge field by field
    assert (gru.ppo.agent, gru.ppo.cell, gru.ppo.hidden_size, gru.ppo.num_steps) == ("tbptt-ppo", "gru", 4, 64)
    rtu = by_label[("jax/CountRecallEasy", "RTU")]
    assert (rtu.ppo.agent, rtu.ppo.cell, rtu.total_steps) == ("real-time-ppo", "rtu-linear", 128)
    assert {c.group for c in plan.configurations} == {"jax/CountRecallEasy", "jax/RepeatFirstEasy"}


def test_directory_names_are_stable_and_follow_the_config(tmp_path):
    keys = [c.key for c in make_plan(spec_from_dict(train_spec())).configurations]
    assert keys == [c.key for c in make_plan(spec_from_dict(train_spec())).configurations]
    assert len(set(keys)) == 4 and keys[0].startswith("jax-countrecalleasy_rtu-")
    changed = train_spec()
    changed["base"]["ppo"]["learning_rate"] = 3e-4
    assert not set(keys) & {c.key for c in make_plan(spec_from_dict(changed)).configurations}


def test_dotted_grid_fields_and_an_agent_section_that_switches_the_family():
    spec = train_spec(grid={"ppo.learning_rate": [1e-4, 3e-4]},
                      runs=[{"label": "PPO"}, {"label": "stream", "stream": {"agent": "stream-ac", "hidden_size": 4}}])
    with pytest.raises(ValueError, match="same config"):  # the streaming run ignores ppo.learning_rate: twins
        make_plan(spec_from_dict(spec))
    spec["runs"] = [{"label": "PPO"}]
    plan = make_plan(spec_from_dict(spec))
    assert sorted(c.config.ppo.learning_rate for c in plan.configurations) == [1e-4, 3e-4]
    spec = train_spec(grid={"env": ["jax/CountRecallEasy"]}, runs=[{"stream": {"agent": "stream-ac",
                                                                               "hidden_size": 4}}])
    (c,) = make_plan(spec_from_dict(spec)).configurations
    assert c.config.stream is not None and c.config.ppo is None


def test_names_shared_within_a_group_get_what_differs():
    plan = make_plan(spec_from_dict(train_spec(grid={"ppo.learning_rate": [1e-4, 3e-4]}, runs=None)))
    names = sorted(c.name for c in plan.configurations)
    assert len(set(names)) == 2 and "ppo.learning_rate=0.0001" in names[0] + names[1]


def test_a_prediction_sweep_expands_a_comparison_preset_into_its_learners():
    spec = {"command": "predict", "out": "x", "base": {"preset": "demo", "steps": 1000}, "seeds": [3, 7]}
    plan = make_plan(spec_from_dict(spec))
    assert [c.config.label for c in plan.configurations] == ["RTU linear n=32 (RTRL)", "GRU n=16 (T-BPTT, T=10)"]
    assert {r.config.seed for r in plan.runs} == {3, 7} and all(r.config.steps == 1000 for r in plan.runs)
    assert plan.configurations[0].group == "trace-conditioning (isi 10, num_distractors 0)"


@pytest.mark.parametrize("change, message", [
    ({"gird": {"env": ["jax/CountRecallEasy"]}}, (r"unknown key\(s\) 'gird' \(did you mean 'grid'\?\); valid keys: "
                                                   r"command, out, base, grid, runs, seeds, resources, retries")),
    ({"grid": {}}, "grid is empty"),
    ({"grid": {"env": []}}, r"grid.env is an empty list"),
    ({"grid": {"env": "jax/CountRecallEasy"}}, r"grid.env must be a list of values"),
    ({"grid": {"hiden_size": [4]}}, r"grid.hiden_size: unknown field 'hiden_size'.*valid: preset, env"),
    ({"runs": []}, "runs is an empty list"),
    ({"runs": [{"seeds": 2}]}, r"runs\[0\]: seeds is set by the sweep"),
    ({"base": {"seed": 4}}, "base: seed is set by the sweep"),
    ({"seeds": 0}, "seeds must be a positive integer"),
    ({"seeds": [1, 1]}, "seeds lists 1 more than once"),
    ({"seeds": "five"}, "seeds must be a count"),
    ({"retries": -1}, "retries must be a non-negative integer"),
    ({"resources": {"num_cpus": 0}}, "resources.num_cpus must be a positive number"),
    ({"resources": {"num_gpus": 1.5}}, "resources.num_gpus must be at most 1 or a whole number"),
    ({"resources": {"cpus": 1}}, r"resources: unknown key\(s\) 'cpus'.*valid keys: num_cpus, num_gpus"),
    ({"command": "evaluate"}, "command must be one of 'train', 'predict'"),
    ({"grid": {"ppo.hidden_size": [4, 0]}}, (r"configuration \(ppo.hidden_size=0, label=RTU\).*hidden_size must be "
                                             "a positive integer")),
    ({"grid": {"env": ["jax/CountRecalEasy"]}}, (r"configuration \(env=jax/CountRecalEasy, label=RTU\).*unknown "
                                                 "environment")),
    ({"runs": [{"ppo": {"hiden_size": 4}}]}, r"unknown key\(s\) 'hiden_size'"),
    ({"base": {"preset": "rtu-paper/popgym-countrecal"}}, "unknown preset"),
    ({"runs": [{"label": "a"}, {"label": "a"}], "grid": None}, "two configurations resolve to the same config"),
])
def test_bad_specs_are_refused_before_any_run(change, message):
    spec = train_spec(**change)
    spec = {k: v for k, v in spec.items() if v is not None}
    with pytest.raises(ValueError, match=message):
        make_plan(spec_from_dict(spec))


def test_load_spec_reads_yaml_numbers_and_defaults_out_to_the_file_name(tmp_path):
    path = tmp_path / "my-sweep.yaml"
    path.write_text("command: predict\nbase: {steps: 1e3, hidden_size: 4, chunk: 500, final_window: 500}\n"
                    "grid: {step_size: [1e-3, 3e-3]}\nseeds: 2\n")
    spec = sweep_spec.load_spec(str(path))
    assert spec.out == os.path.join("runs", "my-sweep") and spec.seeds == (0, 1)
    plan = make_plan(spec, out=str(tmp_path / "o"))
    assert sorted(c.config.step_size for c in plan.configurations) == [1e-3, 3e-3]
    assert plan.runs[0].config.steps == 1000
    path.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        sweep_spec.load_spec(str(path))


def test_resources_threads_and_the_cluster_check():
    assert Resources(num_cpus=0.5).threads == 1 and Resources(num_cpus=3).threads == 3
    local = sweep.Cluster(None, True, ({"CPU": 2.0},))
    sweep.check_resources(Resources(num_cpus=2), local)
    with pytest.raises(ValueError, match=r"resources.num_cpus: each run asks for 3 CPUs, but this machine's Ray cluster "
                                         r"has at most 2 CPUs on one node"):
        sweep.check_resources(Resources(num_cpus=3), local)
    with pytest.raises(ValueError, match="resources.num_gpus: each run asks for 0.5 GPU, but .* has no GPU"):
        sweep.check_resources(Resources(num_gpus=0.5), local)
    cluster = sweep.Cluster("h:1", False, ({"CPU": 4.0}, {"CPU": 4.0, "GPU": 1.0}))
    sweep.check_resources(Resources(num_cpus=4, num_gpus=1), cluster)
    with pytest.raises(ValueError, match=r"at most 4 CPUs on one node \(8 in all, 2 node\(s\)\)"):
        sweep.check_resources(Resources(num_cpus=6), cluster)  # 8 in all, but a run runs on one node


def _prediction_plan(tmp_path):
    spec = {"command": "predict", "out": str(tmp_path / "sweep"), "grid": {"cell": ["rtu-linear", "lru"]},
            "base": {"steps": 400, "chunk": 200, "curve_points": 4, "final_window": 200, "hidden_size": 4}, "seeds": 2}
    return make_plan(spec_from_dict(spec))


def test_check_directory_refuses_what_it_must_not_touch(tmp_path):
    plan = _prediction_plan(tmp_path)
    assert set(sweep.check_directory(plan).values()) == {sweep.NEW}
    assert not os.path.exists(plan.out)  # nothing written
    os.makedirs(plan.out)
    (tmp_path / "sweep" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not a sweep directory"):
        sweep.check_directory(plan)
    sweep.write_spec_copy(plan)
    run = plan.runs[0]
    os.makedirs(run.out)
    assert sweep.check_directory(plan)[run.id] == sweep.RESTART  # empty: killed before it wrote anything
    other = plan.runs[1].config  # another configuration's config in this run's directory: never replaced
    save_yaml(other, os.path.join(run.out, "config.yaml"))
    with pytest.raises(ValueError, match="holds a run of another configuration .*cell: run 'lru', spec 'rtu-linear'"):
        sweep.check_directory(plan)
    save_yaml(run.config, os.path.join(run.out, "config.yaml"))
    assert sweep.check_directory(plan)[run.id] == sweep.RESTART
    (tmp_path / "sweep" / run.configuration.key / "seed-0" / "summary.json").write_text("{}")
    assert sweep.check_directory(plan)[run.id] == sweep.FINISHED
    with open(os.path.join(run.out, "stray.txt"), "w"):
        pass
    os.remove(os.path.join(run.out, "config.yaml"))
    with pytest.raises(ValueError, match="is not a run directory"):
        sweep.check_directory(plan)


def test_an_address_nothing_answers_at_is_refused_at_once():
    with socket.socket() as s:  # a loopback port that was free a moment ago: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(ValueError, match=rf"cannot reach a Ray cluster at '127.0.0.1:{port}' within 5 s"):
        sweep._probe(f"127.0.0.1:{port}", 5.0)
    assert time.monotonic() - started < 5
    with pytest.raises(ValueError, match="is not host:port"):
        sweep._probe("localhost", 5.0)


def test_an_address_that_is_not_a_ray_cluster_is_refused_within_the_timeout():
    with socket.socket() as server:  # listens, never answers as Ray
        server.bind(("127.0.0.1", 0))
        server.listen()
        started = time.monotonic()
        with pytest.raises(ValueError, match="did not answer as a Ray cluster within 3 s"):
            sweep._probe(f"127.0.0.1:{server.getsockname()[1]}", 3.0)
    assert time.monotonic() - started < 8


SWEEPS = os.path.join(os.path.dirname(__file__), "..", "..", "sweeps")


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(SWEEPS) if f.endswith(".yaml")))
def test_every_spec_under_sweeps_loads_and_plans(name):
    path = os.path.join(SWEEPS, name)
    plan = make_plan(sweep_spec.load_spec(path))
    assert plan.runs and len(plan.spec.seeds) == 5
    with open(path) as f:
        text = f.read()
    header = text.split("\ncommand:")[0]
    assert "CPU-hours" in header and "README" in header  # the cost estimate and the figure it comes from
    assert yaml.safe_load(text)["command"] in ("train", "predict")


def test_a_task_given_a_finished_run_returns_its_summary_and_writes_nothing(tmp_path, monkeypatch):
    """The task checks once more: a finished run reached by a second sweep, or a retry, stays as it is."""
    monkeypatch.setattr(sweep, "_set_up_process", lambda run, resources: None)  # keep this process's JAX as it is
    plan = _prediction_plan(tmp_path)
    run = plan.runs[0]
    os.makedirs(run.out)
    save_yaml(run.config, os.path.join(run.out, "config.yaml"))
    (tmp_path / "sweep" / run.configuration.key / "seed-0" / "summary.json").write_text('{"seeds": 1}')
    before = {f: os.stat(os.path.join(run.out, f)).st_mtime_ns for f in os.listdir(run.out)}
    assert sweep.execute_run(run, Resources()) == {"seeds": 1}
    assert {f: os.stat(os.path.join(run.out, f)).st_mtime_ns for f in os.listdir(run.out)} == before
