"""`tailsweep report NAME | --bundle DIR`: figures, CSV tables and one HTML page for a sweep.

For a sweep read by NAME, the written report then goes to the sweep's parent MLflow run too (artifact
folder ``report/``, and its claims in the run's note); a store that refuses the upload costs one line.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from analysis import cli as analysis_cli
from analysis.errors import AnalysisInputError
from sweep.errors import UserError
from sweep.locations import FoundSweep, add_location_options, find_sweep


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="write a sweep's report (figures, tables, HTML with the claims table)",
        description="Read a sweep from MLflow (or an exported bundle) and write PNG/SVG figures, CSV tables and "
                    "one self-contained HTML page; prints the page's path. Default folder: "
                    "ROOT/sweeps/NAME/report (with --bundle: DIR/report).")
    analysis_cli.add_report_arguments(parser)
    add_location_options(parser, tracking_uri=False)   # analysis' arguments carry --tracking-uri
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        analysis_cli.check_report_source(args)
        if args.bundle is not None:
            default_out = Path(args.bundle).expanduser() / "report"
            return analysis_cli.run_report(args, tracking_uri=None, default_out=default_out)
        found = find_sweep(args.name, args.storage, args.tracking_uri, required=False)
        default_out = found.locations.layout.report_dir(args.name)
        code = analysis_cli.run_report(args, tracking_uri=found.locations.tracking.uri,
                                       default_out=default_out, sweep_file=found.sweep_text)
    except AnalysisInputError as err:
        raise UserError(str(err)) from None
    out = Path(args.out).expanduser() if args.out else default_out   # where run_report wrote it
    upload_report(found, args.name, out)
    return code


def upload_report(found: FoundSweep, name: str, out: Path) -> bool:
    """The written report under the parent run's ``report/``, the claims in its note. Any failure (store
    down, read-only, no experiment) is one line on stderr: the report itself is already on disk."""
    from sweep import mlflow_parent, mlflow_runs, tracking
    from sweep.run_notes import source_tags

    config = found.locations.tracking
    try:
        if not tracking.probe(config):
            raise ConnectionError("no answer from the server")
        client = tracking.make_client(config)
        exp_id = mlflow_runs.experiment_id(client, name)
        if exp_id is None:
            raise LookupError(f"no experiment {name!r}")
        parent, _ = mlflow_parent.ensure_parent(client, exp_id, name, source_tags("tailsweep report"))
        mlflow_parent.upload_report(client, parent.info.run_id, out)
        mlflow_parent.update_parent(client, client.get_run(parent.info.run_id), found.sweep, None, None,
                                    claims=mlflow_parent.read_claims(out))
    except Exception as err:  # noqa: BLE001 - any store fault: the local report stands
        lines = str(err).strip().splitlines()
        print(f"tailsweep: report written to {out}; upload to MLflow {config.display} skipped "
              f"({type(err).__name__}: {lines[0] if lines else ''})", file=sys.stderr)
        return False
    return True
