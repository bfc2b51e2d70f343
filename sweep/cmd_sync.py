"""`tailsweep sync NAME`: upload what the tracking store lacks from the trial directories.

The trial directories are the source of truth; sync makes MLflow agree with them. It is idempotent: a
trial's run is found by spec hash (never a second run), metric points already stored (key, step) are not
logged again, artifacts already there (same path and size) are not uploaded again, and a trial marked
SYNCED whose run is still finished in the store is skipped without further calls.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from sweep import mlflow_runs, tracking
from sweep.errors import EXIT_OK, EXIT_TRIALS_FAILED, UserError
from sweep.locations import add_location_options, find_sweep
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
    try:
        client = tracking.make_client(config)
        exp_id = mlflow_runs.ensure_experiment(client, name, config.artifact_location(name))
        runs = mlflow_runs.runs_by_hash(client, exp_id) if done else {}
    except mlflow_runs.DeletedExperiment as err:
        raise UserError(str(err)) from None
    except Exception as err:  # noqa: BLE001 - an unreachable or broken store is reported, not raised
        return SyncReport(experiment_id=None, reachable=False,
                          errors=(f"{config.display}: {type(err).__name__}: {err}",), **base)
    in_sync, stats, errors = 0, [], []
    for spec_hash in done:
        run = runs.get(spec_hash)
        if run is not None and mlflow_runs.is_finished(run) and store.synced_run(spec_hash, config.uri) == run.info.run_id:
            in_sync += 1
            continue
        try:
            stats.append(mlflow_runs.upload_trial(client, exp_id, store, spec_hash, config.uri))
        except Exception as err:  # noqa: BLE001 - one broken trial must not stop the others
            errors.append(f"{spec_hash}: {type(err).__name__}: {err}")
    return SyncReport(experiment_id=exp_id, in_sync=in_sync, uploaded=len(stats),
                      runs_created=sum(s.created for s in stats), points=sum(s.points for s in stats),
                      artifacts=sum(s.artifacts for s in stats), errors=tuple(errors), **base)


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
