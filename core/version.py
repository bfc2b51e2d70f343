"""The installed tailsweep version, recorded with every trial, run and bundle."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def tailsweep_version() -> str:
    try:
        return version("tailsweep")
    except PackageNotFoundError:   # imported from a source tree that was never installed
        return "unknown"
