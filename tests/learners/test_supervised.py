"""Supervised sequence learners (rtrl.learners.supervised): exact RTRL and T-BPTT against
independent references, learning on a tiny copy task, and config validation.

The references are written here as plain Python loops over `Cell.step` of a ``gradient="bptt"``
cell differentiated by `jax.grad` (the whole sequence, or with `jax.lax.stop_gradient` on the
carry every k steps), sharing nothing with the learner but the cell. Each test names the plausible
bug it catches.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import rtrl
from rtrl.learners.supervised import SupervisedConfig, SupervisedLearner
from rtrl.tasks.copy_task import CopyTask

TASK = CopyTask(length=3, delay=1)  # N = 7 steps
CELLS = ["elstm", "rtu-linear"]


def _reference_loss(config, params, batch, truncation=None):
    """L = Σ_t Σ_b m·CE / Σ m through a Python loop of steps, the carry cut every ``truncation`` steps."""
    cell = rtrl.cells.make(config.cell, hidden_size=config.hidden_size, gradient="bptt", dtype=config.dtype)
    inputs, targets, mask = batch.inputs.astype(config.dtype), batch.targets, batch.mask
    steps, size = mask.shape
    carry = cell.initial_carry(params["cell"], size)
    total = 0.0
    for t in range(steps):
        if truncation is not None and t > 0 and t % truncation == 0:
            carry = jax.lax.stop_gradient(carry)
        carry, y = cell.step(params["cell"], carry, inputs[t], jnp.full((size,), t == 0))
        r = params["readout"]
        if "W_hidden" in r:
            y = jax.nn.relu(y @ r["W_hidden"] + r["b_hidden"])
        logits = y @ r["W"] + r["b"]
        log_p = jax.nn.log_softmax(logits)
        ce = -jnp.take_along_axis(log_p, targets[t][:, None], axis=1)[:, 0]
        total = total + jnp.sum(jnp.where(mask[t], ce, 0.0))
    return total / jnp.sum(mask)


def _setup(cell, learner="rtrl", truncation=None, readout_hidden=0, seed=0):
    config = SupervisedConfig(cell=cell, hidden_size=5, learner=learner, truncation=truncation, dtype="float64",
                              readout_hidden=readout_hidden)
    model = SupervisedLearner(config, TASK)
    params = model.init(jax.random.key(seed)).params
    # away from the initialisation (eLSTM biases start at 0, RTU weights in a ring): generic parameters
    flat, unravel = ravel_pytree(params)
    params = unravel(flat + 0.3 * jax.random.normal(jax.random.key(seed + 100), flat.shape, flat.dtype))
    batch = TASK.sample_batch(jax.random.key(seed + 1), 4)
    return config, model, params, batch


def _reference(config, params, batch, truncation=None):
    """(L, ∇L) of `_reference_loss`, jitted (the loop is unrolled when traced)."""
    return jax.jit(jax.value_and_grad(lambda p, b: _reference_loss(config, p, b, truncation)))(params, batch)


def _close(a, b):
    np.testing.assert_allclose(ravel_pytree(a)[0], ravel_pytree(b)[0], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("readout_hidden", [0, 6])
@pytest.mark.parametrize("cell", CELLS)
def test_rtrl_gradient_of_the_sequence_loss_equals_bptt(cell, readout_hidden):
    """The RTRL gradient accumulated online step by step equals jax.grad through the unrolled sequence.

    Catches: a step's gradient dropped or counted twice (accumulator overwritten instead of summed,
    first or last step skipped), the readout's or the output gate's gradient missing, the mask or
    the mean's normaliser applied wrongly, a reset in the middle of the sequence."""
    config, model, params, batch = _setup(cell, readout_hidden=readout_hidden)
    loss, grads, logits = model.loss_and_grad(params, batch.inputs, batch.targets, batch.mask)
    ref_loss, ref_grads = _reference(config, params, batch)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
    _close(grads, ref_grads)
    assert logits.shape == (TASK.num_steps, 4, 2)
    np.testing.assert_allclose(logits, model.logits(params, batch.inputs), rtol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_tbptt_with_truncation_at_least_the_length_and_bptt_equal_the_full_gradient(cell):
    """Catches: the padding of the last chunk changing the gradient (k = N + 3 pads 3 steps), and
    the BPTT learner not being the exact gradient."""
    steps = TASK.num_steps
    reference = None
    for learner, k in [("tbptt", steps), ("tbptt", steps + 3), ("bptt", None)]:
        config, model, params, batch = _setup(cell, learner, k)  # the same params and batch each time
        loss, grads, _ = model.loss_and_grad(params, batch.inputs, batch.targets, batch.mask)
        ref_loss, ref_grads = reference = reference or _reference(config, params, batch)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
        _close(grads, ref_grads)


@pytest.mark.parametrize("truncation", [1, 3])
@pytest.mark.parametrize("cell", CELLS)
def test_tbptt_with_a_shorter_truncation_cuts_the_carry_every_k_steps(cell, truncation):
    """T-BPTT(k) equals jax.grad with the carry stopped at steps k, 2k, …, and differs from BPTT.

    Catches: the truncation boundary off by one step (chunks of k ± 1, or the first chunk shorter),
    the last partial chunk lost (N = 7 is not a multiple of 3), the carry not passed between
    chunks (the forward, hence the loss, would change), and a T-BPTT that is secretly full BPTT."""
    config, model, params, batch = _setup(cell, "tbptt", truncation)
    loss, grads, logits = model.loss_and_grad(params, batch.inputs, batch.targets, batch.mask)
    ref_loss, ref_grads = _reference(config, params, batch, truncation)
    _, full = _reference(config, params, batch)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)  # the forward is not truncated
    np.testing.assert_allclose(logits, model.logits(params, batch.inputs), rtol=1e-12)
    _close(grads, ref_grads)
    difference = np.abs(ravel_pytree(grads)[0] - ravel_pytree(full)[0]).max()
    assert difference > 1e-4 * np.abs(ravel_pytree(full)[0]).max()


