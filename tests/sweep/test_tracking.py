"""The MLflow adapter against real stores: SQLite in tmp_path, and a real `mlflow server` on loopback."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

import pytest

from core import keys
from core.result import TrialResult
from core.spec import TrialSpec
from sweep import mlflow_parent, mlflow_runs, tracking, tracking_config
from sweep.cmd_sync import sync_sweep
from sweep.paths import Layout
from sweep.tracking import TrackingConfig, Tracker
from sweep.trial_store import TrialStore
from tests.sweep.test_trial_store import make_result, make_spec, make_weights

SWEEP = "demo"


@pytest.fixture(autouse=True)
def mlflow_env(monkeypatch) -> None:
    # The adapter setdefault()s MLflow's HTTP retry settings; setenv-then-delenv records each variable's
    # original state with monkeypatch, so it is restored after the test.
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "MLFLOW_HTTP_REQUEST_TIMEOUT",
                 "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"):
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    """An MLflow SQLite database with its schema created once: a fresh schema costs seconds (alembic
    migrations), so tests copy this file instead. The fresh-store test creates its own."""
    # A fixed path under the session's base temp dir, so test_sync (which imports this fixture, and so
    # gets its own copy of it) reuses the same file.
    path = tmp_path_factory.getbasetemp() / "mlflow-template" / "mlflow.db"
    if not path.exists():
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        tracking.make_client(TrackingConfig(f"sqlite:///{path}")).search_experiments()
    return path


@pytest.fixture
def layout(tmp_path: Path, mlflow_template: Path) -> Layout:
    root = Layout(tmp_path / "root")
    root.root.mkdir()
    shutil.copy(mlflow_template, Path(root.tracking_uri.removeprefix("sqlite:///")))
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_trial_into(tracker: Tracker, store: TrialStore, result: TrialResult, *, name: str = "run",
                   upto: int | None = None, flush_every_s: float = 0.0):
    """What the Ray trainable does around run_trial: open, log the step metrics live, record."""
    logger = tracker.trial_logger(store, result.spec, name, flush_every_s=flush_every_s)
    store.save_snapshot(result.spec.spec_hash(), "avg", make_weights())
    for step, key, value in result.history:
        if upto is None or step <= upto:
            logger.log_step(step, {key: value})
    return logger


def histories(client, run_id: str, keys_: list[str]) -> dict[str, list[tuple[int, float]]]:
    return {k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k)) for k in keys_}


def run_table(client, run) -> dict[str, float]:
    """The rows of a run's table artifact, read back from the store as analysis reads them ({} if none)."""
    import tempfile

    from analysis.load import read_table

    if keys.TAG_TABLE not in run.data.tags:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        return read_table(client.download_artifacts(run.info.run_id, keys.TABLE_ARTIFACT, tmp))


def held_metrics(client, run) -> dict[str, float]:
    """Every final metric a run holds: its run metrics (step metrics left out) and its table's rows."""
    return {**{k: v for k, v in run.data.metrics.items() if not keys.is_step_key(k)}, **run_table(client, run)}


def only_run(client, sweep: str = SWEEP):
    exp = client.get_experiment_by_name(sweep)
    runs = mlflow_runs.list_runs(client, exp.experiment_id)
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return runs[0]


# ---------------------------------------------------------------- SQLite
def test_config_defaults_to_sqlite_under_the_root_with_absolute_artifacts(layout: Layout) -> None:
    config = TrackingConfig.for_layout(layout)
    assert config.uri == layout.tracking_uri and config.artifact_root == str(layout.artifact_root)
    assert TrackingConfig.for_layout(layout, "http://127.0.0.1:5000").artifact_root is None
    assert tracking_config.check_tracking_uri("sqlite:///abs/m.db") is None
    assert tracking_config.check_tracking_uri("postgresql+psycopg2://u@h/db") is None
    assert "unknown tracking URI scheme" in tracking_config.check_tracking_uri("ftp://x")
    assert "sqlite:///ABSOLUTE" in tracking_config.check_tracking_uri("sqlite:m.db")
    with pytest.raises(ValueError, match="tracking.uri: unknown tracking URI scheme"):
        TrackingConfig("s3://bucket")


def test_experiment_is_tagged_with_absolute_artifact_location(layout: Layout) -> None:
    tracker = Tracker(TrackingConfig.for_layout(layout))
    exp_id = tracker.ensure_experiment(SWEEP)
    assert Tracker(TrackingConfig.for_layout(layout)).ensure_experiment(SWEEP) == exp_id
    exp = tracker.client.get_experiment(exp_id)
    assert exp.name == SWEEP
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development" and exp.tags[keys.TAG_SWEEP] == SWEEP
    assert exp.artifact_location == (layout.artifact_root / SWEEP).as_uri()
    assert Path(exp.artifact_location.removeprefix("file://")).is_absolute()


