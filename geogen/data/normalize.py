"""OpenFWI normalisation of velocity maps and seismic records to [-1, 1].

Velocity is scaled min-max from ``vmin..vmax``; seismic first goes through the
compressing transform ``sign(x) * log1p(|x|)`` (so that late, weak arrivals are not
lost under the direct wave) and is then scaled min-max.  Bounds come from the
training split only and travel with every checkpoint, so that generation can undo
exactly the scaling the model learnt.  Every function returns a new array: shared
arrays (a cached chunk, a user's numpy input) are never modified in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

Array = np.ndarray | torch.Tensor


def log_compress(x: Array) -> Array:
    """OpenFWI's amplitude compression ``sign(x) * log1p(|x|)`` (numpy or torch, in the input's precision)."""
    if isinstance(x, torch.Tensor):
        return torch.sign(x) * torch.log1p(torch.abs(x))
    return np.sign(x) * np.log1p(np.abs(x))


def log_expand(y: Array) -> Array:
    """The inverse of :func:`log_compress`."""
    if isinstance(y, torch.Tensor):
        return torch.sign(y) * torch.expm1(torch.abs(y))
    return np.sign(y) * np.expm1(np.abs(y))


def to_unit(x: Array, lo: float, hi: float) -> Array:
    """Min-max ``[lo, hi] -> [-1, 1]``."""
    return (x - lo) * (2.0 / (hi - lo)) - 1.0


def from_unit(u: Array, lo: float, hi: float) -> Array:
    """``[-1, 1] -> [lo, hi]``, the inverse of :func:`to_unit`."""
    return (u + 1.0) * (0.5 * (hi - lo)) + lo


@dataclass(frozen=True)
class Normalizer:
    """Bounds of the OpenFWI scaling: velocity in m/s, seismic after the log transform."""

    velocity_min: float
    velocity_max: float
    seismic_min: float
    seismic_max: float

    def __post_init__(self) -> None:
        if not self.velocity_max > self.velocity_min:
            raise ValueError(f"velocity bounds {self.velocity_min}..{self.velocity_max} are empty")
        if not self.seismic_max > self.seismic_min:
            raise ValueError(f"seismic bounds {self.seismic_min}..{self.seismic_max} are empty")

    # ------------------------------------------------------------------ velocity
    def velocity(self, v: Array) -> Array:
        """m/s -> [-1, 1]."""
        return to_unit(v, self.velocity_min, self.velocity_max)

    def velocity_inverse(self, v: Array) -> Array:
        """[-1, 1] -> m/s."""
        return from_unit(v, self.velocity_min, self.velocity_max)

    # ------------------------------------------------------------------- seismic
    def seismic(self, s: Array) -> Array:
        """Physical amplitude -> [-1, 1] (log-compressed)."""
        return to_unit(log_compress(s), self.seismic_min, self.seismic_max)

    def seismic_inverse(self, s: Array) -> Array:
        """[-1, 1] -> physical amplitude."""
        return log_expand(from_unit(s, self.seismic_min, self.seismic_max))

    # ------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Normalizer":
        return cls(**{k: float(d[k]) for k in ("velocity_min", "velocity_max", "seismic_min", "seismic_max")})

    @classmethod
    def from_ranges(cls, velocity: tuple[float, float], seismic_raw: tuple[float, float]) -> "Normalizer":
        """Bounds from raw ranges: velocity in m/s, seismic in physical units.

        ``sign(x) log1p(|x|)`` is monotone, so the bounds after the transform are the
        transform of the raw minimum and maximum: one cheap min/max pass is enough.
        """
        lo, hi = (float(log_compress(np.float64(x))) for x in seismic_raw)
        if hi <= lo:  # an all-zero training set would leave nothing to scale
            hi = lo + 1e-6
        return cls(float(velocity[0]), float(velocity[1]), lo, hi)

    def scale_pairs(self, velocity: np.ndarray, seismic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Maps (m/s) and records (physical) on the [-1, 1] scales, computed in float64, returned as float32.

        Scaled block by block along the first axis: the float64 temporaries of a whole
        set (2 288 OpenFWI records are 3.2 GB in float32, 6.4 GB per float64 temporary)
        once took a 24 GB machine out of memory; per block they stay under 0.2 GB.
        """
        return (_blockwise(self.velocity, velocity), _blockwise(self.seismic, seismic))


SCALE_BLOCK_BYTES = 64 * 2**20  # float64 working set per block of scale_pairs


def _blockwise(transform: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """``transform`` applied in float64 to blocks of ``x`` (a set of maps or records) along axis 0, as float32."""
    x = np.asarray(x)
    out = np.empty(x.shape, np.float32)
    per_item = max(1, int(np.prod(x.shape[1:])) * 8)
    step = max(1, SCALE_BLOCK_BYTES // per_item)
    for start in range(0, x.shape[0], step):
        out[start:start + step] = transform(x[start:start + step].astype(np.float64))
    return out
