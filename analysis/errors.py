"""The one error type analysis raises for bad input (unknown sweep, empty experiment, bad bundle)."""
from __future__ import annotations


class AnalysisInputError(ValueError):
    """Input that analysis cannot use; the message is one line naming what and where.

    A subclass of ValueError so notebook users can catch either; the CLI catches only this one, so a
    bug elsewhere still shows its traceback instead of passing for bad input.
    """
