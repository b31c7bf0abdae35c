"""The registry of environment names, `make`, `check`, and the listing (`names`, `families`).

Nothing registers itself on import: every curated name is listed here, and the back-end behind it
(popgym, gymnasium MuJoCo, ale-py, envpool, gymnax) is imported only when the name is made. The ``gymnasium``
family is open: ``gymnasium/<id>`` is any id of gymnasium's own registry (``gymnasium/CartPole-v1``),
resolved when asked for.

A name's options are checked (`check`) before anything is built: unknown options, values of the
wrong type and a missing optional dependency each raise ``ValueError`` naming the environment, the
option and what is valid (a missing dependency raises `MissingExtraError`, a ValueError and an
ImportError, with the install command).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping
from importlib.util import find_spec
from typing import Any, NamedTuple

from rtrl import validate
from rtrl.envs.atari import ATARI_INSTALL, ATARI_REQUIRES
from rtrl.envs.envpool_envs import ENVPOOL_INSTALL, ENVPOOL_REQUIRES
from rtrl.envs.errors import MissingExtraError
from rtrl.envs.host import GymnasiumEnvs, HostEnv
from rtrl.envs.jax_env import JaxEnv, VmapEnv
from rtrl.frozendict import FrozenDict

__all__ = ["EnvSpec", "Family", "Requirement", "check", "families", "make", "names", "spec"]

Check = Callable[[str, Any], Any]  # (label, value) -> canonical value; raises ValueError naming label


class Requirement(NamedTuple):
    """What an environment needs installed for some options (`EnvSpec.requirement`)."""

    extra: str | None  # the optional dependency group, e.g. "atari"
    requires: tuple[tuple[str, str], ...]  # (module, package) pairs that must be importable
    install: str  # the command that installs them
    when: str = ""  # the options that call for it, for messages: " with backend='envpool'"


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """One registry entry.

    Attributes:
      name: ``family/Task``, e.g. ``"jax/CountRecallEasy"``.
      backend: ``"jax"`` (pure functions, `JaxEnv`) or ``"host"`` (gymnasium, `HostEnv`).
      options: the keyword options `make` accepts, with their defaults.
      build: ``build(**options)`` makes the environment (options already checked).
      extra: the optional dependency group the environment needs (``"atari"``), or None.
      description: one line.
      checks: one check per option (``(label, value) -> value``, ValueError naming ``label``).
      requires: ``(module, package)`` pairs that must be importable.
      install: the command that installs what ``requires`` names.
      requirement_for: when what is needed depends on the options (``atari``'s ``backend``): the
        checked options -> `Requirement`; ``extra``/``requires``/``install`` describe the defaults.
      check_together: a check of the options against each other, ``(name, options) -> options``,
        run after the per-option checks (ValueError naming the options).
    """

    name: str
    backend: str
    options: Mapping[str, Any]
    build: Callable[..., Any]
    extra: str | None = None
    description: str = ""
    checks: Mapping[str, Check] = dataclasses.field(default_factory=FrozenDict)
    requires: tuple[tuple[str, str], ...] = ()
    install: str = ""
    requirement_for: Callable[[Mapping[str, Any]], Requirement] | None = None
    check_together: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None

    @property
    def family(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def missing(self) -> tuple[str, ...]:
        """The packages of ``requires`` that are not installed (empty when all are)."""
        return tuple(package for module, package in self.requires if find_spec(module) is None)

    @property
    def installed(self) -> bool:
        """Whether everything the environment needs is installed."""
        return not self.missing

    def requirement(self, options: Mapping[str, Any] | None = None) -> Requirement:
        """What the environment needs installed with ``options`` (checked; the defaults when None)."""
        if self.requirement_for is not None:
            return self.requirement_for({**self.options, **(options or {})})
        return Requirement(self.extra, self.requires, self.install)

    def require(self, options: Mapping[str, Any] | None = None) -> None:
        """Raise `MissingExtraError` (a ValueError) with the install command unless what ``options``
        (checked; the defaults when None) need is installed."""
        need = self.requirement(options)
        missing = tuple(package for module, package in need.requires if find_spec(module) is None)
        if missing:
            what = f"the '{need.extra}' extra" if need.extra else "an optional dependency"
            raise MissingExtraError(
                f"{self.name}{need.when} needs {what} (missing: {', '.join(missing)}): {need.install}"
            )

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Every option of this environment (defaults filled in), checked; ValueError names the option."""
        if not isinstance(options, Mapping):
            raise ValueError(f"options of {self.name} must be a mapping of option names to values, got {options!r}")
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ValueError(
                f"{self.name} does not take option(s) {', '.join(map(str, unknown))}; its options are: "
                + ", ".join(f"{k}={v!r}" for k, v in self.options.items())
            )
        values = {**self.options, **options}
        checked = {k: self.checks[k](f"{self.name}: option {k}", v) if k in self.checks else v
                   for k, v in values.items()}
        return checked if self.check_together is None else self.check_together(self.name, checked)


class Family(NamedTuple):
    """A family of environment names, for listings."""

    name: str  # "jax"
    pattern: str  # "jax/<Task>"; "gymnasium/<id>" for the open gymnasium family
    description: str
    extra: str | None  # optional dependency group, or None
    installed: bool  # whether its dependencies are importable


# --- option checks (rtrl.validate, with the option and the environment in every message) --------
def _positive_int(label: str, value: Any) -> int:
    return validate.positive_int(label, value)


def _optional_positive_int(label: str, value: Any) -> int | None:
    return None if value is None else validate.positive_int(label, value, what="(or None)")


def _probability(label: str, value: Any) -> float:
    return validate.number_in(label, value, 0.0, 1.0, what="(a probability)")


def _hidden_part(label: str, value: Any) -> str | None:
    from rtrl.envs.wrappers import HIDDEN_PARTS

    return None if value is None else validate.choice(label, value, HIDDEN_PARTS)


RENDER_MODES = ("rgb_array", "human")


def _render_mode(label: str, value: Any) -> str | None:
    return None if value is None else validate.choice(label, value, RENDER_MODES)


def _make_kwargs(label: str, value: Any) -> FrozenDict:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{label} must be a mapping of gymnasium.make keyword arguments, e.g. "
                         f"{{'max_episode_steps': 200}}, got {value!r}")
    return FrozenDict(value)


