"""V-trace (rtrl.agents.vtrace) against a direct loop over IMPALA's definition, λ-returns, GAE and rlax.

Each test names the plausible bug it catches. float64 (tests/conftest.py turns x64 on): the
references are exact up to rounding.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtrl.agents import ppo
from rtrl.agents.vtrace import (
    VTraceOutput,
    actor_critic_loss,
    baseline_loss,
    entropy_loss,
    policy_gradient_loss,
    vtrace,
)

GAMMA = 0.9


def reference_vtrace(v, v_next, r, discount, log_rho, done, *, rho_bar=1.0, c_bar=1.0, lambda_=1.0,
                     pg_rho_bar=None):
    """IMPALA's definition as a double loop: v_s = V(x_s) + Σ_t (Π_{i<t} γ_i c_i) δ_t, the sum ending at the
    step where the episode ends; the advantage's next target v_{s+1}, or V(next obs of s's episode) at an
    episode end or the segment's end."""
    v, v_next, r, discount, log_rho, done = (np.asarray(x, np.float64) for x in (v, v_next, r, discount, log_rho,
                                                                                   done))
    pg_rho_bar = rho_bar if pg_rho_bar is None else pg_rho_bar
    n = len(v)
    ratio = np.exp(log_rho)
    vs = np.zeros(n)
    for s in range(n):
        total, product = 0.0, 1.0
        for t in range(s, n):
            rho = min(rho_bar, ratio[t])
            total += product * rho * (r[t] + discount[t] * v_next[t] - v[t])
            if done[t]:
                break
            product *= discount[t] * lambda_ * min(c_bar, ratio[t])
        vs[s] = v[s] + total
    advantage = np.zeros(n)
    for s in range(n):
        next_target = v_next[s] if (s == n - 1 or done[s]) else vs[s + 1]
        advantage[s] = min(pg_rho_bar, ratio[s]) * (r[s] + discount[s] * next_target - v[s])
    return vs, advantage


def segment(n=7, seed=0, batch=()):
    """Random values, rewards, log-ratios spread around 0 (ratios above and below 1), discount γ."""
    rng = np.random.default_rng(seed)
    shape = (n, *batch)
    v = rng.normal(size=shape)
    bootstrap = rng.normal(size=batch)
    v_next = np.concatenate([v[1:], bootstrap[None]], axis=0)
    r = rng.normal(size=shape)
    log_rho = rng.normal(scale=0.8, size=shape)
    return v, v_next, r, np.full(shape, GAMMA), log_rho


def as_jax(*arrays):
    return tuple(jnp.asarray(a) for a in arrays)


@pytest.mark.parametrize("rho_bar,c_bar,lambda_", [(1.0, 1.0, 1.0), (1.5, 0.7, 1.0), (0.8, 1.3, 0.6),
                                                   (100.0, 100.0, 1.0)])
def test_matches_definition_with_clipping(rho_bar, c_bar, lambda_):
    """Catches: c clipped at ρ̄ instead of c̄ (or ρ at c̄); λ applied to ρ as well as c; the product starting at
    c_s instead of 1 (off by one); an advantage that bootstraps with V(x_{s+1}) instead of v_{s+1}."""
    v, v_next, r, discount, log_rho = segment()
    ratio = np.exp(log_rho)
    if rho_bar < 100.0:  # both clips active: ratios above and below each threshold
        assert (ratio > max(rho_bar, c_bar)).any() and (ratio < min(rho_bar, c_bar)).any()
    out = vtrace(*as_jax(v, v_next, r, discount, log_rho), rho_bar=rho_bar, c_bar=c_bar, lambda_=lambda_)
    vs, adv = reference_vtrace(v, v_next, r, discount, log_rho, np.zeros(len(v)), rho_bar=rho_bar, c_bar=c_bar,
                               lambda_=lambda_)
    np.testing.assert_allclose(out.vs_t, vs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.pg_advantage_t, adv, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.rho_t, np.minimum(rho_bar, ratio), rtol=1e-12)


