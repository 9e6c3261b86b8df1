"""Acoustic forward modelling with Devito: one compiled operator per geometry.

The solver discretises the constant-density acoustic wave equation

    m u_tt + m sigma u_t - laplace(u) = f(t) delta(x - x_s),    m = 1 / v**2,

with Devito's core API (2nd order in time, ``space_order`` in space) on the velocity
grid padded by ``absorbing_width`` cells on every side.  ``sigma`` (1/s) is a damping
layer: zero inside the map, growing quadratically across the padding, and scaled by
the local velocity so that every wave loses the same factor whatever its speed.  The
padded velocity repeats the map's edge values, so the padding adds no velocity contrast.

Amplitude normalisation.  The source sample ``q`` is injected as ``q dt**2 / m`` at the
source node (the usual finite-difference point source).  The discrete Laplacian
represents a point force of strength ``F`` at a node as ``F / (dx dz)``, so injecting
``q`` is the continuous point source ``f = q dx dz``.  The recorded pressure is then

    p(r, t) = dx * dz * (w * G)(t),    G = H(t - r/c) / (2 pi sqrt(t**2 - r**2/c**2)),

the 2-D Green's function convolved with the wavelet ``w`` (tested in
``tests/test_physics_accuracy.py``).  Measured on the ``openfwi`` geometry in a
3000 m/s medium, relative L2 over the direct arrival: 0.15-0.6 % with 120 absorbing
cells, 1-5.7 % with 40 (the top of the layer lies 10 m above source and receivers,
so what leaks back arrives with the direct wave); a sample early or late costs ~9-10 %.

Time axis.  Devito steps ``n = 0 .. nt``; step ``n`` injects wavelet sample ``w(n dt)``
into the wavefield at ``(n + 1) dt`` and receivers read the field at ``n dt``.  The
record returned is Devito's samples ``1 .. nt``, i.e. OpenFWI's convention: output
sample ``i`` is Devito's sample ``i + 1`` (physical time ``(i + 1) dt`` for a wavelet
sampled at ``n dt``), the same one-step lag as OpenFWI's own solver.

Units are SI: metres, seconds, m/s.  Devito arrays are ``(x, z)``; maps ``v[z, x]``
go in transposed.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from geogen.acquisition import Acquisition
from geogen.data.store import check_velocity_values
from geogen.errors import InputError
from geogen.physics.wavelet import source_signature

os.environ.setdefault("DEVITO_LOGGING", "WARNING")

#: Two-way amplitude loss across the damping layer at normal incidence.  1e-2 balances
#: what leaks through the layer against what its gradient reflects: measured against
#: the analytic answer it beats 1e-3 and 1e-5 at 40 cells and ties at 120 cells.
ABSORBING_REFLECTION = 1e-2

_CACHE: dict[Acquisition, "Modeller"] = {}


def damping_profile(acquisition: Acquisition, velocity_xz: np.ndarray) -> np.ndarray:
    """Damping ``sigma`` (1/s) over the padded ``(x, z)`` grid for a padded velocity.

    ``sigma = A v / L * ((d_x / L)**2 + (d_z / L)**2)`` with ``d`` the distance into the
    layer and ``L`` its thickness; ``A = 3 ln(1 / R)`` makes the two-way loss across
    the layer ``R`` for a wave at normal incidence, whatever its velocity.
    """
    w = acquisition.absorbing_width
    nxp, nzp = velocity_xz.shape
    if w == 0:
        return np.zeros((nxp, nzp), dtype=np.float32)

    def depth_into_layer(n: int) -> np.ndarray:
        i = np.arange(n, dtype=np.float64)
        return np.maximum(np.maximum(w - i, i - (n - 1 - w)), 0.0) / w

    px, pz = depth_into_layer(nxp), depth_into_layer(nzp)
    coef = 3.0 * math.log(1.0 / ABSORBING_REFLECTION)
    sigma = coef * velocity_xz * (px[:, None] ** 2 / (w * acquisition.dx) + pz[None, :] ** 2 / (w * acquisition.dz))
    return sigma.astype(np.float32)


class Modeller:
    """A compiled Devito operator for one acquisition, reused for every map and shot."""

    def __init__(self, acquisition: Acquisition) -> None:
        from devito import Eq, Function, Grid, Operator, SparseTimeFunction, TimeFunction, solve

        a = self.acquisition = acquisition
        w = a.absorbing_width
        shape = (a.nx + 2 * w, a.nz + 2 * w)
        extent = ((shape[0] - 1) * a.dx, (shape[1] - 1) * a.dz)
        self.grid = Grid(shape=shape, extent=extent, origin=(-w * a.dx, -w * a.dz), dtype=np.float32)
        self.m = Function(name="m", grid=self.grid, space_order=a.space_order)
        self.damp = Function(name="damp", grid=self.grid, space_order=a.space_order)
        self.u = TimeFunction(name="u", grid=self.grid, time_order=2, space_order=a.space_order)
        self.src = SparseTimeFunction(name="src", grid=self.grid, npoint=1, nt=a.nt + 1)
        self.rec = SparseTimeFunction(name="rec", grid=self.grid, npoint=a.n_receivers, nt=a.nt + 1)
        self.src.data[:, 0] = source_signature(a.frequency, a.wavelet_delay, a.nt, a.dt)
        self.rec.coordinates.data[:, 0] = np.asarray(a.receiver_x, dtype=np.float32)
        self.rec.coordinates.data[:, 1] = a.receiver_z

        m, u, damp = self.m, self.u, self.damp
        dt = self.grid.stepping_dim.spacing
        pde = m * u.dt2 + m * damp * u.dt - u.laplace
        stencil = Eq(u.forward, solve(pde, u.forward))
        inject = self.src.inject(field=u.forward, expr=self.src * dt**2 / m)
        record = self.rec.interpolate(expr=u)
        self.operator = Operator([stencil, inject, record], name="geogen_acoustic")
        self._velocity_key: bytes | None = None

    # ------------------------------------------------------------------ per map
    def set_velocity(self, velocity_zx: np.ndarray) -> None:
        """Load one map ``v[z, x]`` (m/s): slowness squared and damping on the padded grid."""
        key = velocity_zx.tobytes()
        if key == self._velocity_key:
            return
        w = self.acquisition.absorbing_width
        v = np.pad(np.asarray(velocity_zx, dtype=np.float32).T, w, mode="edge")
        self.m.data[:] = 1.0 / (v * v)
        self.damp.data[:] = damping_profile(self.acquisition, v)
        self._velocity_key = key

    def shot(self, source: int) -> np.ndarray:
        """Record of one source over the loaded map: float32 ``(time, receiver)``."""
        a = self.acquisition
        self.src.coordinates.data[0, 0] = a.source_x[source]
        self.src.coordinates.data[0, 1] = a.source_z
        self.u.data_with_halo[:] = 0.0
        self.rec.data[:] = 0.0
        self.operator.apply(time_m=0, time_M=a.nt, dt=a.dt)
        return np.array(self.rec.data[1 : a.nt + 1], dtype=np.float32)

    def model(self, velocity_zx: np.ndarray, sources: list[int] | None = None) -> np.ndarray:
        """Records of ``sources`` (default all) over one map: ``(source, time, receiver)``."""
        self.set_velocity(velocity_zx)
        shots = range(self.acquisition.n_sources) if sources is None else sources
        return np.stack([self.shot(s) for s in shots])


def modeller_for(acquisition: Acquisition) -> Modeller:
    """The cached :class:`Modeller` of this geometry (compiled on first use in a process)."""
    modeller = _CACHE.get(acquisition)
    if modeller is None:
        modeller = _CACHE[acquisition] = Modeller(acquisition)
    return modeller


def model_maps(velocity: np.ndarray, acquisition: Acquisition, sources: list[int] | None = None) -> np.ndarray:
    """In-process modelling of ``(sample, z, x)`` maps -> ``(sample, source, time, receiver)``."""
    modeller = modeller_for(acquisition)
    return np.stack([modeller.model(v, sources) for v in velocity]).astype(np.float32, copy=False)


def direct_wave_velocity(velocity: np.ndarray) -> np.ndarray:
    """Velocity (m/s) of each map's direct-wave medium: the mean of the map's top row.

    The direct wave travels along the surface, where sources and receivers sit, so it
    depends on nothing but the near-surface velocity.  ``velocity`` is ``(..., z, x)``.
    """
    return np.asarray(velocity, dtype=np.float64)[..., 0, :].mean(axis=-1)


def direct_wave_maps(velocity: np.ndarray) -> np.ndarray:
    """Homogeneous maps, each at its map's :func:`direct_wave_velocity`: ``(sample, z, x)`` float32."""
    v = np.asarray(velocity, dtype=np.float32)
    v = v[None] if v.ndim == 2 else v
    return np.broadcast_to(direct_wave_velocity(v).astype(np.float32)[:, None, None], v.shape).copy()


