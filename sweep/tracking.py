"""MLflow adapter: one experiment per sweep, one run per trial, records uploaded from the trial directory.

Client setup (``make_client``, ``probe``; the configuration itself, ``TrackingConfig``, is MLflow-free in
``sweep.tracking_config``) and two tolerant layers over the raising functions of ``sweep.mlflow_runs``
(which `tailsweep sync` uses directly):
- ``Tracker``: those operations for the sweep driver, tolerant of an unreachable store (warn once,
  carry on: the trial directory is the source of truth);
- ``TrialLogger``: what a trial uses: opens (or reopens, on retry/resume) the trial's one run, logs step
  metrics in batches from inside the trial, and at the end ``record``s the result: trial directory first,
  then an idempotent upload of whatever MLflow lacks. It never raises a tracking error into the trial.

Idempotency rests on two identities: a run is found by its spec-hash tag (and the id remembered in the
trial directory); a metric point is (key, step), compared with what the run already holds before logging.
"""
from __future__ import annotations

import logging
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar
from urllib.parse import urlsplit

from core import keys
from core.result import TrialResult
from core.spec import TrialSpec
from core.vocab import FAILED
from sweep.tracking_config import TrackingConfig
from sweep.trial_store import TrialStore

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from sweep.config import SweepSpec

from sweep.mlflow_runs import (
    MAX_METRICS_PER_BATCH,
    MAX_TAG_VALUE,
    TAG_ERROR,
    DeletedExperiment,
    Point,
    RunLinks,
    ensure_experiment,
    experiment_id,
    get_or_create_run,
    history_points,
    is_finished,
    log_points,
    runs_by_hash,
    upload_trial,
)

log = logging.getLogger("tailsweep.tracking")
T = TypeVar("T")

# ---------------------------------------------------------------- configuration
def _mlflow_env(config: TrackingConfig) -> None:
    # setdefault: a value the user exported wins over ours.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # MLflow prints two "View run ... at" lines to stdout per ended run on a server: noise times
    # hundreds of trials in Ray's console.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    if config.remote:
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(config.http_max_retries))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(config.http_timeout_s))


def make_client(config: TrackingConfig) -> "MlflowClient":
    _mlflow_env(config)
    from mlflow import MlflowClient

    if config.uri.startswith("sqlite:///"):
        Path(config.uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=config.uri)


def probe(config: TrackingConfig) -> bool:
    """A fast reachability check. For a server: GET /health with a short timeout and no retries, so a
    down server costs seconds per trial, not MLflow's minutes of retries. Any HTTP answer counts as up."""
    if not config.remote or urlsplit(config.uri).scheme == "databricks":
        return True
    try:
        with urllib.request.urlopen(config.uri.rstrip("/") + "/health", timeout=config.probe_timeout_s):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


