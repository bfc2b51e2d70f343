"""The sweep's one parent MLflow run, as plain functions over an ``MlflowClient`` that raise on failure.

Tagged ``tailsweep.kind = sweep`` and found again by that tag (never a second one); every trial run is
nested under it (``mlflow.parentRunId``, sweep.mlflow_runs). It holds the sweep file as last run
(artifact ``sweep.yaml``), the grid (``grid.csv``: spec hash, run name and axis values per trial), the
outcome counts (metrics ``outcomes/<outcome>``), a note (grid, outcomes, the last report's claims) and,
after `tailsweep report`, the report under ``report/``. Every write compares first, so repeating one
changes nothing. The driver creates it before any trial starts; `sync` rebuilds it after an outage.
"""
from __future__ import annotations

import csv
import hashlib
import io
import time
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from core import keys
from core.vocab import RUN_KIND_SWEEP
from sweep import run_notes
from sweep.mlflow_runs import MAX_TAG_VALUE, find_parent, is_trial_run, link_tags, list_runs

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from sweep.config import SweepSpec

SWEEP_FILE_ARTIFACT = "sweep.yaml"
GRID_ARTIFACT = "grid.csv"
REPORT_ARTIFACT_DIR = "report"
TAG_FILES_DIGEST = "tailsweep.files_digest"   # sha256 of the uploaded sweep.yaml + grid.csv


def parent_tags(sweep: str) -> dict[str, str]:
    return {keys.TAG_KIND: RUN_KIND_SWEEP, keys.TAG_SWEEP: sweep}


def ensure_parent(client: "MlflowClient", exp_id: str, sweep: str, source: Mapping[str, str] | None = None,
                  *, running: bool = False) -> tuple["Run", bool]:
    """(the sweep's parent run, created). ``running``: trials are about to run under it (status RUNNING);
    otherwise a new parent is created FINISHED and an existing one keeps its status."""
    parent = find_parent(client, exp_id)
    created = parent is None
    if created:
        parent = client.create_run(exp_id, run_name=sweep, tags={**parent_tags(sweep), **(source or {})})
        if not running:
            client.set_terminated(parent.info.run_id, "FINISHED")
    else:
        from mlflow.entities import RunTag

        missing = [RunTag(k, v) for k, v in parent_tags(sweep).items() if parent.data.tags.get(k) != v]
        missing += [RunTag(k, v) for k, v in (source or {}).items() if k not in parent.data.tags]
        if missing:
            client.log_batch(parent.info.run_id, tags=missing)
    if running and parent.info.status != "RUNNING":
        client.update_run(parent.info.run_id, status="RUNNING")
    return client.get_run(parent.info.run_id), created


def end_parent(client: "MlflowClient", run_id: str, status: str) -> None:
    """FINISHED, FAILED or KILLED, unless it already is (a rerun changes nothing)."""
    if client.get_run(run_id).info.status != status:
        client.set_terminated(run_id, status)


def grid_csv(sweep: "SweepSpec") -> str:
    axes = [axis for axis, _ in sweep.axes]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["spec_hash", "run_name", *axes])
    for trial in sweep.trials:
        coords = dict(trial.coords)
        writer.writerow([trial.spec_hash, trial.name, *(coords.get(axis, "") for axis in axes)])
    return out.getvalue()


def update_parent(client: "MlflowClient", parent: "Run", sweep: "SweepSpec | None", sweep_text: str | None,
                  counts: Mapping[str, int] | None, claims: Sequence[str] | None = None) -> None:
    """Artifacts sweep.yaml and grid.csv (uploaded from memory when their digest changed), the outcome
    counts (a point only for a changed count) and the note. ``claims``: None keeps the note's earlier ones."""
    run_id = parent.info.run_id
    if sweep is not None and sweep_text is not None:
        grid = grid_csv(sweep)
        digest = hashlib.sha256((sweep_text + "\0" + grid).encode()).hexdigest()
        if parent.data.tags.get(TAG_FILES_DIGEST) != digest:
            client.log_text(run_id, sweep_text, SWEEP_FILE_ARTIFACT)
            client.log_text(run_id, grid, GRID_ARTIFACT)
            client.set_tag(run_id, TAG_FILES_DIGEST, digest)
    if counts is not None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        changed = [Metric(keys.outcome_count_key(k), float(v), stamp, 0) for k, v in counts.items()
                   if parent.data.metrics.get(keys.outcome_count_key(k)) != float(v)]
        if changed:
            client.log_batch(run_id, metrics=changed)
    old_note = parent.data.tags.get(run_notes.TAG_NOTE)
    if counts is None:   # keep the counts line of the earlier note: rebuild only what we know
        counts = {k[len(keys.OUTCOMES_ROOT):]: int(v) for k, v in parent.data.metrics.items()
                  if k.startswith(keys.OUTCOMES_ROOT)} or None
    axes = sweep.axes if sweep is not None else ()
    note = run_notes.sweep_note(parent.data.tags.get(keys.TAG_SWEEP, parent.info.run_name), axes, counts,
                                run_notes.note_claims(old_note) if claims is None else claims)
    if sweep is None and old_note:   # no sweep file here (a report read by name): keep the earlier grid
        head = old_note.split(run_notes.CLAIMS_HEADING, 1)[0].rstrip("\n")
        note = "\n".join([head, "", run_notes.CLAIMS_HEADING, *[f"- {c}" for c in claims]]) if claims else head
    note = note[:MAX_TAG_VALUE]
    if note != old_note:
        client.set_tag(run_id, run_notes.TAG_NOTE, note)


def link_trial_runs(client: "MlflowClient", exp_id: str, parent_id: str) -> int:
    """Tag every trial run of the experiment that lacks its kind or parent tag (stores made before the
    parent run existed); returns how many runs were tagged."""
    from mlflow.entities import RunTag

    tagged = 0
    wanted = link_tags(parent_id)
    for run in list_runs(client, exp_id):
        if run.info.run_id == parent_id or not is_trial_run(run) or keys.TAG_SPEC_HASH not in run.data.tags:
            continue
        missing = [RunTag(k, v) for k, v in wanted.items() if run.data.tags.get(k) != v]
        if missing:
            client.log_batch(run.info.run_id, tags=missing)
            tagged += 1
    return tagged


def upload_report(client: "MlflowClient", parent_id: str, out: Path) -> int:
    """index.html, figures/ and tables/ of a written report under the parent's ``report/``; files sent."""
    sent = 0
    page = out / "index.html"
    if page.is_file():
        client.log_artifact(parent_id, str(page), REPORT_ARTIFACT_DIR)
        sent += 1
    for folder in ("figures", "tables"):
        local = out / folder
        if local.is_dir() and any(local.iterdir()):
            client.log_artifacts(parent_id, str(local), f"{REPORT_ARTIFACT_DIR}/{folder}")
            sent += sum(1 for p in local.rglob("*") if p.is_file())
    return sent


def read_claims(out: Path) -> list[str]:
    """One line per claim of the report's claims table (``tables/claims.csv``); none if it is missing."""
    path = out / "tables" / "claims.csv"
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return run_notes.claim_lines(csv.DictReader(handle))
