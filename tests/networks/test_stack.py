"""Recurrent stacks: which gradients RTRL gets exactly, which it truncates, and input validation.

The RTRL gradient is Σ_t jax.grad(L_t) through one `RecurrentStack.step` (the previous carry is
data). References are jax.grad of Σ_t L_t through a lax.scan unroll of the same stack built
from gradient="bptt" cells, with jax.lax.stop_gradient on the carried state of chosen layers
before every step:

  frozen = ()                 full BPTT
  frozen = layers above k     what RTRL gives layer k (its own recurrence kept)
  frozen = every layer        what RTRL gives the encoder (the immediate gradient)
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

import rtrl  # noqa: E402  (after enabling 64-bit mode)
from rtrl.cells.base import Carry  # noqa: E402
from rtrl.networks import RecurrentStack, apply_mlp, init_mlp, make_stack  # noqa: E402

EXACT = 1e-6  # max relative error for gradients that must equal a reference (measured ~1e-15)
TRUNCATED = 1e-3  # min relative difference from full BPTT for gradients that must be truncated
STEPS, BATCH, INPUT = 60, 3, 3


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def loss_fn(y: jax.Array, target: jax.Array) -> jax.Array:
    """Nonlinear in y, so the cotangent δ varies with y."""
    return jnp.sum(jnp.sin(y) * target) + 0.5 * jnp.sum((y - target) ** 2)


def stacks(layers: tuple[tuple[str, int, dict], ...], encoder: tuple[int, ...] = ()):
    """The same stack twice: with gradient="rtrl" cells and with gradient="bptt" cells."""

    def build(gradient):
        cells = tuple(rtrl.cells.make(name, hidden_size=n, gradient=gradient, dtype="float64", **options)
                      for name, n, options in layers)
        return make_stack(cells, encoder=encoder)

    return build("rtrl"), build("bptt")


def problem(stack: RecurrentStack, seed: int):
    """Perturbed parameters, inputs, resets (all at t=0, random ones after, one forced) and targets.

    The data come from NumPy with a fixed seed: on a small CPU, compiling jax.random for every
    shape would cost more than the gradient checks themselves.
    """
    rng = np.random.default_rng(seed)
    params = stack.init(jax.random.PRNGKey(seed), INPUT)
    params = jax.tree.map(lambda a: np.asarray(a) + 0.1 * rng.standard_normal(a.shape), params)  # off the init
    xs = rng.standard_normal((STEPS, BATCH, INPUT))
    resets = rng.random((STEPS, BATCH)) < 0.05
    resets[0] = True
    resets[STEPS // 2, 0] = True
    targets = rng.standard_normal((STEPS, BATCH, stack.output_size))
    return params, xs, resets, targets


def rtrl_gradient(stack, params, xs, resets, targets):
    """(Σ_t ∇ L_t through one step each, ys)."""

    def body(acc, inputs):
        carry, grads = acc
        x_t, reset_t, target_t = inputs

        def step_loss(p):
            new_carry, y_t = stack.step(p, carry, x_t, reset_t)
            return loss_fn(y_t, target_t), (new_carry, y_t)

        grads_t, (carry, y_t) = jax.grad(step_loss, has_aux=True)(params)
        return (carry, jax.tree.map(jnp.add, grads, grads_t)), y_t

    init = (stack.initial_carry(params, xs.shape[1]), jax.tree.map(jnp.zeros_like, params))
    (_, grads), ys = jax.lax.scan(body, init, (xs, resets, targets))
    return grads, ys


def bptt_gradient(stack, frozen: jax.Array, params, xs, resets, targets):
    """(∇ Σ_t L_t through the unroll, ys), with the carried state of layer k held constant where
    frozen[k] (a traced mask, so every choice of frozen layers shares one compilation)."""

    def total(p):
        def body(carry, inputs):
            x_t, reset_t = inputs
            carry = tuple(Carry(jax.tree.map(lambda s: jnp.where(frozen[k], jax.lax.stop_gradient(s), s), c.state),
                                c.traces) for k, c in enumerate(carry))
            return stack.step(p, carry, x_t, reset_t)

        _, ys = jax.lax.scan(body, stack.initial_carry(p, xs.shape[1]), (xs, resets))
        return jnp.sum(jax.vmap(loss_fn)(ys, targets)), ys

    return jax.grad(total, has_aux=True)(params)


@functools.partial(jax.jit, static_argnums=(0, 1))
def gradients(s_rtrl: RecurrentStack, s_bptt: RecurrentStack, frozen: jax.Array, params, xs, resets, targets):
    """RTRL's (grads, ys), and BPTT's (grads, ys) for each row of ``frozen`` (V, layers) stacked on axis 0."""
    rtrl = rtrl_gradient(s_rtrl, params, xs, resets, targets)
    bptt = jax.vmap(lambda f: bptt_gradient(s_bptt, f, params, xs, resets, targets))(frozen)
    return rtrl, bptt


def run(layers, encoder, seed: int, frozen: list[tuple[int, ...]]):
    """RTRL's gradient and outputs, and BPTT's for full BPTT (index 0) and each entry of ``frozen``."""
    s_rtrl, s_bptt = stacks(layers, encoder)
    params, xs, resets, targets = problem(s_rtrl, seed)
    masks = jnp.array([[k in f for k in range(len(layers))] for f in [()] + frozen])
    (g_rtrl, ys_rtrl), (g_bptt, ys_bptt) = gradients(s_rtrl, s_bptt, masks, params, xs, resets, targets)
    g_refs = [jax.tree.map(lambda a: np.asarray(a)[i], g_bptt) for i in range(len(masks))]
    # The frozen layers change only gradients, never outputs.
    np.testing.assert_array_equal(ys_bptt, np.broadcast_to(ys_bptt[0], ys_bptt.shape))
    return g_rtrl, g_refs, ys_rtrl, ys_bptt[0], resets


def relative(estimate, reference) -> dict[str, float]:
    """max|estimate − reference| / max|reference| per leaf, keyed by the leaf's path."""
    flat_e = dict(jax.tree_util.tree_flatten_with_path(estimate)[0])
    out = {}
    for path, ref in jax.tree_util.tree_flatten_with_path(reference)[0]:
        ref = np.asarray(ref)  # NumPy: no per-shape compilation of eager jax ops
        scale = float(np.max(np.abs(ref)))
        assert scale > 0, f"reference gradient of {jax.tree_util.keystr(path)} is zero"
        out[jax.tree_util.keystr(path)] = float(np.max(np.abs(np.asarray(flat_e[path]) - ref))) / scale
    return out


