"""Tracking overhead per trial: what tailsweep's record keeping adds to a trial's wall time.

Same run, two measurements:
  baseline  a real ``core.pipeline.run_trial`` (quick-demo model: mnist5k, FCN3-256, 1 CPU thread), no
            callbacks; its result supplies the real final-metric keys (~2,000);
  overhead  for that result, with the step history of a full 20,000-iteration quick-demo trial, what the
            Ray trainable does around run_trial: open the trial's run, stream step metrics through
            ``TrialLogger.log_step`` (one batch per 10 s period), save the final/avg/init snapshots,
            then ``record``: result.json + 3 plots + DONE in the trial directory, and the MLflow upload
            (params, tags, ~2,000 final metrics in batches of 1,000, artifacts), ended run. Repeated,
            median per component. Plus, once: the cost of importing MLflow and opening the store in a
            fresh process (paid per trial when Ray does not reuse worker processes).

    python bench/bench_tracking.py [--repeats 5] [--iters 1000] [--tracking-uri URI]

Prints milliseconds per trial and the ratio to a 10 s trial and to the measured baseline trial.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from core.pipeline import run_trial  # noqa: E402
from core.result import TrialResult  # noqa: E402
from core.spec import CompressSpec, ModelSpec, TrainSpec, TrialSpec  # noqa: E402
from sweep.paths import Layout  # noqa: E402
from sweep.tracking import TrackingConfig, Tracker  # noqa: E402
from sweep.trial_store import TrialStore  # noqa: E402

NOMINAL_TRIAL_S = 10.0
QUICK_ITERS, EVAL_EVERY, TEST_EVERY, ALPHA_EVERY = 20_000, 200, 2_000, 1_000


def baseline(iters: int) -> tuple[TrialResult, float, float]:
    torch.set_num_threads(1)
    spec = TrialSpec(eta_over_b=8e-3, model=ModelSpec(arch="fcn", depth=3, width=256),
                     train=TrainSpec(max_iters=iters, post_converge_iters=500, eval_every=EVAL_EVERY,
                                     alpha_every=500, test_every=1000),
                     compress=CompressSpec())
    clock = Clock()
    result = run_trial(spec, device="cpu")
    clock.lap("trial")
    return result, *clock.times["trial"]


def quick_history(result: TrialResult) -> tuple[tuple[int, str, float], ...]:
    """The step history of a full quick-demo trial (eval every 200, test every 2,000, alpha every 1,000)."""
    last = {key: value for _, key, value in result.history}
    alpha_keys = sorted(k for k in last if k.startswith("alpha/current/"))
    out = []
    for step in range(0, QUICK_ITERS + 1, EVAL_EVERY):
        out += [(step, k, last.get(k, 0.5)) for k in ("train/loss", "train/acc", "batch/loss")]
        if step % TEST_EVERY == 0:
            out += [(step, k, last.get(k, 0.9)) for k in ("test/loss", "test/acc")]
        if step % ALPHA_EVERY == 0:
            out += [(step, k, last[k]) for k in alpha_keys]
    return tuple(out)


def weights_like(result: TrialResult) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {layer["name"]: torch.randn(*layer["shape"], generator=g) for layer in result.layers}


class Clock:
    """Wall and CPU seconds of consecutive sections. CPU time is the honest number on a shared machine:
    the overhead is single-threaded, and other users' load inflates only the wall clock."""

    def __init__(self) -> None:
        self.times: dict[str, tuple[float, float]] = {}
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.times[name] = (wall - self._wall, cpu - self._cpu)
        self._wall, self._cpu = wall, cpu


def one_trial(config: TrackingConfig, layout: Layout, sweep: str, result: TrialResult,
              weights: dict[str, torch.Tensor]) -> dict[str, tuple[float, float]]:
    store = TrialStore(layout, sweep)
    spec_hash = result.spec.spec_hash()
    by_step: dict[int, dict[str, float]] = {}
    for step, key, value in result.history:
        by_step.setdefault(step, {})[key] = value
    clock = Clock()
    logger = Tracker(config).trial_logger(store, result.spec, f"bench-{spec_hash[:6]}")
    clock.lap("open run (MLflow)")
    for step, metrics in by_step.items():
        logger.log_step(step, metrics)
    logger.flush()   # one 10 s period's batch
    clock.lap("step metrics (MLflow)")
    for tag in ("init", "final", "avg"):
        store.save_snapshot(spec_hash, tag, weights)
    clock.lap("snapshots (trial dir)")
    store.write_result(result)
    clock.lap("result+plots+DONE (trial dir)")
    outcome = logger.record(result)
    clock.lap("upload (MLflow)")
    if not outcome.uploaded:
        raise SystemExit(f"upload failed against {config.display}")
    return clock.times


