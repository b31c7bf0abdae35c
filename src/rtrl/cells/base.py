"""The cell contract: one recurrent cell's maths (`CellDef`) wrapped with a gradient mode (`Cell`).

A cell file provides a `CellDef`: how to initialise parameters, the state transition
``s_t = transition(θ_rec, s_{t-1}, x_t)``, the readout ``y_t = readout(θ, s_t, x_t)`` and, for
RTRL, a trace rule (hand-derived, or one of the generic engines). `Cell` turns that into the
public contract

    params = cell.init(key, input_size)
    carry = cell.initial_carry(params, batch_size)
    carry, y = cell.step(params, carry, x, reset)
    y = cell.replay(params, carry, x, reset)       # the same y_t for a loss from a stored carry

With ``gradient="rtrl"`` the step is wrapped in a `jax.custom_vjp` whose parameter cotangent
is the contraction of the RTRL traces with the cotangent of the new state: ``jax.grad`` of any
loss of ``y_t`` then returns the exact total derivative through every step since the last reset,
while the incoming carry is a constant and the input gets its immediate (one-step) gradient.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp

from rtrl import validate
from rtrl.cells.dense import DenseRTRL
from rtrl.cells.elementwise import ElementwiseRTRL
from rtrl.cells.protocol import Array, Carry, Params, State, TraceRule

__all__ = ["GRADIENTS", "Array", "Carry", "Cell", "CellDef", "Params", "State", "TraceRule", "rtrl_transition"]

GRADIENTS = ("rtrl", "bptt")


@dataclasses.dataclass(frozen=True)
class CellDef:
    """The maths of one cell. Functions are batched: x (B, d), state components (B, S)."""

    name: str
    options: type  # frozen dataclass of the cell's options, validated in __post_init__
    init: Callable[..., Params]  # (key, input_size, hidden_size, options, dtype) -> params
    state_sizes: Callable[[int, Any], tuple[int, ...]]  # (hidden_size, options) -> sizes
    output_size: Callable[[int, Any], int]  # (hidden_size, options) -> size of y
    recurrent: tuple[str, ...]  # parameters inside the recurrence (they get traces)
    transition: Callable[..., State]  # (rec, state_tm1, x_t, options) -> state_t
    readout: Callable[..., Array]  # (params, state_t, x_t, options) -> y_t
    input_param: str  # a parameter whose first axis is the input size
    hand_traces: Callable[[Any], TraceRule] | None = None  # (options) -> hand-derived rule
    elementwise: bool = False  # the generic element-wise engine applies (unit axis last everywhere)
    summary: str = ""


# --------------------------------------------------------------------------------------------
# The RTRL step as a custom VJP.
# --------------------------------------------------------------------------------------------


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def rtrl_transition(rule, transition, rec, x_t, state_tm1, traces_tm1):
    """s_t, e_t = rule.update(...); its VJP gives θ the trace contraction and x the one-step gradient."""
    return rule.update(rec, state_tm1, traces_tm1, x_t)


def _rtrl_fwd(rule, transition, rec, x_t, state_tm1, traces_tm1):
    state_t, traces_t = rule.update(rec, state_tm1, traces_tm1, x_t)
    return (state_t, traces_t), (rec, x_t, state_tm1, traces_t)


def _rtrl_bwd(rule, transition, residuals, cotangents):
    rec, x_t, state_tm1, traces_t = residuals
    delta_t, _ = cotangents  # the traces' cotangent is ignored: traces are not differentiable
    grad_rec = rule.contract(rec, traces_t, delta_t)
    # Immediate gradient for the input: the carried state is a constant.
    _, vjp_x = jax.vjp(lambda x: transition(rec, state_tm1, x), x_t)
    (grad_x,) = vjp_x(delta_t)
    zeros_state = jax.tree.map(jnp.zeros_like, state_tm1)
    zeros_traces = jax.tree.map(jnp.zeros_like, traces_t)
    return grad_rec, grad_x, zeros_state, zeros_traces


rtrl_transition.defvjp(_rtrl_fwd, _rtrl_bwd)


# --------------------------------------------------------------------------------------------
# The public cell.
# --------------------------------------------------------------------------------------------


def _mask(reset: Array, tree: Any) -> Any:
    """Zero every leaf (leading axis = batch) where reset is true."""

    def zero(a):
        keep = jnp.logical_not(reset).reshape(reset.shape + (1,) * (a.ndim - 1))
        return jnp.where(keep, a, jnp.zeros((), a.dtype))

    return jax.tree.map(zero, tree)


@dataclasses.dataclass(frozen=True)
class Cell:
    """A recurrent cell with a gradient mode; see the module docstring for the contract.

    Build with `rtrl.cells.make`. Instances are hashable, so ``jax.jit(cell.step)`` works.
    """

    definition: CellDef
    hidden_size: int
    gradient: str
    options: Any
    dtype: Any
    traces: str  # "hand", "elementwise" or "dense": which rule keeps the RTRL traces

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def output_size(self) -> int:
        """Size of y (the RTU gives 2·hidden_size features)."""
        return self.definition.output_size(self.hidden_size, self.options)

    @property
    def state_sizes(self) -> tuple[int, ...]:
        return self.definition.state_sizes(self.hidden_size, self.options)

    def input_size(self, params: Params) -> int:
        """The input size ``params`` were initialised for."""
        return int(params[self.definition.input_param].shape[0])

    def init(self, key: Array, input_size: int) -> Params:
        """Parameters for inputs of size ``input_size`` (a dict of arrays in ``self.dtype``)."""
        input_size = validate.positive_int("input_size", input_size)
        params = self.definition.init(key, int(input_size), self.hidden_size, self.options, self.dtype)
        return {k: jnp.asarray(v, self.dtype) for k, v in params.items()}

    def initial_carry(self, params: Params, batch_size: int) -> Carry:
        """Zero state (and zero traces with RTRL) for ``batch_size`` sequences."""
        batch_size = validate.positive_int("batch_size", batch_size)
        dtype = params[self.definition.input_param].dtype
        state = tuple(jnp.zeros((batch_size, s), dtype) for s in self.state_sizes)
        if self.gradient == "bptt":
            return Carry(state, ())
        traces = self._trace_rule().init(self._recurrent(params), state)
        return Carry(state, traces)

    def step(self, params: Params, carry: Carry, x: Array, reset: Array) -> tuple[Carry, Array]:
        """Advance one step.

        Args:
          params: from `init`.
          carry: from `initial_carry` or the previous step.
          x: (batch, input_size) input at this step.
          reset: (batch,) bool; true zeroes the state (and traces) *before* this step — the
            first step of a new episode.
        Returns:
          (new carry, y) with y of shape (batch, output_size).
        """
        x, reset = self._check_step_inputs(params, carry, x, reset)
        state_tm1 = _mask(reset, carry.state)
        rec = self._recurrent(params)
        d = self.definition
        if self.gradient == "bptt":
            state_t = d.transition(rec, state_tm1, x, self.options)
            traces_t = ()
        else:
            traces_tm1 = _mask(reset, carry.traces)
            state_t, traces_t = rtrl_transition(self._trace_rule(), self._transition(), rec, x, state_tm1,
                                                traces_tm1)
        y = d.readout(params, state_t, x, self.options)
        return Carry(state_t, traces_t), y

    def replay(self, params: Params, carry: Carry, x: Array, reset: Array) -> Array:
        """y_t one step on from a stored ``carry`` (reset where ``reset``), for a loss.

        The same value and the same gradients as ``step(params, carry, x, reset)[1]``; where the
        trace rule provides a fused ``replay`` (see `TraceRule`; the RTUs) the RTRL contraction
        reads the stored traces once instead of building the next ones.
        """
        rule = self._trace_rule() if self.gradient == "rtrl" else None
        fused = getattr(rule, "replay", None)
        if fused is None:
            return self.step(params, carry, x, reset)[1]
        x, reset = self._check_step_inputs(params, carry, x, reset)
        state_t = fused(self._recurrent(params), carry.state, carry.traces, x, reset)
        return self.definition.readout(params, state_t, x, self.options)

    # -- helpers ---------------------------------------------------------------------------

    def _transition(self) -> Callable[[Params, State, Array], State]:
        return functools.partial(_bound_transition, self.definition.transition, self.options)

    def _trace_rule(self) -> TraceRule:
        if self.traces == "hand":
            return self.definition.hand_traces(self.options)
        if self.traces == "elementwise":
            return ElementwiseRTRL(self._transition())
        return DenseRTRL(self._transition())

    def _recurrent(self, params: Params) -> Params:
        return {k: params[k] for k in self.definition.recurrent}

    def _check_step_inputs(self, params, carry, x, reset):
        if not isinstance(carry, Carry):
            raise TypeError(f"{self.name}.step: carry must be the Carry from initial_carry or a previous "
                            f"step, got {type(carry).__name__}.")
        x = jnp.asarray(x)
        d_in = self.input_size(params)
        if x.ndim != 2 or x.shape[1] != d_in:
            raise ValueError(f"{self.name}.step: x must have shape (batch, {d_in}) to match the parameters, "
                             f"got {tuple(x.shape)}. Add a batch axis (x[None]) for a single sequence.")
        batch = carry.state[0].shape[0]
        if x.shape[0] != batch:
            raise ValueError(f"{self.name}.step: x has batch size {x.shape[0]} but the carry was made for "
                             f"batch size {batch}.")
        reset = jnp.asarray(reset)
        if reset.shape != (batch,):
            raise ValueError(f"{self.name}.step: reset must have shape ({batch},) (one flag per sequence), "
                             f"got {tuple(reset.shape)}.")
        if not (reset.dtype == jnp.bool_ or jnp.issubdtype(reset.dtype, jnp.integer)):
            raise TypeError(f"{self.name}.step: reset must be bool (true = first step of an episode), "
                            f"got dtype {reset.dtype}.")
        if (self.gradient == "rtrl") != bool(jax.tree.leaves(carry.traces)):
            raise ValueError(f"{self.name}.step: the carry does not match gradient={self.gradient!r}; "
                             "make it with this cell's initial_carry.")
        return x.astype(params[self.definition.input_param].dtype), reset.astype(jnp.bool_)


def _bound_transition(transition, options, rec, state, x):
    return transition(rec, state, x, options)