def assert_equal(estimate, reference):
    errors = relative(estimate, reference)
    assert max(errors.values()) <= EXACT, errors


def assert_truncated(estimate, reference):
    differences = relative(estimate, reference)
    assert min(differences.values()) > TRUNCATED, differences


# --------------------------------------------------------------------------------------------
# a. encoder + one RTRL layer
# --------------------------------------------------------------------------------------------


ENCODER_LAYERS = (("rtu-linear", 4, {}),)


@functools.cache
def encoder_case():
    """Gradients, with references [full BPTT, BPTT with the RTU's carry frozen]."""
    return run(ENCODER_LAYERS, encoder=(8,), seed=0, frozen=[(0,)])


def test_sequence_has_resets_inside():
    *_, resets = encoder_case()
    assert resets.shape == (STEPS, BATCH)
    assert bool(jnp.all(resets[0])) and int(jnp.sum(resets[1:])) >= 2


def test_rtu_under_encoder_is_exact():
    g_rtrl, (g_full, _), *_ = encoder_case()
    assert_equal(g_rtrl["cells"][0], g_full["cells"][0])


def test_encoder_gets_the_immediate_gradient():
    g_rtrl, (_, g_immediate), *_ = encoder_case()
    assert_equal(g_rtrl["encoder"], g_immediate["encoder"])


def test_encoder_gradient_is_truncated():
    g_rtrl, (g_full, _), *_ = encoder_case()
    assert_truncated(g_rtrl["encoder"], g_full["encoder"])


# --------------------------------------------------------------------------------------------
# b. two recurrent layers
# --------------------------------------------------------------------------------------------

# rtu-linear under lru is covered by the three-layer test below.
TWO_LAYERS = {
    "rtu-nonlinear/rtu-nonlinear": (("rtu-nonlinear", 4, {}), ("rtu-nonlinear", 3, {"activation": "tanh"})),
    "rtu-linear/elstm": (("rtu-linear", 3, {"activation": "tanh"}), ("elstm", 4, {})),
}


