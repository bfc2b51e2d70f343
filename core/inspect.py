"""Tail index and compressibility of every weight tensor of a model (`tailsweep inspect`). Pure: no I/O.

Weight tensors are the 2-D (Linear) and 4-D (conv) floating-point tensors, in the given order: the first
has role 'first', the last 'last', the rest 'hidden'. Per tensor: alpha (block_sum multivariate on the
layer's samples-as-rows view, block_sum univariate on its entries, Hill on its entries; capped and raw,
computed as core.measure does for a trial) and the prunable fraction at eps for each pruning method.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from core import compress
from core.layers import role_of
from core.result import json_number
from core.tails import layer_alpha_variants
from core.vocab import ALPHA_VARIANTS, PRUNE_METHODS, ROLES, check_choice

# The report's alpha columns (multivariate, univariate, Hill): the trial's variants without 'norms'.
VARIANTS = tuple(variant for variant in ALPHA_VARIANTS if variant != "norms")
DEFAULT_EPS = 0.1


@dataclass(frozen=True)
class AlphaPair:
    alpha: float      # capped at 2
    alpha_raw: float  # uncapped; inf when sums do not grow at all

    def __post_init__(self) -> None:
        if math.isnan(self.alpha) or math.isnan(self.alpha_raw) or self.alpha > self.alpha_raw:
            raise ValueError(f"alpha: need alpha <= alpha_raw, no NaN (got {self.alpha}, {self.alpha_raw})")


@dataclass(frozen=True)
class LayerInspection:
    """One weight tensor. ``None`` marks a value that could not be computed; ``notes`` say why."""

    index: int
    name: str
    role: str
    shape: tuple[int, ...]
    dtype: str
    alphas: Mapping[str, AlphaPair | None]  # variant -> estimate
    prunable: Mapping[str, float | None]    # pruning method -> fraction at eps
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_choice("role", self.role, ROLES)
        if tuple(self.alphas) != VARIANTS:
            raise ValueError(f"alphas: expected variants {', '.join(VARIANTS)}, got {', '.join(self.alphas)}")
        if tuple(self.prunable) != PRUNE_METHODS:
            raise ValueError(f"prunable: expected methods {', '.join(PRUNE_METHODS)}")
        for method, fraction in self.prunable.items():
            if fraction is not None and not 0.0 <= fraction <= 1.0:
                raise ValueError(f"prunable.{method}: {fraction} is not a fraction in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index, "name": self.name, "role": self.role, "shape": list(self.shape),
            "dtype": self.dtype,
            "alpha": {v: None if a is None else {"alpha": json_number(a.alpha),
                                                 "alpha_raw": json_number(a.alpha_raw)}
                      for v, a in self.alphas.items()},
            "prunable": dict(self.prunable),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class InspectReport:
    layers: tuple[LayerInspection, ...]
    skipped: tuple[str, ...]  # tensors that are not 2-D/4-D floating-point weights (biases, buffers)
    eps: float
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {"eps": self.eps, "seed": self.seed, "layers": [layer.to_dict() for layer in self.layers],
                "skipped": list(self.skipped)}


def weight_tensors(tensors: Mapping[str, Any]) -> list[tuple[str, torch.Tensor]]:
    """The 2-D and 4-D floating-point tensors, in the mapping's order."""
    return [(name, t) for name, t in tensors.items()
            if isinstance(t, torch.Tensor) and t.dim() in (2, 4) and t.is_floating_point()]


def _alphas(w: torch.Tensor, role: str, seed: int, notes: list[str]) -> dict[str, AlphaPair | None]:
    variants = layer_alpha_variants(w, role, seed=seed)   # the trial's own definitions
    calls = {name: variants[name] for name in VARIANTS}
    out: dict[str, AlphaPair | None] = {}
    for variant, call in calls.items():
        try:
            est = call()
        except ValueError as err:  # e.g. fewer than 4 rows: say so, keep the other columns
            out[variant] = None
            notes.append(f"alpha {variant}: {err}")
            continue
        out[variant] = AlphaPair(est.alpha, est.alpha_raw)
    return out


def _prunable(w: torch.Tensor, role: str, eps: float, notes: list[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for method in PRUNE_METHODS:
        try:
            out[method] = float(compress.prunable_fraction(compress.method_view(w, method, role), method, eps))
        except ValueError as err:  # e.g. an all-zero layer has no relative error
            out[method] = None
            notes.append(f"prunable {method}: {err}")
    return out


def inspect_layer(index: int, name: str, weight: torch.Tensor, role: str, *, eps: float = DEFAULT_EPS,
                  seed: int = 0) -> LayerInspection:
    w = weight.detach()
    notes: list[str] = []
    if bool(torch.isfinite(w).all()):
        alphas, prunable = _alphas(w, role, seed, notes), _prunable(w, role, eps, notes)
    else:
        alphas = {v: None for v in VARIANTS}
        prunable = {m: None for m in PRUNE_METHODS}
        notes.append("weights contain NaN or inf (a diverged run?): nothing estimated")
    return LayerInspection(index, name, role, tuple(w.shape), str(w.dtype).removeprefix("torch."),
                           alphas, prunable, tuple(notes))


def inspect_weights(tensors: Mapping[str, Any], *, eps: float = DEFAULT_EPS, seed: int = 0) -> InspectReport:
    """Inspect every weight tensor of a state dict (name -> tensor, in model order)."""
    if not (isinstance(eps, (int, float)) and 0 < eps < 1):
        raise ValueError(f"eps: expected a number in (0, 1), got {eps!r}")
    weights = weight_tensors(tensors)
    chosen = {name for name, _ in weights}
    layers = tuple(inspect_layer(i, name, w, role_of(i, len(weights)), eps=eps, seed=seed)
                   for i, (name, w) in enumerate(weights))
    return InspectReport(layers, tuple(n for n in tensors if n not in chosen), float(eps), seed)
