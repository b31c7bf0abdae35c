"""Run state, stored rollouts, and the two rollout loops (JAX-native in `lax.scan`; host in Python).

Alignment (the point of rtu.md defect 3): at step t the agent holds ``carry_{t-1}`` (the cell's
state and RTRL traces after step t−1, computed online with the rollout's parameters), the
observation ``obs_t`` and ``first_t`` (= ``done_{t-1}``, rtrl.envs convention). The stored
transition t holds exactly that ``carry_{t-1}``, *before* the reset for ``first_t`` (the cell
applies it inside the step), so re-applying the network one step from stored row t reproduces the
rollout's ``log π(a_t|·)`` and ``V_t`` bit for bit with unchanged parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rtrl.agents.network import ActorCritic
from rtrl.envs.episodes import EpisodeStep, episode_step

__all__ = ["ActorStep", "HOST_ROWS", "HostPolicy", "Rollout", "RunState", "SeedsStep", "actor_step", "host_rollout", "host_steps",
           "jax_rollout", "make_host_policy", "step_seeds", "track_episodes"]


class RunState(NamedTuple):
    """Everything an agent carries between iterations (a pytree: vmappable, checkpointable)."""

    params: Any  # network parameters (see ActorCritic.init)
    opt_state: Any  # optax state
    env_state: Any  # JAX-native env state (batched over envs); () for host envs (they keep their own)
    obs: jax.Array  # (E, obs_size) float32: the next observation to act on
    first: jax.Array  # (E,) bool: obs starts a new episode
    carry: Any  # network carry before consuming obs (cell Carry with (E, ...) leaves; () for MLP)
    episode_return: jax.Array  # (E,) float32: undiscounted return of the running episode
    episode_length: jax.Array  # (E,) int32
    rng: jax.Array  # PRNG key
    iteration: jax.Array  # () int32: updates done
    env_steps: jax.Array  # () int32: environment steps taken (all envs)
    action: Any = ()  # streaming agents: the action already chosen at obs (PPO agents: ())


class Rollout(NamedTuple):
    """One rollout, time-major: T = num_steps, E = num_envs."""

    obs: jax.Array  # (T, E, obs_size)
    first: jax.Array  # (T, E) bool
    carry: Any  # carry_{t-1} before step t, leaves (T, E, ...)
    action: jax.Array  # (T, E) int32 or (T, E, A) float (unclipped sample)
    log_prob: jax.Array  # (T, E) log π_old(a_t | ·)
    value: jax.Array  # (T, E) V_old(obs_t)
    reward: jax.Array  # (T, E)
    done: jax.Array  # (T, E) bool
    terminated: jax.Array  # (T, E) bool
    truncated: jax.Array  # (T, E) bool
    truncation_value: jax.Array  # (T, E) V_old(final_obs_t) where truncated, else 0
    episode_return: jax.Array  # (T, E) return of the episode that ended at t (0 where not done)
    episode_length: jax.Array  # (T, E)


def env_action(space: Any, action: jax.Array) -> jax.Array:
    """What is sent to the env: discrete as is; continuous clipped to the space's finite bounds."""
    from rtrl.envs.spaces import Box

    if isinstance(space, Box):
        return jnp.clip(action, space.low_array, space.high_array).astype(jnp.float32)  # float32, of the space's shape
    return action


def track_episodes(xp: Any, episode_return: Any, episode_length: Any, reward: Any, done: Any,
                       info: Any) -> EpisodeStep:
    """`rtrl.envs.episodes.episode_step` (the one running-return rule), with the finished episode's
    return and length taken from the env's own ``info["episode_return"]``/``info["episode_length"]``
    where it keeps them: the statistics wrapper sees the raw rewards, the agent the scaled ones.
    ``xp``: jax.numpy (in a scan) or numpy (the host loop)."""
    step = episode_step(xp, episode_return, episode_length, reward, done)
    if isinstance(info, dict) and "episode_return" in info:
        step = step._replace(finished_return=xp.where(done, info["episode_return"],
                                                      step.finished_return).astype(xp.float32))
    if isinstance(info, dict) and "episode_length" in info:
        step = step._replace(finished_length=xp.where(done, info["episode_length"],
                                                      step.finished_length).astype(xp.int32))
    return step


