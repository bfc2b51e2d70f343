"""The sweep on real Ray and a real MLflow SQLite store: every run, metric and artifact; rerun; resume;
a larger grid; a failed trial; fractional-GPU packing on logical GPUs."""
from __future__ import annotations

import json
import math
import os
import signal
import sys
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
import torch
from ray import tune

from core import keys
from core.callbacks import SnapshotCallback
from core.pipeline import run_trial
from core.result import TrialResult
from sweep import launch
from sweep.cli import main
from sweep.config import load_sweep
from sweep.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_TRIALS_FAILED
from sweep.paths import Layout, TrialFiles
from sweep.tracking import TrackingConfig, Tracker
from sweep.trainable import CHECKPOINT_CHECK_ITERS, TrialContext, make_plan
from sweep.trial_store import TrialStore
from tests.conftest import tiny_sweep_text
from tests.sweep.test_tracking import run_table

# Whole sweeps: run by .ci/run's integration step, on the session's one Ray.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_session")]


def _client(root: Path):
    from mlflow import MlflowClient
    return MlflowClient(Layout(root).tracking_uri)


def _runs(root: Path, sweep: str) -> list:
    client = _client(root)
    experiment = client.get_experiment_by_name(sweep)
    runs = [] if experiment is None else client.search_runs([experiment.experiment_id])
    return [r for r in runs if r.data.tags.get(keys.TAG_KIND) != "sweep"]   # trial runs (the parent: test_parent_run)


def _artifacts(client, run_id: str, path: str | None = None) -> set[str]:
    out: set[str] = set()
    for info in client.list_artifacts(run_id, path):
        out |= _artifacts(client, run_id, info.path) if info.is_dir else {info.path}
    return out


def _same(logged: float, value: float) -> bool:
    """MLflow stores NaN as NaN but clamps +-inf to +-float max."""
    if math.isnan(value):
        return math.isnan(logged)
    if math.isinf(value):
        return logged == math.copysign(sys.float_info.max, value)
    return logged == pytest.approx(value)


def _done_mtimes(root: Path, sweep: str) -> dict[str, int]:
    trials = Layout(root).trials_dir(sweep)
    return {p.name: TrialFiles(p).done.stat().st_mtime_ns for p in trials.iterdir() if TrialFiles(p).is_done()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path, int]:
    """A 4-trial sweep run once through the CLI: (sweep file, storage root, exit code)."""
    folder = tmp_path_factory.mktemp("e2e")
    path = folder / "tiny.yaml"
    path.write_text(tiny_sweep_text("tiny"))
    root = folder / "store"
    return path, root, main(["run", str(path), "--storage", str(root)])


def test_end_to_end_every_run_metric_and_artifact(finished):
    path, root, code = finished
    assert code == EXIT_OK
    sweep = load_sweep(path)
    client = _client(root)
    experiment = client.get_experiment_by_name("tiny")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert experiment.artifact_location == (root / "artifacts" / "tiny").as_uri()
    runs = {r.data.tags[keys.TAG_SPEC_HASH]: r for r in _runs(root, "tiny")}
    assert set(runs) == {t.spec_hash for t in sweep.trials}           # one run per trial, no more
    families = set()
    for trial in sweep.trials:
        run = runs[trial.spec_hash]
        files = TrialFiles(Layout(root).trial_dir("tiny", trial.spec_hash))
        result = TrialResult.from_json(files.result.read_text())
        assert files.is_done() and result.spec == trial.spec
        assert run.info.run_name == trial.name and run.info.status == "FINISHED"
        assert run.data.tags[keys.TAG_OUTCOME] == result.status
        assert run.data.tags[keys.TAG_SWEEP] == "tiny"
        assert run.data.params == {k: str(v) for k, v in trial.spec.flat().items()}
        table = run_table(client, run)
        assert not set(table) & set(run.data.metrics) and len(run.data.metrics) <= 200
        for key, value in result.metrics.items():      # every final metric, same value: a run metric ...
            if not keys.is_table_key(key):
                assert _same(run.data.metrics[key], value), key
            else:                                      # ... or a row of the run's table, exact
                assert table[key] == value or (math.isnan(value) and math.isnan(table[key])), key
        held = {**run.data.metrics, **table}
        step_keys = {k for _, k, _ in result.history}
        for key in ("train/loss", "test/acc", "alpha/current/multi/layer0"):   # full step histories
            assert key in step_keys
            history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
            assert history == sorted((s, pytest.approx(v)) for s, k, v in result.history if k == key)
        families |= {k.split("/")[0] for k in held}
        assert _artifacts(client, run.info.run_id) == {
            "spec.json", "result.json", keys.TABLE_ARTIFACT, "weights/init.safetensors", "weights/final.safetensors",
            "weights/avg.safetensors", "plots/alpha_trajectory.png", "plots/pruning_curves.png",
            "plots/tail_histogram.png"}
    assert families >= {"eval", "gap", "alpha", "alpha_raw", "prunable", "error", "pruned_acc", "pruned_loss",
                        "remaining", "sv_removed", "time", "iterations", "train", "test", "batch"}
    tune_dirs = {p.name for p in Layout(root).ray_dir("tiny").iterdir() if p.is_dir()}
    assert {f"{t.name}_{t.spec_hash[:8]}" for t in sweep.trials} <= tune_dirs   # readable trial dirs


