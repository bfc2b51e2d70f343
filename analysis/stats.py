"""Rank correlations, within-group slopes and means; intervals across replicates, and a cluster bootstrap.

The report's intervals come from ``replicate_estimate``: the statistic is computed once per replicate
(all usable trials with one seed) and the interval is taken across replicates, the units that really
vary (docs/science.md, "Uncertainty schemes per claim").

The cluster bootstrap below is kept as a library tool (trial-resampled CIs in a notebook); it is no
longer behind any claim: with few trials it gives degenerate intervals.

The resampling unit is the cluster (a trial): per-layer rows of one network are not independent, so a
resample draws whole trials with all their rows. A resample is a matrix of row multiplicities W
(resamples x rows), and every statistic here is computed for all resamples at once from W: a weighted
statistic with integer weights equals the plain statistic on the sample with rows repeated (ties get
average ranks; Kendall is tau-b), so no resample is ever materialised.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from core import vocab

KENDALL_DENSE_MAX = 1500
MIN_REPLICATES = 3   # fewer replicates (seeds): no interval, their spread is not an estimate of anything
MIN_LEVELS = 3       # a statistic across cells needs at least 3 distinct levels of its axis for an interval
CORRELATION_RANGE = (-1.0, 1.0)   # where a rank correlation lives; its interval is clipped to it
FRACTION_RANGE = (0.0, 1.0)       # where a prunable fraction lives; likewise


@dataclass(frozen=True)
class Estimate:
    """A statistic with its bootstrap CI; ``n_clusters`` trials contributed ``n_points`` rows."""

    value: float
    low: float
    high: float
    n_clusters: int
    n_points: int
    level: float = 0.95

    def __post_init__(self) -> None:
        if not 0 < self.level < 1:
            raise ValueError(f"level: must lie in (0, 1), got {self.level!r}")
        if self.n_clusters < 0 or self.n_points < 0:
            raise ValueError(f"n_clusters/n_points: must be >= 0, got {self.n_clusters}, {self.n_points}")
        if math.isfinite(self.low) and math.isfinite(self.high) and self.low > self.high:
            raise ValueError(f"low/high: low {self.low} exceeds high {self.high}")


@dataclass(frozen=True)
class ReplicateEstimate:
    """A statistic computed once per replicate, and its interval across replicates.

    value: mean of the per-replicate values that are defined; low/high: mean +- t(1-(1-level)/2, R-1) *
    sd / sqrt(R) over those R values, NaN when there is no interval (see ``replicate_estimate``);
    n_trials / n_points: distinct trials and rows that entered; n_replicates: distinct replicates among
    them; n_defined: replicates whose statistic is defined; n_levels: distinct values of the axis the
    statistic spans (None for a statistic inside cells).
    """

    value: float
    low: float
    high: float
    n_trials: int
    n_points: int
    n_replicates: int
    n_defined: int
    n_levels: int | None
    per_replicate: tuple[float, ...] = ()
    level: float = 0.95

    @property
    def has_interval(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the Student-t interval of the mean of ``values``; NaN bounds with fewer than 2."""
    v = np.asarray([x for x in values if math.isfinite(x)], float)
    if len(v) == 0:
        return math.nan, math.nan, math.nan
    mean = float(v.mean())
    if len(v) < 2:
        return mean, math.nan, math.nan
    half = float(sps.t.ppf(1 - (1 - level) / 2, len(v) - 1)) * float(v.std(ddof=1)) / math.sqrt(len(v))
    return mean, mean - half, mean + half


