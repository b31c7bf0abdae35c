"""The ``rtrl`` command.

    rtrl demo                 RTU (RTRL) against GRU (T-BPTT) on trace conditioning: table and plot
    rtrl predict              one online prediction run from flags or a YAML file
    rtrl compare PRESET       a named comparison of prediction learners (demo, compute-match)
    rtrl plot RUN_DIR...      redraw learning curves from run directories
    rtrl train                train a PPO agent (Real-Time PPO, T-BPTT PPO, MLP PPO) from a preset, YAML or flags
    rtrl gradcheck            exact-gradient check of every RTRL cell against BPTT (float64)
    rtrl bench cells          per-step time: forward, RTRL, T-BPTT; table + CSV
    rtrl cells                the cells, their options and trace rules
    rtrl cost CELL ...        FLOPs and memory per step from the cost model
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from rich.markup import escape

from rtrl.cli import agents, prediction, tools, training
from rtrl.cli.common import console

__all__ = ["build_parser", "main"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rtrl")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rtrl", description="Online training of recurrent networks with exact "
                                     "real-time recurrent learning (RTRL), in JAX.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    prediction.add_parsers(sub)
    training.add_parsers(sub)
    agents.add_parsers(sub)
    tools.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        for field in ("hidden_sizes", "batch_sizes", "modes", "cells"):
            if getattr(args, field, None) is not None:
                setattr(args, field, tuple(getattr(args, field)))
        return args.func(args)
    except (ValueError, FloatingPointError) as e:  # a configuration error or a divergence: plainly, no traceback
        console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
