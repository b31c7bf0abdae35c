"""``rtrl train``: PPO agents from a preset, YAML or flags."""

from __future__ import annotations

import argparse
import os

from rich.markup import escape

from rtrl.cli.common import console


def _train_config(args: argparse.Namespace):
    from rtrl.agents import PPOConfig
    from rtrl.experiments import config as config_lib
    from rtrl.experiments import training, training_presets

    values = training_presets.get(args.preset) if args.preset else {}
    if args.config:
        loaded = config_lib.load_yaml(args.config)
        values = {**values, **loaded, "ppo": {**values.get("ppo", {}), **(loaded.get("ppo") or {})}}
    values.update(config_lib.overrides(args, training.TrainConfig))
    ppo_flags = config_lib.overrides(args, PPOConfig)
    if ppo_flags:
        values["ppo"] = {**(values.get("ppo") or {}), **ppo_flags}
    return config_lib.from_dict(training.TrainConfig, values)


def cmd_train(args: argparse.Namespace) -> int:
    from rtrl.experiments import run_dir, training

    if args.resume:
        if not args.out:
            raise ValueError("--resume needs --out RUN_DIR, the run to continue.")
        saved = os.path.join(args.out, run_dir.CONFIG)
        if not (args.config or args.preset) and os.path.exists(saved):
            args.config = saved  # resume with the run's own config unless told otherwise
    config = _train_config(args)
    out = args.out or os.path.join("runs", run_dir.default_name("train"))
    training.check(config, out, resume=args.resume, overwrite=args.overwrite)
    agent = config.make_agent()  # validates the env/agent pairing before any work
    total, recurrent = agent.parameter_count()
    console.print(f"{escape(config.name)}: {config.iterations} iterations x {config.ppo.rollout_size:,} steps, "
                  f"{config.seeds} seed(s); {total:,} parameters ({recurrent:,} recurrent); "
                  f"a rollout takes {agent.rollout_bytes() / 2**20:.1f} MB", soft_wrap=True)
    total_steps = config.iterations * config.ppo.rollout_size
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
               TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[ret]}"), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("training", total=total_steps, rate="", ret="")

        def report(steps, rate, recent):
            progress.update(bar, completed=steps, rate=f"{rate:,.0f} steps/s",
                            ret="" if recent is None else f"return {recent:.3f}")

        summary = training.train(config, out, resume=args.resume, overwrite=args.overwrite, progress=report).summary
    final = summary["final_return"]
    console.print(f"final return {final['mean']:.3f} ± {final['ci95']:.3f} (per seed "
                  f"{', '.join(f'{v:.3f}' for v in final['per_seed'])}); {summary['steps_per_second']:,.0f} steps/s")
    console.print(f"wrote {out}/ (config.yaml, seed_*.csv, tb/, checkpoint.npz, summary.json, returns.png)")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    from rtrl.agents import PPOConfig
    from rtrl.experiments import config as config_lib
    from rtrl.experiments import training, training_presets

    p = sub.add_parser("train", help="train a PPO agent (Real-Time PPO, T-BPTT PPO, MLP PPO)",
                       description="Train a PPO agent on an environment. Settings come from --preset, then --config "
                       "YAML, then flags (agent flags set fields of the PPOConfig).")
    p.add_argument("--preset", choices=training_presets.names(), metavar="PRESET",
                   help="a named experiment: " + ", ".join(training_presets.names()))
    p.add_argument("--config", help="YAML file of TrainConfig fields (with a ppo: mapping), e.g. a run's config.yaml")
    config_lib.add_arguments(p, training.TrainConfig, skip=("ppo",))
    agent_flags = p.add_argument_group("agent (PPOConfig)")
    config_lib.add_arguments(agent_flags, PPOConfig)
    p.add_argument("--out", help="run directory (default runs/train-<time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it is an existing run directory")
    p.set_defaults(func=cmd_train)