def replicate_estimate(frame: pd.DataFrame, statistic: Callable[[pd.DataFrame], float], *,
                       replicate: str = "seed", trial: str = "run_id", axis: str | None = None,
                       min_trials: int = 1, level: float = 0.95,
                       bounds: tuple[float, float] | None = None) -> ReplicateEstimate:
    """``statistic`` of each replicate's rows, the mean of those values and its t interval across replicates.

    ``bounds``: the statistic's range (CORRELATION_RANGE for a rank correlation). With 3 replicates the t
    quantile is 4.3, and an interval such as [-1.02, -0.55] for a Spearman rho claims values no
    correlation can take; the interval is clipped to the range (docs/science.md).

    There is no interval (NaN low/high) with fewer than MIN_REPLICATES replicates with a defined
    statistic, and, for a statistic across cells (``axis`` given), with fewer than ``min_trials``
    trials or fewer than MIN_LEVELS distinct values of ``axis``.
    """
    n_trials = int(frame[trial].nunique()) if len(frame) else 0
    n_levels = int(frame[axis].nunique()) if axis is not None else None
    per = [float(statistic(part)) for _, part in frame.groupby(replicate, sort=True)] if len(frame) else []
    defined = [v for v in per if math.isfinite(v)]
    value, low, high = t_interval(defined, level)
    enough = len(defined) >= MIN_REPLICATES and (axis is None or (n_trials >= min_trials and n_levels >= MIN_LEVELS))
    if not enough:
        low, high = math.nan, math.nan
    elif bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return ReplicateEstimate(value, low, high, n_trials, len(frame), len(per), len(defined), n_levels,
                             tuple(per), level)


def _weights(w: np.ndarray | None, n: int) -> np.ndarray:
    return np.ones((1, n)) if w is None else np.atleast_2d(np.asarray(w, float))


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    ok = den > 1e-12 * np.maximum(1.0, np.abs(num))
    out[ok] = num[ok] / den[ok]
    return out


def weighted_ranks(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) of x in each weighted sample (rows of w), shape of w."""
    values, inverse = np.unique(np.asarray(x, float), return_inverse=True)
    per_value = np.zeros((w.shape[0], len(values)))
    np.add.at(per_value.T, inverse, w.T)
    below = np.cumsum(per_value, axis=1) - per_value
    return (below + (per_value + 1) / 2)[:, inverse]


def spearman(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Spearman rho per weighted sample (rows of w); NaN where x or y is constant."""
    w = _weights(w, len(x))
    rx, ry = weighted_ranks(x, w), weighted_ranks(y, w)
    total = w.sum(axis=1, keepdims=True)
    dx = rx - (w * rx).sum(axis=1, keepdims=True) / total
    dy = ry - (w * ry).sum(axis=1, keepdims=True) / total
    return _safe_ratio((w * dx * dy).sum(axis=1), np.sqrt((w * dx * dx).sum(axis=1) * (w * dy * dy).sum(axis=1)))


