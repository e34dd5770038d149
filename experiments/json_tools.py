"""Plain JSON for the experiments' result files."""
from __future__ import annotations

import numpy as np


def jsonable(obj):
    """numpy scalars/arrays and tuples as plain JSON types; non-finite floats as strings ("nan", "inf"),
    which strict JSON has no literal for."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not np.isfinite(obj):
        return str(obj)
    return obj
