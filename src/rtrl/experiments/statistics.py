"""Confidence intervals over seeds, written once for every table, summary and plot.

With n independent seeds x_1 … x_n of a final number (an MSRE, an episode return), the mean
x̄ = Σ x_i / n and the sample standard deviation s = √(Σ (x_i − x̄)² / (n − 1)) give the
two-sided 95% Student t interval of the mean

    x̄ ± t_{0.975, n−1} · s / √n,

where t_{0.975, n−1} is the 0.975 quantile of Student's t distribution with n − 1 degrees of
freedom (12.71 for n = 2, 4.30 for n = 3, 2.26 for n = 10, → 1.96 as n → ∞). With the 2–5 seeds
an experiment here can afford, the normal quantile 1.96 would make the interval 1.4–6.5× too
narrow. One seed has no interval: it is reported as "0.0174 (n=1)", never as "± 0".

    interval([0.017, 0.021, 0.013])      # Interval(mean=0.017, half_width=0.0099..., n=3)
    str(interval([0.017, 0.021, 0.013])) # "0.017 ± 0.0099 (95% t, n=3)"
    mean_and_half_width(curves)          # per point of learning curves (seeds, points): for plots
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import numpy as np

__all__ = ["CONFIDENCE", "DEFINITION", "Interval", "format_number", "from_dict", "interval", "mean_and_half_width",
           "t_quantile"]

CONFIDENCE = 0.95
DEFINITION = "95% Student t over seeds"


def t_quantile(n: int, confidence: float = CONFIDENCE) -> float:
    """t_{(1 + confidence)/2, n − 1}: the factor of s/√n of a two-sided interval from n ≥ 2 values."""
    if n < 2:
        raise ValueError(f"a confidence interval needs at least 2 values, got {n}.")
    from scipy import stats  # scipy comes with jax; imported here to keep `import rtrl` light

    return float(stats.t.ppf((1.0 + confidence) / 2.0, n - 1))


def mean_and_half_width(values: Any, axis: int = 0, *,
                        confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Mean over ``axis`` (the seeds) and the half-width of its Student t interval.

    The half-width is NaN where there is one seed (no interval: a plot draws no band there).
    """
    values = np.asarray(values, dtype=float)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    return mean, t_quantile(n, confidence) * values.std(axis=axis, ddof=1) / math.sqrt(n)


@dataclasses.dataclass(frozen=True)
class Interval:
    """The mean of ``n`` per-seed values and the half-width of its t interval (None for one seed)."""

    mean: float
    half_width: float | None
    n: int
    per_seed: tuple[float, ...] = ()
    confidence: float = CONFIDENCE

    def __str__(self) -> str:
        return self.format()

    def format(self, spec: str | None = None, *, compact: bool = False) -> str:
        """"0.0174 ± 0.0048 (95% t, n=3)"; one seed: "0.0174 (n=1)". ``spec`` is a format spec
        for both numbers (default: 4 significant digits, thousands separated above 1000).
        ``compact`` leaves out "(95% t, n=3)" (for a table that states it once)."""
        mean = format_number(self.mean, spec)
        if self.half_width is None:
            return f"{mean} (n={self.n})"
        interval = f"{mean} ± {format_number(self.half_width, spec)}"
        return interval if compact else f"{interval} ({self.confidence:.0%} t, n={self.n})"

    def to_dict(self) -> dict[str, Any]:
        """For summary.json: mean, ci95 (null for one seed), n, per_seed and the definition."""
        return {"mean": self.mean, "ci95": self.half_width, "n": self.n, "per_seed": list(self.per_seed),
                "interval": DEFINITION if self.confidence == CONFIDENCE else f"{self.confidence:.0%} Student t"}


def from_dict(values: dict[str, Any]) -> Interval:
    """The `Interval` written by `Interval.to_dict` (a summary.json entry)."""
    per_seed = tuple(values.get("per_seed", ()))
    n = int(values.get("n", len(per_seed) or 1))
    half = values.get("ci95")
    return Interval(float(values["mean"]), None if half is None or n < 2 else float(half), n, per_seed)


def interval(values: Sequence[float] | np.ndarray, *, confidence: float = CONFIDENCE) -> Interval:
    """The `Interval` of one number over seeds, from its per-seed values (at least one)."""
    values = np.asarray(values, dtype=float).ravel()
    if values.size == 0:
        raise ValueError("a confidence interval needs at least one value, got none.")
    mean, half = mean_and_half_width(values, confidence=confidence)
    half = None if values.size < 2 else float(half)
    return Interval(float(mean), half, int(values.size), tuple(float(v) for v in values), confidence)


def format_number(value: float, spec: str | None = None) -> str:
    """``value`` with ``spec``, or by default 4 significant digits ("0.0174", "1.06", "250.3"),
    and a thousands separator without exponent at 1000 and above ("12,346")."""
    if spec is not None:
        return format(value, spec)
    if math.isfinite(value) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"
