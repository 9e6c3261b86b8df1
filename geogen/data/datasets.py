"""Builders for the in-memory form of each store kind (see shared conventions).

They turn plain arrays plus an :class:`~geogen.acquisition.Acquisition` into
``xarray.Dataset`` objects with coordinates in metres and seconds and CF ``units``,
so that every producer (synthesis, ingest, generation) writes the same layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from geogen.acquisition import Acquisition

ORIGINS = ("simulated", "recorded", "generated")


def velocity_dataset(
    velocity: np.ndarray | Any,
    *,
    dz: float,
    dx: float,
    z0: float = 0.0,
    x0: float = 0.0,
    attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """A ``velocity`` store: ``velocity(model, z, x)`` in m/s, ``z``/``x`` in metres."""
    v = velocity if getattr(velocity, "ndim", 0) == 3 else velocity[None]
    n_model, nz, nx = v.shape
    ds = xr.Dataset(
        {"velocity": (("model", "z", "x"), v, {"units": "m/s", "long_name": "P-wave velocity"})},
        coords={
            "model": ("model", np.arange(n_model, dtype=np.int64)),
            "z": ("z", z0 + dz * np.arange(nz, dtype=np.float64), {"units": "m", "positive": "down"}),
            "x": ("x", x0 + dx * np.arange(nx, dtype=np.float64), {"units": "m"}),
        },
        attrs={"geogen_kind": "velocity", **(attrs or {})},
    )
    return ds


def pairs_dataset(
    velocity: np.ndarray | Any,
    seismic: np.ndarray | Any,
    acquisition: Acquisition,
    *,
    origin: str,
    attrs: dict[str, Any] | None = None,
    sample: np.ndarray | None = None,
) -> xr.Dataset:
    """A ``pairs`` store: ``velocity(sample, z, x)`` and ``seismic(sample, source, time, receiver)``."""
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {ORIGINS}")
    a = acquisition
    n = velocity.shape[0]
    if tuple(velocity.shape[1:]) != a.shape:
        raise ValueError(f"velocity maps are {tuple(velocity.shape[1:])}, the acquisition says {a.shape}")
    if tuple(seismic.shape[1:]) != a.seismic_shape or seismic.shape[0] != n:
        raise ValueError(f"seismic is {tuple(seismic.shape)}, expected ({n}, {a.seismic_shape})")
    coords = {
        "sample": ("sample", np.arange(n, dtype=np.int64) if sample is None else np.asarray(sample)),
        "z": ("z", a.dz * np.arange(a.nz, dtype=np.float64), {"units": "m", "positive": "down"}),
        "x": ("x", a.dx * np.arange(a.nx, dtype=np.float64), {"units": "m"}),
        "time": ("time", a.dt * np.arange(a.nt, dtype=np.float64), {"units": "s"}),
        "source_x": ("source", np.asarray(a.source_x, dtype=np.float64), {"units": "m"}),
        "source_z": ("source", np.full(a.n_sources, a.source_z), {"units": "m"}),
        "receiver_x": ("receiver", np.asarray(a.receiver_x, dtype=np.float64), {"units": "m"}),
        "receiver_z": ("receiver", np.full(a.n_receivers, a.receiver_z), {"units": "m"}),
    }
    return xr.Dataset(
        {
            "velocity": (("sample", "z", "x"), velocity, {"units": "m/s", "long_name": "P-wave velocity"}),
            "seismic": (("sample", "source", "time", "receiver"), seismic,
                        {"units": "1", "long_name": "pressure (source of unit amplitude)"}),
        },
        coords=coords,
        attrs={"geogen_kind": "pairs", "origin": origin, **a.to_attrs(), **(attrs or {})},
    )


def acquisition_of(ds: xr.Dataset) -> Acquisition:
    """The acquisition stored in a ``pairs`` dataset's attributes."""
    return Acquisition.from_attrs(ds.attrs)


PAIRS_DIMS = {"velocity": ("sample", "z", "x"), "seismic": ("sample", "source", "time", "receiver")}


def open_pairs(path: Any) -> tuple[xr.Dataset, Acquisition]:
    """Open a ``pairs`` store lazily and check that its data match its acquisition.

    One place for the checks every consumer (training, validation) needs before it
    trusts a store: the kind, a readable acquisition, both variables with their
    dimensions, record and map shapes equal to the acquisition's, at least one pair.
    """
    from pathlib import Path

    from geogen.data.store import open_store
    from geogen.errors import InputError

    path = Path(path)
    ds = open_store(path, kind="pairs")
    try:
        acq = acquisition_of(ds)
    except InputError as exc:
        raise InputError(exc.detail, path=path) from None
    except ValueError as exc:
        raise InputError(f"its 'acquisition' attribute is invalid ({str(exc).splitlines()[0]})", path=path) from None
    for name, dims in PAIRS_DIMS.items():
        if name not in ds or set(ds[name].dims) != set(dims):
            raise InputError(f"needs a variable '{name}{dims}'; it is not a pairs store written by geogen", path=path)
    s_shape = tuple(int(s) for s in ds["seismic"].transpose(*PAIRS_DIMS["seismic"]).shape[1:])
    if s_shape != acq.seismic_shape:
        raise InputError(f"seismic records are (source, time, receiver) = {s_shape}, its acquisition says "
                         f"{acq.seismic_shape}; rewrite the store with a matching acquisition", path=path)
    v_shape = tuple(int(s) for s in ds["velocity"].transpose(*PAIRS_DIMS["velocity"]).shape[1:])
    if v_shape != acq.shape:
        raise InputError(f"velocity maps are {v_shape[0]} x {v_shape[1]}, its acquisition grid is "
                         f"{acq.nz} x {acq.nx}; rewrite the store with a matching acquisition", path=path)
    if ds.sizes["sample"] == 0:
        raise InputError("holds no pairs", path=path)
    return ds, acq
