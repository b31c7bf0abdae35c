"""Reference predictors for the conditioning tasks: zero, constant, and the exact Bayes-optimal oracle.

A predictor is a pair of pure functions, like a learner, that sees one observation per step:

    carry = predictor.init(task_state)           # the state returned by task.reset
    carry, v_t = predictor.step(carry, obs_t)    # v_t: the prediction of G_t after seeing o_t
    carry, v = predict(predictor, carry, obs)    # a whole chunk (T, observation_size) -> (T,)

`predict` over consecutive chunks equals one call over their concatenation.

The oracle
----------
``Oracle(task)`` computes the best possible prediction from the history, V_t = E[G_t | o_0..o_t], exactly
(Rafiee et al. 2022, arXiv 2011.04590, define G_t = Σ_k γ^k US_{t+1+k}). It is not learned: it knows the
task's parameters (the ISI/ITI ranges, γ and, for patterning, the patterns drawn at reset, which it reads
from the state given to ``init``) and nothing else; in particular it never reads the hidden trial
variables. It is strictly causal: v_t is a function of o_0..o_t.

The trial process is semi-Markov, and under the task's validation every stimulus onset is visible as a
rising edge, so the history is equivalent to the onset events. The oracle runs an exact forward filter
(an HMM filter over a finite state space) on the hidden phase of the current trial:

    A(s, z): s steps since the trial started, the US time (ISI) not reached: ISI > s; z = US scheduled;
    B(u):    u steps since the trial's US time, the next trial not started: ITI > u.

Each step moves A(s, z) -> B(0) with hazard h_A(s) = P(ISI = s+1 | ISI > s), emitting a US onset iff z = 1,
and B(u) -> A(0, z') (a trial start) with hazard h_B(u) = P(ITI = u+1 | ITI > u). Then the observation
conditions the prediction:

* a US onset (rising edge of obs[0]) collapses the belief onto B(0);
* a visible trial start (a CS rising edge; for patterning also a distractor rising edge, since distractors
  only turn on at trial starts) collapses it onto A(0, z') with P(z' = 1) = 1 for trace conditioning and
  1 - ν or ν for patterning as the CS vector shown matches a pattern or not;
* otherwise the belief keeps the paths without an onset: A(s, 1) paths reaching their US time are dropped
  (a US would have shown), A(s, 0) paths pass silently to B(0), and trial starts survive only as silent
  trials (patterning: an all-zero CS vector and no distractor, probability P(x = 0) 2^-D), then it is
  renormalised.

The prediction adds the known rest of the US now on to the expected value of future US onsets:

    V_t = Σ_{j=1}^{L_US-1-d} γ^{j-1}  +  Σ_s,z P(A(s,z)) v_A(s,z)  +  Σ_u P(B(u)) v_B(u),

with d the steps since the last US onset and, for a trial started fresh (value from its start step)
W = ρ a E[γ^ISI] / (1 - E[γ^ISI] E[γ^ITI]), a = (1 - γ^L_US)/(1 - γ), ρ = P(US per trial):

    v_A(s, z) = E[γ^(ISI-s-1) | ISI > s] (z a + E[γ^ITI] W),    v_B(u) = E[γ^(ITI-u-1) | ITI > u] W.

Distractors of trace conditioning are independent of CS and US and carry no information; the oracle
ignores them. The filter costs O(isi[1] + iti[1]) per step.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from rtrl.tasks.conditioning import TaskState, TracePatterning, _Conditioning

Array = jax.Array


class Predictor(Protocol):
    """What `predict` runs: ``init(task_state) -> carry`` and ``step(carry, obs_t) -> (carry, v_t)``."""

    def init(self, state: TaskState) -> Any: ...

    def step(self, carry: Any, obs_t: Array) -> tuple[Any, Array]: ...


def _check_obs(task: _Conditioning, obs: Array, leading: tuple[int, ...] = ()) -> None:
    want = (*leading, task.observation_size)
    if jnp.ndim(obs) != len(want) or jnp.shape(obs)[-1] != task.observation_size:
        axes = "(steps, observation_size)" if leading else "(observation_size,)"
        raise ValueError(f"obs must have shape {axes} = {('T',) * len(leading) + (task.observation_size,)} "
                         f"for {task.name!r}, got {jnp.shape(obs)}; vmap over streams.")


@dataclasses.dataclass(frozen=True)
class ZeroPredictor:
    """Predicts 0 at every step (its MSRE is E[G²])."""

    task: _Conditioning

    def init(self, state: TaskState) -> tuple[()]:
        del state
        return ()

    def step(self, carry: tuple[()], obs_t: Array) -> tuple[tuple[()], Array]:
        _check_obs(self.task, obs_t)
        return carry, jnp.zeros((), jnp.float32)


@dataclasses.dataclass(frozen=True)
class ConstantPredictor:
    """Predicts a constant; by default the long-run mean of G, ``task.expected_return`` (the best constant)."""

    task: _Conditioning
    value: float | None = None

    def init(self, state: TaskState) -> tuple[()]:
        del state
        return ()

    def step(self, carry: tuple[()], obs_t: Array) -> tuple[tuple[()], Array]:
        _check_obs(self.task, obs_t)
        value = self.task.expected_return if self.value is None else self.value
        return carry, jnp.asarray(value, jnp.float32)


class OracleState(NamedTuple):
    """The oracle's belief between steps.

    belief:   float32 (2 isi[1] + iti[1],): P(A(s, 0)) for s < isi[1], then P(A(s, 1)), then P(B(u)) for
              u < iti[1]; A(s, z): s steps into the trial, US time not reached, z = US scheduled; B(u): u steps
              after the trial's US time, next trial not started.
    since_us: int32 (): steps since the last US onset, capped at us_length (= no US on).
    obs_tm1:  float32 (observation_size,): the previous observation (rising edges are onsets).
    patterns: bool (num_patterns, num_cs): the task's patterns (empty for trace conditioning).
    """

    belief: Array
    since_us: Array
    obs_tm1: Array
    patterns: Array


class _Tables(NamedTuple):
    """The oracle's constants, over the belief's layout [A(., 0), A(., 1), B(.)]."""

    stay: np.ndarray  # P(no phase change): 1 - hazard
    to_b0: np.ndarray  # P(reach the US time silently): hazard on A(., 0), 0 elsewhere
    to_start: np.ndarray  # P(a trial starts): hazard on B(.), 0 elsewhere
    one_b0: np.ndarray  # the belief after a US onset
    one_a0: np.ndarray  # (2, S): A(0, 0) and A(0, 1)
    silent_start: np.ndarray  # where a silent trial start goes, times P(silent)
    value: np.ndarray  # E[discounted future US onsets | phase]
    rest_of_us: np.ndarray  # (us_length + 1,): the rest of a US now on, by steps since its onset
    p_us_match: float
    p_us_no_match: float


def _num_states(task: _Conditioning) -> int:
    return 2 * task.isi[1] + task.iti[1]


def _interval_tables(interval: tuple[int, int], gamma: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Hazard P(X = s+1 | X > s), E[γ^(X-s-1) | X > s] for s = 0..hi-1, and E[γ^X], X ~ U{lo..hi}."""
    low, high = interval
    s = np.arange(high)
    first = np.maximum(low, s + 1)  # smallest X still possible given X > s
    hazard = np.where(s + 1 >= low, 1.0 / (high - first + 1), 0.0)
    x = np.arange(low, high + 1)
    cond = np.array([np.mean(gamma ** (x[x > si] - si - 1)) for si in s])
    return hazard, cond, float(np.mean(gamma**x))


