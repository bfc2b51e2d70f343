"""Argument handling for `report` and `export`, shared by `tailsweep` (sweep/cmd_*.py) and `python -m analysis`.

Light at import time (argparse only): the CLI builds every subcommand's parser on each call, so pandas,
matplotlib and MLflow are imported only when a command runs. Nothing here knows the storage layout;
the caller passes the tracking URI, the default output folder and the sweep file text.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.errors import AnalysisInputError
from core import vocab


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", metavar="NAME", help="sweep name (its MLflow experiment)")
    parser.add_argument("--bundle", metavar="DIR", help="read an exported bundle instead of MLflow")
    parser.add_argument("--out", metavar="DIR", help="report folder (index.html, figures/, tables/)")
    parser.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI to read the sweep from")
    parser.add_argument("--wset", choices=vocab.WEIGHT_SETS, help="weight set (default: avg when logged)")
    # Defaults are None: a flag not given falls back to the sweep file's `analysis:` section, then to
    # AnalysisOptions (analysis.options.options_for).
    parser.add_argument("--variant", choices=vocab.ALPHA_VARIANTS, help="alpha estimator variant (default: multi)")
    parser.add_argument("--method", choices=vocab.PRUNE_METHODS,
                        help="pruning method of the headline claims (default: magnitude)")
    parser.add_argument("--center", choices=vocab.CENTERS,
                        help="centring of the pruning curves (default: median when logged; neuron is always none)")
    parser.add_argument("--eps", type=float, metavar="X", help="tolerance of the prunable fraction (default: 0.1)")
    parser.add_argument("--min-train-acc", type=float, metavar="X",
                        help="capped trials below this final train accuracy are underfit and excluded (default: 0.99)")
    parser.add_argument("--min-trials", type=int, metavar="N",
                        help="fewer usable trials make a claim inconclusive (default: 5)")
    parser.add_argument("--n-boot", type=int, metavar="N", help="bootstrap resamples (default: 1000)")


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="sweep name (its MLflow experiment)")
    parser.add_argument("--out", metavar="DIR", required=True, help="bundle folder to write")
    parser.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI to read the sweep from")


def check_report_source(args: argparse.Namespace) -> None:
    """Exactly one of NAME and --bundle."""
    if (args.name is None) == (args.bundle is None):
        raise AnalysisInputError("give a sweep NAME or --bundle DIR (exactly one)")


def check_out_dir(path: Path, flag: str = "--out") -> Path:
    """``path`` must be (or be creatable as) a folder: checked before any loading, so a file in the way
    is a one-line input error, not a traceback after the work is done."""
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                raise AnalysisInputError(f"{flag}: {folder} exists and is not a folder (give a folder path)")
            return path
    return path


FLAG_OPTIONS = ("wset", "variant", "method", "center", "eps", "min_train_acc", "min_trials", "n_boot")


def flag_options(args: argparse.Namespace) -> dict:
    """The AnalysisOptions fields given on the command line (absent ones are left to the sweep file)."""
    return {name: getattr(args, name, None) for name in FLAG_OPTIONS if getattr(args, name, None) is not None}


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_report(args: argparse.Namespace, *, tracking_uri: str | None, default_out: Path,
               sweep_file: str | None = None) -> int:
    """Load (MLflow or bundle), write the report, print the HTML path on stdout."""
    from analysis.options import AnalysisOptions, UnmeasuredOption, check_measured, options_for
    from analysis.report import write_report

    check_report_source(args)
    flags = flag_options(args)
    try:
        AnalysisOptions(**flags)   # a bad flag fails before any loading
    except ValueError as err:
        raise AnalysisInputError(str(err)) from None
    out = check_out_dir(Path(args.out).expanduser() if args.out else default_out)
    if args.bundle is not None:
        from analysis.bundle import load_bundle

        data = load_bundle(args.bundle)
    else:
        from analysis.load import load_sweep

        if tracking_uri is None:
            raise AnalysisInputError("give --tracking-uri URI "
                                     "(or use `tailsweep report`, which finds the default store)")
        _progress(f"report: reading sweep {args.name!r} from {tracking_uri}")
        data = load_sweep(tracking_uri, args.name, sweep_file=sweep_file,
                          progress=lambda m: _progress(f"report: {m}"))
    try:   # flag > the sweep file's `analysis:` section > default
        options = options_for(data.meta.get("sweep_file"), flags)
    except ValueError as err:
        raise AnalysisInputError(f"sweep file: {err}") from None
    try:
        check_measured(data, options)
    except UnmeasuredOption as err:
        raise AnalysisInputError(f"{err}; choose one with --{err.field} or the sweep file's "
                                 f"analysis.{err.field}") from None
    page = write_report(data, out, options, progress=_progress)
    print(page)
    return 0


def run_export(args: argparse.Namespace, *, tracking_uri: str | None, sweep_file: str | None = None) -> int:
    """Load from MLflow, write the bundle, print its folder on stdout."""
    from analysis.bundle import write_bundle
    from analysis.load import load_sweep

    if tracking_uri is None:
        raise AnalysisInputError("give --tracking-uri URI "
                                 "(or use `tailsweep export`, which finds the default store)")
    check_out_dir(Path(args.out).expanduser())
    _progress(f"export: reading sweep {args.name!r} from {tracking_uri}")
    data = load_sweep(tracking_uri, args.name, sweep_file=sweep_file,
                      progress=lambda m: _progress(f"export: {m}"))
    manifest = write_bundle(data, args.out, sweep_file=sweep_file)
    _progress(f"export: {len(data.trials)} runs -> {manifest.parent}")
    print(manifest.parent)
    return 0
