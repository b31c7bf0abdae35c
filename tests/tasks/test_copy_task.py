"""The copy task (rtrl.tasks.copy_task): its layout, its statistics, and that it is not degenerate.

Each test names the plausible bug it catches. References are computed from the inputs alone (what a
learner sees), never from the generator's own intermediate arrays.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rtrl.tasks.copy_task import (BIT_0, BIT_1, BLANK, INPUT_SIZE, RECALL, CopyTask, accuracy,
                                  sequence_accuracy)


def _tokens(batch):
    inputs = np.asarray(batch.inputs)
    assert np.all(inputs.sum(-1) == 1) and set(np.unique(inputs)) <= {0.0, 1.0}, "inputs are not one-hot"
    return inputs.argmax(-1)  # (N, B)


@pytest.mark.parametrize("length,delay", [(1, 0), (3, 0), (4, 2), (5, 7)])
def test_layout_bits_then_blanks_then_recall_and_the_mask_covers_exactly_the_recall_steps(length, delay):
    """Catches: the mask off by one step (missing the first recall step, or scoring the last blank);
    the delay not inserted or inserted twice; a wrong number of steps."""
    task = CopyTask(length=length, delay=delay)
    batch = task.sample_batch(jax.random.key(0), 16)
    N = 2 * length + delay
    assert task.num_steps == N and task.input_size == INPUT_SIZE == 4
    assert batch.inputs.shape == (N, 16, 4) and batch.inputs.dtype == jnp.float32
    assert batch.targets.shape == batch.mask.shape == (N, 16) and batch.targets.dtype == jnp.int32
    tokens = _tokens(batch)
    assert np.all(np.isin(tokens[:length], [BIT_0, BIT_1]))
    assert np.all(tokens[length:length + delay] == BLANK)
    assert np.all(tokens[length + delay:] == RECALL)
    expected_mask = np.zeros((N, 16), bool)
    expected_mask[length + delay:] = True
    np.testing.assert_array_equal(np.asarray(batch.mask), expected_mask)
    assert np.all(np.asarray(batch.targets)[~expected_mask] == 0)


@pytest.mark.parametrize("length,delay", [(1, 0), (6, 0), (5, 3)])
def test_targets_are_the_presented_bits_in_order(length, delay):
    """Catches: targets reversed, shifted by a step, or drawn independently of the inputs."""
    batch = CopyTask(length=length, delay=delay).sample_batch(jax.random.key(1), 64)
    tokens = _tokens(batch)
    presented = (tokens[:length] == BIT_1).astype(np.int32)  # (T, B), read from the inputs
    recalled = np.asarray(batch.targets)[length + delay:]
    np.testing.assert_array_equal(recalled, presented)
    np.testing.assert_array_equal(np.asarray(batch.bits), presented)


def test_both_symbols_occur_about_equally_often_in_inputs_and_targets_at_every_position():
    """Catches: a biased bit draw (p ≠ 1/2), the same bits in every sequence (one key for the
    batch), and a position that always holds the same symbol."""
    T, B = 8, 4000
    batch = CopyTask(length=T, delay=2).sample_batch(jax.random.key(2), B)
    tokens = _tokens(batch)
    ones_in = (tokens[:T] == BIT_1).mean(axis=1)  # per position
    zeros_in = (tokens[:T] == BIT_0).mean(axis=1)
    targets = np.asarray(batch.targets)[np.asarray(batch.mask)].reshape(T, B)
    ones_out = targets.mean(axis=1)
    # 5 standard errors of a fair coin over B draws: sqrt(.25 / 4000) ≈ 0.0079
    for freq in (ones_in, zeros_in, ones_out):
        np.testing.assert_array_less(np.abs(freq - 0.5), 0.04)
    assert abs(targets.mean() - 0.5) < 0.015
    # sequences differ: all 2^8 bit patterns occur (each missed with probability (1 − 1/256)^4000 < 2e-7)
    assert len({tuple(col) for col in np.asarray(batch.bits).T}) == 2 ** T


def test_a_memoryless_predictor_scores_fifty_percent():
    """The best prediction from the current input token alone (the majority target for each token,
    fitted on the very batch it is scored on, so an upper bound) and the best constant score ≈ 50%.

    Catches: the recall input leaking the bit to recall (e.g. a recall marker per symbol), and a
    target distribution that a constant can exploit."""
    T, B = 6, 4000
    batch = CopyTask(length=T, delay=1).sample_batch(jax.random.key(3), B)
    tokens = _tokens(batch)
    mask = np.asarray(batch.mask)
    targets = np.asarray(batch.targets)
    best_right = 0
    for token in np.unique(tokens[mask]):
        scored = targets[mask & (tokens == token)]
        best_right += max(np.sum(scored == 0), np.sum(scored == 1))
    assert best_right / mask.sum() < 0.52
    for constant in (0, 1):
        assert abs(float(accuracy(jnp.full(targets.shape, constant), batch)) - 0.5) < 0.02


def _oracle(tokens: np.ndarray, last_in_first_out: bool = False) -> np.ndarray:
    """A predictor that remembers: it queues every presented bit and answers each recall with the
    oldest one not yet answered (or, reversed, the newest)."""
    steps, batch = tokens.shape
    predicted = np.zeros((steps, batch), np.int32)
    for b in range(batch):
        memory = []
        for t in range(steps):
            if tokens[t, b] in (BIT_0, BIT_1):
                memory.append(int(tokens[t, b] == BIT_1))
            elif tokens[t, b] == RECALL:
                predicted[t, b] = memory.pop(-1 if last_in_first_out else 0)
    return predicted


@pytest.mark.parametrize("length,delay", [(1, 0), (4, 3), (9, 0)])
def test_an_oracle_that_remembers_scores_one_hundred_percent(length, delay):
    """Catches: targets out of order or misaligned with the recall steps (the in-order oracle would
    miss), and an accuracy that counts off-mask steps."""
    batch = CopyTask(length=length, delay=delay).sample_batch(jax.random.key(4), 200)
    predicted = _oracle(_tokens(batch))
    assert float(accuracy(predicted, batch)) == 1.0
    assert float(sequence_accuracy(predicted, batch)) == 1.0
    # off the mask a prediction is ignored
    noisy = np.where(np.asarray(batch.mask), predicted, 1 - predicted)
    assert float(accuracy(noisy, batch)) == 1.0
    if length >= 4:  # order matters: recalling newest first is right only where the sequence is symmetric
        assert float(accuracy(_oracle(_tokens(batch), last_in_first_out=True), batch)) < 0.7


def test_the_task_is_not_degenerate():
    """Irie et al.'s public loader never scores the bit "1", so predicting "0" everywhere is perfect
    there. Here both symbols are scored at every recall position, and "always 0" is at chance.

    Catches: targets that are always 0 (the degenerate loader), or a mask that drops the steps whose
    target is 1."""
    T, B = 5, 1000
    batch = CopyTask(length=T, delay=0).sample_batch(jax.random.key(5), B)
    mask, targets = np.asarray(batch.mask), np.asarray(batch.targets)
    assert mask.sum() == T * B
    scored = targets[mask].reshape(T, B)
    for i in range(T):
        assert set(np.unique(scored[i])) == {0, 1}, f"recall position {i} never asks for both symbols"
    always_zero = float(accuracy(jnp.zeros_like(batch.targets), batch))
    assert 0.45 < always_zero < 0.55


def test_sampling_is_a_pure_function_of_the_key_and_batches_are_vmapped_samples():
    """Catches: hidden global randomness, and a batch whose sequences share one key."""
    task = CopyTask(length=4, delay=1)
    a = task.sample_batch(jax.random.key(7), 8)
    b = task.sample_batch(jax.random.key(7), 8)
    c = task.sample_batch(jax.random.key(8), 8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.bits, c.bits)
    keys = jax.random.split(jax.random.key(7), 8)
    for i in range(8):
        one = task.sample(keys[i])
        for x, y in zip(one, a):
            np.testing.assert_array_equal(x, np.asarray(y)[:, i])
    # jit- and vmap-friendly: sample inside a jitted vmap
    inputs = jax.jit(jax.vmap(lambda k: task.sample(k).inputs))(keys)
    np.testing.assert_array_equal(np.swapaxes(np.asarray(inputs), 0, 1), a.inputs)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"length": 0}, r"length must be a positive integer \(the number of bits to copy\), got 0"),
        ({"length": -3}, "length must be a positive integer"),
        ({"length": 2.5}, "length must be a positive integer"),
        ({"length": True}, "length must be a positive integer"),
        ({"delay": -1}, r"delay must be a non-negative integer \(blank steps before the recall\), got -1"),
        ({"delay": 1.0}, "delay must be a non-negative integer"),
    ],
)
def test_bad_options_are_rejected_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CopyTask(**kwargs)


def test_bad_batch_size_is_rejected():
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        CopyTask(length=2).sample_batch(jax.random.key(0), 0)
