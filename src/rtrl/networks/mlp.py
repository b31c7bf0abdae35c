"""Dense layers as pure functions: the encoder under a recurrent stack, and the heads above it.

A layer is a dict ``{"kernel": (d_in, d_out), "bias": (d_out,)}`` acting on the last axis,
``x ↦ f(x W + b)``, and an MLP is a list of layers with the activation f after *every* layer
(a linear output head is a separate single layer applied with `apply_dense`). Parameters are
plain pytrees, so they go through ``jax.grad``, optax and ``jax.tree.map`` unchanged.

Kernels start orthogonal (semi-orthogonal when d_in ≠ d_out) times ``scale`` and biases at zero,
the usual PPO initialisation: ``scale = sqrt(2)`` for hidden layers with tanh/relu, and typically
0.01 for a policy head and 1 for a value head.

The streaming agents' layers (Elsayed et al. 2024, arXiv 2410.14606) use the other two pieces here:
*sparse initialisation* (`init_sparse_dense`: LeCun-uniform kernels with a fraction of each output
unit's inputs zeroed) and *LayerNorm without affine parameters* before each activation
(``apply_mlp(..., normalize=True)``), with LeakyReLU.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp

from rtrl import validate
from rtrl.cells.initializers import orthogonal

Layer = dict[str, jax.Array]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {"tanh": jnp.tanh, "relu": jax.nn.relu,
                                                             "leaky_relu": jax.nn.leaky_relu}  # slope 0.01
LAYER_NORM_EPS = 1e-5


def check_activation(activation: Any, field: str = "activation") -> str:
    """Return ``activation`` if it is one of `ACTIVATIONS`; else a ValueError naming ``field``."""
    return validate.choice(field, activation, sorted(ACTIVATIONS))


def check_sizes(sizes: Any, field: str = "sizes") -> tuple[int, ...]:
    """``sizes`` as a tuple of positive ints (may be empty); else a ValueError naming ``field``."""
    return validate.widths(field, sizes)


def init_dense(key: jax.Array, input_size: int, output_size: int, dtype: Any, *,
               scale: float = math.sqrt(2.0)) -> Layer:
    """One layer: kernel orthogonal × ``scale`` (orthonormal rows or columns, whichever are fewer),
    bias zero."""
    input_size = validate.positive_int("input_size", input_size)
    output_size = validate.positive_int("output_size", output_size)
    dtype = jnp.dtype(dtype)
    kernel = orthogonal(scale)(key, (input_size, output_size), dtype)
    return {"kernel": kernel, "bias": jnp.zeros((output_size,), dtype)}


def init_sparse_dense(key: jax.Array, input_size: int, output_size: int, dtype: Any, *,
                      sparsity: float = 0.9) -> Layer:
    """One layer with sparse initialisation: kernel entries uniform in ±1/sqrt(d_in) (LeCun uniform),
    then for every output unit ``ceil(sparsity · d_in)`` of its inputs, chosen at random, set to
    zero, but always leaving one (with d_in ≤ 9 inputs at sparsity 0.9 the ceiling would cut them all:
    a layer on a small observation would start at zero); bias zero. ``sparsity=0`` gives the dense
    LeCun-uniform layer."""
    input_size = validate.positive_int("input_size", input_size)
    output_size = validate.positive_int("output_size", output_size)
    sparsity = validate.number_in("sparsity", sparsity, 0.0, 1.0)
    k_values, k_mask = jax.random.split(key)
    bound = 1.0 / math.sqrt(input_size)
    kernel = jax.random.uniform(k_values, (input_size, output_size), jnp.dtype(dtype), -bound, bound)
    zeros = min(math.ceil(sparsity * input_size), input_size - 1)
    if zeros == 0:
        return {"kernel": kernel, "bias": jnp.zeros((output_size,), jnp.dtype(dtype))}
    # per output unit (column), a random permutation of its inputs; the first `zeros` are cut
    order = jax.vmap(lambda k: jax.random.permutation(k, input_size))(jax.random.split(k_mask, output_size))
    rank = jnp.argsort(order, axis=1).T  # (input_size, output_size): position of each input in its unit's order
    kernel = jnp.where(rank < zeros, jnp.zeros((), kernel.dtype), kernel)
    return {"kernel": kernel, "bias": jnp.zeros((output_size,), jnp.dtype(dtype))}


def init_mlp(key: jax.Array, input_size: int, sizes: tuple[int, ...], dtype: Any, *,
             scale: float = math.sqrt(2.0), sparsity: float | None = None) -> list[Layer]:
    """Layers of widths ``sizes`` for inputs of size ``input_size`` (``sizes=()`` gives ``[]``).

    Layer i maps sizes[i-1] → sizes[i] (sizes[-1] := input_size); each kernel is orthogonal with
    gain ``scale`` (or, with ``sparsity`` given, `init_sparse_dense`), each bias zero, all in ``dtype``.
    """
    sizes = check_sizes(sizes)
    input_size = validate.positive_int("input_size", input_size)
    keys = jax.random.split(key, max(len(sizes), 1))
    widths = (input_size,) + sizes
    if sparsity is not None:
        return [init_sparse_dense(k, d_in, d_out, dtype, sparsity=sparsity)
                for k, d_in, d_out in zip(keys, widths, widths[1:])]
    return [init_dense(k, d_in, d_out, dtype, scale=scale) for k, d_in, d_out in zip(keys, widths, widths[1:])]


def layer_norm(x: jax.Array) -> jax.Array:
    """(x − mean) / sqrt(var + 1e-5) over the last axis; no scale or shift parameters."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    centred = x - mean
    return centred * jax.lax.rsqrt(jnp.mean(centred * centred, axis=-1, keepdims=True) + LAYER_NORM_EPS)


def apply_dense(layer: Layer, x: jax.Array) -> jax.Array:
    """x W + b on the last axis of x (any leading axes), with no activation."""
    d_in = layer["kernel"].shape[0]
    if x.shape[-1:] != (d_in,):
        raise ValueError(f"dense layer: x must have last axis of size {d_in} to match the kernel "
                         f"{tuple(layer['kernel'].shape)}, got x of shape {tuple(x.shape)}.")
    return x @ layer["kernel"] + layer["bias"]


def apply_mlp(layers: list[Layer], x: jax.Array, activation: str = "tanh", *, normalize: bool = False) -> jax.Array:
    """y = f(… f(f(x W₁ + b₁) W₂ + b₂) …) on the last axis of x; ``layers=[]`` returns x unchanged.

    Args:
      layers: from `init_mlp`.
      x: (..., input_size).
      activation: one of `ACTIVATIONS`, applied after every layer.
      normalize: `layer_norm` before each activation, f(LN(x W + b)).
    Returns:
      (..., sizes[-1]) (or x itself when there are no layers).
    """
    f = ACTIVATIONS[check_activation(activation)]
    x = jnp.asarray(x)
    for layer in layers:
        y = apply_dense(layer, x)
        x = f(layer_norm(y) if normalize else y)
    return x
