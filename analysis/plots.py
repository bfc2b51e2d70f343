"""DataFrame -> matplotlib Figure. No loading and no file writing here; figures are built on the
object API (matplotlib.figure.Figure), so no pyplot global state and no display backend is involved.

Every function accepts an empty frame and then returns a figure that says there is nothing to draw, so
a report over a sweep with missing or diverged trials still has every figure.
"""
from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pandas as pd
from matplotlib import cm, colors, ticker
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from analysis import schema
from analysis.curves import GEN_ERROR, GROUP_LABEL, KAPPA, NOISE_LABEL, NOISELESS
from analysis.grid import OUTCOME_COLUMNS
from analysis.stats import MIN_REPLICATES
from core import vocab

ROLE_COLORS = MappingProxyType(dict(zip(vocab.ROLES, ("tab:blue", "tab:orange", "tab:green"), strict=True)))
ALPHA_NORM = colors.Normalize(vmin=1.0, vmax=2.0)


# Fixed margins in inches: a layout engine (constrained/tight) measures every tick label and costs more
# than drawing the figure, twice per figure (PNG and SVG).
_LEFT, _RIGHT, _TOP, _BOTTOM, _HGAP, _VGAP = 0.75, 0.25, 0.85, 0.6, 0.75, 0.95


def _figure(rows: int, cols: int, width: float = 4.2, height: float = 3.3,
            colorbar: bool = False) -> tuple[Figure, np.ndarray]:
    """A rows x cols grid of panels of about width x height inches each (plus margins)."""
    right = _RIGHT + (1.2 if colorbar else 0.0)
    fig_w = _LEFT + right + cols * width
    fig_h = _TOP + _BOTTOM + rows * height
    fig = Figure(figsize=(fig_w, fig_h))
    panel_w, panel_h = width - _HGAP, height - _VGAP
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False, gridspec_kw={
        "left": _LEFT / fig_w, "right": 1 - right / fig_w, "bottom": _BOTTOM / fig_h, "top": 1 - _TOP / fig_h,
        "wspace": _HGAP / panel_w, "hspace": _VGAP / panel_h}))
    return fig, axes


def _log_x(ax, base: float = 10, values=None) -> None:
    """Log x axis. With ``values`` (the grid's levels), a tick and label at each: a grid inside one decade
    (eta/b 6e-3..1e-2) otherwise shows a single '10^-2' and no way to read off the levels."""
    ax.set_xscale("log", base=base)
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())  # minor labels collide on short ranges
    if values is not None:
        levels = sorted({float(v) for v in values if np.isfinite(v) and v > 0})
        if levels:
            ax.xaxis.set_minor_locator(ticker.NullLocator())
            ax.set_xticks(levels, [f"{v:g}" for v in levels], fontsize=7)


def empty_figure(title: str, message: str = "no data for this figure (see outcome counts)") -> Figure:
    fig, axes = _figure(1, 1, 6, 2.5)
    ax = axes[0, 0]
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    fig.suptitle(title)
    return fig


_ETA_CMAP = colors.ListedColormap(cm.plasma(np.linspace(0, 0.85, 256)))   # the bright end is unreadable on white
CATEGORY_COLORS = MappingProxyType(dict(zip(OUTCOME_COLUMNS, (
    "tab:green", "tab:olive", "tab:orange", "tab:red", "tab:purple", "tab:brown", "lightgrey"), strict=True)))
WIDTH_STYLES = ("-", "--", ":", "-.")


def _eta_norm(etas) -> colors.Normalize:
    etas = sorted({float(e) for e in etas}) or [1.0]
    if len(etas) == 1:
        return colors.Normalize(vmin=etas[0] * 0.5, vmax=etas[0] * 2)
    return colors.LogNorm(vmin=min(etas), vmax=max(etas)) if min(etas) > 0 else colors.Normalize(min(etas), max(etas))


def _eta_colors(etas) -> dict[float, tuple]:
    norm = _eta_norm(etas)
    return {float(e): _ETA_CMAP(norm(float(e))) for e in etas}


