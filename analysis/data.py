"""SweepData: every table of one sweep, whether it came from MLflow or from an exported bundle."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import pandas as pd

from analysis import schema as S

REQUIRED_COLUMNS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "trials": (S.RUN, S.RUN_NAME, S.SPEC_HASH, S.OUTCOME, S.VERSION),
    "layers": (S.RUN, S.LAYER, S.LAYER_NAME, S.ROLE, S.SHAPE, S.N_ENTRIES),
    "alphas": (S.RUN, S.WSET, S.LAYER, S.ROLE, S.N_ENTRIES, S.VARIANT, S.ALPHA, S.ALPHA_RAW),
    "prunable": (S.RUN, S.WSET, S.LAYER, S.ROLE, S.N_ENTRIES, S.METHOD, S.CENTER, S.EPS, S.PRUNABLE),
    "errors": (S.RUN, S.WSET, S.LAYER, S.ROLE, S.N_ENTRIES, S.METHOD, S.CENTER, S.RATIO, S.ERROR),
    "ratios": (S.RUN, S.WSET, S.METHOD, S.RATIO, S.PRUNED_ACC, S.PRUNED_LOSS, S.REMAINING, S.SV_REMOVED),
    "steps": (S.RUN, S.KEY, S.STEP, S.VALUE, S.LAYER),
})


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
        if name not in S.TABLES:
            raise ValueError(f"table: unknown name {name!r} (allowed: {', '.join(S.TABLES)})")
        return getattr(self, name)

    def usable_trials(self) -> pd.DataFrame:
        """Trials whose final metrics enter the statistics (converged or capped)."""
        return self.trials[self.trials[S.OUTCOME].isin(S.USABLE_OUTCOMES)]
