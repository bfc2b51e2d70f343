import math

import numpy as np
import pytest

from analysis.reference import StableReference, prunable_fractions, removal_errors, sorted_cumulative_share


def test_kernels_match_brute_force():
    rng = np.random.default_rng(0)
    x = rng.standard_t(2.0, size=(3, 257))
    share = sorted_cumulative_share(x)
    ratios = (0.0, 0.3, 0.9, 1.0)
    errors = removal_errors(share, ratios)
    for row, xs in zip(errors, x):
        order = np.sort(np.abs(xs))
        for r, e in zip(ratios, row):
            k = math.floor(r * len(xs) + 1e-9)
            assert e == pytest.approx(np.sqrt((order[:k] ** 2).sum() / (order ** 2).sum()), abs=1e-12)
    for frac, xs in zip(prunable_fractions(share, 0.1), x):
        order = np.sort(np.abs(xs))
        best = max(k for k in range(len(xs) + 1) if np.sqrt((order[:k] ** 2).sum() / (order ** 2).sum()) <= 0.1)
        assert frac == pytest.approx(best / len(xs))


def test_reproduces_the_d_table_of_paper_md():
    """docs/science.md: medians of the relative l2 error keeping the top 10%: alpha 1.5 -> 0.31 (d=1e3), 0.21 (1e4);
    alpha 1.8 -> 0.58, 0.51; Gaussian 0.749 at every d; Gaussian prunable fraction at eps 0.1 = 0.2653."""
    ref = StableReference(ratios=(0.9,), max_draws=200, budget=1_000_000)
    for alpha, d, want, tol in ((1.5, 1000, 0.31, 0.03), (1.5, 10_000, 0.21, 0.03), (1.8, 1000, 0.58, 0.03),
                                (1.8, 10_000, 0.51, 0.03), (2.0, 1000, 0.749, 0.01), (2.0, 10_000, 0.749, 0.005)):
        assert ref.point(alpha, d).error_q[0][1] == pytest.approx(want, abs=tol), (alpha, d)
    gauss = ref.point(2.0, 10_000)
    assert gauss.prunable_q[1] == pytest.approx(0.2653, abs=0.005)
    assert gauss.error_q[0][0] < gauss.error_q[0][1] < gauss.error_q[0][2]
    assert ref.point(2.3, 10_000) is gauss      # alpha >= 2 is Gaussian, and points are cached


def test_large_layers_are_extrapolated_along_the_known_rate():
    """docs/science.md's d-table, alpha 1.5: 0.14 at d = 1e5 and 0.10 at d = 1e6, simulated at only 1e4 entries."""
    ref = StableReference(ratios=(0.9,), max_items=10_000, budget=1_000_000, min_draws=100)
    big, bigger = ref.point(1.5, 100_000), ref.point(1.5, 1_000_000)
    assert big.extrapolated and big.simulated_items == 10_000
    assert big.error_q[0][1] == pytest.approx(0.14, abs=0.02)
    assert bigger.error_q[0][1] == pytest.approx(0.10, abs=0.015)
    # Heavier compression as d grows, and the Gaussian never moves.
    assert bigger.prunable_q[1] > big.prunable_q[1] > ref.point(1.5, 10_000).prunable_q[1]
    assert ref.point(2.0, 1_000_000).error_q[0][1] == pytest.approx(0.749, abs=0.005)


def test_rejects_bad_input():
    ref = StableReference(ratios=(0.9,))
    with pytest.raises(ValueError, match="alpha"):
        ref.point(float("nan"), 100)
    with pytest.raises(ValueError, match="n_items"):
        ref.point(1.5, 1)
    with pytest.raises(ValueError, match="ratios"):
        StableReference(ratios=(1.5,))
