"""The PPO learning report: RTU (linear and nonlinear, Real-Time PPO), GRU (T-BPTT) and MLP PPO with
the paper's PPO settings, several seeds each, on POPGym and MuJoCo tasks.

    python benchmarks/ppo_report.py --out runs/report-1m --launch     # run the grid, then summarise
    python benchmarks/ppo_report.py --out runs/report-1m              # summarise what is there (also mid-run)

``--launch`` runs, one after another, ``rtrl train --env ENV --total-steps STEPS --seeds SEEDS`` plus
each agent's flags (printed before each run) into ``OUT/<task>-<agent>``; a run directory that
already has a checkpoint is resumed instead. The summary prints a Markdown table (final return:
mean over the last 10% of iterations, mean and 95% band over seeds, and per seed) and writes one
learning-curve plot per environment, ``OUT/<task>.png``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys

ENVS = ("jax/CountRecallEasy", "jax/RepeatPreviousEasy", "mujoco/Hopper-P")
# Recurrent parameters matched at 24,960 (rtrl.agents.hidden_size_for_budget): RTU 192 units, GRU 64.
AGENTS = {
    "rtu-linear": ["--label", "RTU linear (RTRL)"],
    "rtu-nonlinear": ["--cell", "rtu-nonlinear", "--label", "RTU nonlinear (RTRL)"],
    "gru": ["--agent", "tbptt-ppo", "--cell", "gru", "--hidden-size", "64", "--sequence-length", "32",
            "--label", "GRU (T-BPTT 32)"],
    "mlp": ["--agent", "mlp-ppo", "--label", "MLP"],
}


def run_dir(out: str, env: str, agent: str) -> str:
    return os.path.join(out, f"{env.split('/')[-1]}-{agent}")


def launch(out: str, envs: list[str], agents: list[str], steps: int, seeds: int) -> None:
    for env in envs:
        for agent in agents:
            where = run_dir(out, env, agent)
            again = ["--resume"] if os.path.exists(os.path.join(where, "checkpoint.npz")) else []
            cmd = ["rtrl", "train", "--env", env, "--total-steps", str(steps), "--seeds", str(seeds),
                   *AGENTS[agent], "--out", where, *again]
            print("$", shlex.join(cmd), flush=True)
            subprocess.run([sys.executable, "-m", "rtrl.cli", *cmd[1:]], check=True)


def summarise(out: str, envs: list[str], agents: list[str]) -> None:
    from rtrl.experiments import training

    print("| task | agent | env steps per seed | final return (mean ± 95% Student t over seeds) | per seed |")
    print("|---|---|---|---|---|")
    for env in envs:
        runs = [run_dir(out, env, a) for a in agents if os.path.exists(os.path.join(run_dir(out, env, a), "config.yaml"))]
        runs = [r for r in runs if any(f.startswith("seed_") for f in os.listdir(r))]
        if not runs:
            continue
        for row in training.report(runs):
            per_seed = ", ".join(f"{v:.3f}" for v in row["per_seed"])
            print(f"| {env} | {row['label']} | {row['env_steps_per_seed']:,} | "
                  f"{row['interval'].format('.3f')} | {per_seed} |")
        training.plot_returns(runs, os.path.join(out, f"{env.split('/')[-1]}.png"))
    print(f"\nfinal return: {training.FINAL_RETURN}; plots: {out}/<task>.png")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/report-1m", help="root of the run directories")
    p.add_argument("--envs", nargs="+", default=list(ENVS))
    p.add_argument("--agents", nargs="+", default=list(AGENTS), choices=list(AGENTS))
    p.add_argument("--steps", type=int, default=1_000_000, help="environment steps per seed")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--launch", action="store_true", help="run (or resume) the grid before summarising")
    a = p.parse_args()
    if a.launch:
        launch(a.out, a.envs, a.agents, a.steps, a.seeds)
    summarise(a.out, a.envs, a.agents)


if __name__ == "__main__":
    main()
