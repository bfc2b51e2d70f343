"""Fixtures of the fault-injection suite: a reaper for every process a test starts, and one undisturbed
reference sweep (run once per session, through the CLI, in its own process) that the faulted sweeps are
compared with, trial by trial."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def reference(tmp_path_factory) -> Reference:
    """The faults' grid (helpers.SWEEP) run once, undisturbed, 2 trials at a time, on a fresh store."""
    folder = tmp_path_factory.mktemp("reference")
    path, trials = helpers.write_sweep(folder, "reference")
    root = folder / "store"
    fresh = not Path(Layout(root).tracking_uri.removeprefix("sqlite:///")).exists()
    started = time.monotonic()
    proc = helpers.tailsweep(["run", str(path), "--storage", str(root)], folder / "run.log")
    try:
        code = proc.wait(timeout=300)
    finally:
        proc.kill_all()
    return Reference(root, "reference", path, trials, code, proc.output(), time.monotonic() - started, fresh)


@pytest.fixture(scope="session")
def reference_records(reference: Reference) -> dict[str, dict]:
    """spec hash -> what the reference store holds for that trial (one run each, asserted)."""
    assert reference.exit_code == 0, helpers.tail(reference.output)
    return helpers.store_records(reference.uri, reference.sweep, [t.spec_hash for t in reference.trials])
