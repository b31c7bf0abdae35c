"""Save and load a `TrainedAgent` as one ``.npz`` file with named arrays; read a training run's agent.

    agent.save("agent.npz")
    agent = rtrl.load("agent.npz")               # the same actions for the same inputs
    agent = TrainedAgent.from_run("runs/x")       # seed of a training run directory (its checkpoint)

Why one ``.npz``: a single file is easy to move and to version, NumPy reads it without rtrl (and
without pickle: ``np.load(path)`` lists the arrays by name), and it is written atomically (a temporary
file renamed over the target). Its entries:

    format                 "rtrl-agent" (a str array)
    version                the format version (an int array), `VERSION`
    config                 the TrainConfig as YAML text
    meta                   JSON text: network sizes, action space, seed, env steps, rtrl version
    params/<path>          one array per parameter, named by its path in the parameter pytree,
                           e.g. params/encoder/0/kernel, params/cell/nu_log, params/actor_out/bias
    statistics/<wrapper>/<moment>   the frozen wrapper statistics, e.g. statistics/observation/mean

Loading rebuilds the network from the config and checks the file's parameter names, shapes and
dtypes against it leaf by leaf (by path, never by the text of a tree definition, which changes
between JAX versions), naming every difference. A file of another format, or of a newer version
than this rtrl reads, is refused with a message saying so.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import yaml

from rtrl.agents.agent import build_network
from rtrl.agents.policy import TrainedAgent, WrapperStatistics, parameter_names, parameter_problems
from rtrl.envs.running import Moments
from rtrl.envs.spaces import Box, Discrete, Space

__all__ = ["FORMAT", "VERSION", "load", "parameter_names", "read_run", "save"]

FORMAT = "rtrl-agent"
VERSION = 1
_MOMENTS = ("mean", "var", "count")


def save(agent: TrainedAgent, path: str) -> str:
    """Write ``agent`` to ``path`` (one ``.npz`` file, replaced atomically); returns ``path``."""
    from rtrl import __version__
    from rtrl.experiments.config import to_dict

    if not isinstance(agent, TrainedAgent):
        raise TypeError(f"save takes a TrainedAgent, got {type(agent).__name__}.")
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"path must be a file name, e.g. 'agent.npz', got {path!r}.")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"path {path!r} is a directory; give a file name, e.g. {os.path.join(path, 'agent.npz')!r}.")
    net = agent.network
    meta = {"network": {"observation_size": net.observation_size, "observation_shape": list(net.observation_shape),
                        "action_size": net.action_size, "discrete": net.discrete},
            "action_space": _space_to_dict(agent.action_space), "seed": agent.seed, "env_steps": agent.env_steps,
            "rtrl_version": __version__}
    arrays: dict[str, np.ndarray] = {
        "format": np.asarray(FORMAT), "version": np.asarray(VERSION),
        "config": np.asarray(yaml.safe_dump(to_dict(agent.config), sort_keys=False)),
        "meta": np.asarray(json.dumps(meta)),
    }
    leaves = jax.tree.leaves(agent.params)
    arrays.update({name: np.asarray(leaf) for name, leaf in zip(parameter_names(agent.params), leaves)})
    for wrapper, moments in agent.statistics._asdict().items():
        if moments is not None:
            arrays.update({f"statistics/{wrapper}/{k}": np.asarray(v, np.float32) for k, v in zip(_MOMENTS, moments)})
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"cannot save to {path!r}: the directory {directory!r} does not exist.")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp.npz")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getvalue())
        os.replace(tmp, path)  # atomic: a reader sees the old file or the new one
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load(path: str) -> TrainedAgent:
    """The `TrainedAgent` saved in ``path`` by `save`."""
    from rtrl.experiments.training import load_config

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"no agent file at {path!r}" + (" (a directory: for a training run use "
                                                         "TrainedAgent.from_run(RUN_DIR))" if os.path.isdir(path)
                                                         else "") + ".")
    try:
        data = dict(np.load(path, allow_pickle=False))
    except (OSError, ValueError) as e:
        raise ValueError(f"{path!r} is not an rtrl agent file (not a NumPy .npz archive: {e}).") from None
    kind = str(data["format"]) if "format" in data else None
    if kind != FORMAT:
        hint = (" It is a training checkpoint: read it with TrainedAgent.from_run(RUN_DIR) on its run directory."
                if "__meta__" in data else "")
        raise ValueError(f"{path!r} is not an rtrl agent file (format {kind!r}, expected {FORMAT!r}).{hint}")
    version = int(data["version"]) if "version" in data else None
    if version != VERSION:
        newer = version is not None and version > VERSION
        raise ValueError(f"{path!r} is an rtrl agent file of format version {version}; this rtrl reads version "
                         f"{VERSION}" + ("; upgrade rtrl to load it." if newer else "."))
    config = load_config(yaml.safe_load(str(data["config"])))
    meta = json.loads(str(data["meta"]))
    sizes = meta["network"]
    # files written before images were supported hold the flat size only
    shape = tuple(int(d) for d in sizes.get("observation_shape") or (sizes["observation_size"],))
    network = build_network(config.agent_config, shape if len(shape) > 1 else shape[0], int(sizes["action_size"]),
                            bool(sizes["discrete"]))
    params = _read_params(path, data, network)
    statistics = WrapperStatistics(*(_read_moments(data, wrapper) for wrapper in WrapperStatistics._fields))
    return TrainedAgent(config=config, network=network, params=params,
                        action_space=_space_from_dict(meta["action_space"]), statistics=statistics,
                        seed=meta.get("seed"), env_steps=meta.get("env_steps"))


def _read_params(path: str, data: dict[str, np.ndarray], network: Any) -> Any:
    """The parameters named in ``data``, checked leaf by leaf against the network's (by path)."""
    saved = {k: v for k, v in data.items() if k.startswith("params/")}
    problems = parameter_problems(network, {k: v.shape for k, v in saved.items()},
                                  {k: v.dtype for k, v in saved.items()})
    if problems:
        raise ValueError(f"the parameters in {path!r} do not fit the network its config builds ({problems}).")
    template = jax.eval_shape(network.init, jax.random.PRNGKey(0))
    names = parameter_names(template)
    return jax.tree.unflatten(jax.tree.structure(template), [jnp.asarray(saved[n]) for n in names])


