"""Online Linear Recurrent Unit: the LRU of Orvieto et al. (2023) trained with exact RTRL, as in
Zucchet et al. (2023) and the RTU paper's baseline.

n complex units, h = h_re + i·h_im, with λ = exp(−e^{ν_log} + i·e^{θ_log}) and a learned input
normalisation γ = e^{γ_log}:

    h_t = λ⊙h_{t-1} + γ⊙(x_t (B_re + i·B_im))              (complex, B: d×n)
    y_t = Re(h_t C) [+ x_t D] = h_re C_re − h_im C_im [+ x_t D]   (C: n×n complex, D: d×n)

Exact RTRL traces (complex arrays, per batch element; C and D sit outside the recurrence and
get ordinary backprop):

    e_ν'   = λ e_ν − e^{ν_log}·(λ h_{t-1})         (∂λ/∂ν_log = −e^{ν_log} λ)
    e_θ'   = λ e_θ + i·θ·(λ h_{t-1})               (∂λ/∂θ_log = i·e^{θ_log} λ)
    e_γ'   = λ e_γ + γ·(x B)                        (∂(γ u)/∂γ_log = γ u)
    E_Bre' = λ E_Bre + γ·x⊗1,   E_Bim = i·E_Bre   (only E_Bre is kept)

The public code scales the B trace by γ_log instead of e^{γ_log} and lets BPTT leak through
h_{t-1} (rtu.md defect 2); the tests pin both.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rtrl import validate
from rtrl.cells.base import CellDef, Params, State
from rtrl.cells.complex_diagonal import Polar, RingOptions, complex_dtype, contract, init_ring, polar, rotate
from rtrl.cells.materialize import materialize


@dataclasses.dataclass(frozen=True)
class LRUOptions(RingOptions):
    """r_min, r_max, max_phase: eigenvalue ring at initialisation; use_d: add the skip term x D."""

    use_d: bool = False

    def __post_init__(self):
        super().__post_init__()
        validate.boolean("use_d", self.use_d)


def init(key: jax.Array, input_size: int, hidden_size: int, options: LRUOptions, dtype) -> Params:
    k_ring, k_bre, k_bim, k_cre, k_cim, k_d = jax.random.split(key, 6)
    d, n = input_size, hidden_size
    nu_log, theta_log = init_ring(k_ring, n, options, dtype)
    r = jnp.exp(-jnp.exp(nu_log))
    params = {
        "nu_log": nu_log,
        "theta_log": theta_log,
        "gamma_log": jnp.log(jnp.sqrt(1.0 - r**2)),
        "B_re": jax.random.normal(k_bre, (d, n), dtype) / jnp.sqrt(2.0 * d),
        "B_im": jax.random.normal(k_bim, (d, n), dtype) / jnp.sqrt(2.0 * d),
        "C_re": jax.random.normal(k_cre, (n, n), dtype) / jnp.sqrt(n),
        "C_im": jax.random.normal(k_cim, (n, n), dtype) / jnp.sqrt(n),
    }
    if options.use_d:
        params["D"] = jax.random.normal(k_d, (d, n), dtype) / jnp.sqrt(d)
    return params


def _coefficients(rec: Params) -> tuple[Polar, jax.Array]:
    """λ and γ, computed once per step (see `materialize`)."""
    *lam, gamma = materialize(*polar(rec["nu_log"], rec["theta_log"]), jnp.exp(rec["gamma_log"]))
    return Polar(*lam), gamma


def transition(rec: Params, state_tm1: State, x_t: jax.Array, options: LRUOptions) -> State:
    lam, gamma = _coefficients(rec)
    r1, r2 = rotate(*state_tm1, lam.g, lam.phi)
    return r1 + gamma * (x_t @ rec["B_re"]), r2 + gamma * (x_t @ rec["B_im"])


def readout(params: Params, state_t: State, x_t: jax.Array, options: LRUOptions) -> jax.Array:
    y = state_t[0] @ params["C_re"] - state_t[1] @ params["C_im"]
    if options.use_d:
        y = y + x_t @ params["D"]
    return y


class LRUTraces(NamedTuple):
    """Complex sensitivities dh/dp per batch element (see complex_diagonal)."""

    nu_log: jax.Array  # (B, n)
    theta_log: jax.Array  # (B, n)
    gamma_log: jax.Array  # (B, n)
    B: jax.Array  # dh/dB_re, (B, d, n); dh/dB_im = i·dh/dB_re


@dataclasses.dataclass(frozen=True)
class LRUTraceRule:
    def init(self, rec: Params, state_0: State) -> LRUTraces:
        batch, (d, n) = state_0[0].shape[0], rec["B_re"].shape
        cdtype = complex_dtype(rec["B_re"].dtype)
        vec = jnp.zeros((batch, n), cdtype)
        return LRUTraces(vec, vec, vec, jnp.zeros((batch, d, n), cdtype))

    def update(self, rec: Params, state_tm1: State, traces: LRUTraces, x_t: jax.Array):
        p, gamma = _coefficients(rec)
        lh1, lh2 = rotate(*state_tm1, p.g, p.phi)  # λ h_{t-1}, as in the forward
        u1, u2 = x_t @ rec["B_re"], x_t @ rec["B_im"]
        state_t = (lh1 + gamma * u1, lh2 + gamma * u2)
        lam = jax.lax.complex(p.g, p.phi)
        lh = jax.lax.complex(lh1, lh2)
        nu = lam * traces.nu_log - p.exp_nu * lh
        theta = lam * traces.theta_log + jax.lax.complex(-p.theta * lh2, p.theta * lh1)  # + i·θ·λh
        gam = lam * traces.gamma_log + gamma * jax.lax.complex(u1, u2)
        b = lam * traces.B + (gamma * x_t[:, :, None]).astype(lam.dtype)
        return state_t, LRUTraces(nu, theta, gam, b)

    def contract(self, rec: Params, traces: LRUTraces, delta: State) -> Params:
        delta_conj = jax.lax.complex(delta[0], -delta[1])
        b = contract(traces.B, delta_conj)
        return {
            "nu_log": contract(traces.nu_log, delta_conj).real,
            "theta_log": contract(traces.theta_log, delta_conj).real,
            "gamma_log": contract(traces.gamma_log, delta_conj).real,
            "B_re": b.real,
            "B_im": -b.imag,  # traces of B_im = i·(traces of B_re)
        }


LRU = CellDef(
    name="lru",
    options=LRUOptions,
    init=init,
    state_sizes=lambda n, o: (n, n),
    output_size=lambda n, o: n,
    recurrent=("nu_log", "theta_log", "gamma_log", "B_re", "B_im"),
    transition=transition,
    readout=readout,
    input_param="B_re",
    hand_traces=lambda options: LRUTraceRule(),
    elementwise=True,
    summary="online LRU: complex diagonal, learned input normalisation, readout Re(hC) [+ xD]",
)