NUM_ENVS = {"num_envs": _positive_int}


# --- builders ----------------------------------------------------------------------------------
def _build_jax(level: str) -> Callable[..., JaxEnv]:
    def build(*, previous_action: bool, num_envs: int | None) -> JaxEnv:
        from rtrl.envs.popgym_jax import make_port
        from rtrl.envs.wrappers import previous_action_reward

        env: JaxEnv = make_port(level)
        if previous_action:
            env = previous_action_reward(env, action=True, reward=False, null_action=0)
        return env if num_envs is None else VmapEnv(env, num_envs)

    return build


def _build_memory_chain(*, length: int, num_bits: int, previous_action: bool, num_envs: int | None) -> JaxEnv:
    from rtrl.envs.memory_chain import MemoryChain
    from rtrl.envs.wrappers import previous_action_reward

    env: JaxEnv = MemoryChain(length=length, num_bits=num_bits)
    if previous_action:
        env = previous_action_reward(env, action=True, reward=False, null_action=0)
    return env if num_envs is None else VmapEnv(env, num_envs)


def _build_popgym(level: str) -> Callable[..., HostEnv]:
    def build(*, previous_action: bool, num_envs: int) -> HostEnv:
        from rtrl.envs.popgym_host import popgym_factory

        factory = popgym_factory(level, previous_action=previous_action)
        return GymnasiumEnvs([factory] * num_envs, name=f"popgym/{level}")

    return build


def _build_mujoco(robot: str, part: str | None) -> Callable[..., HostEnv]:
    def build(*, num_envs: int, max_episode_steps: int, render_mode: str | None, backend: str = "gymnasium") -> HostEnv:
        from rtrl.envs.wrappers import hide

        env: HostEnv
        if backend == "envpool":
            from rtrl.envs.envpool_mujoco import EnvpoolMujoco

            env = EnvpoolMujoco(robot, num_envs, max_episode_steps=max_episode_steps)
        else:
            from rtrl.envs.mujoco import mujoco_factory

            factory = mujoco_factory(robot, max_episode_steps=max_episode_steps, render_mode=render_mode)
            env = GymnasiumEnvs([factory] * num_envs, name=f"mujoco/{robot}")
        return env if part is None else hide(env, "velocities" if part == "P" else "positions")

    return build


