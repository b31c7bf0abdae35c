"""`PPOConfig`: one frozen, validated configuration for the three PPO agents."""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping


from rtrl import cells, validate
from rtrl.frozendict import FrozenDict

__all__ = ["ACTIONS", "AGENTS", "LAYER_GRADIENTS", "LayerGradientChoice", "PPOConfig", "STALENESS"]

AGENTS = ("real-time-ppo", "tbptt-ppo", "mlp-ppo")
STALENESS = ("stale", "fresh")
ACTIONS = ("auto", "discrete", "continuous")


# How a streaming or R2AC agent's recurrent layer learns: exact RTRL (any RTRL cell), truncated BPTT
# (T-BPTT(1) for a streaming agent, T-BPTT(M) for R2AC; any cell) or no recurrent layer (feed-forward).
LAYER_GRADIENTS = ("rtrl", "tbptt", "none")


class LayerGradientChoice:
    """What the streaming agents' and R2AC's configs share: fields ``gradient`` (`LAYER_GRADIENTS`),
    ``cell``, ``hidden_size``, ``cell_options``, ``dtype``, ``gamma``, ``normalize_observations`` and
    ``scale_rewards``, and the rules on them, written once."""

    def _check_cell(self) -> None:
        """Freeze ``cell_options`` and build the cell once, so that an unknown cell, a bad option or a
        cell without RTRL traces under gradient "rtrl" is refused when the config is made."""
        object.__setattr__(self, "cell_options", cells.freeze_options(self.cell_options))
        if self.gradient != "none":
            try:
                self.make_cell()
            except ValueError as e:
                raise ValueError(f"cell/cell_options (gradient={self.gradient!r}): {e}") from None

    @property
    def recurrent(self) -> bool:
        return self.gradient != "none"

    def make_cell(self) -> cells.Cell | None:
        """The recurrent cell (gradient "rtrl", or "bptt" for truncated BPTT); None without one."""
        if self.gradient == "none":
            return None
        mode = "rtrl" if self.gradient == "rtrl" else "bptt"
        return cells.make(self.cell, hidden_size=self.hidden_size, gradient=mode, dtype=self.dtype,
                          **dict(self.cell_options))

    def wrapper_options(self) -> dict[str, Any]:
        """Options of `rtrl.envs.wrappers.standard` that this agent sets."""
        return {"gamma": self.gamma, "normalize_obs": self.normalize_observations,
                "normalize_reward": self.scale_rewards}


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Hyperparameters of a PPO agent; defaults are the RTU paper's (Elelimy et al. 2024, arXiv 2409.01449).

    Attributes:
      agent: "real-time-ppo" (RTRL cell, single-step updates from stored carries), "tbptt-ppo"
        (BPTT cell, sequence minibatches of ``sequence_length``) or "mlp-ppo" (no recurrent layer).
      cell, hidden_size, cell_options: the recurrent layer (`rtrl.cells.make`); ignored by mlp-ppo.
        ``cell_options`` is kept as an immutable `FrozenDict` (given as a mapping or (name, value) pairs).
      encoder, head: hidden widths of the encoder MLP and of each head MLP; activation: theirs.
      num_envs: environments stepped in parallel; num_steps: steps per env per rollout, so a rollout
        holds num_steps × num_envs transitions.
      update_epochs, num_minibatches: passes over the rollout and minibatches per pass.
      sequence_length: T of tbptt-ppo (must divide num_steps); None otherwise.
      learning_rate, adam_eps, max_grad_norm (None: no clipping): the optimiser.
      gamma, gae_lambda: GAE. clip_eps, clip_value, value_coef, entropy_coef, normalize_advantage: the loss.
      gradient: "stale" (stored carries are never recomputed during the epochs; the default) or
        "fresh" (re-scan the rollout with the current parameters before every epoch after the first).
        real-time-ppo only.
      target: "stale" (advantages once per rollout) or "fresh" (recomputed before every epoch after
        the first; the bootstrap values of time-limit truncations stay the rollout's). real-time-ppo
        and mlp-ppo.
      action: "auto" (from the environment), "discrete" or "continuous" (checked against it).
      dtype: parameter dtype, "float32" or "float64".
    """

    agent: str = "real-time-ppo"
    cell: str = "rtu-linear"
    hidden_size: int = 192
    cell_options: Mapping[str, Any] | tuple[tuple[str, Any], ...] = FrozenDict()
    encoder: tuple[int, ...] = (64,)
    head: tuple[int, ...] = (64,)
    activation: str = "tanh"
    num_envs: int = 1
    num_steps: int = 2048
    update_epochs: int = 4
    num_minibatches: int = 32
    sequence_length: int | None = None
    learning_rate: float = 1e-4
    adam_eps: float = 1e-5
    max_grad_norm: float | None = 0.5
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    clip_value: bool = True
    value_coef: float = 0.5
    entropy_coef: float = 0.0
    normalize_advantage: bool = True
    gradient: str = "stale"
    target: str = "stale"
    action: str = "auto"
    dtype: str = "float32"

    def __post_init__(self):
        validate.choice("agent", self.agent, AGENTS)
        validate.choice("gradient", self.gradient, STALENESS)
        validate.choice("target", self.target, STALENESS)
        validate.choice("action", self.action, ACTIONS)
        validate.choice("activation", self.activation, ("tanh", "relu"))
        for name in ("hidden_size", "num_envs", "num_steps", "update_epochs", "num_minibatches"):
            validate.positive_int(name, getattr(self, name))
        for name in ("encoder", "head"):
            object.__setattr__(self, name, validate.widths(name, getattr(self, name)))
        for name in ("learning_rate", "adam_eps", "clip_eps"):
            validate.positive_number(name, getattr(self, name))
        if self.max_grad_norm is not None:
            validate.positive_number("max_grad_norm", self.max_grad_norm, what="(or None: no clipping)")
        for name in ("value_coef", "entropy_coef"):
            validate.non_negative_number(name, getattr(self, name))
        for name in ("gamma", "gae_lambda"):
            validate.number_in(name, getattr(self, name), 0.0, 1.0)
        for name in ("clip_value", "normalize_advantage"):
            validate.boolean(name, getattr(self, name))
        validate.float_dtype("dtype", self.dtype)
        rollout = self.num_steps * self.num_envs
        if self.agent == "tbptt-ppo":
            if self.sequence_length is None:
                raise ValueError("sequence_length is required with agent='tbptt-ppo': a positive integer T that "
                                 f"divides num_steps={self.num_steps}.")
            validate.positive_int("sequence_length", self.sequence_length)
            if self.num_steps % self.sequence_length:
                raise ValueError(f"sequence_length={self.sequence_length} must divide num_steps={self.num_steps} "
                                 f"(valid: {_divisors(self.num_steps)}).")
            sequences = rollout // self.sequence_length
            if sequences % self.num_minibatches:
                raise ValueError(f"num_minibatches={self.num_minibatches} must divide the number of sequences per "
                                 f"rollout, num_steps × num_envs / sequence_length = {sequences} "
                                 f"(valid: {_divisors(sequences)}).")
        else:
            if self.sequence_length is not None:
                raise ValueError(f"sequence_length applies to agent='tbptt-ppo' only, got {self.sequence_length!r} "
                                 f"with agent={self.agent!r}; leave it None.")
            if rollout % self.num_minibatches:
                raise ValueError(f"num_minibatches={self.num_minibatches} must divide the rollout, num_steps × "
                                 f"num_envs = {rollout} (valid: {_divisors(rollout)}).")
        if self.gradient == "fresh" and self.agent != "real-time-ppo":
            raise ValueError(f"gradient='fresh' applies to agent='real-time-ppo' only (it re-scans RTRL carries), "
                             f"got agent={self.agent!r}; use gradient='stale'.")
        if self.target == "fresh" and self.agent == "tbptt-ppo":
            raise ValueError("target='fresh' is implemented for 'real-time-ppo' and 'mlp-ppo' only; use "
                             "target='stale' with agent='tbptt-ppo'.")
        object.__setattr__(self, "cell_options", cells.freeze_options(self.cell_options))
        if self.agent != "mlp-ppo":
            try:
                self.make_cell()
            except ValueError as e:  # unknown cell name or bad option: name the field
                raise ValueError(f"cell/cell_options: {e}") from None

    @property
    def rollout_size(self) -> int:
        """Transitions per rollout: num_steps × num_envs."""
        return self.num_steps * self.num_envs

    @property
    def minibatch_size(self) -> int:
        """Transitions per minibatch (for tbptt-ppo: sequences × sequence_length)."""
        return self.rollout_size // self.num_minibatches

    @property
    def recurrent(self) -> bool:
        return self.agent != "mlp-ppo"

    def describe(self) -> str:
        """The agent in a few words (run names, plot legends)."""
        if self.agent == "mlp-ppo":
            return "MLP PPO"
        how = "RTRL" if self.agent == "real-time-ppo" else f"T-BPTT T={self.sequence_length}"
        return f"{self.cell} n={self.hidden_size} ({how})"

    def shrink_hint(self) -> str:
        """The fields that set its memory, with their values (for an out-of-memory message)."""
        cell = "" if self.agent == "mlp-ppo" else f"hidden_size ({self.hidden_size}), "
        return f"num_steps ({self.num_steps}), num_envs ({self.num_envs}), {cell}".rstrip(", ")

    def divergence_advice(self) -> str:
        """What to change after a divergence (NaN/inf)."""
        return (f"lower the learning rate (now {self.learning_rate:g})"
                + ("" if self.max_grad_norm is not None else ", set max_grad_norm")
                + " and start a new run (resuming with another learning rate is refused)")

    def wrapper_options(self) -> dict[str, Any]:
        """Options of `rtrl.envs.wrappers.standard` that this agent sets."""
        return {"gamma": self.gamma}

    def make_cell(self) -> cells.Cell | None:
        """The recurrent cell (gradient "rtrl" for real-time-ppo, "bptt" for tbptt-ppo), None for mlp-ppo."""
        if self.agent == "mlp-ppo":
            return None
        gradient = "rtrl" if self.agent == "real-time-ppo" else "bptt"
        return cells.make(self.cell, hidden_size=self.hidden_size, gradient=gradient, dtype=self.dtype,
                          **dict(self.cell_options))


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, int(n**0.5) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))[:12]
