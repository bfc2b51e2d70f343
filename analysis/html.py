"""The report's single self-contained HTML page (Jinja2): figures embedded as base64 PNG."""
from __future__ import annotations

from dataclasses import dataclass

import jinja2
import pandas as pd

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>tailsweep report: {{ name }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; }
th { background: #f3f3f3; } td.text { text-align: left; }
.holds { background: #d8f0d8; } .contradicted { background: #f6d4d4; } .inconclusive { background: #eee; }
figure { margin: 1em 0 2.5em; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; max-width: 70em; }
.meta { font-size: 0.85em; color: #555; } code { font-size: 0.9em; }
.warning { border: 2px solid #c60; background: #fff3e0; padding: 0.6em 1em; margin: 1em 0; }
</style></head><body>
<h1>tailsweep report: {{ name }}</h1>
<p class="meta">source: <code>{{ source }}</code> &middot; generated {{ generated }} by tailsweep {{ version }}
 &middot; options: <code>{{ options }}</code></p>
{% if warning %}<div class="warning" id="measure-version-warning"><b>Mixed measurement versions.</b> {{ warning }}</div>{% endif %}

<h2>Grid</h2>
{{ grid_summary | safe }}
<h2>Outcomes</h2>
<p>Missing = cells of the observed grid (product of eta/b, batch size, width and seed values per model family)
with no run; in the "all" row, the sweep file's grid size minus the runs when that is larger. Incomplete = runs
without an outcome tag. Underfit = capped with final train accuracy below min_train_acc = {{ min_train_acc }}
(not counted as capped). Only converged and fitting capped trials enter the statistics.</p>
{{ outcome_counts | safe }}
<h3>Excluded trials</h3>
<p>Every trial that enters no statistic, figure of claims or correlation, and why.</p>
{{ excluded | safe }}

<h2>Claims</h2>
<p>Rule fixed in advance: each statistic is computed once per replicate (seed) and its {{ level }}% interval is the
t interval across replicates; <b>holds</b> when the interval excludes 0 on the predicted side, <b>contradicted</b>
when it excludes 0 on the other side, <b>inconclusive</b> otherwise, without an interval (fewer than 3 replicates;
for a statistic across cells fewer than {{ min_trials }} trials or 3 levels of its axis) or with fewer than
{{ min_trials }} trials. The reason column says what decided each verdict, the scheme column how its interval was
made.</p>
<table><tr><th>claim</th><th>family</th><th>statement</th><th>statistic</th><th>predicted</th><th>value</th>
<th>CI</th><th>trials</th><th>points</th><th>replicates</th><th>verdict</th><th>reason</th><th>scheme</th></tr>
{% for c in claims %}<tr><td class="text">{{ c.claim }}</td><td class="text">{{ c.group }}</td>
<td class="text">{{ c.statement }}</td><td class="text">{{ c.statistic }}</td><td>{{ c.predicted }}</td>
<td>{{ c.value }}</td><td>{{ c.ci }}</td><td>{{ c.n_trials }}</td><td>{{ c.n_points }}</td>
<td>{{ c.n_replicates }}</td><td class="{{ c.verdict }}">{{ c.verdict }}</td><td class="text">{{ c.reason }}</td>
<td class="text">{{ c.scheme }}</td></tr>
{% endfor %}</table>
{% if claim_notes %}<ul class="notes">{% for text, anchor in claim_notes %}<li>{{ text }}
<a href="#{{ anchor }}">Tail index vs width</a></li>{% endfor %}</ul>{% endif %}

<h2>Figures</h2>
{% for f in figures %}<figure id="{{ f.name }}">
<h3>{{ f.title }}</h3>
<img alt="{{ f.title }}" src="data:image/png;base64,{{ f.png_base64 }}">
<figcaption>{{ f.caption }} Files: <a href="{{ f.png_path }}">{{ f.png_path }}</a>,
<a href="{{ f.svg_path }}">{{ f.svg_path }}</a>.</figcaption></figure>
{% endfor %}

<h2>Rank correlations</h2>
<p>Computed once per replicate (seed), {{ level }}% t interval across replicates, under the claims' rules (the
reason column says why an interval is missing).</p>
{{ correlations | safe }}
<h2>Slope of the prunable fraction vs ln(width), per eta/b</h2>
<p>Prunable fraction at eps = {{ eps }}, every method, layers of one role averaged inside each trial. The
{{ method }} rows are the claim error_falls_with_width cell by cell (the claim pools the non-last roles with a
fixed effect per eta/b and layer; predicted &gt; 0). Per replicate (seed), interval across replicates; no
interval with fewer than 3 replicates, 3 widths or {{ min_trials }} trials.</p>
{{ prunable_slopes | safe }}
<h2>Slope of pruning error vs ln(width), per eta/b</h2>
<p>Relative error at each kept fraction kappa, every method; negative: pruning gets cheaper with width. Per
replicate (seed), interval across replicates, under the same rules.</p>
{{ slopes | safe }}
<h2>Tables</h2>
<ul>{% for t in tables %}<li><a href="{{ t }}">{{ t }}</a></li>{% endfor %}</ul>
</body></html>
"""


@dataclass(frozen=True)
class FigureEntry:
    name: str
    title: str
    caption: str
    png_path: str          # relative to the HTML page
    svg_path: str
    png_base64: str


def table_html(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p><i>none</i></p>"
    return frame.to_html(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}", border=0)


def _fmt(v) -> str:
    return "-" if v is None or pd.isna(v) else f"{v:.3g}"


def render(*, name: str, source: str, generated: str, version: str, options: str, level: float,
           min_trials: int, min_train_acc: float, warning: str | None, excluded: pd.DataFrame,
           claim_notes: list[tuple[str, str]], grid_summary: pd.DataFrame, outcome_counts: pd.DataFrame,
           claims: pd.DataFrame, figures: list[FigureEntry], correlations: pd.DataFrame, slopes: pd.DataFrame,
           prunable_slopes: pd.DataFrame, eps: float, method: str, tables: list[str]) -> str:
    claim_rows = [dict(r, value=_fmt(r["value"]), ci=f"[{_fmt(r['low'])}, {_fmt(r['high'])}]")
                  for r in claims.to_dict("records")]
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(TEMPLATE).render(
        name=name, source=source, generated=generated, version=version, options=options,
        level=round(level * 100), min_trials=min_trials, min_train_acc=f"{min_train_acc:g}", warning=warning,
        excluded=table_html(excluded), claim_notes=claim_notes, grid_summary=table_html(grid_summary),
        outcome_counts=table_html(outcome_counts), claims=claim_rows, figures=figures,
        correlations=table_html(correlations), slopes=table_html(slopes),
        prunable_slopes=table_html(prunable_slopes), eps=f"{eps:g}", method=method, tables=tables)
