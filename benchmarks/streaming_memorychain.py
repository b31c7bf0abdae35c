"""MemoryChain success against chain length for streaming learners (issue 11, Deliver 6).

    python benchmarks/streaming_memorychain.py [--lengths 4 16 64 128] [--seeds 5] [--out runs/memorychain]

For every chain length L and learner, one ``rtrl train --preset streaming/memorychain-<L> --seeds S``
run (stream AC(λ), one environment per seed, an update every step; the seeds vmapped in one process),
with the learner's flags:

    RTU (RTRL)        the preset: linear RTU, n = 64, exact RTRL
    RTU (T-BPTT(1))   --gradient tbptt
    GRU (T-BPTT(1))   --cell gru --gradient tbptt
    feed-forward      --gradient none

Success is each seed's final return (`rtrl.experiments.train_report.FINAL_RETURN`: the mean episode
return over the last 10% of iterations): on MemoryChain only the last step is rewarded (+1 right, −1
wrong), so it is the mean last-step reward, 1 for a perfect memory and 0 for none. Written:
``success.csv`` (one row per length and learner: mean, 95% t half-width, per-seed values, the command)
and ``success.png`` (success against L, one line per learner with its t-band).
Target: RTU (RTRL) >= 0.9 at L = 64 while every T-BPTT(1) and feed-forward learner stays <= 0.2.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from rtrl.experiments import statistics
from rtrl.experiments.run_dir import write_csv

LEARNERS = {
    "RTU (RTRL)": [],
    "RTU (T-BPTT(1))": ["--gradient", "tbptt"],
    "GRU (T-BPTT(1))": ["--cell", "gru", "--gradient", "tbptt"],
    "feed-forward": ["--gradient", "none"],
}
# RTUs whose eigenvalues start inside |λ| ≤ r_max (the default ring reaches 1): at initialisation the context
# has faded to at most r_max^L of its size by the query, so the memory has to be learned (run with --learners).
EXTRA = {}
for r_max in ("0.5", "0.9"):
    EXTRA[f"RTU r<={r_max} (RTRL)"] = ["--cell-options", f"{{r_max: {r_max}}}"]
    EXTRA[f"RTU r<={r_max} (T-BPTT(1))"] = ["--cell-options", f"{{r_max: {r_max}}}", "--gradient", "tbptt"]
# An RTU whose ring starts near 1 (r >= 0.9): the context survives L steps in the untrained state, and
# a readout trained by either gradient can find it.
EXTRA["RTU r>=0.9 (RTRL)"] = ["--cell-options", "{r_min: 0.9}"]
EXTRA["RTU r>=0.9 (T-BPTT(1))"] = ["--cell-options", "{r_min: 0.9}", "--gradient", "tbptt"]
# A gated cell must learn to hold the context (its forget gate): the case where RTRL's full-history
# gradient should matter.
EXTRA["eLSTM (RTRL)"] = ["--cell", "elstm"]
EXTRA["eLSTM (T-BPTT(1))"] = ["--cell", "elstm", "--gradient", "tbptt"]
ALL = {**LEARNERS, **EXTRA}


def run(length: int, learner: str, seeds: int, out: str) -> dict:
    command = ["rtrl", "train", "--preset", f"streaming/memorychain-{length}", "--seeds", str(seeds),
               *ALL[learner], "--out", out, "--overwrite"]
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "rtrl.cli", *command[1:]], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-500:]}")
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    per_seed = [float(v) for v in summary["final_return"]["per_seed"]]
    interval = statistics.interval(per_seed)
    return {"length": length, "learner": learner, "mean": round(interval.mean, 4),
            "ci95": round(interval.half_width, 4) if interval.half_width is not None else "",
            "per_seed": " ".join(f"{v:.3f}" for v in per_seed), "seeds": seeds,
            "env_steps_per_seed": summary["env_steps_per_seed"], "steps_per_s": round(summary["steps_per_second"]),
            "minutes": round((time.perf_counter() - t0) / 60, 1), "command": " ".join(command)}


def _draw(ax, rows: list[dict], learners: list[str], colour) -> None:
    """One line per learner (RTRL solid, T-BPTT(1) dashed), side by side around each L so that equal
    results stay visible; error bars: the 95% t interval over seeds."""
    for i, learner in enumerate(learners):
        points = sorted((r["length"], r["mean"], r["ci95"] or 0.0) for r in rows if r["learner"] == learner)
        x, y, h = (np.array(v, float) for v in zip(*points))
        dodge = 2.0 ** (0.06 * (i - (len(learners) - 1) / 2))
        ax.errorbar(x * dodge, y, yerr=h, marker="os^v<>"[i % 6], capsize=3, label=learner, color=colour(learner),
                    linestyle="--" if "T-BPTT" in learner else "-")
    lengths = sorted({r["length"] for r in rows})
    ax.set_xscale("log", base=2)
    ax.set_xticks(lengths, [str(v) for v in lengths])
    ax.axhline(0.0, color="grey", lw=0.8, ls=":")
    ax.set_ylim(-0.3, 1.1)
    ax.set_xlabel("chain length L (steps between the context and the query)")
    ax.legend(loc="lower left", fontsize=7.5)


def plot(rows: list[dict], path: str) -> None:
    """The issue's four learners on the left; the other cells and rings (--learners) on the right, one
    colour per network, RTRL solid and T-BPTT(1) dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [learner for learner in ALL if any(r["learner"] == learner for r in rows)]
    main_learners = [learner for learner in present if learner in LEARNERS]
    extra = [learner for learner in present if learner in EXTRA]
    networks = list(dict.fromkeys(learner.rsplit(" (", 1)[0] for learner in ALL))
    palette = plt.get_cmap("tab10").colors

    def colour(learner: str):
        return palette[networks.index(learner.rsplit(" (", 1)[0]) % len(palette)]

    panels = [(main_learners, "the issue's learners")] + ([(extra, "other cells and eigenvalue rings")] if extra else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.4), sharey=True, squeeze=False)
    for ax, (learners, title) in zip(axes[0], panels):
        _draw(ax, rows, learners, colour)
        ax.set_title(title, fontsize=10)
    axes[0][0].set_ylabel("final success (mean last-step reward)")
    seeds = rows[0]["seeds"]
    fig.suptitle(f"MemoryChain, stream AC(λ), batch size 1 ({seeds} seeds, mean ± 95% t)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[4, 16, 64, 128])
    parser.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=list(ALL))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", default="runs/memorychain")
    parser.add_argument("--plot-only", action="store_true", help="redraw success.png from success.csv")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "success.csv")
    rows = []
    if os.path.exists(path):  # a sweep continues: rows already measured are kept
        import csv

        with open(path, newline="") as f:
            rows = [{**r, "length": int(r["length"]), "mean": float(r["mean"]),
                     "ci95": float(r["ci95"]) if r["ci95"] else "", "seeds": int(r["seeds"])}
                    for r in csv.DictReader(f)]
    if args.plot_only:
        plot(rows, os.path.join(args.out, "success.png"))
        return
    for length in args.lengths:
        for learner in args.learners:
            if any(r["length"] == length and r["learner"] == learner and r["seeds"] == args.seeds for r in rows):
                continue
            slug = learner.lower().replace(" ", "-").replace("(", "").replace(")", "").replace("<=", "le").replace(">=", "ge")
            row = run(length, learner, args.seeds, os.path.join(args.out, f"L{length}-{slug}"))
            rows.append(row)
            print(f"L={length:4d} {learner:18s} {row['mean']:.3f} ± {row['ci95']} ({row['per_seed']}), "
                  f"{row['minutes']} min", flush=True)
            write_csv(path, rows)
            plot(rows, os.path.join(args.out, "success.png"))
    print(f"wrote {path} and success.png")


if __name__ == "__main__":
    main()
