"""Running mean/variance shared by the observation and reward normalisers of both back-ends.

The same functions run on numpy (host wrappers) and jax.numpy (pure JAX wrappers): pass the
array module as ``xp``. Statistics are kept **per feature** (one mean and variance per observation
element), never pooled across features (defect 6 of the public RTU code, see
shared/reference/rtu.md); only the batch and time axes are pooled.

Update for a batch ``x`` of ``m`` samples (Chan et al.'s parallel algorithm)::

    delta = mean_x - mean;  count' = count + m
    mean' = mean + delta * m / count'
    var'  = (var * count + var_x * m + delta^2 * count * m / count') / count'

`merge_moments` combines the statistics of several independent copies (k = 1..K) the same way::

    count = sum_k count_k,  mean = sum_k count_k mean_k / count,
    var   = sum_k count_k (var_k + (mean_k - mean)^2) / count
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["Moments", "init_moments", "merge_moments", "normalize", "update_moments"]

INITIAL_COUNT = 1e-4  # as gymnasium's RunningMeanStd: mean 0, var 1 before any data


class Moments(NamedTuple):
    mean: Any  # (*feature_shape,) float32
    var: Any  # (*feature_shape,) float32
    count: Any  # () float32: samples seen (plus INITIAL_COUNT)


def init_moments(xp: Any, feature_shape: tuple[int, ...]) -> Moments:
    """Mean 0, variance 1, count ``INITIAL_COUNT``."""
    return Moments(
        xp.zeros(feature_shape, xp.float32), xp.ones(feature_shape, xp.float32), xp.asarray(INITIAL_COUNT, xp.float32)
    )


def update_moments(xp: Any, m: Moments, x: Any, feature_ndim: int) -> Moments:
    """Fold ``x`` of shape ``(*batch, *feature_shape)`` into ``m`` (all batch axes pooled)."""
    x = xp.asarray(x, xp.float32)
    batch_axes = tuple(range(x.ndim - feature_ndim))
    n = 1
    for ax in batch_axes:
        n *= x.shape[ax]
    n_f = xp.asarray(n, xp.float32)
    if n == 1:  # one sample (a single host env): its own mean, zero variance; cheaper than the reductions
        mean_x = x.reshape(x.shape[x.ndim - feature_ndim:])
        var_x = xp.zeros_like(mean_x)
    elif batch_axes:
        mean_x, var_x = x.mean(axis=batch_axes), x.var(axis=batch_axes)
    else:
        mean_x, var_x = x, xp.zeros_like(x)
    total = m.count + n_f
    delta = mean_x - m.mean
    mean = m.mean + delta * (n_f / total)
    m2 = m.var * m.count + var_x * n_f + delta * delta * (m.count * n_f / total)
    return Moments(mean.astype(xp.float32), (m2 / total).astype(xp.float32), total.astype(xp.float32))


def normalize(xp: Any, m: Moments, x: Any, epsilon: float, clip: float | None) -> Any:
    """``(x - mean) / sqrt(var + epsilon)``, clipped to ``[-clip, clip]`` when ``clip`` is set."""
    y = (xp.asarray(x, xp.float32) - m.mean) / xp.sqrt(m.var + xp.float32(epsilon))
    if clip is not None:
        y = xp.clip(y, -clip, clip)
    return y.astype(xp.float32)


def merge_moments(m: Moments, feature_ndim: int) -> Moments:
    """One `Moments` (numpy float32) from statistics with leading copy axes (module docstring).

    ``m.mean``/``m.var`` have shape ``(*copies, *feature_shape)`` and ``m.count`` ``copies``, e.g. the
    per-env statistics of a wrapper vmapped over envs (and seeds). With no copy axis, ``m`` comes
    back as numpy float32 unchanged.
    """
    import numpy as np

    mean, var, count = (np.asarray(v, np.float64) for v in m)
    copies = mean.ndim - feature_ndim
    if copies < 0 or count.shape != mean.shape[:copies] or var.shape != mean.shape:
        raise ValueError(f"moments with mean {mean.shape}, var {var.shape} and count {count.shape} do not share "
                         f"leading copy axes over a {feature_ndim}-d feature shape")
    feature_shape = mean.shape[copies:]
    mean, var, count = mean.reshape((-1,) + feature_shape), var.reshape((-1,) + feature_shape), count.reshape(-1)
    if count.size == 1:  # one copy: its statistics exactly as they are
        return Moments(mean[0].astype(np.float32), var[0].astype(np.float32), np.float32(count[0]))
    weight = count.reshape((-1,) + (1,) * feature_ndim)
    total = count.sum()
    merged_mean = (weight * mean).sum(axis=0) / total
    merged_var = (weight * (var + (mean - merged_mean) ** 2)).sum(axis=0) / total
    return Moments(merged_mean.astype(np.float32), merged_var.astype(np.float32), np.float32(total))
