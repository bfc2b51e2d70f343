"""Figure details a reader relies on, checked on the drawn matplotlib objects."""
from __future__ import annotations

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg

from analysis import plots, schema
from analysis.curves import GROUP_LABEL
from analysis.grid import OUTCOME_COLUMNS

ETAS = (6e-3, 8e-3, 1e-2)


def test_a_grid_inside_one_decade_labels_every_eta_b_level():
    slopes = pd.DataFrame([{schema.ETA_B: eta, schema.ROLE: role, "slope": 0.1 * i, "low": 0.0, "high": 0.2}
                           for i, eta in enumerate(ETAS) for role in ("first", "hidden")])
    fig = plots.slopes_figure(slopes, "slopes", "d prunable / d ln(width)")
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["0.006", "0.008", "0.01"]


def test_outcome_legend_sits_below_the_title_not_on_it():
    cells = pd.DataFrame([{GROUP_LABEL: "g", schema.ETA_B: eta, schema.WIDTH: w,
                           **{c: 0 for c in OUTCOME_COLUMNS}, "converged": 2, "capped": 1}
                          for eta in ETAS for w in (64, 128)])
    fig = plots.outcomes_figure(cells)
    renderer = FigureCanvasAgg(fig).get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    legend = fig.legends[0].get_window_extent(renderer)
    assert legend.y1 <= title.y0 + 1          # pixels: the legend's top is at or under the title's bottom
    assert {t.get_text() for t in fig.legends[0].get_texts()} == {"converged", "capped"}


def test_report_settings_read_as_name_value_pairs():
    from analysis.options import AnalysisOptions
    from analysis.report import options_text
    text = options_text(AnalysisOptions(method="neuron", eps=0.316, kappas=(0.1, 0.2)))
    assert "method neuron" in text and "eps 0.316" in text and "kappas 0.1, 0.2" in text
    assert "AnalysisOptions(" not in text and text.count(" · ") == len(AnalysisOptions.__dataclass_fields__) - 1
