"""A store written before placement left the spec: every spec.json and result.json holds train.device,
and so may the saved sweep file. status, sync, resume and report still work on it."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sweep.cli import main
from sweep.errors import EXIT_OK
from sweep.paths import Layout
from sweep.trial_store import TrialStore
from tests.sweep.test_tracking import mlflow_env, mlflow_template  # noqa: F401 (fixtures)
from tests.sweep.test_trial_store import make_result, make_spec, make_weights

SWEEP = "legacy"
WIDTHS = (16, 32)
SAVED = f"""\
# written by `tailsweep run legacy.yaml` before resources.device existed
name: {SWEEP}
model: {{arch: fcn, depth: 3}}
train: {{device: auto}}
compress: {{methods: [magnitude, node], ratios: [0.5], eps: [0.1]}}
grid: {{eta_over_b: [0.001], width: {list(WIDTHS)}}}
"""


def _with_train_device(path: Path, spec_of=lambda data: data) -> None:
    data = json.loads(path.read_text())
    spec_of(data)["train"]["device"] = "auto"
    path.write_text(json.dumps(data, indent=1, sort_keys=True))


@pytest.fixture
def old_store(tmp_path: Path, mlflow_template: Path) -> Layout:  # noqa: F811
    layout = Layout(tmp_path / "root")
    layout.root.mkdir()
    shutil.copy(mlflow_template, layout.tracking_uri.removeprefix("sqlite:///"))
    store = TrialStore(layout, SWEEP)
    for width in WIDTHS:
        result = make_result(make_spec(width=width))
        store.save_snapshot(result.spec.spec_hash(), "avg", make_weights(width))
        assert store.write_result(result)
        files = store.files(result.spec.spec_hash())
        _with_train_device(files.spec)
        _with_train_device(files.result, lambda data: data["spec"])
    layout.sweep_file(SWEEP).write_text(SAVED)
    return layout


def test_status_sync_resume_and_report_read_records_that_hold_train_device(old_store, capsys):
    root = str(old_store.root)
    hashes = sorted(make_spec(width=w).spec_hash() for w in WIDTHS)
    assert TrialStore(old_store, SWEEP).hashes() == hashes
    assert '"device": "auto"' in TrialStore(old_store, SWEEP).files(hashes[0]).result.read_text()

    assert main(["status", SWEEP, "--storage", root]) == EXIT_OK
    assert "2 trials: 2 converged" in capsys.readouterr().out

    assert main(["sync", SWEEP, "--storage", root]) == EXIT_OK
    assert "2 finished trials: 2 uploaded (2 new runs" in capsys.readouterr().out
    assert main(["sync", SWEEP, "--storage", root]) == EXIT_OK      # idempotent on old records too
    assert "0 uploaded (0 new runs, 0 metric points, 0 files), 2 already in sync" in capsys.readouterr().out

    assert main(["resume", SWEEP, "--storage", root]) == EXIT_OK    # nothing to train: Ray never starts
    assert "2 trials, 2 already finished" in capsys.readouterr().out

    assert main(["report", SWEEP, "--storage", root, "--n-boot", "20"]) == EXIT_OK
    page = Path(capsys.readouterr().out.strip())
    assert page == old_store.report_dir(SWEEP) / "index.html" and page.is_file()


def test_status_shows_train_accuracy_and_underfit(tmp_path, capsys):
    """A capped trial at 53% train accuracy is a finished trial, but not a fit: status says so."""
    import dataclasses

    from core import keys

    layout = Layout(tmp_path / "root")
    store = TrialStore(layout, SWEEP)
    fits = {}
    for width, status, acc in ((16, "capped", 0.53), (32, "converged", 1.0)):
        result = make_result(make_spec(width=width), status=status)
        result = dataclasses.replace(result, metrics={**result.metrics, keys.eval_key("final", "train", "acc"): acc})
        assert store.write_result(result, plots=False)
        fits[result.spec.spec_hash()] = (status, acc)
    layout.sweep_file(SWEEP).write_text(SAVED)
    assert main(["status", SWEEP, "--storage", str(layout.root), "--trials"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "note: 1 capped trial(s) underfit" in out
    for spec_hash, (status, acc) in fits.items():
        line = next(line for line in out.splitlines() if spec_hash in line)
        assert status in line and f"train acc {acc:.3f}" in line
        assert ("underfit" in line) == (status == "capped")
