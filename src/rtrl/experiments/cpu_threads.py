"""How many threads XLA's CPU runtime works with: one for a single stream of tiny kernels.

XLA on CPU runs a compiled program as a graph of small kernels ("thunks") and hands the ready ones to
a thread pool sized, when the CPU backend starts, to the CPUs the process may run on. A streaming
agent with one seed runs ~500 kernels of a few hundred numbers each per environment step: handing
them between two threads costs more than it parallelises. On this 2-core machine `rtrl train --agent
stream-ac` (RTU n = 64, one seed) ran 11,859 env steps/s with the default pool and 22,519 with one
thread, the OS still free to place the threads (`benchmarks/streaming.csv`).

JAX has no setting for the pool's size; the documented way is the affinity mask the backend starts
under (jax-ml/jax#1539). `limit_xla_cpu_threads` narrows the mask while the backend starts, then gives
every thread of the process the full mask back, so only the pool's size changes.
"""

from __future__ import annotations

import os

__all__ = ["AUTO", "accelerator_possible", "check", "limit_xla_cpu_threads", "resolve"]

AUTO = "auto"


def check(threads: int | str) -> int | str:
    """``threads`` if it is "auto" or a whole number >= 1; ValueError otherwise."""
    from rtrl import validate

    return validate.auto_or_positive_int("threads", threads)


def resolve(threads: int | str, streaming: bool, seeds: int) -> int | None:
    """The pool size to ask for: ``threads`` if a number; for "auto", 1 for a streaming run of one seed
    (every step a chain of tiny kernels) on a CPU-only JAX, and None (XLA's default, every CPU) otherwise:
    with an accelerator the narrowed mask would also size the GPU client's host threads."""
    if check(threads) == AUTO:
        return 1 if streaming and seeds == 1 and not accelerator_possible() else None
    return threads


def accelerator_possible() -> bool:
    """Whether JAX may start a GPU/TPU backend here, known without starting one: ``JAX_PLATFORMS``
    names one, or (unset) a PJRT plugin (jax-cuda12-plugin, ...) or libtpu is installed."""
    import importlib.metadata
    import importlib.util

    platforms = _configured_platforms()
    if platforms:
        return any(p.strip() not in ("", "cpu") for p in platforms.split(","))
    if importlib.metadata.entry_points(group="jax_plugins"):
        return True
    if importlib.util.find_spec("jax_plugins") is not None:  # namespace package of the PJRT plugins
        import pkgutil

        import jax_plugins

        if any(True for _ in pkgutil.iter_modules(jax_plugins.__path__)):
            return True
    return importlib.util.find_spec("libtpu") is not None


def _configured_platforms() -> str:
    """The platforms JAX was told to use (``jax_platforms`` or ``JAX_PLATFORMS``; "" when unset)."""
    import jax

    return jax.config.jax_platforms or os.environ.get("JAX_PLATFORMS", "")


def limit_xla_cpu_threads(threads: int) -> bool:
    """Start JAX's backends with XLA's CPU thread pool sized to ``threads`` (a whole number >= 1). True
    if it was; False, with nothing changed, where the backends have already started (call it before any
    JAX computation), the process may run on no more than ``threads`` CPUs anyway, or the OS has no
    affinity masks."""
    if check(threads) == AUTO:
        raise ValueError("threads must be a whole number >= 1 here; 'auto' is resolved by resolve().")
    if not hasattr(os, "sched_setaffinity"):
        return False
    from jax._src import xla_bridge  # JAX exposes no public "has the backend started?"

    allowed = os.sched_getaffinity(0)
    if len(allowed) <= threads or xla_bridge.backends_are_initialized():
        return False
    import jax

    os.sched_setaffinity(0, set(sorted(allowed)[:threads]))
    try:
        jax.devices()  # starts the backends: the pool is sized now
    finally:  # every thread, the pool's included, may run anywhere again
        for tid in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(tid), allowed)
            except OSError:  # a thread that has just ended
                pass
    return True
