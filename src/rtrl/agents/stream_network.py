"""The streaming agents' networks: each function (critic, actor, Q) its own branch

    obs → encoder (Dense → LayerNorm → LeakyReLU)* → recurrent cell (optional) → head (Dense → LN → LeakyReLU)* → Dense

with sparse initialisation (Elsayed et al. 2024, arXiv 2410.14606; the recurrent layer as in Farr et al.
2026). The actor and the critic do not share parameters: stream AC(λ) keeps one eligibility trace
and one ObGD step-size bound per network, and ∇V and ∇log π then come out of ONE backward pass
through both (their parameter sets are disjoint). Each branch has its own cell, carry and RTRL traces.

The networks keep `rtrl.agents.network.ActorCritic`'s interface, so trained streaming agents act,
evaluate and save like PPO ones: ``carry, policy, value = net.step(params, carry, obs, first)``
(``first`` resets state and RTRL traces before the step), ``net.value_only(params, carry, obs)``
(one step on without traces), ``net.initial_carry(params, batch)``, ``net.init(key)``.

With a ``gradient="rtrl"`` cell, ``jax.vjp`` through one ``step`` gives every branch's cell the exact
gradient through all steps since the reset; with a ``"bptt"`` cell and the carry held constant it
is T-BPTT(1)'s one-step gradient; the encoder always gets the immediate gradient (`rtrl.networks.stack`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from rtrl.agents.distributions import Categorical, DiagGaussian, EpsilonGreedy, Policy
from rtrl.cells.base import Carry, Cell
from rtrl.networks.mlp import apply_dense, apply_mlp, init_mlp, init_sparse_dense

__all__ = ["Branch", "StreamActorCritic", "StreamQNetwork"]

ACTIVATION = "leaky_relu"


@dataclasses.dataclass(frozen=True)
class Branch:
    """One function of the observation history: encoder → optional cell → head → ``output_size`` outputs."""

    observation_size: int
    output_size: int
    cell: Cell | None
    encoder: tuple[int, ...] = (128,)
    head: tuple[int, ...] = (128,)
    layer_norm: bool = True
    sparsity: float = 0.9
    dtype: Any = jnp.float32

    def init(self, key: jax.Array) -> dict[str, Any]:
        k_enc, k_cell, k_head, k_out = jax.random.split(key, 4)
        params: dict[str, Any] = {"encoder": init_mlp(k_enc, self.observation_size, self.encoder, self.dtype,
                                                      sparsity=self.sparsity)}
        d = self.encoder[-1] if self.encoder else self.observation_size
        if self.cell is not None:
            params["cell"] = self.cell.init(k_cell, d)
            d = self.cell.output_size
        params["head"] = init_mlp(k_head, d, self.head, self.dtype, sparsity=self.sparsity)
        d = self.head[-1] if self.head else d
        params["out"] = init_sparse_dense(k_out, d, self.output_size, self.dtype, sparsity=self.sparsity)
        return params

    def initial_carry(self, params: dict[str, Any], batch_size: int) -> Carry | tuple[()]:
        return () if self.cell is None else self.cell.initial_carry(params["cell"], batch_size)

    def apply(self, params: dict[str, Any], carry: Any, obs: jax.Array, first: jax.Array) -> tuple[Any, jax.Array]:
        """(carry_t, outputs (B, output_size)) one step on from ``carry``."""
        z = apply_mlp(params["encoder"], obs.astype(self.dtype), ACTIVATION, normalize=self.layer_norm)
        if self.cell is not None:
            carry, z = self.cell.step(params["cell"], carry, z, first)
        z = apply_mlp(params["head"], z, ACTIVATION, normalize=self.layer_norm)
        return carry, apply_dense(params["out"], z)

    def apply_without_traces(self, params: dict[str, Any], carry: Any, obs: jax.Array,
                             first: jax.Array) -> tuple[Any, jax.Array]:
        """`apply` with the state advanced but no RTRL traces formed (acting, bootstrap values)."""
        if self.cell is None:
            return self.apply(params, carry, obs, first)
        plain = dataclasses.replace(self, cell=dataclasses.replace(self.cell, gradient="bptt"))
        carry, out = plain.apply(params, Carry(carry.state, ()), obs, first)
        return carry, out


def _branch(config: Any, observation_size: int, output_size: int) -> Branch:
    return Branch(observation_size, output_size, config.make_cell(), config.encoder, config.head,
                  config.layer_norm, config.sparsity, jnp.dtype(config.dtype))


def _no_first(obs: jax.Array, first: jax.Array | None) -> jax.Array:
    return jnp.zeros(obs.shape[:1], bool) if first is None else first


class _Sizes:
    """What a network tells about itself (`ActorCritic`'s interface), read from the branch that acts."""

    @property
    def observation_size(self) -> int:
        return self._policy_branch.observation_size

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return (self.observation_size,)  # flat vectors only (no conv stem)

    @property
    def action_size(self) -> int:
        return self._policy_branch.output_size

    @property
    def cell(self) -> Cell | None:
        return self._policy_branch.cell

    @property
    def recurrent(self) -> bool:
        return self._policy_branch.cell is not None


@dataclasses.dataclass(frozen=True)
class StreamActorCritic(_Sizes):
    """Actor and critic branches. Parameters {"actor": branch params (+ "log_std" for continuous
    actions: a state-independent Gaussian scale), "critic": branch params}; the carry is
    {"actor": ..., "critic": ...}."""

    actor: Branch
    critic: Branch
    discrete: bool

    @classmethod
    def make(cls, config: Any, observation_size: int, action_size: int, discrete: bool) -> StreamActorCritic:
        return cls(_branch(config, observation_size, action_size), _branch(config, observation_size, 1), discrete)

    @property
    def _policy_branch(self) -> Branch:
        return self.actor

    def init(self, key: jax.Array) -> dict[str, Any]:
        k_actor, k_critic = jax.random.split(key)
        actor = self.actor.init(k_actor)
        if not self.discrete:
            actor["log_std"] = jnp.zeros((self.action_size,), self.actor.dtype)
        return {"actor": actor, "critic": self.critic.init(k_critic)}

    def initial_carry(self, params: dict[str, Any], batch_size: int) -> dict[str, Any]:
        return {"actor": self.actor.initial_carry(params["actor"], batch_size),
                "critic": self.critic.initial_carry(params["critic"], batch_size)}

    def _policy(self, params: dict[str, Any], out: jax.Array) -> Policy:
        return Categorical(out) if self.discrete else DiagGaussian(out, params["actor"]["log_std"])

    def step(self, params: dict[str, Any], carry: dict[str, Any], obs: jax.Array,
             first: jax.Array) -> tuple[dict[str, Any], Policy, jax.Array]:
        """One step of both branches: (carry_t, π(·|h_t), V(h_t) (B,))."""
        actor_carry, out = self.actor.apply(params["actor"], carry["actor"], obs, first)
        critic_carry, value = self.critic.apply(params["critic"], carry["critic"], obs, first)
        return {"actor": actor_carry, "critic": critic_carry}, self._policy(params, out), value[..., 0]

    def policy_only(self, params: dict[str, Any], carry: dict[str, Any], obs: jax.Array,
                    first: jax.Array) -> Policy:
        """π(·|h_t) one step on from ``carry``, no traces formed (acting)."""
        return self._policy(params, self.actor.apply_without_traces(params["actor"], carry["actor"], obs, first)[1])

    def value_only(self, params: dict[str, Any], carry: dict[str, Any], obs: jax.Array,
                   first: jax.Array | None = None) -> jax.Array:
        """V one step on from ``carry`` without traces (bootstrap values)."""
        return self.critic.apply_without_traces(params["critic"], carry["critic"], obs, _no_first(obs, first))[1][..., 0]


@dataclasses.dataclass(frozen=True)
class StreamQNetwork(_Sizes):
    """One branch of action values Q(h_t, ·). Parameters {"q": branch params}; carry {"q": ...}.
    ``step`` returns the ε-greedy policy of ``epsilon`` (for evaluation: its mode is greedy) and
    max_a Q as the value."""

    q: Branch
    epsilon: float = 0.0

    discrete = True

    @classmethod
    def make(cls, config: Any, observation_size: int, action_size: int) -> StreamQNetwork:
        return cls(_branch(config, observation_size, action_size), config.epsilon_end)

    @property
    def _policy_branch(self) -> Branch:
        return self.q

    def init(self, key: jax.Array) -> dict[str, Any]:
        return {"q": self.q.init(key)}

    def initial_carry(self, params: dict[str, Any], batch_size: int) -> dict[str, Any]:
        return {"q": self.q.initial_carry(params["q"], batch_size)}

    def values(self, params: dict[str, Any], carry: dict[str, Any], obs: jax.Array,
               first: jax.Array) -> tuple[dict[str, Any], jax.Array]:
        """(carry_t, Q(h_t, ·) (B, A)) with traces."""
        carry_q, q = self.q.apply(params["q"], carry["q"], obs, first)
        return {"q": carry_q}, q

    def values_only(self, params: dict[str, Any], carry: dict[str, Any], obs: jax.Array,
                    first: jax.Array | None = None) -> jax.Array:
        """Q(h_t, ·) one step on from ``carry``, no traces formed."""
        return self.q.apply_without_traces(params["q"], carry["q"], obs, _no_first(obs, first))[1]

    def step(self, params: dict[str, Any], carry: dict[str, Any], obs: jax.Array,
             first: jax.Array) -> tuple[dict[str, Any], Policy, jax.Array]:
        carry, q = self.values(params, carry, obs, first)
        return carry, EpsilonGreedy(q, jnp.asarray(self.epsilon, q.dtype)), jnp.max(q, axis=-1)

    def value_only(self, params: dict[str, Any], carry: dict[str, Any], obs: jax.Array,
                   first: jax.Array | None = None) -> jax.Array:
        return jnp.max(self.values_only(params, carry, obs, first), axis=-1)
