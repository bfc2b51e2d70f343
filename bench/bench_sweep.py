"""Sweep benchmarks (issue 4), each against a baseline measured in the same run.

    python bench/bench_sweep.py throughput [--subset N] [--cap ITERS]
    python bench/bench_sweep.py tracking [--repeats 3] [--trial NAME|all]
    python bench/bench_sweep.py            # both

throughput  configs/quick.yaml on a 2-CPU Ray: 2 concurrent 1-CPU trials vs 1 trial at a time with 2 CPUs,
            through the real driver (trial directories, MLflow SQLite, Tune). Prints trials/hour of each
            and their ratio (target >= 1.7x).
tracking    one quick.yaml trial (or, with --trial all, the whole 12-trial grid, summed) in this process (1 torch thread), three ways, interleaved, medians:
            bare run_trial; + its trial directory (snapshots, result.json, plots; no MLflow); + MLflow
            (the trial's TrialLogger: batched step metrics, the final upload of metrics and artifacts).
            Prints the MLflow overhead relative to the trial without it (target <= 5%).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

for _key, _value in (("RAY_AUTH_MODE", "disabled"), ("MLFLOW_DISABLE_TELEMETRY", "true"),
                     ("RAY_USAGE_STATS_ENABLED", "0")):
    os.environ.setdefault(_key, _value)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from core.callbacks import MetricsCallback, SnapshotCallback  # noqa: E402
from core.pipeline import run_trial  # noqa: E402
from sweep.cmd_run import _drive, resolve_locations  # noqa: E402
from sweep.config import Resources, SweepSpec, load_sweep  # noqa: E402
from sweep.paths import Layout  # noqa: E402
from sweep.tracking import Tracker, TrackingConfig  # noqa: E402
from sweep.trial_store import TrialStore  # noqa: E402

QUICK = REPO / "configs" / "quick.yaml"


def _quick(subset: int | None, cap: int | None) -> SweepSpec:
    sweep = load_sweep(QUICK)
    trials = sweep.trials
    if subset:   # spread over the grid: every k-th trial
        trials = trials[::max(1, len(trials) // subset)][:subset]
    if cap:
        trials = tuple(dataclasses.replace(t, spec=dataclasses.replace(
            t.spec, train=dataclasses.replace(t.spec.train, max_iters=cap))) for t in trials)
        trials = tuple(dataclasses.replace(t, spec_hash=t.spec.spec_hash()) for t in trials)
    return dataclasses.replace(sweep, trials=trials)


def throughput(args: argparse.Namespace) -> None:
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    base = _quick(args.subset, args.cap)
    modes = {"2 concurrent x 1 CPU": Resources(cpus_per_trial=1, max_concurrent=2),
             "1 at a time x 2 CPUs": Resources(cpus_per_trial=2, max_concurrent=1)}
    rate = {}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        for i, (mode, resources) in enumerate(modes.items()):
            sweep = dataclasses.replace(base, resources=resources)
            loc = resolve_locations(str(Path(tmp) / f"mode{i}"), None, sweep)
            log = io.StringIO()
            start = time.perf_counter()
            with contextlib.redirect_stdout(log):
                code = _drive(None, loc, sweep, restore=False)
            wall = time.perf_counter() - start
            if code != 0:
                print(log.getvalue()[-3000:])
                raise SystemExit(f"{mode}: the sweep exited {code}")
            rate[mode] = len(sweep.trials) / wall * 3600
            print(f"{mode:24s} {len(sweep.trials)} trials in {wall:7.1f} s = {rate[mode]:7.1f} trials/h", flush=True)
    ray.shutdown()
    a, b = rate.values()
    print(f"throughput ratio (2 x 1-CPU / 1 x 2-CPU): {a / b:.2f}x  (target >= 1.7x)")


def _one(spec, name: str, root: Path, mode: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one trial; CPU time is the steadier number on a shared machine."""
    layout = Layout(root)
    store = TrialStore(layout, "bench")
    spec_hash = spec.spec_hash()
    tracker = Tracker(TrackingConfig.for_layout(layout))
    if mode == "mlflow":
        tracker.ensure_experiment("bench")    # the driver's job, before any trial starts: not timed
    wall, cpu = time.perf_counter(), time.process_time()
    if mode == "bare":
        run_trial(spec)
    elif mode == "mlflow":
        logger = tracker.trial_logger(store, spec, name)
        callbacks = [MetricsCallback(logger.log_step), SnapshotCallback(store.snapshot_saver(spec_hash))]
        logger.record(run_trial(spec, callbacks))
    else:
        store.write_spec(spec)
        store.write_result(run_trial(spec, [SnapshotCallback(store.snapshot_saver(spec_hash))]))
    return time.perf_counter() - wall, time.process_time() - cpu


def tracking(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    sweep = load_sweep(QUICK)
    trials = sweep.trials if args.trial == "all" else [next(t for t in sweep.trials if t.name.startswith(args.trial))]
    label = "all quick.yaml trials (sums)" if args.trial == "all" else f"trial {trials[0].name} ({trials[0].spec_hash})"
    print(f"{label}, {args.repeats} repeats, 1 torch thread", flush=True)
    modes = ("bare", "trial dir", "mlflow")
    times: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        _one(trials[0].spec, trials[0].name, Path(tmp) / "warm", "mlflow")   # imports, first SQLite connection
        for r in range(args.repeats):
            for m in modes:
                per_trial = [_one(t.spec, t.name, Path(tmp) / f"{m.replace(' ', '_')}{r}", m) for t in trials]
                times[m].append((sum(w for w, _ in per_trial), sum(c for _, c in per_trial)))
                print(f"  {m:10s} wall {times[m][-1][0]:7.2f} s  cpu {times[m][-1][1]:7.2f} s", flush=True)
    for i, clock in enumerate(("wall", "cpu")):
        med = {m: statistics.median(t[i] for t in v) for m, v in times.items()}
        print(f"{clock} medians: " + ", ".join(f"{m} {med[m]:.2f} s" for m in modes))
        print(f"  MLflow logging overhead (mlflow vs trial dir): "
              f"{(med['mlflow'] - med['trial dir']) / med['trial dir']:+.1%}  (target <= 5%)")
        print(f"  trial directory + plots (trial dir vs bare):   {(med['trial dir'] - med['bare']) / med['bare']:+.1%}")
        print(f"  all tracking (mlflow vs bare run_trial):       {(med['mlflow'] - med['bare']) / med['bare']:+.1%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", nargs="?", choices=("throughput", "tracking", "both"), default="both")
    ap.add_argument("--subset", type=int, default=None, help="throughput: run only N of the 12 quick trials")
    ap.add_argument("--cap", type=int, default=None, help="throughput: override max_iters (a smoke run)")
    ap.add_argument("--repeats", type=int, default=3, help="tracking: repeats per mode")
    ap.add_argument("--trial", default="etab8e-3-w256", help="tracking: the quick trial (run-name prefix), or 'all' for the whole demo grid")
    args = ap.parse_args()
    print(f"bench_sweep on {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.1f}")
    if args.which in ("throughput", "both"):
        throughput(args)
    if args.which in ("tracking", "both"):
        tracking(args)


if __name__ == "__main__":
    main()
