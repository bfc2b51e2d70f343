"""Export bundle: a sweep's tables as Parquet plus a manifest, shareable without the MLflow store.

    DIR/manifest.json       format, format_version, sweep, tailsweep_version, exported_at, source,
                            sweep_file (the YAML text or null), tables {name: {file, rows}}
    DIR/<table>.parquet     one file per table of SweepData (analysis.tables documents each)
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

from analysis.data import TABLES, SweepData
from analysis.errors import AnalysisInputError
from core.version import tailsweep_version

FORMAT = "tailsweep-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def write_bundle(data: SweepData, out_dir: str | Path, *, sweep_file: str | None = None) -> Path:
    """Write every table and the manifest under out_dir (created if needed); returns the manifest path.

    ``sweep_file`` (the sweep's YAML text) overrides the one the data carries, if any.
    """
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    tables = {}
    for name in TABLES:
        frame = data.table(name)
        frame.to_parquet(out / f"{name}.parquet", index=False)
        tables[name] = {"file": f"{name}.parquet", "rows": int(len(frame))}
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "sweep": data.name,
        "tailsweep_version": tailsweep_version(),
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "source": data.meta.get("source"),
        "sweep_file": sweep_file if sweep_file is not None else data.meta.get("sweep_file"),
        "tables": tables,
    }
    path = out / MANIFEST
    path.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return path


def read_manifest(bundle_dir: str | Path) -> dict:
    path = Path(bundle_dir).expanduser() / MANIFEST
    if not path.is_file():
        raise AnalysisInputError(f"bundle {bundle_dir}: no {MANIFEST} (not a tailsweep export folder)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AnalysisInputError(f"bundle {bundle_dir}: {MANIFEST} is unreadable ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise AnalysisInputError(f"bundle {bundle_dir}: {MANIFEST} is not a {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise AnalysisInputError(f"bundle {bundle_dir}: format_version {manifest.get('format_version')!r} "
                                 f"(this tailsweep reads {FORMAT_VERSION})")
    return manifest


def load_bundle(bundle_dir: str | Path) -> SweepData:
    """Read an exported bundle back into SweepData (the same tables that were written)."""
    root = Path(bundle_dir).expanduser().resolve()
    manifest = read_manifest(root)
    frames = {}
    for name in TABLES:
        entry = manifest.get("tables", {}).get(name)
        if not isinstance(entry, dict) or "file" not in entry:
            raise AnalysisInputError(f"bundle {root}: the manifest lists no table {name!r}")
        try:
            frames[name] = pd.read_parquet(root / Path(entry["file"]).name)
        except Exception as err:  # pyarrow raises several types for missing or corrupt files
            raise AnalysisInputError(f"bundle {root}: table {name!r} is unreadable ({type(err).__name__})") from None
    meta = {"source": str(root), "tailsweep_version": manifest.get("tailsweep_version"),
            "sweep_file": manifest.get("sweep_file"), "exported_from": manifest.get("source")}
    try:
        return SweepData(name=str(manifest.get("sweep", root.name)), meta=meta, **frames)
    except ValueError as err:
        raise AnalysisInputError(f"bundle {root}: {err}") from None