@functools.cache
def two_layer_case(name: str):
    """Gradients, with references [full BPTT, BPTT with the top layer's carry frozen]."""
    return run(TWO_LAYERS[name], encoder=(), seed=1, frozen=[(1,)])


@pytest.mark.parametrize("name", TWO_LAYERS)
def test_top_layer_is_exact(name):
    g_rtrl, (g_full, _), *_ = two_layer_case(name)
    assert_equal(g_rtrl["cells"][1], g_full["cells"][1])


@pytest.mark.parametrize("name", TWO_LAYERS)
def test_bottom_layer_keeps_its_own_recurrence_only(name):
    g_rtrl, (g_full, g_top_frozen), *_ = two_layer_case(name)
    assert_equal(g_rtrl["cells"][0], g_top_frozen["cells"][0])
    assert_truncated(g_rtrl["cells"][0], g_full["cells"][0])


# --------------------------------------------------------------------------------------------
# The general rule on encoder + three layers: layer k = BPTT with every layer above k frozen.
# --------------------------------------------------------------------------------------------


THREE_LAYERS = (("rtu-linear", 3, {}), ("rtu-nonlinear", 3, {"activation": "tanh"}), ("lru", 3, {}))


def test_three_layers_follow_the_documented_rule():
    frozen = [(1, 2), (2,), (0, 1, 2)]  # above layer 0, above layer 1, every layer (for the encoder)
    g_rtrl, (g_full, *g_refs), *_ = run(THREE_LAYERS, encoder=(5,), seed=2, frozen=frozen)
    assert_equal(g_rtrl["cells"][2], g_full["cells"][2])  # top: exact
    for k in (0, 1):
        assert_equal(g_rtrl["cells"][k], g_refs[k]["cells"][k])
        assert_truncated(g_rtrl["cells"][k], g_full["cells"][k])
    assert_equal(g_rtrl["encoder"], g_refs[2]["encoder"])
    assert_truncated(g_rtrl["encoder"], g_full["encoder"])


# --------------------------------------------------------------------------------------------
# c. outputs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["encoder"] + list(TWO_LAYERS))
def test_rtrl_and_bptt_stacks_give_the_same_outputs(case):
    _, _, ys_rtrl, ys_bptt, _ = encoder_case() if case == "encoder" else two_layer_case(case)
    assert ys_rtrl.shape == ys_bptt.shape == (STEPS, BATCH, ys_bptt.shape[-1])
    np.testing.assert_allclose(ys_rtrl, ys_bptt, rtol=1e-12, atol=0)


# --------------------------------------------------------------------------------------------
# The contract. The stacks and input size match the gradient cases above, so the eager ops of
# init are already compiled when the whole file runs.
# --------------------------------------------------------------------------------------------

STEP = jax.jit(lambda stack, params, carry, x, reset: stack.step(params, carry, x, reset), static_argnums=0)


def _cell(name="rtu-linear", n=3, gradient="rtrl"):
    return rtrl.cells.make(name, hidden_size=n, gradient=gradient, dtype="float64")


def test_contract_shapes_and_sizes():
    stack, _ = stacks(THREE_LAYERS, encoder=[5])
    assert isinstance(stack.cells, tuple) and stack.encoder == (5,) and stack.gradient == "rtrl"
    assert [cell.output_size for cell in stack.cells] == [6, 6, 3] and stack.output_size == 3
    params = stack.init(jax.random.PRNGKey(2), INPUT)
    assert [layer["kernel"].shape for layer in params["encoder"]] == [(INPUT, 5)]
    assert stack.input_size(params) == INPUT
    # Layer k+1's input is layer k's output.
    assert [cell.input_size(p) for cell, p in zip(stack.cells, params["cells"])] == [5, 6, 6]
    carry = stack.initial_carry(params, 2)
    assert isinstance(carry, tuple) and len(carry) == 3 and all(isinstance(c, Carry) for c in carry)
    carry, y = STEP(stack, params, carry, jnp.ones((2, INPUT)), jnp.array([True, False]))
    assert y.shape == (2, 3) and y.dtype == jnp.float64 and len(carry) == 3
    assert hash(stack) == hash(stacks(THREE_LAYERS, encoder=(5,))[0])  # static under jit
    no_encoder, bptt = stacks(TWO_LAYERS["rtu-nonlinear/rtu-nonlinear"])
    assert no_encoder.input_size(no_encoder.init(jax.random.PRNGKey(1), INPUT)) == INPUT
    assert bptt.gradient == "bptt"
    assert make_stack((_cell(), _cell(gradient="bptt"))).gradient == "mixed"


