"""The paper's claims as a table with a verdict from a rule fixed in advance.

Each claim is a statistic with a predicted sign and a 95% bootstrap CI that resamples whole trials.
Verdict: 'holds' when the CI excludes 0 on the predicted side, 'contradicted' when it excludes 0 on the
other side, 'inconclusive' otherwise, when the CI is undefined, or with fewer than ``min_trials``
usable trials. No threshold here is tuned to the data; ``heavy_alpha`` is an option fixed beforehand.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from analysis import curves, schema
from analysis.options import AnalysisOptions
from analysis.prepared import MIN_ALPHA_RAW, FamilyInputs, Prepared
from analysis.stats import Estimate, correlation_estimate, mean_estimate, slope_estimate
from core import vocab

CLAIM_COLUMNS = ["claim", curves.GROUP_LABEL, "statement", "statistic", "predicted", "value", "low", "high",
                 "n_trials", "n_points", "verdict"]


def verdict(estimate: Estimate, predicted: int, min_trials: int) -> str:
    """The fixed rule (module docstring). ``predicted``: -1 (statistic < 0) or +1 (> 0)."""
    if predicted not in (-1, 1):
        raise ValueError(f"predicted: must be -1 or 1, got {predicted!r}")
    if estimate.n_clusters < min_trials or not (math.isfinite(estimate.low) and math.isfinite(estimate.high)):
        return vocab.INCONCLUSIVE
    if (predicted < 0 and estimate.high < 0) or (predicted > 0 and estimate.low > 0):
        return vocab.HOLDS
    if (predicted < 0 and estimate.low > 0) or (predicted > 0 and estimate.high < 0):
        return vocab.CONTRADICTED
    return vocab.INCONCLUSIVE


@dataclass(frozen=True)
class Claim:
    name: str
    statement: str
    statistic: str
    predicted: int
    compute: Callable[[FamilyInputs, AnalysisOptions], Estimate]


def _boot(options: AnalysisOptions) -> dict:
    return {"n_boot": options.n_boot, "level": options.level, "seed": options.seed}


def _alpha_vs_eta(inputs: FamilyInputs, options: AnalysisOptions) -> Estimate:
    return correlation_estimate(inputs.trials, schema.ETA_B, schema.ALPHA, cluster=schema.RUN, **_boot(options))


def _heavy_at_top(inputs: FamilyInputs, options: AnalysisOptions) -> Estimate:
    trials = inputs.trials[np.isfinite(inputs.trials[MIN_ALPHA_RAW])]
    top = trials[trials[schema.ETA_B] == trials[schema.ETA_B].max()] if len(trials) else trials
    return mean_estimate(top.assign(excess=top[MIN_ALPHA_RAW] - 2.0), "excess", cluster=schema.RUN,
                         **_boot(options))


def _layer_prunable(inputs: FamilyInputs, options: AnalysisOptions) -> Estimate:
    layers = inputs.layers[inputs.layers[schema.METHOD] == options.method]
    return correlation_estimate(layers, schema.ALPHA, schema.PRUNABLE, cluster=schema.RUN, **_boot(options))


def _error_width(inputs: FamilyInputs, options: AnalysisOptions) -> Estimate:
    errors = inputs.errors
    errors = errors[(errors[schema.METHOD] == options.method) & np.isclose(errors[curves.KAPPA], min(options.kappas))
                    & (errors[schema.ALPHA] < options.heavy_alpha)]
    errors = errors.assign(**{curves.LOG_WIDTH: np.log(errors[schema.WIDTH].astype(float))})
    return slope_estimate(errors, curves.LOG_WIDTH, schema.ERROR, cluster=schema.RUN,
                          within=[schema.ETA_B, schema.LAYER], **_boot(options))


def _accuracy(inputs: FamilyInputs, options: AnalysisOptions) -> Estimate:
    retained = inputs.retained[inputs.retained[schema.METHOD] == options.method]
    return correlation_estimate(retained, schema.ALPHA, curves.REL_ACC, cluster=schema.RUN, **_boot(options))


def _gap_alpha(inputs: FamilyInputs, options: AnalysisOptions) -> Estimate:
    return correlation_estimate(inputs.trials, schema.ALPHA, curves.GEN_ERROR, cluster=schema.RUN, **_boot(options))


def _gap_prunable(inputs: FamilyInputs, options: AnalysisOptions) -> Estimate:
    return correlation_estimate(inputs.trials, schema.PRUNABLE, curves.GEN_ERROR, cluster=schema.RUN,
                                **_boot(options))


CLAIMS: tuple[Claim, ...] = (
    Claim("alpha_falls_with_eta_b", "alpha falls as eta/b grows",
          "Spearman(eta/b, alpha median over layers), trials", -1, _alpha_vs_eta),
    Claim("heavy_tails_at_top_eta_b", "at the largest eta/b the weights are heavy-tailed (alpha < 2)",
          "mean(min-over-layers raw alpha - 2), trials at the largest eta/b", -1, _heavy_at_top),
    Claim("lower_alpha_more_prunable", "per layer, lower alpha -> larger prunable fraction at eps",
          "Spearman(layer alpha, layer prunable fraction), layers, trials resampled", -1, _layer_prunable),
    Claim("error_falls_with_width", "with alpha < 2, pruning error shrinks as the network grows",
          "slope of error at the smallest kappa vs ln(width), layers with alpha < heavy_alpha, "
          "fixed effect per (eta/b, layer)", -1, _error_width),
    Claim("lower_alpha_keeps_accuracy", "lower alpha keeps pruned accuracy to higher ratios",
          "Spearman(alpha median, mean pruned/dense test accuracy), trials", -1, _accuracy),
    Claim("gap_grows_with_alpha", "more heavy-tailed networks generalize better",
          "Spearman(alpha median, train acc - test acc), trials", 1, _gap_alpha),
    Claim("gap_shrinks_with_prunability", "more compressible networks generalize better",
          "Spearman(mean prunable fraction, train acc - test acc), trials", -1, _gap_prunable),
)


def claims_table(prepared: Prepared) -> pd.DataFrame:
    """One row per (claim, family): statistic, CI, trial and point counts, verdict."""
    options = prepared.options
    rows = []
    for label, inputs in prepared.families.items():
        for claim in CLAIMS:
            estimate = claim.compute(inputs, options)
            rows.append({"claim": claim.name, curves.GROUP_LABEL: label, "statement": claim.statement,
                         "statistic": claim.statistic, "predicted": "< 0" if claim.predicted < 0 else "> 0",
                         "value": estimate.value, "low": estimate.low, "high": estimate.high,
                         "n_trials": estimate.n_clusters, "n_points": estimate.n_points,
                         "verdict": verdict(estimate, claim.predicted, options.min_trials)})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def _correlation_pairs(inputs: FamilyInputs) -> list[tuple[str, str, pd.DataFrame, str, str]]:
    """(unit, method, frame, x, y) for every relation the paper draws."""
    trials = inputs.trials
    pairs = [("trials", "all", trials, schema.ETA_B, schema.ALPHA),
             ("trials", "all", trials, schema.ALPHA, curves.GEN_ERROR),
             ("trials", "all", trials, schema.PRUNABLE, curves.GEN_ERROR),
             ("trials", "all", trials, schema.ALPHA, "gap_loss")]
    for method in sorted(inputs.layers[schema.METHOD].unique()):
        pairs.append(("layers", method, inputs.layers[inputs.layers[schema.METHOD] == method], schema.ALPHA,
                      schema.PRUNABLE))
    for method in sorted(inputs.retained[schema.METHOD].unique()):
        pairs.append(("trials", method, inputs.retained[inputs.retained[schema.METHOD] == method], schema.ALPHA,
                      curves.REL_ACC))
    return pairs


def correlations_table(prepared: Prepared) -> pd.DataFrame:
    """Spearman and Kendall with trial-bootstrap CIs for every relation the paper draws, per family."""
    boot = _boot(prepared.options)
    rows = []
    for label, inputs in prepared.families.items():
        for unit, method, frame, x_column, y_column in _correlation_pairs(inputs):
            row = {curves.GROUP_LABEL: label, "unit": unit, "method": method, "x": x_column, "y": y_column}
            for kind in vocab.CORRELATIONS:
                estimate = correlation_estimate(frame, x_column, y_column, kind, cluster=schema.RUN, **boot)
                row.update({kind: estimate.value, f"{kind}_low": estimate.low, f"{kind}_high": estimate.high})
                row.update({"n_trials": estimate.n_clusters, "n_points": estimate.n_points})
            rows.append(row)
    return pd.DataFrame(rows)
