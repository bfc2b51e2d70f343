"""Issue 10/11 analysis: fit-based exclusions, intervals across replicates with their reasons and schemes,
noise families and the noise claim, sweep-file analysis defaults, the measure-version warning.

The replicated store (tests/analysis/store.py) has three seeds and known answers; the known store's vgg
family has one seed."""
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from analysis import curves, grid, schema
from analysis.claims import claims_table, correlations_table, noise_pairs
from analysis.options import AnalysisOptions, options_for, options_from_sweep_file, resolve_options
from analysis.prepared import prepare
from analysis.usable import excluded_trials, measure_version_warning, trial_usability
from core.spec import TrainSpec
from tests.analysis import store

FCN = "fcn depth 3 / mnist5k"
NOISY = "fcn depth 3 / mnist5k / noise=row σ=0.05"
VGG = "vgg11 / cifar10"
UNDERFIT_NAME = "etab0.001-w256-s0-fcn"


@pytest.fixture(scope="module")
def rep():
    return store.replicated_data()


@pytest.fixture(scope="module")
def rep_claims(rep):
    return claims_table(prepare(rep, AnalysisOptions())).set_index(["claim", curves.GROUP_LABEL])


def test_underfit_capped_trial_is_excluded_with_its_reason(rep):
    status = trial_usability(rep.trials).set_index(rep.trials[schema.RUN_NAME])
    assert status.loc[UNDERFIT_NAME, schema.WHY_EXCLUDED] == f"underfit: train acc {store.UNDERFIT_ACC:.2f}"
    assert not status.loc[UNDERFIT_NAME, schema.USABLE] and status[schema.USABLE].sum() == len(rep.trials) - 1
    assert excluded_trials(rep.trials)[schema.RUN_NAME].tolist() == [UNDERFIT_NAME]
    # A lower threshold recomputes the fit (the tag says 'underfit' at the default) and re-admits it.
    assert trial_usability(rep.trials, 0.5)[schema.USABLE].all()
    counts = grid.outcome_counts(rep).set_index(curves.GROUP_LABEL)
    assert counts.loc[FCN, ["converged", "capped", "underfit"]].tolist() == [27, 8, 1]
    assert grid.outcome_counts(rep, 0.5).set_index(curves.GROUP_LABEL).loc[FCN, "underfit"] == 0


def test_the_underfit_trial_changes_a_claims_inputs(rep, rep_claims):
    readmitted = claims_table(prepare(rep, AnalysisOptions(min_train_acc=0.5))).set_index(["claim", curves.GROUP_LABEL])
    key = ("alpha_falls_with_eta_b", FCN)
    assert rep_claims.loc[key, "n_trials"] == 35 and readmitted.loc[key, "n_trials"] == 36


def test_reasons_of_known_store_diverged_failed_incomplete(known_data):
    why = trial_usability(known_data.trials).set_index(known_data.trials[schema.RUN_NAME])[schema.WHY_EXCLUDED]
    assert why[why != ""].tolist() == ["diverged at 27"]
    trials = known_data.trials.head(3).assign(**{schema.OUTCOME: ["failed", "incomplete", "capped"],
                                                 "eval/final/train/acc": [math.nan, math.nan, 0.5]})
    assert trial_usability(trials)[schema.WHY_EXCLUDED].tolist() == ["failed", "incomplete", "underfit: train acc 0.50"]


def test_every_claim_has_a_reason_and_a_scheme(rep_claims, known_data):
    known = claims_table(prepare(known_data, AnalysisOptions()))
    for table in (rep_claims.reset_index(), known):
        assert table["reason"].str.len().gt(0).all() and table["scheme"].str.len().gt(0).all()
    # Two seeds (the known fcn family): no interval, whatever the statistic says.
    fcn = known[known[curves.GROUP_LABEL] == "fcn depth 3 / mnist5k"]
    assert set(fcn["reason"]) == {"fewer than 3 replicates"} and fcn["low"].isna().all()


