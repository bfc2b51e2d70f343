"""The paper's claims as a table with a verdict from a rule fixed in advance, and the reason for it.

Each claim is a statistic with a predicted sign. It is computed once per replicate (all usable trials
with one seed) and its interval is the t interval across replicates (``stats.replicate_estimate``), so
the interval reflects units that really vary. Verdict: 'holds' when the interval excludes 0 on the
predicted side, 'contradicted' when it excludes 0 on the other side, 'inconclusive' otherwise, when there
is no interval, or with fewer than ``min_trials`` usable trials. Every row says what decided it
(``reason``) and how its interval was made (``scheme``). No threshold here is tuned to the data.
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
from analysis.stats import (CORRELATION_RANGE, MIN_LEVELS, MIN_REPLICATES, Estimate, ReplicateEstimate,
                            rank_correlation, replicate_estimate)
from core import vocab

CLAIM_COLUMNS = ["claim", curves.GROUP_LABEL, "statement", "statistic", "predicted", "value", "low", "high",
                 "n_trials", "n_points", "n_replicates", "verdict", "reason", "scheme"]
AXIS_WORDS = {schema.ETA_B: "η/b", schema.WIDTH: "width"}
PAIR_AXES = (schema.ETA_B, schema.BATCH, schema.WIDTH, schema.SEED)   # noisy and noiseless trials pair on these
NOISE_CLAIM = "noise_makes_compressible"
WIDTH_CLAIM = "error_falls_with_width"   # the report's note reads this claim


def _side(low: float, high: float, predicted: int) -> tuple[str, str]:
    """The verdict and reason an interval decides (the fixed rule), once the interval exists."""
    if predicted not in (-1, 1):
        raise ValueError(f"predicted: must be -1 or 1, got {predicted!r}")
    if (predicted < 0 and high < 0) or (predicted > 0 and low > 0):
        return vocab.HOLDS, "CI excludes 0 on the predicted side"
    if (predicted < 0 and low > 0) or (predicted > 0 and high < 0):
        return vocab.CONTRADICTED, "CI excludes 0 on the other side"
    return vocab.INCONCLUSIVE, "CI spans 0"


def verdict(estimate: Estimate, predicted: int, min_trials: int) -> str:
    """The fixed rule on a trial-bootstrap Estimate (notebook use). ``predicted``: -1 (< 0) or +1 (> 0)."""
    if predicted not in (-1, 1):
        raise ValueError(f"predicted: must be -1 or 1, got {predicted!r}")
    if estimate.n_clusters < min_trials or not (math.isfinite(estimate.low) and math.isfinite(estimate.high)):
        return vocab.INCONCLUSIVE
    return _side(estimate.low, estimate.high, predicted)[0]


def no_interval_reason(estimate: ReplicateEstimate, min_trials: int, axis: str | None) -> str | None:
    """Why there is no usable interval (None: there is one), in a fixed order of precedence."""
    if estimate.n_trials == 0:
        return "no usable trials"
    if estimate.n_replicates == 1:
        return "no replicates"
    if estimate.n_replicates < MIN_REPLICATES:
        return f"fewer than {MIN_REPLICATES} replicates"
    if estimate.n_trials < min_trials:
        return f"{estimate.n_trials} trials < min_trials {min_trials}"
    if axis is not None and estimate.n_levels is not None and estimate.n_levels < MIN_LEVELS:
        word = AXIS_WORDS.get(axis, axis)
        return f"CI undefined: one {word} value" if estimate.n_levels == 1 else f"{estimate.n_levels} {word} levels"
    if estimate.n_defined < MIN_REPLICATES:
        return f"CI undefined: statistic defined in {estimate.n_defined} of {estimate.n_replicates} replicates"
    if not estimate.has_interval:
        return "CI undefined"
    return None


def decide(estimate: ReplicateEstimate, predicted: int, min_trials: int, axis: str | None) -> tuple[str, str]:
    """(verdict, reason): inconclusive with the reason there is no interval, else the interval's side."""
    reason = no_interval_reason(estimate, min_trials, axis)
    if reason is not None:
        return vocab.INCONCLUSIVE, reason
    return _side(estimate.low, estimate.high, predicted)


def scheme(estimate: ReplicateEstimate, prefix: str = "per-replicate statistic") -> str:
    count = estimate.n_defined
    if estimate.has_interval:
        return f"{prefix}, interval across {count} replicates"
    return f"{prefix}, no interval ({estimate.n_replicates} replicate{'s' if estimate.n_replicates != 1 else ''})"


