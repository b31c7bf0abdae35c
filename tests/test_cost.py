"""The cost model against the code: FLOPs counted from the cells' jaxprs, memory from their real
carries, parameter counts from their real parameters; and the scaling laws it must show."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rtrl
from rtrl import cost

# -- an independent FLOP count: the primitives of the cell's jaxpr -------------------------------

# One FLOP per output element (the cost model's convention): arithmetic and elementary functions.
_ELEMENTWISE = {"add", "add_any", "sub", "mul", "div", "max", "min", "neg", "exp", "log", "sin", "cos", "sqrt", "rsqrt",
                "tanh", "logistic", "integer_pow", "pow", "abs", "exp2", "log1p", "expm1", "square", "sign"}
# Moving, selecting, comparing and shaping data: no FLOPs.
_FREE = {"select_n", "broadcast_in_dim", "reshape", "convert_element_type", "concatenate", "slice", "squeeze",
         "expand_dims", "transpose", "dynamic_slice", "gather", "copy", "copy_p", "stop_gradient", "iota", "eq",
         "ne", "gt", "lt", "ge", "le", "and", "or", "not", "real", "imag", "complex", "split", "stack",
         "dynamic_update_slice", "pad", "scatter-add", "reduce_max", "argmax", "zeros_like", "symbolic zeros",
         "broadcast", "select_and_scatter_add", "cumsum", "optimization_barrier"}


def jaxpr_flops(fn, *args) -> int:
    """FLOPs of ``fn(*args)`` counted from its jaxpr: elementwise float ops 1 per element, a
    dot_general 2·K per output element (K the contracted size), a sum (k − 1) adds per output.
    Integer arithmetic (indices) and the identity product of `rtrl.cells.materialize` (a storage
    barrier: ``eye(k) @ stacked``) are not arithmetic on the data and count 0."""
    unknown = set()

    def count(jaxpr) -> int:
        producer, total = {}, 0
        for eqn in jaxpr.eqns:
            for v in eqn.outvars:
                producer[v] = eqn
            inner = [v for v in eqn.params.values() if hasattr(v, "jaxpr") or hasattr(v, "eqns")]
            if inner:  # jit, custom_jvp/vjp, ...: count the body once
                total += sum(count(j.jaxpr if hasattr(j, "jaxpr") else j) for j in inner)
                continue
            name, out = eqn.primitive.name, eqn.outvars[0].aval
            size = int(np.prod(out.shape))
            if not jnp.issubdtype(out.dtype, jnp.inexact) or name in _FREE:
                continue
            if name in _ELEMENTWISE:
                total += size
            elif name == "dot_general":
                lhs = producer.get(eqn.invars[0])
                if lhs is not None and lhs.primitive.name == "convert_element_type" \
                        and getattr(producer.get(lhs.invars[0]), "primitive", None) is not None \
                        and producer[lhs.invars[0]].primitive.name == "eq":
                    continue  # eye(k) @ x: materialize's barrier
                (contracting, _), _ = eqn.params["dimension_numbers"]
                k = int(np.prod([eqn.invars[0].aval.shape[i] for i in contracting]))
                total += 2 * k * size
            elif name == "reduce_sum":
                total += int(np.prod(eqn.invars[0].aval.shape)) - size
            else:
                unknown.add(name)
        return total

    total = count(jax.make_jaxpr(fn)(*args).jaxpr)
    assert not unknown, f"primitives the counter does not know: {unknown}"
    return total


def _forward_step(name, d, n, b, **options):
    cell = rtrl.cells.make(name, hidden_size=n, gradient="bptt", **options)
    params = cell.init(jax.random.PRNGKey(0), d)
    carry = cell.initial_carry(params, b)
    return cell.step, (params, carry, jnp.ones((b, d)), jnp.zeros((b,), bool))


SIZES = [(2, 3, 1), (5, 4, 1), (5, 4, 3)]  # (input d, hidden n, batch)


@pytest.mark.parametrize("name,options", [(n, {}) for n in rtrl.cells.names()]
                         + [("lru", {"use_d": True}), ("rtu-linear", {"activation": "identity"})])
@pytest.mark.parametrize("d,n,b", SIZES)
def test_forward_flops_equal_the_jaxpr_count(name, options, d, n, b):
    """One forward step, counted from what the cell actually computes; the batch multiplies the
    per-sequence work and not the parameter-only work (λ = e^{−e^ν}·e^{iθ}, γ), computed once."""
    step, args = _forward_step(name, d, n, b, **options)
    model = cost.step_cost(name, hidden_size=n, input_size=d, method="forward", batch_size=b, **options)
    assert model.flops == jaxpr_flops(step, *args)
    tbptt = cost.step_cost(name, hidden_size=n, input_size=d, method="tbptt", truncation=4, batch_size=b, **options)
    assert tbptt.flops == (3 * 4 + 1) * jaxpr_flops(step, *args)  # (T + 1) forward + T backward at 2x


@pytest.mark.parametrize("name", ["rtu-linear", "rtu-nonlinear", "lru", "elstm"])
@pytest.mark.parametrize("d,n,b", [(16, 64, 1), (16, 64, 4), (64, 16, 1)])
def test_rtrl_flops_agree_with_the_jaxpr_of_the_gradient(name, d, n, b):
    """The hand-derived RTRL count (forward, trace update, readout backward and contraction) against
    the jaxpr of what the library runs for it: the gradient of a loss of y through one RTRL step.
    Autodiff's own bookkeeping differs from the hand derivation in lower-order terms (it also
    differentiates the λ parameterisation, and may recompute or fuse differently), so the two agree
    within a factor 1.5, at sizes where the O(n·d) terms dominate."""
    cell = rtrl.cells.make(name, hidden_size=n, gradient="rtrl")
    params = cell.init(jax.random.PRNGKey(0), d)
    carry = cell.initial_carry(params, b)
    x, reset, delta = jnp.ones((b, d)), jnp.zeros((b,), bool), jnp.ones((b, cell.output_size))

    def gradient(p):
        def loss(p):
            carry_t, y = cell.step(p, carry, x, reset)
            return jnp.sum(y * delta), carry_t

        return jax.grad(loss, has_aux=True)(p)

    counted = jaxpr_flops(gradient, params)
    model = cost.step_cost(name, hidden_size=n, input_size=d, method="rtrl", batch_size=b).flops
    assert 1 / 1.5 < model / counted < 1.5, (model, counted)


def _floats(tree) -> int:
    return sum(a.size * (2 if jnp.iscomplexobj(a) else 1) for a in jax.tree.leaves(tree))


@pytest.mark.parametrize("name,options", [(n, {}) for n in rtrl.cells.names()] + [("lru", {"use_d": True})])
def test_parameter_counts_match_the_cells(name, options):
    cell = rtrl.cells.make(name, hidden_size=5, **options)
    params = cell.init(jax.random.PRNGKey(0), 3)
    real = sum(p.size for p in jax.tree.leaves(params))
    assert cost.parameter_count(name, hidden_size=5, input_size=3, **options) == real
    assert cost.step_cost(name, hidden_size=5, input_size=3, method="forward", **options).parameters == real


def _rules(name):
    d = rtrl.cells.definition(name)
    return (["hand"] if d.hand_traces else []) + ["dense"]


@pytest.mark.parametrize("name,traces", [(n, t) for n in rtrl.cells.names() for t in _rules(n)])
def test_rtrl_memory_matches_the_real_carry(name, traces):
    """State and traces the cost model counts, against the carry the cell really holds (batch 2)."""
    cell = rtrl.cells.make(name, hidden_size=5, gradient="rtrl", traces=traces)
    params = cell.init(jax.random.PRNGKey(0), 3)
    real = _floats(cell.initial_carry(params, 2))
    assert cost.step_cost(name, hidden_size=5, input_size=3, method="rtrl", traces=traces, batch_size=2).memory == real


@pytest.mark.parametrize("name", rtrl.cells.names())
def test_forward_memory_is_the_state_and_tbptt_holds_at_least_its_window(name):
    from rtrl.grad import tbptt

    cell = rtrl.cells.make(name, hidden_size=5, gradient="bptt")
    params = cell.init(jax.random.PRNGKey(0), 3)
    assert cost.step_cost(name, hidden_size=5, input_size=3, method="forward", batch_size=2).memory \
        == _floats(cell.initial_carry(params, 2))
    window = tbptt.init_window(cell, params, 2, 4)
    window_floats = _floats(window.carry) + _floats(window.xs)
    model = cost.step_cost(name, hidden_size=5, input_size=3, method="tbptt", truncation=4, batch_size=2).memory
    assert window_floats <= model  # the window, plus the activations a backward pass keeps


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
    # the batch multiplies the memory (the work: test_forward_flops_equal_the_jaxpr_count)
    one = cost.step_cost("rtu-linear", hidden_size=8, input_size=4, method="rtrl")
    many = cost.step_cost("rtu-linear", hidden_size=8, input_size=4, method="rtrl", batch_size=10)
    assert many.memory == 10 * one.memory and many.flops < 10 * one.flops


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
