"""write_report: every table and figure of one sweep into a folder, plus one self-contained HTML page.

    OUT/index.html          the page (figures embedded; links to the files below)
    OUT/figures/NAME.png    and NAME.svg, one pair per figure
    OUT/tables/NAME.csv     every table behind the figures and the claims
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import re
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis import claims, curves, grid, plots, schema
from analysis.data import SweepData
from analysis.html import FigureEntry, render
from analysis.options import AnalysisOptions, check_measured, options_for, resolve_options
from analysis.prepared import Prepared, prepare
from analysis.reference import StableReference
from analysis.usable import excluded_trials, measure_version_warning, with_usability
from core.version import tailsweep_version

Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower() or "all"


@dataclasses.dataclass(frozen=True)
class Planned:
    name: str
    title: str
    caption: str
    build: Callable[[], Figure]


def _reference(options: AnalysisOptions) -> StableReference:
    return StableReference(ratios=options.ratios, eps=options.eps, max_draws=options.ref_draws,
                           min_draws=min(50, options.ref_draws), max_items=options.ref_max_items,
                           budget=options.ref_budget, seed=options.seed)


def n_text(n: pd.Series) -> str:
    """'n = 2 seeds per point' or 'n = 1-3 seeds per point' (the caption's count of what each point averages)."""
    n = pd.to_numeric(n, errors="coerce").dropna()
    if not len(n):
        return "no points"
    low, high = int(n.min()), int(n.max())
    return f"n = {low} seed{'s' if high != 1 else ''} per point" if low == high else f"n = {low}-{high} seeds per point"


def _tables(data: SweepData, prepared: Prepared, progress: Progress) -> dict[str, pd.DataFrame]:
    options = prepared.options
    tables: dict[str, pd.DataFrame] = {
        "outcome_counts": grid.outcome_counts(data, options.min_train_acc), "grid_summary": grid.grid_summary(data),
        "grid_cells": grid.grid_cells(data, options.min_train_acc),
        "excluded": excluded_trials(data.trials, options.min_train_acc),
        "prunable_vs_width_by_noise": curves.noise_width_curves(prepared.gap, prepared.options.level),
        "alpha_vs_eta": curves.alpha_vs_eta(data, options), "layer_points": prepared.layers,
        "accuracy": prepared.accuracy, "gap": prepared.gap,
        "alpha_trajectories": curves.alpha_trajectories(data),
    }
    error_curve = curves.width_curves(prepared.errors, schema.ERROR, (curves.KAPPA,))
    prunable_curve = curves.width_curves(prepared.layers, schema.PRUNABLE)
    n_ref = int((error_curve[schema.METHOD] == "magnitude").sum()
                + (prunable_curve[schema.METHOD] == "magnitude").sum())
    progress(f"report: i.i.d. SaS reference for {n_ref} curve points (cached by alpha and layer size)")
    reference = _reference(options)
    tables["error_vs_width"] = curves.with_reference(error_curve, reference, "error")
    tables["prunable_vs_width"] = curves.with_reference(prunable_curve, reference, "prunable")
    progress("report: slopes, correlations and claims (intervals across replicates)")
    tables["error_slopes"] = curves.error_slopes(prepared.errors, options)
    tables["prunable_slopes"] = curves.prunable_slopes(prepared.layers, options)
    tables["correlations"] = claims.correlations_table(prepared)
    tables["claims"] = claims.claims_table(prepared)
    return tables


def _width_plan(tables: dict[str, pd.DataFrame], options: AnalysisOptions) -> list[Planned]:
    """Per family: one width figure per pruning method, alpha vs width beside them, then the slope figures
    of the prunable fraction (the width claim's quantity) and of the error."""
    plan = []
    error_all, prunable_all = tables["error_vs_width"], tables["prunable_vs_width"]
    alpha_all = tables["alpha_vs_eta"]
    for group in sorted(set(error_all[curves.GROUP_LABEL]) | set(prunable_all[curves.GROUP_LABEL])):
        for method in sorted(set(error_all[schema.METHOD]) | set(prunable_all[schema.METHOD])):
            errors = error_all[(error_all[curves.GROUP_LABEL] == group) & (error_all[schema.METHOD] == method)]
            prunable = prunable_all[(prunable_all[curves.GROUP_LABEL] == group)
                                    & (prunable_all[schema.METHOD] == method)]
            ref = (" Dashed line and band: the i.i.d. SaS reference with each point's layer size and mean alpha "
                   "(points marked ref_extrapolated in the tables were simulated at a capped size and scaled by "
                   "d^(1/2-1/alpha))." if method == "magnitude" else
                   " No i.i.d. reference: the items of this method are not i.i.d. entries.")
            counts = pd.concat([errors["n"], prunable["n"]])
            claim = (f" The claim {claims.WIDTH_CLAIM} is the slope of the bottom row (prunable fraction) vs "
                     "ln(width) over the non-last layers." if method == options.method else "")
            plan.append(Planned(
                f"width_{method}_{slug(group)}", f"{method} pruning vs width: {group}",
                f"Relative l2 error at each kept fraction kappa and prunable fraction at eps = {options.eps:g}, "
                f"one curve per eta/b, layers of one role averaged inside each trial, "
                f"{plots.spread_text(counts)}; {n_text(counts)}.{claim}{ref}",
                lambda errors=errors, prunable=prunable, group=group, method=method: plots.width_figure(
                    errors, prunable, options.eps, f"{method} pruning vs width: {group}")))
        alphas = alpha_all[(alpha_all[curves.GROUP_LABEL] == group) & ~alpha_all["raw"].astype(bool)]
        plan.append(Planned(
            f"alpha_vs_width_{slug(group)}", f"Tail index vs width: {group}",
            f"alpha ({options.variant}, {options.wset} weights) per layer role, one curve per eta/b, "
            f"{plots.spread_text(alphas['n'])}; {n_text(alphas['n'])}. Dotted: heavy_alpha = "
            f"{options.heavy_alpha:g}. Where alpha stays near 2 as width grows, pruning is not expected to get "
            "cheaper with width.",
            lambda alphas=alphas, group=group: plots.alpha_vs_width_figure(
                alphas, f"alpha vs width: {group}", options.heavy_alpha)))
        interval = (f"the slope once per replicate (seed), mean and {round(options.level * 100)}% t interval "
                    "across replicates (no bar with fewer than 3 replicates, 3 widths or min_trials trials).")
        slopes = tables["prunable_slopes"]
        slopes = slopes[(slopes[curves.GROUP_LABEL] == group) & (slopes[schema.METHOD] == options.method)]
        plan.append(Planned(f"prunable_slopes_{slug(group)}",
                            f"Slope of {options.method} prunable fraction vs ln(width): {group}",
                            f"Prunable fraction at eps = {options.eps:g}, per eta/b and layer role: {interval} "
                            f"Positive: pruning gets cheaper as the network grows. The claim {claims.WIDTH_CLAIM} "
                            "pools the non-last roles.",
                            lambda slopes=slopes, group=group: plots.slopes_figure(
                                slopes, f"d prunable / d ln(width): {group}", "d prunable fraction / d ln(width)")))
        slopes = tables["error_slopes"]
        slopes = slopes[(slopes[curves.GROUP_LABEL] == group) & (slopes[schema.METHOD] == options.method)
                        & np.isclose(slopes[curves.KAPPA], min(options.kappas))]
        plan.append(Planned(f"error_slopes_{slug(group)}", f"Slope of {options.method} error vs ln(width): {group}",
                            f"At kept fraction {min(options.kappas):g}, per eta/b and layer role: {interval} "
                            "Negative: pruning gets cheaper as the network grows.",
                            lambda slopes=slopes, group=group: plots.slopes_figure(
                                slopes, f"d error / d ln(width): {group}", "d error / d ln(width)")))
    return plan


def _noise_plan(tables: dict[str, pd.DataFrame], options: AnalysisOptions) -> list[Planned]:
    """Per base family with any iterate noise: prunable fraction vs width, one curve per noise setting."""
    curve = tables["prunable_vs_width_by_noise"]
    plan = []
    for base in sorted(curve[curves.BASE_LABEL].unique()) if len(curve) else []:
        part = curve[curve[curves.BASE_LABEL] == base]
        if set(part[curves.NOISE_LABEL]) == {curves.NOISELESS}:
            continue
        plan.append(Planned(
            f"prunable_by_noise_{slug(base)}", f"{options.method} prunable fraction vs width by noise: {base}",
            f"Prunable fraction at eps = {options.eps:g} ({options.method}), mean over non-last layers per trial, "
            f"one curve per noise setting, one panel per eta/b; {plots.interval_text(part['n'], options.level)}; "
            f"{n_text(part['n'])}. The claim noise_makes_compressible pairs these trials by (eta/b, batch, width, "
            "seed).",
            lambda part=part, base=base: plots.noise_width_figure(part, f"prunable fraction vs width by noise: {base}",
                                                                  options.eps, options.level)))
    return plan


def claim_notes(claims_frame: pd.DataFrame) -> list[tuple[str, str]]:
    """(text, figure anchor) per family whose width slope (prunable fraction at eps vs ln(width)) is not
    positive: the alpha-vs-width figure shows why."""
    notes = []
    rows = claims_frame[claims_frame["claim"] == claims.WIDTH_CLAIM]
    for row in rows.to_dict("records"):
        if not (row["value"] > 0):   # NaN too: no slope at all is also worth a look at the alphas
            group = row[curves.GROUP_LABEL]
            notes.append((f"{claims.WIDTH_CLAIM}, {group}: the slope of the prunable fraction vs ln(width) is not "
                          f"positive ({row['value']:.3g}); see the tail index vs width: where alpha stays near 2, "
                          "wider layers are not expected to prune better.", f"alpha_vs_width_{slug(group)}"))
    return notes


def _plan(tables: dict[str, pd.DataFrame], options: AnalysisOptions) -> list[Planned]:
    return [
        Planned("outcomes", "Trial outcomes over the grid", "Per (eta/b, width) cell, the number of trials in each "
                "category: converged, capped (and fitting), underfit (capped below min_train_acc = "
                f"{options.min_train_acc:g}), diverged, failed, incomplete and missing; only converged and fitting "
                "capped trials enter the statistics.",
                lambda: plots.outcomes_figure(tables["grid_cells"])),
        Planned("alpha_vs_eta", "Tail index vs eta/b", f"alpha ({options.variant}, {options.wset} weights) as "
                f"median over layers and per layer role; {plots.spread_text(tables['alpha_vs_eta']['n'])}, "
                f"{n_text(tables['alpha_vs_eta']['n'])}, one colour per width; solid: capped at 2 (the "
                "reference), dashed: uncapped.",
                lambda: plots.alpha_vs_eta_figure(tables["alpha_vs_eta"])),
        *_width_plan(tables, options),
        *_noise_plan(tables, options),
        Planned("pruned_accuracy", "Pruned test accuracy vs pruning ratio",
                "One line per trial, coloured by its alpha (median over layers).",
                lambda: plots.accuracy_figure(tables["accuracy"])),
        Planned("singular_two_ways", "Singular-value pruning by fraction removed and by parameter ratio",
                "A rank-k layer costs k(m+n) parameters, so the remaining-parameter ratio exceeds 1 for a square "
                "layer below about half the singular values removed.",
                lambda: plots.singular_figure(tables["accuracy"])),
        Planned("layer_alpha_vs_prunable", "Per layer: alpha vs prunable fraction",
                f"Each point a layer of a usable trial; prunable fraction at eps = {options.eps:g}.",
                lambda: plots.layer_alpha_prunable_figure(tables["layer_points"], options.eps)),
        Planned("generalization", "Generalization error vs alpha and vs compressibility",
                "Per usable trial: train accuracy minus test accuracy; colour: eta/b (colourbar).",
                lambda: plots.gap_figure(tables["gap"])),
        Planned("alpha_trajectories", "Tail index during training",
                "alpha of the current weights at each logged step, every trial (diverged and excluded ones "
                "included); colour: eta/b (colourbar), line style: width (legend).",
                lambda: plots.trajectory_figure(tables["alpha_trajectories"])),
    ]


def _save(fig: Figure, out: Path, name: str) -> tuple[str, str, str]:
    png, svg = out / "figures" / f"{name}.png", out / "figures" / f"{name}.svg"
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    png.write_bytes(buffer.getvalue())
    fig.savefig(svg, format="svg")
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return png.relative_to(out).as_posix(), svg.relative_to(out).as_posix(), encoded


def options_text(options: AnalysisOptions) -> str:
    """The report's settings as ``name value`` pairs, in field order (a reader should not need to parse a
    Python repr to learn which method and eps the claims used)."""
    def shown(value) -> str:
        return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) \
            if isinstance(value, tuple) else (f"{value:g}" if isinstance(value, float) else str(value))
    return " · ".join(f"{f.name} {shown(getattr(options, f.name))}" for f in dataclasses.fields(options))


