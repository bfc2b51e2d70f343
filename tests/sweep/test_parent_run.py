"""The sweep's parent MLflow run and runs that explain themselves, on real Ray and a real SQLite store:
one parent (kind=sweep) with every trial nested under it, found again on rerun/resume, built by sync for
an old store; its sweep.yaml, grid.csv, outcome counts and note; the report under it; trial notes,
dataset inputs, source tags (git commit) and optional system metrics."""
from __future__ import annotations

import csv
import io
import os
import subprocess
from pathlib import Path

import pytest

from core import keys
from core.vocab import RUN_KIND_SWEEP, RUN_KIND_TRIAL
from sweep import mlflow_runs, run_notes, tracking
from sweep.cli import main
from sweep.config import load_sweep
from sweep.errors import EXIT_OK
from sweep.paths import Layout
from sweep.tracking import TrackingConfig
from tests.conftest import tiny_sweep_text
from tests.sweep.test_sync import SWEEP as OFFLINE, offline_sweep, sync  # noqa: F401 (fixture)
from tests.sweep.test_tracking import free_port, mlflow_env, mlflow_template  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration   # whole sweeps: run by .ci/run's integration step

NAME = "parent"


def all_runs(root: Path, name: str = NAME) -> list:
    client = tracking.make_client(TrackingConfig.for_layout(Layout(root)))
    return mlflow_runs.list_runs(client, client.get_experiment_by_name(name).experiment_id)


def split(runs: list) -> tuple[list, list]:
    parents = [r for r in runs if r.data.tags.get(keys.TAG_KIND) == RUN_KIND_SWEEP]
    return parents, [r for r in runs if r not in parents]


