import math

import numpy as np
import pandas as pd
import pytest

from analysis import curves, grid, schema
from analysis.claims import claims_table, correlations_table
from analysis.data import TABLES
from analysis.options import AnalysisOptions, resolve_options
from analysis.prepared import prepare
from analysis.reference import StableReference
from tests.analysis import store

FCN = "fcn depth 3 / mnist5k"
VGG = "vgg11 / cifar10"


@pytest.fixture(scope="module")
def opts(known_data):
    return resolve_options(known_data, AnalysisOptions(n_boot=300))


def test_options_resolve_to_avg_weights_and_median_centre(known_data, opts):
    assert (opts.wset, opts.center) == ("avg", "median")
    assert resolve_options(known_data, AnalysisOptions(wset="final")).wset == "final"
    with pytest.raises(ValueError, match="wset: unknown value 'last'"):
        AnalysisOptions(wset="last")
    with pytest.raises(ValueError, match="kappas"):
        AnalysisOptions(kappas=(1.5,))


def test_alpha_vs_eta_is_the_known_function_with_zero_spread(known_data, opts):
    curve = curves.alpha_vs_eta(known_data, opts)
    fcn = curve[(curve[curves.GROUP_LABEL] == FCN) & ~curve["raw"]]
    for role in ("first", "hidden", "last"):
        rows = fcn[fcn["series"] == f"role_{role}"]
        np.testing.assert_allclose(rows["mean"], [store.alpha_of(role, e) for e in rows[schema.ETA_B]])
    two_seeds = fcn[fcn["n"] == 2]
    assert len(two_seeds) and (two_seeds["std"] == 0).all()
    # The diverged trial is not averaged in: eta/b 1.2e-2 at width 64 has one seed left.
    cell = fcn[(fcn[schema.ETA_B] == 1.2e-2) & (fcn[schema.WIDTH] == 64)]
    assert set(cell["n"]) == {1}
    final = curves.alpha_vs_eta(known_data, resolve_options(known_data, AnalysisOptions(wset="final")))
    med = lambda c: c[(c["series"] == "median") & ~c["raw"] & (c[curves.GROUP_LABEL] == FCN)]["mean"].to_numpy()
    np.testing.assert_allclose(med(final) - med(curve), store.FINAL_OFFSET)


def test_error_slopes_per_eta_b_equal_the_constructed_slope(known_data, opts):
    slopes = curves.error_slopes(curves.error_points(known_data, opts), opts)
    fcn = slopes[(slopes[curves.GROUP_LABEL] == FCN) & (slopes[schema.METHOD] == "magnitude")]
    assert len(fcn) == 4 * 3 * 2
    expected = [store.slope_of(store.alpha_of(r, e)) for r, e in zip(fcn[schema.ROLE], fcn[schema.ETA_B])]
    np.testing.assert_allclose(fcn["slope"], expected, atol=1e-12)
    # Two seeds are two replicates: too few for an interval (it used to be a degenerate trial bootstrap).
    assert fcn["low"].isna().all() and fcn["high"].isna().all() and set(fcn["n_replicates"]) == {2}
    assert set(fcn["n_widths"]) == {3}
    assert slopes[slopes[curves.GROUP_LABEL] == VGG]["slope"].isna().all()      # one width: no slope


def test_prunable_slopes_per_eta_b_equal_the_constructed_slope(known_data, opts):
    slopes = curves.prunable_slopes(curves.layer_points(known_data, opts), opts)
    fcn = slopes[slopes[curves.GROUP_LABEL] == FCN]
    magnitude = fcn[fcn[schema.METHOD] == "magnitude"]
    assert len(magnitude) == 4 * 3
    expected = [0.0 if r == "last" else store.prunable_slope_of(store.alpha_of(r, e))
                for r, e in zip(magnitude[schema.ROLE], magnitude[schema.ETA_B])]
    np.testing.assert_allclose(magnitude["slope"], expected, atol=1e-12)
    assert (magnitude[magnitude[schema.ROLE] != "last"]["slope"] > 0).all()
    np.testing.assert_allclose(fcn[fcn[schema.METHOD] == "node"]["slope"], 0.0, atol=1e-12)   # flat in width
    assert magnitude["low"].isna().all() and set(magnitude["n_replicates"]) == {2} and set(magnitude["n_widths"]) == {3}


