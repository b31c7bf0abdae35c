"""POPGym through the popgym package (Morad et al. 2023), on the host back-end.

Every environment popgym 1.0.7 ships is named ``popgym/<Family><Level>``: 16 families x
Easy/Medium/Hard. The two Labyrinth families need mazelib (popgym's ``navigation`` extra).
Options: ``previous_action`` applies popgym's own ``PreviousAction`` wrapper (the previous
action, one-hot, appended; action 0 at an episode's start); MultiDiscrete actions (Battleship,
MineSweeper) are raveled to one Discrete action as popgym's ``DiscreteAction`` does; the
observation is flattened with ``gymnasium.spaces.utils.flatten`` (one-hot).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

from rtrl.envs.errors import MissingExtraError

__all__ = ["FAMILIES", "LEVELS", "NEEDS_MAZELIB", "level_names", "popgym_factory"]

FAMILIES = (
    "Autoencode",
    "Battleship",
    "Concentration",
    "CountRecall",
    "HigherLower",
    "LabyrinthEscape",
    "LabyrinthExplore",
    "MineSweeper",
    "MultiarmedBandit",
    "NoisyPositionOnlyCartPole",
    "NoisyPositionOnlyPendulum",
    "PositionOnlyCartPole",
    "PositionOnlyPendulum",
    "RepeatFirst",
    "RepeatPrevious",
    "VelocityOnlyCartPole",
)
LEVELS = ("Easy", "Medium", "Hard")
NEEDS_MAZELIB = ("LabyrinthEscape", "LabyrinthExplore")


def level_names() -> list[str]:
    """``<Family><Level>`` for every popgym environment, in a stable order."""
    return [f + lvl for f in FAMILIES for lvl in LEVELS]


def popgym_factory(level: str, *, previous_action: bool = False) -> Callable[[], Any]:
    """A zero-argument factory for the popgym environment ``level`` (e.g. ``"CountRecallEasy"``)."""
    if level not in level_names():
        raise ValueError(f"unknown popgym environment {level!r}")
    if level.startswith(NEEDS_MAZELIB) and find_spec("mazelib") is None:
        raise MissingExtraError(
            f"popgym/{level} needs the mazelib package (popgym's 'navigation' extra): pip install 'popgym[navigation]'"
        )
    import popgym.envs
    from popgym.wrappers import PreviousAction

    cls = getattr(popgym.envs, level)

    def factory() -> Any:
        env = cls()
        return PreviousAction(env) if previous_action else env

    return factory
