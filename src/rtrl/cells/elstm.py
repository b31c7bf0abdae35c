"""Element-wise LSTM (eLSTM; "QuasiLSTM" in the code) of Irie, Gopalakrishnan & Schmidhuber,
"Exploring the Promise and Limits of Real-Time Recurrent Learning" (ICLR 2024, arXiv 2305.19044).

The recurrence is element-wise (the previous cell state enters only through the vectors w_f, w_z),
so exact RTRL costs O(n·d) per step:

    f_t = σ(x_t F + w_f⊙c_{t-1} + b_f)      z_t = tanh(x_t Z + w_z⊙c_{t-1} + b_z)
    c_t = f_t⊙c_{t-1} + (1 − f_t)⊙z_t
    o_t = σ([x_t, c_t] O + b_o)             y_t = o_t⊙c_t

F, Z: d×n; w_f, w_z, b_f, b_z: n; O: (d+n)×n and b_o: n sit outside the recurrence (ordinary
backprop). Traces (the paper's Eq. 8/11 omit the w_z term of J; the code has it):

    ẑ = (1 − f)(1 − z²),  f̂ = (c_{t-1} − z) f (1 − f),  J = f + w_z ẑ + w_f f̂   (∂c_t/∂c_{t-1})
    T_Z' = J T_Z + ẑ x⊗1,   T_F' = J T_F + f̂ x⊗1,   t_wz' = J t_wz + ẑ c_{t-1},
    t_wf' = J t_wf + f̂ c_{t-1},   t_bz' = J t_bz + ẑ,   t_bf' = J t_bf + f̂.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from rtrl import validate
from rtrl.cells.base import CellDef, Params, State
from rtrl.cells.complex_diagonal import batch_sum, unit_broadcast
from rtrl.cells.materialize import materialize


@dataclasses.dataclass(frozen=True)
class ELSTMOptions:
    """init_std: standard deviation of the normal initialisation of weights.
    forget_bias: initial value of the forget gate's bias b_f (the paper's 0 gives f ≈ 0.5 at the start,
    a memory of a few steps; a positive value, e.g. 2 (f ≈ 0.88), starts with a longer one, as
    Jozefowicz et al. 2015 advise for LSTMs). The other biases start at 0."""

    init_std: float = 0.1
    forget_bias: float = 0.0

    def __post_init__(self):
        validate.positive_number("init_std", self.init_std)
        validate.finite_number("forget_bias", self.forget_bias)


def init(key: jax.Array, input_size: int, hidden_size: int, options: ELSTMOptions, dtype) -> Params:
    d, n, std = input_size, hidden_size, options.init_std
    k = jax.random.split(key, 5)
    zeros = jnp.zeros((n,), dtype)
    return {
        "F": std * jax.random.normal(k[0], (d, n), dtype),
        "Z": std * jax.random.normal(k[1], (d, n), dtype),
        "w_f": std * jax.random.normal(k[2], (n,), dtype),
        "w_z": std * jax.random.normal(k[3], (n,), dtype),
        "b_f": jnp.full((n,), options.forget_bias, dtype),
        "b_z": zeros,
        "O": std * jax.random.normal(k[4], (d + n, n), dtype),
        "b_o": zeros,
    }


def _gates(rec: Params, c_tm1: jax.Array, x_t: jax.Array):
    f = jax.nn.sigmoid(x_t @ rec["F"] + rec["w_f"] * c_tm1 + rec["b_f"])
    z = jnp.tanh(x_t @ rec["Z"] + rec["w_z"] * c_tm1 + rec["b_z"])
    return f, z


def transition(rec: Params, state_tm1: State, x_t: jax.Array, options: ELSTMOptions) -> State:
    (c_tm1,) = state_tm1
    f, z = _gates(rec, c_tm1, x_t)
    return (f * c_tm1 + (1.0 - f) * z,)


def readout(params: Params, state_t: State, x_t: jax.Array, options: ELSTMOptions) -> jax.Array:
    (c_t,) = state_t
    o = jax.nn.sigmoid(jnp.concatenate([x_t, c_t], axis=-1) @ params["O"] + params["b_o"])
    return o * c_t


RECURRENT = ("F", "Z", "w_f", "w_z", "b_f", "b_z")


@dataclasses.dataclass(frozen=True)
class ELSTMTraceRule:
    """Traces dc/dp per batch element: F, Z (B, d, n); the vectors (B, n)."""

    def init(self, rec: Params, state_0: State) -> dict[str, jax.Array]:
        batch = state_0[0].shape[0]
        return {k: jnp.zeros((batch,) + rec[k].shape, rec[k].dtype) for k in RECURRENT}

    def update(self, rec: Params, state_tm1: State, traces: dict, x_t: jax.Array):
        (c_tm1,) = state_tm1
        f, z = _gates(rec, c_tm1, x_t)
        c_t = f * c_tm1 + (1.0 - f) * z
        z_hat = (1.0 - f) * (1.0 - z**2)
        f_hat = (c_tm1 - z) * f * (1.0 - f)
        jac = f + rec["w_z"] * z_hat + rec["w_f"] * f_hat
        jac, z_hat, f_hat = materialize(jac, z_hat, f_hat)  # once, not once per input (see materialize)
        jac3, x3 = jac[:, None, :], x_t[:, :, None]
        new = {
            "Z": jac3 * traces["Z"] + z_hat[:, None, :] * x3,
            "F": jac3 * traces["F"] + f_hat[:, None, :] * x3,
            "w_z": jac * traces["w_z"] + z_hat * c_tm1,
            "w_f": jac * traces["w_f"] + f_hat * c_tm1,
            "b_z": jac * traces["b_z"] + z_hat,
            "b_f": jac * traces["b_f"] + f_hat,
        }
        return (c_t,), new

    def contract(self, rec: Params, traces: dict, delta: State) -> Params:
        (d,) = delta
        return {k: batch_sum(traces[k] * unit_broadcast(d, traces[k])) for k in RECURRENT}


ELSTM = CellDef(
    name="elstm",
    options=ELSTMOptions,
    init=init,
    state_sizes=lambda n, o: (n,),
    output_size=lambda n, o: n,
    recurrent=RECURRENT,
    transition=transition,
    readout=readout,
    input_param="F",
    hand_traces=lambda options: ELSTMTraceRule(),
    elementwise=True,
    summary="element-wise LSTM with output gate; exact RTRL in O(n·d)",
)
