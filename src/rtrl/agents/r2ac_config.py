"""`R2ACConfig`: one frozen, validated configuration for the real-time recurrent actor-critic (R2AC).

R2AC is Irie, Gopalakrishnan & Schmidhuber's (ICLR 2024, arXiv 2305.19044) IMPALA-style actor-critic
whose recurrent layer learns by exact RTRL; the agent is `rtrl.agents.r2ac`. Defaults are the paper's
(see shared/reference/elstm.md): RMSProp lr 6e-4 (α 0.99, ε 0.01) with linear decay, gradient-norm clip
40, entropy 0.01, baseline 0.5, γ 0.99, rewards clipped to [−1, 1], ρ̄ = c̄ = 1, and the Atari/Table 2
segment length M = 50.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from rtrl import validate
from rtrl.agents.config import ACTIONS, LAYER_GRADIENTS, LayerGradientChoice
from rtrl.frozendict import FrozenDict

__all__ = ["R2AC_AGENTS", "R2AC_GRADIENTS", "R2AC_STEMS", "STEM_GRADIENTS", "R2ACConfig"]

R2AC_AGENTS = ("r2ac",)

# How the recurrent layer learns: exact RTRL (untruncated, from the actor's traces), back-propagation
# through the segment only (T-BPTT with truncation M), or no recurrent layer (feed-forward).
R2AC_GRADIENTS = LAYER_GRADIENTS
ACTIVATIONS = ("relu", "tanh")
# The layers under the recurrent layer: "auto" (from the observations, `rtrl.agents.network.resolve_stem`),
# the dense stem for flat vectors, or a convolutional stem for images (`rtrl.networks.conv`).
R2AC_STEMS = ("auto", "dense", "nature", "impala", "minatar")
# Which gradient the layers under an RTRL cell receive: the one-step one, or back-propagation through the segment.
STEM_GRADIENTS = ("segment", "immediate")


@dataclasses.dataclass(frozen=True)
class R2ACConfig(LayerGradientChoice):
    """Hyperparameters of an R2AC agent.

    Attributes:
      agent: "r2ac" (the one agent of this family; ``rtrl train --agent r2ac`` chooses it).
      num_envs: N, the environments the actors step side by side (the learner's batch).
      unroll: M, the segment length: the update period and the V-trace horizon. Every M steps of the
        N environments the learner takes one segment (M transitions and the observation after them)
        and makes one update. RTRL's gradient is not truncated by M; T-BPTT's is.
      gradient: "rtrl" (exact RTRL: the learner recomputes the traces over the segment from the
        actor's start traces with its current parameters; any cell of `rtrl.cells`), "tbptt"
        (back-propagation through the segment from the actor's start state, held constant:
        truncation M; any cell) or "none" (feed-forward: no recurrent layer).
      cell, hidden_size, cell_options: the recurrent layer (`rtrl.cells.make`); ignored with "none".
        The paper's cell is the eLSTM.
      stem: the layers that read the observation: "auto" (the default: "dense" for flat observation
        vectors, "nature" for images (C, H, W) whose sides are ≥ 36, "minatar" for smaller images),
        "dense" (flat vectors: the encoder MLP reads them), or a convolutional stem for channel-first
        images, "nature" (Mnih et al. 2015, → 512), "impala" (Espeholt et al. 2018, → 256) or "minatar"
        (Young & Tian 2019, → 128) (`rtrl.networks.conv`). `rtrl.agents.network.resolve_stem` checks it
        against the environment's observations.
      stem_gradient: the gradient of everything below the cell (a conv stem and the encoder layers)
        under gradient "rtrl": "segment" (the default, as Irie et al.'s code: back-propagation through
        the segment's forward from the actor's start state held constant, like T-BPTT(M); one extra
        backward pass over the segment) or "immediate" (each step's one-step gradient, the recurrent state
        carried in held constant; no extra cost). The cell and the heads get their exact RTRL gradient
        either way. With "tbptt" or "none" the layers below get back-propagation through the segment
        (only "segment" is accepted). No effect without parameters below the cell (a dense stem, no encoder).
      encoder, head: hidden widths of the MLP below the cell (after a conv stem: extra Dense layers on
        its output) and of each head MLP (policy, value) above it; activation: theirs. The default has
        no encoder: on flat observations the cell reads the observation, so that with RTRL every
        parameter's gradient is exact (layers under an RTRL cell get the ``stem_gradient``; see
        `rtrl.agents.network`). With "none" the network is stem → encoder → heads.
      learning_rate: RMSProp's initial step size; it decays linearly to 0 over ``total_updates``.
      total_updates: updates over which the learning rate decays to 0 (IMPALA and Irie et al. decay
        over the whole run); None keeps it constant. `rtrl.experiments.TrainConfig` sets it to the run's
        iterations when not given, so that ``rtrl train`` decays over the run. A run longer than this stops learning.
      rmsprop_decay, rmsprop_eps: RMSProp's α and ε, ε added outside the square root as in PyTorch's
        RMSprop (the paper's code): Δθ = −lr·g / (√ν + ε), ν ← α·ν + (1 − α)·g².
      max_grad_norm: global-norm clipping of the gradient before RMSProp (None: no clipping).
      entropy_coef, baseline_coef: weights of the entropy bonus and of the value loss.
      gamma: discount.
      clip_rewards: rewards clipped to [−1, 1] in the loss (episode returns are reported unclipped).
      rho_bar, c_bar: V-trace's clipping thresholds ρ̄ and c̄ (c̄ ≤ ρ̄, as V-trace assumes).
      lag: actor–learner staleness in updates: the actors act with the parameters of ``lag`` updates
        ago (0: synchronous, the learner's own). V-trace corrects for the difference.
      normalize_observations, scale_rewards: the running observation normalisation and reward scaling
        of the environment's standard wrapper stack (off by default: IMPALA clips rewards instead).
      action: "auto", "discrete" or "continuous" (checked against the environment).
      dtype: parameter dtype, "float32" or "float64".
    """

    agent: str = "r2ac"
    num_envs: int = 16
    unroll: int = dataclasses.field(default=50, metadata={
        "help": "M: steps per segment, the update period and V-trace horizon (RTRL is not truncated by it)"})
    gradient: str = "rtrl"
    cell: str = "elstm"
    hidden_size: int = 128
    cell_options: Mapping[str, Any] | tuple[tuple[str, Any], ...] = FrozenDict()
    stem: str = dataclasses.field(default="auto", metadata={
        "help": "layers reading the observation: auto (dense for flat vectors, nature for images with sides "
                ">= 36, minatar for smaller), dense, nature, impala or minatar (conv stems on (C, H, W) images)"})
    stem_gradient: str = dataclasses.field(default="segment", metadata={
        "help": "with gradient rtrl, what the layers below the cell get: segment (backprop through the segment, "
                "as Irie et al.) or immediate (one-step)"})
    encoder: tuple[int, ...] = ()
    head: tuple[int, ...] = (64,)
    activation: str = "relu"
    learning_rate: float = 6e-4
    total_updates: int | None = dataclasses.field(default=None, metadata={
        "help": "updates over which the learning rate decays linearly to 0; none: over the whole run in "
                "rtrl train (a constant rate for an R2ACConfig used on its own)"})
    rmsprop_decay: float = 0.99
    rmsprop_eps: float = 0.01
    max_grad_norm: float | None = 40.0
    entropy_coef: float = 0.01
    baseline_coef: float = 0.5
    gamma: float = 0.99
    clip_rewards: bool = True
    rho_bar: float = 1.0
    c_bar: float = 1.0
    lag: int = dataclasses.field(default=0, metadata={
        "help": "actor-learner staleness in updates: the actors act with the parameters of this many updates ago"})
    normalize_observations: bool = False
    scale_rewards: bool = False
    action: str = "auto"
    dtype: str = "float32"

    def __post_init__(self):
        validate.choice("agent", self.agent, R2AC_AGENTS)
        validate.choice("gradient", self.gradient, R2AC_GRADIENTS)
        validate.choice("activation", self.activation, ACTIVATIONS)
        validate.choice("action", self.action, ACTIONS)
        validate.choice("stem", self.stem, R2AC_STEMS)
        validate.choice("stem_gradient", self.stem_gradient, STEM_GRADIENTS)
        if self.stem_gradient == "immediate" and self.gradient != "rtrl":
            raise ValueError(f"stem_gradient='immediate' needs gradient='rtrl'; with gradient={self.gradient!r} "
                             "the layers below the cell get back-propagation through the segment: valid: 'segment'.")
        for name in ("num_envs", "hidden_size"):
            object.__setattr__(self, name, validate.positive_int(name, getattr(self, name)))
        object.__setattr__(self, "unroll", validate.positive_int(
            "unroll", self.unroll, what="(M: steps per segment, the update period and V-trace horizon)"))
        object.__setattr__(self, "lag", validate.non_negative_int(
            "lag", self.lag, what="(actor-learner staleness in updates; 0: synchronous)"))
        if self.total_updates is not None:
            object.__setattr__(self, "total_updates", validate.positive_int(
                "total_updates", self.total_updates, what="(or None: a constant learning rate)"))
        for name in ("encoder", "head"):
            object.__setattr__(self, name, validate.widths(name, getattr(self, name)))
        for name in ("learning_rate", "rmsprop_eps", "rho_bar", "c_bar"):
            object.__setattr__(self, name, validate.positive_number(name, getattr(self, name)))
        if self.c_bar > self.rho_bar:
            raise ValueError(f"c_bar={self.c_bar:g} is above rho_bar={self.rho_bar:g}; V-trace assumes c_bar <= "
                             "rho_bar (its targets' fixed point depends on rho_bar alone only then).")
        if self.max_grad_norm is not None:
            object.__setattr__(self, "max_grad_norm", validate.positive_number(
                "max_grad_norm", self.max_grad_norm, what="(or None: no clipping)"))
        for name in ("entropy_coef", "baseline_coef"):
            object.__setattr__(self, name, validate.non_negative_number(name, getattr(self, name)))
        object.__setattr__(self, "gamma", validate.number_in("gamma", self.gamma, 0.0, 1.0))
        object.__setattr__(self, "rmsprop_decay", validate.number_in("rmsprop_decay", self.rmsprop_decay, 0.0, 1.0,
                                                                     high_open=True))
        for name in ("clip_rewards", "normalize_observations", "scale_rewards"):
            validate.boolean(name, getattr(self, name))
        validate.float_dtype("dtype", self.dtype)
        self._check_cell()

    # What the training layer reads of every agent config (`rtrl.experiments.train_config`).
    @property
    def rollout_size(self) -> int:
        """Environment steps per iteration (one segment of every environment, then one update): N × M."""
        return self.num_envs * self.unroll

    def stem_for(self, observation_shape: tuple[int, ...]) -> str:
        """The stem this config gives observations of ``observation_shape`` ((D,) or (C, H, W)): ``stem``
        resolved (`rtrl.agents.network.resolve_stem`); a ValueError naming the field ``stem``, what was
        given and what is valid when it does not fit them (a dense stem on images, a conv stem on flat
        vectors, images too small for the stem)."""
        # imported here: the network module is not needed to make a config
        from rtrl.agents.network import resolve_stem

        return resolve_stem(self.stem, observation_shape)

    def describe(self) -> str:
        """The agent in a few words (run names, plot legends); a convolutional stem is named (with its
        gradient under RTRL), "auto" and "dense" are not."""
        stem = ""
        if self.stem not in ("auto", "dense"):
            stem = f", {self.stem} stem" + (f" ({self.stem_gradient} gradient)" if self.gradient == "rtrl" else "")
        if self.gradient == "none":
            return f"R2AC feed-forward M={self.unroll}{stem}"
        how = "RTRL" if self.gradient == "rtrl" else f"T-BPTT({self.unroll})"
        return f"R2AC {self.cell} n={self.hidden_size} ({how}, M={self.unroll}){stem}"

    def shrink_hint(self) -> str:
        """The fields that set its memory, with their values (for an out-of-memory message)."""
        cell = "" if self.gradient == "none" else f", hidden_size ({self.hidden_size})"
        return f"num_envs ({self.num_envs}), unroll ({self.unroll}){cell}"

    def divergence_advice(self) -> str:
        """What to change after a divergence (NaN/inf)."""
        clip = "" if self.max_grad_norm is not None else ", set max_grad_norm"
        return (f"lower the learning rate (now {self.learning_rate:g}){clip} and start a new run (resuming with "
                "another learning rate is refused)")
