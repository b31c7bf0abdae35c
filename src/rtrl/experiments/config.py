"""Frozen dataclass configs: read from YAML or flags, written back, unknown keys refused.

A config class is a frozen dataclass whose fields carry a help text in ``metadata["help"]`` and
validate themselves in ``__post_init__``. This module turns such a class into command-line flags
(one ``--field-name`` per field, help included), builds an instance from a dict (a YAML file,
then the flags on top), and writes it back as YAML, so that a run directory's ``config.yaml``
reproduces the run.

Numbers are read as YAML 1.2 reads them, in files and in flags alike: ``3e-4`` and ``1e6`` are
numbers (PyYAML's YAML 1.1 would read them as strings), ``.inf``, ``inf`` and ``.nan`` are the
non-finite floats that the validators then refuse, and an integral float such as ``1e6`` is
accepted where an integer is asked for.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading an exponent without a decimal point (``3e-4``, ``1E6``) as a float."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))

# Spellings of the non-finite floats besides YAML's own .inf/.nan: what a user types as a flag.
_NON_FINITE = re.compile(r"^[-+]?(?:\.?inf|infinity|\.?nan)$", re.IGNORECASE)


def parse_yaml(text: str) -> Any:
    """``text`` as YAML, with numbers read as in YAML 1.2 (``3e-4`` is a float)."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def field(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with a help text (shown by ``--help``)."""
    if isinstance(default, (list, dict)):
        raise TypeError("use a tuple or a default_factory for mutable defaults")
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


def refuse_unknown_keys(values: Mapping[str, Any], valid: Sequence[str], where: str) -> None:
    """A ValueError naming the keys of ``values`` not in ``valid`` (each with its closest valid key) and the
    valid keys, if there are any."""
    unknown = [k for k in values if k not in valid]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(str(k), list(valid), n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(f"{where}: unknown key(s) {', '.join(hints)}; valid keys: {', '.join(valid)}.")


def from_dict(cls: type[T], values: Mapping[str, Any], *, where: str = "config") -> T:
    """Build ``cls`` from ``values``; unknown keys are refused with the list of valid ones."""
    if not isinstance(values, Mapping):
        raise ValueError(f"{where} must be a mapping of field names to values, got {type(values).__name__}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    refuse_unknown_keys(values, list(fields), where)
    hints_by_name = typing.get_type_hints(cls)
    kwargs = {k: _coerce(v, hints_by_name[k], f"{where}.{k}") for k, v in values.items()}
    return cls(**kwargs)


def to_dict(config: Any) -> dict[str, Any]:
    """Plain dict (tuples as lists) for YAML/JSON."""

    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, Mapping):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(config)


def load_yaml(path: str) -> dict[str, Any]:
    """The mapping a YAML config file holds; an empty file (or one of comments only) is refused,
    so that a wrong or truncated file never silently runs the defaults."""
    try:
        with open(path) as f:
            values = parse_yaml(f.read())
    except FileNotFoundError:
        raise ValueError(f"config file {path!r} does not exist.") from None
    except IsADirectoryError:
        raise ValueError(f"config file {path!r} is a directory, not a YAML file.") from None
    except UnicodeDecodeError:
        raise ValueError(f"config file {path!r} is not a text (YAML) file.") from None
    except yaml.YAMLError as e:
        raise ValueError(f"config file {path!r} is not valid YAML: {e}") from None
    if values is None:
        raise ValueError(f"config file {path!r} is empty (no key: value lines); give the fields to set, "
                         "or leave --config out to use the defaults.")
    if not isinstance(values, dict):
        raise ValueError(f"config file {path!r} must hold a mapping of keys to values, got "
                         f"{type(values).__name__}.")
    return values


def merge(base: Mapping[str, Any], override: Mapping[str, Any], *, nested: tuple[str, ...] = (),
          where: str = "config") -> dict[str, Any]:
    """``base`` updated by ``override``; the keys in ``nested`` (nested configs, e.g. ``ppo``) are
    merged field by field. A nested key that is not a mapping is refused, naming it."""
    merged = dict(base)
    for key, value in override.items():
        if key in nested and value is not None:
            if not isinstance(value, Mapping):
                raise ValueError(f"{where}.{key} must be a mapping of its fields (e.g. {key}: {{name: value}}), "
                                 f"got {value!r}.")
            previous = merged.get(key) or {}
            if not isinstance(previous, Mapping):
                raise ValueError(f"{where}.{key} must be a mapping of its fields, got {previous!r}.")
            merged[key] = {**previous, **value}
        else:
            merged[key] = value
    return merged


def save_yaml(config: Any, path: str) -> None:
    with open(path, "w") as f:
        yaml.safe_dump(to_dict(config), f, sort_keys=False)


def add_arguments(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of ``cls``, defaulting to None (so that only flags given override a file)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = flag_name(f.name)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = f"{f.metadata.get('help', '')} (default: {show_default(default)})"
        kind = _base(hints[f.name])
        if kind is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
        elif kind is tuple or kind is dict or kind is Mapping:
            parser.add_argument(flag, dest=f.name, default=None, type=_yaml_value, metavar="VALUE",
                                help=help_text + "; a YAML value, e.g. '[7, 13]' or '{activation: tanh}'")
        else:
            parser.add_argument(flag, dest=f.name, default=None, type=_yaml_value, metavar=f.name.upper(),
                                help=help_text)


def overrides(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` given on the command line."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
            if getattr(args, f.name, None) is not None}


def _yaml_value(text: str) -> Any:
    try:
        return parse_yaml(text)
    except yaml.YAMLError:
        return text


def flag_name(field_name: str) -> str:
    """The command-line flag of a config field: ``lambda_`` → ``--lambda``, ``hidden_size`` → ``--hidden-size``."""
    return "--" + field_name.rstrip("_").replace("_", "-")


def show_default(v: Any) -> str:
    """A default as ``--help`` shows it: None as "none", tuples as lists, mappings as {...}."""
    if v is None:
        return "none"
    if isinstance(v, Mapping):
        return str(dict(v))
    return str(list(v) if isinstance(v, tuple) else v)


def _base(hint: Any) -> Any:
    """int | None -> int; tuple[int, int] -> tuple; dict[...] -> dict."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _base(args[0]) if len(args) == 1 else object
    return origin or hint


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Lists (from YAML) become tuples; numbers written as text ("3e-4", "inf") become numbers for
    numeric fields, ints are accepted for floats and integral floats (1e6) for ints; a nested config
    or an option mapping must be a mapping. Everything else is left to the config's __post_init__."""
    kind = _base(hint)
    if value is None:
        return None
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        if isinstance(value, kind):
            return value
        return from_dict(kind, value, where=where)  # a nested config, e.g. {ppo: {cell: gru}}
    if isinstance(value, list):  # configs are frozen and hashable: sequences are tuples
        return tuple(value)
    if kind in (int, float) and isinstance(value, str):
        value = _number(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if kind in (dict, Mapping) and not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a mapping of names to values (e.g. {{name: value}}), got {value!r}.")
    return value


def _number(text: str) -> Any:
    """``text`` as a number if it is one in YAML 1.2 or a spelling of inf/nan; else ``text``."""
    stripped = text.strip()
    if _NON_FINITE.match(stripped):
        return float(stripped.replace(".", ""))
    try:
        value = parse_yaml(stripped)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else text
