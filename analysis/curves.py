"""Aggregations behind the report's figures: DataFrames in, DataFrames out (no loading, no plotting).

Every function takes a SweepData and resolved AnalysisOptions (see ``analysis.options.resolve_options``); only usable
trials (trained and fitting, ``analysis.usable``) enter. Column names: ``analysis.schema`` plus the ones
documented below.

Families. A family is keyed by every spec field but the swept science axes (eta/b, batch, width, seed),
their product eta, and where the data lives (data.root, data.download). Its label spells out the
architecture, dataset and depth, the parametrization and the iterate-noise settings (so sigma = 0 and
sigma = 0.05 never pool), and 'field=value' for every other field whose value differs between trials of
that architecture, dataset, depth and parametrization ('... / data.n_train=1000'). Runs made
before a field existed read as its default (noise none, parametrization standard); noise 'none' and
noise_scale 0 are the same plain SGD, whatever the other noise fields say.
"""
from __future__ import annotations

import ast
import math
from typing import Any

import numpy as np
import pandas as pd

from analysis import schema
from analysis.data import SweepData
from analysis.options import AnalysisOptions
from analysis.reference import StableReference
from analysis.stats import FRACTION_RANGE, MIN_REPLICATES, replicate_estimate, t_interval, within_slope
from core import fit, keys, vocab
from core.spec import ModelSpec, TrainSpec, TrialSpec

KAPPA, GROUP_LABEL, LOG_WIDTH = "kappa", "group", "log_width"
BASE_LABEL, NOISE_LABEL = "base_group", "noise_setting"   # the family without its noise; the noise alone
NOISELESS = "none"                                         # NOISE_LABEL of plain SGD
DENSE_ACC, REL_ACC, GEN_ERROR = "dense_acc", "rel_acc", "gen_error"
PRUNABLE_NON_LAST = "prunable_non_last"   # a trial's mean prunable fraction over its non-last layers
AXES = (schema.RUN, schema.ARCH, schema.DATASET, schema.DEPTH, schema.ETA_B, schema.BATCH, schema.WIDTH, schema.SEED)

_TRAIN_DEFAULTS, _MODEL_DEFAULTS = TrainSpec(), ModelSpec()   # what a run without the param was trained with
_SPEC_DEFAULTS = TrialSpec(eta_over_b=1e-3).flat()
# Spec fields outside every family key, and the ones its label spells out in words of its own.
_OUTSIDE_FAMILY = frozenset({*schema.GRID_AXES, "eta", "data.root", "data.download"})
_SPELLED_OUT = frozenset({schema.ARCH, schema.DATASET, schema.DEPTH, schema.PARAMETRIZATION, *schema.NOISE_COLUMNS})
FAMILY_SETTINGS = tuple(sorted(set(_SPEC_DEFAULTS) - _OUTSIDE_FAMILY - _SPELLED_OUT))


def _exclude_set(value) -> tuple[str, ...]:
    if isinstance(value, str):   # params come back as text: "['first_conv', 'last']"
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return (value,)
    return tuple(sorted(str(v) for v in value)) if isinstance(value, (list, tuple)) else ()


