"""Full (dense) RTRL for any cell: the reference O(S²·P) algorithm of Williams & Zipser (1989).

With the state flattened to s ∈ R^S and the recurrent parameters to θ ∈ R^P, the trace is the
full Jacobian E_t = ds_t/dθ ∈ R^{S×P} per batch element:

    E_t = (∂s_t/∂s_{t-1}) E_{t-1} + ∂s_t/∂θ

For a dense RNN or GRU with n units, S ≈ n and P ≈ n², so a step costs O(n⁴) time and O(n³)
memory: use it for small n only, as a reference and a baseline.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from rtrl.cells.protocol import Params, State


@dataclasses.dataclass(frozen=True)
class DenseRTRL:
    """The generic dense trace rule. ``transition(rec, state, x) -> state`` is batched."""

    transition: Callable[[Params, State, jax.Array], State]

    def init(self, rec: Params, state_0: State) -> jax.Array:
        flat, _ = ravel_pytree(rec)
        size = sum(s.shape[1] for s in state_0)
        return jnp.zeros((state_0[0].shape[0], size, flat.shape[0]), flat.dtype)

    def update(self, rec: Params, state_tm1: State, traces_tm1: jax.Array, x_t: jax.Array):
        flat, unravel = ravel_pytree(rec)
        sizes = [s.shape[1] for s in state_tm1]

        def step(theta, s, x):  # one example, flat state
            out = self.transition(unravel(theta), tuple(c[None] for c in _split(s, sizes)), x[None])
            return jnp.concatenate([o[0] for o in out])

        def per_example(s, x, e):
            s_t = step(flat, s, x)
            jac_s = jax.jacfwd(step, argnums=1)(flat, s, x)  # (S, S)
            jac_theta = jax.jacrev(step, argnums=0)(flat, s, x)  # (S, P)
            return s_t, jac_s @ e + jac_theta

        s_t, traces_t = jax.vmap(per_example)(jnp.concatenate(state_tm1, axis=1), x_t, traces_tm1)
        return tuple(_split(s_t, sizes, axis=1)), traces_t

    def contract(self, rec: Params, traces_t: jax.Array, delta_t: State) -> Params:
        _, unravel = ravel_pytree(rec)
        delta = jnp.concatenate(delta_t, axis=1)
        return unravel(jnp.einsum("bs,bsp->p", delta, traces_t))


def _split(a: jax.Array, sizes: list[int], axis: int = 0) -> list[jax.Array]:
    bounds = [sum(sizes[:i]) for i in range(1, len(sizes))]
    return jnp.split(a, bounds, axis=axis)
