"""Checkpoints of a training run: any pytree of arrays, with the config it belongs to.

    save(path, state, step=k, config=cfg)     # atomic: a crash mid-write keeps the previous file
    state, step = load(path, like=template, config=cfg)

The file is a NumPy ``.npz`` holding the leaves of ``state`` in `jax.tree.flatten` order, the path
of every leaf (`jax.tree_util.keystr`, e.g. ``.params['cell']['w']``), the step, and a fingerprint
of the config. Loading checks all of them against a template (a freshly initialised state of the
same config) and the config: a checkpoint of another configuration or structure is refused with
what differs, before any training. The structure is compared by leaf paths, not by the text of
the tree definition, which changes across JAX versions.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rtrl.experiments.config import to_dict


def fingerprint(config: Any) -> str:
    """A short hash of the config's fields (dataclass or mapping)."""
    text = json.dumps(to_dict(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _leaves(state: Any) -> list[np.ndarray]:
    out = []
    for leaf in jax.tree.leaves(state):
        if jnp.issubdtype(jnp.asarray(leaf).dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        out.append(np.asarray(leaf))
    return out


def leaf_paths(state: Any) -> list[str]:
    """The path of every leaf of ``state`` in `jax.tree.flatten` order, e.g. ``.params['w']``."""
    return [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_flatten_with_path(state)[0]]


def save(path: str, state: Any, *, step: int, config: Any) -> None:
    arrays = {f"leaf_{i}": a for i, a in enumerate(_leaves(state))}
    meta = {"step": int(step), "fingerprint": fingerprint(config), "paths": leaf_paths(state),
            "config": to_dict(config)}
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **arrays)
        os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new one
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_meta(path: str) -> dict[str, Any]:
    with np.load(path) as data:
        return json.loads(bytes(data["__meta__"]).decode())


def _check_paths(path: str, meta: dict[str, Any], expected: list[str], treedef: Any) -> None:
    """Refuse a checkpoint whose leaf paths differ from ``expected``, listing the differences."""
    saved = meta.get("paths")
    if saved is None:  # written before leaf paths were stored: the tree's text is all there is to compare
        if meta.get("tree") == str(treedef):
            return
        raise ValueError(f"the checkpoint {path!r} was written by an older version of rtrl or JAX (no leaf paths) "
                         "and its structure cannot be matched; start a new run.")
    if saved == expected:
        return
    missing = [p for p in expected if p not in saved]
    extra = [p for p in saved if p not in expected]
    parts = []
    if missing:
        parts.append(f"missing from the checkpoint: {_listing(missing)}")
    if extra:
        parts.append(f"not in this state: {_listing(extra)}")
    if not parts:
        parts.append("the same leaves in another order")
    raise ValueError(f"the checkpoint {path!r} has another state structure than this version of rtrl builds "
                     f"({'; '.join(parts)}); start a new run.")


def _listing(paths: list[str], most: int = 8) -> str:
    shown = ", ".join(paths[:most])
    return shown + (f" and {len(paths) - most} more" if len(paths) > most else "")


def load(path: str, *, like: Any, config: Any) -> tuple[Any, int]:
    """(state, step) from ``path``; ``like`` gives the structure, shapes and dtypes to expect."""
    if not os.path.exists(path):
        raise ValueError(f"no checkpoint at {path!r}.")
    meta = read_meta(path)
    if meta["fingerprint"] != fingerprint(config):
        saved, now = meta["config"], to_dict(config)
        diff = [f"{k}: checkpoint {saved.get(k)!r}, now {now.get(k)!r}" for k in sorted(set(saved) | set(now))
                if saved.get(k) != now.get(k)]
        raise ValueError(f"the checkpoint {path!r} belongs to another configuration ({'; '.join(diff) or 'differs'}); "
                         "resume with the run's own config.yaml or start a new run.")
    template, treedef = jax.tree.flatten(like)
    _check_paths(path, meta, leaf_paths(like), treedef)
    with np.load(path) as data:
        leaves = [data[f"leaf_{i}"] for i in range(len(template))]
    restored = []
    for i, (saved, want) in enumerate(zip(leaves, template)):
        want = jnp.asarray(want)
        if jnp.issubdtype(want.dtype, jax.dtypes.prng_key):
            restored.append(jax.random.wrap_key_data(jnp.asarray(saved), impl=jax.random.key_impl(want)))
            continue
        if saved.shape != want.shape or saved.dtype != want.dtype:
            raise ValueError(f"the checkpoint {path!r} does not match this configuration: leaf {i} is "
                             f"{saved.dtype}{list(saved.shape)}, expected {want.dtype}{list(want.shape)}.")
        restored.append(jnp.asarray(saved))
    return jax.tree.unflatten(treedef, restored), int(meta["step"])
