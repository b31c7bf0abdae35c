"""``rtrl eval`` and ``rtrl envs``: trained agents and the environments they run on.

    rtrl eval RUN_DIR [--episodes N] [--deterministic] [--seed K] [--run-seed S] [--env NAME] [--video PATH]
    rtrl envs [--family F]
"""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.table import Table

from rtrl.cli.common import console, non_negative_int, positive_int


def cmd_eval(args: argparse.Namespace) -> int:
    from rtrl.agents.evaluation import evaluate, record_video, video_support
    from rtrl.agents.policy import TrainedAgent

    agent = TrainedAgent.from_run(args.run_dir, seed=args.run_seed)  # refuses a bad run directory first
    if args.video is not None:
        problem = video_support(agent, args.env, args.video)
        if problem:
            raise ValueError(problem)
    if agent.statistics.observation is None and agent.config.wrappers != "none":
        # only a host run's checkpoint of an older rtrl lacks them (runs now keep every seed's)
        console.print("note: this run's checkpoint holds no wrapper statistics (a host-environment run written by "
                      "an older version of rtrl); the observation normalisation and reward scale adapt during "
                      "evaluation.", soft_wrap=True)
    result = evaluate(agent, args.env, args.episodes, deterministic=args.deterministic, seed=args.seed)
    console.print(escape(repr(agent)), soft_wrap=True)
    table = Table()
    table.add_column("episode", justify="right")
    table.add_column("return", justify="right")
    table.add_column("length", justify="right")
    for k, (ret, length) in enumerate(zip(result.returns, result.lengths)):
        table.add_row(str(k), f"{ret:.4g}", str(length))
    console.print(table)
    console.print(escape(str(result)), soft_wrap=True)
    if args.video is not None:
        frames = record_video(agent, args.video, args.env, deterministic=args.deterministic, seed=args.seed)
        console.print(f"wrote {escape(args.video)} ({frames} frames, one episode)", soft_wrap=True)
    return 0


def cmd_envs(args: argparse.Namespace) -> int:
    from rtrl import envs

    names = envs.names(args.family)  # an unknown family: ValueError naming the valid ones
    table = Table()
    table.add_column("name", no_wrap=True)
    table.add_column("back-end")
    table.add_column("extra")
    table.add_column("installed")
    table.add_column("description")
    missing = {}
    for name in names:
        spec = envs.spec(name)
        if not spec.installed:
            missing[name] = spec.install
        table.add_row(name, spec.backend, spec.extra or "-", "yes" if spec.installed else "no",
                      escape(spec.description))
    console.print(table)
    console.print(f"{len(names)} environment(s)", soft_wrap=True)
    if missing:
        installs = sorted(set(missing.values()))
        console.print(f"{len(missing)} need an extra that is not installed: {escape('; '.join(installs))}",
                      soft_wrap=True)
    if args.family is None:
        listed = {n.split("/", 1)[0] for n in names}
        for family in envs.families():
            if family.name not in listed:
                console.print(f"also {escape(family.pattern)}: {escape(family.description)} (rtrl envs --family "
                              f"{family.name} lists them)", soft_wrap=True)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a trained agent: true episode returns, mean and 95%% t interval",
                       description="Evaluate the agent of a training run directory on its environment behind its "
                       "training wrappers with their statistics frozen; returns are sums of raw rewards.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a training run directory (rtrl train --out RUN_DIR)")
    p.add_argument("--episodes", type=positive_int, default=10, help="episodes to play (default: 10)")
    p.add_argument("--deterministic", action="store_true",
                   help="act with the most probable action (argmax / mean) instead of sampling")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the environments and of action sampling (default: 0)")
    p.add_argument("--run-seed", type=non_negative_int, default=None,
                   help="which of the run's seeds to evaluate, as in seed_<k>.csv (default: its first)")
    p.add_argument("--env", default=None,
                   help="evaluate on another environment (a name of rtrl envs, or a gymnasium id) with the same "
                   "observation and action spaces (default: the run's)")
    p.add_argument("--video", default=None, metavar="PATH",
                   help="also write one episode as a video (.gif; .mp4 with imageio-ffmpeg), for environments "
                   "that render rgb_array frames")
    p.set_defaults(func=cmd_eval)

    e = sub.add_parser("envs", help="list the environments, by family, and whether their extra is installed",
                       description="List the registered environment names (rtrl.envs.names()).")
    e.add_argument("--family", default=None, help="only this family: jax, popgym, mujoco, atari or gymnasium "
                   "(gymnasium's own registry)")
    e.set_defaults(func=cmd_envs)
