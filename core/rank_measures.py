"""Cheap per-layer compressibility measures beside the tail index (docs/science.md, "Other
compressibility measures"): stable rank, effective rank and the PQ-index.

Pure functions over one weight (numpy or torch): both ranks come from one SVD of the uncentred
weight, conv weights seen as (out, in*k*k); the PQ-index reads the flattened raw weight.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RankMeasures:
    """``stable_rank`` = ||W||_F^2 / ||W||_2^2; ``effective_rank`` = exp(H(p)), p_i = s_i / sum s
    (Roy and Vetterli); ``pq_index`` = 1 - d^(1/q - 1/p) ||w||_p / ||w||_q with p = 1, q = 2 (0 for a
    flat vector, towards 1 for a sparse one). NaN for an all-zero weight."""

    stable_rank: float
    effective_rank: float
    pq_index: float


def _matrix(weight: Any) -> np.ndarray:
    if hasattr(weight, "detach"):
        weight = weight.detach().cpu().numpy()
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim not in (2, 4):
        raise ValueError(f"weight: expected a 2-D (Linear) or 4-D (conv) weight, got shape {w.shape}")
    if w.size == 0:
        raise ValueError(f"weight: empty array of shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("weight: contains NaN or inf")
    return w.reshape(w.shape[0], -1)       # a conv weight: one row per filter


def pq_index(weight: Any, p: float = 1.0, q: float = 2.0) -> float:
    if not 0 < p < q:
        raise ValueError(f"p, q: need 0 < p < q, got p={p!r}, q={q!r}")
    w = np.abs(_matrix(weight)).reshape(-1)
    norm_q = float(np.linalg.norm(w, ord=q)) if q != 2 else float(math.sqrt(np.dot(w, w)))
    if norm_q == 0:
        return math.nan
    norm_p = float(np.sum(w ** p) ** (1.0 / p))
    return 1.0 - w.size ** (1.0 / q - 1.0 / p) * norm_p / norm_q


def rank_measures(weight: Any) -> RankMeasures:
    w = _matrix(weight)
    s = np.linalg.svd(w, compute_uv=False)
    total = float(s.sum())
    if total == 0:
        return RankMeasures(math.nan, math.nan, math.nan)
    p = s[s > 0] / total
    return RankMeasures(stable_rank=float(np.sum(s ** 2) / s[0] ** 2),
                        effective_rank=float(math.exp(-np.sum(p * np.log(p)))),
                        pq_index=pq_index(w))