def test_one_seed_gives_no_interval_anywhere(known_data):
    table = claims_table(prepare(known_data, AnalysisOptions()))
    vgg = table[table[curves.GROUP_LABEL] == VGG]
    assert len(vgg) == 7 and set(vgg["reason"]) == {"no replicates"}
    assert vgg["low"].isna().all() and vgg["high"].isna().all() and set(vgg["verdict"]) == {"inconclusive"}
    corr = correlations_table(prepare(known_data, AnalysisOptions()))
    assert set(corr[corr[curves.GROUP_LABEL] == VGG]["reason"]) == {"no replicates"}


def _pooled_slope(seed: int, method: str = "magnitude", eps: float = 0.1) -> float:
    """The width claim's fixed-effect slope of one replicate: the Sxx-weighted mean of the groups'
    constructed slopes of the prunable fraction at eps vs ln(width)."""
    num = den = 0.0
    for etab in store.ETAS:
        logs = np.log([w for w in store.WIDTHS if (etab, w, seed) != store.UNDERFIT])
        sxx = float(np.sum((logs - logs.mean()) ** 2))
        for role in ("first", "hidden"):   # non-last layers, no alpha filter
            num += store.slope_scale(seed) * store.prunable_slope_of(store.alpha_of(role, etab), method, eps) * sxx
            den += sxx
    return num / den


def _t_interval(per: list[float]) -> tuple[float, float]:
    mean, half = np.mean(per), sps.t.ppf(0.975, len(per) - 1) * np.std(per, ddof=1) / math.sqrt(len(per))
    return mean - half, mean + half


def test_three_seeds_give_an_interval_across_replicates(rep_claims):
    per = [_pooled_slope(s) for s in store.REP_SEEDS]
    row = rep_claims.loc[("error_falls_with_width", FCN)]
    assert row["value"] == pytest.approx(np.mean(per)) and row["predicted"] == "> 0"
    assert (row["low"], row["high"]) == pytest.approx(_t_interval(per))
    assert row["verdict"] == "holds" and row["reason"] == "CI excludes 0 on the predicted side"
    assert row["scheme"] == "per-replicate statistic, interval across 3 replicates" and row["n_replicates"] == 3
    # Every non-last layer enters: the hidden layers' alphas (>= 1.94) all sit above heavy_alpha 1.9.
    assert row["n_trials"] == 35 and row["n_points"] == 2 * 35
    assert rep_claims.loc[("gap_grows_with_alpha", FCN), "reason"] == "CI excludes 0 on the other side"


def _width_row(rep, options: AnalysisOptions) -> pd.Series:
    table = claims_table(prepare(rep, options)).set_index(["claim", curves.GROUP_LABEL])
    return table.loc[("error_falls_with_width", FCN)]


def test_width_claim_follows_the_configured_eps(rep):
    """At eps 0.316 the store's magnitude prunable fraction falls with width: the claim reads that eps,
    its interval lies below 0, and the verdict is contradicted."""
    per = [_pooled_slope(s, "magnitude", 0.316) for s in store.REP_SEEDS]
    row = _width_row(rep, AnalysisOptions(eps=0.316))
    assert row["value"] == pytest.approx(np.mean(per)) and row["value"] < 0
    assert (row["low"], row["high"]) == pytest.approx(_t_interval(per)) and row["high"] < 0
    assert row["verdict"] == "contradicted" and row["reason"] == "CI excludes 0 on the other side"
    assert row["n_points"] == 2 * 35


def test_width_claim_follows_the_configured_method(rep):
    """The noise-width demo's own analysis section (neuron at 0.316) is what the claim reads; neuron at
    eps 0.1 is flat in width in the store, so a claim that read another method would not give 0 there."""
    text = (Path(__file__).resolve().parents[2] / "configs" / "noise-width.yaml").read_text()
    demo = options_for(text)
    assert (demo.method, demo.eps) == ("neuron", 0.316)
    per = [_pooled_slope(s, "neuron", 0.316) for s in store.REP_SEEDS]
    row = _width_row(rep, demo)
    assert row["value"] == pytest.approx(np.mean(per)) and (row["low"], row["high"]) == pytest.approx(_t_interval(per))
    assert row["verdict"] == "holds"
    assert _width_row(rep, AnalysisOptions(method="neuron"))["value"] == pytest.approx(0.0, abs=1e-12)


