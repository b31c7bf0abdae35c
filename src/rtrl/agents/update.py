"""The PPO update, written once: GAE targets, then epochs × minibatches of optimiser steps, then metrics.

An agent is its loss and its data path on this loop (a `DataPath`): how the batch is built from
the rollout, how a minibatch is taken from it, the loss of a minibatch, and optionally how the
batch is renewed with the current parameters before every epoch after the first (Real-Time PPO's
fresh gradient / fresh target). `rtrl.agents.agent` picks an agent's data path from its table.

    A, R = GAE(rollout, V_old)                                        (once per rollout)
    for epoch k = 0 … K−1:
        batch ← renew(θ, batch)   if k > 0 and the data path renews
        for each minibatch B of a random permutation of the batch's items:
            g = ∇_θ L(θ; B);  θ, opt ← optimizer(g, opt, θ)

PPO: Schulman, Wolski, Dhariwal, Radford, Klimov 2017 (arXiv 1707.06347).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rtrl.agents import ppo
from rtrl.agents.config import PPOConfig
from rtrl.agents.network import ActorCritic
from rtrl.agents.rollout import Rollout

__all__ = ["DataPath", "UpdateInputs", "gae_targets", "ppo_update", "train_epochs"]

Batch = Any  # a pytree of arrays, each with the data path's item axis
Renew = Callable[[Any, Batch], Batch]  # (params, batch) -> batch
Loss = Callable[[Any, Batch], tuple[jax.Array, ppo.LossInfo]]  # (params, minibatch) -> (loss, info)


class UpdateInputs(NamedTuple):
    """What an update sees besides the parameters: the rollout and where the run stands after it."""

    rollout: Rollout
    last_carry: Any  # the network carry after the rollout's last step
    last_obs: jax.Array  # (E, obs_size): the observation after the rollout
    last_first: jax.Array  # (E,): whether it starts an episode


def _never_renews(net: ActorCritic, config: PPOConfig, inputs: UpdateInputs) -> Renew | None:
    return None


@dataclasses.dataclass(frozen=True)
class DataPath:
    """One agent on the shared loop: its loss and how the rollout reaches it.

    Attributes:
      batch: (config, rollout, advantage (T, E), target (T, E)) -> the batch minibatches are drawn from.
      size: batch -> the number of items to permute (transitions, or sequences).
      take: (batch, indices (M,)) -> the minibatch of those items.
      loss: (net, config, params, minibatch) -> (scalar loss, `ppo.LossInfo`).
      renewal: (net, config, inputs) -> a ``renew(params, batch) -> batch`` applied before every
        epoch after the first, or None when the batch stays the rollout's (then the loop keeps the
        batch out of its carry: a constant, never copied).
    """

    batch: Callable[[PPOConfig, Rollout, jax.Array, jax.Array], Batch]
    size: Callable[[Batch], int]
    take: Callable[[Batch, jax.Array], Batch]
    loss: Callable[[ActorCritic, PPOConfig, Any, Batch], tuple[jax.Array, ppo.LossInfo]]
    renewal: Callable[[ActorCritic, PPOConfig, UpdateInputs], Renew | None] = _never_renews


def gae_targets(config: PPOConfig, rollout: Rollout, values: jax.Array,
                last_value: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(advantages, return targets), (T, E), by GAE from ``values`` V(obs_t) and ``last_value`` V(obs_T),
    bootstrapping time-limit truncations from the rollout's ``truncation_value`` (`ppo.next_values`)."""
    v_next = ppo.next_values(values, last_value, rollout.truncation_value, rollout.terminated, rollout.truncated)
    return ppo.gae(rollout.reward, values, v_next, rollout.done, gamma=config.gamma, lambda_=config.gae_lambda)


def train_epochs(loss: Loss, take: Callable[[Batch, jax.Array], Batch], num_items: int,
                 optimizer: optax.GradientTransformation, params: Any, opt_state: Any, batch: Batch, key: jax.Array,
                 *, epochs: int, num_minibatches: int,
                 renew: Renew | None = None) -> tuple[Any, Any, ppo.LossInfo, jax.Array]:
    """``epochs`` × ``num_minibatches`` optimiser steps; returns (params, opt_state, per-step
    `LossInfo` (epochs, num_minibatches), gradient norms (epochs, num_minibatches))."""

    def train_epoch(params, opt_state, batch, key):
        def minibatch(c, idx):
            params, opt_state = c
            (_, info), grads = jax.value_and_grad(loss, has_aux=True)(params, take(batch, idx))
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), (info, optax.tree.norm(grads))

        idx = ppo.minibatch_indices(key, num_items, num_minibatches)
        (params, opt_state), infos = jax.lax.scan(minibatch, (params, opt_state), idx)
        return params, opt_state, infos

    keys = jax.random.split(key, epochs)
    if renew is None:
        # the batch is a constant of the loop (not part of its carry: no copies of the stored rollout)
        def epoch(c, key):
            params, opt_state, infos = train_epoch(*c, batch, key)
            return (params, opt_state), infos

        (params, opt_state), (infos, grad_norms) = jax.lax.scan(epoch, (params, opt_state), keys)
        return params, opt_state, infos, grad_norms

    def renewing_epoch(c, key):
        params, opt_state, batch, i = c
        # before every epoch but the first (under vmap `cond` runs both branches; same results)
        batch = jax.lax.cond(i > 0, renew, lambda p, b: b, params, batch)
        params, opt_state, infos = train_epoch(params, opt_state, batch, key)
        return (params, opt_state, batch, i + 1), infos

    (params, opt_state, _, _), (infos, grad_norms) = jax.lax.scan(
        renewing_epoch, (params, opt_state, batch, jnp.int32(0)), keys)
    return params, opt_state, infos, grad_norms


def ppo_update(path: DataPath, net: ActorCritic, config: PPOConfig, optimizer: optax.GradientTransformation,
               params: Any, opt_state: Any, inputs: UpdateInputs,
               key: jax.Array) -> tuple[Any, Any, dict[str, jax.Array]]:
    """One PPO update of ``params`` on the rollout in ``inputs`` along ``path``; returns (params,
    opt_state, metrics: the mean losses, approx_kl, clip_fraction, grad_norm, explained_variance)."""
    rollout = inputs.rollout
    last_value = net.value_only(params, inputs.last_carry, inputs.last_obs, inputs.last_first)
    advantage, target = gae_targets(config, rollout, rollout.value, last_value)
    batch = path.batch(config, rollout, advantage, target)
    params, opt_state, infos, grad_norms = train_epochs(
        functools.partial(path.loss, net, config), path.take, path.size(batch), optimizer, params, opt_state,
        batch, key, epochs=config.update_epochs, num_minibatches=config.num_minibatches,
        renew=path.renewal(net, config, inputs))
    metrics = {f"{k}_loss" if k in ("policy", "value", "total") else k: v.mean()
               for k, v in infos._asdict().items()}
    metrics["grad_norm"] = grad_norms.mean()
    metrics["explained_variance"] = ppo.explained_variance(rollout.value, target)
    return params, opt_state, metrics
