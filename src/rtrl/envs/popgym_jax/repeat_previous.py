"""RepeatPrevious, a JAX port of ``popgym.envs.repeat_previous`` (POPGym, Morad et al. 2023).

Each step deals one card and shows its suit (one-hot, 4). Once ``k`` cards have been seen, the
agent must name the suit of the card dealt ``k - 1`` steps before the one just shown
(popgym's ``hand[-k]``): reward ``+1/(N-k)`` when right, ``-1/(N-k)`` when wrong, 0 before that,
with ``N = 52 * num_decks``. The episode terminates after ``N - 1`` steps; the best return is 1.
Easy: 1 deck, k = 4; Medium: 2 decks, k = 32; Hard: 3 decks, k = 64.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from rtrl import validate
from rtrl.envs.popgym_jax.base import DealState, ShownCardGame, popgym_unwrapped
from rtrl.envs.popgym_jax.cards import attribute, deal, one_hot
from rtrl.envs.spaces import Discrete

__all__ = ["RepeatPrevious", "RepeatPreviousState"]


RepeatPreviousState = DealState  # (cards, dealt, shuffle)


@dataclasses.dataclass(frozen=True)
class RepeatPrevious(ShownCardGame):
    """Name the suit of the card seen ``k - 1`` steps before the current one."""

    k: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if not validate.is_integer(self.k) or not 0 < self.k < self.num_cards:
            raise ValueError(f"k must be an integer in 1..{self.num_cards - 1}, got {self.k!r}")

    @property
    def action_space(self) -> Discrete:
        return Discrete(4)

    def step_env(self, state: RepeatPreviousState, action: jax.Array, key: jax.Array):
        n, k, t = self.num_cards, self.k, state.dealt
        scale = jnp.float32(1.0 / (n - k))
        target = attribute(state.cards[jnp.maximum(t - k, 0)], "suits")
        reward = jnp.where(t >= k, jnp.where(action == target, scale, -scale), jnp.float32(0.0))
        terminated = (n - t) == 1
        cards, card = deal(state.cards, jnp.minimum(t, n - 1), key, state.shuffle)
        obs = one_hot(attribute(card, "suits"), 4)
        return RepeatPreviousState(cards, t + 1, state.shuffle), obs, reward, terminated, jnp.bool_(False)

    def from_popgym(self, env: Any) -> tuple[RepeatPreviousState, jax.Array]:
        """The port's state for a popgym ``RepeatPrevious`` env just after its ``reset``."""
        base = popgym_unwrapped(env, "RepeatPrevious")
        return self.reset_from_cards(base.deck.idx[::-1].copy())
