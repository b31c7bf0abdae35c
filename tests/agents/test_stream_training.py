"""Streaming agents through ``rtrl train`` and the Python API: flags routed to the StreamConfig, bad
input refused before any work, exact resume on JAX-native environments, host environments stepped in
lockstep, the presets, and trained streaming agents that act, save and load."""

import dataclasses
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rtrl
from rtrl.agents import StreamConfig
from rtrl.cli import main
from rtrl.experiments import memory, training, training_presets
from rtrl.experiments.training import TrainConfig
from run_rows import learning_rows

TINY = ["--agent", "stream-ac", "--env", "jax/MemoryChain", "--env-options", "{length: 3}", "--hidden-size", "4",
        "--head", "[8]", "--num-steps", "50"]


def _must_not_run(*args, **kwargs):
    raise AssertionError("the run started before its input was validated")


BAD_INPUT = {
    "lambda above 1": (["--lambda", "1.5"], r"lambda_ must be a number in \[0, 1\], got 1.5"),
    "kappa zero": (["--kappa-actor", "0"], r"kappa_actor must be a positive number, got 0"),
    "step size negative": (["--step-size", "-1"], r"step_size must be a positive number, got -1"),
    "epsilon above 1": (["--agent", "stream-q", "--epsilon-start", "2"], r"epsilon_start must be a number in \[0, 1\], got 2"),
    "stream-q continuous": (["--agent", "stream-q", "--env", "mujoco/Hopper-P", "--env-options", "{}"],
                            r"stream-q.*discrete"),
    "chain length 0": (["--env-options", "{length: 0}"], r"length must be a positive integer"),
    "PPO flag": (["--num-minibatches", "4"], r"--num-minibatches do\(es\) not apply to agent stream-ac"),
    "stream flag on PPO": (["--agent", "real-time-ppo", "--kappa-actor", "2"],
                           r"--kappa-actor do\(es\) not apply to agent real-time-ppo"),
    "gradient of PPO": (["--gradient", "fresh"], r"gradient must be one of 'rtrl', 'tbptt', 'none', got 'fresh'"),
    "cell with none": (["--gradient", "none", "--cell", "gru"], r"gradient none has no recurrent cell, so --cell"),
    "dense RTRL too big": (["--cell", "gru", "--hidden-size", "1000"], r"needs about .* GB.*hidden_size \(1000\)"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_a_message_before_any_work(tmp_path, capsys, monkeypatch, case):
    monkeypatch.setattr(training, "run", _must_not_run)
    monkeypatch.setattr(memory, "available_bytes", lambda device=False: 8 * 10**9)
    flags, message = BAD_INPUT[case]
    assert main(["train", *TINY, *flags, "--out", str(tmp_path / "run")]) == 2
    captured = capsys.readouterr()
    text = " ".join((captured.out + captured.err).split())
    assert "error:" in text and "Traceback" not in text
    assert re.search(message, text), text
    assert not (tmp_path / "run").exists()


def test_resume_continues_to_exactly_the_uninterrupted_run(tmp_path):
    # chain length 6: episodes of 7 steps, so the run does not end on an episode's last step
    config = TrainConfig(env="jax/MemoryChain", env_options={"length": 6}, total_steps=300, seeds=2,
                         checkpoint_every=1, stream=StreamConfig(hidden_size=4, head=(8,), num_steps=50))
    whole = training.train(config, str(tmp_path / "whole"))
    training.train(config, str(tmp_path / "cut"), stop_after=2)
    resumed = training.train(config, str(tmp_path / "cut"), resume=True)
    for k in (0, 1):
        a, b = (learning_rows(tmp_path / run / f"seed_{k}.csv") for run in ("whole", "cut"))
        assert len(a) == len(b) == 6 and a == b, k
    for x, y in zip(jax.tree.leaves(whole.state), jax.tree.leaves(resumed.state)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # the streaming state really is in the checkpoint: eligibility traces and the chosen action
    assert any(np.any(np.asarray(z) != 0) for z in jax.tree.leaves(whole.state.opt_state.eligibility))
    assert whole.state.action.shape == (2, 1)


def test_a_host_environment_learns_every_step_for_every_seed_and_resumes(tmp_path):
    config = TrainConfig(env="popgym/RepeatPreviousEasy", total_steps=60, seeds=2, checkpoint_every=1,
                         stream=StreamConfig(hidden_size=4, head=(8,), num_steps=20))
    out = str(tmp_path / "host")
    first = training.train(config, out, stop_after=2)
    params_before = first.state.params
    resumed = training.train(config, out, resume=True)
    rows = [learning_rows(tmp_path / "host" / f"seed_{k}.csv") for k in (0, 1)]
    assert [len(r) for r in rows] == [3, 3]
    assert int(resumed.state.env_steps[0]) == 60
    # every step updates the parameters of each seed, and the seeds differ
    moved = [float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(params_before),
                                                                 jax.tree.leaves(resumed.state.params))]
    assert max(moved) > 0
    leaf = jax.tree.leaves(resumed.state.params)[0]
    assert not np.array_equal(np.asarray(leaf[0]), np.asarray(leaf[1]))


def test_host_and_jax_environments_run_the_same_streaming_step():
    """The host loop and the scan call the same `learn_then_act`: on the same environment (the JAX port
    stepped from the host loop), with the same key, one iteration gives the same state."""
    config = StreamConfig(hidden_size=4, head=(8,), num_steps=30)
    env = rtrl.envs.make("jax/MemoryChain", length=3)
    agent = rtrl.agents.make(config, env)
    state = agent.init(jax.random.PRNGKey(3))
    scanned, metrics = agent.iteration(state)
    # the same steps, one call of the streaming step at a time, as the host loop makes them
    s = state
    env_step, learn_then_act = jax.jit(agent._env_step), jax.jit(agent.learn_then_act)  # compiled once
    for _ in range(config.num_steps):
        s, transition = env_step(s)
        s, _ = learn_then_act(s, transition)
    for x, y in zip(jax.tree.leaves(scanned.params), jax.tree.leaves(s.params)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)
    assert float(metrics["episodes"]) == 7  # 30 steps: 7 whole episodes of 4 steps


@pytest.mark.parametrize("name", [n for n in training_presets.names() if n.startswith("streaming/")])
def test_streaming_presets_build(name):
    values = training_presets.get(name)
    config = rtrl.experiments.config.from_dict(TrainConfig, values)
    assert config.stream is not None and config.ppo is None
    assert config.stream.agent == "stream-ac" and config.stream.gradient == "rtrl"
    if name.startswith("streaming/memorychain-"):
        length = int(name.rsplit("-", 1)[1])
        assert config.env_options["length"] == length and config.total_steps >= 4_000 * (length + 1)
    if config.env.startswith("jax/"):
        agent = config.make_agent()
        assert agent.parameter_count().recurrent > 0


def test_the_python_api_trains_acts_saves_and_loads_a_streaming_agent(tmp_path):
    run = rtrl.train(TrainConfig(env="jax/MemoryChain", env_options={"length": 2}, total_steps=200,
                                 stream=StreamConfig(agent="stream-q", hidden_size=4, head=(8,), num_steps=100)),
                     out=str(tmp_path / "run"))
    agent = run.agent
    path = agent.save(str(tmp_path / "agent.npz"))
    loaded = rtrl.load(path)
    for x, y in zip(jax.tree.leaves(agent.params), jax.tree.leaves(loaded.params)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    result = rtrl.evaluate(loaded, episodes=4)
    returns = np.asarray(result.returns)
    assert returns.shape == (4,) and set(np.unique(returns)) <= {-1.0, 1.0}


def test_no_previous_wrappers_keep_the_observation_and_evaluation_rebuilds_the_same_stack(tmp_path):
    """MemoryChain presets use wrappers "no-previous": with the previous action appended, a memoryless
    policy could carry the context in its own actions. Training and evaluation build the same stack."""
    values = training_presets.get("streaming/memorychain-4")
    assert values["wrappers"] == "no-previous"
    config = rtrl.experiments.config.from_dict(TrainConfig, {**values, "total_steps": 100, "stream": {
        **values["stream"], "hidden_size": 4, "head": [8], "num_steps": 50}})
    raw = rtrl.envs.make("jax/MemoryChain", length=4).observation_space.shape
    assert config.make_env().observation_space.shape == raw
    standard = dataclasses.replace(config, wrappers="standard").make_env().observation_space.shape
    assert standard[0] == raw[0] + 2 + 1  # previous action one-hot and previous reward
    agent = rtrl.train(config, out=str(tmp_path / "run")).agent
    assert agent.make_env().observation_space.shape == raw
    assert len(rtrl.evaluate(agent, episodes=2).returns) == 2


def test_the_host_loop_is_the_streaming_step_applied_to_each_seed_in_turn():
    """`host_iteration_seeds` (numpy buffers, donated states and sums, the env's own episode statistics,
    the first action chosen on a restored state) against a plain loop of `learn_then_act` per seed."""
    from rtrl.agents.rollout import env_action
    from rtrl.agents.stream_rule import Transition

    config = StreamConfig(hidden_size=4, head=(8,), num_steps=110)  # two episodes of 51 steps end

    def make_env():
        return rtrl.envs.wrappers.standard(rtrl.envs.make("popgym/RepeatPreviousEasy", num_envs=1))

    envs = [make_env(), make_env()]
    agent = rtrl.agents.make(config, envs[0])
    keys = [jax.random.PRNGKey(7), jax.random.PRNGKey(8)]
    states = [dataclasses.replace(agent, env=env).init(key) for env, key in zip(envs, keys)]
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *states)
    stacked, metrics = agent.host_iteration_seeds(stacked._replace(action=()), envs)  # () : chosen afresh

    step = jax.jit(agent.learn_then_act)
    for k, key in enumerate(keys):
        env = make_env()
        state = agent._start(dataclasses.replace(agent, env=env).init(key))  # the action chosen again, as above
        returns = []
        for _ in range(config.num_steps):
            obs, reward, done, info = env.step(np.asarray(env_action(env.action_space, state.action)))
            stats = {n: info[n] for n in ("episode_return", "episode_length") if n in info}
            state, m = step(state, Transition(reward, obs, done, info["terminated"], info["final_obs"], stats))
            if done[0]:
                returns.append(float(m["finished_return"]))
        for x, y in zip(jax.tree.leaves(state.params), jax.tree.leaves(stacked.params)):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y)[k], rtol=1e-5, atol=1e-6)
        assert int(stacked.env_steps[k]) == config.num_steps
        assert float(metrics["episodes"][k]) == len(returns) == 2
        assert float(metrics["episode_return"][k]) == pytest.approx(np.mean(returns), rel=1e-5)


