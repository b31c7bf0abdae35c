"""`FrozenDict`: an immutable, hashable mapping for option fields of frozen configs.

Configs are frozen dataclasses used as static arguments of jitted functions and compared on
resume, so every field must hash. A plain ``dict`` does not (and can be changed after validation);
``FrozenDict`` reads like a dict, compares equal to a dict with the same items, and hashes by its
sorted items. Nested mappings and lists are frozen too (to `FrozenDict` and tuples).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["FrozenDict", "freeze"]


class FrozenDict(Mapping):
    """An immutable mapping with string keys; ``hash`` over its sorted items."""

    __slots__ = ("_items", "_hash")

    def __init__(self, items: Mapping[str, Any] | Any = (), /, **kwargs: Any):
        data = dict(items, **kwargs)
        for key in data:
            if not isinstance(key, str):
                raise ValueError(f"option names must be strings, got {key!r}.")
        self._items = {k: freeze(v) for k, v in sorted(data.items())}
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(self._items.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._items) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenDict({self._items!r})"

    def __reduce__(self):
        return FrozenDict, (dict(self._items),)


def freeze(value: Any) -> Any:
    """Mappings → `FrozenDict`, lists/tuples → tuples (recursively); other values as they are."""
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        return FrozenDict(value)
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value
