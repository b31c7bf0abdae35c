"""Replaying one RTRL step from a stored carry for a minibatch loss, with the trace contraction factored.

The cell's own RTRL step builds the next trace e_t = λ·e_{t-1} + b_t for every sample (a (B, d, n)
complex array for the RTU's input weights) and then contracts it with δ_t. A loss only needs the
contraction, which for a complex diagonal recurrence factors through the per-unit eigenvalue:

    Σ_b conj(δ'_b)·e_t,b = λ · Σ_b conj(δ'_b)·e_{t-1},b  +  Σ_b conj(δ'_b)·b_t,b

(δ' = δ ⊙ f'(a) for the nonlinear RTU, whose traces are scaled by f'(a) after the update; δ' = δ
for the linear RTU). For W1, b_t = γ·x⊗1, so the second sum is the matrix product γ·(xᵀ conj(δ')).
The (B, d, n) array is then only read once (fused with the product and the sum over samples), never
written, and the episode-start mask is folded into δ' instead of rewriting the stored traces
(performance.md levers 1–3; the linear RTU keeps W1's traces only, W2's gradient is −Im of W1's).
The gradient equals the cell's own RTRL step exactly (tests/agents: test_agents_real_time.py).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from rtrl.cells.activations import ACTIVATIONS
from rtrl.cells.base import Carry, Cell
from rtrl.cells.complex_diagonal import batch_sum
from rtrl.cells.rtu import RTUTraces, preactivation

__all__ = ["replay_step", "supports_factored"]


def supports_factored(cell: Cell | None) -> bool:
    """The factored replay applies to the RTUs with their hand-derived traces."""
    return (cell is not None and cell.gradient == "rtrl" and cell.traces == "hand"
            and cell.name in ("rtu-linear", "rtu-nonlinear"))


def replay_step(cell: Cell, params: dict[str, jax.Array], carry: Carry, x: jax.Array, first: jax.Array) -> jax.Array:
    """y_t from the stored carry_{t-1} (reset where ``first``), with the RTRL gradient of the cell's parameters.

    Same value and gradients as ``cell.step(params, carry, x, first)[1]`` for the RTUs.
    """
    keep = jnp.logical_not(first).astype(x.dtype)[:, None]  # (B, 1)
    state_tm1 = tuple(s * keep for s in carry.state)
    rec = {k: params[k] for k in ("nu_log", "theta_log", "W1", "W2")}
    nonlinear = cell.name == "rtu-nonlinear"
    state_t = _factored(cell.options, nonlinear, rec, x, state_tm1, carry.traces, keep)
    return cell.definition.readout(params, state_t, x, cell.options)


def _transition(options, nonlinear, rec, state_tm1, x):
    a, c, u = preactivation(rec, state_tm1, x, options.eps)
    if not nonlinear:
        return a, (a, c, u)
    f = ACTIVATIONS[options.activation].fn
    return (f(a[0]), f(a[1])), (a, c, u)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _factored(options, nonlinear, rec, x, state_tm1, traces_tm1: RTUTraces, keep):
    return _transition(options, nonlinear, rec, state_tm1, x)[0]


def _fwd(options, nonlinear, rec, x, state_tm1, traces_tm1, keep):
    state_t, (a, _, _) = _transition(options, nonlinear, rec, state_tm1, x)
    return state_t, (rec, x, state_tm1, traces_tm1, keep, a)


def _bwd(options, nonlinear, residuals, delta):
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
    _, vjp_x = jax.vjp(lambda x_: _transition(options, nonlinear, rec, state_tm1, x_)[0], x)
    (g_x,) = vjp_x(delta)
    zeros = jax.tree.map(jnp.zeros_like, (state_tm1, traces, keep))
    return (grad_rec, g_x) + zeros


_factored.defvjp(_fwd, _bwd)


def replay_features(cell: Cell | None, params: Any, carry: Any, z: jax.Array, first: jax.Array) -> jax.Array:
    """Cell output for a loss: the factored replay where it applies, else the cell's own step."""
    if supports_factored(cell):
        return replay_step(cell, params, carry, z, first)
    return cell.step(params, carry, z, first)[1]
