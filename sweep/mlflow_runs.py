"""MLflow runs of a sweep as plain functions over an ``MlflowClient`` that raise on failure.

What a run holds (params, tags, metric points, the table artifact), finding or creating a trial's one run
by its spec-hash tag, and the idempotent upload of a finished trial directory (a metric point is (key,
step), compared with what the run already holds before logging; the table, by the digest its tag
records). `tailsweep sync` uses these directly and reports errors; ``sweep.tracking`` wraps them for the
driver and the trials, tolerant of an unreachable store.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, TypeVar

from core import keys
from core.fit import fit_of_metrics
from core.result import TrialResult
from core.spec import TrialSpec
from core.version import tailsweep_version
from core.vocab import FINISHED_OUTCOMES, RUN_KIND_SWEEP, RUN_KIND_TRIAL
from sweep import measures_table, run_notes
from sweep.trial_store import TrialStore

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

T = TypeVar("T")

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"   # MLflow 3 UI opens such experiments on "Training runs"
# MLflow's limits (mlflow.utils.validation): metrics per log_batch, params+tags per batch, value lengths.
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
TAG_ERROR = "tailsweep.error"    # the last failed attempt's error, cleared when the trial is retried
Point = tuple[str, int, float]   # (key, step, value)


# ---------------------------------------------------------------- what a run holds
def run_params(spec: TrialSpec) -> dict[str, str]:
    """The flattened spec, values as ``str`` (analysis.params parses them back). Over-long values are cut
    to MLflow's limit; the run's spec.json artifact always holds the full spec."""
    return {key: str(value)[:MAX_PARAM_VALUE] for key, value in spec.flat().items()}


def run_tags(spec: TrialSpec, sweep: str, result: TrialResult | None = None) -> dict[str, str]:
    tags = {keys.TAG_SPEC_HASH: spec.spec_hash(), keys.TAG_SWEEP: sweep, keys.TAG_VERSION: tailsweep_version()}
    if result is not None:
        tags[keys.TAG_OUTCOME] = result.status
        tags[keys.TAG_LAYERS] = json.dumps(list(result.layers), separators=(",", ":"))[:MAX_TAG_VALUE]
        tags[keys.TAG_MEASURE_VERSION] = str(result.measure_version)
        fit = fit_of_metrics(result.status, result.metrics)
        if fit is not None:   # diverged and failed trials carry no fit
            tags[keys.TAG_FIT] = fit
    return tags


@dataclass(frozen=True)
class RunLinks:
    """How a trial's run hangs in its sweep (picklable: the driver hands it to every trial).

    ``parent_id``: the sweep's parent run (None: looked up by its kind tag, and left out if there is none
    yet; `sync` links it later). ``source``: tags written only where a run lacks them (sweep.run_notes)."""

    parent_id: str | None = None
    source: tuple[tuple[str, str], ...] = ()


def link_tags(parent_id: str | None) -> dict[str, str]:
    """The kind tag of a trial run, and its parent when known."""
    tags = {keys.TAG_KIND: RUN_KIND_TRIAL}
    if parent_id:
        tags[run_notes.TAG_PARENT] = parent_id
    return tags


def is_trial_run(run: "Run") -> bool:
    """A trial's run: kind 'trial', or no kind tag at all (stores made before the sweep's parent run)."""
    return run.data.tags.get(keys.TAG_KIND, RUN_KIND_TRIAL) == RUN_KIND_TRIAL


def is_linked(run: "Run", parent_id: str | None) -> bool:
    """The run carries the kind tag, its parent (when there is one) and, once finished, its note."""
    tags = run.data.tags
    return (tags.get(keys.TAG_KIND) == RUN_KIND_TRIAL and (not parent_id or tags.get(run_notes.TAG_PARENT) == parent_id)
            and (not is_finished(run) or run_notes.TAG_NOTE in tags))


def result_points(result: TrialResult) -> list[Point]:
    """Every metric point of a result's run: the step history, and at the last iteration the final metrics
    that are not table keys (those travel in the table artifact: ``sweep.measures_table``)."""
    points = [(key, int(step), float(value)) for step, key, value in result.history]
    browsed, _ = measures_table.split_metrics(result.metrics)
    points += [(key, int(result.iterations), value) for key, value in browsed.items()]
    return points


def _chunks(items: list[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# ---------------------------------------------------------------- raising operations
class DeletedExperiment(ValueError):
    """The sweep's experiment exists but is deleted: the user must restore it or rename the sweep."""


def _error_code(err: Exception) -> str:
    return str(getattr(err, "error_code", ""))


