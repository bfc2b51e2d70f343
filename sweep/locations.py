"""Where a sweep lives: its storage root and tracking store, chosen in one place for every command.

The rule is command-line flag > sweep file > default (``./tailsweep``, SQLite inside it). `run` reads the
sweep file it is given; every command that finds a sweep by NAME (resume, status, sync, report, export)
reads the copy `run` saved under the root, which also remembers a flag-chosen tracking URI, so all of
them read and write the store the sweep was run against.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from sweep.config import SweepSpec, load_saved_sweep
from sweep.errors import UserError
from sweep.paths import Layout, check_sweep_name, resolve_root
from sweep.tracking_config import TrackingConfig, check_tracking_uri


@dataclass(frozen=True)
class Locations:
    layout: Layout
    tracking: TrackingConfig
    storage_given: bool      # chosen by flag or sweep file (a cluster run needs that)


@dataclass(frozen=True)
class FoundSweep:
    """A sweep started earlier, found by NAME: where it lives and its saved sweep file (when there is one)."""

    locations: Locations
    sweep: SweepSpec | None
    sweep_text: str | None   # the saved file as written, for reports and bundles


def add_location_options(parser: argparse.ArgumentParser, *, tracking_uri: bool = True) -> None:
    """--storage and --tracking-uri; ``tracking_uri=False`` where the parser already has the latter."""
    parser.add_argument("--storage", metavar="DIR",
                        help="storage root: trial directories (the source of truth), Ray Tune state and the "
                             "default MLflow store (sqlite:///DIR/mlflow.db). Default ./tailsweep; this flag "
                             "wins over the sweep file's 'storage:'")
    if tracking_uri:
        parser.add_argument("--tracking-uri", metavar="URI",
                            help="MLflow tracking store, e.g. http://127.0.0.1:5000 or postgresql://...; this "
                                 "flag wins over the sweep file's 'tracking: {uri: ...}' (for a sweep found by "
                                 "NAME, the one it was run with); default: SQLite under --storage")


def _check_root(root: Path, source: str) -> None:
    # A file in the way of the storage root was a mkdir traceback (exit 1) once the run began writing.
    for folder in (root, *root.parents):
        if folder.exists():
            if not folder.is_dir():
                raise UserError(f"{source}: {folder} exists and is not a folder (allowed: a folder path)")
            return


def resolve_locations(storage_flag: str | None, uri_flag: str | None, sweep: SweepSpec | None) -> Locations:
    """Flag > sweep file > default, for the storage root and the tracking URI."""
    problem = check_tracking_uri(uri_flag) if uri_flag is not None else None
    if problem:
        raise UserError(f"--tracking-uri: {problem}")
    from_file = sweep.storage if sweep else None
    layout = Layout(resolve_root(storage_flag, from_file))
    _check_root(layout.root, "--storage" if storage_flag is not None
                else f"{sweep.source}: storage" if sweep is not None and from_file is not None else "storage root")
    uri = uri_flag or (sweep.tracking_uri if sweep else None)
    tracking = TrackingConfig.for_layout(layout, uri, system_metrics=bool(sweep and sweep.system_metrics))
    return Locations(layout, tracking, storage_flag is not None or from_file is not None)


def find_sweep(name: str, storage_flag: str | None, uri_flag: str | None, *, required: bool = True) -> FoundSweep:
    """A sweep by NAME, through the sweep file saved under the root. ``required=False`` (report, export):
    a sweep with no saved file (read from a store by name) falls back to the flags and the default."""
    problem = check_sweep_name(name)
    if problem:
        raise UserError(f"NAME: {problem}")
    layout = Layout(resolve_root(storage_flag))
    saved = layout.sweep_file(name)
    if not saved.is_file():
        if required:
            raise UserError(f"NAME: no sweep {name!r} under {layout.root} (pass --storage with the root it was "
                            f"started with, from its flag or sweep file; sweeps here: "
                            f"{', '.join(sweep_names(layout)) or 'none'})")
        return FoundSweep(resolve_locations(storage_flag, uri_flag, None), None, None)
    sweep = load_saved_sweep(saved)
    return FoundSweep(resolve_locations(storage_flag, uri_flag, sweep), sweep, saved.read_text(encoding="utf-8"))


def sweep_names(layout: Layout) -> list[str]:
    folder = layout.root / "sweeps"
    return sorted(p.name for p in folder.iterdir() if (p / "sweep.yaml").is_file()) if folder.is_dir() else []
