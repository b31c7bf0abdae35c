"""Compute small per-unit factors once, before they are broadcast into the large trace arrays.

XLA on CPU fuses cheap-looking elementwise producers (exp, cos, sin, sigmoid) into their
consumers. When the consumer is a (batch, d, n) trace update, the n per-unit factors are then
recomputed d·batch times per step: at n = 192, d = 64 the RTU's online RTRL step took ≈ 220 µs
instead of ≈ 30 µs. `optimization_barrier` and `cond` do not stop it on CPU. A product with the
identity matrix does: XLA never fuses a dot into its consumers, so the factors are written to
memory once. The product is exact (each value is multiplied by 1 and added to zeros) at
``Precision.HIGHEST`` — the default float32 precision of GPUs (TF32) would round it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def materialize(*arrays: jax.Array) -> tuple[jax.Array, ...]:
    """The same arrays (all of one shape and dtype), computed once and stored."""
    shape = arrays[0].shape
    stacked = jnp.stack([a.reshape(-1) for a in arrays])
    identity = jnp.eye(len(arrays), dtype=stacked.dtype)
    stored = jnp.matmul(identity, stacked, precision=jax.lax.Precision.HIGHEST)
    return tuple(stored[i].reshape(shape) for i in range(len(arrays)))
