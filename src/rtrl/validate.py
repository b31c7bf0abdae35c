"""The checks every config and constructor runs on what a user typed, written once.

Each check raises ``ValueError`` naming the field, what is valid and what was given, and returns
the value in its canonical type (an ``int``, a ``float``, a tuple of widths), so a caller writes

    hidden_size = validate.positive_int("hidden_size", hidden_size)

Numbers are Python or NumPy scalars, never ``bool`` (``True`` is not a width) and never strings
(parsing text is the job of the YAML/flag layer, `rtrl.experiments.config`). Real numbers must be
finite: ``inf`` and ``nan`` are refused everywhere a number is asked for.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

__all__ = [
    "FLOAT_DTYPES",
    "boolean",
    "choice",
    "finite_number",
    "float_dtype",
    "is_integer",
    "is_real",
    "non_negative_int",
    "non_negative_number",
    "auto_or_positive_int",
    "number_in",
    "positive_int",
    "positive_number",
    "widths",
]


def is_integer(value: Any) -> bool:
    """An int (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A finite real number (int or float, Python or NumPy), not a bool."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def positive_int(name: str, value: Any, *, what: str = "") -> int:
    """``value`` as an int ≥ 1. ``what`` adds a hint, e.g. "a layer width"."""
    if not is_integer(value) or value <= 0:
        raise ValueError(f"{name} must be a positive integer{_hint(what)}, got {value!r}.")
    return int(value)


def auto_or_positive_int(name: str, value: Any) -> int | str:
    """``value`` if it is "auto", else as an int ≥ 1 (a count that rtrl may choose itself)."""
    if value == "auto":
        return value
    if not is_integer(value) or value <= 0:
        raise ValueError(f"{name} must be 'auto' or a whole number >= 1, got {value!r}.")
    return int(value)


def non_negative_int(name: str, value: Any, *, what: str = "") -> int:
    """``value`` as an int ≥ 0."""
    if not is_integer(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer{_hint(what)}, got {value!r}.")
    return int(value)


def finite_number(name: str, value: Any, *, what: str = "") -> float:
    """``value`` as a finite float (any sign)."""
    if not is_real(value):
        raise ValueError(f"{name} must be a finite number{_hint(what)}, got {value!r}.")
    return float(value)


def positive_number(name: str, value: Any, *, what: str = "") -> float:
    """``value`` as a finite float > 0."""
    if not is_real(value) or not value > 0:
        raise ValueError(f"{name} must be a positive number{_hint(what)}, got {value!r}.")
    return float(value)


def non_negative_number(name: str, value: Any, *, what: str = "") -> float:
    """``value`` as a finite float ≥ 0."""
    if not is_real(value) or value < 0:
        raise ValueError(f"{name} must be a number >= 0{_hint(what)}, got {value!r}.")
    return float(value)


def number_in(name: str, value: Any, low: float, high: float, *, low_open: bool = False,
              high_open: bool = False, what: str = "") -> float:
    """``value`` as a float in the interval [low, high], ( or ) where open."""
    ok = is_real(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be a number in {interval}{_hint(what)}, got {value!r}.")
    return float(value)


def boolean(name: str, value: Any) -> bool:
    """``value`` if it is a bool (true/false in YAML); "yes", 1 or "maybe" are refused."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}.")
    return value


def choice(name: str, value: Any, valid: Iterable[Any]) -> Any:
    """``value`` if it is one of ``valid``."""
    valid = tuple(valid)
    if isinstance(value, bool) or value not in valid:
        shown = ", ".join(repr(v) for v in valid)
        raise ValueError(f"{name} must be one of {shown}, got {value!r}.")
    return value


FLOAT_DTYPES = ("float32", "float64")


def float_dtype(name: str, value: Any) -> str:
    """A parameter dtype's name, "float32" or "float64" (a NumPy/JAX dtype is accepted too); float64
    only once JAX's 64-bit mode is on, which must happen before any array is made."""
    import jax
    import numpy as np

    canonical = value if isinstance(value, str) else np.dtype(value).name
    if canonical not in FLOAT_DTYPES:  # the value as typed in the message, not its canonical form
        raise ValueError(f"{name} must be one of {', '.join(map(repr, FLOAT_DTYPES))}, got {value!r}.")
    if canonical == "float64" and not jax.config.jax_enable_x64:
        raise ValueError(f"{name}='float64' needs 64-bit mode: call jax.config.update('jax_enable_x64', True) "
                         "first, before any array is made.")
    return canonical


def widths(name: str, value: Any) -> tuple[int, ...]:
    """Hidden layer widths as a tuple of positive ints, e.g. ``(64,)``; ``()`` for no layer."""
    if isinstance(value, (str, bytes)) or is_integer(value) or not isinstance(value, Iterable):
        raise ValueError(f"{name} must be a list of positive layer widths, e.g. [64] or [], got {value!r}.")
    return tuple(positive_int(f"{name}[{i}]", w, what=" (a layer width)") for i, w in enumerate(value))


def _hint(what: str) -> str:
    return f" {what.strip()}" if what else ""
