"""A differentiable, approximate forward model: primaries and direct wave of a velocity map.

The seismic decoder learns velocity -> record from the few paired samples only.  With
192 pairs it learns the direct wave and the shallow moveout but regresses the
reflections, which carry what an inversion needs, towards their mean (measured on the
quickstart data: InversionNet trained on real + generated pairs lost 8 % MAE against
real pairs alone, while the same generated velocity maps with Devito records gained
18 %).  This layer hands the decoder the kinematics it cannot learn from so few
samples, computed from the *decoded* velocity map, so a generated pair's reflections
sit where its velocity map puts them:

* primaries of the 1-D convolutional model under each source-receiver midpoint:
  reflection coefficient ``(v2 - v1) / (v2 + v1)`` of every cell boundary below the
  source, at the hyperbolic moveout time ``sqrt(t0**2 + (offset / v_rms)**2)``, with a
  ``1 / sqrt(t v_rms)`` (2-D) spreading;
* the direct wave at ``offset / v``, ``v`` the mean velocity of the source row between
  source and receiver, with ``1 / sqrt(offset)`` spreading;

each spike placed at its fractional sample by linear interpolation and convolved with
the acquisition's Ricker wavelet on the record's time axis: an arrival of travel time
``tau`` peaks at sample ``(tau + wavelet_delay) / dt``, as :mod:`geogen.physics.modelling`
aligns Devito's records.
It is *not* a wave-equation solver (no multiples, diffractions, head waves or
amplitude versus angle); a learned refiner (:class:`geogen.models.seismic_decoder.PriorRefiner`)
corrects it, and Devito stays the reference that every generated pair is checked against.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from geogen.acquisition import Acquisition
from geogen.physics.wavelet import ricker


def interpolation_rows(positions: np.ndarray, n: int) -> np.ndarray:
    """``(len(positions), n)`` weights that linearly interpolate ``n`` columns at fractional positions."""
    pos = np.clip(np.asarray(positions, dtype=np.float64), 0, n - 1)
    rows = np.zeros((pos.size, n), np.float32)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    frac = pos - lo
    np.add.at(rows, (np.arange(pos.size), lo), 1.0 - frac)
    np.add.at(rows, (np.arange(pos.size), hi), frac)
    return rows


def segment_rows(start: np.ndarray, stop: np.ndarray, n: int) -> np.ndarray:
    """``(len(start), n)`` weights averaging the columns between each start and stop (inclusive)."""
    rows = np.zeros((len(start), n), np.float32)
    for i, (a, b) in enumerate(zip(start, stop)):
        lo = max(int(math.floor(min(a, b))), 0)
        hi = min(int(math.ceil(max(a, b))), n - 1)
        rows[i, lo:hi + 1] = 1.0 / (hi - lo + 1)
    return rows


class ReflectivityPrior(nn.Module):
    """Velocity ``(B, nz, nx)`` in m/s -> ``(B, 2, S, T, R)``: primaries, direct wave (arbitrary units).

    It has no weights; its buffers follow from the acquisition and are not saved.
    """

    def __init__(self, acquisition: Acquisition) -> None:
        super().__init__()
        a = acquisition
        self.S, self.T, self.R = a.seismic_shape
        xs = np.asarray(a.source_x, dtype=np.float64) / a.dx
        xr = np.asarray(a.receiver_x, dtype=np.float64) / a.dx
        src, rec = np.repeat(xs, self.R), np.tile(xr, self.S)  # trace p = s * R + r
        buffers = {"midpoint_rows": interpolation_rows((src + rec) / 2, a.nx),
                   "path_rows": segment_rows(src, rec, a.nx),
                   "offset": (np.abs(rec - src) * a.dx).astype(np.float32)}
        for name, value in buffers.items():
            self.register_buffer(name, torch.from_numpy(value), persistent=False)
        self.source_row = min(int(round(a.source_z / a.dz)), a.nz - 2)
        self.dz, self.dt, self.delay = float(a.dz), float(a.dt), float(a.wavelet_delay)
        self.nearest = float(min(a.dx, a.dz))
        # the zero-phase wavelet as a spectrum: one FFT product convolves every trace at once
        # (a 201-tap conv1d over ~1e3 traces is ~10x slower on CPU)
        half = int(math.ceil(1.5 / a.frequency / a.dt))
        self.n_fft = self.T + half + 1
        w = np.zeros(self.n_fft, np.float64)
        taps = ricker(a.frequency, 0.0, np.arange(0, half + 1) * a.dt)
        w[: half + 1] = taps
        w[-half:] = taps[1:][::-1]  # negative lags wrap around
        spectrum = torch.from_numpy(np.fft.rfft(w)).to(torch.complex64)
        self.register_buffer("wavelet_spectrum", spectrum, persistent=False)

    def _spikes(self, times: torch.Tensor, amplitudes: torch.Tensor) -> torch.Tensor:
        """Spikes at fractional samples (linear interpolation) for travel times: ``(B, P, K) -> (B, P, T)``."""
        pos = (times + self.delay) / self.dt
        lo = torch.floor(pos)
        frac = pos - lo
        lo = lo.long()
        out = amplitudes.new_zeros(*times.shape[:2], self.T + 1)  # the last slot collects what falls outside
        for idx, weight in ((lo, 1.0 - frac), (lo + 1, frac)):
            inside = (idx >= 0) & (idx < self.T)
            out.scatter_add_(2, torch.where(inside, idx, self.T), torch.where(inside, amplitudes * weight, 0.0))
        return out[..., : self.T]

    def forward(self, velocity: torch.Tensor) -> torch.Tensor:
        v = velocity.float()
        batch = v.shape[0]
        column = torch.einsum("pn,bzn->bpz", self.midpoint_rows, v)[..., self.source_row:]  # (B, P, depth)
        one_way = self.dz / column
        t_cum = torch.cumsum(one_way, -1)[..., :-1]  # one-way time to each cell boundary below the source
        t0 = 2.0 * t_cum
        v_rms = torch.sqrt(torch.cumsum(column * column * one_way, -1)[..., :-1] / t_cum)
        h = self.offset.view(1, -1, 1)
        t_refl = torch.sqrt(t0 * t0 + (h / v_rms) ** 2)
        coeff = (column[..., 1:] - column[..., :-1]) / (column[..., 1:] + column[..., :-1])
        primaries = self._spikes(t_refl, coeff / torch.sqrt(t_refl * v_rms))
        v_path = torch.einsum("pn,bn->bp", self.path_rows, v[:, self.source_row])
        t_direct = (self.offset / v_path).unsqueeze(-1)
        a_direct = torch.rsqrt(self.offset.clamp(min=self.nearest)).expand(batch, -1).unsqueeze(-1)
        direct = self._spikes(t_direct, a_direct)
        series = torch.stack([primaries, direct], 1)
        spectrum = torch.fft.rfft(series, n=self.n_fft) * self.wavelet_spectrum
        series = torch.fft.irfft(spectrum, n=self.n_fft)[..., : self.T]
        return series.view(batch, 2, self.S, self.R, self.T).transpose(3, 4)
