"""`tailsweep report NAME | --bundle DIR`: figures, CSV tables and one HTML page for a sweep."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from analysis import cli as analysis_cli
from analysis.errors import AnalysisInputError
from sweep import paths
from sweep.errors import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="write a sweep's report (figures, tables, HTML with the claims table)",
        description="Read a sweep from MLflow (or an exported bundle) and write PNG/SVG figures, CSV tables and "
                    "one self-contained HTML page; prints the page's path. Default folder: "
                    "ROOT/sweeps/NAME/report (with --bundle: DIR/report).")
    analysis_cli.add_report_arguments(parser)
    parser.add_argument("--storage", metavar="DIR", help="storage root (default: ./tailsweep)")
    parser.set_defaults(func=run)


def sweep_source(name: str, tracking_uri: str | None, storage: str | None) -> tuple[str, paths.Layout, str | None]:
    """(tracking URI, layout, sweep file text or None) for a sweep found by NAME."""
    problem = paths.check_sweep_name(name)
    if problem:
        raise UserError(f"NAME: {problem}")
    layout = paths.Layout(paths.resolve_root(storage))
    uri = tracking_uri or paths.default_tracking_uri(layout.root)
    sweep_file = layout.sweep_file(name)
    text = sweep_file.read_text(encoding="utf-8") if sweep_file.is_file() else None
    return uri, layout, text


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        analysis_cli.check_report_source(args)
        if args.bundle is not None:
            default_out = Path(args.bundle).expanduser() / "report"
            return analysis_cli.run_report(args, tracking_uri=None, default_out=default_out)
        uri, layout, text = sweep_source(args.name, args.tracking_uri, args.storage)
        return analysis_cli.run_report(args, tracking_uri=uri, default_out=layout.report_dir(args.name),
                                       sweep_file=text)
    except AnalysisInputError as err:
        raise UserError(str(err)) from None
