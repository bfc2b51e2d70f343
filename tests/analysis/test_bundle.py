import json

import pandas as pd
import pytest

from analysis.bundle import MANIFEST, load_bundle, write_bundle
from analysis.data import TABLES
from analysis.errors import AnalysisInputError
from core.version import tailsweep_version


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
