"""A real PostgreSQL team store (README, "A lean team server"): sweeps log through `mlflow server` backed
by PostgreSQL, 2 trials at a time, as a team would run them.

1. The driver is SIGKILLed (its whole process group) once a trial has finished and another is running;
   `tailsweep resume NAME` finishes the sweep. The server must hold exactly one FINISHED run per trial
   whose step history equals the trial directory's result.json: no point lost, none doubled.
2. 30 tiny trials through the same server: none lost, none duplicated, then `tailsweep report` reads them.
"""
from __future__ import annotations

import os
import signal

import pytest

from tests.postgres import census
from tests.reliability import helpers

pytestmark = [pytest.mark.postgres]

KILLED = "pg-killed-driver"
SCALE = "pg-scale"
# 30 trials = 5 eta/b x 6 widths: synthetic, 300 iterations (a second or two of training each).
SCALE_ETAS = (1.0e-3, 1.5e-3, 2.0e-3, 2.5e-3, 3.0e-3)
SCALE_WIDTHS = (8, 12, 16, 20, 24, 28)
SCALE_ITERS = 300


def assert_one_finished_run_per_trial(uri: str, sweep: str, root, hashes) -> census.Census:
    found = census.census(uri, sweep, hashes)
    assert not found.problems(), f"{sweep} on {uri}: {found.problems()}"
    mismatches = census.history_mismatches(uri, found, root, sweep)
    assert not mismatches, f"{sweep}: step histories differ from result.json: {mismatches}"
    for spec_hash in hashes:   # the loss curve made it, point by point
        assert census.history(uri, found.run(spec_hash), "train/loss"), f"{spec_hash}: no train/loss history"
    return found


@pytest.mark.timeout(600)
def test_driver_sigkill_then_resume_on_postgres(team_server, spawn, tmp_path):
    uri = team_server.uri
    path, trials = helpers.write_sweep(tmp_path, KILLED, concurrent=2)
    root = tmp_path / "store"
    driver = spawn(["run", str(path), "--storage", str(root), "--tracking-uri", uri], tmp_path / "run.log")

    def one_done_one_running():
        # Running and at most half-way: the two first trials run side by side and end together, so the
        # one still running when the first is done may be seconds from its end; a trial started after
        # that is not.
        done = helpers.done_stamps(root, KILLED)
        running = [t for t in trials if t.spec_hash not in done
                   and 0 < (helpers.tune_reports(root, KILLED, t) or [{}])[-1].get("iteration", 0) <= helpers.MAX_ITERS // 2]
        return done and running and running[0]

    victim = helpers.wait_for(one_done_one_running, 300, "one trial finished and another half-way or less", proc=driver)
    worker_pid = helpers.tune_reports(root, KILLED, victim)[-1]["pid"]
    workers = [p for p in driver.watch() if p.pid == worker_pid]
    os.killpg(driver.pid, signal.SIGKILL)          # the driver's session: its group is the driver's own
    assert driver.wait(timeout=30) == -signal.SIGKILL
    # Ray's trial workers sit in their own groups; they die with the driver's Ray, before resume starts.
    helpers.wait_for(lambda: not any(helpers.alive(w) for w in workers), 60, "the killed sweep's trial worker gone")
    before = helpers.done_stamps(root, KILLED)
    assert victim.spec_hash not in before, "the running trial finished before the kill: the sweep is too short"
    assert 1 <= len(before) < len(trials)

    resume = spawn(["resume", KILLED, "--storage", str(root), "--tracking-uri", uri], tmp_path / "resume.log")
    assert resume.wait(timeout=400) == 0, helpers.tail(resume.output())
    assert f"{len(before)} already finished" in resume.output()

    after = helpers.done_stamps(root, KILLED)
    assert set(after) == {t.spec_hash for t in trials}
    assert {h: after[h] for h in before} == before                 # finished trials were not retrained
    assert_one_finished_run_per_trial(uri, KILLED, root, [t.spec_hash for t in trials])


@pytest.mark.timeout(900)
def test_thirty_trials_two_at_a_time_then_report(team_server, spawn, tmp_path):
    uri = team_server.uri
    path, trials = helpers.write_sweep(tmp_path, SCALE, etas=SCALE_ETAS, widths=SCALE_WIDTHS, concurrent=2,
                                       max_iters=SCALE_ITERS)
    assert len(trials) == 30
    root = tmp_path / "store"
    driver = spawn(["run", str(path), "--storage", str(root), "--tracking-uri", uri], tmp_path / "run.log")
    assert driver.wait(timeout=720) == 0, helpers.tail(driver.output())
    hashes = [t.spec_hash for t in trials]
    assert set(helpers.done_stamps(root, SCALE)) == set(hashes)
    found = census.census(uri, SCALE, hashes)
    assert (found.lost, found.duplicated) == ([], [])
    assert not found.problems(), found.problems()
    mismatches = census.history_mismatches(uri, found, root, SCALE, ["train/loss"])
    assert not mismatches, mismatches

    report = spawn(["report", SCALE, "--storage", str(root), "--tracking-uri", uri], tmp_path / "report.log")
    assert report.wait(timeout=300) == 0, helpers.tail(report.output())
    assert (root / "sweeps" / SCALE / "report" / "index.html").is_file(), helpers.tail(report.output())
