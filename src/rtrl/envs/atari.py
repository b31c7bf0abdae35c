"""Atari 2600 games through ale-py (the ``atari`` extra), with the standard preprocessing.

Named ``atari/<Game>`` for the games of the eLSTM paper (Irie et al. 2023: Breakout, Gravitar,
MsPacman, Qbert, Seaquest) and Pong (a quick smoke test). ale-py ships the ROMs. Preprocessing
(Machado et al. 2018 / gymnasium ``AtariPreprocessing``): sticky actions (``sticky_actions``,
default 0.25), minimal action set, up to ``noop_max`` (30) no-ops at reset, frame skip 4 with
max-pooling of the last two frames, 84x84 greyscale scaled to [0, 1], no terminal on life loss,
optional stacking of ``frame_stack`` frames, episodes truncated after ``max_episode_steps`` agent
steps (default 27,000 = the 108,000 frames of the v5 games; no-op frames at reset not counted).
Observations keep their image shape ``(frame_stack, 84, 84)`` (not flattened) for convolutional
encoders.

Two back-ends (option ``backend``): ``"ale"`` (default; ale-py through gymnasium, one emulator per
env stepped in a Python loop; the ``atari`` extra) and ``"envpool"`` (envpool's C++ thread pool,
the same emulator and preprocessing, several times faster with many envs; the ``envpool`` extra;
see `rtrl.envs.envpool_atari`). With sticky actions off both give identical observations.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from rtrl import validate
from rtrl.envs.errors import MissingExtraError, require_extra

__all__ = [
    "ATARI_INSTALL",
    "ATARI_REQUIRES",
    "BACKENDS",
    "DEFAULT_MAX_EPISODE_STEPS",
    "GAMES",
    "atari_factory",
    "require_atari",
]

GAMES = ("Breakout", "Gravitar", "MsPacman", "Qbert", "Seaquest", "Pong")
BACKENDS = ("ale", "envpool")
DEFAULT_MAX_EPISODE_STEPS = 27_000  # agent steps: 108,000 frames at frame skip 4, the v5 games' limit
ATARI_REQUIRES = (("ale_py", "ale-py"), ("cv2", "opencv-python-headless"))  # (module, package)
ATARI_INSTALL = "pip install 'rtrl[atari]' (from a clone: pip install -e '.[atari]')"


def require_atari() -> None:
    """Raise `MissingExtraError` (a ValueError) naming the extra unless ale-py and opencv are importable."""
    require_extra("Atari environments need", "atari", ATARI_REQUIRES, ATARI_INSTALL, find_spec)


def atari_factory(
    game: str,
    *,
    frame_stack: int = 1,
    sticky_actions: float = 0.25,
    noop_max: int = 30,
    terminal_on_life_loss: bool = False,
    max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS,
) -> Any:
    """A factory for ``ALE/<game>-v5`` with the standard preprocessing (module docstring)."""
    validate.choice("game", game, GAMES)
    frame_stack = validate.positive_int("frame_stack", frame_stack)
    sticky_actions = validate.number_in("sticky_actions", sticky_actions, 0.0, 1.0, what="(a probability)")
    noop_max = validate.non_negative_int("noop_max", noop_max)
    validate.boolean("terminal_on_life_loss", terminal_on_life_loss)
    max_episode_steps = validate.positive_int("max_episode_steps", max_episode_steps)
    require_atari()
    try:
        import ale_py
        import cv2  # noqa: F401  (AtariPreprocessing resizes with it)
    except ImportError as e:  # pragma: no cover - find_spec said they exist
        raise MissingExtraError(f"Atari environments need the 'atari' extra ({e}): {ATARI_INSTALL}") from e
    import gymnasium as gym
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    gym.register_envs(ale_py)

    # ALE's own frame cap counts the no-op frames too; set it beyond the step limit so that the limit
    # counts agent steps after the no-ops, exactly as envpool's does
    frame_cap = 4 * max_episode_steps + noop_max + 4

    def factory() -> Any:
        env = gym.make(
            f"ALE/{game}-v5",
            frameskip=1,
            repeat_action_probability=float(sticky_actions),
            full_action_space=False,
            max_num_frames_per_episode=frame_cap,
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
        env = gym.wrappers.TimeLimit(env, max_episode_steps)
        if frame_stack > 1:
            env = FrameStackObservation(env, frame_stack)
        else:
            env = gym.wrappers.ReshapeObservation(env, (1, 84, 84))
        return env

    return factory
