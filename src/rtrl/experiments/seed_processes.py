"""The seeds of a JAX-native training run split over worker processes, one group per CPU.

XLA's CPU back-end runs one program's kernels one after another, and vmap widens each kernel without
adding parallelism: 8 vmapped seeds of Real-Time PPO ran 1.10x one seed's total on 2 cores, and 1.64x
split over two processes (`benchmarks/seeds_scaling.csv`). Two programs side by side do use both cores.
(Two programs in one process, on Python threads or pmap over forced host devices, used to hang; the cause
was jax's batched orthogonal initialiser deadlocking XLA's CPU pool, fixed in `rtrl.cells.initializers`.
Processes stay: they also keep each group's Python work and dispatch off the other's core.) So each group of
seeds gets its own process: a fresh Python (``python -m
rtrl.experiments.seed_processes``, so a user's script is never re-imported), its own XLA thread pool sized
to its share of the CPUs, and `train_seeds.make` of its seeds, the same vmapped program a one-process run
uses. The run loop in the parent is unchanged: `Seeds.iteration` sends the iteration to every group at
once, waits for all, and joins their states and metrics on the seed axis, so checkpoints, logs and
divergence checks see every seed as before. Seed k keeps its key (``seed + k``): a run's numbers do not
depend on how its seeds are grouped (tested against one process).

The parent keeps the joined state after each iteration; a worker keeps its own copy and is sent a state
only when the one it is asked to continue is not the one it returned (a restored checkpoint). A state is
~1 MB per seed for the RTU paper's PPO, so the transfer costs milliseconds against seconds of work. After
each iteration the workers go straight on to the next one, from the state they returned, while the
parent logs and checkpoints: the parent's work between iterations is hidden, and a call that continues
the returned state (every call of the run loop) finds its iteration under way.

Workers start in their own session (Ctrl-C reaches only the parent, which stops them), read their
orders from a pipe, and exit when it closes, so a parent that dies leaves none behind.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import traceback
from multiprocessing.connection import Connection
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rtrl import validate

__all__ = ["AUTO", "SeedWorkerError", "check", "groups", "make", "usable_cpus"]

AUTO = "auto"
CLOSE_WAIT_S = 2.0  # how long `close` lets a worker finish on its own before it is killed


class SeedWorkerError(RuntimeError):
    """A worker process of a seed group failed or ended; the message carries its error."""


def check(processes: int | str) -> int | str:
    """``processes`` if it is "auto" or a whole number >= 1; ValueError otherwise."""
    return validate.auto_or_positive_int("processes", processes)


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def groups(processes: int | str, seeds: int, *, splittable: bool, what: str) -> list[tuple[int, int]]:
    """The seed groups ``(first, count)`` of a run of ``seeds`` seeds: one group (all in this process)
    or one per worker process. "auto": one per usable CPU, at most one per seed, where the run is
    ``splittable`` (a JAX-native environment, not R2AC) on a CPU-only JAX; 1 elsewhere. A number > 1
    for a run that is not splittable is refused (``what`` names the run's kind in the message)."""
    from rtrl.experiments.cpu_threads import accelerator_possible

    n = check(processes)
    if n == AUTO:
        n = min(seeds, usable_cpus()) if splittable and seeds > 1 and not accelerator_possible() else 1
    elif n > 1 and not splittable:
        raise ValueError(f"processes must be 1 (or auto) for {what}: only the seeds of a JAX-native environment "
                         f"(jax/..., memorychain/..., gymnax/..., mjx/...) are split over processes; got {n}.")
    n = min(n, seeds)
    size, extra = divmod(seeds, n)
    firsts = [k * size + min(k, extra) for k in range(n)]
    return [(first, size + (k < extra)) for k, first in enumerate(firsts)]


def make(config: Any, agent: Any, seed_groups: list[tuple[int, int]], threads: int | None = None):
    """`train_seeds.Seeds` of ``config`` whose groups run in worker processes (``threads`` XLA CPU
    threads each; default: the usable CPUs shared out). ``agent`` is the parent's (for its
    descriptions and memory figures; the workers build their own)."""
    from rtrl.experiments.train_seeds import Seeds

    threads = threads or max(1, usable_cpus() // len(seed_groups))
    workers: list[_Worker] = []
    last: list[Any] = [None]  # the joined state of the last call: the one the workers hold
    ahead = [False]  # the workers are already running the iteration that continues `last`

    def start() -> list[_Worker]:
        if not workers:
            workers.extend(_Worker(config, first, count, threads) for first, count in seed_groups)
        return workers

    def init():
        state = _join([w.ask("init") for w in _sent(start(), "init")])
        last[0], ahead[0] = state, False
        return state

    def iteration(state):
        if not (ahead[0] and state is last[0]):
            if ahead[0]:  # asked to continue another state (a restored checkpoint): the run ahead is dropped
                [w.ask("iteration") for w in workers]
            group_states = [None] * len(seed_groups) if state is last[0] else _split(state, seed_groups)
            _sent(start(), "iteration", group_states)
        replies = [w.ask("iteration") for w in workers]
        state = _join([s for s, _ in replies])
        # The next iteration starts now, from the state just returned, while the caller logs and checkpoints
        # this one: the workers do not wait on the run loop. Its result is read by the next call if that
        # call continues this state, and dropped otherwise (a run that ends leaves one iteration unread).
        _sent(workers, "iteration")
        last[0], ahead[0] = state, True
        return state, _join([m for _, m in replies])

    def close():
        for w in workers:
            w.close()
        workers.clear()
        last[0], ahead[0] = None, False

    return Seeds(agent, init, iteration, lambda s, it: s, None, close)


def _sent(workers: list[_Worker], order: str, payloads: list[Any] | None = None) -> list[_Worker]:
    """Send every worker its order first, so that they work at the same time; then read the replies."""
    for k, w in enumerate(workers):
        w.send(order, None if payloads is None else payloads[k])
    return workers


def _split(state: Any, seed_groups: list[tuple[int, int]]) -> list[Any]:
    host = jax.device_get(state)
    return [jax.tree.map(lambda x: np.asarray(x)[first:first + count], host) for first, count in seed_groups]


def _join(parts: list[Any]) -> Any:
    return jax.tree.map(lambda *x: jnp.asarray(np.concatenate(x)), *parts)


class _Worker:
    """One worker process and the pipes to it."""

    def __init__(self, config: Any, first: int, count: int, threads: int):
        self.seeds = f"seeds {config.seed + first}–{config.seed + first + count - 1}" if count > 1 else \
            f"seed {config.seed + first}"
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rtrl.experiments.seed_processes", str(to_child), str(from_child)],
            pass_fds=(to_child, from_child), stdin=subprocess.DEVNULL, start_new_session=True)
        os.close(to_child)
        os.close(from_child)
        self.orders = Connection(from_parent, readable=False)
        self.replies = Connection(to_parent, writable=False)
        sub = dataclasses.replace(config, seed=config.seed + first, seeds=count)
        self.send("start", (sub, threads, bool(jax.config.jax_enable_x64)))

    def send(self, order: str, payload: Any = None) -> None:
        try:
            self.orders.send((order, payload))
        except (BrokenPipeError, OSError):
            raise self._ended() from None

    def ask(self, order: str) -> Any:
        """The reply to ``order`` (sent before); a worker's error raised here."""
        try:
            status, value = self.replies.recv()
            if status == "started":  # the reply to "start", read with the first order's
                status, value = self.replies.recv()
        except (EOFError, OSError):
            raise self._ended() from None
        if status == "error":
            raise SeedWorkerError(f"the worker process of {self.seeds} failed ({order}): {value}")
        return value

    def _ended(self) -> SeedWorkerError:
        try:
            code = self.process.wait(timeout=CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            code = None
        return SeedWorkerError(f"the worker process of {self.seeds} ended unexpectedly (exit status {code}); "
                               "its error, if any, is printed above.")

    def close(self) -> None:
        for c in (self.orders, self.replies):
            c.close()
        try:  # an idle worker exits when its pipe closes; a busy one (an interrupted run) is stopped
            self.process.wait(timeout=CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _serve(orders: Connection, replies: Connection) -> None:
    """A worker: build the group's seeds, then answer "init" and "iteration" until the pipe closes."""
    _, (config, threads, x64) = orders.recv()
    from rtrl.experiments import cpu_threads

    cpu_threads.limit_xla_cpu_threads(threads)  # before any JAX computation
    jax.config.update("jax_enable_x64", x64)
    from rtrl.experiments import train_seeds

    try:
        seeds = train_seeds.make(config)
    except Exception as e:
        replies.send(("error", _describe(e)))
        return
    replies.send(("started", None))
    state = None
    while True:
        try:
            order, payload = orders.recv()
        except EOFError:  # the parent closed the pipe (or ended)
            return
        try:
            if order == "init":
                state = seeds.init()
                reply = ("ok", jax.device_get(state))
            else:
                if payload is not None:
                    state = jax.tree.map(jnp.asarray, payload)
                state, metrics = seeds.iteration(state)
                reply = ("ok", jax.device_get((state, metrics)))
        except Exception as e:
            reply = ("error", _describe(e))
        try:
            replies.send(reply)
        except (BrokenPipeError, OSError):  # the parent closed the pipe while this iteration ran ahead: done
            return


def _describe(error: Exception) -> str:
    """The error's type and message, then its traceback (for a bug report)."""
    return f"{type(error).__name__}: {error}\n{''.join(traceback.format_exception(error))}"


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