def _read_moments(data: dict[str, np.ndarray], wrapper: str) -> Moments | None:
    keys = [f"statistics/{wrapper}/{k}" for k in _MOMENTS]
    if not all(k in data for k in keys):
        return None
    return Moments(*(np.asarray(data[k], np.float32) for k in keys))


def _space_to_dict(space: Space) -> dict[str, Any]:
    if isinstance(space, Discrete):
        return {"kind": "discrete", "n": space.n}
    return {"kind": "box", "shape": list(space.shape), "low": np.asarray(space.low_array, float).ravel().tolist(),
            "high": np.asarray(space.high_array, float).ravel().tolist()}


def _space_from_dict(d: dict[str, Any]) -> Space:
    if d["kind"] == "discrete":
        return Discrete(int(d["n"]))
    return Box(tuple(d["shape"]), tuple(d["low"]), tuple(d["high"]))


# -- training run directories ------------------------------------------------------------------------


def read_run(run_dir: str, seed: int | None = None) -> TrainedAgent:
    """Seed ``seed`` (as numbered in ``seed_<k>.csv``; default the run's first) of the training run in
    ``run_dir``, from its config.yaml and checkpoint.npz. Refuses a directory that is not a training
    run with what is wrong."""
    from rtrl.experiments import run_dir as run_dirs
    from rtrl.experiments import training
    from rtrl.experiments.config import load_yaml

    if not isinstance(run_dir, (str, os.PathLike)):
        raise ValueError(f"run_dir must be a path, got {run_dir!r}.")
    run_dir = os.fspath(run_dir)
    if not os.path.exists(run_dir):
        raise ValueError(f"run directory {run_dir!r} does not exist.")
    if not os.path.isdir(run_dir):
        raise ValueError(f"{run_dir!r} is not a directory; give a training run directory (rtrl train --out DIR).")
    config_path = os.path.join(run_dir, run_dirs.CONFIG)
    if not os.path.exists(config_path):
        raise ValueError(f"{run_dir!r} is not a training run directory: it holds no {run_dirs.CONFIG}.")
    try:
        config = training.load_config(load_yaml(config_path))
    except (ValueError, TypeError) as e:
        raise ValueError(f"{run_dir!r} is not a training run directory: its {run_dirs.CONFIG} is not a training "
                         f"configuration ({e})") from None
    if not os.path.exists(os.path.join(run_dir, training.CHECKPOINT)):
        raise ValueError(f"{run_dir!r} holds no {training.CHECKPOINT} yet: the run has not reached its first "
                         "checkpoint.")
    seeds = [config.seed + k for k in range(config.seeds)]
    if seed is None:
        seed = seeds[0]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) not in seeds:
        raise ValueError(f"seed must be one of the run's seeds {', '.join(map(str, seeds))}, got {seed!r}.")
    config, agent, state, _ = training.load_state(run_dir)
    return TrainedAgent.from_training(config, agent, state, seeds.index(int(seed)))
