"""The ingest and export verbs: pick an adapter, let it write, rename into place.

Importing this module loads neither xarray nor dask: :func:`write_ingest` (what
``geogen ingest`` runs) needs only the adapter it picks, and a SEG-Y ingest returns the
store's summary from the write itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geogen.adapters.base import ExportRequest, IngestRequest, adapter_for, exporter_for
from geogen.data.store import atomic_path, open_store
from geogen.errors import InputError

if TYPE_CHECKING:
    import xarray as xr

PathLike = str | os.PathLike[str]


def default_store_path(path: Path) -> Path:
    """``survey.sgy`` -> ``survey.zarr`` beside it."""
    return path.with_suffix(".zarr") if path.suffix else path.with_name(path.name + ".zarr")


def ingest(
    paths: PathLike | Sequence[PathLike],
    out: PathLike | None = None,
    *,
    kind: str = "auto",
    headers: Mapping[str, int] | None = None,
    duplicates: str = "error",
    overwrite: bool = True,
    **options: Any,
) -> xr.Dataset:
    """Read files (SEG-Y, OpenFWI .npy, Zarr, netCDF) into a geogen store; return it lazily.

    ``paths`` may be one path or several (OpenFWI model files with their data files);
    the store goes to ``out`` (default: the first path with a ``.zarr`` suffix).
    """
    target, _ = write_ingest(paths, out, kind=kind, headers=headers, duplicates=duplicates, overwrite=overwrite,
                             **options)
    return open_store(target)


def write_ingest(
    paths: PathLike | Sequence[PathLike],
    out: PathLike | None = None,
    *,
    kind: str = "auto",
    headers: Mapping[str, int] | None = None,
    duplicates: str = "error",
    overwrite: bool = True,
    **options: Any,
) -> tuple[Path, dict[str, Any] | None]:
    """:func:`ingest` without opening the result: ``(store path, summary or None)``.

    The summary is the adapter's own (the dict of :func:`geogen.summary.info` without value
    ranges), where the adapter gives one; None otherwise.
    """
    items = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not items:
        raise InputError("nothing to ingest: give at least one path")
    if duplicates not in ("error", "first", "last"):
        raise InputError(f"--duplicates must be error, first or last, not {duplicates!r}")
    adapter = adapter_for(items[0])
    target = Path(out) if out is not None else default_store_path(items[0])
    if any(target.resolve() == p.resolve() for p in items):
        raise InputError("the output store would overwrite the input; choose another --out", path=target)
    request = IngestRequest(
        paths=tuple(items), kind=kind,  # type: ignore[arg-type]
        headers=dict(headers or {}), duplicates=duplicates, options=dict(options),  # type: ignore[arg-type]
    )
    with atomic_path(target, overwrite=overwrite) as tmp:
        summary = adapter.ingest(request, tmp)
    if isinstance(summary, dict):
        summary = {**summary, "path": str(target)}
    return target, summary if isinstance(summary, dict) else None


def export(
    store: PathLike | xr.Dataset,
    out: PathLike,
    *,
    format: str,  # noqa: A002 - mirrors the --format option
    overwrite: bool = True,
    **options: Any,
) -> Path:
    """Write a store (path or Dataset) as SEG-Y, netCDF or Zarr at ``out``, atomically."""
    import xarray as xr

    source = None if isinstance(store, xr.Dataset) else Path(store)
    ds = store if isinstance(store, xr.Dataset) else open_store(store)
    adapter = exporter_for(format)
    target = Path(out)
    with atomic_path(target, overwrite=overwrite) as tmp:
        adapter.export(ds, tmp, ExportRequest(source=source, options=dict(options)))
    return target
