"""Pure numeric kernels behind core.compress: centring, item masses, prefix sums by selection.

Every pruning method reduces to the same problem: items i carry masses m_i = (item size)^p >= 0
(|u_ij|^p for magnitude, s_i^p for singular values, the row's sum of |u_ij|^p for node), and removing
the k smallest items leaves the relative l_p error (S_k / S_n)^(1/p), S_k the sum of the k smallest
masses. So one selection (or sort) of the masses gives the whole curve.
"""
from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np
import torch

from core.vocab import CENTERS, PRUNE_METHODS, ROLES, check_center, check_choice, check_registry

# Items removed = floor(r * n + 1e-9): r = k/n, computed in floating point, must give back k.
RATIO_SLACK = 1e-9


def check_method(method: Any) -> str:
    return check_choice("method", method, PRUNE_METHODS)


def check_p(p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) \
            or not math.isfinite(p) or p <= 0:
        raise ValueError(f"p: must be a finite number > 0, got {p!r}")
    return float(p)


def check_ratios(ratios: Any) -> np.ndarray:
    try:
        r = np.asarray(ratios, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"ratios: must be a number or a 1-D sequence of numbers in [0, 1], got {ratios!r}") from None
    if r.ndim > 1:
        raise ValueError(f"ratios: must be a number or a 1-D sequence, got shape {r.shape}")
    flat = r.reshape(-1)
    bad = flat[~((flat >= 0.0) & (flat <= 1.0))]  # NaN fails both comparisons
    if bad.size:
        raise ValueError(f"ratios: values must lie in [0, 1], got {bad.tolist()}")
    return r


def removed_count(ratio: np.ndarray | float, n_items: int) -> np.ndarray:
    """Items removed at each ratio: floor(r * n + 1e-9), within [0, n]."""
    return np.clip(np.floor(np.asarray(ratio, dtype=np.float64) * n_items + RATIO_SLACK), 0, n_items).astype(np.int64)


def as_float_array(w: Any, name: str = "w") -> np.ndarray:
    """A float32/float64 numpy array from a numpy array or a torch tensor on any device (no copy when possible)."""
    if isinstance(w, torch.Tensor):
        w = w.detach()
        if w.dtype not in (torch.float32, torch.float64):
            w = w.to(torch.float32 if w.is_floating_point() else torch.float64)
        return w.cpu().numpy()
    a = np.asarray(w)
    if a.dtype.kind not in "fiub":
        raise ValueError(f"{name}: expected a numeric array, got dtype {a.dtype}")
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float32 if a.dtype.kind == "f" and a.dtype.itemsize < 4 else np.float64)
    return a


def method_view(weight: Any, method: str, role: str) -> Any:
    """The matrix a pruning method works on (same kind as ``weight``: numpy array or torch tensor).

    magnitude: rows are output units, (out, in) or (out, in*k*k) (entries are items: the view's shape
    changes nothing). singular: the same, except a Linear 'last' layer, which is transposed as the tail
    estimator's view is (hidden units as rows, centred by the median unit), as the reference does.
    node: for Linear the transpose, so a row is one unit of the previous layer (all its outgoing
    weights); for conv the kernels, (out*in, k*k). neuron: the layer's own units as rows, (out, in) or
    its filters (out, in*k*k) (the follow-up's unit pruning).
    """
    check_method(method)
    check_choice("role", role, ROLES)
    shape = tuple(weight.shape)
    if len(shape) == 2:
        return weight.T if _transposed(method, role) else weight
    if len(shape) == 4:
        out, inp, kh, kw = shape
        return weight.reshape(out * inp, kh * kw) if method == "node" else weight.reshape(out, inp * kh * kw)
    raise ValueError(f"weight: expected a 2-D (Linear) or 4-D (Conv2d) weight, got shape {shape}")


def method_centers(method: str) -> tuple[str, ...]:
    """The centrings a method's curves are measured with: neuron is always uncentred."""
    return ("none",) if check_method(method) == "neuron" else CENTERS


def _transposed(method: str, role: str) -> bool:
    """Whether a Linear weight's view is its transpose."""
    return method == "node" or (method == "singular" and role == "last")


def from_view(view: np.ndarray, method: str, shape: tuple[int, ...], role: str) -> np.ndarray:
    """Inverse of ``method_view``: the weight of ``shape`` whose view is ``view``."""
    if len(shape) == 2 and _transposed(method, role):
        return view.T
    return view.reshape(shape)


