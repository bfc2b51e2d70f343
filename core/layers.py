"""The ordered weight layers of any torch model, each with its role for tails and pruning."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.vocab import ROLES

__all__ = ["ROLES", "WeightLayer", "role_of", "weight_layers"]


@dataclass(frozen=True)
class WeightLayer:
    """One Linear/Conv2d weight: its index among weight layers, its parameter name and role."""

    index: int
    name: str            # state_dict key, e.g. 'net.0.weight'
    role: str            # first | hidden | last
    weight: torch.Tensor  # the live parameter (not a copy)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.weight.shape)


def role_of(index: int, count: int) -> str:
    if index == count - 1:
        return "last"
    return "first" if index == 0 else "hidden"


def weight_layers(model: nn.Module) -> list[WeightLayer]:
    """Linear and Conv2d weights in module order; the last one has role 'last'.

    A one-layer model's only layer is 'last' (its rows are output units, so the transposed view applies).
    """
    found = [(f"{name}.weight" if name else "weight", m.weight) for name, m in model.named_modules()
             if isinstance(m, (nn.Linear, nn.Conv2d))]
    return [WeightLayer(i, name, role_of(i, len(found)), w) for i, (name, w) in enumerate(found)]
