"""Stratified index selection: pure numpy, seeded, no I/O."""
from __future__ import annotations

import numpy as np


def class_quota(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """How many of each class a stratified sample of ``n`` takes (largest-remainder rounding).

    Ties in the remainder are broken at random (seeded) so rounding favours no fixed class.
    """
    counts = np.bincount(labels)
    if not 0 <= n <= labels.size:
        raise ValueError(f"cannot take {n} of {labels.size} examples")
    exact = counts * (n / labels.size)
    quota = np.floor(exact).astype(np.int64)
    short = n - int(quota.sum())
    tie_break = rng.permutation(counts.size)
    order = np.lexsort((tie_break, -(exact - quota)))
    quota[order[:short]] += 1
    return quota


def stratified_split(labels: np.ndarray, n_first: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices of ``labels`` into a stratified part of size ``n_first`` and the rest.

    Both parts come back shuffled (the source may be sorted by label); the same seed gives the same split.
    """
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    quota = class_quota(labels, n_first, rng)
    first, rest = [], []
    for cls, k in enumerate(quota):
        members = rng.permutation(np.flatnonzero(labels == cls))
        first.append(members[:k])
        rest.append(members[k:])
    return rng.permutation(np.concatenate(first)), rng.permutation(np.concatenate(rest))


def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of a stratified, shuffled subset of size ``n``."""
    return stratified_split(labels, n, seed)[0]
