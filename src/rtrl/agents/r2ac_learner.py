"""The learner's half of R2AC (`rtrl.agents.r2ac`): from a segment the actors hand over to a gradient.

    fwd = forward(net, params, segment)        # V(x_t), log π(a_t|x_t), H, bootstraps: the current θ
    tg = targets(config, segment, fwd)         # V-trace targets v_t and advantages A_t (constants)
    grads, _ = rtrl_gradient(net, config, params, segment, tg)   # or tbptt_gradient(...)

The maths (V-trace, the loss, which gradient each layer gets) is in `rtrl.agents.r2ac`'s docstring;
the optimiser is global-norm clipping then RMSProp with a linearly decaying learning rate.

The layers below the cell (a conv stem and the encoder MLP: `ActorCritic.encode`, parameters
φ = params["stem"], params["encoder"]) run once over the whole segment, batched over M × N observations,
z_t = enc_φ(x_t); the cell and the heads then step from z_t. φ's gradient is one VJP of that batched
encoding with a cotangent g_t for every z_t:

* T-BPTT / feed-forward (`tbptt_gradient`), and RTRL with ``stem_gradient="segment"``: g_t = dL/dz_t
  through the segment's forward unrolled from the actor's start state held constant (back-propagation
  through the segment, as Irie et al.'s code). Under RTRL this is one extra backward pass over the
  segment through the cell and heads only (with the cell in BPTT mode; their parameters are not
  differentiated there: they keep the RTRL gradient), then the one VJP of the encoding.
* RTRL with ``stem_gradient="immediate"``: g_t = ∂L_t/∂z_t from each step's VJP, the carry coming in
  held constant (what the RTRL step gives its input): no extra pass.

Nothing of this runs when there are no parameters below the cell (a dense stem without encoder layers).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from rtrl.agents import ppo, vtrace
from rtrl.agents.network import ActorCritic
from rtrl.agents.r2ac_config import R2ACConfig
from rtrl.cells.base import Carry

__all__ = ["Forward", "Segment", "forward", "learning_rate_schedule", "loss_terms", "make_optimizer",
           "rtrl_gradient", "targets", "tbptt_gradient"]

BELOW_CELL = ("stem", "encoder")  # the parameters of `ActorCritic.encode`


class Segment(NamedTuple):
    """What the actors hand the learner: M steps of N environments, time-major, and where they began."""

    start_carry: Any  # the carry before step 0 (before first[0]'s reset), leaves (N, ...); () feed-forward
    obs: jax.Array  # (M, N, *observation_shape) x_t
    first: jax.Array  # (M, N) bool: x_t starts an episode
    action: jax.Array  # (M, N) int32 or (M, N, A)
    behaviour_log_prob: jax.Array  # (M, N) log μ(a_t|·), the actor's
    reward: jax.Array  # (M, N) r_t as the environment gave it (unclipped)
    done: jax.Array  # (M, N) bool: the episode ended at t (terminated or truncated)
    terminated: jax.Array  # (M, N) bool
    truncated: jax.Array  # (M, N) bool
    final_obs: jax.Array  # (M, N, *observation_shape) the real last observation where the episode ended at t (= x_{t+1} else)
    last_obs: jax.Array  # (N, *observation_shape) x_M, the observation after the segment (the bootstrap)
    last_first: jax.Array  # (N,) bool: x_M starts an episode
    episode_return: jax.Array  # (M, N) return of the episode that ended at t (0 where not done)
    episode_length: jax.Array  # (M, N)


class Forward(NamedTuple):
    """The learner's forward over a segment with its current parameters."""

    value: jax.Array  # (M, N) V(x_t)
    log_prob: jax.Array  # (M, N) log π(a_t|x_t)
    entropy: jax.Array  # (M, N) H(π(·|x_t))
    value_tp1: jax.Array  # (M, N) V of the observation after t as seen from t's episode (`ppo.next_values`)
    end_carry: Any  # the carry after step M−1 (without traces)


def _without_traces(net: ActorCritic, carry: Any) -> tuple[ActorCritic, Any]:
    """The network in plain-backprop mode and the carry's state alone (values need no traces)."""
    if net.cell is None:
        return net, carry
    return net.with_gradient("bptt"), Carry(carry.state, ())


