"""The cost model: a hand count for one configuration, parameter counts against the real cells,
and the scaling laws it must show."""

import jax
import jax.numpy as jnp
import pytest

import rtrl
from rtrl import cost


def test_hand_count_rtu_linear_d2_n3():
    """RTU (linear, relu), d = 2 inputs, n = 3 units, batch 1 — every operation counted by hand."""
    d, n = 2, 3
    forward = (
        2 * (2 * d * n)  # x W1, x W2
        + 2 * (n + n + n)  # per component: g·h1, φ·h2, subtract (resp. g·h2, φ·h1, add)
        + 2 * (n + n)  # per component: γ·u, add
        + 2 * n  # relu on the 2n features
    )
    shared = 12 * n  # e^ν, −, exp, e^θ, cos, r·cos, sin, r·sin, r², 1 −, + eps, sqrt: 12 ops on n values
    assert forward == 60 and shared == 36
    nu_trace = 2 * (9 * n)  # per component: g·e1, φ·e2, −, ∂g·h1, ∂φ·h2, −, +, ∂γ·u1, +
    theta_trace = 2 * (7 * n)  # the same without ∂γ·u
    w_trace = 5 * d * n + 3 * d * n  # E1: g·E1, φ·E2, −, γ·x, +;  E2: g·E2, φ·E1, +
    contraction = 4 * n + 4 * n + 4 * d * n + (4 * d * n + n)  # ν, θ, W1, W2 (δ·e twice, +, batch sum; −δ1)
    readout_backward = 2 * (2 * n)  # relu'(a) and its product with δ on 2n features
    derivative_coefficients = 9 * n  # ∂g/∂ν, ∂φ/∂ν (2 ops), ∂γ/∂ν (2 ops), ∂g/∂θ (2 ops), ∂φ/∂θ (1 op)
    rtrl_flops = forward + shared + nu_trace + theta_trace + w_trace + contraction + readout_backward \
        + derivative_coefficients
    assert rtrl_flops == 354

    kw = dict(hidden_size=n, input_size=d)
    assert cost.step_cost("rtu-linear", method="forward", **kw).flops == forward + shared
    assert cost.step_cost("rtu-linear", method="rtrl", **kw).flops == rtrl_flops
    assert cost.step_cost("rtu-linear", method="tbptt", truncation=4, **kw).flops == 13 * (forward + shared)
    # memory: state h1, h2 (2n); traces ν, θ pairs (4n) and the W1 pair (2dn)
    assert cost.step_cost("rtu-linear", method="forward", **kw).memory == 6
    assert cost.step_cost("rtu-linear", method="rtrl", **kw).memory == 6 + 12 + 12
    # T-BPTT: start state + 4 × (input d + saved activations 6n)
    assert cost.step_cost("rtu-linear", method="tbptt", truncation=4, **kw).memory == 6 + 4 * (2 + 18)


@pytest.mark.parametrize("name,options", [(n, {}) for n in rtrl.cells.names()] + [("lru", {"use_d": True})])
def test_parameter_counts_match_the_cells(name, options):
    cell = rtrl.cells.make(name, hidden_size=5, **options)
    params = cell.init(jax.random.PRNGKey(0), 3)
    real = sum(p.size for p in jax.tree.leaves(params))
    assert cost.parameter_count(name, hidden_size=5, input_size=3, **options) == real
    assert cost.step_cost(name, hidden_size=5, input_size=3, method="forward", **options).parameters == real


@pytest.mark.parametrize("name", ["rtu-linear", "rtu-nonlinear", "lru", "elstm"])
def test_rtrl_trace_memory_matches_the_real_carry(name):
    cell = rtrl.cells.make(name, hidden_size=5, gradient="rtrl")
    params = cell.init(jax.random.PRNGKey(0), 3)
    carry = cell.initial_carry(params, 2)
    floats = sum(a.size * (2 if jnp.iscomplexobj(a) else 1) for a in jax.tree.leaves(carry))
    assert cost.step_cost(name, hidden_size=5, input_size=3, method="rtrl", batch_size=2).memory == floats


@pytest.mark.parametrize("name", ["gru", "rnn", "lstm"])
def test_dense_rtrl_memory_matches_the_real_carry(name):
    cell = rtrl.cells.make(name, hidden_size=3, gradient="rtrl")
    params = cell.init(jax.random.PRNGKey(0), 2)
    floats = sum(a.size for a in jax.tree.leaves(cell.initial_carry(params, 2)))
    assert cost.step_cost(name, hidden_size=3, input_size=2, method="rtrl", batch_size=2).memory == floats


def test_scaling_laws():
    def flops(cell, n, d=16, **kw):
        return cost.step_cost(cell, hidden_size=n, input_size=d, **kw).flops

    # element-wise RTRL is O(n·d): doubling n doubles the cost (up to lower-order terms)
    assert 1.9 < flops("rtu-linear", 512, method="rtrl") / flops("rtu-linear", 256, method="rtrl") < 2.1
    assert 1.9 < flops("rtu-linear", 64, d=512, method="rtrl") / flops("rtu-linear", 64, d=256, method="rtrl") < 2.1
    # dense RTRL is O(n⁴)
    assert 14 < flops("gru", 256, d=4, method="rtrl") / flops("gru", 128, d=4, method="rtrl") < 17
    # T-BPTT is linear in T
    t1, t16 = flops("gru", 64, method="tbptt", truncation=1), flops("gru", 64, method="tbptt", truncation=16)
    assert t16 == 49 * t1 // 4
    # the batch multiplies the per-sequence work, not the shared work
    one = cost.step_cost("rtu-linear", hidden_size=8, input_size=4, method="rtrl")
    many = cost.step_cost("rtu-linear", hidden_size=8, input_size=4, method="rtrl", batch_size=10)
    shared = (12 + 9) * 8  # λ, γ and their derivatives: once per step
    assert many.flops - shared == 10 * (one.flops - shared) and many.memory == 10 * one.memory


def test_bad_input():
    with pytest.raises(ValueError, match="unknown cell 'tru'"):
        cost.step_cost("tru", hidden_size=4, input_size=2, method="rtrl")
    with pytest.raises(ValueError, match="method must be one of"):
        cost.step_cost("gru", hidden_size=4, input_size=2, method="bptt")
    with pytest.raises(ValueError, match="needs truncation, a positive integer"):
        cost.step_cost("gru", hidden_size=4, input_size=2, method="tbptt")
    with pytest.raises(ValueError, match="truncation applies to method='tbptt' only"):
        cost.step_cost("gru", hidden_size=4, input_size=2, method="rtrl", truncation=3)
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        cost.step_cost("gru", hidden_size=0, input_size=2, method="forward")
    with pytest.raises(ValueError, match=r"does not take option\(s\) activation"):
        cost.step_cost("gru", hidden_size=4, input_size=2, method="forward", activation="relu")
    with pytest.raises(ValueError, match="traces must be one of"):
        cost.step_cost("gru", hidden_size=4, input_size=2, method="rtrl", traces="hand")


def test_every_cell_has_a_cost():
    assert sorted(cost.names()) == sorted(rtrl.cells.names())
