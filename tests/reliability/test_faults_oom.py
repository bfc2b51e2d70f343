"""Fault 5: Ray's memory monitor kills the trials; and Tune's own loop crashes (Tuner.fit() raises).

Memory monitor: Ray kills a worker when the node's memory use passes RAY_memory_usage_threshold (a
fraction of the node's memory). Set far below what any machine running Ray uses (0.1%), it kills every
trial worker deterministically, whatever else the machine is doing; that is the real memory-monitor code
path, not a simulation. The sweep must end with a clear message and exit 1, and `tailsweep resume
--restart-errored` (Tuner.restore(restart_errored=True)), with the threshold back to normal, must finish it.

Tuner.fit() raising: Ray 2.60 turns a memory-monitor kill into a trial error; an older Ray crashed the
whole fit() (seen with older Ray versions). That crash is injected the only deterministic way: a Tune callback
(armed by a file, because Tuner.restore brings callbacks back) raises inside Tune's control loop
mid-training. `tailsweep run` must say what stopped it in one line and exit 1; `tailsweep resume`
continues the trials from their checkpoints."""
from __future__ import annotations

import sys
import textwrap

import pytest

from sweep.paths import Layout
from tests.reliability import helpers

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(420)]

CRASHING_RUN = textwrap.dedent("""\
    import sys
    from functools import partial
    from pathlib import Path
    from ray import tune
    from sweep import launch
    from sweep.cli import main

    class Crash(tune.Callback):
        def __init__(self, armed):
            self.armed = armed

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if result.get("iteration", 0) >= 600 and self.armed.exists():
                self.armed.unlink()
                raise RuntimeError("injected: Tune's control loop crashed")

    armed = Path(sys.argv[1])
    armed.touch()
    launch.build_tuner = partial(launch.build_tuner, callbacks=[Crash(armed)])
    sys.exit(main(sys.argv[2:]))
""")


def _assert_finished_like_the_reference(root, name, trials, reference, reference_records):
    records = helpers.store_records(Layout(root).tracking_uri, name, [t.spec_hash for t in trials])
    for trial in trials:
        files = helpers.trial_files(root, name, trial.spec_hash)
        assert files.is_done() and not files.failed.exists()
        helpers.assert_same_run(records[trial.spec_hash], reference_records[trial.spec_hash], trial.name)
        assert helpers.result_without_timing(files) == helpers.result_without_timing(
            helpers.trial_files(reference.root, reference.sweep, trial.spec_hash))


def test_memory_monitor_kill_ends_clearly_and_resume_recovers(spawn, tmp_path, reference, reference_records):
    name = "oom"
    path, trials = helpers.write_sweep(tmp_path, name, etas=(1.0e-3,), widths=(16, 24), max_failures=0)
    root = tmp_path / "store"
    starved = {"RAY_memory_usage_threshold": "0.001", "RAY_memory_monitor_refresh_ms": "100"}
    run = spawn(["run", str(path), "--storage", str(root)], tmp_path / "run.log", env=starved)
    assert run.wait(timeout=240) == 1, helpers.tail(run.output())                   # 1: trials failed
    out = run.output()
    assert out.count("ray.exceptions.OutOfMemoryError") >= len(trials)           # the monitor's own verdict
    lines = [line for line in out.splitlines() if line.startswith("tailsweep: ")]
    assert f"tailsweep: {len(trials)} trials errored" in "\n".join(lines), lines
    assert f"continue with `tailsweep resume {name} --storage {root}`" in "\n".join(lines), lines
    assert not helpers.done_stamps(root, name)

    resume = spawn(["resume", name, "--restart-errored", "--storage", str(root)], tmp_path / "resume.log")
    assert resume.wait(timeout=300) == 0, helpers.tail(resume.output())
    _assert_finished_like_the_reference(root, name, trials, reference, reference_records)


def test_tune_crash_mid_sweep_gives_one_clear_line_and_resume_continues(spawn, tmp_path, reference,
                                                                       reference_records):
    name = "tune-crash"
    path, trials = helpers.write_sweep(tmp_path, name, etas=(1.0e-3,), widths=(16, 24))
    root = tmp_path / "store"
    (tmp_path / "crashing_run.py").write_text(CRASHING_RUN)
    run = helpers.Spawned([sys.executable, str(tmp_path / "crashing_run.py"), str(tmp_path / "armed"),
                           "run", str(path), "--storage", str(root)], tmp_path / "run.log")
    spawn.started.append(run)
    assert run.wait(timeout=240) == 1, helpers.tail(run.output())
    lines = [line for line in run.output().splitlines() if line.startswith("tailsweep: ")]
    assert f"tailsweep: sweep {name} stopped: RuntimeError: injected: Tune's control loop crashed" in lines, lines
    assert f"tailsweep: {len(trials)} trials not finished; finished ones are kept; continue with " \
           f"`tailsweep resume {name} --storage {root}`" in lines, lines
    assert not helpers.done_stamps(root, name)

    resume = spawn(["resume", name, "--storage", str(root)], tmp_path / "resume.log")
    assert resume.wait(timeout=300) == 0, helpers.tail(resume.output())
    _assert_finished_like_the_reference(root, name, trials, reference, reference_records)
    # At least one trial went on from a checkpoint (the crash came at iteration 600, past checkpoints at
    # 200 and 400) rather than from iteration 0, whose first report is at 100.
    restarts = [helpers.attempts(helpers.tune_reports(root, name, t))[-1][0]["iteration"] for t in trials]
    assert max(restarts) > 200, restarts