def _roles(frame: pd.DataFrame) -> list[str]:
    present = [r for r in frame[schema.ROLE].dropna().unique()]
    return [r for r in vocab.ROLES if r in present] + sorted(r for r in present if r not in vocab.ROLES)


def alpha_vs_eta_figure(curve: pd.DataFrame) -> Figure:
    """alpha (median over layers and per role) vs eta/b; one row per model family, one colour per width;
    solid: capped estimate, dashed: uncapped."""
    series = ["median", *(f"role_{role}" for role in vocab.ROLES)]
    c = curve[curve["series"].isin(series)] if len(curve) else curve
    title = "alpha vs eta/b (mean +- sd over seeds; solid capped at 2, dashed uncapped)"
    if c.empty:
        return empty_figure(title)
    groups = sorted(c[GROUP_LABEL].unique())
    fig, axes = _figure(len(groups), len(series))
    for gi, group in enumerate(groups):
        g = c[c[GROUP_LABEL] == group]
        widths = sorted(g[schema.WIDTH].unique())
        palette = cm.viridis(np.linspace(0, 0.9, max(len(widths), 1)))
        for si, name in enumerate(series):
            ax = axes[gi, si]
            for color, width in zip(palette, widths):
                for raw in (False, True):
                    line = g[(g["series"] == name) & (g[schema.WIDTH] == width) & (g["raw"] == raw)].sort_values(schema.ETA_B)
                    if len(line):
                        ax.errorbar(line[schema.ETA_B], line["mean"], yerr=line["std"].fillna(0), marker="o", ms=3,
                                    capsize=2, color=color, ls="--" if raw else "-", lw=0.8 if raw else 1.2,
                                    label=None if raw else f"width {int(width)}")
            _log_x(ax, values=g[schema.ETA_B])
            ax.set_title(f"{group}\n{name.replace('role_', 'layers: ')}", fontsize=9)
            ax.set_xlabel("eta / b")
            ax.set_ylabel("alpha")
            ax.axhline(2.0, color="grey", lw=0.8, ls=":")
        axes[gi, 0].legend(fontsize=7)
    fig.suptitle(title)
    return fig


def _width_panel(ax, part: pd.DataFrame, palette: dict, ylabel: str, title: str, legend: bool) -> None:
    for eta, line in part.groupby(schema.ETA_B):
        line = line.sort_values(schema.WIDTH)
        color = palette[float(eta)]
        ax.errorbar(line[schema.WIDTH], line["mean"], yerr=line["std"].fillna(0), marker="o", ms=3, capsize=2,
                    color=color, label=f"eta/b {eta:g} (alpha {line['alpha'].mean():.2f})")
        if "ref_median" in line.columns and line["ref_median"].notna().any():
            ax.plot(line[schema.WIDTH], line["ref_median"], ls="--", lw=1, marker="x", ms=4, color=color)
            if len(line) > 1:
                ax.fill_between(line[schema.WIDTH], line["ref_q05"], line["ref_q95"], color=color, alpha=0.12, lw=0)
            else:  # one width: a band has no extent, draw the 5-95% range as a bar
                ax.vlines(line[schema.WIDTH], line["ref_q05"], line["ref_q95"], color=color, alpha=0.4, lw=4)
    _log_x(ax, 2)
    ax.set_xlabel("width")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    if legend:
        ax.legend(fontsize=6)


