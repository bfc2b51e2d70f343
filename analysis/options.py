"""AnalysisOptions: every choice the curves, claims and report make, fixed before looking at data;
``resolve_options`` fills the two that depend on what the runs logged (weight set, centring)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from analysis import schema
from core import vocab

if TYPE_CHECKING:   # data.py imports pandas; options must stay importable by the light CLI
    from analysis.data import SweepData


def _fraction_tuple(name: str, values: tuple[float, ...], low_open: bool = True) -> None:
    if not isinstance(values, tuple) or not values:
        raise ValueError(f"{name}: must be a non-empty tuple of numbers in (0, 1), got {values!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not (0 < value < 1 if low_open else 0 <= value <= 1):
            raise ValueError(f"{name}: values must lie in (0, 1), got {value!r}")


@dataclass(frozen=True)
class AnalysisOptions:
    """What the report measures. Defaults follow the paper (docs/science.md).

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
        if self.wset is not None:
            vocab.check_choice("wset", self.wset, vocab.WEIGHT_SETS)
        vocab.check_choice("variant", self.variant, vocab.ALPHA_VARIANTS)
        vocab.check_choice("method", self.method, vocab.PRUNE_METHODS)
        if self.center is not None:
            vocab.check_choice("center", self.center, vocab.CENTERS)
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
        return tuple(round(1.0 - kappa, 6) for kappa in self.kappas)


def _present(data: SweepData, column: str) -> set[str]:
    found: set[str] = set()
    for frame in (data.alphas, data.prunable, data.errors, data.ratios):
        if column in frame.columns:
            found |= {str(value) for value in frame[column].dropna().unique()}
    return found


def resolve_options(data: SweepData, options: AnalysisOptions) -> AnalysisOptions:
    """Options with wset and center set: the requested ones, else 'avg'/'median' when logged."""
    wset = options.wset
    if wset is None:
        present = _present(data, schema.WSET)
        wset = "avg" if "avg" in present or not present else sorted(present)[0]
    center = options.center
    if center is None:
        present = {str(value) for frame in (data.prunable, data.errors)
                   for value in frame[schema.CENTER].dropna().unique()}
        center = "median" if "median" in present or not present else sorted(present)[0]
    return dataclasses.replace(options, wset=wset, center=center)
