"""Split RunRecords into the long tables of a SweepData. Pure: no MLflow, no files.

    trials    one row per trial: run identity, outcome, fit tag (good | underfit | None), measure version
              (tag; 1 when absent), typed spec params, scalar final metrics
              (eval/, gap/, alpha aggregates and roles, time/, iterations, any key outside the scheme),
              metric columns named by their core.keys key
    layers    trial x layer: parameter name, role, shape (JSON), number of entries (from the layers tag)
    alphas    trial x weight set x layer x variant: alpha (capped), alpha_raw
    prunable  trial x weight set x layer x method x center x eps: largest prunable fraction
    errors    trial x weight set x layer x method x center x ratio (removed fraction): relative error
    ratios    trial x weight set x method x ratio: pruned test acc/loss, remaining-parameter ratio,
              fraction of singular values removed (singular only)
    steps     trial x step-metric key x step: value (layer set for alpha/current/... keys)
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import pandas as pd

from analysis import schema
from analysis.data import REQUIRED_COLUMNS, SweepData
from core import keys, vocab
from core.keys import is_step_key


@dataclass(frozen=True)
class RunRecord:
    """One trial as read from a tracking store, before it is split into tables: identity, tags, typed
    params, final metrics and step-metric histories.

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


def _layer_rows(run: RunRecord) -> list[dict[str, Any]]:
    text = run.tags.get(keys.TAG_LAYERS)
    if not text:
        return []
    try:
        layers = json.loads(text)
    except json.JSONDecodeError:
        return []  # a damaged tag loses the layer names and roles, not the metrics
    rows = []
    for item in layers:
        shape = [int(s) for s in item.get("shape", [])]
        rows.append({schema.RUN: run.run_id, schema.LAYER: int(item["index"]), schema.LAYER_NAME: str(item.get("name", "")),
                     schema.ROLE: str(item.get("role", "")), schema.SHAPE: json.dumps(shape),
                     schema.N_ENTRIES: math.prod(shape) if shape else 0})
    return rows


def _frame(rows: list[dict[str, Any]], table: str, extra: Iterable[str] = ()) -> pd.DataFrame:
    columns = list(REQUIRED_COLUMNS[table]) + [c for c in extra if c not in REQUIRED_COLUMNS[table]]
    return pd.DataFrame(rows, columns=columns)


class _Splitter:
    """Routes each final metric of one run to the table its parsed key belongs in."""

    def __init__(self, run: RunRecord, layer_info: dict[int, dict[str, Any]]):
        self.run, self.info = run, layer_info
        self.scalars: dict[str, float] = {}
        self.alphas: dict[tuple, dict[str, float]] = {}
        self.prunable: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.ratios: dict[tuple, dict[str, Any]] = {}
        self.remaining: dict[tuple, float] = {}
        self.sv_removed: dict[float, float] = {}

    def _layer(self, index: int) -> dict[str, Any]:
        info = self.info.get(index, {})
        return {schema.RUN: self.run.run_id, schema.LAYER: index, schema.ROLE: info.get(schema.ROLE), schema.N_ENTRIES: info.get(schema.N_ENTRIES)}

    def add(self, key: str, value: float) -> None:
        p = keys.parse_key(key)
        if p is None:
            self.scalars[key] = value
        elif p.family == "alpha" and p.layer is not None:
            slot = self.alphas.setdefault((p.wset, p.layer, p.variant), {})
            slot[schema.ALPHA_RAW if p.raw else schema.ALPHA] = value
        elif p.family == "prunable" and p.layer is not None:
            self.prunable.append({**self._layer(p.layer), schema.WSET: p.wset, schema.METHOD: p.method,
                                  schema.CENTER: p.center, schema.EPS: p.eps, schema.PRUNABLE: value})
        elif p.family == "error" and p.layer is not None:
            self.errors.append({**self._layer(p.layer), schema.WSET: p.wset, schema.METHOD: p.method,
                                schema.CENTER: p.center, schema.RATIO: p.ratio, schema.ERROR: value})
        elif p.family == "pruned":
            column = schema.PRUNED_ACC if p.what == "acc" else schema.PRUNED_LOSS
            self.ratios.setdefault((p.wset, p.method, p.ratio), {})[column] = value
        elif p.family == "remaining":
            self.remaining[(p.method, p.ratio)] = value
        elif p.family == "sv_removed":
            self.sv_removed[p.ratio] = value
        else:
            self.scalars[key] = value

    def alpha_rows(self) -> list[dict[str, Any]]:
        return [{**self._layer(layer), schema.WSET: wset, schema.VARIANT: variant,
                 schema.ALPHA: v.get(schema.ALPHA, math.nan), schema.ALPHA_RAW: v.get(schema.ALPHA_RAW, math.nan)}
                for (wset, layer, variant), v in sorted(self.alphas.items())]

    def ratio_rows(self) -> list[dict[str, Any]]:
        rows = []
        for (wset, method, ratio), v in sorted(self.ratios.items()):
            rows.append({schema.RUN: self.run.run_id, schema.WSET: wset, schema.METHOD: method, schema.RATIO: ratio,
                         schema.PRUNED_ACC: v.get(schema.PRUNED_ACC, math.nan), schema.PRUNED_LOSS: v.get(schema.PRUNED_LOSS, math.nan),
                         schema.REMAINING: self.remaining.get((method, ratio), math.nan),
                         schema.SV_REMOVED: self.sv_removed.get(ratio, math.nan) if method == "singular" else math.nan})
        return rows