def _mujoco_requirement(options: Mapping[str, Any]) -> Requirement:
    if options["backend"] == "envpool":
        return Requirement("envpool", ENVPOOL_REQUIRES, ENVPOOL_INSTALL, " with backend='envpool'")
    return Requirement(None, (), "")


def _mujoco_check_together(name: str, options: dict[str, Any]) -> dict[str, Any]:
    from rtrl.envs.envpool_mujoco import ENVPOOL_ROBOTS

    robot = name.split("/", 1)[1].split("-", 1)[0]
    if options["backend"] == "envpool" and robot not in ENVPOOL_ROBOTS:
        raise ValueError(f"{name}: option backend='envpool' is not available for {robot} (envpool's {robot}-v5 "
                         f"is not gymnasium's: rtrl.envs.envpool_mujoco); robots on envpool: "
                         f"{', '.join(ENVPOOL_ROBOTS)}. Use backend='gymnasium'.")
    if options["backend"] == "envpool" and options["render_mode"] is not None:
        raise ValueError(f"{name}: option render_mode is not available with backend='envpool'; use "
                         "backend='gymnasium' to render")
    return options


def _build_reacher_memory(*, num_envs: int, reveal_steps: int, max_episode_steps: int,
                          render_mode: str | None) -> HostEnv:
    from rtrl.envs.mujoco import reacher_memory_factory

    factory = reacher_memory_factory(reveal_steps=reveal_steps, max_episode_steps=max_episode_steps,
                                     render_mode=render_mode)
    return GymnasiumEnvs([factory] * num_envs, name="mujoco/Reacher-Memory")


def _build_atari(game: str) -> Callable[..., HostEnv]:
    def build(*, num_envs: int, frame_stack: int, sticky_actions: float, noop_max: int,
              terminal_on_life_loss: bool, max_episode_steps: int, backend: str) -> HostEnv:
        if backend == "envpool":
            from rtrl.envs.envpool_atari import EnvpoolAtari

            return EnvpoolAtari(game, num_envs, frame_stack=frame_stack, sticky_actions=sticky_actions,
                                noop_max=noop_max, max_episode_steps=max_episode_steps)
        from rtrl.envs.atari import atari_factory

        factory = atari_factory(game, frame_stack=frame_stack, sticky_actions=sticky_actions, noop_max=noop_max,
                                terminal_on_life_loss=terminal_on_life_loss, max_episode_steps=max_episode_steps)
        return GymnasiumEnvs([factory] * num_envs, flatten_obs=False, name=f"atari/{game}")

    return build


def _atari_requirement(options: Mapping[str, Any]) -> Requirement:
    if options["backend"] == "envpool":
        return Requirement("envpool", ENVPOOL_REQUIRES, ENVPOOL_INSTALL, " with backend='envpool'")
    return Requirement("atari", ATARI_REQUIRES, ATARI_INSTALL)