def test_resuming_a_streaming_run_as_a_ppo_agent_is_refused_with_a_message(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", *TINY, "--total-steps", "50", "--out", out]) == 0
    capsys.readouterr()
    assert main(["train", "--out", out, "--resume", "--agent", "real-time-ppo"]) == 2
    text = " ".join(capsys.readouterr().out.split())
    assert "note: --agent real-time-ppo is one of the PPO agents; the stream settings" in text
    assert "cannot resume" in text and "ppo.agent: run None, now 'real-time-ppo'" in text
    assert "Traceback" not in text


def test_a_host_run_restored_after_an_env_reset_restarts_the_traces_and_the_action():
    """The envs of a resumed host run start new episodes: the eligibility traces of the interrupted ones
    are dropped and the next action is chosen afresh at the new first observation."""
    from rtrl.experiments import train_seeds

    config = TrainConfig(env="popgym/RepeatPreviousEasy", total_steps=20, seeds=2,
                         stream=StreamConfig(hidden_size=4, head=(8,), num_steps=20))
    seeds = train_seeds.make(config)
    states, _ = seeds.iteration(seeds.init())
    assert any(np.any(np.asarray(z) != 0) for z in jax.tree.leaves(states.opt_state.eligibility))
    restored = seeds.after_restore(states, 1)
    assert all(not np.any(np.asarray(z)) for z in jax.tree.leaves(restored.opt_state.eligibility))
    assert restored.action == () and bool(np.all(np.asarray(restored.first)))
    for x, y in zip(jax.tree.leaves(states.params), jax.tree.leaves(restored.params)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    seeds.iteration(restored)  # chooses the action and continues
