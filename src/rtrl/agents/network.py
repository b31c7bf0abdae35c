"""The actor-critic network of the RTU paper's agents.

    obs → encoder MLP (default Dense 64 + tanh) → recurrent cell (any of `rtrl.cells`; none for the
    memoryless variant) → actor head Dense(64)-tanh-Dense(A)  and  critic head Dense(64)-tanh-Dense(1)

as in the public code of Elelimy et al. 2024 (arXiv 2409.01449). Orthogonal initialisation with
gain sqrt 2 for hidden layers, 0.01 for the policy output and 1.0 for the value output (the usual
PPO initialisation). A continuous policy is a diagonal Gaussian with a state-independent
``log_std`` (initialised to 0); a discrete one is categorical over logits.

The policy distributions are in `rtrl.agents.distributions`, parameter counts in `rtrl.agents.budget`.

The network keeps the cell contract: ``carry, policy, value = net.step(params, carry, obs, first)``
where ``first`` (batch,) marks the first observation of an episode; the cell zeroes its state and
RTRL traces *together* before consuming it (rtrl.envs convention: ``first`` = previous ``done``).
With a ``gradient="rtrl"`` cell, ``jax.grad`` through ONE step from a stored carry gives the heads
their exact gradient, the cell the exact RTRL gradient through all steps since the last reset, and
the encoder its immediate (one-step) gradient (see `rtrl.networks.stack`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from rtrl.agents.distributions import Categorical, DiagGaussian, Policy
from rtrl.cells.base import Carry, Cell
from rtrl.networks.mlp import apply_dense, apply_mlp, init_dense, init_mlp

__all__ = ["ActorCritic"]

@dataclasses.dataclass(frozen=True)
class ActorCritic:
    """Encoder → optional recurrent cell → actor and critic heads (hashable; static under jit).

    Attributes:
      observation_size: size of the flat observation.
      action_size: number of discrete actions, or the dimension of a continuous action.
      discrete: categorical (True) or diagonal-Gaussian (False) policy.
      cell: a `Cell` from `rtrl.cells.make`, or None for the memoryless (MLP) network.
      encoder: hidden widths of the encoder MLP (``()``: none).
      head: hidden widths of each head MLP.
      activation: "tanh" or "relu" for the encoder and head hidden layers.
      dtype: parameter dtype (the cell's, if any).
    """

    observation_size: int
    action_size: int
    discrete: bool
    cell: Cell | None
    encoder: tuple[int, ...] = (64,)
    head: tuple[int, ...] = (64,)
    activation: str = "tanh"
    dtype: Any = jnp.float32

    @classmethod
    def from_config(cls, config: Any, observation_size: int, action_size: int, discrete: bool) -> ActorCritic:
        """The network of an agent config with the fields ``make_cell``, ``encoder``, ``head``,
        ``activation`` and ``dtype`` (PPO agents, R2AC)."""
        return cls(observation_size=observation_size, action_size=action_size, discrete=discrete,
                   cell=config.make_cell(), encoder=config.encoder, head=config.head,
                   activation=config.activation, dtype=jnp.dtype(config.dtype))

    @property
    def recurrent(self) -> bool:
        return self.cell is not None

    @property
    def feature_size(self) -> int:
        """Size of the features fed to the heads."""
        if self.cell is not None:
            return self.cell.output_size
        return self.encoder[-1] if self.encoder else self.observation_size

    def with_gradient(self, gradient: str) -> ActorCritic:
        """The same network with the cell in another gradient mode (same parameters)."""
        if self.cell is None:
            return self
        return dataclasses.replace(self, cell=dataclasses.replace(self.cell, gradient=gradient))

    def init(self, key: jax.Array) -> dict[str, Any]:
        """{"encoder": [layers], "cell": cell params (recurrent only), "actor": [...], "actor_out",
        "critic": [...], "critic_out", "log_std" (continuous only)}."""
        k_enc, k_cell, k_actor, k_aout, k_critic, k_cout = jax.random.split(key, 6)
        params: dict[str, Any] = {"encoder": init_mlp(k_enc, self.observation_size, self.encoder, self.dtype)}
        d_enc = self.encoder[-1] if self.encoder else self.observation_size
        if self.cell is not None:
            params["cell"] = self.cell.init(k_cell, d_enc)
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

    def features(self, params: dict[str, Any], carry: Any, obs: jax.Array,
                 first: jax.Array) -> tuple[Any, jax.Array]:
        """(carry_t, z_t): encoder then one cell step (reset where ``first``)."""
        z = apply_mlp(params["encoder"], obs.astype(self.dtype), self.activation)
        if self.cell is None:
            return carry, z
        return self.cell.step(params["cell"], carry, z, first)

    def heads(self, params: dict[str, Any], z: jax.Array) -> tuple[Policy, jax.Array]:
        """(policy, value (B,)) from features z (B, feature_size)."""
        a = apply_dense(params["actor_out"], apply_mlp(params["actor"], z, self.activation))
        v = apply_dense(params["critic_out"], apply_mlp(params["critic"], z, self.activation))[..., 0]
        policy = Categorical(a) if self.discrete else DiagGaussian(a, params["log_std"])
        return policy, v

    def step(self, params: dict[str, Any], carry: Any, obs: jax.Array,
             first: jax.Array) -> tuple[Any, Policy, jax.Array]:
        """One step: obs (B, observation_size), first (B,) bool → (carry_t, policy, value (B,))."""
        carry, z = self.features(params, carry, obs, first)
        policy, value = self.heads(params, z)
        return carry, policy, value

    def replay(self, params: dict[str, Any], carry: Any, obs: jax.Array, first: jax.Array) -> tuple[Policy, jax.Array]:
        """(policy, value) one step on from a stored carry, for a loss: same values and gradients as
        `step`, through the cell's `replay` (a fused trace contraction where the cell has one)."""
        z = apply_mlp(params["encoder"], obs.astype(self.dtype), self.activation)
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