def test_existing_experiment_gets_missing_tags_and_deleted_one_is_an_error(layout: Layout) -> None:
    client = tracking.make_client(TrackingConfig.for_layout(layout))
    bare = client.create_experiment("bare")
    mlflow_runs.ensure_experiment(client, "bare", None)
    assert client.get_experiment(bare).tags["mlflow.experimentKind"] == "custom_model_development"
    client.delete_experiment(bare)
    with pytest.raises(mlflow_runs.DeletedExperiment, match="deleted"):
        Tracker(TrackingConfig.for_layout(layout)).ensure_experiment("bare")


def test_one_run_per_trial_with_name_params_tags_metrics_and_artifacts(layout: Layout) -> None:
    tracker = Tracker(TrackingConfig.for_layout(layout))
    tracker.ensure_experiment(SWEEP)
    store = TrialStore(layout, SWEEP)
    result = make_result(make_spec())
    outcome = run_trial_into(tracker, store, result, name="etab1e-3-w16-s0-fcn3").record(result)
    assert outcome.written and outcome.uploaded
    client = tracker.client
    run = only_run(client)
    assert run.info.run_id == outcome.run_id and run.info.status == "FINISHED"
    assert run.info.run_name == "etab1e-3-w16-s0-fcn3"
    assert run.data.params == {k: str(v) for k, v in result.spec.flat().items()}
    tags = run.data.tags
    assert tags[keys.TAG_SPEC_HASH] == result.spec.spec_hash() and tags[keys.TAG_SWEEP] == SWEEP
    assert tags[keys.TAG_OUTCOME] == "converged" and tags[keys.TAG_VERSION] == version("tailsweep")
    assert tuple(json.loads(tags[keys.TAG_LAYERS])) == result.layers
    history_keys = sorted({k for _, k, _ in result.history})
    browsed = {k: v for k, v in result.metrics.items() if not keys.is_table_key(k)}
    table = {k: v for k, v in result.metrics.items() if keys.is_table_key(k)}
    assert browsed and table
    assert set(run.data.metrics) == set(browsed) | set(history_keys)   # table keys are no run metrics
    assert all(run.data.metrics[k] == v for k, v in browsed.items())
    assert run_table(client, run) == table                             # ... they are the table's rows
    assert held_metrics(client, run) == result.metrics
    expected = {k: sorted((s, v) for s, kk, v in result.history if kk == k) for k in history_keys}
    assert histories(client, run.info.run_id, history_keys) == expected
    final_key = keys.alpha_key("avg", "multi", keys.layer(2))
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, final_key)] == [
        (1000, result.metrics[final_key])]
    listed = {f.path for f in client.list_artifacts(run.info.run_id)}
    listed |= {f.path for d in ("weights", "plots") for f in client.list_artifacts(run.info.run_id, d)}
    assert listed == {"spec.json", "result.json", keys.TABLE_ARTIFACT, "weights", "plots", "weights/avg.safetensors",
                      "plots/alpha_trajectory.png", "plots/pruning_curves.png", "plots/tail_histogram.png"}
    table_file = store.files(result.spec.spec_hash()).table
    assert tags[keys.TAG_TABLE] == hashlib.sha256(table_file.read_bytes()).hexdigest()
    assert run.info.artifact_uri.startswith((layout.artifact_root / SWEEP).as_uri())
    files = store.files(result.spec.spec_hash())
    assert files.is_done() and store.synced_run(result.spec.spec_hash(), layout.tracking_uri) == run.info.run_id
    assert store.tracking_record(result.spec.spec_hash()).run_id(layout.tracking_uri) == run.info.run_id


def test_a_trial_uploads_its_result_from_memory_not_read_back_from_its_directory(layout: Layout,
                                                                                  monkeypatch) -> None:
    """The trial writes result.json once; the upload uses the result it holds (sync reads the directory)."""
    tracker = Tracker(TrackingConfig.for_layout(layout))
    tracker.ensure_experiment(SWEEP)
    store = TrialStore(layout, SWEEP)
    result = make_result(make_spec())
    logger = run_trial_into(tracker, store, result)

    def no_read_back(*args, **kwargs):
        raise AssertionError("result.json read back in the process that wrote it")

    monkeypatch.setattr(TrialStore, "load_result", no_read_back)
    monkeypatch.setattr(TrialResult, "from_json", no_read_back)
    outcome = logger.record(result)
    assert outcome.written and outcome.uploaded
    run = only_run(tracker.client)
    assert run.info.status == "FINISHED" and held_metrics(tracker.client, run) == result.metrics
    assert store.synced_run(result.spec.spec_hash(), tracker.config.uri) == run.info.run_id


