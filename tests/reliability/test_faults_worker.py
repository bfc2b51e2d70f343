"""Fault 2: the Ray worker process running a trial is SIGKILLed mid-training.

Ray Tune retries the trial (resources.max_failures) from its last checkpoint, in a new worker, into the
same MLflow run. The worker is found without any hook in tailsweep: Tune records the pid of the process
that reports each result (the trial's result.json), and that pid must be one of this sweep's processes."""
from __future__ import annotations

import json
import os
import signal

import pytest

from sweep.paths import Layout
from tests.reliability import helpers

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(420)]
NAME = "killed-worker"
CHECKPOINT_EVERY = 200   # sweep.trainable.CHECKPOINT_CHECK_ITERS with checkpoint_every_s: 0


def test_killed_worker_is_retried_from_its_checkpoint_into_the_same_run(spawn, tmp_path, reference,
                                                                         reference_records):
    path, (trial,) = helpers.write_sweep(tmp_path, NAME, etas=(1.0e-3,), widths=(16,), concurrent=1)
    root = tmp_path / "store"
    driver = spawn(["run", str(path), "--storage", str(root)], tmp_path / "run.log")
    files = helpers.trial_files(root, NAME, trial.spec_hash)

    def two_checkpoints_reported():
        reports = helpers.tune_reports(root, NAME, trial)
        run_open = files.run_id.exists() and json.loads(files.run_id.read_text())["runs"]
        return len(helpers.registered_checkpoints(reports)) >= 2 and run_open and not files.is_done() and reports

    reports = helpers.wait_for(two_checkpoints_reported, 240, "the trial past two checkpoints", proc=driver)
    run_id = json.loads(files.run_id.read_text())["runs"]     # the trial's one run, opened before the kill
    pid = reports[-1]["pid"]
    (worker,) = [p for p in driver.watch() if p.pid == pid]    # a process of this sweep, and Ray's worker
    assert worker.cmdline.startswith("ray::"), worker.cmdline
    os.kill(worker.pid, signal.SIGKILL)
    assert not files.is_done(), "the trial finished before the kill: the sweep is too short"

    assert driver.wait(timeout=300) == 0, helpers.tail(driver.output())
    first, retry = helpers.attempts(helpers.tune_reports(root, NAME, trial))
    assert {r["pid"] for r in first} == {pid} and pid not in {r["pid"] for r in retry}
    # The retry went on from the last checkpoint Tune registered for the killed attempt (at least its
    # second, so not from iteration 0), its first report at most one checkpoint interval later. Read after
    # the driver ends: results still in flight at the kill may register a later checkpoint.
    last = helpers.registered_checkpoints(first)[-1]["iteration"]
    assert last >= 2 * CHECKPOINT_EVERY
    assert last < retry[0]["iteration"] <= last + CHECKPOINT_EVERY, (retry[0], last)
    assert files.is_done() and not files.failed.exists()
    # Same MLflow run, continued: one run, the id opened before the kill, holding exactly what an
    # undisturbed run holds (no step point lost or logged twice) and what the trial directory holds.
    uri = Layout(root).tracking_uri
    (run,) = helpers.trial_runs(uri, NAME)
    assert run_id == {uri: run.info.run_id} and json.loads(files.run_id.read_text())["runs"] == run_id
    record = helpers.run_record(uri, run)
    helpers.assert_same_run(record, reference_records[trial.spec_hash], trial.name)
    assert record["histories"] == helpers.trial_dir_histories(files)
    # Training continued bit-for-bit: the same result as the undisturbed trial.
    assert helpers.result_without_timing(files) == helpers.result_without_timing(
        helpers.trial_files(reference.root, reference.sweep, trial.spec_hash))
