"""Stream AC(λ) (Elsayed, Vasan, Mahmood 2024, arXiv 2410.14606): its TD error, gradients and acting.

Per step t, with the parameters θ (actor) and w (critic) of step t:

    δ_t   = R_{t+1} + γ (1 − terminated_{t+1}) V_w(S_{t+1}) − V_w(S_t)
    g_w   = ∇_w V_w(S_t)
    g_θ   = ∇_θ [log π_θ(A_t|S_t) + τ·sign(δ_t)·H(π_θ(·|S_t))]

`rtrl.agents.stream` turns these into eligibility traces and ObGD updates. Where an episode was cut
by a time limit, S_{t+1} is the episode's real last observation (``final_obs``), bootstrapped; where
it terminated, V(S_{t+1}) is dropped. With a recurrent layer, V(S_t) and π(·|S_t) are functions of
the whole history: ``jax.vjp`` through one network step from the carried state gives the exact RTRL
gradient (``gradient="rtrl"``) or T-BPTT(1)'s one-step one (``"tbptt"``); V(S_{t+1}) continues the
critic's state one step from h_t, without traces. The actor and critic share no parameters, so one
backward pass with the cotangent (1 for V, ∂[log π + τ sign(δ) H]/∂π for the policy) gives g_w
and g_θ together.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rtrl.agents.stream_network import StreamActorCritic
from rtrl.agents.stream_rule import Gradients, StreamRule, Transition, td_error

__all__ = ["STREAM_AC"]


def _groups(config: Any) -> dict[str, float]:
    return {"actor": config.kappa_actor, "critic": config.kappa_critic}


def _network(config: Any, observation_size: int, action_size: int, discrete: bool) -> StreamActorCritic:
    return StreamActorCritic.make(config, observation_size, action_size, discrete)


def _gradients(net: StreamActorCritic, config: Any, params: Any, carry: Any, obs: jax.Array, first: jax.Array,
               action: jax.Array, transition: Transition, step: jax.Array) -> Gradients:
    def forward(p):
        carry_t, policy, value = net.step(p, carry, obs, first)
        return (value[0], policy), carry_t

    (value, policy), backward, carry_t = jax.vjp(forward, params, has_aux=True)
    delta = td_error(transition, config.gamma, value, lambda x: net.value_only(params, carry_t, x)[0])
    entropy_weight = config.entropy_coef * jnp.sign(delta)

    def actor_objective(pi):
        return pi.log_prob(action)[0] + entropy_weight * pi.entropy()[0]

    (grads,) = backward((jnp.ones_like(value), jax.grad(actor_objective)(policy)))
    metrics = {"value": value, "entropy": policy.entropy()[0]}
    return Gradients(delta, grads, carry_t, jnp.zeros((), bool), metrics)


def _act(net: StreamActorCritic, config: Any, params: Any, carry: Any, obs: jax.Array, first: jax.Array,
         key: jax.Array, step: jax.Array) -> jax.Array:
    return net.policy_only(params, carry, obs, first).sample(key)


STREAM_AC = StreamRule(_groups, _network, _gradients, _act, discrete_only=False)