def test_width_note_points_to_the_alpha_figure_when_the_slope_is_not_positive(rep, rep_claims):
    from analysis.html import render
    from analysis.report import claim_notes

    # Rising everywhere at the default eps: no family gets a note.
    assert claim_notes(rep_claims.reset_index()) == []
    falling = claims_table(prepare(rep, AnalysisOptions(eps=0.316)))
    notes = {anchor: text for text, anchor in claim_notes(falling)}
    value = falling.set_index(["claim", curves.GROUP_LABEL]).loc[("error_falls_with_width", FCN), "value"]
    text = notes["alpha_vs_width_fcn-depth-3-mnist5k"]
    assert text == (f"error_falls_with_width, {FCN}: the slope of the prunable fraction vs ln(width) is not positive "
                    f"({value:.3g}); see the tail index vs width: where alpha stays near 2, wider layers are not "
                    "expected to prune better.")
    empty = pd.DataFrame()
    page = render(name="x", source="", generated="", version="", options="", level=0.95, min_trials=5,
                  min_train_acc=0.99, warning=None, excluded=empty, claim_notes=claim_notes(falling),
                  grid_summary=empty, outcome_counts=empty, claims=falling, figures=[], correlations=empty,
                  slopes=empty, prunable_slopes=empty, eps=0.316, method="magnitude", tables=[])
    assert text in page and 'href="#alpha_vs_width_fcn-depth-3-mnist5k"' in page


def test_two_widths_and_one_eta_b_have_no_interval(rep_claims):
    row = rep_claims.loc[("error_falls_with_width", VGG)]
    assert row["reason"] == "2 width levels" and math.isnan(row["low"]) and row["verdict"] == "inconclusive"
    assert math.isfinite(row["value"])                       # the statistic is still reported
    assert rep_claims.loc[("alpha_falls_with_eta_b", NOISY), "reason"] == "CI undefined: one η/b value"


def test_noise_claim_pairs_by_width_and_seed(rep, rep_claims):
    pairs = noise_pairs(prepare(rep, AnalysisOptions()).gap)
    assert len(pairs) == len(store.WIDTHS) * len(store.REP_SEEDS)
    assert (pairs[schema.ETA_B] == store.NOISE_ETA).all()
    want = {(w, s): store.noise_gain(s, w) for w in store.WIDTHS for s in store.REP_SEEDS}
    got = {(int(w), int(s)): d for w, s, d in zip(pairs[schema.WIDTH], pairs[schema.SEED], pairs["difference"])}
    assert got == pytest.approx(want)
    per_seed = [np.mean([store.noise_gain(s, w) for w in store.WIDTHS]) for s in store.REP_SEEDS]
    half = sps.t.ppf(0.975, 2) * np.std(per_seed, ddof=1) / math.sqrt(3)
    row = rep_claims.loc[("noise_makes_compressible", f"{NOISY} vs none")]
    assert row["value"] == pytest.approx(0.14) and row["value"] == pytest.approx(np.mean(per_seed))
    assert (row["low"], row["high"]) == pytest.approx((0.14 - half, 0.14 + half))
    assert row["verdict"] == "holds" and row["n_trials"] == 9


def test_family_keys_separate_noise_settings():
    base = {schema.ARCH: "fcn", schema.DEPTH: 2, schema.DATASET: "mnist5k"}
    labels = {curves.group_label({**base, schema.NOISE: "row", schema.NOISE_SCALE: s}) for s in (0.05, 0.2)}
    assert labels == {"fcn depth 2 / mnist5k / noise=row σ=0.05", "fcn depth 2 / mnist5k / noise=row σ=0.2"}
    # No noise however spelled, and old runs without the params, are one family.
    plain = {curves.group_label(base), curves.group_label({**base, schema.NOISE: "row", schema.NOISE_SCALE: 0.0}),
             curves.group_label({**base, schema.NOISE: "none", schema.NOISE_SCALE: None})}
    assert plain == {"fcn depth 2 / mnist5k"}
    other = curves.group_label({**base, schema.NOISE: "row", schema.NOISE_SCALE: 0.05, schema.NOISE_ALPHA: 1.5,
                                schema.PARAMETRIZATION: "mean_field"})
    assert other == "fcn depth 2 / mnist5k / mean_field / noise=row σ=0.05 α=1.5"


