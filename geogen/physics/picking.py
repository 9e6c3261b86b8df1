"""First-arrival picking on shot gathers, for comparing records by their kinematics."""

from __future__ import annotations

import numpy as np


def first_arrivals(seismic: np.ndarray, dt: float, *, threshold: float = 0.05, t0: float = 0.0) -> np.ndarray:
    """First-break times (s) of every trace: first sample whose |amplitude| reaches
    ``threshold`` times the trace's own peak, refined by linear interpolation.

    ``seismic`` is ``(..., time, receiver)``; the result is ``(..., receiver)``, with
    NaN for dead traces.  A relative threshold keeps the pick independent of the
    amplitude scale, so generated and modelled records can be compared directly.
    ``t0`` is the time of sample 0.
    """
    a = np.abs(np.asarray(seismic, dtype=np.float64))
    a = np.moveaxis(a, -2, -1)  # (..., receiver, time)
    peak = a.max(axis=-1, keepdims=True)
    level = threshold * peak
    above = a >= level
    first = np.argmax(above, axis=-1)
    prev = np.maximum(first - 1, 0)
    y1 = np.take_along_axis(a, first[..., None], -1)[..., 0]
    y0 = np.take_along_axis(a, prev[..., None], -1)[..., 0]
    lv = level[..., 0]
    frac = np.where((first > 0) & (y1 > y0), (lv - y0) / np.where(y1 > y0, y1 - y0, 1.0), 0.0)
    times = t0 + dt * (first - 1 + frac)
    times = np.where(first == 0, t0, times)
    return np.where(peak[..., 0] > 0, times, np.nan)
