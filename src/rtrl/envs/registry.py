"""The explicit registry of environment names and `make`.

Nothing registers itself on import: every name is listed here, and the back-end behind it
(popgym, gymnasium MuJoCo, ale-py) is imported only when the name is made.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from rtrl.envs.host import GymnasiumEnvs, HostEnv
from rtrl.envs.jax_env import JaxEnv, VmapEnv

__all__ = ["EnvSpec", "make", "names", "spec"]


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """One registry entry.

    Attributes:
      name: ``family/Task``, e.g. ``"jax/CountRecallEasy"``.
      backend: ``"jax"`` (pure functions, `JaxEnv`) or ``"host"`` (gymnasium, `HostEnv`).
      options: the keyword options `make` accepts, with their defaults.
      extra: the install extra the environment needs (``"atari"``), or None.
      description: one line.
    """

    name: str
    backend: str
    options: Mapping[str, Any]
    build: Callable[..., Any]
    extra: str | None = None
    description: str = ""


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"option {name} must be a bool, got {type(value).__name__} {value!r}")
    return value


def _check_count(name: str, value: Any, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"option {name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")
    return value


# --- builders ----------------------------------------------------------------------------------
def _build_jax(level: str) -> Callable[..., JaxEnv]:
    def build(*, previous_action: bool, num_envs: int | None) -> JaxEnv:
        from rtrl.envs.jax_wrappers import PreviousActionReward
        from rtrl.envs.popgym_jax import make_port

        env: JaxEnv = make_port(level)
        if _check_bool("previous_action", previous_action):
            env = PreviousActionReward(env, action=True, reward=False, null_action=0)
        n = _check_count("num_envs", num_envs, allow_none=True)
        return env if n is None else VmapEnv(env, n)

    return build


def _build_popgym(level: str) -> Callable[..., HostEnv]:
    def build(*, previous_action: bool, num_envs: int) -> HostEnv:
        from rtrl.envs.popgym_host import popgym_factory

        factory = popgym_factory(level, previous_action=_check_bool("previous_action", previous_action))
        return GymnasiumEnvs([factory] * _check_count("num_envs", num_envs), name=f"popgym/{level}")

    return build


def _build_mujoco(robot: str, part: str | None) -> Callable[..., HostEnv]:
    def build(*, num_envs: int, max_episode_steps: int) -> HostEnv:
        from rtrl.envs.mujoco import mujoco_factory

        factory = mujoco_factory(robot, part, max_episode_steps=_check_count("max_episode_steps", max_episode_steps))
        suffix = "" if part is None else f"-{part}"
        return GymnasiumEnvs([factory] * _check_count("num_envs", num_envs), name=f"mujoco/{robot}{suffix}")

    return build


def _build_reacher_memory(*, num_envs: int, reveal_steps: int, max_episode_steps: int) -> HostEnv:
    from rtrl.envs.mujoco import reacher_memory_factory

    factory = reacher_memory_factory(
        reveal_steps=reveal_steps, max_episode_steps=_check_count("max_episode_steps", max_episode_steps)
    )
    return GymnasiumEnvs([factory] * _check_count("num_envs", num_envs), name="mujoco/Reacher-Memory")


def _build_atari(game: str) -> Callable[..., HostEnv]:
    def build(
        *, num_envs: int, frame_stack: int, sticky_actions: float, noop_max: int, terminal_on_life_loss: bool
    ) -> HostEnv:
        from rtrl.envs.atari import atari_factory

        factory = atari_factory(
            game,
            frame_stack=frame_stack,
            sticky_actions=sticky_actions,
            noop_max=noop_max,
            terminal_on_life_loss=_check_bool("terminal_on_life_loss", terminal_on_life_loss),
        )
        return GymnasiumEnvs([factory] * _check_count("num_envs", num_envs), flatten_obs=False, name=f"atari/{game}")

    return build


def _registry() -> dict[str, EnvSpec]:
    from rtrl.envs.atari import GAMES
    from rtrl.envs.popgym_host import level_names
    from rtrl.envs.popgym_jax import PORTS

    r: dict[str, EnvSpec] = {}

    def add(s: EnvSpec) -> None:
        r[s.name] = s

    for level in PORTS:
        add(
            EnvSpec(
                f"jax/{level}",
                "jax",
                MappingProxyType({"previous_action": False, "num_envs": None}),
                _build_jax(level),
                None,
                f"JAX-native port of popgym {level}",
            )
        )
    for level in level_names():
        add(
            EnvSpec(
                f"popgym/{level}",
                "host",
                MappingProxyType({"previous_action": False, "num_envs": 1}),
                _build_popgym(level),
                None,
                f"popgym {level} (popgym package)",
            )
        )
    mujoco_opts = MappingProxyType({"num_envs": 1, "max_episode_steps": 1000})
    for robot in ("Hopper", "Walker2d", "HalfCheetah", "Ant"):
        add(
            EnvSpec(
                f"mujoco/{robot}",
                "host",
                mujoco_opts,
                _build_mujoco(robot, None),
                None,
                f"{robot}-v5, full observation",
            )
        )
        add(
            EnvSpec(
                f"mujoco/{robot}-P", "host", mujoco_opts, _build_mujoco(robot, "P"), None, f"{robot}-v5, positions only"
            )
        )
        add(
            EnvSpec(
                f"mujoco/{robot}-V",
                "host",
                mujoco_opts,
                _build_mujoco(robot, "V"),
                None,
                f"{robot}-v5, velocities only",
            )
        )
    add(
        EnvSpec(
            "mujoco/Reacher",
            "host",
            MappingProxyType({"num_envs": 1, "max_episode_steps": 50}),
            _build_mujoco("Reacher", None),
            None,
            "Reacher-v5, full observation",
        )
    )
    add(
        EnvSpec(
            "mujoco/Reacher-Memory",
            "host",
            MappingProxyType({"num_envs": 1, "reveal_steps": 1, "max_episode_steps": 50}),
            _build_reacher_memory,
            None,
            "Reacher-v5 with the target shown only at the episode's start",
        )
    )
    atari_opts = MappingProxyType(
        {"num_envs": 1, "frame_stack": 1, "sticky_actions": 0.25, "noop_max": 30, "terminal_on_life_loss": False}
    )
    for game in GAMES:
        add(EnvSpec(f"atari/{game}", "host", atari_opts, _build_atari(game), "atari", f"Atari {game} (ale-py)"))
    return r


_REGISTRY: dict[str, EnvSpec] | None = None


def _get() -> dict[str, EnvSpec]:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _registry()
    return _REGISTRY


def names(family: str | None = None) -> list[str]:
    """Every registered name, or those of one family (``"jax"``, ``"popgym"``, ``"mujoco"``, ``"atari"``)."""
    all_names = list(_get())
    if family is None:
        return all_names
    families = sorted({n.split("/")[0] for n in all_names})
    if family not in families:
        raise ValueError(f"unknown family {family!r}; valid: {', '.join(families)}")
    return [n for n in all_names if n.startswith(family + "/")]


def _unknown(name: str) -> ValueError:
    reg = _get()
    m = re.fullmatch(r"(.+)-([PV])", name)
    if m and (m.group(1) in reg):
        from rtrl.envs.mujoco import SPLITS

        return ValueError(
            f"{m.group(1)!r} has no -P/-V split; environments with one: "
            + ", ".join(f"mujoco/{r}-P, mujoco/{r}-V" for r in SPLITS)
        )
    candidates = list(reg)
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    if not close and "/" not in name:
        # a bare task name: match it against the part after the family
        tails = {n.split("/", 1)[1]: n for n in candidates}
        close = [tails[t] for t in difflib.get_close_matches(name, list(tails), n=3, cutoff=0.6)]
        close += [n for n in candidates if n.split("/", 1)[1] == name and n not in close]
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    families = sorted({n.split("/")[0] for n in candidates})
    return ValueError(
        f"unknown environment {name!r}.{hint} Names are family/Task with family one of {', '.join(families)}; "
        "rtrl.envs.names() lists them all."
    )


def spec(name: str) -> EnvSpec:
    """The registry entry of ``name`` (ValueError with close matches if unknown)."""
    if not isinstance(name, str):
        raise TypeError(f"environment name must be a str, got {type(name).__name__}")
    reg = _get()
    if name not in reg:
        raise _unknown(name)
    return reg[name]


def make(name: str, **options: Any) -> JaxEnv | HostEnv:
    """Make the environment registered as ``name``.

    ``jax/*`` names give a `JaxEnv` (a `VmapEnv` of ``num_envs`` copies when ``num_envs`` is set);
    every other name gives a `HostEnv` batch of ``num_envs`` (default 1) gymnasium envs.
    ``spec(name).options`` lists the options and their defaults.
    """
    s = spec(name)
    unknown = sorted(set(options) - set(s.options))
    if unknown:
        raise ValueError(
            f"{name} does not take option(s) {', '.join(unknown)}; its options are: "
            + ", ".join(f"{k}={v!r}" for k, v in s.options.items())
        )
    return s.build(**{**s.options, **options})
