"""Compression curves: magnitude, singular-value and node pruning error from one sort/SVD per layer.

Public API (other code and outside checks call exactly these names): ``error_curve``,
``prunable_fraction``, ``method_view``, ``prune_model`` (returning ``PrunedModel``); ``curve_summary``
gives a curve and several prunable fractions from one sort/SVD, ``prune_models`` pruned copies at
several ratios from one sort/SVD per layer. The numeric kernels
live in ``core.compress_kernels``, apply-to-model and its accounting in ``core.compress_model``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from core.compress_kernels import (
    as_float_array,
    centre,
    check_matrix,
    check_method,
    check_p,
    check_ratios,
    check_total,
    item_masses,
    method_centers,
    method_view,
    removed_count,
    smallest_sums,
)
from core.compress_model import LayerPruning, PrunedModel, prune_model, prune_models
from core.vocab import check_center

__all__ = [
    "CurveSummary", "LayerPruning", "PrunedModel",
    "curve_summary", "error_curve", "method_centers", "method_view", "prunable_fraction", "prune_model", "prune_models",
]


def _centred(w: Any, method: str, p: float, center: str | None) -> tuple[np.ndarray, str, float]:
    method = check_method(method)
    check_center(center)
    p = check_p(p)
    a = as_float_array(w)
    check_matrix(a, method)
    if method == "singular" and not np.isfinite(a).all():
        raise ValueError("w: contains NaN or inf")  # before LAPACK, which may hang or raise obscurely
    u, _ = centre(a, method, center)
    return u, method, p


def _with_masses(u: np.ndarray, method: str, p: float, reduce: Callable[[np.ndarray], tuple[Any, float]]):
    """``reduce(masses) -> (result, total)``, redone in float64 if float32 masses over- or underflowed."""
    masses = item_masses(u, method, p)
    result, total = reduce(masses)
    if masses.dtype != np.float64 and not (math.isfinite(total) and total > 0):
        result, total = reduce(item_masses(u, method, p, exact=True))
    check_total(total)
    return result, total


def _errors(fractions: np.ndarray, p: float) -> np.ndarray:
    return np.sqrt(fractions) if p == 2.0 else fractions ** (1.0 / p)


def _check_eps(eps: Any) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)) \
            or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps: must be a finite number >= 0, got {eps!r}")
    return float(eps)


def error_curve(w: Any, method: str, ratios: Any, *, p: float = 2, center: str | None = "median") -> np.ndarray:
    """Relative l_p error ||u - u_pruned||_p / ||u||_p after removing the fraction r of items, per r.

    ``w``: 2-D (rows = units), numpy or torch (any device). ``u = w - center`` (scalar median for
    magnitude, per-column median unit for singular and node; 'none' or ``None``: no centring). Items: entries
    by |u| (magnitude), singular values of u (singular; the error is on the singular-value vector),
    rows by their l_p norm (node); the smallest go first, floor(r * n_items + 1e-9) of them.
    ``ratios`` in any order; the result (float64) follows it.
    """
    r = check_ratios(ratios)
    u, method, p = _centred(w, method, p, center)

    def reduce(masses: np.ndarray) -> tuple[np.ndarray, float]:
        return smallest_sums(masses, removed_count(r.reshape(-1), masses.shape[0]))

    sums, total = _with_masses(u, method, p, reduce)
    return _errors(sums / total, p).reshape(r.shape)


@dataclass(frozen=True)
class CurveSummary:
    """An error curve and prunable fractions computed from the same single sort (or SVD)."""

    errors: np.ndarray            # relative l_p error per ratio, in the order the ratios were given
    prunable: tuple[float, ...]   # largest removable fraction per eps, in the order given


def curve_summary(w: Any, method: str, ratios: Any, eps: Any = (0.1,), *, p: float = 2,
                  center: str | None = "median") -> CurveSummary:
    """``error_curve`` and ``prunable_fraction`` for several eps at the cost of one sort or SVD."""
    r = check_ratios(ratios)
    tolerances = [_check_eps(e) for e in (eps if isinstance(eps, (list, tuple, np.ndarray)) else [eps])]
    u, method, p = _centred(w, method, p, center)

    def reduce(masses: np.ndarray) -> tuple[tuple[np.ndarray, tuple[float, ...]], float]:
        n = masses.shape[0]
        masses.sort()
        prefix = np.cumsum(masses, dtype=np.float64)  # prefix[k - 1] = S_k
        total = float(prefix[-1])
        counts = removed_count(r.reshape(-1), n)
        sums = np.where(counts > 0, prefix[np.maximum(counts - 1, 0)], 0.0)
        # error(k) <= eps  <=>  S_k <= eps^p * S_n; prefix is non-decreasing.
        removable = tuple(int(np.searchsorted(prefix, e ** p * total, side="right")) / n for e in tolerances)
        return (sums / total, removable), total

    (fractions, removable), _ = _with_masses(u, method, p, reduce)
    return CurveSummary(_errors(fractions, p).reshape(r.shape), removable)


def prunable_fraction(w: Any, method: str, eps: float = 0.1, *, p: float = 2,
                      center: str | None = "median") -> float:
    """The largest fraction k/n_items of items removable with relative l_p error <= eps (exact)."""
    return curve_summary(w, method, [], (_check_eps(eps),), p=p, center=center).prunable[0]