class ActorStep(NamedTuple):
    """One step of the actors of a batched JAX-native env (`actor_step`): the state after it and
    everything a caller may store of it (the row before it is the old state's obs, first and carry)."""

    state: RunState  # after the step: env state, next obs (in the state's dtype), first = done, carry, episodes, rng
    action: jax.Array  # (E,) int32 or (E, A): the sampled (unclipped) action
    log_prob: jax.Array  # (E,) log π(a_t|·) of the acting parameters
    value: jax.Array  # (E,) V(obs_t)
    reward: jax.Array  # (E,) as the env gave it
    done: jax.Array  # (E,) bool
    terminated: jax.Array  # (E,) bool
    truncated: jax.Array  # (E,) bool
    final_obs: jax.Array  # (E, ...) the real last observation where done (= the next obs otherwise)
    finished_return: jax.Array  # (E,) return of the episode that ended at t (0 where not done)
    finished_length: jax.Array  # (E,)


def actor_step(net: ActorCritic, env: Any, params: Any, s: RunState) -> ActorStep:
    """One step of the batched JAX-native ``env`` with ``params``: the network step from ``s.carry``
    on ``s.obs`` (the carry reset where ``s.first``), an action sampled from the policy, the env step
    and the episode counters. The one actor step of PPO's `jax_rollout` and R2AC's actors
    (`rtrl.agents.r2ac.act`); each stores what it needs of the result."""
    rng, k_act, k_env = jax.random.split(s.rng, 3)
    carry_t, policy, value = net.step(params, s.carry, s.obs, s.first)
    action = policy.sample(k_act)
    env_state, obs, reward, done, info = env.step(s.env_state, env_action(env.action_space, action), k_env)
    episode = track_episodes(jnp, s.episode_return, s.episode_length, reward, done, info)
    state = s._replace(env_state=env_state, obs=jnp.asarray(obs, s.obs.dtype), first=done, carry=carry_t,
                       episode_return=episode.running_return, episode_length=episode.running_length, rng=rng)
    return ActorStep(state, action, policy.log_prob(action), value, reward, done, info["terminated"],
                     info["truncated"], info["final_obs"], episode.finished_return, episode.finished_length)


def jax_rollout(net: ActorCritic, env: Any, state: RunState, num_steps: int,
                buffer: Rollout | None = None) -> tuple[RunState, Rollout]:
    """``num_steps`` steps of a JAX-native `VmapEnv` in one loop with the current parameters.

    Row t of the rollout is written into ``buffer`` (a previous rollout of the same shapes) when one is
    given, else into a new, zero-filled one. Donated by the caller (`Agent.iteration_reusing`), the
    buffer's memory is reused in place: a Real-Time PPO rollout stores every step's RTRL traces
    (≈200 MB for an RTU of 192 units behind a 64-wide encoder over 2048 steps) and allocating and
    zero-filling that anew took ≈35 ms of each iteration on XLA CPU. Every row is overwritten, so the
    buffer's old contents never reach the result.
    """
    params = state.params

    def step(s: RunState) -> tuple[RunState, Rollout]:
        a = actor_step(net, env, params, s)
        zeros = jnp.zeros_like(a.value)
        # V(final_obs) only matters where an episode was cut by a time limit; skip it otherwise.
        trunc_value = jax.lax.cond(jnp.any(a.truncated),
                                   lambda: jnp.where(a.truncated, net.value_only(params, a.state.carry, a.final_obs),
                                                     zeros),
                                   lambda: zeros)
        row = Rollout(s.obs, s.first, s.carry, a.action, a.log_prob, a.value, a.reward.astype(a.value.dtype), a.done,
                      a.terminated, a.truncated, trunc_value, a.finished_return, a.finished_length)
        return a.state, row

    if buffer is None:
        rows = jax.eval_shape(lambda s: step(s)[1], state)
        buffer = jax.tree.map(lambda r: jnp.zeros((num_steps,) + r.shape, r.dtype), rows)

    def write_step(t, c):
        s, rollout = c
        s, row = step(s)
        return s, jax.tree.map(lambda b, x: jax.lax.dynamic_update_index_in_dim(b, x, t, 0), rollout, row)

    state, rollout = jax.lax.fori_loop(0, num_steps, write_step, (state, buffer))
    env_steps = state.env_steps + jnp.int32(num_steps * state.obs.shape[0])
    return state._replace(env_steps=env_steps), rollout


