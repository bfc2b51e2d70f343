"""SweepData: every table of one sweep, whether it came from MLflow or from an exported bundle."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import pandas as pd

from analysis import schema
from analysis.usable import trial_usability
from core import fit, vocab

_LAYER_ROW = (schema.RUN, schema.WSET, schema.LAYER, schema.ROLE, schema.N_ENTRIES)   # per-layer tables start so

REQUIRED_COLUMNS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "trials": (schema.RUN, schema.RUN_NAME, schema.SPEC_HASH, schema.OUTCOME, schema.VERSION),
    "layers": (schema.RUN, schema.LAYER, schema.LAYER_NAME, schema.ROLE, schema.SHAPE, schema.N_ENTRIES),
    "alphas": (*_LAYER_ROW, schema.VARIANT, schema.ALPHA, schema.ALPHA_RAW),
    "prunable": (*_LAYER_ROW, schema.METHOD, schema.CENTER, schema.EPS, schema.PRUNABLE),
    "errors": (*_LAYER_ROW, schema.METHOD, schema.CENTER, schema.RATIO, schema.ERROR),
    "ratios": (schema.RUN, schema.WSET, schema.METHOD, schema.RATIO, schema.PRUNED_ACC, schema.PRUNED_LOSS,
               schema.REMAINING, schema.SV_REMOVED),
    "steps": (schema.RUN, schema.KEY, schema.STEP, schema.VALUE, schema.LAYER),
})
TABLES = tuple(REQUIRED_COLUMNS)   # the table names, in bundle order


@dataclass(frozen=True, eq=False)
class SweepData:
    """The tables of one sweep (see ``analysis.tables`` for what each row is) plus where they came from.

    ``meta`` carries provenance: the tailsweep version that exported it, the sweep file text (or None),
    the source (tracking URI or bundle directory).
    """

    name: str
    trials: pd.DataFrame
    layers: pd.DataFrame
    alphas: pd.DataFrame
    prunable: pd.DataFrame
    errors: pd.DataFrame
    ratios: pd.DataFrame
    steps: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for table, needed in REQUIRED_COLUMNS.items():
            frame = getattr(self, table)
            if not isinstance(frame, pd.DataFrame):
                raise ValueError(f"{table}: must be a pandas DataFrame, got {type(frame).__name__}")
            missing = [c for c in needed if c not in frame.columns]
            if missing:
                raise ValueError(f"{table}: missing columns {missing} (required: {list(needed)})")

    def table(self, name: str) -> pd.DataFrame:
        return getattr(self, vocab.check_choice("table", name, TABLES))

    def usable_trials(self, min_train_acc: float = fit.MIN_TRAIN_ACC) -> pd.DataFrame:
        """Trials whose final metrics enter the statistics: trained and fitting (analysis.usable)."""
        return self.trials[trial_usability(self.trials, min_train_acc)[schema.USABLE].to_numpy()]
