"""Recurrent Trace Units (Elelimy, White, Bowling, White; NeurIPS 2024, arXiv 2409.01449).

An RTU layer of n units is a complex diagonal recurrence h = h1 + i·h2 with eigenvalues
λ = r·e^{iθ}, r = exp(−exp(ν_log)), θ = exp(θ_log), input weights W1 + i·W2 (each d×n) and the
input normalisation γ = sqrt(1 − r² + eps):

    linear:     h1_t = g⊙h1_{t-1} − φ⊙h2_{t-1} + γ⊙(x_t W1)
                h2_t = g⊙h2_{t-1} + φ⊙h1_{t-1} + γ⊙(x_t W2)          y_t = f([h1_t, h2_t])
    nonlinear:  the same pre-activations a1, a2 from the previous post-activation state,
                h^c_t = f(a^c_t)                                       y_t = [h1_t, h2_t]

with g = r·cos θ and φ = r·sin θ. The output has 2n features.

Exact RTRL (O(n·d) per step), with traces e = e1 + i·e2 = ds1/dp + i·ds2/dp kept complex,
h = h1 + i·h2 and u = x W1 + i·x W2:

    e_ν'  = λ·e_ν + (∂λ/∂ν_log)·h + (∂γ/∂ν_log)·u      ∂λ/∂ν_log = −e^{ν_log}·λ
    e_θ'  = λ·e_θ + (∂λ/∂θ_log)·h                       ∂λ/∂θ_log = i·θ·λ
    E_W1' = λ·E_W1 + γ·x⊗1                               ∂γ/∂ν_log = e^{ν_log}·r²/γ

i.e. rtu.md's e1/e2 recursions as one complex product. ∂/∂θ_log = θ·∂/∂θ is the chain rule the
public code misses (rtu.md defect 1). For the linear RTU the W2 traces equal i × the W1 traces
exactly (E1W2 = −E2W1, E2W2 = E1W1), so only W1's are kept and W2's gradient is −Im of W1's
contraction. For the nonlinear RTU, E_W2' = λ·E_W2 + i·γ·x⊗1, and after the update the real part
(component 1) of every trace is multiplied by f'(a1_t), the imaginary part by f'(a2_t).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rtrl import validate
from rtrl.cells.activations import ACTIVATIONS, check_activation
from rtrl.cells.base import CellDef, Params, State
from rtrl.cells.complex_diagonal import (Polar, RingOptions, batch_sum, complex_dtype, contract, init_ring, polar,
                                         rotate, unit_broadcast)
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
        validate.non_negative_number("eps", self.eps)


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


def preactivation(rec: Params, state_tm1: State, x_t: jax.Array, eps: float):
    """(a1, a2) = λ·s_{t-1} + γ·(x W1, x W2), the coefficients (λ, γ) and (x W1, x W2)."""
    c = coefficients(rec, eps)
    u1, u2 = x_t @ rec["W1"], x_t @ rec["W2"]
    r1, r2 = rotate(*state_tm1, c.lam.g, c.lam.phi)
    return (r1 + c.gamma * u1, r2 + c.gamma * u2), c, (u1, u2)


def linear_transition(rec: Params, state_tm1: State, x_t: jax.Array, options: RTUOptions) -> State:
    return preactivation(rec, state_tm1, x_t, options.eps)[0]


def nonlinear_transition(rec: Params, state_tm1: State, x_t: jax.Array, options: RTUOptions) -> State:
    a, _, _ = preactivation(rec, state_tm1, x_t, options.eps)
    f = ACTIVATIONS[options.activation].fn
    return f(a[0]), f(a[1])


def linear_readout(params: Params, state_t: State, x_t: jax.Array, options: RTUOptions) -> jax.Array:
    return ACTIVATIONS[options.activation].fn(jnp.concatenate(state_t, axis=-1))


def nonlinear_readout(params: Params, state_t: State, x_t: jax.Array, options: RTUOptions) -> jax.Array:
    return jnp.concatenate(state_t, axis=-1)


# --------------------------------------------------------------------------------------------
# Exact RTRL traces, stored complex: e = e1 + i·e2 (see complex_diagonal).
# --------------------------------------------------------------------------------------------


class RTUTraces(NamedTuple):
    """Sensitivities ds/dp = ds1/dp + i·ds2/dp per batch element (complex)."""

    nu_log: jax.Array  # (B, n)
    theta_log: jax.Array  # (B, n)
    W1: jax.Array  # (B, d, n)
    W2: jax.Array | tuple[()]  # (B, d, n); () for the linear RTU (W2's traces are i × W1's)


@dataclasses.dataclass(frozen=True)
class RTUTraceRule:
    options: RTUOptions
    nonlinear: bool

    def init(self, rec: Params, state_0: State) -> RTUTraces:
        batch, (d, n) = state_0[0].shape[0], rec["W1"].shape
        cdtype = complex_dtype(rec["W1"].dtype)
        vec = jnp.zeros((batch, n), cdtype)
        mat = jnp.zeros((batch, d, n), cdtype)
        return RTUTraces(vec, vec, mat, mat if self.nonlinear else ())

    def update(self, rec: Params, state_tm1: State, traces: RTUTraces, x_t: jax.Array):
        a, c, (u1, u2) = preactivation(rec, state_tm1, x_t, self.options.eps)
        p, gamma = c.lam, c.gamma
        lam = jax.lax.complex(p.g, p.phi)
        h = jax.lax.complex(*state_tm1)  # the previous (post-activation) state
        u = jax.lax.complex(u1, u2)
        # ∂λ/∂ν_log = −e^ν·λ, ∂λ/∂θ_log = i·θ·λ (the chain rule through θ = e^{θ_log}), ∂γ/∂ν_log
        dlam_nu = -p.exp_nu * lam
        dlam_theta = jax.lax.complex(-p.theta * p.phi, p.theta * p.g)
        dgamma_nu = p.exp_nu * p.r**2 / gamma
        nu = lam * traces.nu_log + dlam_nu * h + dgamma_nu * u
        theta = lam * traces.theta_log + dlam_theta * h
        gx = (gamma * x_t[:, :, None]).astype(nu.dtype)  # ∂(γ·x W)/∂W[j, i] = γ_i x_j, (B, d, n)
        w1 = lam * traces.W1 + gx
        if not self.nonlinear:
            return a, RTUTraces(nu, theta, w1, ())
        w2 = lam * traces.W2 + 1j * gx
        act = ACTIVATIONS[self.options.activation]
        state_t = (act.fn(a[0]), act.fn(a[1]))
        if act.derivative is None:
            return state_t, RTUTraces(nu, theta, w1, w2)
        f1, f2 = materialize(act.derivative(a[0]), act.derivative(a[1]))

        def scale(e):  # component c of every trace times f'(a^c_t)
            return jax.lax.complex(unit_broadcast(f1, e) * e.real, unit_broadcast(f2, e) * e.imag)

        return state_t, RTUTraces(scale(nu), scale(theta), scale(w1), scale(w2))

    def contract(self, rec: Params, traces: RTUTraces, delta: State) -> Params:
        delta_conj = jax.lax.complex(delta[0], -delta[1])
        w1 = contract(traces.W1, delta_conj)
        return {
            "nu_log": contract(traces.nu_log, delta_conj).real,
            "theta_log": contract(traces.theta_log, delta_conj).real,
            "W1": w1.real,
            # linear: the traces of W2 are i·(traces of W1), so its gradient is −Im
            "W2": contract(traces.W2, delta_conj).real if self.nonlinear else -w1.imag,
        }

    def replay(self, rec: Params, state_tm1: State, traces_tm1: RTUTraces, x_t: jax.Array,
               reset: jax.Array) -> State:
        """s_t from the stored (s_{t-1}, e_{t-1}) (zero where ``reset``) with the trace contraction
        factored (see `_factored_replay`): the `TraceRule` optional method used by `Cell.replay`."""
        keep = jnp.logical_not(reset).astype(x_t.dtype)[:, None]  # (B, 1)
        state_tm1 = tuple(s * keep for s in state_tm1)
        return _factored_replay(self.options, self.nonlinear, rec, x_t, state_tm1, traces_tm1, keep)


# --------------------------------------------------------------------------------------------
# One RTRL step replayed for a loss, with the trace contraction factored.
#
# The rule's own step builds the next trace e_t = λ·e_{t-1} + b_t for every sample (a (B, d, n)
# complex array for W1) and then contracts it with δ_t. A loss only needs the contraction, which
# for a complex diagonal recurrence factors through the per-unit eigenvalue:
#
#     Σ_b conj(δ'_b)·e_t,b = λ · Σ_b conj(δ'_b)·e_{t-1},b  +  Σ_b conj(δ'_b)·b_t,b
#
# (δ' = δ ⊙ f'(a) for the nonlinear RTU, whose traces are scaled by f'(a) after the update; δ' = δ
# for the linear RTU). For W1, b_t = γ·x⊗1, so the second sum is the matrix product γ·(xᵀ conj(δ')).
# The (B, d, n) array is then only read once (fused with the product and the sum over samples),
# never written, and the episode-start mask is folded into δ' instead of rewriting the stored
# traces (performance.md levers 1–3; the linear RTU keeps W1's traces only, W2's gradient is −Im
# of W1's). The gradient equals the rule's own step exactly (tests/cells/test_replay.py).
# --------------------------------------------------------------------------------------------


def _replay_transition(options: RTUOptions, nonlinear: bool, rec: Params, state_tm1: State, x: jax.Array):
    a, c, u = preactivation(rec, state_tm1, x, options.eps)
    if not nonlinear:
        return a, (a, c, u)
    f = ACTIVATIONS[options.activation].fn
    return (f(a[0]), f(a[1])), (a, c, u)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _factored_replay(options, nonlinear, rec, x, state_tm1, traces_tm1: RTUTraces, keep):
    return _replay_transition(options, nonlinear, rec, state_tm1, x)[0]


def _factored_fwd(options, nonlinear, rec, x, state_tm1, traces_tm1, keep):
    state_t, (a, _, _) = _replay_transition(options, nonlinear, rec, state_tm1, x)
    return state_t, (rec, x, state_tm1, traces_tm1, keep, a)


def _factored_bwd(options, nonlinear, residuals, delta):
    rec, x, state_tm1, traces, keep, a = residuals
    d1, d2 = delta
    if nonlinear:  # traces were scaled by f'(a) after the update: scale δ instead
        df = ACTIVATIONS[options.activation].derivative
        if df is not None:
            d1, d2 = d1 * df(a[0]), d2 * df(a[1])
    _, c, (u1, u2) = preactivation(rec, state_tm1, x, options.eps)
    p, gamma = c.lam, c.gamma
    lam = jax.lax.complex(p.g, p.phi)  # (n,)
    dbar = jax.lax.complex(d1, -d2)  # conj(δ'), (B, n)
    dbar_kept = dbar * keep  # reset samples: e_{t-1} = 0
    h = jax.lax.complex(*state_tm1)
    u = jax.lax.complex(u1, u2)
    # ν and θ: (B, n) traces, the next trace is cheap to form per sample
    b_nu = (-p.exp_nu * lam) * h + (p.exp_nu * p.r**2 / gamma) * u
    b_theta = jax.lax.complex(-p.theta * p.phi, p.theta * p.g) * h
    g_nu = jnp.sum(dbar * (lam * traces.nu_log * keep + b_nu), axis=0).real
    g_theta = jnp.sum(dbar * (lam * traces.theta_log * keep + b_theta), axis=0).real
    # W: λ·Σ_b conj(δ')e_{t-1} + γ·xᵀconj(δ')  (one read of the stored (B, d, n) traces)
    xd = (x.T.astype(dbar.dtype) @ dbar) * gamma  # (d, n)
    s1 = batch_sum(traces.W1 * dbar_kept[:, None, :])
    w1 = lam * s1 + xd
    if nonlinear:
        s2 = batch_sum(traces.W2 * dbar_kept[:, None, :])
        g_w2 = (lam * s2 + 1j * xd).real
    else:
        g_w2 = -w1.imag
    grad_rec = {"nu_log": g_nu, "theta_log": g_theta, "W1": w1.real, "W2": g_w2}
    # the input gets its immediate gradient; the stored carry is data
    _, vjp_x = jax.vjp(lambda x_: _replay_transition(options, nonlinear, rec, state_tm1, x_)[0], x)
    (g_x,) = vjp_x(delta)
    zeros = jax.tree.map(jnp.zeros_like, (state_tm1, traces, keep))
    return (grad_rec, g_x) + zeros


_factored_replay.defvjp(_factored_fwd, _factored_bwd)


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
