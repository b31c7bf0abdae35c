"""HigherLower, a JAX port of ``popgym.envs.higher_lower`` (POPGym, Morad et al. 2023).

Each step shows the rank of the current card (one-hot, 13); the agent guesses whether the next
card is higher (action 0) or lower (action 1). The next card is then dealt: reward ``+1/N`` for a
right guess, ``-1/N`` for a wrong one, 0 for equal ranks (``N = 52 * num_decks``). The episode
terminates after ``N - 1`` steps. Counting the cards already seen beats guessing.
Easy: 1 deck; Medium: 2 decks; Hard: 3 decks.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from rtrl.envs.popgym_jax.base import DealState, ShownCardGame, popgym_unwrapped
from rtrl.envs.popgym_jax.cards import attribute, deal, one_hot
from rtrl.envs.spaces import Discrete

__all__ = ["HigherLower", "HigherLowerState"]


HigherLowerState = DealState  # (cards, dealt, shuffle)


@dataclasses.dataclass(frozen=True)
class HigherLower(ShownCardGame):
    """Guess whether the next card's rank is higher (0) or lower (1) than the current one."""

    shown: ClassVar[tuple[str, int]] = ("ranks", 13)

    @property
    def action_space(self) -> Discrete:
        return Discrete(2)

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
