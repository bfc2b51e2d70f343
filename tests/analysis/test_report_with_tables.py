"""Issue 12, item 3's acceptance: moving most final metrics into each run's table artifact changes no report.

The replicated store's trials (known answers, three seeds: claims that hold) uploaded twice into real
SQLite stores: as today (run metrics plus table) and as runs were before tables (every final metric a run
metric). Both reports say the same: every table write_report writes (``report_tables``, its first half;
the figures are drawn from these tables), claims.csv byte for byte, and the same claims as the constructed
records analysis is tested on."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from analysis import schema
from analysis.claims import claims_table
from analysis.load import load_sweep
from analysis.options import AnalysisOptions
from analysis.prepared import prepare
from analysis.report import report_tables
from core import vocab
from tests.analysis import store
from tests.analysis.test_report import FAST

pytestmark = pytest.mark.integration   # 63 uploads and two reports: run by .ci/run's integration step

SWEEP = "replicated"


def _before_tables(root, runs) -> str:
    from tests.sweep.test_measures_table import log_before_tables

    client, exp_id, trial_store, uri = store.open_store(root, SWEEP)
    for t in runs:
        log_before_tables(client, exp_id, trial_store, store.trial_result(t, replicated=True), store.run_name(t))
    return uri


def test_the_report_is_the_same_with_tables_as_before(tmp_path):
    runs = store.replicated_trials()
    with_tables = load_sweep(store.upload_store(tmp_path / "tables", SWEEP, runs, replicated=True), SWEEP)
    before = load_sweep(_before_tables(tmp_path / "before", runs), SWEEP)

    claims = claims_table(prepare(with_tables, AnalysisOptions()))
    assert (claims["verdict"] == vocab.HOLDS).any()                           # a report with something to say
    pd.testing.assert_frame_equal(claims, claims_table(prepare(before, AnalysisOptions())))
    pd.testing.assert_frame_equal(claims, claims_table(prepare(store.replicated_data(), AnalysisOptions())))

    said = {name: report_tables(data, FAST, progress=None).tables for name, data in
            (("tables", with_tables), ("before", before))}
    names = sorted(said["tables"])
    assert "claims" in names and len(names) > 8 and names == sorted(said["before"])
    csv = {name: {table: frame.to_csv(index=False) for table, frame in tables.items()} for name, tables in said.items()}
    assert csv["tables"]["claims"] == csv["before"]["claims"]
    for name in names:
        # Rows name runs by their (random) run ids, and a groupby over run ids sums in their order: equal but
        # for those ids, to the last few bits. Read back from CSV, as the report's files would be.
        a, b = (_without_run_ids(pd.read_csv(io.StringIO(text[name]))) for text in csv.values())
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, obj=name)


def _without_run_ids(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=[c for c in frame.columns if c == schema.RUN])
    return frame.sort_values(list(frame.columns), ignore_index=True) if len(frame) else frame