class HostPolicy(NamedTuple):
    """The jitted pieces of a host rollout, batched over a leading seed axis S (one call for all seeds)."""

    buffers: Any  # (params, carry, obs, first, key) -> zeroed device buffers {field: (num_steps, ...)} of `stored`
    act: Any  # (params, carry, obs, first, keys, buffers, t) -> (carry_t, env_action, buffers with row t written)
    value: Any  # (params, carry_t, obs) -> V
    stored: tuple[str, ...]  # the fields written each step


# What a host rollout can store of each step (the carry is the one BEFORE the step); PPO stores all of them.
HOST_ROWS = ("obs", "first", "carry", "action", "log_prob", "value")


def make_host_policy(net: ActorCritic, action_space: Any, num_steps: int,
                     stored: Sequence[str] = HOST_ROWS) -> HostPolicy:
    """The jitted, seed-batched policy step of a host rollout of ``num_steps`` steps that writes the
    ``stored`` fields of `HOST_ROWS` of every step into device buffers (R2AC's actors store no
    per-step carry and no value)."""
    stored = tuple(stored)
    unknown = [name for name in stored if name not in HOST_ROWS]
    if unknown:
        raise ValueError(f"stored fields must be among {HOST_ROWS}, got {unknown}.")

    def act_only(params, carry, obs, first, key):
        carry_t, policy, value = net.step(params, carry, obs, first)
        action = policy.sample(key)
        row = {"obs": obs, "first": first, "carry": carry, "action": action, "log_prob": policy.log_prob(action),
               "value": value}  # the carry BEFORE the step
        return carry_t, env_action(action_space, action), {name: row[name] for name in stored}

    def buffers(params, carry, obs, first, key):
        _, _, row = act_only(params, carry, obs.astype(jnp.float32), first, key)
        return jax.tree.map(lambda x: jnp.zeros((num_steps,) + x.shape, x.dtype), row)

    def act(params, carry, obs, first, keys, bufs, t):
        # obs and first arrive as host arrays and keys[t] is taken here: no eager device op per step
        carry_t, to_env, row = act_only(params, carry, obs.astype(jnp.float32), first, keys[t])
        bufs = jax.tree.map(lambda b, x: jax.lax.dynamic_update_index_in_dim(b, x, t, 0), bufs, row)
        return carry_t, to_env, bufs

    seeds = jax.vmap  # every piece maps over the seed axis; t is shared
    # the buffers are donated: each step writes one row in place
    return HostPolicy(jax.jit(seeds(buffers)),
                      jax.jit(seeds(act, in_axes=(0, 0, 0, 0, 0, 0, None)), donate_argnums=(5,)),
                      jax.jit(seeds(net.value_only)), stored)


# What a wrapped env reports of the episode that ended (raw rewards): taken over the agent's own count.
EPISODE_STATS = ("episode_return", "episode_length")


class SeedsStep(NamedTuple):
    """One lockstep step of S seeds' host envs, stacked on a leading seed axis (numpy)."""

    obs: np.ndarray  # (S, E, D) the next observations (a new episode's first where done)
    reward: np.ndarray  # (S, E)
    done: np.ndarray  # (S, E) bool
    terminated: np.ndarray  # (S, E) bool
    truncated: np.ndarray  # (S, E) bool
    final_obs: np.ndarray  # (S, E, D) the real last observations where done (= obs otherwise)
    episode_stats: dict[str, np.ndarray]  # the envs' own "episode_return"/"episode_length" where they keep them


def step_seeds(envs: Sequence[Any], actions: np.ndarray) -> SeedsStep:
    """Step ``envs[k]`` (seed k's host env) with ``actions[k]`` for every seed, and stack what they return."""
    results = [env.step(a) for env, a in zip(envs, actions)]
    infos = [info for *_, info in results]
    stats = {name: np.stack([i[name] for i in infos]) for name in EPISODE_STATS
             if name in infos[0]}  # all seeds' envs are built alike
    return SeedsStep(np.stack([r[0] for r in results]), np.stack([r[1] for r in results]),
                     np.stack([r[2] for r in results]), np.stack([i["terminated"] for i in infos]),
                     np.stack([i["truncated"] for i in infos]), np.stack([i["final_obs"] for i in infos]), stats)


# What every host step records per seed, step and env (S, T, E), beside the policy's device buffers
HOST_STEP_ROWS = (("reward", np.float32), ("done", bool), ("terminated", bool), ("truncated", bool),
                  ("episode_return", np.float32), ("episode_length", np.int32))


