"""MLflow params come back as strings: turn them into the values TrialSpec.flat() logged."""
from __future__ import annotations

import ast
import math
from types import MappingProxyType
from typing import Any

_SPECIAL = MappingProxyType({"None": None, "True": True, "False": False, "nan": math.nan, "inf": math.inf,
                             "-inf": -math.inf})


def parse_param(text: str) -> Any:
    """'0.001' -> 0.001, '50' -> 50, 'None' -> None, 'True' -> True; anything else stays a string.

    Lists and tuples stay as their text: they are descriptive (compress.methods, compress.ratios), and
    a plain string column survives Parquet and CSV unchanged.
    """
    if text in _SPECIAL:
        return _SPECIAL[text]
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return text
