"""Scale benchmark (issue 12): N tiny synthetic trials, 2 at a time, through the real `tailsweep` CLI,
against the default SQLite store and/or a PostgreSQL-backed `mlflow server` (tests/postgres/servers.py:
the README's lean team server, started from a temporary PostgreSQL data directory on loopback).

    python bench/bench_scale.py [--trials 200] [--backend sqlite|postgres|both] [--out DIR]
                                [--concurrent 2] [--iters 300]

Per backend it records:
- every trial finished once: trials done (DONE in their directories), runs lost, duplicated, not FINISHED,
  and trials whose `train/loss` history differs from result.json;
- wall time per trial (the sweep's wall x concurrency / N, i.e. one slot's time per trial) vs the trial's
  own compute (the sum of its `time/*` stages from result.json) and Tune's per-trial `time_total_s`;
- driver peak memory: the driver process's VmHWM, and the peak of the summed RSS of its whole process tree
  (Ray and the trial workers included), polled from /proc every 0.5 s;
- `tailsweep report NAME` wall time on that store.
Prints a table; writes DIR/results.json (DIR defaults to a fresh temporary folder, kept).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

for _key, _value in (("RAY_AUTH_MODE", "disabled"), ("MLFLOW_DISABLE_TELEMETRY", "true"),
                     ("RAY_USAGE_STATS_ENABLED", "0"), ("OMP_NUM_THREADS", "1"), ("MKL_NUM_THREADS", "1")):
    os.environ.setdefault(_key, _value)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sweep.config import load_sweep  # noqa: E402
from sweep.paths import Layout  # noqa: E402
from tests.postgres import census, servers  # noqa: E402
from tests.reliability import helpers  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def sweep_file(folder: Path, name: str, trials: int, concurrent: int, iters: int) -> Path:
    """N identical tiny trials that differ by seed only (one eta/b, one width): uniform work per trial."""
    text = helpers.sweep_text(name, etas=[1.0e-3], widths=[16], concurrent=concurrent, max_iters=iters)
    text = text.replace("seed: [0]", f"seed: {list(range(trials))}")
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def run_sweep(argv: list[str], log: Path) -> dict:
    """Run `tailsweep ARGV` to its end, polling its memory; its whole tree is killed at the end."""
    proc = helpers.tailsweep(argv, log)
    started = time.perf_counter()
    driver_hwm_kb = tree_peak = 0
    try:
        while proc.proc.poll() is None:
            tree = proc.watch()
            driver_hwm_kb = max(driver_hwm_kb, _status_kb(proc.pid, "VmHWM"))
            tree_peak = max(tree_peak, sum(_rss_bytes(p.pid) for p in tree))
            time.sleep(0.5)
        wall = time.perf_counter() - started
    finally:
        proc.kill_all()
    if proc.proc.returncode != 0:
        raise SystemExit(f"tailsweep {' '.join(argv[:2])} exited {proc.proc.returncode}\n{helpers.tail(proc.output())}")
    return {"wall_s": wall, "driver_peak_mb": driver_hwm_kb / 1024, "tree_peak_mb": tree_peak / 2**20}


def timed(argv: list[str], log: Path) -> float:
    proc = helpers.tailsweep(argv, log)
    started = time.perf_counter()
    try:
        code = proc.wait(timeout=1800)
    finally:
        proc.kill_all()
    if code != 0:
        raise SystemExit(f"tailsweep {' '.join(argv[:2])} exited {code}\n{helpers.tail(proc.output())}")
    return time.perf_counter() - started


def bench_backend(backend: str, args: argparse.Namespace) -> dict:
    folder = args.out / backend
    folder.mkdir(parents=True, exist_ok=True)
    name = f"scale-{backend}"
    path = sweep_file(folder, name, args.trials, args.concurrent, args.iters)
    trials = load_sweep(path).trials
    root = folder / "store"
    server = None
    row: dict = {"backend": backend, "trials": len(trials), "concurrent": args.concurrent, "iters": args.iters}
    try:
        if backend == "postgres":
            started = time.perf_counter()
            server = servers.TeamServer(folder / "server").start()
            row["server_start_s"] = time.perf_counter() - started
            uri, flag = server.uri, ["--tracking-uri", server.uri]
        else:
            uri, flag = Layout(root.resolve()).tracking_uri, []
        row.update(run_sweep(["run", str(path), "--storage", str(root), *flag], folder / "run.log"))
        hashes = [t.spec_hash for t in trials]
        done = helpers.done_stamps(root, name)
        found = census.census(uri, name, hashes)
        row.update(done=len(set(done) & set(hashes)), lost=len(found.lost), duplicated=len(found.duplicated),
                   unfinished=len(found.unfinished),
                   history_mismatch=len(census.history_mismatches(uri, found, root, name, ["train/loss"])))
        compute, tune_total = [], []
        for trial in trials:
            files = helpers.trial_files(root, name, trial.spec_hash)
            if files.is_done():
                metrics = json.loads(files.result.read_text())["metrics"]
                compute.append(sum(v for k, v in metrics.items() if k.startswith("time/")))
            reports = [r for r in helpers.tune_reports(root, name, trial) if "time_total_s" in r]
            if reports:
                tune_total.append(reports[-1]["time_total_s"])
        row["slot_s_per_trial"] = row["wall_s"] * args.concurrent / len(trials)
        row["compute_s_per_trial"] = statistics.mean(compute) if compute else float("nan")
        row["tune_s_per_trial"] = statistics.mean(tune_total) if tune_total else float("nan")
        row["overhead_x"] = row["slot_s_per_trial"] / row["compute_s_per_trial"]
        row["trials_per_h"] = len(trials) / row["wall_s"] * 3600
        row["report_s"] = timed(["report", name, "--storage", str(root), *flag], folder / "report.log")
    finally:
        if server is not None:
            server.stop()
    return row


COLUMNS = [("backend", "{}"), ("trials", "{}"), ("done", "{}"), ("lost", "{}"), ("duplicated", "{}"),
           ("unfinished", "{}"), ("history_mismatch", "{}"), ("wall_s", "{:.1f}"), ("trials_per_h", "{:.0f}"),
           ("slot_s_per_trial", "{:.2f}"), ("tune_s_per_trial", "{:.2f}"), ("compute_s_per_trial", "{:.2f}"),
           ("overhead_x", "{:.2f}"), ("driver_peak_mb", "{:.0f}"), ("tree_peak_mb", "{:.0f}"),
           ("report_s", "{:.1f}"), ("server_start_s", "{:.1f}")]


def print_table(rows: list[dict]) -> None:
    cells = [[label for label, _ in COLUMNS]]
    for row in rows:
        cells.append([fmt.format(row[key]) if key in row else "-" for key, fmt in COLUMNS])
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    for line in cells:
        print("  ".join(c.rjust(w) for c, w in zip(line, widths)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: a new temporary one)")
    parser.add_argument("--concurrent", type=int, default=2)
    parser.add_argument("--iters", type=int, default=300, help="iterations per trial (synthetic data)")
    args = parser.parse_args(argv)
    args.out = (args.out or Path(tempfile.mkdtemp(prefix="bench-scale-"))).resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.backend in ("postgres", "both") and servers.missing():
        raise SystemExit(f"--backend postgres: {servers.missing()}")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    rows = []
    for backend in backends:
        print(f"{backend}: {args.trials} trials, {args.concurrent} at a time ...", flush=True)
        rows.append(bench_backend(backend, args))
    print_table(rows)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(), "load": os.getloadavg(),
            "python": platform.python_version(), "argv": sys.argv}
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"results: {args.out / 'results.json'} (load average {meta['load'][0]:.1f})")
    bad = [r["backend"] for r in rows if r["lost"] or r["duplicated"] or r["unfinished"] or r["history_mismatch"]
           or r["done"] != r["trials"]]
    if bad:
        print(f"NOT every trial finished exactly once on: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
