"""``rtrl train``: PPO agents from a preset, YAML or flags.

Everything is checked before any work and before anything in ``--out`` is touched: the config
(preset, then YAML, then flags), the run directory, the environment with the agent, and the
memory the run needs. Then the run: a progress bar on a terminal, plain periodic lines otherwise.
A diverging run stops with the last good checkpoint kept (exit 1); Ctrl-C prints the command
that resumes the run (exit 130).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
from collections.abc import Mapping
from typing import Any

from rich.markup import escape

from rtrl.cli.common import console

# Exit status of an interrupted command (128 + SIGINT), as shells report it.
INTERRUPTED = 130


def _train_values(args: argparse.Namespace, *, own_config: bool) -> dict[str, Any]:
    """The TrainConfig fields from --preset, then --config, then flags; refuses cell settings given
    with agent mlp-ppo (it has no cell) unless they come from the preset or the run's own config."""
    from rtrl.agents import PPOConfig
    from rtrl.experiments import config as config_lib
    from rtrl.experiments import training, training_presets
    from rtrl.experiments.train_config import CELL_FIELDS

    values = training_presets.get(args.preset) if args.preset else {}
    explicit: dict[str, str] = {}  # cell field -> where the user set it
    if args.config:
        loaded = config_lib.load_yaml(args.config)
        values = config_lib.merge(values, loaded, nested=("ppo",), where=f"{args.config}: config")
        ppo = loaded.get("ppo") or {}  # a mapping: merge refused anything else
        if not own_config:
            defaults = PPOConfig()
            explicit.update({name: f"{name}: {ppo[name]!r} in {args.config}" for name in CELL_FIELDS
                             if name in ppo and ppo[name] != getattr(defaults, name)})
    values.update(config_lib.overrides(args, training.TrainConfig))
    ppo_flags = config_lib.overrides(args, PPOConfig)
    if ppo_flags:
        values = config_lib.merge(values, {"ppo": ppo_flags}, nested=("ppo",))
        explicit.update({name: f"--{name.replace('_', '-')}" for name in CELL_FIELDS if name in ppo_flags})
    agent = (values.get("ppo") or {}).get("agent", PPOConfig().agent)
    if agent == "mlp-ppo" and explicit:
        raise ValueError(f"agent mlp-ppo has no recurrent cell, so {', '.join(explicit.values())} would be "
                         "ignored; leave it out, or choose --agent real-time-ppo or tbptt-ppo.")
    return values


def _train_config(args: argparse.Namespace, *, own_config: bool = False):
    from rtrl.experiments import config as config_lib
    from rtrl.experiments import training

    values = _train_values(args, own_config=own_config)
    if (values.get("ppo") or {}).get("dtype") == "float64":
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 parameters need JAX's 64-bit mode
    return config_lib.from_dict(training.TrainConfig, values)


def resume_command(out: str) -> str:
    """The command that continues the run in ``out`` (its config.yaml holds everything else)."""
    return f"rtrl train --out {shlex.quote(out)} --resume"


