"""The physics a generated record starts from: the solver's direct wave plus the layered-medium response.

``LayeredPrior(velocity m/s) = direct wave + layered response``, in physical units:

- the direct wave of the map's top-row mean velocity, interpolated in a table of Devito
  records of homogeneous media (:mod:`geogen.physics.direct_table`), so it is the solver's
  own, dispersion and boundary leakage included;
- reflections, refractions and multiples of the map's layering, by the reflectivity
  method along each trace's column (:class:`geogen.models.layered.LayeredResponse`).

On flat layers this is Devito's record to a few per cent of the scattered energy; on
curved and faulted ones it lacks diffractions and 2-D focusing, which the seismic
decoder learns to add from the pairs.  The prior has no weights.  It is computed without
gradients (nothing upstream of it trains through it), and in step 2, where the velocity
side is frozen and a training map decodes to the same map every epoch, a cache keyed by
each decoded map's bytes computes it once per map.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

from geogen.acquisition import Acquisition
from geogen.models.layered import LayeredResponse


class DirectWaves(nn.Module):
    """Direct-wave records ``(B, S, T, R)`` for velocities ``(B,)`` m/s, Catmull-Rom in a table of Devito records."""

    def __init__(self, acquisition: Acquisition) -> None:
        super().__init__()
        self.acquisition = acquisition
        self._table: tuple[torch.Tensor, float, float] | None = None  # records, first velocity, step

    def _load(self, device: torch.device) -> tuple[torch.Tensor, float, float]:
        if self._table is None or self._table[0].device != device:
            from geogen.physics.direct_table import direct_wave_table

            velocities, records = direct_wave_table(self.acquisition)
            step = float(velocities[1] - velocities[0])
            self._table = (torch.from_numpy(np.ascontiguousarray(records)).to(device), float(velocities[0]), step)
        return self._table

    def forward(self, velocity: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """The records; with ``out`` (``(B, S, T, R)``) they are added to it in place and it is returned."""
        records, first, step = self._load(velocity.device)
        n = records.shape[0]
        x = ((velocity.double() - first) / step).clamp(1.0, n - 2.0 - 1e-9)
        i = torch.floor(x).long()
        t = (x - i).float()
        # Catmull-Rom weights of the samples i-1, i, i+1, i+2, accumulated map by map into the output (gathering
        # four (B, ...) copies of table rows first streamed every record ~12 times: 9 ms a map at the openfwi
        # geometry; this reads each of the four rows once)
        weights = torch.stack((((-t + 2) * t - 1) * t / 2, ((3 * t - 5) * t * t + 2) / 2,
                               ((-3 * t + 4) * t + 1) * t / 2, (t - 1) * t * t / 2), dim=1).tolist()
        if out is None:
            out = records.new_zeros(len(velocity), *records.shape[1:])
        for b, (row, w) in enumerate(zip(i.tolist(), weights)):
            for k in range(4):
                out[b].add_(records[row + k - 1], alpha=w[k])
        return out


class LayeredPrior(nn.Module):
    """Velocity maps ``(B, nz, nx)`` m/s -> physical records ``(B, S, T, R)``: direct wave + layered response."""

    def __init__(self, acquisition: Acquisition, *, column_stride: int = 8, resolution: float = 10.0,
                 damping_decades: float = 2.0, cache_bytes: int = 1 << 30) -> None:
        super().__init__()
        self.direct = DirectWaves(acquisition)
        self.layered = LayeredResponse(acquisition, column_stride=column_stride, resolution=resolution,
                                       damping_decades=damping_decades)
        self.cache_enabled = False
        self.cache_bytes = int(cache_bytes)
        self._cache: dict[bytes, torch.Tensor] = {}

    def clear_cache(self) -> None:
        self._cache.clear()

    def _compute(self, velocity: torch.Tensor) -> torch.Tensor:
        return self.direct(velocity[:, 0].mean(dim=1), out=self.layered(velocity))

    @torch.no_grad()
    def forward(self, velocity: torch.Tensor) -> torch.Tensor:
        v = velocity.detach().float()
        if not self.cache_enabled:
            return self._compute(v)
        keys = [hashlib.blake2b(m.cpu().numpy().tobytes(), digest_size=16).digest() for m in v]
        missing = [i for i, k in enumerate(keys) if k not in self._cache]
        if missing:
            fresh = self._compute(v[missing])
            per_record = fresh[0].numel() * fresh.element_size()
            for i, record in zip(missing, fresh):
                if (len(self._cache) + 1) * per_record <= self.cache_bytes:
                    self._cache[keys[i]] = record
            got = dict(zip(missing, fresh))
        else:
            got = {}
        return torch.stack([got[i] if i in got else self._cache[k] for i, k in enumerate(keys)])
