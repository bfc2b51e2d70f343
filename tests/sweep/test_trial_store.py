"""The trial directory protocol, snapshots and per-trial plots (no MLflow)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from core import keys
from core.result import TrialResult
from core.spec import CompressSpec, ModelSpec, TrialSpec
from core import atomic
from sweep import measures_table, trial_plots
from sweep.paths import Layout
from sweep.trial_store import TrialStore, store_key

LAYER_NAMES = ("net.0.weight", "net.2.weight", "net.4.weight")


def make_spec(eta_over_b: float = 1e-3, width: int = 16, seed: int = 0) -> TrialSpec:
    return TrialSpec(eta_over_b=eta_over_b, seed=seed, model=ModelSpec(arch="fcn", depth=3, width=width),
                     compress=CompressSpec(methods=("magnitude", "node"), ratios=(0.5,), eps=(0.1,)))


def make_weights(width: int = 16, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    heavy = torch.distributions.StudentT(1.5).sample((10, width))   # the heavy-tailed last layer
    return {LAYER_NAMES[0]: torch.randn(width, 784, generator=g), LAYER_NAMES[1]: torch.randn(width, width, generator=g),
            LAYER_NAMES[2]: heavy}


def make_result(spec: TrialSpec, *, iterations: int = 1000, every: int = 100, extra_metrics: int = 0,
                status: str = "converged") -> TrialResult:
    """A hand-built TrialResult with the key families of core.keys: step history and final metrics."""
    history = []
    for step in range(0, iterations + 1, every):
        history += [(step, "train/loss", 1.0 / (step + 1)), (step, "train/acc", min(1.0, step / iterations)),
                    (step, keys.CURRENT_ALPHA_PREFIX + "layer0", 2.0 - step / (4 * iterations)),
                    (step, keys.CURRENT_ALPHA_PREFIX + "layer2", 1.9 - step / (3 * iterations))]
    metrics = {"iterations": float(iterations), keys.eval_key("avg", "test", "acc"): 0.93,
               keys.gap_key("avg", "acc"): -0.05}
    for i, (multi, uni) in enumerate([(1.95, 1.9), (1.99, 1.97), (1.62, 1.5)]):
        metrics[keys.alpha_key("avg", "multi", f"layer{i}", raw=True)] = multi
        metrics[keys.alpha_key("avg", "multi", f"layer{i}")] = min(multi, 2.0)
        metrics[keys.alpha_key("avg", "uni", f"layer{i}", raw=True)] = uni
        for method in ("magnitude", "node"):
            for ratio in spec.compress.curve_ratios:
                metrics[keys.error_key("avg", method, "median", ratio, i)] = (1 - ratio) ** (0.5 + i / 4)
    metrics.update({f"time/extra{i}": float(i) for i in range(extra_metrics)})
    layers = tuple({"index": i, "name": n, "role": ("first", "hidden", "last")[i], "shape": list(s)}
                   for i, (n, s) in enumerate(zip(LAYER_NAMES, [(16, 784), (16, 16), (10, 16)])))
    return TrialResult(spec=spec, status=status, iterations=iterations, metrics=metrics, history=tuple(history),
                       layers=layers)


@pytest.fixture
def store(tmp_path: Path) -> TrialStore:
    return TrialStore(Layout(tmp_path / "root"), "demo")


def test_write_spec_is_idempotent_and_refuses_a_different_spec(store: TrialStore) -> None:
    spec = make_spec()
    files = store.write_spec(spec)
    assert TrialSpec.from_json(files.spec.read_text()) == spec
    mtime = files.spec.stat().st_mtime_ns
    store.write_spec(spec)
    assert files.spec.stat().st_mtime_ns == mtime
    files.spec.write_text(make_spec(width=32).to_json())      # a directory that lies about its hash
    with pytest.raises(ValueError, match="different spec"):
        store.write_spec(spec)


def test_invalid_sweep_name_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="name"):
        TrialStore(Layout(tmp_path), "../escape")


def test_snapshot_round_trip_is_exact_safetensors(store: TrialStore) -> None:
    spec = make_spec()
    weights = make_weights()
    weights["transposed"] = weights[LAYER_NAMES[0]].t()          # non-contiguous input
    path = store.save_snapshot(spec.spec_hash(), "it200", weights)
    assert path.name == "it200.safetensors" and path.read_bytes()[8:9] == b"{"   # safetensors header, not pickle
    back = store.load_snapshot(spec.spec_hash(), "it200")
    assert set(back) == set(weights) and all(torch.equal(back[k], weights[k]) for k in weights)
    saver = store.snapshot_saver(spec.spec_hash())
    saver("avg", weights)
    assert torch.equal(store.load_snapshot(spec.spec_hash(), "avg")["net.2.weight"], weights["net.2.weight"])


@pytest.mark.parametrize("tag", ["latest", "it", "it-3", "../final", ""])
def test_unknown_snapshot_tag_is_a_value_error(store: TrialStore, tag: str) -> None:
    with pytest.raises(ValueError, match="tag: unknown value"):
        store.save_snapshot(make_spec().spec_hash(), tag, make_weights())


def test_write_result_writes_record_plots_and_done(store: TrialStore) -> None:
    spec = make_spec()
    store.save_snapshot(spec.spec_hash(), "avg", make_weights())
    result = make_result(spec)
    assert store.write_result(result) is True
    files = store.files(spec.spec_hash())
    assert store.is_done(spec.spec_hash())
    assert json.loads(files.done.read_text()) == {"status": "converged", "iterations": 1000}
    assert store.outcome(spec.spec_hash()) == "converged"
    assert store.load_result(spec.spec_hash()) == result
    plots = sorted(p.name for p in files.plots.iterdir())
    assert plots == sorted(trial_plots.PLOT_NAMES)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in files.plots.iterdir())
    # DONE is the last file written.
    written = [files.result, files.table, *files.plots.iterdir()]
    assert all(files.done.stat().st_mtime_ns >= p.stat().st_mtime_ns for p in written)
    assert not list(files.dir.rglob("*.tmp"))


def test_the_table_holds_the_table_keys_sorted_and_the_same_bytes_for_the_same_result(store: TrialStore) -> None:
    from analysis.load import read_table
    import pyarrow.parquet as pq

    spec = make_spec()
    result = make_result(spec)
    result.metrics[keys.pruned_key("loss", "avg", "node", 0.5)] = math.nan   # exact through the table too
    result.metrics[keys.remaining_key("node", 0.5)] = math.inf
    assert store.write_result(result, plots=False)
    files = store.files(spec.spec_hash())
    expected = {k: v for k, v in result.metrics.items() if keys.is_table_key(k)}
    assert len(expected) > 100 and len(expected) < len(result.metrics)
    table = pq.read_table(files.table)
    assert table.column_names == list(keys.TABLE_COLUMNS)
    assert table.column("key").to_pylist() == sorted(expected)            # stable row order
    rows = read_table(files.table)
    assert rows.keys() == expected.keys()
    assert all(rows[k] == v or (math.isnan(rows[k]) and math.isnan(v)) for k, v in expected.items())
    data, mtime = files.table.read_bytes(), files.table.stat().st_mtime_ns
    assert measures_table.table_bytes(dict(reversed(list(result.metrics.items())))) == data
    store.replace_measurements(result)                                      # same values: the file is untouched
    assert files.table.read_bytes() == data and files.table.stat().st_mtime_ns == mtime


def test_a_directory_without_a_table_gets_one_and_a_diverged_trial_has_none(store: TrialStore) -> None:
    spec = make_spec()
    result = make_result(spec)
    store.write_result(result, plots=False)
    files = store.files(spec.spec_hash())
    data = files.table.read_bytes()
    files.table.unlink()                                  # a trial finished before tables existed
    assert store.ensure_table(result) == files.table and files.table.read_bytes() == data
    files.table.write_bytes(b"written by another pyarrow")
    assert store.ensure_table(result) == files.table and files.table.read_bytes() == b"written by another pyarrow"
    diverged = TrialResult(spec=make_spec(width=8), status="diverged", iterations=27,
                           metrics={"iterations": 27.0, keys.eval_key("final", "train", "loss"): math.nan})
    store.write_result(diverged, plots=False)
    assert store.ensure_table(diverged) is None and not store.files(diverged.spec.spec_hash()).table.exists()


def test_crash_before_done_leaves_an_unfinished_trial(store: TrialStore, monkeypatch) -> None:
    spec = make_spec()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt   # the process dies while drawing plots

    monkeypatch.setattr(trial_plots, "write_plots", killed)
    with pytest.raises(KeyboardInterrupt):
        store.write_result(make_result(spec))
    assert store.files(spec.spec_hash()).result.exists()
    assert not store.is_done(spec.spec_hash()) and store.done_hashes() == [] and list(store.iter_done()) == []
    with pytest.raises(ValueError, match="not finished"):
        store.load_result(spec.spec_hash())


def test_a_broken_plot_does_not_lose_the_trial(store: TrialStore) -> None:
    spec = make_spec()
    files = store.files(spec.spec_hash())
    files.weights.mkdir(parents=True)
    (files.weights / "avg.safetensors").write_bytes(b"not a safetensors file")
    assert store.write_result(make_result(spec))
    assert store.is_done(spec.spec_hash())
    assert sorted(p.name for p in files.plots.iterdir()) == ["alpha_trajectory.png", "pruning_curves.png"]


def test_finished_results_are_never_overwritten(store: TrialStore) -> None:
    spec = make_spec()
    first = make_result(spec, iterations=1000)
    store.write_result(first, plots=False)
    assert store.write_result(make_result(spec, iterations=2000, status="capped"), plots=False) is False
    assert store.load_result(spec.spec_hash()) == first


def test_listing_finished_and_unfinished_trials(store: TrialStore) -> None:
    specs = [make_spec(width=w) for w in (8, 16, 32)]
    store.write_spec(specs[0])
    store.write_result(make_result(specs[1], status="capped"), plots=False)
    store.write_result(make_result(specs[2], status="diverged"), plots=False)
    assert store.hashes() == sorted(s.spec_hash() for s in specs)
    assert store.done_hashes() == sorted(s.spec_hash() for s in specs[1:])
    assert sorted(r.status for r in store.iter_done()) == ["capped", "diverged"]
    assert store.outcome(specs[0].spec_hash()) is None


def test_failure_marker_counts_attempts_and_yields_to_done(store: TrialStore) -> None:
    spec = make_spec()
    h = spec.spec_hash()
    store.write_spec(spec)
    assert store.failure(h) is None
    assert store.write_failure(h, "RuntimeError: worker lost") == 1
    assert store.write_failure(h, "OSError: disk full") == 2
    assert store.failure(h) == "OSError: disk full" and not store.is_done(h)
    store.write_result(make_result(spec), plots=False)            # the third attempt succeeds
    assert store.failure(h) is None and store.outcome(h) == "converged"
    assert not (store.files(h).dir / "FAILED").exists()
    assert store.write_failure(h, "late") == 0 and store.failure(h) is None


def test_nan_metrics_round_trip(store: TrialStore) -> None:
    spec = make_spec()
    result = make_result(spec, status="diverged")
    result = TrialResult(spec=spec, status="diverged", iterations=27, metrics={"iterations": 27.0},
                         history=((0, "train/loss", 2.3), (20, "train/loss", math.nan), (20, "batch/loss", math.inf)))
    store.write_result(result)
    back = store.load_result(spec.spec_hash())
    assert math.isnan(back.history[1][2]) and back.history[2][2] == math.inf
    # Nothing to draw for a diverged trial except its (empty) alpha trajectory: no crash, DONE present.
    assert store.is_done(spec.spec_hash())


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    atomic.atomic_write_text(target, "old")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic.atomic_write(target, half_then_fail)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_tracking_record_is_per_store_and_keeps_no_credentials(store: TrialStore) -> None:
    h = make_spec().spec_hash()
    store.write_spec(make_spec())
    assert store.tracking_record(h).run_name is None
    store.remember_run(h, run_name="etab1e-3-w16")
    store.remember_run(h, uri="https://alice:secret@mlflow.example.org", run_id="r1")
    store.remember_run(h, uri="sqlite:////x/mlflow.db", run_id="r2")
    record = store.tracking_record(h)
    assert record.run_name == "etab1e-3-w16"
    assert record.run_id("https://bob:other@mlflow.example.org") == "r1" and record.run_id("sqlite:////x/mlflow.db") == "r2"
    assert "secret" not in store.files(h).run_id.read_text()
    store.mark_synced(h, "sqlite:////x/mlflow.db", "r2")
    assert store.synced_run(h, "sqlite:////x/mlflow.db") == "r2" and store.synced_run(h, "https://mlflow.example.org") is None
    store.clear_synced(h, "sqlite:////x/mlflow.db")
    assert store.synced_run(h, "sqlite:////x/mlflow.db") is None
    assert store_key("postgresql://u:p@db:5432/mlflow") == "postgresql://db:5432/mlflow"


# ---------------------------------------------------------------- plot data
def test_heaviest_layer_ranks_by_raw_multivariate_alpha_and_slopes_with_uni() -> None:
    metrics = make_result(make_spec()).metrics
    heavy = trial_plots.heaviest_layer(metrics, "avg")
    assert (heavy.index, heavy.alpha, heavy.variant, heavy.slope_alpha, heavy.slope_variant) == (2, 1.62, "multi", 1.5, "uni")
    only_hill = {keys.alpha_key("final", "hill", "layer0"): 1.7, keys.alpha_key("final", "hill", "layer1"): 1.4}
    assert trial_plots.heaviest_layer(only_hill, "final") == trial_plots.HeavyLayer(1, 1.4, "hill", 1.4, "hill")
    assert trial_plots.heaviest_layer({"iterations": 27.0}, "avg") is None
    assert trial_plots.plot_weight_set(metrics) == "avg" and trial_plots.plot_weight_set(only_hill) == "final"


def test_survival_known_answer() -> None:
    x, surv = trial_plots.survival(np.array([-3.0, -1.0, 0.0, 1.0, 3.0]))
    assert x.tolist() == [3.0, 3.0, 1.0, 1.0] and surv.tolist() == [0.2, 0.4, 0.6, 0.8]


def test_survival_subsampling_keeps_the_extremes_and_the_curve() -> None:
    values = np.random.default_rng(0).standard_t(1.5, size=100_001)   # odd: no two entries tie in |v - median|
    x, surv = trial_plots.survival(values)
    xs, ss = trial_plots.survival(values, max_points=500)
    assert 300 < xs.size <= 500
    np.testing.assert_array_equal(xs[:10], x[:10])          # the ten largest entries are all drawn
    assert xs[-1] == x[-1] and ss[-1] == surv[-1]
    idx = np.searchsorted(-x, -xs)                          # every kept point lies on the full curve
    np.testing.assert_array_equal(surv[idx], ss)


def test_tail_line_passes_through_exact_pareto_quantiles() -> None:
    n, alpha = 1000, 1.5
    k = np.arange(1, n + 1)
    # Pareto quantiles plus n+1 zeros (so the median is 0): the k-th largest magnitude has survival
    # k/(2n+1), proportional to x^-alpha exactly, so the drawn line must go through every tail point.
    values = np.concatenate([(n / k) ** (1 / alpha), np.zeros(n + 1)])
    x, surv = trial_plots.survival(values)
    np.testing.assert_allclose(surv, k / (2 * n + 1))
    lx, ly = trial_plots.tail_line(x, surv, alpha)
    assert lx.size == 201          # the top 10% of all entries: k/(2n+1) >= 0.1 from k = 201
    np.testing.assert_allclose(ly, surv[: lx.size], rtol=1e-9)
    _, steeper = trial_plots.tail_line(x, surv, alpha + 0.5)
    assert steeper[0] < ly[0] / 5      # a slope 0.5 too steep misses the extreme point by ~6x


def test_curve_extraction_from_keys() -> None:
    result = make_result(make_spec())
    curves = trial_plots.error_curves(result.metrics, "avg")
    assert sorted(curves) == [("magnitude", "median"), ("node", "median")]
    layer1 = curves[("node", "median")][1]
    assert len(layer1) == len(result.spec.compress.curve_ratios) and layer1[0] == (0.0, 1.0)
    assert [r for r, _ in layer1] == sorted(r for r, _ in layer1)
    traj = trial_plots.alpha_trajectories(result.history)
    assert sorted(traj) == [0, 2] and traj[0][0] == (0, 2.0) and len(traj[2]) == 11