def test_the_plan_hands_each_worker_its_validated_spec_object() -> None:
    import copy
    import pickle

    from sweep.config import PlannedTrial
    from sweep.trainable import TrialContext, make_plan

    spec = make_spec()
    plan = make_plan([PlannedTrial(spec, spec.spec_hash(), "w16", ())])
    context = TrialContext("/root", SWEEP, TrackingConfig("sqlite:////x.db"), plan)
    assert pickle.dumps(context)   # what tune.with_parameters does with it
    # deepcopy rebuilds it through the same reduce protocol as unpickling (this repo never unpickles)
    context = copy.deepcopy(context)
    name, planned = context.planned(spec.spec_hash(), store=None)
    assert name == "w16" and isinstance(planned, TrialSpec) and planned == spec


def test_more_than_a_thousand_final_metrics_are_batched(layout: Layout) -> None:
    # MLflow rejects a log_batch with more than 1,000 metrics: this only passes if the logger chunks.
    tracker = Tracker(TrackingConfig.for_layout(layout))
    tracker.ensure_experiment(SWEEP)
    result = make_result(make_spec(), extra_metrics=2500)
    assert len(result.metrics) > 2500
    assert run_trial_into(tracker, TrialStore(layout, SWEEP), result).record(result).uploaded
    run = only_run(tracker.client)
    assert len(run.data.metrics) > 2500                 # the time/ keys are run metrics: batched, not tabled
    assert held_metrics(tracker.client, run) == result.metrics


def test_dedupe_finished_hashes_and_retry_reopens_the_same_run(layout: Layout) -> None:
    config = TrackingConfig.for_layout(layout)
    tracker = Tracker(config)
    tracker.ensure_experiment(SWEEP)
    store = TrialStore(layout, SWEEP)
    done, retried = make_result(make_spec(width=8)), make_result(make_spec(width=32))
    run_trial_into(tracker, store, done).record(done)
    first = run_trial_into(tracker, store, retried, upto=400)
    first.fail(RuntimeError("worker lost"))
    failed = tracker.client.get_run(first.run_id)
    assert failed.info.status == "FAILED" and failed.data.tags[keys.TAG_OUTCOME] == "failed"
    assert failed.data.tags[mlflow_runs.TAG_ERROR] == "RuntimeError: worker lost"
    assert store.failure(retried.spec.spec_hash()) == "RuntimeError: worker lost"
    assert tracker.finished_hashes(SWEEP) == {done.spec.spec_hash()}
    # The retry runs in a fresh process: a new Tracker, same trial directory.
    second = Tracker(config).trial_logger(store, retried.spec, "run")
    assert second.run_id == first.run_id
    reopened = tracker.client.get_run(second.run_id)
    assert reopened.info.status == "RUNNING" and keys.TAG_OUTCOME not in reopened.data.tags
    assert mlflow_runs.TAG_ERROR not in reopened.data.tags
    second.record(retried)
    assert store.failure(retried.spec.spec_hash()) is None and store.outcome(retried.spec.spec_hash()) == "converged"
    assert tracker.finished_hashes(SWEEP) == {done.spec.spec_hash(), retried.spec.spec_hash()}
    exp = tracker.client.get_experiment_by_name(SWEEP)
    assert len(mlflow_runs.list_runs(tracker.client, exp.experiment_id)) == 2


def test_resume_replays_steps_without_duplicate_points(layout: Layout) -> None:
    """Killed at step 600 with its last checkpoint at 400: the resumed attempt replays 400..600."""
    config = TrackingConfig.for_layout(layout)
    Tracker(config).ensure_experiment(SWEEP)
    store = TrialStore(layout, SWEEP)
    result = make_result(make_spec())
    run_trial_into(Tracker(config), store, result, upto=600)          # dies without fail(): SIGKILL
    logger = Tracker(config).trial_logger(store, result.spec, "run", flush_every_s=0.0)
    for step, key, value in result.history:
        if step >= 400:
            logger.log_step(step, {key: value})
    logger.record(result)
    client = tracking.make_client(config)
    run = only_run(client)
    history_keys = sorted({k for _, k, _ in result.history})
    expected = {k: sorted((s, v) for s, kk, v in result.history if kk == k) for k in history_keys}
    assert histories(client, run.info.run_id, history_keys) == expected
    assert run.info.status == "FINISHED"


