"""Recurrent stacks: an optional MLP encoder under one or more recurrent layers.

`RecurrentStack` keeps the `Cell` contract, so anything that steps a cell steps a stack:

    stack = make_stack((rtrl.cells.make("rtu-linear", hidden_size=32),
                        rtrl.cells.make("lru", hidden_size=32)), encoder=(64,))
    params = stack.init(key, input_size)            # {"encoder": [layers], "cells": [p0, p1]}
    carry = stack.initial_carry(params, batch_size)  # (Carry of cell 0, Carry of cell 1)
    carry, y = stack.step(params, carry, x, reset)   # y (batch, stack.output_size)

At each step  z⁰_t = MLP(x_t)  (z⁰_t = x_t without an encoder)  and for layer k = 1..K
(s^k_t, z^k_t) = cell_k(s^k_{t-1}, z^{k-1}_t);  y_t = z^K_t.  The reset flags go to every layer.

Which gradients are exact
-------------------------
With ``gradient="rtrl"`` cells, the online gradient is ``jax.grad`` of the loss L_t of each step
through one `step` (the carry of step t−1 is data), summed over t. Each RTRL step treats its
incoming carry as a constant and gives its input only the immediate, one-step gradient
∂s^k_t/∂z^{k-1}_t. In a stack that means:

- every RTRL layer's own parameters get gradients that account for that layer's own recurrence
  exactly (through all steps since the last reset), with the loss's dependence on that layer's
  output flowing only through the layers above it at the same step;
- for the TOP recurrent layer (and anything above it, e.g. heads applied to y), gradients are
  exact (equal to full BPTT);
- for a LOWER recurrent layer, the path from its output at step t into the upper layer's state at
  later steps is cut (truncated): it gets δ from the upper layer's immediate input gradient only.
  Equivalently, layer k's gradient equals BPTT through the stack with the carried state of every
  layer above k held constant (``jax.lax.stop_gradient`` on it before each step);
- encoder parameters (below the first recurrent layer) get the immediate gradient only (one-step
  truncation: as if the recurrent state carried in were a constant), i.e. BPTT with the carried
  state of every recurrent layer held constant;
- with gradient="bptt" cells and jax.grad through an unrolled sequence, everything is exact BPTT.

Layers may mix gradient modes (`RecurrentStack.gradient` is then "mixed"); the rules above are
stated for stacks whose cells all use the same mode.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import jax.numpy as jnp

from rtrl import validate
from rtrl.cells.base import Carry, Cell
from rtrl.networks.mlp import apply_mlp, check_activation, check_sizes, init_mlp

StackParams = dict[str, Any]  # {"encoder": list[Layer], "cells": list[Params]}
StackCarry = tuple[Carry, ...]  # one Carry per recurrent layer, bottom first


@dataclasses.dataclass(frozen=True)
class RecurrentStack:
    """An MLP encoder (``encoder`` hidden widths, may be empty) under the recurrent ``cells``.

    Layer k+1's input is layer k's output y (size ``cells[k].output_size``); the first cell's
    input is the encoder's output (or x). Build with `make_stack`; constructing directly runs the
    same validation. Instances are hashable, so ``jax.jit`` can treat a stack as static.
    """

    cells: tuple[Cell, ...]
    encoder: tuple[int, ...] = ()
    encoder_activation: str = "tanh"

    def __post_init__(self):
        # Normalise lists to tuples (kept hashable) after validating.
        object.__setattr__(self, "cells", _check_cells(self.cells))
        object.__setattr__(self, "encoder", check_sizes(self.encoder, "encoder"))
        check_activation(self.encoder_activation, "encoder_activation")

    # -- the Cell contract ------------------------------------------------------------------

    @property
    def output_size(self) -> int:
        """Size of y: the top cell's output size."""
        return self.cells[-1].output_size

    @property
    def gradient(self) -> str:
        """"rtrl" or "bptt" when every cell uses that mode, else "mixed"."""
        modes = {cell.gradient for cell in self.cells}
        return modes.pop() if len(modes) == 1 else "mixed"

    @property
    def dtype(self) -> Any:
        """The encoder's dtype: the first cell's."""
        return self.cells[0].dtype

    def input_size(self, params: StackParams) -> int:
        """The input size ``params`` were initialised for."""
        self._check_params(params)
        if params["encoder"]:
            return int(params["encoder"][0]["kernel"].shape[0])
        return self.cells[0].input_size(params["cells"][0])

    def init(self, key: jax.Array, input_size: int) -> StackParams:
        """Parameters for inputs of size ``input_size``: {"encoder": [...], "cells": [...]}."""
        input_size = validate.positive_int("input_size", input_size)
        k_encoder, *k_cells = jax.random.split(key, 1 + len(self.cells))
        encoder = init_mlp(k_encoder, input_size, self.encoder, self.dtype)
        cells, d_in = [], (self.encoder[-1] if self.encoder else input_size)
        for cell, k in zip(self.cells, k_cells):
            cells.append(cell.init(k, d_in))
            d_in = cell.output_size
        return {"encoder": encoder, "cells": cells}

    def initial_carry(self, params: StackParams, batch_size: int) -> StackCarry:
        """Each cell's zero carry for ``batch_size`` sequences, bottom layer first."""
        self._check_params(params)
        return tuple(cell.initial_carry(p, batch_size) for cell, p in zip(self.cells, params["cells"]))

    def step(self, params: StackParams, carry: StackCarry, x: jax.Array,
             reset: jax.Array) -> tuple[StackCarry, jax.Array]:
        """Advance every layer one step.

        Args:
          params: from `init`.
          carry: from `initial_carry` or the previous step.
          x: (batch, input_size) input at this step.
          reset: (batch,) bool; true zeroes every layer's state (and traces) before this step.
        Returns:
          (new carry, y) with y of shape (batch, output_size).
        """
        self._check_params(params)
        if not isinstance(carry, tuple) or isinstance(carry, Carry) or len(carry) != len(self.cells):
            got = type(carry).__name__ + (f" of length {len(carry)}" if isinstance(carry, tuple) else "")
            raise ValueError(f"RecurrentStack.step: carry must be the tuple of {len(self.cells)} Carry (one per "
                             f"cell) from initial_carry or a previous step, got {got}.")
        z = jnp.asarray(x)
        if params["encoder"]:
            # The encoder would broadcast or fail obscurely; the cells check everything else.
            d_in = self.input_size(params)
            if z.ndim != 2 or z.shape[1] != d_in:
                raise ValueError(f"RecurrentStack.step: x must have shape (batch, {d_in}) to match the encoder's "
                                 f"input size, got {tuple(z.shape)}. Add a batch axis (x[None]) for a single "
                                 "sequence.")
            z = apply_mlp(params["encoder"], z.astype(params["encoder"][0]["kernel"].dtype),
                          self.encoder_activation)
        new_carry = []
        for cell, p, c in zip(self.cells, params["cells"], carry):
            c, z = cell.step(p, c, z, reset)  # the cell validates z against p, and reset
            new_carry.append(c)
        return tuple(new_carry), z

    # -- helpers ----------------------------------------------------------------------------

    def _check_params(self, params: Any) -> None:
        if not isinstance(params, dict) or set(params) != {"encoder", "cells"}:
            got = sorted(params) if isinstance(params, dict) else type(params).__name__
            raise ValueError(f"RecurrentStack: params must be the dict with keys ['cells', 'encoder'] from init, "
                             f"got {got}.")
        if len(params["cells"]) != len(self.cells) or len(params["encoder"]) != len(self.encoder):
            raise ValueError(f"RecurrentStack: params have {len(params['encoder'])} encoder layer(s) and "
                             f"{len(params['cells'])} cell(s), but this stack has {len(self.encoder)} and "
                             f"{len(self.cells)}; make them with this stack's init.")


