"""Recurrent PPO with truncated BPTT: minibatches of sequences of length T replayed from stored states.

The rollout (num_steps × num_envs) is cut into num_steps / T chunks per env. Each sequence starts
from the hidden state stored before its first step (computed with the rollout's parameters) and is
unrolled T steps with the current parameters; ``first`` flags inside a sequence reset the state
through the cell's ``reset`` argument, so no sequence leaks state across an episode boundary.
Gradients are exact BPTT within the sequence and stop at its start (truncation). This is the
GRU/LSTM baseline of Elelimy et al. 2024 (arXiv 2409.01449); the loss and GAE are `rtrl.agents.ppo`
(Schulman et al. 2017).

This module is the agent's data path on the shared loop (`rtrl.agents.update`): `SEQUENCES`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rtrl.agents import ppo
from rtrl.agents.config import PPOConfig
from rtrl.agents.network import ActorCritic
from rtrl.agents.rollout import Rollout
from rtrl.agents.update import DataPath

__all__ = ["SEQUENCES", "SequenceBatch", "sequence_batch", "sequence_loss", "take_sequences"]


class SequenceBatch(NamedTuple):
    """N sequences of length T; per-step fields are time-major (T, N, ...)."""

    carry: Any  # state before each sequence's first step, leaves (N, ...)
    obs: jax.Array  # (T, N, obs_size)
    first: jax.Array  # (T, N)
    action: jax.Array  # (T, N) or (T, N, A)
    log_prob: jax.Array  # (T, N)
    value: jax.Array  # (T, N)
    advantage: jax.Array  # (T, N)
    target: jax.Array  # (T, N)


def sequence_batch(rollout: Rollout, advantage: jax.Array, target: jax.Array, length: int) -> SequenceBatch:
    """(num_steps, E) → (T, num_steps / T · E) sequences; chunk c of env e is sequence c·E + e."""

    def cut(x):  # (S, E, ...) -> (T, S/T · E, ...)
        s, e = x.shape[:2]
        x = x.reshape((s // length, length, e) + x.shape[2:])
        return jnp.swapaxes(x, 0, 1).reshape((length, (s // length) * e) + x.shape[3:])

    starts = jax.tree.map(lambda x: x[::length].reshape((-1,) + x.shape[2:]), rollout.carry)
    return SequenceBatch(starts, cut(rollout.obs), cut(rollout.first), cut(rollout.action), cut(rollout.log_prob),
                         cut(rollout.value), cut(advantage), cut(target))


def sequence_loss(net: ActorCritic, config: PPOConfig, params: Any,
                  batch: SequenceBatch) -> tuple[jax.Array, ppo.LossInfo]:
    """PPO loss over sequences unrolled from their stored start states (BPTT inside each sequence)."""

    def step(carry, xs):
        obs_t, first_t, action_t = xs
        carry, policy, value = net.step(params, carry, obs_t, first_t)
        return carry, (policy.log_prob(action_t), policy.entropy(), value)

    _, (log_prob, entropy, value) = jax.lax.scan(step, batch.carry, (batch.obs, batch.first, batch.action))
    return ppo.ppo_loss(log_prob, entropy, value, old_log_prob=batch.log_prob, old_value=batch.value,
                        advantage=batch.advantage, target=batch.target, clip_eps=config.clip_eps,
                        value_coef=config.value_coef, entropy_coef=config.entropy_coef,
                        clip_value=config.clip_value, normalize_advantage=config.normalize_advantage)


def take_sequences(batch: SequenceBatch, idx: jax.Array) -> SequenceBatch:
    """The sequences ``idx``: start carries along axis 0, per-step fields along axis 1."""
    return SequenceBatch(jax.tree.map(lambda x: jnp.take(x, idx, axis=0), batch.carry),
                         *(jnp.take(x, idx, axis=1) for x in batch[1:]))


# T-BPTT PPO: whole sequences of ``sequence_length`` steps, unrolled from their stored start states.
SEQUENCES = DataPath(
    batch=lambda config, rollout, advantage, target: sequence_batch(rollout, advantage, target,
                                                                    config.sequence_length),
    size=lambda batch: batch.obs.shape[1], take=take_sequences, loss=sequence_loss)