# ---------------------------------------------------------------- tolerant wrappers
class Tracker:
    """MLflow for the sweep driver and for trials: the first failure warns once and switches to
    offline; afterwards calls return their fallback at once. Never raises a tracking fault, except a
    deleted experiment, which is the user's to fix."""

    def __init__(self, config: TrackingConfig):
        self.config = config
        self.online = True
        self._client: MlflowClient | None = None
        self._warned = False
        self._checked = False
        self._experiments: dict[str, str] = {}

    @property
    def client(self) -> "MlflowClient":
        if self._client is None:
            self._client = make_client(self.config)
        return self._client

    def available(self) -> bool:
        """Probe once (cheap), then trust the outcome of real calls."""
        if not self._checked:
            self._checked = True
            if not probe(self.config):
                self.go_offline("no answer from the server")
        return self.online

    def recheck(self) -> bool:
        """After an outage: probe again; on success, calls go through again."""
        if not self.online and probe(self.config):
            self.online = True
        return self.online

    def go_offline(self, reason: Any) -> None:
        self.online = False
        if not self._warned:
            self._warned = True
            log.warning("tailsweep: tracking store %s unreachable (%s); continuing without it: results stay in "
                        "the trial directories, `tailsweep sync NAME` uploads them later", self.config.display, reason)

    def call(self, fn: Callable[..., T], *args: Any, default: T | None = None, **kwargs: Any) -> T | None:
        if not self.available():
            return default
        try:
            return fn(*args, **kwargs)
        except DeletedExperiment:
            raise
        except Exception as err:  # noqa: BLE001 - any tracking fault degrades to offline, by design
            self.go_offline(f"{type(err).__name__}: {err}")
        return default

    def ensure_experiment(self, sweep: str) -> str | None:
        """The sweep's experiment id (created if missing), or None while the store is unreachable."""
        if sweep not in self._experiments:
            exp_id = self.call(lambda: ensure_experiment(self.client, sweep, self.config.artifact_location(sweep)))
            if exp_id is None:
                return None
            self._experiments[sweep] = exp_id
        return self._experiments[sweep]

    def finished_hashes(self, sweep: str) -> set[str]:
        """Spec hashes with a finished run (status FINISHED, outcome converged/capped/diverged)."""
        def fetch() -> set[str]:
            exp_id = experiment_id(self.client, sweep)
            if exp_id is None:
                return set()
            return {h for h, run in runs_by_hash(self.client, exp_id).items() if is_finished(run)}
        return self.call(fetch, default=set()) or set()

    # ---- the sweep's parent run (sweep.mlflow_parent), from the driver
    def open_sweep(self, sweep: "SweepSpec", sweep_text: str | None, *, running: bool,
                   source: dict[str, str] | None = None) -> str | None:
        """Find or create the sweep's parent run (before any trial starts), upload its sweep file and grid;
        its id, or None while the store is unreachable (trials then look it up by tag; sync links them)."""
        from sweep import mlflow_parent

        exp_id = self.ensure_experiment(sweep.name)
        if exp_id is None:
            return None

        def open_() -> str:
            parent, _ = mlflow_parent.ensure_parent(self.client, exp_id, sweep.name, source, running=running)
            mlflow_parent.update_parent(self.client, parent, sweep, sweep_text, None)
            return parent.info.run_id
        return self.call(open_)

    def close_sweep(self, sweep: "SweepSpec", parent_id: str | None, counts: dict[str, int], status: str,
                    source: dict[str, str] | None = None) -> None:
        """When the sweep ends: outcome counts and note on the parent, trial runs linked, parent ended."""
        from sweep import mlflow_parent

        if not self.recheck() or not self.available():
            return
        exp_id = self.ensure_experiment(sweep.name)
        if exp_id is None:
            return

        def close() -> None:
            parent, _ = mlflow_parent.ensure_parent(self.client, exp_id, sweep.name, source)
            mlflow_parent.update_parent(self.client, parent, sweep, None, counts)
            mlflow_parent.link_trial_runs(self.client, exp_id, parent.info.run_id)
            mlflow_parent.end_parent(self.client, parent.info.run_id, status)
        self.call(close)

    def upload_finished(self, store: TrialStore, spec_hash: str, run_name: str | None = None,
                        links: RunLinks | None = None) -> bool:
        """For a trial already DONE in its directory (a rerun, a restored sweep): upload what the store
        lacks, without reopening its run. True when the store holds every record."""
        if not self.available():
            return False
        uri = self.config.uri
        if store.synced_run(spec_hash, uri) is not None:
            return True
        exp_id = self.ensure_experiment(store.sweep)
        if exp_id is None:
            return False
        stats = self.call(upload_trial, self.client, exp_id, store, spec_hash, uri, run_name=run_name, links=links)
        return stats is not None

    def trial_logger(self, store: TrialStore, spec: TrialSpec, run_name: str | None = None,
                     flush_every_s: float = 10.0, links: RunLinks | None = None) -> "TrialLogger":
        return TrialLogger(self, store, spec, run_name, flush_every_s, links).start()


@dataclass(frozen=True)
class RecordOutcome:
    written: bool          # False: the trial directory already held a finished record (kept)
    uploaded: bool         # the tracking store now holds every record
    run_id: str | None


