"""JSON for records that hold numpy scalars, arrays and paths (decode.json, metrics.json)."""

from pathlib import Path

import numpy as np


def json_default(value):
    """``json.dumps(..., default=json_default)``: numpy scalars and arrays as numbers, paths as text."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
