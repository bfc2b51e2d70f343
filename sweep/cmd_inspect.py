"""`tailsweep inspect FILE`: tail index and prunability of each weight tensor of a saved model."""
from __future__ import annotations

import argparse
import json
import math
from typing import Any

from core.inspect import DEFAULT_EPS, InspectReport, inspect_weights
from core.vocab import PRUNE_METHODS, check_registry
from core.weights_io import WeightsFileError, load_weights
from sweep.errors import EXIT_OK, UserError

HELP = "tail index (alpha) and prunable fractions of each weight tensor in a model file"
DESCRIPTION = f"""\
Reads a safetensors file or a torch state_dict (loaded with weights_only=True) and prints one row per
2-D (Linear) or 4-D (conv) weight tensor, in model order (role: first, hidden, last).

Columns:
  alpha multi   block-sum tail index (Mohammadi et al.) with each unit as one multivariate sample:
                rows of a Linear weight, columns of the last layer, kernels of a conv; capped at 2,
                the uncapped value in parentheses. alpha < 2: heavy-tailed; ~2: Gaussian-like.
  alpha uni     the same estimator on all entries as one univariate sample (capped, raw).
  hill          Hill estimator on the median-centred entries (uncapped; median over k in 2..1000).
  magn sv node neuron
                largest fraction that can be pruned with relative l2 error <= eps (default eps
                {DEFAULT_EPS}) of: entries / singular values / input units (columns: the previous
                layer's units) / the layer's own units (rows of a Linear weight, conv filters).
                The first three on median-centred weights; neuron uncentred with zero fill, the ICML
                2024 follow-up's measure (its squared-Frobenius 0.1 is eps 0.316).
Heavier tails (lower alpha) go with larger prunable fractions (Barsbey et al., NeurIPS 2021).
Other tensors (biases, buffers) are listed as skipped. --json prints the same as JSON (inf as "inf").
Order: a state_dict keeps the model's order. safetensors does not: unless the file carries tailsweep's
order metadata (core.weights_io.order_metadata), names are sorted with numbers compared as numbers,
which is right for nn.Sequential models (net.0, net.2, ..., net.10) but may misplace other names.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("inspect", help=HELP, description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", metavar="FILE", help="a .safetensors file or a torch state_dict (.pt/.pth)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")
    parser.add_argument("--eps", type=float, default=DEFAULT_EPS,
                        help=f"relative l2 error allowed for the prunable fractions (default {DEFAULT_EPS})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the block-sum permutations (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.eps < 1:
        raise UserError(f"--eps: expected a number in (0, 1), got {args.eps}")
    if args.seed < 0:
        raise UserError(f"--seed: expected an int >= 0, got {args.seed}")
    try:
        tensors = load_weights(args.file)
    except WeightsFileError as err:
        raise UserError(str(err)) from None
    report = inspect_weights(tensors, eps=args.eps, seed=args.seed)
    if not report.layers:
        raise UserError(f"{args.file}: no 2-D or 4-D floating-point weight tensors "
                        f"(found {len(tensors)} tensors: {', '.join(list(tensors)[:5])})")
    if args.json:
        print(json.dumps({"file": str(args.file), **report.to_dict()}, indent=1, allow_nan=False))
    else:
        print(format_table(report, str(args.file)))
    return EXIT_OK


def _num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"


def _pair(pair: Any) -> str:
    return "-" if pair is None else f"{_num(pair.alpha)} ({_num(pair.alpha_raw)})"


# The table's column heading of each pruning method.
METHOD_COLUMNS = {"magnitude": "magn", "singular": "sv", "node": "node", "neuron": "neuron"}
check_registry("inspect's method columns", METHOD_COLUMNS, PRUNE_METHODS)


def format_table(report: InspectReport, title: str) -> str:
    header = ["#", "layer", "role", "shape", "alpha multi", "alpha uni", "hill",
              *(METHOD_COLUMNS[m] for m in PRUNE_METHODS)]
    rows = [[str(layer.index), layer.name, layer.role, "x".join(map(str, layer.shape)),
             _pair(layer.alphas["multi"]), _pair(layer.alphas["uni"]),
             _num(None if layer.alphas["hill"] is None else layer.alphas["hill"].alpha_raw),
             *(_num(layer.prunable[m]) for m in PRUNE_METHODS)]
            for layer in report.layers]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    left = {1, 2, 3}

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [f"{title}: {len(report.layers)} weight tensors; prunable fractions at eps={report.eps:g}",
           line(header), line(["-" * w for w in widths]), *map(line, rows)]
    notes = [f"  {layer.name}: {note}" for layer in report.layers for note in layer.notes]
    if notes:
        out += ["notes:", *notes]
    if report.skipped:
        shown = ", ".join(report.skipped[:10])
        more = f" and {len(report.skipped) - 10} more" if len(report.skipped) > 10 else ""
        out.append(f"skipped (not 2-D/4-D float): {shown}{more}")
    return "\n".join(out)
