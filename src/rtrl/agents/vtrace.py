"""V-trace: off-policy n-step value targets and policy-gradient advantages, and the IMPALA loss pieces.

Espeholt, Soyer, Munos, Simonyan, Mnih, Ward, Doron, Firoiu, Harley, Dunning, Legg, Kavukcuoglu
2018, IMPALA (arXiv 1802.01561), section 4; used by R2AC (Irie, Gopalakrishnan, Schmidhuber 2024,
arXiv 2305.19044). A segment of n steps t = 0..n−1, behaviour policy μ (the actor's), target
policy π (the learner's), values V(x_t):

    ρ_t = min(ρ̄, π(a_t|x_t) / μ(a_t|x_t)),     c_t = λ·min(c̄, π(a_t|x_t) / μ(a_t|x_t))
    δ_t = ρ_t·(r_t + γ_t·V(x_{t+1}) − V(x_t))
    v_s = V(x_s) + Σ_{t=s}^{n−1} (Π_{i=s}^{t−1} γ_i·c_i)·δ_t                 (the V-trace target)
        ⇔ v_s − V(x_s) = δ_s + γ_s·c_s·(v_{s+1} − V(x_{s+1})),  v_n = V(x_n)  (computed backwards)
    A_s = ρ^pg_s·(r_s + γ_s·v_{s+1} − V(x_s))                                  (policy-gradient advantage)

with γ_t = ``discount_t`` = γ·(1 − terminated_t): a termination zeroes the bootstrap and cuts every
product that crosses it. ρ^pg uses ``pg_rho_bar`` (default ρ̄). On-policy (π = μ) with ρ̄, c̄ ≥ 1,
v_s is the λ-return (λ = 1: the discounted return over the rest of the segment bootstrapped with
V(x_n)), so v_s − V(x_s) equals GAE's advantage (`rtrl.agents.ppo.gae`).

Episode ends inside a segment. A time-limit truncation at step t must bootstrap from the episode's
real last observation, not from x_{t+1} (which starts the next episode), and neither the bootstrap nor
the c-products may cross the boundary. One ``discount_t`` cannot say both "bootstrap with γ" and "cut
here", so the step's bootstrap value and the cut are given explicitly, as in `rtrl.agents.ppo.gae`:

* ``v_tp1[t]`` is V of the observation after step t *as seen from step t's episode*: V(x_{t+1})
  normally, V(final_obs_t) where the episode was truncated at t, anything where it terminated (γ_t = 0);
  `rtrl.agents.ppo.next_values` builds it from V(x_0..x_n) and the truncation values.
* ``done_t`` (terminated or truncated at t) stops the backward recursion: v_{t+1} from the next episode
  is replaced by ``v_tp1[t]``, so

      v_t − V(x_t) = δ_t + γ_t·c_t·(1 − done_t)·(v_{t+1} − V(x_{t+1})),   δ_t = ρ_t·(r_t + γ_t·v_tp1[t] − V(x_t))
      A_t = ρ^pg_t·(r_t + γ_t·v̂_{t+1} − V(x_t)),   v̂_{t+1} = v_tp1[t] + (1 − done_t)·(v_{t+1} − V(x_{t+1}))

  and a segment cut at an episode end gives the same targets as its two pieces computed apart.

Arrays are time-major, (n, ...) with any trailing batch axes (the recursion is elementwise), or use
``jax.vmap``. Every output is ``stop_gradient``-ed: IMPALA's targets, advantages and ratios are
constants of the loss; the gradient flows only through the loss functions' ``log_prob_t``, ``v_t``
and ``entropy_t``.

Why not rlax (0.1.9, from the local index, checked in a throwaway venv with the pinned jax 0.10.2):
its ``vtrace`` and ``vtrace_td_error_and_advantage`` import and agree with this module (the optional
test ``test_matches_rlax``), but (1) it fixes c̄ = 1; (2) it has one ``discount_t`` for both the
bootstrap and the trace cut, so a truncation inside a segment either drops the bootstrap or lets the
c-products run into the next episode; (3) for λ < 1 its advantage bootstraps from λ·v_{s+1} +
(1 − λ)·V(x_{s+1}), not IMPALA's v_{s+1}; (4) rank-1 arrays only. The install adds ~68 MB (tfp-nightly
57 MB, pulled by distrax: a nightly build, not a release; chex, dm-tree, dm-env) and ~0.65 s to import
(1.4 s against jax's 0.75 s), and tfp warns DeprecationWarning at import. For ~40 lines of maths that
is not worth a dependency.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from rtrl import validate

__all__ = [
    "ActorCriticLoss",
    "VTraceOutput",
    "actor_critic_loss",
    "baseline_loss",
    "entropy_loss",
    "policy_gradient_loss",
    "vtrace",
]


class VTraceOutput(NamedTuple):
    """V-trace for one segment; every field (n, ...) and gradient-free."""

    vs_t: jax.Array  # v_t, the value targets
    pg_advantage_t: jax.Array  # A_t = ρ^pg_t·(r_t + γ_t·v̂_{t+1} − V(x_t))
    rho_t: jax.Array  # ρ_t = min(ρ̄, π/μ), the clipped importance weights of the TD errors


def vtrace(v_t: jax.Array, v_tp1: jax.Array, r_t: jax.Array, discount_t: jax.Array,
           log_rho_t: jax.Array, *, done_t: jax.Array | None = None, rho_bar: float = 1.0,
           c_bar: float = 1.0, pg_rho_bar: float | None = None, lambda_: float = 1.0) -> VTraceOutput:
    """V-trace targets v_t and policy-gradient advantages A_t of a segment (the maths: module docstring).

    Args (all (n, ...), time-major, same shape):
      v_t: V(x_t), the values where the actions were taken.
      v_tp1: V of the next observation from step t's episode: V(x_{t+1}); V(final_obs_t) where truncated
        at t; unused where terminated. v_tp1[n−1] is the segment's bootstrap value.
      r_t: rewards after a_t.
      discount_t: γ·(1 − terminated_t).
      log_rho_t: log π(a_t|x_t) − log μ(a_t|x_t), the log importance ratio.
      done_t: terminated or truncated at t (bool or 0/1): cuts the recursion at episode ends. None: no
        episode ends other than terminations (which ``discount_t`` = 0 already cuts).
      rho_bar, c_bar: clipping thresholds ρ̄, c̄ (> 0; IMPALA: 1). pg_rho_bar: ρ̄ of the advantage
        (default ``rho_bar``). lambda_: λ in [0, 1] scaling the traces c_t.
    Returns: `VTraceOutput` (stop-gradient).
    """
    rho_bar = validate.positive_number("rho_bar", rho_bar)
    c_bar = validate.positive_number("c_bar", c_bar)
    pg_rho_bar = rho_bar if pg_rho_bar is None else validate.positive_number("pg_rho_bar", pg_rho_bar)
    lambda_ = validate.number_in("lambda_", lambda_, 0.0, 1.0)
    arrays = {"v_t": v_t, "v_tp1": v_tp1, "r_t": r_t, "discount_t": discount_t, "log_rho_t": log_rho_t}
    if done_t is not None:
        arrays["done_t"] = done_t
    _check_shapes(arrays)

    dtype = jnp.result_type(v_t, v_tp1, r_t, discount_t, log_rho_t)
    v_t, v_tp1, r_t, discount_t = (jnp.asarray(x, dtype) for x in (v_t, v_tp1, r_t, discount_t))
    keep_t = (jnp.ones_like(v_t) if done_t is None
              else 1.0 - jnp.asarray(done_t).astype(dtype))

    ratio_t = jnp.exp(jnp.asarray(log_rho_t, dtype))
    rho_t = jnp.minimum(rho_bar, ratio_t)
    c_t = lambda_ * jnp.minimum(c_bar, ratio_t)
    delta_t = rho_t * (r_t + discount_t * v_tp1 - v_t)

    def backward(correction_tp1, xs):
        # correction_tp1 = v_{t+1} − V(x_{t+1}) of the step after; 0 after the segment's last step
        delta, discount, c, keep = xs
        correction = delta + discount * c * keep * correction_tp1
        return correction, (correction, correction_tp1)

    _, (correction_t, correction_tp1) = jax.lax.scan(
        backward, jnp.zeros_like(v_t[0]), (delta_t, discount_t, c_t, keep_t), reverse=True)
    vs_t = v_t + correction_t
    vs_tp1 = v_tp1 + keep_t * correction_tp1  # v̂_{t+1}: the next step's target, within the episode
    pg_advantage_t = jnp.minimum(pg_rho_bar, ratio_t) * (r_t + discount_t * vs_tp1 - v_t)
    # IMPALA's targets are constants of the loss: no gradient through values, rewards or ratios.
    return VTraceOutput(*jax.lax.stop_gradient((vs_t, pg_advantage_t, rho_t)))


def _check_shapes(arrays: dict[str, jax.Array]) -> None:
    """All arrays (n, ...) of one shape with n ≥ 1, else ValueError naming the ones that differ."""
    shapes = {name: tuple(jnp.shape(x)) for name, x in arrays.items()}
    reference = shapes["v_t"]
    if len(reference) == 0 or reference[0] < 1:
        raise ValueError(f"v_t must be time-major with at least one step, shape (n, ...) with n >= 1, "
                         f"got shape {reference}.")
    wrong = {name: shape for name, shape in shapes.items() if shape != reference}
    if wrong:
        shown = ", ".join(f"{name} {shape}" for name, shape in wrong.items())
        raise ValueError(f"V-trace inputs must all have v_t's shape {reference} (time-major, (n, ...)), "
                         f"got {shown}.")


def policy_gradient_loss(log_prob_t: jax.Array, pg_advantage_t: jax.Array) -> jax.Array:
    """Per step −A_t·log π(a_t|x_t), A_t a constant: its gradient is IMPALA's −ρ_t·(r_t + γ_t·v_{t+1} −
    V(x_t))·∇log π(a_t|x_t). Not reduced: (n, ...)."""
    return -jax.lax.stop_gradient(pg_advantage_t) * log_prob_t


def baseline_loss(v_t: jax.Array, vs_t: jax.Array) -> jax.Array:
    """Per step ½·(v_t − V(x_t))², the target v_t a constant: gradient −(v_t − V(x_t))·∇V(x_t). (n, ...)."""
    return 0.5 * jnp.square(jax.lax.stop_gradient(vs_t) - v_t)


def entropy_loss(entropy_t: jax.Array) -> jax.Array:
    """Per step −H(π(·|x_t)) (minimising it raises the entropy). (n, ...)."""
    return -entropy_t


class ActorCriticLoss(NamedTuple):
    """The V-trace actor-critic loss per step, (n, ...), and its parts (unweighted)."""

    total_t: jax.Array  # policy + baseline_coef·baseline + entropy_coef·entropy
    policy_t: jax.Array  # −A_t·log π(a_t|x_t)
    baseline_t: jax.Array  # ½·(v_t − V(x_t))²
    entropy_t: jax.Array  # −H(π(·|x_t))


def actor_critic_loss(log_prob_t: jax.Array, entropy_t: jax.Array, v_t: jax.Array, targets: VTraceOutput, *,
                      baseline_coef: float = 0.5, entropy_coef: float = 0.01) -> ActorCriticLoss:
    """IMPALA's loss per step: −A_t·log π(a_t|x_t) + c_V·½(v_t − V(x_t))² − c_H·H(π(·|x_t)).

    Defaults are R2AC's (elstm.md: baseline 0.5, entropy 0.01). Per step and not reduced, so a learner
    that forms the RTRL gradient at every step can take step t's term; IMPALA sums over time and batch.
    ``log_prob_t``, ``entropy_t`` and ``v_t`` come from the learner's current parameters (the same v_t
    that went into `vtrace`); ``targets`` are constants.
    """
    baseline_coef = validate.non_negative_number("baseline_coef", baseline_coef)
    entropy_coef = validate.non_negative_number("entropy_coef", entropy_coef)
    _check_shapes({"v_t": v_t, "log_prob_t": log_prob_t, "entropy_t": entropy_t, "targets.vs_t": targets.vs_t,
                   "targets.pg_advantage_t": targets.pg_advantage_t})
    policy_t = policy_gradient_loss(log_prob_t, targets.pg_advantage_t)
    baseline_t = baseline_loss(v_t, targets.vs_t)
    ent_t = entropy_loss(entropy_t)
    return ActorCriticLoss(policy_t + baseline_coef * baseline_t + entropy_coef * ent_t, policy_t, baseline_t,
                           ent_t)
