"""Model registry: ``fcn`` and ``vgg11`` as in the paper (no biases, no BatchNorm), seeded construction.

The registry must cover exactly ``core.vocab.ARCHS``, checked at import. Weight layers, in order and
with their roles, come from ``core.layers.weight_layers``.
"""
from __future__ import annotations

import math
from types import MappingProxyType
from typing import Callable, Mapping

import torch
from torch import nn

from core.data import build_registry
from core.spec import ModelSpec
from core.vocab import ARCHS, check_choice, check_registry

__all__ = ["FCN", "MeanFieldFCN", "VGG11", "build_model", "model_names", "model_builder", "step_scale",
           "vgg11_channels"]

# 'M' is a 2x2 max-pool. MNIST's 28x28 cannot take five pools, so its variant drops the first (28->14->7->3->1).
VGG11_CONFIGS: Mapping[tuple[int, ...], tuple[int | str, ...]] = MappingProxyType({
    (3, 32, 32): (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    (1, 28, 28): (64, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
})
VGG11_PAPER_WIDTH = 64


class FCN(nn.Module):
    """Flatten, then ``depth`` bias-free Linear layers with ReLU between: in -> width -> ... -> classes."""

    def __init__(self, in_features: int, width: int, depth: int, n_classes: int):
        super().__init__()
        sizes = [in_features] + [width] * (depth - 1) + [n_classes]
        layers: list[nn.Module] = [nn.Flatten()]
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i:
                layers.append(nn.ReLU())
            layers.append(nn.Linear(fan_in, fan_out, bias=False))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MeanFieldFCN(nn.Module):
    """A two-layer net in the mean-field scaling: W2 relu(W1 x) / width, bias-free.

    W1 keeps PyTorch's default init; W2 entries are N(0, 1), so each hidden unit contributes O(1/width)
    and units move at a width-independent rate under SGD steps of eta * width (``step_scale``).
    """

    def __init__(self, in_features: int, width: int, n_classes: int):
        super().__init__()
        self.width = width
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, width, bias=False), nn.ReLU(),
                                 nn.Linear(width, n_classes, bias=False))
        nn.init.normal_(self.net[3].weight, 0.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) / self.width


def step_scale(spec: ModelSpec) -> float:
    """The factor the optimizer's step takes over the spec's eta: the width under mean_field, else 1.
    eta itself stays derived in one place (``TrialSpec.eta``); iterate noise uses that eta, never this."""
    return float(spec.resolved_width) if spec.parametrization == "mean_field" else 1.0


def vgg11_channels(config: tuple[int | str, ...], width: int) -> tuple[int | str, ...]:
    """Scale the paper's channel counts by width/64 (integer, at least 1); pools stay."""
    return tuple(c if c == "M" else max(1, c * width // VGG11_PAPER_WIDTH) for c in config)


class VGG11(nn.Module):
    """Eight bias-free 3x3 convs (padding 1) with ReLU and max-pools, then one bias-free Linear.

    Conv weights are drawn N(0, 2 / (9 * out_channels)) as in the reference; the Linear keeps PyTorch's default.
    """

    def __init__(self, in_shape: tuple[int, ...], width: int, n_classes: int):
        super().__init__()
        config = VGG11_CONFIGS.get(tuple(in_shape))
        if config is None:
            allowed = ", ".join(str(s) for s in VGG11_CONFIGS)
            raise ValueError(f"model.arch: vgg11 takes inputs of shape {allowed}, got {tuple(in_shape)}")
        layers: list[nn.Module] = []
        channels = in_shape[0]
        for item in vgg11_channels(config, width):
            if item == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            conv = nn.Conv2d(channels, item, kernel_size=3, padding=1, bias=False)
            nn.init.normal_(conv.weight, 0.0, math.sqrt(2.0 / (9 * item)))
            layers += [conv, nn.ReLU()]
            channels = item
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, n_classes, bias=False)  # the pools leave 1x1 spatial

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def _fcn(spec: ModelSpec, in_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    if spec.parametrization == "mean_field":   # the spec allows it at depth 2 only
        return MeanFieldFCN(math.prod(in_shape), spec.resolved_width, n_classes)
    return FCN(math.prod(in_shape), spec.resolved_width, spec.resolved_depth, n_classes)


def _vgg11(spec: ModelSpec, in_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    return VGG11(in_shape, spec.resolved_width, n_classes)


Builder = Callable[[ModelSpec, tuple[int, ...], int], nn.Module]
_BUILDERS: Mapping[str, Builder] = build_registry((
    ("fcn", _fcn),
    ("vgg11", _vgg11),
), "model")
check_registry("model", _BUILDERS, ARCHS)


def model_names() -> tuple[str, ...]:
    return tuple(_BUILDERS)


def model_builder(name: str) -> Builder:
    return _BUILDERS[check_choice("model.arch", name, ARCHS)]


def build_model(spec: ModelSpec, in_shape: tuple[int, ...], n_classes: int, *, seed: int) -> nn.Module:
    """The model of ``spec`` on CPU, initialized from ``seed`` alone; the global RNG state is left as it was."""
    in_shape = tuple(in_shape)
    if not in_shape or not all(isinstance(d, int) and d >= 1 for d in in_shape):
        raise ValueError(f"in_shape: must be a non-empty tuple of positive integers, got {in_shape!r}")
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes: must be an integer >= 2, got {n_classes!r}")
    builder = model_builder(spec.arch)
    # PyTorch's default init draws from the global generator; fork it so the caller's stream is untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(spec, in_shape, n_classes)
