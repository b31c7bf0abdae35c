"""Configs from YAML and flags: numbers are numbers (3e-4, 1e6, .inf), non-finite values and empty files
are refused, a nested config that is not a mapping is named."""

import argparse
import dataclasses
import math

import pytest

from rtrl.experiments import config as config_lib
from rtrl.experiments.config import field, from_dict
from rtrl.experiments.prediction import PredictionConfig
from rtrl.frozendict import FrozenDict


@dataclasses.dataclass(frozen=True)
class Inner:
    rate: float = field(0.1, "a float")


@dataclasses.dataclass(frozen=True)
class Outer:
    count: int = field(3, "an int")
    limit: int | None = field(None, "an optional int")
    rate: float = field(1e-3, "a float")
    options: dict = field(None, "options")
    inner: Inner = dataclasses.field(default_factory=Inner)


def _flags(cls, *argv):
    parser = argparse.ArgumentParser()
    config_lib.add_arguments(parser, cls)
    return config_lib.overrides(parser.parse_args(list(argv)), cls)


@pytest.mark.parametrize("text,value", [("3e-4", 3e-4), ("1e-5", 1e-5), ("3E-3", 3e-3), ("-2e+3", -2e3),
                                        ("1.5e2", 150.0), (".inf", math.inf), ("-.inf", -math.inf)])
def test_yaml_reads_exponents_and_infinities_as_numbers(text, value):
    assert config_lib.parse_yaml(f"rate: {text}") == {"rate": value}
    assert from_dict(Outer, config_lib.parse_yaml(f"rate: {text}")).rate == value


def test_nan_is_a_number_too():
    assert math.isnan(from_dict(Outer, {"rate": ".nan"}).rate)
    assert math.isnan(config_lib.parse_yaml(".nan"))


def test_flags_read_numbers_like_the_file():
    assert _flags(Outer, "--rate", "3e-3") == {"rate": 3e-3}
    assert from_dict(Outer, _flags(Outer, "--rate", "inf")).rate == math.inf


@pytest.mark.parametrize("text,value", [("1e6", 1_000_000), ("1_000_000", 1_000_000), ("2.0", 2)])
def test_integral_numbers_are_accepted_for_int_fields(text, value):
    built = from_dict(Outer, config_lib.parse_yaml(f"count: {text}\nlimit: {text}"))
    assert built.count == value and isinstance(built.count, int)
    assert built.limit == value and isinstance(built.limit, int)


def test_a_fractional_number_stays_a_float_for_the_validator():
    with pytest.raises(ValueError, match=r"steps must be a positive integer, got 1500.5"):
        from_dict(PredictionConfig, {"steps": 1500.5})


def test_readme_step_size_example_is_accepted():
    """`rtrl predict --step-size 3e-3` (the README's example) was refused: "got '3e-3'"."""
    config = from_dict(PredictionConfig, _flags(PredictionConfig, "--step-size", "3e-3", "--steps", "1e4"))
    assert config.step_size == 3e-3 and config.steps == 10_000


@pytest.mark.parametrize("text,shown", [("inf", "inf"), (".inf", "inf"), ("-.inf", "-inf"), (".nan", "nan"),
                                        ("1e400", "inf")])
def test_non_finite_step_sizes_are_refused(text, shown):
    with pytest.raises(ValueError, match=rf"step_size must be a positive number, got {shown}\."):
        from_dict(PredictionConfig, _flags(PredictionConfig, f"--step-size={text}"))


def test_a_word_is_still_refused_by_the_validator():
    with pytest.raises(ValueError, match=r"step_size must be a positive number, got 'fast'"):
        from_dict(PredictionConfig, _flags(PredictionConfig, "--step-size", "fast"))


def test_exponents_inside_option_mappings_are_numbers():
    config = from_dict(PredictionConfig, _flags(PredictionConfig, "--cell-options", "{r_max: 1e0}"))
    assert config.cell_options == {"r_max": 1.0}


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n"])
def test_an_empty_file_is_refused(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match="is empty"):
        config_lib.load_yaml(str(path))


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        config_lib.load_yaml(str(path))
    with pytest.raises(ValueError, match="is a directory"):
        config_lib.load_yaml(str(tmp_path))


def test_a_nested_config_that_is_not_a_mapping_names_it():
    with pytest.raises(ValueError, match=r"config\.inner must be a mapping"):
        from_dict(Outer, {"inner": 5})
    with pytest.raises(ValueError, match=r"config\.options must be a mapping"):
        from_dict(Outer, {"options": 5})
    with pytest.raises(ValueError, match=r"config\.task_options must be a mapping"):
        from_dict(PredictionConfig, {"task_options": 5})


def test_train_config_with_ppo_5_is_a_value_error():
    from rtrl.experiments.training import TrainConfig

    with pytest.raises(ValueError, match=r"ppo must be a mapping"):
        from_dict(TrainConfig, {"ppo": 5})


def test_merge_of_nested_configs():
    merged = config_lib.merge({"env": "a", "ppo": {"cell": "gru", "hidden_size": 4}}, {"ppo": {"hidden_size": 8}},
                              nested=("ppo",))
    assert merged == {"env": "a", "ppo": {"cell": "gru", "hidden_size": 8}}
    with pytest.raises(ValueError, match=r"config\.ppo must be a mapping of its fields"):
        config_lib.merge({"ppo": {}}, {"ppo": 5}, nested=("ppo",))


def test_option_mappings_are_frozen_and_configs_hash():
    config = from_dict(PredictionConfig, {"task_options": {"isi": 10, "iti": [80, 120]}})
    assert isinstance(config.task_options, FrozenDict) and isinstance(config.cell_options, FrozenDict)
    assert config.task_options["iti"] == (80, 120)
    assert hash(config) == hash(from_dict(PredictionConfig, {"task_options": {"iti": [80, 120], "isi": 10}}))


def test_yaml_round_trip_keeps_numbers(tmp_path):
    config = PredictionConfig(step_size=3e-4, steps=1_000_000, final_window=1_000)
    path = tmp_path / "config.yaml"
    config_lib.save_yaml(config, str(path))
    assert from_dict(PredictionConfig, config_lib.load_yaml(str(path))) == config