class TrialLogger:
    """A trial's MLflow run, from inside the trial.

        logger = Tracker(config).trial_logger(store, spec, run_name)   # opens or reopens the run
        result = run_trial(spec, [MetricsCallback(logger.log_step), SnapshotCallback(store.snapshot_saver(h))])
        logger.record(result)         # trial directory (result.json, plots, DONE), then MLflow
        # on an exception from run_trial: logger.fail(err), then re-raise for Ray to retry
    """

    def __init__(self, tracker: Tracker, store: TrialStore, spec: TrialSpec, run_name: str | None,
                 flush_every_s: float = 10.0, links: RunLinks | None = None):
        self.tracker, self.store, self.spec, self.run_name = tracker, store, spec, run_name
        self.links = links
        self._system_metrics: Any = None   # MLflow's SystemMetricsMonitor, when tracking.system_metrics
        self.spec_hash = spec.spec_hash()
        self.flush_every_s = flush_every_s
        self.run_id: str | None = None
        self._exp_id: str | None = None
        self._buffer: list[Point] = []
        self._logged: set[tuple[str, int]] = set()
        self._trust_logged = True   # False once a batch may have half-landed (a fault mid-call)
        self._last_flush = time.monotonic()

    def start(self) -> "TrialLogger":
        self.store.write_spec(self.spec)
        self.store.remember_run(self.spec_hash, run_name=self.run_name)
        self.tracker.call(self._open)
        return self

    def _open(self) -> None:
        client = self.tracker.client
        exp_id = self.tracker.ensure_experiment(self.store.sweep)
        if exp_id is None:
            return
        run, created = get_or_create_run(client, exp_id, self.store, self.spec, self.run_name, self.tracker.config.uri,
                                         links=self.links)
        if not created and not self.store.is_done(self.spec_hash):
            # A retried or resumed trial continues its own run: reopen it, and learn which step points
            # it holds so the replayed iterations since the last checkpoint are not logged twice.
            if run.info.status != "RUNNING":
                client.update_run(run.info.run_id, status="RUNNING")
            for tag in (keys.TAG_OUTCOME, TAG_ERROR):
                if tag in run.data.tags:
                    client.delete_tag(run.info.run_id, tag)
            self._logged = history_points(client, run.info.run_id, [k for k in run.data.metrics if keys.is_step_key(k)])
        self._exp_id, self.run_id = exp_id, run.info.run_id
        if self.tracker.config.system_metrics and not self.store.is_done(self.spec_hash):
            self._start_system_metrics()

    def _start_system_metrics(self) -> None:
        """MLflow's system-metrics monitor on this run (system/cpu_utilization_percentage, ...; needs
        psutil: the `system-metrics` extra). Live only: sync cannot rebuild these after an outage."""
        try:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            monitor = SystemMetricsMonitor(self.run_id, resume_logging=True, tracking_uri=self.tracker.config.uri)
            monitor.start()
        except Exception as err:  # noqa: BLE001 - psutil missing or MLflow refusing: the trial goes on
            log.warning("tailsweep: system metrics off for this trial (%s: %s); install the "
                        "`system-metrics` extra (psutil)", type(err).__name__, err)
            return
        self._system_metrics = monitor

    def _stop_system_metrics(self) -> None:
        monitor, self._system_metrics = self._system_metrics, None
        if monitor is not None:
            try:
                monitor.finish()
                # The monitor publishes once per sampling interval (10 s): the samples of the last,
                # partial interval (a whole short trial) would be lost without this.
                tail = monitor.aggregate_metrics()
                if tail:
                    monitor.publish_metrics(tail)
                    monitor.mlflow_logger.flush()
            except Exception:  # noqa: BLE001 - best effort, never a trial error
                pass

    @property
    def online(self) -> bool:
        return self.run_id is not None and self.tracker.online

    def log_step(self, step: int, metrics: dict[str, float]) -> None:
        """``MetricsCallback`` target: buffered, sent as one batch every ``flush_every_s`` seconds or
        1,000 points. Offline, nothing is kept here: result.history carries every point to the upload."""
        if not self.online:
            return
        self._buffer.extend((key, int(step), float(value)) for key, value in metrics.items())
        if len(self._buffer) >= MAX_METRICS_PER_BATCH or time.monotonic() - self._last_flush >= self.flush_every_s:
            self.flush()

    def flush(self) -> None:
        pending = [p for p in self._buffer if (p[0], p[1]) not in self._logged]
        self._buffer = []
        self._last_flush = time.monotonic()
        if not pending or not self.online:
            return
        if self.tracker.call(log_points, self.tracker.client, self.run_id, pending) is None:
            self._trust_logged = False
        else:
            self._logged.update((k, s) for k, s, _ in pending)

    def record(self, result: TrialResult) -> RecordOutcome:
        """Trial directory first (result.json, plots, DONE last), then upload what the run lacks.

        An outage that began mid-trial gets one more probe here, so a short one heals itself."""
        if result.spec != self.spec:
            raise ValueError(f"result: spec hash {result.spec.spec_hash()} does not match the logger's {self.spec_hash}")
        written = self.store.write_result(result)
        self._stop_system_metrics()   # before the run ends: its last samples land in the open run
        self._buffer = []   # result.history holds every buffered point
        if not self.tracker.online and self.tracker.recheck():
            self._trust_logged = False
        if self.run_id is None:
            self.tracker.call(self._open)
        if not self.online:
            return RecordOutcome(written, False, self.run_id)
        stats = self.tracker.call(
            upload_trial, self.tracker.client, self._exp_id, self.store, self.spec_hash, self.tracker.config.uri,
            run_name=self.run_name, known_points=self._logged if self._trust_logged else None,
            result=result if written else None, links=self.links)   # not written: the directory's earlier record is the truth
        return RecordOutcome(written, stats is not None, self.run_id)

    def fail(self, error: BaseException | str) -> None:
        """The trial raised: a FAILED marker in the trial directory (offline too), and the run ended
        FAILED with outcome tag 'failed'; a retry reopens the same run."""
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self.store.write_failure(self.spec_hash, text)
        self._stop_system_metrics()
        self.flush()
        if not self.online:
            return
        client = self.tracker.client
        self.tracker.call(client.set_tag, self.run_id, keys.TAG_OUTCOME, FAILED)
        self.tracker.call(client.set_tag, self.run_id, TAG_ERROR, text[:MAX_TAG_VALUE])
        self.tracker.call(client.set_terminated, self.run_id, "FAILED")


