"""`tailsweep run | resume | status`: launch a sweep file, continue it, count its outcomes.

Where a sweep lives (storage root, tracking store) is sweep/locations.py's: flag > sweep file > default.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from typing import Sequence

from core.atomic import atomic_write_text
from core.fit import MIN_TRAIN_ACC, final_train_acc, fit_of_metrics
from core.vocab import FIT_UNDERFIT, FAILED, PENDING, UNFINISHED, unknown_value
from sweep.config import PlannedTrial, SweepSpec, load_sweep
from sweep.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_TRIALS_FAILED, UserError
from sweep.locations import Locations, add_location_options, find_sweep, resolve_locations
from sweep.outcomes import outcome_counts, sweep_hashes, trial_outcome
from sweep.trial_store import TrialStore

ADDRESS_FORMS = ("auto", "HOST:PORT", "ray://HOST:PORT")


def check_address(address: str | None) -> None:
    """'auto', HOST:PORT or ray://HOST:PORT; anything else was Ray's traceback after the storage was written."""
    if address is None or address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UserError(f"--address: {unknown_value(address, ADDRESS_FORMS)}")


# ---- outcomes -------------------------------------------------------------------------------------
# (trial_outcome and outcome_counts live in sweep/outcomes.py: the sweep's parent run and sync count too)


def _counts_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in counts.items() if n) or "no trials"


# ---- run ------------------------------------------------------------------------------------------
def _point(coords: tuple, axes: Sequence[str]) -> str:
    values = dict(coords)
    return ", ".join(f"{axis} {values[axis]}" for axis in axes)


def same_point_notes(sweep: SweepSpec) -> list[str]:
    """One line per trial that several grid points give (a setting that changes nothing), or none."""
    axes = sweep.varying
    return [f"note: grid point ({_point(c, axes)}) is the same trial as ({_point(t.coords, axes)}), {t.spec_hash}: "
            f"a setting there changes nothing (e.g. noise_scale with noise none); it runs once"
            for t in sweep.trials for c in t.same_points]


def _print_plan(sweep: SweepSpec, store: TrialStore | None) -> None:
    axes = [axis for axis, _ in sweep.axes]
    grid = " x ".join(f"{len(values)} {axis}" for axis, values in sweep.axes)
    if sweep.grid_points == len(sweep.trials):
        print(f"sweep {sweep.name}: {len(sweep.trials)} trials = {grid}")
    else:
        print(f"sweep {sweep.name}: {len(sweep.trials)} trials from {sweep.grid_points} grid points = {grid}")
    rows = [["spec hash", "run name", *axes, "state"]]
    for t in sweep.trials:
        coords = dict(t.coords)
        state = (store.outcome(t.spec_hash) or "to run") if store else "to run"
        rows.append([t.spec_hash, t.name, *(str(coords[a]) for a in axes), state])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    for note in same_point_notes(sweep):
        print(note)


def _save_sweep_file(loc: Locations, sweep: SweepSpec, uri_flag: str | None) -> None:
    """The sweep as launched, kept under the root so `resume NAME` and `status NAME` find it."""
    doc = dict(sweep.document)
    if uri_flag is not None:   # remember a flag-chosen store so `resume NAME` reports to the same one
        doc["tracking"] = {**doc.get("tracking", {}), "uri": uri_flag}
    text = f"# written by `tailsweep run {sweep.source}`\n" + replace(sweep, document=doc).to_yaml()
    atomic_write_text(loc.layout.sweep_file(sweep.name), text)


def cmd_run(args: argparse.Namespace) -> int:
    check_address(args.address)
    sweep = load_sweep(args.sweep_file)
    loc = resolve_locations(args.storage, args.tracking_uri, sweep)
    if args.dry_run:   # reads, never writes: states come from trial directories that already exist
        known = loc.layout.sweep_dir(sweep.name).is_dir()
        _print_plan(sweep, TrialStore(loc.layout, sweep.name) if known else None)
        return EXIT_OK
    from sweep.launch import require_shared_storage
    require_shared_storage(args.address, loc.storage_given)
    for note in same_point_notes(sweep):
        print(note)
    _save_sweep_file(loc, sweep, args.tracking_uri)
    return _drive(args.address, loc, sweep, restore=False, command="tailsweep run", verbose=args.verbose)


def cmd_resume(args: argparse.Namespace) -> int:
    check_address(args.address)
    found = find_sweep(args.name, args.storage, args.tracking_uri)
    loc, sweep = found.locations, found.sweep
    from sweep.launch import require_shared_storage
    require_shared_storage(args.address, loc.storage_given)
    return _drive(args.address, loc, sweep, restore=True, restart_errored=args.restart_errored,
                  command="tailsweep resume", verbose=args.verbose)


def _pending(store: TrialStore, trials: Sequence[PlannedTrial], finished: set[str]) -> list[PlannedTrial]:
    return [t for t in trials if not store.is_done(t.spec_hash) and t.spec_hash not in finished]


