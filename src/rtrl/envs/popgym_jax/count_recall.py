"""CountRecall, a JAX port of ``popgym.envs.count_recall`` (POPGym, Morad et al. 2023).

Two decks are shuffled: a value deck and a query deck. Each step deals one card of each and
shows ``[value, query]`` (two one-hot blocks of ``D`` values: colours, suits or ranks). At each
step the agent must say how many cards with the *current* query's value have been dealt from the
value deck so far (the current value card included): reward ``+1/(N-1)`` when right and
``-1/(N-1)`` otherwise, ``N = 52 * num_decks``. Actions ``0 .. N/D``. ``N - 1`` steps per episode;
the best return is 1. (popgym's ``error_clamp`` argument is unused by popgym and omitted here.)
Easy: 1 deck, colours; Medium: 2 decks, suits; Hard: 4 decks, ranks.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rtrl.envs.popgym_jax.base import CardGame, popgym_unwrapped
from rtrl.envs.popgym_jax.cards import attribute, deal, new_deck, num_values, one_hot
from rtrl.envs.spaces import Box, Discrete

__all__ = ["CountRecall", "CountRecallState"]


class CountRecallState(NamedTuple):
    values: jax.Array  # (N,) int32: value deck, values[:dealt] dealt so far in order
    queries: jax.Array  # (N,) int32: query deck, queries[:dealt] dealt so far in order
    dealt: jax.Array  # () int32: cards dealt from each deck so far (1 after reset)
    counts: jax.Array  # (D,) int32: value cards dealt so far, per value
    shuffle: jax.Array  # () bool: deal the rest at random (False: in the order of the decks)


@dataclasses.dataclass(frozen=True)
class CountRecall(CardGame):
    """Count how often the queried value has been dealt."""

    deck_type: str = "colors"

    def __post_init__(self) -> None:
        super().__post_init__()
        num_values(self.deck_type)  # validates

    @property
    def num_distinct(self) -> int:
        return num_values(self.deck_type)

    @property
    def max_count(self) -> int:
        return self.num_cards // self.num_distinct

    @property
    def observation_space(self) -> Box:
        return Box((2 * self.num_distinct,), 0.0, 1.0)

    @property
    def action_space(self) -> Discrete:
        return Discrete(self.max_count + 1)

    def _obs(self, value: jax.Array, query: jax.Array) -> jax.Array:
        d = self.num_distinct
        return jnp.concatenate([one_hot(value, d), one_hot(query, d)])

    def _start(self, values: jax.Array, queries: jax.Array, shuffle: bool) -> tuple[CountRecallState, jax.Array]:
        v, q = attribute(values[0], self.deck_type), attribute(queries[0], self.deck_type)
        counts = jnp.zeros(self.num_distinct, jnp.int32).at[v].add(1)
        return CountRecallState(values, queries, jnp.int32(1), counts, jnp.bool_(shuffle)), self._obs(v, q)

    def reset_from_cards(self, values: jax.Array, queries: jax.Array) -> tuple[CountRecallState, jax.Array]:
        """Start an episode that deals exactly the orders ``values`` and ``queries`` (N,) each."""
        return self._start(jnp.asarray(values, jnp.int32), jnp.asarray(queries, jnp.int32), False)

    def reset_env(self, key: jax.Array) -> tuple[CountRecallState, jax.Array]:
        kv, kq = jax.random.split(key)
        values, _ = deal(new_deck(self.num_cards), 0, kv, True)
        queries, _ = deal(new_deck(self.num_cards), 0, kq, True)
        return self._start(values, queries, True)

    def step_env(self, state: CountRecallState, action: jax.Array, key: jax.Array):
        n, t = self.num_cards, state.dealt
        scale = jnp.float32(1.0 / (n - 1))
        answer = state.counts[attribute(state.queries[t - 1], self.deck_type)]
        i = jnp.minimum(t, n - 1)
        kv, kq = jax.random.split(key)
        values, value_card = deal(state.values, i, kv, state.shuffle)
        queries, query_card = deal(state.queries, i, kq, state.shuffle)
        v, q = attribute(value_card, self.deck_type), attribute(query_card, self.deck_type)
        counts = state.counts.at[v].add(1)
        reward = jnp.where(action == answer, scale, -scale)
        terminated = (n - t - 1) == 0
        new = CountRecallState(values, queries, t + 1, counts, state.shuffle)
        return new, self._obs(v, q), reward, terminated, jnp.bool_(False)

    def from_popgym(self, env: Any) -> tuple[CountRecallState, jax.Array]:
        """The port's state for a popgym ``CountRecall`` env just after its ``reset``."""
        base = popgym_unwrapped(env, "CountRecall")
        return self.reset_from_cards(base.value_deck.idx[::-1].copy(), base.query_deck.idx[::-1].copy())
