"""The public cell contract: shapes, dtypes, resets, jit and scan behaviour, the registry."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rtrl
from rtrl.cells.base import CellDef
from rtrl.gradcheck import check_cell, perturb

NAMES = rtrl.cells.names()


def test_names_lists_the_issue_cells():
    assert set(NAMES) == {"rtu-linear", "rtu-nonlinear", "lru", "elstm", "gru", "lstm", "rnn"}


@pytest.mark.parametrize("gradient", rtrl.cells.GRADIENTS)
@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_default_float32(name, gradient):
    cell = rtrl.cells.make(name, hidden_size=6, gradient=gradient)
    params = cell.init(jax.random.PRNGKey(0), 5)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(params))
    assert cell.input_size(params) == 5
    carry = cell.initial_carry(params, 3)
    assert [s.shape for s in carry.state] == [(3, k) for k in cell.state_sizes]
    assert all(float(jnp.max(jnp.abs(a))) == 0.0 for a in jax.tree.leaves(carry))
    x = jnp.ones((3, 5), jnp.float64)  # wider input dtype is cast to the parameters' dtype
    new_carry, y = cell.step(params, carry, x, jnp.zeros(3, bool))
    assert y.shape == (3, cell.output_size) and y.dtype == jnp.float32
    assert jax.tree.structure(new_carry) == jax.tree.structure(carry)
    # traces of complex layers are stored complex (complex64 pairs two float32s; see complex_diagonal)
    assert all(a.dtype in (jnp.float32, jnp.complex64) for a in jax.tree.leaves(new_carry))
    assert [a.dtype for a in jax.tree.leaves(new_carry)] == [a.dtype for a in jax.tree.leaves(carry)]
    assert all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree.leaves(new_carry))


def test_rtu_output_has_two_features_per_unit():
    assert rtrl.cells.make("rtu-linear", hidden_size=7).output_size == 14
    assert rtrl.cells.make("rtu-nonlinear", hidden_size=7).output_size == 14


@pytest.mark.parametrize("name", NAMES)
def test_reset_zeroes_state_and_traces_before_the_step(name):
    cell = rtrl.cells.make(name, hidden_size=4, gradient="rtrl", dtype="float64")
    params = perturb(cell.init(jax.random.PRNGKey(0), 3), jax.random.PRNGKey(1))
    xs = jax.random.normal(jax.random.PRNGKey(2), (6, 2, 3))
    resets = jnp.zeros((5, 2), bool).at[0].set(True)
    carry, _ = rtrl.grad.unroll(cell, params, cell.initial_carry(params, 2), xs[:5], resets)
    step = jax.jit(cell.step)
    # sequence 0 resets, sequence 1 does not
    after, y = step(params, carry, xs[5], jnp.array([True, False]))
    fresh, y_fresh = step(params, cell.initial_carry(params, 2), xs[5], jnp.array([False, False]))
    for a, b in zip(jax.tree.leaves(after), jax.tree.leaves(fresh)):
        np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(y[0], y_fresh[0])
    assert not np.allclose(y[1], y_fresh[1])


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_numbers(name):
    cell = rtrl.cells.make(name, hidden_size=4)
    a = cell.init(jax.random.PRNGKey(3), 2)
    b = cell.init(jax.random.PRNGKey(3), 2)
    c = cell.init(jax.random.PRNGKey(4), 2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("gradient", rtrl.cells.GRADIENTS)
@pytest.mark.parametrize("name", NAMES)
def test_scan_equals_python_loop(name, gradient):
    """`rtrl.grad.unroll` (a `lax.scan`) equals a Python loop over `cell.step`, resets inside the sequence:
    outputs, final carries and, under RTRL, the summed per-step gradients. Parametrised over the
    registry, so a new cell cannot go unchecked."""
    cell = rtrl.cells.make(name, hidden_size=3, gradient=gradient, dtype="float64")
    params = perturb(cell.init(jax.random.PRNGKey(0), 2), jax.random.PRNGKey(2))
    steps = 8
    xs = jax.random.normal(jax.random.PRNGKey(1), (steps, 2, 2), jnp.float64)
    resets = jnp.zeros((steps, 2), bool).at[0].set(True).at[3, 0].set(True).at[5, 1].set(True)
    carry, ys = jax.jit(rtrl.grad.unroll, static_argnums=0)(cell, params, cell.initial_carry(params, 2), xs, resets)
    loop_carry = cell.initial_carry(params, 2)
    loop_grads = jax.tree.map(jnp.zeros_like, params)
    for t in range(steps):
        if gradient == "rtrl":  # the exact dL_t/dθ of this step's loss, through the carried traces
            g = jax.grad(lambda p: jnp.sum(jnp.sin(cell.step(p, loop_carry, xs[t], resets[t])[1])))(params)
            loop_grads = jax.tree.map(jnp.add, loop_grads, g)
        loop_carry, y = cell.step(params, loop_carry, xs[t], resets[t])
        np.testing.assert_allclose(ys[t], y, rtol=1e-12, atol=1e-13)
    for a, b in zip(jax.tree.leaves(carry), jax.tree.leaves(loop_carry)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
    if gradient == "rtrl":
        targets = jnp.zeros_like(ys)
        _, scan_grads, _ = rtrl.grad.rtrl_gradient(cell, params, cell.initial_carry(params, 2), xs, resets, targets,
                                                   lambda y, target: jnp.sum(jnp.sin(y)))
        for k in params:
            np.testing.assert_allclose(scan_grads[k], loop_grads[k], rtol=1e-10, atol=1e-12)


def test_jitted_step_does_not_recompile():
    cell = rtrl.cells.make("rtu-nonlinear", hidden_size=4)
    params = cell.init(jax.random.PRNGKey(0), 3)
    traces = []

    @jax.jit
    def step(params, carry, x, reset):
        traces.append(1)  # runs only while tracing
        return cell.step(params, carry, x, reset)

    carry = cell.initial_carry(params, 2)
    for t in range(3):
        carry, _ = step(params, carry, jnp.full((2, 3), float(t)), jnp.array([t == 0, False]))
    assert len(traces) == 1


def test_float32_rtrl_is_close_to_float64():
    """float32 RTRL stays within float32 rounding of the exact gradient over 60 steps."""
    result = check_cell("rtu-linear", dtype="float32", hidden_size=8, input_size=4, steps=60, seed=7)
    assert result.max_error < 1e-3


def test_user_defined_elementwise_cell_gets_exact_rtrl_from_the_engine():
    """An IndRNN, h_t = tanh(x W + u⊙h_{t-1} + b), with no hand-derived traces."""

    @dataclasses.dataclass(frozen=True)
    class NoOptions:
        pass

    indrnn = CellDef(
        name="indrnn",
        options=NoOptions,
        init=lambda key, d, n, o, dtype: {
            "W": jax.random.normal(key, (d, n), dtype) / jnp.sqrt(d),
            "u": jnp.full((n,), 0.9, dtype),
            "b": jnp.zeros((n,), dtype),
        },
        state_sizes=lambda n, o: (n,),
        output_size=lambda n, o: n,
        recurrent=("W", "u", "b"),
        transition=lambda rec, s, x, o: (jnp.tanh(x @ rec["W"] + rec["u"] * s[0] + rec["b"]),),
        readout=lambda params, s, x, o: s[0],
        input_param="W",
        elementwise=True,
    )
    cell = rtrl.cells.make(indrnn, hidden_size=4, dtype="float64")
    assert cell.traces == "elementwise"
    result = check_cell(indrnn, hidden_size=4, input_size=3, steps=50, seed=8)
    assert result.max_error <= 1e-10


def test_engine_rejects_a_parameter_without_the_unit_axis_last():
    @dataclasses.dataclass(frozen=True)
    class NoOptions:
        pass

    dense = CellDef(
        name="not-elementwise",
        options=NoOptions,
        init=lambda key, d, n, o, dtype: {"W": jnp.ones((d, n), dtype), "U": jnp.ones((n, n + 1), dtype)},
        state_sizes=lambda n, o: (n,),
        output_size=lambda n, o: n,
        recurrent=("W", "U"),
        transition=lambda rec, s, x, o: (jnp.tanh(x @ rec["W"] + (s[0] @ rec["U"])[:, :-1]),),
        readout=lambda params, s, x, o: s[0],
        input_param="W",
        elementwise=True,
    )
    cell = rtrl.cells.make(dense, hidden_size=3)
    params = cell.init(jax.random.PRNGKey(0), 2)
    with pytest.raises(ValueError, match="'U' has shape .*unit axis"):
        cell.initial_carry(params, 1)
