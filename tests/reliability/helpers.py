"""Plumbing for the fault-injection tests: sweeps as real `tailsweep` processes, their process trees read
from /proc (no psutil), waiting on files with deadlines, and what an MLflow store holds per trial.

Only processes a test started are ever signalled: a ``Spawned`` remembers every descendant it has seen as
(pid, start time), so a reused pid is never hit, and kills them all at teardown (Ray's workers sit in
their own process groups, so killing the driver's group alone would leave them behind).
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, TypeVar

from core import keys
from core.vocab import RUN_KIND_SWEEP
from sweep.config import PlannedTrial, load_sweep
from sweep.paths import Layout, TrialFiles

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")

# Every process these tests start: no Ray token auth, no telemetry, one BLAS thread (2 shared cores).
ENV = {"RAY_AUTH_MODE": "disabled", "MLFLOW_DISABLE_TELEMETRY": "true", "RAY_USAGE_STATS_ENABLED": "0",
       "DO_NOT_TRACK": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
       "RAY_DEDUP_LOGS": "0"}

# The faults' sweep: synthetic data, trials of a few seconds that never converge early (small eta/b, so
# every one runs to max_iters and is "capped"), a Tune checkpoint every 200 iterations (checkpoint_every_s
# 0), and Ray retries. Spec hashes do not depend on name or resources, so a fault sweep over a subset of
# this grid has the same trials as the undisturbed reference sweep and their records can be compared.
SWEEP = """\
name: {name}
data: {{dataset: synthetic, n_train: 240, n_test: 120, dim: 16, classes: 4, teacher_width: 16}}
model: {{arch: fcn, depth: 3}}
train: {{max_iters: {max_iters}, eval_every: 100, test_every: 200, alpha_every: 500, post_converge_iters: 50,
         avg_window: 20, eval_batch_size: 500}}
compress: {{methods: [magnitude, singular, node], ratios: [0.0, 0.5], curve_ratios: [0.0, 0.5, 0.9], eps: [0.1]}}
grid:
  eta_over_b: {etas}
  batch_size: [10]
  width: {widths}
  seed: [0]
resources: {{cpus_per_trial: 1, gpus_per_trial: 0, max_concurrent: {concurrent}, max_failures: {max_failures},
             checkpoint_every_s: 0}}
"""
MAX_ITERS = 3000
ETAS = (1.0e-3, 2.0e-3)
WIDTHS = (16, 24)


def sweep_text(name: str, *, etas: Iterable[float] = ETAS, widths: Iterable[int] = WIDTHS, concurrent: int = 2,
               max_failures: int = 2, max_iters: int = MAX_ITERS) -> str:
    return SWEEP.format(name=name, etas=list(etas), widths=list(widths), concurrent=concurrent,
                        max_failures=max_failures, max_iters=max_iters)


def write_sweep(folder: Path, name: str, **kw) -> tuple[Path, tuple[PlannedTrial, ...]]:
    path = folder / f"{name}.yaml"
    path.write_text(sweep_text(name, **kw))
    return path, load_sweep(path).trials


# ---------------------------------------------------------------- processes, from /proc
@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    start: int          # clock ticks since boot: (pid, start) names one process for good
    cmdline: str


def process_table() -> dict[int, ProcInfo]:
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue   # exited while we looked
        fields = stat[stat.rindex(")") + 2:].split()   # after "pid (comm) ": state ppid ... starttime
        table[int(entry)] = ProcInfo(int(entry), int(fields[1]), int(fields[19]), cmd.strip())
    return table


def descendants(pid: int, table: Mapping[int, ProcInfo] | None = None) -> list[ProcInfo]:
    table = process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    out, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(table[child])
        todo += children.get(child, [])
    return out


def alive(info: ProcInfo) -> bool:
    try:
        stat = Path(f"/proc/{info.pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[19]) == info.start and fields[0] != "Z"


def kill(info: ProcInfo, sig: int = signal.SIGKILL) -> None:
    if alive(info):
        try:
            os.kill(info.pid, sig)
        except ProcessLookupError:
            pass


def listening(pids: Iterable[int]) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every listening TCP socket the given processes hold."""
    by_inode = {}
    for path, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(path).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] != "0A":   # TCP_LISTEN
                continue
            hex_ip, hex_port = cols[1].split(":")
            raw = bytes.fromhex(hex_ip)
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))   # little-endian words
            by_inode[cols[9]] = (socket.inet_ntop(family, raw), int(hex_port, 16))
    out = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            found = re.fullmatch(r"socket:\[(\d+)\]", target)
            if found and found.group(1) in by_inode:
                out.append((pid, *by_inode[found.group(1)]))
    return out


