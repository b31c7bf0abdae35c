"""MemoryChain, bsuite's memory test ("memory_len" / "memory_size", Osband et al. 2020), JAX-native.

An episode has ``L + 1`` observations, ``t = 0 .. L`` (``L = length``), and the agent acts on each.
At reset ``num_bits`` context bits ``c ∈ {0,1}^num_bits`` and a query ``q ∈ {0 .. num_bits-1}`` are
drawn uniformly and independently. The context is shown only at ``t = 0``; the query only at
``t = L``, the step whose action is scored:

    reward_t = 0                                   for t < L
    reward_L = +1 if a_L == c[q] else -1           (then the episode terminates)

so a policy without memory (any function of the current observation) and random play both score
0 in expectation, and one that remembers the first observation for ``L`` steps scores 1 every
episode. ``num_bits = 1`` is bsuite's "memory_len" sweep (the query is always 0), ``num_bits > 1``
its "memory_size" sweep.

Observation (float32, ``1 + 2 * num_bits`` entries)::

    obs_t = [ 1 - t/L,                                   time left: 1 at t = 0, 0 at the scored step
              onehot(q) if t == L else 0  (num_bits),    the query, only at the scored step
              2c - 1    if t == 0 else 0  (num_bits) ]   the context as ±1, only at t = 0

The time and the ±1 context follow bsuite; bsuite writes the query as its index in one entry and
repeats the first observation once (its ``step`` returns the observation from before its clock
advances), which this version replaces by a one-hot query and one observation per step. The
observation after the scored action (``info["final_obs"]``; the episode terminated, so nothing
bootstraps from it) is all zeros. Actions are ``Discrete(2)``; inside ``jit`` an action outside
``{0, 1}`` cannot raise and counts as a wrong answer.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from rtrl import validate
from rtrl.envs.jax_env import JaxEnv
from rtrl.envs.spaces import Box, Discrete

__all__ = ["DEFAULT_LENGTH", "MemoryChain", "MemoryChainState"]

DEFAULT_LENGTH = 16


class MemoryChainState(NamedTuple):
    """The hidden state of one episode."""

    context: jax.Array  # (num_bits,) int32 in {0, 1}
    query: jax.Array  # () int32 in 0 .. num_bits-1: which context bit the scored action must name
    time: jax.Array  # () int32: index t of the observation the agent is about to act on (0 .. length)


@dataclasses.dataclass(frozen=True)
class MemoryChain(JaxEnv):
    """Remember ``num_bits`` context bits shown at ``t = 0``; name the queried one at ``t = length``.

    Attributes:
      length: ``L ≥ 1``, the number of steps between the context and the scored action
        (an episode has ``L + 1`` steps).
      num_bits: context bits (``1``: bsuite "memory_len"; more: "memory_size").
    """

    length: int = DEFAULT_LENGTH
    num_bits: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "length", validate.positive_int("MemoryChain.length", self.length,
                                                                 what="(steps between context and query)"))
        object.__setattr__(self, "num_bits", validate.positive_int("MemoryChain.num_bits", self.num_bits,
                                                                   what="(context bits)"))

    @property
    def name(self) -> str:
        return f"MemoryChain(length={self.length}, num_bits={self.num_bits})"

    @property
    def observation_space(self) -> Box:
        n = self.num_bits
        return Box((1 + 2 * n,), (0.0,) * (1 + n) + (-1.0,) * n, 1.0)

    @property
    def action_space(self) -> Discrete:
        return Discrete(2)

    def observe(self, state: MemoryChainState) -> jax.Array:
        """The observation at ``state.time`` (zeros past the scored step): see the module docstring."""
        t = state.time
        time_left = jnp.maximum(self.length - t, 0).astype(jnp.float32) / jnp.float32(self.length)
        query = jnp.where(t == self.length, jax.nn.one_hot(state.query, self.num_bits, dtype=jnp.float32), 0.0)
        context = jnp.where(t == 0, 2.0 * state.context.astype(jnp.float32) - 1.0, 0.0)
        return jnp.concatenate([time_left[None], query, context])

    def reset_env(self, key: jax.Array) -> tuple[MemoryChainState, jax.Array]:
        key_context, key_query = jax.random.split(key)
        context = jax.random.bernoulli(key_context, 0.5, (self.num_bits,)).astype(jnp.int32)
        query = jax.random.randint(key_query, (), 0, self.num_bits, dtype=jnp.int32)
        state = MemoryChainState(context, query, jnp.int32(0))
        return state, self.observe(state)

    def step_env(self, state: MemoryChainState, action: jax.Array, key: jax.Array):
        scored = state.time == self.length
        correct = action == state.context[state.query]
        reward = jnp.where(scored, jnp.where(correct, 1.0, -1.0), 0.0).astype(jnp.float32)
        next_state = state._replace(time=state.time + 1)
        return next_state, self.observe(next_state), reward, scored, jnp.bool_(False)