def ensure_experiment(client: "MlflowClient", sweep: str, artifact_location: str | None) -> str:
    """The sweep's experiment id, creating it (tagged, with its absolute artifact location) if needed.

    Call it in the driver before any trial starts: two processes creating the schema of a fresh SQLite
    store race: two trials creating a fresh SQLite schema at once fail with 'table already exists'."""
    tags = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND, keys.TAG_SWEEP: sweep}
    experiment = client.get_experiment_by_name(sweep)
    if experiment is None:
        try:
            return client.create_experiment(sweep, artifact_location=artifact_location, tags=tags)
        except Exception as err:
            if "RESOURCE_ALREADY_EXISTS" not in _error_code(err):
                raise
            experiment = client.get_experiment_by_name(sweep)   # another process won the race
    if experiment.lifecycle_stage != "active":
        raise DeletedExperiment(f"sweep: experiment {sweep!r} is deleted in the tracking store; restore it "
                         f"(mlflow experiments restore --experiment-id {experiment.experiment_id}) or pick another name")
    for key, value in tags.items():
        if experiment.tags.get(key) != value:
            client.set_experiment_tag(experiment.experiment_id, key, value)
    return experiment.experiment_id


def experiment_id(client: "MlflowClient", sweep: str) -> str | None:
    experiment = client.get_experiment_by_name(sweep)
    return experiment.experiment_id if experiment is not None and experiment.lifecycle_stage == "active" else None


def list_runs(client: "MlflowClient", exp_id: str, filter_string: str = "") -> list["Run"]:
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs([exp_id], filter_string=filter_string, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def is_finished(run: "Run") -> bool:
    return run.info.status == "FINISHED" and run.data.tags.get(keys.TAG_OUTCOME) in FINISHED_OUTCOMES


def runs_by_hash(client: "MlflowClient", exp_id: str) -> dict[str, "Run"]:
    """Spec hash -> its run (a finished one preferred, then the oldest), over the experiment's active runs."""
    chosen: dict[str, Run] = {}
    for run in list_runs(client, exp_id):
        spec_hash = run.data.tags.get(keys.TAG_SPEC_HASH)
        if spec_hash and is_trial_run(run) and (spec_hash not in chosen or _preference(run) < _preference(chosen[spec_hash])):
            chosen[spec_hash] = run
    return chosen


def _preference(run: "Run") -> tuple[bool, int]:
    return (not is_finished(run), run.info.start_time or 0)


def find_run(client: "MlflowClient", exp_id: str, spec_hash: str, remembered: str | None = None) -> "Run | None":
    """The trial's run: the id its directory remembers if that run still exists here, else by spec-hash tag."""
    if remembered:
        try:
            run = client.get_run(remembered)
        except Exception as err:
            if "RESOURCE_DOES_NOT_EXIST" not in _error_code(err):
                raise
        else:
            if (run.info.experiment_id == exp_id and run.info.lifecycle_stage == "active"
                    and run.data.tags.get(keys.TAG_SPEC_HASH) == spec_hash):
                return run
    runs = [r for r in list_runs(client, exp_id, f"tags.`{keys.TAG_SPEC_HASH}` = '{spec_hash}'") if is_trial_run(r)]
    return min(runs, key=_preference) if runs else None


def find_parent(client: "MlflowClient", exp_id: str) -> "Run | None":
    """The sweep's parent run (tag tailsweep.kind = sweep; the oldest, should a race ever make two)."""
    runs = list_runs(client, exp_id, f"tags.`{keys.TAG_KIND}` = '{RUN_KIND_SWEEP}'")
    return min(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id)) if runs else None


def get_or_create_run(client: "MlflowClient", exp_id: str, store: TrialStore, spec: TrialSpec,
                      run_name: str | None, uri: str, result: TrialResult | None = None,
                      links: RunLinks | None = None) -> tuple["Run", bool]:
    """(run, created), with every param and tag in place (outcome, layers and the note once ``result`` is
    known), nested under the sweep's parent run, with its dataset input. Remembers the run id in the
    trial directory either way."""
    spec_hash = spec.spec_hash()
    record = store.tracking_record(spec_hash)
    run = find_run(client, exp_id, spec_hash, record.run_id(uri))
    created = run is None
    links = links or RunLinks()
    parent_id = links.parent_id
    if parent_id is None:
        parent = find_parent(client, exp_id)
        parent_id = parent.info.run_id if parent is not None else None
    if created:
        name = run_name or record.run_name or f"trial-{spec_hash}"
        run = client.create_run(exp_id, run_name=name, tags={**run_tags(spec, store.sweep), **link_tags(parent_id),
                                                                 **dict(links.source)})
    store.remember_run(spec_hash, run_name=run_name, uri=uri, run_id=run.info.run_id)
    _complete_params_and_tags(client, run, spec, store.sweep, result, parent_id, dict(links.source))
    _ensure_dataset_input(client, run, spec)
    return client.get_run(run.info.run_id), created


