"""`python -m analysis report|export ...`: the same commands as `tailsweep report|export`, without Ray.

Without the sweep package there is no default store: give --tracking-uri (or --bundle).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from analysis import cli
from analysis.errors import AnalysisInputError

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="Report or export a tailsweep sweep.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    cli.add_report_arguments(sub.add_parser("report", help="figures, tables and an HTML page for one sweep"))
    cli.add_export_arguments(sub.add_parser("export", help="write a sweep's tables as a Parquet bundle"))
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "export":
            return cli.run_export(args, tracking_uri=args.tracking_uri)
        cli.check_report_source(args)
        if args.bundle is None and args.out is None:
            raise AnalysisInputError("give --out DIR for a report read from MLflow")
        default_out = Path(args.bundle or ".").expanduser() / "report"
        return cli.run_report(args, tracking_uri=args.tracking_uri, default_out=default_out)
    except AnalysisInputError as err:
        print(f"analysis: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
