"""Card decks for the JAX ports of POPGym (Morad et al. 2023, ``popgym.core.deck``).

A deck of ``num_decks`` x 52 cards holds card ids ``0 .. 52*num_decks-1``. popgym orders the
ids so that, for card id ``c``: colour ``c % 2``, suit ``c % 4``, rank ``(c // 4) % 13``.

popgym shuffles the whole deck at reset and deals from the *end* of its index array (dealing
order ``deck.idx[::-1]``). The ports shuffle *incrementally* instead (`deal`: one Fisher-Yates
step per card dealt), which gives the same uniform distribution over dealing orders without a
sort per reset: XLA's CPU sort made a full shuffle cost ~170 us for 832 cards, and with
auto-reset inside ``step`` that cost is paid on every step. With ``shuffle=False`` the deck is
dealt in its given order, which is how the tests replay a popgym episode exactly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from rtrl import validate

__all__ = ["ATTRIBUTES", "DECK_SIZE", "attribute", "deal", "new_deck", "num_values", "one_hot"]

DECK_SIZE = 52
ATTRIBUTES = ("colors", "suits", "ranks")


def num_values(kind: str) -> int:
    """How many distinct values an attribute takes: colours 2, suits 4, ranks 13."""
    validate.choice("deck_type", kind, ATTRIBUTES)
    return {"colors": 2, "suits": 4, "ranks": 13}[kind]


def attribute(cards: jax.Array, kind: str) -> jax.Array:
    """Colour, suit or rank index of card ids ``cards`` (int32, same shape)."""
    cards = jnp.asarray(cards, jnp.int32)
    if kind == "colors":
        return cards % 2
    if kind == "suits":
        return cards % 4
    if kind == "ranks":
        return (cards // 4) % 13
    raise ValueError(f"deck_type must be one of {', '.join(ATTRIBUTES)}, got {kind!r}")


def new_deck(num_cards: int) -> jax.Array:
    """The card ids ``0 .. num_cards-1`` in order (int32); `deal` shuffles them as they are dealt."""
    return jnp.arange(num_cards, dtype=jnp.int32)


def deal(deck: jax.Array, position: jax.Array, key: jax.Array, shuffle: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Deal the card at ``position``: ``(deck, card)``.

    With ``shuffle`` True, one step of Fisher-Yates: swap ``deck[position]`` with a uniformly chosen
    ``deck[j]``, ``position <= j < len(deck)``, then deal it. Dealing positions ``0, 1, 2, ...`` in
    turn so yields a uniformly random order. Entries before ``position`` (dealt) are never moved.
    With ``shuffle`` False the deck is dealt as it stands.
    """
    n = deck.shape[0]
    position = jnp.asarray(position, jnp.int32)
    j = jnp.where(shuffle, jax.random.randint(key, (), position, n, dtype=jnp.int32), position)
    card = deck[j]
    deck = deck.at[j].set(deck[position]).at[position].set(card)
    return deck, card


def one_hot(x: jax.Array, n: int) -> jax.Array:
    """float32 one-hot, the encoding ``gymnasium.spaces.utils.flatten`` gives a Discrete(n) value."""
    return jax.nn.one_hot(x, n, dtype=jnp.float32)
