"""`make_learner`: a `TDConfig` to a runnable online TD(λ) learner."""

from __future__ import annotations

import optax

from rtrl import validate
from rtrl.learners.config import TDConfig
from rtrl.learners.rtrl_td import RTRLValue
from rtrl.learners.tbptt_td import TBPTTValue
from rtrl.learners.td_lambda import TDLearner, make_optimizer


def make_learner(config: TDConfig, observation_size: int, *,
                 optimizer: optax.GradientTransformation | None = None) -> TDLearner:
    """Build the learner ``config`` describes for observations of size ``observation_size``.

    Args:
      config: a `TDConfig`.
      observation_size: length of each observation vector o_t (> ``config.cumulant_index``).
      optimizer: an optax transformation to use instead of ``config.optimizer`` and
        ``config.step_size`` (e.g. a chain with clipping, or ``optax.set_to_zero()`` to freeze the
        parameters). It receives the direction −δ·z as its "gradient".
    """
    if not isinstance(config, TDConfig):
        raise TypeError(f"config must be a TDConfig, got {type(config).__name__}.")
    observation_size = validate.positive_int("observation_size", observation_size)
    if config.cumulant_index >= observation_size:
        raise ValueError(f"cumulant_index={config.cumulant_index} is outside an observation of size "
                         f"{observation_size}.")
    if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, got {type(optimizer).__name__}.")
    cell = config.make_cell()
    activation = config.projection_activation
    gradient = RTRLValue(cell, activation) if config.learner == "rtrl" else TBPTTValue(cell, config.truncation,
                                                                                       activation)
    return TDLearner(config, observation_size, cell, gradient, optimizer or make_optimizer(config))