def artifact_text(client, run_id: str, path: str) -> str:
    return Path(client.download_artifacts(run_id, path)).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def swept(tmp_path_factory, ray_session):
    """A 2-trial sweep with system metrics, run through the CLI from inside a fresh git repository."""
    folder = tmp_path_factory.mktemp("parent")
    repo = folder / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "init"], check=True)
    commit = subprocess.run([*git[:3], "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    path = repo / "sweep.yaml"
    path.write_text(tiny_sweep_text(NAME, widths=(16,)) + "tracking: {system_metrics: true}\n")
    root = folder / "store"
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        code = main(["run", str(path), "--storage", str(root)])
    finally:
        os.chdir(cwd)
    return path, root, code, commit


def test_one_parent_with_every_trial_nested_under_it(swept):
    path, root, code, commit = swept
    assert code == EXIT_OK
    parents, trials = split(all_runs(root))
    (parent,) = parents
    sweep = load_sweep(path)
    assert parent.data.tags[keys.TAG_SWEEP] == NAME and parent.info.status == "FINISHED"
    assert {t.data.tags[keys.TAG_SPEC_HASH] for t in trials} == {t.spec_hash for t in sweep.trials}
    for run in trials:
        assert run.data.tags[keys.TAG_KIND] == RUN_KIND_TRIAL
        assert run.data.tags[run_notes.TAG_PARENT] == parent.info.run_id
        assert run.data.tags[run_notes.TAG_SOURCE_NAME] == "tailsweep run"
        assert run.data.tags[run_notes.TAG_GIT_COMMIT] == commit
        assert run.data.tags.get(run_notes.TAG_USER)
    assert parent.data.tags[run_notes.TAG_GIT_COMMIT] == commit


def test_parent_holds_sweep_file_grid_counts_and_note(swept):
    path, root, _, _ = swept
    client = tracking.make_client(TrackingConfig.for_layout(Layout(root)))
    (parent,), trials = split(all_runs(root))
    run_id = parent.info.run_id
    assert artifact_text(client, run_id, "sweep.yaml") == Layout(root).sweep_file(NAME).read_text()
    rows = list(csv.DictReader(io.StringIO(artifact_text(client, run_id, "grid.csv"))))
    sweep = load_sweep(path)
    assert [(r["spec_hash"], r["run_name"]) for r in rows] == [(t.spec_hash, t.name) for t in sweep.trials]
    assert {"eta_over_b", "width", "seed"} <= set(rows[0])
    outcomes = [t.data.tags[keys.TAG_OUTCOME] for t in trials]
    for outcome in ("converged", "capped", "diverged", "failed", "unfinished", "pending"):
        assert parent.data.metrics[keys.outcome_count_key(outcome)] == outcomes.count(outcome)
    note = parent.data.tags[run_notes.TAG_NOTE]
    assert f"Sweep **{NAME}**: 2 trials" in note and "eta_over_b" in note and "Outcomes:" in note


def test_trial_runs_explain_themselves(swept):
    _, root, _, _ = swept
    _, trials = split(all_runs(root))
    for run in trials:
        note = run.data.tags[run_notes.TAG_NOTE]
        assert note.startswith(f"**{run.data.tags[keys.TAG_OUTCOME]}** after {int(run.data.metrics['iterations'])} iterations")
        assert "test accuracy" in note
        if run.data.tags[keys.TAG_OUTCOME] in ("converged", "capped"):
            assert "α̂" in note and "prunable fraction (magnitude, median, ε=0.1" in note
        (given,) = run.inputs.dataset_inputs
        assert given.dataset.name == "synthetic" and len(given.dataset.digest) == 16
        assert '"num_train": 240' in given.dataset.profile and '"num_test": 120' in given.dataset.profile


def test_system_metrics_are_logged_when_asked(swept):
    pytest.importorskip("psutil")
    _, root, _, _ = swept
    _, trials = split(all_runs(root))
    for run in trials:
        assert "system/cpu_utilization_percentage" in run.data.metrics, sorted(run.data.metrics)[:5]


def test_rerun_and_resume_add_no_parent_and_change_nothing(swept, capsys):
    path, root, _, _ = swept
    before = {r.info.run_id: (r.info.status, r.info.end_time, dict(r.data.tags)) for r in all_runs(root)}
    assert main(["run", str(path), "--storage", str(root)]) == EXIT_OK
    assert main(["resume", NAME, "--storage", str(root)]) == EXIT_OK
    after = {r.info.run_id: (r.info.status, r.info.end_time, dict(r.data.tags)) for r in all_runs(root)}
    assert after == before


def test_report_goes_to_the_parent_and_a_down_store_costs_one_line(swept, monkeypatch, capsys):
    _, root, _, _ = swept
    assert main(["report", NAME, "--storage", str(root), "--n-boot", "20"]) == 0
    assert "upload to MLflow" not in capsys.readouterr().err
    client = tracking.make_client(TrackingConfig.for_layout(Layout(root)))
    (parent,), _ = split(all_runs(root))
    names = {f.path for f in client.list_artifacts(parent.info.run_id, "report")}
    assert "report/index.html" in names and "report/figures" in names
    claims = list(csv.DictReader((Layout(root).report_dir(NAME) / "tables" / "claims.csv").open()))
    note = parent.data.tags[run_notes.TAG_NOTE]
    assert run_notes.CLAIMS_HEADING in note and note.count("\n- ") >= len(claims)
    assert all(f"**{row['verdict']}**" in note for row in claims)

    monkeypatch.setattr(tracking, "probe", lambda config: False)   # the store goes away after the read
    assert main(["report", NAME, "--storage", str(root), "--n-boot", "20", "--out", str(root / "r2")]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "skipped" in line]
    assert len(err) == 1 and "upload to MLflow" in err[0] and (root / "r2" / "index.html").is_file()


def test_old_store_gains_one_parent_and_tags_on_next_sync(offline_sweep: Layout, capsys):
    """A store made before parents: runs without kind/parent tags or notes, no parent run."""
    sync(offline_sweep)
    client = tracking.make_client(TrackingConfig.for_layout(offline_sweep))
    exp_id = client.get_experiment_by_name(OFFLINE).experiment_id
    for run in mlflow_runs.list_runs(client, exp_id):
        if run.data.tags.get(keys.TAG_KIND) == RUN_KIND_SWEEP:
            client.delete_run(run.info.run_id)
            continue
        for tag in (keys.TAG_KIND, run_notes.TAG_PARENT, run_notes.TAG_NOTE):
            client.delete_tag(run.info.run_id, tag)
    parents, trials = split(mlflow_runs.list_runs(client, exp_id))
    assert not parents and len(trials) == 3 and all(keys.TAG_KIND not in r.data.tags for r in trials)

    report = sync(offline_sweep)
    assert report.parent_created and report.runs_created == 0 and report.points == 0
    parents, trials = split(mlflow_runs.list_runs(client, exp_id))
    (parent,) = parents
    assert all(r.data.tags[keys.TAG_KIND] == RUN_KIND_TRIAL and r.data.tags[run_notes.TAG_PARENT] == parent.info.run_id
               and run_notes.TAG_NOTE in r.data.tags for r in trials)
    assert parent.data.metrics[keys.outcome_count_key("converged")] == 3
    assert {f.path for f in client.list_artifacts(parent.info.run_id)} >= {"sweep.yaml", "grid.csv"}
    again = sync(offline_sweep)
    assert (again.parent_created, again.in_sync, again.uploaded) == (False, 3, 0)
    assert len(split(mlflow_runs.list_runs(client, exp_id))[0]) == 1
