"""Checkpoints: a pytree round-trips exactly; another configuration or structure is refused; writes are atomic."""

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtrl.experiments import checkpoint


@dataclasses.dataclass(frozen=True)
class Cfg:
    lr: float = 1e-3
    env: str = "jax/CountRecallEasy"


def _state(seed=0):
    k = jax.random.PRNGKey(seed)
    return {"params": {"w": jax.random.normal(k, (3, 2)), "n": jnp.arange(4, dtype=jnp.int32)},
            "key": jax.random.split(k)[0], "typed": jax.random.key(seed), "flag": jnp.asarray(True)}


def test_round_trip_is_exact(tmp_path):
    path = str(tmp_path / "ckpt.npz")
    state = _state(1)
    checkpoint.save(path, state, step=7, config=Cfg())
    restored, step = checkpoint.load(path, like=_state(0), config=Cfg())
    assert step == 7
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored)):
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    assert checkpoint.read_meta(path)["config"] == {"lr": 1e-3, "env": "jax/CountRecallEasy"}
    assert [f for f in os.listdir(tmp_path)] == ["ckpt.npz"]  # no temporary file left behind


def test_another_configuration_is_refused(tmp_path):
    path = str(tmp_path / "ckpt.npz")
    checkpoint.save(path, _state(), step=1, config=Cfg())
    with pytest.raises(ValueError, match=r"another configuration \(lr: checkpoint 0.001, now 0.01\)"):
        checkpoint.load(path, like=_state(), config=Cfg(lr=1e-2))
    with pytest.raises(ValueError, match=r"another state structure .*not in this state: \['flag'\], \['key'\], "
                                         r"\['typed'\]"):
        checkpoint.load(path, like={"params": _state()["params"]}, config=Cfg())
    renamed = _state()
    renamed["params"]["v"] = renamed["params"].pop("w")
    with pytest.raises(ValueError, match=r"missing from the checkpoint: \['params'\]\['v'\]; "
                                         r"not in this state: \['params'\]\['w'\]"):
        checkpoint.load(path, like=renamed, config=Cfg())
    bigger = _state()
    bigger["params"]["w"] = jnp.zeros((4, 2))
    with pytest.raises(ValueError, match=r"leaf .* expected float(32|64)\[4, 2\]"):
        checkpoint.load(path, like=bigger, config=Cfg())
    with pytest.raises(ValueError, match="no checkpoint"):
        checkpoint.load(str(tmp_path / "missing.npz"), like=_state(), config=Cfg())


def test_structure_is_compared_by_leaf_paths_not_the_tree_text(tmp_path):
    # the text of a PyTreeDef changes across JAX versions; a checkpoint must still load when only it differs
    path = str(tmp_path / "ckpt.npz")
    checkpoint.save(path, _state(1), step=3, config=Cfg())
    meta = checkpoint.read_meta(path)
    assert meta["paths"] == checkpoint.leaf_paths(_state()) and "['params']['w']" in meta["paths"]
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if k != "__meta__"}
    meta["tree"] = "PyTreeDef(as another JAX version prints it)"
    np.savez(path, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
    restored, step = checkpoint.load(path, like=_state(0), config=Cfg())
    assert step == 3
    np.testing.assert_array_equal(restored["params"]["w"], _state(1)["params"]["w"])
