"""RunRecord: one trial as read from a tracking store, before it is split into tables."""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any

# MLflow's SQL store saves +-inf as +-float max; read it back as the infinity that was logged.
_FLOAT_MAX = sys.float_info.max


def clean_value(value: float) -> float:
    value = float(value)
    if math.isfinite(value) and abs(value) >= _FLOAT_MAX:
        return math.copysign(math.inf, value)
    return value


@dataclass(frozen=True)
class RunRecord:
    """One run: identity, tags, typed params, final metrics and step-metric histories.

    ``metrics`` maps a final-metric key to its value; ``history`` maps a step-metric key to
    ((step, value), ...) in step order.
    """

    run_id: str
    run_name: str
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    history: dict[str, tuple[tuple[int, float], ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.run_id, str) or not self.run_id:
            raise ValueError(f"run_id: must be a non-empty string, got {self.run_id!r}")
