"""Which (eta/b, width) cells of the demo fit: one trial per cell with configs/quick.yaml's settings.

    python bench/explore_grid.py --eta-b 8e-3 1e-2 --width 64 128 [--seed 0] [--max-iters 8000]

Prints one JSON line per trial: outcome, iterations, final train accuracy, per-layer alpha (avg weights,
multivariate, raw) and the training time. Used to choose configs/quick.yaml's grid (bench/RESULTS.md).
"""
from __future__ import annotations

import argparse
import json
import time

from core import keys
from core.pipeline import run_trial
from core.spec import CompressSpec, DataSpec, ModelSpec, TrainSpec, TrialSpec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eta-b", type=float, nargs="+", required=True)
    ap.add_argument("--width", type=int, nargs="+", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-iters", type=int, default=8000)
    ap.add_argument("--post-converge-iters", type=int, default=1000)
    args = ap.parse_args()
    for eta_b in args.eta_b:
        for width in args.width:
            spec = TrialSpec(eta_over_b=eta_b, batch_size=50, seed=args.seed, data=DataSpec(dataset="mnist5k"),
                             model=ModelSpec(width=width, depth=3),
                             train=TrainSpec(max_iters=args.max_iters, eval_every=200, alpha_every=2000,
                                             post_converge_iters=args.post_converge_iters),
                             compress=CompressSpec(methods=("magnitude", "singular", "node"), eps=(0.1,)))
            started = time.perf_counter()
            result = run_trial(spec, device="cpu")
            m = result.metrics
            alpha = {k.rsplit("/", 1)[1]: round(v, 3) for k, v in sorted(m.items())
                     if k.startswith("alpha_raw/avg/multi/layer")}
            row = {"eta_b": eta_b, "width": width, "seed": args.seed, "outcome": result.status,
                   "iterations": m.get(keys.ITERATIONS), "train_acc": m.get(keys.eval_key("final", "train", "acc")),
                   "alpha_raw": alpha, "train_s": round(m.get(keys.time_key("train"), float("nan")), 1),
                   "wall_s": round(time.perf_counter() - started, 1)}
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
