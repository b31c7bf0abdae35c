"""Regression tests for the defects of the public RTU code (rtu.md) that apply to cells."""

import jax
import jax.numpy as jnp
import pytest

import rtrl
from rtrl.gradcheck import check_cell, perturb, random_sequence, relative_errors, test_loss


def _single_step_grads(cell, params, carry, x, reset, target):
    return jax.grad(lambda p: test_loss(cell.step(p, carry, x, reset)[1], target))(params)


def test_theta_log_gradient_has_the_chain_rule_factor():
    """Defect 1: d/dθ_log = θ·d/dθ. With θ far from 1, dropping the factor would be caught."""
    result = check_cell("rtu-linear", hidden_size=4, input_size=3, steps=60, seed=11)
    assert result.gradient_errors["theta_log"] <= 1e-10
    cell = rtrl.cells.make("rtu-linear", hidden_size=4, gradient="bptt", dtype="float64")
    theta = jnp.exp(perturb(cell.init(jax.random.PRNGKey(0), 3), jax.random.PRNGKey(1))["theta_log"])
    # the buggy gradient (missing ×θ) would differ by a factor θ from the correct one
    assert jnp.max(jnp.abs(theta - 1.0)) > 0.5


def test_lru_b_trace_uses_exp_gamma_log():
    """Defect 2a: the B trace is scaled by γ = exp(γ_log), not γ_log (negative at init: the buggy
    sign would flip). Checked at the initial parameters, where γ_log < 0."""
    rtrl_cell = rtrl.cells.make("lru", hidden_size=4, gradient="rtrl", dtype="float64")
    bptt_cell = rtrl.cells.make("lru", hidden_size=4, gradient="bptt", dtype="float64")
    params = rtrl_cell.init(jax.random.PRNGKey(0), 3)
    assert jnp.all(params["gamma_log"] < 0)
    xs, resets = random_sequence(jax.random.PRNGKey(1), 50, 2, 3)
    targets = jax.random.normal(jax.random.PRNGKey(2), (50, 2, 4))
    g_r = rtrl.grad.rtrl_gradient(rtrl_cell, params, rtrl_cell.initial_carry(params, 2), xs, resets, targets,
                                  test_loss)[1]
    g_b = rtrl.grad.bptt_gradient(bptt_cell, params, bptt_cell.initial_carry(params, 2), xs, resets, targets,
                                  test_loss)[1]
    errors = relative_errors(g_r, g_b)
    assert errors["B_re"] <= 1e-10 and errors["B_im"] <= 1e-10
    assert jnp.all(jnp.sign(g_r["B_re"]) == jnp.sign(g_b["B_re"]))


@pytest.mark.parametrize("name", rtrl.cells.names())
def test_incoming_carry_is_a_constant(name):
    """Defect 2b: the carry entering an RTRL step is a constant, so a loss spanning two steps
    counts each path once. Through two steps, jax.grad must equal BPTT over the same two steps
    started from the same carry — no extra BPTT term leaking through h_{t-1}."""
    kw = dict(hidden_size=3, dtype="float64")
    rtrl_cell = rtrl.cells.make(name, gradient="rtrl", **kw)
    bptt_cell = rtrl.cells.make(name, gradient="bptt", **kw)
    params = perturb(rtrl_cell.init(jax.random.PRNGKey(0), 2), jax.random.PRNGKey(1))
    xs, resets = random_sequence(jax.random.PRNGKey(2), 12, 2, 2)
    targets = jax.random.normal(jax.random.PRNGKey(3), (12, 2, rtrl_cell.output_size))

    def two_step_loss(cell, p, carry):
        carry, y1 = cell.step(p, carry, xs[0], resets[0])
        carry, y2 = cell.step(p, carry, xs[1], resets[1])
        return test_loss(y1, targets[0]) + test_loss(y2, targets[1])

    g_rtrl = jax.jit(jax.grad(lambda p: two_step_loss(rtrl_cell, p, rtrl_cell.initial_carry(params, 2))))(params)
    g_bptt = jax.jit(jax.grad(lambda p: two_step_loss(bptt_cell, p, bptt_cell.initial_carry(params, 2))))(params)
    assert max(relative_errors(g_rtrl, g_bptt).values()) <= 1e-10

    # and the carry's own cotangent is zero
    carry = rtrl_cell.initial_carry(params, 2)
    carry, _ = jax.jit(rtrl_cell.step)(params, carry, xs[0], resets[0])
    g_carry = jax.jit(jax.grad(lambda c: test_loss(rtrl_cell.step(params, c, xs[1], resets[1])[1], targets[1])))(carry)
    assert all(float(jnp.max(jnp.abs(leaf))) == 0.0 for leaf in jax.tree.leaves(g_carry))


@pytest.mark.parametrize("name", rtrl.cells.names())
def test_input_gets_the_immediate_gradient(name):
    """d loss_t / d x_t through an RTRL step equals the one-step gradient with the carry held fixed."""
    rtrl_cell = rtrl.cells.make(name, hidden_size=3, gradient="rtrl", dtype="float64")
    bptt_cell = rtrl.cells.make(name, hidden_size=3, gradient="bptt", dtype="float64")
    params = perturb(rtrl_cell.init(jax.random.PRNGKey(0), 2), jax.random.PRNGKey(1))
    xs, resets = random_sequence(jax.random.PRNGKey(2), 6, 2, 2)
    resets = resets.at[1:].set(False)
    target = jnp.ones((2, rtrl_cell.output_size))
    # build up a non-trivial state over 5 steps, then differentiate step 6 w.r.t. its input
    carry_r, _ = rtrl.grad.unroll(rtrl_cell, params, rtrl_cell.initial_carry(params, 2), xs[:5], resets[:5])
    carry_b, _ = rtrl.grad.unroll(bptt_cell, params, bptt_cell.initial_carry(params, 2), xs[:5], resets[:5])

    @jax.jit
    def input_gradients(carry_r, carry_b, x):
        gx_r = jax.grad(lambda x: test_loss(rtrl_cell.step(params, carry_r, x, resets[5])[1], target))(x)
        gx_b = jax.grad(lambda x: test_loss(bptt_cell.step(params, carry_b, x, resets[5])[1], target))(x)
        return gx_r, gx_b

    gx_r, gx_b = input_gradients(carry_r, carry_b, xs[5])
    assert jnp.allclose(gx_r, gx_b, rtol=1e-12, atol=1e-14)
    assert float(jnp.max(jnp.abs(gx_b))) > 0
