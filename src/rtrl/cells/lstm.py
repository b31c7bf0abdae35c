"""Long short-term memory (Hochreiter & Schmidhuber 1997) with a forget-gate bias:

    [i, f, g, o] = x W_i + h_{t-1} W_h + b,   c_t = σ(f + forget_bias)⊙c_{t-1} + σ(i)⊙tanh(g)
    h_t = σ(o)⊙tanh(c_t),   y_t = h_t

The state is (h, c). A baseline for truncated BPTT; with ``gradient="rtrl"`` it uses the dense
reference engine (O(n⁴) per step — small n only).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rtrl import validate
from rtrl.cells.base import CellDef, Params, State
from rtrl.cells.initializers import lecun_normal, orthogonal_blocks


@dataclasses.dataclass(frozen=True)
class LSTMOptions:
    """forget_bias: added to the forget gate's pre-activation (1.0 keeps memories at the start)."""

    forget_bias: float = 1.0

    def __post_init__(self):
        validate.finite_number("forget_bias", self.forget_bias)


def init(key: jax.Array, input_size: int, hidden_size: int, options: LSTMOptions, dtype) -> Params:
    k_i, k_h = jax.random.split(key)
    n = hidden_size
    return {
        "W_i": lecun_normal(k_i, (input_size, 4 * n), dtype),  # [input | forget | cell | output]
        "W_h": orthogonal_blocks(k_h, n, 4, dtype),
        "b": jnp.zeros((4 * n,), dtype),
    }


def transition(rec: Params, state_tm1: State, x_t: jax.Array, options: LSTMOptions) -> State:
    h, c = state_tm1
    i, f, g, o = jnp.split(x_t @ rec["W_i"] + h @ rec["W_h"] + rec["b"], 4, axis=-1)
    c = jax.nn.sigmoid(f + options.forget_bias) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(c), c


def readout(params: Params, state_t: State, x_t: jax.Array, options: LSTMOptions) -> jax.Array:
    return state_t[0]


LSTM = CellDef(
    name="lstm",
    options=LSTMOptions,
    init=init,
    state_sizes=lambda n, o: (n, n),
    output_size=lambda n, o: n,
    recurrent=("W_i", "W_h", "b"),
    transition=transition,
    readout=readout,
    input_param="W_i",
    summary="LSTM; the truncated-BPTT baseline (dense O(n^4) RTRL as a reference)",
)