def width_figure(errors: pd.DataFrame, prunable: pd.DataFrame, eps: float, title: str) -> Figure:
    """One model family and method vs width, one curve per eta/b: rows = relative error at each kept
    fraction kappa, then the prunable fraction at eps; columns = layer roles. Where the frames carry
    ref_* columns (magnitude), the i.i.d. SaS reference is drawn dashed with its 5-95% band."""
    if errors.empty and prunable.empty:
        return empty_figure(title)
    kappas = sorted(errors[KAPPA].unique()) if len(errors) else []
    roles = _roles(pd.concat([errors[[schema.ROLE]], prunable[[schema.ROLE]]]))
    fig, axes = _figure(len(kappas) + 1, max(len(roles), 1))
    palette = _eta_colors(pd.concat([errors[schema.ETA_B], prunable[schema.ETA_B]]))
    for ri, role in enumerate(roles):
        for ki, kappa in enumerate(kappas):
            part = errors[(errors[schema.ROLE] == role) & np.isclose(errors[KAPPA], kappa)]
            _width_panel(axes[ki, ri], part, palette, "relative error",
                         f"layers: {role}, kept fraction {kappa:g}", ki == 0 and ri == 0)
        _width_panel(axes[len(kappas), ri], prunable[prunable[schema.ROLE] == role], palette,
                     f"prunable at eps {eps:g}", f"layers: {role}, prunable fraction", not kappas and ri == 0)
    drawn = f"solid: measured, {spread_text(pd.concat([errors.get('n', pd.Series(dtype=float)), prunable.get('n', pd.Series(dtype=float))]))}"
    has_reference = any("ref_median" in f.columns and f["ref_median"].notna().any() for f in (errors, prunable))
    if has_reference:   # only magnitude rows carry the reference; other methods must not claim it
        drawn += "; dashed/shaded: i.i.d. SaS reference median, 5-95%"
    fig.suptitle(f"{title}\n({drawn})", fontsize=10)
    return fig


def alpha_vs_width_figure(curve: pd.DataFrame, title: str, heavy_alpha: float) -> Figure:
    """alpha (capped, per layer role) vs width for one family, one curve per eta/b (rows of
    ``curves.alpha_vs_eta``); the dotted line is heavy_alpha. Why a width claim fails: when alpha stays
    near 2 as the network widens, nothing is expected to get more compressible."""
    roles = [r for r in vocab.ROLES if len(curve) and (curve["series"] == f"role_{r}").any()]
    if not roles:
        return empty_figure(title)
    fig, axes = _figure(1, len(roles))
    palette = _eta_colors(curve[schema.ETA_B])
    for ri, role in enumerate(roles):
        ax = axes[0, ri]
        part = curve[(curve["series"] == f"role_{role}") & ~curve["raw"].astype(bool)]
        for eta, line in part.groupby(schema.ETA_B):
            line = line.sort_values(schema.WIDTH)
            yerr = line["std"].fillna(0) if line["n"].max() >= 2 else None
            ax.errorbar(line[schema.WIDTH], line["mean"], yerr=yerr, marker="o", ms=3, capsize=2,
                        color=palette[float(eta)], label=f"eta/b {eta:g}")
        ax.axhline(heavy_alpha, color="grey", lw=0.8, ls=":")
        _log_x(ax, 2)
        ax.set_xlabel("width")
        ax.set_ylabel("alpha")
        ax.set_title(f"layers: {role}", fontsize=9)
        if ri == 0:
            ax.legend(fontsize=6)
    fig.suptitle(f"{title}\n({spread_text(curve['n'])}; dotted: heavy_alpha {heavy_alpha:g})", fontsize=10)
    return fig


def noise_width_figure(curve: pd.DataFrame, title: str, eps: float, level: float = 0.95) -> Figure:
    """Prunable fraction (mean over non-last layers) vs width for one base family, one curve per noise
    setting, one panel per eta/b, bars the replicate interval (rows of ``curves.noise_width_curves``)."""
    if curve.empty:
        return empty_figure(title)
    etas = sorted(curve[schema.ETA_B].dropna().unique())
    fig, axes = _figure(1, max(len(etas), 1))
    settings = sorted(curve[NOISE_LABEL].unique(), key=lambda s: (s != NOISELESS, s))
    palette = dict(zip(settings, cm.tab10(np.arange(len(settings)) % 10)))
    for ei, eta in enumerate(etas):
        ax = axes[0, ei]
        for setting in settings:
            line = curve[(curve[schema.ETA_B] == eta) & (curve[NOISE_LABEL] == setting)].sort_values(schema.WIDTH)
            if len(line):
                below = (line["mean"] - line["low"]).fillna(0).clip(lower=0)
                above = (line["high"] - line["mean"]).fillna(0).clip(lower=0)
                yerr = np.vstack([below, above]) if line["low"].notna().any() else None
                ax.errorbar(line[schema.WIDTH], line["mean"], yerr=yerr, marker="o", ms=3, capsize=2,
                            color=palette[setting], label=setting)
        _log_x(ax, 2)
        ax.set_xlabel("width")
        ax.set_ylabel(f"prunable fraction at eps {eps:g}")
        ax.set_title(f"eta/b {eta:g}", fontsize=9)
        if ei == 0:
            ax.legend(fontsize=6)
    fig.suptitle(f"{title}\n(non-last layers; {interval_text(curve['n'], level)})", fontsize=10)
    return fig


