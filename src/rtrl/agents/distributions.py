"""Policy distributions written by hand (no distribution library): categorical, diagonal Gaussian, ε-greedy.

Each is a NamedTuple of arrays (a pytree: it passes through jit and vmap) with

    sample(key) -> action      log_prob(action) -> (B,)      entropy() -> (B,)      mode() -> action

``mode`` is the most probable action (deterministic acting): argmax of the logits, or the mean.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["Categorical", "DiagGaussian", "EpsilonGreedy", "Policy"]

_LOG_2PI = math.log(2.0 * math.pi)


class Categorical(NamedTuple):
    """π(a|s) = softmax(logits)_a."""

    logits: jax.Array  # (B, A)

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.categorical(key, self.logits, axis=-1).astype(jnp.int32)

    def log_prob(self, action: jax.Array) -> jax.Array:
        logp = jax.nn.log_softmax(self.logits, axis=-1)
        return jnp.take_along_axis(logp, action[..., None].astype(jnp.int32), axis=-1)[..., 0]

    def entropy(self) -> jax.Array:
        logp = jax.nn.log_softmax(self.logits, axis=-1)
        return -jnp.sum(jnp.exp(logp) * logp, axis=-1)

    def mode(self) -> jax.Array:
        """The most probable action argmax_a logits_a (int32; ties: the first), for deterministic acting."""
        return jnp.argmax(self.logits, axis=-1).astype(jnp.int32)


class DiagGaussian(NamedTuple):
    """π(a|s) = Π_i N(a_i; μ_i(s), σ_i²) with σ = exp(log_std) independent of the state."""

    mean: jax.Array  # (B, A)
    log_std: jax.Array  # (A,)

    def sample(self, key: jax.Array) -> jax.Array:
        return self.mean + jnp.exp(self.log_std) * jax.random.normal(key, self.mean.shape, self.mean.dtype)

    def log_prob(self, action: jax.Array) -> jax.Array:
        z = (action - self.mean) * jnp.exp(-self.log_std)
        return jnp.sum(-0.5 * z**2 - self.log_std - 0.5 * _LOG_2PI, axis=-1)

    def entropy(self) -> jax.Array:
        per_dim = self.log_std + 0.5 * (1.0 + _LOG_2PI)
        return jnp.broadcast_to(jnp.sum(per_dim), self.mean.shape[:-1])

    def mode(self) -> jax.Array:
        """The most probable action, the mean μ(s), for deterministic acting."""
        return self.mean


class EpsilonGreedy(NamedTuple):
    """π(a|s) = (1 − ε)·[a = argmax_b Q(s, b)] + ε / A: greedy in the action values, uniform with probability ε."""

    values: jax.Array  # (B, A) action values Q(s, ·)
    epsilon: jax.Array  # () probability of a uniform action

    def probabilities(self) -> jax.Array:
        n = self.values.shape[-1]
        greedy = jax.nn.one_hot(jnp.argmax(self.values, axis=-1), n, dtype=self.values.dtype)
        return (1.0 - self.epsilon) * greedy + self.epsilon / n

    def sample(self, key: jax.Array) -> jax.Array:
        k_explore, k_action = jax.random.split(key)
        shape = self.values.shape[:-1]
        uniform = jax.random.randint(k_action, shape, 0, self.values.shape[-1], jnp.int32)
        explore = jax.random.uniform(k_explore, shape) < self.epsilon
        return jnp.where(explore, uniform, self.mode())

    def log_prob(self, action: jax.Array) -> jax.Array:
        p = jnp.take_along_axis(self.probabilities(), action[..., None].astype(jnp.int32), axis=-1)[..., 0]
        return jnp.log(p)

    def entropy(self) -> jax.Array:
        p = self.probabilities()
        return -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0), axis=-1)

    def mode(self) -> jax.Array:
        """The greedy action argmax_a Q(s, a) (int32; ties: the first)."""
        return jnp.argmax(self.values, axis=-1).astype(jnp.int32)


Policy = Categorical | DiagGaussian | EpsilonGreedy
