"""`tailsweep` command line: one subcommand module each, registered explicitly below."""
from __future__ import annotations

import argparse
import importlib
import sys

from sweep.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, UserError

# Subcommand name -> module exposing register(subparsers) that sets func(args) -> exit code.
COMMANDS = {
    "inspect": "sweep.cmd_inspect",
    "sync": "sweep.cmd_sync",
    "remeasure": "sweep.cmd_remeasure",
    "run": "sweep.cmd_run",
    "resume": "sweep.cmd_run",
    "status": "sweep.cmd_run",
    "report": "sweep.cmd_report",
    "export": "sweep.cmd_export",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tailsweep",
        description="Sweeps over SGD's eta/b and network width, testing whether heavy-tailed weights "
                    "make networks compressible (Barsbey et al., NeurIPS 2021).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in dict.fromkeys(COMMANDS.values()):  # a module may own several commands: register it once
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UserError as err:
        for line in err.lines:
            print(f"tailsweep: error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        # `tailsweep ... | head`: the reader left; not an error worth a traceback.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("tailsweep: interrupted; finished trials are kept (resume with `tailsweep resume NAME`)",
              file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
