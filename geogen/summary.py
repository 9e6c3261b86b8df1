"""``geogen info``: what a store holds, in numbers a geophysicist checks first.

Kind, dimensions, axes, geometry, sample interval, value ranges and size on disk.  Every
reduction over the data (value ranges, geometry ranges, live-trace counts) is gathered
into one ``dask.compute`` call, so each chunk of a large store is read once, in
parallel, and never all at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr

from geogen.data.axes import describe_axis
from geogen.data.store import open_store

#: Per-shot or per-trace geometry reported as ranges (metres).
GEOMETRY = ("source_x", "source_y", "source_z", "receiver_x", "receiver_y", "receiver_z", "offset", "cdp_x", "cdp_y")


def _size_on_disk(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _lazy(var: xr.DataArray) -> da.Array:
    data = var.data
    return data if isinstance(data, da.Array) else da.from_array(np.asarray(data))


def _acquisition(attrs: dict[str, Any]) -> dict[str, Any] | None:
    if "acquisition" not in attrs:
        return None
    from geogen.acquisition import Acquisition

    try:
        a = Acquisition.from_attrs(attrs)
    except Exception:  # noqa: BLE001 - a summary must not fail on a damaged attribute
        return None
    return {
        "grid": [a.nz, a.nx], "spacing_m": [a.dz, a.dx],
        "sources": a.n_sources, "receivers": a.n_receivers,
        "nt": a.nt, "dt_s": a.dt, "frequency_hz": a.frequency,
        "absorbing_width_cells": a.absorbing_width,
    }


def info(store: str | os.PathLike[str] | xr.Dataset, *, value_ranges: bool = True) -> dict[str, Any]:
    """A JSON-ready summary: kind, dimensions, axes, geometry, sample interval, value ranges, size.

    ``value_ranges=False`` skips the pass over the data variables (geometry and trace
    counts are still read), for callers such as ingest that have just written them.
    """
    path = None if isinstance(store, xr.Dataset) else Path(store)
    ds = store if isinstance(store, xr.Dataset) else open_store(store)
    summary: dict[str, Any] = {
        "path": None if path is None else str(path),
        "kind": ds.attrs.get("geogen_kind"),
        "origin": ds.attrs.get("origin"),
        "dimensions": {str(k): int(v) for k, v in ds.sizes.items()},
        "axes": {str(name): describe_axis(ds[name].values, ds[name].attrs)
                 for name in ds.coords if ds[name].ndim == 1 and ds[name].dims[0] == name},
        "variables": {},
    }
    if "time" in ds.coords and ds.sizes.get("time", 0) > 1:
        summary["sample_interval_s"] = float(ds["time"].values[1] - ds["time"].values[0])
    acquisition = _acquisition(ds.attrs)
    if acquisition is not None:
        summary["acquisition"] = acquisition

    # Every reduction is queued here and computed together in one pass.
    pending: dict[tuple[str, str, str], Any] = {}
    for name in GEOMETRY:
        if name in ds.variables and ds[name].dtype.kind in "fiu":
            data = _lazy(ds[name]).astype(np.float64)
            pending[("geometry", name, "min")] = da.nanmin(data)
            pending[("geometry", name, "max")] = da.nanmax(data)
    for name, var in ds.data_vars.items():
        entry: dict[str, Any] = {"dims": [str(d) for d in var.dims], "dtype": str(var.dtype)}
        if var.attrs.get("units") is not None:
            entry["units"] = str(var.attrs["units"])
        summary["variables"][str(name)] = entry
        if value_ranges and var.dtype.kind == "f" and var.size:  # data and per-sample metrics; not raw header bytes
            data = _lazy(var)
            pending[("variables", str(name), "min")] = da.nanmin(data)
            pending[("variables", str(name), "max")] = da.nanmax(data)
            pending[("variables", str(name), "nonfinite")] = (~da.isfinite(data)).sum()
    if "trace_mask" in ds.variables:
        pending[("traces", "live", "")] = _lazy(ds["trace_mask"]).astype(np.int64).sum()
    values = dict(zip(pending, dask.compute(*pending.values()))) if pending else {}

    for (section, name, stat), value in values.items():
        if section == "geometry":
            if np.isfinite(value):
                summary.setdefault("geometry", {}).setdefault(name, {})[stat] = float(value)
        elif section == "variables":
            entry = summary["variables"][name]
            if stat == "nonfinite":
                if int(value):
                    entry["nonfinite"] = int(value)
            elif np.isfinite(value):
                entry[stat] = float(value)
    if ("traces", "live", "") in values:
        live = int(values[("traces", "live", "")])
        summary["live_traces"] = live
        summary["missing_traces"] = int(ds["trace_mask"].size) - live
    if summary["kind"] == "wells":
        summary["wells"] = wells_table(ds)
    if path is not None:
        summary["size_on_disk_bytes"] = _size_on_disk(path)
        raw = sum(int(v.size) * v.dtype.itemsize for v in ds.variables.values())
        summary["uncompressed_bytes"] = raw
    return summary


def wells_table(ds: xr.Dataset) -> list[dict[str, Any]]:
    """Per well of a ``wells`` store: name, UWI, position, curve and conversion, logged depth range."""
    v = np.asarray(ds["velocity"].transpose("well", "depth").values, dtype=np.float64)
    depth = np.asarray(ds["depth"].values, dtype=np.float64)
    rows = []
    for i in range(ds.sizes["well"]):
        valid = np.flatnonzero(np.isfinite(v[i]))
        row: dict[str, Any] = {}
        for name in ("name", "uwi", "curve", "conversion", "source_file"):
            if name in ds.variables:
                row[name] = str(ds[name].values[i])
        x = float(ds["position_x"].values[i]) if "position_x" in ds.variables else float("nan")
        row["position_x_m"] = x if np.isfinite(x) else None
        row["logged_m"] = [float(depth[valid[0]]), float(depth[valid[-1]])] if valid.size else None
        row["valid_samples"] = int(valid.size)
        for name in ("n_null", "n_out_of_range"):
            if name in ds.variables:
                row[name] = int(ds[name].values[i])
        rows.append(row)
    return rows
