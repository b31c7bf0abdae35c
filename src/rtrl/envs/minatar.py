"""MinAtar games as JAX-native environments, over gymnax's ports (the ``minatar`` extra).

Named ``minatar/<Game>`` for every MinAtar game gymnax 1.0.1 ports: Asterix, Breakout, Freeway,
Seaquest and SpaceInvaders (Young & Tian 2019: 10x10 grids with one binary channel per object
kind). `MinAtar` is a `JaxEnv`: pure ``reset``/``step``, usable inside ``jit``/``vmap``/``lax.scan``,
with rtrl's same-step auto-reset and done/first/final_obs convention (see `rtrl.envs`).

* Observations are float32 **channel-first** ``(C, 10, 10)`` (gymnax's ``(10, 10, C)`` transposed),
  the same layout as ``atari/*``'s ``(frame_stack, 84, 84)``: C = 4 (Asterix, Breakout), 7
  (Freeway), 10 (Seaquest), 6 (SpaceInvaders); values 0 or 1.
* Actions are `Discrete`: MinAtar's minimal action set by default (3, 3, 5, 6, 4 actions; the
  option ``minimal_action_set=False`` gives all 6).
* ``info["terminated"]`` is the game's own end (game over); ``info["truncated"]`` is gymnax's
  episode step limit (option ``max_episode_steps``; gymnax's defaults: 1000 steps, 2500 for
  Freeway, whose only end is this limit) where the game did not also end on that step, so the two
  flags never hold together and a bootstrap at a truncation is never a game over.
* ``sticky_actions`` (default 0.0, gymnax's behaviour; the original MinAtar uses 0.1) repeats the
  previous executed action with that probability, as MinAtar's ``sticky_action_prob`` does; the
  previous action is 0 after a reset. gymnax's own parameters have no sticky actions.

With ``sticky_actions=0`` one step with key ``k`` equals gymnax's ``env.step(k, ...)`` exactly
(same split of ``k`` into the step's key and the auto-reset's key), up to the transpose.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import warnings
from collections.abc import Iterator
from importlib.util import find_spec
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rtrl import validate
from rtrl.envs.errors import require_extra
from rtrl.envs.jax_env import JaxEnv
from rtrl.envs.spaces import Box, Discrete

__all__ = [
    "CHANNELS",
    "GAMES",
    "MINATAR_INSTALL",
    "MINATAR_REQUIRES",
    "MinAtar",
    "MinAtarState",
    "default_max_episode_steps",
    "require_minatar",
]

GAMES = ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")
CHANNELS = {"Asterix": 4, "Breakout": 4, "Freeway": 7, "Seaquest": 10, "SpaceInvaders": 6}  # C of (C, 10, 10)
# gymnax 1.0.1 imports six (gymnax.utils.load_mnist) without declaring it, so the extra names it too
MINATAR_REQUIRES = (("gymnax", "gymnax"), ("six", "six"))  # (module, package)
MINATAR_INSTALL = "pip install 'rtrl[minatar]' (from a clone: pip install -e '.[minatar]')"


def require_minatar() -> None:
    """Raise `MissingExtraError` (a ValueError) naming the extra unless gymnax (and six) are importable."""
    require_extra("MinAtar environments need", "minatar", MINATAR_REQUIRES, MINATAR_INSTALL, find_spec)


@functools.cache
def _gymnax(game: str, minimal_action_set: bool) -> tuple[Any, Any]:
    """gymnax's environment object and default parameters for ``<game>-MinAtar`` (built once per process)."""
    require_minatar()
    import gymnax

    # gymnax's constructors make jnp arrays (the action sets); under a jit trace they would be tracers
    # cached here and leaked into later traces, so build them concretely whatever the caller's context
    with jax.ensure_compile_time_eval():
        return gymnax.make(f"{game}-MinAtar", use_minimal_action_set=minimal_action_set)


@contextlib.contextmanager
def _gymnax_mode() -> Iterator[None]:
    """JAX's 32-bit mode, without the warning gymnax's Asterix triggers there by asking for int64
    (it gets int32, which is what it uses in 32-bit mode anyway)."""
    with jax.enable_x64(False), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Explicitly requested dtype int64", category=UserWarning)
        yield


def default_max_episode_steps(game: str) -> int:
    """gymnax's episode step limit for ``game`` (1000; 2500 for Freeway)."""
    validate.choice("game", game, GAMES)
    return int(_gymnax(game, True)[1].max_steps_in_episode)


