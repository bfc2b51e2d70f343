import math

import pytest

from core import keys
from core.pipeline import run_trial
from core.result import TrialResult
from core.spec import CompressSpec, DataSpec, ModelSpec, TrainSpec, TrialSpec

RATIOS = (0.0, 0.5, 0.9)


@pytest.fixture(scope="module")
def mnist_result():
    spec = TrialSpec(
        eta_over_b=4e-3, batch_size=50, seed=0,
        data=DataSpec(dataset="mnist5k", n_train=1000, n_test=500),
        model=ModelSpec(arch="fcn", depth=3, width=32),
        train=TrainSpec(max_iters=600, avg_window=100, eval_every=100, test_every=300, alpha_every=300),
        compress=CompressSpec(ratios=RATIOS, curve_ratios=(0.0, 0.5, 0.9), eps=(0.05, 0.1)),
    )
    return run_trial(spec)


def test_full_trial_on_mnist5k_measures_every_family(mnist_result):
    r = mnist_result
    assert r.status == "capped" and r.iterations == 600
    m = r.metrics
    assert [l["role"] for l in r.layers] == ["first", "hidden", "last"]
    assert r.layers[0]["shape"] == [32, 784]
    for wset in keys.WEIGHT_SETS:
        assert m[keys.eval_key(wset, "test", "acc")] > 0.6   # 600 SGD steps on real digits learn something
        assert m[keys.gap_key(wset, "acc")] == pytest.approx(
            m[keys.eval_key(wset, "test", "acc")] - m[keys.eval_key(wset, "train", "acc")])
        for variant in keys.ALPHA_VARIANTS:
            for i in range(3):
                capped = m[keys.alpha_key(wset, variant, keys.layer(i))]
                raw = m[keys.alpha_key(wset, variant, keys.layer(i), raw=True)]
                assert capped == min(raw, 2.0)
            layer_values = [m[keys.alpha_key(wset, variant, keys.layer(i))] for i in range(3)]
            assert m[keys.alpha_key(wset, variant, "min")] == min(layer_values)
            assert m[keys.alpha_key(wset, variant, "role_last")] == layer_values[2]
        for method in ("magnitude", "singular", "node"):
            for center in ("median", "none"):
                assert m[keys.error_key(wset, method, center, 0.0, 1)] == 0.0
                errs = [m[keys.error_key(wset, method, center, r_, 1)] for r_ in (0.0, 0.5, 0.9)]
                assert errs == sorted(errs)
                assert m[keys.prunable_key(wset, method, center, 0.05, 0)] <= m[
                    keys.prunable_key(wset, method, center, 0.1, 0)]


def test_pruning_nothing_keeps_the_unpruned_accuracy(mnist_result):
    m = mnist_result.metrics
    for wset in keys.WEIGHT_SETS:
        for method in ("magnitude", "singular", "node"):
            assert m[keys.pruned_key("acc", wset, method, 0.0)] == m[keys.eval_key(wset, "test", "acc")]
    assert m[keys.remaining_key("magnitude", 0.0)] == 1.0
    assert m[keys.remaining_key("magnitude", 0.9)] < m[keys.remaining_key("magnitude", 0.5)] < 1.0
    assert m[keys.sv_removed_key(0.5)] > 0


def test_step_history_and_timings_are_recorded(mnist_result):
    hist = {k for _, k, _ in mnist_result.history}
    assert {"batch/loss", "test/acc", "train/loss", "alpha/current/multi/layer2"} <= hist
    for stage in ("data", "train", "tails", "curves", "pruned_eval"):
        assert mnist_result.metrics[keys.time_key(stage)] >= 0


def test_result_round_trips_through_json_and_flattens_to_records(mnist_result):
    again = TrialResult.from_json(mnist_result.to_json())
    assert again == mnist_result
    rows = mnist_result.to_records()
    assert len(rows) == len(mnist_result.metrics) + len(mnist_result.history)
    row = next(r for r in rows if r["key"] == keys.error_key("avg", "node", "median", 0.5, 2))
    assert row["family"] == "error" and row["layer"] == 2 and row["ratio"] == 0.5


def test_diverged_trial_is_a_result_with_analysis_skipped():
    spec = TrialSpec(eta_over_b=50.0, batch_size=50,
                     data=DataSpec(dataset="synthetic", dim=16, n_train=300, n_test=100),
                     model=ModelSpec(width=32, depth=3), train=TrainSpec(max_iters=1000, eval_every=20))
    r = run_trial(spec)
    assert r.status == "diverged" and r.iterations < 1000
    assert not any(k.startswith(("alpha/", "error/", "pruned_acc/")) for k in r.metrics)
    assert r.notes and "diverged" in r.notes[0]
    again = TrialResult.from_json(r.to_json())
    assert again.status == "diverged"
    assert any(not math.isfinite(v) for _, k, v in again.history if k == "batch/loss") or again.iterations < 1000
