"""prepare(data, options) -> Prepared: the frames behind the report's tables, correlations and claims,
computed once per report.

The report's tables, the correlations and the claims all read the same per-trial and per-layer points;
building them here, once, keeps the three consistent by construction and is the one place where a rule
about which trials enter the statistics belongs.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import pandas as pd

from analysis import curves, schema
from analysis.data import SweepData
from analysis.options import AnalysisOptions, resolve_options

MIN_ALPHA_RAW = "alpha_min_raw"   # the trial's smallest uncapped per-layer alpha


@dataclass(frozen=True, eq=False)
class FamilyInputs:
    """The frames of one model family that every claim and correlation reads."""

    trials: pd.DataFrame      # usable trials: alpha (median), alpha_min_raw, prunable means, gaps
    layers: pd.DataFrame      # trial x layer x method: alpha, prunable at eps
    errors: pd.DataFrame      # trial x layer x method x kappa: error, alpha
    retained: pd.DataFrame    # trial x method: mean pruned/dense accuracy, alpha


@dataclass(frozen=True, eq=False)
class Prepared:
    """Resolved options plus every frame the report derives from them (``curves`` documents each)."""

    options: AnalysisOptions
    gap: pd.DataFrame         # curves.gap_points with alpha_min_raw: every usable trial of every family
    layers: pd.DataFrame      # curves.layer_points
    errors: pd.DataFrame      # curves.error_points
    accuracy: pd.DataFrame    # curves.accuracy_points
    families: Mapping[str, FamilyInputs]   # by family label, every family with a run (sorted)


def _retained(accuracy: pd.DataFrame, fallback_method: str) -> pd.DataFrame:
    methods = list(accuracy[schema.METHOD].unique()) or [fallback_method]   # an empty frame still has the columns
    return pd.concat([curves.retained_accuracy(accuracy, method).assign(**{schema.METHOD: method})
                      for method in methods], ignore_index=True)


def _family(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    return frame[frame[curves.GROUP_LABEL] == label]


def prepare(data: SweepData, options: AnalysisOptions) -> Prepared:
    """Resolve ``options`` against ``data`` and build every frame once.

    Only usable trials (trained and fitting at options.min_train_acc) enter any frame. A family with no
    usable trial still gets its inputs (every claim inconclusive), so nothing drops silently out of the
    claims table.
    """
    options = resolve_options(data, options)
    gap = curves.gap_points(data, options)
    layers, errors = curves.layer_points(data, options), curves.error_points(data, options)
    accuracy = curves.accuracy_points(data, options)
    min_alpha_raw = curves.trial_alpha(data, options, "min", raw=True)
    trials = gap.assign(**{MIN_ALPHA_RAW: gap[schema.RUN].map(min_alpha_raw).astype(float)})
    retained = _retained(accuracy, options.method)
    labels = sorted(curves.trial_axes(data, usable_only=False)[curves.GROUP_LABEL].unique())
    families = {label: FamilyInputs(_family(trials, label), _family(layers, label), _family(errors, label),
                                    _family(retained, label))
                for label in labels}
    return Prepared(options, trials, layers, errors, accuracy, MappingProxyType(families))
