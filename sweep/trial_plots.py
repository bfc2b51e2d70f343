"""Per-trial plots: alpha over training, pruning error curves, the heaviest layer's tail.

Drawn with matplotlib's object API on an Agg canvas (no pyplot state, no display), from the
``TrialResult`` and the saved weights only, so `tailsweep sync` or a notebook can redraw them later.
A plot is a view, not a record: a drawing error is reported, never allowed to lose the trial.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

import numpy as np

from core import keys
from core.atomic import atomic_write
from core.result import TrialResult
from sweep.snapshots import load_weights

if TYPE_CHECKING:
    import torch

PLOT_NAMES = ("alpha_trajectory.png", "pruning_curves.png", "tail_histogram.png")


# ---------------------------------------------------------------- plot data (pure)
def plot_weight_set(metrics: Mapping[str, float]) -> str:
    """The weight set the plots show: 'avg' (the paper's analysed weights) when measured, else 'final'."""
    return "avg" if any(_measures_avg(keys.parse_key(k)) for k in metrics) else "final"


def _measures_avg(parsed: keys.ParsedKey | None) -> bool:
    """A capped alpha or an error curve of the 'avg' weights."""
    return (parsed is not None and parsed.wset == "avg"
            and (parsed.family == "error" or (parsed.family == "alpha" and not parsed.raw)))


def alpha_trajectories(history) -> dict[int, list[tuple[int, float]]]:
    """Layer index -> [(iteration, alpha)] from the ``alpha/current/multi/layer{i}`` step metrics."""
    out: dict[int, list[tuple[int, float]]] = {}
    for step, key, value in history:
        parsed = keys.parse_key(key)
        if (parsed is not None and parsed.family == "alpha" and parsed.wset == "current" and not parsed.raw
                and parsed.variant == "multi" and parsed.layer is not None):
            out.setdefault(parsed.layer, []).append((int(step), float(value)))
    return {i: sorted(points) for i, points in sorted(out.items())}


def error_curves(metrics: Mapping[str, float], wset: str) -> dict[tuple[str, str], dict[int, list[tuple[float, float]]]]:
    """(method, center) -> layer index -> [(ratio, relative error)], from ``error/...`` final metrics."""
    out: dict[tuple[str, str], dict[int, list[tuple[float, float]]]] = {}
    for key, value in metrics.items():
        parsed = keys.parse_key(key)
        if parsed is None or parsed.family != "error" or parsed.wset != wset or parsed.layer is None:
            continue
        curves = out.setdefault((parsed.method, parsed.center), {})
        curves.setdefault(parsed.layer, []).append((parsed.ratio, float(value)))
    return {mc: {i: sorted(pts) for i, pts in sorted(layers.items())} for mc, layers in sorted(out.items())}


@dataclass(frozen=True)
class HeavyLayer:
    """The layer with the smallest tail index, and the entry-level slope to draw over its survival plot."""

    index: int
    alpha: float           # the ranking estimate (variant ``variant``)
    variant: str
    slope_alpha: float     # entry-level estimate drawn as the survival slope
    slope_variant: str


def heaviest_layer(metrics: Mapping[str, float], wset: str) -> HeavyLayer | None:
    """Rank layers by the uncapped per-layer alpha (multivariate first, the paper's estimator).

    The survival plot shows single entries, so its slope comes from an entry-level estimator (uni, then
    hill) when available. None when no per-layer alpha was measured (e.g. a diverged trial).
    """
    def per_layer(variant: str) -> dict[int, float]:
        found: dict[int, float] = {}
        for raw in (True, False):
            for key, value in metrics.items():
                parsed = keys.parse_key(key)
                if (parsed is not None and parsed.family == "alpha" and parsed.raw == raw and parsed.wset == wset
                        and parsed.variant == variant and parsed.layer is not None and math.isfinite(value)):
                    found.setdefault(parsed.layer, float(value))
        return found

    for variant in keys.ALPHA_VARIANTS:
        ranking = per_layer(variant)
        if ranking:
            index = min(ranking, key=lambda i: (ranking[i], i))
            for slope_variant in ("uni", "hill", variant):
                slope = per_layer(slope_variant).get(index)
                if slope is not None:
                    return HeavyLayer(index, ranking[index], variant, slope, slope_variant)
    return None


def survival(values: np.ndarray, max_points: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Empirical survival P(|X - median| >= x) at each sorted |X - median| (largest first), zeros dropped.

    ``max_points``: keep about that many points at log-spaced ranks (every extreme point, fewer in the
    bulk), which is what a log-log plot can show; drawing 10^5 markers costs seconds per trial.
    """
    flat = np.asarray(values, dtype=np.float64).ravel()
    mags = np.sort(np.abs(flat - np.median(flat)))[::-1]
    mags = mags[mags > 0]
    surv = np.arange(1, mags.size + 1) / flat.size
    if max_points is not None and mags.size > max_points:
        ranks = np.unique(np.geomspace(1, mags.size, max_points).astype(np.int64)) - 1
        return mags[ranks], surv[ranks]
    return mags, surv


def tail_line(x: np.ndarray, surv: np.ndarray, alpha: float, tail_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """A power law P(|X| >= x) ∝ x^(-alpha) through the empirical point at ``tail_fraction``, over the tail."""
    anchor = int(np.searchsorted(surv, tail_fraction))
    anchor = min(max(anchor, 0), x.size - 1)
    xs = x[: anchor + 1]
    return xs, surv[anchor] * (xs / x[anchor]) ** (-alpha)


# ---------------------------------------------------------------- rendering
def _figure(ncols: int = 1, width: float = 6.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # Fixed margins: constrained/tight layout measures every tick label and doubles the drawing time.
    fig = Figure(figsize=(width * ncols, 4.0))
    fig.subplots_adjust(left=0.1 / ncols + 0.02, right=0.98, bottom=0.13, top=0.85, wspace=0.3)
    FigureCanvasAgg(fig)
    return fig


def _plain_log_axes(*axes) -> None:
    """No minor ticks and plain-text labels on log axes: minor ticks are hundreds of artists and the
    default 10^k labels go through mathtext parsing, together most of a log plot's drawing time."""
    from matplotlib.ticker import LogFormatter, NullLocator

    for axis in axes:
        axis.set_minor_locator(NullLocator())
        axis.set_major_formatter(LogFormatter())


def _save(fig, path: Path) -> Path:
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))


