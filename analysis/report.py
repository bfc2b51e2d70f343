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
from analysis.options import AnalysisOptions, resolve_options
from analysis.prepared import Prepared, prepare
from analysis.reference import StableReference
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


def _tables(data: SweepData, prepared: Prepared, progress: Progress) -> dict[str, pd.DataFrame]:
    options = prepared.options
    tables: dict[str, pd.DataFrame] = {
        "outcome_counts": grid.outcome_counts(data), "grid_summary": grid.grid_summary(data),
        "grid_cells": grid.grid_cells(data),
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
    progress("report: slopes, correlations and claims (trial bootstrap)")
    tables["error_slopes"] = curves.error_slopes(prepared.errors, options)
    tables["correlations"] = claims.correlations_table(prepared)
    tables["claims"] = claims.claims_table(prepared)
    return tables


def _width_plan(tables: dict[str, pd.DataFrame], options: AnalysisOptions) -> list[Planned]:
    """Per family: one width figure per pruning method, then the error-slope figure."""
    plan = []
    error_all, prunable_all = tables["error_vs_width"], tables["prunable_vs_width"]
    for group in sorted(set(error_all[curves.GROUP_LABEL]) | set(prunable_all[curves.GROUP_LABEL])):
        for method in sorted(set(error_all[schema.METHOD]) | set(prunable_all[schema.METHOD])):
            errors = error_all[(error_all[curves.GROUP_LABEL] == group) & (error_all[schema.METHOD] == method)]
            prunable = prunable_all[(prunable_all[curves.GROUP_LABEL] == group)
                                    & (prunable_all[schema.METHOD] == method)]
            ref = (" Dashed line and band: the i.i.d. SaS reference with each point's layer size and mean alpha "
                   "(points marked ref_extrapolated in the tables were simulated at a capped size and scaled by "
                   "d^(1/2-1/alpha))." if method == "magnitude" else
                   " No i.i.d. reference: the items of this method are not i.i.d. entries.")
            plan.append(Planned(
                f"width_{method}_{slug(group)}", f"{method} pruning vs width: {group}",
                f"Relative l2 error at each kept fraction kappa and prunable fraction at eps = {options.eps:g}, "
                f"one curve per eta/b, layers of one role averaged inside each trial, mean +- sd over seeds.{ref}",
                lambda errors=errors, prunable=prunable, group=group, method=method: plots.width_figure(
                    errors, prunable, options.eps, f"{method} pruning vs width: {group}")))
        slopes = tables["error_slopes"]
        slopes = slopes[(slopes[curves.GROUP_LABEL] == group) & (slopes[schema.METHOD] == options.method)
                        & np.isclose(slopes[curves.KAPPA], min(options.kappas))]
        plan.append(Planned(f"error_slopes_{slug(group)}", f"Slope of {options.method} error vs ln(width): {group}",
                            f"At kept fraction {min(options.kappas):g}, per eta/b and layer role, with "
                            f"{round(options.level * 100)}% "
                            "trial-bootstrap CIs. Negative: pruning gets cheaper as the network grows.",
                            lambda slopes=slopes, group=group: plots.slopes_figure(
                                slopes, f"d error / d ln(width): {group}")))
    return plan


def _plan(tables: dict[str, pd.DataFrame], options: AnalysisOptions) -> list[Planned]:
    return [
        Planned("outcomes", "Trial outcomes over the grid", "Usable (converged or capped) trials out of the "
                "expected per (eta/b, width) cell; diverged, failed, missing and incomplete ones are marked.",
                lambda: plots.outcomes_figure(tables["grid_cells"])),
        Planned("alpha_vs_eta", "Tail index vs eta/b", f"alpha ({options.variant}, {options.wset} weights) as "
                "median over layers and per layer role; mean and sd over seeds, one colour per width; solid: "
                "capped at 2 (the reference), dashed: uncapped.",
                lambda: plots.alpha_vs_eta_figure(tables["alpha_vs_eta"])),
        *_width_plan(tables, options),
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
                "Per trial: train accuracy minus test accuracy.", lambda: plots.gap_figure(tables["gap"])),
        Planned("alpha_trajectories", "Tail index during training",
                "alpha of the current weights at each logged step, every trial (diverged ones included).",
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


def write_report(data: SweepData, out_dir: str | Path, options: AnalysisOptions | None = None,
                 progress: Progress | None = _stderr) -> Path:
    """Write figures (PNG + SVG), CSV tables and index.html under out_dir; returns the HTML path."""
    say = progress or (lambda line: None)
    out = Path(out_dir).expanduser().resolve()
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    resolved = resolve_options(data, options or AnalysisOptions())
    say(f"report: sweep {data.name!r}, {len(data.trials)} runs ({len(data.usable_trials())} usable), "
        f"weights {resolved.wset}, alpha {resolved.variant}, pruning centre {resolved.center}")
    say("report: aggregating curves and statistics")
    prepared = prepare(data, resolved)
    tables = _tables(data, prepared, say)
    table_paths = []
    for name, frame in {"trials": data.trials, **tables}.items():
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
        version=tailsweep_version(), options=repr(resolved), level=resolved.level, min_trials=resolved.min_trials,
        grid_summary=tables["grid_summary"], outcome_counts=tables["outcome_counts"], claims=tables["claims"],
        figures=entries, correlations=tables["correlations"], slopes=tables["error_slopes"], tables=table_paths)
    page = out / "index.html"
    page.write_text(html, encoding="utf-8")
    say(f"report: wrote {page}")
    return page
