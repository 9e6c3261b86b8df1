"""The exact acoustic response of horizontally layered media, batched in torch: the seismic prior.

A decoder trained on a few hundred pairs learns the direct wave and regresses the
reflections to their mean (measured on the quickstart: the scattered part of its records,
the record minus the direct wave, missed by a relative L2 of 0.84).  This layer computes
the reflections, refractions and multiples that the decoded velocity map implies, with
the reflectivity method: for each trace, a 1-D column of the map is treated as a stack of
homogeneous layers, and the wave equation is solved exactly for it in the
frequency-wavenumber domain (Kennett's recursion for the reflection responses below and
above the source, then an integral over horizontal wavenumber and an inverse FFT in time).

Conventions, matched to :mod:`geogen.physics.modelling` so that the layer's output and
Devito's records agree on flat layers to a few per cent of the scattered energy:

- node ``k`` of a column stands for depths ``[(k - 1/2) dz, (k + 1/2) dz]``; the top node
  extends upwards and the bottom node downwards (the absorbing padding repeats the edge
  velocities, so it adds no contrast);
- a line source of strength ``dx * dz`` times the Ricker wavelet (the solver's point
  source), receivers at the source depth, record sample ``i`` at time ``(i + 1) dt``;
- constant density: the pressure reflection coefficient of an interface is
  ``(kz1 - kz2) / (kz1 + kz2)`` with vertical wavenumbers ``kz = sqrt(w**2 / v**2 - kx**2)``;
- a complex frequency ``w + i sigma`` damps what arrives after the FFT window, so the
  window can be as short as the record (Phinney's method); ``exp(sigma t)`` undoes it.
  That undoing also multiplies the ringing of the frequency cut-off (``fmax``) by up to
  ``10 ** damping_decades`` at the end of the record: with 3 decades, maps whose fast top
  varies laterally (a direct wave unlike the table's) got late noise as strong as their
  reflections (0.37 of the scattered part on such a map, measured); 2 decades keep the
  window's wrap-around at 1 % and that noise at 0.07.

Which column a trace sees: ``columns="path"`` averages the slowness of each depth row over
the part of the source-receiver segment that the ray to a reflector below crosses there,
from the whole segment at the surface (the direct and refracted waves run along it) to
the midpoint at ``aperture_depth`` times the map depth; ``columns="midpoint"`` takes the
column under the midpoint (interpolated), as many columns as the map has instead of one
per trace.  Either is exact for flat layers and an approximation for curved or faulted
ones (no diffractions): the learned decoder corrects it, and Devito stays the judge.

The output is the record *minus the direct wave in a homogeneous medium at the mean
velocity of the map's top row*, the definition that :mod:`geogen.evaluation.physics_check`
uses; the direct wave itself comes from a table of Devito records
(:mod:`geogen.physics.direct_table`), so that it carries the solver's own dispersion and
boundary leakage and adds no error of this layer's.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from geogen.acquisition import Acquisition
from geogen.models import native
from geogen.physics.wavelet import ricker

log = logging.getLogger(__name__)

ColumnMode = Literal["path", "midpoint"]


def _trace_geometry(a: Acquisition) -> tuple[np.ndarray, np.ndarray]:
    """Source and receiver x (in cells) of every trace ``p = s * R + r``."""
    xs = np.asarray(a.source_x, dtype=np.float64) / a.dx
    xr = np.asarray(a.receiver_x, dtype=np.float64) / a.dx
    return np.repeat(xs, len(xr)), np.tile(xr, len(xs))


def path_weights(a: Acquisition, aperture_depth: float) -> np.ndarray:
    """``(P, nz, nx)`` averaging weights: trace ``p``'s slowness at depth row ``k``.

    Row ``k`` is averaged over ``midpoint +- half_offset * (1 - k / (aperture_depth * nz))``
    (at least the midpoint column, linearly interpolated), the part of the segment a
    straight ray to a deep reflector crosses at that depth.
    """
    src, rec = _trace_geometry(a)
    mid, half = (src + rec) / 2, np.abs(rec - src) / 2
    depth = np.arange(a.nz, dtype=np.float64)
    shrink = np.clip(1.0 - depth / (aperture_depth * a.nz), 0.0, 1.0)
    x = np.arange(a.nx, dtype=np.float64)
    weights = np.zeros((len(src), a.nz, a.nx))
    for p in range(len(src)):
        lo = mid[p] - half[p] * shrink  # (nz,)
        hi = mid[p] + half[p] * shrink
        # the overlap of cell [x - 1/2, x + 1/2] with [lo, hi], or linear interpolation at a point
        overlap = np.clip(
            np.minimum(x[None, :] + 0.5, hi[:, None]) - np.maximum(x[None, :] - 0.5, lo[:, None]), 0, None
        )
        point = np.clip(1.0 - np.abs(x[None, :] - mid[p]), 0.0, None)
        w = np.where((hi - lo)[:, None] > 1e-9, overlap, point)
        weights[p] = w / w.sum(axis=1, keepdims=True)
    return weights.astype(np.float32)


def midpoint_weights(a: Acquisition) -> np.ndarray:
    """``(P, nz, nx)`` weights of the column under each trace's midpoint (linear interpolation)."""
    src, rec = _trace_geometry(a)
    x = np.arange(a.nx, dtype=np.float64)
    w = np.clip(1.0 - np.abs(x[None, :] - ((src + rec) / 2)[:, None]), 0.0, None)
    w = w / w.sum(axis=1, keepdims=True)
    return np.repeat(w[:, None, :], a.nz, axis=1).astype(np.float32)


