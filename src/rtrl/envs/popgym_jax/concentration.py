"""Concentration, a JAX port of ``popgym.envs.concentration`` (POPGym, Morad et al. 2023).

``N = 52 * num_decks`` cards lie face down; the observation shows every position (one-hot of
``D + 1`` values each: the card's colour or rank, or ``D`` for face down). A turn is two steps,
each flipping the card at the chosen position (action ``0 .. N-1``). Flipped cards show in the
observation of that step. Rewards (``L = ceil(2N - N/(2N-1))``, the expected length of a
perfect-memory game): choosing a card that is already face up gives ``-m/L`` (``m`` = cards in
play this turn, 1 or 2) and ends the turn; a matching pair of two different positions gives
``+1/(N/2)`` and stays face up; any other second flip gives ``-2/L``. The episode terminates when
all cards are face up and is truncated after ``L`` steps. popgym's Concentration needs the
previous action in the observation to be solvable (``obs_requires_prev_action``).
Easy: 1 deck, colours; Medium: 2 decks, colours; Hard: 1 deck, ranks.
The port draws a face-down card only when it is first flipped (same distribution as popgym's
shuffled layout, no sort per step); ``reset_from_cards`` fixes the whole layout instead.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rtrl.envs.popgym_jax.base import CardGame, popgym_unwrapped
from rtrl.envs.popgym_jax.cards import attribute, deal, new_deck, num_values, one_hot
from rtrl.envs.spaces import Box, Discrete

__all__ = ["Concentration", "ConcentrationState"]


class ConcentrationState(NamedTuple):
    cards: jax.Array  # (N,) int32: card id lying at each position (meaningful where `placed`)
    placed: jax.Array  # (N,) bool: positions whose card has been drawn
    pool: jax.Array  # (N,) int32: pool[:num_placed] drawn, the rest still to draw (in order if not shuffle)
    num_placed: jax.Array  # () int32
    face_up: jax.Array  # (N,) bool: positions matched and face up
    pending: jax.Array  # () int32: position flipped first in this turn, -1 when none
    steps: jax.Array  # () int32: steps taken in this episode
    shuffle: jax.Array  # () bool: draw the cards at random


def _place(state: ConcentrationState, position: jax.Array, key: jax.Array) -> ConcentrationState:
    """Draw the card lying at ``position`` when it is first flipped (uniform over the undrawn cards).

    Deciding a face-down card only when it is first seen gives the same distribution as shuffling
    the whole layout at reset, without a sort (see `rtrl.envs.popgym_jax.cards`).
    """
    need = ~state.placed[position]
    n = state.pool.shape[0]
    pool, card = deal(state.pool, jnp.minimum(state.num_placed, n - 1), key, state.shuffle)
    return state._replace(
        cards=jnp.where(need, state.cards.at[position].set(card), state.cards),
        placed=state.placed.at[position].set(True),
        pool=jnp.where(need, pool, state.pool),
        num_placed=state.num_placed + need.astype(jnp.int32),
    )


@dataclasses.dataclass(frozen=True)
class Concentration(CardGame):
    """Find matching pairs among face-down cards."""

    deck_type: str = "ranks"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.deck_type not in ("colors", "ranks"):
            raise ValueError(f"deck_type must be 'colors' or 'ranks' (an even count per value), got {self.deck_type!r}")

    @property
    def face_down(self) -> int:
        return num_values(self.deck_type)

    @property
    def episode_length(self) -> int:
        n = self.num_cards
        return math.ceil(2 * n - (n / (2 * n - 1)))

    @property
    def observation_space(self) -> Box:
        return Box((self.num_cards * (self.face_down + 1),), 0.0, 1.0)

    @property
    def action_space(self) -> Discrete:
        return Discrete(self.num_cards)

    def _obs(self, values: jax.Array) -> jax.Array:
        return one_hot(values, self.face_down + 1).reshape(-1)

    def _start(self, cards: jax.Array, placed: bool) -> tuple[ConcentrationState, jax.Array]:
        n = self.num_cards
        state = ConcentrationState(
            cards=cards,
            placed=jnp.full(n, placed, bool),
            pool=new_deck(n),
            num_placed=jnp.int32(n if placed else 0),
            face_up=jnp.zeros(n, bool),
            pending=jnp.int32(-1),
            steps=jnp.int32(0),
            shuffle=jnp.bool_(not placed),
        )
        return state, self._obs(jnp.full(n, self.face_down, jnp.int32))

    def reset_from_cards(self, cards: jax.Array) -> tuple[ConcentrationState, jax.Array]:
        """Start an episode with the card ids lying at each position, ``cards`` (N,)."""
        return self._start(jnp.asarray(cards, jnp.int32), True)

    def reset_env(self, key: jax.Array) -> tuple[ConcentrationState, jax.Array]:
        return self._start(new_deck(self.num_cards), False)

    def step_env(self, state: ConcentrationState, action: jax.Array, key: jax.Array):
        n, length = self.num_cards, self.episode_length
        success, failure = jnp.float32(1.0 / (n // 2)), jnp.float32(-1.0 / length)
        state = _place(state, action, key)
        values = attribute(state.cards, self.deck_type)
        has_pending = state.pending >= 0
        pending = jnp.maximum(state.pending, 0)
        in_play = jax.nn.one_hot(action, n, dtype=bool) | (has_pending & jax.nn.one_hot(pending, n, dtype=bool))
        obs = self._obs(jnp.where(state.face_up | in_play, values, self.face_down))
        already_up = state.face_up[action] | (has_pending & state.face_up[pending])
        match = has_pending & (values[pending] == values[action]) & (pending != action)
        second = ~already_up & has_pending
        reward = jnp.where(
            already_up,
            failure * (1 + has_pending.astype(jnp.float32)),
            jnp.where(second, jnp.where(match, success, 2 * failure), jnp.float32(0.0)),
        )
        face_up = jnp.where(second & match, state.face_up | in_play, state.face_up)
        terminated = second & match & jnp.all(face_up)
        truncated = state.steps >= length - 1
        new_pending = jnp.where(~already_up & ~has_pending, action, jnp.int32(-1))
        new = state._replace(face_up=face_up, pending=new_pending.astype(jnp.int32), steps=state.steps + 1)
        return new, obs, reward, terminated, truncated

    def from_popgym(self, env: Any) -> tuple[ConcentrationState, jax.Array]:
        """The port's state for a popgym ``Concentration`` env just after its ``reset``."""
        base = popgym_unwrapped(env, "Concentration")
        return self.reset_from_cards(base.deck.idx.copy())