@functools.lru_cache(maxsize=64)
def _tables(task: _Conditioning) -> _Tables:
    g, n_a, n_b = task.gamma, task.isi[1], task.iti[1]
    hazard_a, cond_a, e_isi = _interval_tables(task.isi, g)
    hazard_b, cond_b, e_iti = _interval_tables(task.iti, g)
    zeros_a, zeros_b = np.zeros(n_a), np.zeros(n_b)
    per_us = (1.0 - g**task.us_length) / (1.0 - g)  # Σ_{j<L_US} γ^j: one US seen from its onset
    w = task.us_probability * per_us * e_isi / (1.0 - e_isi * e_iti)  # value at a trial's start step
    value = np.concatenate([cond_a * e_iti * w, cond_a * (per_us + e_iti * w), cond_b * w])
    d = np.arange(task.us_length + 1)
    rest = (1.0 - g ** np.maximum(task.us_length - 1 - d, 0)) / (1.0 - g)
    if isinstance(task, TracePatterning):
        n, zero_is_pattern = task.num_cs, task.num_cs // 2 == 0
        p = task.pattern_choice_probability
        p_zero_vector = p * zero_is_pattern + (1.0 - p) * 2.0**-n
        p_silent = p_zero_vector * 2.0**-task.num_distractors
        p_match, p_no = 1.0 - task.noise, task.noise
        p_us_silent = p_match if zero_is_pattern else p_no
    else:  # the CS shows at every trial start and every trial has a US
        p_match = p_no = 1.0
        p_silent, p_us_silent = 0.0, 1.0
    one_a0 = np.zeros((2, _num_states(task)))
    one_a0[0, 0] = one_a0[1, n_a] = 1.0
    one_b0 = np.zeros(_num_states(task))
    one_b0[2 * n_a] = 1.0
    return _Tables(
        stay=np.concatenate([1.0 - hazard_a, 1.0 - hazard_a, 1.0 - hazard_b]),
        to_b0=np.concatenate([hazard_a, zeros_a, zeros_b]),
        to_start=np.concatenate([zeros_a, zeros_a, hazard_b]),
        one_b0=one_b0,
        one_a0=one_a0,
        silent_start=p_silent * ((1.0 - p_us_silent) * one_a0[0] + p_us_silent * one_a0[1]),
        value=value,
        rest_of_us=rest,
        p_us_match=p_match,
        p_us_no_match=p_no,
    )


