"""The actor-critic network of the RTU paper's agents (and of R2AC).

    obs → [stem] → encoder MLP (default Dense 64 + tanh) → recurrent cell (any of `rtrl.cells`; none for
    the memoryless variant) → actor head Dense(64)-tanh-Dense(A)  and  critic head Dense(64)-tanh-Dense(1)

as in the public code of Elelimy et al. 2024 (arXiv 2409.01449). Orthogonal initialisation with
gain sqrt 2 for hidden layers, 0.01 for the policy output and 1.0 for the value output (the usual
PPO initialisation). A continuous policy is a diagonal Gaussian with a state-independent
``log_std`` (initialised to 0); a discrete one is categorical over logits.

The policy distributions are in `rtrl.agents.distributions`, parameter counts in `rtrl.agents.budget`.

Stems. ``stem="dense"`` (the default; the PPO and streaming agents' only one) takes flat observation
vectors (D,) and the encoder MLP reads them directly. A convolutional stem (``"nature"``, ``"impala"``,
``"minatar"``: `rtrl.networks.conv`) takes channel-first images (C, H, W) and gives a feature vector
(512, 256 or 128 wide); the ``encoder`` widths are then extra Dense layers after the stem (R2AC's default:
none, the stem's own Dense layer feeds the cell). Its parameters are ``params["stem"]`` (absent for the
dense stem, so dense networks' parameters are as before). `resolve_stem` checks a stem against an
observation shape ("auto": dense for flat vectors, nature for images with sides ≥ 36, minatar for
smaller ones). Everything below the cell, stem and encoder, is computed by `ActorCritic.encode`, and
`ActorCritic.step_encoded` runs the rest (cell and heads) from its output, so a learner can batch the
stem over a whole segment and choose which gradient reaches it (`rtrl.agents.r2ac_learner`).

The network keeps the cell contract: ``carry, policy, value = net.step(params, carry, obs, first)``
where ``first`` (batch,) marks the first observation of an episode; the cell zeroes its state and
RTRL traces *together* before consuming it (rtrl.envs convention: ``first`` = previous ``done``).
With a ``gradient="rtrl"`` cell, ``jax.grad`` through ONE step from a stored carry gives the heads
their exact gradient, the cell the exact RTRL gradient through all steps since the last reset, and
the stem and encoder their immediate (one-step) gradient (see `rtrl.networks.stack`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp

from rtrl import validate
from rtrl.agents.distributions import Categorical, DiagGaussian, Policy
from rtrl.cells.base import Carry, Cell
from rtrl.networks import conv
from rtrl.networks.mlp import apply_dense, apply_mlp, init_dense, init_mlp

__all__ = ["STEMS", "ActorCritic", "resolve_stem"]

STEMS = ("dense",) + conv.STEMS  # what a network takes; configs add "auto" (`resolve_stem`)
AUTO_NATURE_SIDE = 36  # "auto": images whose sides are all at least this get the nature stem, smaller ones minatar


def resolve_stem(stem: str, observation_shape: Any, field: str = "stem") -> str:
    """The stem for observations of ``observation_shape``: ``stem`` itself if it fits them, or for
    ``"auto"`` "dense" on flat vectors (D,), "nature" on images (C, H, W) with H, W ≥ 36 and "minatar"
    on smaller images. A ValueError naming ``field``, what was given and what is valid otherwise: a
    dense stem on images, a convolutional stem on flat vectors, an image too small for the stem, or
    observations that are neither (D,) nor (C, H, W).
    """
    valid = ("auto",) + STEMS
    if isinstance(stem, bool) or stem not in valid:
        raise ValueError(f"{field} must be one of {', '.join(map(repr, valid))}, got {stem!r}.")
    shape = tuple(int(d) for d in observation_shape)
    if len(shape) == 1:
        if stem in ("auto", "dense"):
            return "dense"
        raise ValueError(f"{field}={stem!r} is a convolutional stem for images (C, H, W), but the observations "
                         f"are flat vectors of shape {shape}; valid for them: 'auto', 'dense'.")
    if len(shape) != 3:
        raise ValueError(f"{field}={stem!r}: observations must be flat vectors (D,) or channel-first images "
                         f"(C, H, W), got shape {shape}.")
    images = ", ".join(repr(s) for s in ("auto",) + conv.STEMS)
    if shape[2] <= 4 < shape[0] and shape[0] == shape[1]:  # (H, W, C): an RGB or stacked-frames image, not (C, H, W)
        raise ValueError(f"{field}={stem!r}: observations of shape {shape} look channel-last (H, W, C); rtrl's conv "
                         f"stems read channel-first images (C, H, W), as atari/ and minatar/ give them: transpose them "
                         f"to {(shape[2], shape[0], shape[1])} (e.g. gymnasium.wrappers.TransformObservation).")
    if stem == "dense":
        raise ValueError(f"{field}='dense' takes flat observation vectors, but the observations are images of "
                         f"shape {shape} (C, H, W); valid for them: {images}.")
    chosen = stem
    if stem == "auto":
        chosen = "nature" if min(shape[1:]) >= AUTO_NATURE_SIDE else "minatar"
    try:
        conv.check_stem_input(chosen, shape)
    except ValueError as e:
        raise ValueError(f"{field}={stem!r}: {e}") from None
    return chosen


@dataclasses.dataclass(frozen=True)
class ActorCritic:
    """Stem and encoder → optional recurrent cell → actor and critic heads (hashable; static under jit).

    Attributes:
      observation_size: size of the flat observation (for images, C·H·W).
      action_size: number of discrete actions, or the dimension of a continuous action.
      discrete: categorical (True) or diagonal-Gaussian (False) policy.
      cell: a `Cell` from `rtrl.cells.make`, or None for the memoryless (MLP) network.
      encoder: hidden widths of the encoder MLP (``()``: none); after a convolutional stem, extra
        Dense layers on the stem's output.
      head: hidden widths of each head MLP.
      activation: "tanh" or "relu" for the encoder and head hidden layers (a conv stem's are ReLU).
      dtype: parameter dtype (the cell's, if any).
      stem: "dense" (flat observations) or a convolutional stem of `rtrl.networks.conv` (images).
      observation_shape: the shape of one observation: (observation_size,) for the dense stem (None
        means that), (C, H, W) for a conv stem.
    """

    observation_size: int
    action_size: int
    discrete: bool
    cell: Cell | None
    encoder: tuple[int, ...] = (64,)
    head: tuple[int, ...] = (64,)
    activation: str = "tanh"
    dtype: Any = jnp.float32
    stem: str = "dense"
    observation_shape: tuple[int, ...] | None = None

    def __post_init__(self):
        shape = (self.observation_size,) if self.observation_shape is None else tuple(self.observation_shape)
        if math.prod(shape) != self.observation_size:
            raise ValueError(f"observation_shape {shape} does not hold observation_size={self.observation_size} "
                             "numbers.")
        if self.stem not in STEMS:  # "auto" is a config's, resolved with `resolve_stem` first
            raise ValueError(f"stem must be one of {', '.join(map(repr, STEMS))}, got {self.stem!r}.")
        resolve_stem(self.stem, shape)
        object.__setattr__(self, "observation_shape", tuple(int(d) for d in shape))

    @classmethod
    def from_config(cls, config: Any, observation: int | tuple[int, ...], action_size: int,
                    discrete: bool) -> ActorCritic:
        """The network of an agent config with the fields ``make_cell``, ``encoder``, ``head``,
        ``activation`` and ``dtype`` (PPO agents, R2AC), and optionally ``stem`` (R2AC; "dense" without).
        ``observation``: the observation's size, or its shape ((D,) or (C, H, W) for a conv stem)."""
        shape = (int(observation),) if validate.is_integer(observation) else tuple(int(d) for d in observation)
        stem = resolve_stem(getattr(config, "stem", "dense"), shape)
        return cls(observation_size=math.prod(shape), action_size=action_size, discrete=discrete,
                   cell=config.make_cell(), encoder=config.encoder, head=config.head,
                   activation=config.activation, dtype=jnp.dtype(config.dtype), stem=stem,
                   observation_shape=shape)

    @property
    def recurrent(self) -> bool:
        return self.cell is not None

    @property
    def stem_output_size(self) -> int:
        """Size of the stem's output: the observation's for the dense stem, the conv stem's width otherwise."""
        return self.observation_size if self.stem == "dense" else conv.stem_output_size(self.stem)

    @property
    def encoding_size(self) -> int:
        """Size of `encode`'s output (the cell's input)."""
        return self.encoder[-1] if self.encoder else self.stem_output_size

    @property
    def feature_size(self) -> int:
        """Size of the features fed to the heads."""
        if self.cell is not None:
            return self.cell.output_size
        return self.encoding_size

    def with_gradient(self, gradient: str) -> ActorCritic:
        """The same network with the cell in another gradient mode (same parameters)."""
        if self.cell is None:
            return self
        return dataclasses.replace(self, cell=dataclasses.replace(self.cell, gradient=gradient))

    def init(self, key: jax.Array) -> dict[str, Any]:
        """{"stem": conv stem params (conv stems only), "encoder": [layers], "cell": cell params
        (recurrent only), "actor": [...], "actor_out", "critic": [...], "critic_out", "log_std" (continuous
        only)}."""
        k_enc, k_cell, k_actor, k_aout, k_critic, k_cout = jax.random.split(key, 6)
        params: dict[str, Any] = {"encoder": init_mlp(k_enc, self.stem_output_size, self.encoder, self.dtype)}
        if self.stem != "dense":  # its own key, so that dense networks start as before
            params["stem"] = conv.init_stem(jax.random.fold_in(key, 7), self.stem, self.observation_shape, self.dtype)
        if self.cell is not None:
            params["cell"] = self.cell.init(k_cell, self.encoding_size)
        d = self.feature_size
        params["actor"] = init_mlp(k_actor, d, self.head, self.dtype)
        params["critic"] = init_mlp(k_critic, d, self.head, self.dtype)
        d_head = self.head[-1] if self.head else d
        params["actor_out"] = init_dense(k_aout, d_head, self.action_size, self.dtype, scale=0.01)
        params["critic_out"] = init_dense(k_cout, d_head, 1, self.dtype, scale=1.0)
        if not self.discrete:
            params["log_std"] = jnp.zeros((self.action_size,), self.dtype)
        return params

    def initial_carry(self, params: dict[str, Any], batch_size: int) -> Carry | tuple[()]:
        """The cell's zero carry (state and traces), or ``()`` for the memoryless network."""
        if self.cell is None:
            return ()
        return self.cell.initial_carry(params["cell"], batch_size)

    def encode(self, params: dict[str, Any], obs: jax.Array) -> jax.Array:
        """Everything below the cell: the stem, then the encoder MLP. ``obs`` (..., *observation_shape)
        with any leading axes → (..., encoding_size). Reads only ``params["stem"]`` and ``params["encoder"]``."""
        x = jnp.asarray(obs).astype(self.dtype)
        if self.stem != "dense":
            x = conv.apply_stem(self.stem, params["stem"], x)
        return apply_mlp(params["encoder"], x, self.activation)

    def features(self, params: dict[str, Any], carry: Any, obs: jax.Array,
                 first: jax.Array) -> tuple[Any, jax.Array]:
        """(carry_t, z_t): stem and encoder, then one cell step (reset where ``first``)."""
        return self.cell_features(params, carry, self.encode(params, obs), first)

    def cell_features(self, params: dict[str, Any], carry: Any, x: jax.Array,
                      first: jax.Array) -> tuple[Any, jax.Array]:
        """(carry_t, z_t) from the encoding ``x`` (B, encoding_size): one cell step (or x itself without a cell)."""
        if self.cell is None:
            return carry, x
        return self.cell.step(params["cell"], carry, x, first)

    def heads(self, params: dict[str, Any], z: jax.Array) -> tuple[Policy, jax.Array]:
        """(policy, value (B,)) from features z (B, feature_size)."""
        a = apply_dense(params["actor_out"], apply_mlp(params["actor"], z, self.activation))
        v = apply_dense(params["critic_out"], apply_mlp(params["critic"], z, self.activation))[..., 0]
        policy = Categorical(a) if self.discrete else DiagGaussian(a, params["log_std"])
        return policy, v

    def step(self, params: dict[str, Any], carry: Any, obs: jax.Array,
             first: jax.Array) -> tuple[Any, Policy, jax.Array]:
        """One step: obs (B, *observation_shape), first (B,) bool → (carry_t, policy, value (B,))."""
        return self.step_encoded(params, carry, self.encode(params, obs), first)

    def step_encoded(self, params: dict[str, Any], carry: Any, x: jax.Array,
                     first: jax.Array) -> tuple[Any, Policy, jax.Array]:
        """`step` from the encoding ``x = encode(params, obs)`` (B, encoding_size): the cell and the heads
        (reads neither ``params["stem"]`` nor ``params["encoder"]``)."""
        carry, z = self.cell_features(params, carry, x, first)
        policy, value = self.heads(params, z)
        return carry, policy, value

    def replay(self, params: dict[str, Any], carry: Any, obs: jax.Array, first: jax.Array) -> tuple[Policy, jax.Array]:
        """(policy, value) one step on from a stored carry, for a loss: same values and gradients as
        `step`, through the cell's `replay` (a fused trace contraction where the cell has one)."""
        z = self.encode(params, obs)
        if self.cell is not None:
            z = self.cell.replay(params["cell"], carry, z, first)
        return self.heads(params, z)

    def value_only(self, params: dict[str, Any], carry: Any, obs: jax.Array,
                   first: jax.Array | None = None) -> jax.Array:
        """V(obs) one step on from ``carry`` without updating traces (bootstraps, fresh targets)."""
        net = self.with_gradient("bptt")
        if self.cell is not None:
            carry = Carry(carry.state, ())
        if first is None:
            first = jnp.zeros(obs.shape[:1], bool)
        return net.step(params, carry, obs, first)[2]
