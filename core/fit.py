"""Whether a trained trial fits its training set well enough for its measurements to enter statistics.

A capped trial that stopped at 53% train accuracy is not a sample of the stationary regime the science
is about; its tail index says nothing about the claims (docs/science.md, "Training protocol").
"""
from __future__ import annotations

import math

from typing import Mapping

from core import keys
from core.vocab import CAPPED, CONVERGED, FIT_GOOD, FIT_UNDERFIT

MIN_TRAIN_ACC = 0.99   # the default threshold: final train accuracy of a capped trial


def check_min_train_acc(value: object, field: str = "min_train_acc") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0.0 <= value <= 1.0:
        raise ValueError(f"{field}: must be a number in [0, 1], got {value!r}")
    return float(value)


def fit_of(outcome: str, train_acc: float | None, min_train_acc: float = MIN_TRAIN_ACC) -> str | None:
    """'good' for a converged trial, or a capped one with final train accuracy >= min_train_acc;
    'underfit' for any other capped trial; None for diverged, failed or unfinished trials."""
    if outcome == CONVERGED:
        return FIT_GOOD
    if outcome != CAPPED:
        return None
    if train_acc is None or not math.isfinite(train_acc) or train_acc < min_train_acc:
        return FIT_UNDERFIT
    return FIT_GOOD


def final_train_acc(metrics: Mapping[str, float]) -> float | None:
    """The accuracy the fit rule reads: the final weights on the whole training set."""
    return metrics.get(keys.eval_key("final", "train", "acc"))


def fit_of_metrics(outcome: str, metrics: Mapping[str, float], min_train_acc: float = MIN_TRAIN_ACC) -> str | None:
    return fit_of(outcome, final_train_acc(metrics), min_train_acc)
