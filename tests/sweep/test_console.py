"""The console of `tailsweep run | resume`: one trial table under short names, Ray's chatter only with -v.

The first tests check the pieces (columns, rows, reporter settings, log levels) in the default run; the
last runs a real tiny sweep through the command line twice and reads what it printed."""
from __future__ import annotations

import logging
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core import keys
from core.result import TrialResult
from core.spec import TrialSpec
from sweep import console
from sweep.cli import build_parser
from tests.conftest import tiny_sweep_text

REPO = Path(__file__).resolve().parents[2]


def test_every_column_has_a_short_label_and_a_plain_fallback():
    for utf8 in (True, False):
        labels = console.columns(utf8)
        assert list(labels) == [console.OUTCOME, console.ITERATION, console.TRAIN_LOSS, console.ALPHA_MEDIAN]
        assert all(len(label) <= 12 for label in labels.values()), labels
    assert console.columns(True)[console.ALPHA_MEDIAN] == "α̂ median"
    assert console.columns(False)[console.ALPHA_MEDIAN].isascii()


def test_step_row_takes_the_last_train_loss_and_the_median_current_alpha():
    assert all(math.isnan(v) for v in console.step_row({keys.step_key("batch", "loss"): 0.7}).values())
    latest = {keys.step_key("train", "loss"): 0.25, keys.step_key("test", "loss"): 9.0,
              keys.current_alpha_key(0): 1.9, keys.current_alpha_key(1): 1.5, keys.current_alpha_key(2): 2.0}
    assert console.step_row(latest) == {console.TRAIN_LOSS: 0.25, console.ALPHA_MEDIAN: 1.9}


def _result(metrics: dict[str, float]) -> TrialResult:
    return TrialResult(spec=TrialSpec(eta_over_b=1e-3), status="capped", iterations=300, metrics=metrics)


def test_final_row_shows_the_weight_set_of_the_runs_description():
    final = {keys.eval_key("final", "train", "loss"): 0.4, keys.alpha_key("final", "multi", "median"): 1.8}
    averaged = {keys.eval_key("avg", "test", "acc"): 0.9, keys.eval_key("avg", "train", "loss"): 0.3,
                keys.alpha_key("avg", "multi", "median"): 1.7}
    assert console.final_row(_result(final)) == {console.OUTCOME: "capped", console.ITERATION: 300,
                                                  console.TRAIN_LOSS: 0.4, console.ALPHA_MEDIAN: 1.8}
    row = console.final_row(_result({**final, **averaged}))
    assert (row[console.TRAIN_LOSS], row[console.ALPHA_MEDIAN]) == (0.3, 1.7)
    assert set(console.final_row(_result(final))) == set(console.columns(True))


def test_reporter_shows_exactly_the_short_columns_every_30_s():
    reporter = console.Console("demo").reporter()
    # Tune's CLIReporter keeps these as attributes: a Ray upgrade that renames them fails here, not silently.
    assert reporter._metric_columns == console.columns(console._utf8_stdout())
    assert reporter._parameter_columns == {console.SPEC_HASH_PARAM: "spec hash"}
    assert reporter._print_intermediate_tables and reporter._max_report_freqency == console.REPORT_EVERY_S


def test_status_block_is_headed_by_the_sweep_not_tunes_staging_folder():
    block = ("== Status ==\nCurrent time: 2026-01-01 00:00:00 (running for 00:00:30.00)\n"
             "Result logdir: /tmp/ray/session_x/artifacts/t/ray/driver_artifacts\n"
             "Number of trials: 2/2 (2 RUNNING)\n+---+\n| x |\n+---+\n")
    text = console.retitled("demo", block)
    assert text.splitlines()[0] == "== sweep demo =="
    assert "Status" not in text and "Result logdir" not in text and "/ray/" not in text
    assert "Number of trials: 2/2 (2 RUNNING)" in text and "| x |" in text


def test_quiet_console_lowers_ray_logs_of_driver_and_workers(monkeypatch):
    monkeypatch.delenv("RAY_LOGGER_LEVEL", raising=False)
    quiet = console.Console("demo")
    assert quiet.ray_init_options(local=False) == {
        "logging_level": logging.WARNING, "runtime_env": {"env_vars": {"RAY_LOGGER_LEVEL": "warning"}}}
    assert "RAY_LOGGER_LEVEL" not in os.environ            # a cluster's workers: the job's runtime_env
    assert quiet.ray_init_options(local=True) == {"logging_level": logging.WARNING}
    assert os.environ["RAY_LOGGER_LEVEL"] == "warning"     # an embedded Ray's workers inherit it
    monkeypatch.setenv("RAY_LOGGER_LEVEL", "debug")         # the user's choice stays
    assert quiet.ray_init_options(local=False) == {"logging_level": logging.WARNING}
    monkeypatch.delenv("RAY_LOGGER_LEVEL")
    assert console.Console("demo", verbose=True).ray_init_options(local=True) == {"logging_level": logging.INFO}
    assert "RAY_LOGGER_LEVEL" not in os.environ


