"""Supervised sequence learners: a recurrent cell and a readout to class logits, trained by exact
RTRL or by truncated BPTT, one parameter update per batch of whole sequences.

The model, for a batch of sequences x_0 … x_{N−1} (time-major, as `rtrl.cells.Cell.step` runs):

    (s_t, y_t) = cell(θ_cell, s_{t−1}, x_t)            s_{−1} = 0 (a reset at t = 0)
    ℓ_t = readout(θ_out, y_t)  ∈ R^C                   linear: y W + b; or one ReLU layer first
    L = Σ_t Σ_b m_{t,b} · CE(ℓ_{t,b}, k_{t,b}) / Σ_{t,b} m_{t,b}

with targets k and a mask m (1 on the scored steps: the recall phase of `rtrl.tasks.copy_task`).
Each update draws a fresh batch, computes ∇_θ L by one of three estimators and applies
optax Adam (after optional global-norm clipping). Within a sequence θ is fixed, so the estimators
differ only in how much of the dependence of L on θ they keep:

* ``"rtrl"`` — exact. The cell runs with ``gradient="rtrl"``: its carry holds the traces
  e_t = ds_t/dθ_cell, updated online, and ``jax.grad`` of ℓ_t's loss through ONE step contracts
  them (the custom VJP of `rtrl.cells.base`; no trace rule is written here). The gradient is
  accumulated step by step, G ← G + ∇_θ L_t, with no backward pass through time, and equals
  the full BPTT gradient (`rtrl.grad.rtrl_gradient` does the same for the cell's parameters
  alone; here the readout is inside the differentiated step too).
* ``"tbptt"`` — truncated BPTT with truncation k: the sequence is cut into consecutive chunks
  of k steps (t = 0…k−1, k…2k−1, …; the last chunk padded with unscored steps); each chunk is
  unrolled from the carry left by the previous one, held constant (the gradient stops there),
  and backpropagated through its own k steps. An input influences the gradient only through
  losses in its own chunk. With k ≥ N it is full BPTT.
* ``"bptt"`` — the reference: ``jax.grad`` through the whole unrolled sequence.

A batch is the cell's batch axis (the cells are batched; the RTRL contraction sums over it);
independent learners (seeds) run side by side with ``jax.vmap`` over `SupervisedLearner.init`
and `SupervisedLearner.train`. Everything is jitted and every loop is a `lax.scan`.

    config = SupervisedConfig(cell="elstm", hidden_size=64, learner="rtrl")
    learner = SupervisedLearner(config, CopyTask(length=8))
    state = learner.init(key)
    state, metrics = learner.train(state, key, num_updates=500)   # metrics.loss, metrics.accuracy (500,)
    learner.evaluate(state.params, key, batch_size=1000)            # {"accuracy": …, "sequence_accuracy": …}
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import optax

from rtrl import cells, validate
from rtrl.cells.base import Carry, Cell
from rtrl.frozendict import FrozenDict
from rtrl.grad.unroll import unroll
from rtrl.learners.config import check_cell, check_truncation

__all__ = ["LEARNERS", "Batch", "SequenceTask", "SupervisedConfig", "SupervisedLearner", "SupervisedState",
           "TrainMetrics"]

LEARNERS = ("rtrl", "tbptt", "bptt")


@dataclasses.dataclass(frozen=True)
class SupervisedConfig:
    """A supervised sequence learner, validated on construction.

    Attributes:
      cell: a name from `rtrl.cells.names()` (notably "elstm" and "rtu-linear").
      hidden_size: the cell's number of units (> 0).
      learner: "rtrl" (exact gradient accumulated online from the cell's traces), "tbptt"
        (truncated BPTT in chunks of ``truncation`` steps) or "bptt" (the whole sequence).
      truncation: k for ``learner="tbptt"`` (a positive integer, required there; rejected otherwise,
        so that a sweep cannot silently ignore it).
      step_size: Adam's learning rate (> 0).
      batch_size: sequences per update (> 0).
      max_grad_norm: clip the gradient to this global norm before Adam (> 0), or None (no clipping).
      readout_hidden: 0 for a linear readout y W + b; k > 0 for one ReLU layer of width k first.
      cell_options: the cell's own options, passed to `rtrl.cells.make` (a `FrozenDict`; a mapping
        or a tuple of (name, value) pairs is accepted).
      dtype: "float32" (default) or "float64" (needs ``jax_enable_x64``).
    """

    cell: str = "elstm"
    hidden_size: int = 64
    learner: str = "rtrl"
    truncation: int | None = None
    step_size: float = 1e-3
    batch_size: int = 32
    max_grad_norm: float | None = None
    readout_hidden: int = 0
    cell_options: Mapping[str, Any] = FrozenDict()
    dtype: str = "float32"

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 - frozen: canonical types
        validate.choice("learner", self.learner, LEARNERS)
        set_("hidden_size", validate.positive_int("hidden_size", self.hidden_size))
        set_("truncation", check_truncation(self.learner, self.truncation,
                                            "k (the steps of each backpropagated chunk)"))
        set_("step_size", validate.positive_number("step_size", self.step_size))
        set_("batch_size", validate.positive_int("batch_size", self.batch_size))
        if self.max_grad_norm is not None:
            set_("max_grad_norm", validate.positive_number("max_grad_norm", self.max_grad_norm,
                                                           what="(or None: no clipping)"))
        set_("readout_hidden", validate.non_negative_int("readout_hidden", self.readout_hidden,
                                                         what="(0: a linear readout)"))
        check_cell(self)

    def make_cell(self, gradient: str | None = None) -> Cell:
        """The cell: gradient "rtrl" for the RTRL learner, "bptt" otherwise (or as given)."""
        if gradient is None:
            gradient = "rtrl" if self.learner == "rtrl" else "bptt"
        return cells.make(self.cell, hidden_size=self.hidden_size, gradient=gradient, dtype=self.dtype,
                          **dict(self.cell_options))


class Batch(Protocol):
    """What a task's ``sample_batch`` returns (e.g. `rtrl.tasks.copy_task.CopyBatch`), time-major."""

    inputs: jax.Array  # (N, B, input_size)
    targets: jax.Array  # (N, B) int class labels
    mask: jax.Array  # (N, B) bool: the scored steps


