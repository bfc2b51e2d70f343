"""Post-training measurements of one weight set, as flat metric dicts keyed by core.keys.

Pure functions of weights (and, for pruned accuracy, a model and a test split); no I/O.
"""
from __future__ import annotations

import math
from types import MappingProxyType
from typing import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from core import keys
from core.compress import curve_summary, method_centers, method_view, prune_models
from core.evaluate import evaluate
from core.layers import WeightLayer
from core.spec import CompressSpec
from core.tails import layer_alpha_variants
from core.rank_measures import rank_measures
from core.vocab import AGGREGATES, LAYER_MEASURES, ROLES, check_registry

_AGGREGATORS: Mapping[str, Callable[[np.ndarray], float]] = MappingProxyType({
    "median": np.median, "mean": np.mean, "min": np.min,
})
check_registry("aggregate", _AGGREGATORS, AGGREGATES)


def _aggregate(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    return {name: float(aggregator(arr)) for name, aggregator in _AGGREGATORS.items()}


def tail_metrics(layers: Sequence[WeightLayer], wset: str, seed: int) -> dict[str, float]:
    """alpha and alpha_raw per layer and variant, aggregates over layers and per role."""
    out: dict[str, float] = {}
    per_variant: dict[tuple[str, bool], list[tuple[str, float]]] = {}
    for layer in layers:
        for variant, estimate in layer_alpha_variants(layer.weight, layer.role, seed=seed).items():
            est = estimate()
            for is_raw, value in ((False, est.alpha), (True, est.alpha_raw)):
                out[keys.alpha_key(wset, variant, keys.layer(layer.index), raw=is_raw)] = value
                per_variant.setdefault((variant, is_raw), []).append((layer.role, value))
    for (variant, is_raw), pairs in per_variant.items():
        finite = [v for _, v in pairs if math.isfinite(v)]
        if finite:
            for agg, value in _aggregate(finite).items():
                out[keys.alpha_key(wset, variant, agg, raw=is_raw)] = value
        for role in ROLES:
            of_role = [v for r, v in pairs if r == role and math.isfinite(v)]
            if of_role:
                out[keys.alpha_key(wset, variant, keys.role(role), raw=is_raw)] = float(np.median(of_role))
    return out


def curve_metrics(layers: Sequence[WeightLayer], wset: str, spec: CompressSpec) -> dict[str, float]:
    """Error curves and prunable fractions per layer, method and centring (one sort/SVD per curve)."""
    out: dict[str, float] = {}
    for layer in layers:
        for method in spec.methods:
            view = method_view(layer.weight, method, layer.role)
            for center in method_centers(method):
                summary = curve_summary(view, method, spec.curve_ratios, spec.eps, p=spec.p, center=center)
                for ratio, err in zip(spec.curve_ratios, summary.errors):
                    out[keys.error_key(wset, method, center, ratio, layer.index)] = float(err)
                for eps, frac in zip(spec.eps, summary.prunable):
                    out[keys.prunable_key(wset, method, center, eps, layer.index)] = float(frac)
    return out


def pruned_accuracy_metrics(model: nn.Module, x_test: torch.Tensor, y_test: torch.Tensor, wset: str,
                            spec: CompressSpec, eval_batch_size: int) -> dict[str, float]:
    """Test loss/accuracy of the pruned model for each method x ratio, plus parameter accounting."""
    out: dict[str, float] = {}
    for method in spec.methods:
        pruned_models = prune_models(model, method, spec.ratios, scope=spec.scope, center=spec.center,
                                     prune_last=spec.prune_last)
        for ratio, pruned in zip(spec.ratios, pruned_models):
            ev = evaluate(pruned.model, x_test, y_test, eval_batch_size)
            out[keys.pruned_key("acc", wset, method, ratio)] = ev.acc
            out[keys.pruned_key("loss", wset, method, ratio)] = ev.loss
            out[keys.remaining_key(method, ratio)] = float(pruned.remaining)
            if method == "singular":
                out[keys.sv_removed_key(ratio)] = float(pruned.sv_removed)
    return out


def rank_metrics(layers: Sequence[WeightLayer], wset: str) -> dict[str, float]:
    """Stable rank, effective rank (one SVD of each uncentred weight) and PQ-index per layer."""
    out: dict[str, float] = {}
    for layer in layers:
        measured = rank_measures(layer.weight)
        for measure in LAYER_MEASURES:
            out[keys.layer_measure_key(measure, wset, layer.index)] = getattr(measured, measure)
    return out
