"""Dataset attributes in netCDF files: netCDF takes strings and numbers only, so other values (lists, dicts,
booleans) are written as JSON text and listed in the ``geogen_json_attrs`` attribute; reading undoes it.

Used by :func:`geogen.data.store.open_store` (a netCDF store) and by the netCDF adapter that writes them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from geogen.run.atomic import jsonable

if TYPE_CHECKING:
    import xarray as xr

JSON_ATTRS = "geogen_json_attrs"


def _netcdf_legal(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, (str, int, float, np.integer, np.floating))


def encode_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes a netCDF file accepts: non-scalars and booleans become JSON strings."""
    out: dict[str, Any] = {}
    encoded: list[str] = []
    for key, value in attrs.items():
        if key == JSON_ATTRS:
            continue
        if _netcdf_legal(value):
            out[key] = value
        else:
            out[key] = json.dumps(jsonable(value))
            encoded.append(key)
    if encoded:
        out[JSON_ATTRS] = json.dumps(encoded)
    return out


def decode_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """Undo :func:`encode_attrs`; numpy scalars and arrays become plain Python values."""
    encoded = set(json.loads(attrs[JSON_ATTRS])) if JSON_ATTRS in attrs else set()
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if key == JSON_ATTRS:
            continue
        out[key] = json.loads(value) if key in encoded else jsonable(value)
    return out


def decode_dataset_attrs(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with its own and its variables' attributes decoded (see :func:`decode_attrs`)."""
    return map_attrs(ds, decode_attrs)


def map_attrs(ds: xr.Dataset, fn: Any) -> xr.Dataset:
    ds = ds.copy()
    ds.attrs = fn(dict(ds.attrs))
    for name in ds.variables:
        ds[name].attrs = fn(dict(ds[name].attrs))
    return ds
