"""Weight initialisers shared by the dense cells (flax's defaults for recurrent layers)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def lecun_normal(key: jax.Array, shape: tuple[int, int], dtype) -> jax.Array:
    """Truncated normal with variance 1/fan_in; fan_in = shape[0] (weights act as x @ W)."""
    return jax.nn.initializers.lecun_normal()(key, shape, dtype)


def orthogonal_blocks(key: jax.Array, n: int, blocks: int, dtype) -> jax.Array:
    """``blocks`` independent n×n orthogonal matrices side by side: an (n, blocks·n) recurrent kernel."""
    keys = jax.random.split(key, blocks)
    return jnp.concatenate([jax.nn.initializers.orthogonal()(k, (n, n), dtype) for k in keys], axis=1)
