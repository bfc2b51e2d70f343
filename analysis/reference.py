"""The i.i.d. symmetric alpha-stable reference for magnitude pruning (docs/science.md,
"Compression": claim 3 and its d-table).

For a layer with d entries and measured alpha, draw i.i.d. SaS vectors of length d (Gaussian when
alpha >= 2), and report the median and 5-95% band over draws of (a) the relative l2 error after
removing the smallest fraction r of entries and (b) the prunable fraction at eps. Draws x items are
bounded by a sample budget; layers larger than ``max_items`` are simulated at ``max_items`` entries and
their error curves scaled by (d / max_items)^(1/2 - 1/alpha), the rate at which the relative error of
i.i.d. SaS entries falls with d (the d-table in docs/science.md follows it to two decimals). Such points are
flagged ``extrapolated``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import levy_stable

QUANTILES = (5.0, 50.0, 95.0)


def sorted_cumulative_share(x: np.ndarray) -> np.ndarray:
    """Rows of x -> share of the total squared norm held by the k smallest |entries|, k = 0..d."""
    sq = np.sort(np.abs(np.asarray(x, float)), axis=-1) ** 2
    cum = np.concatenate([np.zeros(sq.shape[:-1] + (1,)), np.cumsum(sq, axis=-1)], axis=-1)
    return cum / cum[..., -1:]


def removal_errors(share: np.ndarray, ratios: tuple[float, ...], scale: float = 1.0) -> np.ndarray:
    """Relative l2 error after removing floor(r*d) smallest entries, for each row and ratio r."""
    d = share.shape[-1] - 1
    idx = np.array([math.floor(r * d + 1e-9) for r in ratios], dtype=int)
    return np.sqrt(share[..., idx]) * scale


def prunable_fractions(share: np.ndarray, eps: float, scale: float = 1.0) -> np.ndarray:
    """Largest removable fraction with relative l2 error <= eps (error curve multiplied by ``scale``)."""
    d = share.shape[-1] - 1
    limit = (eps / scale) ** 2
    # share is non-decreasing along the row: count the k in 1..d whose share stays within the limit.
    return (share[..., 1:] <= limit * (1 + 1e-12)).sum(axis=-1) / d


@dataclass(frozen=True)
class ReferencePoint:
    """The reference at one (alpha, d): quantiles (5, 50, 95%) of error per ratio and of the prunable fraction."""

    alpha: float
    n_items: int
    simulated_items: int
    draws: int
    ratios: tuple[float, ...]
    error_q: tuple[tuple[float, float, float], ...]   # per ratio: (q05, median, q95)
    eps: float
    prunable_q: tuple[float, float, float]

    def __post_init__(self) -> None:
        if len(self.error_q) != len(self.ratios):
            raise ValueError(f"error_q: one triple per ratio expected ({len(self.ratios)}), got {len(self.error_q)}")
        if not 0 < self.alpha <= 2:
            raise ValueError(f"alpha: must lie in (0, 2], got {self.alpha}")

    @property
    def extrapolated(self) -> bool:
        return self.simulated_items < self.n_items


@dataclass(frozen=True)
class _Simulation:
    """What one simulation at (alpha, items) keeps: errors at the ratios, the exact prunable fractions,
    and each draw's share curve on a grid of at most GRID + 1 points (for rescaled prunable fractions)."""

    errors: np.ndarray        # draws x ratios, unscaled
    prunable: np.ndarray      # draws, unscaled (exact)
    grid_k: np.ndarray        # removed counts of the grid points
    grid_share: np.ndarray    # draws x grid points

    GRID = 2000


@dataclass(eq=False)
class StableReference:
    """Computes and caches reference points for fixed ratios and eps (alpha rounded to 0.01).

    Layers larger than max_items share one simulation per alpha, rescaled per layer size.
    """

    ratios: tuple[float, ...]
    eps: float = 0.1
    max_draws: int = 200
    min_draws: int = 50
    max_items: int = 20_000
    budget: int = 1_000_000
    seed: int = 0
    _points: dict[tuple[float, int], ReferencePoint] = field(default_factory=dict, repr=False)
    _sims: dict[tuple[float, int], _Simulation] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.ratios or any(not 0 <= r <= 1 for r in self.ratios):
            raise ValueError(f"ratios: must be a non-empty tuple of numbers in [0, 1], got {self.ratios!r}")
        for name in ("max_draws", "min_draws", "max_items", "budget"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")

    def draws_for(self, items: int) -> int:
        return int(min(self.max_draws, max(self.min_draws, self.budget // max(items, 1))))

    def point(self, alpha: float, n_items: int) -> ReferencePoint:
        if not math.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"alpha: must be a finite number > 0, got {alpha!r}")
        if n_items < 2:
            raise ValueError(f"n_items: must be >= 2, got {n_items!r}")
        a = min(round(float(alpha), 2), 2.0)
        key = (a, int(n_items))
        if key not in self._points:
            self._points[key] = self._derive(a, int(n_items))
        return self._points[key]

    def _simulation(self, alpha: float, items: int) -> _Simulation:
        key = (alpha, items)
        if key not in self._sims:
            draws = self.draws_for(items)
            rng = np.random.default_rng([self.seed, int(round(alpha * 100)), items])
            if alpha >= 2.0:
                x = rng.standard_normal((draws, items))
            else:
                x = levy_stable.rvs(alpha, 0.0, size=(draws, items), random_state=rng)
            share = sorted_cumulative_share(x)
            grid_k = np.unique(np.linspace(0, items, min(items, _Simulation.GRID) + 1).round().astype(int))
            self._sims[key] = _Simulation(removal_errors(share, self.ratios), prunable_fractions(share, self.eps),
                                          grid_k, share[:, grid_k])
        return self._sims[key]

    def _derive(self, alpha: float, n_items: int) -> ReferencePoint:
        items = min(n_items, self.max_items)
        sim = self._simulation(alpha, items)
        if items < n_items:
            scale = (n_items / items) ** (0.5 - 1.0 / alpha)
            errors = sim.errors * scale
            # Largest grid count whose rescaled error stays within eps (resolution 1 / GRID).
            within = sim.grid_share <= (self.eps / scale) ** 2 * (1 + 1e-12)
            prunable = sim.grid_k[within.sum(axis=1) - 1] / items
        else:
            errors, prunable = sim.errors, sim.prunable
        error_q = np.percentile(errors, QUANTILES, axis=0).T
        return ReferencePoint(alpha, n_items, items, len(sim.prunable), tuple(self.ratios),
                              tuple(tuple(float(v) for v in row) for row in error_q), float(self.eps),
                              tuple(float(v) for v in np.percentile(prunable, QUANTILES)))
