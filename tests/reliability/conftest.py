"""Fixtures of the fault-injection suite: a reaper for every process a test starts, and one undisturbed
reference sweep (run once per test run, through the CLI, in its own process; pytest-xdist workers share
it) that the faulted sweeps are compared with, trial by trial."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

from sweep.config import PlannedTrial
from sweep.paths import Layout
from tests.reliability import helpers


@pytest.fixture
def spawn():
    """spawn(argv-for-`tailsweep`, log) -> Spawned; every process tree it started is killed at teardown."""
    started: list[helpers.Spawned] = []

    def start(args: list[str], log: Path, **kw) -> helpers.Spawned:
        proc = helpers.tailsweep(args, log, **kw)
        started.append(proc)
        return proc

    start.started = started
    yield start
    for proc in started:
        proc.kill_all()


@dataclass(frozen=True)
class Reference:
    root: Path
    sweep: str
    file: Path
    trials: tuple[PlannedTrial, ...]
    exit_code: int
    output: str
    seconds: float
    fresh_store: bool          # no MLflow database existed before the run

    @property
    def uri(self) -> str:
        return Layout(self.root).tracking_uri

    def trial(self, spec_hash: str) -> PlannedTrial:
        return next(t for t in self.trials if t.spec_hash == spec_hash)


def _run_reference(folder: Path) -> dict:
    path, _ = helpers.write_sweep(folder, "reference")
    root = folder / "store"
    fresh = not Path(Layout(root).tracking_uri.removeprefix("sqlite:///")).exists()
    started = time.monotonic()
    proc = helpers.tailsweep(["run", str(path), "--storage", str(root)], folder / "run.log")
    try:
        code = proc.wait(timeout=300)
    finally:
        proc.kill_all()
    return {"file": str(path), "root": str(root), "exit_code": code, "output": proc.output(),
            "seconds": time.monotonic() - started, "fresh_store": fresh}


@pytest.fixture(scope="session")
def reference(tmp_path_factory, worker_id) -> Reference:
    """The faults' grid (helpers.SWEEP) run once, undisturbed, 2 trials at a time, on a fresh store. Under
    xdist the first worker to ask runs it, in the run's shared base folder; the others wait and read it
    (it takes a couple of minutes, and both workers ran it at once, each slowing the other)."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent
    folder, record = shared / "reference", shared / "reference" / "reference.json"
    with FileLock(str(shared / "reference.lock")):
        if not record.exists():
            folder.mkdir(exist_ok=True)
            record.write_text(json.dumps(_run_reference(folder)))
    ran = json.loads(record.read_text())
    path = Path(ran["file"])
    return Reference(Path(ran["root"]), "reference", path, helpers.load_sweep(path).trials, ran["exit_code"],
                     ran["output"], ran["seconds"], ran["fresh_store"])


@pytest.fixture(scope="session")
def reference_records(reference: Reference) -> dict[str, dict]:
    """spec hash -> what the reference store holds for that trial (one run each, asserted)."""
    assert reference.exit_code == 0, helpers.tail(reference.output)
    return helpers.store_records(reference.uri, reference.sweep, [t.spec_hash for t in reference.trials])
