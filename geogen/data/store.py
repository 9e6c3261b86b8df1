"""Zarr stores: open them lazily, check their kind, and write them atomically.

Every geogen store is a Zarr v3 group written through xarray with a ``geogen_kind``
attribute (``velocity``, ``survey``, ``poststack``, ``pairs`` or ``wells``).  Writes go to a
hidden sibling directory that is renamed into place only when complete, so a failed
or interrupted command never leaves a half store and never damages an existing one.

Every store carries consolidated metadata (the root ``zarr.json`` lists every array), so
plain ``xarray.open_zarr(path)`` opens it without a warning: :func:`replace_path` (and with
it :func:`atomic_path`) consolidates a Zarr store before moving it into place, and
:func:`add_variables` adds variables to an existing store and consolidates again.  xarray
is imported only by the functions that need it, so that ``geogen ingest`` stays quick.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from geogen.data.attrs import decode_dataset_attrs
from geogen.errors import InputError, StoreKindError
from geogen.run.atomic import atomic_path as _atomic_path
from geogen.run.atomic import remove, swap_into_place, temporary_sibling

if TYPE_CHECKING:
    import xarray as xr

KINDS = ("velocity", "survey", "poststack", "pairs", "wells")

#: Plausible physical velocities (m/s).  Below VELOCITY_KMS_LIMIT the numbers look like
#: km/s; above VELOCITY_MAX_PLAUSIBLE they are not a subsurface velocity at all.
VELOCITY_KMS_LIMIT = 100.0
VELOCITY_MAX_PLAUSIBLE = 20000.0


def compressor(level: int = 1) -> Any:
    """The default codec: Blosc with zstd and bit shuffling (velocity maps: 33 x smaller, lz4 only 13 x).

    Used for every array but records (those take :func:`record_compressor`).  Level 1:
    level 3 cost 1.5-3.3 x the write time for 0-2.5 % fewer bytes (measured on openfwi-preset
    records, before they moved to lz4); on maps it gives 33 x against level 3's 40 x.
    """
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="zstd", clevel=level, shuffle="bitshuffle")


def record_compressor() -> Any:
    """The codec of seismic records (float arrays with a ``time`` axis): Blosc lz4 with byte shuffling.

    Amplitudes hardly compress, so speed decides: on openfwi-preset records (256 Devito
    records, 512 generated) it writes 2.4 x and 1.8 x faster than :func:`compressor` and
    reads 3-5 x faster, and stores *less* (ratio 1.22 against 1.19 on Devito's records, 1.15
    against 1.14 on generated ones; lz4 with bit shuffling 1.16 and 1.14).
    """
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")


def encoding_for(ds: xr.Dataset, chunks: dict[str, dict[str, int]] | None = None) -> dict[str, dict[str, Any]]:
    """Encoding that compresses every data variable (records with :func:`record_compressor`, the rest with
    :func:`compressor`), with optional per-variable chunks."""
    encoding: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        is_record = var.dtype.kind == "f" and "time" in var.dims and var.ndim >= 2
        enc: dict[str, Any] = {"compressors": (record_compressor() if is_record else compressor(),)}
        if chunks and name in chunks:
            enc["chunks"] = tuple(chunks[name].get(d, var.sizes[d]) for d in var.dims)
        if var.ndim == 0 or var.dtype.kind in "OU":
            enc = {}
        encoding[str(name)] = enc
    return encoding


def is_store(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "zarr.json").exists()


def open_store(path: str | os.PathLike[str], *, kind: str | Iterable[str] | None = None) -> xr.Dataset:
    """Open a geogen store lazily (dask-backed); optionally insist on its kind.

    Zarr directories and netCDF files both open; ``kind`` may be one kind or several.
    """
    import xarray as xr

    p = Path(path)
    if not p.exists():
        raise InputError("no such store", path=p)
    try:
        if p.is_dir():
            ds = xr.open_zarr(p, consolidated=is_consolidated(p), zarr_format=3)
        else:
            ds = xr.open_dataset(p, chunks={})
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad store
        raise InputError(f"cannot open as a store ({exc.__class__.__name__}: {exc})", path=p) from exc
    if not p.is_dir():  # netCDF: decode the attributes export wrote as JSON (geogen.data.attrs)
        ds = decode_dataset_attrs(ds)
    if kind is not None:
        require_kind(ds, kind, path=p)
    return ds


def store_kind(ds: xr.Dataset) -> str | None:
    return ds.attrs.get("geogen_kind")


def require_kind(ds: xr.Dataset, kind: str | Iterable[str], *, path: str | os.PathLike[str] | None = None) -> str:
    """Return the store's kind, or raise :class:`StoreKindError` if it is not one of ``kind``."""
    wanted = (kind,) if isinstance(kind, str) else tuple(kind)
    found = store_kind(ds)
    if found not in wanted:
        raise StoreKindError(
            f"is a {found or 'non-geogen'} store, expected {' or '.join(wanted)}", path=path
        )
    return found


def atomic_path(target: str | os.PathLike[str], *, overwrite: bool = True) -> contextlib.AbstractContextManager[Path]:
    """Yield a temporary path to build ``target`` in; move it into place on success (a Zarr store consolidated
    first).  See :func:`geogen.run.atomic.atomic_path`: on any exception ``target`` is left as it was, and
    ``overwrite=False`` refuses an existing target before any work."""
    return _atomic_path(target, overwrite=overwrite, finish=_consolidate_store)


