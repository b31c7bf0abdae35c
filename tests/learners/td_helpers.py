"""Helpers shared by the TD(λ) learner tests: small random streams and perturbed parameters."""

import jax
import jax.numpy as jnp

import rtrl


def random_stream(key: jax.Array, steps: int, size: int, dtype=jnp.float32) -> jax.Array:
    """Observations (steps, size): a Bernoulli(0.3) cumulant in column 0, Gaussian features after it."""
    k_c, k_x = jax.random.split(key)
    cumulant = jax.random.bernoulli(k_c, 0.3, (steps, 1)).astype(dtype)
    return jnp.concatenate([cumulant, jax.random.normal(k_x, (steps, size - 1), dtype)], axis=1)


def perturb_params(params: dict, key: jax.Array, scale: float = 0.3) -> dict:
    """Move every parameter (head included) off its initial value, so no gradient vanishes."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(treedef, [a + scale * jax.random.normal(k, a.shape, a.dtype)
                                        for a, k in zip(leaves, keys)])


ALL_CELLS = tuple(rtrl.cells.names())
