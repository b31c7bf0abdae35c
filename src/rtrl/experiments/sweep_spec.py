"""A sweep spec: a grid (or list) of ``rtrl train`` / ``rtrl predict`` configurations × seeds.

    spec = load_spec("sweeps/rtu-paper-popgym.yaml")   # every key checked, nothing built yet
    plan = make_plan(spec)                               # every run's frozen config built and checked
    plan.runs[0].out                                     # runs/rtu-paper-popgym/<configuration>/seed-0

The YAML file (``rtrl sweep SPEC.yaml`` runs it on Ray, `rtrl.experiments.sweep`):

    command: train                    # or predict
    out: runs/popgym-sweep            # the sweep directory (default runs/<the spec's file name>)
    base:                             # settings under every run: a preset and/or config fields, exactly as
      preset: rtu-paper/popgym-countrecall   # rtrl train --config (or rtrl predict --config) takes them
      total_steps: 5_000_000
    grid:                             # the cartesian product of field -> list of values
      env: [jax/CountRecallEasy, jax/RepeatFirstEasy]
      ppo.learning_rate: [1e-4, 3e-4]          # a dotted name sets one field of a section or option mapping
    runs:                             # an explicit list of settings, each crossed with every grid point
      - {label: RTU linear (RTRL)}
      - {label: GRU (T-BPTT 32), ppo: {agent: tbptt-ppo, cell: gru, hidden_size: 64, sequence_length: 32}}
    seeds: 5                          # a count (seeds 0..4) or a list of seeds
    resources: {num_cpus: 1, num_gpus: 0}   # what Ray reserves for each run (a GPU may be a fraction)
    retries: 1                        # a failed run is tried again this many times, then reported

A configuration's settings are layered, each layer over the one before: the preset (named in
``base``, a grid or a run entry; the most specific one wins), ``base``, the grid point, the run
entry. Mappings merge key by key (``ppo``, ``env_options``, ...), anything else is replaced; a
layer that gives one agent family's section (``ppo``, ``stream``, ``r2ac``) drops the other
families' sections of the layers under it, so a run entry ``{stream: {...}}`` turns a PPO preset
into a streaming run. For ``predict`` a preset names a comparison of `rtrl.experiments.presets`
(``compute-match``, ``rtu-variants``, ``demo``), and each of its learners becomes a configuration.

Every (configuration, seed) is one run with ``seeds: 1, seed: s`` in the directory
``<out>/<configuration key>/seed-<s>``. The key is the configuration's varying settings made
readable, then the first 8 hex digits of the SHA-1 of its resolved config (seed 0): the same
config always lands in the same directory, and a changed one in a new directory, never over
another's runs.

Everything is checked here, before any run: unknown keys (named, with the valid ones), an empty
grid or list, bad seeds, resources and retries, a seed set inside the settings, and every
configuration's own validators (each run's frozen config is built), and two configurations that
resolve to the same config.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from rtrl import validate
from rtrl.experiments import config as config_lib
from rtrl.frozendict import FrozenDict

__all__ = ["COMMANDS", "SPEC_KEYS", "Configuration", "PlannedRun", "Resources", "SweepPlan", "SweepSpec",
           "load_spec", "make_plan", "spec_from_dict"]

TRAIN, PREDICT = "train", "predict"
COMMANDS = (TRAIN, PREDICT)
SPEC_KEYS = ("command", "out", "base", "grid", "runs", "seeds", "resources", "retries")
RESOURCE_KEYS = ("num_cpus", "num_gpus")
PRESET = "preset"
# Set per run by the sweep (each seed is its own run), never in the settings.
SEED_FIELDS = ("seeds", "seed")
KEY_LENGTH = 60  # characters of the readable part of a configuration's directory name


@dataclasses.dataclass(frozen=True)
class Resources:
    """What Ray reserves for each run: CPUs and a GPU (a fraction shares one GPU between runs).

    ``threads``, the XLA CPU threads a run starts with, is ``num_cpus`` rounded down (at least 1),
    so that runs placed side by side do not each spread over every core."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "num_cpus", validate.positive_number("resources.num_cpus", self.num_cpus))
        object.__setattr__(self, "num_gpus", validate.non_negative_number("resources.num_gpus", self.num_gpus))
        for name in RESOURCE_KEYS:  # Ray's rule: a quantity above 1 is a whole number
            value = getattr(self, name)
            if value > 1 and not value.is_integer():
                raise ValueError(f"resources.{name} must be at most 1 or a whole number (Ray shares a unit between "
                                 f"runs only as a fraction of one), got {value:g}.")

    @property
    def threads(self) -> int:
        return max(1, math.floor(self.num_cpus))


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A sweep as written in its YAML file (see the module docstring), checked but not yet expanded.

    ``grid`` keeps the file's order as (field, values) pairs; ``base`` and ``runs`` are frozen
    mappings; ``source`` names where the spec came from, for messages."""

    command: str
    out: str
    base: FrozenDict = dataclasses.field(default_factory=FrozenDict)
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    runs: tuple[FrozenDict, ...] = ()
    seeds: tuple[int, ...] = (0,)
    resources: Resources = dataclasses.field(default_factory=Resources)
    retries: int = 1
    source: str = "sweep spec"

    def __post_init__(self):
        validate.choice("command", self.command, COMMANDS)
        if not isinstance(self.out, str) or not self.out.strip():
            raise ValueError(f"{self.source}: out must be the sweep directory (a non-empty path), got {self.out!r}.")
        fields = _fields(self.command)
        object.__setattr__(self, "base", FrozenDict(_settings(self.base, "base", fields, self.source)))
        object.__setattr__(self, "grid", _grid(self.grid, fields, self.source))
        object.__setattr__(self, "runs", _runs(self.runs, fields, self.source))
        object.__setattr__(self, "seeds", _seeds(self.seeds, self.source))
        if not isinstance(self.resources, Resources):
            raise ValueError(f"{self.source}: resources must be a Resources, got {self.resources!r}.")
        object.__setattr__(self, "retries", validate.non_negative_int("retries", self.retries))


def load_spec(path: str) -> SweepSpec:
    """The `SweepSpec` in the YAML file ``path`` (``out`` defaults to runs/<file name without .yaml>)."""
    values = config_lib.load_yaml(path)
    default_out = os.path.join("runs", os.path.splitext(os.path.basename(path))[0])
    return spec_from_dict(values, source=path, default_out=default_out)


def spec_from_dict(values: Mapping[str, Any], *, source: str = "sweep spec", default_out: str | None = None) -> SweepSpec:
    """A `SweepSpec` from a mapping (a parsed YAML file); unknown keys refused with the valid ones."""
    if not isinstance(values, Mapping):
        raise ValueError(f"{source} must be a mapping of {', '.join(SPEC_KEYS)}, got {type(values).__name__}.")
    config_lib.refuse_unknown_keys(values, SPEC_KEYS, source)
    if "command" not in values:
        raise ValueError(f"{source}: command is missing; give command: train or command: predict.")
    out = values.get("out", default_out)
    if out is None:
        raise ValueError(f"{source}: out is missing; give the sweep directory, e.g. out: runs/my-sweep.")
    grid = values.get("grid")
    if grid is not None:
        if not isinstance(grid, Mapping):
            raise ValueError(f"{source}: grid must be a mapping of field -> list of values, e.g. "
                             f"{{env: [jax/CountRecallEasy, jax/RepeatFirstEasy]}}, got {grid!r}.")
        if not grid:
            raise ValueError(f"{source}: grid is empty; give at least one field with a list of values, or leave "
                             "grid out (the runs list, or base alone, is then the sweep).")
        grid = tuple(grid.items())
    runs = values.get("runs")
    if runs is not None and (isinstance(runs, (str, Mapping)) or not isinstance(runs, Sequence)):
        raise ValueError(f"{source}: runs must be a list of settings, e.g. [{{label: GRU, ppo: {{cell: gru}}}}], "
                         f"got {runs!r}.")
    if runs is not None and not runs:
        raise ValueError(f"{source}: runs is an empty list; give at least one entry, or leave runs out.")
    resources = values.get("resources") or {}
    if not isinstance(resources, Mapping):
        raise ValueError(f"{source}: resources must be a mapping such as {{num_cpus: 1, num_gpus: 0}}, "
                         f"got {resources!r}.")
    config_lib.refuse_unknown_keys(resources, RESOURCE_KEYS, f"{source}: resources")
    seeds = values.get("seeds", 1)
    if isinstance(seeds, list):
        seeds = tuple(seeds)
    base = values.get("base") or {}
    if not isinstance(base, Mapping):
        raise ValueError(f"{source}: base must be a mapping of settings (a preset and/or config fields), "
                         f"got {base!r}.")
    return SweepSpec(command=values["command"], out=out, base=FrozenDict(base), grid=grid or (),
                     runs=tuple(FrozenDict(r) if isinstance(r, Mapping) else r for r in runs or ()), seeds=seeds,
                     resources=Resources(**resources), retries=values.get("retries", 1), source=source)


@dataclasses.dataclass(frozen=True)
class Configuration:
    """One configuration of a sweep (its runs are its seeds).

    Attributes:
      key: its directory under the sweep directory (readable settings, then a hash of the config).
      config: its frozen config (a `TrainConfig` or `PredictionConfig`) with seed 0 and one seed.
      varying: the settings of its grid point and run entry (and comparison learner), in order.
      group: what it learned on (the environment, or the task with its options): one table and one
        figure of the report per group.
      name: how tables and legends show it (made unique within its group).
    """

    key: str
    config: Any
    varying: tuple[tuple[str, Any], ...]
    group: str
    name: str


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    """One (configuration, seed): ``config`` has ``seeds=1, seed=seed``; ``out`` is its run directory
    (an absolute path); ``steps`` the environment steps it runs."""

    command: str
    configuration: Configuration
    seed: int
    config: Any
    out: str
    steps: int

    @property
    def id(self) -> str:
        """``<configuration key>/seed-<seed>``: the run directory relative to the sweep directory."""
        return f"{self.configuration.key}/seed-{self.seed}"


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """A spec expanded: its configurations and runs (seed-major: every configuration's first seed
    comes before any second seed, so a partial sweep already covers every configuration)."""

    spec: SweepSpec
    out: str
    configurations: tuple[Configuration, ...]
    runs: tuple[PlannedRun, ...]

    @property
    def command(self) -> str:
        return self.spec.command


def make_plan(spec: SweepSpec, *, out: str | None = None) -> SweepPlan:
    """Expand ``spec`` into its configurations and runs, building every run's frozen config (each
    config's own validators run here) — before any run starts. ``out`` replaces ``spec.out``."""
    out = spec.out if out is None else out
    if not isinstance(out, str) or not out.strip():
        raise ValueError(f"the sweep directory (out) must be a non-empty path, got {out!r}.")
    built = _configurations(spec)
    seen: dict[str, tuple[tuple[str, Any], ...]] = {}
    for digest, _, varying in built:
        if digest in seen:
            raise ValueError(f"{spec.source}: two configurations resolve to the same config ({_show(seen[digest])} "
                             f"and {_show(varying)}); a grid field and a run entry probably set the same field. "
                             "Remove one of them.")
        seen[digest] = varying
    configurations = _name(spec.command, built)
    root = os.path.abspath(out)  # a Ray worker on another node starts in another directory
    runs = tuple(PlannedRun(spec.command, c, s, dataclasses.replace(c.config, seed=s),
                            os.path.join(root, c.key, f"seed-{s}"), _steps(spec.command, c.config))
                 for s in spec.seeds for c in configurations)
    return SweepPlan(spec, out, configurations, runs)