class Spawned:
    """A process this test started (its own session), plus every descendant seen while it ran."""

    def __init__(self, argv: list[str], log: Path, *, env: Mapping[str, str] | None = None, cwd: Path | None = None):
        self.log = log
        full_env = {**os.environ, **ENV, **(env or {})}
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), full_env.get("PYTHONPATH")]))
        with log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=full_env,
                                         cwd=cwd or log.parent, start_new_session=True)
        self.seen: dict[int, ProcInfo] = {}
        self.watch()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def watch(self) -> list[ProcInfo]:
        """The live tree now; remembered for teardown (an orphan re-parented to init is still ours)."""
        table = process_table()
        tree = descendants(self.pid, table)
        if self.pid in table:
            tree.append(table[self.pid])
        for info in tree:
            self.seen.setdefault(info.pid, info)
        return tree

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.kill_all()
                raise AssertionError(f"{self.log.name}: no exit in {timeout:.0f} s\n{tail(self.output())}")
            self.watch()
            time.sleep(0.2)
        return self.proc.returncode

    def kill_all(self) -> None:
        self.watch()
        for info in self.seen.values():
            kill(info)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def tailsweep(args: list[str], log: Path, **kw) -> Spawned:
    return Spawned([sys.executable, "-m", "sweep", *args], log, **kw)


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def wait_for(condition: Callable[[], T], timeout: float, what: str, *, proc: Spawned | None = None,
             every: float = 0.05) -> T:
    """Poll ``condition`` until it returns something truthy; fail (with the process's log) on timeout or
    when ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if proc is not None:
            proc.watch()
            if proc.proc.poll() is not None:
                raise AssertionError(f"{what}: the process exited ({proc.proc.returncode}) first\n{tail(proc.output())}")
        if time.monotonic() > deadline:
            log = f"\n{tail(proc.output())}" if proc is not None else ""
            raise AssertionError(f"{what}: not within {timeout:.0f} s{log}")
        time.sleep(every)


# ---------------------------------------------------------------- a sweep's files
def trial_files(root: Path, sweep: str, spec_hash: str) -> TrialFiles:
    return TrialFiles(Layout(root).trial_dir(sweep, spec_hash))


def done_stamps(root: Path, sweep: str) -> dict[str, tuple[int, str]]:
    """spec hash -> (DONE's mtime, result.json's text) for every finished trial: a retrained or rewritten
    trial changes both."""
    folder = Layout(root).trials_dir(sweep)
    out = {}
    for trial in sorted(folder.iterdir()) if folder.is_dir() else []:
        files = TrialFiles(trial)
        if files.is_done():
            out[trial.name] = (files.done.stat().st_mtime_ns, files.result.read_text())
    return out


def tune_dir(root: Path, sweep: str, trial: PlannedTrial) -> Path:
    """Ray Tune's folder for one trial (launch._trial_dirname): progress, checkpoints."""
    return Layout(root).ray_dir(sweep) / f"{trial.name}_{trial.spec_hash[:8]}"


def tune_reports(root: Path, sweep: str, trial: PlannedTrial) -> list[dict]:
    """Every result Tune recorded for the trial, in order (its result.json holds one JSON per line)."""
    path = tune_dir(root, sweep, trial) / "result.json"
    if not path.exists():
        return []
    reports = []
    for line in path.read_text().splitlines():
        try:
            reports.append(json.loads(line))
        except ValueError:
            break   # a line being written right now
    return reports


def registered_checkpoints(reports: list[dict]) -> list[dict]:
    """The reports whose checkpoint Tune's driver registered (``checkpoint_dir_name`` set in result.json).
    A checkpoint folder appears in storage before that: the worker persists it, then reports; a trial lost
    in between restarts from the previous registered one."""
    return [r for r in reports if r.get("checkpoint_dir_name")]


def checkpoints(root: Path, sweep: str, trial: PlannedTrial) -> list[Path]:
    folder = tune_dir(root, sweep, trial)
    return sorted(folder.glob("checkpoint_*")) if folder.is_dir() else []


def attempts(reports: list[dict]) -> list[list[dict]]:
    """Reports split at each (re)start of the trainable (``iterations_since_restore`` back to 1)."""
    runs: list[list[dict]] = []
    for report in reports:
        if report.get("iterations_since_restore") == 1 or not runs:
            runs.append([])
        runs[-1].append(report)
    return runs


# ---------------------------------------------------------------- what MLflow holds
def client(uri: str):
    from mlflow import MlflowClient
    return MlflowClient(uri)


def all_runs(uri: str, sweep: str) -> list:
    """Every run of the sweep's experiment, deleted ones included (a lost or duplicated run shows here)."""
    from mlflow.entities import ViewType

    mlflow = client(uri)
    experiment = mlflow.get_experiment_by_name(sweep)
    if experiment is None:
        return []
    runs, token = [], None
    while True:
        page = mlflow.search_runs([experiment.experiment_id], run_view_type=ViewType.ALL, max_results=1000,
                                  page_token=token)
        runs += page
        token = page.token
        if not token:
            return runs


