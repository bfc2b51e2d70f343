"""Aggregations behind the report's figures: DataFrames in, DataFrames out (no loading, no plotting).

Every function takes a SweepData and resolved AnalysisOptions (see ``analysis.options.resolve_options``); only usable
trials (converged or capped) enter. Column names: ``analysis.schema`` plus the ones documented below.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis import schema
from analysis.data import SweepData
from analysis.options import AnalysisOptions
from analysis.reference import StableReference
from analysis.stats import slope_estimate
from core import keys, vocab

KAPPA, GROUP_LABEL, LOG_WIDTH = "kappa", "group", "log_width"
DENSE_ACC, REL_ACC, GEN_ERROR = "dense_acc", "rel_acc", "gen_error"
AXES = (schema.RUN, schema.ARCH, schema.DATASET, schema.DEPTH, schema.ETA_B, schema.BATCH, schema.WIDTH, schema.SEED)


def group_label(row: pd.Series | dict) -> str:
    """'fcn depth 3 / mnist5k', 'vgg11 / cifar10'."""
    depth = row.get(schema.DEPTH)
    arch = str(row.get(schema.ARCH))
    if depth is not None and not pd.isna(depth):
        arch = f"{arch} depth {int(depth)}"
    return f"{arch} / {row.get(schema.DATASET)}"


def trial_axes(data: SweepData, usable_only: bool = True) -> pd.DataFrame:
    """One row per trial: the grid coordinates, outcome and a readable group label."""
    trials = data.usable_trials() if usable_only else data.trials
    out = pd.DataFrame({c: trials[c] if c in trials.columns else np.nan for c in AXES})
    out[schema.OUTCOME] = trials[schema.OUTCOME]
    out[GROUP_LABEL] = [group_label(r) for r in out.to_dict("records")]
    return out.reset_index(drop=True)


def _near(series: pd.Series, values) -> pd.Series:
    values = np.atleast_1d(np.asarray(values, float))
    return pd.Series(np.isclose(series.to_numpy(float)[:, None], values[None, :]).any(axis=1), index=series.index)


def layer_alphas(data: SweepData, o: AnalysisOptions) -> pd.DataFrame:
    a = data.alphas
    a = a[(a[schema.WSET] == o.wset) & (a[schema.VARIANT] == o.variant)]
    return a[[schema.RUN, schema.LAYER, schema.ROLE, schema.N_ENTRIES, schema.ALPHA, schema.ALPHA_RAW]]


def trial_alpha(data: SweepData, o: AnalysisOptions, which: str = "median", raw: bool = False) -> pd.Series:
    """Per-run alpha aggregate ('median' | 'mean' | 'min' | 'role_{role}'), indexed by run id.

    The logged aggregate when present; otherwise computed from the per-layer table the same way.
    """
    key = keys.alpha_key(o.wset, o.variant, which, raw=raw)
    if key in data.trials.columns and data.trials[key].notna().any():
        return pd.Series(data.trials[key].to_numpy(float), index=data.trials[schema.RUN].to_numpy())
    layers = layer_alphas(data, o)
    column = schema.ALPHA_RAW if raw else schema.ALPHA
    if which.startswith("role_"):
        layers, which = layers[layers[schema.ROLE] == which[5:]], "median"
    return layers.groupby(schema.RUN)[column].agg(which).astype(float)


def alpha_vs_eta(data: SweepData, o: AnalysisOptions) -> pd.DataFrame:
    """Alpha (each aggregate and layer role, capped and raw) per (group, width, eta/b): mean, std, n."""
    axes = trial_axes(data)
    frames = []
    for which in vocab.AGGREGATES + tuple(f"role_{r}" for r in vocab.ROLES):
        for raw in (False, True):
            values = trial_alpha(data, o, which, raw)
            frames.append(axes.assign(series=which, raw=raw, value=axes[schema.RUN].map(values).astype(float)))
    long = pd.concat(frames, ignore_index=True)
    long = long[np.isfinite(long["value"])]
    keys_ = [GROUP_LABEL, schema.ARCH, schema.DATASET, schema.DEPTH, schema.WIDTH, schema.ETA_B, "series", "raw"]
    out = long.groupby(keys_, dropna=False)["value"].agg(["mean", "std", "min", "max", "count"]).reset_index()
    return out.rename(columns={"count": "n"})


def layer_points(data: SweepData, o: AnalysisOptions) -> pd.DataFrame:
    """Usable trial x layer x method: alpha, alpha_raw and the prunable fraction at o.eps."""
    p = data.prunable
    p = p[(p[schema.WSET] == o.wset) & (p[schema.CENTER] == o.center) & _near(p[schema.EPS], o.eps)]
    merged = layer_alphas(data, o).merge(p[[schema.RUN, schema.LAYER, schema.METHOD, schema.PRUNABLE]], on=[schema.RUN, schema.LAYER])
    return trial_axes(data).merge(merged, on=schema.RUN)


def error_points(data: SweepData, o: AnalysisOptions) -> pd.DataFrame:
    """Usable trial x layer x method x kept fraction kappa: relative error, with the layer's alpha."""
    e = data.errors
    e = e[(e[schema.WSET] == o.wset) & (e[schema.CENTER] == o.center) & _near(e[schema.RATIO], o.ratios)]
    e = e.assign(**{KAPPA: (1.0 - e[schema.RATIO]).round(6)})
    alphas = layer_alphas(data, o)[[schema.RUN, schema.LAYER, schema.ALPHA, schema.ALPHA_RAW]]
    columns = [schema.RUN, schema.LAYER, schema.ROLE, schema.N_ENTRIES, schema.METHOD, KAPPA, schema.ERROR]
    merged = e[columns].merge(alphas, on=[schema.RUN, schema.LAYER], how="left")
    return trial_axes(data).merge(merged, on=schema.RUN)


