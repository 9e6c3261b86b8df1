"""OpenFWI normalisation of velocity maps and seismic records to [-1, 1].

Velocity is scaled min-max from ``vmin..vmax``; seismic first goes through the
compressing transform ``sign(x) * log1p(|x|)`` (so that late, weak arrivals are not
lost under the direct wave) and is then scaled min-max.  Bounds come from the
training split only and travel with every checkpoint, so that generation can undo
exactly the scaling the model learnt.  Every function returns a new array: shared
arrays (a cached chunk, a user's numpy input) are never modified in place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

Array = np.ndarray | torch.Tensor


def _log_compress(x: Array) -> Array:
    if isinstance(x, torch.Tensor):
        return torch.sign(x) * torch.log1p(torch.abs(x))
    return np.sign(x) * np.log1p(np.abs(x))


def _log_expand(y: Array) -> Array:
    if isinstance(y, torch.Tensor):
        return torch.sign(y) * torch.expm1(torch.abs(y))
    return np.sign(y) * np.expm1(np.abs(y))


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
        return (v - self.velocity_min) * (2.0 / (self.velocity_max - self.velocity_min)) - 1.0

    def velocity_inverse(self, v: Array) -> Array:
        """[-1, 1] -> m/s."""
        return (v + 1.0) * (0.5 * (self.velocity_max - self.velocity_min)) + self.velocity_min

    # ------------------------------------------------------------------- seismic
    def seismic(self, s: Array) -> Array:
        """Physical amplitude -> [-1, 1] (log-compressed)."""
        y = _log_compress(s)
        return (y - self.seismic_min) * (2.0 / (self.seismic_max - self.seismic_min)) - 1.0

    def seismic_inverse(self, s: Array) -> Array:
        """[-1, 1] -> physical amplitude."""
        y = (s + 1.0) * (0.5 * (self.seismic_max - self.seismic_min)) + self.seismic_min
        return _log_expand(y)

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
        lo, hi = (float(_log_compress(np.float64(x))) for x in seismic_raw)
        if hi <= lo:  # an all-zero training set would leave nothing to scale
            hi = lo + 1e-6
        return cls(float(velocity[0]), float(velocity[1]), lo, hi)
