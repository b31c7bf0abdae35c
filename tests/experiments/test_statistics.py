"""Confidence intervals over seeds: Student t quantiles from published tables, one seed has no interval."""

import math

import numpy as np
import pytest

from rtrl.experiments import plots, statistics

# Two-sided 95% quantiles t_{0.975, ν} from a printed table (e.g. NIST/SEMATECH e-Handbook, 1.3.6.7.2).
T_TABLE = {1: 12.706, 2: 4.303, 4: 2.776, 9: 2.262, 29: 2.045}


@pytest.mark.parametrize("dof,quantile", sorted(T_TABLE.items()))
def test_quantiles_match_the_table(dof, quantile):
    assert statistics.t_quantile(dof + 1) == pytest.approx(quantile, abs=5e-4)


def test_three_seeds_use_t_with_two_degrees_of_freedom():
    values = [0.012, 0.017, 0.023]
    s = math.sqrt(sum((v - 0.052 / 3) ** 2 for v in values) / 2)  # sample standard deviation, by hand
    result = statistics.interval(values)
    assert result.mean == pytest.approx(0.052 / 3)
    assert result.half_width == pytest.approx(4.303 * s / math.sqrt(3), rel=2e-4)
    assert result.n == 3 and result.per_seed == tuple(values)


def test_one_seed_has_no_interval_and_never_prints_plus_minus_zero():
    result = statistics.interval([0.0174])
    assert result.half_width is None
    assert str(result) == "0.0174 (n=1)"
    assert "±" not in str(result)
    mean, half = statistics.mean_and_half_width(np.array([[1.0, 2.0]]))
    np.testing.assert_array_equal(mean, [1.0, 2.0])
    assert np.isnan(half).all()


def test_format_names_the_interval():
    result = statistics.Interval(mean=0.0174, half_width=0.0048, n=3)
    assert str(result) == "0.0174 ± 0.0048 (95% t, n=3)"
    assert statistics.Interval(mean=12345.6, half_width=210.0, n=2).format() == "12,346 ± 210 (95% t, n=2)"
    assert result.format(".2f") == "0.02 ± 0.00 (95% t, n=3)"
    assert result.format(compact=True) == "0.0174 ± 0.0048"
    assert statistics.interval([0.0174]).format(compact=True) == "0.0174 (n=1)"
    d = result.to_dict()
    assert d["interval"] == statistics.DEFINITION == "95% Student t over seeds" and d["ci95"] == 0.0048


def test_curves_band_is_per_point():
    curves = np.array([[1.0, 10.0], [3.0, 10.0], [2.0, 13.0]])  # (seeds, points)
    mean, half = statistics.mean_and_half_width(curves)
    np.testing.assert_allclose(mean, [2.0, 11.0])
    np.testing.assert_allclose(half, [4.303 * 1.0 / math.sqrt(3), 4.303 * math.sqrt(3) / math.sqrt(3)], rtol=2e-4)


def test_plots_band_is_the_t_interval(tmp_path, monkeypatch):
    """The band plots draw is the same t interval (the old 1.96 band was 2.2× too narrow here)."""
    bands = []
    real = plots._band
    monkeypatch.setattr(plots, "_band", lambda ax, x, mean, half, color: bands.append(half) or real(ax, x, mean,
                                                                                                   half, color))
    plots.learning_curves(str(tmp_path / "c.png"), {"a": (np.arange(2), np.array([[1.0, 5.0], [3.0, 5.0],
                                                                                  [2.0, 5.0]]))},
                          xlabel="x", ylabel="y")
    plots.sweep(str(tmp_path / "s.png"), {"a": [(1.0, [1.0, 3.0, 2.0]), (2.0, [4.0])]}, xlabel="x", ylabel="y")
    assert bands[0] == pytest.approx([4.303 / math.sqrt(3), 0.0], rel=2e-4)
    assert bands[1][0] == pytest.approx(4.303 / math.sqrt(3), rel=2e-4) and np.isnan(bands[1][1])  # one seed


def test_no_values_is_refused():
    with pytest.raises(ValueError, match="at least one value"):
        statistics.interval([])
