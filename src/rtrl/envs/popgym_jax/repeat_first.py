"""RepeatFirst, a JAX port of ``popgym.envs.repeat_first`` (POPGym, Morad et al. 2023).

Each step deals one card and shows its suit (one-hot, 4); at every step the agent must name the
suit of the *first* card of the episode: reward ``+1/(N-1)`` when right, ``-1/(N-1)`` when wrong,
``N = 52 * num_decks``. The episode terminates after ``N - 1`` steps; the best return is 1.
Easy: 1 deck; Medium: 8 decks; Hard: 16 decks.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from rtrl.envs.popgym_jax.base import DealState, ShownCardGame, popgym_unwrapped
from rtrl.envs.popgym_jax.cards import attribute, deal, one_hot
from rtrl.envs.spaces import Discrete

__all__ = ["RepeatFirst", "RepeatFirstState"]


RepeatFirstState = DealState  # (cards, dealt, shuffle)


@dataclasses.dataclass(frozen=True)
class RepeatFirst(ShownCardGame):
    """Name the suit of the first card of the episode, at every step."""

    @property
    def action_space(self) -> Discrete:
        return Discrete(4)

    def step_env(self, state: RepeatFirstState, action: jax.Array, key: jax.Array):
        n, t = self.num_cards, state.dealt
        scale = jnp.float32(1.0 / (n - 1))
        reward = jnp.where(action == attribute(state.cards[0], "suits"), scale, -scale)
        terminated = (n - t) == 1
        cards, card = deal(state.cards, jnp.minimum(t, n - 1), key, state.shuffle)
        obs = one_hot(attribute(card, "suits"), 4)
        return RepeatFirstState(cards, t + 1, state.shuffle), obs, reward, terminated, jnp.bool_(False)

    def from_popgym(self, env: Any) -> tuple[RepeatFirstState, jax.Array]:
        """The port's state for a popgym ``RepeatFirst`` env just after its ``reset``."""
        base = popgym_unwrapped(env, "RepeatFirst")
        return self.reset_from_cards(base.deck.idx[::-1].copy())