def make_stack(cells: Sequence[Cell], *, encoder: Sequence[int] = (),
               encoder_activation: str = "tanh") -> RecurrentStack:
    """A `RecurrentStack` of ``cells`` (bottom first, at least one, from `rtrl.cells.make`) over an
    MLP encoder with hidden widths ``encoder`` (``()``: no encoder) and ``encoder_activation``
    ("tanh" or "relu")."""
    return RecurrentStack(cells, encoder, encoder_activation)


def _check_cells(cells: Any) -> tuple[Cell, ...]:
    if isinstance(cells, Cell):
        raise ValueError("cells must be a sequence of Cells (bottom layer first), got a single Cell; "
                         "wrap it as (cell,).")
    if isinstance(cells, str) or not isinstance(cells, Sequence):
        raise ValueError(f"cells must be a non-empty sequence of Cells made with rtrl.cells.make, "
                         f"got {type(cells).__name__}.")
    cells = tuple(cells)
    if not cells:
        raise ValueError("cells must hold at least one Cell (made with rtrl.cells.make), got an empty sequence.")
    for i, cell in enumerate(cells):
        if not isinstance(cell, Cell):
            raise ValueError(f"cells[{i}] must be a Cell made with rtrl.cells.make, got {type(cell).__name__} "
                             f"({cell!r}).")
    return cells
