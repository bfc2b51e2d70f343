"""`tailsweep report NAME | --bundle DIR`: figures, CSV tables and one HTML page for a sweep."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from analysis import cli as analysis_cli
from analysis.errors import AnalysisInputError
from sweep.errors import UserError
from sweep.locations import add_location_options, find_sweep


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
        return analysis_cli.run_report(args, tracking_uri=found.locations.tracking.uri,
                                       default_out=found.locations.layout.report_dir(args.name),
                                       sweep_file=found.sweep_text)
    except AnalysisInputError as err:
        raise UserError(str(err)) from None
