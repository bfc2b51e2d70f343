import os
from pathlib import Path

import pytest

from tests.analysis.store import SWEEP, log_store, trials

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

SMALL, EMPTY = "small", "empty"
SMALL_SWEEP_FILE = "name: small\ngrid:\n  eta_over_b: [1.0e-3, 4.0e-3, 8.0e-3]\n"


@pytest.fixture(scope="session")
def known_store(tmp_path_factory) -> tuple[str, Path]:
    """(tracking URI, storage root) of one SQLite store holding three sweeps: 'known' (the full synthetic
    sweep), 'small' (the three vgg trials plus one diverged) and 'empty' (an experiment with no runs).
    One database for the session: creating an MLflow schema costs seconds."""
    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    log_store(uri)
    small = [t for t in trials() if t["arch"] == "vgg11"]
    small.append({"arch": "vgg11", "etab": 1.6e-2, "width": 64, "seed": 0, "outcome": "diverged"})
    log_store(uri, SMALL, small)
    log_store(uri, EMPTY, [])
    sweep_file = root / "sweeps" / SMALL / "sweep.yaml"
    sweep_file.parent.mkdir(parents=True)
    sweep_file.write_text(SMALL_SWEEP_FILE)
    return uri, root


@pytest.fixture(scope="session")
def known_data(known_store):
    from analysis.load import load_sweep

    return load_sweep(known_store[0], SWEEP)
