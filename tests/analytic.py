"""Analytic answers the physics tests compare Devito with (imported by several test modules)."""

from __future__ import annotations

import numpy as np

from geogen.acquisition import Acquisition
from geogen.physics.wavelet import ricker


def analytic_trace(r: float, c: float, acq: Acquisition, times: np.ndarray) -> np.ndarray:
    """dx dz (w * G)(t), G = H(t - r/c) / (2 pi sqrt(t^2 - r^2/c^2)): a point source in 2-D.

    With tau = r/c + s^2 the singular kernel becomes smooth:
    (w * G)(t) = (1/pi) int_0^inf w(t - r/c - s^2) / sqrt(2 r / c + s^2) ds.
    """
    s = np.linspace(0.0, 0.8, 20001)[None, :]
    w = ricker(acq.frequency, acq.wavelet_delay, times[:, None] - r / c - s**2)
    return acq.dx * acq.dz * np.trapezoid(w / np.sqrt(2 * r / c + s**2), s, axis=1) / np.pi


def first_arrival_window(acq: Acquisition, times: np.ndarray, r: float, c: float) -> np.ndarray:
    """From one period before to one and a half periods after the wavelet peak's arrival."""
    t_peak = acq.wavelet_delay + r / c
    return (times >= t_peak - 1.0 / acq.frequency) & (times <= t_peak + 1.5 / acq.frequency)


def record_times(acq: Acquisition) -> np.ndarray:
    """OpenFWI time axis: output sample i is the field at (i + 1) dt (see geogen.physics.modelling)."""
    return acq.dt * (np.arange(acq.nt) + 1)
