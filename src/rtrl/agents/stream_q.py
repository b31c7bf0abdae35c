"""Stream Q(λ) (Elsayed, Vasan, Mahmood 2024, arXiv 2410.14606): its TD error, gradient and ε-greedy acting.

Per step t, with the parameters w of step t:

    δ_t = R_{t+1} + γ (1 − terminated_{t+1}) max_a Q_w(S_{t+1}, a) − Q_w(S_t, A_t)
    g_w = ∇_w Q_w(S_t, A_t)

z ← γλ z + g_w, the update with δ_t, and then the eligibility trace is cut (zeroed) when A_t was
not greedy: Elsayed et al.'s stream Q(λ). (Textbook Watkins's Q(λ) would instead zero the decayed
trace *before* adding g_t, z ← [A_t greedy]·γλ z + g_t, so that δ_t of an exploratory step still
reaches that step's own pair but no earlier one; we follow the paper whose defaults we take.) Actions are ε-greedy, ε
linear from ``epsilon_start`` to ``epsilon_end`` over ``epsilon_decay_steps`` steps, then constant.
Gradients through the recurrent layer as in `rtrl.agents.stream_ac`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rtrl.agents.distributions import EpsilonGreedy
from rtrl.agents.stream_network import StreamQNetwork
from rtrl.agents.stream_rule import Gradients, StreamRule, Transition, td_error

__all__ = ["STREAM_Q", "epsilon"]


def epsilon(config: Any, step: jax.Array) -> jax.Array:
    """ε at environment step ``step`` (counting from 0): linear from start to end, then constant."""
    fraction = jnp.minimum(step.astype(jnp.float32) / config.epsilon_decay_steps, 1.0)
    return config.epsilon_start + fraction * (config.epsilon_end - config.epsilon_start)


def _groups(config: Any) -> dict[str, float]:
    return {"q": config.kappa_q}


def _network(config: Any, observation_size: int, action_size: int, discrete: bool) -> StreamQNetwork:
    return StreamQNetwork.make(config, observation_size, action_size)


def _gradients(net: StreamQNetwork, config: Any, params: Any, carry: Any, obs: jax.Array, first: jax.Array,
               action: jax.Array, transition: Transition, step: jax.Array) -> Gradients:
    def forward(p):
        carry_t, q = net.values(p, carry, obs, first)
        return q[0], carry_t

    q, backward, carry_t = jax.vjp(forward, params, has_aux=True)
    chosen = jax.nn.one_hot(action[0], q.shape[-1], dtype=q.dtype)
    q_taken = jnp.sum(chosen * q)
    delta = td_error(transition, config.gamma, q_taken, lambda x: jnp.max(net.values_only(params, carry_t, x)[0]))
    (grads,) = backward(chosen)
    explored = action[0] != jnp.argmax(q)
    metrics = {"value": q_taken, "explored": explored.astype(q.dtype), "epsilon": epsilon(config, step)}
    return Gradients(delta, grads, carry_t, explored, metrics)


def _act(net: StreamQNetwork, config: Any, params: Any, carry: Any, obs: jax.Array, first: jax.Array,
         key: jax.Array, step: jax.Array) -> jax.Array:
    q = net.values_only(params, carry, obs, first)
    return EpsilonGreedy(q, epsilon(config, step).astype(q.dtype)).sample(key)


STREAM_Q = StreamRule(_groups, _network, _gradients, _act, discrete_only=True)
