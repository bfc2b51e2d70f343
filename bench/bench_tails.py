"""Speed of core.tails.estimate_alpha against baselines measured in the same run.

    python bench/bench_tails.py [--n 1000000] [--repeats 5] [--threads 1]

Prints:
1. block_sum with the defaults (5 permutations, every K1) on n float32 entries vs the floor of that
   work, 5 x (one random permutation + one np.log(np.abs(.)) pass) of the same array. Target <= 2.5x.
2. the reference-style loop (float64, every permutation and K1 recomputed from scratch) vs block_sum.
   Target >= 3x.
3. seconds for alpha of every layer and variant (multi, uni, norms, hill) of a 784-2048-2048-2048-10
   FCN with PyTorch's default-init random weights (~10M weights).
Timings are the best of --repeats interleaved rounds, in process CPU time by default (robust to load
from other processes; --clock wall for elapsed time). --threads sets torch's intra-op threads (numpy's floor is
single-threaded, so 1 is the like-for-like comparison).
"""
from __future__ import annotations

import argparse
import math
import time
from typing import Callable

import numpy as np
import torch

from core.layers import role_of
from core.tails import LOG_EPS, block_sizes, estimate_alpha, layer_alpha_variants


def race(fns: dict[str, Callable[[], object]], rounds: int, clock: Callable[[], float]) -> dict[str, float]:
    """Best-of-rounds seconds per function, the functions interleaved round by round: on a shared
    machine a load burst then slows one round of every contender instead of one contender's runs."""
    for fn in fns.values():
        fn()  # warm-up: allocator, thread pools
    best = {name: math.inf for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = clock()
            fn()
            best[name] = min(best[name], clock() - start)
    return best


def floor_work(x: np.ndarray, rng: np.random.Generator, n_permutations: int = 5) -> None:
    for _ in range(n_permutations):
        rng.permutation(x)
        np.log(np.abs(x))


def floor_work_torch(x: torch.Tensor, gen: torch.Generator, n_permutations: int = 5) -> None:
    """The same floor with torch's permutation (what estimate_alpha uses) instead of numpy's."""
    for _ in range(n_permutations):
        x[torch.randperm(len(x), generator=gen)]
        torch.log(torch.abs(x))


def reference_block_sum(x: np.ndarray, seed: int = 0, n_permutations: int = 5, cap: float = 2.0) -> float:
    """The reference code's shape: float64, each permutation and K1 recomputed from scratch."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    x = x - np.median(x, axis=0)
    n = len(x)
    rng = np.random.default_rng(seed)
    per_permutation = []
    for _ in range(n_permutations):
        xp = x[rng.permutation(n)]
        values = []
        for k in block_sizes(n):
            used = (n // k) * k
            y = xp[:used].reshape(n // k, k, -1).sum(axis=1)
            log_y = np.log(np.linalg.norm(y, axis=1) + LOG_EPS).mean()
            log_x = np.log(np.linalg.norm(xp[:used], axis=1) + LOG_EPS).mean()
            values.append(math.log(k) / (log_y - log_x))
        per_permutation.append(min(float(np.median(values)), cap))
    return float(np.median(per_permutation))


def fcn_weights(seed: int = 0) -> list[tuple[torch.Tensor, str]]:
    gen = torch.Generator().manual_seed(seed)
    sizes = [784, 2048, 2048, 2048, 10]
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in))
        w = torch.empty(fan_out, fan_in).uniform_(-bound, bound, generator=gen)
        layers.append((w, role_of(i, len(sizes) - 1)))
    return layers


def all_variants(layers: list[tuple[torch.Tensor, str]], seconds: dict[str, float] | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """alpha_raw per variant and layer, as core.measure computes them; adds time per variant to seconds."""
    out: dict[str, list[float]] = {}
    for w, role in layers:
        for name, estimate in layer_alpha_variants(w, role).items():
            start = clock()
            out.setdefault(name, []).append(estimate().alpha_raw)
            if seconds is not None:
                seconds[name] = seconds.get(name, 0.0) + clock() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="cpu: process CPU time (default; with one thread it is the work done, not the "
                             "wait for a shared CPU); wall: elapsed time (use with --threads > 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"torch {torch.__version__}, numpy {np.__version__}, torch threads {torch.get_num_threads()}, "
          f"clock {args.clock}")

    x = np.random.default_rng(0).standard_normal(args.n).astype(np.float32)
    xt = torch.from_numpy(x)
    best = race({
        "ours": lambda: estimate_alpha(x),
        "floor": lambda: floor_work(x, np.random.default_rng(1)),
        "floor_torch": lambda: floor_work_torch(xt, torch.Generator().manual_seed(1)),
        "reference": lambda: reference_block_sum(x),
    }, args.repeats, clock)
    t_ours, t_floor, t_floor_torch, t_ref = best["ours"], best["floor"], best["floor_torch"], best["reference"]
    print(f"block_sum defaults, n={args.n:.0e} float32: {t_ours * 1e3:.1f} ms")
    print(f"  floor 5 x (permutation + log|x|): {t_floor * 1e3:.1f} ms  -> ratio {t_ours / t_floor:.2f}x "
          f"(target <= 2.5x)")
    print(f"  same floor with torch.randperm:   {t_floor_torch * 1e3:.1f} ms  -> ratio {t_ours / t_floor_torch:.2f}x")
    print(f"  reference-style loop (float64):  {t_ref * 1e3:.1f} ms  -> {t_ref / t_ours:.1f}x faster "
          f"(target >= 3x)")
    print(f"  alpha: ours {estimate_alpha(x).alpha_raw:.4f}, reference-style {reference_block_sum(x, cap=math.inf):.4f}"
          " (other permutations)")

    layers = fcn_weights()
    n_weights = sum(w.numel() for w, _ in layers)
    rounds = max(1, args.repeats // 2)
    seconds: dict[str, float] = {}
    for _ in range(rounds):
        per_variant: dict[str, float] = {}
        start = clock()
        values = all_variants(layers, per_variant, clock)
        per_variant["total"] = clock() - start
        seconds = {k: min(v, seconds.get(k, math.inf)) for k, v in per_variant.items()}
    print(f"FCN 784-2048-2048-2048-10 ({n_weights / 1e6:.1f}M weights), 4 layers x 4 variants: "
          f"{seconds['total']:.2f} s (best of {rounds})")
    for variant, alphas in values.items():
        print(f"  {variant:5s} {seconds[variant]:5.2f} s  alpha_raw per layer: " + " ".join(f"{v:.3f}" for v in alphas))


if __name__ == "__main__":
    main()
