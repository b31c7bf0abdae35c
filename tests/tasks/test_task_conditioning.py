"""The conditioning generators show the statistics of the reference generator (shared/reference/conditioning.md).

All streams use fixed keys. The analytic values are those the reference matched: for ISI (7, 13) and
ITI (80, 120) a trial lasts 87..133 steps, 110 on average, so the US is on 2/110 and the CS 4/110 of the
time; distractor d has geometric off-runs of mean 10(d+1); trace patterning (n 6, k 10, ν 0.1) has
P(US) 0.5, P(US | match) 0.9 and P(US | no match) 0.1.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rtrl.tasks as tasks

STEPS = 200_000


def _stream(task, seed: int, steps: int = STEPS):
    state = task.reset(jax.random.key(seed))
    _, obs = task.generate(state, steps)
    return state, np.asarray(obs) > 0.5


def _runs(x: np.ndarray):
    """(onsets, lengths) of the runs of True in a bool vector, dropping a run cut by the stream's end."""
    padded = np.concatenate([[False], x, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    onsets, ends = edges[::2], edges[1::2]
    keep = ends < len(x)
    return onsets[keep], (ends - onsets)[keep]


def _off_runs(x: np.ndarray) -> np.ndarray:
    """Lengths of the runs of False strictly between two runs of True."""
    onsets, lengths = _runs(x)
    return onsets[1:] - (onsets[:-1] + lengths[:-1])


@pytest.fixture(scope="module")
def trace10():
    """Trace conditioning, ISI (7, 13), ITI (80, 120), all 10 distractors."""
    task = tasks.make("trace-conditioning", isi=10, num_distractors=10)
    return task, *_stream(task, seed=0)


@pytest.fixture(scope="module")
def patterning():
    task = tasks.make("trace-patterning", num_cs=6, num_patterns=10, noise=0.1, num_distractors=3)
    return task, *_stream(task, seed=1, steps=300_000)


def test_registry_names_and_layouts():
    assert tasks.names() == ["trace-conditioning", "trace-patterning", "noisy-patterning"]
    assert tasks.make("trace-conditioning", num_distractors=3).observation_size == 1 + 1 + 3
    assert tasks.make("trace-patterning", num_cs=5, num_distractors=2).observation_size == 1 + 5 + 2
    assert tasks.make("noisy-patterning").isi == (4, 4)


@pytest.mark.parametrize(
    "isi,interval,gamma",
    [(10, (7, 13), 0.9), (20, (14, 26), 0.95), (30, (20, 40), 0.966), (40, (27, 53), 0.975), (80, (54, 106), 0.9875)],
)
def test_isi_numbers_expand_like_the_reference(isi, interval, gamma):
    task = tasks.make("trace-conditioning", isi=isi)
    assert task.isi == interval and task.gamma == gamma


def test_gamma_defaults():
    assert tasks.make("trace-conditioning", isi=(14, 26)).gamma == tasks.DEFAULT_GAMMA == 0.9
    assert tasks.make("trace-conditioning", isi=12).gamma == pytest.approx(1 - 1 / 12)
    assert tasks.make("trace-conditioning", isi=20, gamma=0.5).gamma == 0.5
    assert tasks.make("noisy-patterning").gamma == 0.75  # table entry for ISI = cs_length = 4
    assert tasks.make("noisy-patterning", cs_length=5).gamma == 0.8
    # make is the class with the same options; the resolved values are what compare and hash
    assert tasks.make("trace-conditioning", isi=10) == tasks.TraceConditioning(isi=(7, 13), gamma=0.9)
    assert tasks.make("noisy-patterning") == tasks.NoisyPatterning()
    assert hash(tasks.make("trace-patterning", isi=20)) == hash(tasks.TracePatterning(isi=20))


def test_cs_and_us_runs_have_their_lengths(trace10):
    task, _, obs = trace10
    for column, length in ((0, task.us_length), (1, task.cs_length)):
        _, lengths = _runs(obs[:, column])
        assert len(lengths) > 1500 and set(lengths.tolist()) == {length}


def test_us_follows_cs_uniformly_on_the_isi_interval(trace10):
    _, _, obs = trace10
    cs_on, _ = _runs(obs[:, 1])
    us_on, _ = _runs(obs[:, 0])
    n = min(len(cs_on), len(us_on))
    delays = us_on[:n] - cs_on[:n]  # trial k's US comes before trial k+1's CS
    assert delays.min() == 7 and delays.max() == 13
    counts = np.bincount(delays - 7, minlength=7)
    expected = n / 7
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 22.46, counts  # 99.9% quantile of chi-square with 6 degrees of freedom


def test_trial_gaps_and_per_step_means(trace10):
    _, _, obs = trace10
    cs_on, _ = _runs(obs[:, 1])
    gaps = np.diff(cs_on)
    assert gaps.min() >= 87 and gaps.max() <= 133 and {87, 133} & set(gaps.tolist())
    se = math.sqrt(((133 - 87 + 1) ** 2 - 1) / 12 * 2 / len(gaps))  # sd of ISI + ITI, two uniforms
    assert abs(gaps.mean() - 110) < 5 * se
    assert obs[:, 0].mean() == pytest.approx(2 / 110, rel=0.03)
    assert obs[:, 1].mean() == pytest.approx(4 / 110, rel=0.03)


@pytest.mark.parametrize("d", [0, 4, 9])
def test_distractor_off_runs_are_geometric(trace10, d):
    task, _, obs = trace10
    x = obs[:, 2 + d]
    _, on = _runs(x)
    off = _off_runs(x)
    mean = 10 * (d + 1)
    assert set(on.tolist()) == {task.distractor_length}
    assert off.min() >= 1
    se = math.sqrt(mean * (mean - 1) / len(off))  # sd of 1 + Geometric(p) failures is sqrt(1 - p)/p
    assert abs(off.mean() - mean) < 5 * se
    assert x.mean() == pytest.approx(4 / (4 + mean), rel=5 * se / mean + 0.01)


def test_trace_patterning_us_probabilities(patterning):
    task, state, obs = patterning
    n = task.num_cs
    cs = obs[:, 1 : 1 + n]
    rising = obs & ~np.vstack([np.zeros((1, obs.shape[1]), bool), obs[:-1]])
    starts = np.flatnonzero(rising[:, 1:].any(axis=1))  # CSs and distractors turn on only at trial starts
    patterns = np.asarray(state.patterns)
    match = np.array([np.any(np.all(cs[t] == patterns, axis=1)) for t in starts])
    # A US onset follows the latest visible start by 7..13 steps, unless its trial was silent (an all-zero
    # vector and no distractor: about 0.1% of trials here); attribute the others to their trials.
    us_on = np.flatnonzero(rising[:, 0])
    trial_of_us = np.searchsorted(starts, us_on, side="right") - 1
    delay = us_on - starts[trial_of_us]
    in_range = (delay >= 7) & (delay <= 13)
    assert np.sum(~in_range) <= 3
    has_us = np.zeros(len(starts), bool)
    has_us[trial_of_us[in_range]] = True
    assert match.mean() == pytest.approx(0.5, abs=0.04)
    assert has_us.mean() == pytest.approx(0.5, abs=0.04)
    assert has_us[match].mean() == pytest.approx(0.90, abs=0.03)
    assert has_us[~match].mean() == pytest.approx(0.10, abs=0.03)


def test_patterns_are_distinct_with_half_ones(patterning):
    task, state, _ = patterning
    patterns = np.asarray(state.patterns)
    assert patterns.shape == (task.num_patterns, task.num_cs)
    assert np.all(patterns.sum(axis=1) == task.num_cs // 2)
    assert len({p.tobytes() for p in patterns}) == task.num_patterns
    other = np.asarray(task.reset(jax.random.key(2)).patterns)
    assert not np.array_equal(patterns, other)  # drawn from the key, like the reference's seed


def test_patterning_distractors_turn_on_only_with_a_trial(patterning):
    task, _, obs = patterning
    n = task.num_cs
    rising = obs & ~np.vstack([np.zeros((1, obs.shape[1]), bool), obs[:-1]])
    cs_start = rising[:, 1 : 1 + n].any(axis=1)
    d_rise = rising[:, 1 + n :]
    trial_steps = np.flatnonzero(rising[:, 1:].any(axis=1))
    assert np.all(rising[trial_steps, 1:].any(axis=1))
    # A distractor onset without a CS onset happens only on trials showing the all-zero vector.
    lone = d_rise.any(axis=1) & ~cs_start
    assert lone.sum() < 0.05 * len(trial_steps)
    assert d_rise[trial_steps].mean() == pytest.approx(0.5, abs=0.04)
    _, lengths = _runs(obs[:, 1 + n])
    assert set(lengths.tolist()) == {task.distractor_length}


def test_noisy_patterning_us_comes_right_after_the_cs():
    task = tasks.make("noisy-patterning")
    _, obs = _stream(task, seed=3, steps=50_000)
    rising = obs & ~np.vstack([np.zeros((1, obs.shape[1]), bool), obs[:-1]])
    starts = np.flatnonzero(rising[:, 1:].any(axis=1))
    us_on = np.flatnonzero(rising[:, 0])
    trial_of_us = np.searchsorted(starts, us_on, side="right") - 1
    right_after = us_on - starts[trial_of_us] == task.cs_length
    assert len(us_on) > 100 and np.sum(~right_after) <= 2  # the others follow a silent (all-zero) trial


@pytest.mark.parametrize("name", ["trace-conditioning", "trace-patterning", "noisy-patterning"])
def test_mean_return_is_us_rate_over_one_minus_gamma(name):
    task = tasks.make(name, num_distractors=2)
    _, obs = _stream(task, seed=4)
    g = np.asarray(tasks.returns(jnp.asarray(obs[:, 0], jnp.float32), task.gamma))
    assert obs[:, 0].mean() == pytest.approx(task.us_rate, rel=0.06)
    assert g[:-1000].mean() == pytest.approx(task.expected_return, rel=0.06)


# --- determinism, chunking, the step/generate contract (every registered task) -----------------------

ALL = [(name, {"num_distractors": 3}) for name in tasks.names()]


def test_every_registered_task_is_covered():
    assert sorted(name for name, _ in ALL) == sorted(tasks.names())


@pytest.mark.parametrize("name,opts", ALL)
def test_same_key_same_stream_and_other_key_other_stream(name, opts):
    task = tasks.make(name, **opts)
    a = task.generate(task.reset(jax.random.key(7)), 3000)[1]
    b = task.generate(task.reset(jax.random.key(7)), 3000)[1]
    c = task.generate(task.reset(jax.random.key(8)), 3000)[1]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == jnp.float32 and a.shape == (3000, task.observation_size)
    assert set(np.unique(np.asarray(a)).tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("name,opts", ALL)
def test_chunks_continue_the_stream(name, opts):
    task = tasks.make(name, **opts)
    state = task.reset(jax.random.key(11))
    end, whole = task.generate(state, 1000)
    pieces, s = [], state
    for size in (1, 250, 0, 333, 416):
        s, obs = task.generate(s, size)
        pieces.append(obs)
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    for field in s._fields:
        a, b = getattr(s, field), getattr(end, field)
        if jnp.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        np.testing.assert_array_equal(a, b, err_msg=field)


@pytest.mark.parametrize("name,opts", ALL)
def test_step_equals_generate(name, opts):
    task = tasks.make(name, **opts)
    state = task.reset(jax.random.key(5))
    _, whole = task.generate(state, 300)
    _, stepped = jax.lax.scan(lambda s, _: task.step(s), state, None, length=300)
    np.testing.assert_array_equal(stepped, whole)
    s, first = task.step(state)  # eager call
    np.testing.assert_array_equal(first, whole[0])
    assert int(s.t) == 1


@pytest.mark.parametrize("name,opts", ALL)
def test_vmap_over_keys_and_jit(name, opts):
    task = tasks.make(name, **opts)
    keys = jax.random.split(jax.random.key(3), 4)

    @jax.jit
    def run(key):
        return task.generate(task.reset(key), 500)[1]

    batched = jax.vmap(run)(keys)
    assert batched.shape == (4, 500, task.observation_size)
    for i in range(4):
        np.testing.assert_array_equal(batched[i], run(keys[i]))


def test_first_step_starts_a_trial():
    task = tasks.make("trace-conditioning")
    _, obs = task.generate(task.reset(jax.random.key(0)), 20)
    obs = np.asarray(obs)
    assert obs[0, 1] == 1 and obs[:4, 1].all() and not obs[4:, 1].any()
    assert 7 <= int(np.argmax(obs[:, 0])) <= 13


def test_raw_uint32_keys_work_too():
    task = tasks.make("trace-patterning")
    _, obs = task.generate(task.reset(jax.random.PRNGKey(0)), 200)
    assert obs.shape == (200, 7)
