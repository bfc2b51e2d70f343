"""A trial's table artifact: the final metrics that are table columns (``core.keys.is_table_key``) as one
Parquet file, so the trial's MLflow run keeps as metrics only what a person browses.

A file written into the trial directory first (the source of truth, offline too) and uploaded like every
other artifact, not ``mlflow.log_table``: that one needs a live run, and logging it again appends the rows
to the run's existing file, so a retried upload or a sync would duplicate them. Parquet: the float64
column keeps every value exactly (nan and inf too), and pyarrow writes the same bytes for the same rows,
so a re-upload, a sync or a fault test compares a table by its digest. Long format
(``core.keys.TABLE_COLUMNS``: key, value), rows sorted by key: a new measure is one more row, never a
schema change. No MLflow here: ``sweep.mlflow_runs`` uploads the file, ``analysis.load.read_table`` reads it.
"""
from __future__ import annotations

import hashlib
import io
from typing import Mapping

from core import keys

_KEY, _VALUE = keys.TABLE_COLUMNS


def split_metrics(metrics: Mapping[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """(run metrics, table rows) of a result's final metrics, each in key order."""
    browsed, table = {}, {}
    for key in sorted(metrics):
        (table if keys.is_table_key(key) else browsed)[key] = float(metrics[key])
    return browsed, table


def table_bytes(metrics: Mapping[str, float]) -> bytes | None:
    """The Parquet file of ``metrics``' table keys; None when there are none (a diverged trial)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _, rows = split_metrics(metrics)
    if not rows:
        return None
    table = pa.table({_KEY: pa.array(list(rows), pa.string()), _VALUE: pa.array(list(rows.values()), pa.float64())})
    sink = io.BytesIO()
    # Options spelled out, so a pyarrow default that changes cannot change the bytes of an unchanged table.
    pq.write_table(table, sink, compression="snappy", version="2.6", use_dictionary=False, write_statistics=False)
    return sink.getvalue()


def digest(data: bytes) -> str:
    """What the run's ``core.keys.TAG_TABLE`` records: the sha256 of the table file it holds."""
    return hashlib.sha256(data).hexdigest()