@pytest.mark.parametrize("cell", CELLS)
def test_a_short_training_run_learns_the_two_bit_copy_task(cell):
    """Exact RTRL, T = 2 bits, no delay, n = 16, 300 Adam updates of 32 sequences: the held-out
    accuracy rises from chance to above 90% (measured: 100% for both cells).

    Catches: an update applied with the wrong sign, a gradient that never reaches the memory,
    metrics computed on the wrong steps."""
    config = SupervisedConfig(cell=cell, hidden_size=16, learner="rtrl", step_size=1e-2, batch_size=32)
    model = SupervisedLearner(config, CopyTask(length=2, delay=0))
    state = model.init(jax.random.key(0))
    before = model.evaluate(state.params, jax.random.key(9), 500)["accuracy"]
    state, metrics = model.train(state, jax.random.key(1), 300)
    after = model.evaluate(state.params, jax.random.key(9), 500)
    assert metrics.accuracy.shape == metrics.loss.shape == (300,) and int(state.updates) == 300
    assert float(before) < 0.8
    assert float(after["accuracy"]) > 0.9, after
    assert float(metrics.accuracy[-30:].mean()) > 0.85
    assert float(metrics.loss[-30:].mean()) < float(metrics.loss[:30].mean())


def test_one_update_is_adam_on_the_gradient_of_a_fresh_batch():
    """Catches: an update made with a gradient of another batch than the one scored, or an
    optimizer other than Adam with the configured step size."""
    config, model, _, _ = _setup("rtu-linear")
    state = model.init(jax.random.key(3))
    key = jax.random.key(4)
    new_state, metrics = model.update(state, key)
    batch = TASK.sample_batch(key, config.batch_size)
    loss, grads, _ = model.loss_and_grad(state.params, batch.inputs, batch.targets, batch.mask)
    adam = optax.adam(config.step_size)
    updates, _ = adam.update(grads, adam.init(state.params), state.params)
    _close(new_state.params, optax.apply_updates(state.params, updates))
    np.testing.assert_allclose(metrics.loss, loss, rtol=1e-12)


def test_seeds_vmapped_side_by_side_match_separate_runs():
    """Catches: state shared between vmapped learners, or a train loop that is not vmappable."""
    config = SupervisedConfig(cell="elstm", hidden_size=4, learner="tbptt", truncation=2, batch_size=8)
    model = SupervisedLearner(config, CopyTask(length=2, delay=1))
    keys = jax.random.split(jax.random.key(5), 2)
    states, metrics = jax.vmap(lambda k: model.train(model.init(k), k, 3))(keys)
    for i in range(2):
        alone, alone_metrics = model.train(model.init(keys[i]), keys[i], 3)
        np.testing.assert_allclose(ravel_pytree(jax.tree.map(lambda a, i=i: a[i], states.params))[0],
                                   ravel_pytree(alone.params)[0], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(metrics.loss[i], alone_metrics.loss, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"learner": "sgd"}, r"learner must be one of 'rtrl', 'tbptt', 'bptt', got 'sgd'"),
        ({"learner": "tbptt"}, "truncation is required with learner='tbptt'"),
        ({"learner": "tbptt", "truncation": 0}, "truncation must be a positive integer, got 0"),
        ({"learner": "rtrl", "truncation": 4}, "truncation applies to learner='tbptt' only"),
        ({"hidden_size": 0}, "hidden_size must be a positive integer, got 0"),
        ({"step_size": 0.0}, "step_size must be a positive number, got 0.0"),
        ({"step_size": float("nan")}, "step_size must be a positive number"),
        ({"batch_size": -1}, "batch_size must be a positive integer, got -1"),
        ({"max_grad_norm": 0}, "max_grad_norm must be a positive number"),
        ({"readout_hidden": -2}, "readout_hidden must be a non-negative integer"),
        ({"cell": "elstmm"}, "cell: unknown cell 'elstmm'.*Did you mean 'elstm'"),
        ({"cell_options": {"init_stdd": 0.1}}, "cell_options: "),
        ({"dtype": "float16"}, "dtype must be one of 'float32', 'float64', got 'float16'"),
    ],
)
def test_bad_config_is_rejected_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SupervisedConfig(**kwargs)


def test_bad_train_arguments_are_rejected():
    model = SupervisedLearner(SupervisedConfig(hidden_size=2), CopyTask(length=1))
    state = model.init(jax.random.key(0))
    with pytest.raises(ValueError, match="num_updates must be a positive integer, got 0"):
        model.train(state, jax.random.key(0), 0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        model.evaluate(state.params, jax.random.key(0), 0)
    with pytest.raises(TypeError, match="config must be a SupervisedConfig"):
        SupervisedLearner({"cell": "elstm"}, CopyTask(length=1))


def test_the_rtrl_learner_runs_the_cell_on_its_traces_and_the_others_without():
    """Catches: an "rtrl" learner that silently backpropagates through time (a ``gradient="bptt"``
    cell would give the same numbers in the exactness test, at BPTT's memory cost)."""
    assert SupervisedConfig(learner="rtrl").make_cell().gradient == "rtrl"
    assert SupervisedConfig(learner="tbptt", truncation=2).make_cell().gradient == "bptt"
    assert SupervisedConfig(learner="bptt").make_cell().gradient == "bptt"
    model = SupervisedLearner(SupervisedConfig(cell="elstm", hidden_size=3), CopyTask(length=1))
    assert model.cell.gradient == "rtrl"