def _colorbar(fig: Figure, axes, mappable, label: str) -> None:
    right = axes[0, -1].get_position()
    cax = fig.add_axes((right.x1 + 0.25 / fig.get_figwidth(), right.y0, 0.18 / fig.get_figwidth(), right.height))
    fig.colorbar(mappable, cax=cax, label=label)


def _alpha_colorbar(fig: Figure, axes) -> None:
    _colorbar(fig, axes, cm.ScalarMappable(norm=ALPHA_NORM, cmap="viridis"), "alpha (median over layers)")


def _eta_colorbar(fig: Figure, axes, etas) -> None:
    _colorbar(fig, axes, cm.ScalarMappable(norm=_eta_norm(etas), cmap=_ETA_CMAP), "eta / b")


def interval_text(n: pd.Series, level: float) -> str:
    """What replicate-interval bars are: 'mean and its 95% t interval across seeds' (from MIN_REPLICATES
    seeds at a point), or why there are none."""
    n = pd.to_numeric(n, errors="coerce").dropna()
    if len(n) and n.max() >= MIN_REPLICATES:
        return f"mean and its {level:.0%} t interval across seeds (points with fewer than {MIN_REPLICATES}: none)"
    return f"fewer than {MIN_REPLICATES} seeds: no intervals"


def spread_text(n: pd.Series) -> str:
    """What the error bars are: 'mean +- sd over seeds' with >= 2 seeds at some point, else none."""
    n = pd.to_numeric(n, errors="coerce").dropna()
    return "mean +- sd over seeds" if len(n) and n.max() >= 2 else "one seed: no error bars"


def accuracy_figure(acc: pd.DataFrame, title: str = "pruned test accuracy vs removed fraction") -> Figure:
    """Pruned test accuracy vs ratio, one panel per method, one line per trial coloured by its alpha."""
    if acc.empty:
        return empty_figure(title)
    methods = sorted(acc[schema.METHOD].unique())
    fig, axes = _figure(1, len(methods), colorbar=True)
    for mi, method in enumerate(methods):
        ax = axes[0, mi]
        for _, line in acc[acc[schema.METHOD] == method].groupby(schema.RUN):
            line = line.sort_values(schema.RATIO)
            a = line[schema.ALPHA].iloc[0]
            ax.plot(line[schema.RATIO], line[schema.PRUNED_ACC], marker=".", lw=1,
                    color=cm.viridis(ALPHA_NORM(a)) if np.isfinite(a) else "grey")
        ax.set_title(method, fontsize=9)
        ax.set_xlabel("removed fraction (singular: of singular values)")
        ax.set_ylabel("pruned test accuracy")
    _alpha_colorbar(fig, axes)
    fig.suptitle(title)
    return fig


def singular_figure(acc: pd.DataFrame) -> Figure:
    """Singular-value pruning two ways: by fraction of singular values removed and by remaining-parameter
    ratio k(m+n)/(mn), which exceeds 1 for a square layer below about half removed."""
    title = "singular-value pruning: accuracy by fraction removed and by parameter ratio"
    s = acc[acc[schema.METHOD] == "singular"] if len(acc) else acc
    if s.empty:
        return empty_figure(title)
    fig, axes = _figure(1, 2, colorbar=True)
    for ax, x, label in ((axes[0, 0], schema.SV_REMOVED, "fraction of singular values removed"),
                         (axes[0, 1], schema.REMAINING, "remaining parameters / dense (k(m+n)/(mn))")):
        for _, line in s.groupby(schema.RUN):
            line = line.sort_values(x)
            a = line[schema.ALPHA].iloc[0]
            ax.plot(line[x], line[schema.PRUNED_ACC], marker=".", lw=1,
                    color=cm.viridis(ALPHA_NORM(a)) if np.isfinite(a) else "grey")
        ax.set_xlabel(label)
        ax.set_ylabel("pruned test accuracy")
    axes[0, 1].axvline(1.0, color="grey", lw=0.8, ls=":")
    _alpha_colorbar(fig, axes)
    fig.suptitle(title)
    return fig


