"""Cost model: FLOPs and floats of memory per step for each cell, with RTRL and with T-BPTT.

Used to compare learners at equal compute (for example RTU with RTRL against GRU with T-BPTT of
truncation T at the same FLOPs per step). The counts follow this implementation's operations
under one convention:

* an elementwise add, subtract, multiply, divide or compare is 1 FLOP per element, and so is an
  elementary function (exp, log, sin, cos, sqrt, tanh, sigmoid);
* a vector–matrix product (1×d)·(d×n) is 2·d·n FLOPs;
* work that depends on parameters only (λ = g + iφ from ν_log, θ_log; γ) is done once per step
  for the whole batch ("shared"); everything else is per sequence of the batch;
* one backward step of autodiff costs 2× its forward step (one product for the input or state
  gradient, one for the weight gradient — the usual convention);
* summing a gradient over the batch costs one add per element per sequence.

Methods (per step of the stream):

* ``forward``: the cell's step, transition and readout.
* ``rtrl``: forward + trace update + the parameter gradient of a loss of y (backprop from y to the
  state through the readout, then the contraction of δ with the traces). The input's immediate
  gradient is not counted.
* ``tbptt`` with truncation T, a rolling window updated every step (`rtrl.grad.tbptt`): the start
  carry advances one step, the window's T steps are recomputed and backpropagated:
  (T + 1) forward steps + T backward steps = (3T + 1) forward steps.

Memory is the floats the learning algorithm holds per step, excluding parameters and optimiser
state (the same for every method): ``forward`` the state; ``rtrl`` state + traces; ``tbptt`` the
start state, T inputs and the activations a backward pass keeps for each of the T steps.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

from rtrl import validate
from rtrl.cells import definition

METHODS = ("forward", "rtrl", "tbptt")


class Counts(NamedTuple):
    per_sequence: int  # for each sequence of the batch
    shared: int = 0  # once per step for the whole batch


@dataclasses.dataclass(frozen=True)
class StepCost:
    """Cost of one step for a batch. FLOPs and memory in floats (multiply by 4 for float32 bytes)."""

    cell: str
    method: str
    flops: int
    memory: int
    forward_flops: int  # one forward step, for the batch
    parameters: int


@dataclasses.dataclass(frozen=True)
class _CellCounts:
    forward: Callable[[int, int, Any], Counts]  # (d, n, options)
    learning: Callable[[int, int, Any], Counts] | None  # hand-derived RTRL beyond the forward
    state: Callable[[int], int]  # floats of state per sequence, from n
    traces: Callable[[int, int, Any], int] | None  # floats of traces per sequence (hand rule)
    saved: Callable[[int, int, Any], int]  # floats an autodiff backward keeps per step
    parameters: Callable[[int, int, Any], int]
    # parameters of the transition (the dense engine's traces cover these; the readout's get ordinary
    # gradients); None: all of them
    recurrent: Callable[[int, int, Any], int] | None = None


def _activation_flops(options: Any, n: int) -> int:
    """f over n elements; the identity costs nothing."""
    return 0 if options.activation == "identity" else n


def _rtu_linear_forward(d, n, o):
    # x W1, x W2: 4dn; rotation g·h1 − φ·h2, g·h2 + φ·h1: 6n; + γ·u twice: 4n; y = f([h1, h2]): 2n
    # shared: e^ν, −, exp, e^θ, cos, ·r, sin, ·r, r², 1 −, + eps, sqrt: 12n
    return Counts(4 * d * n + 10 * n + 2 * _activation_flops(o, n), 12 * n)


def _rtu_nonlinear_forward(d, n, o):
    # same pre-activations; h = f(a) on both components; y = [h1, h2] is free
    return Counts(4 * d * n + 10 * n + 2 * _activation_flops(o, n), 12 * n)


# shared derivative coefficients of the RTU: ∂g/∂ν, ∂φ/∂ν (2n each), ∂γ/∂ν (2n), ∂g/∂θ (2n), ∂φ/∂θ (n)
_RTU_DERIVATIVE_COEFFICIENTS = 9


def _rtu_linear_learning(d, n, o):
    # traces: ν 18n (two rotations 12n, two sums 2n, ∂γ·u 4n), θ 14n (two rotations, two sums),
    #         W1 8dn (rotation 6dn, γ·x dn, + dn)
    # contraction: ν, θ 4n each; W1, W2 4dn each; −δ1 for W2 n
    # readout backward: f'(a) and its product with δ, on 2n features (none for the identity)
    act = 2 * 2 * _activation_flops(o, n)
    per = (8 * d * n + 32 * n) + (8 * d * n + 9 * n) + act
    return Counts(per, _RTU_DERIVATIVE_COEFFICIENTS * n)


def _rtu_nonlinear_learning(d, n, o):
    # traces before f': ν 18n, θ 14n, W1 8dn, W2 7dn (γ·x shared with W1)
    # f'(a) on 2n; multiplying every trace by it: ν 2n, θ 2n, W 4dn (skipped for the identity)
    # contraction: ν, θ 4n each; W1, W2 4dn each; readout [h1, h2] is free
    pre = 15 * d * n + 32 * n
    fprime = 0 if o.activation == "identity" else 2 * n + 4 * n + 4 * d * n
    return Counts(pre + fprime + 8 * d * n + 8 * n, _RTU_DERIVATIVE_COEFFICIENTS * n)


def _lru_forward(d, n, o):
    # x B_re, x B_im: 4dn; rotation 6n; + γ·u: 4n; y = h_re C_re − h_im C_im: 4n² + n; x D: 2dn + n
    # shared: e^ν, −, exp, e^θ, cos, sin, ·r, ·r (8n); γ = e^{γ_log} (n)
    skip = 2 * d * n + n if o.use_d else 0
    return Counts(4 * d * n + 10 * n + 4 * n * n + n + skip, 9 * n)


def _lru_learning(d, n, o):
    # traces: ν, θ, γ each rotation 6n + 4n; B: rotation 6dn + γ·x dn + add dn
    # contraction: ν, θ, γ 4n each; B_re, B_im 4dn each; −δ_re for B_im n
    # readout backward: δ_h = (δ_y C_reᵀ, −δ_y C_imᵀ) 4n² + n; dC_re, dC_im 4n² + n; dD 2dn
    skip = 2 * d * n if o.use_d else 0
    return Counts((8 * d * n + 30 * n) + (8 * d * n + 13 * n) + (8 * n * n + 2 * n) + skip)


def _elstm_forward(d, n, o):
    # x F, x Z: 4dn; each gate w⊙c, + xF, + b, σ/tanh: 4n each; c = f c + (1 − f) z: 4n
    # readout: [x, c] O: 2(d + n)n; + b_o, σ, o⊙c: 3n
    return Counts(4 * d * n + 12 * n + 2 * (d + n) * n + 3 * n)


def _elstm_learning(d, n, o):
    # ẑ 4n, f̂ 4n, J 4n; T_Z, T_F 3dn each; t_wz, t_wf 3n each; t_bz, t_bf 2n each
    # contraction (multiply, accumulate): F, Z 2dn each; four vectors 2n each
    # readout backward: δ_c = δ_y·o + (δ_y·c·o(1 − o)) O_cᵀ: 2n² + 6n; dO 2(d + n)n; db_o n
    traces = 6 * d * n + 22 * n
    contraction = 4 * d * n + 8 * n
    readout = 2 * n * n + 6 * n + 2 * (d + n) * n + n
    return Counts(traces + contraction + readout)


def _gru_forward(d, n, o):
    # x W_i 6dn + b_i 3n; h W_h 6n² + b_h 3n; r, u: add + σ 2n each; c: r⊙h_c, +, tanh 3n;
    # h' = (1 − u) c + u h: 4n
    return Counts(6 * d * n + 6 * n * n + 17 * n)


def _lstm_forward(d, n, o):
    # x W_i 8dn; h W_h 8n²; two adds 8n; σ(f + b_f) 2n; σ(i), tanh(g), σ(o) 3n; c 3n; tanh(c), h 2n
    return Counts(8 * d * n + 8 * n * n + 18 * n)


def _rnn_forward(d, n, o):
    # x W 2dn; h U 2n²; two adds 2n; tanh n
    return Counts(2 * d * n + 2 * n * n + 3 * n)


_CELLS: dict[str, _CellCounts] = {
    "rtu-linear": _CellCounts(
        _rtu_linear_forward, _rtu_linear_learning, lambda n: 2 * n,
        traces=lambda d, n, o: 2 * d * n + 4 * n,  # ν, θ pairs; W1 pair (W2 = i·W1)
        saved=lambda d, n, o: 6 * n,  # u1, u2, h1, h2, y (2n)
        parameters=lambda d, n, o: 2 * n + 2 * d * n,
    ),
    "rtu-nonlinear": _CellCounts(
        _rtu_nonlinear_forward, _rtu_nonlinear_learning, lambda n: 2 * n,
        traces=lambda d, n, o: 4 * d * n + 4 * n,  # ν, θ pairs; W1, W2 pairs
        saved=lambda d, n, o: 6 * n,  # u1, u2, a1, a2, h1, h2
        parameters=lambda d, n, o: 2 * n + 2 * d * n,
    ),
    "lru": _CellCounts(
        _lru_forward, _lru_learning, lambda n: 2 * n,
        traces=lambda d, n, o: 2 * d * n + 6 * n,  # ν, θ, γ pairs; B_re pair (B_im = i·B_re)
        saved=lambda d, n, o: 5 * n,  # u (2n), h (2n), y
        parameters=lambda d, n, o: 3 * n + 2 * d * n + 2 * n * n + (d * n if o.use_d else 0),
        recurrent=lambda d, n, o: 3 * n + 2 * d * n,  # ν, θ, γ, B_re, B_im (not C, D)
    ),
    "elstm": _CellCounts(
        _elstm_forward, _elstm_learning, lambda n: n,
        traces=lambda d, n, o: 2 * d * n + 4 * n,  # F, Z; w_f, w_z, b_f, b_z
        saved=lambda d, n, o: 5 * n,  # f, z, c, o, y
        parameters=lambda d, n, o: 2 * d * n + 4 * n + (d + n) * n + n,
        recurrent=lambda d, n, o: 2 * d * n + 4 * n,  # F, Z, w_f, w_z, b_f, b_z (not the readout O, b_o)
    ),
    "gru": _CellCounts(
        _gru_forward, None, lambda n: n, traces=None,
        saved=lambda d, n, o: 10 * n,  # x W_i + b (3n), h W_h + b (3n), r, u, c, h
        parameters=lambda d, n, o: 3 * d * n + 3 * n * n + 6 * n,
    ),
    "lstm": _CellCounts(
        _lstm_forward, None, lambda n: 2 * n, traces=None,
        saved=lambda d, n, o: 8 * n,  # gates (4n), c, tanh(c), h, σ(o)
        parameters=lambda d, n, o: 4 * d * n + 4 * n * n + 4 * n,
    ),
    "rnn": _CellCounts(
        _rnn_forward, None, lambda n: n, traces=None,
        saved=lambda d, n, o: 2 * n,  # pre-activation, h
        parameters=lambda d, n, o: d * n + n * n + n,
    ),
}


def names() -> list[str]:
    return list(_CELLS)


def parameter_count(cell: str, *, hidden_size: int, input_size: int, **options: Any) -> int:
    """Number of parameters of the cell (recurrent and readout)."""
    counts, opts = _lookup(cell, options)
    _check_sizes(hidden_size=hidden_size, input_size=input_size)
    return counts.parameters(input_size, hidden_size, opts)


def step_cost(cell: str, *, hidden_size: int, input_size: int, method: str, truncation: int | None = None,
              batch_size: int = 1, traces: str = "default", **options: Any) -> StepCost:
    """FLOPs and floats of memory of one step for a batch (see the module docstring).

    Args:
      cell: a cell name (`rtrl.cells.names()`).
      method: "forward", "rtrl" or "tbptt".
      truncation: T for "tbptt" (required there, rejected elsewhere).
      traces: for "rtrl": "default" (the cell's default rule), "hand" or "dense".
      **options: the cell's options (e.g. activation, use_d), as for `rtrl.cells.make`.
    """
    counts, opts = _lookup(cell, options)
    _check_sizes(hidden_size=hidden_size, input_size=input_size, batch_size=batch_size)
    validate.choice("method", method, METHODS)
    if method == "tbptt":
        if truncation is None:
            raise ValueError("method='tbptt' needs truncation, a positive integer; got None.")
        truncation = validate.positive_int("truncation", truncation, what="(T of method='tbptt')")
    elif truncation is not None:
        raise ValueError(f"truncation applies to method='tbptt' only, got truncation={truncation} with "
                         f"method={method!r}.")
    d, n, b = input_size, hidden_size, batch_size
    fwd = counts.forward(d, n, opts)
    forward_flops = b * fwd.per_sequence + fwd.shared
    state = counts.state(n)
    params = counts.parameters(d, n, opts)
    if method == "forward":
        flops, memory = forward_flops, b * state
    elif method == "tbptt":
        flops = (3 * truncation + 1) * forward_flops
        memory = b * (state + truncation * (d + counts.saved(d, n, opts)))
    else:
        rule = _rtrl_rule(cell, counts, traces)
        if rule == "hand":
            learn = counts.learning(d, n, opts)
            flops = forward_flops + b * learn.per_sequence + learn.shared
            memory = b * (state + counts.traces(d, n, opts))
        else:
            flops, memory = _dense_rtrl(counts, d, n, b, opts, forward_flops)
    return StepCost(cell, method, int(flops), int(memory), int(forward_flops), int(params))


def _dense_rtrl(counts: _CellCounts, d: int, n: int, b: int, opts, forward_flops: int) -> tuple[int, int]:
    """Dense engine over the P recurrent (transition) parameters: Jacobians ∂s/∂s (S forward-mode
    passes) and ∂s/∂θ (S reverse passes, 3× a forward each) ≈ 4S forward steps; E ← J_s E + J_θ:
    2S²P + SP; contraction 2SP. Traces: S·P floats beside the S of state."""
    s = counts.state(n)
    p = (counts.recurrent or counts.parameters)(d, n, opts)
    per = 4 * s * counts.forward(d, n, opts).per_sequence + 2 * s * s * p + 3 * s * p
    return forward_flops + b * per, b * (s + s * p)


def _rtrl_rule(cell: str, counts: _CellCounts, traces: str) -> str:
    valid = ("default", "hand", "dense") if counts.learning else ("default", "dense")
    if traces not in valid:
        raise ValueError(f"traces must be one of {valid} for cell {cell!r} in the cost model, got {traces!r}.")
    if traces == "default":
        return "hand" if counts.learning else "dense"
    return traces


def _lookup(cell: str, options: dict):
    d = definition(cell)  # raises with the valid names
    valid = [f.name for f in dataclasses.fields(d.options)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"cell {cell!r} does not take option(s) {', '.join(unknown)}; its options are: "
                         f"{', '.join(valid) or 'none'}.")
    return _CELLS[cell], d.options(**options)


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        validate.positive_int(name, value)
