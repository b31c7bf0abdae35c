"""Per-step RTRL gradients summed over a sequence.

With ``gradient="rtrl"``, ``jax.grad`` of the loss at step t through one `Cell.step` is the exact
total derivative dL_t/dθ; summing over t gives the gradient of the summed loss, with no
backward pass through time. This is what an online learner accumulates (or applies every step).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rtrl.cells.base import Carry, Cell, Params
from rtrl.grad.bptt import LossFn


def rtrl_gradient(cell: Cell, params: Params, carry: Carry, xs: jax.Array, resets: jax.Array,
                  targets: jax.Array, loss_fn: LossFn) -> tuple[jax.Array, Params, jax.Array]:
    """(L, Σ_t ∇θ L_t, ys) with L_t = loss_fn(y_t, targets[t]); ``cell`` must have ``gradient="rtrl"``."""
    if cell.gradient != "rtrl":
        raise ValueError(f"rtrl_gradient needs a cell made with gradient='rtrl', got {cell.gradient!r}.")

    def body(acc, inputs):
        carry, loss, grads = acc
        x_t, reset_t, target_t = inputs

        def step_loss(p):
            new_carry, y_t = cell.step(p, carry, x_t, reset_t)
            return loss_fn(y_t, target_t), (new_carry, y_t)

        (loss_t, (carry, y_t)), grads_t = jax.value_and_grad(step_loss, has_aux=True)(params)
        return (carry, loss + loss_t, jax.tree.map(jnp.add, grads, grads_t)), y_t

    zero = jnp.zeros((), xs.dtype)
    init = (carry, zero, jax.tree.map(jnp.zeros_like, params))
    (_, loss, grads), ys = jax.lax.scan(body, init, (xs, resets, targets))
    return loss, grads, ys