def test_status_counts_outcomes(finished, capsys):
    path, root, _ = finished
    capsys.readouterr()
    assert main(["status", "tiny", "--storage", str(root), "--trials"]) == EXIT_OK
    out = capsys.readouterr().out
    outcomes = [json.loads(p.read_text())["status"] for p in Layout(root).trials_dir("tiny").glob("*/DONE")]
    assert len(outcomes) == 4
    expected = ", ".join(f"{outcomes.count(o)} {o}" for o in keys.OUTCOMES if outcomes.count(o))
    assert f"4 trials: {expected}" in out
    assert sum(1 for line in out.splitlines() if line.startswith("  ")) == 4


def test_rerun_trains_nothing_and_larger_grid_adds_only_new_trials(finished, write_sweep, capsys):
    path, root, _ = finished
    before_runs = {r.info.run_id for r in _runs(root, "tiny")}
    before_done = _done_mtimes(root, "tiny")
    tune_state = sorted(Layout(root).ray_dir("tiny").glob("experiment_state*.json"))
    capsys.readouterr()
    assert main(["run", str(path), "--storage", str(root)]) == EXIT_OK
    assert "4 already finished" in capsys.readouterr().out
    assert {r.info.run_id for r in _runs(root, "tiny")} == before_runs
    assert _done_mtimes(root, "tiny") == before_done
    assert sorted(Layout(root).ray_dir("tiny").glob("experiment_state*.json")) == tune_state  # Tune not run

    bigger = write_sweep(tiny_sweep_text("tiny", widths=(16, 32, 24)), "bigger.yaml")
    assert main(["run", str(bigger), "--storage", str(root)]) == EXIT_OK
    after = _runs(root, "tiny")
    assert len(after) == 6 and before_runs < {r.info.run_id for r in after}
    done = _done_mtimes(root, "tiny")
    assert len(done) == 6 and {h: done[h] for h in before_done} == before_done   # old ones untouched


class _Interrupt(tune.Callback):
    """Ctrl-C, the way Tune hears it (SIGUSR1 is its stop signal), once: after the first completed trial or
    the first checkpoint. Armed by a file, because Tuner.restore brings the run's callbacks back too."""

    def __init__(self, armed: Path, on: str):
        self.armed, self.on = armed, on
        armed.touch()

    def _fire(self, event: str) -> None:
        if event == self.on and self.armed.exists():
            self.armed.unlink()
            os.kill(os.getpid(), signal.SIGUSR1)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._fire("trial_complete")

    def on_checkpoint(self, iteration, trials, trial, checkpoint, **info):
        self._fire("checkpoint")


def test_interrupted_sweep_resumes_to_one_run_per_trial(write_sweep, tmp_path, monkeypatch, capsys):
    path = write_sweep(tiny_sweep_text("stopped", etas=(1.0e-3, 2.0e-3, 4.0e-3), widths=(16,), concurrent=1))
    root = tmp_path / "store"
    with monkeypatch.context() as patch:
        patch.setattr(launch, "build_tuner",
                      partial(launch.build_tuner, callbacks=[_Interrupt(tmp_path / "armed", "trial_complete")]))
        assert main(["run", str(path), "--storage", str(root)]) == EXIT_INTERRUPTED
    first = _done_mtimes(root, "stopped")
    assert 1 <= len(first) < 3
    capsys.readouterr()
    assert main(["resume", "stopped", "--storage", str(root)]) == EXIT_OK
    assert f"{len(first)} already finished" in capsys.readouterr().out
    done = _done_mtimes(root, "stopped")
    assert len(done) == 3 and {h: done[h] for h in first} == first      # finished trials not retrained
    runs = _runs(root, "stopped")
    assert sorted(r.data.tags[keys.TAG_SPEC_HASH] for r in runs) == sorted(done)   # exactly one run each
    assert all(r.info.status == "FINISHED" for r in runs)


