"""Atari 2600 games through ale-py (the ``atari`` extra), with the standard preprocessing.

Named ``atari/<Game>`` for the games of the eLSTM paper (Irie et al. 2023: Breakout, Gravitar,
MsPacman, Qbert, Seaquest) and Pong (a quick smoke test). ale-py ships the ROMs. Preprocessing
(Machado et al. 2018 / gymnasium ``AtariPreprocessing``): sticky actions (``sticky_actions``,
default 0.25), minimal action set, up to ``noop_max`` (30) no-ops at reset, frame skip 4 with
max-pooling of the last two frames, 84x84 greyscale scaled to [0, 1], no terminal on life loss,
optional stacking of ``frame_stack`` frames. Observations keep their image shape
``(frame_stack, 84, 84)`` (not flattened) for convolutional encoders.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from rtrl import validate
from rtrl.envs.errors import MissingExtraError

__all__ = ["ATARI_INSTALL", "ATARI_REQUIRES", "GAMES", "atari_factory", "require_atari"]

GAMES = ("Breakout", "Gravitar", "MsPacman", "Qbert", "Seaquest", "Pong")
ATARI_REQUIRES = (("ale_py", "ale-py"), ("cv2", "opencv-python-headless"))  # (module, package)
ATARI_INSTALL = "pip install 'rtrl[atari]' (from a clone: pip install -e '.[atari]')"


def require_atari() -> None:
    """Raise `MissingExtraError` (a ValueError) naming the extra unless ale-py and opencv are importable."""
    missing = [pkg for mod, pkg in ATARI_REQUIRES if find_spec(mod) is None]
    if missing:
        raise MissingExtraError(
            f"Atari environments need the 'atari' extra (missing: {', '.join(missing)}): {ATARI_INSTALL}"
        )


def atari_factory(
    game: str,
    *,
    frame_stack: int = 1,
    sticky_actions: float = 0.25,
    noop_max: int = 30,
    terminal_on_life_loss: bool = False,
) -> Any:
    """A factory for ``ALE/<game>-v5`` with the standard preprocessing (module docstring)."""
    validate.choice("game", game, GAMES)
    frame_stack = validate.positive_int("frame_stack", frame_stack)
    sticky_actions = validate.number_in("sticky_actions", sticky_actions, 0.0, 1.0, what="(a probability)")
    noop_max = validate.non_negative_int("noop_max", noop_max)
    validate.boolean("terminal_on_life_loss", terminal_on_life_loss)
    require_atari()
    try:
        import ale_py
        import cv2  # noqa: F401  (AtariPreprocessing resizes with it)
    except ImportError as e:  # pragma: no cover - find_spec said they exist
        raise MissingExtraError(f"Atari environments need the 'atari' extra ({e}): {ATARI_INSTALL}") from e
    import gymnasium as gym
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    gym.register_envs(ale_py)

    def factory() -> Any:
        env = gym.make(
            f"ALE/{game}-v5", frameskip=1, repeat_action_probability=float(sticky_actions), full_action_space=False
        )
        env = AtariPreprocessing(
            env,
            noop_max=noop_max,
            frame_skip=4,
            screen_size=84,
            terminal_on_life_loss=terminal_on_life_loss,
            grayscale_obs=True,
            scale_obs=True,
        )
        if frame_stack > 1:
            env = FrameStackObservation(env, frame_stack)
        else:
            env = gym.wrappers.ReshapeObservation(env, (1, 84, 84))
        return env

    return factory
