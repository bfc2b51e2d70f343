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

from analysis import claims as K
from analysis import curves as C
from analysis import grid as G
from analysis import plots as P
from analysis import schema as S
from analysis.data import SweepData
from analysis.html import FigureEntry, render
from analysis.load import tailsweep_version
from analysis.options import AnalysisOptions
from analysis.reference import StableReference
from analysis.resolve import resolve_options

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


def _tables(data: SweepData, o: AnalysisOptions, progress: Progress) -> dict[str, pd.DataFrame]:
    progress("report: aggregating curves and statistics")
    t: dict[str, pd.DataFrame] = {
        "outcome_counts": G.outcome_counts(data), "grid_summary": G.grid_summary(data),
        "grid_cells": G.grid_cells(data),
        "alpha_vs_eta": C.alpha_vs_eta(data, o), "layer_points": C.layer_points(data, o),
        "accuracy": C.accuracy_points(data, o), "gap": C.gap_points(data, o),
        "alpha_trajectories": C.alpha_trajectories(data),
    }
    errors = C.error_points(data, o)
    reference = StableReference(ratios=o.ratios, eps=o.eps, max_draws=o.ref_draws, min_draws=min(50, o.ref_draws),
                                max_items=o.ref_max_items, budget=o.ref_budget, seed=o.seed)
    error_curve = C.width_curves(errors, S.ERROR, (C.KAPPA,))
    prunable_curve = C.width_curves(t["layer_points"], S.PRUNABLE)
    n_ref = int((error_curve[S.METHOD] == "magnitude").sum() + (prunable_curve[S.METHOD] == "magnitude").sum())
    progress(f"report: i.i.d. SaS reference for {n_ref} curve points (cached by alpha and layer size)")
    t["error_vs_width"] = C.with_reference(error_curve, reference, "error")
    t["prunable_vs_width"] = C.with_reference(prunable_curve, reference, "prunable")
    progress("report: slopes, correlations and claims (trial bootstrap)")
    t["error_slopes"] = C.error_slopes(errors, o)
    t["correlations"] = K.correlations_table(data, o)
    t["claims"] = K.claims_table(data, o)
    return t


def _plan(t: dict[str, pd.DataFrame], o: AnalysisOptions) -> list[Planned]:
    plan = [
        Planned("outcomes", "Trial outcomes over the grid", "Usable (converged or capped) trials out of the "
                "expected per (eta/b, width) cell; diverged, failed, missing and incomplete ones are marked.",
                lambda: P.outcomes_figure(t["grid_cells"])),
        Planned("alpha_vs_eta", "Tail index vs eta/b", f"alpha ({o.variant}, {o.wset} weights) as median over "
                "layers and per layer role; mean and sd over seeds, one colour per width; solid: capped at 2 "
                "(the reference), dashed: uncapped.", lambda: P.alpha_vs_eta_figure(t["alpha_vs_eta"])),
    ]
    e_all, p_all = t["error_vs_width"], t["prunable_vs_width"]
    for group in sorted(set(e_all[C.GROUP_LABEL]) | set(p_all[C.GROUP_LABEL])):
        for method in sorted(set(e_all[S.METHOD]) | set(p_all[S.METHOD])):
            e = e_all[(e_all[C.GROUP_LABEL] == group) & (e_all[S.METHOD] == method)]
            p = p_all[(p_all[C.GROUP_LABEL] == group) & (p_all[S.METHOD] == method)]
            ref = (" Dashed line and band: the i.i.d. SaS reference with each point's layer size and mean alpha "
                   "(points marked ref_extrapolated in the tables were simulated at a capped size and scaled by "
                   "d^(1/2-1/alpha))." if method == "magnitude" else
                   " No i.i.d. reference: the items of this method are not i.i.d. entries.")
            plan.append(Planned(
                f"width_{method}_{slug(group)}", f"{method} pruning vs width: {group}",
                f"Relative l2 error at each kept fraction kappa and prunable fraction at eps = {o.eps:g}, one curve "
                f"per eta/b, layers of one role averaged inside each trial, mean +- sd over seeds.{ref}",
                lambda e=e, p=p, g=group, m=method: P.width_figure(e, p, o.eps, f"{m} pruning vs width: {g}")))
        s = t["error_slopes"]
        s = s[(s[C.GROUP_LABEL] == group) & (s[S.METHOD] == o.method) & np.isclose(s[C.KAPPA], min(o.kappas))]
        plan.append(Planned(f"error_slopes_{slug(group)}", f"Slope of {o.method} error vs ln(width): {group}",
                            f"At kept fraction {min(o.kappas):g}, per eta/b and layer role, with "
                            f"{round(o.level * 100)}% "
                            "trial-bootstrap CIs. Negative: pruning gets cheaper as the network grows.",
                            lambda s=s, g=group: P.slopes_figure(s, f"d error / d ln(width): {g}")))
    plan += [
        Planned("pruned_accuracy", "Pruned test accuracy vs pruning ratio",
                "One line per trial, coloured by its alpha (median over layers).",
                lambda: P.accuracy_figure(t["accuracy"])),
        Planned("singular_two_ways", "Singular-value pruning by fraction removed and by parameter ratio",
                "A rank-k layer costs k(m+n) parameters, so the remaining-parameter ratio exceeds 1 for a square "
                "layer below about half the singular values removed.", lambda: P.singular_figure(t["accuracy"])),
        Planned("layer_alpha_vs_prunable", "Per layer: alpha vs prunable fraction",
                f"Each point a layer of a usable trial; prunable fraction at eps = {o.eps:g}.",
                lambda: P.layer_alpha_prunable_figure(t["layer_points"], o.eps)),
        Planned("generalization", "Generalization error vs alpha and vs compressibility",
                "Per trial: train accuracy minus test accuracy.", lambda: P.gap_figure(t["gap"])),
        Planned("alpha_trajectories", "Tail index during training",
                "alpha of the current weights at each logged step, every trial (diverged ones included).",
                lambda: P.trajectory_figure(t["alpha_trajectories"])),
    ]
    return plan


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
    o = resolve_options(data, options or AnalysisOptions())
    say(f"report: sweep {data.name!r}, {len(data.trials)} runs ({len(data.usable_trials())} usable), "
        f"weights {o.wset}, alpha {o.variant}, pruning centre {o.center}")
    t = _tables(data, o, say)
    table_paths = []
    for name, frame in {"trials": data.trials, **t}.items():
        path = out / "tables" / f"{name}.csv"
        frame.to_csv(path, index=False)
        table_paths.append(path.relative_to(out).as_posix())
    plan = _plan(t, o)
    entries = []
    for i, item in enumerate(plan, 1):
        say(f"report: figure {i}/{len(plan)} {item.name}")
        png, svg, b64 = _save(item.build(), out, item.name)
        entries.append(FigureEntry(item.name, item.title, item.caption, png, svg, b64))
    html = render(
        name=data.name, source=str(data.meta.get("source", "")),
        generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=tailsweep_version(), options=repr(o), level=o.level, min_trials=o.min_trials,
        grid_summary=t["grid_summary"], outcome_counts=t["outcome_counts"], claims=t["claims"],
        figures=entries, correlations=t["correlations"], slopes=t["error_slopes"], tables=table_paths)
    page = out / "index.html"
    page.write_text(html, encoding="utf-8")
    say(f"report: wrote {page}")
    return page
