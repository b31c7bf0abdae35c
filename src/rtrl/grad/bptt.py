"""Backpropagation through time over a whole sequence: the reference every RTRL gradient is
tested against."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from rtrl.cells.base import Carry, Cell, Params
from rtrl.grad.unroll import unroll

LossFn = Callable[[jax.Array, jax.Array], jax.Array]  # (y_t (B, out), target_t) -> scalar


def bptt_gradient(cell: Cell, params: Params, carry: Carry, xs: jax.Array, resets: jax.Array,
                  targets: jax.Array, loss_fn: LossFn) -> tuple[jax.Array, Params, jax.Array]:
    """(L, ∇θ L, ys) for L = Σ_t loss_fn(y_t, targets[t]), through the fully unrolled forward.

    ``cell`` should have ``gradient="bptt"``: then this is the exact gradient of the sequence loss.
    """

    def total(p):
        _, ys = unroll(cell, p, carry, xs, resets)
        return jnp.sum(jax.vmap(loss_fn)(ys, targets)), ys

    (loss, ys), grads = jax.value_and_grad(total, has_aux=True)(params)
    return loss, grads, ys