def block_layers(slowness: torch.Tensor, dz: float, resolution: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge runs of rows whose velocities agree within ``resolution`` m/s into layers.

    ``slowness`` is ``(C, n)`` (s/m, top to bottom).  Returns the layers' slowness (the
    mean over the run, which keeps the travel time) and thickness, both ``(C, K)`` with
    ``K`` the most layers of any column; shorter columns are padded with layers of zero
    thickness and the last layer's slowness, which change nothing.  The last real layer
    is the half-space below the map.
    """
    c, n = slowness.shape
    if n == 0:
        return slowness.new_zeros(c, 0), slowness.new_zeros(c, 0)
    level = torch.round(1.0 / (slowness * resolution))
    new = torch.ones_like(level, dtype=torch.bool)
    new[:, 1:] = level[:, 1:] != level[:, :-1]
    run = torch.cumsum(new.long(), dim=1) - 1
    k = int(run.max()) + 1
    count = torch.zeros(c, k, dtype=slowness.dtype, device=slowness.device).scatter_add_(
        1, run, torch.ones_like(slowness)
    )
    total = torch.zeros(c, k, dtype=slowness.dtype, device=slowness.device).scatter_add_(1, run, slowness)
    layers = total / count.clamp(min=1)
    last = run[:, -1:]  # index of each column's last real layer
    pad = torch.arange(k, device=slowness.device).unsqueeze(0) > last
    layers = torch.where(pad, layers.gather(1, last).expand(-1, k), layers)
    return layers, count * dz


class LayeredResponse(nn.Module):
    """Velocity maps ``(B, nz, nx)`` m/s -> layered-medium records minus the top-row direct wave, ``(B, S, T, R)``.

    ``fmax`` (Hz) bounds the frequencies computed (default 2.7 x the wavelet's peak, where
    a Ricker spectrum is below 0.5 % of its peak); ``resolution`` (m/s) is how close two
    rows' velocities must be to merge into one layer (the cost grows with the number of
    layers).  No weights: everything here is physics.
    """

    def __init__(self, acquisition: Acquisition, *, columns: ColumnMode = "path", aperture_depth: float = 2.0,
                 fmax: float | None = None, window: float = 1.0, damping_decades: float = 2.0,
                 wavenumber_margin: float = 1.15, resolution: float = 10.0, margin: float = 1500.0,
                 column_stride: int = 1) -> None:
        super().__init__()
        a = self.acquisition = acquisition
        self.S, self.T, self.R = a.seismic_shape
        self.nz, self.dz, self.resolution = a.nz, float(a.dz), float(resolution)
        self.source_row = min(int(round(a.source_z / a.dz)), a.nz - 2)
        self.source_depth = float(a.source_z)
        fmax = 2.7 * a.frequency if fmax is None else float(fmax)
        n_fft = max(int(round(window * (a.nt + 1))), a.nt + 1)
        span = n_fft * a.dt
        sigma = damping_decades * math.log(10.0) / span
        freqs = np.arange(n_fft // 2 + 1) / span
        n_freq = int(np.searchsorted(freqs, fmax)) + 1
        omega = 2 * np.pi * freqs[:n_freq] + 1j * sigma  # e^{-i w t}; Im w > 0 damps late arrivals
        times = np.arange(n_fft) * a.dt
        wavelet = ricker(a.frequency, a.wavelet_delay, times)
        spectrum = np.conj(np.fft.rfft(wavelet * np.exp(-sigma * times)))[:n_freq] * a.dx * a.dz
        src, rec = _trace_geometry(a)
        offsets = np.abs(rec - src) * a.dx
        distinct, offset_index = np.unique(np.round(offsets, 6), return_inverse=True)  # (nk, n_off) cosines
        # m: the horizontal period of the wavenumber sum.  A discrete sum over kx is the field of a row of
        # sources ``period`` apart; the nearest image must not reach a receiver within the record even at the
        # fastest velocity of the data (a head wave along a fast layer), or its arrivals pose as reflections
        # (measured on the openfwi preset: 2 x offset + 1500 m put 2-9 x the true scattered energy into
        # maps whose top layers are 3000 m/s or faster)
        period = max(2.0 * offsets.max() + margin, offsets.max() + a.vmax * (a.nt + 1) * a.dt)
        dk = 2 * np.pi / period
        k_max = min(wavenumber_margin * 2 * np.pi * fmax / a.vmin, np.pi / a.dx)
        kx = np.arange(int(np.ceil(k_max / dk)) + 1) * dk
        quad = np.full(kx.size, dk / np.pi)
        quad[0] /= 2  # (1/pi) int_0^inf by the trapezoid rule
        weights = path_weights(a, aperture_depth) if columns == "path" else midpoint_weights(a)
        anchors, lower, upper, alpha = _anchor_plan(self.S, self.R, max(1, int(column_stride)))
        anchor_offsets, lower_slot, upper_slot = _offsets_of_anchors(lower, upper, offset_index, len(anchors))
        cosines = (np.cos(kx[:, None] * distinct[None, :]) * quad[:, None]).T  # (n_off, K)
        self.n_fft, self.n_freq, self.sigma = n_fft, n_freq, sigma
        w2 = omega**2
        synthesis = _synthesis_basis(spectrum, n_fft, a.nt, np.exp(sigma * times[1:a.nt + 1]))
        buffers = {
            "w2_re": torch.tensor(w2.real[:, None], dtype=torch.float32),  # (F, 1)
            "w2_im": torch.tensor(w2.imag[:, None], dtype=torch.float32),
            "kx2": torch.tensor(kx**2, dtype=torch.float32),
            "synthesis": torch.tensor(synthesis, dtype=torch.float32),  # (T, 2F): wavelet, inverse FFT, undamping
            # (A, M, K): the wavenumber integral at the (at most M) offsets that each anchor's traces need
            "cosines": torch.tensor(cosines[anchor_offsets], dtype=torch.float32),
            "column_weights": torch.from_numpy(weights[anchors]),  # (A, nz, nx): the traces whose column is computed
            # (P,) each trace's two anchors' responses at its offset, as indices into (A, M); the upper one's weight
            "lower": torch.from_numpy(lower_slot), "upper": torch.from_numpy(upper_slot),
            "alpha": torch.from_numpy(alpha),
        }
        for name, value in buffers.items():
            self.register_buffer(name, value, persistent=False)
        self._blocks: dict[str, torch.Tensor] | None = None
        self._scratch = torch.empty(0)

    def scratch(self, size: int, shape: tuple[int, ...]) -> Complex:
        """Two ``shape`` arrays (real, imaginary) in a buffer kept between calls: the field is 200 MB for 64
        openfwi maps, and faulting in fresh pages for it every batch cost a tenth of the kernel's time."""
        if self._scratch.numel() < 2 * size:
            self._scratch = torch.empty(2 * size)
        return self._scratch[:size].view(shape), self._scratch[size:2 * size].view(shape)

    #: cells per block of the C kernel: frequencies x wavenumbers (small tiles bound the attenuation of their
    #: cells tightly, so more layers are skipped; 64 cells still fill the vector loops)
    TILE = (2, 32)
    #: the C kernel skips layers below a round-trip attenuation of exp(-MAX_ATTENUATION) (1e-11; at 20 the
    #: records changed by 7e-8 relative, measured on 64 generated openfwi maps)
    MAX_ATTENUATION = 25.0

    def cell_blocks(self) -> dict[str, torch.Tensor]:
        """The (frequency, wavenumber) cells in tiles of ``TILE`` for the C kernel: their ``w**2`` and ``kx**2``
        in tile order, where each goes in the ``(F, K)`` field, the tiles' bounds and attenuation bounds."""
        if self._blocks is None:
            n_freq, n_k = self.n_freq, self.kx2.numel()
            ft, kt = self.TILE
            order, starts, kmin2, w2max = [], [0], [], []
            for f0 in range(0, n_freq, ft):
                for k0 in range(0, n_k, kt):
                    f, k = np.meshgrid(np.arange(f0, min(f0 + ft, n_freq)), np.arange(k0, min(k0 + kt, n_k)),
                                       indexing="ij")
                    order.append((k * n_freq + f).ravel())  # the field is (columns, K, F)
                    starts.append(starts[-1] + f.size)
                    kmin2.append(float(self.kx2[k0]))
                    w2max.append(float(self.w2_re[f0:f0 + ft].max()))
            cells = torch.from_numpy(np.concatenate(order))
            grid = [t.expand(n_freq, n_k).transpose(0, 1).reshape(-1)[cells].contiguous() for t in self._grid]
            self._blocks = {"w2_re": grid[0], "w2_im": grid[1], "kx2": grid[2], "order": cells.to(torch.int32),
                            "start": torch.tensor(starts, dtype=torch.int64),
                            "kmin2": torch.tensor(kmin2, dtype=torch.float32),
                            "w2max": torch.tensor(w2max, dtype=torch.float32)}
        return self._blocks

    def _kz(self, slowness: torch.Tensor) -> Complex:
        """Vertical wavenumbers ``(C, F, K)`` for slownesses ``(C,)``: the root with Im >= 0, as (re, im).

        Complex arithmetic is spelled out in float32 pairs throughout: torch's complex
        square root and exponential are not vectorised on the CPU and cost 4-5 x more.
        """
        return _kz_of(slowness, *self._grid)

    def _down(self, source: torch.Tensor, layers: torch.Tensor, thickness: torch.Tensor) -> Complex:
        """Reflection response of the layers below the source row, at the row's bottom, seen from it."""
        kz_below = self._kz(layers[:, -1])
        response = (torch.zeros_like(kz_below[0]), torch.zeros_like(kz_below[0]))
        step = self._kernel(kennett_step, source.numel())
        # from the half-space up (nothing comes back from below it: the response starts at zero, so carrying
        # it through the half-space's thickness changes nothing)
        for k in range(layers.shape[1] - 1, -1, -1):
            above = source if k == 0 else layers[:, k - 1]
            *kz_below, r_re, r_im = step(*kz_below, *response, above, 2.0 * thickness[:, k], *self._grid)
            response = (r_re, r_im)
        return response

    def _up(self, rows: torch.Tensor) -> Complex:
        """Reflection response of the rows above the source row (rows ``0 .. source``), at its top, seen from it."""
        kz_above = self._kz(rows[:, 0])
        response = (torch.zeros_like(kz_above[0]), torch.zeros_like(kz_above[0]))
        step = self._kernel(kennett_step, rows.shape[0])
        two_dz = torch.full_like(rows[:, 0], 2.0 * self.dz)
        for j in range(1, rows.shape[1]):
            *kz_above, r_re, r_im = step(*kz_above, *response, rows[:, j], two_dz, *self._grid)
            response = (r_re, r_im)
        return response

    #: cells (columns x frequencies x wavenumbers) of a call from which the compiled kernels run: below it
    #: eager torch is fast enough (the small preset's 256-column chunks: 0.3 M cells) and compiling (10-25 s
    #: the first time on a machine, 3-7 s per process after) would cost more than it saves
    COMPILE_FROM_CELLS = 1 << 20

    def _kernel(self, fn, columns: int):
        """``fn`` compiled for calls of at least ``COMPILE_FROM_CELLS`` cells, else ``fn`` itself."""
        return _fused(fn) if columns * self.w2_re.numel() * self.kx2.numel() >= self.COMPILE_FROM_CELLS else fn

    @property
    def _grid(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.w2_re, self.w2_im, self.kx2

    def _field(self, slowness: torch.Tensor, layers: torch.Tensor, thickness: torch.Tensor,
               top: torch.Tensor) -> Complex:
        """The f-k response ``(C, F, K)`` of columns ``(C, nz)`` (their layers below the source row given)."""
        js = self.source_row
        source = slowness[:, js]
        down = self._down(source, layers, thickness)
        up = self._up(slowness[:, : js + 1])  # zero when the source is in the top row
        to_bottom = 2.0 * ((js + 0.5) * self.dz - self.source_depth)
        to_top = 2.0 * (self.source_depth - (js - 0.5) * self.dz) if js >= 1 else 0.0
        r_re, r_im = self._kernel(source_field, source.numel())(*down, *up, source, top, to_bottom, to_top,
                                                               *self._grid)
        return r_re, r_im

    def _fields(self, slowness: torch.Tensor, layers: torch.Tensor, thickness: torch.Tensor, top: torch.Tensor,
                chunk: int) -> Complex:
        """The f-k responses ``(C, K, F)`` of columns ``(C, nz)``: the C kernel on the CPU, else torch.

        Torch solves ``chunk`` columns at a time, grouped by their number of layers so that
        short columns do not pay for long ones; the C kernel loops over each column's own
        layers, a block of cells at a time, split over the torch threads.
        """
        library = _native_kernel() if slowness.device.type == "cpu" else None
        if library is not None:
            return _native_fields(library, slowness, layers, thickness, top, self)
        count = (thickness > 0).sum(dim=1)
        order = torch.argsort(count)
        shape = (slowness.shape[0], self.n_freq, self.kx2.numel())
        field = (torch.empty(shape, device=slowness.device), torch.empty(shape, device=slowness.device))
        for start in range(0, order.numel(), chunk):
            idx = order[start:start + chunk]
            k = max(int(count[idx].max()), 1)
            part = self._field(slowness[idx], layers[idx, :k], thickness[idx, :k], top[idx])
            field[0][idx], field[1][idx] = part
        return field[0].transpose(1, 2), field[1].transpose(1, 2)

    @torch.no_grad()
    def forward(self, velocity: torch.Tensor, *, chunk: int = 256) -> torch.Tensor:
        """Records ``(B, S, T, R)`` of maps ``(B, nz, nx)`` m/s.

        With ``column_stride`` > 1 only every stride-th receiver's column is solved and
        each trace blends the f-k responses of the two around it before the wavenumber
        integral at its own offset, so moveout stays exact and only the layering is
        interpolated.  The wavelet, the inverse FFT (only the first ``F`` frequencies are
        non-zero) and the undamping are one matrix product.
        """
        v = velocity.detach().float()
        dev = v.device
        b, n_anchor, n_trace = v.shape[0], self.column_weights.shape[0], self.S * self.R
        slowness = torch.einsum("azx,bzx->baz", self.column_weights, 1.0 / v).reshape(-1, self.nz)  # (B*A, nz)
        layers, thickness = block_layers(slowness[:, self.source_row + 1:], self.dz, self.resolution)
        top = (1.0 / v[:, 0].mean(dim=1, keepdim=True)).expand(-1, n_anchor).reshape(-1)
        field = self._fields(slowness, layers, thickness, top, chunk)
        # every anchor's response at the offsets of the traces it serves (one batched product: 2 x stride of
        # them, not every offset of the shot), then each trace blends its two anchors' spectra at its own offset
        slots = self.cosines.shape[0] * self.cosines.shape[1]
        at_offsets = [torch.matmul(self.cosines, f.view(b, n_anchor, *f.shape[1:])) for f in field]  # (B, A, M, F)
        base = (torch.arange(b, device=dev) * slots).repeat_interleave(n_trace)
        lower = base + self.lower.repeat(b)
        upper = base + self.upper.repeat(b)
        alpha = self.alpha.repeat(b)[:, None]
        parts = []
        for g in at_offsets:
            flat = g.reshape(-1, self.n_freq)  # (B*A*M, F)
            parts.append(torch.lerp(flat[lower], flat[upper], alpha))
        spec = torch.cat(parts, dim=1).view(b * self.S, self.R, 2 * self.n_freq).transpose(1, 2)  # (B*S, 2F, R)
        return torch.matmul(self.synthesis, spec).view(b, self.S, self.T, self.R)


def _synthesis_basis(spectrum: np.ndarray, n_fft: int, nt: int, undamp: np.ndarray) -> np.ndarray:
    """``(T, 2F)``: record samples ``1 .. T`` from the real and imaginary parts of a response at ``F`` frequencies.

    The same as multiplying by the wavelet's ``spectrum``, taking ``irfft(conj(.), n_fft)``
    and ``exp(sigma t)``, but only the ``F`` computed frequencies enter (the rest are
    zero), so one ``(T, 2F)`` product replaces a zero-padded FFT of every trace.
    """
    n_freq = spectrum.size
    f = np.arange(n_freq)
    weight = np.where((f == 0) | (2 * f == n_fft), 1.0, 2.0) / n_fft
    angle = 2 * np.pi * np.outer(np.arange(1, nt + 1), f) / n_fft  # (T, F)
    cos, sin = np.cos(angle) * weight, np.sin(angle) * weight
    # Re(conj(X s) e^{i angle}) = Re(X)(Re(s) cos + Im(s) sin) + Im(X)(Re(s) sin - Im(s) cos)
    real = spectrum.real * cos + spectrum.imag * sin
    imag = spectrum.real * sin - spectrum.imag * cos
    return np.concatenate([real, imag], axis=1) * undamp[:, None]


def _offsets_of_anchors(lower: np.ndarray, upper: np.ndarray, offset_index: np.ndarray,
                        n_anchor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct offsets each anchor is needed at (``(A, M)`` indices into the offsets, the last one
    repeated where an anchor needs fewer than ``M``) and, for every trace, where its lower and upper anchor's
    response at its offset sits in the flattened ``(A, M)``."""
    needed: list[list[int]] = [[] for _ in range(n_anchor)]
    for anchor, offset in zip(np.concatenate([lower, upper]), np.concatenate([offset_index, offset_index])):
        if offset not in needed[anchor]:
            needed[anchor].append(int(offset))
    width = max(len(o) for o in needed)
    table = np.asarray([o + [o[-1]] * (width - len(o)) for o in needed], dtype=np.int64)
    lower_slot = np.asarray([a * width + needed[a].index(o) for a, o in zip(lower, offset_index)], dtype=np.int64)
    upper_slot = np.asarray([a * width + needed[a].index(o) for a, o in zip(upper, offset_index)], dtype=np.int64)
    return table, lower_slot, upper_slot


def _anchor_plan(n_sources: int, n_receivers: int, stride: int) -> tuple[np.ndarray, ...]:
    """Traces whose columns are solved (every ``stride``-th receiver of each shot, and the last), and for
    every trace the two anchors around it (indices into the anchors) with the upper one's weight."""
    per_shot = sorted(set(range(0, n_receivers, stride)) | {n_receivers - 1})
    anchors = np.asarray([s * n_receivers + r for s in range(n_sources) for r in per_shot])
    lower, upper, alpha = (np.empty(n_sources * n_receivers, dtype=t) for t in (np.int64, np.int64, np.float32))
    for s in range(n_sources):
        for r in range(n_receivers):
            j = int(np.searchsorted(per_shot, r, side="right")) - 1
            j_up = min(j + 1, len(per_shot) - 1)
            lo, hi = per_shot[j], per_shot[j_up]
            p = s * n_receivers + r
            lower[p], upper[p] = s * len(per_shot) + j, s * len(per_shot) + j_up
            alpha[p] = 0.0 if hi == lo else (r - lo) / (hi - lo)
    return anchors, lower, upper, alpha


Complex = tuple[torch.Tensor, torch.Tensor]


_KERNEL_SOURCE = Path(__file__).with_name("layered_kernel.c")
_P, _I, _F = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float


def _native_kernel() -> ctypes.CDLL | None:
    """The C recursion (:mod:`geogen.models.native`), or None where it cannot be built."""
    library = native.load(_KERNEL_SOURCE)
    if library is not None and not getattr(library.layered_columns, "argtypes", None):
        library.layered_columns.argtypes = [_I, _I, _I, _P, _P, _P, _P, _P, _I, _P, _P, _F, _P, _P, _P, _P, _P, _I,
                                            _P, _I, _F, _F, _F, _P, _P]
        library.layered_columns.restype = None
    return library


def _native_fields(library: ctypes.CDLL, slowness: torch.Tensor, layers: torch.Tensor, thickness: torch.Tensor,
                   top: torch.Tensor, response: LayeredResponse) -> Complex:
    """:meth:`LayeredResponse._fields` by the C kernel, column ranges split over the torch threads (columns
    differ in their number of layers, so each thread takes a few ranges)."""
    js, n_freq, n_k = response.source_row, response.n_freq, response.kx2.numel()
    cells = response.cell_blocks()
    c = slowness.shape[0]
    source = slowness[:, js].contiguous()
    rows = slowness[:, : js + 1].contiguous()
    count = (thickness > 0).sum(dim=1).to(torch.int32).contiguous()
    layers, two_thick, top = layers.contiguous(), (2.0 * thickness).contiguous(), top.float().contiguous()
    to_bottom = 2.0 * ((js + 0.5) * response.dz - response.source_depth)
    to_top = 2.0 * (response.source_depth - (js - 0.5) * response.dz) if js >= 1 else 0.0
    out = response.scratch(c * n_k * n_freq, (c, n_k, n_freq))
    grid = [cells[name].data_ptr() for name in ("w2_re", "w2_im", "kx2", "order")]
    blocks = (cells["start"].data_ptr(), cells["start"].numel() - 1, cells["kmin2"].data_ptr(),
              cells["w2max"].data_ptr(), response.MAX_ATTENUATION)

    def run(first: int, last: int) -> None:
        library.layered_columns(first, last, n_freq * n_k, *grid, *blocks, source.data_ptr(), top.data_ptr(),
                                layers.data_ptr(), two_thick.data_ptr(), count.data_ptr(), layers.shape[1],
                                rows.data_ptr(), rows.shape[1], 2.0 * response.dz, to_bottom, to_top,
                                out[0].data_ptr(), out[1].data_ptr())

    native.run_in_ranges(run, c, torch.get_num_threads())
    return out


def kennett_step(kz_re: torch.Tensor, kz_im: torch.Tensor, r_re: torch.Tensor, r_im: torch.Tensor,
                 slowness_from: torch.Tensor, two_thickness: torch.Tensor, w2_re: torch.Tensor,
                 w2_im: torch.Tensor, kx2: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """One step of Kennett's recursion, for columns ``(C,)`` at every cell ``(C, F, K)``.

    ``R`` is the reflection response seen from inside a layer of vertical wavenumber ``kz``
    (at its far side); it is carried across the layer (``exp(2 i kz h)``) and seen through
    the interface from the next medium, of slowness ``slowness_from`` (the layer above in
    ``_down``, the row below in ``_up``): ``(r + R) / (1 + r R)`` with ``r = (a - b) / (a + b)``,
    written as one division.  Returns the next medium's ``kz`` (the following step's) and the
    new response, as real and imaginary parts.  One function so that it compiles into one
    fused loop: eagerly its ~40 elementwise operations stream every cell through memory
    ~40 times per layer.
    """
    above = _kz_of(slowness_from, w2_re, w2_im, kx2)
    below = (kz_re, kz_im)
    response = _cmul((r_re, r_im), _cexp_i(below, two_thickness[:, None, None]))
    diff, total = _csub(above, below), _cadd(above, below)
    r = _cdiv(_cadd(diff, _cmul(total, response)), _cadd(total, _cmul(diff, response)))
    return above[0], above[1], r[0], r[1]


def source_field(down_re: torch.Tensor, down_im: torch.Tensor, up_re: torch.Tensor, up_im: torch.Tensor,
                 source: torch.Tensor, top: torch.Tensor, to_bottom: float, to_top: float, w2_re: torch.Tensor,
                 w2_im: torch.Tensor, kx2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The field at the receivers of a line source in the source row, minus the top-row medium's direct wave.

    ``s (1 + Ru)(1 + Rd) / (1 - Ru Rd) - s0`` with ``s = i / (2 kz)`` in the source row and
    ``s0`` in the top-row medium; the responses below (``Rd``) and above (``Ru``) are carried
    from the source row's bottom and top to the source depth (``to_bottom``, ``to_top``: twice
    the distances).  Compiled like :func:`kennett_step`.
    """
    kz_s = _kz_of(source, w2_re, w2_im, kx2)
    down = _cmul((down_re, down_im), _cexp_i(kz_s, to_bottom))
    up = _cmul((up_re, up_im), _cexp_i(kz_s, to_top))
    loop = _cmul(up, down)
    ratio = _cdiv(_cmul(_cadd1(up), _cadd1(down)), (1.0 - loop[0], -loop[1]))
    return _csub(_ci_half_over(kz_s, ratio), _ci_half_over(_kz_of(top, w2_re, w2_im, kx2), None))


def _kz_of(slowness: torch.Tensor, w2_re: torch.Tensor, w2_im: torch.Tensor, kx2: torch.Tensor) -> Complex:
    """Vertical wavenumbers ``(C, F, K)`` for slownesses ``(C,)``, the root with Im >= 0."""
    u2 = (slowness * slowness)[:, None, None]
    return _csqrt(w2_re * u2 - kx2, w2_im * u2)


_FUSED: dict = {}


def _fused(fn):
    """``fn`` compiled by torch inductor into one vectorised loop (7-8 x faster on a 2-core CPU than eager
    torch, which streams every cell through memory once per operation) unless ``GEOGEN_COMPILE=0`` or
    compiling fails here (no C compiler, an unsupported platform): then ``fn`` runs eagerly, with one
    warning.  Compiled code is cached in the temp dir, like Devito's operators."""
    if fn not in _FUSED:
        eager = os.environ.get("GEOGEN_COMPILE", "1") == "0"
        _FUSED[fn] = fn if eager else _CompiledOrEager(torch.compile(fn, dynamic=True), fn)
    return _FUSED[fn]


class _CompiledOrEager:
    """Calls the compiled function; on its first failure warns once and runs eagerly from then on."""

    def __init__(self, compiled, eager) -> None:
        self.compiled, self.eager = compiled, eager

    def __call__(self, *args: torch.Tensor | float) -> tuple[torch.Tensor, ...]:
        if self.compiled is not None:
            try:
                return self.compiled(*args)
            except Exception as exc:  # noqa: BLE001 - any compiler failure: the eager path is the same maths
                log.warning("layered prior: torch.compile failed (%s); running eagerly (slower, same result)",
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                self.compiled = None
        return self.eager(*args)


def _cadd(x: Complex, y: Complex) -> Complex:
    return x[0] + y[0], x[1] + y[1]


def _csub(x: Complex, y: Complex) -> Complex:
    return x[0] - y[0], x[1] - y[1]


def _cadd1(x: Complex) -> Complex:
    return x[0] + 1.0, x[1]


def _cmul(x: Complex, y: Complex) -> Complex:
    return x[0] * y[0] - x[1] * y[1], x[0] * y[1] + x[1] * y[0]


def _cdiv(x: Complex, y: Complex) -> Complex:
    scale = 1.0 / (y[0] * y[0] + y[1] * y[1])
    return (x[0] * y[0] + x[1] * y[1]) * scale, (x[1] * y[0] - x[0] * y[1]) * scale


def _csqrt(re: torch.Tensor, im: torch.Tensor) -> Complex:
    """Principal square root of ``re + i im`` for ``im >= 0`` (so the root has Im >= 0).

    The larger part is ``sqrt((|z| + |re|) / 2)`` and the smaller ``im / (2 x larger)``: the
    textbook ``sqrt((|z| - re) / 2)`` cancels catastrophically where ``im << re`` (a propagating
    wave at a slightly complex frequency), which in float32 lost most digits of the damping
    that ``exp(sigma t)`` later undoes.  The modulus is ``sqrt(re**2 + im**2)``, not ``hypot``,
    which inductor does not vectorise; the values (squared wavenumbers, 1e-8 to 1e-1 per
    m**2) are far from overflow.
    """
    modulus = torch.sqrt(re * re + im * im)
    large = torch.sqrt((modulus + re.abs()) * 0.5)
    small = im / (2.0 * large).clamp(min=1e-30)
    positive = re >= 0
    return torch.where(positive, large, small), torch.where(positive, small, large)


def _cexp_i(kz: Complex, distance: torch.Tensor | float) -> Complex:
    """``exp(i kz d)``: the phase and decay over ``d`` (broadcast against ``kz``)."""
    amplitude = torch.exp(-kz[1] * distance)
    phase = kz[0] * distance
    return amplitude * torch.cos(phase), amplitude * torch.sin(phase)


def _ci_half_over(kz: Complex, factor: Complex | None) -> Complex:
    """``i / (2 kz) * factor`` (factor 1 when None): the source term of a line source."""
    scale = 0.5 / (kz[0] * kz[0] + kz[1] * kz[1])
    s = (kz[1] * scale, kz[0] * scale)  # i conj(kz) / (2 |kz|^2)
    return s if factor is None else _cmul(s, factor)
