"""Plots of runs: learning curves with a confidence band over seeds, and sweeps (error against
FLOPs per step or hidden size, one line per learner). matplotlib with the Agg back-end (no display).

Bands are the 95% Student t interval of the mean over seeds (`rtrl.experiments.statistics`); a
curve of one seed has no band."""

from __future__ import annotations

import textwrap
from typing import Mapping, Sequence

import numpy as np

from rtrl.experiments import statistics

BAND = statistics.DEFINITION
_LINESTYLES = ("-", "--", ":", "-.")  # the default colour cycle has 10 colours: then the next style


def image_formats() -> set[str]:
    """File extensions the Agg back-end writes (png, pdf, svg, ...)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    return set(FigureCanvasAgg.get_supported_filetypes())


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def learning_curves(path: str, curves: Mapping[str, tuple[np.ndarray, np.ndarray]], *, xlabel: str, ylabel: str,
                    title: str = "", reference_lines: Mapping[str, float] | None = None, logy: bool = False) -> None:
    """``curves[label] = (x (points,), y (seeds, points))``: mean line and 95% band per label."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    if logy:
        ax.set_yscale("log")  # before the bands, which clip their lower edges on a log axis
    means, highs = [], []
    for i, (label, (x, ys)) in enumerate(curves.items()):
        mean, band = statistics.mean_and_half_width(np.atleast_2d(ys))
        line, = ax.plot(x, mean, linestyle=_LINESTYLES[i // 10 % len(_LINESTYLES)],  # colours repeat after 10
                        label=f"{label} (n={np.atleast_2d(ys).shape[0]})")
        _band(ax, x, mean, band, line.get_color())
        means.append(mean)
        highs.append(mean + np.nan_to_num(band))
    _log_limits(ax, means, highs, reference_lines)
    _finish(plt, fig, ax, path, xlabel=xlabel, ylabel=ylabel, title=title, reference_lines=reference_lines,
            logx=False, logy=logy)


def sweep(path: str, lines: Mapping[str, Sequence[tuple[float, Sequence[float]]]], *, xlabel: str, ylabel: str,
          title: str = "", reference_lines: Mapping[str, float] | None = None, logx: bool = True,
          logy: bool = False) -> None:
    """``lines[label] = [(x, per-seed values), ...]``: one line per label, mean and 95% band."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    if logy:
        ax.set_yscale("log")  # before the bands, which clip their lower edges on a log axis
    means, highs = [], []
    for i, (label, points) in enumerate(lines.items()):
        points = sorted(points, key=lambda p: p[0])
        x = np.array([p[0] for p in points], dtype=float)
        stats = [statistics.mean_and_half_width(np.asarray(p[1], dtype=float)) for p in points]
        mean = np.array([s[0] for s in stats])
        band = np.array([s[1] for s in stats])
        line, = ax.plot(x, mean, marker="o", linestyle=_LINESTYLES[i // 10 % len(_LINESTYLES)], label=label)
        _band(ax, x, mean, band, line.get_color())
        means.append(mean)
        highs.append(mean + np.nan_to_num(band))
    _log_limits(ax, means, highs, reference_lines)
    _finish(plt, fig, ax, path, xlabel=xlabel, ylabel=ylabel, title=title, reference_lines=reference_lines,
            logx=logx, logy=logy)


def _band(ax, x: np.ndarray, mean: np.ndarray, half_width: np.ndarray, color) -> None:
    """The shaded interval; none where there is one seed (NaN half-width).

    On a log axis an interval whose lower end is at or below zero (few seeds, a t quantile of 4.3 for
    three) has no place on the axis: its lower edge is drawn at the smallest positive float, off the
    bottom of the plot (`_log_limits`), so the band runs out of the picture instead of leaving holes."""
    if not np.isfinite(half_width).any():
        return
    lower, upper = mean - half_width, mean + half_width
    if ax.get_yscale() == "log":
        lower = np.maximum(lower, np.finfo(float).tiny)
    ax.fill_between(x, lower, upper, color=color, alpha=0.2, linewidth=0)


_LOG_MARGIN = 3.0  # on a log axis the plot spans the means, band tops and reference lines, widened by this factor


def _log_limits(ax, means: Sequence[np.ndarray], highs: Sequence[np.ndarray],
                reference_lines: Mapping[str, float] | None) -> None:
    """On a log axis, the y range from the lowest mean to the highest band top or reference line (the clipped
    lower band edges run off the bottom; autoscaling would stretch the axis down to them)."""
    if ax.get_yscale() != "log":
        return
    values = [np.ravel(v) for v in (*means, *highs)] + [np.ravel(list((reference_lines or {}).values()))]
    values = np.concatenate(values) if values else np.array([])
    values = values[np.isfinite(values) & (values > 0)]
    if values.size:
        ax.set_ylim(values.min() / _LOG_MARGIN, values.max() * _LOG_MARGIN)


def _finish(plt, fig, ax, path: str, *, xlabel: str, ylabel: str, title: str,
            reference_lines: Mapping[str, float] | None, logx: bool, logy: bool) -> None:
    """Reference lines (dashed, dotted, ...), axes, legend; save and close."""
    for i, (label, value) in enumerate((reference_lines or {}).items()):
        ax.axhline(value, color="k", linestyle=("--", ":", "-.")[i % 3], linewidth=1, label=f"{label} ({value:.4g})")
    if logx:
        from matplotlib.ticker import FuncFormatter, NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 2, 4, 8 or 2e+04, not 2×10⁰
        ax.xaxis.set_minor_formatter(NullFormatter())
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:  # long titles (a task with its options, the band's definition) wrap instead of running off the figure
        ax.set_title(textwrap.fill(title, 80), fontsize=10 if len(title) > 60 else None)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title=f"mean; band: {BAND}", title_fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
