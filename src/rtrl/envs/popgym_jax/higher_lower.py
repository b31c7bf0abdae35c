"""HigherLower, a JAX port of ``popgym.envs.higher_lower`` (POPGym, Morad et al. 2023).

Each step shows the rank of the current card (one-hot, 13); the agent guesses whether the next
card is higher (action 0) or lower (action 1). The next card is then dealt: reward ``+1/N`` for a
right guess, ``-1/N`` for a wrong one, 0 for equal ranks (``N = 52 * num_decks``). The episode
terminates after ``N - 1`` steps. Counting the cards already seen beats guessing.
Easy: 1 deck; Medium: 2 decks; Hard: 3 decks.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rtrl.envs.popgym_jax.base import CardGame, popgym_unwrapped
from rtrl.envs.popgym_jax.cards import attribute, deal, new_deck, one_hot
from rtrl.envs.spaces import Box, Discrete

__all__ = ["HigherLower", "HigherLowerState"]


class HigherLowerState(NamedTuple):
    cards: jax.Array  # (N,) int32: cards[:dealt] dealt so far, in order; the rest not yet dealt
    dealt: jax.Array  # () int32: cards dealt so far (1 after reset)
    shuffle: jax.Array  # () bool: deal the rest at random (False: in the order of `cards`)


@dataclasses.dataclass(frozen=True)
class HigherLower(CardGame):
    """Guess whether the next card's rank is higher (0) or lower (1) than the current one."""

    @property
    def observation_space(self) -> Box:
        return Box((13,), 0.0, 1.0)

    @property
    def action_space(self) -> Discrete:
        return Discrete(2)

    def reset_from_cards(self, cards: jax.Array) -> tuple[HigherLowerState, jax.Array]:
        """Start an episode that deals exactly the order ``cards`` (N,)."""
        cards = jnp.asarray(cards, jnp.int32)
        return HigherLowerState(cards, jnp.int32(1), jnp.bool_(False)), one_hot(attribute(cards[0], "ranks"), 13)

    def reset_env(self, key: jax.Array) -> tuple[HigherLowerState, jax.Array]:
        cards, first = deal(new_deck(self.num_cards), 0, key, True)
        return HigherLowerState(cards, jnp.int32(1), jnp.bool_(True)), one_hot(attribute(first, "ranks"), 13)

    def step_env(self, state: HigherLowerState, action: jax.Array, key: jax.Array):
        n, t = self.num_cards, state.dealt
        scale = jnp.float32(1.0 / n)
        terminated = (n - t) <= 1
        current = attribute(state.cards[t - 1], "ranks")
        cards, card = deal(state.cards, jnp.minimum(t, n - 1), key, state.shuffle)
        nxt = attribute(card, "ranks")
        right = (nxt > current) == (action == 0)
        reward = jnp.where(nxt == current, jnp.float32(0.0), jnp.where(right, scale, -scale))
        return HigherLowerState(cards, t + 1, state.shuffle), one_hot(nxt, 13), reward, terminated, jnp.bool_(False)

    def from_popgym(self, env: Any) -> tuple[HigherLowerState, jax.Array]:
        """The port's state for a popgym ``HigherLower`` env just after its ``reset``."""
        base = popgym_unwrapped(env, "HigherLower")
        return self.reset_from_cards(base.deck.idx[::-1].copy())