def _replicated_with(change) -> "SweepData":
    from analysis.tables import build_tables

    records = [store.run_record(t, i) for i, t in enumerate(store.replicated_trials())]
    for record in records:
        change(record.params)
    return build_tables("replicated", records, {"source": "constructed", "sweep_file": None})


def test_families_split_on_any_other_spec_field_that_varies():
    # The noiseless fcn trials at the noise eta/b stopped at 90% train accuracy: they differ from their
    # noisy neighbours in more than the noise, so they are a family of their own and pair with nothing.
    def stop_early(params):
        if params["model.arch"] == "fcn" and params["eta_over_b"] == store.NOISE_ETA and not params["train.noise_scale"]:
            params["train.stop_acc"] = 0.9
        if params["model.arch"] == "vgg11" and params["model.width"] == store.TWO_WIDTHS[0]:
            del params["data.n_test"]         # an old run without the param reads as its default: no split

    data = _replicated_with(stop_early)
    labels = curves.trial_axes(data, usable_only=False)[curves.GROUP_LABEL].value_counts().to_dict()
    assert labels == {f"{FCN} / train.stop_acc=0.9": 9, f"{FCN} / train.stop_acc=None": 27,
                      f"{FCN} / train.stop_acc=None / noise=row σ=0.05": 9, "vgg11 / cifar10": 18}
    options = resolve_options(data, AnalysisOptions(method="magnitude"))
    assert noise_pairs(prepare(data, options).gap).empty
    table = claims_table(prepare(data, options)).set_index(["claim", curves.GROUP_LABEL])
    assert table.loc[("noise_makes_compressible", f"{FCN} / train.stop_acc=None / noise=row σ=0.05 vs none"),
                     "n_trials"] == 0

    # The same noiseless trials with the noisy ones' settings pair again, 9 pairs.
    data = _replicated_with(lambda params: None)
    assert len(noise_pairs(prepare(data, resolve_options(data, AnalysisOptions(method="magnitude"))).gap)) == 9


def test_family_settings_compare_numbers_as_numbers():
    # An int param that some runs lack comes back as floats in the others (1000000.0): it must read as the
    # default those runs had, 1000000, and not split the family. And every digit counts.
    default = TrainSpec().max_iters

    def long_runs(params):
        params["train.max_iters"] = default
        if params["model.arch"] == "vgg11" and params["model.width"] == store.TWO_WIDTHS[0]:
            del params["train.max_iters"]

    data = _replicated_with(long_runs)
    assert data.trials["train.max_iters"].isna().any() and data.trials["train.max_iters"].dtype == float
    labels = curves.trial_axes(data, usable_only=False)[curves.GROUP_LABEL].value_counts().to_dict()
    assert labels["vgg11 / cifar10"] == 18
    assert curves.setting_text({"x": float(default)}, "x") == curves.setting_text({}, "train.max_iters") == str(default)
    assert curves.setting_text({"x": 20240611.0}, "x") != curves.setting_text({"x": 20240612.0}, "x")
    assert curves.setting_text({"x": "[0.1, 0.316]"}, "x") == "[0.1, 0.316]"


def test_neuron_is_read_uncentred(rep):
    options = resolve_options(rep, AnalysisOptions(method="neuron"))
    assert options.center == "median" and options.center_for("neuron") == "none"
    layers = curves.layer_points(rep, options)
    neuron = layers[layers[schema.METHOD] == "neuron"]
    assert len(neuron) == 3 * (len(rep.trials) - 1)
    table = claims_table(prepare(rep, options)).set_index(["claim", curves.GROUP_LABEL])
    assert table.loc[("lower_alpha_more_prunable", FCN), "value"] == pytest.approx(-1.0)