def test_failed_trial_exits_1_and_is_tagged_failed(write_sweep, tmp_path, capsys):
    empty = tmp_path / "no-mnist-here"
    empty.mkdir()
    text = tiny_sweep_text("broken", etas=(1.0e-3,), widths=(16,)).replace(
        "dataset: synthetic", f"dataset: mnist, root: {empty}")
    root = tmp_path / "store"
    assert main(["run", str(write_sweep(text)), "--storage", str(root)]) == EXIT_TRIALS_FAILED
    (run,) = _runs(root, "broken")
    assert run.data.tags[keys.TAG_OUTCOME] == "failed" and run.info.status == "FAILED"
    assert "mnist files missing" in run.data.tags["tailsweep.error"]
    assert not list(Layout(root).trials_dir("broken").glob("*/DONE"))


class _Concurrency(tune.Callback):
    def __init__(self):
        self.most, self.resources = 0, []

    def _count(self, trials):
        self.most = max(self.most, sum(1 for t in trials if t.status == "RUNNING"))

    def on_trial_start(self, iteration, trials, trial, **info):
        self.resources.append(dict(trial.placement_group_factory.required_resources))
        self._count(trials)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self._count(trials)


def test_quarter_gpu_trials_pack_four_to_a_logical_gpu_and_run_on_cpu(write_sweep, tmp_path):
    # ray_session declares one logical GPU; torch here has no CUDA, so each trial must fall back to CPU.
    sweep = load_sweep(write_sweep(tiny_sweep_text("packed", etas=(1.0e-3, 2.0e-3), widths=(16, 32), max_iters=600,
                                                   cpus=0.5, gpus=0.25, concurrent=4)))
    layout = Layout(tmp_path / "store")
    tracking = TrackingConfig.for_layout(layout)
    Tracker(tracking).ensure_experiment("packed")
    context = TrialContext(str(layout.root), "packed", tracking, make_plan(sweep.trials), 0.0)
    seen = _Concurrency()
    results = launch.build_tuner(layout, "packed", sweep.trials, context, sweep.resources, callbacks=[seen]).fit()
    assert [r.error for r in results] == [None] * 4
    assert seen.resources == [{"CPU": 0.5, "GPU": 0.25}] * 4
    assert seen.most == 4                       # four quarter-GPU trials at once on one GPU
    assert len(_done_mtimes(layout.root, "packed")) == 4


def test_restored_trial_continues_from_its_checkpoint_bit_for_bit(write_sweep, tmp_path, monkeypatch, capsys):
    path = write_sweep(tiny_sweep_text("midway", etas=(4.0e-3,), widths=(16,), max_iters=2000))
    root = tmp_path / "store"
    with monkeypatch.context() as patch:
        patch.setattr(launch, "build_tuner",
                      partial(launch.build_tuner, callbacks=[_Interrupt(tmp_path / "armed", "checkpoint")]))
        assert main(["run", str(path), "--storage", str(root)]) == EXIT_INTERRUPTED
    assert not _done_mtimes(root, "midway")
    capsys.readouterr()
    assert main(["resume", "midway", "--storage", str(root), "-v"]) == EXIT_OK
    # The restored Tuner shows this command's table (-v: with Tune's resource line), not the quiet one the
    # interrupted run pickled with it.
    shown = capsys.readouterr().out
    assert "== sweep midway ==" in shown and "| outcome " in shown and "Logical resource usage" in shown
    (trial,) = load_sweep(path).trials
    (tune_dir,) = [p for p in Layout(root).ray_dir("midway").iterdir() if p.name.startswith(trial.name)]
    progress = pd.read_csv(tune_dir / "progress.csv")
    restarts = progress.index[progress["iterations_since_restore"] == 1].tolist()
    assert len(restarts) == 2                     # the first start and the restore
    first_after_restore = progress["iteration"][restarts[1]]
    assert first_after_restore > CHECKPOINT_CHECK_ITERS   # continued from a checkpoint, not from iteration 0
    # ... and bit-for-bit: the same final weights as one uninterrupted run (1 thread, as in the trial)
    expected: dict = {}

    def keep_final(tag, weights):
        if tag == "final":
            expected.update(weights)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        direct = run_trial(trial.spec, [SnapshotCallback(keep_final)])
    finally:
        torch.set_num_threads(threads)
    store = TrialStore(Layout(root), "midway")
    recorded = TrialResult.from_json(store.files(trial.spec_hash).result.read_text())
    assert (direct.status, direct.iterations) == (recorded.status, recorded.iterations)
    saved = store.load_snapshot(trial.spec_hash, "final")
    assert saved.keys() == expected.keys() and all(torch.equal(saved[k], expected[k]) for k in saved)
    (run,) = _runs(root, "midway")                # one MLflow run, no step point logged twice
    history = _client(root).get_metric_history(run.info.run_id, "train/loss")
    assert len({m.step for m in history}) == len(history)
