"""Weight initialisers shared by the cells and networks (flax's defaults for recurrent layers).

`orthogonal` is ``jax.nn.initializers.orthogonal`` with the same values, made safe to vmap on XLA's
CPU back-end. Under vmap (seeds, the actor and critic of one agent) jax's QR becomes one batched
LAPACK call, which jaxlib 0.10.2 splits over XLA's CPU thread pool and then waits for *inside* a pool
thread. Two such calls running at once (two layers' kernels: independent, so XLA runs them side by
side) occupy both threads of a 2-CPU pool and wait for work that no thread is left to run: the
process hangs with every thread idle (seen as a hung `rtrl train --seeds 2`, and earlier as the
"wedged" thread and pmap layouts of README "Seeds on a CPU"; tests/cells/test_initializers.py
reproduces it in a child process). Here a vmapped call draws its matrices one after another
(`lax.map`), so every QR is an unbatched LAPACK call, which runs in place.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

__all__ = ["lecun_normal", "orthogonal", "orthogonal_blocks"]


def lecun_normal(key: jax.Array, shape: tuple[int, int], dtype) -> jax.Array:
    """Truncated normal with variance 1/fan_in; fan_in = shape[0] (weights act as x @ W)."""
    return jax.nn.initializers.lecun_normal()(key, shape, dtype)


def orthogonal(scale: float = 1.0, column_axis: int = -1) -> Callable[..., jax.Array]:
    """``jax.nn.initializers.orthogonal(scale, column_axis)``: the same values, one unbatched QR per
    matrix under vmap (module docstring). Returns ``init(key, shape, dtype)``."""
    draw_one = jax.nn.initializers.orthogonal(scale, column_axis)

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        @jax.custom_batching.custom_vmap
        def draw(k: jax.Array) -> jax.Array:
            return draw_one(k, shape, dtype)

        @draw.def_vmap
        def _one_after_another(axis_size: int, in_batched: list[bool], k: jax.Array):
            if not in_batched[0]:  # the same key for every member: one draw
                return draw(k), False
            return jax.lax.map(draw, k), True

        return draw(key)

    return init


def orthogonal_blocks(key: jax.Array, n: int, blocks: int, dtype) -> jax.Array:
    """``blocks`` independent n×n orthogonal matrices side by side: an (n, blocks·n) recurrent kernel."""
    keys = jax.random.split(key, blocks)
    return jnp.concatenate([orthogonal()(k, (n, n), dtype) for k in keys], axis=1)