def test_width_curves_average_seeds_and_carry_the_reference(known_data, opts):
    points = curves.error_points(known_data, opts)
    curve = curves.width_curves(points, schema.ERROR, (curves.KAPPA,))
    row = curve[(curve[curves.GROUP_LABEL] == FCN) & (curve[schema.METHOD] == "magnitude") & (curve[schema.ROLE] == "last")
                & (curve[schema.ETA_B] == 8e-3) & (curve[schema.WIDTH] == 1024) & np.isclose(curve[curves.KAPPA], 0.1)].iloc[0]
    alpha = store.alpha_of("last", 8e-3)
    assert row["mean"] == pytest.approx(store.error_of(alpha, 0.9, 1024)) and row["n"] == 2
    assert row["n_entries"] == 10 * 1024 and row["alpha"] == pytest.approx(alpha)
    ref = StableReference(ratios=opts.ratios, eps=opts.eps, max_draws=60, min_draws=30, budget=200_000)
    with_ref = curves.with_reference(curve, ref, "error")
    mag = with_ref[with_ref[schema.METHOD] == "magnitude"]
    assert mag["ref_median"].notna().all() and with_ref[with_ref[schema.METHOD] != "magnitude"]["ref_median"].isna().all()
    assert ((mag["ref_q05"] <= mag["ref_median"]) & (mag["ref_median"] <= mag["ref_q95"])).all()
    point = ref.point(alpha, 10 * 1024)
    got = with_ref.loc[row.name]
    assert (got["ref_q05"], got["ref_median"], got["ref_q95"]) == point.error_q[opts.ratios.index(0.9)]


def test_claims_verdicts_follow_the_fixed_rule(known_data, opts):
    """Two seeds are two replicates: no interval, so every verdict is inconclusive with that reason (the
    old trial bootstrap called 4 of these 'holds'; tests/analysis/test_trust.py checks the verdicts on
    three seeds). The statistics themselves are the known ones."""
    table = claims_table(prepare(known_data, opts)).set_index(["claim", curves.GROUP_LABEL])
    fcn = table.xs(FCN, level=1)
    assert fcn.loc["alpha_falls_with_eta_b", "value"] == pytest.approx(-1.0)
    assert fcn.loc["alpha_falls_with_eta_b", "n_trials"] == 22
    assert set(fcn["verdict"]) == {"inconclusive"} and set(fcn["reason"]) == {"fewer than 3 replicates"}
    assert fcn["low"].isna().all() and fcn["high"].isna().all() and set(fcn["n_replicates"]) == {2}
    # Constructed against the paper: generalization error grows with eta/b, i.e. as alpha falls.
    assert fcn.loc["gap_grows_with_alpha", "value"] == pytest.approx(-1.0)
    top = fcn.loc["heavy_tails_at_top_eta_b"]
    assert top["value"] == pytest.approx(store.alpha_of("last", 1.2e-2) + store.RAW_OFFSET - 2)
    assert top["n_trials"] == 4
    # Per-layer claim: 66 layers of 22 trials.
    assert fcn.loc["lower_alpha_more_prunable", ["n_trials", "n_points"]].tolist() == [22, 66]
    # The width claim: the magnitude prunable fraction at eps 0.1 on every non-last layer (no alpha
    # filter), a fixed effect per (eta/b, layer), once per replicate; the value is the mean over the two
    # seeds of each seed's Sxx-weighted mean of the constructed group slopes.
    per_seed = []
    for seed in store.SEEDS:
        num = den = 0.0
        for e in store.ETAS:
            logs = np.log([w for w in store.WIDTHS if (e, w, seed) not in (store.MISSING, store.DIVERGED)])
            sxx = float(np.sum((logs - logs.mean()) ** 2))
            for r in ("first", "hidden"):
                num, den = num + store.prunable_slope_of(store.alpha_of(r, e)) * sxx, den + sxx
        per_seed.append(num / den)
    width = fcn.loc["error_falls_with_width"]
    assert width["value"] == pytest.approx(np.mean(per_seed)) and width["value"] > 0
    assert width["predicted"] == "> 0" and width["n_points"] == 2 * width["n_trials"] == 2 * 22
    # One seed and fewer than 5 trials: inconclusive whatever the statistic says.
    vgg = table.xs(VGG, level=1)
    assert (vgg["verdict"] == "inconclusive").all()
    assert vgg.loc["alpha_falls_with_eta_b", "value"] == pytest.approx(-1.0)
    assert vgg.loc["alpha_falls_with_eta_b", "n_trials"] == 3


def test_correlations_table_reports_spearman_and_kendall(known_data, opts):
    corr = correlations_table(prepare(known_data, opts))
    row = corr[(corr[curves.GROUP_LABEL] == FCN) & (corr["x"] == schema.ETA_B) & (corr["y"] == schema.ALPHA)].iloc[0]
    assert row["spearman"] == pytest.approx(-1.0) and row["kendall"] == pytest.approx(-1.0)
    # Two replicates: no interval (the reason says so), the point value is the mean per-seed correlation.
    assert math.isnan(row["spearman_low"]) and row["reason"] == "fewer than 3 replicates" and row["n_trials"] == 22
    layer = corr[(corr[curves.GROUP_LABEL] == FCN) & (corr["unit"] == "layers") & (corr["method"] == "node")].iloc[0]
    assert layer["n_points"] == 66 and layer["kendall"] == pytest.approx(-1.0)


