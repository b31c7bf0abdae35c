"""Bad task options are rejected before any work, with a message naming the field and what is valid."""

import jax
import jax.numpy as jnp
import pytest

import rtrl.tasks as tasks


def test_unknown_task_lists_the_valid_ones_and_suggests():
    with pytest.raises(ValueError, match=r"unknown task 'trace-conditionin'; valid tasks: trace-conditioning, "
                                         r"trace-patterning, noisy-patterning\. Did you mean 'trace-conditioning'"):
        tasks.make("trace-conditionin")
    with pytest.raises(ValueError, match=r"unknown task 'cartpole'; valid tasks: .*noisy-patterning\.$"):
        tasks.make("cartpole")


def test_unknown_option_lists_the_valid_ones_and_suggests():
    with pytest.raises(ValueError, match=r"does not take option\(s\) num_distractor \(did you mean "
                                         r"'num_distractors'\?\); its options are: isi, iti, gamma, num_distractors"):
        tasks.make("trace-conditioning", num_distractor=3)
    with pytest.raises(ValueError, match=r"'trace-conditioning' does not take option\(s\) noise"):
        tasks.make("trace-conditioning", noise=0.1)
    with pytest.raises(ValueError, match=r"does not take option\(s\) isi \(its ISI is fixed to cs_length\)"):
        tasks.make("noisy-patterning", isi=10)


@pytest.mark.parametrize("field", ["isi", "iti"])
@pytest.mark.parametrize(
    "value,message",
    [
        ((13, 7), "low <= high"),
        ((0, 5), "positive integers"),
        ((-3, 5), "positive integers"),
        ((2.5, 5), "positive integers"),
        ((1, 2, 3), r"of positive integers, got \(1, 2, 3\)"),
        ("7-13", "of positive integers, got .7-13."),
    ],
)
def test_bad_intervals(field, value, message):
    with pytest.raises(ValueError, match=f"{field} must be an interval.*{message}"):
        tasks.make("trace-conditioning", **{field: value})


@pytest.mark.parametrize("isi", [0, -10])
def test_bad_isi_number(isi):
    with pytest.raises(ValueError, match="isi must be a positive ISI number"):
        tasks.make("trace-conditioning", isi=isi)


@pytest.mark.parametrize("gamma", [1.0, -0.01, 1.2, float("nan"), "0.9", True])
def test_gamma_outside_0_1(gamma):
    with pytest.raises(ValueError, match=r"gamma must be a number in \[0, 1\)"):
        tasks.make("trace-conditioning", gamma=gamma)


@pytest.mark.parametrize("name", tasks.names())
@pytest.mark.parametrize("d", [11, -1, 2.0])
def test_too_many_distractors(name, d):
    with pytest.raises(ValueError, match=r"num_distractors must be a non-negative integer \(at most 10\)"):
        tasks.make(name, num_distractors=d)


def test_too_many_patterns():
    with pytest.raises(ValueError, match=r"num_patterns must be at most C\(num_cs, num_cs // 2\) = C\(6, 3\) = 20"):
        tasks.make("trace-patterning", num_cs=6, num_patterns=21)
    with pytest.raises(ValueError, match=r"= C\(5, 2\) = 10"):
        tasks.make("noisy-patterning", num_cs=5, num_patterns=11)
    tasks.make("trace-patterning", num_cs=6, num_patterns=20)  # the limit itself is fine


@pytest.mark.parametrize(
    "opts,message",
    [
        ({"num_cs": 0}, r"num_cs must be a positive integer \(at most 20\), got 0"),
        ({"num_cs": 21}, r"num_cs must be a positive integer \(at most 20\), got 21"),
        ({"num_patterns": 0}, "num_patterns must be a positive integer, got 0"),
        ({"noise": 1.5}, r"noise must be a number in \[0, 1\], got 1.5"),
        ({"noise": float("inf")}, r"noise must be a number in \[0, 1\], got inf"),
        ({"pattern_prob": -0.1}, r"pattern_prob must be a number in \[0, 1\]"),
        ({"num_cs": 4, "num_patterns": 6, "pattern_prob": 0.3}, "pattern_prob must be at least num_patterns / 2"),
    ],
)
def test_bad_patterning_options(opts, message):
    with pytest.raises(ValueError, match=message):
        tasks.make("trace-patterning", **opts)


@pytest.mark.parametrize("field", ["cs_length", "us_length", "distractor_length"])
def test_stimulus_lengths(field):
    with pytest.raises(ValueError, match=f"{field} must be a positive integer, got 0"):
        tasks.make("trace-patterning", **{field: 0})  # "must be a positive integer"
    with pytest.raises(ValueError, match=f"{field} must be shorter than the shortest trial"):
        tasks.make("trace-patterning", isi=(3, 5), iti=(2, 4), **{field: 5})


def test_direct_construction_validates_too():
    with pytest.raises(ValueError, match="isi must be an interval"):
        tasks.TraceConditioning(isi=(5, 2))
    assert tasks.TraceConditioning(isi=[7, 13]).isi == (7, 13)  # normalised to a hashable tuple


def test_bad_steps_and_observations():
    task = tasks.make("trace-conditioning")
    state = task.reset(jax.random.key(0))
    with pytest.raises(ValueError, match="steps must be a non-negative integer, got -1"):
        task.generate(state, -1)
    oracle = tasks.Oracle(task)
    with pytest.raises(ValueError, match=r"obs must have shape \(steps, observation_size\) = \('T', 2\)"):
        tasks.predict(oracle, oracle.init(state), jnp.zeros((10, 3)))
    with pytest.raises(ValueError, match=r"obs must have shape \(observation_size,\)"):
        oracle.step(oracle.init(state), jnp.zeros((5,)))