def cold_process_cost(config: TrackingConfig, sweep: str) -> float:
    """Seconds a fresh process spends importing MLflow and opening the store, beyond importing the rest."""
    repo = str(Path(__file__).resolve().parents[1])
    base = f"import sys; sys.path.insert(0, {repo!r}); import sweep.trial_store, sweep.tracking as t"
    with_store = base + f"; t.Tracker(t.TrackingConfig({config.uri!r}, {config.artifact_root!r})).ensure_experiment({sweep!r})"

    def wall(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        return time.perf_counter() - started

    return statistics.median(wall(with_store) for _ in range(3)) - statistics.median(wall(base) for _ in range(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iters", type=int, default=1000, help="baseline trial length (iterations)")
    parser.add_argument("--tracking-uri", default=None, help="default: sqlite under a temporary storage root")
    args = parser.parse_args()

    real, trial_wall, trial_cpu = baseline(args.iters)
    result = TrialResult(spec=real.spec, status=real.status, iterations=QUICK_ITERS, metrics=real.metrics,
                         history=quick_history(real), layers=real.layers)
    weights = weights_like(result)
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        layout = Layout(Path(tmp).resolve())
        config = TrackingConfig.for_layout(layout, args.tracking_uri)
        sweep = f"bench-{os.getpid()}"
        Tracker(config).ensure_experiment(sweep)       # the driver's part, once per sweep
        runs = []
        for i in range(args.repeats + 1):              # the first one warms imports (matplotlib, safetensors)
            spec = TrialSpec.from_dict({**result.spec.to_dict(), "seed": i + 1})
            trial = TrialResult(spec=spec, status=result.status, iterations=result.iterations,
                                metrics=result.metrics, history=result.history, layers=result.layers)
            runs.append(one_trial(config, layout, sweep, trial, weights))
        runs = runs[1:]
        cold = cold_process_cost(config, sweep)

    print(f"tracking store: {config.display if args.tracking_uri else 'sqlite under the storage root'}")
    print(f"baseline trial: run_trial FCN3-256 mnist5k, {real.iterations} iterations, 1 thread: "
          f"{trial_wall:.1f} s wall, {trial_cpu:.1f} s CPU")
    print(f"logged per trial: {len(result.metrics)} final metrics, {len(result.history)} step points "
          f"({QUICK_ITERS} iterations), {len(result.spec.flat())} params, 3 snapshots of "
          f"{sum(w.numel() for w in weights.values()) * 4 / 1e6:.1f} MB, 3 plots; median of {args.repeats}")
    print(f"{'component':34s} {'wall ms':>9s} {'CPU ms':>9s}")
    medians = {k: tuple(statistics.median(r[k][j] for r in runs) * 1000 for j in (0, 1)) for k in runs[0]}
    for key, (wall, cpu) in medians.items():
        print(f"{key:34s} {wall:9.1f} {cpu:9.1f}")
    mlflow = [sum(v[j] for k, v in medians.items() if "MLflow" in k) for j in (0, 1)]
    total = [sum(v[j] for v in medians.values()) for j in (0, 1)]
    print(f"{'MLflow part':34s} {mlflow[0]:9.1f} {mlflow[1]:9.1f}")
    print(f"{'total (MLflow + trial directory)':34s} {total[0]:9.1f} {total[1]:9.1f}")
    print(f"{'fresh process: import + open (wall)':34s} {cold * 1000:9.1f}")
    print(f"overhead vs a {NOMINAL_TRIAL_S:.0f} s trial (CPU ms / 10 s): MLflow {mlflow[1] / 10 / NOMINAL_TRIAL_S:.2f}%, "
          f"total {total[1] / 10 / NOMINAL_TRIAL_S:.2f}%  (target <= 5%)")
    print(f"overhead vs the baseline trial (same run, CPU/CPU): MLflow {mlflow[1] / 10 / trial_cpu:.2f}%, "
          f"total {total[1] / 10 / trial_cpu:.2f}%;  (wall/wall): total {total[0] / 10 / trial_wall:.2f}%")
    print(f"a fresh process per trial (Ray without actor reuse) adds {cold * 100 / NOMINAL_TRIAL_S:.1f}% "
          f"of a {NOMINAL_TRIAL_S:.0f} s trial")


if __name__ == "__main__":
    main()