def _complete_params_and_tags(client: "MlflowClient", run: "Run", spec: TrialSpec, sweep: str,
                              result: TrialResult | None = None, parent_id: str | None = None,
                              source: dict[str, str] | None = None) -> None:
    from mlflow.entities import Param, RunTag

    params = [Param(k, v) for k, v in run_params(spec).items() if k not in run.data.params]
    wanted = {**run_tags(spec, sweep, result), **link_tags(parent_id)}
    if result is not None:
        wanted[run_notes.TAG_NOTE] = run_notes.trial_note(result, {**run.data.tags, **wanted})[:MAX_TAG_VALUE]
    tags = [RunTag(k, v) for k, v in wanted.items() if run.data.tags.get(k) != v]
    tags += [RunTag(k, v) for k, v in (source or {}).items() if k not in run.data.tags and k not in wanted]
    for chunk in _chunks(params, MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run.info.run_id, params=chunk)
    for chunk in _chunks(tags, MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run.info.run_id, tags=chunk)


def _ensure_dataset_input(client: "MlflowClient", run: "Run", spec: TrialSpec) -> None:
    """The trial's dataset as an MLflow dataset input, logged once (same name and digest: already there)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    fields = run_notes.trial_dataset_input(spec)
    inputs = run.inputs.dataset_inputs if run.inputs is not None else []
    if any(i.dataset.name == fields["name"] and i.dataset.digest == fields["digest"] for i in inputs):
        return
    client.log_inputs(run.info.run_id, [DatasetInput(Dataset(**fields), tags=[InputTag(run_notes.DATA_CONTEXT_TAG, "train")])])


def history_points(client: "MlflowClient", run_id: str, step_keys: Iterable[str]) -> set[tuple[str, int]]:
    """(key, step) pairs the run holds for the given step keys: one history call per key (there are few)."""
    have: set[tuple[str, int]] = set()
    for key in sorted(set(step_keys)):
        have.update((m.key, int(m.step)) for m in client.get_metric_history(run_id, key))
    return have


def log_points(client: "MlflowClient", run_id: str, points: list[Point]) -> int:
    from mlflow.entities import Metric

    stamp = int(time.time() * 1000)
    for chunk in _chunks(points, MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=[Metric(k, v, stamp, s) for k, s, v in chunk])
    return len(points)


def _artifact_sizes(client: "MlflowClient", run_id: str, path: str | None = None) -> dict[str, int | None]:
    sizes: dict[str, int | None] = {}
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            sizes.update(_artifact_sizes(client, run_id, info.path))
        else:
            sizes[info.path] = info.file_size
    return sizes


def trial_artifacts(store: TrialStore, spec_hash: str) -> dict[str, Path]:
    """Artifact path -> local file: spec.json, result.json, measures.parquet, weights/*.safetensors,
    plots/*.png."""
    files = store.files(spec_hash)
    out = {p.name: p for p in (files.spec, files.result, files.table) if p.exists()}
    for folder in (files.weights, files.plots):
        if folder.is_dir():
            out.update({f"{folder.name}/{p.name}": p for p in sorted(folder.iterdir())
                        if p.is_file() and not p.name.startswith(".")})
    return out


@dataclass(frozen=True)
class UploadStats:
    run_id: str
    created: bool
    points: int      # metric points logged by this call
    artifacts: int   # files uploaded by this call


def upload_trial(client: "MlflowClient", exp_id: str, store: TrialStore, spec_hash: str, uri: str, *,
                 run_name: str | None = None, known_points: set[tuple[str, int]] | None = None,
                 result: TrialResult | None = None, links: RunLinks | None = None) -> UploadStats:
    """Make the store's run for a finished trial hold exactly the trial directory's records; idempotent.

    ``known_points``: (key, step) pairs the caller knows the run holds (a live logger's own bookkeeping);
    None reads them from the store. ``result``: the record this process just wrote to the trial
    directory (uploaded from memory, not read back); None reads it from the directory (sync, reruns).
    Ends the run FINISHED and marks the trial SYNCED for ``uri``."""
    if result is None:
        result = store.load_result(spec_hash)
    elif result.spec.spec_hash() != spec_hash:
        raise ValueError(f"result: spec hash {result.spec.spec_hash()} is not trial {spec_hash}")
    run, created = get_or_create_run(client, exp_id, store, result.spec, run_name, uri, result, links)
    run_id = run.info.run_id
    store.ensure_table(result)
    have = set() if created else _points_held(client, run, result, known_points)
    missing, seen = [], set(have)
    for key, step, value in result_points(result):
        if (key, step) not in seen:
            seen.add((key, step))
            missing.append((key, step, value))
    log_points(client, run_id, missing)
    uploaded = _upload_artifacts(client, run, trial_artifacts(store, spec_hash))
    if run.info.status != "FINISHED":
        client.set_terminated(run_id, "FINISHED")
    store.mark_synced(spec_hash, uri, run_id)
    return UploadStats(run_id, created, len(missing), uploaded)


def _points_held(client: "MlflowClient", run: "Run", result: TrialResult,
                 known_points: set[tuple[str, int]] | None) -> set[tuple[str, int]]:
    """(key, step) pairs of ``result`` an existing run already holds.

    Step keys: compared with the stored history (or the caller's ``known_points``). Final-only keys are
    logged once, at the last iteration, so a stored value means the point is there (no history call per key).
    """
    step_keys = {key for _, key, _ in result.history}
    have = set(known_points) if known_points is not None else history_points(
        client, run.info.run_id, step_keys & set(run.data.metrics))
    return have | {(key, result.iterations) for key in result.metrics
                   if key not in step_keys and key in run.data.metrics}


def _upload_artifacts(client: "MlflowClient", run: "Run", files: dict[str, Path]) -> int:
    """Upload each file the run lacks (a different size counts as lacking; for the table, so does a digest
    other than the run's table tag: remeasured values can keep the size). Returns how many were sent."""
    run_id = run.info.run_id
    present = _artifact_sizes(client, run_id)
    new_table = _new_table_digest(run, files)
    uploaded = 0
    for artifact_path, local in files.items():
        if present.get(artifact_path) != local.stat().st_size or (new_table and artifact_path == keys.TABLE_ARTIFACT):
            client.log_artifact(run_id, str(local), os.path.dirname(artifact_path) or None)
            uploaded += 1
    if new_table:   # after the upload: the tag never names a table the run does not hold
        client.set_tag(run_id, keys.TAG_TABLE, new_table)
    return uploaded


def _new_table_digest(run: "Run", files: dict[str, Path]) -> str | None:
    """The local table's digest when the run's table tag names other bytes (or none); else None."""
    table = files.get(keys.TABLE_ARTIFACT)
    if table is None:
        return None
    digest = measures_table.digest(table.read_bytes())
    return digest if run.data.tags.get(keys.TAG_TABLE) != digest else None


@dataclass(frozen=True)
class MeasureUpdate:
    points: int      # metric points logged
    table: bool      # the run's table artifact was uploaded (it had none, or other bytes)

    @property
    def changed(self) -> bool:
        return self.points > 0 or self.table


def update_measurements(client: "MlflowClient", run: "Run", result: TrialResult, store: TrialStore,
                        spec_hash: str) -> MeasureUpdate:
    """Bring an existing run up to a remeasured record: run metrics whose value changed (or that are new)
    are logged again at the trial's last iteration, the newest value being the run's; the table artifact
    is replaced when its digest differs; step histories are untouched; tags and the other artifacts
    follow the record. A repeat changes nothing."""
    held = run.data.metrics
    browsed, table = measures_table.split_metrics(result.metrics)
    # A run uploaded before tables holds table keys as metrics too: they are kept current, so its UI never
    # shows a stale measurement (MLflow cannot delete a metric).
    wanted = {**{k: v for k, v in table.items() if k in held}, **browsed}
    # A stage's wall time differs on every run; a timing the run already holds is not a changed measurement.
    changed = [(key, int(result.iterations), value) for key, value in sorted(wanted.items())
               if key not in held or not (_same(held[key], value) or key.startswith(keys.time_key("")))]
    log_points(client, run.info.run_id, changed)
    for key, value in run_tags(result.spec, run.data.tags.get(keys.TAG_SWEEP, store.sweep), result).items():
        if run.data.tags.get(key) != value:
            client.set_tag(run.info.run_id, key, value)
    store.ensure_table(result)
    files = trial_artifacts(store, spec_hash)
    replaced = _new_table_digest(run, files) is not None
    _upload_artifacts(client, run, files)
    return MeasureUpdate(len(changed), replaced)


def _same(held: float, value: float) -> bool:
    """A run's metric ``held`` is the record's ``value``; MLflow's SQL store keeps +-inf as +-float max, so a
    repeat would otherwise log every infinite measurement again."""
    if math.isinf(value) and abs(held) == sys.float_info.max:
        return math.copysign(1.0, held) == math.copysign(1.0, value)
    return held == value or (math.isnan(held) and math.isnan(value))
