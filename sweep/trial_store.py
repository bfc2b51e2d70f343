"""The trial directory protocol: the source of truth for every trial (MLflow is
the view, rebuilt from here by `tailsweep sync`).

    ROOT/sweeps/NAME/trials/HASH/
        spec.json                 the TrialSpec (written when the trial starts)
        weights/TAG.safetensors   snapshots: init, converged, final, avg, it<N>
        result.json               the TrialResult
        measures.parquet          its final metrics that are table columns (sweep.measures_table)
        plots/*.png               per-trial plots
        DONE                      written last: {"status", "iterations"}; its presence means finished
        mlflow_run_id             JSON {"run_name": ..., "runs": {tracking URI: run id}}
        SYNCED                    JSON {tracking URI: run id} of the stores holding every record
        FAILED                    JSON {"error", "attempts"}: the last attempt raised (removed once DONE)

Every file is written atomically (temporary sibling + rename), so a crash never leaves half a record,
and DONE is written after everything else, so a crash before it looks unfinished, never finished.
MLflow is a view rebuilt from here (`tailsweep sync`); this module never imports MLflow.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from core.atomic import atomic_write_bytes, atomic_write_text
from core.result import TrialResult
from core.spec import TrialSpec
from sweep import measures_table, snapshots, trial_plots
from sweep.paths import Layout, TrialFiles
from sweep.tracking_config import store_key

if TYPE_CHECKING:
    import torch

log = logging.getLogger("tailsweep.trials")


@dataclass(frozen=True)
class TrackingRecord:
    """What a trial directory remembers about its MLflow runs, one per tracking store."""

    run_name: str | None = None
    runs: dict[str, str] = field(default_factory=dict)   # store_key(uri) -> run id

    def run_id(self, uri: str) -> str | None:
        return self.runs.get(store_key(uri))


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class TrialStore:
    """Trial directories of one sweep under one storage root."""

    layout: Layout
    sweep: str

    def __post_init__(self) -> None:
        self.layout.sweep_dir(self.sweep)   # validates the name before anything is written

    def files(self, spec_hash: str) -> TrialFiles:
        return TrialFiles(self.layout.trial_dir(self.sweep, spec_hash))

    # ---------------------------------------------------------------- state
    def is_done(self, spec_hash: str) -> bool:
        return self.files(spec_hash).is_done()

    def hashes(self) -> list[str]:
        """Every trial directory with a spec, finished or not, sorted."""
        root = self.layout.trials_dir(self.sweep)
        if not root.is_dir():
            return []
        return sorted(p.name for p in root.iterdir() if (p / "spec.json").is_file())

    def done_hashes(self) -> list[str]:
        return [h for h in self.hashes() if self.is_done(h)]

    def outcome(self, spec_hash: str) -> str | None:
        """The finished trial's status from its DONE marker (cheap: no result parsing); None if unfinished."""
        files = self.files(spec_hash)
        return _read_json(files.done)["status"] if files.is_done() else None

    def iter_done(self) -> Iterator[TrialResult]:
        for spec_hash in self.done_hashes():
            yield self.load_result(spec_hash)

    # ---------------------------------------------------------------- writing
    def write_spec(self, spec: TrialSpec) -> TrialFiles:
        """Record the spec a trial directory belongs to; idempotent, and refuses a different spec."""
        files = self.files(spec.spec_hash())
        text = spec.to_json()
        if files.spec.exists():
            held = files.spec.read_text(encoding="utf-8")
            # Parsed only when the text differs: a record written before a format change (train.device).
            if held != text and TrialSpec.from_json(held) != spec:
                raise ValueError(f"spec: {files.spec} holds a different spec for hash {spec.spec_hash()}")
            return files
        atomic_write_text(files.spec, text)
        return files

    def load_spec(self, spec_hash: str) -> TrialSpec:
        return TrialSpec.from_json(self.files(spec_hash).spec.read_text(encoding="utf-8"))

    def save_snapshot(self, spec_hash: str, tag: str, weights: Mapping[str, "torch.Tensor"]) -> Path:
        snapshots.check_snapshot_tag(tag)
        return snapshots.save_weights(self.files(spec_hash).weights / f"{tag}.safetensors", weights)

    def snapshot_saver(self, spec_hash: str) -> Callable[[str, Mapping[str, "torch.Tensor"]], None]:
        """The ``fn(tag, weights)`` a ``core.callbacks.SnapshotCallback`` wants."""
        def save(tag: str, weights: Mapping[str, "torch.Tensor"]) -> None:
            self.save_snapshot(spec_hash, tag, weights)
        return save

    def load_snapshot(self, spec_hash: str, tag: str) -> dict[str, "torch.Tensor"]:
        snapshots.check_snapshot_tag(tag)
        return snapshots.load_weights(self.files(spec_hash).weights / f"{tag}.safetensors")

    def write_result(self, result: TrialResult, *, plots: bool = True) -> bool:
        """result.json, its table, then plots, then DONE last. False (and nothing touched) if already
        finished: finished results are never overwritten."""
        spec_hash = result.spec.spec_hash()
        files = self.files(spec_hash)
        if not files.spec.exists():   # a started trial's spec was checked against its directory then
            self.write_spec(result.spec)
        if files.is_done():
            log.info("trial %s is already finished; keeping its record", spec_hash)
            return False
        atomic_write_text(files.result, result.to_json())
        self.write_table(result)
        if plots:
            for name, outcome in trial_plots.write_plots(result, files.weights, files.plots).items():
                if outcome.startswith("error"):
                    log.warning("trial %s: plot %s failed (%s); the record is kept", spec_hash, name, outcome)
        atomic_write_text(files.done, json.dumps({"status": result.status, "iterations": result.iterations}))
        (files.failed).unlink(missing_ok=True)   # a retry succeeded: the trial is finished
        return True

    def replace_measurements(self, result: TrialResult) -> None:
        """Rewrite a finished trial's result.json (its table and plots) with remeasured values: the one sanctioned
        change of a finished record (same training, newer measurement definitions). DONE stays."""
        files = self.files(result.spec.spec_hash())
        if not files.is_done():
            raise ValueError(f"spec_hash: trial {result.spec.spec_hash()} of sweep {self.sweep!r} is not finished")
        atomic_write_text(files.result, result.to_json())
        self.write_table(result)
        for name, outcome in trial_plots.write_plots(result, files.weights, files.plots).items():
            if outcome.startswith("error"):
                log.warning("trial %s: plot %s failed (%s); the record is kept", result.spec.spec_hash(), name, outcome)

    def write_table(self, result: TrialResult) -> Path | None:
        """measures.parquet from ``result``'s table keys, rewritten only when its bytes differ (removed when
        there are none: a diverged trial); the path, or None. Derived from result.json, never a second truth."""
        path = self.files(result.spec.spec_hash()).table
        data = measures_table.table_bytes(result.metrics)
        if data is None:
            path.unlink(missing_ok=True)
            return None
        if not path.exists() or path.read_bytes() != data:
            atomic_write_bytes(path, data)
        return path

    def ensure_table(self, result: TrialResult) -> Path | None:
        """The finished trial's table, written from ``result`` only where the directory lacks one (a trial
        finished before tables existed): a table already there is what its run was given, and is kept."""
        path = self.files(result.spec.spec_hash()).table
        return path if path.exists() else self.write_table(result)

    def write_failure(self, spec_hash: str, error: str) -> int:
        """Record that an attempt raised (an infrastructure fault or a bug; Ray retries it). Returns the
        number of failed attempts so far. Never touches a finished trial."""
        files = self.files(spec_hash)
        if files.is_done():
            return 0
        path = files.failed
        attempts = (_read_json(path).get("attempts", 0) if path.exists() else 0) + 1
        atomic_write_text(path, json.dumps({"error": str(error), "attempts": attempts}, indent=1))
        return attempts

    def failure(self, spec_hash: str) -> str | None:
        """The last failed attempt's error, for an unfinished trial; None otherwise."""
        files = self.files(spec_hash)
        path = files.failed
        if files.is_done() or not path.exists():
            return None
        return _read_json(path)["error"]

    def load_result(self, spec_hash: str) -> TrialResult:
        files = self.files(spec_hash)
        if not files.is_done():
            raise ValueError(f"spec_hash: trial {spec_hash} of sweep {self.sweep!r} is not finished")
        return TrialResult.from_json(files.result.read_text(encoding="utf-8"))

    # ---------------------------------------------------------------- tracking bookkeeping
    def tracking_record(self, spec_hash: str) -> TrackingRecord:
        path = self.files(spec_hash).run_id
        if not path.exists():
            return TrackingRecord()
        data = _read_json(path)
        return TrackingRecord(run_name=data.get("run_name"), runs=dict(data.get("runs", {})))

    def remember_run(self, spec_hash: str, *, run_name: str | None = None, uri: str | None = None,
                     run_id: str | None = None) -> TrackingRecord:
        """Remember the run name and/or the run id in one store, so a retry reopens the same run."""
        old = self.tracking_record(spec_hash)
        runs = dict(old.runs)
        if uri is not None and run_id is not None:
            runs[store_key(uri)] = run_id
        record = TrackingRecord(run_name=run_name or old.run_name, runs=runs)
        if record != old:
            atomic_write_text(self.files(spec_hash).run_id,
                                        json.dumps({"run_name": record.run_name, "runs": record.runs}, indent=1))
        return record

    def synced_run(self, spec_hash: str, uri: str) -> str | None:
        """The run id holding every record of this trial in the store at ``uri``, if synced there."""
        path = self.files(spec_hash).synced
        return _read_json(path).get(store_key(uri)) if path.exists() else None

    def mark_synced(self, spec_hash: str, uri: str, run_id: str) -> None:
        path = self.files(spec_hash).synced
        marks = _read_json(path) if path.exists() else {}
        marks[store_key(uri)] = run_id
        atomic_write_text(path, json.dumps(marks, indent=1))

    def clear_synced(self, spec_hash: str, uri: str) -> None:
        path = self.files(spec_hash).synced
        if path.exists():
            marks = _read_json(path)
            if marks.pop(store_key(uri), None) is not None:
                atomic_write_text(path, json.dumps(marks, indent=1))
