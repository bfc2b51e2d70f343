"""`tailsweep remeasure NAME [--all]`: recompute the measurements of finished trials from their saved
weights, without training, when the measurement definitions changed (``core.version.MEASURE_VERSION``).

Tails, ranks, curves, pruned accuracy and gaps are recomputed from each trial directory's ``final`` and
``avg`` weights; the record (result.json, plots) is rewritten in place, then the trial's MLflow run is
brought to it: changed run metrics are logged again at the last iteration (MLflow has no way to delete
a point, so a changed metric's history keeps the earlier value before the newer one), a changed table
artifact (measures.parquet) is replaced, tags and the other artifacts follow, step histories stay. No run
is created or duplicated. A second call changes nothing. Runs whose tag says an older version than their
record (an earlier call while the store was down) are caught up.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

from core import keys
from core.pipeline import measure_trial, resolve_device
from core.result import TrialResult
from core.version import MEASURE_VERSION
from core.vocab import DIVERGED, WEIGHT_SETS, ChoiceError
from sweep import mlflow_runs, tracking
from sweep.errors import EXIT_OK, EXIT_TRIALS_FAILED, UserError
from sweep.locations import add_location_options, find_sweep
from sweep.tracking_config import TrackingConfig
from sweep.trial_store import TrialStore

# Metrics a remeasure keeps from training: everything else is a measurement and is recomputed.
_TRAINING_TIMES = (keys.time_key("data"), keys.time_key("train"))


def remeasured(result: TrialResult, store: TrialStore, device: str) -> TrialResult:
    """``result`` with its measurements recomputed under this version's definitions."""
    spec_hash = result.spec.spec_hash()
    if result.status == DIVERGED:   # nothing was measured; only the version moves on
        return dataclasses.replace(result, measure_version=MEASURE_VERSION)
    weights = {wset: store.load_snapshot(spec_hash, wset) for wset in WEIGHT_SETS}
    kept = {k: v for k, v in result.metrics.items() if k == keys.ITERATIONS or k in _TRAINING_TIMES}
    return dataclasses.replace(result, metrics={**kept, **measure_trial(result.spec, weights, device=device)},
                               measure_version=MEASURE_VERSION)


def run(args: argparse.Namespace) -> int:
    try:
        resolve_device(args.device)   # a bad --device is bad input, before any trial is touched
    except ChoiceError as err:
        raise UserError(f"--{err}") from None
    found = find_sweep(args.name, args.storage, args.tracking_uri)
    store = TrialStore(found.locations.layout, args.name)
    done = store.done_hashes()
    stale = [h for h in done if args.all or store.load_result(h).measure_version < MEASURE_VERSION]
    print(f"remeasure {args.name}: {len(done)} finished trials, {len(stale)} to remeasure "
          f"(measurement version {MEASURE_VERSION}{', --all' if args.all else ''})")
    for i, spec_hash in enumerate(stale, 1):
        result = remeasured(store.load_result(spec_hash), store, args.device)
        store.replace_measurements(result)
        print(f"  [{i}/{len(stale)}] {spec_hash} {result.status}: measured again", flush=True)
    return _update_runs(args.name, store, done, found.locations.tracking)


def _update_runs(name: str, store: TrialStore, done: list[str], config: TrackingConfig) -> int:
    """Bring each run whose measurement-version tag is older than its record (or whose values differ,
    after --all) up to the record; runs already equal are left alone."""
    if not tracking.probe(config):
        print(f"tailsweep: error: tracking store {config.display} unreachable: the trial records are updated, "
              f"the MLflow runs are not (run `tailsweep remeasure {name}` again when it is back)", file=sys.stderr)
        return EXIT_TRIALS_FAILED
    client = tracking.make_client(config)
    exp_id = mlflow_runs.experiment_id(client, name)
    runs = mlflow_runs.runs_by_hash(client, exp_id) if exp_id is not None else {}
    updated = points = tables = 0
    for spec_hash in done:
        run = runs.get(spec_hash)
        if run is None:   # never uploaded: sync creates it from the (now current) record
            continue
        change = mlflow_runs.update_measurements(client, run, store.load_result(spec_hash), store, spec_hash)
        updated += change.changed
        points += change.points
        tables += change.table
    missing = sum(1 for h in done if h not in runs)
    print(f"  MLflow {config.display}: {updated} runs updated ({points} metric points"
          + (f", {tables} tables uploaded)" if tables else ")")
          + (f"; {missing} trials have no run yet (`tailsweep sync {name}` uploads them)" if missing else ""))
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "remeasure", help="recompute finished trials' measurements from saved weights (no training)",
        description="Recompute tails, ranks, curves, pruned accuracy and gaps of every finished trial whose "
                    f"measurements are older than this version's definitions (version {MEASURE_VERSION}), from "
                    "the trial directory's final and avg weights, without training. Updates the trial records "
                    "and their MLflow runs in place; safe to repeat.")
    parser.add_argument("name", metavar="NAME", help="the sweep name (its MLflow experiment)")
    parser.add_argument("--all", action="store_true", help="remeasure every finished trial, whatever its version")
    parser.add_argument("--device", default="auto", help="where to measure: auto | cpu | cuda (default auto)")
    add_location_options(parser)
    parser.set_defaults(func=run)