def per_trial_role(points: pd.DataFrame, value: str, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Average the layers of one role inside each trial (hidden layers are several)."""
    by = list(AXES) + [GROUP_LABEL, schema.METHOD, schema.ROLE, *extra]
    out = points.groupby(by, dropna=False).agg(
        value=(value, "mean"), alpha=(schema.ALPHA, "mean"), n_entries=(schema.N_ENTRIES, "median")).reset_index()
    return out.rename(columns={"value": value})


def width_curves(points: pd.DataFrame, value: str, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """value vs width, one curve per (group, method, role, eta/b[, kappa]): mean, std, n over seeds."""
    trials = per_trial_role(points, value, extra)
    by = [GROUP_LABEL, schema.ARCH, schema.DATASET, schema.DEPTH, schema.METHOD, schema.ROLE, *extra, schema.ETA_B, schema.WIDTH]
    out = trials.groupby(by, dropna=False).agg(
        mean=(value, "mean"), std=(value, "std"), n=(value, "count"),
        alpha=("alpha", "mean"), n_entries=("n_entries", "median")).reset_index()
    return out


def with_reference(curve: pd.DataFrame, reference: StableReference, kind: str) -> pd.DataFrame:
    """Add ref_q05 / ref_median / ref_q95 / ref_extrapolated to the magnitude rows of a width curve.

    kind 'error' reads the row's kappa; kind 'prunable' the reference's eps. Other methods get NaN:
    their items (singular values, units) are not i.i.d. entries, so the entry-wise reference does not apply.
    """
    vocab.check_choice("kind", kind, (schema.ERROR, schema.PRUNABLE))
    cols = {"ref_q05": [], "ref_median": [], "ref_q95": [], "ref_extrapolated": []}
    for row in curve.to_dict("records"):
        q, extrapolated = (math.nan,) * 3, False
        if row[schema.METHOD] == "magnitude" and np.isfinite(row["alpha"]) and np.isfinite(row["n_entries"]) \
                and row["n_entries"] >= 2:
            point = reference.point(float(row["alpha"]), int(row["n_entries"]))
            extrapolated = point.extrapolated
            if kind == "prunable":
                q = point.prunable_q
            else:
                idx = [i for i, r in enumerate(point.ratios) if math.isclose(1 - r, row[KAPPA], abs_tol=1e-6)]
                q = point.error_q[idx[0]] if idx else q
        for name, v in zip(("ref_q05", "ref_median", "ref_q95"), q):
            cols[name].append(v)
        cols["ref_extrapolated"].append(extrapolated)
    return curve.assign(**cols)


def error_slopes(points: pd.DataFrame, o: AnalysisOptions) -> pd.DataFrame:
    """Slope of relative error vs ln(width) per (group, eta/b, method, role, kappa), trial-bootstrap CI."""
    trials = per_trial_role(points, schema.ERROR, (KAPPA,))
    trials = trials.assign(**{LOG_WIDTH: np.log(trials[schema.WIDTH].astype(float))})
    rows = []
    by = [GROUP_LABEL, schema.ARCH, schema.DATASET, schema.DEPTH, schema.ETA_B, schema.METHOD, schema.ROLE, KAPPA]
    for key, frame in trials.groupby(by, dropna=False):
        est = slope_estimate(frame, LOG_WIDTH, schema.ERROR, cluster=schema.RUN, n_boot=o.n_boot, level=o.level, seed=o.seed)
        rows.append(dict(zip(by, key), slope=est.value, low=est.low, high=est.high, n_trials=est.n_clusters,
                         n_widths=frame[schema.WIDTH].nunique(), alpha=frame["alpha"].mean()))
    return pd.DataFrame(rows, columns=by + ["slope", "low", "high", "n_trials", "n_widths", "alpha"])


def accuracy_points(data: SweepData, o: AnalysisOptions) -> pd.DataFrame:
    """Usable trial x method x ratio: pruned accuracy (absolute and relative to dense), trial alpha,
    remaining-parameter ratio and (singular) the fraction of singular values removed."""
    r = data.ratios[data.ratios[schema.WSET] == o.wset]
    axes = trial_axes(data)
    axes[schema.ALPHA] = axes[schema.RUN].map(trial_alpha(data, o, "median")).astype(float)
    dense_key = keys.eval_key(o.wset, "test", "acc")
    dense = data.trials.set_index(schema.RUN)[dense_key] if dense_key in data.trials.columns else pd.Series(dtype=float)
    axes[DENSE_ACC] = axes[schema.RUN].map(dense).astype(float)
    out = axes.merge(r.drop(columns=[schema.WSET]), on=schema.RUN)
    return out.assign(**{REL_ACC: out[schema.PRUNED_ACC] / out[DENSE_ACC]})


def retained_accuracy(acc: pd.DataFrame, method: str) -> pd.DataFrame:
    """Per trial: mean pruned/dense accuracy over the removed ratios > 0 of one method (higher: keeps
    accuracy to larger ratios), with the trial's alpha."""
    a = acc[(acc[schema.METHOD] == method) & (acc[schema.RATIO] > 0)]
    by = [schema.RUN, GROUP_LABEL, schema.ARCH, schema.DATASET, schema.DEPTH, schema.ETA_B, schema.WIDTH, schema.SEED]
    return a.groupby(by, dropna=False).agg(**{REL_ACC: (REL_ACC, "mean"), schema.ALPHA: (schema.ALPHA, "first")}).reset_index()


def gap_points(data: SweepData, o: AnalysisOptions) -> pd.DataFrame:
    """Per usable trial: alpha (median over layers), mean prunable fraction over layers (o.method, o.eps),
    gap (test - train) of accuracy and loss, and gen_error = train acc - test acc."""
    axes = trial_axes(data)
    axes[schema.ALPHA] = axes[schema.RUN].map(trial_alpha(data, o, "median")).astype(float)
    lp = layer_points(data, o)
    prunable = lp[lp[schema.METHOD] == o.method].groupby(schema.RUN)[schema.PRUNABLE].mean()
    axes[schema.PRUNABLE] = axes[schema.RUN].map(prunable).astype(float)
    trials = data.trials.set_index(schema.RUN)
    for what in ("acc", "loss"):
        key = keys.gap_key(o.wset, what)
        test, train = keys.eval_key(o.wset, "test", what), keys.eval_key(o.wset, "train", what)
        if key in trials.columns:
            gap = trials[key]
        elif test in trials.columns and train in trials.columns:
            gap = trials[test] - trials[train]
        else:
            gap = pd.Series(np.nan, index=trials.index)
        axes[f"gap_{what}"] = axes[schema.RUN].map(gap).astype(float)
    axes[GEN_ERROR] = -axes["gap_acc"]
    return axes


def alpha_trajectories(data: SweepData) -> pd.DataFrame:
    """Step table rows of the current-weights alpha per layer, with each trial's grid coordinates."""
    steps = data.steps[data.steps[schema.KEY].str.startswith(keys.CURRENT_ALPHA_PREFIX)]
    return trial_axes(data, usable_only=False).merge(steps, on=schema.RUN)
