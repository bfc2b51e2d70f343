"""The installed tailsweep version and the measurement-definition version, recorded with every trial."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def tailsweep_version() -> str:
    try:
        return version("tailsweep")
    except PackageNotFoundError:   # imported from a source tree that was never installed
        return "unknown"


# Bumped whenever what a measurement means changes (an estimator, a view, a pruning rule), so old and new
# values never mix silently: results carry it, the report warns on a mix, `tailsweep remeasure` updates.
#   1  the first version (0.1.0)
#   2  uni/norms/hill on the column-centred view; Hill/moment k grid = the block-sum K1 set; singular
#      pruning of the last layer on the transposed view; neuron pruning; stable/effective rank, PQ-index
MEASURE_VERSION = 2
