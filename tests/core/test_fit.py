import math

import pytest

from core.fit import MIN_TRAIN_ACC, check_min_train_acc, fit_of


@pytest.mark.parametrize("outcome, acc, threshold, want", [
    ("converged", 0.5, MIN_TRAIN_ACC, "good"),        # converged means 100% train accuracy by the rule
    ("capped", 0.995, MIN_TRAIN_ACC, "good"),
    ("capped", 0.99, MIN_TRAIN_ACC, "good"),
    ("capped", 0.53, MIN_TRAIN_ACC, "underfit"),
    ("capped", 0.53, 0.5, "good"),
    ("capped", None, MIN_TRAIN_ACC, "underfit"),
    ("capped", math.nan, MIN_TRAIN_ACC, "underfit"),
    ("diverged", 0.1, MIN_TRAIN_ACC, None),
    ("failed", None, MIN_TRAIN_ACC, None),
])
def test_fit_of(outcome, acc, threshold, want):
    assert fit_of(outcome, acc, threshold) == want


def test_default_threshold_and_validation():
    assert MIN_TRAIN_ACC == 0.99
    assert check_min_train_acc(0.5) == 0.5
    for bad in (-0.1, 1.5, math.nan, True, "x"):
        with pytest.raises(ValueError, match=r"^min_train_acc: must be a number in \[0, 1\]"):
            check_min_train_acc(bad)
