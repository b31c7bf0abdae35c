"""`TDConfig`: the hyperparameters of an online TD(λ) prediction learner, validated on construction."""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, Mapping

import jax

from rtrl import cells

LEARNERS = ("rtrl", "tbptt")
OPTIMIZERS = ("adam", "sgd")
DTYPES = ("float32", "float64")


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
      step_size: the optimizer's learning rate (> 0).
      cell_options: the cell's own options (e.g. ``{"activation": "tanh", "r_max": 0.99}`` for an
        RTU; also ``traces`` for the RTRL rule), passed to `rtrl.cells.make`. Stored as a sorted
        tuple of (name, value) pairs so that the config stays hashable.
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
    cell_options: Mapping[str, Any] | tuple[tuple[str, Any], ...] = ()
    dtype: str = "float32"
    cumulant_index: int = 0
    projection: int = 0
    projection_activation: str = "relu"

    def __post_init__(self):
        if self.learner not in LEARNERS:
            raise ValueError(f"learner must be one of {LEARNERS}, got {self.learner!r}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}.")
        _check_positive_int("hidden_size", self.hidden_size)
        if self.learner == "tbptt":
            if self.truncation is None:
                raise ValueError("truncation is required with learner='tbptt': give a positive integer T "
                                 "(the number of past observations backpropagated through).")
            _check_positive_int("truncation", self.truncation)
        elif self.truncation is not None:
            raise ValueError(f"truncation applies to learner='tbptt' only, got truncation={self.truncation!r} "
                             f"with learner={self.learner!r}; leave it None.")
        if not _is_real(self.gamma) or not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"gamma must be a number in [0, 1) (a continuing task needs γ < 1), "
                             f"got {self.gamma!r}.")
        if not _is_real(self.lambda_) or not 0.0 <= self.lambda_ <= 1.0:
            raise ValueError(f"lambda_ must be a number in [0, 1], got {self.lambda_!r}.")
        if not _is_real(self.step_size) or not self.step_size > 0.0:
            raise ValueError(f"step_size must be a positive number, got {self.step_size!r} (to freeze the "
                             "parameters, pass optimizer=optax.set_to_zero() to make_learner).")
        if isinstance(self.cumulant_index, bool) or not isinstance(self.cumulant_index, int) \
                or self.cumulant_index < 0:
            raise ValueError(f"cumulant_index must be a non-negative integer, got {self.cumulant_index!r}.")
        if isinstance(self.projection, bool) or not isinstance(self.projection, int) or self.projection < 0:
            raise ValueError(f"projection must be a non-negative integer (0: no projection), got {self.projection!r}.")
        if self.projection_activation not in ("relu", "tanh", "identity"):
            raise ValueError(f"projection_activation must be one of relu, tanh, identity, got "
                             f"{self.projection_activation!r}.")
        object.__setattr__(self, "cell_options", cells.normalise_options(self.cell_options))
        try:
            cells.definition(self.cell)
        except ValueError as e:
            raise ValueError(f"cell: {e}") from None
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}.")
        if self.dtype == "float64" and not jax.config.jax_enable_x64:
            raise ValueError("dtype='float64' needs 64-bit mode: call jax.config.update('jax_enable_x64', True) "
                             "before creating the config.")
        try:
            self.make_cell()
        except ValueError as e:  # an unknown or bad cell option
            raise ValueError(f"cell_options: {e}") from None

    def make_cell(self) -> cells.Cell:
        """The recurrent cell: gradient "rtrl" for the RTRL learner, "bptt" for T-BPTT."""
        gradient = "rtrl" if self.learner == "rtrl" else "bptt"
        return cells.make(self.cell, hidden_size=self.hidden_size, gradient=gradient, dtype=self.dtype,
                          **dict(self.cell_options))


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
