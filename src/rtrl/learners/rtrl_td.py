"""∇_θ V_t by exact RTRL: one `jax.grad` through one step of a ``gradient="rtrl"`` cell.

The cell's carry holds its state and the RTRL traces ∂s_t/∂θ_cell accumulated since the last
reset, so differentiating V_t = w·y_t + b through one `Cell.step` gives the total derivative
through every past step (the carry is a constant; the custom VJP contracts the traces):

    (s_t, e_t), y_t = cell.step(θ_cell, (s_{t-1}, e_{t-1}), o_t, reset_t)
    ∇_{θ_cell} V_t = Σ_units (∂V_t/∂s_t)·e_t (+ the readout's own parameters),
    ∇_w V_t = y_t,  ∇_b V_t = 1.

Exact when θ is fixed; while θ changes, e_t mixes the parameters of past steps (the usual online
RTRL approximation, Williams & Zipser 1989). Cost per step is the cell's RTRL cost (O(n·d) for
the RTU, LRU and eLSTM; O(n⁴) for the dense cells). Elelimy et al. 2024 (arXiv 2409.01449).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from rtrl.cells.base import Carry, Cell
from rtrl.learners.td_lambda import apply_head


@dataclasses.dataclass(frozen=True)
class RTRLValue:
    """`ValueGradient` by RTRL; ``cell`` must have ``gradient="rtrl"``. Memory: the cell's Carry (batch 1)."""

    cell: Cell
    head_activation: str = "identity"  # f of the value head's projection, if it has one

    def __post_init__(self):
        if self.cell.gradient != "rtrl":
            raise ValueError(f"RTRLValue needs a cell made with gradient='rtrl', got {self.cell.gradient!r}.")

    def init_memory(self, params: dict[str, Any]) -> Carry:
        return self.cell.initial_carry(params["cell"], 1)

    def value_and_grad(self, params: dict[str, Any], memory: Carry, o_t: jax.Array,
                       reset_t: jax.Array) -> tuple[Carry, jax.Array, dict[str, Any]]:
        def value(p):
            carry_t, y_t = self.cell.step(p["cell"], memory, o_t[None], reset_t[None])
            return apply_head(p["head"], y_t[0], self.head_activation), carry_t

        (v_t, carry_t), g_t = jax.value_and_grad(value, has_aux=True)(params)
        return carry_t, v_t, g_t
