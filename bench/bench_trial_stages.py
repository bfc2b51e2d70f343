"""Seconds per stage of one FCN4-2048 trial (10M weights) on mnist5k: train per 1k iterations, tails,
curves, pruned evaluation.

    python bench/bench_trial_stages.py [--iters 1000] [--width 2048] [--depth 4] [--threads 2]
"""
from __future__ import annotations

import argparse

import torch

from core import keys
from core.pipeline import run_trial
from core.spec import CompressSpec, DataSpec, ModelSpec, TrainSpec, TrialSpec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=1000)
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    spec = TrialSpec(eta_over_b=4e-3, batch_size=50, data=DataSpec(dataset="mnist5k"),
                     model=ModelSpec(width=args.width, depth=args.depth),
                     train=TrainSpec(max_iters=args.iters, avg_window=min(1000, args.iters)),
                     compress=CompressSpec())
    result = run_trial(spec, device=args.device)   # placement, not part of the spec
    n_weights = sum(int(torch.tensor(l["shape"]).prod()) for l in result.layers)
    print(f"FCN{args.depth}-{args.width} ({n_weights / 1e6:.1f}M weights), mnist5k, {args.iters} iterations, "
          f"{args.threads} thread(s), device {args.device}; {len(spec.compress.ratios)} pruning ratios x "
          f"{len(spec.compress.methods)} methods x 2 weight sets; {len(spec.compress.curve_ratios)} curve ratios")
    m = result.metrics
    print(f"  train per 1k iterations  {1000 * m[keys.time_key('train')] / args.iters:8.2f} s")
    for stage in ("data", "evaluate", "tails", "ranks", "curves", "pruned_eval"):
        print(f"  {stage:<24} {m.get(keys.time_key(stage), float('nan')):8.2f} s")


if __name__ == "__main__":
    main()
