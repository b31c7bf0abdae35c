"""Recurrent Trace Units (Elelimy, White, Bowling, White; NeurIPS 2024, arXiv 2409.01449).

An RTU layer of n units is a complex diagonal recurrence h = h1 + i·h2 with eigenvalues
λ = r·e^{iθ}, r = exp(−exp(ν_log)), θ = exp(θ_log), input weights W1 + i·W2 (each d×n) and the
input normalisation γ = sqrt(1 − r² + eps):

    linear:     h1_t = g⊙h1_{t-1} − φ⊙h2_{t-1} + γ⊙(x_t W1)
                h2_t = g⊙h2_{t-1} + φ⊙h1_{t-1} + γ⊙(x_t W2)          y_t = f([h1_t, h2_t])
    nonlinear:  the same pre-activations a1, a2 from the previous post-activation state,
                h^c_t = f(a^c_t)                                       y_t = [h1_t, h2_t]

with g = r·cos θ and φ = r·sin θ. The output has 2n features.

Exact RTRL (the traces below, O(n·d) per step): for p ∈ {ν_log, θ_log} and c ∈ {1, 2},

    e1_p' = rot1(e_p) + rot1_p(h) + ∂γ/∂p·(x W1),   e2_p' = rot2(e_p) + rot2_p(h) + ∂γ/∂p·(x W2)
    E1W1' = g·E1W1 − φ·E2W1 + γ·x⊗1,                  E2W1' = g·E2W1 + φ·E1W1

(rot the multiplication by λ, rot_p by ∂λ/∂p; ∂/∂θ_log = θ·∂/∂θ — the public code misses this
factor, rtu.md defect 1). For the linear RTU the W2 traces equal i × the W1 traces
(E1W2 = −E2W1, E2W2 = E1W1) exactly, so only W1's are kept. For the nonlinear RTU, every
component-c trace is multiplied by f'(a^c_t) after the update and all four W traces are kept.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rtrl.cells.activations import ACTIVATIONS, check_activation
from rtrl.cells.base import CellDef, Params, State
from rtrl.cells.complex_diagonal import Polar, RingOptions, contract, init_ring, polar, rotate
from rtrl.cells.materialize import materialize


@dataclasses.dataclass(frozen=True)
class RTUOptions(RingOptions):
    """r_min, r_max, max_phase: the eigenvalue ring at initialisation; activation: f (relu, tanh,
    identity); eps: added under the square root of γ (as in the public code)."""

    activation: str = "relu"
    eps: float = 1e-8

    def __post_init__(self):
        super().__post_init__()
        check_activation(self.activation)
        if not self.eps >= 0.0:
            raise ValueError(f"eps must be >= 0, got {self.eps}.")


def init(key: jax.Array, input_size: int, hidden_size: int, options: RTUOptions, dtype) -> Params:
    k_ring, k_w1, k_w2 = jax.random.split(key, 3)
    nu_log, theta_log = init_ring(k_ring, hidden_size, options, dtype)
    lecun = jax.nn.initializers.lecun_normal()
    return {
        "nu_log": nu_log,
        "theta_log": theta_log,
        "W1": lecun(k_w1, (input_size, hidden_size), dtype),
        "W2": lecun(k_w2, (input_size, hidden_size), dtype),
    }


class Coefficients(NamedTuple):
    lam: Polar
    gamma: jax.Array  # (n,)


def coefficients(rec: Params, eps: float) -> Coefficients:
    lam = polar(rec["nu_log"], rec["theta_log"])
    *lam, gamma = materialize(*lam, jnp.sqrt(1.0 - lam.r**2 + eps))
    return Coefficients(Polar(*lam), gamma)


def _preactivation(rec: Params, state_tm1: State, x_t: jax.Array, eps: float):
    c = coefficients(rec, eps)
    u1, u2 = x_t @ rec["W1"], x_t @ rec["W2"]
    r1, r2 = rotate(*state_tm1, c.lam.g, c.lam.phi)
    return (r1 + c.gamma * u1, r2 + c.gamma * u2), c, (u1, u2)


def linear_transition(rec: Params, state_tm1: State, x_t: jax.Array, options: RTUOptions) -> State:
    return _preactivation(rec, state_tm1, x_t, options.eps)[0]


def nonlinear_transition(rec: Params, state_tm1: State, x_t: jax.Array, options: RTUOptions) -> State:
    a, _, _ = _preactivation(rec, state_tm1, x_t, options.eps)
    f = ACTIVATIONS[options.activation].fn
    return f(a[0]), f(a[1])


def linear_readout(params: Params, state_t: State, x_t: jax.Array, options: RTUOptions) -> jax.Array:
    return ACTIVATIONS[options.activation].fn(jnp.concatenate(state_t, axis=-1))


def nonlinear_readout(params: Params, state_t: State, x_t: jax.Array, options: RTUOptions) -> jax.Array:
    return jnp.concatenate(state_t, axis=-1)


# --------------------------------------------------------------------------------------------
# Exact RTRL traces.
# --------------------------------------------------------------------------------------------

Pair = tuple[jax.Array, jax.Array]


class RTUTraces(NamedTuple):
    """Sensitivities ds^c/dp per batch element, as (component 1, component 2) pairs."""

    nu_log: Pair  # (B, n) each
    theta_log: Pair  # (B, n) each
    W1: Pair  # (B, d, n) each
    W2: Pair | tuple[()]  # (B, d, n) each; () for the linear RTU (W2's traces are i × W1's)


@dataclasses.dataclass(frozen=True)
class RTUTraceRule:
    options: RTUOptions
    nonlinear: bool

    def init(self, rec: Params, state_0: State) -> RTUTraces:
        batch, (d, n), dtype = state_0[0].shape[0], rec["W1"].shape, rec["W1"].dtype
        vec = (jnp.zeros((batch, n), dtype),) * 2
        mat = (jnp.zeros((batch, d, n), dtype),) * 2
        return RTUTraces(vec, vec, mat, mat if self.nonlinear else ())

    def update(self, rec: Params, state_tm1: State, traces: RTUTraces, x_t: jax.Array):
        a, c, (u1, u2) = _preactivation(rec, state_tm1, x_t, self.options.eps)
        lam, gamma = c.lam, c.gamma
        h1, h2 = state_tm1
        # ∂(g, φ, γ)/∂ν_log and ∂(g, φ)/∂θ_log (γ does not depend on θ)
        dg_nu, dphi_nu = -lam.exp_nu * lam.g, -lam.exp_nu * lam.phi
        dgamma_nu = lam.exp_nu * lam.r**2 / gamma
        dg_theta, dphi_theta = -lam.theta * lam.phi, lam.theta * lam.g

        def scalar_trace(e, dg, dphi, dgamma):
            e1, e2 = rotate(*e, lam.g, lam.phi)
            m1, m2 = rotate(h1, h2, dg, dphi)
            if dgamma is None:
                return e1 + m1, e2 + m2
            return e1 + m1 + dgamma * u1, e2 + m2 + dgamma * u2

        gx = gamma * x_t[:, :, None]  # ∂(γ·x W)/∂W[j, i] = γ_i x_j, (B, d, n)
        nu = scalar_trace(traces.nu_log, dg_nu, dphi_nu, dgamma_nu)
        theta = scalar_trace(traces.theta_log, dg_theta, dphi_theta, None)
        w1 = rotate(*traces.W1, lam.g, lam.phi)
        w1 = (w1[0] + gx, w1[1])
        if not self.nonlinear:
            return a, RTUTraces(nu, theta, w1, ())
        w2 = rotate(*traces.W2, lam.g, lam.phi)
        w2 = (w2[0], w2[1] + gx)
        act = ACTIVATIONS[self.options.activation]
        state_t = (act.fn(a[0]), act.fn(a[1]))
        if act.derivative is None:
            return state_t, RTUTraces(nu, theta, w1, w2)
        f1, f2 = materialize(act.derivative(a[0]), act.derivative(a[1]))
        d1, d2 = f1[:, None, :], f2[:, None, :]
        traces_t = RTUTraces((f1 * nu[0], f2 * nu[1]), (f1 * theta[0], f2 * theta[1]),
                             (d1 * w1[0], d2 * w1[1]), (d1 * w2[0], d2 * w2[1]))
        return state_t, traces_t

    def contract(self, rec: Params, traces: RTUTraces, delta: State) -> Params:
        d1, d2 = delta
        grads = {
            "nu_log": contract(*traces.nu_log, d1, d2),
            "theta_log": contract(*traces.theta_log, d1, d2),
            "W1": contract(*traces.W1, d1, d2),
        }
        if self.nonlinear:
            grads["W2"] = contract(*traces.W2, d1, d2)
        else:  # traces of W2 = i·(traces of W1): (−E2, E1)
            grads["W2"] = contract(*traces.W1, d2, -d1)
        return grads


def _make(name: str, nonlinear: bool, summary: str) -> CellDef:
    return CellDef(
        name=name,
        options=RTUOptions,
        init=init,
        state_sizes=lambda n, o: (n, n),
        output_size=lambda n, o: 2 * n,
        recurrent=("nu_log", "theta_log", "W1", "W2"),
        transition=nonlinear_transition if nonlinear else linear_transition,
        readout=nonlinear_readout if nonlinear else linear_readout,
        input_param="W1",
        hand_traces=lambda options: RTUTraceRule(options, nonlinear),
        elementwise=True,
        summary=summary,
    )


RTU_LINEAR = _make("rtu-linear", False, "linear RTU, y = f([h1, h2]); exact RTRL in O(n·d)")
RTU_NONLINEAR = _make("rtu-nonlinear", True, "nonlinear RTU, h = f(a); exact RTRL in O(n·d)")
