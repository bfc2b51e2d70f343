"""Iterate-noise cost: an SGD step with row / entry / elliptic noise vs the same step without noise, and
the sampler's draws per second (the fused CPU kernel core.sas_kernel, and the same formula in torch ops,
the path off the CPU) vs a plain numpy Chambers-Mallows-Stuck sampler (all measured here).

    python bench/bench_noise.py [--width 1024] [--batch 100] [--steps 300] [--threads 1] [--repeats 5]

The step is core.loop.TrainLoop.step on a depth-2 FCN over mnist5k (784-w-10); noise goes on the first
layer (the last is excluded by default), as in configs/noise-width.yaml. Targets (issue 11): row <= 1.10x,
entry <= 2.0x the noiseless step, one CPU core.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from core.data import load_dataset
from core.iterate_noise import IterateNoise
from core.loop import TrainLoop
from core.models import build_model
from core.noise import sample_sas, sample_sas_by_torch_ops
from core.spec import DataSpec, ModelSpec, TrainSpec


def numpy_cms(alpha: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """The textbook sampler in numpy, float64: the baseline for draws per second."""
    v = rng.uniform(-math.pi / 2, math.pi / 2, size)
    w = rng.exponential(1.0, size)
    return np.sin(alpha * v) / np.cos(v) ** (1 / alpha) * (np.cos((1 - alpha) * v) / w) ** ((1 - alpha) / alpha)


def step_seconds(data, width: int, batch: int, steps: int, noise: str | None) -> float:
    spec = TrainSpec(max_iters=steps, noise=noise or "none", noise_scale=0.05 if noise else None)
    model = build_model(ModelSpec(depth=2, width=width), data.in_shape, data.n_classes, seed=0)
    loop = TrainLoop(model, data, spec, lr=0.1, batch_size=batch, seed=0)
    rule = IterateNoise(model, spec, eta=0.1, seed=0, device=torch.device("cpu")) if noise else None
    for _ in range(10):                       # warm-up: allocator, first-touch pages
        loop.step()
        if rule is not None:
            rule.after_step(loop)
    start = time.perf_counter()
    for _ in range(steps):
        loop.step()
        if rule is not None:
            rule.after_step(loop)
    return (time.perf_counter() - start) / steps


def draws_per_second(draw, count: int, repeats: int) -> float:
    draw()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        draw()
        best = min(best, time.perf_counter() - start)
    return count / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(DataSpec(dataset="mnist5k"))
    kinds = (None, "row", "entry", "elliptic")
    # Interleaved repeats, best of each: the kinds see the same machine state.
    best = {kind: math.inf for kind in kinds}
    for _ in range(args.repeats):
        for kind in kinds:
            best[kind] = min(best[kind], step_seconds(data, args.width, args.batch, args.steps, kind))
    base = best[None]
    print(f"step, w={args.width}, b={args.batch}, {args.threads} thread(s), best of {args.repeats} x {args.steps} steps")
    print(f"  no noise   {base * 1e3:7.3f} ms  1.00x")
    for kind in kinds[1:]:
        print(f"  {kind:<9}  {best[kind] * 1e3:7.3f} ms  {best[kind] / base:4.2f}x")
    count = 784 * args.width
    generator = torch.Generator().manual_seed(0)
    ours = draws_per_second(lambda: sample_sas(1.75, (count,), generator=generator), count, args.repeats)
    cpu = torch.device("cpu")
    ops = draws_per_second(lambda: sample_sas_by_torch_ops(1.75, (count,), generator=generator, device=cpu,
                                                           dtype=torch.float32), count, args.repeats)
    rng = np.random.default_rng(0)
    theirs = draws_per_second(lambda: numpy_cms(1.75, count, rng), count, args.repeats)
    print(f"sampler, alpha 1.75, {count} draws, float32 unless said:")
    print(f"  core.noise.sample_sas (fused kernel)  {ours / 1e6:6.1f} M/s  {ours / theirs:5.2f}x numpy")
    print(f"  the formula in torch ops              {ops / 1e6:6.1f} M/s  {ops / theirs:5.2f}x numpy")
    print(f"  numpy CMS (float64)                   {theirs / 1e6:6.1f} M/s")


if __name__ == "__main__":
    main()
