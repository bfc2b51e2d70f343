"""Apply a pruning method to a torch model: a pruned deep copy plus its parameter accounting.

Each layer is pruned in the same ``method_view`` the curves use, so a layer's pruned error equals
``error_curve`` at the same ratio (p = 2: node order is by row l2 norm, as in the reference).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from core.compress_kernels import (
    centre,
    check_center,
    check_method,
    from_view,
    method_view,
    removed_count,
)
from core.layers import ROLES, WeightLayer, weight_layers

SCOPES = ("layer", "global")


@dataclass(frozen=True)
class LayerPruning:
    """What was done to one weight layer, and what the pruned layer costs.

    ``total`` is the dense parameter count; ``kept`` what the pruned layer stores: entries left
    (magnitude), rows left x row length (node), or rank x (m + n) for a pruned singular layer, which
    can exceed ``total`` (then ``pruned`` is negative). A layer left alone (``applied=False``: the last
    layer without ``prune_last``) keeps its dense count.
    """

    index: int
    name: str
    role: str
    shape: tuple[int, ...]
    applied: bool
    n_items: int          # entries, node-view rows, or singular values
    removed_items: int
    total: int
    kept: int

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role: unknown value {self.role!r} (allowed: {', '.join(ROLES)})")
        if not 0 <= self.removed_items <= self.n_items or self.n_items <= 0:
            raise ValueError(f"removed_items: must lie in [0, n_items={self.n_items}], got {self.removed_items}")
        if self.total != math.prod(self.shape) or self.kept < 0:
            raise ValueError(f"total/kept: inconsistent with shape {self.shape}: total={self.total}, kept={self.kept}")
        if not self.applied and (self.removed_items or self.kept != self.total):
            raise ValueError(f"layer {self.name}: not applied but accounted as pruned")

    @property
    def pruned(self) -> int:
        return self.total - self.kept

    @property
    def remaining(self) -> float:
        return self.kept / self.total

    @property
    def removed_fraction(self) -> float:
        return self.removed_items / self.n_items


@dataclass(frozen=True)
class PrunedModel:
    """A pruned deep copy of a model and the accounting of its weight layers (Linear/Conv2d weights)."""

    model: nn.Module
    method: str
    ratio: float
    scope: str
    center: str | None
    prune_last: bool
    layers: tuple[LayerPruning, ...]

    def __post_init__(self) -> None:
        check_method(self.method)
        check_center(self.center)
        if self.scope not in SCOPES:
            raise ValueError(f"scope: unknown value {self.scope!r} (allowed: {', '.join(SCOPES)})")
        if not self.layers:
            raise ValueError("layers: a pruned model needs at least one weight layer")

    @property
    def total(self) -> int:
        return sum(layer.total for layer in self.layers)

    @property
    def kept(self) -> int:
        return sum(layer.kept for layer in self.layers)

    @property
    def pruned(self) -> int:
        return self.total - self.kept

    @property
    def remaining(self) -> float:
        """Kept over dense parameters; above 1 when low-rank factors cost more than the dense layers."""
        return self.kept / self.total

    @property
    def removed_fraction(self) -> float:
        """Items removed over items in the pruned layers (0 when no layer was pruned)."""
        items = sum(layer.n_items for layer in self.layers if layer.applied)
        return sum(layer.removed_items for layer in self.layers) / items if items else 0.0

    @property
    def sv_removed(self) -> float | None:
        """Singular value pruning: the fraction of singular values removed; None for other methods."""
        return self.removed_fraction if self.method == "singular" else None


def _check_ratio(ratio: Any) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.integer, np.floating)) \
            or not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio: must be a number in [0, 1], got {ratio!r}")
    return float(ratio)


def _n_items(view_shape: tuple[int, int], method: str) -> int:
    if method == "magnitude":
        return view_shape[0] * view_shape[1]
    return view_shape[0] if method == "node" else min(view_shape)


def _kept(view_shape: tuple[int, int], method: str, n_items: int, removed: int) -> int:
    if method == "magnitude":
        return n_items - removed
    if method == "node":
        return (n_items - removed) * view_shape[1]
    return (n_items - removed) * (view_shape[0] + view_shape[1])


def _numpy_view(layer: WeightLayer, method: str) -> np.ndarray:
    weight = layer.weight.detach().cpu().numpy().astype(np.float64)
    if not np.isfinite(weight).all():
        raise ValueError(f"model: weight {layer.name!r} contains NaN or inf")
    return np.ascontiguousarray(method_view(weight, method, layer.role))


def _write(layer: WeightLayer, method: str, view: np.ndarray) -> None:
    new = np.ascontiguousarray(from_view(view, method, layer.shape))
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(new).to(dtype=layer.weight.dtype, device=layer.weight.device))


def _smallest(values: np.ndarray, k: int) -> np.ndarray:
    return np.argpartition(values, k - 1)[:k]


def _pruned_view(view: np.ndarray, method: str, removed: int, center: str | None) -> np.ndarray:
    """The view with its ``removed`` smallest items taken out (set to the centre, or zeroed)."""
    u, c = centre(view, method, center)
    fill = 0.0 if c is None else c
    new = view.copy()
    if method == "magnitude":
        new.reshape(-1)[_smallest(np.abs(u).reshape(-1), removed)] = fill
    elif method == "node":
        new[_smallest(np.square(u).sum(axis=1), removed)] = fill
    else:
        left, s, right = np.linalg.svd(u, full_matrices=False)  # s descending: keep the head
        keep = s.shape[0] - removed
        new = (left[:, :keep] * s[:keep]) @ right[:keep] + fill
    return new


def _prune_layerwise(targets: list[WeightLayer], method: str, ratio: float, center: str | None) -> dict[int, int]:
    removed: dict[int, int] = {}
    for layer in targets:
        view = _numpy_view(layer, method)
        k = int(removed_count(ratio, _n_items(view.shape, method)))
        if k:  # ratio 0 leaves the weights bit-identical
            _write(layer, method, _pruned_view(view, method, k, center))
        removed[layer.index] = k
    return removed


def _prune_global_magnitude(targets: list[WeightLayer], ratio: float, center: str | None) -> dict[int, int]:
    """One threshold on |w - median_layer| over all target layers (each centred by its own median)."""
    views = [_numpy_view(layer, "magnitude") for layer in targets]
    centred = [centre(view, "magnitude", center) for view in views]
    sizes = [view.size for view in views]
    starts = np.concatenate(([0], np.cumsum(sizes)))
    k = int(removed_count(ratio, int(starts[-1])))
    chosen = np.sort(_smallest(np.concatenate([np.abs(u).reshape(-1) for u, _ in centred]), k)) if k else []
    removed: dict[int, int] = {}
    for i, (layer, view, (_, c)) in enumerate(zip(targets, views, centred)):
        lo, hi = np.searchsorted(chosen, [starts[i], starts[i + 1]])
        mine = np.asarray(chosen[lo:hi], dtype=np.int64) - starts[i]
        if mine.size:
            new = view.copy()
            new.reshape(-1)[mine] = 0.0 if c is None else c
            _write(layer, "magnitude", new)
        removed[layer.index] = int(mine.size)
    return removed


def prune_model(model: nn.Module, method: str, ratio: float, *, scope: str = "layer",
                center: str | None = "median", prune_last: bool = False) -> PrunedModel:
    """A deep copy of ``model`` with the fraction ``ratio`` of items removed from each weight layer.

    Removed items are set to the centre (the reference's median fill: scalar median for magnitude,
    median unit for node and singular) or zeroed with ``center=None``. ``scope="global"`` (magnitude
    only) removes the fraction ``ratio`` of all target entries under one threshold. The last layer is
    pruned only with ``prune_last=True``; otherwise it stays dense and is accounted as such.
    """
    check_method(method)
    check_center(center)
    ratio = _check_ratio(ratio)
    if scope not in SCOPES:
        raise ValueError(f"scope: unknown value {scope!r} (allowed: {', '.join(SCOPES)})")
    if scope == "global" and method != "magnitude":
        raise ValueError(f"scope: 'global' applies to method 'magnitude' only, got method {method!r}")
    if not isinstance(prune_last, bool):
        raise ValueError(f"prune_last: must be True or False, got {prune_last!r}")
    pruned = copy.deepcopy(model)
    layers = weight_layers(pruned)
    if not layers:
        raise ValueError("model: has no Linear or Conv2d layer to prune")
    targets = [layer for layer in layers if prune_last or layer.role != "last"]
    if scope == "global":
        removed = _prune_global_magnitude(targets, ratio, center)
    else:
        removed = _prune_layerwise(targets, method, ratio, center)
    accounts = []
    for layer in layers:
        view_shape = tuple(method_view(layer.weight, method, layer.role).shape)
        n_items = _n_items(view_shape, method)
        applied = layer.index in removed
        k = removed.get(layer.index, 0)
        kept = _kept(view_shape, method, n_items, k) if applied else math.prod(layer.shape)
        accounts.append(LayerPruning(layer.index, layer.name, layer.role, layer.shape, applied,
                                     n_items, k, math.prod(layer.shape), kept))
    return PrunedModel(pruned, method, ratio, scope, center, prune_last, tuple(accounts))
