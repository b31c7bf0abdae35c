"""Arithmetic shared by the complex diagonal recurrences (RTU and online LRU).

A complex unit h = h1 + i·h2 with eigenvalue λ = r·e^{iθ} is kept as two real arrays; multiplying
by λ is the rotation (g·a1 − φ·a2, g·a2 + φ·a1) with g = r·cos θ, φ = r·sin θ. Both cells
parameterise r = exp(−exp(ν_log)) ∈ (0, 1) and θ = exp(θ_log), and initialise r² uniformly on
[r_min², r_max²] and θ uniformly on [0, max_phase] (Orvieto et al. 2023; Elelimy et al. 2024).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

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


def contract(e1, e2, d1, d2) -> jax.Array:
    """Σ_batch (δ1·e1 + δ2·e2) for traces (B, ..., n) and cotangents (B, n)."""
    shape = d1.shape[:1] + (1,) * (e1.ndim - 2) + d1.shape[1:]
    return jnp.sum(e1 * d1.reshape(shape) + e2 * d2.reshape(shape), axis=0)


@dataclasses.dataclass(frozen=True)
class RingOptions:
    """Initialisation ring of the eigenvalues, shared by RTU and LRU."""

    r_min: float = 0.0
    r_max: float = 1.0
    max_phase: float = 6.28

    def __post_init__(self):
        if not 0.0 <= self.r_min < self.r_max <= 1.0:
            raise ValueError(f"r_min and r_max must satisfy 0 <= r_min < r_max <= 1, got r_min={self.r_min}, "
                             f"r_max={self.r_max}.")
        if not self.max_phase > 0.0:
            raise ValueError(f"max_phase must be positive, got {self.max_phase}.")


def init_ring(key: jax.Array, n: int, ring: RingOptions, dtype) -> tuple[jax.Array, jax.Array]:
    """ν_log and θ_log for n eigenvalues on the ring: r² ~ U(r_min², r_max²), θ ~ U(0, max_phase)."""
    k_r, k_theta = jax.random.split(key)
    r2 = jax.random.uniform(k_r, (n,), dtype, minval=ring.r_min**2, maxval=ring.r_max**2)
    r2 = jnp.clip(r2, _TINY, 1.0 - jnp.finfo(dtype).eps)
    nu_log = jnp.log(-0.5 * jnp.log(r2))
    theta = jax.random.uniform(k_theta, (n,), dtype, minval=0.0, maxval=ring.max_phase)
    theta_log = jnp.log(jnp.maximum(theta, _TINY))
    return nu_log, theta_log