def _canonical(tree: Any) -> Any:
    """Every leaf as a strong-typed bool/int32/float32 array.

    gymnax's reset states hold Python ints and weakly typed arrays where its step states hold int32
    arrays; ``lax.cond`` (the auto-reset) and ``scan`` need one exact type per leaf.
    """

    def leaf(x: Any) -> jax.Array:
        x = jnp.asarray(x)
        if x.dtype == jnp.bool_:
            dtype = jnp.bool_
        elif jnp.issubdtype(x.dtype, jnp.integer):
            dtype = jnp.int32
        else:
            dtype = jnp.float32
        return jax.lax.convert_element_type(x, dtype)

    return jax.tree.map(leaf, tree)


class MinAtarState(NamedTuple):
    """gymnax's game state and the previous executed action (for sticky actions)."""

    game: Any
    last_action: jax.Array  # () int32


@dataclasses.dataclass(frozen=True)
class MinAtar(JaxEnv):
    """One MinAtar game (module docstring).

    Attributes:
      game: one of `GAMES`.
      max_episode_steps: the step limit after which an episode is truncated; None for gymnax's default.
      sticky_actions: the probability of repeating the previous executed action instead of the given one.
      minimal_action_set: the game's minimal action set (default) or all 6 MinAtar actions.
    """

    game: str = "Breakout"
    max_episode_steps: int | None = None
    sticky_actions: float = 0.0
    minimal_action_set: bool = True

    def __post_init__(self) -> None:
        validate.choice("game", self.game, GAMES)
        if self.max_episode_steps is not None:
            object.__setattr__(
                self,
                "max_episode_steps",
                validate.positive_int("max_episode_steps", self.max_episode_steps, what="(or None)"),
            )
        object.__setattr__(
            self,
            "sticky_actions",
            validate.number_in("sticky_actions", self.sticky_actions, 0.0, 1.0, what="(a probability)"),
        )
        validate.boolean("minimal_action_set", self.minimal_action_set)
        require_minatar()  # before the cached build, which would skip the check once built
        _gymnax(self.game, self.minimal_action_set)  # built here, outside any trace

    # -- gymnax ------------------------------------------------------------------------------
    @property
    def gymnax_env(self) -> Any:
        """gymnax's environment object (its own ``step`` auto-resets; rtrl calls ``step_env``/``reset_env``)."""
        return _gymnax(self.game, self.minimal_action_set)[0]

    @property
    def gymnax_params(self) -> Any:
        """gymnax's parameters, with ``max_steps_in_episode`` set to `episode_limit`."""
        params = _gymnax(self.game, self.minimal_action_set)[1]
        return params.replace(max_steps_in_episode=self.episode_limit)

    @property
    def episode_limit(self) -> int:
        """The step limit in force: ``max_episode_steps`` or gymnax's default for the game."""
        if self.max_episode_steps is not None:
            return self.max_episode_steps
        return default_max_episode_steps(self.game)

    # -- the JaxEnv interface ----------------------------------------------------------------
    @property
    def name(self) -> str:
        return f"minatar/{self.game}"

    @property
    def observation_space(self) -> Box:
        height, width, channels = self.gymnax_env.obs_shape
        return Box((channels, height, width), 0.0, 1.0)

    @property
    def action_space(self) -> Discrete:
        return Discrete(int(self.gymnax_env.num_actions))

    @staticmethod
    def _channel_first(obs: jax.Array) -> jax.Array:
        return jnp.transpose(jnp.asarray(obs, jnp.float32), (2, 0, 1))

    # gymnax's games run in JAX's 32-bit mode even where the caller enabled 64-bit (jax_enable_x64): its
    # Freeway mixes int32 and default-int arrays in one lax.select and fails in 64-bit mode
    def reset_env(self, key: jax.Array) -> tuple[MinAtarState, jax.Array]:
        with _gymnax_mode():
            obs, game = self.gymnax_env.reset_env(key, self.gymnax_params)
            game = _canonical(game)
        return MinAtarState(game, jnp.zeros((), jnp.int32)), self._channel_first(obs)

    def step_env(
        self, state: MinAtarState, action: jax.Array, key: jax.Array
    ) -> tuple[MinAtarState, jax.Array, jax.Array, jax.Array, jax.Array]:
        if self.sticky_actions > 0.0:
            key_sticky, key = jax.random.split(key)
            repeat = jax.random.uniform(key_sticky) < self.sticky_actions
            action = jnp.where(repeat, state.last_action, action)
        action = jnp.asarray(action, jnp.int32)
        env, params = self.gymnax_env, self.gymnax_params
        with _gymnax_mode():
            obs, game, reward, terminated, _ = env.step_env(key, state.game, action, params)
            game = _canonical(game)
            terminated = jnp.asarray(terminated, bool)
            truncated = jnp.logical_and(jnp.asarray(env.is_truncated(game, params), bool), jnp.logical_not(terminated))
        return (
            MinAtarState(game, action),
            self._channel_first(obs),
            jnp.asarray(reward, jnp.float32),
            terminated,
            truncated,
        )
