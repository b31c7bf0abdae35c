"""Recurrent PPO with truncated BPTT: minibatches of sequences of length T replayed from stored states.

The rollout (num_steps × num_envs) is cut into num_steps / T chunks per env. Each sequence starts
from the hidden state stored before its first step (computed with the rollout's parameters) and is
unrolled T steps with the current parameters; ``first`` flags inside a sequence reset the state
through the cell's ``reset`` argument, so no sequence leaks state across an episode boundary.
Gradients are exact BPTT within the sequence and stop at its start (truncation). This is the
GRU/LSTM baseline of Elelimy et al. 2024 (arXiv 2409.01449); the loss and GAE are `rtrl.agents.ppo`
(Schulman et al. 2017).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rtrl.agents import ppo
from rtrl.agents.config import PPOConfig
from rtrl.agents.network import ActorCritic
from rtrl.agents.rollout import Rollout

__all__ = ["SequenceBatch", "sequence_batch", "sequence_loss", "sequence_update"]


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


def sequence_update(net: ActorCritic, config: PPOConfig, optimizer: optax.GradientTransformation, params: Any,
                    opt_state: Any, rollout: Rollout, last_carry: Any, last_obs: jax.Array, last_first: jax.Array,
                    key: jax.Array) -> tuple[Any, Any, dict[str, jax.Array]]:
    """``update_epochs`` × ``num_minibatches`` Adam steps on minibatches of whole sequences."""
    last_value = net.value_only(params, last_carry, last_obs, last_first)
    v_next = ppo.next_values(rollout.value, last_value, rollout.truncation_value, rollout.terminated,
                             rollout.truncated)
    advantage, target = ppo.gae(rollout.reward, rollout.value, v_next, rollout.done, gamma=config.gamma,
                                lambda_=config.gae_lambda)
    batch = sequence_batch(rollout, advantage, target, config.sequence_length)
    num_sequences = batch.obs.shape[1]

    def epoch(c, key):
        def minibatch(c, idx):
            params, opt_state = c
            mb = SequenceBatch(jax.tree.map(lambda x: jnp.take(x, idx, axis=0), batch.carry),
                               *(jnp.take(x, idx, axis=1) for x in batch[1:]))
            (_, info), grads = jax.value_and_grad(sequence_loss, argnums=2, has_aux=True)(net, config, params, mb)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), (info, optax.tree.norm(grads))

        idx = ppo.minibatch_indices(key, num_sequences, config.num_minibatches)
        return jax.lax.scan(minibatch, c, idx)

    keys = jax.random.split(key, config.update_epochs)
    (params, opt_state), (infos, grad_norms) = jax.lax.scan(epoch, (params, opt_state), keys)
    metrics = {f"{k}_loss" if k in ("policy", "value", "total") else k: v.mean()
               for k, v in infos._asdict().items()}
    metrics["grad_norm"] = grad_norms.mean()
    metrics["explained_variance"] = ppo.explained_variance(rollout.value, target)
    return params, opt_state, metrics