def test_done_trial_is_uploaded_without_reopening_its_run(layout: Layout) -> None:
    config = TrackingConfig.for_layout(layout)
    store = TrialStore(layout, SWEEP)
    result = make_result(make_spec())
    h = result.spec.spec_hash()
    offline = Tracker(TrackingConfig.for_layout(layout, f"http://127.0.0.1:{free_port()}"))
    assert offline.upload_finished(store, h) is False
    run_trial_into(offline, store, result).record(result)            # finished while the store was away
    tracker = Tracker(config)
    assert tracker.upload_finished(store, h, "late") is True
    run = only_run(tracker.client)
    assert (run.info.run_name, run.info.status) == ("late", "FINISHED") and store.synced_run(h, config.uri) == run.info.run_id
    assert Tracker(config).upload_finished(store, h) is True          # SYNCED: no call beyond the check
    logger = Tracker(config).trial_logger(store, result.spec, "late")  # a misuse on a DONE trial ...
    assert tracker.client.get_run(run.info.run_id).info.status == "FINISHED"   # ... does not reopen it
    assert logger.record(result).uploaded and only_run(tracker.client).info.run_id == run.info.run_id


def test_run_found_by_spec_hash_when_the_trial_directory_forgot_it(layout: Layout) -> None:
    config = TrackingConfig.for_layout(layout)
    tracker = Tracker(config)
    tracker.ensure_experiment(SWEEP)
    store = TrialStore(layout, SWEEP)
    result = make_result(make_spec())
    first = run_trial_into(tracker, store, result, upto=200)
    store.files(result.spec.spec_hash()).run_id.unlink()
    again = Tracker(config).trial_logger(store, result.spec, "run")
    assert again.run_id == first.run_id


def test_unreachable_store_at_start_warns_once_and_the_trial_completes(layout: Layout, caplog) -> None:
    config = TrackingConfig.for_layout(layout, f"http://127.0.0.1:{free_port()}")
    store = TrialStore(layout, SWEEP)
    result = make_result(make_spec())
    caplog.set_level(logging.WARNING, logger="tailsweep.tracking")
    started = time.monotonic()
    tracker = Tracker(config)
    assert tracker.ensure_experiment(SWEEP) is None and tracker.finished_hashes(SWEEP) == set()
    outcome = run_trial_into(tracker, store, result).record(result)
    assert time.monotonic() - started < 10
    assert outcome == tracking.RecordOutcome(written=True, uploaded=False, run_id=None)
    assert store.load_result(result.spec.spec_hash()) == result
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1