def layer_alpha_prunable_figure(points: pd.DataFrame, eps: float) -> Figure:
    """Per layer: alpha vs prunable fraction at eps (the paper's reference figure), one panel per method."""
    title = f"per layer: alpha vs prunable fraction at eps = {eps:g}"
    if points.empty:
        return empty_figure(title)
    methods = sorted(points[schema.METHOD].unique())
    fig, axes = _figure(1, len(methods))
    for mi, method in enumerate(methods):
        ax = axes[0, mi]
        part = points[points[schema.METHOD] == method]
        for role in _roles(part):
            r = part[part[schema.ROLE] == role]
            ax.scatter(r[schema.ALPHA], r[schema.PRUNABLE], s=14, alpha=0.8, color=ROLE_COLORS.get(role, "grey"), label=role)
        ax.set_title(method, fontsize=9)
        ax.set_xlabel("alpha")
        ax.set_ylabel(f"prunable fraction at eps {eps:g}")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return fig


def gap_figure(gap: pd.DataFrame) -> Figure:
    """Generalization error (train acc - test acc) vs alpha and vs mean prunable fraction, per trial."""
    title = "generalization error vs alpha and vs compressibility"
    g = gap[np.isfinite(gap[GEN_ERROR])] if len(gap) else gap
    if g.empty:
        return empty_figure(title)
    fig, axes = _figure(1, 2, colorbar=True)
    palette = _eta_colors(g[schema.ETA_B])
    for ax, x, label in ((axes[0, 0], schema.ALPHA, "alpha (median over layers)"),
                         (axes[0, 1], schema.PRUNABLE, "mean prunable fraction over layers")):
        ax.scatter(g[x], g[GEN_ERROR], s=18, c=[palette[float(e)] for e in g[schema.ETA_B]])
        ax.set_xlabel(label)
        ax.set_ylabel("train acc - test acc")
    _eta_colorbar(fig, axes, g[schema.ETA_B])
    fig.suptitle(title + " (colour: eta/b)")
    return fig


def slopes_figure(slopes: pd.DataFrame, title: str, ylabel: str) -> Figure:
    """Slope vs ln(width) per eta/b with its CI (rows of ``curves.width_slopes``), one line per layer role."""
    if slopes.empty or slopes["slope"].notna().sum() == 0:
        return empty_figure(title, "no eta/b has two or more widths")
    fig, axes = _figure(1, 1, 6, 3.5)
    ax = axes[0, 0]
    for role in _roles(slopes):
        r = slopes[slopes[schema.ROLE] == role].sort_values(schema.ETA_B)
        low = (r["slope"] - r["low"]).clip(lower=0).fillna(0)
        high = (r["high"] - r["slope"]).clip(lower=0).fillna(0)
        ax.errorbar(r[schema.ETA_B], r["slope"], yerr=[low, high], marker="o", capsize=3,
                    color=ROLE_COLORS.get(role, "grey"), label=role)
    ax.axhline(0, color="grey", lw=0.8)
    _log_x(ax, values=slopes[schema.ETA_B])
    # Slopes are small numbers: a power-of-ten offset keeps tick labels short enough for the fixed margin.
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-1, 1))
    ax.set_xlabel("eta / b")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    fig.suptitle(title)
    return fig


