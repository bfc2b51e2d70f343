"""Benchmark core.compress against baselines measured in the same run.

1. magnitude error_curve (center=None) at 40 ratios on 4M float32 entries vs one np.sort of |w|
   (target <= 2x), and vs re-pruning per ratio (argpartition + pruned copy + norm; target >= 10x).
2. All three curves (curve_ratios grid, median centring) of a 4 x 2048 FCN, 784-2048-2048-2048-10,
   torch default init: seconds per method for error_curve, prunable_fraction (eps=0.1) and
   curve_summary (both from one sort/SVD); with --apply also prune_model at one ratio and
   prune_models at the 26 paper ratios.

Usage: python bench/bench_compress.py [--repeats 7] [--apply]
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np
import torch
from torch import nn

from core.compress import curve_summary, error_curve, method_view, prunable_fraction, prune_model, prune_models
from core.layers import weight_layers
from core.spec import DEFAULT_CURVE_RATIOS, PAPER_MAGNITUDE_RATIOS
from core.vocab import PRUNE_METHODS

ISSUE_RATIOS = tuple(round(0.025 * i, 3) for i in range(1, 41))  # issue 2's target: 40 ratios


def best_of(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def reprune_curve(w: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """The per-ratio way: select the pruned entries, prune a copy, measure the error, for each ratio."""
    flat = w.reshape(-1)
    magnitudes = np.abs(flat)
    norm = np.linalg.norm(flat.astype(np.float64))
    out = []
    for r in ratios:
        k = int(np.floor(r * flat.size + 1e-9))
        pruned = flat.copy()
        if k:
            pruned[np.argpartition(magnitudes, k - 1)[:k]] = 0.0
        out.append(np.linalg.norm((flat - pruned).astype(np.float64)) / norm)
    return np.array(out)


def bench_magnitude(repeats: int) -> None:
    w = np.random.default_rng(0).standard_normal((2000, 2000)).astype(np.float32)
    ratios = np.array(ISSUE_RATIOS)  # 0.025 .. 1.0: 40 ratios
    assert ratios.size == 40
    sort_s = best_of(lambda: np.sort(np.abs(w), axis=None), repeats)
    curve_s = best_of(lambda: error_curve(w, "magnitude", ratios, center=None), repeats)
    reprune_s = best_of(lambda: reprune_curve(w, ratios), max(1, repeats // 3))
    gap = np.max(np.abs(error_curve(w, "magnitude", ratios, center=None) - reprune_curve(w, ratios)))
    print(f"magnitude curve, {w.size:,} float32 entries, {ratios.size} ratios, center=None (best of {repeats})")
    print(f"  np.sort(|w|)            {sort_s * 1e3:8.1f} ms")
    print(f"  error_curve             {curve_s * 1e3:8.1f} ms   ratio to one sort: {curve_s / sort_s:.2f}x (target <= 2)")
    print(f"  re-pruning per ratio    {reprune_s * 1e3:8.1f} ms   speed-up: {reprune_s / curve_s:.1f}x (target >= 10)")
    print(f"  max |curve - re-pruned| {gap:.1e}")


def fcn(widths: tuple[int, ...]) -> nn.Sequential:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers += [nn.Linear(fan_in, fan_out, bias=False)] + ([nn.ReLU()] if i < len(widths) - 2 else [])
    return nn.Sequential(*layers)


def bench_fcn(apply: bool) -> None:
    widths = (784, 2048, 2048, 2048, 10)
    net = fcn(widths)
    layers = weight_layers(net)
    n_weights = sum(layer.weight.numel() for layer in layers)
    print(f"FCN {'-'.join(map(str, widths))}: {len(layers)} layers, {n_weights:,} weights, "
          f"{len(DEFAULT_CURVE_RATIOS)} ratios, center='median', torch threads {torch.get_num_threads()}")
    total = 0.0
    for method in PRUNE_METHODS:
        start = time.perf_counter()
        for layer in layers:
            error_curve(method_view(layer.weight, method, layer.role), method, DEFAULT_CURVE_RATIOS)
        curve_s = time.perf_counter() - start
        start = time.perf_counter()
        for layer in layers:
            prunable_fraction(method_view(layer.weight, method, layer.role), method, 0.1)
        prunable_s = time.perf_counter() - start
        start = time.perf_counter()
        for layer in layers:
            curve_summary(method_view(layer.weight, method, layer.role), method, DEFAULT_CURVE_RATIOS, 0.1)
        summary_s = time.perf_counter() - start
        total += curve_s
        line = (f"  {method:9s} error_curve {curve_s:6.2f} s   prunable_fraction {prunable_s:6.2f} s   "
                f"curve_summary (both) {summary_s:6.2f} s")
        if apply:
            start = time.perf_counter()
            prune_model(net, method, 0.5, prune_last=True)
            line += f"\n            prune_model(ratio=0.5) {time.perf_counter() - start:6.2f} s"
            start = time.perf_counter()
            for _ in prune_models(net, method, PAPER_MAGNITUDE_RATIOS, prune_last=True):
                pass
            line += f"   prune_models({len(PAPER_MAGNITUDE_RATIOS)} ratios) {time.perf_counter() - start:6.2f} s"
        print(line)
    print(f"  all three curves, all layers: {total:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timing repeats (best is reported)")
    parser.add_argument("--apply", action="store_true", help="also time prune_model (one ratio) and prune_models (26 ratios)")
    args = parser.parse_args()
    bench_magnitude(args.repeats)
    bench_fcn(args.apply)


if __name__ == "__main__":
    main()
