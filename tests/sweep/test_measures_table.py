"""Issue 12, item 3: a trial run holds as metrics what a person browses, and its one table artifact the rest.

A real trial of configs/quick.yaml's first cell (the pipeline, shortened to 300 iterations: the final-metric
keys depend on the compress spec and the layers, not on how long training ran) uploaded to a real SQLite
store, read back by analysis; runs made before tables (every final metric a metric) read back the same."""
from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
from pathlib import Path

import pytest

from analysis.load import load_records, load_sweep, read_table
from core import keys
from core.pipeline import run_trial
from core.result import TrialResult
from sweep import measures_table, mlflow_runs, tracking
from sweep.cmd_sync import sync_sweep
from sweep.config import load_sweep as load_sweep_file
from sweep.paths import Layout
from sweep.tracking import TrackingConfig, Tracker
from sweep.trial_store import TrialStore
from tests.sweep.test_tracking import held_metrics, mlflow_env, mlflow_template, run_table  # noqa: F401 (fixtures)

REPO = Path(__file__).resolve().parents[2]
SWEEP = "quick"
MAX_METRICS = 200   # the target per trial run of configs/quick.yaml


@pytest.fixture(scope="module")
def quick_result() -> TrialResult:
    planned = load_sweep_file(REPO / "configs" / "quick.yaml").trials[0]
    spec = dataclasses.replace(planned.spec, train=dataclasses.replace(
        planned.spec.train, max_iters=300, post_converge_iters=100, avg_window=50, alpha_every=100, test_every=100))
    return run_trial(spec, device="cpu")


@pytest.fixture
def layout(tmp_path: Path, mlflow_template: Path) -> Layout:
    root = Layout(tmp_path / "root")
    root.root.mkdir()
    shutil.copy(mlflow_template, root.tracking_uri.removeprefix("sqlite:///"))
    return root


def record_live(layout: Layout, result: TrialResult) -> str:
    """What a trial does: open its run, log the step metrics live, record (trial directory, then upload)."""
    tracker = Tracker(TrackingConfig.for_layout(layout))
    tracker.ensure_experiment(SWEEP)
    logger = tracker.trial_logger(TrialStore(layout, SWEEP), result.spec, "quick-0", flush_every_s=0.0)
    for step, key, value in result.history:
        logger.log_step(step, {key: value})
    outcome = logger.record(result)
    assert outcome.written and outcome.uploaded
    return outcome.run_id


def log_before_tables(client, exp_id: str, store: TrialStore, result: TrialResult, name: str) -> str:
    """A run as uploads made before tables left it: params, tags, every step point and every final metric
    at the last iteration as run metrics, no table."""
    from mlflow.entities import Param, RunTag

    run = client.create_run(exp_id, run_name=name)
    run_id = run.info.run_id
    tags = mlflow_runs.run_tags(result.spec, store.sweep, result)
    client.log_batch(run_id, params=[Param(k, v) for k, v in mlflow_runs.run_params(result.spec).items()][:100])
    client.log_batch(run_id, params=[Param(k, v) for k, v in mlflow_runs.run_params(result.spec).items()][100:],
                     tags=[RunTag(k, v) for k, v in tags.items()])
    points = [(k, int(s), float(v)) for s, k, v in result.history]
    points += [(k, result.iterations, float(v)) for k, v in sorted(result.metrics.items())]
    mlflow_runs.log_points(client, run_id, points)
    client.set_terminated(run_id, "FINISHED")
    return run_id


def recorded(layout: Layout, result: TrialResult) -> tuple:
    """record_live, then what the tests look at: (run id, TrialStore, spec hash, TrackingConfig, client)."""
    run_id = record_live(layout, result)
    config = TrackingConfig.for_layout(layout)
    return run_id, TrialStore(layout, SWEEP), result.spec.spec_hash(), config, tracking.make_client(config)