def _title(result: TrialResult) -> str:
    return (f"{result.spec.spec_hash()[:8]}  eta/b={result.spec.eta_over_b:g}  width={result.spec.model.resolved_width}"
            f"  {result.status} @ {result.iterations}")


def plot_alpha_trajectory(result: TrialResult, path: Path) -> Path | None:
    curves = alpha_trajectories(result.history)
    if not curves:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for i, points in curves.items():
        steps, values = zip(*points)
        ax.plot(steps, values, marker=".", label=f"layer{i}")
    ax.axhline(2.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("alpha (multivariate block-sum)")
    ax.set_title(_title(result), fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_pruning_curves(result: TrialResult, path: Path) -> Path | None:
    wset = plot_weight_set(result.metrics)
    curves = error_curves(result.metrics, wset)
    if not curves:
        return None
    methods = sorted({m for m, _ in curves})
    fig = _figure(ncols=len(methods), width=4.5)
    axes = fig.subplots(1, len(methods), squeeze=False)[0]
    for ax, method in zip(axes, methods):
        for (m, center), layers in curves.items():
            if m != method:
                continue
            for i, points in layers.items():
                ratios, errors = zip(*points)
                ax.plot(ratios, errors, linestyle="-" if center == "median" else "--", label=f"layer{i} ({center})")
        for eps in result.spec.compress.eps:
            ax.axhline(eps, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{method} ({wset} weights)", fontsize=9)
        ax.set_xlabel("fraction removed")
        ax.set_ylabel(f"relative l{result.spec.compress.p:g} error")
        ax.legend(fontsize=7)
    fig.suptitle(_title(result), fontsize=9)
    return _save(fig, path)


def plot_tail_histogram(result: TrialResult, weights: Mapping[str, "torch.Tensor"], path: Path) -> Path | None:
    """Histogram of the heaviest-tailed layer's entries, and its log-log survival with the alpha slope."""
    wset = plot_weight_set(result.metrics)
    heavy = heaviest_layer(result.metrics, wset)
    if heavy is None or heavy.index >= len(result.layers):
        return None
    name = result.layers[heavy.index]["name"]
    if name not in weights:
        return None
    values = weights[name].detach().cpu().double().numpy().ravel()
    fig = _figure(ncols=2, width=4.5)
    left, right = fig.subplots(1, 2)
    counts, edges = np.histogram(values, bins=200)
    left.stairs(counts, edges, fill=True, color="tab:blue")   # one artist, not 200 bar patches
    left.set_yscale("log")
    _plain_log_axes(left.yaxis)
    left.set_xlabel(f"{name} entries")
    left.set_ylabel("count")
    left.set_title(f"layer{heavy.index}: alpha_{heavy.variant} = {heavy.alpha:.3f}", fontsize=9)
    x, surv = survival(values, max_points=2000)
    if x.size:
        right.loglog(x, surv, ".", markersize=2, label="empirical")
        lx, ly = tail_line(x, surv, heavy.slope_alpha)
        lx, ly = lx[[0, -1]], ly[[0, -1]]   # a straight line in log-log: its two ends
        right.loglog(lx, ly, "r-", label=f"slope -{heavy.slope_alpha:.2f} ({heavy.slope_variant})")
        right.legend(fontsize=8)
    _plain_log_axes(right.xaxis, right.yaxis)
    right.set_xlabel("|w - median|")
    right.set_ylabel("P(|W - median| >= x)")
    fig.suptitle(_title(result), fontsize=9)
    return _save(fig, path)


def write_plots(result: TrialResult, weights_dir: Path, plots_dir: Path) -> dict[str, str]:
    """Draw every plot the result has data for. Returns name -> 'ok' | 'no data' | 'error: ...'.

    A plot is a view, not a record: a drawing error is reported, never allowed to lose the trial.
    """
    wset = plot_weight_set(result.metrics)
    weights_file = Path(weights_dir) / f"{wset}.safetensors"
    jobs = {
        "alpha_trajectory.png": lambda p: plot_alpha_trajectory(result, p),
        "pruning_curves.png": lambda p: plot_pruning_curves(result, p),
        "tail_histogram.png": lambda p: (plot_tail_histogram(result, load_weights(weights_file), p)
                                         if weights_file.exists() else None),
    }
    report: dict[str, str] = {}
    for name, draw in jobs.items():
        try:
            report[name] = "ok" if draw(Path(plots_dir) / name) is not None else "no data"
        except Exception as err:  # noqa: BLE001 - see docstring
            report[name] = f"error: {type(err).__name__}: {err}"
    return report