def test_measure_version_warning_names_the_old_trials(rep, known_data):
    text = measure_version_warning(rep.trials, "replicated")
    old = rep.trials[rep.trials[schema.WIDTH] == store.OLD_VERSION_WIDTH][schema.RUN_NAME]
    assert len(old) == 15 and all(f"{name} (v1)" in text for name in old)
    assert "tailsweep remeasure replicated" in text and "etab0.001-w64-s0-fcn" not in text
    assert measure_version_warning(known_data.trials, "known") is None      # all version 1: no mix


def test_sweep_file_analysis_section_and_flags():
    text = "name: x\nanalysis:\n  method: neuron\n  eps: 0.2\n  min_train_acc: 0.5\n  kappas: [0.1]\n"
    assert options_from_sweep_file(text) == {"method": "neuron", "eps": 0.2, "min_train_acc": 0.5, "kappas": (0.1,)}
    options = options_for(text, {"eps": 0.3, "method": None})
    assert (options.method, options.eps, options.min_train_acc, options.kappas) == ("neuron", 0.3, 0.5, (0.1,))
    assert options_for(None).method == "magnitude" and options_from_sweep_file("name: x\n") == {}
    for section, message in (("{method: foo}", "analysis.method: unknown value 'foo' (allowed: magnitude"),
                             ("{min_train_acc: 2}", "analysis.min_train_acc: must be a number in [0, 1]"),
                             ("{colour: red}", "analysis.colour: unknown field (allowed: method, eps")):
        with pytest.raises(ValueError) as err:
            options_from_sweep_file(f"analysis: {section}\n")
        assert str(err.value).startswith(message)


@pytest.mark.integration   # two report builds: .ci/run's integration step
def test_report_warns_lists_exclusions_and_marks_trials(rep, tmp_path):
    from analysis.report import write_report

    lines: list[str] = []
    fast = AnalysisOptions(n_boot=50, ref_draws=20, ref_budget=50_000, ref_max_items=2_000)
    page = write_report(rep, tmp_path, fast, progress=lines.append)
    html = page.read_text()
    assert 'id="measure-version-warning"' in html and "tailsweep remeasure replicated" in html
    warnings = [line for line in lines if "mixes measure versions" in line]
    assert len(warnings) == 1 and "etab0.001-w1024-s0-fcn (v1)" in warnings[0]
    assert f"underfit: train acc {store.UNDERFIT_ACC:.2f}" in html
    trials = pd.read_csv(tmp_path / "tables" / "trials.csv").set_index(schema.RUN_NAME)
    assert not trials.loc[UNDERFIT_NAME, schema.USABLE] and trials[schema.USABLE].sum() == len(trials) - 1
    assert trials.loc[UNDERFIT_NAME, schema.WHY_EXCLUDED].startswith("underfit")
    assert set(trials[schema.MEASURE_VERSION]) == {1, 2}
    claims = pd.read_csv(tmp_path / "tables" / "claims.csv")
    assert {"reason", "scheme"} <= set(claims.columns) and "CI excludes 0 on the predicted side" in html
    figures = {p.stem for p in (tmp_path / "figures").glob("*.png")}
    assert {"prunable_by_noise_fcn-depth-3-mnist5k", "alpha_vs_width_vgg11-cifar10"} <= figures
    assert "width_neuron_fcn-depth-3-mnist5k" in figures
    # The noise figure's table: the noiseless and the noisy curve at eta/b NOISE_ETA, 3 seeds per point.
    noise = pd.read_csv(tmp_path / "tables" / "prunable_vs_width_by_noise.csv")
    point = noise[(noise[schema.ETA_B] == store.NOISE_ETA) & (noise[curves.NOISE_LABEL] == "noise=row σ=0.05")
                  & (noise[schema.WIDTH] == 64)].iloc[0]
    base = np.mean([store.prunable_at(store.alpha_of(r, store.NOISE_ETA), r, 64) for r in ("first", "hidden")])
    assert point["mean"] == pytest.approx(base + np.mean([store.noise_gain(s, 64) for s in store.REP_SEEDS]))
    assert point["n"] == 3
    # Its bars are the replicate interval: the 95% t interval of the three seeds' values.
    values = [base + store.noise_gain(s, 64) for s in store.REP_SEEDS]
    half = sps.t.ppf(0.975, 2) * np.std(values, ddof=1) / math.sqrt(3)
    assert (point["low"], point["high"]) == pytest.approx((np.mean(values) - half, np.mean(values) + half))
    assert "mean and its 95% t interval across seeds" in html