def test_concurrent_trials_on_a_fresh_sqlite_store(tmp_path: Path) -> None:
    """Two processes open runs at the same moment on a store the driver has just created."""
    layout = Layout(tmp_path / "fresh")
    assert not Path(layout.tracking_uri.removeprefix("sqlite:///")).exists()
    assert Tracker(TrackingConfig.for_layout(layout)).ensure_experiment(SWEEP) is not None
    for width in (8, 32):   # the subprocesses read their results as JSON: no torch import, a faster test
        (tmp_path / f"w{width}.json").write_text(make_result(make_spec(width=width)).to_json())
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from core.result import TrialResult
        from sweep.paths import Layout
        from sweep.trial_store import TrialStore
        from sweep.tracking import TrackingConfig, Tracker
        layout = Layout(Path({str(layout.root)!r}))
        result = TrialResult.from_json(Path({str(tmp_path)!r}, "w" + sys.argv[1] + ".json").read_text())
        go = Path({str(tmp_path / "go")!r})
        Path({str(tmp_path)!r}, "ready" + sys.argv[1]).touch()
        while not go.exists():
            time.sleep(0.01)
        tracker = Tracker(TrackingConfig.for_layout(layout))
        logger = tracker.trial_logger(TrialStore(layout, "{SWEEP}"), result.spec, "w" + sys.argv[1])
        out = logger.record(result)
        sys.exit(0 if out.uploaded and tracker.online and "torch" not in sys.modules else 3)
    """)
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(w)], env=env, stderr=subprocess.PIPE, text=True)
             for w in (8, 32)]
    deadline = time.monotonic() + 120          # release them together once both have imported everything
    while not all((tmp_path / f"ready{w}").exists() for w in (8, 32)) and time.monotonic() < deadline:
        time.sleep(0.05)
    (tmp_path / "go").touch()
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    client = tracking.make_client(TrackingConfig.for_layout(layout))
    runs = mlflow_runs.list_runs(client, client.get_experiment_by_name(SWEEP).experiment_id)
    assert sorted(r.info.run_name for r in runs) == ["w32", "w8"] and all(mlflow_runs.is_finished(r) for r in runs)


# ---------------------------------------------------------------- a real tracking server
class Server:
    """`mlflow server` on loopback that a test can stop and start again on the same port and database."""

    def __init__(self, root: Path, template: Path):
        self.root, self.port = root, free_port()
        shutil.copy(template, root / "server.db")
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true")
        cmd = [sys.executable, "-m", "mlflow", "server", "--workers", "1", "--host", "127.0.0.1", "--port",
               str(self.port), "--backend-store-uri", f"sqlite:///{self.root / 'server.db'}",
               "--artifacts-destination", str(self.root / "server-artifacts")]
        self.proc = subprocess.Popen(cmd, env=env, cwd=self.root, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.uri + "/health", timeout=1) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("mlflow server did not become healthy in 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)    # its own session: the server and its worker
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


@pytest.fixture
def server(tmp_path: Path, mlflow_template: Path):
    srv = Server(tmp_path, mlflow_template)
    srv.start()
    yield srv
    srv.stop()


def test_server_outage_mid_trial_then_sync_matches_an_undisturbed_run(layout: Layout, server: Server, caplog) -> None:
    """Trial A runs with the server up. Trial B starts with it up; it dies at step 500. B completes,
    records in its directory; after the server is back, sync makes the store match a reference sweep
    that saw no outage: same run count, same metrics, same histories, no duplicate points."""
    caplog.set_level(logging.WARNING, logger="tailsweep.tracking")
    config = TrackingConfig.for_layout(layout, server.uri)
    a, b = make_result(make_spec(width=8)), make_result(make_spec(width=32))
    b = TrialResult(spec=b.spec, status=b.status, iterations=b.iterations, metrics=b.metrics, layers=b.layers,
                    history=b.history + ((1000, "batch/loss", float("nan")),))    # NaN survives the round trip
    for sweep in ("reference", SWEEP):   # as the driver does: the experiment and the parent run first
        exp_id = Tracker(config).ensure_experiment(sweep)
        mlflow_parent.ensure_parent(tracking.make_client(config), exp_id, sweep, running=True)
    ref_store = TrialStore(layout, "reference")
    for result in (a, b):
        assert run_trial_into(Tracker(config), ref_store, result).record(result).uploaded

    store = TrialStore(layout, SWEEP)
    assert run_trial_into(Tracker(config), store, a).record(a).uploaded
    tracker_b = Tracker(config)
    logger = run_trial_into(tracker_b, store, b, upto=500)
    assert logger.online
    server.stop()
    started = time.monotonic()
    for step, key, value in b.history:
        if step > 500:
            logger.log_step(step, {key: value})
    outcome = logger.record(b)
    assert time.monotonic() - started < 30, "a down server must not stall the trial for minutes"
    assert outcome.written and not outcome.uploaded and store.is_done(b.spec.spec_hash())
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1

    server.start()
    report = sync_sweep(layout, SWEEP, config)
    assert report.ok and (report.finished, report.in_sync, report.uploaded, report.runs_created) == (2, 1, 1, 0)
    client = tracking.make_client(config)
    compare_sweeps(client, SWEEP, "reference")
    again = sync_sweep(layout, SWEEP, config)
    assert (again.in_sync, again.uploaded, again.points, again.artifacts) == (2, 0, 0, 0)
    compare_sweeps(client, SWEEP, "reference")


def compare_sweeps(client, sweep: str, reference: str) -> None:
    def summary(name: str) -> dict:
        exp = client.get_experiment_by_name(name)
        out = {}
        for run in filter(mlflow_runs.is_trial_run, mlflow_runs.list_runs(client, exp.experiment_id)):
            step_keys = sorted(k for k in run.data.metrics if keys.is_step_key(k))
            hist = {k: [(m.step, repr(m.value)) for m in sorted(client.get_metric_history(run.info.run_id, k),
                                                                 key=lambda m: m.step)] for k in step_keys}
            arts = sorted(f.path for d in (None, "weights", "plots") for f in client.list_artifacts(run.info.run_id, d))
            out[run.data.tags[keys.TAG_SPEC_HASH]] = (run.info.status, run.data.tags[keys.TAG_OUTCOME],
                                                      {k: repr(v) for k, v in run.data.metrics.items()},
                                                      run.data.params, hist, arts, run.data.tags.get(keys.TAG_TABLE),
                                                      run_table(client, run))
        return out

    got, want = summary(sweep), summary(reference)
    assert len(got) == len(want) == 2
    assert got == want
