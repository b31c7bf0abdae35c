"""Soak test: a long ``rtrl train`` (Real-Time PPO) and a long ``rtrl predict`` (TD learner) on JAX-native tasks,
with the resident memory of each sampled every minute, and a verdict: no NaN, memory flat after warm-up.

    python benchmarks/soak.py                          # 10M steps of Real-Time PPO, then 100M of the TD learner
    python benchmarks/soak.py --jobs td --td-steps 1e6 --every 5 --out /tmp/soak
    python benchmarks/soak.py --ppo-steps 5000 --td-steps 5000 --every 1 --ppo-flags '--hidden-size 8 --num-steps 64'

Each job is the user's command run as a child process (``python -m rtrl.cli ...``), one after the other:

- ``ppo``: ``rtrl train --env jax/CountRecallEasy --total-steps N`` (Real-Time PPO with the paper's settings: linear
  RTU n = 192, rollout 2048; the standard wrappers, CSV and TensorBoard logs, checkpoints every 10 iterations).
  Steps come from the run's ``seed_0.csv`` (one row per iteration); NaN: ``rtrl train`` stops a run whose losses,
  metrics or parameters go non-finite (exit 1, "diverged"), and every sample also checks the newest row is finite.
- ``td``: ``rtrl predict --steps N --seeds 1`` (TD(λ), linear RTU n = 32 with RTRL, trace conditioning, chunks of
  10,000 steps). Steps come from its progress lines; NaN: ``rtrl predict`` checks every prediction at the end of
  the run (exit 2 naming the first non-finite step), so a sample's ``finite`` is empty until then. ``rtrl predict``
  keeps its predictions, the oracle's and the cumulants of every step (3 float32 per step and seed: 1.2 GB per 100M
  steps) to score the run at the end: that memory grows by design, and ``kept_mb`` (12 B x steps x seeds) is taken
  out before judging the rest.

Every ``--every`` seconds (and when the child ends): the child's resident memory (psutil if installed, else
``VmRSS`` of ``/proc/<pid>/status``), its steps, and whether what it wrote so far is finite.

Verdict for each job (``verdict.json``, and printed):
- **no NaN**: the command exited 0 and its summary is finite (final return; MSRE);
- **memory flat after warm-up**: a sample's ``phase`` is "starting" until the first iteration (train) or chunk
  (predict) has ended (imports, set-up, compilation), "learning" until the run's final step, then "finishing"
  (scoring, summary, plots: not learning, and ``rtrl predict`` scores 100M steps in a few GB). The learning
  samples after the first ``--warmup`` (default 20%) of the learning time are judged: the least-squares slope of
  ``rss − kept`` against time, times the window's length, must be at most ``--tolerance-mb`` (default 32 MB:
  allocator noise) + ``--max-growth`` (default 50 MB/hour) x the window's length. At least 3 judged samples are
  needed; otherwise the verdict is "too short to judge" (and the job does not pass).

Outputs under ``--out`` (default runs/soak-<time>): ``soak.csv`` (job, time_s, steps, rss_mb, kept_mb, finite,
phase), ``soak.png`` (memory against time per job, the warm-up and the fitted line), ``verdict.json``, each run
directory (``ppo/``, ``td/``) and the children's output (``ppo.log``, ``td.log``). Exit status 0 when every job
passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

KEPT_BYTES_PER_STEP = {"ppo": 0, "td": 12}  # per seed: what the command keeps by design (see the docstring)
DEFAULT_STEPS = {"ppo": 10_000_000, "td": 100_000_000}
_PROGRESS = re.compile(r"([\d,]+)/([\d,]+) steps")
COLUMNS = ("job", "time_s", "steps", "rss_mb", "kept_mb", "finite", "phase")


@dataclasses.dataclass(frozen=True)
class Job:
    """One soak run: which command, its steps per seed, extra flags."""

    name: str  # "ppo" or "td"
    steps: int
    extra_flags: tuple[str, ...] = ()

    def argv(self, out: str) -> list[str]:
        """The ``rtrl`` command line (after ``python -m rtrl.cli``)."""
        if self.name == "ppo":
            return ["train", "--env", "jax/CountRecallEasy", "--agent", "real-time-ppo", "--total-steps",
                    str(self.steps), *self.extra_flags, "--out", out]
        return ["predict", "--cell", "rtu-linear", "--hidden-size", "32", "--learner", "rtrl", "--seeds", "1",
                "--steps", str(self.steps), *self.extra_flags, "--out", out]

    @property
    def seeds(self) -> int:
        value = None
        for i, item in enumerate(self.extra_flags):
            if item == "--seeds" and i + 1 < len(self.extra_flags):
                value = self.extra_flags[i + 1]
        return int(value) if value is not None else 1


# ---------------------------------------------------------------------------------------------------------------
# Sampling


def resident_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MB (psutil if installed, else /proc); None once it is gone."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        try:
            return psutil.Process(pid).memory_info().rss / 2**20
        except psutil.Error:
            return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 2**10  # kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def _tail(path: str, size: int = 8192) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - size))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def train_progress(run_dir: str) -> tuple[int | None, bool | None]:
    """(env steps per seed, whether the newest row's numbers are all finite) from a training run's seed_0.csv."""
    path = os.path.join(run_dir, "seed_0.csv")
    try:
        with open(path) as f:
            header = f.readline().strip().split(",")
    except OSError:
        return None, None
    lines = [line for line in _tail(path).splitlines() if line.strip()]
    if not lines or lines[-1].split(",") == header:
        return None, None
    values = lines[-1].split(",")
    if len(values) != len(header):  # a row being written
        values = lines[-2].split(",") if len(lines) > 1 and lines[-2].split(",") != header else None
        if values is None or len(values) != len(header):
            return None, None
    row = dict(zip(header, values))
    finite = all(math.isfinite(float(v)) for v in values if _number(v))
    return int(float(row["env_steps"])), finite


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def predict_progress(log: str) -> int | None:
    """Steps per seed done, from the newest progress line of ``rtrl predict``'s output."""
    found = _PROGRESS.findall(_tail(log))
    return int(found[-1][0].replace(",", "")) if found else None


def run_job(job: Job, out: str, every: float, timeout: float | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Run ``job`` as a child process, sampling it every ``every`` s; (samples, what the run ended with)."""
    run_dir, log_path = os.path.join(out, job.name), os.path.join(out, f"{job.name}.log")
    command = [sys.executable, "-m", "rtrl.cli", *job.argv(run_dir)]
    samples: list[dict[str, Any]] = []
    with open(log_path, "w") as log:
        t0 = time.monotonic()
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
        deadline = None if timeout is None else t0 + timeout
        while True:
            rss = resident_mb(child.pid)
            if job.name == "ppo":
                steps, finite = train_progress(run_dir)
            else:
                steps, finite = predict_progress(log_path), None
            if rss and child.poll() is None:  # an exiting child reads 0
                samples.append({"job": job.name, "time_s": round(time.monotonic() - t0, 2), "steps": steps,
                                "rss_mb": round(rss, 2), "kept_mb": round(kept_mb(job, steps), 2),
                                "finite": "" if finite is None else finite,
                                "phase": phase(steps, job.steps)})
            try:
                child.wait(timeout=every)
                break
            except subprocess.TimeoutExpired:
                if deadline is not None and time.monotonic() > deadline:
                    child.kill()
                    child.wait()
                    break
    ended = {"rc": child.returncode, "seconds": round(time.monotonic() - t0, 1), "command": "rtrl " + " ".join(
        shlex.quote(a) for a in job.argv(run_dir))}
    text = _tail(log_path, 4000)
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    if errors:
        ended["error"] = errors[-1]
    summary_path = os.path.join(run_dir, "summary.json")
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            ended["summary"] = json.load(f)
    if job.name == "ppo":
        ended["steps"], _ = train_progress(run_dir)
    else:
        ended["steps"] = predict_progress(log_path)
    return samples, ended


def phase(steps: int | None, target: int) -> str:
    """"starting" before the first iteration or chunk has ended (imports, set-up, compilation), "learning" while
    the run is under way, "finishing" once it has done its last step (scoring, summary, plots)."""
    if not steps:
        return "starting"
    return "learning" if steps < target else "finishing"


def kept_mb(job: Job, steps: int | None) -> float:
    """MB the command keeps by design after ``steps`` steps per seed (rtrl predict's stored streams)."""
    return KEPT_BYTES_PER_STEP[job.name] * job.seeds * (steps or 0) / 2**20


# ---------------------------------------------------------------------------------------------------------------
# The verdict


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """What "flat after warm-up" means: a growth over the judged window of at most
    ``tolerance_mb + max_growth_mb_per_hour x window hours``, after the first ``warmup`` of the learning time."""

    warmup: float = 0.2
    tolerance_mb: float = 32.0
    max_growth_mb_per_hour: float = 50.0


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys against xs (at least 2 distinct xs)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def memory_verdict(samples: Sequence[dict[str, Any]], thresholds: Thresholds) -> dict[str, Any]:
    """Whether ``rss − kept`` stays flat over the learning samples after warm-up (see `Thresholds`): the
    warm-up is the first ``thresholds.warmup`` of the time from the first learning sample to the last."""
    learning = [s for s in samples if s["phase"] == "learning"]
    if not learning:
        return {"flat": None, "why": "too short to judge: no sample while learning"}
    start = learning[0]["time_s"] + thresholds.warmup * (learning[-1]["time_s"] - learning[0]["time_s"])
    judged = [s for s in learning if s["time_s"] >= start]
    if len(judged) < 3:
        return {"flat": None, "samples": len(judged), "why": f"too short to judge: {len(judged)} sample(s) after "
                "warm-up (3 needed)"}
    xs = [s["time_s"] / 3600 for s in judged]
    ys = [s["rss_mb"] - s["kept_mb"] for s in judged]
    per_hour = slope(xs, ys)
    hours = xs[-1] - xs[0]
    growth = per_hour * hours
    allowed = thresholds.tolerance_mb + thresholds.max_growth_mb_per_hour * hours
    return {"flat": growth <= allowed, "samples": len(judged), "window_s": round(hours * 3600, 1),
            "warmup_end_s": round(start, 1), "slope_mb_per_hour": round(per_hour, 2), "growth_mb": round(growth, 2),
            "allowed_mb": round(allowed, 2), "rss_first_mb": judged[0]["rss_mb"], "rss_last_mb": judged[-1]["rss_mb"],
            "rss_peak_mb": max(s["rss_mb"] for s in samples)}


def nan_verdict(job: Job, samples: Sequence[dict[str, Any]], ended: dict[str, Any]) -> dict[str, Any]:
    """No NaN: the command exited 0, its summary's figures are finite, and no sample saw a non-finite row."""
    summary = ended.get("summary") or {}
    if job.name == "ppo":
        figure = (summary.get("final_return") or {}).get("mean")
    else:
        figure = ((summary.get("msre") or {}).get("learner") or {}).get("mean")
    rows_finite = all(s["finite"] is not False for s in samples)
    ok = ended["rc"] == 0 and figure is not None and math.isfinite(figure) and rows_finite
    why = ended.get("error") or (f"exit status {ended['rc']}" if ended["rc"] else "")
    if not rows_finite:
        why = (why + "; " if why else "") + "a logged row was not finite"
    return {"no_nan": ok, "figure": figure, "why": why}


def judge(job: Job, samples: Sequence[dict[str, Any]], ended: dict[str, Any],
          thresholds: Thresholds) -> dict[str, Any]:
    """The job's verdict: no NaN and memory flat (a run too short to judge the memory does not pass)."""
    nan = nan_verdict(job, samples, ended)
    mem = memory_verdict(samples, thresholds)
    summary = ended.get("summary") or {}
    return {"job": job.name, "command": ended["command"], "steps": ended.get("steps"), "target_steps": job.steps,
            "rc": ended["rc"], "seconds": ended["seconds"], "steps_per_second": summary.get("steps_per_second"),
            **nan, "memory": mem, "passed": bool(nan["no_nan"] and mem.get("flat"))}


# ---------------------------------------------------------------------------------------------------------------
# Outputs


def plot(path: str, samples: Sequence[dict[str, Any]], verdicts: Sequence[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(verdicts), 1, figsize=(8, 3.2 * len(verdicts)), squeeze=False)
    for ax, verdict in zip(axes[:, 0], verdicts):
        own = [s for s in samples if s["job"] == verdict["job"]]
        minutes = [s["time_s"] / 60 for s in own]
        ax.plot(minutes, [s["rss_mb"] for s in own], marker=".", label="resident memory")
        if any(s["kept_mb"] for s in own):
            ax.plot(minutes, [s["rss_mb"] - s["kept_mb"] for s in own], marker=".",
                    label="resident − kept by design (stored streams)")
        mem = verdict["memory"]
        if mem.get("warmup_end_s") is not None:
            ax.axvline(mem["warmup_end_s"] / 60, color="grey", linestyle=":", label="end of warm-up")
        flat = {True: "flat", False: "NOT flat", None: "too short to judge"}[mem.get("flat")]
        nan = "no NaN" if verdict["no_nan"] else "NaN or failure"
        ax.set_title(f"{verdict['job']}: {verdict['steps'] or 0:,} steps; memory {flat}; {nan}", fontsize=10)
        ax.set_xlabel("minutes")
        ax.set_ylabel("MB")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_samples(path: str, samples: Sequence[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(samples)


def describe(verdict: dict[str, Any]) -> str:
    mem = verdict["memory"]
    if mem.get("flat") is None:
        memory = mem["why"]
    else:
        memory = (f"{'flat' if mem['flat'] else 'NOT flat'}: {mem['growth_mb']:+.1f} MB over the last "
                  f"{mem['window_s'] / 60:.1f} min ({mem['slope_mb_per_hour']:+.1f} MB/h; allowed "
                  f"{mem['allowed_mb']:.1f} MB), peak {mem['rss_peak_mb']:.0f} MB")
    nan = "no NaN" if verdict["no_nan"] else f"NaN or failure ({verdict['why']})"
    rate = f", {verdict['steps_per_second']:,.0f} env steps/s" if verdict.get("steps_per_second") else ""
    return (f"{verdict['job']}: {'PASS' if verdict['passed'] else 'FAIL'} — {verdict['steps'] or 0:,}/"
            f"{verdict['target_steps']:,} steps in {verdict['seconds']:.0f} s{rate}; {nan}; memory {memory}")


# ---------------------------------------------------------------------------------------------------------------


def _steps(text: str) -> int:
    value = float(text.replace("_", ""))
    if not math.isfinite(value) or value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"expected a whole number of steps >= 1, got {text!r}")
    return int(value)


def _positive(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", default="ppo,td", help="comma-separated, of ppo and td (default: both)")
    parser.add_argument("--ppo-steps", type=_steps, default=DEFAULT_STEPS["ppo"], help="env steps (default 10M)")
    parser.add_argument("--td-steps", type=_steps, default=DEFAULT_STEPS["td"], help="stream steps (default 100M)")
    parser.add_argument("--ppo-flags", default="", help="more `rtrl train` flags for the ppo job")
    parser.add_argument("--td-flags", default="", help="more `rtrl predict` flags for the td job")
    parser.add_argument("--every", type=_positive, default=60.0, help="seconds between samples (default 60)")
    parser.add_argument("--warmup", type=_fraction, default=0.2,
                        help="fraction of the learning time left out of the memory verdict (default 0.2)")
    parser.add_argument("--tolerance-mb", type=_positive, default=32.0, help="growth always allowed (default 32)")
    parser.add_argument("--max-growth", type=_positive, default=50.0,
                        help="growth allowed per hour of the judged window, MB (default 50)")
    parser.add_argument("--timeout", type=_positive, help="seconds after which a job's child is stopped")
    parser.add_argument("--out", help="output directory (default runs/soak-<time>); must not exist")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.jobs.split(",") if n.strip()]
    if not names or any(n not in DEFAULT_STEPS for n in names):
        parser.error(f"--jobs: expected names from ppo, td, got {args.jobs!r}")
    args.jobs = names
    if args.out is None:
        args.out = os.path.join("runs", time.strftime("soak-%Y%m%d-%H%M%S"))
    if os.path.exists(args.out):
        parser.error(f"--out {args.out!r} exists: a soak never writes over an earlier one; give another directory")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.makedirs(args.out)
    thresholds = Thresholds(args.warmup, args.tolerance_mb, args.max_growth)
    samples: list[dict[str, Any]] = []
    verdicts: list[dict[str, Any]] = []
    for name in args.jobs:
        job = Job(name, getattr(args, f"{name}_steps"), tuple(shlex.split(getattr(args, f"{name}_flags"))))
        print(f"{name}: rtrl {' '.join(shlex.quote(a) for a in job.argv(os.path.join(args.out, name)))} "
              f"(a sample every {args.every:g} s)", flush=True)
        job_samples, ended = run_job(job, args.out, args.every, args.timeout)
        samples += job_samples
        verdicts.append(judge(job, job_samples, ended, thresholds))
        write_samples(os.path.join(args.out, "soak.csv"), samples)  # after every job: kept if a later one fails
        print(describe(verdicts[-1]), flush=True)
    with open(os.path.join(args.out, "verdict.json"), "w") as f:
        json.dump({"thresholds": dataclasses.asdict(thresholds), "every_s": args.every, "jobs": verdicts}, f,
                  indent=2)
    plot(os.path.join(args.out, "soak.png"), samples, verdicts)
    print(f"wrote {args.out}/ (soak.csv, soak.png, verdict.json, {', '.join(args.jobs)} run directories and logs)")
    return 0 if all(v["passed"] for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
