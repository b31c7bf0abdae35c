"""Recurrent cells with exact RTRL: the registry and the public contract.

    cell = rtrl.cells.make("rtu-linear", hidden_size=64, gradient="rtrl")
    params = cell.init(key, input_size)
    carry = cell.initial_carry(params, batch_size)
    carry, y = cell.step(params, carry, x, reset)     # x (batch, input_size), reset (batch,) bool

`names()` lists the cells. `make` also accepts a `CellDef` of your own: an element-wise
recurrence then gets exact RTRL from the generic engine with no hand-derived traces.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Mapping

import jax.numpy as jnp

from rtrl import validate
from rtrl.cells.base import GRADIENTS, Carry, Cell, CellDef, TraceRule, rtrl_transition
from rtrl.cells.dense import DenseRTRL
from rtrl.cells.elementwise import ElementwiseRTRL
from rtrl.cells.elstm import ELSTM
from rtrl.cells.gru import GRU
from rtrl.cells.lru import LRU
from rtrl.cells.lstm import LSTM
from rtrl.cells.rnn import RNN
from rtrl.cells.rtu import RTU_LINEAR, RTU_NONLINEAR
from rtrl.frozendict import FrozenDict

__all__ = [
    "Carry",
    "Cell",
    "CellDef",
    "DenseRTRL",
    "ElementwiseRTRL",
    "GRADIENTS",
    "TRACES",
    "TraceRule",
    "definition",
    "freeze_options",
    "make",
    "names",
    "normalise_options",
    "rtrl_transition",
]

_REGISTRY: dict[str, CellDef] = {d.name: d for d in (RTU_LINEAR, RTU_NONLINEAR, LRU, ELSTM, GRU, LSTM, RNN)}

TRACES = ("hand", "elementwise", "dense")


def names() -> list[str]:
    """The names `make` accepts, in a stable order."""
    return list(_REGISTRY)


def definition(name: str) -> CellDef:
    """The `CellDef` registered under ``name`` (raises with the valid names if unknown)."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown cell {name!r}; valid cells: {', '.join(_REGISTRY)}.{hint}")
    return _REGISTRY[name]


def make(
    name: str | CellDef,
    *,
    hidden_size: int,
    gradient: str = "rtrl",
    dtype: Any = "float32",
    traces: str | None = None,
    **options: Any,
) -> Cell:
    """Build a cell.

    Args:
      name: one of `names()`, or a `CellDef`.
      hidden_size: number of recurrent units (the RTU and LRU count complex units).
      gradient: "rtrl" (exact real-time gradients through the traces) or "bptt" (the plain
        differentiable forward, for backprop through time).
      dtype: "float32" (default) or "float64" (needs ``jax.config.update("jax_enable_x64", True)``).
      traces: with RTRL, which rule keeps the traces: "hand" (hand-derived, the default where one
        exists), "elementwise" (the generic engine for element-wise cells) or "dense" (full
        O(n⁴) Jacobians; the default for the dense cells).
      **options: the cell's own options (see ``definition(name).options``).
    """
    d = name if isinstance(name, CellDef) else definition(name)
    hidden_size = validate.positive_int("hidden_size", hidden_size)
    validate.choice("gradient", gradient, GRADIENTS)
    dtype = _check_dtype(dtype)
    valid = [f.name for f in dataclasses.fields(d.options)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        accepted = ", ".join(valid) if valid else "none"
        raise ValueError(f"cell {d.name!r} does not take option(s) {', '.join(unknown)}; "
                         f"its options are: {accepted} (and hidden_size, gradient, dtype, traces).")
    try:
        opts = d.options(**options)
    except TypeError as e:  # a wrongly typed value that the dataclass could not take
        raise ValueError(f"cell {d.name!r}: bad option value: {e}") from None
    return dataclasses.replace(
        Cell(d, hidden_size, gradient, opts, dtype, "dense"), traces=_check_traces(d, traces)
    )


def freeze_options(options: Any, *, field: str = "cell_options") -> FrozenDict:
    """Cell options as an immutable, hashable `FrozenDict`, so that configs holding them hash.

    Accepts a mapping or a tuple of (name, value) pairs; anything else is a ValueError naming ``field``.
    """
    if isinstance(options, Mapping):
        items = list(options.items())
    elif isinstance(options, tuple) and all(isinstance(p, tuple) and len(p) == 2 for p in options):
        items = list(options)
    else:
        raise ValueError(f"{field} must be a mapping of option name to value, got {options!r}.")
    if any(not isinstance(k, str) for k, _ in items):
        raise ValueError(f"{field} keys must be option names (str), got {options!r}.")
    return FrozenDict(items)


def normalise_options(options: Any) -> tuple[tuple[str, Any], ...]:
    """Cell options as a sorted tuple of (name, value) pairs (hashable); see `freeze_options`, which
    configs should prefer."""
    return tuple(freeze_options(options).items())


def _check_traces(d: CellDef, traces: str | None) -> str:
    allowed = [t for t in TRACES if (t != "hand" or d.hand_traces) and (t != "elementwise" or d.elementwise)]
    if traces is None:
        return allowed[0]
    if traces not in allowed:
        raise ValueError(f"traces={traces!r} is not available for cell {d.name!r}; choose one of {allowed}.")
    return traces


def _check_dtype(dtype: Any):
    return jnp.dtype(validate.float_dtype("dtype", dtype))
