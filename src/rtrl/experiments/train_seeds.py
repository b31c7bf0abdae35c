"""The seeds of a training run, run together, and the check that each stayed finite.

Seed k (``seed + k``) initialises its parameters, environments and sampling from its own key.
With a JAX-native environment the seeds run side by side under `jax.vmap`, one jitted call per
iteration (rollout + update); with a host environment (popgym, MuJoCo) each seed has its own
environments, stepped in lockstep with the others: one jitted policy call per step serves every
seed, and the update is vmapped over the seeds.

Every iteration also returns, per seed, whether the parameters and optimiser state after the
update are all finite (`PARAMETERS_FINITE`, computed inside the jitted update: one reduction per
leaf, no extra transfer); `divergence` reads it and the losses and names what went wrong.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rtrl import agents
from rtrl.experiments.train_config import TrainConfig

__all__ = ["PARAMETERS_FINITE", "Seeds", "divergence", "make"]

PARAMETERS_FINITE = "parameters_finite"


@dataclasses.dataclass
class Seeds:
    """The agent (of seed 0's environment) and the three functions of a run over all seeds."""

    agent: agents.Agent
    init: Callable[[], agents.RunState]  # every seed's state, stacked on a leading axis
    iteration: Callable[[agents.RunState], tuple[agents.RunState, dict[str, Any]]]  # metrics: (seeds,) arrays
    after_restore: Callable[[agents.RunState, int], agents.RunState]  # a checkpoint's state, ready to continue
    envs: list[Any] | None = None  # host environments: seed k's envs (they hold their own state); None if JAX-native


def _all_finite(tree: Any) -> jax.Array:
    """True when every floating-point leaf of ``tree`` is finite (a () bool)."""
    checks = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
    return jnp.all(jnp.stack(checks)) if checks else jnp.asarray(True)


def _checked(fn: Callable[..., tuple[agents.RunState, dict[str, Any]]]):
    """``fn`` (an update of one seed) that also reports `PARAMETERS_FINITE`."""

    def checked(*args):
        state, metrics = fn(*args)
        return state, {**metrics, PARAMETERS_FINITE: _all_finite((state.params, state.opt_state))}

    return checked


def make(config: TrainConfig, agent: agents.Agent | None = None) -> Seeds:
    """The seeds of ``config``; ``agent`` (from ``config.make_agent()``) if already built."""
    keys = [jax.random.PRNGKey(config.seed + k) for k in range(config.seeds)]
    agent = agent if agent is not None else config.make_agent()
    if agent.jax_native:
        batched = jax.jit(jax.vmap(_checked(agent.iteration)))
        return Seeds(agent, lambda: jax.vmap(agent.init)(jnp.stack(keys)), batched, lambda s, it: s)
    # Host environments hold their own state: each seed has its own envs; the seeds step in lockstep
    # (one policy call per step for all of them) and are updated together under vmap.
    seed_envs = [agent.env] + [config.make_env() for _ in range(config.seeds - 1)]
    update = jax.jit(jax.vmap(_checked(agent.update)))

    def init():
        states = [dataclasses.replace(agent, env=env).init(key) for env, key in zip(seed_envs, keys)]
        return jax.tree.map(lambda *x: jnp.stack(x), *states)

    def iteration(states):
        states, rollout = agent.host_rollout_seeds(states, seed_envs)
        return update(states, rollout)

    def after_restore(states, it):
        e = config.ppo.num_envs
        obs = np.stack([env.reset(seed=(config.seed + k) * 1_000_003 + it) for k, env in enumerate(seed_envs)])
        carry = jax.vmap(lambda p: agent.network.initial_carry(p, e))(states.params)
        return states._replace(obs=jnp.asarray(obs, jnp.float32), first=jnp.ones_like(states.first), carry=carry,
                               episode_return=jnp.zeros_like(states.episode_return),
                               episode_length=jnp.zeros_like(states.episode_length))

    return Seeds(agent, init, iteration, after_restore, seed_envs)


def divergence(metrics: Mapping[str, Any]) -> dict[int, str]:
    """Seeds whose iteration went non-finite, each with what did: "value loss is nan, policy loss
    is nan" or "the parameters are not finite". ``metrics`` are one iteration's, fetched to the
    host, each a (seeds,) array (with `PARAMETERS_FINITE`)."""
    finite = np.asarray(metrics[PARAMETERS_FINITE])
    names = sorted((n for n in metrics if n != PARAMETERS_FINITE), key=lambda n: (not n.endswith("_loss"), n))
    diverged: dict[int, str] = {}
    for k in range(finite.shape[0]):
        bad = []
        for name in names:
            value = float(np.asarray(metrics[name])[k])
            if not math.isfinite(value):
                bad.append(f"{name.replace('_', ' ')} is {value}")
        if len(bad) > 3:
            bad = bad[:3] + [f"{len(bad) - 3} more metric(s) are not finite"]
        if not finite[k]:
            bad.append("the parameters or optimiser state are not finite")
        if bad:
            diverged[k] = ", ".join(bad)
    return diverged