def check_matrix(w: np.ndarray, method: str) -> None:
    allowed = (1, 2) if method == "magnitude" else (2,)
    if w.ndim not in allowed:
        raise ValueError(f"w: expected a 2-D array (rows = units), got shape {w.shape}; "
                         "use method_view(weight, method, role) for conv weights")
    if w.size == 0:
        raise ValueError(f"w: empty array of shape {w.shape}")


def centre(w: np.ndarray, method: str, center: str | None) -> tuple[np.ndarray, Any]:
    """u = w - c, and c: the scalar median (magnitude) or the per-column median unit (singular, node).

    With ``center`` 'none' (or None) u is ``w`` itself (not a copy) and c is None. ``neuron`` is always
    uncentred with zero fill, whatever ``center`` says: that is the follow-up's definition.
    """
    if check_center(center) == "none" or method == "neuron":
        return w, None
    c = np.median(w) if method == "magnitude" else np.median(w, axis=0, keepdims=True)
    return np.subtract(w, c, dtype=w.dtype), c


def powers(u: np.ndarray, p: float, *, exact: bool) -> np.ndarray:
    """|u|^p as a new array. Squares and absolute values of float32 stay float32 (half the memory
    traffic of the selection; sums are taken in float64 later) unless ``exact`` asks for float64."""
    dtype = np.float64 if exact or p not in (1.0, 2.0) else u.dtype
    if p == 2.0:
        with np.errstate(over="ignore", under="ignore"):  # the caller redoes it in float64 if so
            return np.square(u, dtype=dtype)
    if p == 1.0:
        return np.abs(u, dtype=dtype)
    return np.power(np.abs(u, dtype=np.float64), p)


def _entry_masses(u: np.ndarray, p: float, exact: bool) -> np.ndarray:
    return powers(u.reshape(-1), p, exact=exact)


def _row_masses(u: np.ndarray, p: float, exact: bool) -> np.ndarray:
    return powers(u, p, exact=True).sum(axis=1)


def _singular_masses(u: np.ndarray, p: float, exact: bool) -> np.ndarray:
    # torch's LAPACK path is faster than numpy's for values only; it keeps u's precision.
    s = torch.linalg.svdvals(torch.from_numpy(np.require(u, requirements=["C", "W"]))).numpy()
    return np.power(s.astype(np.float64), p)


_MASSES: Mapping[str, Callable[[np.ndarray, float, bool], np.ndarray]] = MappingProxyType({
    "magnitude": _entry_masses,
    "singular": _singular_masses,
    "node": _row_masses,
    "neuron": _row_masses,
})
check_registry("pruning method (item masses)", _MASSES, PRUNE_METHODS)


def item_masses(u: np.ndarray, method: str, p: float, *, exact: bool = False) -> np.ndarray:
    """One mass per item, a fresh array the caller may reorder: entries, singular values, or rows."""
    return _MASSES[method](u, p, exact)


def select_in_place(a: np.ndarray, kth: list[int]) -> None:
    """Partition ``a`` so that for every k in ``kth`` (sorted, unique, 0 < k < len(a)) a[:k] holds the
    k smallest values.

    Divide and conquer with single-kth partitions: numpy's multi-kth partition is a scalar
    introselect, several times slower than its SIMD single-kth one; log2(len(kth)) passes over the
    data still cost less than one full sort.
    """
    stack = [(0, a.shape[0], 0, len(kth))]
    while stack:
        lo, hi, i, j = stack.pop()
        if i >= j:
            continue
        mid = (i + j) // 2
        k = kth[mid]
        a[lo:hi].partition(k - lo)
        stack.append((lo, k, i, mid))
        stack.append((k + 1, hi, mid + 1, j))


def smallest_sums(masses: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, float]:
    """(S_k for each k in ``counts``, S_n): sums of the k smallest masses, accumulated in float64.

    Reorders ``masses`` in place.
    """
    n = masses.shape[0]
    inner = np.unique(counts[(counts > 0) & (counts < n)])
    select_in_place(masses, inner.tolist())
    segments = np.add.reduceat(masses, np.concatenate(([0], inner)), dtype=np.float64)
    prefix = np.cumsum(segments)  # prefix[i] = S_{inner[i]}; prefix[-1] = S_n
    total = float(prefix[-1])
    sums = np.where(counts >= n, total, 0.0)
    inside = (counts > 0) & (counts < n)
    sums[inside] = prefix[np.searchsorted(inner, counts[inside])]
    return sums, total


def check_total(total: float) -> None:
    if not math.isfinite(total):
        raise ValueError("w: contains NaN or inf")
    if total <= 0.0:
        raise ValueError("w: all items are zero after centring (relative error undefined)")
