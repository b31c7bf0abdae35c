"""Arithmetic shared by the complex diagonal recurrences (RTU and online LRU).

A complex unit h = h1 + i·h2 with eigenvalue λ = r·e^{iθ} is kept as two real arrays; multiplying
by λ is the rotation (g·a1 − φ·a2, g·a2 + φ·a1) with g = r·cos θ, φ = r·sin θ. Both cells
parameterise r = exp(−exp(ν_log)) ∈ (0, 1) and θ = exp(θ_log), and initialise r² uniformly on
[r_min², r_max²] and θ uniformly on [0, max_phase] (Orvieto et al. 2023; Elelimy et al. 2024).

Their RTRL traces are stored as complex arrays (e = e1 + i·e2): the update e' = λe + u is then
one elementwise operation that XLA does in place, where a pair of real arrays, each update
reading both, costs a copy of both on every step.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rtrl import validate

# The smallest r² and the smallest phase used at initialisation: keeps ν_log and θ_log finite.
_TINY = 1e-8


class Polar(NamedTuple):
    """λ = g + iφ and what its derivatives need; all (n,)."""

    exp_nu: jax.Array  # e^{ν_log}
    r: jax.Array
    theta: jax.Array
    g: jax.Array  # r cos θ
    phi: jax.Array  # r sin θ


def polar(nu_log: jax.Array, theta_log: jax.Array) -> Polar:
    exp_nu = jnp.exp(nu_log)
    r = jnp.exp(-exp_nu)
    theta = jnp.exp(theta_log)
    return Polar(exp_nu, r, theta, r * jnp.cos(theta), r * jnp.sin(theta))


def rotate(a1, a2, g, phi):
    """(g + iφ)·(a1 + i·a2) as a real pair; g and φ broadcast against a1 and a2."""
    return g * a1 - phi * a2, g * a2 + phi * a1


def complex_dtype(dtype) -> jnp.dtype:
    """complex64 for float32 parameters, complex128 for float64."""
    return jnp.dtype(jnp.complex128) if jnp.dtype(dtype) == jnp.float64 else jnp.dtype(jnp.complex64)


def batch_sum(p: jax.Array) -> jax.Array:
    """Σ over the leading (batch) axis as a pairwise tree of elementwise adds.

    On XLA CPU a reduction over the leading axis of a (B, d, n) array is either a strided scalar
    loop or is rewritten into a batched dot that is slower still (≈ 600 µs for B = 64, d = 64,
    n = 192); log2(B) vectorised adds, the first fused with the products, take a fraction of it.
    """
    if p.shape[0] == 1:
        return p.reshape(p.shape[1:])
    while p.shape[0] > 1:
        half = p.shape[0] // 2
        top = p[:half] + p[half:2 * half]
        if p.shape[0] % 2:
            top = top.at[0].add(p[-1])
        p = top
    return p[0]


def unit_broadcast(v: jax.Array, like: jax.Array) -> jax.Array:
    """(B, n) -> (B, 1, ..., 1, n) broadcastable against a trace of shape (B, ..., n)."""
    return v.reshape(v.shape[:1] + (1,) * (like.ndim - 2) + v.shape[1:])


def contract(trace: jax.Array, delta_conj: jax.Array) -> jax.Array:
    """Σ_batch e·conj(δ) for a complex trace e (B, ..., n) and conj(δ) = δ1 − i·δ2 (B, n).

    For a real parameter p with ds/dp = e, the gradient Σ (δ1·e1 + δ2·e2) is the real part;
    for a parameter whose trace is i·e (an imaginary input weight), it is minus the imaginary part.
    """
    return batch_sum(trace * unit_broadcast(delta_conj, trace))


@dataclasses.dataclass(frozen=True)
class RingOptions:
    """Initialisation ring of the eigenvalues, shared by RTU and LRU."""

    r_min: float = 0.0
    r_max: float = 1.0
    max_phase: float = 6.28

    def __post_init__(self):
        validate.number_in("r_min", self.r_min, 0.0, 1.0)
        validate.number_in("r_max", self.r_max, 0.0, 1.0)
        if not self.r_min < self.r_max:
            raise ValueError(f"r_min and r_max must satisfy 0 <= r_min < r_max <= 1, got r_min={self.r_min}, "
                             f"r_max={self.r_max}.")
        validate.positive_number("max_phase", self.max_phase)


def init_ring(key: jax.Array, n: int, ring: RingOptions, dtype) -> tuple[jax.Array, jax.Array]:
    """ν_log and θ_log for n eigenvalues on the ring: r² ~ U(r_min², r_max²), θ ~ U(0, max_phase)."""
    k_r, k_theta = jax.random.split(key)
    r2 = jax.random.uniform(k_r, (n,), dtype, minval=ring.r_min**2, maxval=ring.r_max**2)
    r2 = jnp.clip(r2, _TINY, 1.0 - jnp.finfo(dtype).eps)
    nu_log = jnp.log(-0.5 * jnp.log(r2))
    theta = jax.random.uniform(k_theta, (n,), dtype, minval=0.0, maxval=ring.max_phase)
    theta_log = jnp.log(jnp.maximum(theta, _TINY))
    return nu_log, theta_log
