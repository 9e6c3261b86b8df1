"""``geogen info``: what a store holds, in numbers a geophysicist checks first."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from geogen.data.store import open_store


def _size_on_disk(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _axis(coord: xr.DataArray) -> dict[str, Any]:
    values = np.asarray(coord.values)
    out: dict[str, Any] = {"size": int(values.size)}
    if values.size and values.dtype.kind in "fiu":
        out["min"], out["max"] = float(values.min()), float(values.max())
        if values.size > 1:
            steps = np.diff(values.astype(np.float64))
            if np.allclose(steps, steps[0]):
                out["step"] = float(steps[0])
    if "units" in coord.attrs:
        out["units"] = coord.attrs["units"]
    return out


def info(store: str | os.PathLike[str] | xr.Dataset) -> dict[str, Any]:
    """A JSON-ready summary: kind, dimensions, axes, sample interval, value ranges, size."""
    path = None if isinstance(store, xr.Dataset) else Path(store)
    ds = store if isinstance(store, xr.Dataset) else open_store(store)
    summary: dict[str, Any] = {
        "path": None if path is None else str(path),
        "kind": ds.attrs.get("geogen_kind"),
        "origin": ds.attrs.get("origin"),
        "dimensions": {str(k): int(v) for k, v in ds.sizes.items()},
        "axes": {str(name): _axis(ds[name]) for name in ds.coords if ds[name].ndim == 1 and ds[name].dims[0] == name},
        "variables": {},
    }
    if "time" in ds.coords and ds.sizes.get("time", 0) > 1:
        summary["sample_interval_s"] = float(ds["time"].values[1] - ds["time"].values[0])
    for name in ("source_x", "receiver_x", "cdp_x", "offset"):
        if name in ds.variables:
            values = np.asarray(ds[name].values, dtype=np.float64)
            finite = values[np.isfinite(values)]
            if finite.size:
                summary.setdefault("geometry", {})[name] = {"min": float(finite.min()), "max": float(finite.max())}
    for name, var in ds.data_vars.items():
        entry: dict[str, Any] = {"dims": list(var.dims), "dtype": str(var.dtype), "units": var.attrs.get("units")}
        if var.dtype.kind == "f" and var.ndim >= 2:
            entry["min"], entry["max"] = float(var.min().values), float(var.max().values)
        summary["variables"][str(name)] = entry
    if "trace_mask" in ds.variables:
        mask = np.asarray(ds["trace_mask"].values)
        summary["live_traces"] = int(mask.sum())
        summary["missing_traces"] = int(mask.size - mask.sum())
    if path is not None:
        summary["size_on_disk_bytes"] = _size_on_disk(path)
    return summary
