"""`tailsweep export NAME --out DIR`: a sweep's tables as Parquet plus a manifest (analysis without MLflow)."""
from __future__ import annotations

import argparse
import os

from analysis import cli as analysis_cli
from analysis.errors import AnalysisInputError
from sweep.cmd_report import sweep_source
from sweep.errors import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a sweep's tables (Parquet + manifest) for sharing",
        description="Read a sweep from MLflow and write its tables as Parquet with a manifest (sweep file, "
                    "tailsweep version); `tailsweep report --bundle DIR` reads it back.")
    analysis_cli.add_export_arguments(parser)
    parser.add_argument("--storage", metavar="DIR", help="storage root (default: ./tailsweep)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        uri, _, text = sweep_source(args.name, args.tracking_uri, args.storage)
        return analysis_cli.run_export(args, tracking_uri=uri, sweep_file=text)
    except AnalysisInputError as err:
        raise UserError(str(err)) from None
