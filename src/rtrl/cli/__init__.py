"""The ``rtrl`` command.

    rtrl demo                 RTU (RTRL) against GRU (T-BPTT) on trace conditioning: table and plot
    rtrl predict              one online prediction run from flags or a YAML file
    rtrl compare PRESET       a named comparison of prediction learners (demo, compute-match)
    rtrl plot RUN_DIR...      redraw learning curves from run directories
    rtrl train                train a PPO agent (Real-Time PPO, T-BPTT PPO, MLP PPO) from a preset, YAML or flags
    rtrl sweep SPEC.yaml      a grid of train/predict runs x seeds from a YAML spec, on Ray (resumable, one report)
    rtrl eval RUN_DIR         evaluate a trained agent: true episode returns, optionally a video
    rtrl envs                 the environment names, by family, and whether their extras are installed
    rtrl gradcheck            exact-gradient check of every RTRL cell against BPTT (float64)
    rtrl bench cells          per-step time: forward, RTRL, T-BPTT; table + CSV
    rtrl cells                the cells, their options and trace rules
    rtrl cost CELL ...        FLOPs and memory per step from the cost model
    rtrl --version            the installed version
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.markup import escape

from rtrl.cli import agents, prediction, sweep, tools, training
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
    sweep.add_parsers(sub)
    agents.add_parsers(sub)
    tools.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; bad input and failed runs end with "error: ..." and an exit status, not a traceback.

    Exit status: 0 done; 2 bad input (ValueError, and FloatingPointError of a diverged prediction
    run, whose message says what to change); 1 a run that could not finish (a training run that
    diverged, the device or the machine out of memory, a file that could not be written); 130
    interrupted (Ctrl-C). Any other exception is a bug of rtrl and keeps its traceback.
    """
    args = build_parser().parse_args(argv)
    try:
        for field in ("hidden_sizes", "batch_sizes", "modes", "cells"):
            if getattr(args, field, None) is not None:
                setattr(args, field, tuple(getattr(args, field)))
        return args.func(args)
    except (ValueError, FloatingPointError) as e:
        if isinstance(e, _diverged_training()):  # the run went as far as it could: its message says what is kept
            return _error(e, 1)
        return _error(e, 2)  # a configuration error or a diverged prediction: plainly, no traceback
    except MemoryError as e:
        return _error(e if str(e) else "out of memory", 1)
    except OSError as e:  # a file or directory the command could not read or write (disk full, permissions)
        where = f" {e.filename!r}" if getattr(e, "filename", None) else ""
        return _error(f"cannot access{where}: {e.strerror or e}", 1, notes=getattr(e, "__notes__", ()))
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130


def _diverged_training() -> tuple[type[BaseException], ...]:
    """`rtrl.experiments.training.Diverged` if that module was loaded (else nothing can have raised it)."""
    training = sys.modules.get("rtrl.experiments.training")
    return (training.Diverged,) if training is not None else ()


def _error(e: BaseException | str, status: int, notes: Sequence[str] = ()) -> int:
    console.print(f"[red]error:[/red] {escape(str(e))}", soft_wrap=True)
    for note in (*getattr(e, "__notes__", ()), *notes):
        console.print(escape(note), soft_wrap=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
