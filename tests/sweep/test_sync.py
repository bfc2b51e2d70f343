"""`tailsweep sync`: rebuild MLflow from the trial directories, idempotently (real SQLite stores)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core import keys
from sweep import mlflow_runs, tracking
from sweep.cli import main
from sweep.cmd_sync import sync_sweep
from sweep.paths import Layout
from sweep.tracking import TrackingConfig, Tracker
from sweep.trial_store import TrialStore
from tests.sweep.test_tracking import free_port, mlflow_env, mlflow_template, run_table  # noqa: F401 (fixtures)
from tests.sweep.test_trial_store import make_result, make_spec, make_weights

SWEEP = "demo"
WIDTHS = (8, 16, 32)


@pytest.fixture
def offline_sweep(tmp_path: Path, mlflow_template: Path) -> Layout:
    """Three finished trials and one unfinished, run while the tracking server was unreachable."""
    layout = Layout(tmp_path / "root")
    layout.root.mkdir()
    shutil.copy(mlflow_template, layout.tracking_uri.removeprefix("sqlite:///"))
    store = TrialStore(layout, SWEEP)
    tracker = Tracker(TrackingConfig.for_layout(layout, f"http://127.0.0.1:{free_port()}"))
    for width in WIDTHS:
        result = make_result(make_spec(width=width))
        logger = tracker.trial_logger(store, result.spec, f"w{width}")
        store.save_snapshot(result.spec.spec_hash(), "avg", make_weights())
        assert logger.record(result).uploaded is False
    store.write_spec(make_spec(width=64))                       # started, never finished
    write_sweep_file(layout)
    return layout


def write_sweep_file(layout: Layout, uri: str | None = None) -> None:
    """The sweep file as `tailsweep run` saves it: sync finds the sweep (and its tracking URI) by it."""
    tracking_line = f"tracking: {{uri: '{uri}'}}\n" if uri else ""
    layout.sweep_file(SWEEP).write_text(f"name: {SWEEP}\ngrid: {{eta_over_b: [0.001], width: {list(WIDTHS)}}}\n"
                                        + tracking_line)


def sync(layout: Layout, uri: str | None = None):
    return sync_sweep(layout, SWEEP, TrackingConfig.for_layout(layout, uri))


def snapshot(layout: Layout, uri: str | None = None) -> dict:
    """Every run of the sweep: name, status, tags, metrics, full step histories, artifact paths, table digest
    and rows."""
    client = tracking.make_client(TrackingConfig.for_layout(layout, uri))
    exp = client.get_experiment_by_name(SWEEP)
    out = {}
    for run in filter(mlflow_runs.is_trial_run, mlflow_runs.list_runs(client, exp.experiment_id)):
        hist = {k: sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, k))
                for k in run.data.metrics if keys.is_step_key(k)}
        arts = sorted(f.path for d in (None, "weights", "plots") for f in client.list_artifacts(run.info.run_id, d))
        out[run.info.run_id] = (run.info.run_name, run.info.status, run.data.tags[keys.TAG_SPEC_HASH],
                                run.data.tags[keys.TAG_OUTCOME], dict(run.data.metrics), hist, arts,
                                run.data.tags.get(keys.TAG_TABLE), run_table(client, run))
    return out


def test_sync_uploads_offline_trials_once(offline_sweep: Layout, capsys) -> None:
    assert main(["sync", SWEEP, "--storage", str(offline_sweep.root)]) == 0
    out = capsys.readouterr().out
    assert "3 finished trials: 3 uploaded (3 new runs" in out and "0 already in sync" in out
    assert "1 unfinished trials skipped" in out
    first = snapshot(offline_sweep)
    store = TrialStore(offline_sweep, SWEEP)
    expected = {r.spec.spec_hash(): r for r in store.iter_done()}
    assert sorted(v[0] for v in first.values()) == ["w16", "w32", "w8"]
    for name, status, spec_hash, outcome, metrics, hist, arts, digest, table in first.values():
        result = expected[spec_hash]
        assert (status, outcome) == ("FINISHED", "converged")
        held = {**{k: v for k, v in metrics.items() if not keys.is_step_key(k)}, **table}
        assert held == result.metrics and not set(table) & set(metrics)
        assert keys.TABLE_ARTIFACT in arts and digest is not None
        assert hist == {k: sorted((s, v) for s, kk, v in result.history if kk == k) for k in hist}
        assert set(hist) == {k for _, k, _ in result.history}
        assert "weights/avg.safetensors" in arts and "plots/tail_histogram.png" in arts

    assert main(["sync", SWEEP, "--storage", str(offline_sweep.root)]) == 0
    assert "0 uploaded (0 new runs, 0 metric points, 0 files), 3 already in sync" in capsys.readouterr().out
    assert snapshot(offline_sweep) == first


def test_sync_without_synced_markers_adds_no_duplicates(offline_sweep: Layout) -> None:
    sync(offline_sweep)
    first = snapshot(offline_sweep)
    store = TrialStore(offline_sweep, SWEEP)
    for spec_hash in store.done_hashes():
        store.files(spec_hash).synced.unlink()       # forces the full (key, step) comparison
    report = sync(offline_sweep)
    assert (report.uploaded, report.runs_created, report.points, report.artifacts) == (3, 0, 0, 0)
    assert snapshot(offline_sweep) == first


def test_sync_completes_a_partly_uploaded_run(offline_sweep: Layout) -> None:
    """A trial whose run got some step points before the store went away: sync logs only the rest."""
    store = TrialStore(offline_sweep, SWEEP)
    result = make_result(make_spec(width=128))
    tracker = Tracker(TrackingConfig.for_layout(offline_sweep))
    logger = tracker.trial_logger(store, result.spec, "w128", flush_every_s=0.0)
    for step, key, value in result.history:
        if step <= 300:
            logger.log_step(step, {key: value})
    store.write_result(result, plots=False)          # the trial finished while the store was away
    report = sync(offline_sweep)
    assert (report.uploaded, report.runs_created) == (4, 3)
    logged_live = sum(1 for s, _, _ in result.history if s <= 300)
    browsed = [k for k in result.metrics if not keys.is_table_key(k)]
    assert report.points == 4 * (len(result.history) + len(browsed)) - logged_live
    runs = [v for v in snapshot(offline_sweep).values() if v[0] == "w128"]
    assert len(runs) == 1 and runs[0][1] == "FINISHED"
    assert runs[0][5] == {k: sorted((s, v) for s, kk, v in result.history if kk == k) for k in runs[0][5]}


def test_sync_recreates_a_run_deleted_from_the_store(offline_sweep: Layout) -> None:
    sync(offline_sweep)
    client = tracking.make_client(TrackingConfig.for_layout(offline_sweep))
    victim = next(iter(snapshot(offline_sweep)))
    client.delete_run(victim)
    report = sync(offline_sweep)
    assert (report.in_sync, report.uploaded, report.runs_created) == (2, 1, 1)
    assert len(snapshot(offline_sweep)) == 3


def test_sync_to_another_store_and_the_sweep_files_uri(offline_sweep: Layout, tmp_path: Path, mlflow_template: Path,
                                                       capsys) -> None:
    sync(offline_sweep)                         # the default store is in sync ...
    other = tmp_path / "team.db"
    shutil.copy(mlflow_template, other)
    uri = f"sqlite:///{other}"
    assert sync(offline_sweep, uri).runs_created == 3     # ... a second store is not
    third = tmp_path / "third.db"
    shutil.copy(mlflow_template, third)
    write_sweep_file(offline_sweep, f"sqlite:///{third}")
    assert main(["sync", SWEEP, "--storage", str(offline_sweep.root)]) == 0   # no flag: the sweep file's URI
    assert f"sync {SWEEP} -> sqlite:///{third}" in capsys.readouterr().out
    assert len(snapshot(offline_sweep, f"sqlite:///{third}")) == 3


def test_sync_bad_input_and_unreachable_store(offline_sweep: Layout, tmp_path: Path, capsys) -> None:
    assert main(["sync", "nosuch", "--storage", str(offline_sweep.root)]) == 2
    assert "no sweep 'nosuch' under" in capsys.readouterr().err
    assert main(["sync", "../up", "--storage", str(offline_sweep.root)]) == 2
    assert "NAME: invalid sweep name" in capsys.readouterr().err
    assert main(["sync", SWEEP, "--storage", str(offline_sweep.root), "--tracking-uri", "ftp://x"]) == 2
    assert "--tracking-uri: unknown tracking URI scheme" in capsys.readouterr().err
    down = f"http://127.0.0.1:{free_port()}"
    assert main(["sync", SWEEP, "--storage", str(offline_sweep.root), "--tracking-uri", down]) == 1
    err = capsys.readouterr().err
    assert "unreachable; nothing synced" in err and "Traceback" not in err
    assert all(TrialStore(offline_sweep, SWEEP).synced_run(h, down) is None
               for h in TrialStore(offline_sweep, SWEEP).done_hashes())