def _steps(command: str, config: Any) -> int:
    if command == TRAIN:
        return config.iterations * config.agent_config.rollout_size
    return config.steps


# --- checking the spec -------------------------------------------------------------------------------------------


def _fields(command: str) -> tuple[str, ...]:
    """The config fields of ``command``'s runs (`TrainConfig` or `PredictionConfig`)."""
    return tuple(f.name for f in dataclasses.fields(_config_class(command)))


def _config_class(command: str) -> type:
    if command == TRAIN:
        from rtrl.experiments.train_config import TrainConfig

        return TrainConfig
    from rtrl.experiments.prediction import PredictionConfig

    return PredictionConfig


def _check_field(name: Any, fields: tuple[str, ...], where: str) -> None:
    """``name`` (the first part of a dotted name) must be a config field or ``preset``, and not a seed field."""
    if name in SEED_FIELDS:
        raise ValueError(f"{where}: {name} is set by the sweep (each seed is its own run); give the seeds at the top "
                         "level of the spec, e.g. seeds: 5 or seeds: [0, 1, 2].")
    if name != PRESET and name not in fields:
        close = difflib.get_close_matches(str(name), [*fields, PRESET], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{where}: unknown field {name!r}{hint}; valid: {PRESET}, {', '.join(fields)}.")


def _settings(values: Any, where: str, fields: tuple[str, ...], source: str) -> dict[str, Any]:
    """One layer of settings: a mapping of config fields (and ``preset``)."""
    if not isinstance(values, Mapping):
        raise ValueError(f"{source}: {where} must be a mapping of settings (a preset and/or config fields), "
                         f"got {values!r}.")
    for key in values:
        _check_field(key, fields, f"{source}: {where}")
    return dict(values)


def _grid(grid: Any, fields: tuple[str, ...], source: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    items = tuple(grid.items()) if isinstance(grid, Mapping) else tuple(grid)
    checked = []
    for key, values in items:
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            raise ValueError(f"{source}: grid key {key!r} must be a field name such as env or ppo.hidden_size.")
        _check_field(key.split(".")[0], fields, f"{source}: grid.{key}")
        if "." in key and key.startswith(f"{PRESET}."):
            raise ValueError(f"{source}: grid.{key}: preset takes a name, not fields; use grid.preset: [NAME, ...].")
        if isinstance(values, (str, Mapping)) or not isinstance(values, Sequence):
            raise ValueError(f"{source}: grid.{key} must be a list of values, e.g. [a, b], got {values!r} (a single "
                             "value belongs in base).")
        if not values:
            raise ValueError(f"{source}: grid.{key} is an empty list; give at least one value (an empty grid field "
                             "leaves nothing to run).")
        checked.append((key, tuple(values)))
    return tuple(checked)


def _runs(runs: Any, fields: tuple[str, ...], source: str) -> tuple[FrozenDict, ...]:
    if isinstance(runs, (str, Mapping)) or not isinstance(runs, Sequence):
        raise ValueError(f"{source}: runs must be a list of settings, got {runs!r}.")
    return tuple(FrozenDict(_settings(entry, f"runs[{i}]", fields, source)) for i, entry in enumerate(runs))


def _seeds(seeds: Any, source: str) -> tuple[int, ...]:
    if validate.is_integer(seeds):
        return tuple(range(validate.positive_int("seeds", seeds, what="(a count; or a list of seeds)")))
    if isinstance(seeds, (str, Mapping)) or not isinstance(seeds, Sequence) or not seeds:
        raise ValueError(f"{source}: seeds must be a count (seeds: 5 runs seeds 0..4) or a non-empty list of seeds "
                         f"(seeds: [0, 1, 2]), got {seeds!r}.")
    checked = tuple(validate.non_negative_int(f"seeds[{i}]", s) for i, s in enumerate(seeds))
    repeated = sorted({s for s in checked if checked.count(s) > 1})
    if repeated:
        raise ValueError(f"{source}: seeds lists {', '.join(map(str, repeated))} more than once; each seed is run "
                         "once per configuration.")
    return checked


# --- expanding it ------------------------------------------------------------------------------------------------


def _thaw(value: Any) -> Any:
    """FrozenDicts and tuples back to dicts and lists (what the config layer reads from YAML)."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def _dotted(key: str, value: Any) -> dict[str, Any]:
    """``ppo.hidden_size``, 4 -> {"ppo": {"hidden_size": 4}}."""
    head, _, rest = key.partition(".")
    return {head: _dotted(rest, value) if rest else value}


def _merge(lower: dict[str, Any], upper: Mapping[str, Any]) -> dict[str, Any]:
    """``upper`` over ``lower``: mappings merged key by key, anything else replaced."""
    merged = dict(lower)
    for key, value in upper.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _sections() -> tuple[str, ...]:
    from rtrl.agents.families import FAMILIES

    return tuple(f.section for f in FAMILIES)


def _layer(lower: dict[str, Any], upper: Mapping[str, Any], command: str) -> dict[str, Any]:
    """Merge one layer; for training, a layer giving an agent family's section drops the other
    families' sections under it (the most specific layer chooses the agent family)."""
    if command == TRAIN:
        given = [s for s in _sections() if upper.get(s) is not None]
        if given:
            lower = {k: v for k, v in lower.items() if k not in _sections() or k in given}
    return _merge(lower, upper)


def _preset_layers(command: str, name: str | None, values: Mapping[str, Any],
                   where: str) -> list[tuple[dict[str, Any], tuple[tuple[str, Any], ...]]]:
    """The bottom layer(s) a preset gives, each with what it adds to the configuration's description:
    a training preset is one layer; a prediction comparison one layer per learner (its label)."""
    if name is None:
        return [({}, ())]
    if not isinstance(name, str):
        raise ValueError(f"{where}: preset must be a name, got {name!r}.")
    try:
        if command == TRAIN:
            from rtrl.experiments import training_presets

            return [(training_presets.get(name), ())]
        from rtrl.experiments import presets

        steps = values.get("steps")
        entries = presets.make(name, steps=steps if validate.is_integer(steps) else None, seeds=1, seed=0)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    layers = []
    for entry in entries:
        settings = {k: v for k, v in config_lib.to_dict(entry.config).items() if k not in SEED_FIELDS}
        layers.append((settings, (("learner", entry.config.label),) if entry.config.label else ()))
    return layers


def _configurations(spec: SweepSpec) -> list[tuple[str, Any, tuple[tuple[str, Any], ...]]]:
    """(digest, config, varying) of every configuration, in the order grid point × run entry × preset learner."""
    points = list(itertools.product(*[[(key, v) for v in values] for key, values in spec.grid]))
    entries = spec.runs or (FrozenDict(),)
    base = _thaw(spec.base)
    built = []
    for point in points:
        point_layer: dict[str, Any] = {}
        for key, value in point:
            point_layer = _merge(point_layer, _dotted(key, _thaw(value)))
        for index, entry in enumerate(entries):
            entry_layer = _thaw(entry)
            varying = tuple(point) + _entry_description(entry_layer)
            where = f"{spec.source}: configuration {_show(varying)}" if varying else f"{spec.source}: base"
            layers = [base, point_layer, entry_layer]
            preset = next((layer[PRESET] for layer in reversed(layers) if PRESET in layer), None)
            settings: dict[str, Any] = {}
            for layer in layers:
                settings = _layer(settings, {k: v for k, v in layer.items() if k != PRESET}, spec.command)
            for preset_values, learner in _preset_layers(spec.command, preset, settings, where):
                values = _layer(dict(preset_values), settings, spec.command)
                config = _build(spec.command, values, f"{where}{' ' + _show(learner) if learner else ''}")
                built.append((_digest(config), config, varying + learner))
    return built


def _entry_description(entry: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """What a run entry adds to a configuration's description: its label, else its settings flattened."""
    if entry.get("label"):
        return (("label", entry["label"]),)
    return tuple(_flatten(entry))


def _flatten(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items = []
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            items += _flatten(value, f"{prefix}{key}.")
        else:
            items.append((f"{prefix}{key}", value))
    return items


def _show(varying: Sequence[tuple[str, Any]]) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in varying) + ")"


def _build(command: str, values: dict[str, Any], where: str) -> Any:
    """The configuration's frozen config (seed 0, one seed), its own validators run."""
    values = {**values, "seeds": 1, "seed": 0}
    if command == TRAIN and any(isinstance(values.get(s), Mapping) and values[s].get("dtype") == "float64"
                                for s in _sections()):
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 parameters need JAX's 64-bit mode (as rtrl train)
    try:
        return config_lib.from_dict(_config_class(command), values, where=where)
    except ValueError as e:
        message = str(e)
        raise ValueError(message if message.startswith(where) else f"{where}: {message}") from None


def _digest(config: Any) -> str:
    """SHA-1 of the resolved config (seed 0) as canonical JSON: the same config, the same digest."""
    text = json.dumps(config_lib.to_dict(dataclasses.replace(config, seed=0)), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def _group(command: str, config: Any) -> str:
    if command == TRAIN:
        options = dict(config.env_options)
    else:
        options = dict(config.task_options)
    what = config.env if command == TRAIN else config.task
    return f"{what} ({', '.join(f'{k} {v}' for k, v in options.items())})" if options else what


def _base_name(command: str, config: Any) -> str:
    if config.label:
        return config.label
    return config.agent_config.describe() if command == TRAIN else config.name


def _name(command: str, built: list[tuple[str, Any, tuple[tuple[str, Any], ...]]]) -> tuple[Configuration, ...]:
    """Keys and display names; a name two configurations of a group share gets the settings in which
    they differ appended."""
    from rtrl.experiments.comparison import slug

    rows = []
    for digest, config, varying in built:
        readable = "_".join(slug(str(v)) for _, v in varying)[:KEY_LENGTH].strip("-_.")
        key = f"{readable}-{digest[:8]}" if readable else digest[:8]
        rows.append((key, config, varying, _group(command, config), _base_name(command, config)))
    configurations = []
    for key, config, varying, group, name in rows:
        twins = [r for r in rows if r[3] == group and r[4] == name]
        if len(twins) > 1:
            differing = [(k, v) for k, v in varying
                         if any(dict(t[2]).get(k, _MISSING) != v for t in twins if t[0] != key)]
            name = f"{name} {_show(differing or (('key', key),))}"
        configurations.append(Configuration(key, config, varying, group, name))
    return tuple(configurations)


_MISSING = object()
