"""The types a cell and a trace rule agree on: the carry, the trace-rule protocol, array aliases.

Kept apart from `rtrl.cells.base` so that the generic trace engines (`rtrl.cells.dense`,
`rtrl.cells.elementwise`) and `base` (which picks an engine) depend on this module only, one way:

    protocol ← dense, elementwise ← base ← the cell files (rtu, lru, gru, ...) ← rtrl.cells
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax

__all__ = ["Array", "Carry", "Params", "State", "TraceRule"]

Array = jax.Array
Params = dict[str, Array]
State = tuple[Array, ...]


class Carry(NamedTuple):
    """What a cell carries from one step to the next.

    state:  tuple of arrays, each (batch, state_size) — e.g. (h_re, h_im) for a complex layer.
    traces: RTRL sensitivities of the state w.r.t. the recurrent parameters, per batch element;
            ``()`` with ``gradient="bptt"``. Not differentiable: their cotangent is ignored.
    """

    state: State
    traces: Any


class TraceRule(Protocol):
    """How a cell keeps its RTRL traces (hand-derived or a generic engine).

    All arrays carry a leading batch axis; ``rec`` holds only the recurrent parameters.

    A rule may also provide the optional method

        replay(rec, state_tm1, traces_tm1, x_t, reset) -> state_t

    for a loss that re-applies ONE step from a stored carry (Real-Time PPO's minibatches): the
    same s_t as `update`, and under ``jax.grad`` the same parameter cotangent as
    ``contract(rec, e_t, δ_t)`` with e_t the traces `update` would build, plus the immediate input
    gradient, but without forming e_t. ``state_tm1`` and ``traces_tm1`` are the stored ones, not
    yet reset: the rule treats them as zero where ``reset`` (batch,) is true (it may fold that
    mask into δ_t instead of rewriting the traces). `rtrl.cells.base.Cell.replay` uses it when
    present and falls back to ``step`` otherwise. The RTU's rule provides it: the contraction
    Σ_b conj(δ_b)·e_t,b = λ·Σ_b conj(δ_b)·e_{t-1},b + Σ_b conj(δ_b)·b_t,b reads the stored
    (B, d, n) traces once and never writes a new one.
    """

    def init(self, rec: Params, state_0: State) -> Any:
        """Zero traces for the batch of the zero state ``state_0``."""

    def update(self, rec: Params, state_tm1: State, traces_tm1: Any, x_t: Array) -> tuple[State, Any]:
        """One step: the new state s_t and the traces ds_t/dθ (exact, through all past steps)."""

    def contract(self, rec: Params, traces_t: Any, delta_t: State) -> Params:
        """dL/dθ = Σ_batch Σ_units δ_t · ds_t/dθ, for δ_t = dL/ds_t."""
