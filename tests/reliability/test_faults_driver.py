"""Fault 1: the sweep driver is SIGKILLed mid-sweep; `tailsweep resume NAME` finishes it.

A real `tailsweep run` process runs the reference grid one trial at a time; it is killed (SIGKILL: no
handler, no cleanup) once one trial is finished and the next is part-way, past a Tune checkpoint. Then
`tailsweep resume` must finish every trial without retraining the finished ones, and MLflow must hold
exactly one FINISHED run per trial, equal to the undisturbed reference sweep's run."""
from __future__ import annotations

import os
import signal

import pytest

from sweep.paths import Layout
from tests.reliability import helpers

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(420)]
NAME = "killed-driver"


def test_driver_sigkill_then_resume_finishes_every_trial_once(spawn, tmp_path, reference, reference_records):
    path, trials = helpers.write_sweep(tmp_path, NAME, concurrent=1)
    root = tmp_path / "store"
    driver = spawn(["run", str(path), "--storage", str(root)], tmp_path / "run.log")

    def one_done_one_midway():
        done = helpers.done_stamps(root, NAME)
        midway = [t for t in trials if t.spec_hash not in done and helpers.checkpoints(root, NAME, t)
                  and helpers.tune_reports(root, NAME, t)]
        return done and midway and midway[0]

    victim = helpers.wait_for(one_done_one_midway, 240, "one trial finished and the next past a checkpoint",
                              proc=driver)
    worker_pid = helpers.tune_reports(root, NAME, victim)[-1]["pid"]     # Tune records who reported
    (worker,) = [p for p in driver.watch() if p.pid == worker_pid]       # ... a process of this sweep
    os.kill(driver.pid, signal.SIGKILL)
    assert driver.wait(timeout=30) == -signal.SIGKILL
    # The trial's worker dies with the driver's Ray (nothing keeps training behind resume's back).
    helpers.wait_for(lambda: not helpers.alive(worker), 30, "the killed sweep's trial worker gone")
    before = helpers.done_stamps(root, NAME)
    assert victim.spec_hash not in before, "the victim finished before the kill: the sweep is too short"
    assert 1 <= len(before) < len(trials)

    resume = spawn(["resume", NAME, "--storage", str(root)], tmp_path / "resume.log")
    assert resume.wait(timeout=300) == 0, helpers.tail(resume.output())
    assert f"{len(before)} already finished" in resume.output()

    after = helpers.done_stamps(root, NAME)
    assert set(after) == {t.spec_hash for t in trials}                    # every trial finished
    assert {h: after[h] for h in before} == before                        # finished ones not retrained
    for trial in trials:
        if trial.spec_hash in before:                                     # ... nor restarted by Tune
            assert len(helpers.attempts(helpers.tune_reports(root, NAME, trial))) == 1
    assert len(helpers.attempts(helpers.tune_reports(root, NAME, victim))) == 2   # killed, then resumed

    # MLflow: exactly one FINISHED run per trial, holding what an undisturbed sweep's run holds (every
    # step point once: the victim's run was reopened, not duplicated), and what its trial directory holds.
    records = helpers.store_records(Layout(root).tracking_uri, NAME, after)
    for spec_hash, record in records.items():
        helpers.assert_same_run(record, reference_records[spec_hash], reference.trial(spec_hash).name)
        files = helpers.trial_files(root, NAME, spec_hash)
        assert record["histories"] == helpers.trial_dir_histories(files)
        assert helpers.result_without_timing(files) == helpers.result_without_timing(
            helpers.trial_files(reference.root, reference.sweep, spec_hash))
