"""The one module that owns where results live under a storage root (the trial
directories are the source of truth; MLflow is the view).

    ROOT/mlflow.db                       default MLflow tracking store (SQLite)
    ROOT/artifacts/                      MLflow artifact root (absolute location)
    ROOT/sweeps/NAME/sweep.yaml          the sweep file as launched
    ROOT/sweeps/NAME/report/             `tailsweep report NAME` output (index.html, figures/, tables/)
    ROOT/sweeps/NAME/ray/                Ray Tune's experiment storage (checkpoints, restore state)
    ROOT/sweeps/NAME/trials/HASH/        one trial directory, the source of truth:
        spec.json, result.json, measures.parquet (the table keys of result.json), weights/*.safetensors,
        plots/*.png, mlflow_run_id, DONE (written last)
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from core.keys import TABLE_ARTIFACT

DEFAULT_ROOT_NAME = "tailsweep"
SWEEP_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def check_sweep_name(name: str) -> str | None:
    """None if ``name`` is a safe sweep name, else the problem (it becomes a directory name)."""
    if not isinstance(name, str) or not SWEEP_NAME_PATTERN.match(name) or name in (".", ".."):
        return (f"invalid sweep name {name!r} (allowed: letters, digits, '-', '_', '.'; "
                "must start with a letter or digit; at most 100 characters)")
    return None


def resolve_root(flag: str | os.PathLike | None, from_file: str | None = None,
                 cwd: Path | None = None) -> Path:
    """Storage root, resolved once: command-line flag > sweep file > ./tailsweep under the cwd."""
    chosen = flag if flag is not None else from_file
    base = Path(cwd) if cwd is not None else Path.cwd()
    path = Path(chosen).expanduser() if chosen is not None else base / DEFAULT_ROOT_NAME
    return (base / path if not path.is_absolute() else path).resolve()


def default_tracking_uri(root: Path) -> str:
    return f"sqlite:///{Path(root).resolve() / 'mlflow.db'}"


@dataclass(frozen=True)
class Layout:
    """Paths under one storage root. Build once with an absolute root and pass it around."""

    root: Path

    def __post_init__(self) -> None:
        if not Path(self.root).is_absolute():
            raise ValueError(f"storage root must be absolute, got {self.root}")

    @property
    def tracking_uri(self) -> str:
        return default_tracking_uri(self.root)

    @property
    def artifact_root(self) -> Path:
        return self.root / "artifacts"

    def sweep_dir(self, name: str) -> Path:
        problem = check_sweep_name(name)
        if problem:
            raise ValueError(f"name: {problem}")
        return self.root / "sweeps" / name

    def sweep_file(self, name: str) -> Path:
        return self.sweep_dir(name) / "sweep.yaml"

    def report_dir(self, name: str) -> Path:
        return self.sweep_dir(name) / "report"

    def ray_dir(self, name: str) -> Path:
        return self.sweep_dir(name) / "ray"

    def trials_dir(self, name: str) -> Path:
        return self.sweep_dir(name) / "trials"

    def trial_dir(self, name: str, spec_hash: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{8,64}", spec_hash):
            raise ValueError(f"spec_hash: not a hex hash: {spec_hash!r}")
        return self.trials_dir(name) / spec_hash


@dataclass(frozen=True)
class TrialFiles:
    """File names inside one trial directory."""

    dir: Path

    spec = property(lambda self: self.dir / "spec.json")
    result = property(lambda self: self.dir / "result.json")
    table = property(lambda self: self.dir / TABLE_ARTIFACT)
    weights = property(lambda self: self.dir / "weights")
    plots = property(lambda self: self.dir / "plots")
    run_id = property(lambda self: self.dir / "mlflow_run_id")
    synced = property(lambda self: self.dir / "SYNCED")
    done = property(lambda self: self.dir / "DONE")
    failed = property(lambda self: self.dir / "FAILED")

    def is_done(self) -> bool:
        return self.done.exists() and self.result.exists()