def cmd_train(args: argparse.Namespace) -> int:
    from rtrl.experiments import run_dir, training

    own_config = False
    if args.resume:
        if not args.out:
            raise ValueError("--resume needs --out RUN_DIR, the run to continue.")
        training.check_training_run(args.out)
        if not (args.config or args.preset):
            args.config, own_config = os.path.join(args.out, run_dir.CONFIG), True  # the run's own config
    config = _train_config(args, own_config=own_config)
    out = args.out or os.path.join("runs", run_dir.default_name("train"))
    prepared = training.prepare(config, out, resume=args.resume, overwrite=args.overwrite)
    agent = prepared.agent
    total, recurrent = agent.parameter_count()
    console.print(f"{escape(config.name)}: {config.iterations:,} iterations x {config.ppo.rollout_size:,} steps, "
                  f"{config.seeds} seed(s); {total:,} parameters ({recurrent:,} recurrent); memory estimate "
                  f"{prepared.memory_bytes / 2**20:,.1f} MB (a rollout takes {agent.rollout_bytes() / 2**20:,.1f} MB)",
                  soft_wrap=True)
    if args.resume:
        if prepared.finished:
            console.print(f"{escape(out)} already finished its {config.iterations:,} iterations "
                          f"({config.iterations * config.ppo.rollout_size:,} steps per seed); nothing to do "
                          "(raise --total-steps to train longer).", soft_wrap=True)
        else:
            console.print(f"resuming at iteration {prepared.start} ({prepared.start * config.ppo.rollout_size:,} "
                          "steps per seed)", soft_wrap=True)
    bar, report = _progress(prepared)
    if prepared.finished:
        bar = contextlib.nullcontext()
    else:
        console.print(f"progress: {training.RATE}; return: {training.FINAL_RETURN} so far, mean over seeds",
                      soft_wrap=True)
    try:
        with bar:
            result = training.run(prepared, progress=report)
    except KeyboardInterrupt as interrupt:
        _interrupted(out, interrupt)
        return INTERRUPTED
    summary = result.summary
    final = _final_interval(summary)
    console.print(f"final return {final} ({training.FINAL_RETURN}; per seed "
                  f"{', '.join(f'{v:.3f}' for v in final.per_seed)})", soft_wrap=True)
    if prepared.finished:
        return 0
    rate = summary.get("steps_per_second")
    console.print(f"{training.RATE}: " + (f"{rate:,.0f}" if rate is not None else "not measured (one iteration, "
                                          "which compiled)"), soft_wrap=True)
    console.print(f"wrote {escape(out)}/ (config.yaml, seed_*.csv, tb/, checkpoint.npz, summary.json, returns.png)",
                  soft_wrap=True)
    return 0


def _final_interval(summary: Mapping[str, Any]):
    from rtrl.experiments import statistics

    return statistics.from_dict(summary["final_return"])


def _interrupted(out: str, interrupt: KeyboardInterrupt) -> None:
    """Where the run stopped and how to continue it."""
    from rtrl.experiments import checkpoint, training

    path = os.path.join(out, training.CHECKPOINT)
    if os.path.exists(path):
        step = checkpoint.read_meta(path)["step"]
        console.print(f"interrupted; the last checkpoint is {escape(path)} (iteration {step}); continue with:\n"
                      f"  {escape(resume_command(out))}", soft_wrap=True)
    elif os.path.isdir(out):
        console.print(f"interrupted before the first checkpoint of {escape(out)}; start the run again "
                      "(with --overwrite to replace it).", soft_wrap=True)
    else:
        console.print("interrupted before the run started; nothing was written.")
    for note in getattr(interrupt, "__notes__", ()):
        console.print(escape(note), soft_wrap=True)


def _progress(prepared):
    """`StepProgress` of the run (a bar on a terminal, plain periodic lines otherwise) and the
    callback that feeds it: env steps per seed, and the final return so far."""
    from rtrl.cli.common import StepProgress

    config = prepared.config
    rollout = config.ppo.rollout_size
    bar = StepProgress(config.iterations * rollout, label="train", seeds=config.seeds, start=prepared.start * rollout)

    def report(p) -> None:
        bar.update(p.env_steps, info="" if p.final_return is None else f"return {p.final_return:.3f}")

    return bar, report


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from rtrl.agents import PPOConfig
    from rtrl.experiments import config as config_lib
    from rtrl.experiments import training, training_presets

    p = sub.add_parser("train", help="train a PPO agent (Real-Time PPO, T-BPTT PPO, MLP PPO)",
                       description="Train a PPO agent on an environment. Settings come from --preset, then --config "
                       "YAML, then flags (agent flags set fields of the PPOConfig). Everything is checked before "
                       "any work; a diverging run stops with its last good checkpoint kept (exit 1); Ctrl-C "
                       "prints the command that resumes the run (exit 130).")
    p.add_argument("--preset", choices=training_presets.names(), metavar="PRESET",
                   help="a named experiment: " + ", ".join(training_presets.names()))
    p.add_argument("--config", help="YAML file of TrainConfig fields (with a ppo: mapping), e.g. a run's config.yaml")
    config_lib.add_arguments(p, training.TrainConfig, skip=("ppo",))
    agent_flags = p.add_argument_group("agent (PPOConfig)")
    config_lib.add_arguments(agent_flags, PPOConfig)
    p.add_argument("--out", help="run directory (default runs/train-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it is an existing run directory "
                   "(the old run is kept until the new one finishes)")
    p.set_defaults(func=cmd_train)