def test_reset_zeroes_every_layer():
    stack, _ = stacks(THREE_LAYERS, encoder=(5,))
    params = stack.init(jax.random.PRNGKey(2), INPUT)
    fresh = stack.initial_carry(params, 2)
    x = jnp.ones((2, INPUT))
    carry, _ = STEP(stack, params, fresh, x, jnp.array([True, True]))
    _, y_reset = STEP(stack, params, carry, x, jnp.array([True, False]))
    _, y_fresh = STEP(stack, params, fresh, x, jnp.array([True, True]))
    np.testing.assert_array_equal(y_reset[0], y_fresh[0])
    assert not np.allclose(y_reset[1], y_fresh[1])


# --------------------------------------------------------------------------------------------
# d. bad input
# --------------------------------------------------------------------------------------------


def test_wrong_x_size_to_the_encoder():
    stack, _ = stacks(ENCODER_LAYERS, encoder=(8,))
    params = stack.init(jax.random.PRNGKey(0), INPUT)
    carry = stack.initial_carry(params, 2)
    reset = jnp.zeros((2,), bool)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 3\) to match the encoder's input size, "
                                         r"got \(2, 4\)"):
        stack.step(params, carry, jnp.ones((2, 4)), reset)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 3\).*got \(3,\).*x\[None\]"):
        stack.step(params, carry, jnp.ones((3,)), reset)


def test_step_reuses_the_cells_validation():
    stack, _ = stacks(TWO_LAYERS["rtu-nonlinear/rtu-nonlinear"])
    params = stack.init(jax.random.PRNGKey(1), INPUT)
    carry = stack.initial_carry(params, 2)
    with pytest.raises(ValueError, match=r"rtu-nonlinear.step: x must have shape \(batch, 3\)"):
        stack.step(params, carry, jnp.ones((2, 5)), jnp.zeros((2,), bool))
    with pytest.raises(ValueError, match=r"reset must have shape \(2,\)"):
        stack.step(params, carry, jnp.ones((2, 3)), jnp.zeros((3,), bool))
    with pytest.raises(ValueError, match="x has batch size 4 but the carry was made for batch size 2"):
        stack.step(params, carry, jnp.ones((4, 3)), jnp.zeros((4,), bool))


def test_mismatched_carry_and_params():
    stack, _ = stacks(TWO_LAYERS["rtu-nonlinear/rtu-nonlinear"])
    params = stack.init(jax.random.PRNGKey(1), INPUT)
    carry = stack.initial_carry(params, 2)
    x, reset = jnp.ones((2, 3)), jnp.zeros((2,), bool)
    with pytest.raises(ValueError, match=r"carry must be the tuple of 2 Carry.*got tuple of length 1"):
        stack.step(params, carry[:1], x, reset)
    with pytest.raises(ValueError, match=r"carry must be the tuple of 2 Carry.*got Carry"):
        stack.step(params, carry[0], x, reset)
    other = stacks(ENCODER_LAYERS, encoder=(8,))[0].init(jax.random.PRNGKey(0), INPUT)
    with pytest.raises(ValueError, match=r"params have 1 encoder layer\(s\) and 1 cell\(s\), but this stack has "
                                         r"0 and 2"):
        stack.step(other, carry, x, reset)


@pytest.mark.parametrize("cells,match", [
    ((), "cells must hold at least one Cell"),
    ([], "cells must hold at least one Cell"),
    ("rtu-linear", "cells must be a non-empty sequence of Cells"),
    (None, "cells must be a non-empty sequence of Cells"),
    (("rtu-linear",), r"cells\[0\] must be a Cell made with rtrl.cells.make, got str"),
])
def test_bad_cells(cells, match):
    with pytest.raises(ValueError, match=match):
        make_stack(cells)


def test_non_cell_entry_and_single_cell():
    with pytest.raises(ValueError, match=r"cells\[1\] must be a Cell.*got dict"):
        make_stack((_cell(), {"hidden_size": 3}))
    with pytest.raises(ValueError, match=r"got a single Cell; wrap it as \(cell,\)"):
        make_stack(_cell())