def trajectory_figure(traj: pd.DataFrame) -> Figure:
    """alpha of the current weights over iterations, one panel per layer, one line per trial: colour =
    eta/b (colourbar), line style = width (legend)."""
    title = "alpha of the current weights during training"
    if traj.empty:
        return empty_figure(title)
    layers = sorted(int(v) for v in traj[schema.LAYER].dropna().unique())
    fig, axes = _figure(1, max(len(layers), 1), colorbar=True)
    etas = traj[schema.ETA_B].dropna()
    palette = _eta_colors(etas)
    widths = sorted(traj[schema.WIDTH].dropna().unique())
    styles = {w: WIDTH_STYLES[i % len(WIDTH_STYLES)] for i, w in enumerate(widths)}
    for li, layer in enumerate(layers):
        ax = axes[0, li]
        for _, line in traj[traj[schema.LAYER] == layer].groupby(schema.RUN):
            line = line.sort_values(schema.STEP)
            eta, width = line[schema.ETA_B].iloc[0], line[schema.WIDTH].iloc[0]
            color = palette.get(float(eta), "grey") if np.isfinite(eta) else "grey"
            ax.plot(line[schema.STEP], line[schema.VALUE], lw=0.8, color=color, ls=styles.get(width, "-"))
        ax.set_title(f"layer {layer}", fontsize=9)
        ax.set_xlabel("iteration")
        ax.set_ylabel("alpha")
    for width in widths:   # legend entries without data: one per line style
        axes[0, 0].plot([], [], color="black", lw=0.8, ls=styles[width], label=f"width {int(width)}")
    if widths:
        axes[0, 0].legend(fontsize=6)
    if len(etas):
        _eta_colorbar(fig, axes, etas)
    fig.suptitle(title + " (colour: eta/b; line style: width)")
    return fig


def outcomes_figure(cells: pd.DataFrame) -> Figure:
    """Grid cells (eta/b x width) per family: one stacked bar per cell with the count of each category
    (converged, capped, underfit, diverged, failed, incomplete, missing) in its own colour."""
    title = "trial outcomes over the grid"
    if cells.empty:
        return empty_figure(title, "no runs")
    groups = sorted(cells[GROUP_LABEL].unique())
    fig, axes = _figure(1, len(groups), 5, 3.8)
    present = [c for c in OUTCOME_COLUMNS if cells[c].sum() > 0]
    for gi, group in enumerate(groups):
        ax = axes[0, gi]
        g = cells[cells[GROUP_LABEL] == group]
        etas, widths = sorted(g[schema.ETA_B].dropna().unique()), sorted(g[schema.WIDTH].dropna().unique())
        for row in g.to_dict("records"):
            if row[schema.ETA_B] not in etas or row[schema.WIDTH] not in widths:
                continue
            i, j = widths.index(row[schema.WIDTH]), etas.index(row[schema.ETA_B])
            total = sum(row[c] for c in OUTCOME_COLUMNS) or 1
            left = j - 0.42
            for category in OUTCOME_COLUMNS:   # a horizontal stacked bar: widths proportional to the counts
                if row[category]:
                    share = 0.84 * row[category] / total
                    ax.barh(i, share, left=left, height=0.6, color=CATEGORY_COLORS[category], edgecolor="white", lw=0.5)
                    ax.text(left + share / 2, i, str(row[category]), ha="center", va="center", fontsize=7)
                    left += share
        ax.set_xlim(-0.5, len(etas) - 0.5)
        ax.set_ylim(-0.5, len(widths) - 0.5)
        ax.set_xticks(range(len(etas)), [f"{e:g}" for e in etas], fontsize=7, rotation=45)
        ax.set_yticks(range(len(widths)), [f"{int(w)}" for w in widths], fontsize=7)
        ax.set_xlabel("eta / b")
        ax.set_ylabel("width")
        ax.set_title(group, fontsize=9)
    handles = [Patch(color=CATEGORY_COLORS[c], label=c) for c in present]
    fig.suptitle(title + " (trials per category in each cell)", x=0.02, y=0.99, ha="left", va="top")
    if handles:   # in the top margin under the title, so the two never overlap however narrow the figure
        fig.legend(handles=handles, labels=present, loc="upper left", fontsize=7, ncol=len(present),
                   bbox_to_anchor=(0.02, 1 - 0.3 / fig.get_figheight()), frameon=False)
    return fig
