"""AnalysisOptions: every choice the curves, claims and report make, fixed before looking at data;
``resolve_options`` fills the two that depend on what the runs logged (weight set, centring);
``options_from_sweep_file`` reads a sweep file's ``analysis:`` section (the report's defaults for that
sweep) and ``options_for`` layers them: command-line flag > sweep file > AnalysisOptions default."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from analysis import schema
from core import fit, vocab

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
    error-vs-width (kappa = 1 - removed ratio); eps: tolerance of the prunable fraction; min_train_acc:
    a capped trial with a lower final train accuracy is underfit and enters no statistic; heavy_alpha:
    the alpha below which a layer counts as heavy-tailed, drawn on the alpha-vs-width figure that the
    width claim's note points to (no claim filters on it: a family whose alphas all sit near 2 gets its
    verdict from data); min_trials: fewer usable trials make a claim inconclusive (and, for statistics
    across cells, give no interval); level: of the intervals across replicates; n_boot / seed: the
    trial bootstrap of the statistics helpers, and seed also seeds the reference simulation.
    """

    wset: str | None = None
    variant: str = "multi"
    method: str = "magnitude"
    center: str | None = None          # None: 'median' when present, else whatever the runs logged
    kappas: tuple[float, ...] = (0.1, 0.2)
    eps: float = 0.1
    min_train_acc: float = fit.MIN_TRAIN_ACC
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
        fit.check_min_train_acc(self.min_train_acc)
        if isinstance(self.heavy_alpha, bool) or not isinstance(self.heavy_alpha, (int, float)) or not math.isfinite(self.heavy_alpha):
            raise ValueError(f"heavy_alpha: must be a finite number, got {self.heavy_alpha!r}")
        for name in ("min_trials", "n_boot", "ref_draws", "ref_max_items", "ref_budget"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {value!r}")
        if not 0 < self.level < 1:
            raise ValueError(f"level: must lie in (0, 1), got {self.level!r}")

    def center_for(self, method: str) -> str:
        """The centring a method's rows are read at: the chosen one when the method is measured with it,
        else the method's only one ('neuron' is measured uncentred: core.compress.method_centers)."""
        centers = _method_centers(method)
        return self.center if self.center in centers else centers[0]

    @property
    def ratios(self) -> tuple[float, ...]:
        """The removed fractions (error-curve ratios) that the kept fractions correspond to."""
        return tuple(round(1.0 - kappa, 6) for kappa in self.kappas)


def _method_centers(method: str) -> tuple[str, ...]:
    from core.compress import method_centers   # imports torch: only when a report resolves centring

    return tuple(method_centers(method))


# The sweep file's `analysis:` fields (a subset of AnalysisOptions: the choices a sweep's author fixes).
SWEEP_FILE_FIELDS = ("method", "eps", "min_train_acc", "center", "variant", "wset", "kappas", "heavy_alpha",
                     "min_trials")


def options_from_sweep_file(text: str | None) -> dict[str, Any]:
    """The validated ``analysis:`` section of a sweep file's YAML text, as AnalysisOptions keyword arguments
    ({} when the file or the section is absent). Raises ValueError naming ``analysis.<field>``."""
    if not text:
        return {}
    import yaml   # only when a sweep file is read

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"sweep file: not valid YAML ({str(err).splitlines()[0]})") from None
    section = document.get("analysis") if isinstance(document, dict) else None
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ValueError(f"analysis: must be a mapping of {', '.join(SWEEP_FILE_FIELDS)}, got {section!r}")
    values: dict[str, Any] = {}
    for name, value in section.items():
        if name not in SWEEP_FILE_FIELDS:
            raise ValueError(f"analysis.{name}: unknown field (allowed: {', '.join(SWEEP_FILE_FIELDS)})")
        values[name] = tuple(value) if name == "kappas" and isinstance(value, list) else value
    for name, value in values.items():   # each field alone, so the message names the one that is wrong
        try:
            AnalysisOptions(**{name: value})
        except ValueError as err:
            raise ValueError(f"analysis.{err}") from None
    return values


def options_for(sweep_file: str | None, flags: Mapping[str, Any] | None = None) -> AnalysisOptions:
    """AnalysisOptions from the command-line flags given (None: not given), then the sweep file's
    ``analysis:`` section, then the defaults."""
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    return AnalysisOptions(**{**options_from_sweep_file(sweep_file), **given})


def _present(data: SweepData, column: str) -> set[str]:
    found: set[str] = set()
    for frame in (data.alphas, data.prunable, data.errors, data.ratios):
        if column in frame.columns:
            found |= {str(value) for value in frame[column].dropna().unique()}
    return found


class UnmeasuredOption(ValueError):
    """The pruning method or eps the report would read was not measured; ``field`` names which."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def unmeasured(options: AnalysisOptions | Mapping[str, Any], methods: set[str], eps: set[float],
               where: str) -> UnmeasuredOption | None:
    """Why the pruning method or eps of ``options`` (AnalysisOptions, or a sweep file's analysis fields)
    was not measured, naming what was; None when both were, or when nothing was measured at all.
    ``where`` says by what ('these runs', 'any trial of this sweep')."""
    get = options.get if isinstance(options, Mapping) else lambda name: getattr(options, name)
    method, tolerance = get("method"), get("eps")
    if method is not None and methods and method not in methods:
        return UnmeasuredOption("method", f"{method!r} was not measured by {where} "
                                          f"(measured: {', '.join(sorted(methods))})")
    if tolerance is not None and eps and not any(math.isclose(tolerance, e, rel_tol=1e-9) for e in eps):
        return UnmeasuredOption("eps", f"{tolerance:g} was not measured by {where} "
                                       f"(measured: {', '.join(f'{e:g}' for e in sorted(eps))})")
    return None


def check_measured(data: SweepData, options: AnalysisOptions) -> None:
    """Raise UnmeasuredOption when the runs hold pruning results but none at the options' method or eps."""
    methods = {str(m) for frame in (data.prunable, data.errors) if schema.METHOD in frame.columns
               for m in frame[schema.METHOD].dropna().unique()}
    eps = {float(e) for e in data.prunable[schema.EPS].dropna().unique()} if schema.EPS in data.prunable.columns \
        else set()
    problem = unmeasured(options, methods, eps, "these runs")
    if problem is not None:
        raise problem


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
