"""TrialResult: everything one trial measured, self-describing and JSON round-trippable."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from core import keys
from core.spec import TrialSpec
from core.version import MEASURE_VERSION
from core.vocab import OUTCOMES, check_choice


def json_number(value: float | None) -> float | str | None:
    """JSON has no inf/nan: write them as strings ('inf', 'nan') so a diverged trial's record still parses."""
    return value if value is None or math.isfinite(value) else repr(float(value))


def _from_json_number(value: float | str) -> float:
    return float(value)


@dataclass(frozen=True)
class TrialResult:
    """The outcome of ``core.pipeline.run_trial``.

    ``metrics`` holds the final metrics and ``history`` the step metrics as (step, key, value), all keyed
    by the scheme in ``core.keys``. ``layers`` describes the weight layers in order:
    {"index", "name", "role", "shape"}.
    """

    spec: TrialSpec
    status: str                                   # converged | capped | diverged
    iterations: int
    metrics: dict[str, float] = field(default_factory=dict)
    history: tuple[tuple[int, str, float], ...] = ()
    layers: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()                   # e.g. 'diverged at iteration 27: analysis skipped'
    measure_version: int = MEASURE_VERSION        # the definitions the metrics were measured by

    def __post_init__(self) -> None:
        check_choice("status", self.status, OUTCOMES)
        if isinstance(self.measure_version, bool) or not isinstance(self.measure_version, int) \
                or self.measure_version < 1:
            raise ValueError(f"measure_version: must be an integer >= 1, got {self.measure_version!r}")

    def to_records(self) -> list[dict[str, Any]]:
        """Flat rows, one per metric value: spec hash, key, step, value and the key's parsed parts."""
        base = {"spec_hash": self.spec.spec_hash(), "status": self.status}
        rows = [dict(base, key=k, step=self.iterations, value=v) for k, v in sorted(self.metrics.items())]
        rows += [dict(base, key=k, step=s, value=v) for s, k, v in self.history]
        for row in rows:
            parsed = keys.parse_key(row["key"])
            if parsed is not None:
                row.update({k: v for k, v in vars(parsed).items() if v is not None and k != "raw"})
                row["raw"] = parsed.raw
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "spec_hash": self.spec.spec_hash(),
            "status": self.status,
            "iterations": self.iterations,
            "metrics": {k: json_number(v) for k, v in self.metrics.items()},
            "history": [[s, k, json_number(v)] for s, k, v in self.history],
            "layers": list(self.layers),
            "notes": list(self.notes),
            "measure_version": self.measure_version,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrialResult":
        return cls(
            spec=TrialSpec.from_dict(data["spec"]),
            status=data["status"],
            iterations=int(data["iterations"]),
            metrics={k: _from_json_number(v) for k, v in data["metrics"].items()},
            history=tuple((int(s), k, _from_json_number(v)) for s, k, v in data["history"]),
            layers=tuple(data["layers"]),
            notes=tuple(data.get("notes", ())),
            measure_version=int(data.get("measure_version", 1)),   # records before versioning: 1
        )

    @classmethod
    def from_json(cls, text: str) -> "TrialResult":
        return cls.from_dict(json.loads(text))