class SequenceTask(Protocol):
    """A task a `SupervisedLearner` trains on (e.g. `rtrl.tasks.copy_task.CopyTask`)."""

    @property
    def input_size(self) -> int: ...

    @property
    def num_classes(self) -> int: ...

    def sample_batch(self, key: jax.Array, batch_size: int) -> Batch: ...


class SupervisedState(NamedTuple):
    """A learner between updates (add a leading (seeds,) axis to every leaf for `jax.vmap`)."""

    params: dict[str, Any]  # {"cell": the cell's params, "readout": {"W", "b"[, "W_hidden", "b_hidden"]}}
    opt_state: Any
    updates: jax.Array  # () int32, updates made so far


class TrainMetrics(NamedTuple):
    """Per update, on that update's fresh batch, before the update: a held-out estimate."""

    loss: jax.Array  # L of the batch (the masked mean cross-entropy)
    accuracy: jax.Array  # fraction of scored steps whose arg-max class is the target


def _cross_entropy(logits: jax.Array, targets: jax.Array, mask: jax.Array, normaliser: jax.Array) -> jax.Array:
    """Σ mask · CE(logits, targets) / normaliser over every leading axis."""
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    return jnp.sum(jnp.where(mask, ce, 0.0)) / normaliser


@dataclasses.dataclass(frozen=True)
class SupervisedLearner:
    """A cell + readout trained on ``task`` as ``config`` says (see the module docstring).

    ``init``, ``train``, ``loss_and_grad`` and ``evaluate`` are pure and jitted; ``train`` is a
    `lax.scan` over updates.
    """

    config: SupervisedConfig
    task: SequenceTask

    def __post_init__(self):
        if not isinstance(self.config, SupervisedConfig):
            raise TypeError(f"config must be a SupervisedConfig, got {type(self.config).__name__}.")
        validate.positive_int("task.input_size", self.task.input_size)
        validate.positive_int("task.num_classes", self.task.num_classes)

    @property
    def cell(self) -> Cell:
        return self.config.make_cell()

    @property
    def optimizer(self) -> optax.GradientTransformation:
        adam = optax.adam(self.config.step_size)
        if self.config.max_grad_norm is None:
            return adam
        return optax.chain(optax.clip_by_global_norm(self.config.max_grad_norm), adam)

    # -- parameters -------------------------------------------------------------------------

    @functools.partial(jax.jit, static_argnums=0)
    def init(self, key: jax.Array) -> SupervisedState:
        """Cell parameters from the cell's initialiser; readout weights LeCun-normal, biases zero."""
        k_cell, k_out, k_hidden = jax.random.split(key, 3)
        cell = self.cell
        dtype = jnp.dtype(self.config.dtype)
        width, classes = cell.output_size, self.task.num_classes
        readout: dict[str, jax.Array] = {}
        if self.config.readout_hidden:
            hidden = self.config.readout_hidden
            readout["W_hidden"] = jax.nn.initializers.lecun_normal()(k_hidden, (width, hidden), dtype)
            readout["b_hidden"] = jnp.zeros((hidden,), dtype)
            width = hidden
        readout["W"] = jax.nn.initializers.lecun_normal()(k_out, (width, classes), dtype)
        readout["b"] = jnp.zeros((classes,), dtype)
        params = {"cell": cell.init(k_cell, self.task.input_size), "readout": readout}
        return SupervisedState(params, self.optimizer.init(params), jnp.zeros((), jnp.int32))

    @staticmethod
    def readout(readout: dict[str, jax.Array], y: jax.Array) -> jax.Array:
        """Class logits from the cell's output y (…, output_size)."""
        if "W_hidden" in readout:
            y = jax.nn.relu(y @ readout["W_hidden"] + readout["b_hidden"])
        return y @ readout["W"] + readout["b"]

    # -- gradients --------------------------------------------------------------------------

    @functools.partial(jax.jit, static_argnums=0)
    def loss_and_grad(self, params: dict[str, Any], inputs: jax.Array, targets: jax.Array,
                      mask: jax.Array) -> tuple[jax.Array, dict[str, Any], jax.Array]:
        """(L, ∇_θ L as the learner estimates it, logits (N, B, C)) for one batch, θ fixed.

        Args: inputs (N, B, input_size), targets (N, B) ints, mask (N, B) bool (time-major).
        """
        dtype = jnp.dtype(self.config.dtype)
        inputs = jnp.asarray(inputs).astype(dtype)
        mask = jnp.asarray(mask, bool)
        # the mean over scored steps; max(·, 1) keeps a batch with nothing scored at L = 0
        normaliser = jnp.maximum(jnp.sum(mask), 1).astype(dtype)
        resets = jnp.zeros(mask.shape, bool).at[0].set(True)
        if self.config.learner == "rtrl":
            return self._rtrl(params, inputs, targets, mask, resets, normaliser)
        chunk = self.config.truncation if self.config.learner == "tbptt" else inputs.shape[0]
        return self._truncated(params, inputs, targets, mask, resets, normaliser, chunk)

    def _rtrl(self, params, inputs, targets, mask, resets, normaliser):
        """Σ_t ∇_θ L_t, each through ONE step of the ``gradient="rtrl"`` cell (its traces carry the past)."""
        cell = self.cell

        def body(acc: tuple[Carry, jax.Array, dict[str, Any]], step_inputs):
            carry, loss, grads = acc
            x_t, target_t, mask_t, reset_t = step_inputs

            def step_loss(p):
                new_carry, y_t = cell.step(p["cell"], carry, x_t, reset_t)
                logits_t = self.readout(p["readout"], y_t)
                return _cross_entropy(logits_t, target_t, mask_t, normaliser), (new_carry, logits_t)

            (loss_t, (carry, logits_t)), grads_t = jax.value_and_grad(step_loss, has_aux=True)(params)
            return (carry, loss + loss_t, jax.tree.map(jnp.add, grads, grads_t)), logits_t

        batch = inputs.shape[1]
        init = (cell.initial_carry(params["cell"], batch), jnp.zeros((), normaliser.dtype),
                jax.tree.map(jnp.zeros_like, params))
        (_, loss, grads), logits = jax.lax.scan(body, init, (inputs, targets, mask, resets))
        return loss, grads, logits

    def _truncated(self, params, inputs, targets, mask, resets, normaliser, chunk: int):
        """Σ over chunks of k steps of ∇_θ (the chunk's loss), each unrolled from the previous
        chunk's final carry taken as a constant."""
        cell = self.cell
        steps, batch = mask.shape
        chunks = -(-steps // chunk)
        pad = chunks * chunk - steps  # unscored steps after the end: they change no gradient

        def split(a):
            a = jnp.concatenate([a, jnp.zeros((pad,) + a.shape[1:], a.dtype)]) if pad else a
            return a.reshape((chunks, chunk) + a.shape[1:])

        def body(acc: tuple[Carry, jax.Array, dict[str, Any]], chunk_inputs):
            carry, loss, grads = acc
            xs, ks, ms, rs = chunk_inputs

            def chunk_loss(p):
                # ``carry`` is a constant here: this is where the gradient is truncated
                end, ys = unroll(cell, p["cell"], carry, xs, rs)
                logits = self.readout(p["readout"], ys)
                return _cross_entropy(logits, ks, ms, normaliser), (end, logits)

            (loss_c, (carry, logits)), grads_c = jax.value_and_grad(chunk_loss, has_aux=True)(params)
            return (jax.lax.stop_gradient(carry), loss + loss_c, jax.tree.map(jnp.add, grads, grads_c)), logits

        init = (cell.initial_carry(params["cell"], batch), jnp.zeros((), normaliser.dtype),
                jax.tree.map(jnp.zeros_like, params))
        (_, loss, grads), logits = jax.lax.scan(body, init, tuple(map(split, (inputs, targets, mask, resets))))
        return loss, grads, logits.reshape((chunks * chunk,) + logits.shape[2:])[:steps]

    # -- training ---------------------------------------------------------------------------

    @functools.partial(jax.jit, static_argnums=0)
    def update(self, state: SupervisedState, key: jax.Array) -> tuple[SupervisedState, TrainMetrics]:
        """One Adam step on the gradient of a fresh batch drawn from ``key``."""
        batch = self.task.sample_batch(key, self.config.batch_size)
        loss, grads, logits = self.loss_and_grad(state.params, batch.inputs, batch.targets, batch.mask)
        updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        accuracy = _masked_accuracy(logits, batch.targets, batch.mask)
        return SupervisedState(params, opt_state, state.updates + 1), TrainMetrics(loss, accuracy)

    def train(self, state: SupervisedState, key: jax.Array, num_updates: int) -> tuple[SupervisedState, TrainMetrics]:
        """``num_updates`` updates, batch i drawn from ``split(key, num_updates)[i]``; metrics (num_updates,)."""
        num_updates = validate.positive_int("num_updates", num_updates)
        return self._train(state, key, num_updates)

    @functools.partial(jax.jit, static_argnums=(0, 3))
    def _train(self, state: SupervisedState, key: jax.Array, num_updates: int):
        return jax.lax.scan(self.update, state, jax.random.split(key, num_updates))

    def logits(self, params: dict[str, Any], inputs: jax.Array) -> jax.Array:
        """Forward only (no traces): logits (N, B, C) for inputs (N, B, input_size)."""
        cell = self.config.make_cell("bptt")  # same parameters; evaluation needs no gradient
        inputs = jnp.asarray(inputs).astype(jnp.dtype(self.config.dtype))
        steps, batch = inputs.shape[:2]
        resets = jnp.zeros((steps, batch), bool).at[0].set(True)
        _, ys = unroll(cell, params["cell"], cell.initial_carry(params["cell"], batch), inputs, resets)
        return self.readout(params["readout"], ys)

    def evaluate(self, params: dict[str, Any], key: jax.Array, batch_size: int = 1000) -> dict[str, jax.Array]:
        """On a fresh batch from ``key``: the fraction of scored steps right ("accuracy") and of
        sequences with every scored step right ("sequence_accuracy")."""
        batch_size = validate.positive_int("batch_size", batch_size)
        return self._evaluate(params, key, batch_size)

    @functools.partial(jax.jit, static_argnums=(0, 3))
    def _evaluate(self, params, key, batch_size):
        batch = self.task.sample_batch(key, batch_size)
        predicted = jnp.argmax(self.logits(params, batch.inputs), axis=-1)
        wrong = jnp.logical_and(batch.mask, predicted != batch.targets)
        return {"accuracy": _masked_accuracy_from(predicted, batch.targets, batch.mask),
                "sequence_accuracy": jnp.mean(jnp.logical_not(jnp.any(wrong, axis=0)))}


def _masked_accuracy_from(predicted: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
    right = jnp.logical_and(mask, predicted == targets)
    return jnp.sum(right) / jnp.maximum(jnp.sum(mask), 1)


def _masked_accuracy(logits: jax.Array, targets: jax.Array, mask: jax.Array) -> jax.Array:
    return _masked_accuracy_from(jnp.argmax(logits, axis=-1), targets, mask)
