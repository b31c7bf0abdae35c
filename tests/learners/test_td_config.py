"""Bad configurations and inputs raise errors that name the field, what was given and what is valid."""

import jax
import jax.numpy as jnp
import pytest

import rtrl
from rtrl import learners
from rtrl.frozendict import FrozenDict
from rtrl.learners import TDConfig, make_learner

BAD = [
    (dict(cell="rtu"), r"cell: unknown cell 'rtu'; valid cells: rtu-linear, rtu-nonlinear, lru"),
    (dict(learner="bptt"), r"learner must be one of 'rtrl', 'tbptt', got 'bptt'"),
    (dict(optimizer="rmsprop"), r"optimizer must be one of 'adam', 'sgd', got 'rmsprop'"),
    (dict(gamma=1.0), r"gamma must be a number in \[0, 1\).*got 1.0"),
    (dict(gamma=-0.1), r"gamma must be a number in \[0, 1\).*got -0.1"),
    (dict(lambda_=1.5), r"lambda_ must be a number in \[0, 1\], got 1.5"),
    (dict(lambda_=-1e-3), r"lambda_ must be a number in \[0, 1\], got -0.001"),
    (dict(step_size=0.0), r"step_size must be a positive number, got 0.0"),
    (dict(step_size=-1e-3), r"step_size must be a positive number, got -0.001"),
    (dict(step_size=float("inf")), r"step_size must be a positive number, got inf"),
    (dict(step_size=float("nan")), r"step_size must be a positive number, got nan"),
    (dict(gamma=float("nan")), r"gamma must be a number in \[0, 1\).*got nan"),
    (dict(step_size="3e-3"), r"step_size must be a positive number, got '3e-3'"),
    (dict(hidden_size=True), r"hidden_size must be a positive integer, got True"),
    (dict(hidden_size=0), r"hidden_size must be a positive integer, got 0"),
    (dict(hidden_size=2.0), r"hidden_size must be a positive integer, got 2.0"),
    (dict(learner="tbptt"), r"truncation is required with learner='tbptt'"),
    (dict(learner="tbptt", truncation=0), r"truncation must be a positive integer, got 0"),
    (dict(learner="tbptt", truncation=-4), r"truncation must be a positive integer, got -4"),
    (dict(learner="rtrl", truncation=8), r"truncation applies to learner='tbptt' only, got truncation=8"),
    (dict(cell_options={"colour": 1}), r"cell_options: cell 'rtu-linear' does not take option\(s\) colour"),
    (dict(cell_options={"activation": "swish"}), r"cell_options: .*activation"),
    (dict(cell_options=[1, 2]), r"cell_options must be a mapping"),
    (dict(dtype="float16"), r"dtype must be one of 'float32', 'float64', got 'float16'"),
    (dict(cumulant_index=-1), r"cumulant_index must be a non-negative integer, got -1"),
    (dict(projection=-2), r"projection must be a non-negative integer \(0: no projection\), got -2"),
    (dict(projection=4, projection_activation="gelu"), r"projection_activation must be one of 'relu', 'tanh', 'identity', got 'gelu'"),
]


@pytest.mark.parametrize("kwargs,message", BAD, ids=[repr(k) for k, _ in BAD])
def test_bad_config_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TDConfig(**kwargs)


@pytest.mark.parametrize("name", rtrl.cells.names())
def test_every_cell_and_learner_builds(name):
    for config in (TDConfig(cell=name, hidden_size=2), TDConfig(cell=name, hidden_size=2, learner="tbptt",
                                                                   truncation=4)):
        learner = make_learner(config, 3)
        assert learner.cell.name == name


def test_cell_options_are_passed_and_hashable():
    config = TDConfig(cell="rtu-nonlinear", cell_options={"activation": "tanh", "r_max": 0.9})
    assert config.cell_options == {"activation": "tanh", "r_max": 0.9}
    assert isinstance(config.cell_options, FrozenDict)
    assert TDConfig(cell_options=(("activation", "tanh"),)).cell_options == {"activation": "tanh"}
    assert hash(config) == hash(TDConfig(cell="rtu-nonlinear", cell_options={"r_max": 0.9, "activation": "tanh"}))
    assert config.make_cell().options.activation == "tanh"


def test_bad_learner_arguments():
    with pytest.raises(ValueError, match="observation_size must be a positive integer, got 0"):
        make_learner(TDConfig(), 0)
    with pytest.raises(ValueError, match="cumulant_index=3 is outside an observation of size 3"):
        make_learner(TDConfig(cumulant_index=3), 3)
    with pytest.raises(TypeError, match="config must be a TDConfig"):
        make_learner({"cell": "gru"}, 3)
    with pytest.raises(TypeError, match="optimizer must be an optax.GradientTransformation"):
        make_learner(TDConfig(), 3, optimizer="adam")


def test_bad_run_inputs():
    learner = make_learner(TDConfig(hidden_size=2), 3)
    state = learner.init(jnp.zeros(2, jnp.uint32))
    with pytest.raises(ValueError, match=r"observations must have shape \(T, 3\), got \(5, 4\)"):
        learner.run(state, jnp.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"observations must have shape \(T, 3\), got \(2, 5, 3\).*jax.vmap"):
        learner.run(state, jnp.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match=r"resets must be a bool array of shape \(5,\)"):
        learner.run(state, jnp.zeros((5, 3)), jnp.zeros(5))


def test_public_api():
    for name in learners.__all__:
        assert hasattr(learners, name)


def test_float64_needs_64_bit_mode():
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(ValueError, match="dtype='float64' needs 64-bit mode"):
            TDConfig(dtype="float64")
    finally:
        jax.config.update("jax_enable_x64", previous)
