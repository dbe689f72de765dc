"""One JSON-cleaning helper for every payload the verbs print and the pages/reports store.

`json_safe(obj)` returns a copy that `json.dumps(..., allow_nan=False)` accepts: NaN/inf ->
None, numpy scalars and arrays -> Python numbers and lists, timestamps -> ISO 8601 text,
dict keys -> str; anything else passes through unchanged.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def json_safe(obj: Any) -> Any:
    """JSON-safe copy of `obj` (recursing into dicts, lists, tuples and arrays)."""
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        return {k if isinstance(k, str) else str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in (obj.tolist() if isinstance(obj, np.ndarray) else obj)]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, pd.Timestamp):
        return None if obj is pd.NaT else obj.isoformat()
    return obj


__all__ = ["json_safe"]
