"""A hand-made R2AC segment for the learner's exactness tests (test_r2ac_exact.py, test_r2ac_stem.py; a
uniquely named helper module): a stream of PRE + M steps of 3 environments whose episodes start before
the segment, at its start and inside it, end inside it (a truncation, a termination) and at its last step."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rtrl.agents.r2ac_learner import Segment, forward

ACTIONS, ENVS = 3, 3
PRE, M = 5, 6  # steps of the stream before the segment, and the segment's length


class Stream:
    """A stream of PRE + M steps of 3 environments (time-major) and the segment of its last M steps."""

    def __init__(self, seed: int, all_start_at_segment: bool = False, discrete: bool = True,
                 observation_shape: tuple[int, ...] = (4,)):
        rng = np.random.default_rng(seed)
        steps = PRE + M
        shape = tuple(observation_shape)
        self.obs = rng.uniform(-1, 1, (steps, ENVS) + shape)
        self.action = (rng.integers(0, ACTIONS, (steps, ENVS)).astype(np.int32) if discrete
                       else rng.normal(size=(steps, ENVS, ACTIONS)))
        self.reward = rng.uniform(-2, 2, (steps, ENVS))  # beyond [-1, 1]: the clipping matters
        done = np.zeros((steps, ENVS), bool)
        terminated = np.zeros((steps, ENVS), bool)
        truncated = np.zeros((steps, ENVS), bool)
        s = PRE  # the segment's first step in the stream
        truncated[s + 2, 0] = True  # env 0: began at 0, truncated inside the segment
        done[s - 1, 1] = True  # env 1: a new episode exactly at the segment's start ...
        terminated[s - 1, 1] = True
        terminated[s + 4, 1] = True  # ... that terminates inside it
        done[1, 2] = True  # env 2: a new episode at stream step 2, before the segment ...
        truncated[1, 2] = True
        truncated[s + M - 1, 2] = True  # ... truncated at the segment's last step (x_M starts a new one)
        if all_start_at_segment:
            done[s - 1] = True
            truncated[s - 1] = True
        done |= terminated | truncated
        self.done, self.terminated, self.truncated = done, terminated, truncated
        self.first = np.concatenate([np.ones((1, ENVS), bool), done[:-1]])
        self.final_obs = np.where(done[(...,) + (None,) * len(shape)], rng.uniform(-1, 1, (steps, ENVS) + shape),
                                  np.concatenate([self.obs[1:], self.obs[:1]]))
        self.last_obs = rng.uniform(-1, 1, (ENVS,) + shape)
        self.last_first = done[-1]
        self.behaviour_noise = rng.normal(0.0, 0.5, (M, ENVS))  # log μ = log π + noise: ρ on both sides of 1

    def segment(self, net: Any, params: Any) -> Segment:
        """The segment with the start carry of ``net`` (RTRL traces for an RTRL cell) after the PRE steps,
        and behaviour log-probabilities near the network's own."""
        carry = actor_carry(net, params, jnp.asarray(self.obs[:PRE]), jnp.asarray(self.first[:PRE]))
        seg = slice(PRE, PRE + M)
        a = lambda x: jnp.asarray(x[seg])
        segment = Segment(carry, a(self.obs), a(self.first), a(self.action), jnp.zeros((M, ENVS)), a(self.reward),
                          a(self.done), a(self.terminated), a(self.truncated), a(self.final_obs),
                          jnp.asarray(self.last_obs), jnp.asarray(self.last_first), jnp.zeros((M, ENVS)),
                          jnp.zeros((M, ENVS), jnp.int32))
        log_prob = jax.jit(forward, static_argnums=0)(net, params, segment).log_prob
        return segment._replace(behaviour_log_prob=log_prob + jnp.asarray(self.behaviour_noise))


@functools.partial(jax.jit, static_argnums=0)
def actor_carry(net: Any, params: Any, obs: jax.Array, first: jax.Array) -> Any:
    """The actor's carry after ``obs`` (T, N, *observation_shape): ``net`` stepped from a zero carry with the same parameters."""
    carry = net.initial_carry(params, obs.shape[1])
    for t in range(obs.shape[0]):
        carry, _, _ = net.step(params, carry, obs[t], first[t])
    return carry