def test_pg_rho_bar_clips_only_the_advantage():
    """Catches: pg_rho_bar ignored, or used in the targets' ρ."""
    v, v_next, r, discount, log_rho = segment(seed=1)
    out = vtrace(*as_jax(v, v_next, r, discount, log_rho), rho_bar=1.0, pg_rho_bar=0.5)
    vs, adv = reference_vtrace(v, v_next, r, discount, log_rho, np.zeros(len(v)), pg_rho_bar=0.5)
    np.testing.assert_allclose(out.vs_t, vs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.pg_advantage_t, adv, rtol=1e-12, atol=1e-12)


def test_terminations_cut_the_products_and_the_bootstrap():
    """Catches: the product not cut at a termination (v_s of the earlier episode sees the next one's TD errors);
    a bootstrap from the next episode's first value at the termination."""
    v, v_next, r, discount, log_rho = segment(n=9, seed=2)
    terminated = np.zeros(9, bool)
    terminated[[2, 5]] = True
    discount = GAMMA * (1.0 - terminated)
    out = vtrace(*as_jax(v, v_next, r, discount, log_rho), rho_bar=1.2, c_bar=0.9)
    vs, adv = reference_vtrace(v, v_next, r, discount, log_rho, terminated, rho_bar=1.2, c_bar=0.9)
    np.testing.assert_allclose(out.vs_t, vs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.pg_advantage_t, adv, rtol=1e-12, atol=1e-12)
    # at the terminal step the target is ρ·r + (1 − ρ)·V: no bootstrap at all
    rho = min(1.2, np.exp(log_rho[2]))
    np.testing.assert_allclose(out.vs_t[2], v[2] + rho * (r[2] - v[2]), rtol=1e-12)


def test_truncation_bootstraps_from_the_final_observation_and_cuts_the_traces():
    """A time limit at step 3 (γ kept, V(final_obs) as the bootstrap, done_t = True) and a termination at 6:
    the whole segment equals its three episode pieces computed apart, and the loop reference.
    Catches: the c-products running across the truncation (done_t ignored in the recursion); the advantage
    at the truncation bootstrapping from the next episode's target; v_tp1 not used for the bootstrap."""
    n = 10
    v, _, r, _, log_rho = segment(n=n, seed=3)
    rng = np.random.default_rng(30)
    values = np.concatenate([v, rng.normal(size=1)])  # V(x_0..x_n)
    truncation_value = rng.normal(size=n)  # V(final_obs_t): used only where truncated
    terminated = np.zeros(n, bool)
    truncated = np.zeros(n, bool)
    truncated[3] = True
    terminated[6] = True
    done = terminated | truncated
    v_next = np.asarray(ppo.next_values(*as_jax(values[:-1], values[-1], truncation_value, terminated, truncated)))
    discount = GAMMA * (1.0 - terminated)
    kwargs = {"rho_bar": 1.1, "c_bar": 0.95, "lambda_": 0.9}
    out = vtrace(*as_jax(v, v_next, r, discount, log_rho), done_t=jnp.asarray(done), **kwargs)

    vs, adv = reference_vtrace(v, v_next, r, discount, log_rho, done, **kwargs)
    np.testing.assert_allclose(out.vs_t, vs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.pg_advantage_t, adv, rtol=1e-12, atol=1e-12)

    for start, stop in [(0, 4), (4, 7), (7, n)]:
        piece = slice(start, stop)
        v_next_piece = np.concatenate([values[start + 1:stop], [v_next[stop - 1]]])
        alone = vtrace(*as_jax(v[piece], v_next_piece, r[piece], discount[piece], log_rho[piece]), **kwargs)
        np.testing.assert_allclose(out.vs_t[piece], alone.vs_t, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out.pg_advantage_t[piece], alone.pg_advantage_t, rtol=1e-12, atol=1e-12)
    # the truncated step bootstraps from V(final_obs_3) with γ, not from the next episode's V(x_4)
    np.testing.assert_allclose(out.vs_t[3], v[3] + min(1.1, np.exp(log_rho[3])) * (
        r[3] + GAMMA * truncation_value[3] - v[3]), rtol=1e-12)


