"""Gated recurrent unit (Cho et al. 2014), in the form of PyTorch and flax:

    r = σ(x W_ir + b_ir + h W_hr + b_hr),   u = σ(x W_iu + b_iu + h W_hu + b_hu)
    c = tanh(x W_ic + b_ic + r⊙(h W_hc + b_hc)),   h_t = (1 − u)⊙c + u⊙h_{t-1}

The usual baseline trained with truncated BPTT; with ``gradient="rtrl"`` it uses the dense
reference engine (O(n⁴) per step — small n only).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rtrl.cells.base import CellDef, Params, State
from rtrl.cells.initializers import lecun_normal, orthogonal_blocks


@dataclasses.dataclass(frozen=True)
class GRUOptions:
    """The GRU takes no options."""


def init(key: jax.Array, input_size: int, hidden_size: int, options: GRUOptions, dtype) -> Params:
    k_i, k_h = jax.random.split(key)
    n = hidden_size
    return {
        "W_i": lecun_normal(k_i, (input_size, 3 * n), dtype),  # [reset | update | candidate]
        "W_h": orthogonal_blocks(k_h, n, 3, dtype),
        "b_i": jnp.zeros((3 * n,), dtype),
        "b_h": jnp.zeros((3 * n,), dtype),
    }


def transition(rec: Params, state_tm1: State, x_t: jax.Array, options: GRUOptions) -> State:
    (h,) = state_tm1
    gi = x_t @ rec["W_i"] + rec["b_i"]
    gh = h @ rec["W_h"] + rec["b_h"]
    i_r, i_u, i_c = jnp.split(gi, 3, axis=-1)
    h_r, h_u, h_c = jnp.split(gh, 3, axis=-1)
    r = jax.nn.sigmoid(i_r + h_r)
    u = jax.nn.sigmoid(i_u + h_u)
    c = jnp.tanh(i_c + r * h_c)
    return ((1.0 - u) * c + u * h,)


def readout(params: Params, state_t: State, x_t: jax.Array, options: GRUOptions) -> jax.Array:
    return state_t[0]


GRU = CellDef(
    name="gru",
    options=GRUOptions,
    init=init,
    state_sizes=lambda n, o: (n,),
    output_size=lambda n, o: n,
    recurrent=("W_i", "W_h", "b_i", "b_h"),
    transition=transition,
    readout=readout,
    input_param="W_i",
    summary="GRU; the truncated-BPTT baseline (dense O(n^4) RTRL as a reference)",
)