def _finite(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    if not len(frame):
        return frame
    values = frame[list(columns)].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    return frame[np.isfinite(values).all(axis=1)]


def _spearman(x: str, y: str) -> Callable[[pd.DataFrame], float]:
    return lambda part: rank_correlation(part[x].to_numpy(float), part[y].to_numpy(float))


@dataclass(frozen=True)
class Claim:
    """rows: the family's rows that enter (non-finite ones dropped); statistic: of one replicate's rows;
    axis: the grid axis a statistic across cells spans (None: inside cells)."""

    name: str
    statement: str
    statistic: str
    predicted: int
    axis: str | None
    rows: Callable[[FamilyInputs, AnalysisOptions], pd.DataFrame]
    compute: Callable[[pd.DataFrame], float]
    bounds: tuple[float, float] | None = None   # the statistic's range; its interval is clipped to it


def _trials(x: str, y: str) -> Callable[[FamilyInputs, AnalysisOptions], pd.DataFrame]:
    return lambda inputs, options: _finite(inputs.trials, x, y)


def _top_eta(inputs: FamilyInputs, options: AnalysisOptions) -> pd.DataFrame:
    trials = _finite(inputs.trials, MIN_ALPHA_RAW)
    top = trials[trials[schema.ETA_B] == trials[schema.ETA_B].max()] if len(trials) else trials
    return top.assign(excess=top[MIN_ALPHA_RAW] - 2.0)


def _layers(inputs: FamilyInputs, options: AnalysisOptions) -> pd.DataFrame:
    return _finite(inputs.layers[inputs.layers[schema.METHOD] == options.method], schema.ALPHA, schema.PRUNABLE)


def _width_prunable(inputs: FamilyInputs, options: AnalysisOptions) -> pd.DataFrame:
    """Prunable fraction at the configured eps (``inputs.layers`` is read at options.eps), configured
    method, every non-last layer. No alpha filter: a family whose every alpha sits near 2 gets its
    verdict from data, not from an empty filter."""
    layers = curves.non_last_layers(inputs.layers[inputs.layers[schema.METHOD] == options.method])
    return _finite(layers, schema.PRUNABLE)


def _retained(inputs: FamilyInputs, options: AnalysisOptions) -> pd.DataFrame:
    return _finite(inputs.retained[inputs.retained[schema.METHOD] == options.method], schema.ALPHA, curves.REL_ACC)


CLAIMS: tuple[Claim, ...] = (
    Claim("alpha_falls_with_eta_b", "alpha falls as eta/b grows",
          "Spearman(eta/b, alpha median over layers), trials", -1, schema.ETA_B,
          _trials(schema.ETA_B, schema.ALPHA), _spearman(schema.ETA_B, schema.ALPHA), CORRELATION_RANGE),
    Claim("heavy_tails_at_top_eta_b", "at the largest eta/b the weights are heavy-tailed (alpha < 2)",
          "mean(min-over-layers raw alpha - 2), trials at the largest eta/b", -1, None,
          _top_eta, lambda part: float(part["excess"].mean())),
    Claim("lower_alpha_more_prunable", "per layer, lower alpha -> larger prunable fraction at eps",
          "Spearman(layer alpha, layer prunable fraction at eps), layers", -1, schema.ETA_B,
          _layers, _spearman(schema.ALPHA, schema.PRUNABLE), CORRELATION_RANGE),
    # A larger fraction removable at a fixed error eps as the net grows is the same claim as "the error
    # of pruning falls with width", read at the error the sweep cares about (configs/noise-width.yaml:
    # neuron pruning at eps 0.316) rather than at an arbitrary kept fraction.
    Claim(WIDTH_CLAIM, "pruning gets cheaper as the network grows: at fixed error eps, a larger "
          "fraction is prunable",
          "slope of layer prunable fraction at eps vs ln(width), non-last layers, fixed effect per (eta/b, layer)",
          1, schema.WIDTH, _width_prunable,
          lambda part: curves.width_slope(part, schema.PRUNABLE, (schema.ETA_B, schema.LAYER))),
    Claim("lower_alpha_keeps_accuracy", "lower alpha keeps pruned accuracy to higher ratios",
          "Spearman(alpha median, mean pruned/dense test accuracy), trials", -1, schema.ETA_B,
          _retained, _spearman(schema.ALPHA, curves.REL_ACC), CORRELATION_RANGE),
    Claim("gap_grows_with_alpha", "more heavy-tailed networks generalize better",
          "Spearman(alpha median, train acc - test acc), trials", 1, schema.ETA_B,
          _trials(schema.ALPHA, curves.GEN_ERROR), _spearman(schema.ALPHA, curves.GEN_ERROR), CORRELATION_RANGE),
    Claim("gap_shrinks_with_prunability", "more compressible networks generalize better",
          "Spearman(mean prunable fraction, train acc - test acc), trials", -1, schema.ETA_B,
          _trials(schema.PRUNABLE, curves.GEN_ERROR), _spearman(schema.PRUNABLE, curves.GEN_ERROR), CORRELATION_RANGE),
)
NOISE_STATEMENT = "iterate noise makes the network more compressible"
NOISE_STATISTIC = ("mean paired difference in prunable fraction at eps (mean over non-last layers), noisy minus "
                   "noiseless, pairs by (eta/b, batch, width, seed)")


def _row(name: str, label: str, statement: str, statistic: str, predicted: int, axis: str | None,
         estimate: ReplicateEstimate, options: AnalysisOptions, scheme_prefix: str) -> dict:
    decided, reason = decide(estimate, predicted, options.min_trials, axis)
    return {"claim": name, curves.GROUP_LABEL: label, "statement": statement, "statistic": statistic,
            "predicted": "< 0" if predicted < 0 else "> 0", "value": estimate.value, "low": estimate.low,
            "high": estimate.high, "n_trials": estimate.n_trials, "n_points": estimate.n_points,
            "n_replicates": estimate.n_replicates, "verdict": decided, "reason": reason,
            "scheme": scheme(estimate, scheme_prefix)}


def noise_pairs(trials: pd.DataFrame) -> pd.DataFrame:
    """Noisy trials paired with the noiseless trial of the same base family at the same (eta/b, batch,
    width, seed): one row per pair with the noisy family's label and the difference in
    prunable_non_last (noisy minus noiseless)."""
    value = curves.PRUNABLE_NON_LAST
    clean = _finite(trials, value)
    keys = [curves.BASE_LABEL, *PAIR_AXES]
    plain = clean[clean[curves.NOISE_LABEL] == curves.NOISELESS][[*keys, schema.RUN, value]]
    noisy = clean[clean[curves.NOISE_LABEL] != curves.NOISELESS]
    pairs = noisy.merge(plain, on=keys, suffixes=("", "_noiseless"))
    return pairs.assign(difference=pairs[value] - pairs[f"{value}_noiseless"])


def noise_claim_rows(prepared: Prepared) -> list[dict]:
    """One row per noisy family: the noise claim against the noiseless family of the same base."""
    options, trials = prepared.options, prepared.gap
    pairs = noise_pairs(trials)
    rows = []
    noisy = trials[trials[curves.NOISE_LABEL] != curves.NOISELESS]
    for (base, noise), _ in noisy.groupby([curves.BASE_LABEL, curves.NOISE_LABEL], sort=True):
        part = pairs[(pairs[curves.BASE_LABEL] == base) & (pairs[curves.NOISE_LABEL] == noise)]
        estimate = replicate_estimate(part, lambda p: float(p["difference"].mean()), level=options.level)
        rows.append(_row(NOISE_CLAIM, f"{base} / {noise} vs {curves.NOISELESS}", NOISE_STATEMENT, NOISE_STATISTIC,
                         1, None, estimate, options, "paired by (η/b, batch, width, seed); per-replicate mean "
                         "difference"))
    return rows


def claims_table(prepared: Prepared) -> pd.DataFrame:
    """One row per (claim, family), then one noise row per noisy family: statistic, interval, counts,
    verdict, reason and scheme."""
    options = prepared.options
    rows = []
    for label, inputs in prepared.families.items():
        for claim in CLAIMS:
            frame = claim.rows(inputs, options)
            estimate = replicate_estimate(frame, claim.compute, axis=claim.axis, min_trials=options.min_trials,
                                          level=options.level, bounds=claim.bounds)
            rows.append(_row(claim.name, label, claim.statement, claim.statistic, claim.predicted, claim.axis,
                             estimate, options, "per-replicate statistic"))
    rows += noise_claim_rows(prepared)
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
    """Spearman and Kendall per family, each computed per replicate with its interval across replicates
    (the claims' rules: none with fewer than 3 replicates, min_trials trials or 3 eta/b values); the
    reason column says why an interval is missing."""
    options = prepared.options
    rows = []
    for label, inputs in prepared.families.items():
        for unit, method, frame, x_column, y_column in _correlation_pairs(inputs):
            clean = _finite(frame, x_column, y_column)
            row = {curves.GROUP_LABEL: label, "unit": unit, "method": method, "x": x_column, "y": y_column}
            for kind in vocab.CORRELATIONS:
                estimate = replicate_estimate(
                    clean, lambda part, kind=kind: rank_correlation(part[x_column].to_numpy(float),
                                                                    part[y_column].to_numpy(float), kind),
                    axis=schema.ETA_B, min_trials=options.min_trials, level=options.level,
                    bounds=CORRELATION_RANGE)
                row.update({kind: estimate.value, f"{kind}_low": estimate.low, f"{kind}_high": estimate.high})
            row.update({"n_trials": estimate.n_trials, "n_points": estimate.n_points,
                        "n_replicates": estimate.n_replicates,
                        "reason": no_interval_reason(estimate, options.min_trials, schema.ETA_B) or "",
                        "scheme": scheme(estimate)})
            rows.append(row)
    return pd.DataFrame(rows)
