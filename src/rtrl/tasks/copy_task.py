"""The copy task, done right: remember T random bits over a delay and recall both symbols in order.

Irie, Gopalakrishnan & Schmidhuber (ICLR 2024, arXiv 2305.19044) report an eLSTM trained by RTRL
at 100% on a copy task up to length 1000, but the public loader never asks for the bit "1": every
scored target is the same symbol, so a constant predictor is perfect. Here both symbols are drawn
with probability 1/2 and every recalled bit is scored, so a predictor without memory scores 50%.

One sequence of ``length`` = T bits and ``delay`` = D blank steps has N = 2T + D steps:

    step t                 0 … T−1            T … T+D−1         T+D … 2T+D−1
    input token            bit b_t            blank             recall
    target (mask = 1)      –                  –                 b_{t−T−D}

Input encoding: a one-hot vector over four tokens (``input_size`` = 4), exactly one channel on per
step:

    channel 0  BIT_0    the bit 0 is presented
    channel 1  BIT_1    the bit 1 is presented
    channel 2  BLANK    nothing is presented (the delay)
    channel 3  RECALL   "recall now": answer with the next stored bit

The recall marker is on at every recall step and carries no information about the bit asked for,
so the i-th recall step's answer must come from memory (bit b_i is needed N_gap = T + D steps after
it was shown, for every i). Targets are ints in {0, 1}, one per step, 0 where the mask is 0; the
mask is 1 exactly on the T recall steps, and a learner's loss and accuracy are taken over masked
steps only.

Randomness: the bits of one sequence are ``jax.random.bernoulli(key, 0.5, (T,))``; a batch draws
one key per sequence with ``jax.random.split``. Everything is a pure function of the key, jits,
and vmaps over keys. Arrays are time-major, as `rtrl.cells.Cell.step` is stepped over time:

    task = CopyTask(length=8, delay=2)
    batch = task.sample_batch(key, 32)   # inputs (N, 32, 4) float32, targets (N, 32) int32, mask (N, 32) bool
    accuracy(predicted_bits, batch)      # the fraction of recalled bits that are right
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rtrl import validate

__all__ = ["BIT_0", "BIT_1", "BLANK", "CopyBatch", "CopyTask", "INPUT_SIZE", "NUM_CLASSES", "RECALL", "accuracy",
           "sequence_accuracy"]

BIT_0, BIT_1, BLANK, RECALL = 0, 1, 2, 3
INPUT_SIZE = 4
"""One-hot channels: BIT_0, BIT_1, BLANK, RECALL."""
NUM_CLASSES = 2
"""A recall step's answer: the bit 0 or 1."""


class CopyBatch(NamedTuple):
    """Sequences of the copy task, time-major (a single sequence from `CopyTask.sample` has no batch axis).

    inputs:  (N, B, 4) float32 one-hot tokens (see the module docstring).
    targets: (N, B) int32: the bit to recall on recall steps, 0 elsewhere.
    mask:    (N, B) bool: true exactly on the T recall steps.
    bits:    (T, B) int32: the presented bits, in order.
    """

    inputs: jax.Array
    targets: jax.Array
    mask: jax.Array
    bits: jax.Array


@dataclasses.dataclass(frozen=True)
class CopyTask:
    """Copy ``length`` random bits after ``delay`` blank steps (see the module docstring).

    Attributes:
      length: T ≥ 1, the number of bits to remember (and of recall steps).
      delay: D ≥ 0, blank steps between the last bit and the first recall step.
    """

    length: int = 8
    delay: int = 0

    def __post_init__(self):
        object.__setattr__(self, "length", validate.positive_int("length", self.length,
                                                                  what="(the number of bits to copy)"))
        object.__setattr__(self, "delay", validate.non_negative_int("delay", self.delay,
                                                                     what="(blank steps before the recall)"))

    @property
    def num_steps(self) -> int:
        """N = 2T + D, the steps of one sequence."""
        return 2 * self.length + self.delay

    @property
    def input_size(self) -> int:
        return INPUT_SIZE

    @property
    def num_classes(self) -> int:
        return NUM_CLASSES

    @property
    def recall_start(self) -> int:
        """T + D, the first recall step (also the gap between a bit and its recall)."""
        return self.length + self.delay

    @functools.partial(jax.jit, static_argnums=0)
    def sample(self, key: jax.Array) -> CopyBatch:
        """One sequence: inputs (N, 4), targets (N,), mask (N,), bits (T,)."""
        T, start, N = self.length, self.recall_start, self.num_steps
        bits = jax.random.bernoulli(key, 0.5, (T,)).astype(jnp.int32)
        t = jnp.arange(N)
        presenting = t < T
        recalling = t >= start
        token = jnp.where(presenting, bits[jnp.minimum(t, T - 1)], jnp.where(recalling, RECALL, BLANK))
        # the bit presented at step t − (T + D), read on recall steps only
        targets = jnp.where(recalling, bits[jnp.clip(t - start, 0, T - 1)], 0).astype(jnp.int32)
        inputs = jax.nn.one_hot(token, INPUT_SIZE, dtype=jnp.float32)
        return CopyBatch(inputs, targets, recalling, bits)

    def sample_batch(self, key: jax.Array, batch_size: int) -> CopyBatch:
        """``batch_size`` independent sequences (one key each from ``split(key)``), time-major:
        inputs (N, B, 4), targets (N, B), mask (N, B), bits (T, B)."""
        batch_size = validate.positive_int("batch_size", batch_size)
        return self._sample_batch(key, batch_size)

    @functools.partial(jax.jit, static_argnums=(0, 2))
    def _sample_batch(self, key: jax.Array, batch_size: int) -> CopyBatch:
        batch = jax.vmap(self.sample)(jax.random.split(key, batch_size))
        return jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), batch)


def accuracy(predicted: jax.Array, batch: CopyBatch) -> jax.Array:
    """The fraction of recalled bits predicted right: Σ mask·[predicted = target] / Σ mask.

    ``predicted`` has the shape of ``batch.targets`` (ints; a prediction off the mask is ignored).
    """
    right = jnp.logical_and(batch.mask, predicted == batch.targets)
    return jnp.sum(right) / jnp.sum(batch.mask)


def sequence_accuracy(predicted: jax.Array, batch: CopyBatch) -> jax.Array:
    """The fraction of sequences whose every recalled bit is right (time axis 0)."""
    wrong = jnp.logical_and(batch.mask, predicted != batch.targets)
    return jnp.mean(jnp.logical_not(jnp.any(wrong, axis=0)))
