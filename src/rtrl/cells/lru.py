"""Online Linear Recurrent Unit: the LRU of Orvieto et al. (2023) trained with exact RTRL, as in
Zucchet et al. (2023) and the RTU paper's baseline.

n complex units, h = h_re + i·h_im, with λ = exp(−e^{ν_log} + i·e^{θ_log}) and a learned input
normalisation γ = e^{γ_log}:

    h_t = λ⊙h_{t-1} + γ⊙(x_t (B_re + i·B_im))              (complex, B: d×n)
    y_t = Re(h_t C) [+ x_t D] = h_re C_re − h_im C_im [+ x_t D]   (C: n×n complex, D: d×n)

Exact RTRL traces (complex, per batch element; C and D sit outside the recurrence and get
ordinary backprop):

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

from rtrl.cells.base import CellDef, Params, State
from rtrl.cells.complex_diagonal import Polar, RingOptions, contract, init_ring, polar, rotate
from rtrl.cells.materialize import materialize


@dataclasses.dataclass(frozen=True)
class LRUOptions(RingOptions):
    """r_min, r_max, max_phase: eigenvalue ring at initialisation; use_d: add the skip term x D."""

    use_d: bool = False

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.use_d, bool):
            raise ValueError(f"use_d must be true or false, got {self.use_d!r}.")


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


Pair = tuple[jax.Array, jax.Array]


class LRUTraces(NamedTuple):
    """Complex sensitivities dh/dp per batch element as (real, imaginary) pairs."""

    nu_log: Pair  # (B, n) each
    theta_log: Pair
    gamma_log: Pair
    B: Pair  # dh/dB_re, (B, d, n) each; dh/dB_im = i·dh/dB_re


@dataclasses.dataclass(frozen=True)
class LRUTraceRule:
    def init(self, rec: Params, state_0: State) -> LRUTraces:
        batch, (d, n), dtype = state_0[0].shape[0], rec["B_re"].shape, rec["B_re"].dtype
        vec = (jnp.zeros((batch, n), dtype),) * 2
        return LRUTraces(vec, vec, vec, (jnp.zeros((batch, d, n), dtype),) * 2)

    def update(self, rec: Params, state_tm1: State, traces: LRUTraces, x_t: jax.Array):
        lam, gamma = _coefficients(rec)
        lh1, lh2 = rotate(*state_tm1, lam.g, lam.phi)  # λ h_{t-1}
        u1, u2 = x_t @ rec["B_re"], x_t @ rec["B_im"]
        state_t = (lh1 + gamma * u1, lh2 + gamma * u2)

        def propagate(e):
            return rotate(*e, lam.g, lam.phi)

        e1, e2 = propagate(traces.nu_log)
        nu = (e1 - lam.exp_nu * lh1, e2 - lam.exp_nu * lh2)
        e1, e2 = propagate(traces.theta_log)
        theta = (e1 - lam.theta * lh2, e2 + lam.theta * lh1)
        e1, e2 = propagate(traces.gamma_log)
        gam = (e1 + gamma * u1, e2 + gamma * u2)
        e1, e2 = propagate(traces.B)
        b = (e1 + gamma * x_t[:, :, None], e2)
        return state_t, LRUTraces(nu, theta, gam, b)

    def contract(self, rec: Params, traces: LRUTraces, delta: State) -> Params:
        d1, d2 = delta
        return {
            "nu_log": contract(*traces.nu_log, d1, d2),
            "theta_log": contract(*traces.theta_log, d1, d2),
            "gamma_log": contract(*traces.gamma_log, d1, d2),
            "B_re": contract(*traces.B, d1, d2),
            "B_im": contract(*traces.B, d2, -d1),  # traces of B_im = i·(traces of B_re)
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
