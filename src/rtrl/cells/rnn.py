"""Dense tanh RNN (Elman): h_t = tanh(x_t W + h_{t-1} U + b).

A baseline for truncated BPTT; with ``gradient="rtrl"`` it uses the dense reference engine
(O(n⁴) per step — small n only).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rtrl.cells.base import CellDef, Params, State
from rtrl.cells.initializers import lecun_normal, orthogonal_blocks


@dataclasses.dataclass(frozen=True)
class RNNOptions:
    """The dense RNN takes no options."""


def init(key: jax.Array, input_size: int, hidden_size: int, options: RNNOptions, dtype) -> Params:
    k_w, k_u = jax.random.split(key)
    return {
        "W": lecun_normal(k_w, (input_size, hidden_size), dtype),
        "U": orthogonal_blocks(k_u, hidden_size, 1, dtype),
        "b": jnp.zeros((hidden_size,), dtype),
    }


def transition(rec: Params, state_tm1: State, x_t: jax.Array, options: RNNOptions) -> State:
    (h,) = state_tm1
    return (jnp.tanh(x_t @ rec["W"] + h @ rec["U"] + rec["b"]),)


def readout(params: Params, state_t: State, x_t: jax.Array, options: RNNOptions) -> jax.Array:
    return state_t[0]


RNN = CellDef(
    name="rnn",
    options=RNNOptions,
    init=init,
    state_sizes=lambda n, o: (n,),
    output_size=lambda n, o: n,
    recurrent=("W", "U", "b"),
    transition=transition,
    readout=readout,
    input_param="W",
    summary="dense tanh RNN; RTRL by the dense O(n^4) reference engine",
)