@dataclasses.dataclass(frozen=True)
class Oracle:
    """E[G_t | o_0..o_t], exactly, by forward filtering the trial phase (see the module docstring)."""

    task: _Conditioning

    def init(self, state: TaskState) -> OracleState:
        """The belief before step 0, from the state returned by ``task.reset`` (only its patterns are read)."""
        belief = np.zeros(_num_states(self.task), np.float32)
        belief[-1] = 1.0  # B(iti[1] - 1) has hazard 1: a trial starts at step 0 for sure
        return OracleState(
            belief=jnp.asarray(belief),
            since_us=jnp.asarray(self.task.us_length, jnp.int32),
            obs_tm1=jnp.zeros((self.task.observation_size,), jnp.float32),
            patterns=jnp.asarray(state.patterns, bool),
        )

    def step(self, carry: OracleState, obs_t: Array) -> tuple[OracleState, Array]:
        """Condition on o_t and predict: ``(carry, v_t)`` with v_t = E[G_t | o_0..o_t], float32 ()."""
        _check_obs(self.task, obs_t)
        return _oracle_step(self, carry, obs_t)

    def _step(self, carry: OracleState, obs_t: Array) -> tuple[OracleState, Array]:
        task, tb = self.task, _tables(self.task)
        f32 = functools.partial(jnp.asarray, dtype=jnp.float32)
        belief = carry.belief

        on = obs_t > 0.5
        rising = on & ~(carry.obs_tm1 > 0.5)
        us_onset = rising[0]
        if isinstance(task, TracePatterning):
            visible_start = jnp.any(rising[1:])  # CSs and distractors turn on only at trial starts
            shown = on[1 : 1 + task.num_cs]
            match = jnp.any(jnp.all(shown[None, :] == carry.patterns, axis=1))
            p_us = jnp.where(match, f32(tb.p_us_match), f32(tb.p_us_no_match))
        else:
            visible_start = rising[1]
            p_us = f32(1.0)

        # No onset seen: every phase advances a step (a shift by one: the last state of each block has
        # hazard 1, so nothing leaks into the next block), A(s, 0) reaching its US time passes silently
        # to B(0), A(s, 1) reaching it is dropped (a US would have shown), and trial starts survive only
        # as silent trials.
        advanced = jnp.concatenate([jnp.zeros((1,), jnp.float32), (belief * f32(tb.stay))[:-1]])
        silent_us_time = jnp.dot(belief, f32(tb.to_b0)) * f32(tb.one_b0)
        silent_start = jnp.dot(belief, f32(tb.to_start)) * f32(tb.silent_start)
        quiet = advanced + silent_us_time + silent_start
        total = jnp.sum(quiet)
        quiet = quiet / jnp.where(total > 0, total, 1.0)  # input the task cannot produce: left unnormalised

        start = (1.0 - p_us) * f32(tb.one_a0[0]) + p_us * f32(tb.one_a0[1])
        belief = jnp.where(us_onset, f32(tb.one_b0), jnp.where(visible_start, start, quiet))
        since_us = jnp.where(us_onset, 0, jnp.minimum(carry.since_us + 1, task.us_length)).astype(jnp.int32)

        v_t = f32(tb.rest_of_us)[since_us] + jnp.dot(belief, f32(tb.value))
        new = OracleState(belief, since_us, jnp.asarray(obs_t, jnp.float32), carry.patterns)
        return new, v_t


@functools.partial(jax.jit, static_argnums=0)
def _oracle_step(oracle: Oracle, carry: OracleState, obs_t: Array) -> tuple[OracleState, Array]:
    return oracle._step(carry, obs_t)


def predict(predictor: Predictor, carry: Any, obs: Array) -> tuple[Any, Array]:
    """Run ``predictor.step`` over a chunk: obs (T, observation_size) -> (carry, v (T,) float32).

    Chunks continue: calling it on consecutive chunks with the returned carry equals one call.
    """
    task = getattr(predictor, "task", None)
    if task is not None:
        _check_obs(task, obs, leading=(0,))
    return _predict(predictor, carry, obs)


@functools.partial(jax.jit, static_argnums=0)
def _predict(predictor: Predictor, carry: Any, obs: Array) -> tuple[Any, Array]:
    return lax.scan(predictor.step, carry, jnp.asarray(obs, jnp.float32))
