"""Training-loop overhead: core.train.train vs a bare hand-written SGD loop (same model, batches, steps).

    python bench/bench_train.py [--iters 3000] [--width 256] [--threads 1]

Prints: bare seconds; train() with every rule but no evaluation firing (pure loop/callback overhead);
train() at the default evaluation frequency; train() with the full-train check firing at every
eval_every (the worst case, near convergence). Targets (issue 3): loop <= 1.10x bare, evaluation at the
default frequency <= 10% of training time.
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F

from core.data import load_dataset
from core.models import build_model
from core.spec import DataSpec, ModelSpec, TrainSpec
from core.train import train


def bare_loop(model, data, lr: float, batch_size: int, iters: int, seed: int) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n = len(data.x_train)
    perm, pos = torch.randperm(n, generator=gen), 0
    start = time.perf_counter()
    for _ in range(iters):
        if pos + batch_size > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos:pos + batch_size]
        pos += batch_size
        loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def timed_train(model, data, spec: TrainSpec, lr: float, batch_size: int, seed: int) -> float:
    start = time.perf_counter()
    train(model, data, spec, lr=lr, batch_size=batch_size, seed=seed)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=3000)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(DataSpec(dataset="mnist5k"))
    model_spec = ModelSpec(width=args.width, depth=args.depth)
    lr, b, seed = 50 * 4e-3, 50, 0
    # avg_window < iters so averaging cost is included, as in a real trial's final window.
    base = dict(max_iters=args.iters, avg_window=min(1000, args.iters // 3))
    variants = {
        "no eval fires": TrainSpec(**base, test_every=10**9, alpha_every=0, eval_trigger=1e-12),
        "default cadence": TrainSpec(**base),
        "check every 200": TrainSpec(**base, eval_trigger=1e12),
    }
    best: dict[str, float] = {}
    for _ in range(args.repeats):  # interleaved repeats, min taken: robust to a busy machine
        best["bare"] = min(best.get("bare", 1e9), bare_loop(build_model(model_spec, data.in_shape, 10, seed=seed),
                                                            data, lr, b, args.iters, seed))
        for name, spec in variants.items():
            t = timed_train(build_model(model_spec, data.in_shape, 10, seed=seed), data, spec, lr, b, seed)
            best[name] = min(best.get(name, 1e9), t)
    print(f"mnist5k FCN{args.depth}-{args.width}, b={b}, {args.iters} iterations, {args.threads} thread(s), "
          f"min of {args.repeats}")
    print(f"  bare loop                      {best['bare']:.2f} s")
    for name in variants:
        print(f"  train(), {name:<20} {best[name]:.2f} s  ratio {best[name] / best['bare']:.3f}x")
    loop_only = best["no eval fires"]
    for name in ("default cadence", "check every 200"):
        share = (best[name] - loop_only) / best[name]
        print(f"  evaluation share at {name:<16} {100 * share:.1f}% of training time")


if __name__ == "__main__":
    main()