def forward(net: ActorCritic, params: Any, segment: Segment) -> Forward:
    """V(x_t), log π(a_t|x_t), H(π(·|x_t)) and the bootstrap values of ``segment`` with ``params``,
    unrolled from the segment's start state (differentiable: `tbptt_gradient` takes ``jax.grad``
    through it; the start state is a constant, and the bootstrap and truncation values get no gradient).
    The layers below the cell run once on all M × N observations (`ActorCritic.encode`)."""
    return _forward_encoded(net, params, segment, net.encode(params, segment.obs))


def _forward_encoded(net: ActorCritic, params: Any, segment: Segment, encoded: jax.Array) -> Forward:
    """`forward` with the segment's observations already encoded, ``encoded`` (M, N, encoding_size)."""
    net, carry0 = _without_traces(net, segment.start_carry)
    carry0 = jax.lax.stop_gradient(carry0)
    constant = jax.lax.stop_gradient(params)  # bootstraps are constants of the loss (V-trace stops them anyway)

    def step(carry, xs):
        z, first, action, truncated, final_obs = xs
        carry_t, policy, value = net.step_encoded(params, carry, z, first)
        zeros = jnp.zeros_like(value)
        # V(final_obs) matters only where a time limit cut the episode: skip it on other steps
        truncation_value = jax.lax.cond(
            jnp.any(truncated),
            lambda: jnp.where(truncated, net.value_only(constant, jax.lax.stop_gradient(carry_t), final_obs), zeros),
            lambda: zeros)
        return carry_t, (value, policy.log_prob(action), policy.entropy(), truncation_value)

    end_carry, (value, log_prob, entropy, truncation_value) = jax.lax.scan(
        step, carry0, (encoded, segment.first, segment.action, segment.truncated, segment.final_obs))
    last_value = net.value_only(constant, jax.lax.stop_gradient(end_carry), segment.last_obs, segment.last_first)
    value_tp1 = ppo.next_values(value, last_value, truncation_value, segment.terminated, segment.truncated)
    return Forward(value, log_prob, entropy, value_tp1, end_carry)


def targets(config: R2ACConfig, segment: Segment, fwd: Forward) -> vtrace.VTraceOutput:
    """V-trace targets and advantages of ``segment`` from the learner's forward (constants)."""
    reward = segment.reward.astype(fwd.value.dtype)
    if config.clip_rewards:
        reward = jnp.clip(reward, -1.0, 1.0)
    discount = config.gamma * (1.0 - segment.terminated.astype(fwd.value.dtype))
    return vtrace.vtrace(fwd.value, fwd.value_tp1, reward, discount, fwd.log_prob - segment.behaviour_log_prob,
                         done_t=segment.done, rho_bar=config.rho_bar, c_bar=config.c_bar)


def loss_terms(config: R2ACConfig, log_prob: jax.Array, entropy: jax.Array, value: jax.Array,
                tg: vtrace.VTraceOutput) -> vtrace.ActorCriticLoss:
    return vtrace.actor_critic_loss(log_prob, entropy, value, tg, baseline_coef=config.baseline_coef,
                                    entropy_coef=config.entropy_coef)


def tbptt_gradient(net: ActorCritic, config: R2ACConfig, params: Any,
                   segment: Segment) -> tuple[Any, Forward, vtrace.VTraceOutput, vtrace.ActorCriticLoss]:
    """∇_θ of the summed segment loss by back-propagation through the segment's forward from the
    actor's start state held constant (T-BPTT(M); feed-forward without a cell). Returns (gradient,
    forward, targets, per-step loss terms)."""

    def loss(p):
        fwd = forward(net, p, segment)
        tg = targets(config, segment, fwd)
        terms = loss_terms(config, fwd.log_prob, fwd.entropy, fwd.value, tg)
        return terms.total_t.sum(), (fwd, tg, terms)

    grads, (fwd, tg, terms) = jax.grad(loss, has_aux=True)(params)
    return grads, fwd, tg, terms


