"""`returns` is G_t = Σ_k γ^k c_{t+1+k} with a zero tail; `msre` is the mean squared difference."""

import jax.numpy as jnp
import numpy as np
import pytest

import rtrl.tasks as tasks


def _direct(c, gamma):
    T = len(c)
    return np.array([sum(gamma**k * c[t + 1 + k] for k in range(T - t - 1)) for t in range(T)])


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9])
def test_returns_equal_the_direct_sum(gamma):
    c = np.random.default_rng(0).random(40).astype(np.float32)
    np.testing.assert_allclose(tasks.returns(jnp.asarray(c), gamma), _direct(c, gamma), rtol=1e-5, atol=1e-6)


def test_returns_satisfy_the_recursion_and_the_tail_is_zero():
    c = jnp.asarray([0, 1, 1, 0, 0, 1, 0, 0], jnp.float32)
    g = tasks.returns(c, 0.9)
    np.testing.assert_allclose(g[:-1], c[1:] + 0.9 * g[1:], rtol=1e-6)
    assert g[-1] == 0.0 and g.dtype == jnp.float32
    assert float(g[0]) == pytest.approx(1 + 0.9 + 0.9**4)  # future only: c_0 is not in G_0


def test_returns_over_trailing_axes_and_integer_input():
    c = np.random.default_rng(1).integers(0, 2, (30, 3))
    g = tasks.returns(c, 0.8)
    assert g.shape == (30, 3) and g.dtype == jnp.float32
    for j in range(3):
        np.testing.assert_allclose(g[:, j], _direct(c[:, j].astype(float), 0.8), rtol=1e-5, atol=1e-6)
    assert tasks.returns(jnp.zeros((0,)), 0.9).shape == (0,)


def test_msre():
    assert float(tasks.msre(jnp.asarray([1.0, 2.0]), jnp.asarray([0.0, 0.0]))) == pytest.approx(2.5)


@pytest.mark.parametrize("gamma", [1.0, -0.1, 1.5])
def test_returns_reject_gamma_outside_0_1(gamma):
    with pytest.raises(ValueError, match=r"gamma must be a number in \[0, 1\)"):
        tasks.returns(jnp.zeros(5), gamma)


def test_returns_need_a_time_axis():
    with pytest.raises(ValueError, match="leading time axis"):
        tasks.returns(jnp.asarray(1.0), 0.9)
