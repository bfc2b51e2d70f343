"""Write tests/analysis/data/bundle_before_tables/: a `tailsweep export` bundle made by tailsweep before the
table artifact (commit 04a92d7, every final metric a run metric), of the known store's 'small' trials.

Run once with that commit's packages first on the path and this repository's tests after them:
    PYTHONPATH=<checkout of 04a92d7 without tests/>:<this repository> python tests/analysis/data/make_bundle_before_tables.py
Kept in the repository so that a later tailsweep proves it still reads what an earlier one exported.
"""
import shutil
import tempfile
from pathlib import Path

from analysis.bundle import write_bundle
from analysis.load import load_sweep
from tests.analysis.store import upload_store
from tests.analysis.test_bundle import BEFORE_TABLES_RUNS, BEFORE_TABLES_SWEEP

OUT = Path(__file__).resolve().parent / "bundle_before_tables"

with tempfile.TemporaryDirectory() as tmp:
    uri = upload_store(Path(tmp), BEFORE_TABLES_SWEEP, BEFORE_TABLES_RUNS)
    shutil.rmtree(OUT, ignore_errors=True)
    write_bundle(load_sweep(uri, BEFORE_TABLES_SWEEP), OUT)
