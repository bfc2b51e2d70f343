"""Read one sweep's runs from an MLflow tracking store into SweepData tables.

The store is whatever the sweep wrote (core.keys documents the metric scheme). A trial run tagged
``core.keys.TAG_TABLE`` keeps part of its final metrics in a table artifact (``core.keys.TABLE_ARTIFACT``):
it is read and merged into the run's metrics, the table winning, so every reader sees the one metric dict
of the trial whether its run was uploaded before tables (every key a metric) or after. Only the MLflow
client API is used; a sqlite:/// URI must point at an existing file, so a mistyped path never creates
an empty store.
"""
from __future__ import annotations

import ast
import math
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable

import pandas as pd

from analysis.data import SweepData
from analysis.errors import AnalysisInputError
from analysis.tables import RunRecord, build_tables
from core.keys import TABLE_ARTIFACT, TABLE_COLUMNS, TAG_KIND, TAG_TABLE, is_step_key
from core.vocab import RUN_KIND_SWEEP
from core.version import tailsweep_version

_PAGE = 1000
# Runs read at once from a tracking server: each run costs a table download and one history call per step
# key (about 1,200 round trips for 200 trials), and the server overlaps them (200 runs over HTTP from a
# one-worker server: 29.5 s on one thread, 24.9 s on 8). A local SQLite file is read on one thread: there
# 8 threads were slower (13.0 s vs 10.9 s, the GIL and SQLite's lock), bench/RESULTS.md.
READ_THREADS = 8

_SPECIAL = MappingProxyType({"None": None, "True": True, "False": False, "nan": math.nan, "inf": math.inf,
                             "-inf": -math.inf})

# MLflow's SQL store saves +-inf as +-float max; read it back as the infinity that was logged.
_FLOAT_MAX = sys.float_info.max


def parse_param(text: str) -> Any:
    """MLflow params come back as strings: '0.001' -> 0.001, '50' -> 50, 'None' -> None, 'True' -> True;
    anything else stays a string.

    Lists and tuples stay as their text: they are descriptive (compress.methods, compress.ratios), and
    a plain string column survives Parquet and CSV unchanged.
    """
    if text in _SPECIAL:
        return _SPECIAL[text]
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return text


def clean_value(value: float) -> float:
    value = float(value)
    if math.isfinite(value) and abs(value) >= _FLOAT_MAX:
        return math.copysign(math.inf, value)
    return value


def _check_uri(tracking_uri: str) -> None:
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri[len("sqlite:///"):])
        if not path.is_file():
            raise AnalysisInputError(f"tracking store: no MLflow database at {path} "
                                     "(check --storage or --tracking-uri)")


# MLflow's HTTP defaults (7 retries, backoff factor 2) stall a read of a down server for minutes before
# any error; a report wants a prompt one-line answer. Values the user exported win.
_HTTP_ENV = (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"), ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
             ("MLFLOW_HTTP_REQUEST_TIMEOUT", "60"))


def _is_http(tracking_uri: str) -> bool:
    return tracking_uri.split(":", 1)[0].lower() in ("http", "https")


def _client(tracking_uri: str):
    _check_uri(tracking_uri)
    if _is_http(tracking_uri):
        for key, value in _HTTP_ENV:
            os.environ.setdefault(key, value)
    from mlflow import MlflowClient  # imported here: importing mlflow costs ~1.5 s

    return MlflowClient(tracking_uri=tracking_uri)


def _experiment_id(client, tracking_uri: str, experiment: str) -> str:
    try:
        found = client.get_experiment_by_name(experiment)
    except Exception as err:  # the client raises many types for an unreachable or foreign store
        raise AnalysisInputError(f"tracking store {tracking_uri}: cannot read it ({type(err).__name__}: "
                                 f"{str(err).splitlines()[0] if str(err) else ''})") from err
    if found is None:
        names = sorted(e.name for e in client.search_experiments() if e.name != "Default")
        known = ", ".join(names) if names else "none"
        raise AnalysisInputError(f"sweep {experiment!r}: no such experiment in {tracking_uri} (known: {known})")
    return found.experiment_id


