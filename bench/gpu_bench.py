"""GPU checks for a lent GPU machine (run through bench/gpu.sh; needs torch, numpy, scipy only).

    python bench/gpu_bench.py [--tiny] [--out DIR]

(1) loop   FCN4-2048 on MNIST-shaped synthetic data resident on the GPU: iterations/s of run_trial's
           training loop (core.train.train, the paper's rules at their default cadence) vs a minimal
           hand-written SGD loop over the same model, batch size and device.      target >= 0.9x
(2) pack   8 small trials (FCN3-256, full run_trial) as 4 concurrent processes on the one GPU vs one at a
           time: trials per hour (plain multiprocessing: Ray is not on the device).  target >= 2.5x
(3) curves tails + compression curves (core.measure) of the 10M-weight FCN4-2048, GPU vs CPU.
Prints one table; writes it (and JSON) under --out, default $OUT when set. --tiny shrinks every size so
the whole script runs on a CPU in seconds (the test suite runs it that way); the device is then "cpu".
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
import types
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.nn import functional as F


def _allow_core_without_safetensors() -> None:
    """core.checkpoint imports safetensors (checkpoints only, unused here); the device image may lack it."""
    try:
        import safetensors.torch  # noqa: F401
    except ImportError:
        def unavailable(*_args, **_kwargs):
            raise RuntimeError("safetensors is not installed on this machine")
        stub = types.ModuleType("safetensors.torch")
        stub.save_file = stub.load_file = stub.save = stub.load = unavailable
        sys.modules["safetensors"] = types.ModuleType("safetensors")
        sys.modules["safetensors.torch"] = stub


_allow_core_without_safetensors()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data import load_dataset  # noqa: E402
from core.layers import weight_layers  # noqa: E402
from core.measure import curve_metrics, tail_metrics  # noqa: E402
from core.models import build_model  # noqa: E402
from core.pipeline import run_trial  # noqa: E402
from core.spec import CompressSpec, DataSpec, ModelSpec, TrainSpec, TrialSpec  # noqa: E402
from core.train import train  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    width: int           # (1)/(3): FCN4 width (2048: 10M weights)
    n_train: int
    iters: int           # (1): training iterations timed
    pack_width: int      # (2)
    pack_iters: int
    pack_trials: int
    pack_procs: int


FULL = Sizes(width=2048, n_train=60_000, iters=4000, pack_width=256, pack_iters=3000, pack_trials=8, pack_procs=4)
TINY = Sizes(width=32, n_train=600, iters=100, pack_width=16, pack_iters=50, pack_trials=2, pack_procs=2)
BATCH, ETA_OVER_B, SEED = 50, 1e-4, 0   # small eta/b: no convergence stop inside the timed iterations


@dataclass(frozen=True)
class Row:
    check: str
    device: str
    value: float
    baseline: float
    unit: str
    target: str

    @property
    def ratio(self) -> float:
        return self.value / self.baseline


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _data(sizes: Sizes, device: torch.device, n_train: int | None = None):
    spec = DataSpec(dataset="synthetic", dim=784, classes=10, teacher_width=64, n_train=n_train or sizes.n_train,
                    n_test=max(100, (n_train or sizes.n_train) // 6))
    return load_dataset(spec, device)


def hand_loop(model, data, iters: int, device: torch.device) -> float:
    """The minimal loop: same model, lr, batch size; permutation kept on the device like the real loop."""
    opt = torch.optim.SGD(model.parameters(), lr=ETA_OVER_B * BATCH)
    gen = torch.Generator().manual_seed(SEED)
    n = len(data.x_train)
    perm, pos = torch.randperm(n, generator=gen).to(device), 0
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        if pos + BATCH > n:
            perm, pos = torch.randperm(n, generator=gen).to(device), 0
        idx = perm[pos:pos + BATCH]
        pos += BATCH
        loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(device)
    return time.perf_counter() - start


def real_loop(model, data, iters: int, device: torch.device) -> float:
    spec = TrainSpec(max_iters=iters, diverge_after=10 * iters)   # the model and data sit on the device
    _sync(device)
    start = time.perf_counter()
    outcome = train(model, data, spec, lr=ETA_OVER_B * BATCH, batch_size=BATCH, seed=SEED)
    _sync(device)
    assert outcome.iterations == iters, outcome.status
    return time.perf_counter() - start


def check_loop(sizes: Sizes, device: torch.device) -> tuple[Row, torch.nn.Module]:
    data = _data(sizes, device)
    model_spec = ModelSpec(arch="fcn", depth=4, width=sizes.width)
    fresh = lambda: build_model(model_spec, data.in_shape, data.n_classes, seed=SEED).to(device)  # noqa: E731
    hand_loop(fresh(), data, min(200, sizes.iters), device)     # warm-up: CUDA context, cuBLAS handles
    real_loop(fresh(), data, min(200, sizes.iters), device)
    hand, real = [], []
    for _ in range(2):   # alternate, keep the best of each: other processes share the machine
        hand.append(hand_loop(fresh(), data, sizes.iters, device))
        model = fresh()
        real.append(real_loop(model, data, sizes.iters, device))
    return (Row(f"(1) loop it/s, FCN4-{sizes.width}", device.type, sizes.iters / min(real), sizes.iters / min(hand),
                "it/s", ">= 0.9x"), model)


def _pack_spec(sizes: Sizes, index: int) -> TrialSpec:
    return TrialSpec(
        eta_over_b=(2 + index) * 1e-3, batch_size=BATCH, seed=index,
        data=DataSpec(dataset="synthetic", dim=784, classes=10, n_train=min(sizes.n_train, 4000), n_test=1000),
        model=ModelSpec(arch="fcn", depth=3, width=sizes.pack_width),
        train=TrainSpec(max_iters=sizes.pack_iters),
        compress=CompressSpec(ratios=(0.0, 0.5, 0.9)))


def _one_trial(args: tuple[Sizes, int, str]) -> str:
    sizes, index, device = args
    torch.set_num_threads(1)
    return run_trial(_pack_spec(sizes, index), device=device).status


def _trials_per_hour(sizes: Sizes, device: torch.device, procs: int) -> float:
    jobs = [(sizes, i, device.type) for i in range(sizes.pack_trials)]
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(procs) as pool:   # CUDA needs spawned, not forked, workers
        statuses = pool.map(_one_trial, jobs, chunksize=1)
    elapsed = time.perf_counter() - start
    assert len(statuses) == sizes.pack_trials
    return sizes.pack_trials / elapsed * 3600


def check_pack(sizes: Sizes, device: torch.device) -> Row:
    alone = _trials_per_hour(sizes, device, 1)
    packed = _trials_per_hour(sizes, device, sizes.pack_procs)
    return Row(f"(2) {sizes.pack_trials} FCN3-{sizes.pack_width} trials, {sizes.pack_procs} processes vs 1",
               device.type, packed, alone, "trials/h", ">= 2.5x")


def _measure_seconds(model: torch.nn.Module, device: torch.device) -> float:
    model = model.to(device)
    layers = weight_layers(model)
    spec = CompressSpec()
    _sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        tail_metrics(layers, "final", SEED)
        curve_metrics(layers, "final", spec)
    _sync(device)
    return time.perf_counter() - start


def check_curves(model: torch.nn.Module, device: torch.device) -> Row:
    weights = sum(p.numel() for p in model.parameters())
    _measure_seconds(build_model(ModelSpec(arch="fcn", depth=4, width=64), (784,), 10, seed=SEED), device)  # warm-up
    on_device = _measure_seconds(model, device)
    on_cpu = _measure_seconds(model, torch.device("cpu"))
    return Row(f"(3) tails + curves, {weights / 1e6:.1f}M weights ({device.type} vs cpu)", device.type,
               1 / on_device, 1 / on_cpu, "runs/s", "report")


def table(rows: list[Row], header: str) -> str:
    lines = [header, f"{'check':58s} {'device':6s} {'value':>11s} {'baseline':>11s} {'unit':8s} {'ratio':>7s}  target"]
    for r in rows:
        lines.append(f"{r.check:58s} {r.device:6s} {r.value:11.4g} {r.baseline:11.4g} {r.unit:8s} "
                     f"{r.ratio:6.2f}x  {r.target}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny sizes, CPU is fine (seconds)")
    ap.add_argument("--out", default=os.environ.get("OUT"), help="folder for gpu_bench.txt/.json (default $OUT)")
    args = ap.parse_args(argv)
    sizes = TINY if args.tiny else FULL
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    header = (f"tailsweep gpu_bench ({'tiny' if args.tiny else 'full'} sizes) on {name}; torch {torch.__version__}; "
              f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M')}")
    print(header, flush=True)
    start = time.perf_counter()
    loop_row, trained = check_loop(sizes, device)
    print(f"  (1) done after {time.perf_counter() - start:.0f} s", flush=True)
    rows = [loop_row, check_pack(sizes, device)]
    print(f"  (2) done after {time.perf_counter() - start:.0f} s", flush=True)
    rows.append(check_curves(trained, device))
    text = table(rows, header)
    print(f"  (3) done after {time.perf_counter() - start:.0f} s\n\n{text}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "gpu_bench.txt").write_text(text + "\n")
        (out / "gpu_bench.json").write_text(json.dumps([{**asdict(r), "ratio": r.ratio} for r in rows], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
