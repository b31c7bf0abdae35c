"""What every ``rtrl`` subcommand shares: the console, argument types and progress reports."""

from __future__ import annotations

import argparse
import datetime
import math
import time
from typing import Callable

from rich.console import Console

from rtrl.experiments.run_dir import RATE  # noqa: F401  (the one definition of speed, for the commands)

console = Console()


def _integer_at_least(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a {what} integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected a {what} integer, got {value}")
    return value


def positive_int(text: str) -> int:
    return _integer_at_least(text, 1, "positive")


def non_negative_int(text: str) -> int:
    return _integer_at_least(text, 0, "non-negative")


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive (finite) number, got {value}")
    return value


def cell_name(text: str) -> str:
    import rtrl

    if text not in rtrl.cells.names():
        raise argparse.ArgumentTypeError(f"unknown cell {text!r}; valid cells: {', '.join(rtrl.cells.names())}")
    return text




class StepProgress:
    """Progress of a job counted in steps: a live bar on a terminal, periodic plain lines otherwise.

        with StepProgress(total=200_000, label="predict", seeds=3) as progress:
            for done in ...:                      # steps per seed done so far
                progress.update(done, info="return 12.3")

    On a terminal it is a rich progress bar. When the output goes to a file or a pipe (a batch job,
    ``> log.txt``) a bar would appear only at the end, so a plain line is printed at the first update,
    then whenever ``every_fraction`` of the total or ``every_seconds`` have passed since the last one,
    and at the end:

        predict: 120,000/200,000 steps (60%), 210,000 env steps/s, eta 0:00:03

    Speed has one definition everywhere (`RATE`): environment steps of all seeds together per second
    of wall time, measured from the first update (which comes after the first compiled chunk or
    iteration, so compilation is excluded) to the latest; it is unknown ("-") until two updates.
    ``start`` is where a resumed job restarted (said in the first line; the speed counts from it).
    ``stage`` ("learner 1 of 2") prefixes the label when several jobs run one after the other.
    """

    def __init__(self, total: int, *, label: str = "", seeds: int = 1, start: int = 0, stage: str = "",
                 every_seconds: float = 10.0, every_fraction: float = 0.1, plain: bool | None = None,
                 out: Console | None = None, clock: Callable[[], float] = time.monotonic):
        self.total, self.seeds, self.start = int(total), int(seeds), int(start)
        self.label = f"{stage}: {label}" if stage and label else (stage or label)
        self.every_seconds, self.every_fraction = every_seconds, every_fraction
        self.console = out or console
        self.plain = (not self.console.is_terminal) if plain is None else plain
        self.clock = clock
        self.done = self.start
        self.info = ""
        self._first: tuple[float, int] | None = None  # (time, done) at the first update
        self._last_line: tuple[float, int] | None = None
        self._bar = None
        self._task = None

    def __enter__(self) -> StepProgress:
        if self.plain:
            resumed = f" (resumed at {self.start:,})" if self.start else ""
            self.console.print(f"{self.label}: {self.total:,} steps per seed x {self.seeds} seed(s){resumed}",
                               soft_wrap=True, highlight=False, markup=False)
        else:
            from rich.markup import escape
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
                       TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                       TextColumn("{task.fields[info]}"))
            self._bar = Progress(*columns, console=self.console)
            self._bar.__enter__()
            self._task = self._bar.add_task(escape(self.label), total=self.total, completed=self.start,
                                            rate="", info="")
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
        elif exc[0] is None and self._last_line is not None and self._last_line[1] != self.done:
            self._print_line()  # the last line: where it ended

    def rate(self) -> float | None:
        """`RATE`: env steps of all seeds per second since the first update; None before two updates."""
        if self._first is None:
            return None
        t0, done0 = self._first
        seconds = self.clock() - t0
        if self.done <= done0 or seconds <= 0:
            return None
        return (self.done - done0) * self.seeds / seconds

    def update(self, done: int, *, info: str = "") -> None:
        """``done`` steps per seed are done (a count, not an increment); ``info`` is shown beside it."""
        self.done = int(done)
        self.info = info
        now = self.clock()
        if self._first is None:
            self._first = (now, self.done)
        if self._bar is not None:
            rate = self.rate()
            self._bar.update(self._task, completed=self.done, info=info,
                             rate=f"{_rate(rate)} env steps/s" if rate is not None else "")
            return
        if self._last_line is None or self.done >= self.total \
                or now - self._last_line[0] >= self.every_seconds \
                or self.done - self._last_line[1] >= self.every_fraction * self.total:
            self._print_line()

    def line(self) -> str:
        """The plain progress line for the current count."""
        rate = self.rate()
        percent = f" ({self.done / self.total:.0%})" if self.total else ""
        parts = [f"{self.label}: {self.done:,}/{self.total:,} steps{percent}",
                 f"{_rate(rate)} env steps/s" if rate is not None else "- env steps/s"]
        if rate is not None and self.done < self.total:
            eta = (self.total - self.done) * self.seeds / rate
            parts.append(f"eta {datetime.timedelta(seconds=round(eta))}")
        if self.info:
            parts.append(self.info)
        return ", ".join(parts)

    def _print_line(self) -> None:
        self._last_line = (self.clock(), self.done)
        self.console.print(self.line(), soft_wrap=True, highlight=False, markup=False)


def _rate(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}"


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