def host_steps(policy: HostPolicy, envs: Sequence[Any], state: RunState, params: Any, num_steps: int,
               on_step: Callable[[int, Any, SeedsStep], None] | None = None,
               buffers: dict[str, Any] | None = None) -> tuple[RunState, dict, dict]:
    """``num_steps`` steps of S host envs in lockstep, one per seed (``state`` and ``params`` have a
    leading seed axis S = len(envs)): one jitted policy call per step for all seeds and their envs.
    ``on_step(t, carry_t, step)`` sees each step (e.g. to bootstrap truncations). Returns the state
    after the steps, the policy's buffers of its stored fields, and the `HOST_STEP_ROWS` as numpy
    arrays (S, T, E): each seed's steps time-major. The one host loop of PPO and R2AC.

    ``buffers``: the policy's buffers returned by an earlier call of the same shapes, written into in
    place and so donated (don't use them afterwards; every row is overwritten); None: new, zero-filled
    ones. Reusing them spares allocating and page-faulting ≈200 MB per Real-Time PPO rollout."""
    carry = state.carry
    obs, first = np.asarray(state.obs), np.asarray(state.first)
    s, e = first.shape
    ep_ret, ep_len = np.asarray(state.episode_return), np.asarray(state.episode_length)
    keys = jax.vmap(lambda k: jax.random.split(k, num_steps + 1))(state.rng)
    bufs = policy.buffers(params, carry, obs, first, keys[:, 0]) if buffers is None else buffers
    host = {name: np.zeros((s, num_steps, e), dtype) for name, dtype in HOST_STEP_ROWS}
    for t in range(num_steps):
        carry, to_env, bufs = policy.act(params, carry, obs, first, keys, bufs, t)
        step = step_seeds(envs, np.asarray(to_env))
        for name in ("reward", "done", "terminated", "truncated"):
            host[name][:, t] = getattr(step, name)
        if on_step is not None:
            on_step(t, carry, step)
        ep_ret, ep_len, host["episode_return"][:, t], host["episode_length"][:, t] = track_episodes(
            np, ep_ret, ep_len, host["reward"][:, t], step.done, step.episode_stats)
        obs, first = np.asarray(step.obs, obs.dtype), step.done
    state = state._replace(obs=jnp.asarray(obs, jnp.float32), first=jnp.asarray(first), carry=carry,
                           episode_return=jnp.asarray(ep_ret), episode_length=jnp.asarray(ep_len),
                           rng=keys[:, -1], env_steps=state.env_steps + jnp.int32(num_steps * e))
    return state, bufs, host


def host_rollout(policy: HostPolicy, envs: Sequence[Any], state: RunState, num_steps: int,
                 buffer: Rollout | None = None) -> tuple[RunState, Rollout]:
    """``num_steps`` steps of S host envs in lockstep, one per seed (``state`` has a leading seed
    axis S = len(envs)): one jitted policy call per step for all seeds and their envs (`host_steps`),
    V(final_obs) taken where a time limit cut an episode. ``buffer``: the rollout this returned last
    time, whose device rows are written over in place (donated, as `jax_rollout`'s); None: new ones."""
    params = state.params
    truncation_value = np.zeros(np.shape(state.first)[:1] + (num_steps,) + np.shape(state.first)[1:], np.float32)

    def bootstrap(t: int, carry_t: Any, step: SeedsStep) -> None:
        if step.truncated.any():  # V(final_obs) from the carry after this step
            v = np.asarray(policy.value(params, carry_t, np.asarray(step.final_obs, np.float32)))
            truncation_value[:, t] = np.where(step.truncated, v, 0.0)

    reused = None if buffer is None else {name: getattr(buffer, name) for name in policy.stored}
    state, bufs, host = host_steps(policy, envs, state, params, num_steps, bootstrap, reused)
    dtype = bufs["value"].dtype
    rollout = Rollout(*(bufs[name] for name in HOST_ROWS),
                      jnp.asarray(host["reward"], dtype), jnp.asarray(host["done"]),
                      jnp.asarray(host["terminated"]), jnp.asarray(host["truncated"]),
                      jnp.asarray(truncation_value, dtype),
                      jnp.asarray(host["episode_return"]), jnp.asarray(host["episode_length"]))
    return state, rollout