@pytest.mark.parametrize("encoder,match", [
    ((8, 0), r"encoder\[1\] must be a positive integer \(a layer width\), got 0"),
    ((-2,), r"encoder\[0\] must be a positive integer \(a layer width\), got -2"),
    ((2.5,), r"encoder\[0\] must be a positive integer \(a layer width\), got 2.5"),
    ((True,), r"encoder\[0\] must be a positive integer"),
    (8, r"encoder must be a list of positive layer widths, e.g. \[64\] or \[\], got 8"),
])
def test_bad_encoder_sizes(encoder, match):
    with pytest.raises(ValueError, match=match):
        make_stack((_cell(),), encoder=encoder)


def test_bad_activation():
    with pytest.raises(ValueError, match=r"encoder_activation must be one of 'leaky_relu', 'relu', 'tanh', got 'sigmoid'"):
        make_stack((_cell(),), encoder=(4,), encoder_activation="sigmoid")
    with pytest.raises(ValueError, match=r"encoder_activation must be one of"):  # direct construction too
        RecurrentStack((_cell(),), (4,), "gelu")
    with pytest.raises(ValueError, match=r"activation must be one of 'leaky_relu', 'relu', 'tanh', got 'identity'"):
        apply_mlp([], jnp.ones((2, 3)), activation="identity")


def test_bad_input_size_to_init():
    stack, _ = stacks(ENCODER_LAYERS, encoder=(8,))
    for bad in (0, -1, 2.0):
        with pytest.raises(ValueError, match=r"input_size must be a positive integer"):
            stack.init(jax.random.PRNGKey(0), bad)


# --------------------------------------------------------------------------------------------
# e. mlp (one set of shapes: a square, a wide and a tall kernel)
# --------------------------------------------------------------------------------------------


def test_mlp_shapes_and_values():
    layers = init_mlp(jax.random.PRNGKey(3), 4, (4, 6, 3), jnp.float64)
    shapes = [(layer["kernel"].shape, layer["bias"].shape) for layer in layers]
    assert shapes == [((4, 4), (4,)), ((4, 6), (6,)), ((6, 3), (3,))]
    assert all(layer["kernel"].dtype == jnp.float64 and not jnp.any(layer["bias"]) for layer in layers)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 7, 4)))  # any leading axes
    y = apply_mlp(layers, x, "tanh")
    assert y.shape == (2, 7, 3) and bool(jnp.all(jnp.abs(y) < 1))
    manual = x
    for layer in layers:
        manual = jax.nn.relu(manual @ layer["kernel"] + layer["bias"])
    np.testing.assert_allclose(apply_mlp(layers, x, "relu"), manual, rtol=1e-12)
    assert init_mlp(jax.random.PRNGKey(0), 4, (), jnp.float64) == []
    np.testing.assert_array_equal(apply_mlp([], x), x)
    f32 = jax.eval_shape(lambda k: init_mlp(k, 4, (3,), "float32"), jax.random.PRNGKey(0))
    assert f32[0]["kernel"].dtype == jnp.float32 and f32[0]["bias"].dtype == jnp.float32
    with pytest.raises(ValueError, match=r"last axis of size 4.*got x of shape \(2, 5\)"):
        apply_mlp(layers, jnp.ones((2, 5)))
    with pytest.raises(ValueError, match=r"sizes\[1\] must be a positive integer"):
        init_mlp(jax.random.PRNGKey(0), 4, (3, 0), jnp.float64)


@pytest.mark.parametrize("scale", [math.sqrt(2.0), 0.01])
def test_mlp_kernels_are_scaled_orthogonal(scale):
    square, wide, tall = (layer["kernel"] for layer in init_mlp(jax.random.PRNGKey(3), 4, (4, 6, 3), jnp.float64,
                                                                 scale=scale))
    eye = lambda n: scale**2 * np.eye(n)  # noqa: E731
    np.testing.assert_allclose(square.T @ square, eye(4), atol=1e-12)
    np.testing.assert_allclose(square @ square.T, eye(4), atol=1e-12)
    np.testing.assert_allclose(wide @ wide.T, eye(4), atol=1e-12)  # 4 → 6: orthonormal rows
    np.testing.assert_allclose(tall.T @ tall, eye(3), atol=1e-12)  # 6 → 3: orthonormal columns
