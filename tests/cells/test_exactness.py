"""Every RTRL cell's gradient equals BPTT through the unrolled forward (float64, resets inside)."""

import jax
import jax.numpy as jnp
import pytest

import rtrl
from rtrl.gradcheck import check_cell, perturb, random_sequence, test_loss

TOLERANCE = 1e-6  # the bound; measured errors are ~1e-15

# (steps, batch, input, hidden): a single unit, a square-ish case, more inputs than units.
SHAPES = [(50, 1, 1, 1), (60, 3, 4, 5), (64, 2, 7, 3)]
# Cells with their trace rules: the default one is checked on every shape, the others on one.
RULES = {
    "rtu-linear": ["hand", "elementwise", "dense"],
    "rtu-nonlinear": ["hand", "elementwise", "dense"],
    "lru": ["hand", "elementwise", "dense"],
    "elstm": ["hand", "elementwise", "dense"],
    "gru": ["dense"],
    "lstm": ["dense"],
    "rnn": ["dense"],
}


def test_every_registered_cell_is_covered():
    assert sorted(RULES) == sorted(rtrl.cells.names())


def _assert_exact(result):
    assert result.resets >= 1
    assert result.max_error <= TOLERANCE, result.gradient_errors
    assert result.output_error <= 1e-12
    assert abs(result.loss_rtrl - result.loss_bptt) <= 1e-12 * abs(result.loss_bptt)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}-B{}-d{}-n{}".format(*s))
@pytest.mark.parametrize("name", sorted(RULES))
def test_rtrl_equals_bptt(name, shape):
    steps, batch, d, n = shape
    _assert_exact(check_cell(name, hidden_size=n, input_size=d, batch_size=batch, steps=steps, seed=1))


@pytest.mark.parametrize("name,traces", [(n, t) for n, rules in RULES.items() for t in rules[1:]])
def test_alternative_trace_rules_equal_bptt(name, traces):
    _assert_exact(check_cell(name, traces=traces, hidden_size=4, input_size=3, batch_size=2, steps=50, seed=2))


@pytest.mark.parametrize("activation", ["relu", "tanh", "identity"])
@pytest.mark.parametrize("name", ["rtu-linear", "rtu-nonlinear"])
def test_rtu_activations(name, activation):
    _assert_exact(check_cell(name, activation=activation, hidden_size=4, input_size=3, steps=50, seed=3))


def test_lru_with_skip_term():
    _assert_exact(check_cell("lru", use_d=True, hidden_size=4, input_size=3, steps=50, seed=4))


def test_long_sequence_without_resets_in_between():
    """Traces accumulate over 200 steps (only the reset at t=0 and one mid-sequence)."""
    _assert_exact(check_cell("rtu-nonlinear", hidden_size=3, input_size=2, batch_size=1, steps=200, seed=5))


@pytest.mark.parametrize("name", ["rtu-linear", "rtu-nonlinear", "lru", "elstm"])
def test_hand_rule_agrees_with_engine_at_every_step(name):
    """The hand-derived traces give the same per-step gradient as the generic element-wise engine."""
    hand = rtrl.cells.make(name, hidden_size=4, gradient="rtrl", dtype="float64", traces="hand")
    engine = rtrl.cells.make(name, hidden_size=4, gradient="rtrl", dtype="float64", traces="elementwise")
    params = perturb(hand.init(jax.random.PRNGKey(0), 3), jax.random.PRNGKey(1))
    xs, resets = random_sequence(jax.random.PRNGKey(2), 40, 2, 3)
    targets = jax.random.normal(jax.random.PRNGKey(3), (40, 2, hand.output_size))

    def per_step(cell):
        def body(carry, inputs):
            x, r, tgt = inputs
            grad, carry = jax.grad(lambda p: (lambda c, y: (test_loss(y, tgt), c))(*cell.step(p, carry, x, r)),
                                   has_aux=True)(params)
            return carry, grad
        return jax.lax.scan(body, cell.initial_carry(params, 2), (xs, resets, targets))[1]

    g_hand, g_engine = jax.jit(per_step, static_argnums=0)(hand), jax.jit(per_step, static_argnums=0)(engine)
    for k in g_hand:
        scale = jnp.max(jnp.abs(g_engine[k]))
        assert jnp.max(jnp.abs(g_hand[k] - g_engine[k])) <= 1e-12 * scale, k


def test_elstm_with_a_forget_bias():
    """A forget bias starts f near 1 (long memory): the traces then decay slowly; still exact."""
    cell = rtrl.cells.make("elstm", hidden_size=4, forget_bias=2.0)
    params = cell.init(jax.random.PRNGKey(0), 3)
    assert jnp.allclose(params["b_f"], 2.0) and jnp.allclose(params["b_z"], 0.0)
    _assert_exact(check_cell("elstm", forget_bias=2.0, hidden_size=4, input_size=3, steps=50, seed=5))
