"""What was run: the observed grid per model family, and outcome counts with missing cells.

A sweep is a Cartesian product (sweep.config), so inside each (arch, dataset, depth) family the grid is
the product of the observed eta/b, batch size, width and seed values; a cell of that product with no
run is counted as missing, a run without an outcome tag as incomplete, and a capped trial that does not
fit (analysis.usable) as underfit instead of capped, so the categories are disjoint. When the sweep file is known, its
grid (the product of its axis lengths) also fixes the expected total, which catches axis values that
have no run at all.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import yaml

from analysis import schema
from analysis.curves import GROUP_LABEL, trial_axes
from analysis.data import SweepData
from analysis.usable import trial_usability
from core import fit, vocab

# One column per disjoint category of a grid cell; 'underfit' sits beside the capped trials it comes from.
OUTCOME_COLUMNS = (vocab.CONVERGED, vocab.CAPPED, vocab.FIT_UNDERFIT, vocab.DIVERGED, vocab.FAILED,
                   vocab.INCOMPLETE, vocab.MISSING)


def _cell(values) -> tuple:
    # NaN never equals NaN: map it to None so cells with an absent axis still match.
    return tuple(None if isinstance(v, float) and np.isnan(v) else v for v in values)


def cell_categories(data: SweepData, min_train_acc: float = fit.MIN_TRAIN_ACC) -> pd.Series:
    """Each trial's category (an OUTCOME_COLUMNS word), in trials order: its outcome, or 'underfit'."""
    fits = trial_usability(data.trials, min_train_acc)[schema.FIT].to_numpy()
    return pd.Series([vocab.FIT_UNDERFIT if outcome == vocab.CAPPED and word == vocab.FIT_UNDERFIT else outcome
                      for outcome, word in zip(data.trials[schema.OUTCOME], fits)], dtype=object)


def grid_cells(data: SweepData, min_train_acc: float = fit.MIN_TRAIN_ACC) -> pd.DataFrame:
    """One row per (family, eta/b, width) cell: trial counts per category, 'missing' included."""
    axes = trial_axes(data, usable_only=False)
    axes[schema.OUTCOME] = cell_categories(data, min_train_acc).to_numpy()
    rows = []
    for label, family in axes.groupby(GROUP_LABEL, sort=True):
        present: dict[tuple, list[str]] = {}
        for rec in family.to_dict("records"):
            present.setdefault(_cell(rec[a] for a in schema.GRID_AXES), []).append(rec[schema.OUTCOME])
        values = [sorted(set(_cell(family[a])), key=lambda v: (v is None, v)) for a in schema.GRID_AXES]
        counts: dict[tuple, dict[str, int]] = {}
        for cell in itertools.product(*values):
            eta, _, width, _ = cell
            slot = counts.setdefault((eta, width), dict.fromkeys(OUTCOME_COLUMNS, 0))
            for outcome in present.get(cell, [vocab.MISSING]):
                slot[outcome] = slot.get(outcome, 0) + 1
        for (eta, width), slot in counts.items():
            rows.append({GROUP_LABEL: label, schema.ETA_B: eta, schema.WIDTH: width, **slot})
    return pd.DataFrame(rows, columns=[GROUP_LABEL, schema.ETA_B, schema.WIDTH, *OUTCOME_COLUMNS])


def expected_trials(sweep_file: str | None) -> int | None:
    """The number of trials a sweep file's grid asks for (product of its axis lengths); None if unknown."""
    if not sweep_file:
        return None
    try:
        grid = (yaml.safe_load(sweep_file) or {}).get("grid")
    except (yaml.YAMLError, AttributeError):
        return None
    if not isinstance(grid, dict) or not grid or not all(isinstance(v, list) and v for v in grid.values()):
        return None
    return math.prod(len(v) for v in grid.values())


def outcome_counts(data: SweepData, min_train_acc: float = fit.MIN_TRAIN_ACC) -> pd.DataFrame:
    """Per family and in total: how many trials converged, capped (and fit), underfit, diverged, failed,
    incomplete, missing.

    The 'all' row's missing count is the sweep file's expected total minus the runs when the file is
    known and asks for more, else the sum of the families' missing cells.
    """
    cells = grid_cells(data, min_train_acc)
    per_family = cells.groupby(GROUP_LABEL)[list(OUTCOME_COLUMNS)].sum().reset_index()
    total = pd.DataFrame([{GROUP_LABEL: "all", **per_family[list(OUTCOME_COLUMNS)].sum().to_dict()}])
    out = pd.concat([per_family, total], ignore_index=True)
    out["runs"] = out[[c for c in OUTCOME_COLUMNS if c != vocab.MISSING]].sum(axis=1)
    expected = expected_trials(data.meta.get("sweep_file"))
    if expected is not None:
        last = out.index[-1]
        out.loc[last, vocab.MISSING] = max(int(out.loc[last, vocab.MISSING]), expected - int(out.loc[last, "runs"]))
    out["cells"] = out["runs"] + out[vocab.MISSING]
    return out


def grid_summary(data: SweepData) -> pd.DataFrame:
    """Per family: the values of each grid axis and the number of runs."""
    axes = trial_axes(data, usable_only=False)
    rows = []
    for label, family in axes.groupby(GROUP_LABEL, sort=True):
        row = {GROUP_LABEL: label, "runs": len(family)}
        for axis in schema.GRID_AXES:
            vals = sorted({v for v in _cell(family[axis]) if v is not None})
            row[axis] = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in vals)
        rows.append(row)
    return pd.DataFrame(rows, columns=[GROUP_LABEL, "runs", *schema.GRID_AXES])