def kendall(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Kendall tau-b per weighted sample: over pairs of the repeated sample, sum(sx*sy)/sqrt(sum sx^2 sum sy^2)."""
    w = _weights(w, len(x))
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) > KENDALL_DENSE_MAX:
        # The pairwise sign matrices would be n^2: repeat rows and let scipy do O(n log n) per sample.
        out = [sps.kendalltau(np.repeat(x, row.astype(int)), np.repeat(y, row.astype(int))).statistic for row in w]
        return np.asarray(out, float)
    sx, sy = np.sign(x[:, None] - x[None, :]), np.sign(y[:, None] - y[None, :])
    both = ((w @ (sx * sy)) * w).sum(axis=1)
    nx, ny = ((w @ np.abs(sx)) * w).sum(axis=1), ((w @ np.abs(sy)) * w).sum(axis=1)
    return _safe_ratio(both, np.sqrt(nx * ny))


def within_slope(x: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
                 w: np.ndarray | None = None) -> np.ndarray:
    """OLS slope of y on x after removing each group's (weighted) mean: a fixed effect per group.

    With no groups this is the plain least-squares slope. NaN where x has no spread inside any group.
    """
    w = _weights(w, len(x))
    x, y = np.asarray(x, float), np.asarray(y, float)
    codes = np.zeros(len(x), int) if groups is None else pd.factorize(np.asarray(groups))[0]
    onehot = np.zeros((len(x), codes.max() + 1 if len(x) else 0))
    onehot[np.arange(len(x)), codes] = 1.0
    count = w @ onehot
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = ((w * x) @ onehot) / count, ((w * y) @ onehot) / count
    dx, dy = x - np.nan_to_num(mx)[:, codes], y - np.nan_to_num(my)[:, codes]
    return _safe_ratio((w * dx * dy).sum(axis=1), (w * dx * dx).sum(axis=1))


def weighted_mean(v: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    w = _weights(w, len(v))
    return _safe_ratio(w @ np.asarray(v, float), w.sum(axis=1))


def rank_correlation(x: np.ndarray, y: np.ndarray, method: str = "spearman") -> float:
    """Spearman rho or Kendall tau-b of two samples; NaN when fewer than 3 points or a side is constant."""
    vocab.check_choice("method", method, vocab.CORRELATIONS)
    if len(x) < 3:
        return math.nan
    return float((spearman if method == "spearman" else kendall)(x, y)[0])


def cluster_bootstrap(clusters: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray], *,
                      n_boot: int = 1000, level: float = 0.95, seed: int = 0, min_points: int = 3) -> Estimate:
    """Percentile CI of ``statistic(W)`` over resamples that draw whole clusters with replacement.

    ``clusters`` labels each row; ``statistic`` maps a multiplicity matrix W (resamples x rows) to one
    value per resample. Resamples where the statistic is undefined (NaN) are dropped; if more than
    half are, the CI is NaN (the data cannot support it). Fewer than ``min_points`` rows: all NaN.
    """
    if n_boot < 1:
        raise ValueError(f"n_boot: must be >= 1, got {n_boot}")
    codes, uniques = pd.factorize(np.asarray(clusters))
    n_clusters, n_points = len(uniques), len(codes)
    if n_points < min_points:
        return Estimate(math.nan, math.nan, math.nan, n_clusters, n_points, level)
    value = float(statistic(np.ones((1, n_points)))[0])
    if not math.isfinite(value):
        return Estimate(value, math.nan, math.nan, n_clusters, n_points, level)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_clusters, (n_boot, n_clusters))
    per_cluster = np.zeros((n_boot, n_clusters))
    np.add.at(per_cluster, (np.repeat(np.arange(n_boot), n_clusters), picks.ravel()), 1.0)
    draws = np.asarray(statistic(per_cluster[:, codes]), float)
    draws = draws[np.isfinite(draws)]
    if len(draws) < n_boot / 2:
        return Estimate(value, math.nan, math.nan, n_clusters, n_points, level)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Estimate(value, float(low), float(high), n_clusters, n_points, level)


def _finite(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    values = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    return frame[np.isfinite(values).all(axis=1)] if len(frame) else frame


def correlation_estimate(frame: pd.DataFrame, x: str, y: str, method: str = "spearman", *, cluster: str,
                         n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Estimate:
    """Rank correlation of columns x and y (rows with a non-finite value dropped), trial-resampled CI."""
    vocab.check_choice("method", method, vocab.CORRELATIONS)
    clean = _finite(frame, [x, y])
    xs, ys = clean[x].to_numpy(float), clean[y].to_numpy(float)
    fn = spearman if method == "spearman" else kendall
    return cluster_bootstrap(clean[cluster].to_numpy(), lambda w: fn(xs, ys, w),
                             n_boot=n_boot, level=level, seed=seed)


def slope_estimate(frame: pd.DataFrame, x: str, y: str, *, cluster: str, within: Sequence[str] = (),
                   n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Estimate:
    """Slope of y on x with a fixed effect per ``within`` group, trial-resampled CI."""
    clean = _finite(frame, [x, y])
    xs, ys = clean[x].to_numpy(float), clean[y].to_numpy(float)
    groups = clean.groupby(list(within), dropna=False, sort=False).ngroup().to_numpy() if within else None
    return cluster_bootstrap(clean[cluster].to_numpy(), lambda w: within_slope(xs, ys, groups, w),
                             n_boot=n_boot, level=level, seed=seed, min_points=2)


def mean_estimate(frame: pd.DataFrame, column: str, *, cluster: str, n_boot: int = 1000, level: float = 0.95,
                  seed: int = 0) -> Estimate:
    """Mean of a column (non-finite rows dropped), trial-resampled CI."""
    clean = _finite(frame, [column])
    values = clean[column].to_numpy(float)
    return cluster_bootstrap(clean[cluster].to_numpy(), lambda w: weighted_mean(values, w),
                             n_boot=n_boot, level=level, seed=seed, min_points=1)
