"""Where a sweep's MLflow records go: the tracking URI check and ``TrackingConfig``, without MLflow.

Sweep-file validation and location lookup need these; importing them must not import MLflow (the CLI
validates a file in a fraction of a second, and ``core``-only workers never need MLflow's import time).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sweep.paths import Layout

REMOTE_SCHEMES = ("http", "https", "databricks")
KNOWN_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql") + REMOTE_SCHEMES


def check_tracking_uri(uri: str) -> str | None:
    """None if MLflow can use ``uri`` as a tracking store, else the problem (one line)."""
    scheme = urlsplit(uri).scheme.split("+")[0] if isinstance(uri, str) else ""
    if scheme not in KNOWN_SCHEMES:
        return f"unknown tracking URI scheme in {uri!r} (allowed: {', '.join(KNOWN_SCHEMES)})"
    if scheme == "sqlite" and not uri.startswith("sqlite:///"):
        return f"sqlite URI must look like sqlite:///ABSOLUTE/PATH.db, got {uri!r}"
    return None


def store_key(uri: str) -> str:
    """A tracking URI as recorded in trial files and printed: credentials stripped (they must not land
    on disk or in logs)."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


@dataclass(frozen=True)
class TrackingConfig:
    """Where a sweep's MLflow records go. Picklable: the driver hands it to every trial.

    ``artifact_root``: absolute directory; each sweep's experiment stores artifacts under
    ``artifact_root/NAME``. None for a tracking server, which decides (and proxies) artifact storage.
    """

    uri: str
    artifact_root: str | None = None
    probe_timeout_s: float = 2.0
    http_max_retries: int = 1      # MLflow's default, 7 with backoff, stalls every call for minutes
    http_timeout_s: int = 10
    system_metrics: bool = False   # tracking.system_metrics: MLflow's CPU/memory/disk/GPU metrics per trial run

    def __post_init__(self) -> None:
        problem = check_tracking_uri(self.uri)
        if problem:
            raise ValueError(f"tracking.uri: {problem}")
        if self.artifact_root is not None and not Path(self.artifact_root).is_absolute():
            raise ValueError(f"artifact_root: must be an absolute path, got {self.artifact_root!r}")

    @classmethod
    def for_layout(cls, layout: Layout, uri: str | None = None, *, system_metrics: bool = False) -> "TrackingConfig":
        """The default store (SQLite under the root) unless ``uri`` names another one."""
        uri = uri or layout.tracking_uri
        remote = urlsplit(uri).scheme in REMOTE_SCHEMES
        return cls(uri=uri, artifact_root=None if remote else str(layout.artifact_root), system_metrics=system_metrics)

    @property
    def remote(self) -> bool:
        return urlsplit(self.uri).scheme in REMOTE_SCHEMES

    @property
    def display(self) -> str:
        return store_key(self.uri)

    def artifact_location(self, sweep: str) -> str | None:
        return None if self.artifact_root is None else (Path(self.artifact_root) / sweep).as_uri()