def _runs(client, experiment_id: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=_PAGE, page_token=token)
        runs += [r for r in page if r.data.tags.get(TAG_KIND) != RUN_KIND_SWEEP]   # trial runs only (untagged: old)
        token = page.token
        if not token:
            return runs


def read_table(path: str | Path) -> dict[str, float]:
    """A trial's table artifact (long format: key, value), key -> value."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=list(TABLE_COLUMNS))
    key, value = TABLE_COLUMNS
    return dict(zip(table.column(key).to_pylist(), (float(v) for v in table.column(value).to_pylist())))


def _table(client, run, scratch: Path) -> dict[str, float]:
    """The run's table rows; {} for a run without one (uploaded before tables, or diverged)."""
    if TAG_TABLE not in run.data.tags:
        return {}
    try:
        path = client.download_artifacts(run.info.run_id, TABLE_ARTIFACT, str(scratch / run.info.run_id))
        return read_table(path)
    except Exception as err:  # the client and pyarrow raise many types for a missing or damaged file
        raise AnalysisInputError(f"run {run.info.run_name or run.info.run_id}: its table {TABLE_ARTIFACT} is "
                                 f"unreadable ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
                                 ) from err


def _record(client, run, with_history: bool, scratch: Path) -> RunRecord:
    metrics = {k: clean_value(v) for k, v in run.data.metrics.items()}
    metrics.update(_table(client, run, scratch))   # newer than any same-named metric of a run made before tables
    history = {}
    for key in sorted(k for k in metrics if with_history and is_step_key(k)):
        points = client.get_metric_history(run.info.run_id, key)
        history[key] = tuple(sorted((int(m.step), clean_value(m.value)) for m in points))
    return RunRecord(
        run_id=run.info.run_id, run_name=run.info.run_name or run.info.run_id,
        tags=dict(run.data.tags), params={k: parse_param(v) for k, v in run.data.params.items()},
        metrics=metrics, history=history,
    )


def load_sweep(tracking_uri: str, experiment: str, *, sweep_file: str | None = None, with_history: bool = True,
               progress: Callable[[str], None] | None = None) -> SweepData:
    """Every table of the sweep ``experiment``; ``sweep_file`` (its YAML text) is kept as provenance.

    Step-metric histories cost one store call per run and key; ``with_history=False`` skips them (the
    steps table is then empty).
    """
    records = load_records(tracking_uri, experiment, with_history=with_history, progress=progress)
    meta = {"source": tracking_uri, "tailsweep_version": tailsweep_version(), "sweep_file": sweep_file}
    return build_tables(experiment, records, meta)


def load_records(tracking_uri: str, experiment: str, *, with_history: bool = True,
                 progress: Callable[[str], None] | None = None) -> list[RunRecord]:
    """The sweep's trial runs as read, before the table split: each run's metrics (its table merged in),
    tags, typed params and step histories."""
    client = _client(tracking_uri)
    experiment_id = _experiment_id(client, tracking_uri, experiment)
    runs = _runs(client, experiment_id)
    if not runs:
        raise AnalysisInputError(f"sweep {experiment!r}: the experiment has no runs yet in {tracking_uri}")
    records = []
    with tempfile.TemporaryDirectory(prefix="tailsweep-tables-") as scratch, \
            ThreadPoolExecutor(max_workers=READ_THREADS if _is_http(tracking_uri) else 1,
                               thread_name_prefix="tailsweep-read") as pool:
        # map keeps the runs' order; the reads are store round trips (HTTP or SQLite), so threads overlap them
        for i, record in enumerate(pool.map(lambda run: _record(client, run, with_history, Path(scratch)), runs), 1):
            records.append(record)
            if progress is not None and (i % 50 == 0 or i == len(runs)):
                progress(f"read {i}/{len(runs)} runs")
    return records


def load_runs(tracking_uri: str, experiment: str) -> pd.DataFrame:
    """One row per trial: run identity, outcome, typed spec params and the scalar final metrics."""
    return load_sweep(tracking_uri, experiment, with_history=False).trials