@dataclass(frozen=True)
class FitOutcome:
    errored: int          # trials Ray gave up on after max_failures
    crashed: bool         # Tune itself stopped (e.g. Ray's OOM kill): resume continues it
    stopped_early: bool   # some trial neither finished nor errored: interrupted
    known: frozenset      # spec hashes of the trials Tune knew


def _cause(err: BaseException) -> str:
    """One line for a Tune crash: a TuneError's text is a whole traceback whose last line names the cause."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if type(err).__name__ == "TuneError" and lines:   # (Ray is imported lazily: compare by name)
        return lines[-1]
    return f"{type(err).__name__}: {lines[0] if lines else ''}"


def _fit(tuner, store: TrialStore) -> FitOutcome:
    from sweep.console import SPEC_HASH_PARAM

    try:
        results = tuner.fit()
    except Exception as err:  # noqa: BLE001 - any Tune crash: report it; finished trials are kept
        print(f"tailsweep: sweep {store.sweep} stopped: {_cause(err)}", file=sys.stderr)
        return FitOutcome(0, True, False, frozenset())
    # A trial killed before its first report (e.g. by Ray's memory monitor) has no config in its Result:
    # count errors over the whole ResultGrid, or such trials would look merely interrupted (exit 130).
    known = {r.config[SPEC_HASH_PARAM]: r.error for r in results if r.config and SPEC_HASH_PARAM in r.config}
    return FitOutcome(errored=results.num_errors, crashed=False,
                      stopped_early=any(e is None and not store.is_done(h) for h, e in known.items()),
                      known=frozenset(known))


def _drive(address: str | None, loc: Locations, sweep: SweepSpec, *, restore: bool,
           restart_errored: bool = False, command: str = "tailsweep run", verbose: bool = False) -> int:
    """Run what is not finished yet: Tune's saved state first (resume), then a fresh Tuner over the
    pending trials it did not know; trials with a finished record (trial directory or MLflow) are never
    scheduled."""
    from sweep import launch
    from sweep.console import Console
    from sweep.tracking import Tracker
    from sweep.mlflow_runs import RunLinks
    from sweep.run_notes import source_tags
    from sweep.trainable import TrialContext, make_plan

    console = Console(sweep.name, verbose)
    console.prepare()   # before the store is opened: a new one logs its schema creation
    store = TrialStore(loc.layout, sweep.name)
    tracker = Tracker(loc.tracking)
    tracker.ensure_experiment(sweep.name)   # in the driver, before any trial: no SQLite schema race
    finished = tracker.finished_hashes(sweep.name)
    pending = _pending(store, sweep.trials, finished)
    source = source_tags(command)
    saved = loc.layout.sweep_file(sweep.name)
    parent_id = tracker.open_sweep(sweep, saved.read_text(encoding="utf-8") if saved.is_file() else None,
                                   running=bool(pending), source=source)
    print(f"sweep {sweep.name}: {len(sweep.trials)} trials, {len(sweep.trials) - len(pending)} already finished; "
          f"storage {loc.layout.root}; MLflow {loc.tracking.display}", flush=True)
    started = sum(1 for t in pending if store.files(t.spec_hash).spec.exists())
    if started and not restore:
        print(f"tailsweep: {started} trials were interrupted earlier and start over; `tailsweep resume {sweep.name}` "
              "continues them from their checkpoints instead", file=sys.stderr)
    outcomes: list[FitOutcome] = []
    if pending:
        launch.init_ray(address, console)
        launch.check_storage_visible(loc.layout.root)
        context = TrialContext(str(loc.layout.root), sweep.name, loc.tracking, make_plan(sweep.trials),
                               sweep.resources.checkpoint_every_s, sweep.resources.device,
                               RunLinks(parent_id, tuple(source.items())))
        if restore and launch.can_restore(loc.layout, sweep.name):
            tuner = launch.restore_tuner(loc.layout, sweep.name, context, sweep.resources,
                                         restart_errored=restart_errored, console=console)
            outcomes.append(_fit(tuner, store))
        known = outcomes[0].known if outcomes else frozenset()
        rest = [t for t in _pending(store, sweep.trials, finished) if t.spec_hash not in known]
        if rest and not any(o.crashed or o.stopped_early for o in outcomes):
            outcomes.append(_fit(launch.build_tuner(loc.layout, sweep.name, rest, context, sweep.resources,
                                                    console=console), store))
    code = _finish(store, sweep, loc, outcomes)
    counts = outcome_counts(store, sweep_hashes(store, [t.spec_hash for t in sweep.trials]))
    tracker.close_sweep(sweep, parent_id, counts, PARENT_STATUS.get(code, "FAILED"), source)
    return code


PARENT_STATUS = {EXIT_OK: "FINISHED", EXIT_TRIALS_FAILED: "FAILED", EXIT_INTERRUPTED: "KILLED"}   # exit -> parent


def _finish(store: TrialStore, sweep: SweepSpec, loc: Locations, outcomes: Sequence[FitOutcome]) -> int:
    counts = outcome_counts(store, [t.spec_hash for t in sweep.trials])
    print(f"sweep {sweep.name}: {_counts_line(counts)}; MLflow: {loc.tracking.display} (experiment {sweep.name})")
    unfinished = counts[UNFINISHED] + counts[PENDING]
    if unfinished:
        print(f"tailsweep: {unfinished} trials not finished; finished ones are kept; continue with "
              f"`tailsweep resume {sweep.name}" + (f" --storage {loc.layout.root}`" if loc.storage_given else "`"),
              file=sys.stderr)
    errored = sum(o.errored for o in outcomes)
    if errored:
        print(f"tailsweep: {errored} trials errored (Ray gave up after resources.max_failures="
              f"{sweep.resources.max_failures} retries; their errors are above); `tailsweep resume` retries them "
              "from their last checkpoints, `--restart-errored` from the start", file=sys.stderr)
    if counts[FAILED] or any(o.errored or o.crashed for o in outcomes):
        return EXIT_TRIALS_FAILED
    return EXIT_INTERRUPTED if unfinished else EXIT_OK


# ---- status ---------------------------------------------------------------------------------------
def cmd_status(args: argparse.Namespace) -> int:
    found = find_sweep(args.name, args.storage, args.tracking_uri)
    loc, sweep = found.locations, found.sweep
    store = TrialStore(loc.layout, sweep.name)
    planned = {t.spec_hash: t.name for t in sweep.trials}
    earlier = [h for h in store.hashes() if h not in planned]   # from an earlier grid of the same NAME
    counts = outcome_counts(store, [*planned, *earlier])
    print(f"sweep {sweep.name} ({loc.layout.sweep_dir(sweep.name)}): {len(planned) + len(earlier)} trials: "
          f"{_counts_line(counts)}")
    fits = {h: _fit_columns(store, h) for h in [*planned, *earlier]}
    underfit = sum(1 for acc, fit in fits.values() if fit == FIT_UNDERFIT)
    if underfit:
        print(f"note: {underfit} capped trial(s) underfit (final train accuracy < {MIN_TRAIN_ACC:g}); the report leaves "
              "them out of its statistics")
    if args.trials:
        for spec_hash in [*planned, *earlier]:
            acc, fit = fits[spec_hash]
            acc_text = f"train acc {acc:.3f}" if acc is not None else ""
            print(f"  {spec_hash}  {trial_outcome(store, spec_hash):10s}  {acc_text:15s}  {fit or '':8s}  "
                  f"{planned.get(spec_hash, '(earlier grid)')}")
    return EXIT_OK


def _fit_columns(store: TrialStore, spec_hash: str) -> tuple[float | None, str | None]:
    """(final train accuracy, fit word) of a finished trial; (None, None) for any other."""
    if not store.is_done(spec_hash):
        return None, None
    result = store.load_result(spec_hash)
    return final_train_acc(result.metrics), fit_of_metrics(result.status, result.metrics)


# ---- registration ---------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction) -> None:
    """Adds run, resume and status (sweep/cli.py lists all three names against this module)."""
    p = sub.add_parser("run", help="run a sweep file (finished trials are skipped)",
                       description="Validate SWEEP.yaml, then run every trial of its grid that has no finished "
                                   "record on Ray Tune, logging each to MLflow. Exit codes: 0 done, 1 some "
                                   "trials failed, 2 bad input, 130 interrupted.")
    p.add_argument("sweep_file", metavar="SWEEP.yaml", help="the sweep file (see configs/quick.yaml)")
    p.add_argument("--dry-run", action="store_true",
                   help="validate and print the grid (spec hash, run name, axis values); start and write nothing")
    _add_address(p)
    _add_verbose(p)
    add_location_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("resume", help="continue an interrupted sweep from its checkpoints",
                       description="Restore the sweep's Ray Tune state: unfinished and errored trials go on from "
                                   "their last checkpoint, finished ones are not retrained.")
    p.add_argument("name", metavar="NAME", help="the sweep's name (its 'name:')")
    p.add_argument("--restart-errored", action="store_true",
                   help="start errored trials over instead of continuing from their last checkpoint")
    _add_address(p)
    _add_verbose(p)
    add_location_options(p)
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("status", help="count a sweep's trials by outcome",
                       description="Counts by outcome (converged, capped, diverged, failed, unfinished, pending) "
                                   "read from the trial directories.")
    p.add_argument("name", metavar="NAME", help="the sweep's name (its 'name:')")
    p.add_argument("--trials", action="store_true", help="also list every trial with its outcome")
    add_location_options(p)
    p.set_defaults(func=cmd_status)


def _add_address(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", metavar="auto|HOST:PORT", default=None,
                        help="an existing Ray cluster ('auto' under `ray job submit`); default: embedded local "
                             "Ray with this machine's CPUs. A cluster needs a shared --storage")


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show Ray's own output: its start-up banner, INFO logs of the driver and the "
                             "trials, and the scheduler and resource lines of the trial table")
