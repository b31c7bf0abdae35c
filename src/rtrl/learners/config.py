"""`TDConfig`: the hyperparameters of an online TD(λ) prediction learner, validated on construction."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping


from rtrl import cells, validate
from rtrl.frozendict import FrozenDict

LEARNERS = ("rtrl", "tbptt")
OPTIMIZERS = ("adam", "sgd")
PROJECTION_ACTIVATIONS = ("relu", "tanh", "identity")


def check_truncation(learner: str, truncation: Any, what: str) -> int | None:
    """A learner's ``truncation``: a positive integer with learner "tbptt" (``what`` says what it counts),
    None with any other learner."""
    if learner == "tbptt":
        if truncation is None:
            raise ValueError(f"truncation is required with learner='tbptt': give a positive integer {what}.")
        return validate.positive_int("truncation", truncation)
    if truncation is not None:
        raise ValueError(f"truncation applies to learner='tbptt' only, got truncation={truncation!r} "
                         f"with learner={learner!r}; leave it None.")
    return None


def check_cell(config: Any) -> None:
    """A learner config's cell fields (``cell``, ``cell_options``, ``dtype``, ``make_cell()``): the options
    frozen, then the cell name, the dtype and the options checked, each error naming its field."""
    object.__setattr__(config, "cell_options", FrozenDict(cells.normalise_options(config.cell_options)))
    try:
        cells.definition(config.cell)
    except ValueError as e:
        raise ValueError(f"cell: {e}") from None
    validate.float_dtype("dtype", config.dtype)
    try:
        config.make_cell()
    except ValueError as e:  # an unknown or bad cell option
        raise ValueError(f"cell_options: {e}") from None


@dataclasses.dataclass(frozen=True)
class TDConfig:
    """An online TD(λ) learner: a recurrent cell, a linear value head, and how ∇V is computed.

    Attributes:
      cell: a name from `rtrl.cells.names()` (rtu-linear, rtu-nonlinear, lru, elstm, gru, lstm, rnn).
      hidden_size: the cell's number of units (> 0).
      learner: "rtrl" (exact real-time gradients through the cell's traces) or "tbptt" (truncated
        backpropagation through a rolling window of the last ``truncation`` observations).
      truncation: T for ``learner="tbptt"`` (a positive integer, required there). It is rejected
        with ``learner="rtrl"``, which has no truncation, so that a sweep cannot silently ignore it.
      gamma: the discount γ of the predicted return, in [0, 1).
      lambda_: the eligibility-trace decay λ, in [0, 1].
      optimizer: "adam" (optax.adam) or "sgd" (optax.sgd), fed the direction −δ·z every step.
      step_size: the optimizer's learning rate (> 0, finite). To freeze the parameters, pass
        ``optimizer=optax.set_to_zero()`` to `make_learner` instead.
      cell_options: the cell's own options (e.g. ``{"activation": "tanh", "r_max": 0.99}`` for an
        RTU; also ``traces`` for the RTRL rule), passed to `rtrl.cells.make`. Stored as a
        `rtrl.frozendict.FrozenDict` (immutable, hashable); a tuple of (name, value) pairs is accepted.
      dtype: "float32" (default) or "float64" (needs ``jax_enable_x64``).
      cumulant_index: which entry of the observation is the cumulant c_t (0: the US bit).
      projection: width k of a projection layer z = f(y P + c) between the cell and the linear value
        head (0: none, the head reads y directly).
      projection_activation: f of the projection: "relu", "tanh" or "identity" (a linear projection).
    """

    cell: str = "rtu-linear"
    hidden_size: int = 32
    learner: str = "rtrl"
    truncation: int | None = None
    gamma: float = 0.9
    lambda_: float = 0.9
    optimizer: str = "adam"
    step_size: float = 1e-3
    cell_options: Mapping[str, Any] = FrozenDict()
    dtype: str = "float32"
    cumulant_index: int = 0
    projection: int = 0
    projection_activation: str = "relu"

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 - frozen: canonical types
        validate.choice("learner", self.learner, LEARNERS)
        validate.choice("optimizer", self.optimizer, OPTIMIZERS)
        set_("hidden_size", validate.positive_int("hidden_size", self.hidden_size))
        set_("truncation", check_truncation(self.learner, self.truncation,
                                            "T (the number of past observations backpropagated through)"))
        set_("gamma", validate.number_in("gamma", self.gamma, 0.0, 1.0, high_open=True,
                                         what="(a continuing task needs γ < 1)"))
        set_("lambda_", validate.number_in("lambda_", self.lambda_, 0.0, 1.0))
        set_("step_size", validate.positive_number("step_size", self.step_size))
        set_("cumulant_index", validate.non_negative_int("cumulant_index", self.cumulant_index))
        set_("projection", validate.non_negative_int("projection", self.projection, what="(0: no projection)"))
        validate.choice("projection_activation", self.projection_activation, PROJECTION_ACTIVATIONS)
        check_cell(self)

    def make_cell(self) -> cells.Cell:
        """The recurrent cell: gradient "rtrl" for the RTRL learner, "bptt" for T-BPTT."""
        gradient = "rtrl" if self.learner == "rtrl" else "bptt"
        return cells.make(self.cell, hidden_size=self.hidden_size, gradient=gradient, dtype=self.dtype,
                          **dict(self.cell_options))

