"""Fault 6: two trials start at once on a fresh SQLite store (no schema race).
Fault 7: rerunning (or resuming) a finished sweep trains nothing and creates no runs.

Both use the session's undisturbed reference sweep (conftest.reference), run through the CLI in its own
process on a storage root with no MLflow database yet, 2 trials at a time."""
from __future__ import annotations

import pytest

from core import keys
from sweep.paths import Layout
from tests.reliability import helpers

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(420)]


def _spans(reference) -> list[tuple[float, float]]:
    """(first, last) report timestamp of each trial, from Tune's own records."""
    out = []
    for trial in reference.trials:
        stamps = [r["timestamp"] for r in helpers.tune_reports(reference.root, reference.sweep, trial)]
        out.append((min(stamps), max(stamps)))
    return out


def test_concurrent_trials_on_a_fresh_sqlite_store(reference, reference_records):
    assert reference.fresh_store and reference.exit_code == 0, helpers.tail(reference.output)
    # The trials really did run side by side: some two trials' report spans overlap.
    spans = sorted(_spans(reference))
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), spans
    # ... and no trial met a schema race or went offline (either would leave a trace in the log).
    for trace in ("already exists", "OperationalError", "unreachable", "Traceback"):
        assert trace not in reference.output, trace
    assert set(reference_records) == {t.spec_hash for t in reference.trials}     # one run per trial
    for spec_hash, record in reference_records.items():
        assert (record["status"], record["outcome"]) == ("FINISHED", "capped")
        assert record["name"] == reference.trial(spec_hash).name
        files = helpers.trial_files(reference.root, reference.sweep, spec_hash)
        assert record["histories"] == helpers.trial_dir_histories(files)   # every step point, exactly once


def _snapshot(reference) -> dict:
    layout = Layout(reference.root)
    return {"done": helpers.done_stamps(reference.root, reference.sweep),
            "runs": sorted((r.info.run_id, r.info.status, r.info.end_time)
                           for r in helpers.trial_runs(reference.uri, reference.sweep)),
            # the sweep's one parent run: a rerun must not touch it either
            "parent": sorted((r.info.run_id, r.info.status, r.info.end_time, tuple(sorted(r.data.metrics.items())))
                             for r in helpers.all_runs(reference.uri, reference.sweep)
                             if r.data.tags.get(keys.TAG_KIND) == "sweep"),
            "tune": sorted((p.name, p.stat().st_mtime_ns) for p in layout.ray_dir(reference.sweep).rglob("*")),
            "trial_files": sorted((p.relative_to(layout.root).as_posix(), p.stat().st_mtime_ns)
                                  for p in layout.trials_dir(reference.sweep).rglob("*"))}


@pytest.mark.parametrize("command", ["run", "resume"])
def test_rerun_of_a_finished_sweep_trains_nothing_and_creates_no_runs(command, reference, reference_records,
                                                                      spawn, tmp_path):
    before = _snapshot(reference)
    assert len(before["done"]) == len(before["runs"]) == len(reference.trials) and len(before["parent"]) == 1
    target = str(reference.file) if command == "run" else reference.sweep
    # -v: Ray's start-up banner would show (the quiet console hides it) if Ray were started at all
    proc = spawn([command, target, "--storage", str(reference.root), "-v"], tmp_path / f"{command}.log")
    assert proc.wait(timeout=120) == 0, helpers.tail(proc.output())
    out = proc.output()
    assert f"{len(reference.trials)} trials, {len(reference.trials)} already finished" in out
    assert f"sweep {reference.sweep}: {len(reference.trials)} capped" in out
    assert "Started a local Ray instance" not in out          # nothing to run: Ray is not even started
    assert _snapshot(reference) == before                      # no file, run or Tune state touched
    runs = helpers.runs_per_hash(reference.uri, reference.sweep)
    assert {h: len(r) for h, r in runs.items()} == {t.spec_hash: 1 for t in reference.trials}
    assert all(r[0].data.tags[keys.TAG_OUTCOME] == "capped" for r in runs.values())