def _atari_check_together(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """What the envpool back-end cannot reproduce of the ale path is refused (see `rtrl.envs.envpool_atari`)."""
    if options["backend"] == "envpool":
        if options["noop_max"] == 0:
            raise ValueError(f"{name}: option noop_max must be at least 1 with backend='envpool' (envpool 1.2.5 "
                             "crashes with 0); got 0. Use backend='ale' for no no-ops at reset.")
        if options["terminal_on_life_loss"]:
            raise ValueError(f"{name}: option terminal_on_life_loss=True is not available with backend='envpool' "
                             "(envpool continues the game after a life loss where the ale path restarts it); "
                             "use backend='ale'")
    return options


def _build_minatar(game: str) -> Callable[..., JaxEnv]:
    def build(*, num_envs: int | None, max_episode_steps: int | None, sticky_actions: float,
              minimal_action_set: bool) -> JaxEnv:
        from rtrl.envs.minatar import MinAtar

        env: JaxEnv = MinAtar(game, max_episode_steps=max_episode_steps, sticky_actions=sticky_actions,
                              minimal_action_set=minimal_action_set)
        return env if num_envs is None else VmapEnv(env, num_envs)

    return build


def _build_mjx(robot: str, part: str | None) -> Callable[..., JaxEnv]:
    def build(*, num_envs: int | None, max_episode_steps: int) -> JaxEnv:
        from rtrl.envs.mjx import MjxLocomotion

        env: JaxEnv = MjxLocomotion(robot, part, max_episode_steps)
        return env if num_envs is None else VmapEnv(env, num_envs)

    return build


def _build_gymnasium(env_id: str) -> Callable[..., HostEnv]:
    def build(*, num_envs: int, max_episode_steps: int | None, hide: str | None, render_mode: str | None,
              make_kwargs: Mapping[str, Any]) -> HostEnv:
        from rtrl.envs import wrappers
        from rtrl.envs.host import from_gymnasium

        kwargs = dict(make_kwargs)
        for key, value in (("max_episode_steps", max_episode_steps), ("render_mode", render_mode)):
            if value is not None:
                if key in kwargs:
                    raise ValueError(f"gymnasium/{env_id}: give {key} as an option or in make_kwargs, not both")
                kwargs[key] = value
        env = from_gymnasium(env_id, num_envs, **kwargs)
        return env if hide is None else wrappers.hide(env, hide)

    return build


# --- the curated registry ----------------------------------------------------------------------
FAMILY_DESCRIPTIONS: dict[str, tuple[str, str, str | None]] = {  # name -> (pattern, description, extra)
    "jax": ("jax/<Task>",
            "JAX-native POPGym ports and bsuite's MemoryChain: pure functions, run inside jit/scan/vmap", None),
    "popgym": ("popgym/<Task>", "every POPGym environment through the popgym package (host)", None),
    "mujoco": ("mujoco/<Robot>[-P|-V]",
               "gymnasium v5 MuJoCo robots; -P positions only, -V velocities only, Reacher-Memory (host)", None),
    "atari": ("atari/<Game>",
              "Atari 2600 games through ale-py (or envpool: backend='envpool'), standard preprocessing (host)",
              "atari"),
    "minatar": ("minatar/<Game>",
                "MinAtar games, gymnax's JAX ports: pure functions, (C, 10, 10) observations, inside jit/scan/vmap",
                "minatar"),
    "mjx": ("mjx/<Robot>[-P|-V]",
            "gymnasium v5 MuJoCo robots on MJX (mujoco-mjx): pure functions, inside jit/scan/vmap, on CPU or "
            "accelerators; -P positions only, -V velocities only", "mjx"),
    "gymnasium": ("gymnasium/<id>",
                  "any id of gymnasium's registry, e.g. gymnasium/CartPole-v1 or gymnasium/Hopper-v5 (host)", None),
}


def _registry() -> dict[str, EnvSpec]:
    from rtrl.envs.atari import GAMES
    from rtrl.envs.atari import BACKENDS, DEFAULT_MAX_EPISODE_STEPS
    from rtrl.envs.memory_chain import DEFAULT_LENGTH
    from rtrl.envs.minatar import CHANNELS, MINATAR_INSTALL, MINATAR_REQUIRES
    from rtrl.envs.minatar import GAMES as MINATAR_GAMES
    from rtrl.envs.mjx import MJX_INSTALL, MJX_REQUIRES
    from rtrl.envs.mjx import ROBOTS as MJX_ROBOTS
    from rtrl.envs.mujoco import BACKENDS as MUJOCO_BACKENDS
    from rtrl.envs.mujoco import SPLITS
    from rtrl.envs.popgym_host import NEEDS_MAZELIB, level_names
    from rtrl.envs.popgym_jax import PORTS

    r: dict[str, EnvSpec] = {}

    def add(s: EnvSpec) -> None:
        r[s.name] = s

    for level in PORTS:
        add(EnvSpec(f"jax/{level}", "jax", FrozenDict(previous_action=False, num_envs=None), _build_jax(level),
                    None, f"JAX-native port of popgym {level}",
                    FrozenDict(previous_action=validate.boolean, num_envs=_optional_positive_int)))
    # bsuite's memory test: length L (the "memory_len" sweep), num_bits > 1 for the "memory_size" sweep
    add(EnvSpec("jax/MemoryChain", "jax",
                FrozenDict(length=DEFAULT_LENGTH, num_bits=1, previous_action=False, num_envs=None),
                _build_memory_chain, None,
                "bsuite MemoryChain: name the context bit shown at t=0 after `length` steps",
                FrozenDict(length=_positive_int, num_bits=_positive_int, previous_action=validate.boolean,
                           num_envs=_optional_positive_int)))
    for level in level_names():
        maze = level.startswith(NEEDS_MAZELIB)
        add(EnvSpec(f"popgym/{level}", "host", FrozenDict(previous_action=False, num_envs=1), _build_popgym(level),
                    "popgym[navigation]" if maze else None, f"popgym {level} (popgym package)",
                    FrozenDict(previous_action=validate.boolean, **NUM_ENVS),
                    (("mazelib", "mazelib"),) if maze else (),
                    "pip install 'popgym[navigation]'" if maze else ""))
    mujoco_checks = FrozenDict(max_episode_steps=_positive_int, render_mode=_render_mode, **NUM_ENVS)

    def add_mujoco(name: str, build: Callable[..., HostEnv], description: str, max_steps: int, **more: Any) -> None:
        add(EnvSpec(name, "host", FrozenDict(num_envs=1, max_episode_steps=max_steps, render_mode=None, **more),
                    build, None, description, FrozenDict(mujoco_checks, **{k: _positive_int for k in more})))

    def add_robot(name: str, build: Callable[..., HostEnv], description: str) -> None:
        # a robot gymnasium and envpool both ship: backend 'gymnasium' (default) or 'envpool'
        add(EnvSpec(name, "host", FrozenDict(num_envs=1, max_episode_steps=1000, render_mode=None,
                                             backend="gymnasium"),
                    build, None, description + " (gymnasium, or envpool with backend='envpool')",
                    FrozenDict(mujoco_checks,
                               backend=lambda label, value: validate.choice(label, value, MUJOCO_BACKENDS)),
                    requirement_for=_mujoco_requirement, check_together=_mujoco_check_together))

    for robot in SPLITS:
        add_robot(f"mujoco/{robot}", _build_mujoco(robot, None), f"{robot}-v5, full observation")
        add_robot(f"mujoco/{robot}-P", _build_mujoco(robot, "P"), f"{robot}-v5, positions only")
        add_robot(f"mujoco/{robot}-V", _build_mujoco(robot, "V"), f"{robot}-v5, velocities only")
    add_mujoco("mujoco/Reacher", _build_mujoco("Reacher", None), "Reacher-v5, full observation", 50)
    add_mujoco("mujoco/Reacher-Memory", _build_reacher_memory,
               "Reacher-v5 with the target shown only at the episode's start", 50, reveal_steps=1)
    atari_options = FrozenDict(num_envs=1, frame_stack=1, sticky_actions=0.25, noop_max=30,
                               terminal_on_life_loss=False, max_episode_steps=DEFAULT_MAX_EPISODE_STEPS,
                               backend="ale")
    atari_checks = FrozenDict(frame_stack=_positive_int, sticky_actions=_probability,
                              noop_max=validate.non_negative_int, terminal_on_life_loss=validate.boolean,
                              max_episode_steps=_positive_int,
                              backend=lambda label, value: validate.choice(label, value, BACKENDS), **NUM_ENVS)
    for game in GAMES:
        add(EnvSpec(f"atari/{game}", "host", atari_options, _build_atari(game), "atari",
                    f"Atari {game} (ale-py, or envpool with backend='envpool')",
                    atari_checks, ATARI_REQUIRES, ATARI_INSTALL, _atari_requirement, _atari_check_together))
    minatar_options = FrozenDict(num_envs=None, max_episode_steps=None, sticky_actions=0.0, minimal_action_set=True)
    minatar_checks = FrozenDict(num_envs=_optional_positive_int, max_episode_steps=_optional_positive_int,
                                sticky_actions=_probability, minimal_action_set=validate.boolean)
    for game in MINATAR_GAMES:
        add(EnvSpec(f"minatar/{game}", "jax", minatar_options, _build_minatar(game), "minatar",
                    f"MinAtar {game} (gymnax's JAX port), observations ({CHANNELS[game]}, 10, 10)",
                    minatar_checks, MINATAR_REQUIRES, MINATAR_INSTALL))
    mjx_options = FrozenDict(num_envs=None, max_episode_steps=1000)
    mjx_checks = FrozenDict(num_envs=_optional_positive_int, max_episode_steps=_positive_int)
    for robot in MJX_ROBOTS:
        for part, what in ((None, "full observation"), ("P", "positions only"), ("V", "velocities only")):
            add(EnvSpec(f"mjx/{robot}" + (f"-{part}" if part else ""), "jax", mjx_options, _build_mjx(robot, part),
                        "mjx", f"{robot}-v5 on MJX, {what}", mjx_checks, MJX_REQUIRES, MJX_INSTALL))
    return r


_REGISTRY: dict[str, EnvSpec] | None = None


def _get() -> dict[str, EnvSpec]:
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _registry()
    return _REGISTRY


# --- the gymnasium family ----------------------------------------------------------------------
GYMNASIUM_OPTIONS = FrozenDict(num_envs=1, max_episode_steps=None, hide=None, render_mode=None,
                               make_kwargs=FrozenDict())
GYMNASIUM_CHECKS = FrozenDict(max_episode_steps=_optional_positive_int, hide=_hidden_part, render_mode=_render_mode,
                              make_kwargs=_make_kwargs, **NUM_ENVS)
# entry-point packages of gymnasium ids that need an optional dependency: (module, package), install
GYMNASIUM_DEPENDENCIES = {
    "gymnasium.envs.box2d": ((("Box2D", "box2d-py"),), "pip install swig && pip install 'gymnasium[box2d]'"),
    "gymnasium.envs.mujoco": ((("mujoco", "mujoco"),), "pip install 'gymnasium[mujoco]'"),
    "ale_py": (ATARI_REQUIRES, ATARI_INSTALL),
}


def gymnasium_ids() -> list[str]:
    """The ids of gymnasium's registry (Atari's ``ALE/...`` ones too when ale-py is installed)."""
    import gymnasium as gym

    if find_spec("ale_py") is not None and not any(i.startswith("ALE/") for i in gym.registry):
        import ale_py

        gym.register_envs(ale_py)
    return list(gym.registry)


def unknown_gymnasium_id(env_id: str, prefix: str = "") -> ValueError:
    """The error for an id that gymnasium's registry lacks, with close matches (``prefix`` before each)."""
    if env_id.startswith("ALE/") and find_spec("ale_py") is None:
        return MissingExtraError(f"{prefix}{env_id} is an Atari game: it needs the 'atari' extra (missing: ale-py): "
                                 f"{ATARI_INSTALL}")
    ids = gymnasium_ids()
    close = difflib.get_close_matches(env_id, ids, n=3, cutoff=0.6)
    close += [i for i in ids if i.split("-v")[0] == env_id and i not in close]  # a missing version suffix
    hint = f" Did you mean {', '.join(repr(prefix + c) for c in close)}?" if close else ""
    return ValueError(f"unknown gymnasium environment id {prefix + env_id!r}.{hint} gymnasium's registry lists "
                      f"{len(ids)} ids (gymnasium.pprint_registry() shows them).")


def _gymnasium_spec(name: str) -> EnvSpec:
    import gymnasium as gym

    env_id = name.split("/", 1)[1]
    if env_id not in gymnasium_ids():
        raise unknown_gymnasium_id(env_id, "gymnasium/")
    entry = gym.registry[env_id].entry_point
    module = entry.split(":")[0] if isinstance(entry, str) else getattr(entry, "__module__", "")
    requires, install = (), ""
    for package, (needs, command) in GYMNASIUM_DEPENDENCIES.items():
        if module == package or module.startswith(package + "."):
            requires, install = needs, command
    return EnvSpec(name, "host", GYMNASIUM_OPTIONS, _build_gymnasium(env_id), None, f"gymnasium {env_id}",
                   GYMNASIUM_CHECKS, requires, install)


# --- the public functions ----------------------------------------------------------------------
def families() -> tuple[Family, ...]:
    """The families of names, each with its name pattern, a one-line description and its extra."""
    from rtrl.envs.minatar import MINATAR_REQUIRES
    from rtrl.envs.mjx import MJX_REQUIRES

    requires = {"atari": ATARI_REQUIRES, "minatar": MINATAR_REQUIRES, "mjx": MJX_REQUIRES}
    out = []
    for name, (pattern, description, extra) in FAMILY_DESCRIPTIONS.items():
        installed = all(find_spec(m) is not None for m, _ in requires.get(extra or "", ()))
        out.append(Family(name, pattern, description, extra, installed))
    return tuple(out)


def names(family: str | None = None) -> list[str]:
    """rtrl's curated names (``jax``, ``popgym``, ``mujoco``, ``atari``, ``minatar``), or those of one family.

    ``names("gymnasium")`` lists gymnasium's registry as it stands (``gymnasium/<id>``); the
    gymnasium family is open, so ``names()`` leaves it out (`families` shows its pattern).
    """
    all_names = list(_get())
    if family is None:
        return all_names
    validate.choice("family", family, FAMILY_DESCRIPTIONS)
    if family == "gymnasium":
        return [f"gymnasium/{i}" for i in gymnasium_ids()]
    return [n for n in all_names if n.startswith(family + "/")]


def _unknown(name: str) -> ValueError:
    reg = _get()
    if name.startswith("mjx/"):
        from rtrl.envs.mjx import ROBOTS as MJX_ROBOTS
        from rtrl.envs.mujoco import ROBOTS as MUJOCO_ROBOTS

        robot = re.sub(r"-[PV]$", "", name.split("/", 1)[1])
        if robot in MUJOCO_ROBOTS and robot not in MJX_ROBOTS:
            return ValueError(
                f"{name!r}: {robot} has no -P/-V split, and the mjx family has only the robots with one: "
                + ", ".join(f"mjx/{r}-P, mjx/{r}-V" for r in MJX_ROBOTS) + f" (and mjx/<Robot> in full); "
                f"{robot} runs on the host as mujoco/{robot}"
            )
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
        if not close and "-v" in name:  # a gymnasium id given without its family
            import gymnasium as gym

            if name in gym.registry:
                close = [f"gymnasium/{name}"]
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    family = name.split("/", 1)[0] if "/" in name else ""
    members = [n for n in candidates if n.startswith(family + "/")] if family else []
    if 0 < len(members) <= 20:  # a known small family: list its names (e.g. the MinAtar games)
        hint += f" The {family} family has: {', '.join(members)}."
    return ValueError(
        f"unknown environment {name!r}.{hint} Names are family/Task with family one of "
        f"{', '.join(sorted(FAMILY_DESCRIPTIONS))}; rtrl.envs.names() lists them all "
        "(gymnasium/<id> takes any id of gymnasium's registry)."
    )


def spec(name: str) -> EnvSpec:
    """The registry entry of ``name`` (ValueError with close matches if unknown).

    It does not require the environment's optional dependencies: ``spec(name).installed`` says
    whether they are there, and `check` refuses without them.
    """
    if not isinstance(name, str):
        raise TypeError(f"environment name must be a str, got {type(name).__name__}")
    if name.startswith("gymnasium/"):
        return _gymnasium_spec(name)
    reg = _get()
    if name not in reg:
        raise _unknown(name)
    return reg[name]


def check(name: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check ``name`` and its ``options`` without building anything; returns every option, checked.

    Raises ValueError for an unknown name, an unknown option or a value of the wrong type (naming
    the environment, the option and what is valid), and `MissingExtraError` (also a ValueError)
    with the install command when an optional dependency is missing.
    """
    s = spec(name)
    checked = s.check_options({} if options is None else options)
    s.require(checked)
    return checked


def make(name: str, **options: Any) -> JaxEnv | HostEnv:
    """Make the environment registered as ``name``, after `check`.

    ``jax/*`` and ``minatar/*`` names give a `JaxEnv` (a `VmapEnv` of ``num_envs`` copies when
    ``num_envs`` is set); every other name gives a `HostEnv` batch of ``num_envs`` (default 1) envs.
    ``spec(name).options`` lists the options and their defaults.
    """
    s = spec(name)
    checked = s.check_options(options)
    s.require(checked)
    return s.build(**checked)
