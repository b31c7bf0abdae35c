"""Classical-conditioning prediction tasks (Rafiee et al. 2022, arXiv 2011.04590) in pure JAX.

Trace conditioning, trace patterning and noisy patterning are the "eye-blink" benchmarks for online state
construction: a stream of binary stimuli, no actions, and the task of predicting the discounted sum of
future unconditioned stimuli (US)

    G_t = Σ_{k≥0} γ^k US_{t+1+k}        (the cumulant at step t is US_t = obs_t[0]).

The semantics follow the reference generator (banafsheh-rafiee/Classical-conditioning-benchmarks-for-
state-construction, ``classical_conditioning_benchmarks.py``), see ``shared/reference/conditioning.md``:

* Step 0 starts trial 0. Trial k starts at t_k and the next at t_{k+1} = t_k + ISI_k + ITI_k, with
  ISI ~ U{isi[0]..isi[1]} and ITI ~ U{iti[0]..iti[1]} (integers, inclusive). The ITI runs from the US
  time to the next CS onset.
* A stimulus of length L with onset o is 1 on steps o..o+L-1; an onset while it is on, or on the step it
  turns off, is lost. (The validation below keeps CS and US onsets from ever being lost.)
* Trace conditioning: the CS turns on at t_k (``cs_length`` steps), the US at t_k + ISI_k
  (``us_length`` steps). Distractor d (d = 0..D-1), while off, turns on with probability 1/(10(d+1))
  at every step and stays on ``distractor_length`` steps, independent of CS and US.
* Trace patterning (n CSs, k patterns, π = ``pattern_prob``, ν = ``noise``): k distinct patterns with
  ⌊n/2⌋ ones are drawn at reset. Each trial shows, at t_k, one of the patterns with probability
  p = (2^n π - k)/(2^n - k) and otherwise a uniformly random n-bit vector (so P(match) = π); the US follows
  at t_k + ISI_k with probability 1 - ν if the shown vector equals one of the patterns and ν if not. Each
  distractor turns on at t_k with probability 1/2 (and only then).
* Noisy patterning: trace patterning with ISI = ``cs_length`` (no trace interval).

Observation layout (float32, length ``observation_size``):

    trace-conditioning:               [US, CS, d_0, ..., d_{D-1}]
    trace-patterning/noisy-patterning: [US, CS_1, ..., CS_n, d_0, ..., d_{D-1}]

Randomness is counter-based: everything drawn at step t comes from ``fold_in(state.key, t)``. A stream is
therefore a pure function of the reset key: ``generate`` in chunks gives exactly the stream of one call,
``step`` in a loop gives the stream of ``generate``, and the whole thing jits and vmaps over keys.
Integers are drawn as ``lo + bits % (hi - lo + 1)`` from 32-bit words (bias below 1e-7 for these ranges).
The streams have the reference's distribution, not its NumPy random numbers.

Limits (checked on construction, ValueError naming the field): intervals of positive integers with
low <= high; γ in [0, 1); at most 10 distractors; 1 <= num_cs <= 20; num_patterns <= C(n, n//2);
pattern_prob >= k / 2^n (so that p >= 0); every stimulus whose onsets carry trial information (CS, US, and
the patterning distractors) at most isi[0] + iti[0] - 1 steps long, so that no onset is ever lost and each
is visible as a rising edge (the oracle in `rtrl.tasks.predictors` relies on it).

Defaults. ``isi=10`` (in ``make`` or a task class) is the reference's ISI number, expanded to the interval
(ISI - ISI//3, ISI + ISI//3) with γ from the reference table {4: .75, 5: .8, 10: .9, 20: .95, 30: .966,
40: .975, 80: .9875} (1 - 1/ISI for numbers not in it). Given an interval and no γ, γ = 0.9. Noisy
patterning's γ defaults to the table entry for ISI = ``cs_length`` (0.75 for the default 4).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from rtrl import validate

Array = jax.Array

MAX_DISTRACTORS = 10
"""The reference defines start probabilities 1/(10(d+1)) for d < 10; the patterning tasks use the same cap."""
MAX_NUM_CS = 20
"""Patterns are drawn from a table of all C(n, n//2) candidates, which grows fast with n."""
GAMMA_BY_ISI: dict[int, float] = {4: 0.75, 5: 0.8, 10: 0.9, 20: 0.95, 30: 0.966, 40: 0.975, 80: 0.9875}
"""The reference's discount for each ISI number (about 1 - 1/ISI)."""
DEFAULT_GAMMA = 0.9
"""γ when the ISI is given as an interval and γ is not given."""


def isi_interval(isi: int) -> tuple[int, int]:
    """The reference's ISI interval for an ISI number: (ISI - ISI//3, ISI + ISI//3); 10 -> (7, 13)."""
    return (isi - isi // 3, isi + isi // 3)


def gamma_for_isi(isi: int) -> float:
    """The reference's γ for an ISI number (`GAMMA_BY_ISI`), 1 - 1/ISI for numbers not in its table."""
    return GAMMA_BY_ISI.get(isi, 1.0 - 1.0 / isi)


class TaskState(NamedTuple):
    """The generator's state between steps (one stream; vmap `reset` over keys for a batch).

    key:          the stream's PRNG key; step t draws from ``fold_in(key, t)``. Never split, never changes.
    t:            uint32 (): index of the next step (so the stream may run for 2^32 steps).
    since_trial:  int32 (): steps since the current trial's start (-1 before step 0).
    isi:          int32 (): the current trial's ISI.
    trial_length: int32 (): the current trial's ISI + ITI.
    us_due:       bool (): whether the current trial's US is scheduled.
    us:           int32 (): US activation counter: 0 off, j on for the j-th step (j = 1..us_length).
    cs:           int32 (num_cs,): CS activation counters, as ``us``.
    distractors:  int32 (num_distractors,): distractor activation counters, as ``us``.
    patterns:     bool (num_patterns, num_cs): the trace-patterning patterns, drawn at reset from the key;
                  shape (0, 1) for trace conditioning.
    """

    key: Array
    t: Array
    since_trial: Array
    isi: Array
    trial_length: Array
    us_due: Array
    us: Array
    cs: Array
    distractors: Array
    patterns: Array


# ----------------------------------------------------------------------------------------------------
# Validation helpers: each names the field, what is valid and what was given.


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """An integer in [low, high] (``low`` 0 or 1; ``high`` None: no upper bound), via `rtrl.validate`."""
    hint = f"(at most {high})" if high is not None else ""
    check = validate.non_negative_int if low == 0 else validate.positive_int
    value = check(name, value, what=hint)
    if high is not None and value > high:
        kind = "non-negative" if low == 0 else "positive"
        raise ValueError(f"{name} must be a {kind} integer (at most {high}), got {value}.")
    return value


def _check_prob(name: str, value: Any, *, closed_high: bool = True) -> float:
    """A finite number in [0, 1] (or [0, 1)), via `rtrl.validate`."""
    return validate.number_in(name, value, 0.0, 1.0, high_open=not closed_high)


def _check_interval(name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"{name} must be an interval (low, high) of positive integers, got {value!r}.")
    low, high = value
    for v in (low, high):
        if not validate.is_integer(v) or int(v) < 1:
            raise ValueError(f"{name} must be an interval (low, high) of positive integers (>= 1), got {value!r}.")
    if int(low) > int(high):
        raise ValueError(f"{name} must be an interval (low, high) with low <= high, got {value!r}.")
    return (int(low), int(high))


# ----------------------------------------------------------------------------------------------------
# Counter-based randomness and stimulus counters.


def _words(key: Array, t: Array, count: int) -> Array:
    """``count`` uint32 words for step t, a pure function of (key, t)."""
    return jax.random.bits(jax.random.fold_in(key, t), (count,), jnp.uint32)


def _unit(word: Array) -> Array:
    """A uint32 word -> float32 uniform on [0, 1) (24-bit grid, exact in float32)."""
    return (word >> 8).astype(jnp.float32) * jnp.float32(2.0**-24)


def _randint(word: Array, interval: tuple[int, int]) -> Array:
    low, high = interval
    return (low + (word % jnp.uint32(high - low + 1))).astype(jnp.int32)


def _tick(counter: Array, onset: Array, length: int) -> Array:
    """One step of the reference's ``Stimulus.tick``: counter 0 = off, j = j-th step on.

    Off: turn on (counter 1) on an onset. On: count up, and turn off after ``length`` steps; an onset
    while on, or on the turn-off step, is lost.
    """
    return jnp.where(counter == 0, onset.astype(jnp.int32), jnp.where(counter >= length, 0, counter + 1))


# ----------------------------------------------------------------------------------------------------
# The tasks.


@dataclasses.dataclass(frozen=True)
class _Conditioning:
    """Fields and machinery shared by the conditioning tasks (see the module docstring)."""

    isi: tuple[int, int] | int = (7, 13)  # an ISI number (10 -> (7, 13)) is expanded on construction
    iti: tuple[int, int] = (80, 120)
    gamma: float | None = None  # None: from the ISI number, else DEFAULT_GAMMA (see the module docstring)
    num_distractors: int = 0
    cs_length: int = 4
    us_length: int = 2
    distractor_length: int = 4

    name: ClassVar[str] = ""
    _distractors_at_trial_start: ClassVar[bool] = False  # they carry information about trials
    num_cs: int = dataclasses.field(init=False, default=1, repr=False)  # a field in TracePatterning

    def __post_init__(self) -> None:
        set_ = functools.partial(object.__setattr__, self)  # frozen: normalise values in place once
        if validate.is_integer(self.isi):
            if self.isi < 1:
                raise ValueError(f"isi must be a positive ISI number (e.g. 10 -> (7, 13)) or an interval "
                                 f"(low, high), got {self.isi}.")
            number = int(self.isi)
            set_("isi", isi_interval(number))
            default_gamma = gamma_for_isi(number)
        else:
            set_("isi", _check_interval("isi", self.isi))
            default_gamma = self._default_gamma()
        set_("iti", _check_interval("iti", self.iti))
        set_("gamma", default_gamma if self.gamma is None else _check_prob("gamma", self.gamma, closed_high=False))
        set_("num_distractors", _check_int("num_distractors", self.num_distractors, 0, MAX_DISTRACTORS))
        # A stimulus shorter than the shortest trial never loses an onset and every onset is visible as
        # a rising edge: the generator then matches the reference exactly and the oracle stays exact.
        shortest = self.isi[0] + self.iti[0]
        for field in ("cs_length", "us_length", "distractor_length"):
            set_(field, _check_int(field, getattr(self, field), 1))
            if field != "distractor_length" or self._distractors_at_trial_start:
                if getattr(self, field) > shortest - 1:
                    raise ValueError(
                        f"{field} must be shorter than the shortest trial (isi[0] + iti[0] = {shortest}), i.e. "
                        f"at most {shortest - 1}, got {getattr(self, field)}; lengthen the isi/iti or shorten "
                        f"the stimulus."
                    )

    def _default_gamma(self) -> float:
        return DEFAULT_GAMMA

    # -- shape and statistics ------------------------------------------------------------------------

    @property
    def observation_size(self) -> int:
        """1 (US) + number of CSs + number of distractors."""
        return 1 + self.num_cs + self.num_distractors

    @property
    def us_probability(self) -> float:
        """P(a trial has a US)."""
        return 1.0

    @property
    def mean_trial_length(self) -> float:
        """E[ISI + ITI]."""
        return (sum(self.isi) + sum(self.iti)) / 2.0

    @property
    def us_rate(self) -> float:
        """Long-run mean of the cumulant: P(US) · us_length / E[ISI + ITI] (renewal-reward theorem)."""
        return self.us_probability * self.us_length / self.mean_trial_length

    @property
    def expected_return(self) -> float:
        """Long-run mean of G_t: us_rate / (1 - γ)."""
        return self.us_rate / (1.0 - self.gamma)

    # -- the stream ----------------------------------------------------------------------------------

    def reset(self, key: Array) -> TaskState:
        """The state before step 0 of the stream keyed by ``key`` (step 0 starts the first trial)."""
        pattern_key, stream_key = jax.random.split(key)
        i32 = functools.partial(jnp.asarray, dtype=jnp.int32)
        return TaskState(
            key=stream_key,
            t=jnp.asarray(0, jnp.uint32),
            since_trial=i32(-1),  # -1 + 1 == trial_length 0: the first step starts a trial
            isi=i32(0),
            trial_length=i32(0),
            us_due=jnp.asarray(False),
            us=i32(0),
            cs=jnp.zeros((self.num_cs,), jnp.int32),
            distractors=jnp.zeros((self.num_distractors,), jnp.int32),
            patterns=self._draw_patterns(pattern_key),
        )

    def step(self, state: TaskState) -> tuple[TaskState, Array]:
        """Advance one step: ``(state, obs_t)`` with obs_t float32 (observation_size,), obs_t[0] = US_t."""
        return _step(self, state)

    def generate(self, state: TaskState, steps: int) -> tuple[TaskState, Array]:
        """The next ``steps`` observations, float32 (steps, observation_size), and the state after them.

        Chunks continue the stream: ``generate(s, a + b)`` equals ``generate(s, a)`` then ``generate(·, b)``.
        """
        steps = _check_int("steps", steps, 0)
        return _generate(self, state, steps)

    # -- per-task pieces -------------------------------------------------------------------------------

    @property
    def _words_per_step(self) -> int:
        raise NotImplementedError

    def _draw_patterns(self, key: Array) -> Array:
        del key
        return jnp.zeros((0, 1), bool)

    def _trial(self, patterns: Array, w: Array) -> tuple[Array, Array, Array]:
        """A new trial's CS bits (num_cs,), whether its US is due, and its distractor onsets."""
        raise NotImplementedError

    def _distractor_onsets(self, start: Array, trial_onsets: Array, w: Array) -> Array:
        raise NotImplementedError

    def _transition(self, state: TaskState, w: Array) -> tuple[TaskState, Array]:
        """The reference's ``step``: start a trial if due, schedule onsets, tick every stimulus."""
        s = state.since_trial + 1
        start = s == state.trial_length
        s = jnp.where(start, 0, s)
        isi_new = _randint(w[0], self.isi)
        isi = jnp.where(start, isi_new, state.isi)
        trial_length = jnp.where(start, isi_new + _randint(w[1], self.iti), state.trial_length)
        cs_bits, us_new, d_trial = self._trial(state.patterns, w)
        us_due = jnp.where(start, us_new, state.us_due)
        us = _tick(state.us, us_due & (s == isi), self.us_length)
        cs = _tick(state.cs, start & cs_bits, self.cs_length)
        distractors = _tick(state.distractors, self._distractor_onsets(start, d_trial, w), self.distractor_length)
        obs = jnp.concatenate([(us > 0)[None], cs > 0, distractors > 0]).astype(jnp.float32)
        new = TaskState(state.key, state.t + jnp.uint32(1), s, isi, trial_length, us_due, us, cs, distractors,
                        state.patterns)
        return new, obs


@dataclasses.dataclass(frozen=True)
class TraceConditioning(_Conditioning):
    """Trace conditioning: CS at the trial start, US ISI steps later, Poisson-like distractors.

    Observation [US, CS, d_0..d_{D-1}]; distractor d starts w.p. 1/(10(d+1)) per step while off, so its
    off-runs are geometric with mean 10(d+1) and it is on a fraction 4/(4 + 10(d+1)) of the time.
    """

    name: ClassVar[str] = "trace-conditioning"

    @property
    def distractor_probabilities(self) -> tuple[float, ...]:
        """Per-step start probability of each distractor, 1/(10(d+1))."""
        return tuple(1.0 / (10 * (d + 1)) for d in range(self.num_distractors))

    @property
    def _words_per_step(self) -> int:
        return 2 + self.num_distractors

    def _trial(self, patterns, w):
        del patterns, w
        return jnp.ones((1,), bool), jnp.asarray(True), jnp.zeros((self.num_distractors,), bool)

    def _distractor_onsets(self, start, trial_onsets, w):
        del start, trial_onsets
        probs = jnp.asarray(self.distractor_probabilities, jnp.float32)
        return _unit(w[2:]) < probs  # ignored by _tick while the distractor is on, as in the reference


@dataclasses.dataclass(frozen=True)
class TracePatterning(_Conditioning):
    """Trace patterning: the US follows (w.p. 1 - ν) only the CS configurations that match a pattern.

    Observation [US, CS_1..CS_n, d_0..d_{D-1}]. ``num_patterns`` (k) distinct patterns with ⌊n/2⌋ ones
    (at most C(n, ⌊n/2⌋) of them) are drawn at reset; ``pattern_prob`` (π) is P(shown vector matches).
    """

    num_cs: int = 6
    num_patterns: int = 10
    pattern_prob: float = 0.5
    noise: float = 0.1

    name: ClassVar[str] = "trace-patterning"
    _distractors_at_trial_start: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        set_ = functools.partial(object.__setattr__, self)
        n = _check_int("num_cs", self.num_cs, 1, MAX_NUM_CS)
        set_("num_cs", n)
        candidates = math.comb(n, n // 2)
        k = _check_int("num_patterns", self.num_patterns, 1)
        if k > candidates:
            raise ValueError(
                f"num_patterns must be at most C(num_cs, num_cs // 2) = C({n}, {n // 2}) = {candidates} (the number "
                f"of distinct patterns with {n // 2} ones), got {k}."
            )
        set_("num_patterns", k)
        set_("noise", _check_prob("noise", self.noise))
        pi = _check_prob("pattern_prob", self.pattern_prob)
        if pi < k / 2**n:  # p = (2^n π - k)/(2^n - k) must be a probability
            raise ValueError(
                f"pattern_prob must be at least num_patterns / 2**num_cs = {k}/{2**n} = {k / 2**n:.4g} (random "
                f"vectors alone match that often), got {pi}."
            )
        set_("pattern_prob", pi)

    @property
    def pattern_choice_probability(self) -> float:
        """p = (2^n π - k)/(2^n - k): P(a trial shows a pattern rather than a random vector)."""
        n, k = self.num_cs, self.num_patterns
        return (2**n * self.pattern_prob - k) / (2**n - k)

    @property
    def us_probability(self) -> float:
        return self.pattern_prob * (1.0 - self.noise) + (1.0 - self.pattern_prob) * self.noise

    @property
    def _words_per_step(self) -> int:
        return 7

    def _draw_patterns(self, key):
        table = _pattern_table(self.num_cs)
        rows = jax.random.choice(key, table.shape[0], (self.num_patterns,), replace=False)
        return jnp.asarray(table)[rows]

    def _trial(self, patterns, w):
        n, k = self.num_cs, self.num_patterns
        bits = jnp.arange(n, dtype=jnp.uint32)
        random_vector = ((w[4] >> bits) & 1).astype(bool)
        shown = jnp.where(_unit(w[2]) < self.pattern_choice_probability, patterns[w[3] % jnp.uint32(k)], random_vector)
        match = jnp.any(jnp.all(shown[None, :] == patterns, axis=1))
        u = _unit(w[5])
        us_due = jnp.where(match, u >= self.noise, u < self.noise)
        d_bits = ((w[6] >> jnp.arange(self.num_distractors, dtype=jnp.uint32)) & 1).astype(bool)
        return shown, us_due, d_bits

    def _distractor_onsets(self, start, trial_onsets, w):
        del w
        return start & trial_onsets


@dataclasses.dataclass(frozen=True)
class NoisyPatterning(TracePatterning):
    """Noisy patterning: trace patterning with ISI = ``cs_length`` (the US follows the CS at once)."""

    isi: tuple[int, int] = dataclasses.field(init=False, default=(4, 4))
    name: ClassVar[str] = "noisy-patterning"

    def __post_init__(self) -> None:
        # The CS length is checked again by the base class; check it here first so isi is well formed.
        length = _check_int("cs_length", self.cs_length, 1)
        object.__setattr__(self, "isi", (length, length))
        super().__post_init__()

    def _default_gamma(self) -> float:
        return gamma_for_isi(self.cs_length)  # the reference table's γ for ISI = cs_length (0.75 for 4)


@functools.lru_cache(maxsize=None)
def _pattern_table(n: int) -> np.ndarray:
    """All C(n, n//2) n-bit vectors with n//2 ones, bool (C, n), in itertools.combinations order."""
    import itertools

    rows = list(itertools.combinations(range(n), n // 2))
    table = np.zeros((len(rows), n), bool)
    for i, ones in enumerate(rows):
        table[i, list(ones)] = True
    return table


@functools.partial(jax.jit, static_argnums=0)
def _step(task: _Conditioning, state: TaskState) -> tuple[TaskState, Array]:
    return task._transition(state, _words(state.key, state.t, task._words_per_step))


@functools.partial(jax.jit, static_argnums=(0, 2))
def _generate(task: _Conditioning, state: TaskState, steps: int) -> tuple[TaskState, Array]:
    # Draw the chunk's randomness in one vectorised call (counter-based, so identical to step-by-step),
    # then scan the cheap integer logic.
    ts = state.t + jnp.arange(steps, dtype=jnp.uint32)
    words = jax.vmap(lambda t: _words(state.key, t, task._words_per_step))(ts)
    return lax.scan(task._transition, state, words)
