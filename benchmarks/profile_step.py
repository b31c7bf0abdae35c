"""Profile one `rtrl bench cells` case kernel by kernel (a developer tool).

    XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true \
        python benchmarks/profile_step.py rtu-linear rtrl --batch 1 --hidden 192

Prints the time per step of each compiled XLA kernel (fusion), largest first, from a Perfetto
trace of the timed loop — the way to find a fusion that recomputes per-unit factors per element
(see rtrl.cells.materialize).
"""

import argparse
import collections
import glob
import gzip
import json
import shutil
import tempfile

import jax

from rtrl.bench.cells import Case, build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cell")
    parser.add_argument("mode", help="forward, rtrl or tbptt-T")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=192)
    parser.add_argument("--input", type=int, default=64)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    run, state = build(Case(args.cell, args.mode, args.batch, args.hidden, args.input))
    jax.block_until_ready(run(state, args.steps))
    directory = tempfile.mkdtemp()
    try:
        with jax.profiler.trace(directory, create_perfetto_trace=True):
            jax.block_until_ready(run(state, args.steps))
        events = json.load(gzip.open(glob.glob(f"{directory}/**/perfetto_trace.json.gz", recursive=True)[0]))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    events = events["traceEvents"] if isinstance(events, dict) else events
    total, count = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("ph") == "X":
            total[e["name"]] += e.get("dur", 0)
            count[e["name"]] += 1
    for name, microseconds in total.most_common(args.top):
        calls = count[name] / args.steps
        if calls >= 0.99:  # kernels of the loop body
            print(f"{microseconds / args.steps:9.2f} µs/step  {calls:5.1f} calls/step  {name}")


if __name__ == "__main__":
    main()
