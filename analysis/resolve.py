"""Fill the data-dependent choices of AnalysisOptions (weight set, centring) from what the runs logged."""
from __future__ import annotations

import dataclasses

import pandas as pd

from analysis import schema as S
from analysis.data import SweepData
from analysis.options import AnalysisOptions


def _present(data: SweepData, column: str) -> set[str]:
    found: set[str] = set()
    for frame in (data.alphas, data.prunable, data.errors, data.ratios):
        if column in frame.columns:
            found |= {str(v) for v in frame[column].dropna().unique()}
    return found


def resolve_options(data: SweepData, options: AnalysisOptions) -> AnalysisOptions:
    """Options with wset and center set: the requested ones, else 'avg'/'median' when logged."""
    wset = options.wset
    if wset is None:
        present = _present(data, S.WSET)
        wset = "avg" if "avg" in present or not present else sorted(present)[0]
    center = options.center
    if center is None:
        present = {str(v) for f in (data.prunable, data.errors) for v in f[S.CENTER].dropna().unique()}
        center = "median" if "median" in present or not present else sorted(present)[0]
    return dataclasses.replace(options, wset=wset, center=center)


def group_label(row: pd.Series | dict) -> str:
    """'fcn depth 3 / mnist5k', 'vgg11 / cifar10'."""
    depth = row.get(S.DEPTH)
    arch = str(row.get(S.ARCH))
    if depth is not None and not pd.isna(depth):
        arch = f"{arch} depth {int(depth)}"
    return f"{arch} / {row.get(S.DATASET)}"
