"""Check that a cell's RTRL gradient is exact: the sum over steps of per-step RTRL gradients
against `jax.grad` of the summed loss through the unrolled BPTT forward.

Used by the test suite and by ``rtrl gradcheck``. Run it in float64 (``jax_enable_x64``): in
exact arithmetic the two are equal, so the relative error measures only rounding.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp

from rtrl import cells as cells_lib
from rtrl import validate
from rtrl.cells.base import Cell, Params
from rtrl.grad import bptt_gradient, rtrl_gradient


def test_loss(y: jax.Array, target: jax.Array) -> jax.Array:
    """A nonlinear loss of y, so that the cotangent δ varies with y."""
    return jnp.sum(jnp.sin(y) * target) + 0.5 * jnp.sum((y - target) ** 2)


test_loss.__test__ = False  # not a pytest test


def random_sequence(key: jax.Array, steps: int, batch_size: int, input_size: int, *,
                    reset_probability: float = 0.05, dtype=jnp.float64) -> tuple[jax.Array, jax.Array]:
    """Inputs (steps, batch, input) ~ N(0, 1) and resets (steps, batch): all true at step 0, then
    Bernoulli(reset_probability), plus one forced reset mid-sequence so every run has one."""
    k_x, k_r = jax.random.split(key)
    xs = jax.random.normal(k_x, (steps, batch_size, input_size), dtype)
    resets = jax.random.bernoulli(k_r, reset_probability, (steps, batch_size))
    resets = resets.at[0].set(True).at[steps // 2, 0].set(True)
    return xs, resets


def perturb(params: Params, key: jax.Array, scale: float = 0.1) -> Params:
    """Move every parameter off its initial value (so no gradient vanishes by symmetry)."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        treedef, [a + scale * jax.random.normal(k, a.shape, a.dtype) for a, k in zip(leaves, keys)]
    )


def relative_errors(estimate: Params, reference: Params) -> dict[str, float]:
    """max|estimate − reference| / max|reference| per parameter (absolute if the reference is 0)."""
    out = {}
    for name in reference:
        scale = float(jnp.max(jnp.abs(reference[name])))
        err = float(jnp.max(jnp.abs(estimate[name] - reference[name])))
        out[name] = err / scale if scale > 0 else err
    return out


@dataclasses.dataclass(frozen=True)
class GradCheck:
    cell: str
    traces: str
    shape: tuple[int, int, int, int]  # (steps, batch, input, hidden)
    resets: int  # resets inside the sequence (after step 0)
    gradient_errors: dict[str, float]  # relative error per parameter
    output_error: float  # max |y_rtrl − y_bptt| / max |y_bptt|
    loss_rtrl: float
    loss_bptt: float

    @property
    def max_error(self) -> float:
        return max(self.gradient_errors.values())


def check_cell(name: str | cells_lib.CellDef, *, hidden_size: int = 5, input_size: int = 4,
               batch_size: int = 3, steps: int = 60, traces: str | None = None, seed: int = 0,
               dtype: Any = "float64", **options: Any) -> GradCheck:
    """Compare RTRL with BPTT for one cell configuration (see the module docstring)."""
    for field, value in (("input_size", input_size), ("batch_size", batch_size), ("steps", steps)):
        validate.positive_int(field, value)
    if not validate.is_integer(seed):
        raise ValueError(f"seed must be an integer, got {seed!r}.")
    rtrl_cell = cells_lib.make(name, hidden_size=hidden_size, gradient="rtrl", dtype=dtype, traces=traces,
                               **options)
    bptt_cell = cells_lib.make(name, hidden_size=hidden_size, gradient="bptt", dtype=dtype, **options)
    (loss_r, grad_r, ys_r), (loss_b, grad_b, ys_b), resets = _compare(
        rtrl_cell, bptt_cell, jax.random.PRNGKey(seed), steps, batch_size, input_size)
    return GradCheck(
        cell=rtrl_cell.name,
        traces=rtrl_cell.traces,
        shape=(steps, batch_size, input_size, hidden_size),
        resets=int(jnp.sum(resets[1:])),
        gradient_errors=relative_errors(grad_r, grad_b),
        output_error=float(jnp.max(jnp.abs(ys_r - ys_b)) / jnp.max(jnp.abs(ys_b))),
        loss_rtrl=float(loss_r),
        loss_bptt=float(loss_b),
    )


@functools.partial(jax.jit, static_argnums=(0, 1, 3, 4, 5))
def _compare(rtrl_cell: Cell, bptt_cell: Cell, key, steps: int, batch_size: int, input_size: int):
    """One compiled program: random parameters and sequence, then (loss, gradient, outputs) by RTRL
    and by BPTT."""
    k_init, k_perturb, k_seq, k_target = jax.random.split(key, 4)
    params = perturb(rtrl_cell.init(k_init, input_size), k_perturb)
    xs, resets = random_sequence(k_seq, steps, batch_size, input_size, dtype=rtrl_cell.dtype)
    targets = jax.random.normal(k_target, (steps, batch_size, rtrl_cell.output_size), rtrl_cell.dtype)
    results = []
    for cell, gradient in ((rtrl_cell, rtrl_gradient), (bptt_cell, bptt_gradient)):
        carry = cell.initial_carry(params, batch_size)
        results.append(gradient(cell, params, carry, xs, resets, targets, test_loss))
    return results[0], results[1], resets