def lambda_return_forward_view(r, values, gamma, lambda_):
    """G^λ_s = (1 − λ) Σ_{k=1}^{N−1} λ^{k−1} G^{(k)}_s + λ^{N−1} G^{(N)}_s, N = n − s steps left in the segment,
    G^{(k)}_s = Σ_{j<k} γ^j r_{s+j} + γ^k V(x_{s+k}) (Sutton & Barto 12.1 with the segment's end as the
    episode's end)."""
    n = len(r)
    out = np.zeros(n)
    for s in range(n):
        steps = n - s
        n_step = [sum(gamma**j * r[s + j] for j in range(k)) + gamma**k * values[s + k] for k in range(1, steps + 1)]
        out[s] = (1 - lambda_) * sum(lambda_**(k - 1) * n_step[k - 1] for k in range(1, steps)) \
            + lambda_**(steps - 1) * n_step[steps - 1]
    return out


@pytest.mark.parametrize("lambda_", [1.0, 0.7, 0.0])
def test_on_policy_equals_lambda_return(lambda_):
    """π = μ, ρ̄ = c̄ = 1: v_s is the λ-return; λ = 1 the discounted return to the segment's end bootstrapped
    with V(x_n); λ = 0 the one-step target. Catches: λ missing from c (or applied twice); the bootstrap
    taken from V(x_{n−1}) (off by one)."""
    n = 6
    v, v_next, r, discount, _ = segment(n=n, seed=4)
    values = np.concatenate([v, v_next[-1:]])
    out = vtrace(*as_jax(v, v_next, r, discount, np.zeros(n)), lambda_=lambda_)
    np.testing.assert_allclose(out.vs_t, lambda_return_forward_view(r, values, GAMMA, lambda_), rtol=1e-12,
                               atol=1e-12)
    if lambda_ == 1.0:
        direct = [sum(GAMMA**(t - s) * r[t] for t in range(s, n)) + GAMMA**(n - s) * values[n] for s in range(n)]
        np.testing.assert_allclose(out.vs_t, direct, rtol=1e-12)
        # on-policy, λ = 1: the advantage is the n-step return minus the baseline
        np.testing.assert_allclose(out.pg_advantage_t, np.asarray(direct) - v, rtol=1e-12, atol=1e-12)


def test_on_policy_equals_gae_with_terminations_and_truncations():
    """On-policy V-trace with λ is GAE (rtrl.agents.ppo.gae) with the same episode-end convention, batched
    (n, E). Catches: a truncation convention that disagrees with the PPO agents'."""
    n, envs, lambda_ = 8, 3, 0.8
    rng = np.random.default_rng(5)
    values = rng.normal(size=(n + 1, envs))
    truncation_value = rng.normal(size=(n, envs))
    r = rng.normal(size=(n, envs))
    terminated = rng.random((n, envs)) < 0.15
    truncated = (rng.random((n, envs)) < 0.15) & ~terminated
    v_t, last, trunc_v, term, trunc = as_jax(values[:-1], values[-1], truncation_value, terminated, truncated)
    v_next = ppo.next_values(v_t, last, trunc_v, term, trunc)
    _advantage, returns = ppo.gae(jnp.asarray(r), v_t, v_next, term | trunc, gamma=GAMMA, lambda_=lambda_)
    out = vtrace(v_t, v_next, jnp.asarray(r), GAMMA * (1.0 - term), jnp.zeros((n, envs)), done_t=term | trunc,
                 lambda_=lambda_)
    np.testing.assert_allclose(out.vs_t, returns, rtol=1e-12, atol=1e-12)