def _given(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def noise_label(row: pd.Series | dict) -> str:
    """'none', or 'noise=row σ=0.05' plus every noise field that differs from its default (so the
    label tells every distinct setting apart): 'noise=entry σ=0.02 α=1.5 no lr rescale'."""
    noise = row.get(schema.NOISE)
    noise = str(noise) if _given(noise) else _TRAIN_DEFAULTS.noise
    scale = row.get(schema.NOISE_SCALE)
    if noise == vocab.NOISE_NONE or not _given(scale) or float(scale) == 0:
        return NOISELESS
    parts = [f"noise={noise}", f"σ={float(scale):g}"]
    alpha = row.get(schema.NOISE_ALPHA)
    if _given(alpha) and float(alpha) != _TRAIN_DEFAULTS.noise_alpha:
        parts.append(f"α={float(alpha):g}")
    rescale = row.get(schema.NOISE_LR_RESCALE)
    if _given(rescale) and bool(rescale) != _TRAIN_DEFAULTS.noise_lr_rescale:
        parts.append("no lr rescale" if _TRAIN_DEFAULTS.noise_lr_rescale else "lr rescale")
    exclude = row.get(schema.NOISE_EXCLUDE)
    if _given(exclude) and _exclude_set(exclude) != _exclude_set(_TRAIN_DEFAULTS.noise_exclude):
        parts.append("exclude=" + (",".join(_exclude_set(exclude)) or "nothing"))
    conv = row.get(schema.NOISE_CONV)
    if _given(conv) and str(conv) != _TRAIN_DEFAULTS.noise_conv:
        parts.append(f"conv={conv}")
    return " ".join(parts)


def setting_text(row: pd.Series | dict, column: str) -> str:
    """A spec field of a trial as text, to compare and to show: '1000', '0.95', '[0.1, 0.316]'; a run made
    before the field existed reads as its default."""
    value = row.get(column)
    if not _given(value):
        value = _SPEC_DEFAULTS.get(column)
    if isinstance(value, str) and value[:1] == "[":       # list params come back as text
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    return _value_text(value)


def _value_text(value: Any) -> str:
    """One value as text that is equal exactly when the values are: an int column holding a missing value
    comes back as floats (1000000.0 must read as the default 1000000), and a float keeps every digit
    (20240611.0 and 20240612.0 differ)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return str(int(number)) if number.is_integer() and abs(number) < 2 ** 53 else repr(number)
    return str(value)


def varying_settings(trials: pd.DataFrame) -> list[tuple[str, ...]]:
    """Per trial, the fields of FAMILY_SETTINGS whose value differs among the trials of its architecture,
    dataset, depth and parametrization. The noise is left out of that grouping so that a noisy family and
    the noiseless one it pairs with (claims.noise_pairs) name the same fields."""
    if trials.empty:
        return []
    rows = trials.reindex(columns=[*sorted(_SPELLED_OUT), *FAMILY_SETTINGS]).to_dict("records")
    coarse = pd.Series([base_label(r) for r in rows], index=trials.index)
    texts = {c: pd.Series([setting_text(r, c) for r in rows], index=trials.index) for c in FAMILY_SETTINGS}
    varying = {label: tuple(c for c in FAMILY_SETTINGS if texts[c][members].nunique() > 1)
               for label, members in coarse.groupby(coarse).groups.items()}
    return [varying[label] for label in coarse]


def base_label(row: pd.Series | dict, settings: tuple[str, ...] = ()) -> str:
    """'fcn depth 3 / mnist5k', 'vgg11 / cifar10', 'fcn depth 2 / mnist5k / mean_field', and with
    ``settings`` (see varying_settings) 'fcn depth 2 / mnist5k / data.n_train=1000 train.stop_acc=0.9'."""
    depth = row.get(schema.DEPTH)
    arch = str(row.get(schema.ARCH))
    if depth is not None and not pd.isna(depth):
        arch = f"{arch} depth {int(depth)}"
    label = f"{arch} / {row.get(schema.DATASET)}"
    parametrization = row.get(schema.PARAMETRIZATION)
    if _given(parametrization) and str(parametrization) != _MODEL_DEFAULTS.parametrization:
        label += f" / {parametrization}"
    if settings:
        label += " / " + " ".join(f"{c}={setting_text(row, c)}" for c in settings)
    return label


def group_label(row: pd.Series | dict, settings: tuple[str, ...] = ()) -> str:
    """The family: its base label, then its noise setting when there is noise
    ('fcn depth 2 / mnist5k / noise=row σ=0.05')."""
    noise = noise_label(row)
    base = base_label(row, settings)
    return base if noise == NOISELESS else f"{base} / {noise}"


def trial_axes(data: SweepData, usable_only: bool = True, min_train_acc: float = fit.MIN_TRAIN_ACC) -> pd.DataFrame:
    """One row per trial: the grid coordinates, outcome and the family's labels (group, base, noise)."""
    trials = data.usable_trials(min_train_acc) if usable_only else data.trials
    out = pd.DataFrame({c: trials[c] if c in trials.columns else np.nan for c in AXES})
    out[schema.OUTCOME] = trials[schema.OUTCOME]
    # Which settings vary is decided over all trials, so a label does not change with usability.
    settings = dict(zip(data.trials.index, varying_settings(data.trials)))
    family = trials.reindex(columns=[*sorted(_SPELLED_OUT), *FAMILY_SETTINGS]).to_dict("records")
    out[BASE_LABEL] = [base_label(r, settings[i]) for r, i in zip(family, trials.index)]
    out[NOISE_LABEL] = [noise_label(r) for r in family]
    out[GROUP_LABEL] = [group_label(r, settings[i]) for r, i in zip(family, trials.index)]
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
    """Alpha (each aggregate and layer role, capped and raw) per (group, width, eta/b): mean, std, n (seeds).

    The alpha-vs-eta/b and the alpha-vs-width figures both read it."""
    axes = trial_axes(data, min_train_acc=o.min_train_acc)
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


def _at_center(frame: pd.DataFrame, o: AnalysisOptions) -> pd.Series:
    """Rows measured at the centring each method is read at (o.center_for: 'neuron' is uncentred)."""
    wanted = {m: o.center_for(m) for m in frame[schema.METHOD].dropna().unique()}
    return frame[schema.CENTER] == frame[schema.METHOD].map(wanted)


def layer_points(data: SweepData, o: AnalysisOptions) -> pd.DataFrame:
    """Usable trial x layer x method: alpha, alpha_raw and the prunable fraction at o.eps."""
    p = data.prunable
    p = p[(p[schema.WSET] == o.wset) & _at_center(p, o) & _near(p[schema.EPS], o.eps)]
    merged = layer_alphas(data, o).merge(p[[schema.RUN, schema.LAYER, schema.METHOD, schema.PRUNABLE]], on=[schema.RUN, schema.LAYER])
    return trial_axes(data, min_train_acc=o.min_train_acc).merge(merged, on=schema.RUN)


def error_points(data: SweepData, o: AnalysisOptions) -> pd.DataFrame:
    """Usable trial x layer x method x kept fraction kappa: relative error, with the layer's alpha."""
    e = data.errors
    e = e[(e[schema.WSET] == o.wset) & _at_center(e, o) & _near(e[schema.RATIO], o.ratios)]
    e = e.assign(**{KAPPA: (1.0 - e[schema.RATIO]).round(6)})
    alphas = layer_alphas(data, o)[[schema.RUN, schema.LAYER, schema.ALPHA, schema.ALPHA_RAW]]
    columns = [schema.RUN, schema.LAYER, schema.ROLE, schema.N_ENTRIES, schema.METHOD, KAPPA, schema.ERROR]
    merged = e[columns].merge(alphas, on=[schema.RUN, schema.LAYER], how="left")
    return trial_axes(data, min_train_acc=o.min_train_acc).merge(merged, on=schema.RUN)


def non_last_layers(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of every layer but the last. The last layer's units are the classes; by default it is
    neither pruned nor given iterate noise, so the width and noise statistics leave it out."""
    return frame[frame[schema.ROLE] != "last"]


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


def width_slope(frame: pd.DataFrame, y: str, within: tuple[str, ...] = ()) -> float:
    """OLS slope of y on ln(width) with a fixed effect per ``within`` group; NaN without width spread."""
    clean = frame[np.isfinite(frame[y].astype(float))]
    if len(clean) < 2:
        return math.nan
    groups = clean.groupby(list(within), dropna=False, sort=False).ngroup().to_numpy() if within else None
    return float(within_slope(np.log(clean[schema.WIDTH].to_numpy(float)), clean[y].to_numpy(float), groups)[0])


def width_slopes(points: pd.DataFrame, value: str, o: AnalysisOptions, extra: tuple[str, ...] = ()) -> pd.DataFrame:
    """Slope of ``value`` vs ln(width) per (group, eta/b, method, role[, extra]), layers of one role
    averaged inside each trial: computed once per replicate (seed), interval across replicates
    (``stats.replicate_estimate``: none with fewer than 3 replicates, fewer than o.min_trials trials or
    fewer than 3 widths)."""
    trials = per_trial_role(points, value, extra)
    by = [GROUP_LABEL, schema.ARCH, schema.DATASET, schema.DEPTH, schema.ETA_B, schema.METHOD, schema.ROLE, *extra]
    rows = []
    for key, frame in trials.groupby(by, dropna=False):
        est = replicate_estimate(frame, lambda part: width_slope(part, value), axis=schema.WIDTH,
                                 min_trials=o.min_trials, level=o.level)
        rows.append(dict(zip(by, key), slope=est.value, low=est.low, high=est.high, n_trials=est.n_trials,
                         n_replicates=est.n_replicates, n_widths=est.n_levels, alpha=frame["alpha"].mean()))
    return pd.DataFrame(rows, columns=by + ["slope", "low", "high", "n_trials", "n_replicates", "n_widths", "alpha"])


def error_slopes(points: pd.DataFrame, o: AnalysisOptions) -> pd.DataFrame:
    """Slope of relative error vs ln(width) per (group, eta/b, method, role, kappa), from ``error_points``."""
    return width_slopes(points, schema.ERROR, o, (KAPPA,))


def prunable_slopes(points: pd.DataFrame, o: AnalysisOptions) -> pd.DataFrame:
    """Slope of the prunable fraction at o.eps vs ln(width) per (group, eta/b, method, role), from
    ``layer_points``: the claim error_falls_with_width cell by cell (it pools the non-last roles' layers
    with a fixed effect per (eta/b, layer); a role of one layer per trial gives the same group slope)."""
    return width_slopes(points, schema.PRUNABLE, o)


def accuracy_points(data: SweepData, o: AnalysisOptions) -> pd.DataFrame:
    """Usable trial x method x ratio: pruned accuracy (absolute and relative to dense), trial alpha,
    remaining-parameter ratio and (singular) the fraction of singular values removed."""
    r = data.ratios[data.ratios[schema.WSET] == o.wset]
    axes = trial_axes(data, min_train_acc=o.min_train_acc)
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
    """Per usable trial: alpha (median over layers), mean prunable fraction over layers (o.method, o.eps)
    and over the non-last layers only, gap (test - train) of accuracy and loss, and gen_error = train acc
    - test acc."""
    axes = trial_axes(data, min_train_acc=o.min_train_acc)
    axes[schema.ALPHA] = axes[schema.RUN].map(trial_alpha(data, o, "median")).astype(float)
    lp = layer_points(data, o)
    lp = lp[lp[schema.METHOD] == o.method]
    axes[schema.PRUNABLE] = axes[schema.RUN].map(lp.groupby(schema.RUN)[schema.PRUNABLE].mean()).astype(float)
    non_last = non_last_layers(lp).groupby(schema.RUN)[schema.PRUNABLE].mean()
    axes[PRUNABLE_NON_LAST] = axes[schema.RUN].map(non_last).astype(float)
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


def noise_width_curves(gap: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Mean prunable fraction over non-last layers vs width, one curve per noise setting of each base
    family and eta/b: mean, std and n over seeds, and the replicate interval of the mean, the Student-t
    interval at ``level`` across seeds (low, high; NaN with fewer than MIN_REPLICATES seeds, as for every
    replicate interval), clipped to [0, 1] where a fraction lives (three seeds give t = 4.3: a spread-out
    point would otherwise claim fractions above 1). From ``gap_points``."""
    by = [BASE_LABEL, NOISE_LABEL, GROUP_LABEL, schema.ETA_B, schema.WIDTH]
    finite = gap[np.isfinite(gap[PRUNABLE_NON_LAST].astype(float))] if len(gap) else gap
    if not len(finite):
        return pd.DataFrame(columns=by + ["mean", "std", "n", "low", "high"])
    out = finite.groupby(by, dropna=False).agg(
        mean=(PRUNABLE_NON_LAST, "mean"), std=(PRUNABLE_NON_LAST, "std"), n=(PRUNABLE_NON_LAST, "count"),
    ).reset_index()
    intervals = finite.groupby(by, dropna=False)[PRUNABLE_NON_LAST].apply(
        lambda values: t_interval(values.astype(float).tolist(), level)[1:] if len(values) >= MIN_REPLICATES
        else (math.nan, math.nan)).reset_index(drop=True)
    out["low"] = np.clip([low for low, _ in intervals], *FRACTION_RANGE)
    out["high"] = np.clip([high for _, high in intervals], *FRACTION_RANGE)
    return out
