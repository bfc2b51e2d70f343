"""Symmetric alpha-stable draws on the trial's device, for heavy-tailed iterate noise.

Chambers-Mallows-Stuck (1976) samplers, seeded by a ``torch.Generator``. Parametrization S1 with unit
scale, the one ``scipy.stats.levy_stable`` uses by default: ``sample_sas(alpha, ...)`` has the law of
``levy_stable.rvs(alpha, 0)``, so alpha = 2 is N(0, 2), not N(0, 1). ``sample_positive_stable`` draws
the totally skewed (beta = 1) law of index ``alpha / 2`` whose square root turns a Gaussian vector into
an elliptic (sub-Gaussian) alpha-stable one (docs/science.md, "The follow-up").
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

# Keeps U strictly inside (0, 1): U = 0 would put V on -pi/2 (cos V = 0) or make W = -log U infinite.
_OPEN = 2.0 ** -24


def _check_alpha(alpha: float, low_open: float, high: float, field: str = "alpha") -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) \
            or not low_open < alpha <= high:
        raise ValueError(f"{field}: must be a number in ({low_open:g}, {high:g}], got {alpha!r}")
    return float(alpha)


def _uniform_angle_and_exponential(shape: Sequence[int], generator: torch.Generator, device, dtype
                                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """V ~ U(-pi/2, pi/2) and log W with W ~ Exp(1), drawn in that order from ``generator``."""
    u = torch.rand(tuple(shape), generator=generator, device=device, dtype=dtype).clamp_(_OPEN, 1 - _OPEN)
    v = u.sub_(0.5).mul_(math.pi)
    e = torch.rand(tuple(shape), generator=generator, device=device, dtype=dtype).clamp_(_OPEN, 1 - _OPEN)
    log_w = e.log_().neg_().log_()       # log(-log U) = log W
    return v, log_w


def sample_sas(alpha: float, shape: Sequence[int], *, generator: torch.Generator,
               device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Unit-scale symmetric alpha-stable draws, 0 < alpha <= 2 (S1; alpha = 2 is N(0, 2))."""
    alpha = _check_alpha(alpha, 0.0, 2.0)
    device = generator.device if device is None else torch.device(device)
    v, log_w = _uniform_angle_and_exponential(shape, generator, device, dtype)
    if alpha == 1.0:
        return torch.tan(v)
    # X = sin(aV) / cos(V)^(1/a) * (cos((1-a)V) / W)^((1-a)/a), evaluated in log space for the powers.
    power = (1.0 - alpha) / alpha
    log_scale = torch.cos(v).log_().mul_(-1.0 / alpha)
    log_scale.add_(torch.cos(v * (1.0 - alpha)).log_().sub_(log_w).mul_(power))
    return torch.sin(v.mul_(alpha)).mul_(log_scale.exp_())


def sample_positive_stable(alpha: float, shape: Sequence[int], *, generator: torch.Generator,
                           device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
                           ) -> torch.Tensor:
    """The positive (alpha/2)-stable scalar A of an elliptic alpha-stable vector sqrt(A)*G, G ~ N(0, 2I):
    index alpha/2, beta = 1, scale cos(pi*alpha/4)^(2/alpha) (S1), 0 < alpha <= 2. At alpha = 2 that
    scale is 0 and the vector is Gaussian: A = 1."""
    alpha = _check_alpha(alpha, 0.0, 2.0)
    device = generator.device if device is None else torch.device(device)
    if alpha == 2.0:
        return torch.ones(tuple(shape), device=device, dtype=dtype)
    index = alpha / 2.0                                   # in (0, 1): the law lives on [0, inf)
    tan_term = math.tan(math.pi * index / 2.0)
    shift = math.atan(tan_term) / index                   # B for beta = 1
    stretch = (1.0 + tan_term * tan_term) ** (1.0 / (2.0 * index))
    scale = math.cos(math.pi * alpha / 4.0) ** (2.0 / alpha)
    v, log_w = _uniform_angle_and_exponential(shape, generator, device, dtype)
    shifted = (v + shift) * index
    power = (1.0 - index) / index
    log_scale = torch.cos(v).log_().mul_(-1.0 / index)
    log_scale.add_(torch.cos(v - shifted).log_().sub_(log_w).mul_(power))
    return torch.sin(shifted).mul_(log_scale.exp_()).mul_(stretch * scale).clamp_(min=0.0)
