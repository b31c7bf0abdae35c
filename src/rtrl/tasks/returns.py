"""True discounted returns of a cumulant stream and the mean squared return error (MSRE).

The prediction V_t is made after seeing o_t and targets the future cumulants only
(Rafiee et al. 2022, arXiv 2011.04590):

    G_t = Σ_{k≥0} γ^k c_{t+1+k},    computed backwards as  G_{T-1} = 0,  G_t = c_{t+1} + γ G_{t+1}.

The stream's tail beyond its end counts as zero, so the last steps' returns are truncated (by at most
γ^(T-1-t) · c_max / (1 - γ)); drop the last few hundred steps, or generate past the window you score,
where that matters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from rtrl import validate

Array = jax.Array


def returns(cumulants: Array, gamma: float | Array) -> Array:
    """G_t = Σ_k γ^k c_{t+1+k} for every t, by a reverse ``lax.scan``; the tail beyond the end is zero.

    Args:
      cumulants: (T, ...) the cumulant c_t at each step (for the conditioning tasks ``obs[:, 0]``); any
        trailing axes (seeds, say) are independent streams.
      gamma: the discount γ in [0, 1), a scalar.
    Returns:
      (T, ...) the returns, in the cumulants' (floating) dtype.
    """
    if not isinstance(gamma, jax.Array):  # a traced γ is the caller's to check
        validate.number_in("gamma", gamma, 0.0, 1.0, high_open=True)
    if jnp.ndim(cumulants) < 1:
        raise ValueError(f"cumulants must have a leading time axis, got shape {jnp.shape(cumulants)}.")
    return _returns(cumulants, gamma)


@jax.jit
def _returns(cumulants: Array, gamma: float | Array) -> Array:
    c = jnp.asarray(cumulants)
    if not jnp.issubdtype(c.dtype, jnp.floating):
        c = c.astype(jnp.float32)
    gamma = jnp.asarray(gamma, c.dtype)
    if c.shape[0] == 0:
        return c

    def back(g_tp1: Array, c_tp1: Array) -> tuple[Array, Array]:
        g_t = c_tp1 + gamma * g_tp1
        return g_t, g_t

    # G_t depends on c_{t+1}..: scan c_1..c_{T-1} backwards from G_{T-1} = 0, then append G_{T-1}.
    zero = jnp.zeros(c.shape[1:], c.dtype)
    _, g = lax.scan(back, zero, c[1:], reverse=True)
    return jnp.concatenate([g, zero[None]], axis=0)


@jax.jit
def msre(predictions: Array, targets: Array) -> Array:
    """Mean squared return error: mean over all steps (and any other axes) of (V_t - G_t)^2."""
    return jnp.mean(jnp.square(jnp.asarray(predictions) - jnp.asarray(targets)))
