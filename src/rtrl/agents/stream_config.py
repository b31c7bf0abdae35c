"""`StreamConfig`: one frozen, validated configuration for the streaming agents (stream-ac, stream-q)."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping


from rtrl import validate
from rtrl.agents.config import ACTIONS, LAYER_GRADIENTS, LayerGradientChoice
from rtrl.frozendict import FrozenDict

__all__ = ["STREAM_AGENTS", "STREAM_GRADIENTS", "STREAM_OPTIMIZERS", "StreamConfig"]

STREAM_AGENTS = ("stream-ac", "stream-q")
# How the recurrent layer learns: exact RTRL, the one-step gradient of T-BPTT(1), or no recurrent layer.
STREAM_GRADIENTS = LAYER_GRADIENTS
STREAM_OPTIMIZERS = ("obgd", "adam")
# The step size α each optimiser starts from when none is given (Elsayed et al. 2024 for ObGD).
DEFAULT_STEP_SIZE = {"obgd": 1.0, "adam": 1e-3}


@dataclasses.dataclass(frozen=True)
class StreamConfig(LayerGradientChoice):
    """Hyperparameters of a streaming agent: one environment per seed, an update after every step
    from that step alone (batch size 1, no replay). Defaults are those of stream AC(λ) and stream
    Q(λ) (Elsayed, Vasan, Mahmood 2024, arXiv 2410.14606), the recurrent layer that of Farr et al.
    2026 (arXiv 2605.24709): an RTU learning by exact RTRL.

    Attributes:
      agent: "stream-ac" (actor-critic, discrete or continuous actions) or "stream-q" (Q(λ), discrete).
      gradient: how the recurrent layer's gradients of V, log π or Q are formed: "rtrl" (exact, the
        whole history, any RTRL cell), "tbptt" (T-BPTT(1): the one-step gradient, the carried state
        a constant; any cell) or "none" (no recurrent layer: a feed-forward network).
      cell, hidden_size, cell_options: the recurrent layer (`rtrl.cells.make`); ignored with "none".
      encoder, head: hidden widths of the layers below and above the cell (each Dense → LayerNorm →
        LeakyReLU when ``layer_norm``). stream-ac has an actor and a critic network, each its own.
        The default has no encoder: the cell reads the observation, so that with RTRL every
        parameter's gradient is exact; an encoder under the cell gets its immediate (one-step)
        gradient only (`rtrl.networks.stack`).
      num_steps: environment steps per iteration: the scan between two log rows (and checkpoints).
      gamma, lambda_: discount and trace decay of the eligibility traces.
      optimizer: "obgd" (overshooting-bounded gradient descent) or "adam" (optax Adam on −δ·z).
      step_size: α; None takes the optimiser's default (1.0 for ObGD, 1e-3 for Adam).
      kappa_critic, kappa_actor: ObGD's bound κ for the critic and actor (stream-ac); kappa_q: stream-q's.
      entropy_coef: τ of the actor trace's entropy term (stream-ac).
      epsilon_start, epsilon_end, epsilon_decay_steps: stream-q's ε-greedy schedule, linear in steps.
      layer_norm: LayerNorm (no affine) before every hidden activation.
      sparsity: fraction of each unit's input weights zeroed at initialisation (0: dense LeCun uniform).
      normalize_observations, scale_rewards: the running observation normalisation and reward
        scaling of the environment's wrapper stack (used unless the run's ``wrappers`` is "none").
      action: "auto", "discrete" or "continuous" (checked against the environment).
      dtype: parameter dtype, "float32" or "float64".
    """

    agent: str = "stream-ac"
    gradient: str = "rtrl"
    cell: str = "rtu-linear"
    hidden_size: int = 64
    cell_options: Mapping[str, Any] | tuple[tuple[str, Any], ...] = FrozenDict()
    encoder: tuple[int, ...] = ()
    head: tuple[int, ...] = (128,)
    num_steps: int = 1000
    gamma: float = 0.99
    lambda_: float = 0.8
    optimizer: str = "obgd"
    step_size: float | None = None
    kappa_critic: float = 2.0
    kappa_actor: float = 3.0
    kappa_q: float = 2.0
    entropy_coef: float = 0.01
    epsilon_start: float = 1.0
    epsilon_end: float = 0.01
    epsilon_decay_steps: int = 50_000
    layer_norm: bool = True
    sparsity: float = 0.9
    normalize_observations: bool = True
    scale_rewards: bool = True
    action: str = "auto"
    dtype: str = "float32"

    def __post_init__(self):
        validate.choice("agent", self.agent, STREAM_AGENTS)
        validate.choice("gradient", self.gradient, STREAM_GRADIENTS)
        validate.choice("optimizer", self.optimizer, STREAM_OPTIMIZERS)
        validate.choice("action", self.action, ACTIONS)
        for name in ("hidden_size", "num_steps", "epsilon_decay_steps"):
            object.__setattr__(self, name, validate.positive_int(name, getattr(self, name)))
        for name in ("encoder", "head"):
            object.__setattr__(self, name, validate.widths(name, getattr(self, name)))
        if self.step_size is None:
            object.__setattr__(self, "step_size", DEFAULT_STEP_SIZE[self.optimizer])
        for name in ("step_size", "kappa_critic", "kappa_actor", "kappa_q"):
            object.__setattr__(self, name, float(validate.positive_number(name, getattr(self, name))))
        object.__setattr__(self, "entropy_coef", float(validate.non_negative_number("entropy_coef",
                                                                                    self.entropy_coef)))
        for name in ("gamma", "lambda_", "epsilon_start", "epsilon_end", "sparsity"):
            object.__setattr__(self, name, float(validate.number_in(name, getattr(self, name), 0.0, 1.0)))
        if self.sparsity >= 1.0:
            raise ValueError(f"sparsity must be in [0, 1) (the fraction of input weights zeroed; 1 would zero "
                             f"them all), got {self.sparsity!r}.")
        for name in ("layer_norm", "normalize_observations", "scale_rewards"):
            validate.boolean(name, getattr(self, name))
        if self.agent == "stream-q" and self.action == "continuous":
            raise ValueError("agent='stream-q' needs discrete actions (Q(λ) takes a max over actions); "
                             "use agent='stream-ac' for a continuous action space.")
        validate.float_dtype("dtype", self.dtype)
        self._check_cell()

    # What the training layer reads of every agent config (`rtrl.experiments.train_config`).
    @property
    def num_envs(self) -> int:
        """One environment per seed: a stream."""
        return 1

    @property
    def rollout_size(self) -> int:
        """Environment steps per iteration (all of them learned from one by one)."""
        return self.num_steps

    def describe(self) -> str:
        """The agent in a few words (run names, plot legends)."""
        if self.gradient == "none":
            return f"{self.agent} feed-forward"
        how = "RTRL" if self.gradient == "rtrl" else "T-BPTT(1)"
        return f"{self.agent} {self.cell} n={self.hidden_size} ({how})"

    def shrink_hint(self) -> str:
        """The fields that set its memory, with their values (for an out-of-memory message)."""
        cell = "" if self.gradient == "none" else f"hidden_size ({self.hidden_size}), "
        return f"{cell}head ({list(self.head)})"

    def divergence_advice(self) -> str:
        """What to change after a divergence (NaN/inf)."""
        kappas = "kappa_critic/kappa_actor" if self.agent == "stream-ac" else "kappa_q"
        bound = (f" or raise the ObGD bound{'s' if self.agent == 'stream-ac' else ''} {kappas}"
                 if self.optimizer == "obgd" else "")
        return (f"lower step_size (now {self.step_size:g}){bound} and start a new run (resuming with another "
                "step size is refused)")
