"""Image and record metrics as OpenFWI reports them, plus first-arrival picking.

Conventions (OpenFWI): velocity MAE/MSE on the [-1, 1] scale; SSIM with an 11-sample
Gaussian window (sigma 1.5), zero padded, on data mapped to [0, 1]; a record is
compared after the OpenFWI transform ``sign(x) log1p(|x|)`` and a min-max map.  The
arrays are small (one map, one record), so plain NumPy is used: no torch import for a
metric.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from geogen.data.normalize import from_unit, log_compress, to_unit

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
_C1 = 0.01**2  # (K1 * L)^2 with L = 1: data on [0, 1]
_C2 = 0.03**2


# ----------------------------------------------------------------- scaling helpers
# (the scalings themselves are geogen.data.normalize's; these fix the precision: float64 in, float32 maps out)
def velocity_to_unit(v: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """m/s -> [-1, 1] by the fixed min-max OpenFWI uses (1500-4500 m/s by default)."""
    return to_unit(np.asarray(v, np.float64), vmin, vmax).astype(np.float32)


def unit_to_velocity(u: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """[-1, 1] -> m/s, the inverse of :func:`velocity_to_unit`."""
    return from_unit(np.asarray(u, np.float64), vmin, vmax).astype(np.float32)


def log_record(x: np.ndarray) -> np.ndarray:
    """OpenFWI's amplitude compression ``sign(x) * log1p(|x|)``, in float64."""
    return log_compress(np.asarray(x, np.float64))


def record_to_unit(record: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Log-compress a record and map [lo, hi] (log-domain bounds) to [0, 1], clipped."""
    span = hi - lo if hi > lo else 1.0
    return np.clip((log_record(record) - lo) / span, 0.0, 1.0)


# ---------------------------------------------------------------- pointwise errors
def relative_l2(estimate: np.ndarray, reference: np.ndarray) -> float:
    """``||estimate - reference|| / ||reference||`` (inf when the reference is all zero)."""
    e = np.asarray(estimate, np.float64)
    r = np.asarray(reference, np.float64)
    norm = float(np.linalg.norm(r))
    if norm == 0.0:
        return 0.0 if not np.any(e) else float("inf")
    return float(np.linalg.norm(e - r) / norm)


def mae(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute error (OpenFWI: on the [-1, 1] velocity scale)."""
    return float(np.mean(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error (OpenFWI: on the [-1, 1] velocity scale)."""
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


# --------------------------------------------------------------------------- SSIM
def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian taps; the 2-D window is their outer product."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def _blur(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Zero-padded 'same' Gaussian filter over the last two axes (separable)."""
    half = g.size // 2
    pad = [(0, 0)] * (img.ndim - 2) + [(half, half), (half, half)]
    p = np.pad(img, pad)
    p = sliding_window_view(p, g.size, axis=-2) @ g
    return sliding_window_view(p, g.size, axis=-1) @ g


def ssim_map(a: np.ndarray, b: np.ndarray, *, window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Local SSIM of two images on [0, 1] (last two axes are the image)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"SSIM needs equal shapes, got {a.shape} and {b.shape}")
    g = gaussian_window(window, sigma)
    mu_a, mu_b = _blur(a, g), _blur(b, g)
    var_a = _blur(a * a, g) - mu_a**2
    var_b = _blur(b * b, g) - mu_b**2
    cov = _blur(a * b, g) - mu_a * mu_b
    return ((2 * mu_a * mu_b + _C1) * (2 * cov + _C2)) / ((mu_a**2 + mu_b**2 + _C1) * (var_a + var_b + _C2))


def ssim(a: np.ndarray, b: np.ndarray, *, window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> float:
    """Mean SSIM over the image (and over any leading axes); 1 for identical images."""
    return float(np.mean(ssim_map(a, b, window=window, sigma=sigma)))


def velocity_ssim(pred_unit: np.ndarray, true_unit: np.ndarray) -> float:
    """SSIM of velocity maps given on [-1, 1], computed on [0, 1] as OpenFWI does."""
    return ssim((np.asarray(pred_unit) + 1) / 2, (np.asarray(true_unit) + 1) / 2)


def record_ssim(estimate: np.ndarray, reference: np.ndarray) -> float:
    """SSIM of two records ``(source, time, receiver)`` on the OpenFWI-normalised scale.

    The log-domain bounds come from the reference, so an amplitude error shows up as a
    loss of similarity rather than being normalised away; each shot is one image.
    """
    logged = log_record(reference)
    lo, hi = float(logged.min()), float(logged.max())
    return ssim(record_to_unit(estimate, lo, hi), record_to_unit(reference, lo, hi))


# ----------------------------------------------------------------- first arrivals
def pick_first_arrivals(traces: np.ndarray, dt: float, *, axis: int = -2, threshold: float = 0.05,
                        dead: float = 1e-6) -> np.ndarray:
    """First-break times (s) by an amplitude threshold on each trace.

    The pick is the first time ``|x|`` reaches ``threshold`` times the trace's peak,
    interpolated linearly between samples.  On clean synthetic records the energy
    before the first break is numerical noise, so this threshold picker is both exact
    and cheap; it is used to compare two records, where its fixed offset from the true
    onset cancels.  Traces whose peak is below ``dead`` times the record's peak are dead
    and give NaN.  ``axis`` is the time axis (``-2`` for ``(source, time, receiver)``).
    """
    a = np.moveaxis(np.abs(np.asarray(traces, np.float64)), axis, -1)
    peak = a.max(axis=-1)
    level = threshold * peak
    above = a >= level[..., None]
    idx = np.argmax(above, axis=-1)
    prev = np.maximum(idx - 1, 0)
    a_now = np.take_along_axis(a, idx[..., None], -1)[..., 0]
    a_prev = np.take_along_axis(a, prev[..., None], -1)[..., 0]
    step = a_now - a_prev
    frac = np.where((idx > 0) & (step > 0), (level - a_prev) / np.where(step > 0, step, 1.0), 0.0)
    t = (prev + np.where(idx > 0, frac, 0.0)) * dt
    record_peak = float(peak.max()) if peak.size else 0.0
    return np.where(peak > dead * record_peak, t, np.nan) if record_peak > 0 else np.full(peak.shape, np.nan)


def first_arrival_error(estimate: np.ndarray, reference: np.ndarray, dt: float, *, axis: int = -2,
                        threshold: float = 0.05) -> float:
    """Median over live traces of ``|t_estimate - t_reference|`` in seconds.

    A trace live in the reference but dead in the estimate counts as an error of the
    whole record length, so a silent generated record cannot score well.
    """
    t_ref = pick_first_arrivals(reference, dt, axis=axis, threshold=threshold)
    t_est = pick_first_arrivals(estimate, dt, axis=axis, threshold=threshold)
    live = np.isfinite(t_ref)
    if not live.any():
        return float("nan")
    length = np.asarray(reference).shape[axis] * dt
    err = np.where(np.isfinite(t_est), np.abs(t_est - t_ref), length)
    return float(np.median(err[live]))
