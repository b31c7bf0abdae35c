"""Shared pieces of the JAX ports of POPGym's card games."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from rtrl.envs.jax_env import JaxEnv
from rtrl.envs.popgym_jax.cards import DECK_SIZE

__all__ = ["CardGame", "popgym_unwrapped"]


def popgym_unwrapped(env: Any, cls_name: str) -> Any:
    """The bare popgym environment inside ``env`` (wrappers removed), checked to be ``cls_name``."""
    base = getattr(env, "unwrapped", env)
    names = [c.__name__ for c in type(base).__mro__]
    if cls_name not in names:
        raise TypeError(f"expected a popgym {cls_name} environment, got {type(base).__name__}")
    return base


@dataclasses.dataclass(frozen=True)
class CardGame(JaxEnv):
    """A card game over ``num_decks`` x 52 cards (validated positive)."""

    num_decks: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.num_decks, bool) or not isinstance(self.num_decks, (int, np.integer)) or self.num_decks <= 0:
            raise ValueError(f"num_decks must be a positive integer, got {self.num_decks!r}")

    @property
    def num_cards(self) -> int:
        return DECK_SIZE * int(self.num_decks)
