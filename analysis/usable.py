"""Which trials enter the statistics, and why each other trial does not.

A trial is usable when it trained (converged or capped) and fits (docs/science.md, "Training protocol",
Fit): converged, or capped with final train accuracy >= min_train_acc. The sweep writes the fit as a tag
(core.keys.TAG_FIT) with the default threshold; the tag is trusted only at that threshold, and any other
threshold recomputes the fit with core.fit.fit_of, so the tag and the recomputation can never disagree.
"""
from __future__ import annotations

import math

import pandas as pd

from analysis import schema
from core import fit, keys, vocab

TRAIN_ACC = keys.eval_key("final", "train", "acc")   # the fit reads the last iterate, whatever wset is analysed


def _number(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value


def _why(outcome: str, fit_word: str | None, train_acc: float, iterations: float) -> str:
    """'' for a usable trial, else the reason it is excluded (the report lists it)."""
    if outcome in vocab.TRAINED_OUTCOMES:
        if fit_word == vocab.FIT_GOOD:
            return ""
        return f"underfit: train acc {train_acc:.2f}" if math.isfinite(train_acc) else "underfit: no train acc"
    if outcome == vocab.DIVERGED:
        return f"diverged at {int(iterations)}" if math.isfinite(iterations) else "diverged"
    if outcome == vocab.FAILED:
        return vocab.FAILED
    return vocab.INCOMPLETE


def trial_usability(trials: pd.DataFrame, min_train_acc: float = fit.MIN_TRAIN_ACC) -> pd.DataFrame:
    """Per trial (same order and index as ``trials``): run_id, fit, usable, why_excluded."""
    min_train_acc = fit.check_min_train_acc(min_train_acc)
    trust_tag = min_train_acc == fit.MIN_TRAIN_ACC
    column = lambda name: trials[name] if name in trials.columns else pd.Series(None, index=trials.index, dtype=object)
    fits, whys = [], []
    for outcome, tag, acc, iterations in zip(trials[schema.OUTCOME], column(schema.FIT), column(TRAIN_ACC),
                                             column(keys.ITERATIONS)):
        acc = _number(acc)
        if trust_tag and tag in vocab.FITS and outcome in vocab.TRAINED_OUTCOMES:
            word = tag
        else:
            word = fit.fit_of(outcome, acc if math.isfinite(acc) else None, min_train_acc)
        fits.append(word)
        whys.append(_why(outcome, word, acc, _number(iterations)))
    return pd.DataFrame({schema.RUN: trials[schema.RUN].to_numpy(), schema.FIT: fits,
                         schema.USABLE: [not why for why in whys], schema.WHY_EXCLUDED: whys}, index=trials.index)


def with_usability(trials: pd.DataFrame, min_train_acc: float = fit.MIN_TRAIN_ACC) -> pd.DataFrame:
    """The trials table with fit (recomputed at this threshold), usable and why_excluded columns."""
    status = trial_usability(trials, min_train_acc)
    return trials.assign(**{c: status[c] for c in (schema.FIT, schema.USABLE, schema.WHY_EXCLUDED)})


def excluded_trials(trials: pd.DataFrame, min_train_acc: float = fit.MIN_TRAIN_ACC) -> pd.DataFrame:
    """One row per trial that enters no statistic: run name, outcome and the reason."""
    table = with_usability(trials, min_train_acc)
    out = table[~table[schema.USABLE]]
    return out[[schema.RUN_NAME, schema.OUTCOME, schema.WHY_EXCLUDED]].reset_index(drop=True)


def measure_version_warning(trials: pd.DataFrame, sweep: str) -> str | None:
    """A one-line warning naming the trials measured by an older definition, when the sweep mixes versions.

    Values of different measure versions mean different things (core.version), so they must not be pooled
    silently; the fix is `tailsweep remeasure NAME`. Trials without the column (old bundles) are version 1.
    """
    versions = trials[schema.MEASURE_VERSION] if schema.MEASURE_VERSION in trials.columns else \
        pd.Series(1, index=trials.index)
    versions = versions.fillna(1).astype(int)
    if versions.nunique() < 2:
        return None
    newest = int(versions.max())
    old = trials[versions < newest]
    names = ", ".join(f"{name} (v{int(v)})" for name, v in zip(old[schema.RUN_NAME], versions[versions < newest]))
    return (f"warning: sweep {sweep!r} mixes measure versions ({', '.join(str(v) for v in sorted(versions.unique()))}): "
            f"{len(old)} trial(s) were measured before version {newest}: {names}; "
            f"run `tailsweep remeasure {sweep}` before trusting the statistics")
