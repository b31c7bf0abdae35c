"""∇_θ V_t by truncated BPTT through a rolling window of the last T observations.

The window (`rtrl.grad.tbptt`) holds o_{t-T+1..t}, their reset flags, and the cell's carry from
just before o_{t-T+1} (advanced one step per observation with the parameters of that step and
never differentiated). Each step pushes o_t, re-runs the T steps of the window with θ_t and
backpropagates V_t = w·y_t + b through them:

    ∇_θ V_t ≈ ∂/∂θ [ w·y_t + b ],  y_t = unroll(cell, θ_cell, carry_{t-T}, o_{t-T+1..t})

so influences older than T steps are cut. With T ≥ the number of steps since the last reset and θ
fixed it equals the exact (RTRL / full BPTT) gradient. Cost per step: T + 1 forward steps and T
backward steps, growing linearly in T.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from rtrl.cells.base import Cell
from rtrl.grad import tbptt
from rtrl.grad.unroll import unroll
from rtrl.learners.td_lambda import apply_head


@dataclasses.dataclass(frozen=True)
class TBPTTValue:
    """`ValueGradient` by T-BPTT with truncation T; ``cell`` must have ``gradient="bptt"``.

    Memory: the rolling `rtrl.grad.Window` of the last T observations (batch 1).
    """

    cell: Cell
    truncation: int
    head_activation: str = "identity"  # f of the value head's projection, if it has one

    def __post_init__(self):
        if self.cell.gradient != "bptt":
            raise ValueError(f"TBPTTValue needs a cell made with gradient='bptt', got {self.cell.gradient!r}.")

    def init_memory(self, params: dict[str, Any]) -> tbptt.Window:
        return tbptt.init_window(self.cell, params["cell"], 1, self.truncation)

    def value_and_grad(self, params: dict[str, Any], memory: tbptt.Window, o_t: jax.Array,
                       reset_t: jax.Array) -> tuple[tbptt.Window, jax.Array, dict[str, Any]]:
        window = tbptt.push(self.cell, params["cell"], memory, o_t[None], reset_t[None])

        def value(p):
            _, ys = unroll(self.cell, p["cell"], window.carry, window.xs, window.resets)
            return apply_head(p["head"], ys[-1, 0], self.head_activation)

        v_t, g_t = jax.value_and_grad(value)(params)
        return window, v_t, g_t