def model_direct_waves(velocity: np.ndarray, acquisition: Acquisition) -> np.ndarray:
    """In-process direct-wave records of ``(sample, z, x)`` maps (see :func:`direct_wave`)."""
    return model_maps(direct_wave_maps(velocity), acquisition)


# ---------------------------------------------------------------------- public entry
def as_velocity_array(velocity: Any, acquisition: Acquisition, *, path: str | None = None) -> np.ndarray:
    """Validate maps before any compute: ``(sample, z, x)`` float32 m/s, stable, right shape."""
    import xarray as xr

    if isinstance(velocity, xr.Dataset):
        if "velocity" not in velocity:
            raise InputError("the dataset has no 'velocity' variable", path=path)
        velocity = velocity["velocity"]
    if isinstance(velocity, xr.DataArray):
        if "z" in velocity.dims and "x" in velocity.dims:
            others = [d for d in velocity.dims if d not in ("z", "x")]
            velocity = velocity.transpose(*others, "z", "x")
        velocity = velocity.values
    v = np.asarray(velocity, dtype=np.float32)
    if v.ndim == 2:
        v = v[None]
    if v.ndim != 3:
        raise InputError(f"velocity has {v.ndim} dimensions; expected (z, x) or (sample, z, x)", path=path)
    if v.shape[0] == 0:
        raise InputError("velocity holds no maps", path=path)
    if tuple(v.shape[1:]) != acquisition.shape:
        raise InputError(
            f"velocity maps are {tuple(v.shape[1:])} (z, x) but the acquisition grid is {acquisition.shape}; "
            "resample the maps or use an acquisition of that shape", path=path)
    check_velocity_values(v, path=path)
    acquisition.check_stable(float(v.max()))
    return np.ascontiguousarray(v)
