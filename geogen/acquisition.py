"""The acquisition: grid, sources, receivers, time axis, wavelet and absorbing layer.

One object describes how a pair's seismic record relates to its velocity map.  It is
stored (as JSON) in the attributes of every ``pairs`` store, so the physics check, the
models and the exporters all read the geometry from the data rather than from
constants.  Units are SI throughout: metres, seconds, hertz.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from geogen.errors import InputError


def _second_derivative_weights(order: int) -> list[float]:
    """Central finite-difference weights of d2/dx2 at the given (even) order of accuracy."""
    k = order // 2
    side = [2.0 * (-1) ** (j + 1) * math.factorial(k) ** 2 / (j * j * math.factorial(k - j) * math.factorial(k + j))
            for j in range(1, k + 1)]
    return [-2.0 * sum(side), *side, *side]


def _cfl_coefficient(order: int, ndim: int = 2) -> float:
    """Von Neumann limit of leapfrog time stepping: dt <= coeff * h / vmax."""
    return 2.0 / math.sqrt(ndim * sum(abs(w) for w in _second_derivative_weights(order)))


#: Stability coefficients of the 2nd-order-in-time acoustic scheme in 2-D, by space
#: order (0.707, 0.612, 0.555, ...): dt <= coeff * h / vmax.  Space order 4 at 10 m and
#: 4500 m/s allows 1.36 ms, so OpenFWI's 1 ms needs no resampling.
CFL_COEFFICIENT = {order: _cfl_coefficient(order) for order in (2, 4, 8, 12)}

PresetName = Literal["openfwi", "small"]


class Acquisition(BaseModel):
    """A 2-D acquisition over a regular (z, x) velocity grid.

    Positions are in metres from the grid origin (x to the right, z down); ``nt``
    samples at ``dt`` seconds, sample ``i`` at ``i * dt`` after the source fires
    (OpenFWI's convention).  The source is a Ricker wavelet of ``frequency`` Hz whose
    peak lies at ``wavelet_delay`` seconds.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    nz: int = Field(gt=1, description="grid points along depth")
    nx: int = Field(gt=1, description="grid points along x")
    dz: float = Field(gt=0, description="grid spacing along depth, m")
    dx: float = Field(gt=0, description="grid spacing along x, m")
    source_x: tuple[float, ...] = Field(min_length=1, description="source x positions, m")
    source_z: float = Field(ge=0, description="source depth, m")
    receiver_x: tuple[float, ...] = Field(min_length=1, description="receiver x positions, m")
    receiver_z: float = Field(ge=0, description="receiver depth, m")
    nt: int = Field(gt=1, description="time samples per trace")
    dt: float = Field(gt=0, description="sample interval, s")
    frequency: float = Field(gt=0, description="Ricker peak frequency, Hz")
    wavelet_delay: float = Field(ge=0, description="time of the wavelet peak, s")
    absorbing_width: int = Field(ge=0, description="absorbing cells on each side")
    space_order: int = Field(default=4, description="finite-difference order in space")
    vmin: float = Field(default=1500.0, gt=0, description="lowest velocity of the data, m/s")
    vmax: float = Field(default=4500.0, gt=0, description="highest velocity of the data, m/s")

    @field_validator("space_order")
    @classmethod
    def _known_order(cls, value: int) -> int:
        if value not in CFL_COEFFICIENT:
            raise ValueError(f"space_order must be one of {sorted(CFL_COEFFICIENT)}")
        return value

    @model_validator(mode="after")
    def _inside_grid(self) -> "Acquisition":
        width, depth = (self.nx - 1) * self.dx, (self.nz - 1) * self.dz
        for name, xs, z in (("source", self.source_x, self.source_z),
                            ("receiver", self.receiver_x, self.receiver_z)):
            for i, x in enumerate(xs):
                if not (0.0 <= x <= width + 1e-6):
                    raise ValueError(f"{name} {i} at x = {x:g} m lies outside the grid (0-{width:g} m)")
            if z > depth + 1e-6:
                raise ValueError(f"{name} depth {z:g} m lies below the grid (0-{depth:g} m)")
        if self.vmin >= self.vmax:
            raise ValueError(f"vmin ({self.vmin:g}) must be below vmax ({self.vmax:g})")
        return self

    # ----------------------------------------------------------------- derived values
    @property
    def n_sources(self) -> int:
        return len(self.source_x)

    @property
    def n_receivers(self) -> int:
        return len(self.receiver_x)

    @property
    def shape(self) -> tuple[int, int]:
        """Velocity map shape ``(nz, nx)``."""
        return (self.nz, self.nx)

    @property
    def seismic_shape(self) -> tuple[int, int, int]:
        """Record shape per sample ``(source, time, receiver)``."""
        return (self.n_sources, self.nt, self.n_receivers)

    @property
    def record_length(self) -> float:
        """Time of the last sample, s."""
        return (self.nt - 1) * self.dt

    def critical_dt(self, vmax: float | None = None) -> float:
        """Largest stable time step (s) for the scheme at velocity ``vmax`` (m/s)."""
        v = self.vmax if vmax is None else vmax
        return CFL_COEFFICIENT[self.space_order] * min(self.dz, self.dx) / v

    def check_stable(self, vmax: float | None = None) -> None:
        """Raise :class:`InputError` if ``dt`` violates the CFL condition at ``vmax``."""
        limit = self.critical_dt(vmax)
        if self.dt > limit:
            v = self.vmax if vmax is None else vmax
            raise InputError(
                f"dt = {self.dt * 1e3:g} ms is unstable for {v:g} m/s on a "
                f"{min(self.dz, self.dx):g} m grid (CFL limit {limit * 1e3:.3f} ms); "
                "use a smaller dt or a coarser grid"
            )

    # ------------------------------------------------------------ (de)serialisation
    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> "Acquisition":
        return cls.model_validate(json.loads(text))

    def to_attrs(self) -> dict[str, Any]:
        """Attributes for a store: the whole acquisition as JSON plus readable keys."""
        return {
            "acquisition": self.to_json(),
            "grid_spacing_m": [self.dz, self.dx],
            "dt_s": self.dt,
            "wavelet": f"ricker {self.frequency:g} Hz, peak at {self.wavelet_delay:g} s",
            "absorbing_width_cells": self.absorbing_width,
        }

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> "Acquisition":
        """Read the acquisition back from store attributes (see :meth:`to_attrs`)."""
        if "acquisition" not in attrs:
            raise InputError("the store has no 'acquisition' attribute; it was not written by geogen")
        return cls.from_json(attrs["acquisition"])

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "Acquisition":
        """A named acquisition: ``openfwi`` (the benchmark's) or ``small`` (CPU quick runs)."""
        try:
            base = dict(PRESETS[name])
        except KeyError:
            raise InputError(f"unknown acquisition preset {name!r}; choose one of {sorted(PRESETS)}") from None
        base.update(overrides)
        return cls(**base)


#: OpenFWI: 70 x 70 at 10 m, 5 sources and 70 receivers at 10 m depth, 1000 samples
#: at 1 ms, 15 Hz Ricker peaking at 73 ms, 120 absorbing cells (see shared/reference.md).
PRESETS: dict[str, dict[str, Any]] = {
    "openfwi": dict(
        nz=70, nx=70, dz=10.0, dx=10.0,
        source_x=(0.0, 170.0, 340.0, 520.0, 690.0), source_z=10.0,
        receiver_x=tuple(10.0 * i for i in range(70)), receiver_z=10.0,
        nt=1000, dt=0.001, frequency=15.0, wavelet_delay=0.073, absorbing_width=120,
    ),
    # A quarter of the work per shot in each direction: 32 x 32 cells, 3 sources,
    # 32 receivers, 400 samples at 1 ms, 40 absorbing cells; for CPU tests and quickstart.
    "small": dict(
        nz=32, nx=32, dz=10.0, dx=10.0,
        source_x=(0.0, 150.0, 310.0), source_z=10.0,
        receiver_x=tuple(10.0 * i for i in range(32)), receiver_z=10.0,
        nt=400, dt=0.001, frequency=15.0, wavelet_delay=0.073, absorbing_width=40,
    ),
}
