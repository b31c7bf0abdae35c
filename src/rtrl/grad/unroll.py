"""Run any cell over a sequence with `lax.scan` (the sequence runner, kept apart from the cells)."""

from __future__ import annotations

import jax

from rtrl.cells.base import Carry, Cell, Params


def unroll(cell: Cell, params: Params, carry: Carry, xs: jax.Array, resets: jax.Array) -> tuple[Carry, jax.Array]:
    """Step ``cell`` over xs (T, batch, input_size) with resets (T, batch); returns (carry, ys (T, batch, out))."""

    def body(carry, inputs):
        x_t, reset_t = inputs
        return cell.step(params, carry, x_t, reset_t)

    return jax.lax.scan(body, carry, (xs, resets))