def test_batch_axes_equal_vmap_and_per_column_calls():
    """(n, B) time-major batch = jax.vmap over B = one call per column. Catches: the scan running over the wrong
    axis, a carry of the wrong shape, time and batch mixed up."""
    n, batch = 5, 4
    v, v_next, r, discount, log_rho = segment(n=n, seed=6, batch=(batch,))
    done = np.random.default_rng(60).random((n, batch)) < 0.2
    args = as_jax(v, v_next, r, discount, log_rho)
    kwargs = {"rho_bar": 1.3, "c_bar": 0.8, "lambda_": 0.95}
    batched = vtrace(*args, done_t=jnp.asarray(done), **kwargs)
    mapped = jax.vmap(lambda *a: vtrace(*a[:5], done_t=a[5], **kwargs), in_axes=1, out_axes=1)(
        *args, jnp.asarray(done))
    for b in range(batch):
        vs, adv = reference_vtrace(v[:, b], v_next[:, b], r[:, b], discount[:, b], log_rho[:, b], done[:, b],
                                   **kwargs)
        np.testing.assert_allclose(batched.vs_t[:, b], vs, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(batched.pg_advantage_t[:, b], adv, rtol=1e-12, atol=1e-12)
    for got, want in zip(mapped, batched, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_jit_and_float32_kept():
    """Catches: a float64 constant promoting float32 inputs; Python-side work that breaks under jit."""
    v, v_next, r, discount, log_rho = (jnp.asarray(a, jnp.float32) for a in segment(seed=7))
    out = jax.jit(lambda *a: vtrace(*a, rho_bar=1.0, lambda_=0.9))(v, v_next, r, discount, log_rho)
    assert all(x.dtype == jnp.float32 for x in out)
    eager = vtrace(v, v_next, r, discount, log_rho, lambda_=0.9)
    np.testing.assert_allclose(out.vs_t, eager.vs_t, rtol=1e-5, atol=1e-5)


def test_targets_carry_no_gradient():
    """v_s, A_s and ρ_s are constants (IMPALA): no gradient to any input. Catches: a missing stop_gradient, so
    the baseline loss would also pull the targets towards the values and the ratios would get a gradient."""
    v, v_next, r, discount, log_rho = as_jax(*segment(seed=8))

    def all_outputs(v, v_next, r, log_rho):
        out = vtrace(v, v_next, r, discount, log_rho, lambda_=0.9)
        return sum(jnp.sum(x**2) for x in out)

    grads = jax.grad(all_outputs, argnums=(0, 1, 2, 3))(v, v_next, r, log_rho)
    for g in grads:
        np.testing.assert_array_equal(g, 0.0)


def test_loss_gradients_are_impalas():
    """∂L/∂log π_t = −A_t, ∂L/∂V(x_t) = −c_V·(v_t − V(x_t)) with v_t computed from the same V (held constant),
    ∂L/∂H_t = −c_H. Catches: gradient through the targets or the advantage; a sign error; coefficients
    applied to the wrong part."""
    n = 6
    v, v_next, r, discount, log_rho = as_jax(*segment(n=n, seed=9))
    log_prob = jnp.asarray(np.random.default_rng(90).normal(size=n))
    entropy = jnp.asarray(np.random.default_rng(91).random(n))

    def total(log_prob, entropy, v):
        targets = vtrace(v, jnp.concatenate([v[1:], v_next[-1:]]), r, discount, log_rho)
        return jnp.sum(actor_critic_loss(log_prob, entropy, v, targets, baseline_coef=0.5, entropy_coef=0.01)
                       .total_t)

    g_log_prob, g_entropy, g_v = jax.grad(total, argnums=(0, 1, 2))(log_prob, entropy, v)
    targets = vtrace(v, v_next, r, discount, log_rho)
    np.testing.assert_allclose(g_log_prob, -targets.pg_advantage_t, rtol=1e-12)
    np.testing.assert_allclose(g_entropy, -0.01 * np.ones(n), rtol=1e-12)
    np.testing.assert_allclose(g_v, -0.5 * (targets.vs_t - v), rtol=1e-12, atol=1e-12)


def test_loss_parts():
    """The parts per step, unreduced. Catches: a mean or sum inside a part; the entropy bonus with the wrong sign;
    a part that lets gradient into its target."""
    adv, log_prob = jnp.array([1.0, -2.0]), jnp.array([-0.5, -0.1])
    np.testing.assert_allclose(policy_gradient_loss(log_prob, adv), [0.5, -0.2])
    np.testing.assert_allclose(baseline_loss(jnp.array([1.0, 2.0]), jnp.array([3.0, 2.0])), [2.0, 0.0])
    np.testing.assert_allclose(entropy_loss(jnp.array([0.3, 0.7])), [-0.3, -0.7])
    targets = VTraceOutput(jnp.array([3.0, 2.0]), adv, jnp.ones(2))
    loss = actor_critic_loss(log_prob, jnp.array([0.3, 0.7]), jnp.array([1.0, 2.0]), targets, baseline_coef=0.5,
                             entropy_coef=0.1)
    np.testing.assert_allclose(loss.total_t, [0.5 + 1.0 - 0.03, -0.2 - 0.07])
    # each part holds its own target constant, whoever computed it
    np.testing.assert_array_equal(jax.grad(lambda a: policy_gradient_loss(log_prob, a).sum())(adv), 0.0)
    np.testing.assert_array_equal(jax.grad(lambda vs: baseline_loss(jnp.ones(2), vs).sum())(targets.vs_t), 0.0)


@pytest.mark.parametrize("bad,field", [
    ({"rho_bar": 0.0}, "rho_bar"), ({"rho_bar": -1.0}, "rho_bar"), ({"c_bar": 0.0}, "c_bar"),
    ({"c_bar": float("nan")}, "c_bar"), ({"pg_rho_bar": 0.0}, "pg_rho_bar"), ({"lambda_": 1.5}, "lambda_"),
    ({"lambda_": -0.1}, "lambda_"), ({"lambda_": True}, "lambda_"),
])
def test_bad_hyperparameters_are_named(bad, field):
    args = as_jax(*segment(n=3))
    with pytest.raises(ValueError, match=field):
        vtrace(*args, **bad)


def test_bad_shapes_are_named():
    v, v_next, r, discount, log_rho = as_jax(*segment(n=4))
    with pytest.raises(ValueError, match=r"r_t \(3,\)"):
        vtrace(v, v_next, r[:3], discount, log_rho)
    with pytest.raises(ValueError, match=r"done_t \(4, 1\)"):
        vtrace(v, v_next, r, discount, log_rho, done_t=jnp.zeros((4, 1), bool))
    with pytest.raises(ValueError, match="at least one step"):
        vtrace(*(x[:0] for x in (v, v_next, r, discount, log_rho)))
    with pytest.raises(ValueError, match="at least one step"):
        vtrace(*(x[0] for x in (v, v_next, r, discount, log_rho)))
    targets = vtrace(v, v_next, r, discount, log_rho)
    with pytest.raises(ValueError, match="log_prob_t"):
        actor_critic_loss(log_rho[:2], log_rho, v, targets)
    with pytest.raises(ValueError, match="entropy_coef"):
        actor_critic_loss(log_rho, log_rho, v, targets, entropy_coef=-1.0)


def test_matches_rlax():
    """rlax 0.1.9 (optional, not a dependency: `pip install rlax`) agrees where its API overlaps: c̄ = 1, any ρ̄,
    terminations via discount_t, batch via vmap; λ < 1 only for the targets (its advantage mixes
    λ·v_{s+1} + (1 − λ)·V(x_{s+1})). Catches: a deviation from the field's standard implementation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # tfp's jax backend, at import
        rlax = pytest.importorskip("rlax")
    n, batch = 7, 3
    v, v_next, r, discount, log_rho = segment(n=n, seed=11, batch=(batch,))
    discount[2, 0] = 0.0
    discount[5, 2] = 0.0
    args = as_jax(v, v_next, r, discount, log_rho)
    rlax_batched = jax.vmap(rlax.vtrace_td_error_and_advantage, in_axes=(1, 1, 1, 1, 1, None, None, None),
                            out_axes=1)
    for rho_bar, lambda_ in [(1.0, 1.0), (1.5, 1.0), (0.7, 0.8)]:
        ours = vtrace(*args, rho_bar=rho_bar, lambda_=lambda_)
        theirs = rlax_batched(args[0], args[1], args[2], args[3], jnp.exp(args[4]), lambda_, rho_bar, rho_bar)
        np.testing.assert_allclose(ours.vs_t, theirs.errors + args[0], rtol=1e-10, atol=1e-10)
        if lambda_ == 1.0:
            np.testing.assert_allclose(ours.pg_advantage_t, theirs.pg_advantage, rtol=1e-10, atol=1e-10)
