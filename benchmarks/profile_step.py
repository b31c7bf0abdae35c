"""Profile one `rtrl bench cells` case kernel by kernel (a developer tool).

    XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true \
        python benchmarks/profile_step.py rtu-linear rtrl --batch 1 --hidden 192

Prints the time per step of each compiled XLA kernel (fusion), largest first, from a Perfetto
trace of the timed loop — the way to find a fusion that recomputes per-unit factors per element
(see rtrl.cells.materialize).
"""

import argparse

from rtrl.bench.cells import Case, build
from rtrl.bench.profile import kernel_times


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
    total, count = kernel_times(lambda: run(state, args.steps))
    for name, microseconds in total.most_common(args.top):
        calls = count[name] / args.steps
        if calls >= 0.99:  # kernels of the loop body
            print(f"{microseconds / args.steps:9.2f} µs/step  {calls:5.1f} calls/step  {name}")


if __name__ == "__main__":
    main()
