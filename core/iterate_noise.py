"""Heavy-tailed iterate noise: ``W += s * N`` after every SGD step (docs/science.md, "The follow-up").

``s = sigma * eta^(1/alpha)`` with the spec's eta (``noise_lr_rescale``; never a width-scaled rate),
else ``s = sigma``. ``N`` is drawn fresh each step from the trial's own noise generator:
    row       one unit-scale SaS scalar per output unit (a Linear row; a conv kernel, or filter),
              broadcast over that unit's weights
    entry     i.i.d. unit-scale SaS per entry
    elliptic  per unit, G * sqrt(A): G ~ N(0, 2I) over the unit's weights and A the positive
              (alpha/2)-stable scalar, so each entry is unit-scale SaS (the follow-up's code draws
              G ~ N(0, I), marginal scale 1/sqrt(2))
The generator is seeded from the trial seed on a stream of its own, so a trial with noise sees the same
init and batches as one without; its state is checkpointed, so a resumed trial is bit-for-bit.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from core.layers import WeightLayer, weight_layers
from core.loop import Callback, TrainLoop
from core.noise import sample_positive_stable, sample_sas
from core.spec import TrainSpec
from core.vocab import NOISE_CONV_FILTER, NOISE_ELLIPTIC, NOISE_ENTRY, NOISE_EXCLUDE_FIRST_CONV, \
    NOISE_EXCLUDE_LAST, NOISE_ROW

# A stream id of the noise generator's own (SeedSequence spawn key), apart from init and batch draws.
NOISE_STREAM = 0x4E01


def noise_seed(seed: int) -> int:
    return int(np.random.SeedSequence([seed, NOISE_STREAM]).generate_state(1, dtype=np.uint64)[0] >> 1)


def noise_step_scale(train: TrainSpec, eta: float) -> float:
    return train.noise_scale * eta ** (1.0 / train.noise_alpha) if train.noise_lr_rescale else train.noise_scale


def noisy_layers(model: nn.Module, exclude: Sequence[str]) -> list[WeightLayer]:
    """The weight layers that get noise: all but the last and/or the first conv, as ``exclude`` says."""
    layers = weight_layers(model)
    first_conv = next((layer.index for layer in layers if layer.weight.dim() == 4), None)
    return [layer for layer in layers
            if not (NOISE_EXCLUDE_LAST in exclude and layer.role == "last")
            and not (NOISE_EXCLUDE_FIRST_CONV in exclude and layer.index == first_conv)]


def unit_shape(weight_shape: tuple[int, ...], conv_unit: str) -> tuple[int, ...]:
    """The shape of one scalar per unit, broadcastable over the weight: (out, 1) for a Linear weight;
    (out, in, 1, 1) per kernel or (out, 1, 1, 1) per filter for a conv weight."""
    if len(weight_shape) == 2:
        return (weight_shape[0], 1)
    if conv_unit == NOISE_CONV_FILTER:
        return (weight_shape[0], 1, 1, 1)
    return (weight_shape[0], weight_shape[1], 1, 1)


def draw_noise(kind: str, alpha: float, shape: tuple[int, ...], conv_unit: str, generator: torch.Generator,
               device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """One step's unit-scale noise for a weight of ``shape``."""
    if kind == NOISE_ROW:
        return sample_sas(alpha, unit_shape(shape, conv_unit), generator=generator, device=device, dtype=dtype)
    if kind == NOISE_ENTRY:
        return sample_sas(alpha, shape, generator=generator, device=device, dtype=dtype)
    if kind == NOISE_ELLIPTIC:
        mixing = sample_positive_stable(alpha, unit_shape(shape, conv_unit), generator=generator,
                                        device=device, dtype=dtype)
        gauss = torch.randn(shape, generator=generator, device=device, dtype=dtype)
        return gauss.mul_(mixing.mul_(2.0).sqrt_())       # sqrt(A) * N(0, 2) = sqrt(2A) * N(0, 1)
    raise ValueError(f"noise: no draw for {kind!r}")


class IterateNoise(Callback):
    """Adds the noise after each optimizer step, before the averager and the convergence rule read the
    weights (the loop's ``before_rules``)."""

    name = "iterate_noise"

    def __init__(self, model: nn.Module, train: TrainSpec, *, eta: float, seed: int, device: torch.device):
        self.kind, self.alpha, self.conv_unit = train.noise, train.noise_alpha, train.noise_conv
        self.scale = noise_step_scale(train, eta)
        self.weights = [layer.weight for layer in noisy_layers(model, train.noise_exclude)]
        self.generator = torch.Generator(device=device).manual_seed(noise_seed(seed))

    def after_step(self, loop: TrainLoop) -> None:
        with torch.no_grad():
            for weight in self.weights:
                noise = draw_noise(self.kind, self.alpha, tuple(weight.shape), self.conv_unit, self.generator,
                                   weight.device, weight.dtype)
                weight.add_(noise, alpha=self.scale)
        loop.eval_cache.clear()

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"].to("cpu"))
