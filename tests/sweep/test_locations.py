"""Where a sweep lives: flag > sweep file (saved with the sweep) > default, the same for every command."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweep.cli import main
from sweep.errors import EXIT_OK, UserError
from sweep.locations import find_sweep
from sweep.paths import Layout
from tests.conftest import tiny_sweep_text


def _save(root: Path, name: str, extra: str = "") -> None:
    path = Layout(root).sweep_file(name)
    path.parent.mkdir(parents=True)
    path.write_text(f"name: {name}\ngrid: {{eta_over_b: [0.001]}}\n{extra}")


def test_a_sweep_found_by_name_keeps_the_tracking_uri_it_was_run_with(tmp_path):
    root = tmp_path / "root"
    _save(root, "saved", "tracking: {uri: 'http://127.0.0.1:5999'}\n")
    found = find_sweep("saved", str(root), None)
    assert found.locations.layout.root == root and found.locations.tracking.uri == "http://127.0.0.1:5999"
    assert found.sweep.name == "saved" and "tracking:" in found.sweep_text
    flag = find_sweep("saved", str(root), "sqlite:////tmp/flag.db")   # the flag still wins
    assert flag.locations.tracking.uri == "sqlite:////tmp/flag.db"


def test_report_and_export_may_name_a_sweep_with_no_saved_file(tmp_path):
    with pytest.raises(UserError, match="NAME: no sweep 'absent'"):
        find_sweep("absent", str(tmp_path), None)
    found = find_sweep("absent", str(tmp_path), None, required=False)
    assert found.sweep is None and found.sweep_text is None
    assert found.locations.tracking.uri == f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.mark.usefixtures("ray_session")
@pytest.mark.integration   # a whole sweep, then report and export
def test_report_and_export_by_name_read_the_store_the_sweep_ran_against(tmp_path, monkeypatch, capsys):
    """`run --tracking-uri` saved the URI with the sweep, and resume/status/sync honoured it, but report and
    export NAME read the default SQLite store under the root (no such experiment there)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(tiny_sweep_text("elsewhere", etas=(1.0e-3, 4.0e-3), widths=(16,)))
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert main(["run", "s.yaml", "--tracking-uri", other]) == EXIT_OK
    assert not (tmp_path / "tailsweep" / "mlflow.db").exists()   # the default store was never made
    capsys.readouterr()

    assert main(["report", "elsewhere", "--n-boot", "20"]) == EXIT_OK
    captured = capsys.readouterr()
    assert f"report: reading sweep 'elsewhere' from {other}" in captured.err
    page = Path(captured.out.strip())
    assert page == tmp_path / "tailsweep" / "sweeps" / "elsewhere" / "report" / "index.html" and page.is_file()
    assert "tailsweep report: elsewhere" in page.read_text()

    assert main(["export", "elsewhere", "--out", "bundle"]) == EXIT_OK
    captured = capsys.readouterr()
    assert f"export: reading sweep 'elsewhere' from {other}" in captured.err
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["sweep"] == "elsewhere" and manifest["tables"]["trials"]["rows"] == 2
    assert "tracking:" in manifest["sweep_file"]   # the saved sweep file, which remembers the store
    assert not (tmp_path / "tailsweep" / "mlflow.db").exists()
