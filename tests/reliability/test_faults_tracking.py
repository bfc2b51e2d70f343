"""Fault 4: the tracking server goes down while trials run; `tailsweep sync` uploads once it is back.

A real `mlflow server` on 127.0.0.1 is killed once the sweep's first trials have opened their runs and are
part-way. The sweep must still finish every trial (records in the trial directories); after the server
is started again on the same port and database, `tailsweep sync NAME` must make the store hold exactly
what an undisturbed sweep's store holds: one run per trial, same params, metrics, step histories and
artifacts. A second sync uploads nothing."""
from __future__ import annotations

import json

import pytest

from tests.reliability import helpers

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(480)]
NAME = "outage"


def test_store_outage_mid_sweep_then_sync_equals_an_undisturbed_sweep(spawn, tmp_path, reference,
                                                                      reference_records):
    server = helpers.MlflowServer(tmp_path)
    server.start()
    try:
        path, trials = helpers.write_sweep(tmp_path, NAME)
        hashes = [t.spec_hash for t in trials]
        root = tmp_path / "store"
        driver = spawn(["run", str(path), "--storage", str(root), "--tracking-uri", server.uri], tmp_path / "run.log")

        def runs_open_and_midway():
            opened = []
            for trial in trials:
                files = helpers.trial_files(root, NAME, trial.spec_hash)
                if (files.run_id.exists() and json.loads(files.run_id.read_text())["runs"].get(server.uri)
                        and helpers.checkpoints(root, NAME, trial) and not files.is_done()):
                    opened.append(trial)
            return opened

        helpers.wait_for(runs_open_and_midway, 240, "trials logging to the server, part-way", proc=driver)
        server.stop()
        assert driver.wait(timeout=300) == 0, helpers.tail(driver.output())
        assert "unreachable" in driver.output()          # the outage was noticed (and only warned about)

        offline = [h for h in hashes if not helpers.trial_files(root, NAME, h).synced.exists()]
        assert all(helpers.trial_files(root, NAME, h).is_done() for h in hashes)   # nothing lost
        assert offline, "every trial reached the store: the outage came too late to test anything"

        server.start()
        before = helpers.runs_per_hash(server.uri, NAME)
        assert any(h not in before or before[h][0].info.status != "FINISHED" for h in offline)
        sync = spawn(["sync", NAME, "--storage", str(root)], tmp_path / "sync.log")   # URI from the saved file
        assert sync.wait(timeout=180) == 0, helpers.tail(sync.output())
        assert f"{len(hashes)} finished trials: {len(offline)} uploaded" in sync.output()
        records = helpers.store_records(server.uri, NAME, hashes)
        for trial in trials:                                          # = an undisturbed sweep
            helpers.assert_same_run(records[trial.spec_hash], reference_records[trial.spec_hash], trial.name)

        again = spawn(["sync", NAME, "--storage", str(root)], tmp_path / "sync-again.log")
        assert again.wait(timeout=180) == 0, helpers.tail(again.output())
        assert f"0 uploaded (0 new runs, 0 metric points, 0 files), {len(hashes)} already in sync" in again.output()
        assert helpers.store_records(server.uri, NAME, hashes) == records
    finally:
        server.stop()
