"""Will it fit? The memory a machine has available, and a refusal before work when a job will not fit.

    memory.check_fits(estimate, what="rtrl predict: gru n=1000 (RTRL, dense traces), 3 seeds",
                      reduce="hidden_size, or learner=tbptt, or an element-wise cell",
                      breakdown={"traces": 36e9, "streams": 1e7})

raises ``ValueError("rtrl predict: ... needs about 108.0 GB (estimate: traces 36.0 GB, ...) but the
machine has 21.4 GB available; reduce hidden_size, ...")`` when the estimate does not fit in
`HEADROOM` of what is available, so that a job dies with a message before it starts rather than
with an out-of-memory error (or a swapping machine) after minutes of work. Estimates come from the
cost model (`rtrl.cost`) and are meant to be upper bounds of the real use.

Available memory: on the host, ``MemAvailable`` of /proc/meminfo, capped by the cgroup's memory
limit minus its usage when a limit is set (a container); elsewhere the free physical pages
(``os.sysconf``); unknown (None: no check) where neither can be read. On an accelerator (GPU, TPU)
arrays live in the device's memory: ``bytes_limit − bytes_in_use`` of its allocator.
"""

from __future__ import annotations

import os
from typing import Mapping

__all__ = ["HEADROOM", "available_bytes", "check_fits", "device_available_bytes", "gigabytes",
           "host_available_bytes"]

# Fraction of the available memory a job may plan to use: the rest is for XLA's own buffers and
# compilation, Python, and the error of the estimate.
HEADROOM = 0.8

_CGROUP_V2 = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current")
_CGROUP_V1 = ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")
# cgroup v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages), not as "max"
_NO_LIMIT = 1 << 60


def host_available_bytes(meminfo: str = "/proc/meminfo",
                         cgroups: tuple[tuple[str, str], ...] = (_CGROUP_V2, _CGROUP_V1)) -> int | None:
    """Bytes of host memory a new allocation can get without swapping, or None if unknown."""
    available = _meminfo_available(meminfo)
    for limit_path, usage_path in cgroups:
        limit, usage = _read_int(limit_path), _read_int(usage_path)
        if limit is not None and usage is not None and limit < _NO_LIMIT:
            room = max(0, limit - usage)
            available = room if available is None else min(available, room)
            break
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    return available


def device_available_bytes() -> int | None:
    """Free bytes of JAX's default device when it is an accelerator; None on the CPU (whose arrays
    are in host memory) or when the device does not report its memory."""
    import jax

    device = jax.devices()[0]
    if device.platform == "cpu":
        return None
    try:
        stats = device.memory_stats() or {}
    except Exception:  # noqa: BLE001 - some back-ends do not implement memory_stats
        return None
    if "bytes_limit" not in stats:
        return None
    return max(0, int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)))


def available_bytes(*, device: bool = False) -> int | None:
    """Available bytes where the arrays go: with ``device``, on JAX's default device (the host's
    memory when that is the CPU); without, on the host."""
    if device:
        free = device_available_bytes()
        if free is not None:
            return free
    return host_available_bytes()


def check_fits(estimate_bytes: float, *, what: str, reduce: str, breakdown: Mapping[str, float] | None = None,
               device: bool = False, available: int | None = None) -> None:
    """Refuse (ValueError) a job whose ``estimate_bytes`` exceed `HEADROOM` of the available memory.

    Args:
      estimate_bytes: the job's estimated peak use (an upper bound, from the cost model).
      what: the job, for the message ("rtrl predict: gru n=1000 (RTRL), 3 seeds").
      reduce: what the user can reduce ("hidden_size, or seeds").
      breakdown: the parts of the estimate, named, in bytes (shown in the message).
      device: the arrays live on JAX's default device (`available_bytes(device=True)`).
      available: the available bytes, if already known (tests); by default measured.
    """
    if available is None:
        available = available_bytes(device=device)
    if available is None or estimate_bytes <= HEADROOM * available:
        return
    parts = ", ".join(f"{name} {gigabytes(b)}" for name, b in (breakdown or {}).items() if b > 0)
    where = "the device" if device and device_available_bytes() is not None else "the machine"
    raise ValueError(f"{what} needs about {gigabytes(estimate_bytes)}"
                     + (f" (estimate: {parts})" if parts else "")
                     + f" but {where} has {gigabytes(available)} available (a job may plan for "
                     f"{HEADROOM:.0%} of it); reduce {reduce}.")


def gigabytes(n: float) -> str:
    """Bytes as "12.3 GB" (10⁹ bytes; "0.004 GB" below 0.1 GB, so that small is not shown as 0)."""
    value = n / 1e9
    return f"{value:.1f} GB" if value >= 0.1 else f"{value:.3f} GB"


def _meminfo_available(path: str) -> int | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    if text == "max":
        return _NO_LIMIT
    try:
        return int(text)
    except ValueError:
        return None
