"""Observation and action spaces shared by the JAX-native and the host (gymnasium) back-ends.

Two kinds only:

* `Discrete(n)`: an integer action (or observation) in ``{0, ..., n-1}``, shape ``()``.
* `Box(shape, low, high)`: a float array of ``shape`` with element-wise bounds.

Observations are always `Box` (float32): discrete observations are one-hot encoded, exactly as
``gymnasium.spaces.utils.flatten`` encodes them (see `flatten_gymnasium_space`), so a JAX port and
the popgym original give identical observation vectors for identical underlying states.
The spaces are frozen and hashable, so JAX environments holding them can be static arguments.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from rtrl import validate

__all__ = ["Box", "Discrete", "Space", "flatten_gymnasium_space", "from_gymnasium_action_space"]


@dataclasses.dataclass(frozen=True)
class Discrete:
    """Integers ``0 .. n-1`` (shape ``()``), for actions such as popgym's card answers."""

    n: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", validate.positive_int("Discrete.n", self.n))

    @property
    def shape(self) -> tuple[int, ...]:
        return ()

    def contains(self, x: Any) -> bool:
        """Whether ``x`` is an integer scalar in range (host-side check)."""
        a = np.asarray(x)
        return a.shape == () and np.issubdtype(a.dtype, np.integer) and 0 <= int(a) < self.n

    def __repr__(self) -> str:
        return f"Discrete({self.n})"


@dataclasses.dataclass(frozen=True)
class Box:
    """Float arrays of ``shape`` with element-wise bounds.

    ``low``/``high`` are a float (the same bound for every element) or a flat tuple of
    ``prod(shape)`` floats; ``-inf``/``inf`` mean unbounded.
    """

    shape: tuple[int, ...]
    low: float | tuple[float, ...] = -math.inf
    high: float | tuple[float, ...] = math.inf

    def __post_init__(self) -> None:
        shape = self.shape
        if validate.is_integer(shape):
            shape = (int(shape),)
        if not isinstance(shape, tuple) or not all(validate.is_integer(s) and s > 0 for s in shape):
            raise ValueError(f"Box.shape must be a tuple of positive integers, got {self.shape!r}")
        object.__setattr__(self, "shape", tuple(int(s) for s in shape))
        size = self.size
        for field in ("low", "high"):
            value = getattr(self, field)
            if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
                object.__setattr__(self, field, float(value))
                continue
            flat = tuple(float(v) for v in np.asarray(value, dtype=np.float64).reshape(-1))
            if len(flat) != size:
                raise ValueError(
                    f"Box.{field} must be a float or hold prod(shape) = {size} values, got {len(flat)} values"
                )
            if len(set(flat)) == 1:
                object.__setattr__(self, field, flat[0])
            else:
                object.__setattr__(self, field, flat)
        # the bounds as arrays, made once (host envs check every action against them) and read-only
        for field in ("low", "high"):
            array = self._bound_array(getattr(self, field))
            array.setflags(write=False)
            object.__setattr__(self, f"_{field}_array", array)
        if np.any(self.low_array > self.high_array):
            raise ValueError(f"Box.low must be <= Box.high element-wise, got low={self.low}, high={self.high}")

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def _bound_array(self, value: float | tuple[float, ...]) -> np.ndarray:
        if isinstance(value, tuple):
            return np.asarray(value, np.float32).reshape(self.shape)
        return np.full(self.shape, value, np.float32)

    @property
    def low_array(self) -> np.ndarray:
        """Lower bounds as a (read-only) float32 array of ``shape``."""
        return self._low_array

    @property
    def high_array(self) -> np.ndarray:
        """Upper bounds as a (read-only) float32 array of ``shape``."""
        return self._high_array

    @property
    def bounded(self) -> bool:
        """True when every element has finite lower and upper bounds."""
        return bool(np.all(np.isfinite(self.low_array)) and np.all(np.isfinite(self.high_array)))

    def contains(self, x: Any) -> bool:
        """Whether ``x`` has the shape, is finite and lies within the bounds (host-side check)."""
        a = np.asarray(x)
        if a.shape != self.shape or not np.issubdtype(a.dtype, np.floating):
            return False
        return bool(np.all(np.isfinite(a)) and np.all(a >= self.low_array) and np.all(a <= self.high_array))

    def __repr__(self) -> str:
        lo = self.low if isinstance(self.low, float) else "..."
        hi = self.high if isinstance(self.high, float) else "..."
        return f"Box(shape={self.shape}, low={lo}, high={hi})"


Space = Discrete | Box


def flatten_gymnasium_space(space: Any) -> Box:
    """The `Box` of a gymnasium observation space after ``gymnasium.spaces.utils.flatten``.

    Discrete and MultiDiscrete parts become one-hot blocks (bounds 0..1), Box parts are flattened.
    """
    from gymnasium import spaces

    try:
        flat = spaces.utils.flatten_space(space)
    except NotImplementedError:
        flat = None
    if not isinstance(flat, spaces.Box):
        raise ValueError(f"observation space {space} is not supported: it does not flatten to a fixed-size vector; "
                         "valid: Box, Discrete, MultiDiscrete, MultiBinary, and Tuple/Dict of these")
    return Box(shape=(int(np.prod(flat.shape)),), low=tuple(flat.low.reshape(-1)), high=tuple(flat.high.reshape(-1)))


def from_gymnasium_action_space(space: Any) -> Space:
    """Our action space for a gymnasium one.

    ``Discrete(n, start)`` -> ``Discrete(n)`` (the start offset is added back by the host adapter);
    ``MultiDiscrete(nvec)`` -> ``Discrete(prod(nvec))`` (raveled, as popgym's ``DiscreteAction``);
    ``Box`` (float) -> `Box` with the same shape and bounds. Anything else raises ``ValueError``.
    """
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        return Discrete(int(space.n))
    if isinstance(space, spaces.MultiDiscrete):
        return Discrete(int(np.prod(space.nvec)))
    if isinstance(space, spaces.Box) and np.issubdtype(space.dtype, np.floating):
        return Box(shape=tuple(space.shape), low=tuple(space.low.reshape(-1)), high=tuple(space.high.reshape(-1)))
    raise ValueError(f"action space {space} is not supported; valid: gymnasium Discrete, MultiDiscrete or float Box")
