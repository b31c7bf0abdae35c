"""Copy-task accuracy against sequence length: eLSTM and RTU, exact RTRL against T-BPTT (issue 12, Deliver 5).

    python benchmarks/copy_task.py                      # the default sweep (≈ 10–15 min on 2 CPU cores)
    python benchmarks/copy_task.py --quick              # a tiny end-to-end check (≈ 1 min)
    python benchmarks/copy_task.py --plot-only          # redraw accuracy.png from accuracy.csv

The task (`rtrl.tasks.copy_task`): T random bits (0 and 1 equally likely), ``--delay`` blank steps,
then T recall steps whose targets are the presented bits in order; every recalled bit is scored, so a
learner without memory scores 50% (Irie et al.'s public loader never asks for the bit 1; its task is
degenerate). For every length T and learner, S seeds are trained side by side (`jax.vmap`), each with
``--updates`` Adam steps on fresh batches of ``--batch-size`` sequences, one update per batch
(`rtrl.learners.supervised`):

    eLSTM (RTRL)        eLSTM, the exact gradient of the whole sequence accumulated online from its traces
    eLSTM (T-BPTT(k))   eLSTM, truncated BPTT in chunks of k = --truncation steps
    RTU (RTRL)          linear RTU, exact RTRL
    RTU (T-BPTT(k))     linear RTU, truncated BPTT

Both gradients see the same batches with the same parameters; only the truncation differs. The
default k = 4 is at most every default T: a bit and its recall are T + delay ≥ k steps apart, so no
T-BPTT chunk ever holds both, and what T-BPTT remembers is what its dynamics keep without a gradient
to shape them. The score of a seed is its accuracy on ``--eval-batch`` fresh sequences after training
(the fraction of recalled bits right; the fraction of sequences recalled without error is written too).

Written to ``--out``: ``accuracy.csv`` (one row per length and learner: the mean over seeds, the 95%
Student t half-width (`rtrl.experiments.statistics`), the per-seed values and every setting) and
``accuracy.png`` (accuracy against T, one line per learner with its t-band). A sweep continues: rows
already in the CSV with the same settings are kept, not rerun.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import jax
import numpy as np

from rtrl.experiments import statistics
from rtrl.experiments.run_dir import write_csv
from rtrl.learners.supervised import SupervisedConfig, SupervisedLearner
from rtrl.tasks.copy_task import CopyTask

CELLS = {"eLSTM": "elstm", "RTU": "rtu-linear"}
GRADIENTS = ("RTRL", "T-BPTT")
SETTINGS = ("delay", "hidden", "updates", "batch_size", "step_size", "truncation", "eval_batch", "seeds")


def learner_names(truncation: int) -> list[str]:
    return [f"{cell} ({'RTRL' if g == 'RTRL' else f'T-BPTT({truncation})'})" for cell in CELLS for g in GRADIENTS]


def config_for(name: str, args: argparse.Namespace) -> SupervisedConfig:
    cell = CELLS[name.split(" ")[0]]
    tbptt = "T-BPTT" in name
    return SupervisedConfig(cell=cell, hidden_size=args.hidden, learner="tbptt" if tbptt else "rtrl",
                            truncation=args.truncation if tbptt else None, step_size=args.step_size,
                            batch_size=args.batch_size, max_grad_norm=args.max_grad_norm)


def run(length: int, name: str, args: argparse.Namespace) -> dict:
    """Train ``args.seeds`` seeds of one learner on one length; the row of the CSV."""
    learner = SupervisedLearner(config_for(name, args), CopyTask(length=length, delay=args.delay))
    keys = jax.vmap(lambda s: jax.random.split(jax.random.key(s), 3))(np.arange(args.seeds))
    t0 = time.perf_counter()

    @jax.jit
    def train_and_evaluate(k):
        state = learner.init(k[0])
        state, metrics = learner.train(state, k[1], args.updates)
        return learner.evaluate(state.params, k[2], args.eval_batch), metrics.accuracy

    scores, curves = jax.vmap(train_and_evaluate)(keys)
    accuracy = np.asarray(scores["accuracy"], float)
    sequences = np.asarray(scores["sequence_accuracy"], float)
    # the training accuracy over the last 10% of updates (each on a fresh batch, before its update)
    late = np.asarray(curves, float)[:, -max(1, args.updates // 10):].mean(axis=1)
    interval = statistics.interval(accuracy)
    seq_interval = statistics.interval(sequences)
    return {"length": length, "learner": name, "mean": round(interval.mean, 4),
            "ci95": round(interval.half_width, 4) if interval.half_width is not None else "",
            "per_seed": " ".join(f"{v:.4f}" for v in accuracy),
            "sequence_mean": round(seq_interval.mean, 4),
            "sequence_ci95": round(seq_interval.half_width, 4) if seq_interval.half_width is not None else "",
            "sequence_per_seed": " ".join(f"{v:.4f}" for v in sequences),
            "train_accuracy_last10pct": " ".join(f"{v:.4f}" for v in late),
            "cell": learner.config.cell, "gradient": learner.config.learner,
            "delay": args.delay, "hidden": args.hidden, "updates": args.updates, "batch_size": args.batch_size,
            "step_size": args.step_size, "truncation": args.truncation, "max_grad_norm": args.max_grad_norm or "",
            "eval_batch": args.eval_batch, "seeds": args.seeds,
            "seconds": round(time.perf_counter() - t0, 1),
            "command": " ".join(["python", "benchmarks/copy_task.py", *sys.argv[1:]])}


def _same_settings(row: dict, args: argparse.Namespace) -> bool:
    return all(str(row[k]) == str(getattr(args, k)) for k in SETTINGS)


def read_rows(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return [{**r, "length": int(r["length"]), "mean": float(r["mean"]),
                 "ci95": float(r["ci95"]) if r["ci95"] else ""} for r in csv.DictReader(f)]


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.6, 4.4))
    names = list(dict.fromkeys(r["learner"] for r in rows))
    # a dark colour for RTRL and a light one for T-BPTT of each cell
    colours = {("eLSTM", False): "tab:blue", ("eLSTM", True): "lightskyblue", ("RTU", False): "tab:red",
               ("RTU", True): "lightsalmon"}
    for i, name in enumerate(names):
        points = sorted((r["length"], r["mean"], r["ci95"] if r["ci95"] != "" else np.nan)
                        for r in rows if r["learner"] == name)
        x, y, h = (np.array(v, float) for v in zip(*points))
        tbptt = "T-BPTT" in name
        colour = colours.get((name.split(" ")[0], tbptt))
        ax.plot(x, y, marker="s" if tbptt else "o", ls="--" if tbptt else "-", color=colour, label=name)
        # the 95% t interval over seeds (none drawn for a single seed)
        ax.fill_between(x, np.clip(y - h, 0, 1), np.clip(y + h, 0, 1), color=colour, alpha=0.18, lw=0)
    lengths = sorted({r["length"] for r in rows})
    ax.set_xscale("log", base=2)
    ax.set_xticks(lengths, [str(v) for v in lengths])
    ax.axhline(0.5, color="grey", lw=0.9, ls=":", label="no memory (50%)")
    ax.set_ylim(0.4, 1.02)
    ax.set_xlabel("sequence length T (bits to copy)")
    ax.set_ylabel("accuracy on recalled bits")
    r0 = rows[0]
    ax.set_title(f"Copy task, delay {r0['delay']}: n = {r0['hidden']}, {r0['updates']} updates × "
                 f"{r0['batch_size']} sequences\n({r0['seeds']} seeds, mean and 95% t-band)", fontsize=10)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[4, 8, 16, 32, 64])
    parser.add_argument("--delay", type=int, default=0)
    parser.add_argument("--learners", nargs="+", default=None,
                        help="a subset of: " + ", ".join(repr(n) for n in learner_names(4)) + " (k = --truncation)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--step-size", type=float, default=3e-3)
    parser.add_argument("--truncation", type=int, default=4)
    parser.add_argument("--max-grad-norm", type=float, default=None)
    parser.add_argument("--eval-batch", type=int, default=1000)
    parser.add_argument("--out", default=None, help="default runs/copy_task (runs/copy_task_quick with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings for an end-to-end check: T 1 2, 2 seeds, 60 updates, n = 8")
    parser.add_argument("--plot-only", action="store_true", help="redraw accuracy.png from accuracy.csv")
    args = parser.parse_args()
    if args.quick:
        args.lengths, args.seeds, args.updates, args.hidden, args.eval_batch = [1, 2], 2, 60, 8, 200
        args.truncation = 1
    args.out = args.out or ("runs/copy_task_quick" if args.quick else "runs/copy_task")
    valid = learner_names(args.truncation)
    learners = args.learners or valid
    unknown = [n for n in learners if n not in valid]
    if unknown:
        parser.error(f"unknown learner(s) {unknown}; with --truncation {args.truncation} valid: {valid}")
    os.makedirs(args.out, exist_ok=True)
    path, figure = os.path.join(args.out, "accuracy.csv"), os.path.join(args.out, "accuracy.png")
    rows = read_rows(path)
    if args.plot_only:
        plot(rows, figure)
        print(f"wrote {figure}")
        return
    # rows measured with other settings are dropped: one CSV, one figure, one set of settings
    rows = [r for r in rows if _same_settings(r, args)]
    for length in args.lengths:
        for name in learners:
            if any(r["length"] == length and r["learner"] == name for r in rows):
                continue
            row = run(length, name, args)
            rows.append(row)
            print(f"T={length:4d} {name:18s} {row['mean']:.4f} ± {row['ci95']} ({row['per_seed']}), "
                  f"{row['seconds']} s", flush=True)
            write_csv(path, rows)
            plot(rows, figure)
    print(f"wrote {path} and {figure}")


if __name__ == "__main__":
    main()