def same(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def test_a_quick_trial_run_holds_at_most_200_metrics_and_its_table_the_rest(layout: Layout, quick_result) -> None:
    result = quick_result
    run_id = record_live(layout, result)
    client = tracking.make_client(TrackingConfig.for_layout(layout))
    run = client.get_run(run_id)
    step_keys = {k for _, k, _ in result.history}
    table = {k: v for k, v in result.metrics.items() if keys.is_table_key(k)}
    assert len(result.metrics) + len(step_keys) > 1300                   # everything as metrics: ~1,400
    assert len(run.data.metrics) <= MAX_METRICS
    assert set(run.data.metrics) == {k for k in result.metrics if not keys.is_table_key(k)} | step_keys
    assert same(run_table(client, run), table) and same(held_metrics(client, run), result.metrics)
    # What the issue keeps browsable is there: multi alpha per layer and its median/min, prunable, evaluation,
    # timings, iterations and pruned accuracy at the two headline ratios per weight set and method.
    for wset in ("final", "avg"):
        for which in ("layer0", "layer2", "median", "min"):
            assert keys.alpha_key(wset, "multi", which) in run.data.metrics
            assert keys.alpha_key(wset, "multi", which, raw=True) in run.data.metrics
        for method in result.spec.compress.methods:
            for ratio in keys.HEADLINE_RATIOS:
                assert keys.pruned_key("acc", wset, method, ratio) in run.data.metrics
        assert keys.eval_key(wset, "test", "acc") in run.data.metrics and keys.gap_key(wset, "acc") in run.data.metrics
    assert keys.prunable_key("avg", "magnitude", "median", 0.1, 1) in run.data.metrics
    assert {keys.ITERATIONS, keys.time_key("train")} <= set(run.data.metrics)

    # analysis reads the run back as the one metric dict the trial measured, every key and value
    (record,) = load_records(layout.tracking_uri, SWEEP)
    assert same({k: v for k, v in record.metrics.items() if not keys.is_step_key(k)}, result.metrics)
    assert record.history == {k: tuple(sorted((s, v) for s, kk, v in result.history if kk == k)) for k in step_keys}


def test_reupload_and_sync_log_no_second_point_and_keep_the_table_bytes(layout: Layout, quick_result) -> None:
    result = quick_result
    run_id, store, spec_hash, config, client = recorded(layout, result)
    local = store.files(spec_hash).table.read_bytes()

    def state() -> tuple:
        run = client.get_run(run_id)
        points = {k: len(client.get_metric_history(run_id, k)) for k in sorted(run.data.metrics)}
        with tempfile.TemporaryDirectory() as tmp:
            held = Path(client.download_artifacts(run_id, keys.TABLE_ARTIFACT, tmp)).read_bytes()
        return points, held, run.data.tags[keys.TAG_TABLE]

    points, held, digest = state()
    assert held == local and digest == measures_table.digest(local)
    assert all(n == 1 for k, n in points.items() if not keys.is_step_key(k))   # one point per final metric
    exp_id = mlflow_runs.experiment_id(client, SWEEP)
    again = mlflow_runs.upload_trial(client, exp_id, store, spec_hash, config.uri)
    assert (again.created, again.points, again.artifacts) == (False, 0, 0)
    store.files(spec_hash).synced.unlink()                   # sync compares everything again
    report = sync_sweep(layout, SWEEP, config)
    assert report.ok and (report.uploaded, report.runs_created, report.points, report.artifacts) == (1, 0, 0, 0)
    assert state() == (points, held, digest)
    assert store.files(spec_hash).table.read_bytes() == local

    # A table lost from the run's artifacts (or never uploaded) is sent again, once.
    store.files(spec_hash).synced.unlink()
    client.set_tag(run_id, keys.TAG_TABLE, "0" * 64)          # the run holds other bytes than the directory
    assert mlflow_runs.upload_trial(client, exp_id, store, spec_hash, config.uri).artifacts == 1
    assert state() == (points, held, digest)


def test_a_run_made_before_tables_loads_identically(layout: Layout, quick_result) -> None:
    result = quick_result
    record_live(layout, result)
    config = TrackingConfig.for_layout(layout)
    client = tracking.make_client(config)
    old_store = TrialStore(layout, "before")
    old_store.write_result(result, plots=False)
    exp_id = mlflow_runs.ensure_experiment(client, "before", config.artifact_location("before"))
    old_id = log_before_tables(client, exp_id, old_store, result, "quick-0")
    old_run = client.get_run(old_id)
    assert len(old_run.data.metrics) > 1300 and keys.TAG_TABLE not in old_run.data.tags
    (new,), (old,) = load_records(layout.tracking_uri, SWEEP), load_records(layout.tracking_uri, "before")
    assert same(new.metrics, old.metrics) and new.history == old.history and new.params == old.params
    # ... and so every table analysis builds from them, but the run ids
    new_data, old_data = load_sweep(layout.tracking_uri, SWEEP), load_sweep(layout.tracking_uri, "before")
    for name in ("alphas", "prunable", "errors", "ratios", "steps", "layers"):
        a, b = (d.table(name).drop(columns="run_id") for d in (new_data, old_data))
        assert len(a) > 0 and a.equals(b), name
    metric_columns = [c for c in new_data.trials.columns if "/" in c or c == keys.ITERATIONS]
    assert new_data.trials[metric_columns].equals(old_data.trials[metric_columns])


def test_remeasure_replaces_a_changed_table_and_keeps_an_old_runs_metrics_current(layout: Layout,
                                                                                 quick_result) -> None:
    result = quick_result
    run_id, store, spec_hash, config, client = recorded(layout, result)
    table_key = keys.error_key("avg", "magnitude", "median", 0.5, 1)
    browsed_key = keys.alpha_key("avg", "multi", "median")
    newer = dataclasses.replace(result, metrics={**result.metrics, table_key: 0.25, browsed_key: 1.5})
    store.replace_measurements(newer)

    change = mlflow_runs.update_measurements(client, client.get_run(run_id), newer, store, spec_hash)
    assert (change.points, change.table) == (1, True)       # one run metric; the table's one row, in a new file
    run = client.get_run(run_id)
    assert run.data.metrics[browsed_key] == 1.5 and table_key not in run.data.metrics
    assert run_table(client, run)[table_key] == 0.25
    assert run.data.tags[keys.TAG_TABLE] == measures_table.digest(store.files(spec_hash).table.read_bytes())
    again = mlflow_runs.update_measurements(client, run, newer, store, spec_hash)
    assert (again.points, again.table, again.changed) == (0, False, False)

    # A run uploaded before tables: the changed key it holds as a metric is logged again, and it gets the table.
    old_store = TrialStore(layout, "before")
    old_store.write_result(result, plots=False)
    exp_id = mlflow_runs.ensure_experiment(client, "before", config.artifact_location("before"))
    old_id = log_before_tables(client, exp_id, old_store, result, "quick-0")
    infinite = keys.alpha_key("avg", "norms", keys.layer(2), raw=True)    # an estimate can be inf
    newer = dataclasses.replace(newer, metrics={**newer.metrics, infinite: math.inf})
    old_store.replace_measurements(newer)
    change = mlflow_runs.update_measurements(client, client.get_run(old_id), newer, old_store, spec_hash)
    assert (change.points, change.table) == (3, True)
    old_run = client.get_run(old_id)
    assert old_run.data.metrics[table_key] == 0.25 and old_run.data.metrics[browsed_key] == 1.5
    again = mlflow_runs.update_measurements(client, old_run, newer, old_store, spec_hash)
    assert (again.points, again.table) == (0, False)      # MLflow holds inf as float max: still the same value
    (old,) = load_records(layout.tracking_uri, "before")
    assert same({k: v for k, v in old.metrics.items() if not keys.is_step_key(k)}, newer.metrics)


def test_a_diverged_trial_has_no_table(layout: Layout, quick_result) -> None:
    diverged = TrialResult(spec=dataclasses.replace(quick_result.spec, seed=7), status="diverged", iterations=27,
                           metrics={keys.ITERATIONS: 27.0, keys.eval_key("final", "train", "loss"): math.nan},
                           history=((0, "train/loss", 2.3), (27, "train/loss", math.inf)))
    run = tracking.make_client(TrackingConfig.for_layout(layout)).get_run(record_live(layout, diverged))
    assert keys.TAG_TABLE not in run.data.tags and set(run.data.metrics) == {keys.ITERATIONS, "eval/final/train/loss",
                                                                               "train/loss"}
    assert not TrialStore(layout, SWEEP).files(diverged.spec.spec_hash()).table.exists()
    (record,) = load_records(layout.tracking_uri, SWEEP)
    assert record.metrics[keys.ITERATIONS] == 27.0 and math.isnan(record.metrics["eval/final/train/loss"])


def test_the_table_file_reads_back_exactly(quick_result) -> None:
    data = measures_table.table_bytes(quick_result.metrics)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / keys.TABLE_ARTIFACT
        path.write_bytes(data)
        assert same(read_table(path), {k: v for k, v in quick_result.metrics.items() if keys.is_table_key(k)})
