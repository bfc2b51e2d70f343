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

from analysis import curves as C
from analysis import schema as S
from analysis.data import SweepData
from analysis.options import AnalysisOptions
from analysis.stats import Estimate, correlation_estimate, mean_estimate, slope_estimate

VERDICTS = ("holds", "contradicted", "inconclusive")
CLAIM_COLUMNS = ["claim", C.GROUP_LABEL, "statement", "statistic", "predicted", "value", "low", "high",
                 "n_trials", "n_points", "verdict"]


def verdict(est: Estimate, predicted: int, min_trials: int) -> str:
    """The fixed rule (module docstring). ``predicted``: -1 (statistic < 0) or +1 (> 0)."""
    if predicted not in (-1, 1):
        raise ValueError(f"predicted: must be -1 or 1, got {predicted!r}")
    if est.n_clusters < min_trials or not (math.isfinite(est.low) and math.isfinite(est.high)):
        return "inconclusive"
    if (predicted < 0 and est.high < 0) or (predicted > 0 and est.low > 0):
        return "holds"
    if (predicted < 0 and est.low > 0) or (predicted > 0 and est.high < 0):
        return "contradicted"
    return "inconclusive"


@dataclass(frozen=True)
class Inputs:
    """The per-family frames every claim reads; built once per family."""

    trials: pd.DataFrame      # usable trials with alpha (median), alpha_min_raw, prunable mean, gaps
    layers: pd.DataFrame      # trial x layer x method: alpha, prunable at eps
    errors: pd.DataFrame      # trial x layer x method x kappa: error, alpha
    accuracy: pd.DataFrame    # trial x method: retained accuracy, alpha


@dataclass(frozen=True)
class Claim:
    name: str
    statement: str
    statistic: str
    predicted: int
    compute: Callable[[Inputs, AnalysisOptions], Estimate]


def _boot(o: AnalysisOptions) -> dict:
    return {"n_boot": o.n_boot, "level": o.level, "seed": o.seed}


def _alpha_vs_eta(i: Inputs, o: AnalysisOptions) -> Estimate:
    return correlation_estimate(i.trials, S.ETA_B, S.ALPHA, cluster=S.RUN, **_boot(o))


def _heavy_at_top(i: Inputs, o: AnalysisOptions) -> Estimate:
    t = i.trials[np.isfinite(i.trials["alpha_min_raw"])]
    top = t[t[S.ETA_B] == t[S.ETA_B].max()] if len(t) else t
    return mean_estimate(top.assign(excess=top["alpha_min_raw"] - 2.0), "excess", cluster=S.RUN, **_boot(o))


def _layer_prunable(i: Inputs, o: AnalysisOptions) -> Estimate:
    layers = i.layers[i.layers[S.METHOD] == o.method]
    return correlation_estimate(layers, S.ALPHA, S.PRUNABLE, cluster=S.RUN, **_boot(o))


def _error_width(i: Inputs, o: AnalysisOptions) -> Estimate:
    e = i.errors
    e = e[(e[S.METHOD] == o.method) & np.isclose(e[C.KAPPA], min(o.kappas)) & (e[S.ALPHA] < o.heavy_alpha)]
    e = e.assign(**{C.LOG_WIDTH: np.log(e[S.WIDTH].astype(float))})
    return slope_estimate(e, C.LOG_WIDTH, S.ERROR, cluster=S.RUN, within=[S.ETA_B, S.LAYER], **_boot(o))


def _accuracy(i: Inputs, o: AnalysisOptions) -> Estimate:
    a = i.accuracy[i.accuracy[S.METHOD] == o.method]
    return correlation_estimate(a, S.ALPHA, C.REL_ACC, cluster=S.RUN, **_boot(o))


def _gap_alpha(i: Inputs, o: AnalysisOptions) -> Estimate:
    return correlation_estimate(i.trials, S.ALPHA, C.GEN_ERROR, cluster=S.RUN, **_boot(o))


def _gap_prunable(i: Inputs, o: AnalysisOptions) -> Estimate:
    return correlation_estimate(i.trials, S.PRUNABLE, C.GEN_ERROR, cluster=S.RUN, **_boot(o))


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


def claim_inputs(data: SweepData, o: AnalysisOptions) -> dict[str, Inputs]:
    """Inputs per family label (resolved options expected); a family with no usable trial still gets
    its rows (every claim inconclusive), so nothing drops silently out of the claims table."""
    trials = C.gap_points(data, o)
    trials["alpha_min_raw"] = trials[S.RUN].map(C.trial_alpha(data, o, "min", raw=True)).astype(float)
    layers, errors = C.layer_points(data, o), C.error_points(data, o)
    accuracy = C.accuracy_points(data, o)
    methods = list(accuracy[S.METHOD].unique()) or [o.method]   # an empty frame still has the columns
    retained = pd.concat([C.retained_accuracy(accuracy, m).assign(**{S.METHOD: m}) for m in methods],
                         ignore_index=True)
    return {label: Inputs(trials[trials[C.GROUP_LABEL] == label], layers[layers[C.GROUP_LABEL] == label],
                          errors[errors[C.GROUP_LABEL] == label], retained[retained[C.GROUP_LABEL] == label])
            for label in sorted(C.trial_axes(data, usable_only=False)[C.GROUP_LABEL].unique())}


def claims_table(data: SweepData, o: AnalysisOptions) -> pd.DataFrame:
    """One row per (claim, family): statistic, CI, trial and point counts, verdict."""
    rows = []
    for label, inputs in claim_inputs(data, o).items():
        for claim in CLAIMS:
            est = claim.compute(inputs, o)
            rows.append({"claim": claim.name, C.GROUP_LABEL: label, "statement": claim.statement,
                         "statistic": claim.statistic, "predicted": "< 0" if claim.predicted < 0 else "> 0",
                         "value": est.value, "low": est.low, "high": est.high, "n_trials": est.n_clusters,
                         "n_points": est.n_points, "verdict": verdict(est, claim.predicted, o.min_trials)})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


def correlations_table(data: SweepData, o: AnalysisOptions) -> pd.DataFrame:
    """Spearman and Kendall with trial-bootstrap CIs for every relation the paper draws, per family."""
    rows = []
    for label, i in claim_inputs(data, o).items():
        pairs = [("trials", "all", i.trials, S.ETA_B, S.ALPHA), ("trials", "all", i.trials, S.ALPHA, C.GEN_ERROR),
                 ("trials", "all", i.trials, S.PRUNABLE, C.GEN_ERROR), ("trials", "all", i.trials, S.ALPHA, "gap_loss")]
        for method in sorted(i.layers[S.METHOD].unique()):
            pairs.append(("layers", method, i.layers[i.layers[S.METHOD] == method], S.ALPHA, S.PRUNABLE))
        for method in sorted(i.accuracy[S.METHOD].unique()):
            pairs.append(("trials", method, i.accuracy[i.accuracy[S.METHOD] == method], S.ALPHA, C.REL_ACC))
        for unit, method, frame, x, y in pairs:
            row = {C.GROUP_LABEL: label, "unit": unit, "method": method, "x": x, "y": y}
            for kind in ("spearman", "kendall"):
                est = correlation_estimate(frame, x, y, kind, cluster=S.RUN, **_boot(o))
                row.update({kind: est.value, f"{kind}_low": est.low, f"{kind}_high": est.high})
                row.update({"n_trials": est.n_clusters, "n_points": est.n_points})
            rows.append(row)
    return pd.DataFrame(rows)

