import json

import pytest

from analysis.__main__ import main as analysis_main
from sweep.cli import main as tailsweep_main
from tests.analysis.conftest import EMPTY, SMALL, SMALL_SWEEP_FILE

BAD_INPUT = 2


def _error_line(capsys) -> str:
    """The one error line (progress lines may precede it); no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.strip().splitlines() if ": error: " in line]
    assert len(errors) == 1, err
    return errors[0]


def test_report_by_name_from_the_default_store(known_store, tmp_path, capsys):
    _, root = known_store
    out = tmp_path / "rep"
    assert tailsweep_main(["report", SMALL, "--storage", str(root), "--out", str(out), "--n-boot", "100"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out / "index.html")
    assert "report: figure" in captured.err            # progress lines while it works
    html = (out / "index.html").read_text()
    assert "tailsweep report: small" in html and "diverged" in html
    assert (out / "figures" / "outcomes.png").stat().st_size > 0


def test_export_then_report_from_the_bundle(known_store, tmp_path, capsys):
    uri, root = known_store
    bundle = tmp_path / "bundle"
    assert tailsweep_main(["export", SMALL, "--out", str(bundle), "--tracking-uri", uri]) == 0
    assert capsys.readouterr().out.strip() == str(bundle.resolve())
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["sweep"] == SMALL and manifest["tables"]["trials"]["rows"] == 4
    assert manifest["sweep_file"] is None            # no storage root given: the sweep file is not found
    assert tailsweep_main(["export", SMALL, "--out", str(bundle), "--storage", str(root)]) == 0
    capsys.readouterr()
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["sweep_file"] == SMALL_SWEEP_FILE
    # python -m analysis reads the bundle without the sweep package's defaults; the report goes under it.
    assert analysis_main(["report", "--bundle", str(bundle), "--n-boot", "100"]) == 0
    assert capsys.readouterr().out.strip() == str((bundle / "report" / "index.html").resolve())


@pytest.mark.parametrize("argv, message", [
    (["report", "nope"], "sweep 'nope': no such experiment"),
    (["report", EMPTY], "has no runs"),
    (["export", "nope", "--out", "X"], "sweep 'nope': no such experiment"),
    (["report", SMALL, "--bundle", "X"], "exactly one"),
    (["report"], "exactly one"),
    (["report", "../evil"], "invalid sweep name"),
    (["report", SMALL, "--eps", "0.2"], "eps: 0.2 was not measured by these runs (measured: 0.1); choose one "
                                        "with --eps or the sweep file's analysis.eps"),
    (["report", SMALL, "--method", "neuron"], "method: 'neuron' was not measured by these runs (measured: "
                                              "magnitude, node, singular)"),
])
def test_bad_input_exits_2_with_one_line(known_store, tmp_path, capsys, argv, message):
    _, root = known_store
    argv = [a.replace("X", str(tmp_path / "x")) for a in argv] + ["--storage", str(root)]
    assert tailsweep_main(argv) == BAD_INPUT
    line = _error_line(capsys)
    assert line.startswith("tailsweep: error: ") and message in line


def test_missing_store_and_bad_bundle_exit_2(tmp_path, capsys):
    assert tailsweep_main(["report", SMALL, "--storage", str(tmp_path / "nowhere")]) == BAD_INPUT
    assert "no MLflow database" in _error_line(capsys)
    assert not (tmp_path / "nowhere").exists()
    (tmp_path / "junk").mkdir()
    assert tailsweep_main(["report", "--bundle", str(tmp_path / "junk")]) == BAD_INPUT
    assert "no manifest.json" in _error_line(capsys)
    assert analysis_main(["report", "--bundle", str(tmp_path / "junk")]) == BAD_INPUT
    assert _error_line(capsys).startswith("analysis: error: ")
    assert analysis_main(["report", SMALL, "--out", str(tmp_path / "o")]) == BAD_INPUT
    assert "--tracking-uri" in _error_line(capsys)


@pytest.mark.parametrize("argv", [
    ["report", SMALL, "--out", "F"],
    ["report", SMALL, "--out", "F/sub"],
    ["export", SMALL, "--out", "F"],
])
def test_out_path_through_a_file_exits_2_before_reading(known_store, tmp_path, capsys, argv):
    """A file where the output folder should go was a mkdir traceback (exit 1) after all the work."""
    _, root = known_store
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    argv = [a.replace("F", str(blocker)) for a in argv] + ["--storage", str(root)]
    assert tailsweep_main(argv) == BAD_INPUT
    line = _error_line(capsys)
    assert line.startswith("tailsweep: error: --out: ") and "not a folder" in line
    assert blocker.read_text() == "keep me"


def test_unreachable_tracking_server_fails_fast(tmp_path, capsys, monkeypatch):
    """MLflow's default HTTP retries stalled `report --tracking-uri http://down` for minutes."""
    import socket
    import time

    for key in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
                "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(key, raising=False)
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    assert tailsweep_main(["report", SMALL, "--tracking-uri", f"http://127.0.0.1:{port}",
                           "--out", str(tmp_path / "o")]) == BAD_INPUT
    assert time.monotonic() - start < 60
    assert "cannot read it" in _error_line(capsys)
    assert not (tmp_path / "o").exists()
