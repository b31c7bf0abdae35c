"""Activation functions with the derivative the hand-written trace rules need.

Each derivative matches what `jax.grad` gives for the same function (relu'(0) = 0), so the
hand-written RTRL traces agree with BPTT exactly.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from rtrl import validate


class Activation(NamedTuple):
    fn: Callable[[jax.Array], jax.Array]
    # f'(a) from the pre-activation a; None for the identity (multiplying by 1 is skipped)
    derivative: Callable[[jax.Array], jax.Array] | None


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(jax.nn.relu, lambda a: (a > 0).astype(a.dtype)),
    "tanh": Activation(jnp.tanh, lambda a: 1.0 - jnp.tanh(a) ** 2),
    "identity": Activation(lambda a: a, None),
}


def check_activation(name: str, field: str = "activation") -> str:
    """``name`` if it is one of `ACTIVATIONS`; else a ValueError naming ``field``."""
    return validate.choice(field, name, sorted(ACTIVATIONS))
