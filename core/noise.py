"""Symmetric alpha-stable draws on the trial's device, for heavy-tailed iterate noise.

Chambers-Mallows-Stuck (1976) samplers, seeded by a ``torch.Generator``. Parametrization S1 with unit
scale, the one ``scipy.stats.levy_stable`` uses by default: ``sample_sas(alpha, ...)`` has the law of
``levy_stable.rvs(alpha, 0)``, so alpha = 2 is N(0, 2), not N(0, 1). ``sample_positive_stable`` draws
the totally skewed (beta = 1) law of index ``alpha / 2`` whose square root turns a Gaussian vector into
an elliptic (sub-Gaussian) alpha-stable one (docs/science.md, "The follow-up").

On the CPU in float32 (a CPU trial's ``entry`` noise: one draw per weight per step) ``sample_sas`` runs
the fused kernel of ``core.sas_kernel``, keyed by two words from the generator; elsewhere (CUDA, float64)
it runs the formula in torch ops on the generator's own uniforms. One seed gives different streams on the
two paths, of the same law.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from core.sas_kernel import fill_sas

# U = 0 would make W = -log U infinite; rand never returns 1, so only the low end needs a floor.
_TINY_U = 2.0 ** -24


def _check_alpha(alpha: float, low_open: float, high: float, field: str = "alpha") -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) \
            or not low_open < alpha <= high:
        raise ValueError(f"{field}: must be a number in ({low_open:g}, {high:g}], got {alpha!r}")
    return float(alpha)


def _angle_and_minus_exponential(n: int, generator: torch.Generator, device, dtype
                                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """V ~ U(-pi/2, pi/2) strictly inside (cos V > 0) and -W with W ~ Exp(1): n of each, from one draw
    of 2n uniforms (V from the first n)."""
    u = torch.rand((2, n), generator=generator, device=device, dtype=dtype)
    # The largest value of this dtype below pi/2: float32(pi/2) lies above pi/2, and cos of it is < 0.
    edge = torch.nextafter(torch.tensor(math.pi / 2, dtype=dtype), torch.tensor(0.0, dtype=dtype)).item()
    v = u[0].mul_(math.pi).sub_(math.pi / 2).clamp_(-edge, edge)
    minus_w = u[1].clamp_(min=_TINY_U).log_()
    return v, minus_w


def fused_kernel_applies(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether ``sample_sas`` draws with ``core.sas_kernel`` (CPU, float32) rather than torch ops."""
    return device.type == "cpu" and dtype == torch.float32


def kernel_key(generator: torch.Generator) -> tuple[int, int]:
    """The two 32-bit Philox key words of one fused draw, taken from (and advancing) the generator."""
    k0, k1 = torch.randint(0, 2 ** 32, (2,), generator=generator, device=generator.device,
                           dtype=torch.int64).tolist()
    return k0, k1


def sample_sas(alpha: float, shape: Sequence[int], *, generator: torch.Generator,
               device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Unit-scale symmetric alpha-stable draws, 0 < alpha <= 2 (S1; alpha = 2 is N(0, 2))."""
    alpha = _check_alpha(alpha, 0.0, 2.0)
    device = generator.device if device is None else torch.device(device)
    shape = tuple(shape)
    if fused_kernel_applies(device, dtype):
        out = np.empty(math.prod(shape), dtype=np.float32)
        fill_sas(out, alpha, *kernel_key(generator))      # numba compiles, or loads from its cache, on first use
        return torch.from_numpy(out).reshape(shape)
    return sample_sas_by_torch_ops(alpha, shape, generator=generator, device=device, dtype=dtype)


def sample_sas_by_torch_ops(alpha: float, shape: Sequence[int], *, generator: torch.Generator,
                            device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``sample_sas`` in torch ops on the generator's uniforms: its path off the CPU or in float64."""
    alpha = _check_alpha(alpha, 0.0, 2.0)
    shape = tuple(shape)
    v, minus_w = _angle_and_minus_exponential(math.prod(shape), generator, device, dtype)
    if alpha == 1.0:
        return torch.tan(v).reshape(shape)
    # CMS: X = sin(aV) / cos(V)^(1/a) * (cos((1-a)V) / W)^((1-a)/a). Since cos(V)^(-1/a) =
    # cos(V)^(-1) * cos(V)^(-(1-a)/a), X = sin(aV)/cos(V) * (cos((1-a)V) / (W cos V))^((1-a)/a): one power
    # (as exp of a log; torch's pow is 5x slower) and 7 passes fewer than the textbook form, which is
    # what entry noise pays on every weight at every step (bench/bench_noise.py).
    cos_v = torch.cos(v)
    ratio = torch.mul(v, 1.0 - alpha).cos_().div_(minus_w.mul_(cos_v))        # = -cos((1-a)V)/(W cos V)
    power = ratio.neg_().log_().mul_((1.0 - alpha) / alpha).exp_()
    return torch.sin(v.mul_(alpha)).div_(cos_v).mul_(power).reshape(shape)


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
    shape = tuple(shape)
    v, minus_w = _angle_and_minus_exponential(math.prod(shape), generator, device, dtype)
    shifted = (v + shift) * index
    power = (1.0 - index) / index
    log_scale = torch.cos(v).log_().mul_(-1.0 / index)
    log_scale.add_(torch.cos(v - shifted).log_().sub_(minus_w.neg_().log_()).mul_(power))
    return torch.sin(shifted).mul_(log_scale.exp_()).mul_(stretch * scale).clamp_(min=0.0).reshape(shape)
