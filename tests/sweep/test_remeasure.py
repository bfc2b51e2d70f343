"""`tailsweep remeasure`: a store measured under older definitions is brought up to this version from its
saved weights, without training, in place (no new runs), and a second call changes nothing."""
from __future__ import annotations

import json

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from core import keys
from core.fit import fit_of_metrics
from core.version import MEASURE_VERSION
from core.vocab import FITS
from sweep import measures_table
from sweep.cli import main
from sweep.errors import EXIT_BAD_INPUT, EXIT_OK
from sweep.paths import Layout
from sweep.trial_store import TrialStore
from tests.conftest import tiny_sweep_text
from tests.sweep.test_tracking import run_table

pytestmark = pytest.mark.integration   # whole sweeps: run by .ci/run's integration step

PERTURBED = ("alpha/avg/uni/layer0", "prunable/avg/singular/median/eps0.1/layer2")


def _runs(uri: str, name: str):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    trial_runs = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get(keys.TAG_KIND) != "sweep"]
    return client, trial_runs


@pytest.fixture
def old_store(tmp_path, write_sweep, ray_session, capsys):
    """A finished tiny sweep turned into one 'made before versioning': records without measure_version,
    two measurements off (as an older definition would give), and runs that hold those values (a run
    metric, and a row of the run's table)."""
    path = write_sweep(tiny_sweep_text("old", etas=(2e-3,), widths=(16, 24), max_iters=150))
    root = tmp_path / "root"
    assert main(["run", str(path), "--storage", str(root)]) == EXIT_OK
    layout = Layout(root)
    store = TrialStore(layout, "old")
    truth = {}
    client, runs = _runs(layout.tracking_uri, "old")
    by_hash = {r.data.tags[keys.TAG_SPEC_HASH]: r for r in runs}
    for spec_hash in store.done_hashes():
        files = store.files(spec_hash)
        record = json.loads(files.result.read_text())
        truth[spec_hash] = dict(record["metrics"])
        record.pop("measure_version")
        for key in PERTURBED:
            record["metrics"][key] = record["metrics"][key] + 0.125
        files.result.write_text(json.dumps(record))
        run = by_hash[spec_hash]
        for key in PERTURBED:
            if not keys.is_table_key(key):
                client.log_metric(run.info.run_id, key, record["metrics"][key], step=record["iterations"])
        table = measures_table.table_bytes(record["metrics"])
        files.table.write_bytes(table)
        client.log_artifact(run.info.run_id, str(files.table))
        client.set_tag(run.info.run_id, keys.TAG_TABLE, measures_table.digest(table))
        client.delete_tag(run.info.run_id, keys.TAG_MEASURE_VERSION)
    capsys.readouterr()
    return layout, truth


def test_remeasure_brings_an_old_store_up_to_date_in_place_and_twice_changes_nothing(old_store, capsys):
    layout, truth = old_store
    store = TrialStore(layout, "old")
    assert all(store.load_result(h).measure_version == 1 for h in store.done_hashes())
    before = {h: store.files(h).done.read_text() for h in store.done_hashes()}
    trained = {h: store.load_result(h).history for h in store.done_hashes()}

    assert main(["remeasure", "old", "--storage", str(layout.root)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "2 finished trials, 2 to remeasure" in out and "2 runs updated" in out
    client, runs = _runs(layout.tracking_uri, "old")
    assert len(runs) == 2                                             # no run created
    for spec_hash in store.done_hashes():
        result = store.load_result(spec_hash)
        assert result.measure_version == MEASURE_VERSION
        assert result.history == trained[spec_hash]                   # training untouched
        assert store.files(spec_hash).done.read_text() == before[spec_hash]
        for key in PERTURBED:                                         # recomputed: the true values again
            assert result.metrics[key] == pytest.approx(truth[spec_hash][key], rel=1e-9)
    for run in runs:
        record = store.load_result(run.data.tags[keys.TAG_SPEC_HASH])
        assert run.data.tags[keys.TAG_MEASURE_VERSION] == str(MEASURE_VERSION)
        assert run.data.tags[keys.TAG_FIT] == fit_of_metrics(record.status, record.metrics) in FITS
        held = {**run.data.metrics, **run_table(client, run)}
        for key in PERTURBED:
            assert held[key] == pytest.approx(record.metrics[key], rel=1e-12)
        assert run.data.tags[keys.TAG_TABLE] == measures_table.digest(store.files(record.spec.spec_hash()).table.read_bytes())
        assert run.data.metrics["train/loss"] == record.metrics.get("train/loss", run.data.metrics["train/loss"])
    metric_keys = (*(k for k in PERTURBED if not keys.is_table_key(k)), "train/loss")
    points = {r.info.run_id: {k: len(client.get_metric_history(r.info.run_id, k)) for k in metric_keys} for r in runs}
    tables = {r.info.run_id: r.data.tags[keys.TAG_TABLE] for r in runs}

    assert main(["remeasure", "old", "--storage", str(layout.root)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "0 to remeasure" in out and "0 runs updated (0 metric points)" in out
    client, again = _runs(layout.tracking_uri, "old")
    assert len(again) == 2
    assert {r.info.run_id: {k: len(client.get_metric_history(r.info.run_id, k)) for k in metric_keys}
            for r in again} == points
    assert {r.info.run_id: r.data.tags[keys.TAG_TABLE] for r in again} == tables

    # --all recomputes every trial; the values are the same, so MLflow gets nothing new
    assert main(["remeasure", "old", "--all", "--storage", str(layout.root)]) == EXIT_OK
    assert "2 to remeasure" in (out := capsys.readouterr().out) and "0 runs updated (0 metric points)" in out


def test_remeasure_bad_input_is_one_line(tmp_path, capsys):
    assert main(["remeasure", "nothere", "--storage", str(tmp_path)]) == EXIT_BAD_INPUT
    assert main(["remeasure", "x", "--device", "tpu", "--storage", str(tmp_path)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[1].startswith("tailsweep: error: --device: unknown value 'tpu'")