@dataclasses.dataclass(frozen=True)
class ReportTables:
    """What a report says, before any figure: the resolved options, the measure-version warning (or
    None) and every table it writes, ``trials`` first (with usability)."""

    options: AnalysisOptions
    warning: str | None
    tables: dict[str, pd.DataFrame]


def report_tables(data: SweepData, options: AnalysisOptions | None = None,
                  progress: Progress | None = _stderr) -> ReportTables:
    """The report's tables and claims for ``data`` (write_report's first half, no figures, nothing written).

    ``options`` None: the sweep file's ``analysis:`` section (data.meta['sweep_file']) over the defaults."""
    say = progress or (lambda line: None)
    if options is None:   # the sweep file's `analysis:` section, then the defaults
        options = options_for(data.meta.get("sweep_file"))
    check_measured(data, options)
    resolved = resolve_options(data, options)
    say(f"report: sweep {data.name!r}, {len(data.trials)} runs "
        f"({len(data.usable_trials(resolved.min_train_acc))} usable), "
        f"weights {resolved.wset}, alpha {resolved.variant}, pruning centre {resolved.center}, "
        f"min train acc {resolved.min_train_acc:g}")
    warning = measure_version_warning(data.trials, data.name)
    if warning:
        say(f"report: {warning}")
    say("report: aggregating curves and statistics")
    prepared = prepare(data, resolved)
    tables = {"trials": with_usability(data.trials, resolved.min_train_acc), **_tables(data, prepared, say)}
    return ReportTables(resolved, warning, tables)


