"""Truncated BPTT with a rolling window, updated every step (the baseline RTRL is compared with).

The window holds the last T inputs and reset flags and the carry from just before the oldest
of them. At each step the new input is pushed (the oldest falls out, and the start carry moves
one step on), then the loss at the newest step is differentiated through the T steps of the
window. Cost per step: T forward steps plus their backward pass, so it grows linearly in T; an
influence older than T steps is cut.

Before T real steps have been pushed, the window is padded with zero inputs flagged as resets:
the padding never reaches a gradient as long as the first real step is flagged ``reset=True``
(as the start of any stream must be).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rtrl import validate
from rtrl.cells.base import Carry, Cell, Params
from rtrl.grad.bptt import LossFn
from rtrl.grad.unroll import unroll


class Window(NamedTuple):
    carry: Carry  # the carry before xs[0]
    xs: jax.Array  # (T, B, input_size), oldest first
    resets: jax.Array  # (T, B) bool


def init_window(cell: Cell, params: Params, batch_size: int, truncation: int) -> Window:
    truncation = validate.positive_int("truncation", truncation)
    d = cell.input_size(params)
    dtype = params[cell.definition.input_param].dtype
    return Window(
        cell.initial_carry(params, batch_size),
        jnp.zeros((truncation, batch_size, d), dtype),
        jnp.ones((truncation, batch_size), bool),
    )


def push(cell: Cell, params: Params, window: Window, x_t: jax.Array, reset_t: jax.Array) -> Window:
    """Append (x_t, reset_t), dropping the oldest input and stepping the start carry over it."""
    carry, _ = cell.step(params, window.carry, window.xs[0], window.resets[0])
    xs = jnp.concatenate([window.xs[1:], x_t[None].astype(window.xs.dtype)])
    resets = jnp.concatenate([window.resets[1:], jnp.asarray(reset_t, bool)[None]])
    return Window(jax.lax.stop_gradient(carry), xs, resets)


def window_gradient(cell: Cell, params: Params, window: Window, target_t: jax.Array,
                    loss_fn: LossFn) -> tuple[jax.Array, jax.Array, Params]:
    """(loss, y_t, ∇θ loss) for the newest step, backpropagated through the window only."""

    def loss(p):
        _, ys = unroll(cell, p, window.carry, window.xs, window.resets)
        return loss_fn(ys[-1], target_t), ys[-1]

    (value, y_t), grads = jax.value_and_grad(loss, has_aux=True)(params)
    return value, y_t, grads