def trial_runs(uri: str, sweep: str) -> list:
    """Every run of the sweep's experiment but its parent (kind sweep): one per trial when nothing is lost."""
    return [run for run in all_runs(uri, sweep) if run.data.tags.get(keys.TAG_KIND) != RUN_KIND_SWEEP]


def runs_per_hash(uri: str, sweep: str) -> dict[str, list]:
    """Trial runs by spec hash; the sweep's parent run is checked to be exactly one and left out."""
    out: dict[str, list] = {}
    parents = []
    for run in all_runs(uri, sweep):
        if run.data.tags.get(keys.TAG_KIND) == RUN_KIND_SWEEP:
            parents.append(run)
            continue
        out.setdefault(run.data.tags.get(keys.TAG_SPEC_HASH, "?"), []).append(run)
    assert len(parents) == 1, f"sweep {sweep}: {len(parents)} parent runs in {uri} (want exactly one)"
    return out


def is_timing(key: str) -> bool:
    return key.startswith("time/")   # wall-clock stage times: the only metrics that differ between runs


def run_record(uri: str, run) -> dict:
    """What a finished trial's run holds, without wall-clock times: comparable across sweeps and stores.
    The table artifact is compared by the digest its tag records (the same rows give the same bytes)."""
    from core.keys import is_step_key

    mlflow = client(uri)
    run_id = run.info.run_id
    histories = {key: sorted((m.step, repr(m.value)) for m in mlflow.get_metric_history(run_id, key))
                 for key in sorted(run.data.metrics) if is_step_key(key) and not is_timing(key)}
    artifacts = set()
    for folder in (None, "weights", "plots"):
        artifacts |= {f.path for f in mlflow.list_artifacts(run_id, folder) if not f.is_dir}
    return {"status": run.info.status, "outcome": run.data.tags.get(keys.TAG_OUTCOME), "name": run.info.run_name,
            "params": dict(run.data.params),
            "metrics": {k: repr(v) for k, v in run.data.metrics.items() if not is_timing(k)},
            "histories": histories, "artifacts": sorted(artifacts), "table": run.data.tags.get(keys.TAG_TABLE)}


def assert_same_run(record: dict, reference: dict, name: str) -> None:
    """A faulted sweep's run holds what the undisturbed reference run holds. Run names follow each sweep's
    varying axes, so a sweep over part of the grid may name the same trial differently: the name is
    checked against the sweep's own plan instead."""
    assert record["name"] == name
    assert {**record, "name": None} == {**reference, "name": None}


def trial_dir_histories(files: TrialFiles) -> dict[str, list[tuple[int, str]]]:
    """The step history a trial directory's result.json holds, in run_record's form."""
    out: dict[str, list[tuple[int, str]]] = {}
    for step, key, value in json.loads(files.result.read_text())["history"]:
        out.setdefault(key, []).append((int(step), repr(float(value))))
    return {key: sorted(points) for key, points in sorted(out.items())}


def store_records(uri: str, sweep: str, hashes: Iterable[str] | None = None) -> dict[str, dict]:
    """spec hash -> run_record, asserting exactly one run per trial (no lost, no duplicated run)."""
    per_hash = runs_per_hash(uri, sweep)
    wanted = sorted(per_hash) if hashes is None else sorted(hashes)
    extra = sorted(set(per_hash) - set(wanted))
    assert not extra, f"{sweep}: runs for trials outside the sweep: {extra}"
    out = {}
    for spec_hash in wanted:
        runs = per_hash.get(spec_hash, [])
        assert len(runs) == 1, f"{sweep}: trial {spec_hash} has {len(runs)} runs (want exactly 1)"
        out[spec_hash] = run_record(uri, runs[0])
    return out


def result_without_timing(files: TrialFiles) -> dict:
    data = json.loads(files.result.read_text())
    data["metrics"] = {k: v for k, v in data["metrics"].items() if not is_timing(k)}
    return data


# ---------------------------------------------------------------- an MLflow server on loopback
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """A lean `mlflow server` on 127.0.0.1 (MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false, one worker) that a test stops and starts again on
    the same port and database: SQLite under ``folder``, or ``backend_uri`` (tests/postgres: PostgreSQL)."""

    def __init__(self, folder: Path, backend_uri: str | None = None):
        self.folder, self.port = folder, free_port()
        self.backend_uri = backend_uri or f"sqlite:///{folder / 'server.db'}"
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: Spawned | None = None

    def start(self, timeout: float = 90) -> None:
        cmd = [sys.executable, "-m", "mlflow", "server", "--workers", "1", "--host", "127.0.0.1",
               "--port", str(self.port), "--backend-store-uri", self.backend_uri,
               "--artifacts-destination", str(self.folder / "server-artifacts")]
        self.process = Spawned(cmd, self.folder / "mlflow-server.log",
                               env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        wait_for(self.healthy, timeout, "mlflow server healthy", proc=self.process, every=0.3)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.uri + "/health", timeout=1) as reply:
                return reply.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill_all()
            self.process = None
