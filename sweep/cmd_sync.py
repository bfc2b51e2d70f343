"""`tailsweep sync NAME`: upload what the tracking store lacks from the trial directories.

The trial directories are the source of truth; sync makes MLflow agree with them. It is idempotent: a
trial's run is found by spec hash (never a second run), metric points already stored (key, step) are not
logged again, artifacts already there (same path and size) are not uploaded again, and a trial marked
SYNCED whose run is still finished (and nested under the sweep's parent run, with its note) in the store
is skipped without further calls. It also finds or creates the sweep's one parent run and brings it up to
date (sweep.yaml, grid.csv, outcome counts, note): after an outage, and for a store made before parents.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from sweep import mlflow_parent, mlflow_runs, run_notes, tracking
from sweep.config import SweepSpec, load_saved_sweep
from sweep.errors import EXIT_OK, EXIT_TRIALS_FAILED, UserError
from sweep.locations import add_location_options, find_sweep
from sweep.outcomes import outcome_counts, sweep_hashes
from sweep.paths import Layout
from sweep.tracking_config import TrackingConfig
from sweep.trial_store import TrialStore


@dataclass(frozen=True)
class SyncReport:
    uri: str
    experiment_id: str | None
    finished: int = 0                       # trial directories with DONE
    unfinished: int = 0                     # trial directories without DONE (skipped)
    in_sync: int = 0                        # already complete in the store
    uploaded: int = 0                       # trials brought up to date by this call
    runs_created: int = 0
    points: int = 0
    artifacts: int = 0
    errors: tuple[str, ...] = field(default_factory=tuple)   # '<hash>: <problem>', one per failed trial
    reachable: bool = True
    parent_created: bool = False            # the sweep's parent run was made by this call
    runs_linked: int = 0                    # trial runs given their kind/parent tags by this call

    @property
    def ok(self) -> bool:
        return self.reachable and not self.errors


def sync_sweep(layout: Layout, name: str, config: TrackingConfig) -> SyncReport:
    """Upload every finished trial of sweep ``name`` that the store of ``config`` lacks."""
    store = TrialStore(layout, name)
    hashes = store.hashes()
    done = [h for h in hashes if store.is_done(h)]
    base = dict(uri=config.display, finished=len(done), unfinished=len(hashes) - len(done))
    if not tracking.probe(config):
        return SyncReport(experiment_id=None, reachable=False, **base)
    sweep, sweep_text = _saved_sweep(layout, name)
    source = run_notes.source_tags("tailsweep sync")
    try:
        client = tracking.make_client(config)
        exp_id = mlflow_runs.ensure_experiment(client, name, config.artifact_location(name))
        parent, parent_created = mlflow_parent.ensure_parent(client, exp_id, name, source)
        parent_id = parent.info.run_id
        runs = mlflow_runs.runs_by_hash(client, exp_id) if done else {}
    except mlflow_runs.DeletedExperiment as err:
        raise UserError(str(err)) from None
    except Exception as err:  # noqa: BLE001 - an unreachable or broken store is reported, not raised
        return SyncReport(experiment_id=None, reachable=False,
                          errors=(f"{config.display}: {type(err).__name__}: {err}",), **base)
    in_sync, stats, errors = 0, [], []
    for spec_hash in done:
        run = runs.get(spec_hash)
        if (run is not None and mlflow_runs.is_finished(run) and store.synced_run(spec_hash, config.uri) == run.info.run_id
                and mlflow_runs.is_linked(run, parent_id)):
            in_sync += 1
            continue
        try:
            stats.append(mlflow_runs.upload_trial(client, exp_id, store, spec_hash, config.uri,
                                                  links=mlflow_runs.RunLinks(parent_id, tuple(source.items()))))
        except Exception as err:  # noqa: BLE001 - one broken trial must not stop the others
            errors.append(f"{spec_hash}: {type(err).__name__}: {err}")
    linked = 0
    try:
        linked = mlflow_parent.link_trial_runs(client, exp_id, parent_id)   # unfinished trials' runs too
        counted = sweep_hashes(store, [t.spec_hash for t in sweep.trials] if sweep is not None else [])
        mlflow_parent.update_parent(client, client.get_run(parent_id), sweep, sweep_text,
                                    outcome_counts(store, counted))
    except Exception as err:  # noqa: BLE001 - reported like a trial's problem
        errors.append(f"sweep parent run {parent_id}: {type(err).__name__}: {err}")
    return SyncReport(experiment_id=exp_id, in_sync=in_sync, uploaded=len(stats), parent_created=parent_created,
                      runs_linked=linked,
                      runs_created=sum(s.created for s in stats), points=sum(s.points for s in stats),
                      artifacts=sum(s.artifacts for s in stats), errors=tuple(errors), **base)


def _saved_sweep(layout: Layout, name: str) -> tuple[SweepSpec | None, str | None]:
    """The sweep file `run` saved (for the parent's sweep.yaml and grid.csv); (None, None) if unreadable."""
    path = layout.sweep_file(name)
    try:
        return load_saved_sweep(path), path.read_text(encoding="utf-8")
    except (OSError, UserError):
        return None, None


def run(args: argparse.Namespace) -> int:
    locations = find_sweep(args.name, args.storage, args.tracking_uri).locations
    report = sync_sweep(locations.layout, args.name, locations.tracking)
    print(f"sync {args.name} -> {report.uri}" + (f" (experiment {report.experiment_id})" if report.experiment_id else ""))
    if not report.reachable:
        for line in report.errors:
            print(f"tailsweep: error: {line}", file=sys.stderr)
        print(f"tailsweep: error: tracking store {report.uri} unreachable; nothing synced (the trial directories "
              "keep every record: run sync again when it is back)", file=sys.stderr)
        return EXIT_TRIALS_FAILED
    print(f"  {report.finished} finished trials: {report.uploaded} uploaded ({report.runs_created} new runs, "
          f"{report.points} metric points, {report.artifacts} files), {report.in_sync} already in sync")
    if report.parent_created or report.runs_linked:
        print(f"  sweep parent run {'created' if report.parent_created else 'kept'}; "
              f"{report.runs_linked} trial runs nested under it")
    if report.unfinished:
        print(f"  {report.unfinished} unfinished trials skipped (finish them with `tailsweep resume {args.name}`)")
    for line in report.errors:
        print(f"tailsweep: error: {line}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_TRIALS_FAILED


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "sync", help="upload finished trials that the MLflow store lacks",
        description="Upload every finished trial of sweep NAME that the tracking store lacks, from its trial "
                    "directory (the source of truth). Safe to repeat: no duplicate runs, metric points or files.")
    parser.add_argument("name", metavar="NAME", help="the sweep name (its MLflow experiment)")
    add_location_options(parser)
    parser.set_defaults(func=run)