def replace_path(source: Path, target: Path) -> None:
    """Move ``source`` onto ``target``; an existing target is swapped out, then removed.

    A Zarr store without consolidated metadata is consolidated first, so that every store
    geogen puts in place opens with plain ``xarray.open_zarr`` without a warning.
    """
    _consolidate_store(source)
    swap_into_place(source, target)


def _consolidate_store(path: Path) -> None:
    if is_store(path) and not is_consolidated(path):
        consolidate(path)


def write_store(
    ds: xr.Dataset,
    target: str | os.PathLike[str],
    *,
    kind: str | None = None,
    chunks: dict[str, dict[str, int]] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write ``ds`` as a compressed Zarr v3 store at ``target``, atomically (``kind``: else ds's ``geogen_kind``)."""
    return write_store_parts([ds], target, kind=kind, chunks=chunks, overwrite=overwrite)


def write_store_parts(
    parts: Iterable[xr.Dataset],
    target: str | os.PathLike[str],
    *,
    kind: str | None = None,
    chunks: dict[str, dict[str, int]] | None = None,
    overwrite: bool = True,
    along: str = "sample",
) -> Path:
    """Write datasets produced one after another as one store, appended ``along`` a dimension, atomically.

    For results too large to hold at once (generated pairs: 1.4 MB each at the openfwi
    geometry): memory stays one part, each written before the next is made.  The store
    appears only when every part is written; a failure leaves ``target`` as it was.  Chunks
    along ``along`` should divide the parts' length (a chunk that spans two parts is
    written twice).  ``kind`` sets ``geogen_kind``; without it the first part must carry one.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown store kind {kind!r}")
    with atomic_path(target, overwrite=overwrite) as tmp:  # consolidates before the rename
        first = True
        for part in parts:
            if kind is not None:
                part = part.assign_attrs(geogen_kind=kind)
            if first:
                if "geogen_kind" not in part.attrs:
                    raise ValueError("a store needs a geogen_kind attribute")
                part.to_zarr(tmp, mode="w", zarr_format=3, consolidated=False, encoding=encoding_for(part, chunks))
                first = False
            else:
                part.to_zarr(tmp, mode="a", append_dim=along, zarr_format=3, consolidated=False)
        if first:
            raise ValueError("no parts to write")
    return Path(target)


def is_consolidated(path: str | os.PathLike[str]) -> bool:
    """Whether a Zarr v3 store's root ``zarr.json`` carries consolidated metadata."""
    try:
        meta = json.loads((Path(path) / "zarr.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta.get("consolidated_metadata"), dict)


def consolidate(path: str | os.PathLike[str]) -> None:
    """(Re)write the consolidated metadata of a Zarr v3 store, so that ``xarray.open_zarr`` finds it."""
    import zarr

    with warnings.catch_warnings():  # "consolidated metadata is not part of the v3 spec": geogen knows
        warnings.simplefilter("ignore", category=UserWarning)
        zarr.consolidate_metadata(str(path), zarr_format=3)


def add_variables(path: str | os.PathLike[str], dataset: xr.Dataset) -> Path:
    """Add (or replace) ``dataset``'s variables in the Zarr store at ``path``, then re-consolidate.

    For results computed from a store and kept with it (``geogen validate``'s per-sample
    figures).  Dimensions the store has must keep their sizes; coordinates already in the
    store are left as they are; ``dataset.attrs`` are merged into the store's attributes.
    Each variable is written beside the store and moved in whole, and the consolidated
    metadata (what ``xarray.open_zarr`` reads) is rewritten last, so an interrupted call
    leaves the store as it was, or with some of the new variables complete, never half one.
    """
    import xarray as xr
    import zarr

    store = Path(path)
    if not is_store(store):
        raise InputError("is not a Zarr store; variables can only be added to one", path=store)
    existing = xr.open_zarr(store, consolidated=is_consolidated(store), zarr_format=3)
    for dim, size in dataset.sizes.items():
        if dim in existing.sizes and existing.sizes[dim] != size:
            raise InputError(f"cannot add variables along {dim} of size {size}: the store's {dim} has "
                             f"{existing.sizes[dim]}", path=store)
    new = dataset.drop_vars([c for c in dataset.coords if c in existing.variables]).drop_attrs(deep=False)
    stage = temporary_sibling(store)
    try:
        new.to_zarr(stage, mode="w", zarr_format=3, consolidated=False, encoding=encoding_for(new))
        for name in (str(n) for n in new.variables):
            swap_into_place(stage / name, store / name)
        if dataset.attrs:
            zarr.open_group(str(store), mode="r+", zarr_format=3, use_consolidated=False).attrs.update(dataset.attrs)
        consolidate(store)
    finally:
        remove(stage)
    return store


def check_velocity_values(
    values: np.ndarray, *, path: str | os.PathLike[str] | None = None, what: str = "velocity"
) -> None:
    """Reject velocities that are not finite, not positive, or look like km/s.

    Raises one :class:`InputError` that says which sample is wrong and how.
    """
    v = np.asarray(values)
    bad = ~np.isfinite(v)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"{what} holds NaN or Inf (first at index {idx})", path=path)
    lo, hi = float(v.min()), float(v.max())
    if lo <= 0:
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmin(v)), v.shape))
        raise InputError(
            f"{what} holds a non-positive value {lo:g} at index {idx}; velocities must be > 0 m/s", path=path
        )
    if hi < VELOCITY_KMS_LIMIT:
        raise InputError(
            f"{what} ranges {lo:g}-{hi:g}: that looks like km/s, geogen expects m/s (multiply by 1000)",
            path=path,
        )
    if hi > VELOCITY_MAX_PLAUSIBLE:
        raise InputError(f"{what} reaches {hi:g} m/s, above any rock velocity; check the units", path=path)
