"""Apply a pruning method to a torch model: a pruned deep copy plus its parameter accounting.

Each layer is pruned in the same ``method_view`` the curves use, so a layer's pruned error equals
``error_curve`` at the same ratio (p = 2: node order is by row l2 norm, as in the reference).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from core.compress_kernels import (
    centre,
    check_method,
    from_view,
    method_centers,
    method_view,
    removed_count,
)
from core.layers import WeightLayer, weight_layers
from core.vocab import PRUNE_METHODS, ROLES, SCOPES, check_center, check_choice, check_registry


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
        check_choice("role", self.role, ROLES)
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
    center: str                # 'median' | 'none' (None is read as 'none'); always 'none' for neuron
    prune_last: bool
    layers: tuple[LayerPruning, ...]

    def __post_init__(self) -> None:
        check_method(self.method)
        object.__setattr__(self, "center", check_center(self.center))
        check_choice("scope", self.scope, SCOPES)
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


@dataclass(frozen=True)
class _Accounting:
    """How one method counts the items of a (rows, cols) view, and what the pruned layer stores."""

    n_items: Callable[[tuple[int, int]], int]
    kept_per_item: Callable[[tuple[int, int]], int]


_ACCOUNTING: Mapping[str, _Accounting] = MappingProxyType({
    "magnitude": _Accounting(lambda view: view[0] * view[1], lambda view: 1),
    "singular": _Accounting(min, lambda view: view[0] + view[1]),   # rank k costs k(m + n)
    "node": _Accounting(lambda view: view[0], lambda view: view[1]),
    "neuron": _Accounting(lambda view: view[0], lambda view: view[1]),
})
check_registry("pruning method (accounting)", _ACCOUNTING, PRUNE_METHODS)


def _n_items(view_shape: tuple[int, int], method: str) -> int:
    return _ACCOUNTING[method].n_items(view_shape)


def _kept(view_shape: tuple[int, int], method: str, n_items: int, removed: int) -> int:
    return (n_items - removed) * _ACCOUNTING[method].kept_per_item(view_shape)


def _numpy_view(layer: WeightLayer, method: str) -> np.ndarray:
    weight = layer.weight.detach().cpu().numpy().astype(np.float64)
    if not np.isfinite(weight).all():
        raise ValueError(f"model: weight {layer.name!r} contains NaN or inf")
    return np.ascontiguousarray(method_view(weight, method, layer.role))


def _write(layer: WeightLayer, method: str, view: np.ndarray) -> None:
    new = np.ascontiguousarray(from_view(view, method, layer.shape, layer.role))
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(new).to(dtype=layer.weight.dtype, device=layer.weight.device))


def _smallest(values: np.ndarray, k: int) -> np.ndarray:
    return np.argpartition(values, k - 1)[:k]


class _LayerPlan:
    """One target layer's centred view and item ranking (or SVD), computed once for every ratio."""

    def __init__(self, layer: WeightLayer, method: str, center: str | None):
        self.layer, self.method = layer, method
        self.view = _numpy_view(layer, method)
        u, c = centre(self.view, method, center)
        self.fill = 0.0 if c is None else c
        self.n_items = _n_items(self.view.shape, method)
        self.centred = u
        self._svd: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        if method == "magnitude":
            self.key = np.abs(u).reshape(-1)
        elif method in ("node", "neuron"):
            self.key = np.square(u).sum(axis=1)  # l2 row norms, squared: same order

    @property
    def svd(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._svd is None:  # on first use: ratio 0 never pays for it
            self._svd = np.linalg.svd(self.centred, full_matrices=False)  # s descending: keep the head
        return self._svd

    def write_pruned(self, target: WeightLayer, k: int) -> None:
        """Write this layer with its k smallest items taken out into ``target`` (the copy's layer)."""
        if self.method == "singular":
            left, s, right = self.svd
            keep = self.n_items - k
            new = (left[:, :keep] * s[:keep]) @ right[:keep] + self.fill
        else:
            new = self.view.copy()
            self.fill_items(new, _smallest(self.key, k))
        _write(target, self.method, new)

    def fill_items(self, new: np.ndarray, items: np.ndarray) -> None:
        if self.method == "magnitude":
            new.reshape(-1)[items] = self.fill
        else:
            new[items] = self.fill


def _removed_layerwise(plans: list[_LayerPlan], ratio: float) -> list[np.ndarray | int]:
    """Per layer, how many items to remove (the smallest of each layer)."""
    return [int(removed_count(ratio, plan.n_items)) for plan in plans]


def _removed_global(plans: list[_LayerPlan], keys: np.ndarray, ratio: float) -> list[np.ndarray | int]:
    """Per layer, the entries under one threshold on |w - median_layer| over all target layers."""
    starts = np.concatenate(([0], np.cumsum([plan.n_items for plan in plans])))
    k = int(removed_count(ratio, keys.shape[0]))
    chosen = np.sort(_smallest(keys, k)) if k else np.zeros(0, dtype=np.int64)
    bounds = np.searchsorted(chosen, starts)
    return [chosen[bounds[i]:bounds[i + 1]] - starts[i] for i in range(len(plans))]


def _apply(model: nn.Module, plans: list[_LayerPlan], removals: list[np.ndarray | int]) -> tuple[nn.Module, dict[int, int]]:
    pruned = copy.deepcopy(model)
    layers = weight_layers(pruned)
    removed: dict[int, int] = {}
    for plan, removal in zip(plans, removals):
        target = layers[plan.layer.index]
        if isinstance(removal, np.ndarray):  # global scope: explicit entries
            if removal.size:
                new = plan.view.copy()
                plan.fill_items(new, removal)
                _write(target, plan.method, new)
            removed[plan.layer.index] = int(removal.size)
        else:
            if removal:  # ratio 0 leaves the weights bit-identical
                plan.write_pruned(target, removal)
            removed[plan.layer.index] = removal
    return pruned, removed


def _accounts(model: nn.Module, method: str, removed: dict[int, int]) -> tuple[LayerPruning, ...]:
    accounts = []
    for layer in weight_layers(model):
        view_shape = tuple(method_view(layer.weight, method, layer.role).shape)
        n_items = _n_items(view_shape, method)
        applied = layer.index in removed
        k = removed.get(layer.index, 0)
        kept = _kept(view_shape, method, n_items, k) if applied else math.prod(layer.shape)
        accounts.append(LayerPruning(layer.index, layer.name, layer.role, layer.shape, applied,
                                     n_items, k, math.prod(layer.shape), kept))
    return tuple(accounts)


def prune_models(model: nn.Module, method: str, ratios: Sequence[float], *, scope: str = "layer",
                 center: str | None = "median", prune_last: bool = False) -> Iterator[PrunedModel]:
    """``prune_model`` at each ratio in turn (a fresh copy each), sharing each layer's ranking or SVD.

    Arguments are checked and the per-layer sorts/SVDs done at the call; the copies are made lazily.
    """
    check_method(method)
    center = check_center(center)
    if center not in method_centers(method):   # neuron is uncentred whatever was asked: record what was done
        center = method_centers(method)[0]
    if not isinstance(ratios, (Sequence, np.ndarray)):
        raise ValueError(f"ratios: must be a sequence of numbers in [0, 1], got {ratios!r}")
    ratios = [_check_ratio(ratio) for ratio in ratios]
    check_choice("scope", scope, SCOPES)
    if scope == "global" and method != "magnitude":
        raise ValueError(f"scope: 'global' applies to method 'magnitude' only, got method {method!r}")
    if not isinstance(prune_last, bool):
        raise ValueError(f"prune_last: must be True or False, got {prune_last!r}")
    layers = weight_layers(model)
    if not layers:
        raise ValueError("model: has no Linear or Conv2d layer to prune")
    plans = [_LayerPlan(layer, method, center) for layer in layers if prune_last or layer.role != "last"]
    keys = np.concatenate([plan.key for plan in plans]) if scope == "global" and plans else np.zeros(0)

    def each() -> Iterator[PrunedModel]:
        for ratio in ratios:
            removals = _removed_global(plans, keys, ratio) if scope == "global" else _removed_layerwise(plans, ratio)
            pruned, removed = _apply(model, plans, removals)
            yield PrunedModel(pruned, method, ratio, scope, center, prune_last, _accounts(pruned, method, removed))

    return each()


def prune_model(model: nn.Module, method: str, ratio: float, *, scope: str = "layer",
                center: str | None = "median", prune_last: bool = False) -> PrunedModel:
    """A deep copy of ``model`` with the fraction ``ratio`` of items removed from each weight layer.

    Removed items are set to the centre (the reference's median fill: scalar median for magnitude,
    median unit for node and singular) or zeroed with ``center='none'`` (or None). ``scope="global"`` (magnitude
    only) removes the fraction ``ratio`` of all target entries under one threshold. The last layer is
    pruned only with ``prune_last=True``; otherwise it stays dense and is accounted as such.
    """
    return next(prune_models(model, method, [ratio], scope=scope, center=center, prune_last=prune_last))