def write_report(data: SweepData, out_dir: str | Path, options: AnalysisOptions | None = None,
                 progress: Progress | None = _stderr) -> Path:
    """Write figures (PNG + SVG), CSV tables and index.html under out_dir; returns the HTML path.

    ``options`` None: the sweep file's ``analysis:`` section (data.meta['sweep_file']) over the defaults.
    A sweep that mixes measure versions gets a warning line on ``progress`` and a box on the page."""
    say = progress or (lambda line: None)
    out = Path(out_dir).expanduser().resolve()
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    said = report_tables(data, options, progress)
    resolved, warning, tables = said.options, said.warning, said.tables
    table_paths = []
    for name, frame in tables.items():
        path = out / "tables" / f"{name}.csv"
        frame.to_csv(path, index=False)
        table_paths.append(path.relative_to(out).as_posix())
    plan = _plan(tables, resolved)
    entries = []
    for number, item in enumerate(plan, 1):
        say(f"report: figure {number}/{len(plan)} {item.name}")
        png, svg, encoded = _save(item.build(), out, item.name)
        entries.append(FigureEntry(item.name, item.title, item.caption, png, svg, encoded))
    html = render(
        name=data.name, source=str(data.meta.get("source", "")),
        generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=tailsweep_version(), options=options_text(resolved), level=resolved.level,
        min_trials=resolved.min_trials,
        min_train_acc=resolved.min_train_acc, warning=warning, excluded=tables["excluded"],
        claim_notes=claim_notes(tables["claims"]),
        grid_summary=tables["grid_summary"], outcome_counts=tables["outcome_counts"], claims=tables["claims"],
        figures=entries, correlations=tables["correlations"], slopes=tables["error_slopes"],
        prunable_slopes=tables["prunable_slopes"], eps=resolved.eps, method=resolved.method, tables=table_paths)
    page = out / "index.html"
    page.write_text(html, encoding="utf-8")
    say(f"report: wrote {page}")
    return page
