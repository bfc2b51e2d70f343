import json
from pathlib import Path

import pandas as pd
import pytest

from analysis import schema
from analysis.bundle import MANIFEST, load_bundle, write_bundle
from analysis.data import TABLES
from analysis.errors import AnalysisInputError
from core.version import tailsweep_version
from tests.analysis.store import trials

# A bundle exported before trial runs had a table artifact (tests/analysis/data/make_bundle_before_tables.py):
# the known store's vgg trials and one diverged trial.
BEFORE_TABLES = Path(__file__).resolve().parent / "data" / "bundle_before_tables"
BEFORE_TABLES_SWEEP = "before-tables"
BEFORE_TABLES_RUNS = [t for t in trials() if t["arch"] == "vgg11"] + [
    {"arch": "vgg11", "etab": 1.6e-2, "width": 64, "seed": 0, "outcome": "diverged"}]


def test_round_trip_gives_equal_tables(known_data, tmp_path):
    write_bundle(known_data, tmp_path / "b", sweep_file="name: known\n")
    back = load_bundle(tmp_path / "b")
    assert back.name == known_data.name
    for name in TABLES:
        pd.testing.assert_frame_equal(back.table(name), known_data.table(name))
    manifest = json.loads((tmp_path / "b" / MANIFEST).read_text())
    assert manifest["sweep_file"] == "name: known\n" and back.meta["sweep_file"] == "name: known\n"
    assert manifest["tailsweep_version"] == tailsweep_version()
    assert manifest["tables"]["trials"]["rows"] == 26
    assert back.meta["exported_from"] == known_data.meta["source"]


@pytest.mark.parametrize("damage, message", [
    ("no_manifest", "no manifest.json"), ("bad_json", "unreadable"), ("wrong_format", "not a tailsweep-bundle"),
    ("missing_table", "table 'errors' is unreadable"), ("corrupt_table", "table 'trials' is unreadable"),
    ("wrong_columns", "missing columns"),
])
def test_unreadable_bundles_are_input_errors(known_data, tmp_path, damage, message):
    root = tmp_path / "b"
    write_bundle(known_data, root)
    manifest = root / MANIFEST
    if damage == "no_manifest":
        manifest.unlink()
    elif damage == "bad_json":
        manifest.write_text("{not json")
    elif damage == "wrong_format":
        manifest.write_text(json.dumps({"format": "other"}))
    elif damage == "missing_table":
        (root / "errors.parquet").unlink()
    elif damage == "corrupt_table":
        (root / "trials.parquet").write_bytes(b"garbage")
    elif damage == "wrong_columns":
        pd.DataFrame({"x": [1]}).to_parquet(root / "layers.parquet")
    with pytest.raises(AnalysisInputError, match=message):
        load_bundle(root)


def _without_run_ids(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[schema.RUN]).reset_index(drop=True)


@pytest.fixture(scope="module")
def with_tables(tmp_path_factory):
    """The same trials as the bundle made before tables, uploaded by today's tailsweep (run metrics plus
    table artifact) and read back."""
    from analysis.load import load_sweep
    from tests.analysis.store import upload_store

    uri = upload_store(tmp_path_factory.mktemp("with-tables"), BEFORE_TABLES_SWEEP, BEFORE_TABLES_RUNS)
    return load_sweep(uri, BEFORE_TABLES_SWEEP)


def test_a_bundle_exported_before_tables_loads_with_the_tables_of_todays_store(with_tables):
    old = load_bundle(BEFORE_TABLES)
    assert old.name == BEFORE_TABLES_SWEEP and len(old.trials) == len(BEFORE_TABLES_RUNS)
    for name in TABLES:
        assert len(old.table(name)) > 0, name
        pd.testing.assert_frame_equal(_without_run_ids(old.table(name)), _without_run_ids(with_tables.table(name)))


def test_a_store_with_tables_round_trips_through_a_bundle(with_tables, tmp_path):
    write_bundle(with_tables, tmp_path / "b")
    back = load_bundle(tmp_path / "b")
    for name in TABLES:
        pd.testing.assert_frame_equal(back.table(name), with_tables.table(name))
