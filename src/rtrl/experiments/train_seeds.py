"""The seeds of a training run, run together, and the check that each stayed finite.

Seed k (``seed + k``) initialises its parameters, environments and sampling from its own key.
With a JAX-native environment the seeds run side by side under `jax.vmap`, one jitted call per
iteration (rollout + update); with a host environment (popgym, MuJoCo) each seed has its own
environments, stepped in lockstep with the others: one jitted policy call per step serves every
seed, and the update is vmapped over the seeds. R2AC with lag ≥ 1 pipelines the two halves
(`rtrl.agents.r2ac_actors.Pipeline`): its state holds the segment in flight, and the actors act the
next segment on their own thread while the learner updates on that one (same results as acting then
learning; see `rtrl.agents.r2ac`).

Wrapper statistics. A JAX-native environment keeps its wrappers' statistics (observation
normalisation, reward scale) in ``RunState.env_state``. A host environment keeps them as attributes
of its wrapper objects, so for a host run ``env_state`` holds a copy: a `WrapperStatistics` of
float32 `Moments` (``observation``: mean/var (seeds, D), count (seeds,); ``reward``: mean/var/count
(seeds,); None where the stack has no such wrapper), read from every seed's envs after every
rollout. It is what a checkpoint saves; on resume each seed's wrapper stack is rebuilt starting
from it (`TrainConfig.make_env`), so normalisation continues where it stopped.

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
from rtrl.agents.policy import WrapperStatistics, statistics_of
from rtrl.experiments.train_config import TrainConfig

__all__ = ["NO_STATISTICS", "PARAMETERS_FINITE", "Seeds", "divergence", "make", "reset_seed", "statistics_missing"]

# The env_state of a host run whose statistics are not known (a checkpoint of an older version):
# no leaves, like the () such checkpoints hold; `after_restore` then restarts the statistics.
NO_STATISTICS = WrapperStatistics()

PARAMETERS_FINITE = "parameters_finite"


@dataclasses.dataclass
class Seeds:
    """The agent (of seed 0's environment) and the three functions of a run over all seeds."""

    agent: agents.Agent
    init: Callable[[], agents.RunState]  # every seed's state, stacked on a leading axis
    iteration: Callable[[agents.RunState], tuple[agents.RunState, dict[str, Any]]]  # metrics: (seeds,) arrays
    after_restore: Callable[[agents.RunState, int], agents.RunState]  # a checkpoint's state, ready to continue
    envs: list[Any] | None = None  # host environments: seed k's envs (they hold their own state); None if JAX-native
    close: Callable[[], None] = lambda: None  # joins what the run started beside it (R2AC's actor thread)


def reset_seed(seed: int, iteration: int) -> int:
    """The seed a host env of run seed ``seed`` is reset with when a run resumes at ``iteration``."""
    return seed * 1_000_003 + iteration


def _host_statistics(seed_envs: list[Any]) -> WrapperStatistics:
    """Every seed's wrapper statistics, read from its host envs and stacked on a leading seed axis
    (float32 jax arrays; None where the stack has no such wrapper)."""
    per_seed = [statistics_of(env) for env in seed_envs]

    def stacked(part: str):
        moments = [getattr(s, part) for s in per_seed]
        if moments[0] is None:
            return None
        return jax.tree.map(lambda *x: jnp.asarray(np.stack(x), jnp.float32), *moments)

    return WrapperStatistics(*(stacked(part) for part in WrapperStatistics._fields))


def _seed_statistics(statistics: Any, k: int) -> WrapperStatistics:
    """Seed ``k``'s statistics from a host run's ``env_state`` (numpy float32 `Moments`, None where absent)."""
    if not isinstance(statistics, WrapperStatistics):
        return NO_STATISTICS
    return WrapperStatistics(*(None if m is None else jax.tree.map(lambda x: np.asarray(x[k], np.float32), m)
                               for m in statistics))


def statistics_missing(seeds: Seeds, saved_paths: list[str]) -> bool:
    """True for a host run whose wrapper stack has statistics but whose checkpoint (leaf paths
    ``saved_paths``) holds none: written before host runs kept them in ``env_state``."""
    if seeds.envs is None:
        return False
    has_statistics = any(m is not None for m in statistics_of(seeds.envs[0]))
    return has_statistics and not any(p.startswith(".env_state") for p in saved_paths)


def _all_finite(tree: Any) -> jax.Array:
    """True when every floating-point leaf of ``tree`` is finite (a () bool)."""
    checks = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
    return jnp.all(jnp.stack(checks)) if checks else jnp.asarray(True)


def _checked(fn: Callable[..., tuple[agents.RunState, dict[str, Any]]]):
    """``fn`` (an update of one seed) that also reports `PARAMETERS_FINITE`."""

    def checked(*args):
        state, metrics, *rest = fn(*args)  # rest: the rollout buffer of Agent.iteration_reusing
        return state, {**metrics, PARAMETERS_FINITE: _all_finite((state.params, state.opt_state))}, *rest

    return checked


def make(config: TrainConfig, agent: agents.Agent | None = None, *, overlap: bool = True,
         processes: int | str = 1, threads: int | None = None) -> Seeds:
    """The seeds of ``config``; ``agent`` (from ``config.make_agent()``) if already built. ``overlap``:
    R2AC with lag ≥ 1 runs its actors on their own thread beside the learner (False: the same pipeline
    in one thread; the same results). ``processes``: the worker processes a JAX-native run's seeds are
    split over (`rtrl.experiments.seed_processes`; "auto": one per CPU on a CPU-only JAX; 1: all in
    this process), each with ``threads`` XLA CPU threads (None: the CPUs shared out)."""
    keys = [jax.random.PRNGKey(config.seed + k) for k in range(config.seeds)]
    agent = agent if agent is not None else config.make_agent()
    if processes != 1:
        from rtrl.experiments import seed_processes

        splittable = agent.jax_native and not isinstance(agent, agents.R2ACAgent)
        what = "R2AC" if isinstance(agent, agents.R2ACAgent) else f"a host environment ({config.env})"
        seed_groups = seed_processes.groups(processes, config.seeds, splittable=splittable, what=what)
        if len(seed_groups) > 1:
            return seed_processes.make(config, agent, seed_groups, threads)
    if isinstance(agent, agents.R2ACAgent):
        return _r2ac(config, agent, keys, overlap)
    if agent.jax_native and not agent.reuses_buffer:  # a streaming agent: no rollout to hand back
        batched = jax.jit(jax.vmap(_checked(agent._iteration)))
        return Seeds(agent, _jax_init(agent, keys), batched, lambda s, it: s)
    if agent.jax_native:
        # One call per iteration for all seeds, writing the rollout into the previous one's memory (donated:
        # no new ≈200 MB buffer to allocate and zero-fill each iteration; see Agent.iteration_reusing).
        batched = jax.jit(jax.vmap(_checked(agent._iteration_reusing)), donate_argnums=(1,))
        empty = jax.jit(jax.vmap(agent.empty_rollout))
        buffer: list[Any] = [None]  # the last rollout, handed back to the next call

        def iteration(states):
            if buffer[0] is None:
                buffer[0] = empty(states)
            states, metrics, buffer[0] = batched(states, buffer[0])
            return states, metrics

        return Seeds(agent, _jax_init(agent, keys), iteration, lambda s, it: s)
    # Host environments hold their own state: each seed has its own envs; the seeds step in lockstep
    # (one policy call per step for all of them) and are updated together under vmap.
    seed_envs, init, after_restore = _host(config, agent, keys)
    if agent.learns_while_acting:  # a streaming agent learns during its host loop; only the finiteness check is left
        update = jax.jit(jax.vmap(_checked(lambda state, metrics: (state, metrics))))
    else:
        update = jax.jit(jax.vmap(_checked(agent.update)))

    buffer: list[Any] = [None]  # the last rollout, written over by the next (as for JAX-native envs)

    def iteration(states):
        if agent.learns_while_acting:
            states, data = agent.host_iteration_seeds(states, seed_envs)  # data: the iteration's metrics
        else:
            states, data = agent.host_rollout_seeds(states, seed_envs, buffer[0])  # data: the rollout
            buffer[0] = data
        # the statistics the rollout left in the envs, so that a checkpoint of this state holds them
        return update(states._replace(env_state=_host_statistics(seed_envs)), data)

    return Seeds(agent, init, iteration, after_restore, seed_envs)


def _jax_init(agent: Any, keys: list[jax.Array]) -> Callable[[], agents.RunState]:
    # jitted: run eagerly, the vmapped init compiles each of its ~135 small operations apart (≈3 s more start-up)
    init = jax.jit(jax.vmap(agent.init))
    return lambda: init(jnp.stack(keys))


def _host(config: TrainConfig, agent: Any, keys: list[jax.Array]) -> tuple[list[Any], Callable, Callable]:
    """A host run's seed envs (seed k's are ``envs[k]``; seed 0's are the agent's own), its ``init``
    and its ``after_restore``. The list is refilled in place on restore."""
    seed_envs = [agent.env] + [config.make_env() for _ in range(config.seeds - 1)]

    def init():
        states = [dataclasses.replace(agent, env=env).init(key) for env, key in zip(seed_envs, keys)]
        states = jax.tree.map(lambda *x: jnp.stack(x), *states)
        return states._replace(env_state=_host_statistics(seed_envs))

    def after_restore(states, it):
        # Each seed's wrapper stack, rebuilt to start from its checkpointed statistics (and keep
        # updating them); the envs cannot be restored mid-episode, so they are reset.
        for k in range(config.seeds):
            statistics = _seed_statistics(states.env_state, k)
            if k > 0:  # seed 0's old envs are `agent.env` (the agent's own reference): left open
                seed_envs[k].close()
            seed_envs[k] = config.make_env(observation_moments=statistics.observation,
                                           reward_moments=statistics.reward)
        e = config.agent_config.num_envs
        obs = np.stack([env.reset(seed=reset_seed(config.seed + k, it)) for k, env in enumerate(seed_envs)])
        carry = jax.vmap(lambda p: agent.network.initial_carry(p, e))(states.params)
        states = agent.after_env_reset(states)
        return states._replace(env_state=_host_statistics(seed_envs), obs=jnp.asarray(obs, jnp.float32),
                               first=jnp.ones_like(states.first), carry=carry,
                               episode_return=jnp.zeros_like(states.episode_return),
                               episode_length=jnp.zeros_like(states.episode_length))

    return seed_envs, init, after_restore


def _r2ac(config: TrainConfig, agent: agents.R2ACAgent, keys: list[jax.Array], overlap: bool) -> Seeds:
    """R2AC's seeds. Lag 0: a segment, then an update (JAX-native: one vmapped jitted call; host: the
    actors' lockstep loop, then the vmapped update). Lag ≥ 1: the pipeline of `rtrl.agents.r2ac_actors`
    (the state holds the segment in flight; the actors act the next one on their thread while the
    learner learns, with ``overlap``)."""
    if agent.jax_native:
        seed_envs, init, after_restore = None, _jax_init(agent, keys), lambda s, it: s
        record = None
    else:
        seed_envs, init, after_restore = _host(config, agent, keys)

        def record(states):  # the statistics the actors left in the envs, so that a checkpoint holds them
            return states._replace(env_state=_host_statistics(seed_envs))

    if agent.pipelined:
        from rtrl.agents.r2ac_actors import Pipeline

        pipeline = Pipeline(agent, seed_envs, threaded=overlap, checked=_checked, after_acting=record)
        return Seeds(agent, lambda: pipeline.start(init()), pipeline.iteration, after_restore, seed_envs,
                     pipeline.close)
    if agent.jax_native:
        return Seeds(agent, init, jax.jit(jax.vmap(_checked(agent._iteration))), after_restore)
    learn = jax.jit(jax.vmap(_checked(agent.learn_synchronous)))

    def iteration(states):
        states, segments = agent.act_seeds_synchronous(states, seed_envs)
        return learn(record(states), segments)

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