@pytest.mark.integration   # two report builds: .ci/run's integration step
def test_cli_sweep_file_defaults_apply_and_flags_win(rep, tmp_path, capsys):
    from analysis.__main__ import main as analysis_main
    from analysis.bundle import write_bundle

    from analysis.data import TABLES, SweepData

    text = "name: replicated\nanalysis:\n  min_train_acc: 0.5\n  min_trials: 4\n"
    full = store.replicated_data(text)
    # The underfit trial's cell and one more eta/b: enough to tell the thresholds apart, quick to report.
    keep = set(full.trials[(full.trials[schema.WIDTH] == 256) & (full.trials[schema.ETA_B] <= 4e-3)
                           & (full.trials["train.noise"] == "none")][schema.RUN])
    frames = {n: full.table(n)[full.table(n)[schema.RUN].isin(keep)] for n in TABLES}
    bundle = tmp_path / "bundle"
    write_bundle(SweepData(name="replicated", meta=full.meta, **frames), bundle)
    assert json.loads((bundle / "manifest.json").read_text())["sweep_file"] == text
    out = tmp_path / "rep"
    assert analysis_main(["report", "--bundle", str(bundle), "--out", str(out), "--n-boot", "20"]) == 0
    trials = pd.read_csv(out / "tables" / "trials.csv")
    assert trials[schema.USABLE].all()                       # the sweep file's 0.5 re-admits the underfit trial
    assert "min_trials 4 ·" in (out / "index.html").read_text()      # the header states the settings used
    out2 = tmp_path / "rep2"
    assert analysis_main(["report", "--bundle", str(bundle), "--out", str(out2), "--n-boot", "20",
                          "--min-train-acc", "0.99"]) == 0
    trials = pd.read_csv(out2 / "tables" / "trials.csv").set_index(schema.RUN_NAME)
    assert not trials.loc[UNDERFIT_NAME, schema.USABLE]     # the flag wins over the sweep file
    capsys.readouterr()
    assert analysis_main(["report", "--bundle", str(bundle), "--out", str(out2), "--min-train-acc", "1.5"]) == 2
    assert "min_train_acc: must be a number in [0, 1]" in capsys.readouterr().err


def test_noise_width_intervals_are_t_intervals_clipped_to_fractions():
    # Three seeds of one noisy point, spread out near 1: the t interval's top (4.3 sd / sqrt 3 above the
    # mean) would pass 1; the curve clips it where a fraction lives. One or two seeds: no interval (two
    # would give t = 12.7 and a bar over all of [0, 1]).
    values = [0.98, 0.53, 0.79]
    gap = pd.DataFrame({curves.BASE_LABEL: "b", curves.NOISE_LABEL: "noise=row σ=0.05", curves.GROUP_LABEL: "g",
                        schema.ETA_B: 1e-3, schema.WIDTH: [256, 256, 256, 128, 512, 512],
                        curves.PRUNABLE_NON_LAST: [*values, 0.55, 0.2, 0.6]})
    curve = curves.noise_width_curves(gap).set_index(schema.WIDTH)
    half = sps.t.ppf(0.975, 2) * np.std(values, ddof=1) / math.sqrt(3)
    assert np.mean(values) + half > 1
    assert (curve.loc[256, "low"], curve.loc[256, "high"]) == pytest.approx((np.mean(values) - half, 1.0))
    assert curve.loc[128, "n"] == 1 and np.isnan(curve.loc[128, "low"]) and np.isnan(curve.loc[128, "high"])
    assert curve.loc[512, "n"] == 2 and np.isnan(curve.loc[512, "low"]) and np.isnan(curve.loc[512, "high"])
    assert curve.loc[512, "mean"] == pytest.approx(0.4)
