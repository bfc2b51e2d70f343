"""`tailsweep export NAME --out DIR`: a sweep's tables as Parquet plus a manifest (analysis without MLflow)."""
from __future__ import annotations

import argparse
import os

from analysis import cli as analysis_cli
from analysis.errors import AnalysisInputError
from sweep.errors import UserError
from sweep.locations import add_location_options, find_sweep


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="export a sweep's tables (Parquet + manifest) for sharing",
        description="Read a sweep from MLflow and write its tables as Parquet with a manifest (sweep file, "
                    "tailsweep version); `tailsweep report --bundle DIR` reads it back.")
    analysis_cli.add_export_arguments(parser)
    add_location_options(parser, tracking_uri=False)   # analysis' arguments carry --tracking-uri
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        found = find_sweep(args.name, args.storage, args.tracking_uri, required=False)
        return analysis_cli.run_export(args, tracking_uri=found.locations.tracking.uri, sweep_file=found.sweep_text)
    except AnalysisInputError as err:
        raise UserError(str(err)) from None
