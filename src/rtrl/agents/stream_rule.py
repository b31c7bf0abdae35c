"""What each streaming agent gives the shared streaming core (`rtrl.agents.stream`): a `StreamRule`.

The core does everything the agents share: stepping the environment, the eligibility traces
z ← γλ z + g per parameter group, the optimiser step from (z, δ), the trace resets, the episode
statistics and the metrics. An agent (stream AC, stream Q) is its network, its parameter groups
with their ObGD bounds, how it forms the TD error and the gradients g of one step, and how it acts.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["Gradients", "StreamRule", "Transition", "td_error"]


class Transition(NamedTuple):
    """What the environment returned for the action taken at S_t (leaves with a leading env axis of 1)."""

    reward: jax.Array  # (1,) R_{t+1}
    obs: jax.Array  # (1, D) the next observation to act on (a new episode's first where done)
    done: jax.Array  # (1,) bool: the episode ended (terminated or truncated)
    terminated: jax.Array  # (1,) bool: ended in a terminal state (no bootstrap)
    final_obs: jax.Array  # (1, D) the episode's real last observation where done (= obs otherwise)
    episode_stats: dict[str, jax.Array]  # the env's own "episode_return"/"episode_length" where it keeps them


def td_error(transition: Transition, gamma: float, prediction: jax.Array,
             next_value: Callable[[jax.Array], jax.Array]) -> jax.Array:
    """δ_t = R_{t+1} + γ (1 − terminated_{t+1}) v(S_{t+1}) − ``prediction``, with ``next_value(x)`` the
    bootstrap at the observation x (batch of 1). Where the episode ended, S_{t+1} is its real last
    observation (``final_obs``: a time-limit truncation bootstraps from it), not the next episode's first;
    a termination drops the bootstrap."""
    x_next = jnp.where(transition.done[:, None], transition.final_obs, transition.obs)
    not_terminal = 1.0 - transition.terminated[0].astype(prediction.dtype)
    reward = transition.reward[0].astype(prediction.dtype)
    return reward + gamma * not_terminal * next_value(x_next) - prediction


class Gradients(NamedTuple):
    """One step's learning signal, from the parameters of that step."""

    delta: jax.Array  # () TD error δ_t
    grads: Any  # pytree like the parameters: g_t, whose trace is z (per group)
    carry: Any  # the network's carry after S_t (state and RTRL traces)
    cut_traces: jax.Array  # () bool: zero the eligibility traces after this update (Watkins's Q(λ))
    metrics: dict[str, jax.Array]  # () scalars, averaged over the iteration's steps


class StreamRule(NamedTuple):
    """One streaming agent.

    groups(config) -> {group: κ}: the top-level parameter keys, each with its own trace and ObGD bound.
    network(config, observation_size, action_size, discrete) -> the network.
    gradients(net, config, params, carry_tm1, obs_t, first_t, action_t, transition, step) -> `Gradients`.
    act(net, config, params, carry_t, obs_{t+1}, first_{t+1}, key, step) -> action (1,) or (1, A).
    """

    groups: Callable[[Any], dict[str, float]]
    network: Callable[..., Any]
    gradients: Callable[..., Gradients]
    act: Callable[..., jax.Array]
    discrete_only: bool