def measure_version(tags: dict[str, str]) -> int:
    """The measure version a run's metrics were made by; runs from before the tag existed are version 1."""
    text = tags.get(keys.TAG_MEASURE_VERSION)
    try:
        return int(text) if text else 1
    except ValueError:
        return 1   # a damaged tag: the oldest version, so the report asks for a remeasure rather than trusting it


def _trial_row(run: RunRecord, scalars: dict[str, float]) -> dict[str, Any]:
    row: dict[str, Any] = {
        schema.RUN: run.run_id, schema.RUN_NAME: run.run_name, schema.SPEC_HASH: run.tags.get(keys.TAG_SPEC_HASH, ""),
        schema.OUTCOME: run.tags.get(keys.TAG_OUTCOME) or vocab.INCOMPLETE, schema.VERSION: run.tags.get(keys.TAG_VERSION, ""),
        schema.FIT: run.tags.get(keys.TAG_FIT), schema.MEASURE_VERSION: measure_version(run.tags),
    }
    row.update(run.params)
    row.update(scalars)
    return row


def build_tables(name: str, runs: list[RunRecord], meta: dict[str, Any] | None = None) -> SweepData:
    """All tables of one sweep from its runs (any order; rows come out sorted by run name)."""
    runs = sorted(runs, key=lambda r: (r.run_name, r.run_id))
    trials, layers, alphas, prunable, errors, ratios, steps = [], [], [], [], [], [], []
    for run in runs:
        layer_rows = _layer_rows(run)
        layers += layer_rows
        splitter = _Splitter(run, {row[schema.LAYER]: row for row in layer_rows})
        for key, value in sorted(run.metrics.items()):
            if not is_step_key(key):
                splitter.add(key, value)
        trials.append(_trial_row(run, splitter.scalars))
        alphas += splitter.alpha_rows()
        prunable += splitter.prunable
        errors += splitter.errors
        ratios += splitter.ratio_rows()
        for key, points in sorted(run.history.items()):
            parsed = keys.parse_key(key)
            layer = parsed.layer if parsed is not None else None
            steps += [{schema.RUN: run.run_id, schema.KEY: key, schema.STEP: int(s), schema.VALUE: float(v), schema.LAYER: layer}
                      for s, v in points]
    steps_frame = _frame(steps, "steps")
    steps_frame[schema.LAYER] = steps_frame[schema.LAYER].astype("Int64")
    return SweepData(
        name=name, trials=_trials_frame(trials), layers=_frame(layers, "layers"),
        alphas=_typed(_frame(alphas, "alphas")), prunable=_typed(_frame(prunable, "prunable")),
        errors=_typed(_frame(errors, "errors")), ratios=_frame(ratios, "ratios"), steps=steps_frame,
        meta=dict(meta or {}),
    )


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    # Layers without a layers tag have no role / size: keep them, with a nullable size.
    frame[schema.N_ENTRIES] = frame[schema.N_ENTRIES].astype("Int64")
    frame[schema.LAYER] = frame[schema.LAYER].astype("int64")
    return frame


def _trials_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=list(REQUIRED_COLUMNS["trials"]))
    fixed = list(REQUIRED_COLUMNS["trials"]) + [schema.FIT, schema.MEASURE_VERSION]
    params = sorted(c for c in frame.columns if c not in fixed and "/" not in c and c != "iterations")
    metrics = sorted(c for c in frame.columns if c not in fixed and c not in params)
    return frame[fixed + params + metrics].reset_index(drop=True)
