import os
from pathlib import Path

import pytest

from tests.analysis.store import SWEEP, log_store

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def known_store(tmp_path_factory) -> tuple[str, Path]:
    """(tracking URI, storage root) of the synthetic store, built once per session."""
    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    log_store(uri)
    return uri, root


@pytest.fixture(scope="session")
def known_data(known_store):
    from analysis.load import load_sweep

    return load_sweep(known_store[0], SWEEP)
