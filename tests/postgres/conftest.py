"""Fixtures of the PostgreSQL suite: one real PostgreSQL server and one `mlflow server` on it for the
session (tests/postgres/servers.py), and the fault suite's process reaper (``spawn``)."""
from __future__ import annotations

import os

import pytest

from tests.postgres import servers
from tests.reliability.conftest import spawn  # noqa: F401  (re-exported fixture: every process it starts is killed)


@pytest.fixture(scope="session")
def team_server(tmp_path_factory):
    """PostgreSQL on 127.0.0.1 from a temporary data directory + mlflow server on it; torn down by pid.
    Skipped where PostgreSQL or psycopg2 is missing, unless TAILSWEEP_REQUIRE_POSTGRES=1 (CI sets it)."""
    problem = servers.missing()
    if problem:
        if os.environ.get("TAILSWEEP_REQUIRE_POSTGRES") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    server = servers.TeamServer(tmp_path_factory.mktemp("team-server"))
    server.start()   # a failing start raises with the mlflow server's and PostgreSQL's logs
    try:
        yield server
    finally:
        server.stop()
