"""The source signature: a Ricker wavelet sampled on the modelling time axis.

Kept apart from the solver so that the analytic tests and the physics check can build
exactly the wavelet the solver injects.
"""

from __future__ import annotations

import numpy as np


def ricker(frequency: float, delay: float, times: np.ndarray) -> np.ndarray:
    """Ricker wavelet of peak ``frequency`` (Hz) whose maximum lies at ``delay`` (s).

    ``w(t) = (1 - 2 a) exp(-a)`` with ``a = (pi f (t - delay))**2``; unit peak amplitude.
    Evaluated at ``times`` (s); returned as float64 so callers choose the precision.
    """
    a = (np.pi * frequency * (np.asarray(times, dtype=np.float64) - delay)) ** 2
    return (1.0 - 2.0 * a) * np.exp(-a)


def source_signature(frequency: float, delay: float, nt: int, dt: float) -> np.ndarray:
    """The wavelet at the ``nt + 1`` solver times ``0, dt, ..., nt * dt`` (float32).

    The solver injects sample ``n`` into the wavefield at step ``n + 1``; see
    :mod:`geogen.physics.modelling` for how that maps onto OpenFWI's time axis.
    """
    return ricker(frequency, delay, dt * np.arange(nt + 1)).astype(np.float32)
