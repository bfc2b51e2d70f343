"""AnalysisOptions: every choice the curves, claims and report make, fixed before looking at data."""
from __future__ import annotations

import math
from dataclasses import dataclass

from core import keys

METHODS = ("magnitude", "singular", "node")


def _fraction_tuple(name: str, values: tuple[float, ...], low_open: bool = True) -> None:
    if not isinstance(values, tuple) or not values:
        raise ValueError(f"{name}: must be a non-empty tuple of numbers in (0, 1), got {values!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0 < v < 1 if low_open else 0 <= v <= 1):
            raise ValueError(f"{name}: values must lie in (0, 1), got {v!r}")


@dataclass(frozen=True)
class AnalysisOptions:
    """What the report measures. Defaults follow the paper (PAPER.md).

    wset: weight set for alpha and pruning (None: 'avg' when present, else 'final'); variant: the alpha
    estimator variant; method: the pruning method of the headline claims; kappas: kept fractions for
    error-vs-width (kappa = 1 - removed ratio); eps: tolerance of the prunable fraction; heavy_alpha:
    layers with alpha below it count as heavy-tailed in the width claim (fixed, not tuned); min_trials:
    fewer usable trials make a claim inconclusive; n_boot / level / seed: the bootstrap.
    """

    wset: str | None = None
    variant: str = "multi"
    method: str = "magnitude"
    center: str | None = None          # None: 'median' when present, else whatever the runs logged
    kappas: tuple[float, ...] = (0.1, 0.2)
    eps: float = 0.1
    heavy_alpha: float = 1.9
    min_trials: int = 5
    n_boot: int = 1000
    level: float = 0.95
    seed: int = 0
    ref_draws: int = 200                # reference: draws per point (fewer when the layer is large)
    ref_max_items: int = 20_000         # reference: larger layers are simulated at this size and scaled
    ref_budget: int = 1_000_000         # reference: samples per simulation, bounds draws x items

    def __post_init__(self) -> None:
        if self.wset is not None and self.wset not in keys.WEIGHT_SETS:
            raise ValueError(f"wset: unknown value {self.wset!r} (allowed: {', '.join(keys.WEIGHT_SETS)})")
        if self.variant not in keys.ALPHA_VARIANTS:
            raise ValueError(f"variant: unknown value {self.variant!r} (allowed: {', '.join(keys.ALPHA_VARIANTS)})")
        if self.method not in METHODS:
            raise ValueError(f"method: unknown value {self.method!r} (allowed: {', '.join(METHODS)})")
        if self.center is not None and self.center not in ("median", "none"):
            raise ValueError(f"center: unknown value {self.center!r} (allowed: median, none)")
        _fraction_tuple("kappas", self.kappas)
        if isinstance(self.eps, bool) or not isinstance(self.eps, (int, float)) or not 0 < self.eps < 1:
            raise ValueError(f"eps: must lie in (0, 1), got {self.eps!r}")
        if not isinstance(self.heavy_alpha, (int, float)) or not math.isfinite(self.heavy_alpha):
            raise ValueError(f"heavy_alpha: must be a finite number, got {self.heavy_alpha!r}")
        for name in ("min_trials", "n_boot", "ref_draws", "ref_max_items", "ref_budget"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
        if not 0 < self.level < 1:
            raise ValueError(f"level: must lie in (0, 1), got {self.level!r}")

    @property
    def ratios(self) -> tuple[float, ...]:
        """The removed fractions (error-curve ratios) that the kept fractions correspond to."""
        return tuple(round(1.0 - k, 6) for k in self.kappas)