def test_outcome_counts_show_missing_and_diverged(known_data):
    counts = grid.outcome_counts(known_data).set_index(curves.GROUP_LABEL)
    outcomes = ["converged", "capped", "underfit", "diverged", "failed", "incomplete", "missing"]
    assert counts.loc[FCN, outcomes].tolist() == [16, 6, 0, 1, 0, 0, 1]
    assert counts.loc[VGG, "missing"] == 0 and counts.loc["all", "runs"] == 26 and counts.loc["all", "cells"] == 27
    cells = grid.grid_cells(known_data)
    cell = cells[(cells[curves.GROUP_LABEL] == FCN) & (cells[schema.ETA_B] == store.MISSING[0])
                 & (cells[schema.WIDTH] == store.MISSING[1])]
    assert cell[["converged", "missing"]].values.tolist() == [[1, 1]]
    summary = grid.grid_summary(known_data).set_index(curves.GROUP_LABEL)
    assert summary.loc[FCN, schema.WIDTH] == "64, 256, 1024" and summary.loc[FCN, "runs"] == 23


def test_accuracy_and_gap_points(known_data, opts):
    acc = curves.accuracy_points(known_data, opts)
    row = acc[(acc[schema.METHOD] == "magnitude") & (acc[schema.RATIO] == 0.9) & (acc[schema.ETA_B] == 4e-3)].iloc[0]
    a_med = store.alpha_of("first", 4e-3)
    assert row[schema.PRUNED_ACC] == pytest.approx(store.pruned_acc(a_med, 4e-3, 0.9))
    assert row[schema.ALPHA] == pytest.approx(a_med)
    assert row[curves.REL_ACC] == pytest.approx(1 - 0.81 * (a_med - 1.5))
    gap = curves.gap_points(known_data, opts).set_index(schema.RUN)
    assert len(gap) == 25
    g = gap[(gap[schema.ETA_B] == 8e-3) & (gap[schema.WIDTH] == 1024)].iloc[0]
    assert g[curves.GEN_ERROR] == pytest.approx(1 - store.dense_acc(8e-3))
    # At width 1024 the non-last layers carry the store's width term (0 at width 64).
    per_layer = {r: store.prunable_at(store.alpha_of(r, 8e-3), r, 1024) for r in ("first", "hidden", "last")}
    assert g[schema.PRUNABLE] == pytest.approx(np.mean(list(per_layer.values())))
    assert g[curves.PRUNABLE_NON_LAST] == pytest.approx((per_layer["first"] + per_layer["hidden"]) / 2)


def test_trial_alpha_falls_back_to_the_layer_table(known_data, opts):
    """Without the logged aggregate column the same value is computed from the per-layer rows."""
    from analysis.data import SweepData
    from core import keys

    key = keys.alpha_key("avg", "multi", "role_last")
    logged = curves.trial_alpha(known_data, opts, "role_last")
    frames = {n: known_data.table(n) for n in TABLES}
    frames["trials"] = frames["trials"].drop(columns=[key])
    stripped = SweepData(name="x", **frames)
    computed = curves.trial_alpha(stripped, opts, "role_last")
    pd.testing.assert_series_equal(computed.sort_index(), logged.dropna().sort_index(), check_names=False)


def test_sweep_file_grid_fixes_the_expected_total(known_data):
    """An eta/b value with no run at all is invisible in the observed grid; the sweep file's grid shows it."""
    from analysis.data import SweepData

    text = "name: known\ngrid:\n  eta_over_b: [1.0e-3, 4.0e-3, 8.0e-3, 1.2e-2, 1.6e-2]\n  width: [64, 256, 1024]\n" \
           "  seed: [0, 1]\n  arch: [fcn, vgg11]\n"
    frames = {n: known_data.table(n) for n in TABLES}
    with_file = SweepData(name="known", meta={"sweep_file": text}, **frames)
    total = grid.outcome_counts(with_file).set_index(curves.GROUP_LABEL).loc["all"]
    assert total["missing"] == 5 * 3 * 2 * 2 - 26 and total["cells"] == 60
    assert grid.expected_trials("grid: {eta_over_b: [1, 2], seed: [0]}") == 2
    assert grid.expected_trials("not: [a grid") is None and grid.expected_trials(None) is None


def test_every_correlation_claim_clips_its_interval_to_the_correlation_range():
    from analysis.claims import CLAIMS
    from analysis.stats import CORRELATION_RANGE
    spearman = [c for c in CLAIMS if c.statistic.startswith("Spearman")]
    assert len(spearman) == 5 and all(c.bounds == CORRELATION_RANGE for c in spearman)
    assert all(c.bounds is None for c in CLAIMS if c not in spearman)
