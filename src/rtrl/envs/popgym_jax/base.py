"""Shared pieces of the JAX ports of POPGym's card games."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from rtrl import validate
from rtrl.envs.jax_env import JaxEnv
from rtrl.envs.popgym_jax.cards import DECK_SIZE, attribute, deal, new_deck, one_hot
from rtrl.envs.spaces import Box

__all__ = ["CardGame", "DealState", "ShownCardGame", "popgym_unwrapped"]


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
        object.__setattr__(self, "num_decks", validate.positive_int("num_decks", self.num_decks))

    @property
    def num_cards(self) -> int:
        return DECK_SIZE * int(self.num_decks)


class DealState(NamedTuple):
    """The state of a game that deals one card per step."""

    cards: jax.Array  # (N,) int32: cards[:dealt] dealt so far, in order; the rest not yet dealt
    dealt: jax.Array  # () int32: cards dealt so far (1 after reset)
    shuffle: jax.Array  # () bool: deal the rest at random (False: in the order of `cards`)


@dataclasses.dataclass(frozen=True)
class ShownCardGame(CardGame):
    """A card game whose observation is one attribute of the card just dealt, one-hot.

    ``shown`` = (attribute, number of values), e.g. ("suits", 4) or ("ranks", 13).
    """

    shown: ClassVar[tuple[str, int]] = ("suits", 4)

    @property
    def observation_space(self) -> Box:
        return Box((self.shown[1],), 0.0, 1.0)

    def observe(self, card: jax.Array) -> jax.Array:
        return one_hot(attribute(card, self.shown[0]), self.shown[1])

    def reset_from_cards(self, cards: jax.Array) -> tuple[DealState, jax.Array]:
        """Start an episode that deals exactly the order ``cards`` (N,)."""
        cards = jnp.asarray(cards, jnp.int32)
        return DealState(cards, jnp.int32(1), jnp.bool_(False)), self.observe(cards[0])

    def reset_env(self, key: jax.Array) -> tuple[DealState, jax.Array]:
        cards, first = deal(new_deck(self.num_cards), 0, key, True)
        return DealState(cards, jnp.int32(1), jnp.bool_(True)), self.observe(first)
