"""One coordinate axis in numbers: its size, range, regular step and units (``geogen info`` and the summary a
SEG-Y ingest returns give the same ``axes`` entries).  Only numpy: the ingest path loads neither xarray nor dask."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def describe_axis(values: Any, attrs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{"size", "min", "max", "step" (only when regular, to 1e-6 relative), "units"}`` of a 1-D axis."""
    values = np.asarray(values)
    out: dict[str, Any] = {"size": int(values.size)}
    if values.size and values.dtype.kind in "fiu":
        out["min"], out["max"] = float(values.min()), float(values.max())
        if values.size > 1:
            steps = np.diff(values.astype(np.float64))
            if np.allclose(steps, steps[0], rtol=1e-6, atol=0):
                out["step"] = float(steps[0])
    if attrs and "units" in attrs:
        out["units"] = str(attrs["units"])
    return out
