"""What every PPO agent here shares, written once: GAE, the clipped losses, minibatching, the optimiser.

PPO: Schulman, Wolski, Dhariwal, Radford, Klimov 2017 (arXiv 1707.06347); GAE: Schulman, Moritz,
Levine, Jordan, Abbeel 2016 (arXiv 1506.02438). Arrays are time-major, ``(T, E)`` = (steps, envs).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

__all__ = [
    "LossInfo",
    "explained_variance",
    "gae",
    "make_optimizer",
    "minibatch_indices",
    "next_values",
    "normalize",
    "ppo_loss",
]


def next_values(values: jax.Array, last_value: jax.Array, truncation_value: jax.Array,
                terminated: jax.Array, truncated: jax.Array) -> jax.Array:
    """v_{t+1} as seen from the episode of step t: (T, E).

    V(obs_{t+1}) normally; V(final_obs_t) where the episode was truncated at t (obs_{t+1} already
    belongs to the next episode); 0 where it terminated. ``values`` (T, E) are V(obs_t),
    ``last_value`` (E,) is V(obs_T), the observation after the rollout.
    """
    v_next = jnp.concatenate([values[1:], last_value[None]], axis=0)
    v_next = jnp.where(truncated, truncation_value, v_next)
    return jnp.where(terminated, jnp.zeros_like(v_next), v_next)


def gae(reward_t: jax.Array, value_t: jax.Array, value_tp1: jax.Array, done_t: jax.Array, *,
        gamma: float, lambda_: float) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation over a (T, E) rollout; returns (advantages, returns).

        δ_t = r_t + γ·v_{t+1} − v_t              (v_{t+1} from `next_values`: 0 if terminated)
        A_t = δ_t + γ·λ·(1 − done_t)·A_{t+1},     A_T = 0
        R_t = A_t + v_t                           (the value target)

    ``done_t`` (terminated or truncated) stops the recursion at episode boundaries; truncation is
    handled by the bootstrap inside ``value_tp1``.
    """
    delta = reward_t + gamma * value_tp1 - value_t
    carry_on = gamma * lambda_ * (1.0 - done_t.astype(delta.dtype))

    def backward(a_tp1, xs):
        delta_t, c_t = xs
        a_t = delta_t + c_t * a_tp1
        return a_t, a_t

    _, advantages = jax.lax.scan(backward, jnp.zeros_like(delta[0]), (delta, carry_on), reverse=True)
    return advantages, advantages + value_t


def normalize(x: jax.Array, eps: float = 1e-8) -> jax.Array:
    """(x − mean) / (std + eps) over all entries (PPO's per-minibatch advantage normalisation)."""
    return (x - x.mean()) / (x.std() + eps)


class LossInfo(NamedTuple):
    """Per-minibatch diagnostics (scalars)."""

    total: jax.Array
    policy: jax.Array
    value: jax.Array
    entropy: jax.Array
    approx_kl: jax.Array
    clip_fraction: jax.Array


def ppo_loss(log_prob: jax.Array, entropy: jax.Array, value: jax.Array, *, old_log_prob: jax.Array,
             old_value: jax.Array, advantage: jax.Array, target: jax.Array, clip_eps: float,
             value_coef: float, entropy_coef: float, clip_value: bool,
             normalize_advantage: bool) -> tuple[jax.Array, LossInfo]:
    """The PPO clipped objective for one minibatch (any shape, averaged over all entries).

        ρ = exp(log π_θ(a|s) − log π_old(a|s))
        L_π = −E[min(ρ·Â, clip(ρ, 1−ε, 1+ε)·Â)]
        L_V = ½·E[max((V − R)², (V_old + clip(V − V_old, −ε, ε) − R)²)]   (clip_value; else ½·E[(V − R)²])
        L = L_π + c_V·L_V − c_H·E[H(π_θ)]

    Â is normalised within the minibatch when ``normalize_advantage``.
    """
    adv = normalize(advantage) if normalize_advantage else advantage
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    policy_loss = -jnp.mean(jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv))
    if clip_value:
        v_clipped = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
        value_loss = 0.5 * jnp.mean(jnp.maximum((value - target) ** 2, (v_clipped - target) ** 2))
    else:
        value_loss = 0.5 * jnp.mean((value - target) ** 2)
    ent = jnp.mean(entropy)
    total = policy_loss + value_coef * value_loss - entropy_coef * ent
    # k3 estimator of KL(old || new) (Schulman's "approximating KL divergence")
    approx_kl = jnp.mean((ratio - 1.0) - log_ratio)
    clip_fraction = jnp.mean((jnp.abs(ratio - 1.0) > clip_eps).astype(ratio.dtype))
    return total, LossInfo(total, policy_loss, value_loss, ent, jax.lax.stop_gradient(approx_kl),
                           jax.lax.stop_gradient(clip_fraction))


def minibatch_indices(key: jax.Array, num_items: int, num_minibatches: int) -> jax.Array:
    """A random permutation of ``range(num_items)`` cut into (num_minibatches, num_items // num_minibatches)."""
    return jax.random.permutation(key, num_items).reshape(num_minibatches, -1)


def explained_variance(prediction: jax.Array, target: jax.Array) -> jax.Array:
    """1 − Var[target − prediction] / Var[target] (nan-free: 0 when the target is constant)."""
    var = jnp.var(target)
    return jnp.where(var > 0, 1.0 - jnp.var(target - prediction) / jnp.where(var > 0, var, 1.0), 0.0)


def make_optimizer(learning_rate: float, *, eps: float, max_grad_norm: float | None) -> optax.GradientTransformation:
    """Global-norm clipping then Adam (the paper: lr 1e-4, eps 1e-5, clip 0.5)."""
    adam = optax.adam(learning_rate, eps=eps)
    return adam if max_grad_norm is None else optax.chain(optax.clip_by_global_norm(max_grad_norm), adam)
