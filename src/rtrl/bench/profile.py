"""Per-kernel times of a jitted computation, from a Perfetto trace of one run (developer tool).

Run with ``XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true`` so that XLA CPU kernels appear in the trace.
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import shutil
import tempfile
from typing import Any, Callable

import jax


def kernel_times(run: Callable[[], Any]) -> tuple[collections.Counter, collections.Counter]:
    """(total µs, number of calls) per trace event name while ``run()`` executes once (after a warm-up call)."""
    jax.block_until_ready(run())
    directory = tempfile.mkdtemp()
    try:
        with jax.profiler.trace(directory, create_perfetto_trace=True):
            jax.block_until_ready(run())
        with gzip.open(glob.glob(f"{directory}/**/perfetto_trace.json.gz", recursive=True)[0]) as f:
            events = json.load(f)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    events = events["traceEvents"] if isinstance(events, dict) else events
    total, count = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("ph") == "X":
            total[e["name"]] += e.get("dur", 0)
            count[e["name"]] += 1
    return total, count
