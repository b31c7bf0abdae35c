"""JAX-native ports of the POPGym tasks used by the RTU paper (Elelimy et al. 2024) and POPGym
(Morad et al. 2023): same observation encoding (one-hot, as ``gymnasium.spaces.utils.flatten``),
same action spaces and the same reward rules as the popgym package, one task per file.

`PORTS` maps each level name (``"CountRecallEasy"``) to its class and parameters, which are those
of the popgym subclass of the same name. Every port has ``from_popgym(env)``, which builds the
port's state from a freshly reset popgym environment so that a whole episode can be replayed
in both and compared exactly.
"""

from __future__ import annotations

from typing import Any

from rtrl.envs.popgym_jax.autoencode import Autoencode, AutoencodeState
from rtrl.envs.popgym_jax.base import CardGame
from rtrl.envs.popgym_jax.concentration import Concentration, ConcentrationState
from rtrl.envs.popgym_jax.count_recall import CountRecall, CountRecallState
from rtrl.envs.popgym_jax.higher_lower import HigherLower, HigherLowerState
from rtrl.envs.popgym_jax.repeat_first import RepeatFirst, RepeatFirstState
from rtrl.envs.popgym_jax.repeat_previous import RepeatPrevious, RepeatPreviousState

__all__ = [
    "PORTS",
    "Autoencode",
    "AutoencodeState",
    "CardGame",
    "Concentration",
    "ConcentrationState",
    "CountRecall",
    "CountRecallState",
    "HigherLower",
    "HigherLowerState",
    "RepeatFirst",
    "RepeatFirstState",
    "RepeatPrevious",
    "RepeatPreviousState",
    "make_port",
]

# level name -> (class, parameters of the popgym subclass with that name)
PORTS: dict[str, tuple[type[CardGame], dict[str, Any]]] = {
    "RepeatPreviousEasy": (RepeatPrevious, {"num_decks": 1, "k": 4}),
    "RepeatPreviousMedium": (RepeatPrevious, {"num_decks": 2, "k": 32}),
    "RepeatPreviousHard": (RepeatPrevious, {"num_decks": 3, "k": 64}),
    "RepeatFirstEasy": (RepeatFirst, {"num_decks": 1}),
    "RepeatFirstMedium": (RepeatFirst, {"num_decks": 8}),
    "RepeatFirstHard": (RepeatFirst, {"num_decks": 16}),
    "CountRecallEasy": (CountRecall, {"num_decks": 1, "deck_type": "colors"}),
    "CountRecallMedium": (CountRecall, {"num_decks": 2, "deck_type": "suits"}),
    "CountRecallHard": (CountRecall, {"num_decks": 4, "deck_type": "ranks"}),
    "AutoencodeEasy": (Autoencode, {"num_decks": 1}),
    "AutoencodeMedium": (Autoencode, {"num_decks": 2}),
    "AutoencodeHard": (Autoencode, {"num_decks": 3}),
    "ConcentrationEasy": (Concentration, {"num_decks": 1, "deck_type": "colors"}),
    "ConcentrationMedium": (Concentration, {"num_decks": 2, "deck_type": "colors"}),
    "ConcentrationHard": (Concentration, {"num_decks": 1, "deck_type": "ranks"}),
    "HigherLowerEasy": (HigherLower, {"num_decks": 1}),
    "HigherLowerMedium": (HigherLower, {"num_decks": 2}),
    "HigherLowerHard": (HigherLower, {"num_decks": 3}),
}


def make_port(level: str) -> CardGame:
    """The port registered as ``level`` (e.g. ``"CountRecallEasy"``)."""
    cls, params = PORTS[level]
    return cls(**params)
