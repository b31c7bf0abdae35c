"""Bad input is rejected before any work, with a message that names the problem."""

import jax
import jax.numpy as jnp
import pytest

import rtrl
import rtrl.gradcheck


def _cell(**kw):
    return rtrl.cells.make("rtu-linear", hidden_size=4, **kw)


def test_unknown_cell_lists_the_valid_ones_and_suggests():
    with pytest.raises(ValueError, match=r"unknown cell 'rtu'.*valid cells: rtu-linear, .*Did you mean"):
        rtrl.cells.make("rtu", hidden_size=4)


@pytest.mark.parametrize("size", [0, -3, 2.5, True, "8"])
def test_non_positive_hidden_size(size):
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        rtrl.cells.make("gru", hidden_size=size)


def test_non_positive_input_and_batch_size():
    cell = _cell()
    with pytest.raises(ValueError, match="input_size must be a positive integer"):
        cell.init(jax.random.PRNGKey(0), 0)
    params = cell.init(jax.random.PRNGKey(0), 3)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        cell.initial_carry(params, -1)


def test_input_of_the_wrong_size():
    cell = _cell()
    params = cell.init(jax.random.PRNGKey(0), 3)
    carry = cell.initial_carry(params, 2)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 3\).*got \(2, 5\)"):
        cell.step(params, carry, jnp.ones((2, 5)), jnp.zeros(2, bool))
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 3\).*got \(3,\)"):
        cell.step(params, carry, jnp.ones(3), jnp.zeros(2, bool))
    with pytest.raises(ValueError, match="x has batch size 4 but the carry was made for batch size 2"):
        cell.step(params, carry, jnp.ones((4, 3)), jnp.zeros(4, bool))


def test_reset_of_the_wrong_shape_or_type():
    cell = _cell()
    params = cell.init(jax.random.PRNGKey(0), 3)
    carry = cell.initial_carry(params, 2)
    with pytest.raises(ValueError, match=r"reset must have shape \(2,\).*got \(2, 1\)"):
        cell.step(params, carry, jnp.ones((2, 3)), jnp.zeros((2, 1), bool))
    with pytest.raises(ValueError, match=r"reset must have shape \(2,\).*got \(\)"):
        cell.step(params, carry, jnp.ones((2, 3)), False)
    with pytest.raises(TypeError, match="reset must be bool"):
        cell.step(params, carry, jnp.ones((2, 3)), jnp.zeros(2))


def test_option_the_cell_does_not_take():
    with pytest.raises(ValueError, match=r"cell 'gru' does not take option\(s\) activation; its options are: none"):
        rtrl.cells.make("gru", hidden_size=4, activation="relu")
    with pytest.raises(ValueError, match=r"does not take option\(s\) r_mx; its options are: r_min, r_max"):
        rtrl.cells.make("rtu-linear", hidden_size=4, r_mx=0.5)


@pytest.mark.parametrize(
    "name,options,message",
    [
        ("rtu-linear", {"r_min": 0.9, "r_max": 0.5}, "r_min and r_max must satisfy"),
        ("lru", {"r_max": 1.5}, r"r_max must be a number in \[0, 1\], got 1.5"),
        ("rtu-linear", {"r_min": "0.1"}, r"r_min must be a number in \[0, 1\], got '0.1'"),
        ("rtu-nonlinear", {"max_phase": 0.0}, "max_phase must be a positive number"),
        ("rtu-nonlinear", {"eps": float("inf")}, "eps must be a number >= 0"),
        ("rtu-nonlinear", {"activation": "sigmoid"}, r"activation must be one of 'identity', 'relu', 'tanh'"),
        ("lru", {"use_d": "yes"}, "use_d must be true or false"),
        ("elstm", {"init_std": -1.0}, "init_std must be a positive number"),
        ("elstm", {"forget_bias": float("inf")}, "forget_bias must be a finite number"),
        ("lstm", {"forget_bias": float("nan")}, "forget_bias must be a finite number"),
    ],
)
def test_nonsensical_option_values(name, options, message):
    with pytest.raises(ValueError, match=message):
        rtrl.cells.make(name, hidden_size=4, **options)


def test_bad_gradient_dtype_and_traces():
    with pytest.raises(ValueError, match=r"gradient must be one of 'rtrl', 'bptt', got 'tbptt'"):
        _cell(gradient="tbptt")
    with pytest.raises(ValueError, match="dtype must be one of"):
        _cell(dtype="float16")
    with pytest.raises(ValueError, match="traces='hand' is not available for cell 'gru'"):
        rtrl.cells.make("gru", hidden_size=4, traces="hand")


def test_float64_without_x64_mode_says_how_to_enable_it():
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(ValueError, match="jax_enable_x64"):
            _cell(dtype="float64")
    finally:
        jax.config.update("jax_enable_x64", True)


def test_carry_from_the_other_gradient_mode():
    rtrl_cell, bptt_cell = _cell(gradient="rtrl"), _cell(gradient="bptt")
    params = rtrl_cell.init(jax.random.PRNGKey(0), 3)
    with pytest.raises(ValueError, match="carry does not match gradient='rtrl'"):
        rtrl_cell.step(params, bptt_cell.initial_carry(params, 2), jnp.ones((2, 3)), jnp.zeros(2, bool))


@pytest.mark.parametrize("kw,message", [
    (dict(steps=0), "steps must be a positive integer, got 0"),
    (dict(batch_size=True), "batch_size must be a positive integer, got True"),
    (dict(input_size=2.5), "input_size must be a positive integer, got 2.5"),
    (dict(seed="1"), "seed must be an integer"),
])
def test_gradcheck_refuses_bad_sizes_before_any_work(kw, message):
    with pytest.raises(ValueError, match=message):
        rtrl.gradcheck.check_cell("rnn", **kw)
