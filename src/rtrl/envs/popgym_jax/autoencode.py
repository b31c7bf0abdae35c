"""Autoencode, a JAX port of ``popgym.envs.autoencode`` (POPGym, Morad et al. 2023).

Watch phase: one card is dealt per step and its suit shown, with a mode flag (one-hot of 2:
``1`` = watch, ``0`` = play) followed by the suit (one-hot of 4); the flag turns to play on the
observation that shows the last card. Play phase: the agent must name the suits in *reverse*
order, one per step (reward ``+1/N`` right, ``-1/N`` wrong, ``N = 52 * num_decks``); play
observations are the constant ``(play, suit 0)``. ``2N - 1`` steps per episode; the best return is 1.
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

__all__ = ["Autoencode", "AutoencodeState"]


class AutoencodeState(NamedTuple):
    cards: jax.Array  # (N,) int32: cards[:steps+1] dealt so far, in order; the rest not yet dealt
    steps: jax.Array  # () int32: steps taken in this episode
    shuffle: jax.Array  # () bool: deal the rest at random (False: in the order of `cards`)


@dataclasses.dataclass(frozen=True)
class Autoencode(CardGame):
    """Watch a sequence of suits, then repeat it backwards."""

    @property
    def observation_space(self) -> Box:
        return Box((6,), 0.0, 1.0)

    @property
    def action_space(self) -> Discrete:
        return Discrete(4)

    @staticmethod
    def _obs(mode: jax.Array, suit: jax.Array) -> jax.Array:
        return jnp.concatenate([one_hot(mode, 2), one_hot(suit, 4)])

    def reset_from_cards(self, cards: jax.Array) -> tuple[AutoencodeState, jax.Array]:
        """Start an episode that deals exactly the order ``cards`` (N,)."""
        cards = jnp.asarray(cards, jnp.int32)
        state = AutoencodeState(cards, jnp.int32(0), jnp.bool_(False))
        return state, self._obs(jnp.int32(1), attribute(cards[0], "suits"))

    def reset_env(self, key: jax.Array) -> tuple[AutoencodeState, jax.Array]:
        cards, first = deal(new_deck(self.num_cards), 0, key, True)
        return AutoencodeState(cards, jnp.int32(0), jnp.bool_(True)), self._obs(jnp.int32(1), attribute(first, "suits"))

    def step_env(self, state: AutoencodeState, action: jax.Array, key: jax.Array):
        n = self.num_cards
        i = state.steps + 1  # this step's number, 1 .. 2N-1
        watching = i <= n - 1
        # watch: deal card i (in play, position N-1 is "dealt" again: a no-op); the mode flips to
        # play on the last card
        cards, card = deal(state.cards, jnp.minimum(i, n - 1), key, state.shuffle & watching)
        watch_obs = self._obs(jnp.where(i == n - 1, 0, 1), attribute(card, "suits"))
        # play: recite card 2N-1-i (the last dealt first)
        correct = attribute(cards[jnp.clip(2 * n - 1 - i, 0, n - 1)], "suits")
        scale = jnp.float32(1.0 / n)
        play_reward = jnp.where(action == correct, scale, -scale)
        obs = jnp.where(watching, watch_obs, self._obs(jnp.int32(0), jnp.int32(0)))
        reward = jnp.where(watching, jnp.float32(0.0), play_reward)
        terminated = i == 2 * n - 1
        return AutoencodeState(cards, i, state.shuffle), obs, reward, terminated, jnp.bool_(False)

    def from_popgym(self, env: Any) -> tuple[AutoencodeState, jax.Array]:
        """The port's state for a popgym ``Autoencode`` env just after its ``reset``."""
        base = popgym_unwrapped(env, "Autoencode")
        return self.reset_from_cards(base.deck.idx[::-1].copy())
