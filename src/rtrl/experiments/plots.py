"""Plots of runs: learning curves with a confidence band over seeds, and sweeps (error against
FLOPs per step or hidden size, one line per learner). matplotlib with the Agg back-end (no display).

Bands are the 95% Student t interval of the mean over seeds (`rtrl.experiments.statistics`); a
curve of one seed has no band."""

from __future__ import annotations

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
    for i, (label, (x, ys)) in enumerate(curves.items()):
        mean, band = statistics.mean_and_half_width(np.atleast_2d(ys))
        line, = ax.plot(x, mean, linestyle=_LINESTYLES[i // 10 % len(_LINESTYLES)],  # colours repeat after 10
                        label=f"{label} (n={np.atleast_2d(ys).shape[0]})")
        _band(ax, x, mean, band, line.get_color())
    _finish(plt, fig, ax, path, xlabel=xlabel, ylabel=ylabel, title=title, reference_lines=reference_lines,
            logx=False, logy=logy)


def sweep(path: str, lines: Mapping[str, Sequence[tuple[float, Sequence[float]]]], *, xlabel: str, ylabel: str,
          title: str = "", reference_lines: Mapping[str, float] | None = None, logx: bool = True,
          logy: bool = False) -> None:
    """``lines[label] = [(x, per-seed values), ...]``: one line per label, mean and 95% band."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for i, (label, points) in enumerate(lines.items()):
        points = sorted(points, key=lambda p: p[0])
        x = np.array([p[0] for p in points], dtype=float)
        stats = [statistics.mean_and_half_width(np.asarray(p[1], dtype=float)) for p in points]
        mean = np.array([s[0] for s in stats])
        band = np.array([s[1] for s in stats])
        line, = ax.plot(x, mean, marker="o", linestyle=_LINESTYLES[i // 10 % len(_LINESTYLES)], label=label)
        _band(ax, x, mean, band, line.get_color())
    _finish(plt, fig, ax, path, xlabel=xlabel, ylabel=ylabel, title=title, reference_lines=reference_lines,
            logx=logx, logy=logy)


def _band(ax, x: np.ndarray, mean: np.ndarray, half_width: np.ndarray, color) -> None:
    """The shaded interval; none where there is one seed (NaN half-width)."""
    if np.isfinite(half_width).any():
        ax.fill_between(x, mean - half_width, mean + half_width, color=color, alpha=0.2, linewidth=0)


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
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title=f"mean; band: {BAND}", title_fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
