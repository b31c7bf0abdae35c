"""``rtrl bench cells``: per-step time of each cell, forward only, with RTRL, and with T-BPTT.

Every mode runs a realistic online step inside one jitted loop (a `fori_loop` with a traced
trip count, so the number of timed steps never triggers a recompile):

* ``forward``: ``carry, y = cell.step(...)`` (``gradient="bptt"`` cell, no gradient);
* ``rtrl-step``: the same step of a ``gradient="rtrl"`` cell — forward plus the trace update, no
  loss: what carrying exact gradients costs per step (the issue's "RTRL step");
* ``rtrl``: the gradient of a loss of y through one RTRL step (forward + trace update +
  contraction), then an SGD update of the parameters — the online learning step;
* ``tbptt-T``: push the input into a rolling window of T steps, backpropagate the loss at the
  newest step through the window, SGD update (`rtrl.grad.tbptt`).

Inputs cycle through a fixed buffer of random vectors. Times are the median of ``repeats``
runs after a warm-up, divided by the number of steps; compile time is reported apart. Memory is
the cost model's (`rtrl.cost`) and XLA's own buffer assignment for the compiled loop.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import statistics
import time
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp

import rtrl
from rtrl import cost, validate
from rtrl.grad import tbptt

DEFAULT_CELLS = ("rtu-linear", "rtu-nonlinear", "lru", "elstm", "gru", "lstm")
DEFAULT_HIDDEN = (32, 64, 128, 192, 256, 512, 1024)
DEFAULT_MODES = ("forward", "rtrl-step", "rtrl", "tbptt-1", "tbptt-4", "tbptt-16", "tbptt-64")
_BUFFER = 64  # distinct input vectors the loop cycles through


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    cells: tuple[str, ...] = DEFAULT_CELLS
    hidden_sizes: tuple[int, ...] = DEFAULT_HIDDEN
    batch_sizes: tuple[int, ...] = (1, 64)
    modes: tuple[str, ...] = DEFAULT_MODES
    input_size: int = 64
    target_seconds: float = 0.25  # each timed run lasts about this long
    repeats: int = 5
    max_dense_hidden: int = 32  # dense O(n⁴) RTRL (gru, lstm, rnn) only up to this size

    def __post_init__(self):
        if not self.cells or not self.modes:
            raise ValueError("cells and modes must not be empty.")
        for c in self.cells:
            rtrl.cells.definition(c)  # raises with the valid names
        for field in ("hidden_sizes", "batch_sizes"):
            values = getattr(self, field)
            if isinstance(values, (str, bytes)) or not values:
                raise ValueError(f"{field} must be a non-empty list of positive integers, got {values!r}.")
            for i, v in enumerate(values):
                validate.positive_int(f"{field}[{i}]", v)
        for m in self.modes:
            parse_mode(m)
        validate.positive_int("input_size", self.input_size)
        validate.positive_number("target_seconds", self.target_seconds)
        validate.positive_int("repeats", self.repeats)
        validate.positive_int("max_dense_hidden", self.max_dense_hidden)


def parse_mode(mode: str) -> tuple[str, int | None]:
    """"forward" | "rtrl-step" | "rtrl" | "tbptt-T" -> (method, T)."""
    if mode in ("forward", "rtrl-step", "rtrl"):
        return mode, None
    if mode.startswith("tbptt-") and mode[6:].isdigit() and int(mode[6:]) > 0:
        return "tbptt", int(mode[6:])
    raise ValueError(f"mode must be 'forward', 'rtrl-step', 'rtrl' or 'tbptt-T' with T a positive integer, got {mode!r}.")


@dataclasses.dataclass(frozen=True)
class Case:
    cell: str
    mode: str
    batch: int
    hidden: int
    input: int


def cases(config: BenchConfig) -> Iterator[Case]:
    for cell in config.cells:
        dense = not rtrl.cells.definition(cell).elementwise
        for batch in config.batch_sizes:
            for hidden in config.hidden_sizes:
                for mode in config.modes:
                    if mode in ("rtrl", "rtrl-step") and dense and hidden > config.max_dense_hidden:
                        continue  # O(n⁴): see max_dense_hidden
                    yield Case(cell, mode, batch, hidden, config.input_size)


def _loss(y: jax.Array, direction: jax.Array) -> jax.Array:
    return jnp.sum(y @ direction)


def _sgd(params, grads, lr: float = 1e-6):
    return jax.tree.map(lambda p, g: p - lr * g, params, grads)


def build(case: Case) -> tuple[Callable, Any]:
    """(run(state, steps) -> state, initial state) for one case; ``run`` is jitted."""
    method, truncation = parse_mode(case.mode)
    cell = rtrl.cells.make(case.cell, hidden_size=case.hidden, gradient="rtrl" if method.startswith("rtrl") else "bptt")
    k_p, k_x, k_v = jax.random.split(jax.random.PRNGKey(0), 3)
    params = cell.init(k_p, case.input)
    xs = jax.random.normal(k_x, (_BUFFER, case.batch, case.input))
    direction = jax.random.normal(k_v, (cell.output_size,)) / math.sqrt(cell.output_size)
    no_reset = jnp.zeros((case.batch,), bool)

    if method in ("forward", "rtrl-step"):
        def body(t, state):
            params, carry, acc = state
            carry, y = cell.step(params, carry, xs[t % _BUFFER], no_reset)
            return params, carry, acc + _loss(y, direction)
        state = (params, cell.initial_carry(params, case.batch), jnp.zeros(()))
    elif method == "rtrl":
        def body(t, state):
            params, carry, acc = state

            def loss(p):
                new_carry, y = cell.step(p, carry, xs[t % _BUFFER], no_reset)
                return _loss(y, direction), new_carry

            (value, carry), grads = jax.value_and_grad(loss, has_aux=True)(params)
            return _sgd(params, grads), carry, acc + value
        state = (params, cell.initial_carry(params, case.batch), jnp.zeros(()))
    else:
        def body(t, state):
            params, window, acc = state
            window = tbptt.push(cell, params, window, xs[t % _BUFFER], no_reset)
            value, _, grads = tbptt.window_gradient(cell, params, window, None,
                                                    lambda y, _: _loss(y, direction))
            return _sgd(params, grads), window, acc + value
        state = (params, tbptt.init_window(cell, params, case.batch, truncation), jnp.zeros(()))

    @jax.jit
    def run(state, steps):
        return jax.lax.fori_loop(0, steps, body, state)

    return run, state


def measure(case: Case, config: BenchConfig) -> dict[str, Any]:
    run, state = build(case)
    t0 = time.perf_counter()
    compiled = run.lower(state, 1).compile()
    compile_s = time.perf_counter() - t0
    memory = compiled.memory_analysis()
    xla_bytes = int(getattr(memory, "temp_size_in_bytes", 0)) if memory is not None else 0
    jax.block_until_ready(compiled(state, 2))  # warm-up
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(state, 5))
    estimate = max((time.perf_counter() - t0) / 5, 1e-7)
    steps = int(min(max(config.target_seconds / estimate, 3), 100_000))
    times = []
    for _ in range(config.repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(state, steps))
        times.append((time.perf_counter() - t0) / steps)
    seconds = statistics.median(times)
    method, truncation = parse_mode(case.mode)
    # the cost model counts the whole learning step; rtrl-step is shown against that count
    model = cost.step_cost(case.cell, hidden_size=case.hidden, input_size=case.input,
                           method="rtrl" if method == "rtrl-step" else method,
                           truncation=truncation, batch_size=case.batch)
    return {
        "cell": case.cell,
        "mode": case.mode,
        "batch": case.batch,
        "hidden": case.hidden,
        "input": case.input,
        "us_per_step": round(seconds * 1e6, 3),
        "env_steps_per_s": round(case.batch / seconds, 1),
        "steps_timed": steps,
        "compile_s": round(compile_s, 3),
        "model_flops": model.flops,
        "gflops_per_s": round(model.flops / seconds / 1e9, 3),
        "model_memory_bytes": 4 * model.memory,
        "xla_temp_bytes": xla_bytes,
        "device": describe_device(),
        "jax": jax.__version__,
    }


def describe_device() -> str:
    device = jax.devices()[0]
    if device.platform == "cpu":
        import os

        return f"cpu:{platform.processor() or platform.machine()}x{os.cpu_count()}"
    return f"{device.platform}:{device.device_kind}"


# --------------------------------------------------------------------------------------------
# What the targets ask, read off the measured rows.
# --------------------------------------------------------------------------------------------


def _time(rows, cell, mode, batch, hidden):
    for r in rows:
        if (r["cell"], r["mode"], r["batch"], r["hidden"]) == (cell, mode, batch, hidden):
            return r["us_per_step"]
    return None


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y against log x (1 = linear growth)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def target_report(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for batch in sorted({r["batch"] for r in rows}):
        for cell in ("rtu-linear", "rtu-nonlinear"):
            f = _time(rows, cell, "forward", batch, 192)
            s, r, t1 = (_time(rows, cell, m, batch, 192) for m in ("rtrl-step", "rtrl", "tbptt-1"))
            if f and s:
                verdict = "met" if s <= 3 * f else "not met"
                lines.append(f"{cell} RTRL step / forward at hidden 192, batch {batch}: {s / f:.2f}x "
                             f"(target <= 3x: {verdict})")
            if f and r:
                versus = f", {r / t1:.2f}x a T-BPTT-1 learning step" if t1 else ""
                lines.append(f"{cell} RTRL learning step (+ gradient, SGD) at hidden 192, batch {batch}: "
                             f"{r / f:.2f}x forward{versus}")
        for cell in sorted({r["cell"] for r in rows}):
            pts = sorted((r["hidden"] * r["input"], r["us_per_step"]) for r in rows
                         if r["cell"] == cell and r["mode"] == "rtrl" and r["batch"] == batch)
            big = [(x, y) for x, y in pts if x >= 64 * 128]
            if len(big) >= 2:
                lines.append(f"{cell} RTRL time vs hidden x input (>= 64x128), batch {batch}: log-log slope "
                             f"{_slope(*zip(*big)):.2f} (1 = linear)")
            for hidden in sorted({r["hidden"] for r in rows}):
                ts = sorted((int(r["mode"][6:]), r["us_per_step"]) for r in rows if r["cell"] == cell
                            and r["batch"] == batch and r["hidden"] == hidden and r["mode"].startswith("tbptt-"))
                if len(ts) >= 2 and hidden in (192, 1024):
                    lines.append(f"{cell} T-BPTT time vs T, hidden {hidden}, batch {batch}: log-log slope "
                                 f"{_slope(*zip(*ts)):.2f} over T in {[t for t, _ in ts]} (1 = linear)")
    return lines