def rtrl_gradient(net: ActorCritic, config: R2ACConfig, params: Any, segment: Segment,
                  tg: vtrace.VTraceOutput) -> tuple[Any, Any]:
    """∇_θ of the summed segment loss (targets ``tg`` constant) by RTRL: the traces are recomputed over
    the segment with ``params`` from the actor's start carry, and each step's gradient is one VJP of a
    network step (cell and heads, from the encoded observation) from the carry with traces. The layers
    below the cell get ``config.stem_gradient``'s gradient (see the module docstring). Returns
    (gradient, the recomputed carry after the segment)."""
    unused_rho = jnp.zeros_like(tg.vs_t[0])  # the loss reads only the targets and advantages
    below = {k: params[k] for k in BELOW_CELL if k in params}
    above = {k: v for k, v in params.items() if k not in BELOW_CELL}
    trained_below = bool(jax.tree.leaves(below))
    encoded, encode_vjp = jax.vjp(lambda b: net.encode(b, segment.obs), below)
    # the immediate cotangents of z_t come out of the per-step VJPs only when they are the stem's gradient
    immediate = trained_below and config.stem_gradient == "immediate"

    def step(c, xs):
        carry, grads = c
        z, first, action, vs, advantage = xs
        step_targets = vtrace.VTraceOutput(vs[None], advantage[None], unused_rho[None])

        def step_loss(p, z):
            carry_t, policy, value = net.step_encoded(p, carry, z, first)
            terms = loss_terms(config, policy.log_prob(action)[None], policy.entropy()[None], value[None],
                                step_targets)
            return terms.total_t.sum(), carry_t

        if immediate:
            (g, dz), carry_t = jax.grad(step_loss, argnums=(0, 1), has_aux=True)(above, z)
        else:
            (g, carry_t), dz = jax.grad(step_loss, has_aux=True)(above, z), None
        return (carry_t, jax.tree.map(jnp.add, grads, g)), dz

    zeros = jax.tree.map(jnp.zeros_like, above)
    (end_carry, grads), dz = jax.lax.scan(
        step, (segment.start_carry, zeros), (encoded, segment.first, segment.action, tg.vs_t, tg.pg_advantage_t))
    grads = dict(grads)
    if trained_below:
        if not immediate:
            dz = _segment_encoding_gradient(net, config, params, segment, tg, encoded)
        grads.update(encode_vjp(dz)[0])
    else:
        grads.update(jax.tree.map(jnp.zeros_like, below))
    return grads, end_carry


def _segment_encoding_gradient(net: ActorCritic, config: R2ACConfig, params: Any, segment: Segment,
                               tg: vtrace.VTraceOutput, encoded: jax.Array) -> jax.Array:
    """dL/dz_t (M, N, encoding_size): the summed segment loss (targets ``tg`` constant) back-propagated
    to every encoded observation through the cell (BPTT mode) and heads unrolled from the actor's start
    state held constant; the parameters are constants here (only the encodings are differentiated)."""
    bptt, carry0 = _without_traces(net, segment.start_carry)
    carry0 = jax.lax.stop_gradient(carry0)
    constant = jax.lax.stop_gradient(params)

    def loss(encoded):
        def step(carry, xs):
            z, first, action = xs
            carry_t, policy, value = bptt.step_encoded(constant, carry, z, first)
            return carry_t, (value, policy.log_prob(action), policy.entropy())

        _, (value, log_prob, entropy) = jax.lax.scan(step, carry0, (encoded, segment.first, segment.action))
        return loss_terms(config, log_prob, entropy, value, tg).total_t.sum()

    return jax.grad(loss)(encoded)


def make_optimizer(config: R2ACConfig) -> optax.GradientTransformation:
    """Global-norm clipping, then RMSProp (ε outside the square root, as PyTorch's) with the learning
    rate decaying linearly to 0 over ``config.total_updates`` updates (constant when None)."""
    rmsprop = optax.rmsprop(learning_rate_schedule(config), decay=config.rmsprop_decay, eps=config.rmsprop_eps,
                            eps_in_sqrt=False)
    if config.max_grad_norm is None:
        return rmsprop
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), rmsprop)


def learning_rate_schedule(config: R2ACConfig) -> optax.Schedule:
    """lr_k = lr·(1 − k / total_updates) for update k (then 0); constant without ``total_updates``."""
    if config.total_updates is None:
        return optax.constant_schedule(config.learning_rate)
    return optax.linear_schedule(config.learning_rate, 0.0, config.total_updates)