def test_prepare_selects_tunes_reporter_engine_and_quiets_mlflow(monkeypatch):
    mlflow_logger = logging.getLogger("mlflow")
    monkeypatch.setattr(mlflow_logger, "level", mlflow_logger.level)   # restored after the test
    monkeypatch.delenv("RAY_AIR_NEW_OUTPUT", raising=False)
    console.Console("demo", verbose=True).prepare()
    assert os.environ["RAY_AIR_NEW_OUTPUT"] == "0"
    monkeypatch.setenv("RAY_AIR_NEW_OUTPUT", "1")         # a user who wants Ray's engine keeps it
    console.Console("demo").prepare()
    assert os.environ["RAY_AIR_NEW_OUTPUT"] == "1"
    assert mlflow_logger.level == logging.WARNING


@pytest.mark.parametrize("command", [["run", "s.yaml"], ["resume", "s"]])
def test_run_and_resume_take_verbose(command):
    parser = build_parser()
    assert parser.parse_args(command).verbose is False
    assert parser.parse_args([*command, "-v"]).verbose is True
    assert parser.parse_args([*command, "--verbose"]).verbose is True


# ---------------------------------------------------------------- a real sweep, read off the console
def _tailsweep(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_LOGGER_LEVEL", "RAY_AIR_NEW_OUTPUT", "RAY_ADDRESS")}
    env.update(PYTHONPATH=str(REPO), PYTHONIOENCODING="utf-8", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "sweep", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=600)


def _last_table(stdout: str) -> tuple[list[str], list[list[str]]]:
    """Header cells and rows of the last trial table printed."""
    block = stdout.rsplit("== sweep ", 1)[1]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in block.splitlines()
            if line.startswith("| ")]
    return rows[0], rows[1:]


RAY_BANNER = "Started a local Ray instance"


@pytest.mark.integration   # two real sweeps through the command line (3 min on 2 busy cores)
def test_console_of_a_real_sweep_names_it_and_keeps_ray_quiet_without_v(tmp_path):
    path, root = tmp_path / "tiny.yaml", tmp_path / "store"
    path.write_text(tiny_sweep_text("tiny", etas=(1.0e-3,), widths=(16, 32), max_iters=300))
    quiet = _tailsweep("run", str(path), "--storage", str(root))
    assert quiet.returncode == 0, quiet.stderr
    said = quiet.stdout + quiet.stderr
    assert "== sweep tiny ==" in quiet.stdout and not re.search(r"experiment\s+ray\b", said)
    assert "tensorboard" not in said.lower()
    for chatter in (RAY_BANNER, "Checkpoint successfully created", "View detailed results", "Result logdir",
                    "Using FIFO", "deduplicates logs", " INFO "):
        assert chatter not in said, chatter
    assert "sweep tiny: 2 trials, 0 already finished" in quiet.stdout       # tailsweep's own lines
    assert re.search(r"^sweep tiny: 2 (converged|capped)", quiet.stdout, re.M)
    header, rows = _last_table(quiet.stdout)
    assert [*header[:2], *header[-5:]] == ["Trial name", "status", "spec hash", "outcome", "iter", "train loss",
                                           "α̂ median"]
    assert sorted(row[0] for row in rows) == ["w16-etab1e-3-s0-fcn3-synthetic", "w32-etab1e-3-s0-fcn3-synthetic"]
    for row in rows:
        assert row[1] == "TERMINATED" and row[-4] in ("converged", "capped") and row[-3] == "300"
        assert 0 < float(row[-2]) and 0 < float(row[-1]) <= 2      # train loss, α̂ median (capped at 2)

    path.write_text(tiny_sweep_text("tiny", etas=(1.0e-3,), widths=(16, 32, 8), max_iters=300))
    loud = _tailsweep("run", str(path), "--storage", str(root), "-v")   # runs only the new w8 trial
    assert loud.returncode == 0, loud.stderr
    said = loud.stdout + loud.stderr
    assert RAY_BANNER in loud.stderr and "Logical resource usage" in loud.stdout
    assert "== sweep tiny ==" in loud.stdout and "tensorboard" not in said.lower()
    header, rows = _last_table(loud.stdout)
    assert header[-4:] == ["outcome", "iter", "train loss", "α̂ median"]
    assert [row[0] for row in rows] == ["w8-etab1e-3-s0-fcn3-synthetic"]
