"""Classical-conditioning prediction tasks (Rafiee et al. 2022, arXiv 2011.04590): registry and public API.

    task = rtrl.tasks.make("trace-conditioning", isi=10, num_distractors=0)   # a frozen dataclass
    state = task.reset(key)                      # TaskState; the stream is a pure function of key
    state, obs_t = task.step(state)              # float32 (observation_size,), obs_t[0] = US_t = cumulant
    state, obs = task.generate(state, steps)     # (steps, observation_size); chunks continue the stream
    g = rtrl.tasks.returns(obs[:, 0], task.gamma)            # G_t = Σ_k γ^k US_{t+1+k}
    oracle = rtrl.tasks.Oracle(task)                          # E[G_t | o_0..o_t], exact
    _, v = rtrl.tasks.predict(oracle, oracle.init(state0), obs)
    rtrl.tasks.msre(v, g)

`names()` lists the tasks; see `rtrl.tasks.conditioning` for the semantics and observation layouts and
`rtrl.tasks.predictors` for how the oracle works. `rtrl.tasks.copy_task` is a supervised task of
another kind (Irie et al.'s copy task, done right: `CopyTask`), learned by `rtrl.learners.supervised`.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from rtrl.tasks import copy_task
from rtrl.tasks.conditioning import (
    DEFAULT_GAMMA,
    GAMMA_BY_ISI,
    MAX_DISTRACTORS,
    NoisyPatterning,
    TaskState,
    TraceConditioning,
    TracePatterning,
    gamma_for_isi,
    isi_interval,
)
from rtrl.tasks.predictors import ConstantPredictor, Oracle, OracleState, Predictor, ZeroPredictor, predict
from rtrl.tasks.returns import msre, returns

__all__ = [
    "copy_task",
    "ConstantPredictor",
    "DEFAULT_GAMMA",
    "GAMMA_BY_ISI",
    "MAX_DISTRACTORS",
    "NoisyPatterning",
    "Oracle",
    "OracleState",
    "Predictor",
    "Task",
    "TaskState",
    "TraceConditioning",
    "TracePatterning",
    "ZeroPredictor",
    "gamma_for_isi",
    "isi_interval",
    "make",
    "msre",
    "names",
    "options",
    "predict",
    "returns",
]

Task = TraceConditioning | TracePatterning
"""Any conditioning task (`NoisyPatterning` is a `TracePatterning`)."""

_REGISTRY: dict[str, type[TraceConditioning] | type[TracePatterning]] = {
    cls.name: cls for cls in (TraceConditioning, TracePatterning, NoisyPatterning)
}


def names() -> list[str]:
    """The names `make` accepts, in a stable order."""
    return list(_REGISTRY)


def options(name: str) -> list[str]:
    """The options `make(name, ...)` accepts."""
    return [f.name for f in dataclasses.fields(_task_class(name)) if f.init]


def _task_class(name: str) -> type[TraceConditioning] | type[TracePatterning]:
    if not isinstance(name, str) or name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(_REGISTRY)}.{hint}")
    return _REGISTRY[name]


def make(name: str, **opts: Any) -> Task:
    """Build a task by name (the same as calling its class), with the reference's conventions for ISI and γ.

    Args:
      name: one of `names()`.
      isi: the reference's ISI number (``isi=10`` -> interval (7, 13), γ 0.9; see `isi_interval` and
        `GAMMA_BY_ISI`) or an interval ``(low, high)`` (then γ defaults to 0.9). Default (7, 13).
        Noisy patterning takes no isi: its ISI is the CS length.
      gamma: discount in [0, 1); default from the ISI as above (noisy patterning: the table's entry for
        ISI = cs_length, 0.75 for the default 4).
      iti: ITI interval (low, high), default (80, 120).
      num_distractors: 0..10, default 0.
      cs_length, us_length, distractor_length: stimulus lengths, default 4, 2, 4.
      num_cs, num_patterns, pattern_prob, noise: patterning only (n, k, π, ν), default 6, 10, 0.5, 0.1.

    Raises:
      ValueError: unknown name or option, or a value out of range (naming the field and the valid values).
    """
    cls = _task_class(name)
    valid = options(name)
    unknown = sorted(set(opts) - set(valid))
    if unknown:
        hints = []
        for u in unknown:
            close = difflib.get_close_matches(u, valid, n=1)
            if cls is NoisyPatterning and u == "isi":
                hints.append("isi (its ISI is fixed to cs_length)")
            else:
                hints.append(f"{u} (did you mean {close[0]!r}?)" if close else u)
        raise ValueError(f"task {name!r} does not take option(s) {', '.join(hints)}; "
                         f"its options are: {', '.join(valid)}.")
    try:
        return cls(**opts)
    except TypeError as e:  # should not happen after the option check; keep the ValueError contract
        raise ValueError(f"task {name!r}: bad option: {e}") from None
