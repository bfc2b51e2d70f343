import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from analysis import stats
from analysis.claims import verdict
from analysis.stats import Estimate


def _repeat(x, counts):
    return np.repeat(np.asarray(x), counts.astype(int))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_rank_correlations_equal_scipy_on_repeated_samples(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, 40).astype(float)          # ties on purpose
    y = x + rng.integers(0, 4, 40)
    w = rng.integers(0, 3, (5, 40)).astype(float)
    rho, tau = stats.spearman(x, y, w), stats.kendall(x, y, w)
    for b in range(5):
        xr, yr = _repeat(x, w[b]), _repeat(y, w[b])
        assert rho[b] == pytest.approx(sps.spearmanr(xr, yr).statistic, abs=1e-12)
        assert tau[b] == pytest.approx(sps.kendalltau(xr, yr).statistic, abs=1e-12)


def test_kendall_large_sample_path_matches_dense_path(monkeypatch):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=50), rng.normal(size=50)
    w = rng.integers(0, 3, (3, 50)).astype(float)
    dense = stats.kendall(x, y, w)
    monkeypatch.setattr(stats, "KENDALL_DENSE_MAX", 10)
    np.testing.assert_allclose(stats.kendall(x, y, w), dense, atol=1e-12)


def test_within_slope_removes_group_offsets():
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    groups = np.array([0, 0, 0, 1, 1, 1])
    y = -0.5 * x + np.where(groups == 0, -3.0, 10.0)   # same slope, the later group shifted up
    assert stats.within_slope(x, y, groups)[0] == pytest.approx(-0.5)
    assert stats.within_slope(x, y)[0] > 0                               # the pooled slope is confounded
    assert math.isnan(stats.within_slope(np.ones(4), np.arange(4.0))[0])


def test_rank_correlation_degenerate_and_bad_method():
    assert math.isnan(stats.rank_correlation(np.ones(5), np.arange(5.0)))
    assert math.isnan(stats.rank_correlation(np.arange(2.0), np.arange(2.0)))
    assert stats.rank_correlation(np.arange(5.0), -np.arange(5.0), "kendall") == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="allowed: spearman, kendall"):
        stats.rank_correlation(np.arange(5.0), np.arange(5.0), "pearson")


def test_cluster_bootstrap_resamples_whole_trials():
    """Ten copies of each trial's row carry no more information than one row: the trial-resampled CI of
    the mean must match the one computed from one row per trial, not shrink by sqrt(10)."""
    rng = np.random.default_rng(0)
    per_trial = rng.normal(size=12)
    one = pd.DataFrame({"run": np.arange(12), "v": per_trial})
    ten = pd.DataFrame({"run": np.repeat(np.arange(12), 10), "v": np.repeat(per_trial, 10)})
    a = stats.mean_estimate(one, "v", cluster="run", n_boot=400, seed=1)
    b = stats.mean_estimate(ten, "v", cluster="run", n_boot=400, seed=1)
    assert (a.low, a.high) == pytest.approx((b.low, b.high))
    assert (b.n_clusters, b.n_points) == (12, 120)
    # The CI of a mean of 12 standard normals is about +-1.96/sqrt(12) wide around it.
    assert b.high - b.low == pytest.approx(2 * 1.96 * per_trial.std(ddof=1) / math.sqrt(12), rel=0.3)


def test_cluster_bootstrap_nan_when_too_few_points():
    frame = pd.DataFrame({"run": [1, 2], "x": [1.0, 2.0], "y": [2.0, 1.0]})
    est = stats.correlation_estimate(frame, "x", "y", cluster="run")
    assert math.isnan(est.value) and math.isnan(est.low)


def test_correlation_estimate_drops_non_finite_rows():
    frame = pd.DataFrame({"run": range(6), "x": [1, 2, 3, 4, 5, np.inf], "y": [5, 4, 3, 2, 1, 0.0]})
    est = stats.correlation_estimate(frame, "x", "y", cluster="run", n_boot=100)
    assert est.value == pytest.approx(-1.0) and est.n_points == 5


@pytest.mark.parametrize("low, high, predicted, n, expected", [
    (-0.9, -0.2, -1, 10, "holds"), (0.2, 0.9, -1, 10, "contradicted"), (-0.3, 0.4, -1, 10, "inconclusive"),
    (0.1, 0.5, 1, 10, "holds"), (-0.5, -0.1, 1, 10, "contradicted"), (-0.9, -0.2, -1, 4, "inconclusive"),
    (math.nan, math.nan, -1, 10, "inconclusive"),
])
def test_verdict_rule(low, high, predicted, n, expected):
    value = -0.5 if predicted < 0 else 0.3
    assert verdict(Estimate(value, low, high, n, n), predicted, min_trials=5) == expected


def test_estimate_validates():
    with pytest.raises(ValueError, match="low"):
        Estimate(0.0, 1.0, -1.0, 3, 3)
    with pytest.raises(ValueError, match="level"):
        Estimate(0.0, -1.0, 1.0, 3, 3, level=1.5)


def test_replicate_interval_is_the_t_interval_and_bounds_clip_it():
    # three replicates with per-replicate statistic -0.6, -0.9, -1.0 (the frame's 'v' column, one row each)
    frame = pd.DataFrame({"seed": [0, 1, 2], "run_id": ["a", "b", "c"], "v": [-0.6, -0.9, -1.0]})
    plain = stats.replicate_estimate(frame, lambda part: float(part["v"].mean()))
    values = np.array([-0.6, -0.9, -1.0])
    half = sps.t.ppf(0.975, 2) * values.std(ddof=1) / math.sqrt(3)
    assert plain.value == pytest.approx(values.mean())
    assert (plain.low, plain.high) == pytest.approx((values.mean() - half, values.mean() + half))
    assert plain.low < -1.0                                   # the t interval leaves a correlation's range
    clipped = stats.replicate_estimate(frame, lambda part: float(part["v"].mean()),
                                       bounds=stats.CORRELATION_RANGE)
    assert (clipped.value, clipped.low, clipped.high) == pytest.approx((plain.value, -1.0, plain.high))
