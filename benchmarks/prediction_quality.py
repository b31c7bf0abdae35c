"""The prediction quality target: RTU (RTRL) on trace conditioning against the oracle, GRU (T-BPTT) beside it.

    python benchmarks/prediction_quality.py                 # sweep, then the 1M-step runs (~10 min on 2 cores)
    python benchmarks/prediction_quality.py --sweep-only

Task: trace conditioning, ISI (7, 13), ITI (80, 120), γ = 0.9, no distractors. Target: the mean squared
return error over the last 100k steps of a 1M-step run, averaged over 5 seeds, at most 2× the oracle's.

1. Step-size sweep (Adam): each learner on 200k steps × 3 seeds (seeds 100-102, kept apart from the
   final seeds), step sizes 3e-4, 1e-3, 3e-3; the one with the lowest MSRE over the last 100k steps wins.
2. Final: 1M steps × 5 seeds (seeds 0-4) with the chosen step size.
Writes prediction_quality.csv (every run) and prints the tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from rtrl.experiments.prediction import PredictionConfig, run
from rtrl.experiments.run_dir import write_csv

TASK = {"isi": 10, "num_distractors": 0}
LEARNERS = {
    "RTU linear n=32 (RTRL)": PredictionConfig(cell="rtu-linear", hidden_size=32, learner="rtrl", task_options=TASK),
    "GRU n=16 (T-BPTT, T=10)": PredictionConfig(cell="gru", hidden_size=16, learner="tbptt", truncation=10,
                                                task_options=TASK),
}
STEP_SIZES = (3e-4, 1e-3, 3e-3)


def measure(config: PredictionConfig) -> dict:
    t0 = time.perf_counter()
    s = run(config).summary()
    return {"learner": config.label, "step_size": config.step_size, "steps": config.steps, "seeds": config.seeds,
            "first_seed": config.seed, "msre_final": s["msre_final"]["learner"]["mean"],
            "msre_final_ci95": s["msre_final"]["learner"]["ci95"], "oracle_final": s["msre_final"]["oracle"]["mean"],
            "zero_final": s["msre_final"]["zero"]["mean"], "ratio_to_oracle":
            s["msre_final"]["learner"]["mean"] / s["msre_final"]["oracle"]["mean"],
            "per_seed": " ".join(f"{v:.5f}" for v in s["msre_final"]["learner"]["per_seed"]),
            "steps_per_second": round(s["steps_per_second"]), "wall_s": round(time.perf_counter() - t0, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep-only", action="store_true")
    parser.add_argument("--out", default="prediction_quality.csv")
    args = parser.parse_args()
    rows = []
    chosen = {}
    for label, base in LEARNERS.items():
        best = None
        for lr in STEP_SIZES:
            config = dataclasses.replace(base, label=label, step_size=lr, steps=200_000, seeds=3, seed=100,
                                         chunk=50_000, final_window=100_000)
            row = measure(config)
            rows.append({"phase": "sweep", **row})
            print(f"sweep  {label:28s} lr={lr:<7g} MSRE(last 100k)={row['msre_final']:.5f} "
                  f"(oracle {row['oracle_final']:.5f})", flush=True)
            if best is None or row["msre_final"] < best[1]:
                best = (lr, row["msre_final"])
        chosen[label] = best[0]
    if not args.sweep_only:
        for label, base in LEARNERS.items():
            config = dataclasses.replace(base, label=label, step_size=chosen[label], steps=1_000_000, seeds=5, seed=0,
                                         chunk=100_000, final_window=100_000)
            row = measure(config)
            rows.append({"phase": "final", **row})
            print(f"final  {label:28s} lr={chosen[label]:<7g} MSRE(last 100k)={row['msre_final']:.5f} "
                  f"± {row['msre_final_ci95']:.5f}  oracle {row['oracle_final']:.5f}  "
                  f"ratio {row['ratio_to_oracle']:.2f}  per seed {row['per_seed']}", flush=True)
    write_csv(args.out, rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
